"""Bootstrap with missing answers: respondents resampled with their blanks, every replicate
refitted by FIML, as lavaan's ``sem(..., missing = "ml", se = "bootstrap")``.

Reference: lavaan 0.6-14 on a simulated mediation survey (N = 300, 9 items, answers missing at
random given the always-answered item x1); data, model, lavaan's intervals and the R script
that made them are in tests/fixtures/bootstrap/ (make_fiml_fixture.R).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import semcluster
from semcluster.analysis.bootstrap import _bca, _FIMLReplicator, _implied_means, bootstrap
from semcluster.data.survey import DataOptions, read_survey
from semcluster.errors import OptionError, SemclusterError
from semcluster.spec.parser import read_model

FIX = Path(__file__).parent / "fixtures" / "bootstrap"
MODEL = FIX / "mediation_mar.lav"
CSV = FIX / "mediation_mar.csv"
SEED = 20261206


@pytest.fixture(scope="module")
def lavaan_ref():
    return json.loads((FIX / "mediation_mar_lavaan_bootstrap.json").read_text())


@pytest.fixture(scope="module")
def boot_fiml():
    return bootstrap(MODEL, CSV, n_boot=1000, seed=SEED, n_jobs=1, bca=True)


def _compared(ref_rows):
    """lavaan's rows compared: free loadings, the structural paths and the indirect effect."""
    return [r for r in ref_rows
            if (r["op"] == "=~" and r["se"] > 0) or r["op"] in ("~", ":=")]


def _row(table, r):
    t = table
    return t[(t.lhs == r["lhs"]) & (t.op == r["op"]) & (t.what == "est")
             & ((t.rhs == r["rhs"]) if r["op"] != ":=" else True)].iloc[0]


def _draws(b, r):
    col = f"{r['lhs']}{r['op']}{r['rhs']}:est"
    return b.draws[col].dropna().to_numpy()


def _end_mc_se(d, level, extra_rank_var=0.0):
    """Monte Carlo SE of the bootstrap quantile at ``level`` from R draws.

    The number of draws below the true quantile ξ is Binomial(R, level), so the order
    statistic that estimates ξ wanders by sqrt(R·level·(1 − level)) ranks (plus
    ``extra_rank_var`` ranks² where the level itself is estimated); in value units that is the
    distance between the draws that many ranks either side, halved."""
    R = len(d)
    delta = np.sqrt(R * level * (1 - level) + extra_rank_var) / R
    lo, hi = np.quantile(d, [max(level - delta, 0.0), min(level + delta, 1.0)])
    return (hi - lo) / 2


def test_fiml_bootstrap_percentile_ends_agree_with_lavaan_within_monte_carlo_error(
        boot_fiml, lavaan_ref):
    """Percentile ends (boot.ci.type = "perc") of every free loading, path and ind := a*b.

    lavaan's and semcluster's 1000 draws are independent (different random number
    generators), so each end differs by the Monte Carlo error of two independent estimates of
    the same 2.5 % (97.5 %) quantile: SE·√2, with SE from the order statistic's binomial
    spread, sqrt(1000·0.025·0.975) ≈ 4.9 ranks, turned into value units on our own draws
    (:func:`_end_mc_se`). Tolerance 4·√2·SE: for 2 × 16 ends a false alarm has probability
    below 0.3 %."""
    rows = _compared(lavaan_ref["perc"])
    assert len(rows) == 6 + 3 + 1
    worst = 0.0
    for r in rows:
        ours = _row(boot_fiml.table, r)
        assert ours.est == pytest.approx(r["est"], abs=1e-3)       # the same FIML estimates
        d = _draws(boot_fiml, r)
        for level, mine, theirs in ((0.025, ours.ci_lower, r["ci_lower"]),
                                    (0.975, ours.ci_upper, r["ci_upper"])):
            tol = 4 * np.sqrt(2) * _end_mc_se(d, level)
            assert abs(mine - theirs) < tol, (r["lhs"], r["op"], r["rhs"], level, mine,
                                               theirs, tol)
            worst = max(worst, abs(mine - theirs) / tol)
    assert worst > 0       # the ends are two independent estimates, never identical


