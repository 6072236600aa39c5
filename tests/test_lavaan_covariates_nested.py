"""Single-group fits with exogenous covariates or mixed items, and nested-model tests, against
lavaan 0.6.14 (issue "One model, every fit").

Reference numbers: tests/fixtures/nested_covariates/*.json, written by
tests/fixtures/nested_covariates/make_nested_covariates.R (lavaan's ``fitMeasures()``,
``lavPredict()`` and ``lavTestLRT()``).  Tolerances as everywhere: χ²-type figures 1e-6
relative, indices 1e-5, factor scores 1e-4.
"""
from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from lavaan_reference import fit_estimator_case

import semcluster
from semcluster.resources import data_path

REF = Path(__file__).parent / "fixtures" / "nested_covariates"
ESTIMATOR_DATA = Path(__file__).parent / "fixtures" / "estimators"
HS = "visual =~ x1 + x2 + x3\ntextual =~ x4 + x5 + x6\nspeed =~ x7 + x8 + x9\n"
MIMIC = HS + "visual + textual ~ ageyr + female\n"

#: semcluster case (tests/lavaan_reference.py) for each lavaan fit of fit_measures.json
CASES = {"mimic_mlr": "hs39_mimic_mlr", "mimic_fiml": "hs39_mimic_fiml",
         "mimic_fiml_mlr": "hs39_mimic_fiml_mlr", "mimic_wlsmv": "hs39_mimic_wlsmv",
         "mixed_wlsmv": "hs39_mixed_wlsmv"}


@pytest.fixture(scope="module")
def measures_ref():
    return json.loads((REF / "fit_measures.json").read_text())


@pytest.fixture(scope="module")
def fits():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return {k: fit_estimator_case(v) for k, v in CASES.items()}


def _index_close(got, want, rel=1e-5):
    return got == pytest.approx(want, rel=rel, abs=rel)


# -- 1. scaling_factor_h1 with fixed-x covariates -------------------------------------------
@pytest.mark.parametrize("case", ["mimic_mlr", "mimic_fiml_mlr"])
def test_scaling_factor_h1_leaves_out_the_covariates_own_moments(measures_ref, fits, case):
    """lavaan divides tr(A₁⁻¹B₁) by the saturated model's moments less the fixed covariates'
    (co)variances (and means, with FIML): 63 of 66 for the complete-data MIMIC model, 72 of 77
    with FIML.  semcluster divided by all of them (0.9918 and 0.9588 against 1.0391, 1.0254)."""
    ref = measures_ref[case]["fit_measures"]
    fm = fits[case].fit_measures
    for name in ("scaling_factor_h1", "scaling_factor_h0", "chisq_scaling_factor"):
        assert _index_close(fm[name], ref[name]), name


def test_h1_moments_count_means_and_leave_out_the_covariates():
    from semcluster.estimators.mlr import h1_moments

    assert h1_moments(11) == 66
    assert h1_moments(11, 2) == 63
    assert h1_moments(11, 2, means=True) == 72
    assert h1_moments(9, means=True) == 54


# -- 4. factor scores of a FIML fit that left rows out ----------------------------------------
@pytest.fixture(scope="module")
def fiml_fit():
    d = pd.read_csv(ESTIMATOR_DATA / "hs39_mimic_missing.csv")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return semcluster.fit(MIMIC, d, missing="fiml"), d


def test_predict_scores_only_the_rows_the_fiml_fit_used(measures_ref, fiml_fit):
    """lavPredict(fit) after a FIML fit that deleted 15 rows with a missing covariate has 286
    rows, those of lavInspect(fit, "case.idx"); semcluster scored all 301."""
    ref = measures_ref["mimic_fiml_predict"]
    res, d = fiml_fit
    assert res.nobs == ref["nrow"] == 286 < ref["nrow_data"] == len(d)
    scores = res.predict()
    assert len(scores) == ref["nrow"]
    assert list(scores.index) == [i - 1 for i in ref["case_idx"]]
    assert list(scores.columns) == ref["factors"]
    np.testing.assert_allclose(scores.to_numpy(), np.array(ref["scores"]), rtol=0, atol=1e-4)


def test_predict_on_given_data_leaves_rows_with_a_missing_covariate_empty(measures_ref,
                                                                          fiml_fit):
    """Scoring the data explicitly keeps every row aligned with the data: the rows the fit
    left out get NaN, with a warning naming the covariates; the others are lavaan's."""
    ref = measures_ref["mimic_fiml_predict"]
    res, d = fiml_fit
    with pytest.warns(UserWarning, match=r"15 row\(s\) with a missing value in the exogenous "
                                         r"covariate\(s\) ageyr, female"):
        scores = res.predict(data=d)
    assert len(scores) == len(d)
    used = np.zeros(len(d), dtype=bool)
    used[np.array(ref["case_idx"]) - 1] = True
    assert scores[~used].isna().all().all()
    np.testing.assert_allclose(scores[used].to_numpy(), np.array(ref["scores"]), rtol=0,
                               atol=1e-4)


def test_predict_without_covariates_does_not_warn(fiml_fit):
    """The warning is about covariates only: a FIML fit without them scores every answered
    row silently (the other side of the rule above)."""
    _, d = fiml_fit
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = semcluster.fit(HS, d, missing="fiml")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        scores = res.predict(data=d)
    assert len(scores) == len(d) and scores.notna().all().all()
