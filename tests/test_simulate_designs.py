"""Simulated firms in clusters and with missing answers (semcluster.analysis.simulate).

Independent references, not semcluster's own output:

* the ICC of the 1-7 answers a latent ICC rho implies: the Pearson correlation of two answers
  cut from standard normals with correlation rho, from the bivariate normal CDF (scipy):
  cov = sum_s sum_t [Phi2(-tau_s, -tau_t; rho) - Phi(-tau_s) Phi(-tau_t)] for answers
  1 + sum_t 1{y* > tau_t}; var the same with rho = 1;
* the expected mean of an item, 1 + sum_t Phi(-tau_t), from the population's cut points;
* the sampling SD of ICC(1) for K balanced clusters of m (normal theory, Donner 1986,
  Int. Stat. Rev. 54, 67-82): Var = 2 (1 - rho)^2 [1 + (m - 1) rho]^2 / [m (m - 1) (K - 1)];
* binomial SDs for the realised missing rate.
Tolerances are 4 of those SDs (a false alarm about once in 16,000 per comparison).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from semcluster.cli import main
from semcluster.data.clusters import icc1
from semcluster.errors import OptionError
from semcluster.analysis.simulate import (ClusterDesign, MissingDesign, parse_cluster_size,
                                 simulate_from)
from semcluster.study.synthetic import population_model

POP = population_model()


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


def answer_icc(thresholds: np.ndarray, rho: float) -> float:
    """Correlation of two cut normals with latent correlation rho (see the module docstring)."""
    if rho == 0:
        return 0.0
    cov = 0.0
    var = 0.0
    p = stats.norm.cdf(-thresholds)
    for s, ts in enumerate(thresholds):
        for t, tt in enumerate(thresholds):
            both = stats.multivariate_normal([0, 0], [[1, rho], [rho, 1]]).cdf([-ts, -tt])
            cov += both - p[s] * p[t]
            var += stats.norm.cdf(-max(ts, tt)) - p[s] * p[t]
    return cov / var


def expected_mean(thresholds: np.ndarray) -> float:
    return 1.0 + float(stats.norm.cdf(-thresholds).sum())


def donner_sd(rho: float, m: int, k: int) -> float:
    return float(np.sqrt(2 * (1 - rho) ** 2 * (1 + (m - 1) * rho) ** 2 / (m * (m - 1) * (k - 1))))


# ---------------------------------------------------------------------------------------------
# clusters
# ---------------------------------------------------------------------------------------------
def test_clustered_draw_has_the_clusters_and_sizes_asked_for():
    df = simulate_from(POP, None, 3, clusters=ClusterDesign(0.1, clusters=7, size=5))
    assert len(df) == 35 and list(df.columns) == POP.items + ["cluster"]
    assert sorted(df.cluster.value_counts().tolist()) == [5] * 7
    df = simulate_from(POP, None, 3, clusters=ClusterDesign(0.1, clusters=40, size="5-60"))
    sizes = df.cluster.value_counts()
    assert len(sizes) == 40 and sizes.min() >= 5 and sizes.max() <= 60
    assert sizes.nunique() > 5                          # unbalanced, not one size
    # N split among K clusters, or into clusters of a size / a size range
    rng = np.random.default_rng(0)
    assert ClusterDesign(0.1, clusters=4).sizes(10, rng).tolist() == [3, 3, 2, 2]
    assert ClusterDesign(0.1, size=20).sizes(100, rng).tolist() == [20] * 5
    s = ClusterDesign(0.1, size=(5, 60)).sizes(1000, rng)
    assert s.sum() == 1000 and s.min() >= 5 and s.max() <= 60


@pytest.mark.parametrize("rho", [0.0, 0.15, 0.3])
def test_realised_icc_of_the_answers_is_near_the_design_icc(rho):
    """K = 400 clusters of 25: every item's ICC(1) within 4 Donner SDs of the ICC its cut
    points imply (a little below rho: 0.15 -> about 0.14); and the wrong rho is rejected."""
    k, m = 400, 25
    df = simulate_from(POP, None, 11, clusters=ClusterDesign(rho, clusters=k, size=m))
    tol = 4 * donner_sd(rho, m, k)
    for item in POP.items[::3]:                         # 8 of the 23 items (CDF calls are slow)
        expected = answer_icc(POP.thresholds.loc[item].to_numpy(), rho)
        got = icc1(df[item], df.cluster)
        assert abs(got - expected) < tol, (item, got, expected, tol)
        assert expected <= rho + 1e-12 and expected >= 0.85 * rho
    # the check can fail: the same draw is far from an ICC 0.1 away
    got = np.mean([icc1(df[i], df.cluster) for i in POP.items])
    assert abs(got - (rho + 0.1)) > 4 * donner_sd(rho + 0.1, m, k)


def test_clustered_firms_answer_as_the_unclustered_population():
    """The total covariance is the population's: item means stay at 1 + sum Phi(-tau), within
    4 SEs inflated by the design effect 1 + (m - 1) ICC."""
    k, m, rho = 300, 20, 0.3
    df = simulate_from(POP, None, 5, clusters=ClusterDesign(rho, clusters=k, size=m))
    n = k * m
    for item in POP.items:
        thr = POP.thresholds.loc[item].to_numpy()
        se = df[item].std() * np.sqrt((1 + (m - 1) * rho) / n)
        assert abs(df[item].mean() - expected_mean(thr)) < 4 * se, item


def test_cluster_design_refuses_impossible_values():
    for bad in (dict(icc=1.0, clusters=5), dict(icc=-0.1, clusters=5), dict(icc=0.1),
                dict(icc=0.1, clusters=1), dict(icc=0.1, size=1), dict(icc=0.1, size="5-3"),
                dict(icc=0.1, size="a-b"), dict(icc=0.1, size="1-5")):
        with pytest.raises(OptionError):
            ClusterDesign(**bad)
    with pytest.raises(OptionError, match="cannot fill"):
        ClusterDesign(0.1, clusters=10).sizes(15, np.random.default_rng(0))
    assert parse_cluster_size("5-60") == (5, 60) and parse_cluster_size("8") == 8


# ---------------------------------------------------------------------------------------------
# missing answers
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("mechanism", ["mcar", "mar"])
@pytest.mark.parametrize("rate", [0.06, 0.2])
def test_realised_missing_rate_is_near_the_rate(mechanism, rate):
    n, p = 3000, len(POP.items)
    df = simulate_from(POP, n, 8, missing=MissingDesign(rate, mechanism))
    got = df[POP.items].isna().to_numpy().mean()
    # cells are independent given the driver and their probabilities average r exactly:
    # Var(rate) <= r / (n p)
    assert abs(got - rate) < 4 * np.sqrt(rate / (n * p)), got
    if mechanism == "mar":
        assert df[POP.items[0]].notna().all()         # the driver is always answered
        # firms high on the driver skip more (rank correlation of driver and missing count)
        skipped = df[POP.items].isna().sum(axis=1)
        assert stats.spearmanr(df[POP.items[0]], skipped)[0] > 0.2


def test_under_mar_listwise_means_are_biased_and_fiml_means_are_not():
    """MAR by the rule: complete cases over-represent firms low on the driver, so their means
    of the items correlated with it are too low; the FIML (EM) saturated means are not.  Under
    MCAR the complete cases are unbiased too (both sides of the claim)."""
    from semcluster.estimation.fiml import MissingPatterns

    n = 6000
    items = POP.items[:8]                                # the driver's construct and the next
    truth = np.array([expected_mean(POP.thresholds.loc[i].to_numpy()) for i in items])
    for mech in ("mar", "mcar"):
        full = simulate_from(POP, n, 21)[items]
        df = MissingDesign(0.1, mech).apply(full, items, np.random.default_rng(5))
        cc = df.dropna()
        se_cc = cc.std().to_numpy() / np.sqrt(len(cc))
        z_cc = (cc.mean().to_numpy() - truth) / se_cc
        mu, *_ = MissingPatterns(df.to_numpy(dtype=float)).em()
        se_av = df.std().to_numpy() / np.sqrt(df.notna().sum().to_numpy())
        z_em = (mu - truth) / se_av
        assert np.all(np.abs(z_em) < 4), (mech, z_em)
        if mech == "mar":
            # items of the driver's construct: every complete-case mean is more than 4 SE low
            same = [j for j, i in enumerate(items) if POP.construct_of[i] ==
                    POP.construct_of[items[0]]][1:]
            assert np.all(z_cc[same] < -4), z_cc
        else:
            assert np.all(np.abs(z_cc) < 4), z_cc


def test_missing_design_refuses_impossible_values():
    for bad in (dict(rate=1.0), dict(rate=1.5), dict(rate=-0.1), dict(rate=0.1, mechanism="nmar")):
        with pytest.raises(OptionError):
            MissingDesign(**bad)
    with pytest.raises(OptionError, match="too high for the MAR rule"):
        MissingDesign(0.49, "mar").check(POP.items)
    with pytest.raises(OptionError, match="not among the items"):
        MissingDesign(0.1, "mar", driver="zz").check(POP.items)


# ---------------------------------------------------------------------------------------------
# the command
# ---------------------------------------------------------------------------------------------
def test_simulate_command_writes_clusters_and_missing_answers(tmp_path, capsys):
    out = tmp_path / "c.csv"
    assert main(["simulate", "--clusters", "12", "--cluster-size", "5-60", "--icc", "0.2",
                 "--missing-rate", "0.1", "--missing-mechanism", "mar", "--seed", "3",
                 "--out", str(out)]) == 0
    df = pd.read_csv(out)
    assert df.cluster.nunique() == 12 and df.cluster.str.startswith("c").all()
    assert df.drop(columns="cluster").isna().any().any()
    assert "12 clusters" in capsys.readouterr().out
    # the clusters split a given N
    assert main(["simulate", "--n", "90", "--clusters", "9", "--icc", "0", "--out",
                 str(tmp_path / "d.csv")]) == 0
    assert pd.read_csv(tmp_path / "d.csv").cluster.value_counts().tolist() == [10] * 9


@pytest.mark.parametrize("argv, words", [
    (["--clusters", "1", "--icc", "0.1"], "clusters"),
    (["--clusters", "5", "--cluster-size", "1", "--icc", "0.1"], "cluster size"),
    (["--clusters", "5", "--icc", "1"], "ICC"),
    (["--clusters", "5", "--icc", "-0.2"], "ICC"),
    (["--clusters", "5"], "--icc"),
    (["--icc", "0.1"], "--clusters"),
    (["--missing-rate", "1"], "missing rate"),
    (["--missing-mechanism", "mar"], "--missing-rate"),
    (["--missing-rate", "0.1", "--missing-mechanism", "nmar"], "missing-mechanism"),
    (["--clusters", "5", "--cluster-size", "10", "--icc", "0.1", "--n", "50"], "--n"),
    (["--clusters", "50", "--icc", "0.1", "--n", "60"], "cannot fill"),
    (["--clusters", "5", "--cluster-size", "10", "--icc", "0.1", "--match-published"],
     "match-published"),
])
def test_simulate_refuses_bad_designs_in_one_line_and_writes_nothing(tmp_path, capsys, argv,
                                                                     words):
    out = tmp_path / "x.csv"
    assert words in refused(["simulate", "--out", str(out)] + argv, capsys)
    assert not out.exists()
