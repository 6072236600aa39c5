"""Measurement quality: reliability, convergent and discriminant validity, exploratory checks.

Every function returns a tidy DataFrame; :func:`measurement_report` runs them all for a model
and data.  Definitions follow the software reviewers compare with (checked against R in
``tests/fixtures/measurement``):

* Cronbach's α, standardized α, corrected item–total correlation, α if item deleted: as
  ``psych::alpha``; the α interval is Feldt's (1987) F-based one, as ``psych::alpha.ci``:
  [1 − (1 − α)·F_{1−γ/2}, 1 − (1 − α)·F_{γ/2}] with (N − 1, (N − 1)(k − 1)) df.
* Skew and kurtosis: ``psych::describe`` (type 3: b1 = m3/s³, b2 − 3 = m4/s⁴ − 3 with the
  unbiased s).
* ω (omega) as ``semTools::compRelSEM`` (defaults obs.var = TRUE, tau.eq = FALSE): (Σλ)²ψ
  over the *observed* variance of the sum score, 1ᵀS1 (Bentler 2009; McDonald 1999).
* CR (composite reliability, Jöreskog 1971; Fornell & Larcker 1981): (Σλ)²ψ over the
  *model-implied* variance of the sum, (Σλ)²ψ + Σθ (+ 2Σθ_ij for residual covariances).
* AVE as ``semTools::AVE`` (obs.var = TRUE): Σλ²ψ / Σ s_ii; the Fornell–Larcker AVE from
  standardized loadings, mean(λ*²), is also given (``ave_std``).
* HTMT (Henseler, Ringle & Sarstedt 2015) and HTMT2 (Roemer, Schuberth & Henseler 2021) as
  ``semTools::htmt``: absolute item correlations, arithmetic (HTMT) or geometric (HTMT2) means
  of hetero-trait over the root of the product of mono-trait means.
* KMO and Bartlett's sphericity test (factor_analyzer, checked against ``psych::KMO`` and
  ``psych::cortest.bartlett``); Horn's (1965) parallel analysis; EFA (minres, oblimin) with
  factor_analyzer.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from ..result.protocol import ResultProtocol, clean, records

THRESHOLDS = {
    "alpha": (0.70, "Nunnally (1978): alpha >= .70"),
    "cr": (0.70, "Hair, Black, Babin & Anderson (2010): CR >= .70"),
    "omega": (0.70, "McDonald (1999) / common practice: omega >= .70"),
    "ave": (0.50, "Fornell & Larcker (1981): AVE >= .50"),
    "htmt_strict": (0.85, "Henseler, Ringle & Sarstedt (2015); Kline (2011): HTMT < .85"),
    "htmt_liberal": (0.90, "Henseler, Ringle & Sarstedt (2015); Gold et al. (2001): HTMT < .90"),
    "fornell_larcker": (None, "Fornell & Larcker (1981): sqrt(AVE) > every correlation of the "
                              "construct"),
    "kmo": (0.60, "Kaiser (1974): KMO >= .60 (mediocre), >= .80 meritorious"),
    "cross_loading": (0.30, "common practice: a secondary loading >= .30 is a cross-loading"),
}


def _items_of(spec) -> dict:
    pt = spec.partable
    obs = set(spec.observed)
    out = {}
    for f in spec.latent:
        its = [v for v in pt.loc[(pt.op == "=~") & (pt.lhs == f), "rhs"] if v in obs]
        if its:
            out[f] = its
    return out


# ---------------------------------------------------------------------------------------------
# reliability from the items alone
# ---------------------------------------------------------------------------------------------
def cronbach_alpha(X: pd.DataFrame, ci: float = 0.95) -> dict:
    """α, standardized α and Feldt's interval for one scale (complete rows)."""
    X = X.dropna()
    n, k = X.shape
    C = X.cov().to_numpy()
    alpha = k / (k - 1) * (1 - np.trace(C) / C.sum())
    R = X.corr().to_numpy()
    rbar = (R.sum() - k) / (k * (k - 1))
    std_alpha = k * rbar / (1 + (k - 1) * rbar)
    g = 1 - ci
    df1, df2 = n - 1, (n - 1) * (k - 1)
    lower = 1 - (1 - alpha) * stats.f.ppf(1 - g / 2, df1, df2)
    upper = 1 - (1 - alpha) * stats.f.ppf(g / 2, df1, df2)
    return {"alpha": alpha, "alpha_ci_lower": lower, "alpha_ci_upper": upper,
            "std_alpha": std_alpha, "n_items": k, "n": n, "mean_inter_item_r": rbar}


def item_statistics(data: pd.DataFrame, items_of: dict, scale=(1, 7)) -> pd.DataFrame:
    """Per item: construct, mean, SD, skew, kurtosis, floor/ceiling %, corrected item–total
    correlation and α if the item is deleted."""
    rows = []
    for f, its in items_of.items():
        X = data[its].dropna()
        total = X.sum(axis=1)
        for it in its:
            x = X[it]
            n = len(x)
            m = x.mean()
            s = x.std(ddof=1)
            d = x - m
            rest = X[[i for i in its if i != it]]
            r_drop = np.corrcoef(x, total - x)[0, 1]
            a_del = cronbach_alpha(rest)["alpha"] if rest.shape[1] >= 2 else np.nan
            rows.append({"construct": f, "item": it, "n": n, "mean": m, "sd": s,
                         "skew": (d ** 3).mean() / s ** 3,
                         "kurtosis": (d ** 4).mean() / s ** 4 - 3,
                         "floor_pct": 100 * (x == scale[0]).mean() if scale else np.nan,
                         "ceiling_pct": 100 * (x == scale[1]).mean() if scale else np.nan,
                         "r_drop": r_drop, "alpha_if_deleted": a_del})
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------------------------
# reliability and validity from a fitted CFA
# ---------------------------------------------------------------------------------------------
def _one_group(result) -> None:
    """Reliability and validity read one group's covariance matrices: a clear refusal for a
    fit with groups or a mean structure (whose moments are per group)."""
    if getattr(result, "moments", ()):
        from ..errors import OptionError

        raise OptionError("reliability and validity measures need a one-group fit without a "
                          "mean structure; fit each group alone (or without '~ 1') for them")


