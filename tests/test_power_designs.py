"""Power for clustered firms (cluster-robust vs naive) and with missing answers (FIML).

References are analytic, not semcluster's output: the nominal 5 % of a test of a true null
path, and the large-sample power of a regression slope (``analytic_regression_power``) at the
N that FIML effectively has when only the outcome is missing completely at random (then FIML
is the regression on the rows with an answer: N(1 - r) of them).  Tolerances: 3 Monte Carlo
SEs, sqrt(p (1 - p) / reps).
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from semcluster.cli import main
from semcluster.errors import OptionError
from semcluster.analysis.power import analytic_regression_power, power_analysis
from semcluster.analysis.simulate import ClusterDesign, MissingDesign


class ChainPopulation:
    """x -> m -> y, y's direct path from x zero; all variables standard normal in total."""

    def __call__(self, n, rng):
        x = rng.standard_normal(n)
        m = 0.5 * x + np.sqrt(0.75) * rng.standard_normal(n)
        y = 0.5 * m + np.sqrt(0.75) * rng.standard_normal(n)
        return pd.DataFrame({"x": x, "m": m, "y": y})


class RegressionPopulation:
    def __init__(self, b):
        self.b = b

    def __call__(self, n, rng):
        x = rng.standard_normal(n)
        return pd.DataFrame({"x": x, "y": self.b * x + rng.standard_normal(n)})


CHAIN = "m ~ x\ny ~ m + x"


def refused(argv, capsys) -> str:
    """Run the command; it must stop with exit 2 and a one-line error (argparse prints its
    usage above the line), no traceback. Returns the error line."""
    try:
        code = main(argv)
    except SystemExit as exc:
        code = exc.code
    assert code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    last = err.strip().splitlines()[-1]
    assert "error:" in last, err
    return last


def mcse(p, reps):
    return np.sqrt(p * (1 - p) / reps)


@pytest.mark.parametrize("icc", [0.0, 0.3])
def test_naive_ml_rejects_a_null_path_too_often_when_firms_are_clustered(icc):
    """40 clusters of 20 firms. With ICC 0.3 the naive (independent-firms) test of the zero
    path y~x rejects far more than 5 % (design effect of a slope about 1 + 19 * 0.3^2 = 2.7:
    about 23 %); the cluster-robust test stays near 5 %. With ICC 0 both are near 5 %."""
    reps = 300
    r = power_analysis(CHAIN, population=ChainPopulation(), reps=reps, n_truth=50_000, seed=3,
                       clusters=ClusterDesign(icc, clusters=40, size=20))
    assert list(r.table.n.unique()) == [800] and r.naive is not None
    robust = r.table.set_index("path").loc["y~x", "rejection"]
    naive = r.naive.set_index("path").loc["y~x", "rejection"]
    band = 3 * mcse(0.05, reps)
    # the sandwich with 40 clusters is a little liberal; within 3 MC SEs of 5 %
    assert abs(robust - 0.05) < band, robust
    if icc == 0:
        assert abs(naive - 0.05) < band, naive
    else:
        assert naive > 0.05 + band, naive
        assert naive > robust
    # both analyses share the estimates: bias equal, only the SEs differ
    np.testing.assert_allclose(r.table.mean_est, r.naive.mean_est)


def test_clustered_power_is_reported_per_n_of_the_grid():
    r = power_analysis(CHAIN, population=ChainPopulation(), reps=20, n_truth=20_000, seed=1,
                       n_grid=(120, 240), clusters=ClusterDesign(0.1, size=(5, 30)))
    assert sorted(r.table.n.unique()) == [120, 240]
    assert sorted(r.naive.n.unique()) == [120, 240]
    assert "naive analysis" in r.summary() and "ICC 0.1" in r.summary()
    assert type(r).from_json(r.to_json()) == r


def test_power_with_missing_outcomes_is_the_power_at_the_answered_n():
    """y ~ x, y missing completely at random at rate 0.3 (x is a fixed covariate, never made
    missing): FIML power equals the regression's at N = 0.7 N, and lies below the power
    without missing answers at the same N (same seeds: the same complete data before the
    answers are removed)."""
    b, n, reps, rate = 0.2, 200, 400, 0.3
    full = power_analysis("y ~ x", population=RegressionPopulation(b), n_grid=(n,), reps=reps,
                          n_truth=100_000, seed=7)
    miss = power_analysis("y ~ x", population=RegressionPopulation(b), n_grid=(n,), reps=reps,
                          n_truth=100_000, seed=7, missing=MissingDesign(rate, "mcar"))
    p_full = full.table.power.iloc[0]
    p_miss = miss.table.power.iloc[0]
    exact = analytic_regression_power(b, 1.0, 1.0, int(n * (1 - rate)))
    assert abs(p_miss - exact) < 3 * mcse(exact, reps), (p_miss, exact)
    assert p_miss <= p_full
    assert p_full - p_miss > 3 * mcse(0.5, reps) / np.sqrt(2)      # a real loss, not noise
    assert miss.info["missing"] == "MCAR 0.3" and miss.info["estimator"] == "FIML"


