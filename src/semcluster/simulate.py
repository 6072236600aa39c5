"""Synthetic Likert survey data from a population model.

A :class:`Population` holds parallel standardized items per construct (loadings), the
constructs' correlations and, per item, the cut points that turn its latent normal response into
the categories 1–7; :func:`simulate_from` draws respondents from it.  :func:`grim_reachable` is
the GRIM test of a mean of integer answers.  The population calibrated to the paper's tables,
and the sample matched to them, are in :mod:`semcluster.study.synthetic`.

>>> from semcluster.simulate import grim_reachable
>>> grim_reachable(4.5, 160, 4)
(True, 4.5)
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import optimize, stats

LIKERT = np.arange(1, 8)


@dataclass(frozen=True)
class Population:
    """Population model of Likert items (the study's: 23 items, 6 constructs).

    Attributes
    ----------
    items : list of str
        Item codes in questionnaire order.
    construct_of : dict
        Item -> construct code.
    loadings : Series
        Standardized loading of each item on its construct.
    latent_cor : DataFrame
        Correlations of the constructs.
    thresholds : DataFrame
        Per item, the six cut points on the latent normal response (categories 1..7).
    notes : tuple of str
        What was checked (positive definiteness, adjustments).
    """

    items: list
    construct_of: dict
    loadings: pd.Series
    latent_cor: pd.DataFrame
    thresholds: pd.DataFrame
    notes: tuple = field(default=())

    @property
    def min_eigenvalue(self) -> float:
        return float(np.linalg.eigvalsh(self.latent_cor.to_numpy()).min())


def _discrete_moments(mu: float, sigma: float) -> tuple[float, float]:
    """Mean and SD of a N(mu, sigma) response rounded to 1..7 (cuts at 1.5, ..., 6.5)."""
    cuts = np.arange(1.5, 7.0, 1.0)
    cdf = stats.norm.cdf((cuts - mu) / sigma)
    p = np.diff(np.concatenate([[0.0], cdf, [1.0]]))
    m = float(p @ LIKERT)
    v = float(p @ (LIKERT - m) ** 2)
    return m, math.sqrt(v)


def _item_thresholds(mean: float, sd: float) -> np.ndarray:
    """Cut points on a standard normal giving a 1..7 item of the given mean and SD."""
    def f(z):
        m, s = _discrete_moments(z[0], math.exp(z[1]))
        return [m - mean, s - sd]

    sol = optimize.fsolve(f, [mean, math.log(max(sd, 0.2))], full_output=True)
    mu, sigma = sol[0][0], math.exp(sol[0][1])
    return (np.arange(1.5, 7.0, 1.0) - mu) / sigma


def simulate_from(population: Population, n: int,
                  seed: int | np.random.SeedSequence | np.random.Generator | None = None
                  ) -> pd.DataFrame:
    """Draw ``n`` respondents' answers (integers 1–7) from ``population``.

    Vectorised: one multivariate-normal draw for the constructs, one for the item residuals,
    then thresholds.
    """
    from . import arguments

    n = arguments.integer("n", n, 1, arguments.MAX_N)
    if not isinstance(seed, (np.random.SeedSequence, np.random.Generator)):
        seed = arguments.seed("seed", seed)
    pop = population
    rng = np.random.default_rng(seed)
    names = list(pop.latent_cor.index)
    L = np.linalg.cholesky(pop.latent_cor.to_numpy())
    eta = rng.standard_normal((n, len(names))) @ L.T
    col = {c: i for i, c in enumerate(names)}
    lam = pop.loadings.loc[pop.items].to_numpy()
    idx = np.array([col[pop.construct_of[i]] for i in pop.items])
    ystar = eta[:, idx] * lam + rng.standard_normal((n, len(pop.items))) * np.sqrt(1 - lam ** 2)
    thr = pop.thresholds.loc[pop.items].to_numpy()          # items x 6
    answers = 1 + (ystar[:, :, None] > thr[None, :, :]).sum(axis=2)
    return pd.DataFrame(answers.astype(int), columns=pop.items)


def grim_reachable(mean: float, n: int, n_items: int, decimals: int = 3) -> tuple[bool, float]:
    """GRIM test (Brown & Heathers 2017): can a mean of n·k integers round to ``mean``?

    Returns (reachable, nearest attainable mean).  Attainable means are multiples of 1/(n·k).
    """
    total = n * n_items
    half = 0.5 * 10 ** -decimals
    lo = math.ceil((mean - half) * total - 1e-9)
    hi = math.floor((mean + half) * total + 1e-9)
    cands = [s / total for s in range(lo - 1, hi + 2)]
    ok = [c for c in cands if round(c + 1e-12, decimals) == round(mean, decimals)
          and abs(c - mean) <= half + 1e-12]
    nearest = min(cands, key=lambda c: abs(c - mean))
    return bool(ok), (ok[0] if ok else nearest)
