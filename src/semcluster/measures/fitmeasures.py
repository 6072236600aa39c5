"""Fit measures computed from the sample and model-implied moments, on lavaan's scale.

semopy's own statistics are incomplete or on another scale (no SRMR, no RMSEA interval, RMSEA
with N-1, log-likelihood/AIC/BIC of the discrepancy function, GFI equal to NFI; see
shared/semopy-notes.md), so every figure here is computed from ``S`` (N-divisor sample
covariance), ``Sigma`` (model-implied covariance), N and the parameter count, with the
formulas lavaan 0.6 uses (lavaan's ``lav_fit_*`` functions; Bentler 1990 for CFI, Tucker &
Lewis 1973 for TLI, Steiger & Lind 1980 / Browne & Cudeck 1993 for RMSEA and its interval,
Jöreskog & Sörbom 1984 for GFI/AGFI, Bentler 1995 for SRMR).  Every figure is tested against
lavaan 0.6.14 (docs/agreement.md, tests/test_fit_measures.py).

Every estimator reports exactly the names lavaan's ``fitMeasures(fit)`` lists for it
(:func:`lavaan_measure_names`, :func:`in_lavaan_order`).  Each family is one function, used for
the standard statistic here and for the scaled and robust ones (``estimators/_scaled.py``):
:func:`baseline_comparisons` (CFI, TLI/NNFI, RFI, NFI, PNFI, IFI, RNI), :func:`rmsea_measures`
(RMSEA, interval, close and not-close p-values), :func:`chisq_measures` (fmin, p-values, CN,
MFI, ECVI), :func:`residual_measures` (RMR, SRMR, CRMR, Mplus SRMR), :func:`gfi_measures`
(AGFI, PGFI) and :func:`likelihood_measures` (logL, AIC, BIC, SABIC).
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import special, stats

from ..model.core import normal_weight, vech_indices
from ..numerics import n_moments


def ml_discrepancy(S: np.ndarray, Sigma: np.ndarray) -> float:
    """F_ML = log|Σ| + tr(S Σ⁻¹) − log|S| − p (the minimum times N is lavaan's χ²)."""
    p = S.shape[0]
    sign, logdet_sigma = np.linalg.slogdet(Sigma)
    if sign <= 0:
        return np.inf
    _, logdet_s = np.linalg.slogdet(S)
    return float(logdet_sigma + np.trace(np.linalg.solve(Sigma, S)) - logdet_s - p)


def loglik(S: np.ndarray, Sigma: np.ndarray, n: int) -> float:
    """Normal log-likelihood with saturated means: −N/2 (p log 2π + log|Σ| + tr(SΣ⁻¹))."""
    p = S.shape[0]
    _, logdet = np.linalg.slogdet(Sigma)
    return float(-n / 2 * (p * np.log(2 * np.pi) + logdet + np.trace(np.linalg.solve(Sigma, S))))


def baseline_sigma(S: np.ndarray, fixed_x_idx: list[int]) -> np.ndarray:
    """Implied covariance of lavaan's independence model.

    Variances free (equal to the sample variances at the optimum); with fixed.x the block of
    exogenous covariates keeps its sample covariances.
    """
    B = np.diag(np.diag(S)).copy()
    if fixed_x_idx:
        ix = np.ix_(fixed_x_idx, fixed_x_idx)
        B[ix] = S[ix]
    return B


def _gfi_vech(S, Sigma, fixed_x_idx):
    """GFI on vech moments without the fixed-x block; returns (gfi, number of moments)."""
    p = S.shape[0]
    rows, cols = vech_indices(p)
    W = normal_weight(Sigma)
    fx = set(fixed_x_idx)
    keep = np.array([not (i in fx and j in fx) for i, j in zip(rows, cols)])
    W = W[np.ix_(keep, keep)]
    o = S[rows, cols][keep]
    r = o - Sigma[rows, cols][keep]
    return float(1 - (r @ W @ r) / (o @ W @ o)), int(keep.sum())


RMSEA_CI_LEVEL = 0.90       # lavaan's fm.args defaults: rmsea.ci.level, rmsea.close.h0,
RMSEA_CLOSE_H0 = 0.05       # rmsea.notclose.h0 (reported as fit measures of their own)
RMSEA_NOTCLOSE_H0 = 0.08


def lavaan_measure_names(*, likelihood: bool = True, scaled: bool = False, robust: bool = False,
                         yuan_bentler: bool = False, categorical: bool = False) -> tuple:
    """The names ``fitMeasures(fit)`` reports, in its order (lavaan 0.6.14
    ``lav_fit_measures``, ``fit.measures = "all"``, one group, one level; ``.`` → ``_``).

    likelihood: estimator ML (plain, MLR, FIML), which adds logl ... bic2; scaled: a scaled test
    (MLR: Yuan-Bentler; WLSMV: scaled-shifted); robust: the ``*_robust`` measures (a scaled
    test, categorical data or FIML); yuan_bentler: ``scaling_factor_h1/h0``; categorical:
    ordinal data (``wrmr`` instead of ``ecvi``).
    """
    sc = (lambda names: [n + "_scaled" for n in names]) if scaled else (lambda names: [])
    rb = (lambda names: [n + "_robust" for n in names]) if robust else (lambda names: [])
    chisq = ["fmin", "chisq", "df", "pvalue"]
    if scaled:
        chisq += ["chisq_scaled", "df_scaled", "pvalue_scaled", "chisq_scaling_factor"]
    base = ["baseline_chisq", "baseline_df", "baseline_pvalue"]
    if scaled:
        base += ["baseline_chisq_scaled", "baseline_df_scaled", "baseline_pvalue_scaled",
                 "baseline_chisq_scaling_factor"]
    cfi_tli = ["cfi", "tli"] + sc(["cfi", "tli"]) + rb(["cfi", "tli"])
    other = INCREMENTAL[2:]
    cfi_other = list(other) + sc(other) + rb(["nnfi", "rni"])
    logl = ["logl", "unrestricted_logl", "aic", "bic", "ntotal", "bic2"] if likelihood else []
    if likelihood and yuan_bentler:
        logl += ["scaling_factor_h1", "scaling_factor_h0"]
    rm = ["rmsea", "rmsea_ci_lower", "rmsea_ci_upper", "rmsea_pvalue", "rmsea_notclose_pvalue"]
    rmsea = ["rmsea", "rmsea_ci_lower", "rmsea_ci_upper", "rmsea_ci_level", "rmsea_pvalue",
             "rmsea_close_h0", "rmsea_notclose_pvalue", "rmsea_notclose_h0"]
    rmsea += sc(rm) + rb(rm)
    srmr = list(RESIDUAL_NAMES)
    other_fm = ["cn_05", "cn_01", "gfi", "agfi", "pgfi", "mfi"]
    other_fm += ["wrmr"] if categorical else ["ecvi"]
    return tuple(["npar"] + chisq + base + cfi_tli + cfi_other + logl + rmsea + srmr + other_fm)


def in_lavaan_order(values: dict, **flags) -> pd.Series:
    """The measures lavaan reports for an estimator (``flags`` as :func:`lavaan_measure_names`),
    in lavaan's order; any other entry of ``values`` is left out, a missing one is NaN."""
    names = lavaan_measure_names(**flags)
    return pd.Series({k: values.get(k, np.nan) for k in names}, dtype=float)


def _ncx2_cdf(x, df, lam):
    # scipy.stats.ncx2.cdf / chi2.cdf, called through their special functions (no overhead)
    return float(special.chndtr(x, df, lam)) if lam > 0 else float(special.chdtr(df, x))


def rmsea_interval(chisq: float, df: int, n: int, level: float = RMSEA_CI_LEVEL, *,
                   c_hat: float = 1.0, groups: int = 1) -> tuple[float, float]:
    """Confidence interval of RMSEA by inverting the non-central χ² (lavaan's
    ``lav_fit_rmsea_ci``).

    λ_L solves P(χ²_df(λ) ≤ X²) = (1+level)/2 on [0, X²] and λ_U solves it = (1−level)/2 on
    [0, max(N, 4X²)] (an end is 0 when λ = 0 already gives a cdf beyond its target, or, for
    the upper end, when the bracket holds no root); RMSEA = sqrt(c·λ / (N · df)), c the
    scaling of a robust RMSEA (1 otherwise), times √G with G groups (lavaan's multi-group
    RMSEA).  NaN for df ≤ 0 or a non-finite statistic.
    """
    if not _finite(chisq, df, c_hat) or df <= 0:
        return (np.nan, np.nan)

    upper_p, lower_p = (1 + level) / 2, (1 - level) / 2

    def f(lam, target):
        return _ncx2_cdf(chisq, df, lam) - target

    def root(target, hi):
        # the cdf falls monotonically in λ, so the root in the bracket is cdfchn's own
        # inversion (scipy.special.chndtrinc; equal to a bisection to 1e-13, 1000x faster)
        return min(float(special.chndtrinc(chisq, df, target)), hi)

    if df < 1 or f(0.0, upper_p) < 0:
        lam_l = 0.0
    elif f(chisq, upper_p) > 0:          # no sign change on [0, X²]: lavaan's uniroot fails
        lam_l = np.nan
    else:
        lam_l = root(upper_p, chisq)
    n_rmsea = max(n, 4 * chisq)
    if df < 1 or f(n_rmsea, lower_p) > 0 or f(0.0, lower_p) < 0:
        lam_u = 0.0
    else:
        lam_u = root(lower_p, n_rmsea)
    return (float(np.sqrt(groups * c_hat * lam_l / (n * df))),
            float(np.sqrt(groups * c_hat * lam_u / (n * df))))


# -- the χ²-based indices: one function each, for the standard, scaled and robust statistics --
def _finite(*v) -> bool:
    return bool(np.all(np.isfinite(np.asarray(v, dtype=float))))


def _noncentral(X2, df, X2_null, df_null, c, c_null):
    """X² − c·df for model and baseline; lavaan uses c only when both c and c_null differ
    from 1 and df > 0 (``lav_fit_cfi`` and the others)."""
    if df > 0 and c != 1 and c_null != 1:
        return X2 - c * df, X2_null - c_null * df_null
    return X2 - df, X2_null - df_null


def cfi(X2, df, X2_null, df_null, c=1.0, c_null=1.0) -> float:
    """Comparative fit index (Bentler 1990; robust: Brosseau-Liard & Savalei 2014);
    lavaan's ``lav_fit_cfi``."""
    if not _finite(X2, df, X2_null, df_null, c, c_null):
        return np.nan
    d, d_null = _noncentral(X2, df, X2_null, df_null, c, c_null)
    t1, t2 = max(d, 0.0), max(d, d_null, 0.0)
    if np.isclose(t1, 0, atol=1.5e-8) and np.isclose(t2, 0, atol=1.5e-8):
        return 1.0
    return float(1 - t1 / t2)


def tli(X2, df, X2_null, df_null, c=1.0, c_null=1.0) -> float:
    """Tucker-Lewis index = non-normed fit index (Tucker & Lewis 1973; Bentler & Bonett 1980);
    lavaan's ``lav_fit_tli`` and ``lav_fit_nnfi`` (the same formula)."""
    if not _finite(X2, df, X2_null, df_null, c, c_null):
        return np.nan
    d, d_null = _noncentral(X2, df, X2_null, df_null, c, c_null)
    t1, t2 = d * df_null, d_null * df
    if df > 0 and abs(t2) > 0:
        return float(1 - t1 / t2)
    return 1.0


nnfi = tli


def rni(X2, df, X2_null, df_null, c=1.0, c_null=1.0) -> float:
    """Relative noncentrality index (McDonald & Marsh 1990); lavaan's ``lav_fit_rni``."""
    if not _finite(X2, df, X2_null, df_null, c, c_null):
        return np.nan
    t1, t2 = _noncentral(X2, df, X2_null, df_null, c, c_null)
    if np.isclose(t2, 0, atol=1.5e-8):
        return np.nan
    return float(1 - t1 / t2)


def nfi(X2, df, X2_null, df_null) -> float:
    """Normed fit index (Bentler & Bonett 1980); lavaan's ``lav_fit_nfi``."""
    if not _finite(X2, df, X2_null, df_null):
        return np.nan
    if df > df_null or np.isclose(X2_null, 0, atol=1.5e-8):
        return np.nan
    return float((X2_null - X2) / X2_null) if df > 0 else 1.0


def pnfi(X2, df, X2_null, df_null) -> float:
    """Parsimony normed fit index (James, Mulaik & Brett 1982); lavaan's ``lav_fit_pnfi``."""
    if not _finite(X2, df, X2_null, df_null) or not (df_null > 0 and X2_null > 0):
        return np.nan
    return float(df / df_null * (X2_null - X2) / X2_null)


def rfi(X2, df, X2_null, df_null) -> float:
    """Relative fit index (Bollen 1986); lavaan's ``lav_fit_rfi``."""
    if not _finite(X2, df, X2_null, df_null) or df > df_null:
        return np.nan
    if not (df > 0 and df_null > 0):
        return 1.0
    t1 = X2_null / df_null - X2 / df
    t2 = X2_null / df_null
    if t1 < 0 or t2 < 0:
        return 1.0
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(np.float64(t1) / t2)         # 0/0 is NaN, as in R


def ifi(X2, df, X2_null, df_null) -> float:
    """Incremental fit index (Bollen 1989); lavaan's ``lav_fit_ifi``."""
    if not _finite(X2, df, X2_null, df_null):
        return np.nan
    t1, t2 = X2_null - X2, X2_null - df
    if t2 < 0:
        return 1.0
    if np.isclose(t2, 0, atol=1.5e-8):
        return np.nan
    return float(t1 / t2)


INCREMENTAL = ("cfi", "tli", "nnfi", "rfi", "nfi", "pnfi", "ifi", "rni")
_INCREMENTAL_FN = {"cfi": cfi, "tli": tli, "nnfi": nnfi, "rfi": rfi, "nfi": nfi, "pnfi": pnfi,
                   "ifi": ifi, "rni": rni}


def baseline_comparisons(X2, df, X2_null, df_null, *, suffix: str = "", c=None,
                         c_null=None) -> dict:
    """Every index comparing the model with the baseline (independence) model.

    Without ``c``: CFI, TLI, NNFI, RFI, NFI, PNFI, IFI, RNI from the statistics given (the
    standard ones, or the scaled ones with ``suffix="_scaled"``).  With ``c`` and ``c_null``
    (the robust family, ``suffix="_robust"``): the indices lavaan corrects with c·df in place
    of df, CFI, TLI, NNFI, RNI.
    """
    if c is None:
        return {k + suffix: f(X2, df, X2_null, df_null) for k, f in _INCREMENTAL_FN.items()}
    return {k + suffix: _INCREMENTAL_FN[k](X2, df, X2_null, df_null, c, c_null)
            for k in ("cfi", "tli", "nnfi", "rni")}


def rmsea_value(X2, df, n, c=1.0, groups: int = 1) -> float:
    """sqrt(max(X²/(N·df) − c/N, 0)) (Steiger & Lind 1980; robust: c·df for df,
    Brosseau-Liard, Savalei & Li 2012), times √G with G groups; 0 for df = 0; lavaan's
    ``lav_fit_rmsea``."""
    if not _finite(X2, df, c):
        return np.nan
    return float(np.sqrt(groups * max(X2 / n / df - c / n, 0.0))) if df > 0 else 0.0


def rmsea_closefit(X2, df, n, c=1.0, h0=RMSEA_CLOSE_H0, groups: int = 1) -> float:
    """P(RMSEA ≤ h0) test: 1 − F(X²; df, λ = N·df·h0²/(c·G)) (lavaan's
    ``lav_fit_rmsea_closefit``; G the number of groups)."""
    if not _finite(X2, df, c) or df <= 0:
        return np.nan
    return float(stats.ncx2.sf(X2, df, n * df / c * h0 ** 2 / groups))


def rmsea_notclosefit(X2, df, n, c=1.0, h0=RMSEA_NOTCLOSE_H0, groups: int = 1) -> float:
    """P(RMSEA ≥ h0) test: F(X²; df, λ = N·df·h0²/(c·G)) (lavaan's
    ``lav_fit_rmsea_notclosefit``; G the number of groups)."""
    if not _finite(X2, df, c) or df <= 0:
        return np.nan
    return float(stats.ncx2.cdf(X2, df, n * df / c * h0 ** 2 / groups))


def rmsea_measures(X2, df, n, *, suffix: str = "", c=1.0, X2_test=None, c_test=1.0,
                   groups: int = 1) -> dict:
    """RMSEA, its 90 % interval and the close / not-close fit p-values.

    The point estimate uses (X2, df, c); the interval and the p-values invert the statistic
    ``X2_test`` (default X2) with the scaling ``c_test``, which differ for lavaan's robust RMSEA
    (the point from the standard statistic with c·df, the interval from the scaled statistic,
    ``lav_fit_rmsea_lavobject``).  ``groups``: lavaan's multi-group RMSEA (point and interval
    times √G, the non-centrality of the p-values divided by G).  The standard family also reports the level and the two
    RMSEA values tested (``rmsea_ci_level``, ``rmsea_close_h0``, ``rmsea_notclose_h0``).
    """
    XT = X2 if X2_test is None else X2_test
    if _finite(XT, df, c_test) and df < 1:
        lo = hi = 0.0
    else:
        lo, hi = rmsea_interval(XT, df, n, c_hat=c_test, groups=groups)
    out = {"rmsea": rmsea_value(X2, df, n, c, groups),
           "rmsea_ci_lower": lo, "rmsea_ci_upper": hi,
           "rmsea_pvalue": rmsea_closefit(XT, df, n, c_test, groups=groups),
           "rmsea_notclose_pvalue": rmsea_notclosefit(XT, df, n, c_test, groups=groups)}
    out = {k + suffix: v for k, v in out.items()}
    if not suffix:
        out.update(rmsea_ci_level=RMSEA_CI_LEVEL, rmsea_close_h0=RMSEA_CLOSE_H0,
                   rmsea_notclose_h0=RMSEA_NOTCLOSE_H0)
    return out


def incremental_indices(chisq: float, df: int, chisq_b: float, df_b: int, n: int,
                        groups: int = 1) -> dict:
    """The χ²-based measures of a standard statistic: every baseline comparison
    (:func:`baseline_comparisons`) and RMSEA with its interval and p-values
    (:func:`rmsea_measures`, G = ``groups``); N is lavaan's (N for ML, N − 1 for least
    squares)."""
    out = baseline_comparisons(chisq, df, chisq_b, df_b)
    out.update(rmsea_measures(chisq, df, n, groups=groups))
    return out


def chisq_measures(X2, df, X2_null, df_null, n, npar, ntotal=None, groups: int = 1) -> dict:
    """Everything lavaan derives from the standard statistic alone (n is lavaan's N: N for
    ML, N − 1 for least squares): fmin = X²/(2·ntotal) (ntotal the number of observations,
    default n; lavaan's ``optim$fx``, checked on every estimator), the p-values,
    :func:`incremental_indices`, Hoelter's critical N (``lav_fit_cn``), McDonald's MFI
    (``lav_fit_mfi``) and the ECVI (``lav_fit_ecvi``)."""
    out = {"fmin": X2 / (2 * (n if ntotal is None else ntotal)), "chisq": X2, "df": df,
           "pvalue": float(stats.chi2.sf(X2, df)) if df > 0 else np.nan,
           "baseline_chisq": X2_null, "baseline_df": df_null,
           "baseline_pvalue": float(stats.chi2.sf(X2_null, df_null)) if df_null > 0
           else np.nan}
    out.update(incremental_indices(X2, df, X2_null, df_null, n, groups))
    for alpha, key in ((0.05, "cn_05"), (0.01, "cn_01")):
        with np.errstate(divide="ignore", invalid="ignore"):     # X² = 0: Inf, as in R
            out[key] = (np.nan if df == 0 and X2 < np.finfo(float).eps else
                        float(stats.chi2.ppf(1 - alpha, df) / np.float64(X2 / n) + 1))
    out["mfi"] = float(np.exp(-0.5 * (X2 - df) / n))
    out["ecvi"] = X2 / n + 2 * npar / n
    return out


# -- residual-based measures ------------------------------------------------------------------
RESIDUAL_NAMES = ("rmr", "rmr_nomean", "srmr", "srmr_bentler", "srmr_bentler_nomean", "crmr",
                  "crmr_nomean", "srmr_mplus", "srmr_mplus_nomean")


def _rescale(x: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """x · scale, except where |x| < 1e-5 (lavaan's ``lav_residuals_rescale``)."""
    return np.where(np.abs(x) < 1e-5, x, x * scale)


def _rms(stats_, count) -> float:
    """lavaan's ``lav_residuals_summary_rms``: sqrt(Σ r²/count), 0 without residuals (0/0, a
    single variable's CRMR, is NaN as in R)."""
    if not len(stats_):
        return 0.0
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(np.sqrt(np.sum(np.square(stats_)) / np.float64(count)))


def residual_measures(S: np.ndarray, Sigma: np.ndarray, M=None, Mu=None) -> dict:
    """RMR, SRMR (Bentler: residuals over the sample SDs), CRMR (Bollen: correlation
    residuals, diagonal not counted) and Mplus' SRMR, with and without the means.

    lavaan's ``lav_fit_srmr_lavobject`` / ``lav_residuals_summary`` (and
    ``lav_fit_srmr_mplus``): each is the root mean square of the residuals over the p(p+1)/2
    moments (p(p−1)/2 for CRMR), plus the p means when there is a mean structure (``M``
    sample means, ``Mu`` implied means; without, the "_nomean" versions equal the others).
    ``srmr`` is lavaan's default, the Bentler version.
    """
    p = S.shape[0]
    r, c = np.tril_indices(p)
    v_obs, v_est = np.diag(S), np.diag(Sigma)
    sc_obs = 1 / np.sqrt(np.outer(v_obs, v_obs))
    sc_est = 1 / np.sqrt(np.outer(v_est, v_est))
    cov = {"rmr": S - Sigma,
           "srmr": _rescale(S, sc_obs) - _rescale(Sigma, sc_obs),
           "crmr": _rescale(S, sc_obs) - _rescale(Sigma, sc_est)}
    out = {}
    for key, E in cov.items():
        e = E[r, c]
        k = len(e) - (p if key == "crmr" else 0)
        nomean = _rms(e, k)
        if M is not None:
            m = np.asarray(M, float) - np.asarray(Mu, float)
            if key != "rmr":
                m = _rescale(np.asarray(M, float), 1 / np.sqrt(v_obs)) - \
                    _rescale(np.asarray(Mu, float), 1 / np.sqrt(v_obs))
            total = _rms(np.concatenate([m, e]), k + p)
        else:
            total = nomean
        name = "srmr_bentler" if key == "srmr" else key
        out[name], out[name + "_nomean"] = total, nomean
    # Mplus: correlation residuals off the diagonal, variances relative to the sample ones,
    # means standardized each by its own SD
    R = S / np.sqrt(np.outer(v_obs, v_obs)) - Sigma / np.sqrt(np.outer(v_est, v_est))
    ss = np.sum(R[np.tril_indices(p, -1)] ** 2) + np.sum(((v_obs - v_est) / v_obs) ** 2)
    e = n_moments(p)
    out["srmr_mplus_nomean"] = float(np.sqrt(ss / e))
    if M is not None:
        mres = np.asarray(M) / np.sqrt(v_obs) - np.asarray(Mu) / np.sqrt(v_est)
        out["srmr_mplus"] = float(np.sqrt((ss + np.sum(mres ** 2)) / (e + p)))
    else:
        out["srmr_mplus"] = out["srmr_mplus_nomean"]
    out["srmr"] = out["srmr_bentler"]
    return out


def residual_measures_categorical(R: np.ndarray, Sigma: np.ndarray, n_thresholds: int,
                                  nvar: int | None = None) -> dict:
    """RMR/SRMR/CRMR for ordinal data (lavaan's ``lav_residuals_summary``, categorical branch):
    the root mean squares of the p(p−1)/2 off-diagonal residuals -- raw (RMR), divided by the
    sample SDs (SRMR, Bentler) and as correlation residuals (CRMR, Bollen) -- over the
    residuals plus the ``nvar`` variables (counting exogenous covariates; default p) for RMR
    and SRMR, plus nothing for CRMR; the "total" versions count the thresholds (and the
    continuous items' means) too, whose residuals are 0 (saturated).  For ordinal items only
    (unit diagonals) the three coincide.  ``R`` is the matrix fitted (polychoric correlations,
    given the covariates; with continuous items their covariances and polyserial correlations
    times SD), ``Sigma`` the model's.  ``srmr`` is the version without thresholds; Mplus' SRMR
    is not given (NaN), as in lavaan."""
    p = R.shape[0]
    nvar = p if nvar is None else nvar
    low = np.tril_indices(p, -1)
    so = 1 / np.sqrt(np.diag(R))
    sm = 1 / np.sqrt(np.diag(Sigma))
    res = {"rmr": (R - Sigma)[low],
           "srmr_bentler": (_rescale(R, np.outer(so, so)) - _rescale(Sigma, np.outer(so, so)))[low],
           "crmr": (_rescale(R, np.outer(so, so)) - _rescale(Sigma, np.outer(sm, sm)))[low]}
    k = len(res["rmr"])
    out = {}
    for name, e in res.items():
        extra = 0 if name == "crmr" else nvar
        out[name] = _rms(e, k + n_thresholds + extra) if k + n_thresholds + extra else 0.0
        out[name + "_nomean"] = _rms(e, k + extra) if k + extra else 0.0
    out["srmr"] = out["srmr_bentler_nomean"]
    out["srmr_mplus"] = out["srmr_mplus_nomean"] = np.nan
    return {k_: float(v) for k_, v in out.items()}


# -- GFI family ---------------------------------------------------------------------------------
def gfi_measures(gfi: float, nel: int, df: int) -> dict:
    """AGFI and PGFI from GFI and the number of sample moments (lavaan's ``lav_fit_agfi``,
    ``lav_fit_pgfi``)."""
    if not _finite(gfi, nel, df):
        return {"gfi": np.nan, "agfi": np.nan, "pgfi": np.nan}
    agfi = 1 - (nel / df) * (1 - gfi) if df > 0 else 1.0
    pgfi = (df / nel) * gfi if nel else np.nan
    return {"gfi": float(gfi), "agfi": float(agfi), "pgfi": float(pgfi)}


def gfi_normal(S: np.ndarray, Sigma: np.ndarray, V: np.ndarray) -> float:
    """GFI = 1 − rᵀWr / sᵀWs on vech moments with the normal-theory weight
    W = ½D'(V⊗V)D (lavaan's ``lav_fit_gfi``), i.e. 1 − tr[((S − Σ)V)²] / tr[(SV)²]; V = Σ̂⁻¹
    for ML (Jöreskog & Sörbom 1984), S⁻¹ for GLS."""
    A = S @ V
    E = (S - Sigma) @ V
    return float(1 - np.sum(E * E.T) / np.sum(A * A.T))


def fit_measures(S: np.ndarray, Sigma: np.ndarray, n: int, npar: int, *,
                 fixed_x_idx: list[int] | None = None) -> pd.Series:
    """All fit measures of an ML fit, with lavaan's names.

    Parameters
    ----------
    S, Sigma : ndarray
        N-divisor sample covariance and model-implied covariance, same variable order.
    n : int
        Number of observations used.
    npar : int
        Number of free parameters.
    fixed_x_idx : list of int
        Positions of exogenous observed covariates (held at sample values: their
        (co)variances are neither data points nor parameters, as in lavaan).
    """
    fixed_x_idx = list(fixed_x_idx or [])
    p = S.shape[0]
    nx = len(fixed_x_idx)
    ndat = n_moments(p, n_fixed_x=nx)
    df = ndat - npar
    fmin = ml_discrepancy(S, Sigma)
    chisq = n * fmin

    B = baseline_sigma(S, fixed_x_idx)
    chisq_b = n * ml_discrepancy(S, B)
    df_b = ndat - (p - nx)

    values = chisq_measures(chisq, df, chisq_b, df_b, n, npar)
    values.update(residual_measures(S, Sigma))

    # GFI / AGFI for ML (Jöreskog & Sörbom), as lavaan 0.6 computes them: 1 − rᵀWr / sᵀWs on
    # the non-duplicated moments with the normal-theory weight at Σ̂.  With fixed.x lavaan leaves
    # the covariates' own (co)variances out of the moments (checked on the HS39 path model),
    # but its AGFI and PGFI count every moment.
    if fixed_x_idx:
        gfi, _ = _gfi_vech(S, Sigma, fixed_x_idx)
    else:
        gfi = gfi_normal(S, Sigma, np.linalg.inv(Sigma))
    values.update(gfi_measures(gfi, n_moments(p), df))

    logl = loglik(S, Sigma, n)
    logl_h1 = loglik(S, S, n)
    if fixed_x_idx:
        # with fixed.x lavaan reports the likelihood conditional on the covariates: the
        # covariates' own (saturated) marginal log-likelihood is taken out of both
        ix = np.ix_(fixed_x_idx, fixed_x_idx)
        lx = loglik(S[ix], S[ix], n)
        logl -= lx
        logl_h1 -= lx
    values.update(npar=npar, ntotal=n, **likelihood_measures(logl, logl_h1, npar, n))
    return in_lavaan_order(values)


def likelihood_measures(logl: float, logl_h1: float, npar: int, n: int) -> dict:
    """logL, the saturated model's logL, AIC, BIC and the sample-size adjusted BIC
    (N* = (N + 2)/24; lavaan's ``lav_fit_aic``, ``lav_fit_bic``, ``lav_fit_sabic``)."""
    return {"logl": logl, "unrestricted_logl": logl_h1, "aic": -2 * logl + 2 * npar,
            "bic": -2 * logl + npar * np.log(n), "bic2": -2 * logl + npar * np.log((n + 2) / 24)}


# -- several groups, or one group with a mean structure ----------------------------------------
def _gfi_means(S, M, Sigma, Mu, fixed_x_idx) -> float:
    """GFI of one group with a mean structure: 1 − rᵀWr / oᵀWo on the moments (x̄, vech S)
    with the normal-theory weight at the implied moments, block-diagonal Σ̂⁻¹ (means) and
    ½D'(Σ̂⁻¹⊗Σ̂⁻¹)D (covariances); the exogenous covariates' own moments left out, as
    :func:`_gfi_vech` (lavaan's ``lav_fit_gfi`` with ``WLS.obs``/``WLS.V`` of the group)."""
    p = S.shape[0]
    Vi = np.linalg.inv(Sigma)
    fx = set(fixed_x_idx)
    keep_m = np.array([i not in fx for i in range(p)])
    rows, cols = np.tril_indices(p)
    keep_c = np.array([not (i in fx and j in fx) for i, j in zip(rows, cols)])

    def form(m, C):
        m = np.where(keep_m, m, 0.0)
        E = np.zeros((p, p))
        E[rows[keep_c], cols[keep_c]] = C[rows[keep_c], cols[keep_c]]
        E = E + np.tril(E, -1).T
        EV = E @ Vi
        return float(m @ Vi @ m + 0.5 * np.sum(EV * EV.T))

    return 1 - form(np.asarray(M) - Mu, S - Sigma) / form(np.asarray(M), S)


def group_fit_measures(S, M, Sigma, Mu, nobs, npar: int, *, fixed_x_idx=(), chisq=None,
                       baseline_chisq=None, logl=None, logl_h1=None,
                       gfi_groups=None) -> dict:
    """Every ``fitMeasures()`` figure of an ML fit with a mean structure in G ≥ 1 groups
    (lavaan's ``lav_fit_measures``, multi-group rules), from numbers.

    ``S``, ``M``, ``Sigma``, ``Mu``, ``nobs``: per group the N-divisor sample covariance, the
    sample means, the implied covariance and means and the group size (for FIML the EM
    estimates as the sample moments, and ``chisq``, ``baseline_chisq``, ``logl``, ``logl_h1``
    and the per-group GFI ``gfi_groups`` given, lavaan's for incomplete data).  ``fixed_x_idx``: positions of the exogenous covariates (their moments are
    neither data points nor parameters; the log-likelihoods are conditional on them).

    The rules for several groups, as lavaan's: χ², the baseline χ² and the log-likelihoods are
    sums over groups, and every χ²-based index uses the totals with N = Σ N_g; RMSEA (point and
    interval) is √G times the one-group formula and its close / not-close p-values divide the
    non-centrality by G; RMR, SRMR, CRMR (each family with and without means) and GFI are
    computed per group and averaged with weights N_g/N; AGFI and PGFI use that GFI with every
    sample moment of every group counted.  Complete data: also ``chisq_by_group``, each group's
    N_g·F_g (lavaan's "test statistic for each group"; not a fitMeasures() name).
    """
    G = len(S)
    N = float(sum(nobs))
    p = S[0].shape[0]
    xi = list(fixed_x_idx or [])
    yi = [i for i in range(p) if i not in xi]
    nx = len(xi)
    ndat = n_moments(p, n_fixed_x=nx, means=True, groups=G)
    df = ndat - npar
    per_group = None
    if chisq is None:
        per_group = []
        for S_g, M_g, Sig_g, Mu_g, n_g in zip(S, M, Sigma, Mu, nobs):
            r = np.asarray(M_g) - Mu_g
            per_group.append(n_g * (ml_discrepancy(S_g, Sig_g)
                                    + float(r @ np.linalg.solve(Sig_g, r))))
        chisq = float(sum(per_group))

    def logdet(A):
        return np.linalg.slogdet(A)[1] if len(A) else 0.0

    if baseline_chisq is None:
        baseline_chisq = sum(
            n_g * (np.sum(np.log(np.diag(S_g)[yi])) + logdet(S_g[np.ix_(xi, xi)])
                   - logdet(S_g)) for S_g, n_g in zip(S, nobs))
    df_b = n_moments(p, n_fixed_x=nx, means=True, groups=G) - 2 * G * (p - nx)  # y means, vars
    values = chisq_measures(chisq, df, baseline_chisq, df_b, N, npar, groups=G)
    if logl is None:
        logl, logl_h1 = 0.0, 0.0
        for S_g, M_g, Sig_g, Mu_g, n_g in zip(S, M, Sigma, Mu, nobs):
            r = np.asarray(M_g) - Mu_g
            logl += loglik(S_g, Sig_g, n_g) - n_g / 2 * float(r @ np.linalg.solve(Sig_g, r))
            logl_h1 += loglik(S_g, S_g, n_g)
            if xi:
                ix = np.ix_(xi, xi)
                lx = loglik(S_g[ix], S_g[ix], n_g)
                logl -= lx
                logl_h1 -= lx
    values.update(npar=npar, ntotal=int(N), **likelihood_measures(logl, logl_h1, npar, N))
    res = [residual_measures(S_g, Sig_g, M_g, Mu_g) for S_g, M_g, Sig_g, Mu_g in
           zip(S, M, Sigma, Mu)]
    for k in RESIDUAL_NAMES:
        values[k] = float(sum(n_g * r[k] for n_g, r in zip(nobs, res)) / N)
    if gfi_groups is None:
        gfi_groups = [_gfi_means(S_g, M_g, Sig_g, Mu_g, xi)
                      for S_g, M_g, Sig_g, Mu_g in zip(S, M, Sigma, Mu)]
    gfi = float(sum(n_g * v for n_g, v in zip(nobs, gfi_groups)) / N)
    values.update(gfi_measures(gfi, n_moments(p, means=True, groups=G), df))
    if per_group is not None:
        values["chisq_by_group"] = per_group       # lavaan's "test statistic for each group"
    return values
