"""The Bollen–Stine bootstrap test of fit with missing answers (Enders 2002, per-pattern
transformation; every replicate refitted by FIML, its χ² the FIML likelihood-ratio statistic).

lavaan 0.6-14 refuses this ("bollen.stine ... not available for missing data"), so there is no
fixture to compare the p-value with; its behaviour (rejection rates under a true and a
misspecified model, MCAR and MAR) is checked by the simulation study in
docs/bollen_stine_missing.md (benchmarks/sim_bollen_stine_missing.py).  These tests check the
parts: the transformation reduces to Bollen and Stine's for complete data, it makes the EM
(saturated ML) estimate of the data the model-implied moments, a replicate's χ² is the FIML χ²
that the full fit reports (checked against lavaan in tests/test_estimators.py),
and the test rejects a grossly wrong model and not the true one.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import semcluster
from semcluster.analysis.bootstrap import (_FIMLReplicator, _implied_means, _pattern_transform,
                                  bollen_stine_complete, bollen_stine_missing, bootstrap)
from semcluster.estimation.fiml import MissingPatterns
from semcluster.spec.parser import read_model

FIX = Path(__file__).parent / "fixtures" / "bootstrap"
MODEL = FIX / "mediation_mar.lav"
CSV = FIX / "mediation_mar.csv"


@pytest.fixture(scope="module")
def mar():
    """The MAR mediation survey (N = 300, 9 items, 6.7 % of answers missing), its FIML fit,
    EM moments and model-implied moments (spec.observed order)."""
    spec = read_model(MODEL)
    df = pd.read_csv(CSV)
    full = semcluster.fit(spec, df, missing="fiml")
    obs = spec.observed
    x_hat = np.asarray(full.info["x"], dtype=float)
    return {"spec": spec, "df": df, "full": full, "X": df[obs].to_numpy(float),
            "mu_h1": full.info["mean_h1"].to_numpy(float),
            "S": full.sample_cov.loc[obs, obs].to_numpy(),
            "mu_model": _implied_means(spec, full, x_hat),
            "Sigma": full.implied_cov.loc[obs, obs].to_numpy(), "x_hat": x_hat}


def _population(p=5, seed=3):
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((p, p))
    S = A @ A.T / p + np.eye(p)
    B = rng.standard_normal((p, p))
    Sigma = B @ B.T / p + np.eye(p)
    return rng, S, Sigma


def test_one_pattern_transform_is_the_complete_data_bollen_stine_transform():
    """Complete data (a single pattern): the per-pattern transformation is Bollen and Stine's
    Z = (X − x̄) S^{-1/2} Σ^{1/2}, shifted to the model means, and Z's ML moments are the
    model's."""
    rng, _, Sigma = _population()
    X = rng.standard_normal((200, 5)) @ np.linalg.cholesky(np.cov(rng.standard_normal((5, 50))
                                                                  ) + np.eye(5)).T + 2.0
    xbar = X.mean(axis=0)
    S = (X - xbar).T @ (X - xbar) / len(X)
    mu_model = np.array([0.5, -1.0, 0.0, 2.0, 1.0])
    Z = bollen_stine_missing(X, xbar, S, mu_model, Sigma)
    np.testing.assert_allclose(Z - mu_model, bollen_stine_complete(X, S, Sigma), atol=1e-12)
    # the transformation written out independently (eigendecompositions by hand)
    w, V = np.linalg.eigh(S)
    u, U = np.linalg.eigh(Sigma)
    Z_ref = (X - xbar) @ (V / np.sqrt(w)) @ V.T @ (U * np.sqrt(u)) @ U.T + mu_model
    np.testing.assert_allclose(Z, Z_ref, atol=1e-10)
    zbar = Z.mean(axis=0)
    np.testing.assert_allclose(zbar, mu_model, atol=1e-10)
    np.testing.assert_allclose((Z - zbar).T @ (Z - zbar) / len(Z), Sigma, atol=1e-10)


def test_transform_makes_the_em_estimate_the_model_moments(mar):
    """Several patterns: the EM estimate of the transformed data is the model-implied mean
    vector and covariance matrix (1e-8); blanks stay where they were."""
    Z = bollen_stine_missing(mar["X"], mar["mu_h1"], mar["S"], mar["mu_model"], mar["Sigma"])
    assert np.array_equal(np.isnan(Z), np.isnan(mar["X"]))
    mu, sigma, _, converged, _ = MissingPatterns(Z).em()     # EM from its default start
    assert converged
    np.testing.assert_allclose(mu, mar["mu_model"], atol=1e-8)
    np.testing.assert_allclose(sigma, mar["Sigma"], atol=1e-8)


def test_one_round_of_enders_transform_is_not_yet_exact(mar):
    """Why the round is repeated: after Enders' single round the EM estimate is off the model
    moments by far more than the repeated transformation's 1e-8 (4e-3 here)."""
    Z1 = _pattern_transform(mar["X"], mar["mu_h1"], mar["S"], mar["mu_model"], mar["Sigma"])
    mu, sigma, _, _, _ = MissingPatterns(Z1).em()
    gap = max(np.abs(mu - mar["mu_model"]).max(), np.abs(sigma - mar["Sigma"]).max())
    assert 1e-4 < gap < 0.05


def test_model_fits_the_transformed_data_exactly(mar):
    """The null hypothesis holds in the transformed sample: the FIML fit of the model to it has
    χ² ≈ 0 and the full sample's estimates."""
    Z = bollen_stine_missing(mar["X"], mar["mu_h1"], mar["S"], mar["mu_model"], mar["Sigma"])
    fz = semcluster.fit(mar["spec"], pd.DataFrame(Z, columns=mar["spec"].observed),
                        missing="fiml")
    assert abs(fz.fit_measures["chisq"]) < 1e-6
    np.testing.assert_allclose(np.asarray(fz.info["x"]), mar["x_hat"], atol=1e-5)


