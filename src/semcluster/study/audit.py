"""Consistency audit of a published correlation table and regression.

Every check recomputes a published figure from other published figures and says whether the
two can be equal *given the precision they were printed to*.  Printed values are intervals
(0.342 at 3 decimals is anything in [0.3415, 0.3425)); a figure recomputed from a rounded
correlation matrix is an interval too, found by recomputing it for 1,000 matrices whose entries
are drawn uniformly within their rounding intervals (seeded, so the audit is deterministic).
A check is ``consistent`` when the two intervals overlap, ``inconsistent`` when they do not,
and ``not checked`` when an input is missing.  No verdict depends on what this paper says.

Checks (formulas in :mod:`semcluster.analysis.regression`):

* standardized βs (Beta In for predictors left out), R², adjusted R² and F of the printed model
  from the correlation matrix and N;
* F vs R² vs adjusted R² for every number of predictors k = 1 … K;
* printed significance stars vs the p of each β's implied t;
* GRIM (Brown & Heathers 2017) for means of integer items, and the largest SD a mean allows on
  a bounded scale (Bhatia & Davis 2000: SD² ≤ (M − min)(max − M)·N/(N − 1));
* positive definiteness of the correlation matrix;
* Cronbach's α vs its item count: average inter-item correlation r̄ = α/(k − (k − 1)α) must be
  in (0, 1], and a correlation disattenuated by √(α_i α_j) must not exceed 1 in absolute value
  (Spearman 1904).

Input: a dict (or YAML/JSON file) of published figures; :func:`paper_published` gives the
paper's own, and its keys document the schema.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from ..errors import DataError
from ..analysis.regression import stepwise_from_correlations

N_DRAWS = 1000
SEED = 20140101


def paper_published() -> dict:
    """The paper's Tables 2–4 in the audit's input schema."""
    from . import paper as study

    d = study.descriptives()
    R = study.correlations()
    reg = study.regression()
    names = list(R.index)
    return {
        "n": study.N,
        "decimals": 3,
        "scale": list(study.SCALE),
        "variables": names,
        "means": dict(d["mean"]),
        "sds": dict(d["sd"]),
        "n_items": dict(d["n_items"]),
        "correlations": [[float(R.iloc[i, j]) for j in range(i)] for i in range(len(names))],
        "alpha": dict(study.reliability()["alpha"]),
        "regression": {
            "outcome": study.OUTCOME,
            "method": "stepwise",        # SPSS METHOD=STEPWISE (PIN .05, POUT .10)
            "beta": dict(reg["beta"]),
            "entered": {k: bool(v) for k, v in reg["entered"].items()},
            "stars": {k: v for k, v in reg["stars"].items() if isinstance(v, str)},
            "star_levels": reg.attrs["star_levels"],
            "F": reg.attrs["F"], "r2": reg.attrs["r2"], "adj_r2": reg.attrs["adj_r2"],
        },
    }


MAX_PUBLISHED_BYTES = 1_000_000      # a study's published tables are a few kilobytes


def load_published(path: str | Path) -> dict:
    """Read published figures from a YAML or JSON file (schema: :func:`paper_published`).

    Every key is checked (:func:`check_published`); a file that cannot be used raises
    :class:`~semcluster.errors.DataError` naming the file and the key (or the line, for text
    that is not JSON/YAML or not UTF-8).
    """
    p = Path(path)
    if not p.is_file():
        raise DataError(f"{p}: no such file")
    size = p.stat().st_size
    if size > MAX_PUBLISHED_BYTES:
        raise DataError(f"{p}: {size / 1e6:.1f} MB is too large for a file of published "
                        f"tables (at most {MAX_PUBLISHED_BYTES // 1_000_000} MB); is this the "
                        f"right file?")
    raw = p.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[:exc.start].count(b"\n") + 1
        raise DataError(f"{p}:{line}: not UTF-8 text (byte 0x{raw[exc.start]:02x}); save the "
                        f"file as UTF-8") from None
    try:
        if p.suffix.lower() in (".yaml", ".yml"):
            import yaml

            d = yaml.safe_load(text)
        else:
            d = json.loads(text)
    except Exception as exc:  # noqa: BLE001 - any parse failure is the user's file
        raise DataError(f"{p}: cannot be read ({str(exc).splitlines()[0]})") from None
    return check_published(d, str(p))


def _is_number(v) -> bool:
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool) \
        and math.isfinite(float(v))


def check_published(pub, source: str = "published figures") -> dict:
    """Check the published figures against the schema of :func:`paper_published`.

    Returns ``pub`` unchanged; raises :class:`~semcluster.errors.DataError` naming the key
    (``'n'``, ``'regression.beta'`` ...) for a missing key, a value of the wrong kind, a value
    out of range (N < 3, no item, a reversed scale ...) or a name that is not one of
    ``variables``.  Figures that are merely impossible (α > 1, |r| > 1) are left for the audit
    to report as inconsistent.
    """
    def bad(key, what):
        raise DataError(f"{source}: '{key}' {what}")

    if not isinstance(pub, dict):
        raise DataError(f"{source}: must be a mapping of keys (n, variables, correlations, ...), "
                        f"not a {type(pub).__name__}")
    for key in ("n", "variables", "correlations"):
        if key not in pub:
            bad(key, "is missing (needs at least 'n', 'variables' and 'correlations')")
    n = pub["n"]
    if not _is_number(n) or float(n) != int(n):
        bad("n", f"must be a whole number of respondents, not {n!r}")
    if not 3 <= int(n) <= 100_000_000:
        bad("n", f"must be at least 3 (and at most 100,000,000), not {n!r}")
    n = int(n)
    dec = pub.get("decimals", 3)
    if not _is_number(dec) or float(dec) != int(dec) or not 0 <= int(dec) <= 10:
        bad("decimals", f"must be a whole number from 0 to 10, not {dec!r}")
    names = pub["variables"]
    if not isinstance(names, list) or len(names) < 2 or \
            not all(isinstance(v, str) and v.strip() for v in names):
        bad("variables", "must be a list of at least two variable names")
    if len(set(names)) != len(names):
        dup = next(v for v in names if names.count(v) > 1)
        bad("variables", f"names '{dup}' twice")
    known = set(names)
    k = len(names)
    c = pub["correlations"]
    if not isinstance(c, list) or len(c) != k or not all(isinstance(r, list) for r in c):
        bad("correlations", f"must be a list of {k} rows (one per variable)")
    full = all(len(r) == k for r in c)
    for i, row in enumerate(c):
        if not full and len(row) != i:
            bad("correlations", f"row {i + 1} ({names[i]}) has {len(row)} values; a lower "
                                f"triangle has {i} (or give the full {k} x {k} matrix)")
        for j, v in enumerate(row):
            if not _is_number(v):       # |r| > 1 is left to the positive-definiteness check
                bad("correlations", f"row {i + 1} ({names[i]}), value {j + 1}: {v!r} is not a "
                                    f"number")
    scale = pub.get("scale")
    if scale is not None and (not isinstance(scale, list) or len(scale) != 2
                              or not all(_is_number(x) for x in scale)
                              or not scale[0] < scale[1]):
        bad("scale", f"must be [min, max] with min < max, not {scale!r}")

    def by_variable(key, ok, what):
        m = pub.get(key)
        if m is None:
            return
        if not isinstance(m, dict):
            bad(key, f"must map variable names to {what}")
        for v, x in m.items():
            if v not in known:
                bad(key, f"names '{v}', which is not one of 'variables' ({', '.join(names)})")
            if not ok(x):
                bad(key, f"of '{v}' must be {what}, not {x!r}")

    by_variable("means", _is_number, "a number")
    by_variable("sds", _is_number, "a number")
    by_variable("n_items", lambda x: _is_number(x) and float(x) == int(x) and 1 <= x <= 1000,
                "a whole number of items (at least 1)")
    # a printed alpha above 1 or a negative SD is a finding of the audit, not a bad file
    by_variable("alpha", _is_number, "a number")

    reg = pub.get("regression")
    if reg is None:
        return pub
    if not isinstance(reg, dict):
        bad("regression", "must be a mapping (outcome, beta, entered, ...)")
    y = reg.get("outcome")
    if y not in known:
        bad("regression.outcome", f"must be one of 'variables' ({', '.join(names)}), not {y!r}")
    beta = reg.get("beta")
    if not isinstance(beta, dict) or not beta:
        bad("regression.beta", "must map predictor names to standardized betas")
    for v, x in beta.items():
        if v not in known or v == y:
            bad("regression.beta", f"names '{v}', which is not a predictor among 'variables'")
        if not _is_number(x):
            bad("regression.beta", f"of '{v}' must be a number, not {x!r}")
    for key, ok, what in (("entered", lambda x: isinstance(x, bool), "true or false"),
                          ("stars", lambda x: x is None or isinstance(x, str), "a string"),):
        m = reg.get(key)
        if m is None:
            continue
        if not isinstance(m, dict):
            bad(f"regression.{key}", "must map predictor names to " + what)
        for v, x in m.items():
            if v not in beta:
                bad(f"regression.{key}", f"names '{v}', which is not a predictor in "
                                         f"'regression.beta'")
            if not ok(x):
                bad(f"regression.{key}", f"of '{v}' must be {what}, not {x!r}")
    levels = reg.get("star_levels")
    if levels is not None and (not isinstance(levels, dict) or not all(
            isinstance(s_, str) and _is_number(x) and 0 < x < 1 for s_, x in levels.items())):
        bad("regression.star_levels", "must map star strings to p-value levels in (0, 1)")
    for key in ("F", "r2", "adj_r2", "p_enter", "p_remove"):
        x = reg.get(key)
        if x is not None and not _is_number(x):
            bad(f"regression.{key}", f"must be a number, not {x!r}")
    if reg.get("r2") is not None and not 0 <= reg["r2"] < 1:
        bad("regression.r2", f"must be in [0, 1), not {reg['r2']!r}")
    if reg.get("method", "enter") not in ("enter", "stepwise"):
        bad("regression.method", f"must be 'enter' or 'stepwise', not {reg['method']!r}")
    if n <= len(beta) + 1:
        bad("n", f"{n} leaves no residual degrees of freedom for {len(beta)} predictors "
                 f"(needs N > {len(beta) + 1})")
    return pub


def _matrix(pub: dict) -> pd.DataFrame:
    names = list(pub["variables"])
    c = pub["correlations"]
    p = len(names)
    R = np.eye(p)
    try:
        if len(c) == p and all(len(row) == p for row in c):
            R = np.array(c, dtype=float)
        else:
            for i, row in enumerate(c):
                for j, v in enumerate(row):
                    R[i, j] = R[j, i] = float(v)
    except (TypeError, ValueError, IndexError):
        raise DataError("'correlations' must be a lower triangle (rows of 0, 1, 2, ... "
                        "values) or a full matrix of numbers") from None
    if not np.allclose(R, R.T):
        raise DataError("'correlations' is not symmetric")
    return pd.DataFrame(R, index=names, columns=names)


def _interval(v, dec):
    h = 0.5 * 10 ** -dec
    return (v - h, v + h)


def _overlap(a, b, slack=1e-12):
    return a[0] <= b[1] + slack and b[0] <= a[1] + slack


def _perturbed(R: pd.DataFrame, dec: int, n_draws=N_DRAWS, seed=SEED):
    """Correlation matrices within the rounding of R (positive definite ones only)."""
    rng = np.random.default_rng(seed)
    p = R.shape[0]
    iu = np.triu_indices(p, 1)
    h = 0.5 * 10 ** -dec
    out = []
    A = R.to_numpy()
    for _ in range(n_draws):
        M = A.copy()
        e = rng.uniform(-h, h, size=len(iu[0]))
        M[iu] += e
        M[(iu[1], iu[0])] += e
        if np.linalg.eigvalsh(M).min() > 0:
            out.append(pd.DataFrame(M, index=R.index, columns=R.columns))
    return out


def _ols_np(M: np.ndarray, yi: int, xi: list[int], n: int):
    """β, p-values, R², adjusted R², F from a correlation array (see regression.py)."""
    Rxx = M[np.ix_(xi, xi)]
    rxy = M[xi, yi]
    inv = np.linalg.inv(Rxx)
    b = inv @ rxy
    r2 = float(b @ rxy)
    k = len(xi)
    dfe = n - k - 1
    se = np.sqrt(np.clip((1 - r2) / dfe * np.diag(inv), 0, None))
    p = 2 * stats.t.sf(np.abs(b / se), dfe)
    return b, p, r2, 1 - (1 - r2) * (n - 1) / dfe, (r2 / k) / ((1 - r2) / dfe)


def _row(check, item, published, lo, hi, point, verdict, detail=""):
    diff = (point - published) if (published is not None and point is not None
                                   and not pd.isna(point)) else np.nan
    return {"check": check, "item": item, "published": published, "recomputed": point,
            "recomputed_low": lo, "recomputed_high": hi, "difference": diff,
            "verdict": verdict, "detail": detail}


def _stat_range(func, R, draws):
    vals = [func(M) for M in draws]
    point = func(R)
    vals = np.array([v for v in vals + [point] if v is not None and np.isfinite(v)])
    return float(point), float(vals.min()), float(vals.max())


def audit(pub: dict | None = None) -> pd.DataFrame:
    """Run every check on published figures (default: the paper's Tables 2–4).

    Returns
    -------
    DataFrame
        One row per check and item: published, recomputed (point, low, high), difference,
        verdict (``consistent``/``inconsistent``/``not checked``), detail.
    """
    pub = paper_published() if pub is None else check_published(pub)
    dec = int(pub.get("decimals", 3))
    n = int(pub["n"])
    R = _matrix(pub)
    rows = []

    # positive definiteness
    ev = np.linalg.eigvalsh(R.to_numpy())
    rows.append(_row("correlation matrix positive definite", "all", None, float(ev.min()),
                     float(ev.max()), float(ev.min()),
                     "consistent" if ev.min() > 0 else "inconsistent",
                     f"smallest eigenvalue {ev.min():.4f}"))
    draws = _perturbed(R, dec) if ev.min() > 0 else []

    reg = pub.get("regression")
    if reg and draws:
        y = reg["outcome"]
        beta = reg.get("beta", {})
        preds = list(beta)
        entered = [p for p in preds if reg.get("entered", {}).get(p, True)]
        k = len(entered)

        names = list(R.index)
        yi = names.index(y)
        xi = [names.index(p) for p in entered]
        mats = [R.to_numpy()] + [M.to_numpy() for M in draws]      # point estimate first
        model = [_ols_np(M, yi, xi, n) for M in mats]
        left_out = {p: [_ols_np(M, yi, xi + [names.index(p)], n) for M in mats]
                    for p in preds if p not in entered}

        def rng(vals):
            v = np.asarray(vals, dtype=float)
            return float(v[0]), float(v.min()), float(v.max())

        for p in preds:
            if p in entered:
                pt, lo, hi = rng([m[0][entered.index(p)] for m in model])
                label = "standardized beta"
            else:
                pt, lo, hi = rng([m[0][-1] for m in left_out[p]])
                label = "beta in (left out)"
            ok = _overlap((lo, hi), _interval(beta[p], dec))
            rows.append(_row(label, p, beta[p], lo, hi, pt,
                             "consistent" if ok else "inconsistent",
                             f"model with {', '.join(entered)}"))
        for key, idx in (("r2", 2), ("adj_r2", 3), ("F", 4)):
            if reg.get(key) is None:
                rows.append(_row(key, "model", None, None, None, None, "not checked",
                                 "not published"))
                continue
            pt, lo, hi = rng([m[idx] for m in model])
            ok = _overlap((lo, hi), _interval(reg[key], dec))
            rows.append(_row(key + " from correlations", "model", reg[key], lo, hi, pt,
                             "consistent" if ok else "inconsistent",
                             f"k = {k} predictors ({', '.join(entered)}), N = {n}"))
        rows += _f_r2_rows(reg, n, len(preds), dec)
        rows += _star_rows(reg, [m[1] for m in model], entered)
        # stepwise selection the way SPSS would have run it on these correlations
        if reg.get("method", "enter") == "stepwise":
            step = stepwise_from_correlations(R, y, preds, n,
                                              p_enter=reg.get("p_enter", 0.05),
                                              p_remove=reg.get("p_remove", 0.10))
            same = set(step.coefficients.index) == set(entered)
            rows.append(_row("stepwise selection (PIN .05, POUT .10)", "entered set", None,
                             None, None, None, "consistent" if same else "inconsistent",
                             f"from the correlations: {', '.join(step.coefficients.index)}; "
                             f"published: {', '.join(entered)}"))

    rows += _grim_rows(pub, n, dec)
    rows += _alpha_rows(pub, R)
    return pd.DataFrame(rows)


def _f_r2_rows(reg, n, K, dec):
    """F, R² and adjusted R² against each other for k = 1..K predictors."""
    rows = []
    r2, F, adj = reg.get("r2"), reg.get("F"), reg.get("adj_r2")
    if r2 is None:
        return rows
    r2_lo, r2_hi = _interval(r2, dec)
    fits = []
    for k in range(1, K + 1):
        dfe = n - k - 1
        f_rng = ((r2_lo / k) / ((1 - r2_lo) / dfe), (r2_hi / k) / ((1 - r2_hi) / dfe))
        a_rng = (1 - (1 - r2_lo) * (n - 1) / dfe, 1 - (1 - r2_hi) * (n - 1) / dfe)
        f_ok = F is None or _overlap(f_rng, _interval(F, dec))
        a_ok = adj is None or _overlap(a_rng, _interval(adj, dec))
        if f_ok and a_ok:
            fits.append(k)
        if F is not None:
            rows.append(_row(f"F implied by R² (k = {k})", "model", F, f_rng[0], f_rng[1],
                             (r2 / k) / ((1 - r2) / dfe),
                             "consistent" if f_ok else "inconsistent",
                             f"F = (R²/k)/((1 - R²)/(N - k - 1)), N = {n}"))
        if adj is not None:
            rows.append(_row(f"adjusted R² implied by R² (k = {k})", "model", adj, a_rng[0],
                             a_rng[1], 1 - (1 - r2) * (n - 1) / dfe,
                             "consistent" if a_ok else "inconsistent",
                             "adj = 1 - (1 - R²)(N - 1)/(N - k - 1)"))
    rows.append(_row("F, R², adjusted R² agree for some k", "model", None, None, None, None,
                     "consistent" if fits else "inconsistent",
                     f"k consistent with all three: {fits or 'none'} (K = {K})"))
    return rows


def _star_rows(reg, pvalues, entered):
    """Printed stars against the p of each entered β (point estimate first, then draws)."""
    rows = []
    stars = reg.get("stars") or {}
    levels = reg.get("star_levels") or {}
    if not stars or not levels:
        return rows
    order = sorted(levels.items(), key=lambda kv: kv[1])      # strictest first

    def stars_for(p):
        for s, lv in order:
            if p < lv:
                return s
        return ""

    for pred, printed in stars.items():
        if pred not in entered:
            continue
        ps = np.array([pv[entered.index(pred)] for pv in pvalues])
        possible = {stars_for(p) for p in ps}
        ok = printed in possible
        rows.append(_row("significance stars vs implied t", pred, None, float(ps.min()),
                         float(ps.max()), float(ps[0]), "consistent" if ok else "inconsistent",
                         f"printed '{printed}', implied "
                         f"{' or '.join(repr(s) for s in sorted(possible))} "
                         f"(p from β/SE with SE from the correlations)"))
    return rows


def _grim_rows(pub, n, dec):
    from ..analysis.simulate import grim_reachable

    rows = []
    means = pub.get("means") or {}
    sds = pub.get("sds") or {}
    items = pub.get("n_items") or {}
    scale = pub.get("scale")
    for v, m in means.items():
        k = items.get(v)
        if k is None:
            rows.append(_row("GRIM (mean of integer answers)", v, m, None, None, None,
                             "not checked", "item count not given"))
        else:
            ok, nearest = grim_reachable(m, n, int(k), dec)
            rows.append(_row("GRIM (mean of integer answers)", v, m, nearest, nearest, nearest,
                             "consistent" if ok else "inconsistent",
                             f"means of {n}×{k} integers are multiples of 1/{n * int(k)}; "
                             f"nearest attainable {nearest:.5f}"))
        if scale and v in sds:
            lo, hi = scale
            s_max = math.sqrt(max((m - lo) * (hi - m), 0) * n / (n - 1))
            ok = sds[v] - 0.5 * 10 ** -dec <= s_max
            rows.append(_row("SD possible for the mean on the scale", v, sds[v], 0.0, s_max,
                             s_max, "consistent" if ok else "inconsistent",
                             f"largest SD for mean {m} on [{lo}, {hi}] (Bhatia–Davis)"))
    return rows


def _alpha_rows(pub, R):
    rows = []
    alpha = pub.get("alpha") or {}
    items = pub.get("n_items") or {}
    for v, a in alpha.items():
        k = items.get(v)
        if k is None:
            continue
        k = int(k)
        denom = k - (k - 1) * a
        rbar = a / denom if denom else np.inf
        ok = 0 < a <= 1 and 0 < rbar <= 1
        rows.append(_row("alpha vs item count", v, a, rbar, rbar, rbar,
                         "consistent" if ok else "inconsistent",
                         f"average inter-item correlation implied by α with k = {k}: "
                         f"{rbar:.3f}"))
    # disattenuation needs a positive alpha of both scales (a non-positive one is the finding
    # of its "alpha vs item count" row)
    names = [v for v in alpha if v in R.index and alpha[v] > 0]
    pairs = [(a, b) for i, a in enumerate(names) for b in names[:i]]

    def disattenuated(ab):
        return R.loc[ab[0], ab[1]] / math.sqrt(alpha[ab[0]] * alpha[ab[1]])

    for a, b in pairs:
        d = disattenuated((a, b))
        if abs(d) > 1:          # beyond -1 is as impossible as beyond +1
            rows.append(_row("disattenuated correlation <= 1", f"{a}-{b}", R.loc[a, b], d,
                             d, d, "inconsistent", "|r| / sqrt(alpha_a alpha_b) exceeds 1"))
    if pairs:
        worst = max(pairs, key=lambda ab: abs(disattenuated(ab)))
        d = disattenuated(worst)
        rows.append(_row("largest disattenuated correlation", f"{worst[0]}-{worst[1]}",
                         float(R.loc[worst]), float(d), float(d), float(d),
                         "consistent" if abs(d) <= 1 else "inconsistent",
                         "r / sqrt(alpha_a alpha_b) (largest in absolute value); values near "
                         "±1 mean the scales do not measure distinct constructs"))
    return rows


def summary(table: pd.DataFrame) -> pd.Series:
    return table["verdict"].value_counts()
