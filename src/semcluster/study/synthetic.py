"""Synthetic survey data calibrated to the paper's published tables.

The paper published summary statistics only (Tables 2–3), not its 160 × 23 answers.  This module
builds

1. a **population model** from the published figures: for each scale, parallel standardized
   items whose average inter-item correlation r̄ reproduces the published Cronbach's α
   (α = k r̄ / (1 + (k − 1) r̄), so r̄ = α / (k − (k − 1) α) and the standardized loading is
   √r̄); latent correlations disattenuated from Table 2 (ρ = r / √(α_i α_j), Spearman 1904);
   and thresholds cutting each item's latent normal response into the categories 1–7 so that
   the item mean and SD are those the composite's published mean and SD imply;
2. a **matched sample**: N = 160 integer answers drawn from that population and then adjusted by
   ±1 moves of single answers (a greedy search over all 46 possible moves in a row, on an
   objective that sums the squared distances of every Table 2 and Table 3 figure from its
   target) until every figure, rounded as the paper printed it, equals the published one where
   arithmetic allows it.

The general parts (the :class:`~semcluster.analysis.simulate.Population` model, drawing from it, the
GRIM test) are in :mod:`semcluster.analysis.simulate`.

>>> from semcluster.study.synthetic import simulate_items
>>> simulate_items(5, seed=1).shape
(5, 23)
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from . import paper as study
from ..analysis.simulate import (LIKERT, Population, _discrete_moments, _item_thresholds,
    grim_reachable, simulate_from)


def population_model() -> Population:
    """The population calibrated to the paper's Tables 2 and 3 (see the module docstring)."""
    rel = study.reliability()
    desc = study.descriptives()
    R = study.correlations()
    names = list(study.CONSTRUCTS)
    alpha = rel["alpha"].to_numpy()
    k = rel["n_items"].to_numpy()
    rbar = alpha / (k - (k - 1) * alpha)
    lat = R.to_numpy() / np.sqrt(np.outer(alpha, alpha))
    np.fill_diagonal(lat, 1.0)
    notes = []
    ev = np.linalg.eigvalsh(lat)
    notes.append(f"disattenuated latent correlation matrix: smallest eigenvalue {ev.min():.4f} "
                 f"({'positive definite' if ev.min() > 0 else 'NOT positive definite'})")
    if ev.min() <= 1e-6:
        # shrink toward the identity just enough to be positive definite
        w = (1e-3 - ev.min()) / (1 - ev.min())
        lat = (1 - w) * lat + w * np.eye(len(names))
        notes.append(f"shrunk toward the identity by {w:.4f} to make it positive definite")
    items, construct_of, loads, thr = [], {}, {}, {}
    for ci, c in enumerate(names):
        its = study.item_names(c)
        # composite variance = item variance * (1 + (k-1) r) / k  (parallel items)
        sd_item = desc.loc[c, "sd"] * math.sqrt(k[ci] / (1 + (k[ci] - 1) * rbar[ci]))
        cut = _item_thresholds(desc.loc[c, "mean"], sd_item)
        for it in its:
            items.append(it)
            construct_of[it] = c
            loads[it] = math.sqrt(rbar[ci])
            thr[it] = cut
    thresholds = pd.DataFrame(thr, index=[f"t{j}" for j in range(1, 7)]).T
    return Population(items=items, construct_of=construct_of,
                      loadings=pd.Series(loads, name="loading"),
                      latent_cor=pd.DataFrame(lat, index=names, columns=names),
                      thresholds=thresholds, notes=tuple(notes))


def simulate_items(n: int | None, seed: int | np.random.SeedSequence | None = None,
                   population: Population | None = None, *, clusters=None,
                   missing=None) -> pd.DataFrame:
    """Draw ``n`` respondents' answers (integers 1–7) from the population model (default: the
    one calibrated to the paper, :func:`population_model`).

    Vectorised: one multivariate-normal draw for the six constructs, one for the item
    residuals, then thresholds (:func:`semcluster.analysis.simulate.simulate_from`).  Used for Monte
    Carlo work; it does *not* reproduce the published tables (see :func:`match_published`).
    ``clusters`` (a :class:`semcluster.analysis.simulate.ClusterDesign`) draws the firms in clusters
    and adds the column ``cluster`` (``n`` None when the design fixes N); ``missing`` (a
    :class:`semcluster.analysis.simulate.MissingDesign`) removes answers by MCAR or a MAR rule.
    """
    from .. import arguments

    if n is not None or clusters is None:
        n = arguments.integer("n", n, 1, arguments.MAX_N)
    if not isinstance(seed, (np.random.SeedSequence, np.random.Generator)):
        seed = arguments.seed("seed", seed)
    return simulate_from(population or population_model(), n, seed, clusters=clusters,
                         missing=missing)