def test_replicate_chisq_of_all_rows_is_the_full_fits_fiml_chisq(mar):
    """The replicate's χ² (model refit, saturated EM from the given start) on the untransformed
    data and all rows once equals the χ² of the full FIML fit."""
    spec, X = mar["spec"], mar["X"]
    rep = _FIMLReplicator(spec, X, mar["x_hat"], mar["mu_model"], mar["full"].sample_cov)
    rep.saturated_start = (mar["mu_model"], mar["Sigma"])
    rows = np.arange(len(X))
    z = rep.fit_rows_z(X, rows)
    assert z is not None
    assert rep.chisq_rows(X, rows, z) == pytest.approx(mar["full"].fit_measures["chisq"],
                                                       abs=1e-5)


def test_replicate_chisq_on_the_transformed_data_is_zero_for_all_rows(mar):
    Z = bollen_stine_missing(mar["X"], mar["mu_h1"], mar["S"], mar["mu_model"], mar["Sigma"])
    rep = _FIMLReplicator(mar["spec"], Z, mar["x_hat"], mar["mu_model"],
                          mar["full"].sample_cov)
    rep.saturated_start = (mar["mu_model"], mar["Sigma"])
    rows = np.arange(len(Z))
    assert abs(rep.chisq_rows(Z, rows, rep.fit_rows_z(Z, rows))) < 1e-6


def test_bollen_stine_with_missing_answers_runs_by_fiml(mar):
    """The true model on the MAR survey: a FIML bootstrap whose observed χ² is the FIML fit's,
    every replicate with a finite χ², and a p-value far from rejection (naive p = .42)."""
    b = bootstrap(MODEL, CSV, n_boot=60, kind="bollen-stine", seed=11, n_jobs=1)
    assert b.info["missing"] == "fiml" and b.info["nobs"] == 300
    assert b.chisq == pytest.approx(mar["full"].fit_measures["chisq"], rel=1e-9)
    assert b.n_failed == 0 and b.info["chisq_failed"] == 0
    assert b.bollen_stine_pvalue > 0.2
    assert b.kind == "bollen-stine" and np.isnan(b.table.bca_lower).all()


def test_bollen_stine_with_missing_answers_rejects_a_wrong_model():
    """One factor for three: no replicate of the transformed data reaches the observed χ²
    (several hundred), so p is the smallest possible, 1/(B + 1)."""
    wrong = "G =~ x1 + x2 + x3 + m1 + m2 + m3 + y1 + y2 + y3"
    b = bootstrap(wrong, CSV, n_boot=40, kind="bollen-stine", seed=12, n_jobs=1, bca=False)
    assert b.chisq > 100
    assert b.bollen_stine_pvalue == pytest.approx(1 / 41)


def test_pvalue_counts_only_replicates_with_a_chisq(monkeypatch):
    """p = (#{χ²_b ≥ χ²} + 1)/(#{finite χ²_b} + 1): replicates whose saturated EM did not
    converge (χ² NaN) are left out and counted in info['chisq_failed'].  The replicate χ²
    are stubbed: call k gives NaN when k % 4 == 0, else 1e6 when k % 3 == 0, else 0; of 20
    replicates 5 are NaN, and 5 of the other 15 (k = 3, 6, 9, 15, 18) exceed the observed χ²."""
    calls = {"n": 0}

    def stub(self, X, rows, z):
        calls["n"] += 1
        k = calls["n"]
        return np.nan if k % 4 == 0 else (1e6 if k % 3 == 0 else 0.0)

    monkeypatch.setattr(_FIMLReplicator, "chisq_rows", stub)
    b = bootstrap(MODEL, CSV, n_boot=20, kind="bollen-stine", seed=13, n_jobs=1)
    assert calls["n"] == 20 and b.n_failed == 0
    assert b.info["chisq_failed"] == 5
    assert b.bollen_stine_pvalue == pytest.approx(6 / 16, abs=1e-12)


COVARIATE_MODEL = "M =~ m1 + m2 + m3\nM ~ x1"


def test_bollen_stine_with_missing_answers_and_a_covariate_is_a_clear_error():
    from semcluster.errors import OptionError

    with pytest.raises(OptionError, match="fixed.x"):
        bootstrap(COVARIATE_MODEL, CSV, n_boot=10, kind="bollen-stine", n_jobs=1)


def test_cli_bollen_stine_with_missing_answers_and_a_covariate_exits_2(tmp_path, capsys):
    from semcluster.cli import main

    model = tmp_path / "cov.lav"
    model.write_text(COVARIATE_MODEL + "\n")
    code = main(["bootstrap", str(model), "--data", str(CSV), "--n-boot", "10", "--kind",
                 "bollen-stine", "--jobs", "1"])
    err = capsys.readouterr().err
    assert code == 2
    assert "fixed.x" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_cli_bollen_stine_with_missing_answers_reports_fiml_and_the_library_pvalue(capsys):
    from semcluster.cli import main

    code = main(["bootstrap", str(MODEL), "--data", str(CSV), "--n-boot", "12", "--kind",
                 "bollen-stine", "--seed", "7", "--jobs", "1"])
    out = capsys.readouterr().out
    assert code == 0
    assert "every replicate refitted by FIML" in out
    lib = bootstrap(MODEL, CSV, n_boot=12, kind="bollen-stine", seed=7, n_jobs=1)
    assert f"Bollen-Stine p-value of the model test: {lib.bollen_stine_pvalue:.4f}" in out