def test_fiml_bias_corrected_ends_agree_with_lavaan_bca_simple_within_monte_carlo_error(
        boot_fiml, lavaan_ref):
    """lavaan 0.6-14's "bca.simple" is the bias-corrected interval without acceleration
    (a = 0; its "bca" fails on this missing = "ml" fit, see the R script). Ours with a = 0:
    :func:`semcluster.analysis.bootstrap._bca` with a constant jackknife (acceleration 0).

    Tolerance as for the percentile ends, with the extra spread of the estimated level
    α' = Φ(2z₀ + z_α): z₀ = Φ⁻¹(share below θ̂) has SE sqrt(p(1 − p)/R)/φ(z₀), moving α' by
    2φ(2z₀ + z_α) times that, i.e. R times as many ranks."""
    rows = _compared(lavaan_ref["bca_simple"])
    for r in rows:
        ours = _row(boot_fiml.table, r)
        d = _draws(boot_fiml, r)
        lo, hi = _bca(ours.est, d, np.zeros(3), 0.95)
        R = len(d)
        p = np.mean(d < ours.est)
        z0 = stats.norm.ppf(p)
        se_z0 = np.sqrt(p * (1 - p) / R) / stats.norm.pdf(z0)
        for za, mine, theirs in ((-1.959964, lo, r["ci_lower"]), (1.959964, hi, r["ci_upper"])):
            level = stats.norm.cdf(2 * z0 + za)
            extra = (R * 2 * stats.norm.pdf(2 * z0 + za) * se_z0) ** 2
            tol = 4 * np.sqrt(2) * _end_mc_se(d, level, extra)
            assert abs(mine - theirs) < tol, (r["lhs"], r["op"], r["rhs"], za, mine, theirs,
                                               tol)


def test_fiml_bootstrap_gives_the_complete_data_table(boot_fiml):
    """The same columns and rows as the complete-data bootstrap of the model (on the complete
    rows), BCa for the indirect effect included, and the counts add up."""
    b = boot_fiml
    X = pd.read_csv(CSV)
    listwise = bootstrap(MODEL, X.dropna(), n_boot=20, seed=1, n_jobs=1, bca=False)
    assert list(b.table.columns) == list(listwise.table.columns)
    key = ["lhs", "op", "rhs", "what"]
    assert b.table[key].equals(listwise.table[key])
    assert list(b.draws.columns) == list(listwise.draws.columns)
    assert b.info["missing"] == "fiml" and b.info["nobs"] == 300
    assert listwise.info["missing"] == "listwise" and listwise.info["nobs"] < 300
    assert b.n_used + b.n_failed == b.n_boot == 1000
    ind = b.table[(b.table.op == ":=") & (b.table.what == "est")].iloc[0]
    assert ind.bca_lower < ind.est < ind.bca_upper and ind.ci_lower > 0 and ind.pvalue < 0.01
    std = b.table[(b.table.op == ":=") & (b.table.what == "std_all")].iloc[0]
    assert std.ci_lower < std.est < std.ci_upper


COVARIATE_MODEL = ("M =~ m1 + m2 + m3\nY =~ y1 + y2 + y3\nM ~ a*x1\nY ~ b*M + c*x1\n"
                   "ind := a*b\n")


@pytest.mark.parametrize("model", [MODEL, COVARIATE_MODEL], ids=["latent", "covariate"])
def test_bootstrap_resamples_missingness_with_respondents(model):
    """Replicate i refits the rows that child i of SeedSequence(seed) draws, each with its own
    blanks: its estimates equal a full FIML fit (semcluster.fit, missing='fiml': EM start,
    Newton to 1e-7) of exactly those rows, blanks and all. With an observed covariate (x1,
    always answered; lavaan's fixed.x) its variance is the resample's own."""
    b = bootstrap(model, CSV, n_boot=10, seed=77, n_jobs=1, bca=False)
    spec = read_model(model)
    X = pd.read_csv(CSV)[spec.observed]
    children = np.random.SeedSequence(77).spawn(10)[:4]
    labels = [c for c in b.draws.columns
              if c.endswith(":est") and "~" in c and "~~" not in c and ":=" not in c]
    pt = spec.partable
    assert len(labels) == int(pt.op.isin(["=~", "~"]).sum())   # loadings (markers too), paths
    for i, child in enumerate(children):
        idx = np.random.default_rng(child).integers(0, len(X), len(X))
        resample = X.iloc[idx].reset_index(drop=True)
        assert resample.isna().to_numpy().sum() == X.isna().to_numpy()[idx].sum() > 0
        ref = semcluster.fit(spec, resample, missing="fiml")
        est = ref.estimates
        for col in labels:
            name = col[: -len(":est")]
            lhs, op, rhs = name.partition("=~") if "=~" in name else name.partition("~")
            want = est[(est.lhs == lhs) & (est.op == op) & (est.rhs == rhs)].est.iloc[0]
            assert b.draws[col].iloc[i] == pytest.approx(want, abs=2e-4), (i, col)


