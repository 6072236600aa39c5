"""Synthetic Likert survey data from a population model.

A :class:`Population` holds parallel standardized items per construct (loadings), the
constructs' correlations and, per item, the cut points that turn its latent normal response into
the categories 1–7; :func:`simulate_from` draws respondents from it.  :func:`grim_reachable` is
the GRIM test of a mean of integer answers.  The population calibrated to the paper's tables,
and the sample matched to them, are in :mod:`semcluster.study.synthetic`.

>>> from semcluster.analysis.simulate import grim_reachable
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


def latent_responses(population: Population, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` rows of the items' latent normal responses y* (standardized: the population's
    loadings and construct correlations, unit variances), before the cut points."""
    pop = population
    names = list(pop.latent_cor.index)
    L = np.linalg.cholesky(pop.latent_cor.to_numpy())
    eta = rng.standard_normal((n, len(names))) @ L.T
    col = {c: i for i, c in enumerate(names)}
    lam = pop.loadings.loc[pop.items].to_numpy()
    idx = np.array([col[pop.construct_of[i]] for i in pop.items])
    return eta[:, idx] * lam + rng.standard_normal((n, len(pop.items))) * np.sqrt(1 - lam ** 2)


def answers_of(population: Population, ystar: np.ndarray) -> pd.DataFrame:
    """Latent responses cut into the answers 1–7 by the population's thresholds."""
    thr = population.thresholds.loc[population.items].to_numpy()          # items x 6
    answers = 1 + (ystar[:, :, None] > thr[None, :, :]).sum(axis=2)
    return pd.DataFrame(answers.astype(int), columns=population.items)


def simulate_from(population: Population, n: int | None,
                  seed: int | np.random.SeedSequence | np.random.Generator | None = None,
                  *, clusters: "ClusterDesign | None" = None,
                  missing: "MissingDesign | None" = None) -> pd.DataFrame:
    """Draw ``n`` respondents' answers (integers 1–7) from ``population``.

    Vectorised: one multivariate-normal draw for the constructs, one for the item residuals,
    then thresholds.  With ``clusters`` (a :class:`ClusterDesign`) the firms are drawn in
    clusters (see :class:`ClusterDesign` for the two-level structure) and a column
    :data:`CLUSTER_COLUMN` holds each firm's cluster; ``n`` may then be ``None`` when the
    design fixes the number of firms (K clusters of a given size).  With ``missing`` (a
    :class:`MissingDesign`) answers are then removed (NaN) by its rule.
    """
    from .. import arguments

    if n is not None or clusters is None:
        n = arguments.integer("n", n, 1, arguments.MAX_N)
    if not isinstance(seed, (np.random.SeedSequence, np.random.Generator)):
        seed = arguments.seed("seed", seed)
    rng = np.random.default_rng(seed)
    if clusters is None:
        out = answers_of(population, latent_responses(population, n, rng))
    else:
        sizes = clusters.sizes(n, rng)
        out = draw_in_clusters(population, sizes, clusters, rng)
        out[CLUSTER_COLUMN] = cluster_labels(np.repeat(np.arange(len(sizes)), sizes))
    if missing is not None:
        out = missing.apply(out, population.items, rng)
    return out


# ----------------------------------------------------------------------------------------------
# clustered firms
# ----------------------------------------------------------------------------------------------
#: the column that names each simulated firm's cluster
CLUSTER_COLUMN = "cluster"


def cluster_labels(codes) -> np.ndarray:
    """Cluster ids written to a data set: ``c001``, ``c002``, … (text, so that no reader takes
    them for an answer)."""
    codes = np.asarray(codes, dtype=int)
    width = max(3, len(str(int(codes.max()) + 1))) if len(codes) else 3
    return np.array([f"c{c + 1:0{width}d}" for c in codes], dtype=object)


def parse_cluster_size(value):
    """A cluster size: a whole number M ≥ 2, or a range ``"lo-hi"`` (2 ≤ lo ≤ hi) for
    unbalanced clusters whose sizes are drawn uniformly from lo, …, hi.  Returns an int or
    a (lo, hi) tuple; :class:`semcluster.errors.OptionError` otherwise."""
    from .. import arguments

    if isinstance(value, (tuple, list)) and len(value) == 2:
        lo, hi = value
    elif isinstance(value, str) and "-" in value.strip().lstrip("-"):
        a, _, b = value.strip().partition("-")
        try:
            lo, hi = int(a), int(b)
        except ValueError:
            raise arguments.OptionError(f"cluster size must be a whole number or a range "
                                        f"like 5-60, not {value!r}") from None
    else:
        try:
            m = int(value) if not isinstance(value, float) or float(value).is_integer() \
                else None
        except (TypeError, ValueError):
            m = None
        if m is None:
            raise arguments.OptionError(f"cluster size must be a whole number or a range "
                                        f"like 5-60, not {value!r}")
        return arguments.integer("cluster size", m, 2, arguments.MAX_N)
    lo = arguments.integer("cluster size", lo, 2, arguments.MAX_N)
    hi = arguments.integer("cluster size", hi, 2, arguments.MAX_N)
    if hi < lo:
        raise arguments.OptionError(f"cluster size range {lo}-{hi}: the upper end must not "
                                    f"be below the lower end")
    return (lo, hi) if hi > lo else lo


