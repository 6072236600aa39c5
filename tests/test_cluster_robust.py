"""Cluster-robust MLR on single-level models (``cluster=``) against lavaan 0.6.14.

Fixtures: tests/fixtures/cluster/make_cluster_fixtures.R (lavaan 0.6.14 ``sem(...,
cluster = , estimator = "MLR")``): the study model on a simulated clustered survey (30 parks
of 5-60 firms) and a model with covariates on lavaan's own Demo.twolevel data.

lavaan adds a saturated mean structure to clustered fits: its intercept rows (``~1``) are
compared too. Every parameter, SE, std.all, χ² (scaled), every fit measure lavaan reports
(npar/AIC/BIC with the intercepts counted) is held to the project's tolerances
(tests/lavaan_reference.py).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from lavaan_reference import compare

import semcluster
from semcluster.errors import OptionError

HERE = Path(__file__).parent / "fixtures" / "cluster"
DEMO_MODEL = "fw =~ y1 + y2 + y3\nfw ~ x1 + x2 + x3\n"


def load(name):
    return json.loads((HERE / f"{name}.json").read_text())


@pytest.fixture(scope="module")
def study_fit():
    data = pd.read_csv(HERE / "study_clustered.csv")
    return semcluster.fit("h1_h5", data, cluster="park", estimator="MLR")


@pytest.fixture(scope="module")
def demo_fit():
    data = pd.read_csv(HERE / "demo_twolevel.csv")
    return semcluster.fit(DEMO_MODEL, data, cluster="cluster", estimator="MLR")


def test_cluster_robust_study_model_matches_lavaan(study_fit):
    ref = load("study_cluster_mlr")
    assert ref["options"]["se"] == "robust.cluster"
    ag = compare(study_fit, ref)
    assert ag.rows >= 61 + 23        # 61 model rows, 23 intercepts
    assert study_fit.info["se"] == "robust.cluster"
    assert study_fit.info["n_clusters"] == 30


def test_cluster_with_ml_matches_lavaans_ml_test_from_h1_information():
    """lavaan 0.6.14, estimator = "ML" with cluster=: robust.cluster SEs as MLR, but the
    Yuan-Bentler trace from the h1 observed information: another scaling factor, also here."""
    data = pd.read_csv(HERE / "study_clustered.csv")
    res = semcluster.fit("h1_h5", data, cluster="park", estimator="ML")
    ref = load("study_cluster_ml")
    assert ref["options"]["se"] == "robust.cluster"
    compare(res, ref)
    mlr = load("study_cluster_mlr")["fit_measures"]["chisq_scaling_factor"]
    assert abs(ref["fit_measures"]["chisq_scaling_factor"] - mlr) > 1e-3


def test_h1_observed_information_equals_expected_at_the_sample_covariance():
    from semcluster.estimation.cluster_robust import h1_observed_information
    from semcluster.estimation.mlr import _h1_expected_information

    rng = np.random.default_rng(4)
    M = rng.normal(size=(4, 4))
    S = M @ M.T + 4 * np.eye(4)
    np.testing.assert_allclose(h1_observed_information(S, S), _h1_expected_information(S),
                               rtol=1e-12, atol=1e-14)
    assert not np.allclose(h1_observed_information(S + np.eye(4), S),
                           _h1_expected_information(S + np.eye(4)))


def test_cluster_robust_with_covariates_on_lavaan_demo_matches_lavaan(demo_fit):
    ag = compare(demo_fit, load("demo_cluster_mlr"))
    assert ag.rows >= 7 + 3           # 7 model rows, 3 intercepts
    assert demo_fit.info["n_clusters"] == 200


def test_clustering_changes_ses_and_test_as_lavaan_says(study_fit):
    """The cluster-robust SEs and scaling differ from the independent-rows MLR ones (the
    fixture's numbers are not those of plain MLR: a fit that ignored the clusters fails)."""
    data = pd.read_csv(HERE / "study_clustered.csv")
    plain = semcluster.fit("h1_h5", data.drop(columns="park"), estimator="MLR")
    ref = {(r["lhs"], r["op"], r["rhs"]): r["se"] for r in load("study_cluster_mlr")["estimates"]}
    ours = plain.estimates.set_index(["lhs", "op", "rhs"])["se"]
    ratio = [ref[k] / ours[k] for k in ours.index if k in ref and ref[k]]
    assert max(ratio) > 1.5          # clustering inflates some SEs a lot
    assert abs(plain.fit_measures["chisq_scaling_factor"]
               - study_fit.fit_measures["chisq_scaling_factor"]) > 0.1


def test_cluster_sums_apply_lavaans_small_sample_factor():
    from semcluster.estimation.cluster_robust import cluster_sums

    s = np.array([[1.0, 2.0], [3.0, -1.0], [2.0, 2.0]])
    out = cluster_sums(s, np.array([0, 0, 1]), 2)
    np.testing.assert_allclose(out, np.array([[4.0, 1.0], [2.0, 2.0]]) * np.sqrt(2.0))


@pytest.mark.parametrize("kwargs, words", [
    ({"estimator": "WLSMV"}, "WLSMV"),
    ({"estimator": "MLR", "group": "grp"}, "group"),
    ({"estimator": "MLR", "group": "park"}, "same"),
    ({"estimator": "ML", "missing": "fiml"}, "FIML"),
])
def test_cluster_refuses_what_is_not_built(kwargs, words):
    data = pd.read_csv(HERE / "study_clustered.csv").head(300)
    data["grp"] = np.arange(len(data)) % 2
    with pytest.raises(semcluster.errors.SemclusterError, match=words):
        semcluster.fit("h1_h5", data, cluster="park", **kwargs)


def test_cluster_with_missing_answers_needs_mlr_or_listwise():
    data = pd.read_csv(HERE / "study_clustered.csv").head(300)
    data.loc[5, "ca1"] = np.nan
    with pytest.raises(OptionError, match="MLR"):
        semcluster.fit("h1_h5", data, cluster="park", estimator="ML")
    res = semcluster.fit("h1_h5", data, cluster="park", estimator="ML", missing="listwise")
    assert res.nobs == 299


def test_cluster_robust_fiml_matches_lavaan():
    """lavaan 0.6.14 sem(..., cluster = "park", missing = "ml", estimator = "MLR")."""
    data = pd.read_csv(HERE / "study_clustered_missing.csv")
    res = semcluster.fit("h1_h5", data, cluster="park", estimator="MLR")
    ref = load("study_cluster_fiml_mlr")
    assert ref["options"]["se"] == "robust.cluster" and ref["options"]["missing"] == "ml"
    ag = compare(res, ref)
    assert ag.rows >= 61 + 23
    assert res.info["missing"] == "fiml" and res.info["n_clusters"] == 30