def test_row_wise_fiml_loglik_and_gradient_equal_the_pattern_wise_ones():
    """FIMLRefitter's row-by-row log L and gradient equal the estimator's pattern-by-pattern
    FIMLObjective on a resample with repeated rows, and the gradient equals central
    differences of log L."""
    from semcluster.estimation.fiml import FIMLObjective, MissingPatterns

    spec = read_model(MODEL)
    X = pd.read_csv(CSV)[spec.observed].to_numpy(float)
    full = semcluster.fit(spec, pd.read_csv(CSV), missing="fiml")
    x = np.asarray(full.info["x"])
    rep = _FIMLReplicator(spec, X, x, _implied_means(spec, full, x), full.sample_cov)
    r = rep.refitter
    idx = np.random.default_rng(5).integers(0, len(X), len(X))
    z = r.z_hat + 0.02 * np.random.default_rng(1).standard_normal(len(r.z_hat))
    data = r.rows(idx)
    f, g = r.value_gradient(z, data)
    obj = FIMLObjective(rep.structure, MissingPatterns(X[idx]), rep.fx_idx)
    assert f == pytest.approx(-obj.loglik(z) / len(X), rel=1e-12)
    np.testing.assert_allclose(g, -obj.gradient(z) / len(X), atol=1e-10)
    h = 1e-6
    num = [(r.value_gradient(z + h * e, data)[0] - r.value_gradient(z - h * e, data)[0]) / (2 * h)
           for e in np.eye(len(z))]
    np.testing.assert_allclose(g, num, atol=1e-6)
    # at the full-sample FIML estimates the full sample's gradient vanishes
    assert np.abs(r.value_gradient(r.z_hat, r.rows(np.arange(len(X))))[1]).max() < 1e-6


def test_fiml_bootstrap_same_numbers_on_1_and_2_processes():
    a = bootstrap(MODEL, CSV, n_boot=24, seed=9, n_jobs=1, bca=False)
    b = bootstrap(MODEL, CSV, n_boot=24, seed=9, n_jobs=2, bca=False)
    np.testing.assert_allclose(a.draws.to_numpy(), b.draws.to_numpy(), rtol=1e-9, atol=1e-12,
                               equal_nan=True)
    c = bootstrap(MODEL, CSV, n_boot=24, seed=10, n_jobs=1, bca=False)
    assert not np.allclose(a.draws.to_numpy(), c.draws.to_numpy(), equal_nan=True)


def test_fiml_bootstrap_on_a_dask_cluster_gives_the_same_numbers():
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        d = bootstrap(MODEL, CSV, n_boot=12, backend="dask", scheduler=client, bca=False,
                      seed=3)
    a = bootstrap(MODEL, CSV, n_boot=12, n_jobs=1, bca=False, seed=3)
    np.testing.assert_allclose(a.draws.to_numpy(), d.draws.to_numpy(), rtol=1e-9, atol=1e-12,
                               equal_nan=True)


def test_mlr_with_missing_answers_bootstraps_the_fiml_estimates():
    """MLR's point estimates are ML's (FIML's here), so its bootstrap draws are the same."""
    a = bootstrap(MODEL, CSV, n_boot=10, seed=4, n_jobs=1, bca=False)
    b = bootstrap(MODEL, CSV, n_boot=10, seed=4, n_jobs=1, bca=False, estimator="MLR")
    np.testing.assert_allclose(a.draws.to_numpy(), b.draws.to_numpy(), rtol=1e-9, atol=1e-12)
    with pytest.raises(OptionError, match="estimator must be 'ML', 'MLR'"):
        bootstrap(MODEL, CSV, n_boot=10, estimator="GLS")


