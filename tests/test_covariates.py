"""Exogenous observed covariates (lavaan's fixed.x = TRUE) with the MLR and FIML estimators.

The applied case is a MIMIC model on HS39: two factors regressed on age (years) and a 0/1
dummy (female = sex == 2). Reference numbers: tests/fixtures/estimators/hs39_mimic_*.json from
tests/fixtures/estimators/make_covariates.R (lavaan 0.6.14); every comparison goes through
lavaan_reference.compare with the usual tolerances.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from lavaan_reference import ESTIMATOR_FIXTURES as FIX
from lavaan_reference import compare
from lavaan_reference import load_estimator_fixture as load_fixture

from semcluster.data.survey import prepare_data
from semcluster.estimation.registry import estimate
from semcluster.resources import data_path
from semcluster.spec.parser import read_model

MIMIC = ("visual =~ x1 + x2 + x3\ntextual =~ x4 + x5 + x6\nspeed =~ x7 + x8 + x9\n"
         "visual + textual ~ ageyr + female\n")
# the covariances among the covariates are fixed at their sample values (not parameters)
FIXED_X_ROWS = ["ageyr ~~ ageyr", "ageyr ~~ female", "female ~~ female"]


@pytest.fixture(scope="module")
def spec():
    return read_model(MIMIC)


@pytest.fixture(scope="module")
def hs():
    d = pd.read_csv(data_path("holzinger_swineford_1939.csv"))
    d["female"] = (d.sex == 2).astype(int)
    return d


@pytest.fixture(scope="module")
def hs_missing():
    return pd.read_csv(FIX / "hs39_mimic_missing.csv")


@pytest.mark.parametrize("estimator", ["ML", "MLR"])
def test_mimic_complete_data_matches_lavaan(spec, hs, estimator):
    X, rep = prepare_data(hs, spec.observed, warn=False)
    res = estimate(spec, X, rep, estimator=estimator)
    ref = load_fixture(f"hs39_mimic_{estimator.lower()}")
    ag = compare(res, ref)
    assert ag.rows == 26
    assert sorted(ag.unmatched_fixed) == FIXED_X_ROWS
    fm = res.fit_measures
    assert fm["npar"] == 23 and fm["df"] == 40
    assert res.converged and res.admissible and not res.warnings
    if estimator == "MLR":
        assert ref["options"]["test"] == "yuan.bentler.mplus"
        assert "chisq_scaled" in ref["fit_measures"] and "chisq_scaled" in fm.index


@pytest.mark.parametrize("estimator", ["ML", "MLR"])
def test_mimic_fiml_matches_lavaan(spec, hs_missing, estimator):
    X, rep = prepare_data(hs_missing, spec.observed, missing="fiml", warn=False)
    res = estimate(spec, X, rep, estimator=estimator)
    ref = load_fixture("hs39_mimic_fiml" + ("_mlr" if estimator == "MLR" else ""))
    ag = compare(res, ref)
    # 26 model rows, 9 intercepts, 3 latent means (the covariates' moments are fixed)
    assert ag.rows == 38
    assert sorted(ag.unmatched_fixed) == sorted(FIXED_X_ROWS + ["ageyr ~1 ", "female ~1 "])
    # lavaan deletes the rows with a missing covariate (15 here) and says so
    assert res.nobs == ref["nobs"] == 286
    assert any("15 row(s) deleted" in w for w in res.warnings)
    assert res.converged and res.admissible
    assert res.fit_measures["npar"] == 32


def test_mimic_paths_are_identified(spec):
    """The covariates' variances are not parameters; their paths must not look unidentified."""
    from semcluster.estimation.identification import check_identification

    assert check_identification(spec).identified


def test_mlr_scaling_ignores_the_covariate_block(spec, hs):
    """Rescaling a covariate leaves the scaled test and the standardized solution unchanged
    (the covariates' own moments are not data points of the saturated model)."""
    X, rep = prepare_data(hs, spec.observed, warn=False)
    a = estimate(spec, X, rep, estimator="MLR")
    X2 = X.copy()
    X2["ageyr"] = X2["ageyr"] * 12.0
    b = estimate(spec, X2, rep, estimator="MLR")
    for k in ("chisq", "chisq_scaled", "chisq_scaling_factor", "cfi_robust", "rmsea_robust"):
        assert b.fit_measures[k] == pytest.approx(a.fit_measures[k], rel=1e-6)
    np.testing.assert_allclose(b.estimates.std_all, a.estimates.std_all, atol=1e-6)


