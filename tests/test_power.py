"""Monte Carlo power against the analytic power of a single regression path."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from semcluster.cli import main
from semcluster.power import analytic_regression_power, power_analysis


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
    r = power_analysis("h1_h5", n_grid=(200,), reps=20, n_truth=50_000)
    assert set(r.table.label) == {"h1", "h2", "h3", "h4", "h5"}
    assert ((r.table.power >= 0) & (r.table.power <= 1)).all()
