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

from .fitmeasures import (baseline_comparisons, cfi, rmsea_closefit, rmsea_interval,
    rmsea_measures, tli)
from .fitmeasures import rmsea_value as rmsea

__all__ = ["cfi", "rmsea", "rmsea_ci", "rmsea_closefit", "robust_measures", "scaled_measures",
           "tli"]


def rmsea_ci(X2, df, n, c=1.0) -> tuple[float, float]:
    """90 % interval; the non-centrality is scaled by c (lavaan's c.hat)."""
    if not np.all(np.isfinite([X2, df, c])) or df <= 0:
        return (np.nan, np.nan)
    return rmsea_interval(X2, df, n, c_hat=c)


def robust_measures(X2, df, X2_null, df_null, n, *, c, c_null, X2_scaled, c_ci) -> dict:
    """lavaan's ``*_robust`` measures (``lav_fit_cfi_lavobject``, ``lav_fit_rmsea_lavobject``):
    CFI, TLI, NNFI, RNI from (X2, c·df) against (X2_null, c_null·df_null); RMSEA from X2 with
    c·df; its interval and close / not-close p-values from ``X2_scaled`` with ``c_ci``.

    Complete continuous data: X2 the standard statistic, c the scaling factor (a(df − b)/df for
    a scaled-and-shifted test), X2_scaled the scaled statistic and c_ci its scaling factor.
    FIML and categorical data: lavaan's corrected statistic and its scaling (``fiml.py``,
    ``wlsmv.py``).
    """
    out = baseline_comparisons(X2, df, X2_null, df_null, suffix="_robust", c=c, c_null=c_null)
    out.update(rmsea_measures(X2, df, n, suffix="_robust", c=c, X2_test=X2_scaled,
                              c_test=c_ci))
    return out


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
        Also the ``*_robust`` measures.  With missing data (FIML) or categorical data lavaan
        computes these from a corrected statistic (``lav_fit_fiml_corrected``,
        ``lav_fit_catml_dwls``): pass False and call :func:`robust_measures` with it.
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
    out.update(baseline_comparisons(chisq_scaled, df_scaled, baseline_chisq_scaled,
                                    baseline_df_scaled, suffix="_scaled"))
    if kind == "scaled.shifted":
        c_hat = scaling_factor * (df - shift) / df if df > 0 else np.nan
        c_null = baseline_scaling_factor * (dfb - baseline_shift) / dfb
        XX2, df2 = chisq_scaled, df
    else:
        c_hat, c_null = scaling_factor, baseline_scaling_factor
        XX2 = X2
        df2 = trace_ugamma if np.isfinite(trace_ugamma) and trace_ugamma != 0 else np.nan
    out.update(rmsea_measures(XX2, df2, n, suffix="_scaled"))
    if robust:
        # lavaan inverts the scaled statistic and multiplies the non-centrality by the scaling
        # factor (c.hat, which for scaled.shifted is a, not a(df - b)/df)
        out.update(robust_measures(X2, df, X2b, dfb, n, c=c_hat, c_null=c_null,
                                   X2_scaled=chisq_scaled, c_ci=scaling_factor))
    return out
