"""SEM from the paper's published summary statistics vs lavaan's sample.cov fits.

Fixtures: tests/fixtures/summary_stats/make_fixtures.R (lavaan 0.6.14, Table 2 typed in
independently of semcluster's study.json). Tolerances as the foundation's.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lavaan_reference import compare
from semcluster import study
from semcluster.analysis.regression import ols_from_correlations
from semcluster.study.summary_stats import (published_regression_fit,
                                            published_single_indicator_fit)
from semcluster.analysis.summary_stats import covariance_from_correlations, fit_summary

FIX = Path(__file__).parent / "fixtures" / "summary_stats"


def load(name):
    return json.loads((FIX / f"{name}.json").read_text())


def test_table2_regression_matches_lavaan_sample_cov():
    res = published_regression_fit()
    compare(res, load("table2_regression"))
    # a saturated regression: its standardized paths are the OLS betas
    ols = ols_from_correlations(study.correlations(), "IN", list(study.PREDICTORS), 160)
    paths = res.paths().set_index("rhs")
    np.testing.assert_allclose(paths.loc[list(study.PREDICTORS), "std_all"],
                               ols.coefficients["beta"], atol=1e-8)
    assert res.r2["IN"] == pytest.approx(ols.r2, abs=1e-8)


def test_single_indicator_model_matches_lavaan():
    res = published_single_indicator_fit()
    compare(res, load("table2_single_indicator"))
    # composite reliability in the model equals the published alpha (up to the N/(N-1)
    # rescaling of the variance the error term was computed from)
    for c in study.CONSTRUCTS:
        a = study.reliability().loc[c, "alpha"]
        assert res.r2[c + "_score"] == pytest.approx(1 - (1 - a) * 160 / 159, abs=1e-9)


def test_correlations_and_sds_equal_covariance_input():
    R = study.correlations()
    sds = study.descriptives()["sd"]
    a = fit_summary("IN ~ CA + MR", cor=R, sds=sds, nobs=160)
    b = fit_summary("IN ~ CA + MR", cov=covariance_from_correlations(R, sds), nobs=160)
    pd.testing.assert_frame_equal(a.estimates, b.estimates)