def construct_reliability(result, items_of: dict | None = None) -> pd.DataFrame:
    """ω, CR, AVE (two definitions) per factor from a fitted CFA (a SEMResult): see
    :func:`fitted_reliability` (ML, MLR, FIML and WLSMV fits, as semTools reads them); one
    group (a grouped fit is refused: :func:`fitted_reliability` gives its per-group table)."""
    _one_group(result)          # refused before anything is read
    _fit_moments(result)
    return fitted_reliability(result, items_of)


def latent_correlations(result) -> pd.DataFrame:
    """Correlations between factors (std.all of ``~~``), with delta-method SE and 95 % CI."""
    _one_group(result)
    e = result.estimates
    lat = set(result.spec.latent)
    rows = e[(e.op == "~~") & (e.lhs != e.rhs) & e.lhs.isin(lat) & e.rhs.isin(lat)]
    z = stats.norm.ppf(0.975)
    out = pd.DataFrame({"lhs": rows.lhs, "rhs": rows.rhs, "r": rows.std_all,
                        "se": rows.se_std_all})
    out["ci_lower"] = out.r - z * out.se
    out["ci_upper"] = out.r + z * out.se
    return out.reset_index(drop=True)


def fornell_larcker(result, reliability: pd.DataFrame | None = None) -> pd.DataFrame:
    """√AVE (Fornell–Larcker, standardized loadings) on the diagonal, latent correlations
    below; ``passes`` says whether √AVE exceeds every correlation of the construct."""
    _one_group(result)
    rel = reliability if reliability is not None else construct_reliability(result)
    lc = result.latent_cov
    names = [f for f in rel.index]
    sd = np.sqrt(np.diag(lc.loc[names, names].to_numpy()))
    R = lc.loc[names, names].to_numpy() / np.outer(sd, sd)
    M = pd.DataFrame(R, index=names, columns=names)
    for f in names:
        M.loc[f, f] = np.sqrt(rel.loc[f, "ave_std"])
    passes = {f: bool(all(M.loc[f, f] > abs(M.loc[f, g]) for g in names if g != f))
              for f in names}
    M["passes"] = pd.Series(passes)
    return M


def htmt(data: pd.DataFrame, items_of: dict, htmt2: bool = False) -> pd.DataFrame:
    """HTMT (or HTMT2) matrix from the item correlations of the complete rows (absolute
    values, as semTools); the means are :func:`htmt_of_matrix`'s."""
    allitems = [i for f in items_of for i in items_of[f]]
    return htmt_of_matrix(data[allitems].dropna().corr(), items_of, htmt2)


# ---------------------------------------------------------------------------------------------
# reliability and validity from the model the user fitted (ML, MLR, FIML, WLSMV)
# ---------------------------------------------------------------------------------------------
def _fit_blocks(result) -> list:
    """Per group: (label or None, H1 matrix, implied matrix, latent covariance, estimates).

    The H1 matrix is lavaan's ``sampstat`` (the sample covariance, the EM estimate under FIML,
    the polychoric matrix under WLSMV); a one-group fit gives one block with label None."""
    moments = getattr(result, "moments", ())
    e = result.estimates
    if len(moments) > 1 or (moments and "group" in e):
        return [(m.label, m.sample_cov, m.implied_cov, m.latent_cov,
                 e[e.group == g].drop(columns="group")) for g, m in enumerate(moments, 1)]
    if moments:
        m = moments[0]
        return [(None, m.sample_cov, m.implied_cov, m.latent_cov, e)]
    return [(None, result.sample_cov, getattr(result, "implied_cov", None), result.latent_cov,
             e)]


def _fit_moments(result):
    """(H1 matrix, latent covariance, estimates) of a one-group fit (see :func:`_fit_blocks`);
    a grouped fit is refused with a message."""
    from ..errors import OptionError

    blocks = _fit_blocks(result)
    if len(blocks) > 1:
        raise OptionError("the measurement report reads one group's matrices; for a grouped "
                          "fit use fitted_reliability / fitted_fornell_larcker (per group) or "
                          "fit each group alone")
    _, S, _, lc, e = blocks[0]
    return S, lc, e


def _ordered_items(estimates) -> dict:
    """Thresholds per ordinal item (lavaan's ``|`` rows, in order t1, t2, ...)."""
    th = estimates[estimates.op == "|"]
    out = {}
    for item, rows in th.groupby("lhs", sort=False):
        order = rows.rhs.str.lstrip("t").astype(int).to_numpy().argsort()
        out[item] = rows.est.to_numpy(dtype=float)[order]
    return out


def omega_categorical(common: np.ndarray, total: np.ndarray, thresholds: list) -> float:
    """Green & Yang's (2009) reliability of the sum of ordinal items on their response scale,
    as ``semTools::compRelSEM(ord.scale = TRUE)`` (its ``omegaCat``, delta parameterization):

    Σ_jj' [Σ_cc' Φ2(τ_jc, τ_j'c'; ρ*_jj') − Σ_c Φ(τ_jc) Σ_c' Φ(τ_j'c')] with ρ* the common
    part ΛψΛᵀ (numerator) or the correlation matrix of ``total`` (denominator)."""
    from ..estimation.polychoric import bvn_cdf

    total = np.asarray(total, dtype=float)
    sd = np.sqrt(np.diag(total))
    R = total / np.outer(sd, sd)
    common = np.asarray(common, dtype=float)
    k = len(thresholds)
    marg = [float(stats.norm.cdf(t).sum()) for t in thresholds]

    def part(j, jp, r):
        t1, t2 = np.meshgrid(thresholds[j], thresholds[jp], indexing="ij")
        if r >= 1.0:
            joint = stats.norm.cdf(np.minimum(t1, t2))
        else:
            joint = bvn_cdf(t1.ravel(), t2.ravel(), float(r))
        return float(np.sum(joint)) - marg[j] * marg[jp]

    num = sum(part(j, jp, common[j, jp]) for j in range(k) for jp in range(k))
    den = sum(part(j, jp, R[j, jp]) for j in range(k) for jp in range(k))
    return num / den