@dataclass(frozen=True)
class ClusterDesign:
    """Firms drawn in clusters: how many clusters, how large, how alike.

    Two-level structure (an isomorphic random-intercept model).  Each firm i of cluster j has
    latent responses

        y*_ij = √(1 − ρ) · w_ij + √ρ · b_j,

    w_ij (firm) and b_j (cluster) independent draws of the same standardized factor model (the
    population's loadings and construct correlations, covariance Σ*).  Hence

        within-cluster covariance   Σ_W = (1 − ρ) Σ*,
        between-cluster covariance  Σ_B = ρ Σ*  = ρ/(1 − ρ) · Σ_W,
        total covariance            Σ_W + Σ_B = Σ*,

    so every firm, taken alone, answers as the unclustered population does (the same answer
    distribution, the same paths), the between level has the same factor model as the within
    level, and the ICC of every latent response is exactly ρ (``icc``).  For Likert items the
    answers are the latent responses cut at the population's thresholds; cutting lowers the
    ICC of the 1–7 answers slightly below ρ (their Pearson correlation within a cluster is
    that of two cut normals with correlation ρ: about 0.093 for ρ = 0.10 on the study's
    items).  For a continuous (normal) population the same decomposition is applied to the
    variables themselves, and the ICC of each variable is ρ.

    Parameters
    ----------
    icc : float
        ρ, from 0 up to (not including) 1.
    clusters : int, optional
        K ≥ 2 clusters.
    size : int or (lo, hi), optional
        Firms per cluster (≥ 2), or a range for unbalanced clusters: each cluster's size drawn
        uniformly from lo, …, hi.

    How the firms are split (:meth:`sizes`): with ``clusters`` and ``size`` the design fixes
    N (K clusters of M firms, or K sizes drawn from the range); with ``clusters`` alone, N
    firms are split into K clusters as equal as possible; with ``size`` alone, N firms are
    split into clusters of that size (round(N/M) clusters as equal as possible) or, for a
    range, into clusters of sizes drawn from the range until N is reached (the last cluster
    takes the rest; a rest below lo joins the cluster before it).
    """

    icc: float
    clusters: int | None = None
    size: int | tuple | None = None

    def __post_init__(self):
        from .. import arguments

        icc = arguments.real("icc", self.icc, 0.0, 1.0, open_lo=False)
        object.__setattr__(self, "icc", icc)
        if self.clusters is None and self.size is None:
            raise arguments.OptionError("a cluster design needs the number of clusters "
                                        "(--clusters) or their size (--cluster-size)")
        if self.clusters is not None:
            object.__setattr__(self, "clusters",
                               arguments.integer("clusters", self.clusters, 2, arguments.MAX_N))
        if self.size is not None:
            object.__setattr__(self, "size", parse_cluster_size(self.size))

    @property
    def fixes_n(self) -> bool:
        """True when K and the size are both given (N follows from them)."""
        return self.clusters is not None and self.size is not None

    @property
    def n(self) -> int | None:
        """N of a design with K clusters of a fixed size, else None."""
        if self.fixes_n and isinstance(self.size, int):
            return self.clusters * self.size
        return None

    def describe(self) -> str:
        size = (f"{self.size[0]}-{self.size[1]} firms (uniform)" if isinstance(self.size, tuple)
                else f"{self.size} firms" if self.size is not None else "equal shares")
        k = f"{self.clusters} clusters" if self.clusters is not None else "clusters"
        return f"{k} of {size}, ICC {self.icc:g}"

    def sizes(self, n: int | None, rng: np.random.Generator) -> np.ndarray:
        """The cluster sizes for N firms (see the class docstring); ``n`` is None (or that N)
        when the design fixes N."""
        from .. import arguments

        K, size = self.clusters, self.size
        if self.fixes_n:
            if isinstance(size, tuple):
                out = rng.integers(size[0], size[1] + 1, size=K)
            else:
                out = np.full(K, size)
            if n is not None and int(out.sum()) != n:
                raise arguments.OptionError(
                    f"{K} clusters of {size if isinstance(size, int) else '-'.join(map(str, size))}"
                    f" firms make the sample size; do not give N ({n}) as well")
            return out.astype(int)
        if n is None:
            raise arguments.OptionError("give N (the number of firms), or both the number of "
                                        "clusters and their size")
        if K is not None:
            if n < 2 * K:
                raise arguments.OptionError(f"N = {n} firms cannot fill {K} clusters of at "
                                            f"least 2 firms")
            return _equal_split(n, K)
        if isinstance(size, int):
            k = max(1, int(round(n / size)))
            if n < 2 * k or k < 2:
                raise arguments.OptionError(f"N = {n} firms make fewer than two clusters of "
                                            f"{size}")
            return _equal_split(n, k)
        lo, hi = size
        out = []
        while sum(out) < n:
            out.append(int(rng.integers(lo, hi + 1)))
        out[-1] -= sum(out) - n
        if out[-1] < lo and len(out) > 1:
            out[-2] += out.pop()
        if len(out) < 2 or min(out) < 2:
            raise arguments.OptionError(f"N = {n} firms make fewer than two clusters of "
                                        f"{lo}-{hi}")
        return np.array(out, dtype=int)

    def combine(self, within: np.ndarray, between: np.ndarray, codes: np.ndarray,
                center=0.0) -> np.ndarray:
        """√(1 − ρ)·(w − c) + √ρ·(b_j − c) + c for rows ``within`` and cluster rows ``between``
        (c = ``center``, the population mean, for draws that are not centred)."""
        r = self.icc
        return (center + np.sqrt(1.0 - r) * (within - center)
                + np.sqrt(r) * (between[codes] - center))


