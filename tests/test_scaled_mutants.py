"""Scaled and robust fit measures held tightly to lavaan (found by mutation testing,
docs/mutation.md).

``scaled_measures`` is fed lavaan's own inputs from the fixtures (standard and baseline chi-square,
their df, the scaling factors) and must return lavaan's own outputs.  Two inputs are not printed
by lavaan's fitMeasures and are derived from what is:

* Yuan-Bentler (MLR): c = tr(U Gamma)/df, so tr(U Gamma) = c * df;
* scaled-shifted (WLSMV): T* = T/a + b, so the shift is b = T* - T/a (a = the scaling factor),
  and the same for the baseline model.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from semcluster.measures.scaled import (
    cfi,
    rmsea,
    rmsea_ci,
    rmsea_closefit,
    scaled_measures,
    tli,
)

FIX = Path(__file__).parent / "fixtures" / "estimators"
MATRIX = Path(__file__).parent / "fixtures" / "matrix"

OUT = ("chisq_scaled", "df_scaled", "pvalue_scaled", "chisq_scaling_factor",
       "baseline_chisq_scaled", "baseline_df_scaled", "baseline_pvalue_scaled",
       "baseline_chisq_scaling_factor", "cfi_scaled", "tli_scaled", "rmsea_scaled",
       "rmsea_pvalue_scaled", "cfi_robust", "tli_robust", "rmsea_robust", "rmsea_pvalue_robust")
CI = ("rmsea_ci_lower_scaled", "rmsea_ci_upper_scaled", "rmsea_ci_lower_robust",
      "rmsea_ci_upper_robust")


def _ours(name):
    groups = 1
    if name.startswith("matrix:"):
        # a multi-group fit of the estimator matrix (make_matrix.R): lavaan's multi-group RMSEA
        # family (sqrt(G) in the RMSEA, the non-centrality divided by G in its p-values)
        lav = json.loads((MATRIX / f"cell_{name[7:]}.json").read_text())
        lav = {**lav, "fit_measures": lav["fit_measures_all"]}
        groups = len(lav["nobs"])
        lav["nobs"] = sum(lav["nobs"])
    else:
        lav = json.loads((FIX / f"{name}.json").read_text())
    f = lav["fit_measures"]
    fm = pd.Series({k: f[k] for k in ("chisq", "df", "baseline_chisq", "baseline_df")})
    c, cb = f["chisq_scaling_factor"], f["baseline_chisq_scaling_factor"]
    common = {"chisq_scaled": f["chisq_scaled"], "df_scaled": f["df_scaled"], "scaling_factor": c,
                  "baseline_chisq_scaled": f["baseline_chisq_scaled"],
                  "baseline_df_scaled": f["baseline_df_scaled"], "baseline_scaling_factor": cb,
                  "n": lav["nobs"]}
    if "wlsmv" in name:
        shift = f["chisq_scaled"] - f["chisq"] / c
        bshift = f["baseline_chisq_scaled"] - f["baseline_chisq"] / cb
        # least-squares estimators: lavaan's N in the fit indices is N - 1
        # (lav_utils_get_ntotal); categorical data: lavaan's robust measures come from an
        # auxiliary fit (lav_fit_catml_dwls), so robust=False as wlsmv.py calls it
        common["n"] = lav["nobs"] - 1
        out = scaled_measures(fm, **common, kind="scaled.shifted", shift=shift,
                              baseline_shift=bshift, robust=False)
    else:
        # with missing data lavaan's robust measures come from lav_fit_fiml_corrected (fiml.py),
        # not from this function: robust=False there, as fiml.py calls it
        out = scaled_measures(fm, **common, kind="yuan.bentler.mplus",
                              trace_ugamma=c * f["df"], robust="fiml" not in name,
                              groups=groups)
    return out, f


CASES = ["hs39_mlr", "hs39_fiml_mlr", "study_mlr", "hs39_wlsmv", "study_wlsmv",
         "matrix:mlr_groups3_none"]


@pytest.fixture(scope="module", params=CASES)
def case(request):
    return _ours(request.param)


@pytest.mark.parametrize("name", OUT)
def test_scaled_and_robust_measures_equal_lavaan(case, name):
    out, lav = case
    if name not in out:
        assert name.endswith("_robust")
        return
    assert out[name] == pytest.approx(lav[name], rel=1e-7, abs=1e-8)


@pytest.mark.parametrize("name", CI)
def test_scaled_and_robust_rmsea_intervals_equal_lavaan(case, name):
    out, lav = case
    if name not in out:
        assert name.endswith("_robust")
        return
    assert out[name] == pytest.approx(lav[name], abs=1e-6)


def test_shift_parameters_reported_for_scaled_shifted_only():
    out, lav = _ours("hs39_wlsmv")
    assert not any(k.endswith("_robust") for k in out)
    assert out["chisq_shift_parameter"] == pytest.approx(
        lav["chisq_scaled"] - lav["chisq"] / lav["chisq_scaling_factor"], rel=1e-12)
    assert out["baseline_chisq_shift_parameter"] == pytest.approx(
        lav["baseline_chisq_scaled"] - lav["baseline_chisq"]
        / lav["baseline_chisq_scaling_factor"], rel=1e-12)
    out, _ = _ours("hs39_mlr")
    assert "chisq_shift_parameter" not in out


def test_robust_measures_of_a_scaled_shifted_test_hand_case():
    """Scaled-shifted test with a = 1.5, b = 2 (baseline a_B = 1.2, b_B = 3), X2 = 40 on
    df = 10, X2_B = 200 on 20, N = 100.  The robust indices put c df in place of df with
    c = a (df - b)/df = 1.5 * 8/10 = 1.2 and c_B = 1.2 * 17/20 = 1.02:
    RMSEA = sqrt(40/(100*10) - 1.2/100) = sqrt(0.028);
    CFI = 1 - (40 - 12)/(200 - 20.4) = 1 - 28/179.6; TLI = 1 - 28*20/(179.6*10).
    The robust interval and close-fit p use the scaled statistic and c = a = 1.5:
    lambda solves P(chi2_10(lambda) <= T*) = 0.95 / 0.05 and RMSEA = sqrt(1.5 lambda/(N df))."""
    fm = pd.Series({"chisq": 40.0, "df": 10, "baseline_chisq": 200.0, "baseline_df": 20})
    Ts, Tbs = 40.0 / 1.5 + 2, 200.0 / 1.2 + 3
    out = scaled_measures(fm, chisq_scaled=Ts, df_scaled=10, scaling_factor=1.5,
                          baseline_chisq_scaled=Tbs, baseline_df_scaled=20,
                          baseline_scaling_factor=1.2, n=100, kind="scaled.shifted",
                          shift=2.0, baseline_shift=3.0)
    assert out["rmsea_robust"] == pytest.approx(np.sqrt(0.028), abs=1e-12)
    assert out["cfi_robust"] == pytest.approx(1 - 28 / 179.6, abs=1e-12)
    assert out["tli_robust"] == pytest.approx(1 - 28 * 20 / (179.6 * 10), abs=1e-12)
    lo, hi = out["rmsea_ci_lower_robust"], out["rmsea_ci_upper_robust"]
    assert stats.ncx2.cdf(Ts, 10, lo ** 2 / 1.5 * 1000) == pytest.approx(0.95, abs=1e-9)
    assert stats.ncx2.cdf(Ts, 10, hi ** 2 / 1.5 * 1000) == pytest.approx(0.05, abs=1e-9)
    assert out["rmsea_pvalue_robust"] == pytest.approx(
        stats.ncx2.sf(Ts, 10, 100 * 10 / 1.5 * 0.0025), rel=1e-12)
    # the scaled RMSEA of a scaled-shifted test: T* on df, N
    assert out["rmsea_scaled"] == pytest.approx(np.sqrt(max(Ts / 1000 - 0.01, 0)), abs=1e-12)
    assert out["cfi_scaled"] == pytest.approx(1 - (Ts - 10) / (Tbs - 20), abs=1e-12)


def test_scaled_pvalue_undefined_for_a_saturated_model():
    fm = pd.Series({"chisq": 0.0, "df": 0, "baseline_chisq": 100.0, "baseline_df": 6})
    out = scaled_measures(fm, chisq_scaled=0.0, df_scaled=0, scaling_factor=np.nan,
                          baseline_chisq_scaled=90.0, baseline_df_scaled=6,
                          baseline_scaling_factor=1.1, n=100, kind="yuan.bentler.mplus",
                          trace_ugamma=0.0)
    assert np.isnan(out["pvalue_scaled"])
    assert out["baseline_pvalue_scaled"] == pytest.approx(stats.chi2.sf(90.0, 6), rel=1e-12)


# ---------------------------------------------------------------------------------------------
# the index functions on hand cases
# ---------------------------------------------------------------------------------------------
def test_cfi_hand_cases():
    """Plain: 1 - (20-10)/(110-10) = 0.9.  Robust with c = 2, c_B = 1.5 (Brosseau-Liard &
    Savalei 2014): 1 - max(20 - 2*10, 0)/max(0, 110 - 1.5*10, 0) = 1 - 0/95 = 1; with X2 = 30:
    1 - 10/95."""
    assert cfi(20, 10, 110, 10) == pytest.approx(0.9, abs=1e-12)
    assert cfi(20, 10, 110, 10, 2.0, 1.5) == 1.0
    assert cfi(30, 10, 110, 10, 2.0, 1.5) == pytest.approx(1 - 10 / 95, abs=1e-12)
    # c = 1 for either model: the plain formula, whatever the other factor
    assert cfi(30, 10, 110, 10, 1.0, 1.5) == pytest.approx(1 - 20 / 100, abs=1e-12)
    assert cfi(30, 10, 110, 10, 2.0, 1.0) == pytest.approx(1 - 20 / 100, abs=1e-12)
    # both non-centralities 0: CFI = 1; a model worse than the baseline: 0
    assert cfi(5, 10, 8, 10) == 1.0
    assert cfi(40, 10, 30, 10) == pytest.approx(0.0, abs=1e-12)
    # a non-centrality just above lavaan's 1.5e-8 tolerance is not rounded to a perfect fit
    assert cfi(10 + 1e-7, 10, 10 + 2e-7, 10) == pytest.approx(0.5, abs=1e-6)
    assert np.isnan(cfi(np.nan, 10, 110, 10))
    assert np.isnan(cfi(20, 10, 110, 10, np.inf, 1.0))


def test_cfi_robust_needs_positive_df():
    """df = 0: the plain formula even with c != 1: 1 - 0/max(0, 100) = 1."""
    assert cfi(0.0, 0, 110, 10, 2.0, 1.5) == 1.0
    assert cfi(5.0, 0, 105, 10, 2.0, 1.5) == pytest.approx(1 - 5 / 95, abs=1e-12)


def test_tli_hand_cases():
    """Plain: 1 - (X2 - df) df_B / ((X2_B - df_B) df) = 1 - 10*10/(100*10) = 0.9.
    Robust, c = 2, c_B = 1.5, X2 = 30: 1 - (30-20)*10 / ((110-15)*10) = 1 - 10/95."""
    assert tli(20, 10, 110, 10) == pytest.approx(0.9, abs=1e-12)
    assert tli(30, 10, 110, 10, 2.0, 1.5) == pytest.approx(1 - 10 / 95, abs=1e-12)
    assert tli(30, 10, 110, 10, 1.0, 1.5) == pytest.approx(1 - 20 / 100, abs=1e-12)
    assert tli(30, 10, 110, 10, 2.0, 1.0) == pytest.approx(1 - 20 / 100, abs=1e-12)
    # df = 0 or a baseline with X2_B = df_B: TLI = 1 by lavaan's rule
    assert tli(0.0, 0, 110, 10) == 1.0
    assert tli(30, 10, 10, 10) == 1.0
    # different df: 1 - (30-10)*20 / ((120-20)*10) = 0.6
    assert tli(30, 10, 120, 20) == pytest.approx(0.6, abs=1e-12)
    assert np.isnan(tli(20, 10, np.nan, 10))
    assert np.isnan(tli(20, 10, 110, 10, 1.0, np.nan))


def test_rmsea_hand_cases():
    """sqrt(max(X2/(N df) - c/N, 0)): X2 = 20, df = 10, N = 100: sqrt(0.02 - 0.01) = 0.1;
    robust c = 1.5: sqrt(0.02 - 0.015); X2 < c df: 0; df = 0: 0."""
    assert rmsea(20, 10, 100) == pytest.approx(0.1, abs=1e-12)
    assert rmsea(20, 10, 100, 1.5) == pytest.approx(np.sqrt(0.005), abs=1e-12)
    assert rmsea(12, 10, 100, 1.5) == 0.0
    assert rmsea(20, 0, 100) == 0.0
    assert np.isnan(rmsea(np.nan, 10, 100))
    assert np.isnan(rmsea(20, 10, 100, np.nan))


def test_rmsea_ci_scales_the_non_centrality_by_c():
    """lavaan's robust interval: sqrt(c * lambda/(N df)) with lambda solving the 90 % equations
    P(chi2_df(lambda_L) <= X2) = 0.95, P(chi2_df(lambda_U) <= X2) = 0.05."""
    lo, hi = rmsea_ci(40.0, 10, 100, 2.0)
    lam_l, lam_u = lo ** 2 / 2.0 * 100 * 10, hi ** 2 / 2.0 * 100 * 10
    assert stats.ncx2.cdf(40.0, 10, lam_l) == pytest.approx(0.95, abs=1e-9)
    assert stats.ncx2.cdf(40.0, 10, lam_u) == pytest.approx(0.05, abs=1e-9)
    assert all(np.isnan(rmsea_ci(40.0, 0, 100)))
    assert all(np.isnan(rmsea_ci(np.nan, 10, 100)))
    assert all(np.isnan(rmsea_ci(40.0, 10, 100, np.nan)))


def test_rmsea_closefit_hand_case():
    """P(chi2_df(lambda) > X2) with lambda = N df 0.05^2 / c = 100*10*0.0025/2 = 1.25."""
    assert rmsea_closefit(20.0, 10, 100, 2.0) == pytest.approx(stats.ncx2.sf(20, 10, 1.25),
                                                                rel=1e-12)
    assert rmsea_closefit(20.0, 10, 100) == pytest.approx(stats.ncx2.sf(20, 10, 2.5), rel=1e-12)
    assert rmsea_closefit(20.0, 10, 100, h0=0.08) == pytest.approx(
        stats.ncx2.sf(20, 10, 100 * 10 * 0.0064), rel=1e-12)
    assert np.isnan(rmsea_closefit(20.0, 0, 100))
    assert np.isnan(rmsea_closefit(np.nan, 10, 100))
    assert np.isnan(rmsea_closefit(20.0, 10, 100, np.nan))


def test_robust_cfi_of_one_df_and_of_a_model_worse_than_its_baseline():
    """df = 1, c = 2, c_B = 1.5: 1 - (10 - 2)/(110 - 15) = 1 - 8/95.  A model worse than the
    baseline (X2 = 60 on 10, c = 2: 40 > 30 - 15): CFI = 1 - 40/40 = 0; with X2 = 50:
    1 - 30/30 = 0 too, and TLI = 1 - 30*10/(15*10) = -1."""
    assert cfi(10, 1, 110, 10, 2.0, 1.5) == pytest.approx(1 - 8 / 95, abs=1e-12)
    assert cfi(60, 10, 30, 10, 2.0, 1.5) == pytest.approx(0.0, abs=1e-12)
    assert tli(50, 10, 30, 10, 2.0, 1.5) == pytest.approx(-1.0, abs=1e-12)
    assert tli(10, 1, 110, 10, 2.0, 1.5) == pytest.approx(1 - 8 * 10 / (95 * 1), abs=1e-12)


def test_cfi_near_zero_non_centralities_follow_lavaans_tolerance():
    """lavaan treats non-centralities within 1.5e-8 of 0 as 0 (CFI = 1); t1 = t2 = 1.2e-8 is
    inside it, t1 = t2 = 0.5 is not (CFI = 1 - 0.5/0.5 = 0)."""
    assert cfi(10 + 1.2e-8, 10, 10 + 1.2e-8, 10) == 1.0
    assert cfi(10.5, 10, 10.5, 10) == pytest.approx(0.0, abs=1e-12)
    # t1 = 1.4e-8 is "zero", t2 = 3e-8 is not: CFI = 1 - 1.4/3
    assert cfi(10 + 1.4e-8, 10, 10 + 3e-8, 10) == pytest.approx(1 - 1.4 / 3, abs=1e-6)


def test_one_df_hand_cases():
    """df = 1 everywhere: TLI = 1 - (1.5-1)*10/((10.5-10)*1) = 1 - 5/0.5 = -9;
    RMSEA = sqrt(3/100 - 1/100); the interval and the close-fit p exist;
    the scaled p-value is P(chi2_1 > 3)."""
    assert tli(1.5, 1, 10.5, 10) == pytest.approx(-9.0, abs=1e-9)
    assert rmsea(3.0, 1, 100) == pytest.approx(np.sqrt(0.02), abs=1e-12)
    _lo, hi = rmsea_ci(3.0, 1, 100)
    assert stats.ncx2.cdf(3.0, 1, hi ** 2 * 100) == pytest.approx(0.05, abs=1e-9)
    assert rmsea_closefit(3.0, 1, 100) == pytest.approx(stats.ncx2.sf(3.0, 1, 0.25), rel=1e-12)
    fm = pd.Series({"chisq": 3.0, "df": 1, "baseline_chisq": 50.0, "baseline_df": 3})
    out = scaled_measures(fm, chisq_scaled=3.0, df_scaled=1, scaling_factor=1.0,
                          baseline_chisq_scaled=50.0, baseline_df_scaled=3,
                          baseline_scaling_factor=1.0, n=100, kind="yuan.bentler.mplus",
                          trace_ugamma=1.0)
    assert out["pvalue_scaled"] == pytest.approx(stats.chi2.sf(3.0, 1), rel=1e-12)


def test_scaled_shifted_robust_correction_at_zero_and_one_df():
    """c = a (df - b)/df: undefined at df = 0 (robust indices NaN, no division error); at
    df = 1 with a = 1.5, b = 0.5: c = 0.75 and RMSEA_robust = sqrt(3/100 - 0.75/100) = 0.15."""
    def run(df, X2):
        fm = pd.Series({"chisq": X2, "df": df, "baseline_chisq": 50.0, "baseline_df": 3})
        return scaled_measures(fm, chisq_scaled=X2 / 1.5 + 0.5, df_scaled=df,
                               scaling_factor=1.5, baseline_chisq_scaled=50.0 / 1.2 + 1,
                               baseline_df_scaled=3, baseline_scaling_factor=1.2, n=100,
                               kind="scaled.shifted", shift=0.5, baseline_shift=1.0)

    zero = run(0.0, 0.0)
    assert np.isnan(zero["cfi_robust"]) and np.isnan(zero["rmsea_robust"])
    assert run(1.0, 3.0)["rmsea_robust"] == pytest.approx(0.15, abs=1e-12)


def test_robust_cfi_with_non_centralities_below_one():
    """c = 2, c_B = 1.5: t1 = 20.5 - 20 = 0.5, t2 = max(0.5, 15.8 - 15) = 0.8: 1 - 0.5/0.8."""
    assert cfi(20.5, 10, 15.8, 10, 2.0, 1.5) == pytest.approx(0.375, abs=1e-12)


def test_scaled_rmsea_is_undefined_for_a_saturated_model():
    """A saturated model under MLR: tr(UΓ) = 0, so the Yuan-Bentler scaled RMSEA (T on
    df = tr(UΓ)) has no degrees of freedom.  lavaan 0.6.14 reports rmsea = 0 but NA for
    rmsea.scaled, its interval and both p-values (tests/fixtures/references/saturated_mlr.R,
    HS39 ``x1 ~ x2 + x3`` and ``f =~ x1 + x2 + x3``) -- not the 0 that df = 0 gives the
    standard RMSEA.  A tr(UΓ) of 1 is a model with one degree of freedom: defined."""
    fm = pd.Series({"chisq": 0.0, "df": 0, "baseline_chisq": 100.0, "baseline_df": 3})
    out = scaled_measures(fm, chisq_scaled=0.0, df_scaled=0, scaling_factor=np.nan,
                          baseline_chisq_scaled=90.0, baseline_df_scaled=3,
                          baseline_scaling_factor=1.1, n=301, kind="yuan.bentler.mplus",
                          trace_ugamma=0.0)
    for k in ("rmsea_scaled", "rmsea_ci_lower_scaled", "rmsea_ci_upper_scaled",
              "rmsea_pvalue_scaled", "rmsea_notclose_pvalue_scaled"):
        assert np.isnan(out[k]), k
    fm1 = pd.Series({"chisq": 4.0, "df": 1, "baseline_chisq": 100.0, "baseline_df": 3})
    one = scaled_measures(fm1, chisq_scaled=4.0, df_scaled=1, scaling_factor=1.0,
                          baseline_chisq_scaled=100.0, baseline_df_scaled=3,
                          baseline_scaling_factor=1.0, n=301, kind="yuan.bentler.mplus",
                          trace_ugamma=1.0)
    assert one["rmsea_scaled"] == pytest.approx(np.sqrt(4.0 / 301 - 1 / 301), abs=1e-12)


def test_robust_rmsea_of_one_group_by_default_hand_case():
    """robust_measures without ``groups`` is the one-group RMSEA (FIML-corrected callers pass
    none): sqrt(max(X2/(n df) - c/n, 0)) = sqrt(30/2000 - 1/200) = 0.1 for X2 = 30, df = 10,
    n = 200, c = 1 (Steiger's RMSEA, lavaan's lav_fit_rmsea); two groups would give 0.1·√2."""
    from semcluster.measures.scaled import robust_measures

    out = robust_measures(30.0, 10, 300.0, 15, 200, c=1.0, c_null=1.0, X2_scaled=30.0, c_ci=1.0)
    assert out["rmsea_robust"] == pytest.approx(0.1, rel=1e-12)
    two = robust_measures(30.0, 10, 300.0, 15, 200, c=1.0, c_null=1.0, X2_scaled=30.0, c_ci=1.0,
                          groups=2)
    assert two["rmsea_robust"] == pytest.approx(0.1 * np.sqrt(2), rel=1e-12)
