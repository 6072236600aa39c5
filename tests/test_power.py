"""Monte Carlo power against the analytic power of a single regression path."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from semcluster.cli import main
from semcluster.analysis.power import analytic_regression_power, power_analysis


class RegressionPopulation:
    """y = b x + e with x, e standard normal (picklable for worker processes)."""

    def __init__(self, b):
        self.b = b

    def __call__(self, n, rng):
        x = rng.standard_normal(n)
        return pd.DataFrame({"x": x, "y": self.b * x + rng.standard_normal(n)})


def test_power_matches_the_analytic_value():
    b = 0.2
    r = power_analysis("y ~ b*x", population=RegressionPopulation(b), n_grid=(100, 200),
                       reps=600, n_truth=400_000, seed=1)
    for row in r.table.itertuples():
        exact = analytic_regression_power(b, 1.0, 1.0, row.n)
        # within 3 Monte Carlo SEs of the large-sample analytic power
        assert abs(row.power - exact) < 3 * np.sqrt(exact * (1 - exact) / row.reps), row
        assert row.converged == 1.0
        assert abs(row.bias) < 0.02
        assert abs(row.coverage - 0.95) < 3 * np.sqrt(0.95 * 0.05 / row.reps)
    reached = r.table[r.table.power >= r.target].n
    assert r.smallest_n["y~x"] == (int(reached.min()) if len(reached) else None)


def test_power_is_reproducible_and_parallel_safe():
    pop = RegressionPopulation(0.3)
    a = power_analysis("y ~ x", population=pop, n_grid=(60,), reps=40, n_truth=20000, seed=4)
    b = power_analysis("y ~ x", population=pop, n_grid=(60,), reps=40, n_truth=20000, seed=4,
                       n_jobs=2)
    pd.testing.assert_frame_equal(a.table, b.table)


def test_study_power_grid_and_plot(tmp_path):
    out = tmp_path / "p.png"
    assert main(["power", "--n", "200", "--reps", "20", "--jobs", "1", "--plot",
                 str(out)]) == 0
    assert out.read_bytes()[:4] == b"\x89PNG"


def test_study_power_matches_the_asymptotic_wald_power():
    """The study model's Monte Carlo power against the asymptotic power of the Wald test.

    Independent route: one ML fit of a very large sample from the same population gives each
    path's SE at that N; at sample size n the SE is se_big * sqrt(N_big / n) and the two-sided
    Wald test has power Φ(|β|/se - z) + Φ(-|β|/se - z). At n = 400 the two agree within the
    Monte Carlo error (3 MC SEs) plus 0.05 for the finite-sample bias of the asymptotic
    formula; the 95 % Wald intervals cover the true values 95 % of the time (all five paths
    pooled, within 3 MC SEs).
    """
    from scipy import stats

    import semcluster
    from semcluster.analysis.power import _PopulationDraw
    from semcluster.study.synthetic import scaled_population

    from semcluster.study.power import power_analysis as study_power

    n, reps = 400, 120
    r = study_power("h1_h5", n_grid=(n,), reps=reps, n_truth=50_000, seed=11)
    assert set(r.table.label) == {"h1", "h2", "h3", "h4", "h5"}
    assert (r.table.converged > 0.95).all()
    big_n = 50_000
    big = _PopulationDraw(scaled_population(1.0))(big_n, np.random.default_rng(99))
    paths = semcluster.fit("h1_h5", big).paths().set_index("label")
    z = stats.norm.ppf(0.975)
    for row in r.table.itertuples():
        beta = paths.loc[row.label, "est"]
        se = paths.loc[row.label, "se"] * np.sqrt(big_n / n)
        assert abs(row.true - beta) < 4 * paths.loc[row.label, "se"] + 1e-3, row
        asym = stats.norm.cdf(abs(beta) / se - z) + stats.norm.cdf(-abs(beta) / se - z)
        mcse = np.sqrt(max(asym * (1 - asym), 0.01) / row.reps)
        assert abs(row.power - asym) < 3 * mcse + 0.05, (row.label, row.power, asym)
    cover = float((r.table.coverage * r.table.reps).sum() / r.table.reps.sum())
    assert abs(cover - 0.95) < 3 * np.sqrt(0.95 * 0.05 / r.table.reps.sum()), cover