def test_listwise_rule_bootstraps_the_complete_rows_only():
    b = bootstrap(MODEL, CSV, n_boot=10, seed=4, n_jobs=1, bca=False,
                  options=DataOptions(missing="listwise"))
    n_complete = int(pd.read_csv(CSV).notna().all(axis=1).sum())
    assert b.info["missing"] == "listwise" and b.info["nobs"] == n_complete


def test_result_that_is_not_a_fiml_fit_of_incomplete_data_is_refused():
    X = pd.read_csv(CSV)
    listwise_fit = semcluster.fit(MODEL, X.dropna())
    with pytest.raises(SemclusterError, match="not a FIML fit"):
        bootstrap(MODEL, CSV, n_boot=10, result=listwise_fit)


def test_cli_bootstrap_with_missing_answers_reports_fiml_and_the_library_numbers(tmp_path,
                                                                                 capsys):
    from semcluster.cli import main

    out = tmp_path / "boot.csv"
    code = main(["bootstrap", str(MODEL), "--data", str(CSV), "--n-boot", "12", "--seed", "5",
                 "--jobs", "1", "--no-bca", "--csv", str(out)])
    assert code == 0
    text = capsys.readouterr().out
    assert "missing answers: all 300 respondents resampled with their blanks" in text
    lib = bootstrap(MODEL, CSV, n_boot=12, seed=5, n_jobs=1, bca=False)
    got = pd.read_csv(out)
    np.testing.assert_allclose(got.ci_lower.to_numpy(), lib.table.ci_lower.to_numpy(),
                               rtol=1e-9, equal_nan=True)


def test_pairwise_rule_is_a_clear_error():
    from semcluster.errors import DataError

    with pytest.raises(DataError, match="pass --missing fiml"):
        bootstrap(MODEL, CSV, n_boot=10, options=DataOptions(missing="pairwise"))


def test_full_fit_route_for_hard_replicates_equals_the_full_fiml_fit():
    """A replicate that BFGS and Newton from the full-sample estimates cannot finish (on
    h1_h5 about 2 % wander off along the collinear factors' ridge) takes the full fit's route
    (EM, ML start, fiml_estimate); on a resample that route gives the full FIML fit."""
    from semcluster.estimation.fiml import MissingPatterns

    spec = read_model(MODEL)
    X = pd.read_csv(CSV)[spec.observed].to_numpy(float)
    full = semcluster.fit(spec, pd.read_csv(CSV), missing="fiml")
    x = np.asarray(full.info["x"])
    rep = _FIMLReplicator(spec, X, x, _implied_means(spec, full, x), full.sample_cov)
    idx = np.random.default_rng(12).integers(0, len(X), len(X))
    z = rep._full_route(X[idx], MissingPatterns(X[idx]))       # θ, then the means
    theta = z[: rep.q]
    ref = semcluster.fit(spec, pd.DataFrame(X[idx], columns=spec.observed), missing="fiml")
    np.testing.assert_allclose(theta, ref.info["x"], atol=1e-4)
    np.testing.assert_allclose(z[rep.q:], ref.info["nu"], atol=1e-4)
    assert np.abs(theta - x).max() > 1e-3          # a different data set, other estimates


def test_fiml_worker_never_imports_semopy(tmp_path):
    """What a worker gets (the pickled replicator and the data) refits replicates, jackknife
    rows and the hard-replicate route with numpy alone: semopy is never imported."""
    import subprocess
    import sys

    cloudpickle = pytest.importorskip("cloudpickle")   # what loky and Dask pickle with

    spec = read_model(MODEL)
    data = pd.read_csv(CSV)
    X = data[spec.observed].to_numpy(float)
    full = semcluster.fit(spec, data, missing="fiml")
    x = np.asarray(full.info["x"])
    rep = _FIMLReplicator(spec, X, x, _implied_means(spec, full, x), full.sample_cov)
    path = tmp_path / "worker.pkl"
    path.write_bytes(cloudpickle.dumps((rep, X)))
    code = (f"import pickle, sys, numpy as np\n"
            f"rep, X = pickle.load(open({str(path)!r}, 'rb'))\n"
            f"from semcluster.estimation.fiml import MissingPatterns\n"
            f"q, ok, _ = rep.one(X, np.random.SeedSequence(1))\n"
            f"assert q is not None\n"
            f"assert rep._full_route(X[:250], MissingPatterns(X[:250])) is not None\n"
            f"assert rep.leave_out(X, 3) is not None\n"
            f"print('semopy' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"