def fitted_reliability(result, items_of: dict | None = None) -> pd.DataFrame:
    """ω, CR and AVE per factor from the fitted model's estimates, as ``semTools`` on a fitted
    lavaan object, for ML, MLR, FIML (``missing = "ml"``) and WLSMV fits.

    * ``omega`` = ``compRelSEM(fit)`` (obs.var = TRUE): (Σλ)²ψ over 1ᵀS1 with S the H1 matrix
      (the sample covariance; under FIML the EM estimate).  Ordinal items (WLSMV): semTools'
      default ``ord.scale = TRUE``, Green & Yang's (2009) ω on the response scale
      (:func:`omega_categorical`) with the polychoric matrix.
    * ``cr`` = ``compRelSEM(fit, obs.var = FALSE)``: the same with the model-implied matrix.
    * ``ave`` = ``AVE(fit)``: Σλ²ψ over the sum of the H1 variances (1 per ordinal item).
    * ``ave_std``: mean squared standardized loading (Fornell & Larcker 1981).
    """
    items_of = items_of or _items_of(result.spec)
    blocks = _fit_blocks(result)
    if len(blocks) > 1:
        parts = [_reliability_block(result, items_of, blk).assign(group=blk[0])
                 for blk in blocks]
        return pd.concat(parts).set_index("group", append=True).swaplevel().sort_index(
            level=0, sort_remaining=False)
    return _reliability_block(result, items_of, blocks[0])


def _reliability_block(result, items_of, block) -> pd.DataFrame:
    _, S, implied, psi_all, e = block
    th = _ordered_items(e)
    info = getattr(result, "info", {})
    if th and info.get("parameterization", "delta") == "theta":
        from ..errors import OptionError

        raise OptionError("omega for ordinal items is computed in the delta parameterization "
                          "(as semTools reads it); refit with parameterization='delta'")
    rows = []
    for f, its in items_of.items():
        lam = e[(e.op == "=~") & (e.lhs == f)].set_index("rhs").loc[its]
        L = lam["est"].to_numpy(dtype=float)
        psi = float(psi_all.loc[f, f])
        common = np.outer(L, L) * psi
        Sf = S.loc[its, its].to_numpy(dtype=float)
        ordinal = all(i in th for i in its)
        if any(i in th for i in its) and not ordinal:
            omega = cr = np.nan        # semTools refuses a factor with mixed indicators
        elif ordinal:
            tl = [th[i] for i in its]
            omega = omega_categorical(common, Sf, tl)
            cr = omega_categorical(common, implied.loc[its, its].to_numpy(dtype=float), tl)
        else:
            # model-implied variance of the sum: common part + residual (co)variances of the
            # factor's items (= 1'Σ1 for items loading on this factor only)
            theta = e[(e.op == "~~") & e.lhs.isin(its) & e.rhs.isin(its)]
            resid = theta.loc[theta.lhs == theta.rhs, "est"].sum() + \
                2 * theta.loc[theta.lhs != theta.rhs, "est"].sum()
            omega = common.sum() / Sf.sum()
            cr = common.sum() / (common.sum() + resid)
        diag = np.diag(Sf) if not ordinal else np.ones(len(its))
        rows.append({"construct": f, "n_items": len(its), "omega": omega, "cr": cr,
                     "ave": float((L ** 2).sum() * psi / diag.sum()),
                     "ave_std": float((lam["std_all"] ** 2).mean()),
                     "basis": ("polychoric (WLSMV), response scale" if ordinal else
                               "EM covariance (FIML)" if getattr(result, "missing", "")
                               == "fiml" else
                               "sample covariance")})
    return pd.DataFrame(rows).set_index("construct")


def fitted_fornell_larcker(result, reliability: pd.DataFrame) -> pd.DataFrame:
    """√AVE (``ave_std``) on the diagonal and the fitted model's latent correlations off it
    (``lavInspect(fit, "cor.lv")``); ``passes``: √AVE above every |correlation|."""
    blocks = _fit_blocks(result)
    if len(blocks) > 1:
        return pd.concat({blk[0]: _fornell_larcker_block(blk[3], reliability.loc[blk[0]])
                          for blk in blocks}, names=["group", "construct"])
    return _fornell_larcker_block(blocks[0][3], reliability)


def _fornell_larcker_block(lc, reliability) -> pd.DataFrame:
    names = list(reliability.index)
    C = lc.loc[names, names].to_numpy(dtype=float)
    sd = np.sqrt(np.diag(C))
    M = pd.DataFrame(C / np.outer(sd, sd), index=names, columns=names)
    for f in names:
        M.loc[f, f] = np.sqrt(reliability.loc[f, "ave_std"])
    M["passes"] = pd.Series({f: bool(all(M.loc[f, f] > abs(M.loc[f, g]) for g in names
                                         if g != f)) for f in names})
    return M


def htmt_of_matrix(S: pd.DataFrame, items_of: dict, htmt2: bool = False) -> pd.DataFrame:
    """HTMT (arithmetic means; Henseler et al. 2015) or HTMT2 (geometric; Roemer et al. 2021)
    of a covariance or correlation matrix, absolute correlations, as
    ``semTools::htmt(sample.cov = S)``."""
    names = list(items_of)
    allitems = [i for f in names for i in items_of[f]]
    C = S.loc[allitems, allitems].to_numpy(dtype=float)
    sd = np.sqrt(np.diag(C))
    R = pd.DataFrame(np.abs(C / np.outer(sd, sd)), index=allitems, columns=allitems)

    def mean(block):
        v = block[~np.isnan(block)]
        return float(np.exp(np.log(v).mean())) if htmt2 else float(v.mean())

    mono = {}
    for f in names:
        B = R.loc[items_of[f], items_of[f]].to_numpy().copy()
        np.fill_diagonal(B, np.nan)
        mono[f] = mean(B)
    H = pd.DataFrame(np.eye(len(names)), index=names, columns=names)
    for i, a in enumerate(names):
        for b in names[:i]:
            het = mean(R.loc[items_of[a], items_of[b]].to_numpy())
            H.loc[a, b] = H.loc[b, a] = het / np.sqrt(mono[a] * mono[b])
    return H


