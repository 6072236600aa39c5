"""Fit measures computed from the sample and model-implied moments, on lavaan's scale.

semopy's own statistics are incomplete or on another scale (no SRMR, no RMSEA interval, RMSEA
with N-1, log-likelihood/AIC/BIC of the discrepancy function, GFI equal to NFI; see
shared/semopy-notes.md), so every figure here is computed from ``S`` (N-divisor sample
covariance), ``Sigma`` (model-implied covariance), N and the parameter count, with the
formulas lavaan 0.6 uses (lavaan's ``lav_fit_*`` functions; Bentler 1990 for CFI, Tucker &
Lewis 1973 for TLI, Steiger & Lind 1980 / Browne & Cudeck 1993 for RMSEA and its interval,
Jöreskog & Sörbom 1984 for GFI/AGFI, Bentler 1995 for SRMR).  Every figure is tested against
lavaan 0.6.14 (docs/agreement.md).
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import special, stats

FIT_MEASURE_NAMES = ("npar", "chisq", "df", "pvalue", "baseline_chisq", "baseline_df",
                     "baseline_pvalue", "cfi", "tli", "nfi", "rmsea", "rmsea_ci_lower",
                     "rmsea_ci_upper", "rmsea_pvalue", "srmr", "gfi", "agfi", "logl",
                     "unrestricted_logl", "aic", "bic", "bic2", "ntotal")


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
    rows, cols = [], []
    for j in range(p):
        for i in range(j, p):
            rows.append(i)
            cols.append(j)
    rows, cols = np.array(rows), np.array(cols)
    D = np.zeros((p * p, len(rows)))
    for k, (i, j) in enumerate(zip(rows, cols)):
        D[j * p + i, k] = 1.0
        D[i * p + j, k] = 1.0
    Dp = np.linalg.pinv(D)
    W = np.linalg.inv(2 * Dp @ np.kron(Sigma, Sigma) @ Dp.T)
    fx = set(fixed_x_idx)
    keep = np.array([not (i in fx and j in fx) for i, j in zip(rows, cols)])
    W = W[np.ix_(keep, keep)]
    o = S[rows, cols][keep]
    r = o - Sigma[rows, cols][keep]
    return float(1 - (r @ W @ r) / (o @ W @ o)), int(keep.sum())


def rmsea_interval(chisq: float, df: int, n: int, level: float = 0.90) -> tuple[float, float]:
    """Confidence interval of RMSEA by inverting the non-central χ² (lavaan's lav_fit_rmsea_ci).

    λ_L solves P(χ²_df(λ) ≤ X²) = (1+level)/2 and λ_U solves it = (1−level)/2;
    RMSEA = sqrt(λ / (N · df)).
    """
    if df <= 0 or not np.isfinite(chisq):
        return (np.nan, np.nan)

    def noncentrality(target):
        # λ with P(χ²_df(λ) ≤ X²) = target: cdfchn's own inversion (scipy.special.chndtrinc);
        # when even λ = 0 gives a cdf below the target, λ = 0
        if special.chdtr(df, chisq) < target:
            return 0.0
        return float(special.chndtrinc(chisq, df, target))

    lam_l = noncentrality((1 + level) / 2)
    lam_u = noncentrality((1 - level) / 2)
    return (float(np.sqrt(lam_l / (n * df))), float(np.sqrt(lam_u / (n * df))))


def incremental_indices(chisq: float, df: int, chisq_b: float, df_b: int, n: int) -> dict:
    """CFI, TLI, NFI and RMSEA (with interval and close-fit p) from χ², the baseline χ² and N,
    as lavaan computes them for ML (shared by every estimator that reports a plain χ²)."""
    t1 = max(chisq - df, 0.0)
    t2 = max(chisq - df, chisq_b - df_b, 0.0)
    cfi = 1.0 if t2 == 0 else 1 - t1 / t2
    if df > 0 and df_b > 0:
        tli = ((chisq_b / df_b) - (chisq / df)) / ((chisq_b / df_b) - 1)
    else:
        tli = 1.0 if df == 0 else np.nan
    nfi = (chisq_b - chisq) / chisq_b if chisq_b > 0 else np.nan
    if df > 0:
        rmsea = float(np.sqrt(max(chisq / (n * df) - 1 / n, 0.0)))
        lo, hi = rmsea_interval(chisq, df, n)
        rmsea_p = float(stats.ncx2.sf(chisq, df, n * df * 0.05 ** 2))
    else:
        rmsea, lo, hi, rmsea_p = 0.0, 0.0, 0.0, np.nan
    return {"cfi": cfi, "tli": tli, "nfi": nfi, "rmsea": rmsea, "rmsea_ci_lower": lo,
            "rmsea_ci_upper": hi, "rmsea_pvalue": rmsea_p}


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
    ndat = p * (p + 1) // 2 - nx * (nx + 1) // 2
    df = ndat - npar
    fmin = ml_discrepancy(S, Sigma)
    chisq = n * fmin
    pvalue = float(stats.chi2.sf(chisq, df)) if df > 0 else np.nan

    B = baseline_sigma(S, fixed_x_idx)
    chisq_b = n * ml_discrepancy(S, B)
    df_b = ndat - (p - nx)
    pvalue_b = float(stats.chi2.sf(chisq_b, df_b)) if df_b > 0 else np.nan

    idx = incremental_indices(chisq, df, chisq_b, df_b, n)
    cfi, tli, nfi = idx["cfi"], idx["tli"], idx["nfi"]
    rmsea, lo, hi, rmsea_p = (idx["rmsea"], idx["rmsea_ci_lower"], idx["rmsea_ci_upper"],
                              idx["rmsea_pvalue"])

    # SRMR (Bentler): residuals scaled by the sample SDs, over the p(p+1)/2 unique elements
    d = 1 / np.sqrt(np.diag(S))
    R = (S - Sigma) * np.outer(d, d)
    iu = np.tril_indices(p)
    srmr = float(np.sqrt(np.mean(R[iu] ** 2)))

    # GFI / AGFI for ML (Jöreskog & Sörbom), as lavaan 0.6 computes them: 1 − rᵀWr / sᵀWs on
    # the non-duplicated moments with the normal-theory weight at Σ̂.  With fixed.x lavaan leaves
    # the covariates' own (co)variances out of the moments (checked on the HS39 path model).
    if fixed_x_idx:
        gfi, _ = _gfi_vech(S, Sigma, fixed_x_idx)
        nel = p * (p + 1) / 2            # lavaan's AGFI counts every moment here
    else:
        A = np.linalg.solve(Sigma, S)
        gfi = 1 - np.trace((A - np.eye(p)) @ (A - np.eye(p))) / np.trace(A @ A)
        nel = p * (p + 1) / 2
    agfi = 1 - (nel / df) * (1 - gfi) if df > 0 else 1.0

    logl = loglik(S, Sigma, n)
    logl_h1 = loglik(S, S, n)
    if fixed_x_idx:
        # with fixed.x lavaan reports the likelihood conditional on the covariates: the
        # covariates' own (saturated) marginal log-likelihood is taken out of both
        ix = np.ix_(fixed_x_idx, fixed_x_idx)
        lx = loglik(S[ix], S[ix], n)
        logl -= lx
        logl_h1 -= lx
    aic = -2 * logl + 2 * npar
    bic = -2 * logl + npar * np.log(n)
    bic2 = -2 * logl + npar * np.log((n + 2) / 24)
    values = dict(npar=npar, chisq=chisq, df=df, pvalue=pvalue, baseline_chisq=chisq_b,
                  baseline_df=df_b, baseline_pvalue=pvalue_b, cfi=cfi, tli=tli, nfi=nfi,
                  rmsea=rmsea, rmsea_ci_lower=lo, rmsea_ci_upper=hi, rmsea_pvalue=rmsea_p,
                  srmr=srmr, gfi=float(gfi), agfi=float(agfi), logl=logl,
                  unrestricted_logl=logl_h1, aic=aic, bic=bic, bic2=bic2, ntotal=n)
    return pd.Series({k: values[k] for k in FIT_MEASURE_NAMES}, dtype=float)
