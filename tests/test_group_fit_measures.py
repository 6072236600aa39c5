"""Every ``fitMeasures()`` name lavaan gives, for fits with groups or a mean structure.

References: lavaan 0.6.14, ``fitMeasures(fit)`` (all names, in lavaan's order) stored under
``fit_measures_all`` in tests/fixtures/models/groups_<case>.json by
tests/fixtures/models/make_groups.R (Holzinger-Swineford 1939, by school or by sex).
Tolerances: the project's table in tests/lavaan_reference.py (χ²-type 1e-6 relative, indices
and p-values 1e-5, RMSEA interval 1e-5, logL/AIC/BIC 1e-4, counts exact).

Largest differences measured 2026-12-06 over the 23 cases (``python
tests/test_group_fit_measures.py`` prints them per case): estimates 7.5e-6, SEs 2.2e-5
relative (MLR), std.lv/std.all 6.1e-6, SE of std.all 2.2e-5 relative, χ²-type 5.6e-7
relative (MLR scaling factors), indices and p-values 4.1e-6 (FIML robust RMSEA p-values;
4.0e-7 otherwise), RMSEA interval 2.1e-7, logL 1.1e-8.
"""
from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from lavaan_reference import compare

import semcluster
from semcluster.measures import fitmeasures
from semcluster.resources import data_path

FIX = Path(__file__).parent / "fixtures" / "models"
CASES = sorted(p.stem[len("groups_"):] for p in FIX.glob("groups_*.json")
               if "fit_measures_all" in json.loads(p.read_text()))
def load(name):
    return json.loads((FIX / f"groups_{name}.json").read_text())


@pytest.fixture(scope="module")
def hs():
    return pd.read_csv(data_path("holzinger_swineford_1939.csv"))


def fit_case(ref, hs):
    data = hs.copy()
    for v, rows in (ref.get("na_rows0") or {}).items():
        data.loc[rows, v] = float("nan")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")       # lavaan's shared-label warning, checked elsewhere
        return semcluster.fit(ref["model"], data, group=ref.get("group"),
                              group_equal=ref.get("group_equal") or None,
                              group_partial=ref.get("group_partial"),
                              meanstructure=ref.get("meanstructure"),
                              estimator=ref["estimator"])


@pytest.mark.parametrize("name", CASES)
def test_grouped_and_mean_structure_fits_give_every_lavaan_fit_measure(name, hs):
    """Every name of lavaan's fitMeasures(), in lavaan's order, each within its tolerance."""
    ref = load(name)
    res = fit_case(ref, hs)
    names = list(ref["fit_measures_all"])
    assert list(res.fit_measures.index) == names           # the same names, the same order
    compare(res, {**ref, "fit_measures": ref["fit_measures_all"]})


def test_meanstructure_fit_has_every_lavaan_fit_measure(hs):
    """meanstructure=TRUE on a one-group CFA: lavaan's 46 measures (16 before the one result
    type), RMR/SRMR with the means counted and GFI on the means and covariances."""
    ref = load("single_cfa_meanstructure")
    res = fit_case(ref, hs)
    assert len(ref["fit_measures_all"]) == 46 and len(res.fit_measures) == 46
    ag = compare(res, {**ref, "fit_measures": ref["fit_measures_all"]})
    assert set(ag.fit) == set(ref["fit_measures_all"])
    fm = res.fit_measures
    # with means the "_nomean" versions differ (the means are fitted exactly here, so the mean
    # residuals are zero and only the count of moments differs: p(p+1)/2 + p against p(p+1)/2)
    p = 9
    assert fm["srmr_bentler"] == pytest.approx(
        fm["srmr_bentler_nomean"] * np.sqrt(p * (p + 1) / 2 / (p * (p + 1) / 2 + p)), rel=1e-9)


@pytest.mark.parametrize("name", ["school_metric_fiml", "school_metric_fiml_mlr",
                                  "single_intercept_fiml"])