def scaled_population(effect_scale: float = 1.0) -> Population:
    """The paper-calibrated population with the outcome's correlations times ``effect_scale``."""
    from .. import arguments

    effect_scale = arguments.positive("effect_scale", effect_scale)
    pop = population_model()
    if effect_scale == 1.0:
        return pop
    R = pop.latent_cor.copy()
    out = study.OUTCOME
    for c in R.index:
        if c != out:
            R.loc[out, c] = R.loc[c, out] = R.loc[c, out] * effect_scale
    if np.linalg.eigvalsh(R.to_numpy()).min() <= 0:
        raise arguments.OptionError(f"effect_scale {effect_scale} makes the latent "
                                    f"correlation matrix not positive definite; use a "
                                    f"smaller value")
    return Population(items=pop.items, construct_of=pop.construct_of,
                      loadings=pop.loadings, latent_cor=R, thresholds=pop.thresholds,
                      notes=pop.notes + (f"outcome correlations x {effect_scale}",))


# ----------------------------------------------------------------------------------------------
# matching the published tables
# ----------------------------------------------------------------------------------------------
@dataclass
class _Targets:
    mean: np.ndarray
    sd: np.ndarray
    cor: np.ndarray           # 6 x 6
    alpha: np.ndarray


def _targets() -> _Targets:
    d = study.descriptives()
    return _Targets(mean=d["mean"].to_numpy(), sd=d["sd"].to_numpy(),
                    cor=study.correlations().to_numpy(),
                    alpha=study.reliability()["alpha"].to_numpy())


def composite_statistics(df: pd.DataFrame) -> dict:
    """Table 2 and 3 figures of an item-level data set (composites = item means)."""
    names = list(study.CONSTRUCTS)
    comp = pd.DataFrame({c: df[study.item_names(c)].mean(axis=1) for c in names})
    alpha = {}
    for c in names:
        X = df[study.item_names(c)].to_numpy(dtype=float)
        k = X.shape[1]
        alpha[c] = k / (k - 1) * (1 - X.var(axis=0, ddof=1).sum() / X.sum(axis=1).var(ddof=1))
    return {"mean": comp.mean(), "sd": comp.std(ddof=1), "cor": comp.corr(),
            "alpha": pd.Series(alpha)}


class _State:
    """Running sums of a 160 × 23 answer matrix for O(1) updates of every table figure."""

    def __init__(self, X: np.ndarray, groups: list[np.ndarray]):
        self.X = X.astype(np.int64)
        self.groups = groups                      # item columns of each construct
        self.k = np.array([len(g) for g in groups], dtype=float)
        self.n = X.shape[0]
        self.T = np.column_stack([self.X[:, g].sum(axis=1) for g in groups]).astype(float)
        self.s = self.X.sum(axis=0).astype(float)
        self.q = (self.X ** 2).sum(axis=0).astype(float)
        self.sumT = self.T.sum(axis=0)
        self.C = self.T.T @ self.T
        self.group_of = np.empty(X.shape[1], dtype=int)
        for ci, g in enumerate(groups):
            self.group_of[g] = ci

    def stats(self, sumT, C, s, q):
        """Figures from sums; arrays may carry a leading batch axis."""
        n = self.n
        covT = (C - sumT[..., :, None] * sumT[..., None, :] / n) / (n - 1)
        varT = np.diagonal(covT, axis1=-2, axis2=-1)
        mean = sumT / (n * self.k)
        sd = np.sqrt(varT) / self.k
        cor = covT / np.sqrt(varT[..., :, None] * varT[..., None, :])
        var_items = (q - s ** 2 / n) / (n - 1)
        sumvar = np.stack([var_items[..., g].sum(axis=-1) for g in self.groups], axis=-1)
        alpha = self.k / (self.k - 1) * (1 - sumvar / varT)
        return mean, sd, cor, alpha


def _loss(stats, tg: _Targets, tol=0.0004):
    mean, sd, cor, alpha = stats
    iu = np.triu_indices(6, 1)
    d = np.concatenate([mean - tg.mean, sd - tg.sd, (cor - tg.cor)[..., iu[0], iu[1]],
                        alpha - tg.alpha], axis=-1)
    # zero inside the band that rounds correctly, quadratic outside, plus a tiny pull to the
    # centre so ties resolve toward robust matches
    excess = np.maximum(np.abs(d) - tol, 0.0)
    return (excess ** 2).sum(axis=-1) * 1e6 + (d ** 2).sum(axis=-1)


