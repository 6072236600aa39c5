"""The published tables as data, and the shipped synthetic sample that reproduces them.

Published numbers are transcribed from the paper (shared/paper/seeds/000_94d29a0c6a01c0d2.txt,
Tables 2-4); every check below recomputes a figure from the shipped CSV and compares it with
the published value at the printed precision (3 decimals).
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from semcluster import study
from semcluster.data.survey import load_data
from semcluster.resources import data_path
from semcluster.study.synthetic import (calibration_report, composite_statistics,
                                        grim_reachable, population_model, simulate_items,
                                        unreachable_figures)


@pytest.fixture(scope="module")
def shipped():
    return pd.read_csv(data_path("paper_synthetic.csv"))


def test_published_tables_as_printed():
    R = study.correlations()
    assert R.shape == (6, 6) and np.allclose(R, R.T) and np.allclose(np.diag(R), 1)
    assert R.loc["IN", "MR"] == 0.328 and R.loc["PA", "CA"] == 0.482
    assert study.descriptives().loc["LO", "mean"] == 4.268
    rel = study.reliability()
    assert rel.loc["PA", "alpha"] == 0.624 and rel.loc["LO", "n_items"] == 3
    reg = study.regression()
    assert list(reg.index[reg.entered]) == ["CA", "MR", "KS"]
    assert reg.attrs["F"] == 15.764 and reg.attrs["r2"] == 0.376 and reg.attrs["n"] == 160
    assert len(study.items()) == 23 and set(study.items().construct) == set(study.CONSTRUCTS)


def test_shipped_csv_layout(shipped):
    items = study.item_names()
    assert len(shipped) == study.N
    assert set(items) <= set(shipped.columns)
    X = shipped[items]
    assert X.dtypes.map(pd.api.types.is_integer_dtype).all()
    assert X.min().min() >= 1 and X.max().max() <= 7
    assert sorted(shipped.firm_type.unique()) == ["capital", "labour", "technology"]
    assert shipped.firm_type.value_counts().min() >= 53
    # the default data set of the library
    pd.testing.assert_frame_equal(load_data(), shipped, check_dtype=False)


def _composite(df):
    return pd.DataFrame({c: df[study.item_names(c)].mean(axis=1) for c in study.CONSTRUCTS})


def test_every_reachable_table2_and_table3_figure_matches(shipped):
    comp = _composite(shipped)
    desc = study.descriptives()
    R = study.correlations()
    impossible = unreachable_figures()
    misses = []
    for c in study.CONSTRUCTS:
        if f"mean {c}" not in impossible and round(comp[c].mean(), 3) != desc.loc[c, "mean"]:
            misses.append(f"mean {c}")
        if round(comp[c].std(ddof=1), 3) != desc.loc[c, "sd"]:
            misses.append(f"sd {c}")
        X = shipped[study.item_names(c)].to_numpy(float)
        k = X.shape[1]
        alpha = k / (k - 1) * (1 - X.var(axis=0, ddof=1).sum() / X.sum(axis=1).var(ddof=1))
        if round(alpha, 3) != study.reliability().loc[c, "alpha"]:
            misses.append(f"alpha {c}")
    Rs = comp.corr()
    for i, a in enumerate(study.CONSTRUCTS):
        for b in study.CONSTRUCTS[:i]:
            if round(Rs.loc[a, b], 3) != R.loc[a, b]:
                misses.append(f"r {a}-{b}")
    assert misses == []


def test_unreachable_means_are_exactly_the_grim_failures(shipped):
    """The four means no 160 complete integer answers can give (GRIM arithmetic, by hand):
    PA 4.482 needs a total in [2868.16, 2868.80) of 640 answers, MR 5.126 in [3280.32,
    3280.96), KS 4.868 in [3115.20, 3115.84), LO 4.268 in [2048.40, 2048.88) of 480."""
    assert set(unreachable_figures()) == {"mean PA", "mean MR", "mean KS", "mean LO"}
    for c, total, k in (("PA", 2868.16, 640), ("MR", 3280.32, 640), ("KS", 3115.20, 640),
                        ("LO", 2048.40, 480)):
        lo = study.descriptives().loc[c, "mean"] * k - 0.0005 * k
        hi = study.descriptives().loc[c, "mean"] * k + 0.0005 * k
        assert lo == pytest.approx(total, abs=0.005)
        assert math.ceil(lo) >= hi          # no integer total in [lo, hi)
    comp = _composite(shipped)
    # the shipped means are the nearest attainable ones, within one step 1/(N k)
    for c in ("PA", "MR", "KS", "LO"):
        k = int(study.descriptives().loc[c, "n_items"])
        assert abs(comp[c].mean() - study.descriptives().loc[c, "mean"]) < 1 / (160 * k)
    assert grim_reachable(4.281, 160, 4)[0] and not grim_reachable(4.482, 160, 4)[0]


def test_calibration_report_agrees(shipped):
    rep = calibration_report(shipped)
    assert len(rep) == 33
    assert rep.loc[rep.reachable, "match"].all()
    assert set(rep.figure[~rep.match]) == set(unreachable_figures())


def _ols_betas(R):
    P = list(study.PREDICTORS)
    b = np.linalg.solve(R.loc[P, P].to_numpy(), R.loc[P, "IN"].to_numpy())
    return pd.Series(b, index=P)


def test_composite_regression_equals_the_published_correlations(shipped):
    b_csv = _ols_betas(_composite(shipped).corr())
    b_pub = _ols_betas(study.correlations())
    assert (b_csv - b_pub).abs().max() < 0.01


def test_population_model_is_positive_definite_and_calibrated():
    pop = population_model()
    assert pop.min_eigenvalue > 0
    # standardized alpha of k parallel items with loading l: k r/(1+(k-1)r), r = l^2
    rel = study.reliability()
    for c in study.CONSTRUCTS:
        l2 = pop.loadings[study.item_names(c)[0]] ** 2
        k = rel.loc[c, "n_items"]
        assert k * l2 / (1 + (k - 1) * l2) == pytest.approx(rel.loc[c, "alpha"], abs=1e-12)
    # a large draw reproduces the published means and correlations up to sampling error
    big = simulate_items(20000, seed=5, population=pop)
    stats_ = composite_statistics(big)
    assert (stats_["mean"] - study.descriptives()["mean"]).abs().max() < 0.03
    assert (stats_["cor"] - study.correlations()).abs().to_numpy().max() < 0.03


def test_simulation_is_deterministic_for_a_seed():
    a = simulate_items(50, seed=11)
    b = simulate_items(50, seed=11)
    pd.testing.assert_frame_equal(a, b)
    assert not a.equals(simulate_items(50, seed=12))


def test_h1_h5_converges_on_the_shipped_data():
    import semcluster

    res = semcluster.fit("h1_h5")
    assert res.converged and res.admissible
    assert res.nobs == 160
