"""The course's claims about measurement error, checked against the classical formulas.

Notebook 2 (notebooks/*/02_measurement_error.ipynb) teaches that with one predictor measured
with error, OLS on composite scores estimates

    slope:       beta * rel_X                     (the reliability of X only)
    correlation: rho  * sqrt(rel_X * rel_Y)       (Spearman's attenuation formula, 1904)

and that the latent model recovers beta.  These tests run the notebook's own simulation code
(the code cell tagged ``attenuation-simulation``, taken from the committed notebook) with more
replications and compare its Monte Carlo means with the formulas.

Tolerance: 4 Monte Carlo standard errors of the mean, MC SE = SD of the replicate estimates /
sqrt(replications) (a false alarm about once in 16,000 runs per comparison; the seeds are fixed
anyway).  For the correlation the finite-sample bias of r, about -rho (1 - rho^2) / (2 N)
(Olkin & Pratt, 1958), is added to the tolerance: 0.0003 at N = 500, a third of one MC SE.
Each test also checks the other side: the unattenuated value is far outside that tolerance,
so a simulation without measurement error, or a wrong formula, fails.
"""
from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pytest

NB_DIR = Path(__file__).parent.parent / "notebooks"
sys.path.insert(0, str(NB_DIR))
import make_course  # noqa: E402

nbformat = pytest.importorskip("nbformat")
TAG = "attenuation-simulation"
BETA = 0.5


def _tagged_source(lang: str) -> str:
    nb = nbformat.read(make_course.path_of("02_measurement_error", lang), as_version=4)
    cells = [c.source for c in nb.cells if TAG in c.metadata.get("tags", [])]
    assert len(cells) == 1
    return cells[0]


@pytest.fixture(scope="module")
def lesson():
    """The notebook's simulation functions, run from its committed source."""
    src = _tagged_source("en")
    assert src == _tagged_source("zh"), "both editions must run the same simulation"
    ns: dict = {}
    exec(compile(src, "02_measurement_error:attenuation-simulation", "exec"), ns)
    return ns


def _mean_and_mcse(x):
    x = np.asarray(x, dtype=float)
    return float(x.mean()), float(x.std(ddof=1) / math.sqrt(len(x)))


@pytest.mark.parametrize("rel_x,rel_y", [(0.6, 0.9), (0.8, 0.7)])
def test_composite_slope_is_the_true_slope_times_the_reliability_of_x(lesson, rel_x, rel_y):
    sim = lesson["simulate_attenuation"](rel_x, rel_y, beta=BETA, n=500, reps=2000,
                                         latent=False, seed=101)
    mean, mcse = _mean_and_mcse(sim["composite"])
    assert abs(mean - BETA * rel_x) < 4 * mcse, (mean, BETA * rel_x, mcse)
    assert abs(mean - BETA) > 40 * mcse                      # attenuation is there
    assert abs(mean - BETA * math.sqrt(rel_x * rel_y)) > 4 * mcse   # and is not the r formula


@pytest.mark.parametrize("rel_x,rel_y", [(0.6, 0.9), (0.8, 0.7)])
def test_composite_correlation_is_attenuated_by_both_reliabilities(lesson, rel_x, rel_y):
    n = 500
    sim = lesson["simulate_attenuation"](rel_x, rel_y, beta=BETA, n=n, reps=2000,
                                         latent=False, seed=202)
    mean, mcse = _mean_and_mcse(sim["composite_r"])
    rho = BETA * math.sqrt(rel_x * rel_y)
    small_n_bias = rho * (1 - rho ** 2) / (2 * n)
    assert abs(mean - rho) < 4 * mcse + small_n_bias, (mean, rho, mcse)
    assert abs(mean - BETA * rel_x) > 4 * mcse + small_n_bias     # not the slope formula
    assert abs(mean - BETA) > 40 * mcse


def test_the_notebooks_composite_table_follows_the_formula(lesson):
    """The settings of the notebook's table (N = 200, 200 replications, seed = 100 × rel):
    the composite means it prints are beta × rel within 4 MC SE (the latent fits draw no
    random numbers, so skipping them leaves the composite draws unchanged)."""
    for rel in (0.6, 0.7, 0.8, 0.9):
        sim = lesson["simulate_attenuation"](rel, beta=BETA, seed=int(rel * 100), latent=False)
        mean, mcse = _mean_and_mcse(sim["composite"])
        assert abs(mean - BETA * rel) < 4 * mcse, (rel, mean, mcse)
        alpha, _ = _mean_and_mcse(sim["alpha_x"])
        assert abs(alpha - rel) < 0.02         # parallel items: alpha estimates reliability


def test_the_latent_slope_recovers_the_true_slope(lesson):
    sim = lesson["simulate_attenuation"](0.7, beta=BETA, n=400, reps=150, seed=303)
    ok = sim["latent_converged"].astype(bool)
    assert ok.mean() > 0.95
    mean, mcse = _mean_and_mcse(sim.loc[ok, "latent"])
    assert abs(mean - BETA) < 4 * mcse, (mean, mcse)
    assert abs(mean - BETA * 0.7) > 4 * mcse
    comp, _ = _mean_and_mcse(sim["composite"])
    assert abs(comp - BETA * 0.7) < 0.02