def match_published(seed: int = 20131101, *, n: int = study.N, max_attempts: int = 20,
                    population: Population | None = None) -> tuple[pd.DataFrame, dict]:
    """An item-level sample whose Table 2 and 3 figures equal the published ones.

    The greedy search can stop in a local optimum with one or two figures a few ten-thousandths
    outside their rounding band; it then starts again from a fresh draw (sub-seed
    ``[seed, attempt]``), up to ``max_attempts`` times, and keeps the first sample on which
    every figure that arithmetic allows (see :func:`unreachable_figures`) matches, or else the
    one with the fewest misses.  Deterministic for a seed.

    Returns
    -------
    data : DataFrame
        ``n`` rows of integers 1–7, columns ``ca1`` … ``in4``.
    info : dict
        Seed, attempts, moves made, final loss, figures still missed.
    """
    from .. import arguments

    seed = arguments.seed("seed", seed)
    n = arguments.sample_size("n", n)
    max_attempts = arguments.integer("max_attempts", max_attempts, 1, 1000)
    pop = population or population_model()
    impossible = set(unreachable_figures(n))
    best = None
    for attempt in range(max_attempts):
        sub = np.random.SeedSequence([seed, attempt])
        df, info = _match_once(sub, n=n, population=pop)
        rep = calibration_report(df)
        missed = [f for f in rep.figure[~rep.match] if f not in impossible]
        info.update(seed=seed, attempt=attempt + 1, missed=missed)
        if best is None or len(missed) < len(best[1]["missed"]):
            best = (df, info)
        if not missed:
            break
    return best


def unreachable_figures(n: int = study.N) -> dict:
    """Published figures no set of n complete integer answers can reproduce, and why (GRIM)."""
    out = {}
    desc = study.descriptives()
    for c in study.CONSTRUCTS:
        k = int(desc.loc[c, "n_items"])
        ok, nearest = grim_reachable(desc.loc[c, "mean"], n, k)
        if not ok:
            total = n * k
            lo = (desc.loc[c, "mean"] - 0.0005) * total
            hi = (desc.loc[c, "mean"] + 0.0005) * total
            out[f"mean {c}"] = (f"a mean of {n}×{k} integer answers is a multiple of 1/{total}; "
                                f"rounding to {desc.loc[c, 'mean']:.3f} needs a total in "
                                f"[{lo:.2f}, {hi:.2f}), which holds no integer; nearest "
                                f"attainable mean {nearest:.5f}")
    return out


def _match_once(seed, *, n: int, population: Population, max_sweeps: int = 60):
    pop = population
    X = simulate_items(n, seed, pop)[pop.items].to_numpy()
    names = list(study.CONSTRUCTS)
    groups = [np.array([pop.items.index(i) for i in study.item_names(c)]) for c in names]
    st = _State(X, groups)
    tg = _targets()
    rng = np.random.default_rng(seed.spawn(1)[0])
    cur = float(_loss(st.stats(st.sumT, st.C, st.s, st.q), tg))
    p = X.shape[1]
    moves = 0
    sweeps = 0
    stale = 0
    cols = np.arange(p)
    for sweeps in range(1, max_sweeps + 1):
        improved = False
        for r in rng.permutation(n):
            # all 2p candidate moves of row r: item j by delta
            deltas = np.concatenate([np.ones(p), -np.ones(p)])
            js = np.concatenate([cols, cols])
            x = st.X[r, js]
            ok = (x + deltas >= 1) & (x + deltas <= 7)
            if not ok.any():
                continue
            deltas, js, x = deltas[ok], js[ok], x[ok]
            m = len(js)
            cg = st.group_of[js]
            sumT = np.repeat(st.sumT[None, :], m, axis=0)
            sumT[np.arange(m), cg] += deltas
            C = np.repeat(st.C[None, :, :], m, axis=0)
            Trow = np.repeat(st.T[r][None, :], m, axis=0)
            # C_cd += delta * T_d (d != c); C_cc += 2 delta T_c + 1
            upd = deltas[:, None] * Trow
            C[np.arange(m), cg, :] += upd
            C[np.arange(m), :, cg] += upd
            C[np.arange(m), cg, cg] += 1.0      # (T+δ)² − T² = 2δT + 1; 2δT added above
            s = np.repeat(st.s[None, :], m, axis=0)
            q = np.repeat(st.q[None, :], m, axis=0)
            s[np.arange(m), js] += deltas
            q[np.arange(m), js] += 2 * deltas * x + 1
            losses = _loss(st.stats(sumT, C, s, q), tg)
            b = int(np.argmin(losses))
            if losses[b] < cur - 1e-15:
                j, dlt, c = js[b], deltas[b], cg[b]
                st.X[r, j] += int(dlt)
                st.T[r, c] += dlt
                st.sumT[c] += dlt
                st.s[j] += dlt
                st.q[j] += 2 * dlt * x[b] + 1
                st.C = C[b]
                cur = float(losses[b])
                moves += 1
                improved = True
        # two-row moves on one item: respondent r1's answer goes up by a, r2's down by a, so
        # the item mean (and every composite mean) stays put.  a = x2 - x1 swaps the two
        # answers (item variance kept: SD and alpha move together); a = ±1 also changes the
        # item variance, which lets SD and alpha move separately.  Correlations, SDs and
        # alphas move in steps much finer than a single ±1 move allows.
        swaps = 0
        for t in range(6 * n):
            j = int(rng.integers(p))
            r1 = int(rng.integers(n))
            c = st.group_of[j]
            x1 = st.X[r1, j]
            x2 = st.X[:, j]
            if t % 2 == 0:
                a = (x2 - x1).astype(float)                     # swap
            else:
                a = np.full(n, float(rng.choice([-1, 1])))      # pair move
            v1 = x1 + a
            v2 = x2 - a
            okm = (a != 0) & (v1 >= 1) & (v1 <= 7) & (v2 >= 1) & (v2 <= 7)
            okm[r1] = False
            cand = np.nonzero(okm)[0]
            if len(cand) == 0:
                continue
            a = a[cand]
            dq = (v1[cand] ** 2 - x1 ** 2) + (v2[cand] ** 2 - x2[cand] ** 2)
            T1 = st.T[r1]
            T2 = st.T[cand]
            m = len(cand)
            C = np.repeat(st.C[None, :, :], m, axis=0)
            upd = a[:, None] * T1[None, :] - a[:, None] * T2
            C[np.arange(m), c, :] += upd
            C[np.arange(m), :, c] += upd
            C[np.arange(m), c, c] += 2 * a ** 2
            sumT = np.repeat(st.sumT[None, :], m, axis=0)
            s_ = np.repeat(st.s[None, :], m, axis=0)
            q_ = np.repeat(st.q[None, :], m, axis=0)
            q_[:, j] += dq
            losses = _loss(st.stats(sumT, C, s_, q_), tg)
            bb = int(np.argmin(losses))
            if losses[bb] < cur - 1e-15:
                r2 = int(cand[bb])
                ab = int(a[bb])
                st.X[r1, j] += ab
                st.X[r2, j] -= ab
                st.T[r1, c] += ab
                st.T[r2, c] -= ab
                st.q[j] += dq[bb]
                st.C = C[bb]
                cur = float(losses[bb])
                swaps += 1
                improved = True
        moves += swaps
        stale = 0 if improved else stale + 1
        if stale >= 3:          # three sweeps in a row without any improving move
            break
    out = pd.DataFrame(st.X, columns=pop.items)
    return out, {"moves": moves, "sweeps": sweeps, "loss": cur}


