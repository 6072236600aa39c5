"""Satorra–Bentler (2001) scaled χ² difference test (MLR) against lavaan's lavTestLRT.

Fixture: tests/fixtures/references/scaled_difference.json, made by make_references.R with
``lavTestLRT(m_full, m_restricted, method = "satorra.bentler.2001")`` (lavaan 0.6-14) on

* the study's ``revised`` (h2 = h5 = 0) against ``h1_h5``, both ``estimator = "MLR"``;
* Holzinger–Swineford 3-factor CFA with the loadings of x2 and x3 constrained equal
  (``a*x2 + a*x3``) against the free CFA.

T_d = (T₀ − T₁)/c_d with c_d = (d₀c₀ − d₁c₁)/(d₀ − d₁) divides by a small difference of
scaling factors, so an error in c is amplified ~25–100 fold.  lavaan's nlminb stops with a
gradient of 2e-7–2e-6, leaving c uncertain in the 7th digit and T_d in the 6th (the unpolished
lavaan figures, kept as ``chisq_diff_nlminb``, differ from the converged ones by 3e-6 and 7e-6
relative).  The R script therefore polishes each lavaan fit by Newton steps with lavaan's own
gradient and Hessian (projected on the equality constraint) to a gradient of ~1e-16.

Largest differences measured: T_d 5.2e-9 relative, p-value 1.5e-9, scaling factors 4e-10, χ²
6e-15 relative.
"""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

import semcluster
from semcluster.analysis.model_comparison import chisq_difference, compare_models
from semcluster.resources import data_path

REF = Path(__file__).parent / "fixtures" / "references"
HS_FULL = "visual =~ x1 + x2 + x3\ntextual =~ x4 + x5 + x6\nspeed =~ x7 + x8 + x9"
HS_EQUAL = "visual =~ x1 + a*x2 + a*x3\ntextual =~ x4 + x5 + x6\nspeed =~ x7 + x8 + x9"


@pytest.fixture(scope="module")
def ref():
    return json.loads((REF / "scaled_difference.json").read_text())


@pytest.fixture(scope="module")
def hs39_fits():
    hs = pd.read_csv(data_path("holzinger_swineford_1939.csv"))
    return (semcluster.fit(HS_EQUAL, hs, estimator="MLR"),
            semcluster.fit(HS_FULL, hs, estimator="MLR"))


@pytest.fixture(scope="module")
def study_comparison():
    return compare_models(["revised", "h1_h5"], estimator="MLR")


def _check(test, r):
    assert test["df_diff"] == r["df_diff"]
    assert test["test"].startswith("Satorra-Bentler (2001)")
    assert test["chisq_diff"] == pytest.approx(r["chisq_diff"], rel=1e-6, abs=0)
    assert test["pvalue"] == pytest.approx(r["pvalue"], abs=1e-7)


def test_hs39_equality_constraint_matches_lavtestlrt(ref, hs39_fits):
    """lavTestLRT(cfa(HS_FULL, estimator = "MLR"), cfa(HS_EQUAL, estimator = "MLR"),
    method = "satorra.bentler.2001"): statistic to 1e-6 relative, df exact."""
    _check(chisq_difference(*hs39_fits), ref["hs39_equal_loadings"])


def test_study_revised_vs_h1_h5_matches_lavtestlrt(ref, study_comparison):
    """lavTestLRT(sem(h1_h5, estimator = "MLR"), sem(revised, estimator = "MLR"),
    method = "satorra.bentler.2001"), through compare_models (what `semcluster compare-models
    --estimator MLR` prints)."""
    _, tests, _ = study_comparison
    row = tests[(tests.restricted == "revised") & (tests.full == "h1_h5")]
    assert len(row) == 1
    _check(row.iloc[0].to_dict(), ref["study_revised_vs_h1_h5"])


def test_ingredients_match_lavaan(ref, hs39_fits, study_comparison):
    """fitMeasures(fit, c("chisq", "df", "chisq.scaled", "chisq.scaling.factor")) of the four
    polished lavaan fits: the parts T_d is made of, at 1e-8 relative (measured 4e-10)."""
    _, _, results = study_comparison
    cases = {"hs39_equal_loadings": hs39_fits,
             "study_revised_vs_h1_h5": (results["revised"], results["h1_h5"])}
    for case, fits in cases.items():
        for which, res in zip(("restricted", "full"), fits):
            fm, r = res.fit_measures, ref[case][which]
            assert fm["df"] == r["df"]
            assert fm["chisq"] == pytest.approx(r["chisq"], rel=1e-8), (case, which)
            assert fm["chisq_scaled"] == pytest.approx(r["chisq.scaled"], rel=1e-8), (case, which)
            assert fm["chisq"] / fm["chisq_scaled"] == pytest.approx(
                r["chisq.scaling.factor"], rel=1e-8), (case, which)


def test_the_tolerance_sees_an_unscaled_difference(ref, hs39_fits):
    """The plain difference T₀ − T₁ (what ML would report) is far outside 1e-6 of lavaan's
    scaled one, so dropping the scaling cannot pass."""
    r0, r1 = hs39_fits
    plain = r0.fit_measures["chisq"] - r1.fit_measures["chisq"]
    assert abs(plain / ref["hs39_equal_loadings"]["chisq_diff"] - 1) > 1e-3
