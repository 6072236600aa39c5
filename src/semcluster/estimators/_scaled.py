"""Fit measures from a scaled (robust) test statistic, with lavaan's names and formulas.

Given the standard statistic T (ML or DWLS) with df, its scaling factor c (T/c is the scaled
statistic; for the mean-and-variance adjusted "scaled.shifted" statistic a and b with
T* = T/a + b), and the same for the baseline (independence) model, lavaan 0.6 reports

* ``*_scaled``: the usual index computed from the scaled statistics (T*, T*_baseline);
* ``*_robust``: the "population-corrected" robust CFI/TLI of Brosseau-Liard & Savalei (2014)
  and robust RMSEA of Brosseau-Liard, Savalei & Li (2012), which put c·df in place of df:
  RMSEA_robust = sqrt(max(T/(N·df) − c/N, 0)), CFI_robust = 1 − max(T − c·df, 0) /
  max(T − c·df, T_B − c_B·df_B, 0), with c = a(df − b)/df for a scaled-and-shifted test.

Formulas follow lavaan 0.6.14 (``lav_fit_cfi``, ``lav_fit_tli``, ``lav_fit_rmsea``,
``lav_fit_rmsea_ci``, ``lav_fit_rmsea_closefit`` and the ``*_lavobject`` callers).
"""
from __future__ import annotations

import numpy as np
from scipy import stats

from ..fitmeasures import rmsea_interval


def cfi(X2, df, X2_null, df_null, c=1.0, c_null=1.0) -> float:
    if not np.all(np.isfinite([X2, df, X2_null, df_null, c, c_null])):
        return np.nan
    if df > 0 and c != 1 and c_null != 1:
        t1 = max(X2 - c * df, 0.0)
        t2 = max(X2 - c * df, X2_null - c_null * df_null, 0.0)
    else:
        t1 = max(X2 - df, 0.0)
        t2 = max(X2 - df, X2_null - df_null, 0.0)
    if np.isclose(t1, 0, atol=1.5e-8) and np.isclose(t2, 0, atol=1.5e-8):
        return 1.0
    return float(1 - t1 / t2)


def tli(X2, df, X2_null, df_null, c=1.0, c_null=1.0) -> float:
    if not np.all(np.isfinite([X2, df, X2_null, df_null, c, c_null])):
        return np.nan
    if df > 0 and c != 1 and c_null != 1:
        t1 = (X2 - c * df) * df_null
        t2 = (X2_null - c_null * df_null) * df
    else:
        t1 = (X2 - df) * df_null
        t2 = (X2_null - df_null) * df
    if df > 0 and abs(t2) > 0:
        return float(1 - t1 / t2)
    return 1.0


def rmsea(X2, df, n, c=1.0) -> float:
    if not np.all(np.isfinite([X2, df, c])):
        return np.nan
    return float(np.sqrt(max(X2 / n / df - c / n, 0.0))) if df > 0 else 0.0


def rmsea_ci(X2, df, n, c=1.0) -> tuple[float, float]:
    """90 % interval; the non-centrality is scaled by c (lavaan's c.hat)."""
    if not np.all(np.isfinite([X2, df, c])) or df <= 0:
        return (np.nan, np.nan)
    lo, hi = rmsea_interval(X2, df, n)
    # rmsea_interval returns sqrt(λ/(N·df)); lavaan's robust version is sqrt(c·λ/(N·df))
    return (float(lo * np.sqrt(c)), float(hi * np.sqrt(c)))


def rmsea_closefit(X2, df, n, c=1.0, h0=0.05) -> float:
    if not np.all(np.isfinite([X2, df, c])) or df <= 0:
        return np.nan
    return float(stats.ncx2.sf(X2, df, n * df / c * h0 ** 2))


def scaled_measures(fm, *, chisq_scaled, df_scaled, scaling_factor, baseline_chisq_scaled,
                    baseline_df_scaled, baseline_scaling_factor, n, kind, shift=None,
                    baseline_shift=None, trace_ugamma=None, robust: bool = True) -> dict:
    """Scaled and robust fit measures (lavaan names with ``_`` for ``.``).

    Parameters
    ----------
    fm : Series
        Standard measures (``chisq df baseline_chisq baseline_df ...``).
    kind : {"yuan.bentler.mplus", "scaled.shifted"}
        Which scaled test: the RMSEA "scaled" variants differ (lavaan uses T with df = tr(UΓ)
        for the Yuan-Bentler family and T* with df for scaled.shifted).
    robust : bool
        Also the ``*_robust`` measures.  For categorical data lavaan computes these from an
        auxiliary continuous fit to the polychoric matrix (``lav_fit_catml_dwls``), which is not
        implemented here: pass False and they are left out rather than given wrongly.
    """
    X2, df = float(fm["chisq"]), float(fm["df"])
    X2b, dfb = float(fm["baseline_chisq"]), float(fm["baseline_df"])
    out = {
        "chisq_scaled": chisq_scaled,
        "df_scaled": df_scaled,
        "pvalue_scaled": float(stats.chi2.sf(chisq_scaled, df_scaled)) if df_scaled > 0
        else np.nan,
        "chisq_scaling_factor": scaling_factor,
        "baseline_chisq_scaled": baseline_chisq_scaled,
        "baseline_df_scaled": baseline_df_scaled,
        "baseline_pvalue_scaled": float(stats.chi2.sf(baseline_chisq_scaled,
                                                      baseline_df_scaled)),
        "baseline_chisq_scaling_factor": baseline_scaling_factor,
    }
    if kind == "scaled.shifted":
        out["chisq_shift_parameter"] = shift
        out["baseline_chisq_shift_parameter"] = baseline_shift
    out["cfi_scaled"] = cfi(chisq_scaled, df_scaled, baseline_chisq_scaled, baseline_df_scaled)
    out["tli_scaled"] = tli(chisq_scaled, df_scaled, baseline_chisq_scaled, baseline_df_scaled)
    if kind == "scaled.shifted":
        c_hat = scaling_factor * (df - shift) / df if df > 0 else np.nan
        c_null = baseline_scaling_factor * (dfb - baseline_shift) / dfb
        XX2, df2 = chisq_scaled, df
    else:
        c_hat, c_null = scaling_factor, baseline_scaling_factor
        XX2, df2 = X2, trace_ugamma
    out["rmsea_scaled"] = rmsea(XX2, df2, n)
    lo, hi = rmsea_ci(XX2, df2, n)
    out["rmsea_ci_lower_scaled"], out["rmsea_ci_upper_scaled"] = lo, hi
    out["rmsea_pvalue_scaled"] = rmsea_closefit(XX2, df2, n)
    if not robust:
        return out
    out["cfi_robust"] = cfi(X2, df, X2b, dfb, c_hat, c_null)
    out["tli_robust"] = tli(X2, df, X2b, dfb, c_hat, c_null)
    out["rmsea_robust"] = rmsea(X2, df, n, c_hat)
    # lavaan inverts the scaled statistic and multiplies the non-centrality by the scaling
    # factor (c.hat, which for scaled.shifted is a, not a(df - b)/df)
    XX3s = chisq_scaled
    c_ci = scaling_factor
    lo, hi = rmsea_ci(XX3s, df, n, c_ci)
    out["rmsea_ci_lower_robust"], out["rmsea_ci_upper_robust"] = lo, hi
    out["rmsea_pvalue_robust"] = rmsea_closefit(XX3s, df, n, c_ci)
    return out