# ----------------------------------------------------------------------------------------------
# what arithmetic allows, and the calibration report
# ----------------------------------------------------------------------------------------------
def calibration_report(df: pd.DataFrame) -> pd.DataFrame:
    """Every Table 2 and 3 figure: published, synthetic, rounded match, and why not if not."""
    got = composite_statistics(df)
    desc = study.descriptives()
    rel = study.reliability()
    R = study.correlations()
    n = len(df)
    rows = []

    def add(table, figure, pub, val, dec=3, why=""):
        match = round(float(val), dec) == round(float(pub), dec)
        rows.append({"table": table, "figure": figure, "published": pub,
                     "synthetic": float(val), "synthetic_rounded": round(float(val), dec),
                     "match": match, "reachable": not why, "note": why})

    impossible = unreachable_figures(n)
    for c in study.CONSTRUCTS:
        add("Table 2", f"mean {c}", desc.loc[c, "mean"], got["mean"][c],
            why=impossible.get(f"mean {c}", ""))
    for c in study.CONSTRUCTS:
        add("Table 2", f"sd {c}", desc.loc[c, "sd"], got["sd"][c])
    names = list(study.CONSTRUCTS)
    for i in range(len(names)):
        for j in range(i):
            a, b = names[i], names[j]
            add("Table 2", f"r {a}-{b}", R.loc[a, b], got["cor"].loc[a, b])
    for c in study.CONSTRUCTS:
        add("Table 3", f"alpha {c}", rel.loc[c, "alpha"], got["alpha"][c])
    return pd.DataFrame(rows)


FIRM_TYPES = ("labour", "capital", "technology")


def paper_synthetic(seed: int = 20131101) -> tuple[pd.DataFrame, dict]:
    """The shipped data set: id, firm_type (balanced, random, no published information) and
    the matched answers."""
    items_df, info = match_published(seed)
    rng = np.random.default_rng(np.random.SeedSequence([seed, 2]))
    types = np.resize(np.array(FIRM_TYPES), len(items_df))
    rng.shuffle(types)
    out = pd.concat([pd.DataFrame({"id": np.arange(1, len(items_df) + 1), "firm_type": types}),
                     items_df], axis=1)
    return out, info