def _correlations(X: np.ndarray, method: str) -> np.ndarray:
    """Item correlations of a data matrix with NaN for missing answers: ``"em"`` the EM
    (saturated normal model) estimate from every row with an answer, ``"pairwise"`` Pearson
    correlations of the pairwise complete rows; the plain correlations when nothing is
    missing."""
    X = X[~np.isnan(X).all(axis=1)]
    if not np.isnan(X).any():
        return np.corrcoef(X, rowvar=False)
    if method == "pairwise":
        return pd.DataFrame(X).corr().to_numpy()
    from ..estimation.fiml import MissingPatterns

    C = MissingPatterns(X).em()[1]
    sd = np.sqrt(np.diag(C))
    return C / np.outer(sd, sd)


def _htmt_pairs(R: np.ndarray, blocks: list) -> np.ndarray:
    """HTMT then HTMT2 of every pair (a, b), b before a in the factor order (the lower triangle
    by rows), from a correlation matrix; ``blocks`` holds each factor's column positions."""
    A = np.abs(R)
    out = []
    for geometric in (False, True):
        def mean(v):
            return float(np.exp(np.log(v).mean())) if geometric else float(v.mean())

        mono = []
        for ix in blocks:
            B = A[np.ix_(ix, ix)]
            mono.append(mean(B[~np.eye(len(ix), dtype=bool)]))
        for i in range(len(blocks)):
            for j in range(i):
                het = mean(A[np.ix_(blocks[i], blocks[j])].ravel())
                out.append(het / np.sqrt(mono[i] * mono[j]))
    return np.array(out)