def test_fiml_grouped_fits_give_lavaans_robust_cfi_tli_rmsea(name, hs):
    """lavaan's *_robust measures of incomplete data (the FIML-corrected statistics of Zhang &
    Savalei 2020, over the groups), absent before; each within the index tolerance."""
    ref = load(name)
    fm = fit_case(ref, hs).fit_measures
    for k in ("cfi_robust", "tli_robust", "rni_robust", "rmsea_robust",
              "rmsea_ci_lower_robust", "rmsea_ci_upper_robust", "rmsea_pvalue_robust",
              "rmsea_notclose_pvalue_robust"):
        assert fm[k] == pytest.approx(ref["fit_measures_all"][k], abs=1e-5), k


def test_multigroup_rmsea_scales_by_the_number_of_groups():
    """lavaan's multi-group RMSEA: √G times the one-group value, interval too; the close and
    not-close p-values test RMSEA = h0 with the non-centrality N·df·h0²/G."""
    X2, df, n = 150.0, 60, 300
    one = fitmeasures.rmsea_measures(X2, df, n)
    two = fitmeasures.rmsea_measures(X2, df, n, groups=2)
    for k in ("rmsea", "rmsea_ci_lower", "rmsea_ci_upper"):
        assert two[k] == pytest.approx(np.sqrt(2) * one[k], rel=1e-12)
    # the p-value of G groups at h0 equals the one-group p-value at h0/√G
    assert two["rmsea_notclose_pvalue"] == pytest.approx(
        fitmeasures.rmsea_notclosefit(X2, df, n, h0=0.08 / np.sqrt(2)), rel=1e-12)
    assert two["rmsea_pvalue"] == pytest.approx(
        fitmeasures.rmsea_closefit(X2, df, n, h0=0.05 / np.sqrt(2)), rel=1e-12)


@pytest.mark.parametrize("name", ["school_metric_mlr", "school_scalar_mlr"])
def test_multigroup_robust_notclose_pvalue_divides_by_the_groups(name, hs):
    """rmsea_notclose_pvalue_scaled/_robust of a two-group MLR fit are lavaan's (with the
    division by G); without it they would be far off (the defect this guards)."""
    ref = load(name)["fit_measures_all"]
    fm = fit_case(load(name), hs).fit_measures
    for k in ("rmsea_notclose_pvalue_scaled", "rmsea_notclose_pvalue_robust"):
        assert fm[k] == pytest.approx(ref[k], abs=1e-5), k
    wrong = fitmeasures.rmsea_notclosefit(fm["chisq"] / fm["chisq_scaling_factor"], fm["df"],
                                          fm["ntotal"], fm["chisq_scaling_factor"])
    assert abs(wrong - ref["rmsea_notclose_pvalue_robust"]) > 1e-3


def test_mlr_scaling_factor_h0_counts_parameters_before_equality_constraints(hs):
    """A label written once names one parameter in both groups: lavaan's scaling_factor_h0
    divides tr(A⁻¹B) by the free parameters before the equality constraints."""
    ref = load("school_configural_mlr")
    res = fit_case(ref, hs)
    fm = res.fit_measures
    want = ref["fit_measures_all"]["scaling_factor_h0"]
    assert fm["scaling_factor_h0"] == pytest.approx(want, rel=1e-6)
    e = res.estimates
    before = int(((e["free"] > 0) & (e.op != ":=")).sum())   # every (row, group) free: 60
    assert before == 60 and fm["npar"] == 57                  # 'a' on 4 rows: one parameter
    # dividing tr(A⁻¹B) by the 57 parameters after the constraints would miss lavaan's value
    assert abs(fm["scaling_factor_h0"] * before / fm["npar"] - want) > 1e-3


if __name__ == "__main__":                   # the largest difference per case, for the record
    data = pd.read_csv(data_path("holzinger_swineford_1939.csv"))
    for case in CASES:
        r = load(case)
        ag = compare(fit_case(r, data), {**r, "fit_measures": r["fit_measures_all"]},
                     check=False)
        print(f"{case:28s} " + " ".join(f"{k}={v:.1e}" for k, v in ag.worst.items()
                                         if k != "r2"))