# ---------------------------------------------------------------------------------------------
# WLSMV: lavaan's conditional.x = TRUE (probit regressions of the items on the covariates)
# ---------------------------------------------------------------------------------------------
ITEMS = [f"x{i}" for i in range(1, 10)]


@pytest.fixture(scope="module")
def hs_ordinal_x():
    return pd.read_csv(FIX / "hs39_mimic_ordinal.csv")


@pytest.fixture(scope="module")
def mimic_wlsmv(spec, hs_ordinal_x):
    from semcluster.estimation import wlsmv

    return wlsmv.fit(spec, hs_ordinal_x[spec.observed].astype(float), ordered=ITEMS)


def test_mimic_wlsmv_matches_lavaan(mimic_wlsmv):
    ref = load_fixture("hs39_mimic_wlsmv")
    assert ref["options"]["conditional.x"] is True
    ag = compare(mimic_wlsmv, ref)
    assert ag.rows == 53                 # 26 model rows + 27 thresholds
    fm = mimic_wlsmv.fit_measures
    # statistics: 27 thresholds, 18 probit slopes, 36 residual correlations; 41 parameters
    assert fm["npar"] == 41 and fm["df"] == 40 and fm["baseline_df"] == 36
    assert mimic_wlsmv.converged and mimic_wlsmv.admissible
    # the items' residual variances make the variance of y* given the covariates 1
    np.testing.assert_allclose(np.diag(mimic_wlsmv.implied_cov.to_numpy()), 1.0, atol=1e-12)


def test_conditional_first_stage_matches_lavaan(hs_ordinal_x):
    """Thresholds of the ordered probit regressions are saturated: equal to lavaan's."""
    from semcluster.estimation.polychoric import conditional_polychoric

    pc = conditional_polychoric(hs_ordinal_x[ITEMS], hs_ordinal_x[["ageyr", "female"]])
    ref = load_fixture("hs39_mimic_wlsmv")
    th = {f"{r['lhs']}|{r['rhs']}": r["est"] for r in ref["estimates"] if r["op"] == "|"}
    np.testing.assert_allclose(pc.thresholds[list(th)].to_numpy(), list(th.values()), atol=1e-7)
    assert pc.slopes.shape == (9, 2) and pc.gamma.shape == (27 + 18 + 36,) * 2


def test_wlsmv_covariates_refusals(spec, hs_ordinal_x):
    from semcluster.errors import EstimationError
    from semcluster.estimation import wlsmv

    X = hs_ordinal_x[spec.observed].astype(float)
    with pytest.raises(EstimationError, match="covariate.*female.*declared ordered"):
        wlsmv.fit(spec, X, ordered=ITEMS + ["female"])
    Xm = X.copy()
    Xm.iloc[0, 0] = np.nan
    with pytest.raises(EstimationError, match="complete data only"):
        wlsmv.fit(spec, Xm, ordered=ITEMS, missing="pairwise")


def test_fiml_path_model_intercept_of_an_outcome_of_a_covariate(hs_missing):
    """x9 ~ visual + x7 with x7 a covariate: the intercept of x9 is its mean minus c·mean(x7),
    recovered from the fitted means (and its SE by the delta method)."""
    spec = read_model("visual =~ x1 + b2*x2 + 0.7*x3\nx9 ~ a*visual + c*x7\nind := a*b2\n")
    X, rep = prepare_data(hs_missing, spec.observed, missing="fiml", warn=False)
    res = estimate(spec, X, rep, estimator="ML")
    ag = compare(res, load_fixture("hs39_path_fixedx_fiml"))
    assert ag.rows == 16 and sorted(ag.unmatched_fixed) == ["x7 ~1 ", "x7 ~~ x7"]
    assert res.nobs == 271           # 30 rows with x7 missing deleted, as lavaan