def test_fiml_power_under_mar_is_unbiased_and_covers():
    """MAR by the rule (missingness of y depends on m, always answered): FIML's estimates of
    the paths are unbiased and its 95 % intervals cover (3 MC SEs)."""
    reps = 200
    r = power_analysis("m ~ x\ny ~ m", population=ChainPopulation(), n_grid=(300,), reps=reps,
                       n_truth=100_000, seed=2, missing=MissingDesign(0.2, "mar"))
    for row in r.table.itertuples():
        assert abs(row.coverage - 0.95) < 3 * mcse(0.95, reps), row
        assert abs(row.relative_bias) < 0.05, row


def test_clusters_and_missing_together_use_robust_fiml():
    r = power_analysis(CHAIN, population=ChainPopulation(), reps=30, n_truth=20_000, seed=5,
                       clusters=ClusterDesign(0.2, clusters=20, size=15),
                       missing=MissingDesign(0.1, "mcar"))
    assert r.info["estimator"].startswith("FIML (robust")
    assert (r.table.converged > 0.9).all()
    # with ICC 0.2 in clusters of 15 every path's design effect exceeds 1: the clustered
    # sandwich gives larger SEs than the naive FIML ones (the meat was clustered)
    assert (r.table.mean_se.to_numpy() > 1.1 * r.naive.mean_se.to_numpy()).all()


@pytest.mark.parametrize("kwargs, words", [
    (dict(clusters=ClusterDesign(0.1, clusters=10, size=20), n_grid=(200,)), "N grid"),
    (dict(clusters=ClusterDesign(0.1, clusters=10, size=(5, 9))), "fixed N"),
    (dict(clusters=ClusterDesign(0.1, clusters=100), n_grid=(150,)), "cannot fill"),
    (dict(clusters=0.1), "ClusterDesign"),
    (dict(missing=MissingDesign(0.4, "mar")), "too high"),
])
def test_power_refuses_designs_it_cannot_run(kwargs, words):
    with pytest.raises(OptionError, match=words):
        power_analysis(CHAIN, population=ChainPopulation(), reps=10, n_truth=2000, **kwargs)


def test_power_command_with_clusters_and_missing_answers(tmp_path, capsys):
    out = tmp_path / "p.csv"
    assert main(["power", "--clusters", "10", "--cluster-size", "25", "--icc", "0.1",
                 "--missing-rate", "0.05", "--reps", "10", "--jobs", "1", "--csv",
                 str(out)]) == 0
    text = capsys.readouterr().out
    assert "naive analysis" in text and "FIML" in text
    t = pd.read_csv(out)
    assert t.n.unique().tolist() == [250] and "rejection" in t.columns


@pytest.mark.parametrize("argv, words", [
    (["--clusters", "1", "--icc", "0.1"], "clusters"),
    (["--cluster-size", "1", "--icc", "0.1"], "cluster size"),
    (["--clusters", "5", "--icc", "1.5"], "ICC"),
    (["--missing-rate", "1"], "missing rate"),
    (["--clusters", "5", "--cluster-size", "20", "--icc", "0.1", "--n", "100"], "N grid"),
])
def test_power_command_refuses_bad_designs_in_one_line(tmp_path, capsys, argv, words):
    out = tmp_path / "p.csv"
    assert words in refused(["power", "--reps", "10", "--jobs", "1", "--csv", str(out)] + argv,
                            capsys)
    assert not out.exists()


def test_clustered_incomplete_power_is_the_same_on_two_processes():
    """Per-replicate seeds: the same table on 1 and 2 worker processes (the design worker,
    its model structure and the draw pickle to the workers)."""
    kw = dict(population=ChainPopulation(), n_grid=(150,), reps=12, n_truth=5_000, seed=9,
              clusters=ClusterDesign(0.2, size=(5, 25)), missing=MissingDesign(0.1, "mar"))
    a = power_analysis(CHAIN, **kw)
    b = power_analysis(CHAIN, n_jobs=2, **kw)
    pd.testing.assert_frame_equal(a.table, b.table)
    pd.testing.assert_frame_equal(a.naive, b.naive)


def test_a_normal_population_drawn_in_clusters_has_the_icc_asked_for():
    """Draw functions without a ``clustered`` method (e.g. the model fitted to a user's data)
    are mixed on their values: each variable's ICC(1) is rho within 4 sampling SDs (Donner
    1986, normal theory: exact here), and its total variance stays 1."""
    from semcluster.data.clusters import icc1
    from semcluster.analysis.power import draw_clustered

    k, m = 400, 25
    for rho in (0.0, 0.25):
        sizes = np.full(k, m)
        df = draw_clustered(RegressionPopulation(0.5), sizes, ClusterDesign(rho, clusters=k),
                            np.random.default_rng(4), center=0.0)
        codes = np.repeat(np.arange(k), m)
        sd = np.sqrt(2 * (1 - rho) ** 2 * (1 + (m - 1) * rho) ** 2 / (m * (m - 1) * (k - 1)))
        assert abs(icc1(df.x, codes) - rho) < 4 * sd
        # var(x) = 1: the SE of a variance under clustering, about sqrt(2 deff / N)
        assert abs(df.x.var() - 1) < 4 * np.sqrt(2 * (1 + (m - 1) * rho) / (k * m))
        assert abs(icc1(df.x, codes) - (rho + 0.1)) > 4 * sd         # a wrong rho is refused