def _htmt_draws(task) -> list:
    """Worker: HTMT and HTMT2 of the resamples of one chunk of seeds (rows drawn with
    replacement, with their missing answers; the correlations recomputed per draw)."""
    from threadpoolctl import threadpool_limits

    X, blocks, method, seeds = task
    n = X.shape[0]
    out = []
    with threadpool_limits(1):
        for ss in seeds:
            idx = np.random.default_rng(ss).integers(0, n, n)
            try:
                with np.errstate(all="ignore"):
                    v = _htmt_pairs(_correlations(X[idx], method), blocks)
            except Exception:        # noqa: BLE001 - a draw whose EM fails counts as failed
                v = np.full(2 * len(blocks) * (len(blocks) - 1) // 2, np.nan)
            out.append(v)
    return out


def htmt_bootstrap(data: pd.DataFrame, items_of: dict, *, n_boot: int = 2000, seed: int = 1,
                   level: float = 0.95, missing: str = "em", n_jobs: int = 1,
                   progress: bool = False, thresholds: dict | None = None) -> pd.DataFrame:
    """Bootstrap inference for HTMT and HTMT2 (Henseler, Ringle & Sarstedt 2015, "HTMT
    inference"): discriminant validity of a pair holds when the upper end of the one-sided
    ``level`` percentile interval lies below the threshold (.85 strict, .90 liberal).

    Respondents are resampled with replacement with their missing answers, and the item
    correlations are recomputed in every draw as the point estimate computes them: the EM
    estimate (``missing="em"``, semTools ``htmt(missing = "ml")``) or pairwise Pearson
    correlations (``"pairwise"``); the plain correlations when a draw has no missing answer.
    Draws are seeded per replicate (``numpy.random.SeedSequence(seed)``), so the result does
    not depend on ``n_jobs``.

    Returns one row per pair and kind: ``construct_a construct_b kind estimate ci_lower
    ci_upper n_boot threshold_strict passes_strict threshold_liberal passes_liberal`` with
    ``ci_lower``/``ci_upper`` the (1 − level) and ``level`` percentiles of the draws (numpy's
    linear interpolation, R's quantile type 7) and ``passes_*`` = ``ci_upper`` < threshold.
    """
    from .. import arguments
    from ..errors import OptionError
    from .parallel import run_replicates

    n_boot = arguments.n_boot("n_boot", n_boot)
    seed = arguments.seed("seed", seed)
    level = arguments.probability("level", level)
    n_jobs = arguments.jobs("n_jobs", n_jobs)
    if missing not in ("em", "pairwise"):
        raise OptionError("missing must be 'em' (EM correlations, as FIML) or 'pairwise'")
    if len(items_of) < 2:
        raise OptionError("HTMT needs at least two constructs")
    th = {k: v[0] for k, v in THRESHOLDS.items()}
    th.update(thresholds or {})
    names = list(items_of)
    allitems = [i for f in names for i in items_of[f]]
    pos = {v: k for k, v in enumerate(allitems)}
    blocks = [np.array([pos[i] for i in items_of[f]]) for f in names]
    X = data[allitems].to_numpy(dtype=float)
    X = X[~np.isnan(X).all(axis=1)]
    est = _htmt_pairs(_correlations(X, missing), blocks)
    children = np.random.SeedSequence(seed).spawn(n_boot)
    draws = np.array(run_replicates(_htmt_draws, (X, blocks, missing), children,
                                    n_jobs=n_jobs, progress=progress, desc="HTMT bootstrap"))
    pairs = [(names[i], names[j]) for i in range(len(names)) for j in range(i)]
    rows = []
    for k, (kind, (a, b)) in enumerate([(kind, pr) for kind in ("HTMT", "HTMT2")
                                        for pr in pairs]):
        t = draws[:, k]
        t = t[np.isfinite(t)]
        lo, hi = (np.quantile(t, [1 - level, level]) if len(t) else (np.nan, np.nan))
        rows.append({"construct_a": a, "construct_b": b, "kind": kind, "estimate": est[k],
                     "ci_lower": float(lo), "ci_upper": float(hi), "n_boot": int(len(t)),
                     "threshold_strict": th["htmt_strict"],
                     "passes_strict": bool(hi < th["htmt_strict"]),
                     "threshold_liberal": th["htmt_liberal"],
                     "passes_liberal": bool(hi < th["htmt_liberal"])})
    return pd.DataFrame(rows)


def em_covariance(data: pd.DataFrame, items: list) -> pd.DataFrame:
    """The saturated normal model's covariance matrix of ``items`` estimated by EM from every
    row with at least one answer (lavaan's h1 under ``missing = "ml"``, divisor N); with
    complete data the sample covariance (divisor N)."""
    from ..estimation.fiml import MissingPatterns

    X = data[items].to_numpy(dtype=float)
    X = X[~np.isnan(X).all(axis=1)]
    if not np.isnan(X).any():
        C = np.cov(X, rowvar=False, ddof=0)
    else:
        C = MissingPatterns(X).em()[1]
    return pd.DataFrame(C, index=items, columns=items)


def alpha_of_matrix(S: pd.DataFrame, items: list) -> dict:
    """Cronbach's α and standardized α of a covariance matrix (``compRelSEM(tau.eq = TRUE)``
    on the H1 matrix when S is lavaan's ``sampstat``)."""
    C = S.loc[items, items].to_numpy(dtype=float)
    k = len(items)
    sd = np.sqrt(np.diag(C))
    R = C / np.outer(sd, sd)
    rbar = (R.sum() - k) / (k * (k - 1))
    return {"alpha": k / (k - 1) * (1 - np.trace(C) / C.sum()),
            "std_alpha": k * rbar / (1 + (k - 1) * rbar)}


# ---------------------------------------------------------------------------------------------
# exploratory checks
# ---------------------------------------------------------------------------------------------
def kmo_bartlett(data: pd.DataFrame, items: list[str]) -> tuple[pd.DataFrame, dict]:
    """KMO per item and overall, and Bartlett's test of sphericity."""
    from factor_analyzer.factor_analyzer import (calculate_bartlett_sphericity,
                                                 calculate_kmo)

    X = data[items].dropna()
    kmo_items, kmo_total = calculate_kmo(X)
    chi2, p = calculate_bartlett_sphericity(X)
    k = len(items)
    per_item = pd.DataFrame({"item": items, "kmo": kmo_items})
    return per_item, {"kmo": float(kmo_total), "bartlett_chisq": float(chi2),
                      "bartlett_df": k * (k - 1) // 2, "bartlett_pvalue": float(p),
                      "n": len(X)}


def parallel_analysis(data: pd.DataFrame, items: list[str], *, n_iter: int = 200,
                      quantile: float = 0.95, seed: int = 1) -> dict:
    """Horn's parallel analysis on principal-component eigenvalues of the correlation matrix.

    The number of factors is the count of leading eigenvalues above the ``quantile`` of those
    from ``n_iter`` normal data sets of the same size (Glorfeld 1995 uses the 95th percentile).
    """
    from .. import arguments

    n_iter = arguments.iterations("n_iter", n_iter)
    quantile = arguments.probability("quantile", quantile)
    seed = arguments.seed("seed", seed)
    X = data[items].dropna().to_numpy(dtype=float)
    n, p = X.shape
    ev = np.sort(np.linalg.eigvalsh(np.corrcoef(X, rowvar=False)))[::-1]
    rng = np.random.default_rng(seed)
    sims = np.empty((n_iter, p))
    for i in range(n_iter):
        Z = rng.standard_normal((n, p))
        sims[i] = np.sort(np.linalg.eigvalsh(np.corrcoef(Z, rowvar=False)))[::-1]
    ref = np.quantile(sims, quantile, axis=0)
    above = ev > ref
    n_factors = retained_factors(ev, ref)
    table = pd.DataFrame({"component": np.arange(1, p + 1), "eigenvalue": ev,
                          "random_quantile": ref, "retain": above & (np.arange(p) < n_factors)})
    return {"n_factors": n_factors, "table": table, "n_iter": n_iter, "quantile": quantile,
            "seed": seed}


def retained_factors(eigenvalues, reference) -> int:
    """Horn's (1965) rule: the number of *leading* eigenvalues strictly above their reference
    (here the random-data quantile); counting stops at the first one that is not above."""
    above = np.asarray(eigenvalues) > np.asarray(reference)
    return int(np.argmin(above)) if not above.all() else len(above)


def cross_loadings(loadings: pd.DataFrame, limit: float = THRESHOLDS["cross_loading"][0]
                   ) -> pd.Series:
    """Per item (row): whether its second-largest absolute loading is at least ``limit`` (.30
    by common practice; e.g. Hair et al. 2010 treat loadings of ±.30 as the minimum to
    interpret)."""
    second = loadings.abs().apply(lambda r: r.sort_values(ascending=False).iloc[1]
                                  if len(r) > 1 else 0.0, axis=1)
    return second >= limit


def efa(data: pd.DataFrame, items: list[str], n_factors: int, *, rotation: str = "oblimin",
        cross_loading: float = THRESHOLDS["cross_loading"][0]) -> dict:
    """Exploratory factor analysis (minres, oblique rotation) with cross-loadings marked.

    As ``psych::fa(fm = "minres", rotate = rotation)``: minres extraction (factor_analyzer),
    rotation (factor_analyzer's GPA rotator, as GPArotation), columns signed so that their sums
    are positive and ordered by their sums of squared loadings; the factor correlations are
    signed and ordered with them, and the communality of an item is diag(ΛΦΛᵀ), which does not
    depend on the rotation (the row sum of squared *pattern* loadings is not the communality
    of an oblique solution).  Checked against psych::fa in
    tests/test_references_measurement.py.

    Uses factor_analyzer; with scikit-learn ≥ 1.8 its ``fit`` fails (``force_all_finite`` was
    removed), which is why semcluster pins scikit-learn < 1.8.
    """
    from factor_analyzer import FactorAnalyzer, Rotator

    X = data[items].dropna()
    fa = FactorAnalyzer(n_factors=n_factors, rotation=None, method="minres")
    with warnings.catch_warnings():
        # factor_analyzer 0.5.1 passes scikit-learn's deprecated force_all_finite
        warnings.filterwarnings("ignore", message=".*force_all_finite.*", category=FutureWarning)
        fa.fit(X)
    unrotated = np.asarray(fa.loadings_, dtype=float)
    communality = (unrotated ** 2).sum(axis=1)
    phi = None
    if n_factors > 1 and rotation:
        # factor_analyzer's own rotate-then-sort reorders the loadings but not phi_, so the
        # factor correlations it reports belong to other columns; rotate here instead
        rot = Rotator(method=rotation)
        Lr = rot.fit_transform(unrotated)
        phi = getattr(rot, "phi_", None)
        signs = np.sign(Lr.sum(axis=0))
        signs[signs == 0] = 1
        Lr = Lr * signs
        order = np.argsort(-(Lr ** 2).sum(axis=0), kind="stable")
        Lr = Lr[:, order]
        if phi is not None:
            phi = (np.outer(signs, signs) * phi)[np.ix_(order, order)]
    else:
        Lr = unrotated
    cols = [f"F{i + 1}" for i in range(n_factors)]
    L = pd.DataFrame(Lr, index=items, columns=cols)
    primary = L.abs().idxmax(axis=1)
    table = L.copy()
    table["primary"] = primary
    table["communality"] = communality
    table["cross_loading"] = cross_loadings(L, cross_loading)
    return {"loadings": table, "factor_correlations":
            pd.DataFrame(phi, index=cols, columns=cols) if phi is not None else None,
            "rotation": rotation, "method": "minres"}


# ---------------------------------------------------------------------------------------------
# everything, with flags
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class MeasurementReport(ResultProtocol):
    """Reliability, convergent and discriminant validity, and factorability, with flags.

    ``flags`` has one row per check (``figure value threshold passes source``).  The result
    protocol (:mod:`semcluster.result.protocol`) gives ``summary()``, ``to_frame()`` (the reliability
    table), ``to_dict()``, ``to_json()``/``from_json()``, pickling and ``==``.
    """

    reliability: pd.DataFrame          # per construct: alpha (+CI), std_alpha, omega, cr, ave
    items: pd.DataFrame
    fornell_larcker: pd.DataFrame
    htmt: pd.DataFrame
    htmt2: pd.DataFrame
    latent_correlations: pd.DataFrame
    kmo_items: pd.DataFrame
    sphericity: dict
    parallel: dict
    efa: dict
    flags: pd.DataFrame                # figure, value, threshold, passes, source
    thresholds: dict = field(default_factory=dict)
    bases: dict = field(default_factory=dict)  # which data each figure is computed from

    def tables(self) -> dict:
        return {"reliability": self.reliability.reset_index(), "items": self.items,
                "fornell_larcker": self.fornell_larcker.reset_index(names="construct"),
                "htmt": self.htmt.reset_index(names="construct"),
                "htmt2": self.htmt2.reset_index(names="construct"),
                "latent_correlations": self.latent_correlations,
                "kmo_items": self.kmo_items, "parallel_analysis": self.parallel["table"],
                "efa_loadings": self.efa["loadings"].reset_index(names="item"),
                "flags": self.flags}

    def to_frame(self) -> pd.DataFrame:
        """Reliability and validity per construct (alpha, omega, CR, AVE), a copy."""
        return self.reliability.copy()

    def to_dict(self) -> dict:
        return {**{name: records(t) for name, t in self.tables().items()},
                "sphericity": clean(self.sphericity),
                "parallel": clean({k: v for k, v in self.parallel.items() if k != "table"}),
                "efa": clean({k: v for k, v in self.efa.items() if k != "loadings"}),
                "thresholds": clean(self.thresholds), "bases": clean(self.bases)}

    def summary(self) -> str:
        """Reliability per construct, HTMT, and every threshold check with its verdict."""
        fmt = {"float_format": lambda v: f"{v:.3f}"}
        rel = self.reliability
        cols = [c for c in ("alpha", "std_alpha", "omega", "cr", "ave_std") if c in rel]
        failed = self.flags[~self.flags.passes]
        lines = ["Reliability and convergent validity:", rel[cols].to_string(**fmt), "",
                 *[f"  {k}: {v}" for k, v in self.bases.items()],
                 "HTMT:", self.htmt.to_string(**fmt), "",
                 f"KMO {self.sphericity.get('kmo', float('nan')):.3f}; parallel analysis "
                 f"suggests {self.parallel.get('n_factors')} factor(s)", "",
                 f"Checks: {int(self.flags.passes.sum())} of {len(self.flags)} pass"]
        for r in failed.itertuples():
            lines.append(f"  fails: {r.figure} = {r.value:.3f} (threshold {r.threshold}; "
                         f"{r.source})")
        return "\n".join(lines) + "\n"


def measurement_report(model="cfa", data=None, *, thresholds: dict | None = None,
                       ci: float = 0.95, result=None, scale=(1, 7),
                       parallel_iter: int = 200, seed: int = 1,
                       options=None, alpha_available: bool = False,
                       group: str | None = None):
    """All measurement-quality tables for a CFA model and data, with threshold flags.

    Missing answers are kept: the model is fitted with the data's missing-data rule (FIML by
    default; pairwise for WLSMV) and ω, CR, AVE and Fornell–Larcker come from that fit
    (:func:`fitted_reliability`); α and HTMT/HTMT2 come from the EM covariance matrix of the
    items (polychoric correlations for a WLSMV fit); item statistics are per scale on the rows
    that answered the scale; KMO, Bartlett, parallel analysis and EFA use the complete rows.
    ``bases`` and the ``alpha_basis``/``basis`` columns say which is which.

    Parameters
    ----------
    thresholds : dict, optional
        Override any of :data:`THRESHOLDS` (name -> value); sources are kept in the output.
    result : SEMResult, optional
        The CFA already fitted to ``data`` (avoids refitting); one group.
    options : semcluster.data.survey.DataOptions, optional
        How ``data`` is read (see :func:`semcluster.data.survey.read_survey`).
    alpha_available : bool
        Also give each scale's α on its available cases (the rows that answered every item of
        that scale, SPSS's per-scale listwise), as ``alpha_available`` with Feldt's interval.
    group : str, optional
        A grouping column: the model is fitted with ``group=`` (or ``result`` is that grouped
        fit) and every table is computed per group, from that group's estimates and moments
        and that group's rows (as semTools' ``compRelSEM``/``AVE`` give a row per group of a
        multigroup lavaan fit): a :class:`GroupMeasurementReport`.
    """
    from .. import arguments
    from ..fitting import fit
    from ..data.survey import read_survey
    from ..spec.parser import read_model

    parallel_iter = arguments.iterations("parallel_iter", parallel_iter)
    seed = arguments.seed("seed", seed)
    ci = arguments.probability("ci", ci)
    th = {k: v[0] for k, v in THRESHOLDS.items()}
    th.update(thresholds or {})
    spec = result.spec if result is not None else read_model(model)
    from ..errors import OptionError

    if group is not None and not isinstance(group, str):
        raise OptionError("group must be the name of a data column")
    df, _ = read_survey(data, options, variables=spec.observed,
                        keep=(group,) if group is not None else ())
    items_of = _items_of(spec)
    if group is not None:
        if group not in df.columns:
            raise OptionError(f"group column '{group}' is not in the data")
        res = result if result is not None else fit(spec, df, group=group)
        if not getattr(res, "groups", ()):
            raise OptionError(f"the fit given as result has no groups; fit it with "
                              f"group='{group}' for measurement quality per group")
        labels = df[group].astype(str)
        blocks = _fit_blocks(res)
        reports = {}
        for blk in blocks:
            rows = df[labels == str(blk[0])]
            reports[str(blk[0])] = _block_report(res, blk, rows, items_of, th, ci, scale,
                                                 parallel_iter, seed, alpha_available)
        return GroupMeasurementReport(group=group, reports=reports)
    res = result if result is not None else fit(spec, df)
    blocks = _fit_blocks(res)
    if len(blocks) > 1:
        raise OptionError("the measurement report of a grouped fit is per group: pass "
                          "group=COLUMN (CLI: --group COLUMN), or fit each group alone")
    rel = construct_reliability(res, items_of)
    return _block_report(res, blocks[0], df, items_of, th, ci, scale, parallel_iter, seed,
                         alpha_available, rel)


def _latent_correlations_block(e, latent) -> pd.DataFrame:
    """Correlations between factors (std.all of ``~~``) of one group's estimates, with
    delta-method SE and 95 % CI (as :func:`latent_correlations`)."""
    lat = set(latent)
    rows = e[(e.op == "~~") & (e.lhs != e.rhs) & e.lhs.isin(lat) & e.rhs.isin(lat)]
    z = stats.norm.ppf(0.975)
    out = pd.DataFrame({"lhs": rows.lhs, "rhs": rows.rhs, "r": rows.std_all,
                        "se": rows.se_std_all})
    out["ci_lower"] = out.r - z * out.se
    out["ci_upper"] = out.r + z * out.se
    return out.reset_index(drop=True)


def _block_report(res, block, df, items_of, th, ci, scale, parallel_iter, seed,
                  alpha_available, rel=None) -> MeasurementReport:
    """The measurement report of one group: ``block`` is that group's (label, H1 matrix,
    implied matrix, latent covariance, estimates) (:func:`_fit_blocks`), ``df`` its rows;
    ``rel`` its ω/CR/AVE table when already computed (one group: construct_reliability)."""
    _, S_h1, _, _, e = block
    if rel is None:
        rel = _reliability_block(res, items_of, block)
    allitems = [i for its in items_of.values() for i in its]
    answered = df[allitems].notna().any(axis=1)
    n_incomplete = int(df[allitems].isna().any(axis=1).sum())
    S_em = em_covariance(df, allitems)
    bases = {}
    arows = []
    for f, its in items_of.items():
        if n_incomplete:
            a = alpha_of_matrix(S_em, its)
            row = {"alpha": a["alpha"], "alpha_ci_lower": np.nan, "alpha_ci_upper": np.nan,
                   "std_alpha": a["std_alpha"], "n": int(answered.sum()),
                   "alpha_basis": "EM covariance"}
        else:
            a = cronbach_alpha(df[its], ci)
            row = {k: a[k] for k in ("alpha", "alpha_ci_lower", "alpha_ci_upper",
                                     "std_alpha", "n")}
            row["alpha_basis"] = "complete rows"
        if alpha_available:
            av = cronbach_alpha(df[its], ci)
            row.update({"alpha_available": av["alpha"],
                        "alpha_available_ci_lower": av["alpha_ci_lower"],
                        "alpha_available_ci_upper": av["alpha_ci_upper"],
                        "n_available": av["n"]})
        arows.append(pd.Series(row, name=f))
    rel = pd.DataFrame(arows).join(rel)
    n_complete = int(len(df) - df[allitems].isna().any(axis=1).sum())
    if n_incomplete:
        bases["alpha"] = (f"EM (FIML) covariance of the items, {int(answered.sum())} rows "
                          f"({n_incomplete} with missing answers); no Feldt interval (it "
                          f"assumes complete rows)")
    else:
        bases["alpha"] = f"complete rows (N = {len(df)}), Feldt {ci:.0%} interval"
    if alpha_available:
        bases["alpha_available"] = ("per scale, the rows that answered every item of the "
                                    "scale (SPSS's per-scale listwise), Feldt interval")
    bases["omega_cr_ave"] = (f"the fitted model ({res.estimator}, missing-data rule "
                             f"{res.missing if res.missing == 'fiml' else res.info.get('missing', 'listwise')}): "
                             f"semTools compRelSEM (omega: observed H1 matrix; CR: "
                             f"model-implied) and AVE; ave_std = mean squared std. loading")
    bases["fornell_larcker"] = "sqrt(ave_std) and the fitted model's latent correlations"
    if _ordered_items(e):
        H_src = S_h1
        bases["htmt"] = "the fit's polychoric correlations (semTools htmt with ordered=)"
    else:
        H_src = S_em
        bases["htmt"] = ("EM correlations of the items (semTools htmt with missing = 'ml')"
                         if n_incomplete else "item correlations of the complete rows")
    bases["htmt"] += "; HTMT = arithmetic means (Henseler et al. 2015), HTMT2 = geometric " \
                     "(Roemer et al. 2021, semTools 0.5.6's default)"
    fl = _fornell_larcker_block(block[3], rel)
    if H_src is S_em and not n_incomplete:
        # complete answers: the item correlations of the data (S_em is their covariance)
        h1, h2 = htmt(df, items_of), htmt(df, items_of, htmt2=True)
    else:
        h1 = htmt_of_matrix(H_src, items_of)
        h2 = htmt_of_matrix(H_src, items_of, htmt2=True)
    kmo_items, sph = kmo_bartlett(df, allitems)
    pa = parallel_analysis(df, allitems, n_iter=parallel_iter, seed=seed)
    ef = efa(df, allitems, max(pa["n_factors"], 1), cross_loading=th["cross_loading"])
    bases["exploratory"] = (f"KMO, Bartlett, parallel analysis and EFA on the {n_complete} "
                            f"complete rows" + (f" of {len(df)}" if n_incomplete else ""))
    bases["items"] = "item statistics per scale on the rows that answered the scale"

    flags = threshold_flags(rel, fl, h1, sph["kmo"], th)
    return MeasurementReport(
        reliability=rel.rename_axis("construct"), items=item_statistics(df, items_of, scale),
        fornell_larcker=fl, htmt=h1, htmt2=h2,
        latent_correlations=_latent_correlations_block(e, res.spec.latent),
        kmo_items=kmo_items, sphericity=sph, parallel=pa, efa=ef, flags=flags,
        thresholds=th, bases=bases)


@dataclass(frozen=True, eq=False)
class GroupMeasurementReport(ResultProtocol):
    """The measurement report of every group of a grouped fit: ``reports`` maps each group
    label (lavaan's order) to that group's :class:`MeasurementReport`.  ``tables()`` and
    ``to_frame()`` stack the groups with a ``group`` column first."""

    group: str
    reports: dict

    def tables(self) -> dict:
        out = {}
        for label, rep in self.reports.items():
            for name, t in rep.tables().items():
                out.setdefault(name, []).append(t.assign(group=label))
        return {name: pd.concat(parts, ignore_index=True)[
            ["group"] + [c for c in parts[0].columns if c != "group"]]
            for name, parts in out.items()}

    def to_frame(self) -> pd.DataFrame:
        """Reliability and validity per group and construct (index group, construct)."""
        return pd.concat({label: rep.to_frame() for label, rep in self.reports.items()},
                         names=["group", "construct"])

    def to_dict(self) -> dict:
        return {"group": self.group,
                "groups": {label: rep.to_dict() for label, rep in self.reports.items()}}

    def summary(self) -> str:
        return "\n".join(f"Group {self.group} = {label}\n{rep.summary()}"
                         for label, rep in self.reports.items())


def threshold_flags(reliability: pd.DataFrame, fornell_larcker_table: pd.DataFrame,
                    htmt_table: pd.DataFrame, kmo: float,
                    thresholds: dict | None = None) -> pd.DataFrame:
    """Every threshold check of the measurement report: one row per check with columns
    ``figure value threshold passes source`` (sources in :data:`THRESHOLDS`).

    Per construct (rows of ``reliability``): α, ω and CR pass at ≥ .70; AVE passes at ≥ .50
    and is read from ``ave_std`` (the Fornell & Larcker 1981 AVE, the mean squared
    *standardized* loading), not from semTools' ``ave``; Fornell–Larcker passes when √AVE
    exceeds the absolute value of every correlation of the construct (its ``passes`` column).
    Per pair of constructs: HTMT passes the strict check below .85 and the liberal one below
    .90 (Henseler, Ringle & Sarstedt 2015: discriminant validity is in doubt *at or above* the
    threshold).  KMO overall passes at ≥ .60 (Kaiser 1974).  ``thresholds`` overrides any
    default value by name.
    """
    th = {k: v[0] for k, v in THRESHOLDS.items()}
    th.update(thresholds or {})
    rel, fl, h1 = reliability, fornell_larcker_table, htmt_table
    flags = []

    def flag(figure, value, limit, ok, key):
        flags.append({"figure": figure, "value": float(value), "threshold": limit,
                      "passes": bool(ok), "source": THRESHOLDS[key][1]})

    for f in rel.index:
        flag(f"alpha {f}", rel.loc[f, "alpha"], th["alpha"], rel.loc[f, "alpha"] >= th["alpha"],
             "alpha")
        flag(f"omega {f}", rel.loc[f, "omega"], th["omega"], rel.loc[f, "omega"] >= th["omega"],
             "omega")
        flag(f"CR {f}", rel.loc[f, "cr"], th["cr"], rel.loc[f, "cr"] >= th["cr"], "cr")
        flag(f"AVE {f}", rel.loc[f, "ave_std"], th["ave"], rel.loc[f, "ave_std"] >= th["ave"],
             "ave")
        flag(f"Fornell-Larcker {f}", fl.loc[f, f], None, fl.loc[f, "passes"], "fornell_larcker")
    names = list(h1.index)
    for i, a in enumerate(names):
        for b in names[:i]:
            flag(f"HTMT {a}-{b}", h1.loc[a, b], th["htmt_strict"],
                 h1.loc[a, b] < th["htmt_strict"], "htmt_strict")
            flag(f"HTMT {a}-{b} (liberal)", h1.loc[a, b], th["htmt_liberal"],
                 h1.loc[a, b] < th["htmt_liberal"], "htmt_liberal")
    flag("KMO overall", kmo, th["kmo"], kmo >= th["kmo"], "kmo")
    return pd.DataFrame(flags, columns=["figure", "value", "threshold", "passes",
                                        "source"])


def flags_table(flags: pd.DataFrame) -> pd.DataFrame:
    """The threshold checks with each HTMT pair once (strict .85 and liberal .90 side by side);
    the figure checked is in column ``observed``."""
    fl = flags.copy()
    lib = fl.figure.str.endswith(" (liberal)")
    liberal = fl[lib].assign(figure=lambda d: d.figure.str.replace(" (liberal)", "",
                                                                   regex=False))
    out = fl[~lib].copy()
    out.insert(3, "threshold_liberal", out.figure.map(dict(zip(liberal.figure,
                                                               liberal.threshold))))
    out.insert(5, "passes_liberal", out.figure.map(dict(zip(liberal.figure, liberal.passes))))
    out["passes_liberal"] = out["passes_liberal"].astype(object).where(
        out["passes_liberal"].notna(), None)
    return out.rename(columns={"value": "observed"}).reset_index(drop=True)