def draw_in_clusters(population: Population, sizes, design: ClusterDesign,
                     rng: np.random.Generator) -> pd.DataFrame:
    """Answers of firms in clusters of ``sizes`` (in cluster order): the latent responses of
    firms and of clusters combined as :class:`ClusterDesign` states, then cut."""
    sizes = np.asarray(sizes, dtype=int)
    within = latent_responses(population, int(sizes.sum()), rng)
    between = latent_responses(population, len(sizes), rng)
    codes = np.repeat(np.arange(len(sizes)), sizes)
    return answers_of(population, design.combine(within, between, codes))


def _equal_split(n: int, k: int) -> np.ndarray:
    base = np.full(k, n // k)
    base[: n - base.sum()] += 1
    return base


# ----------------------------------------------------------------------------------------------
# missing answers
# ----------------------------------------------------------------------------------------------
MECHANISMS = ("mcar", "mar")


@dataclass(frozen=True)
class MissingDesign:
    """Answers removed by a stated rule, to plan for the expected non-response.

    ``rate`` r is the expected share of all answers (cells of the items given) that are
    missing.

    * ``"mcar"`` (missing completely at random): every answer is removed independently with
      probability r.
    * ``"mar"`` (missing at random, by a rule): one item, the *driver* (``driver``, default
      the first item), is always answered; every other of the p items is removed with
      probability π_i = 2·u_i·r·p/(p − 1), u_i = (rank_i − ½)/N the firm's mid-rank
      position on the driver (ties share their mean rank).  Firms that score high on the driver
      skip more answers; the probabilities average exactly r·p/(p − 1) over the firms, so the
      expected share of missing answers is r.  π_i < 1 needs r ≤ (p − 1)/(2p).  Missingness
      depends only on an observed answer, so it is MAR (Rubin 1976): FIML is unbiased, the
      complete cases are not (they over-represent firms low on the driver).

    Rows with no answer at all (possible under MCAR at high r) are kept in simulated data and
    dropped by the power analysis (lavaan drops empty rows too).
    """

    rate: float
    mechanism: str = "mcar"
    driver: str | None = None

    def __post_init__(self):
        from .. import arguments

        rate = arguments.real("missing rate", self.rate, 0.0, 1.0, open_lo=False)
        object.__setattr__(self, "rate", rate)
        mech = str(self.mechanism).lower()
        if mech not in MECHANISMS:
            raise arguments.OptionError(f"missing mechanism must be one of "
                                        f"{', '.join(MECHANISMS)}, not {self.mechanism!r}")
        object.__setattr__(self, "mechanism", mech)

    def check(self, items) -> None:
        """Refuse a rule that cannot give the rate on these items."""
        from .. import arguments

        items = list(items)
        if self.mechanism == "mar":
            driver = self.driver or items[0]
            if driver not in items:
                raise arguments.OptionError(f"MAR driver item '{driver}' is not among the "
                                            f"items")
            p = len(items)
            if p < 2:
                raise arguments.OptionError("the MAR rule needs at least two items")
            top = (p - 1) / (2 * p)
            if self.rate > top:
                raise arguments.OptionError(
                    f"missing rate {self.rate:g} is too high for the MAR rule on {p} items "
                    f"(the driver is always answered; at most {top:.3f})")

    def apply(self, df: pd.DataFrame, items, rng: np.random.Generator,
              skip=()) -> pd.DataFrame:
        """A copy of ``df`` with answers of ``items`` removed (NaN) by the rule.  ``skip``:
        items never removed (e.g. exogenous covariates); the rate then applies to the others."""
        items = [i for i in items if i not in set(skip)]
        self.check(items)
        out = df.copy()
        if self.rate == 0:
            return out
        n, p = len(out), len(items)
        if self.mechanism == "mcar":
            drop = rng.random((n, p)) < self.rate
            cols = items
        else:
            from scipy.stats import rankdata

            driver = self.driver or items[0]
            cols = [i for i in items if i != driver]
            u = (rankdata(out[driver].to_numpy(dtype=float)) - 0.5) / n
            prob = 2.0 * u * self.rate * p / (p - 1)
            drop = rng.random((n, len(cols))) < prob[:, None]
        vals = out[cols].to_numpy(dtype=float, copy=True)
        vals[drop] = np.nan
        out[cols] = vals
        return out


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
