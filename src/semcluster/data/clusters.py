"""Firms in clusters: cluster sizes, ICC(1) and design effects for the data report.

A cluster variable (``--cluster COL``, ``cluster=`` in :func:`semcluster.fit`) names the
cluster (industrial park, region, platform) each row belongs to.  It is never an item: it is
read beside the items, like the respondent id, and summarised here.

ICC(1), one-way ANOVA estimator for unbalanced clusters
-------------------------------------------------------
With G clusters of sizes n_1 … n_G (N = Σ n_j), cluster means ȳ_j and grand mean ȳ:

    MSB = Σ_j n_j (ȳ_j − ȳ)² / (G − 1)
    MSW = Σ_j Σ_i (y_ij − ȳ_j)² / (N − G)
    n₀  = (N − Σ_j n_j² / N) / (G − 1)          (the "average" cluster size of the ANOVA)
    ICC(1) = (MSB − MSW) / (MSB + (n₀ − 1) · MSW)

(the one-way random-effects ANOVA estimator, Shrout & Fleiss 1979 case 1, with n₀ for
unequal cluster sizes as in Searle, Casella & McCulloch 1992, ch. 3).  It can be negative
when the clusters differ less than chance would make them; it is reported as computed.  Rows with a missing answer to
the item are left out of that item's ICC.

Design effect (Kish 1965): deff = 1 + (m̄ − 1) · ICC(1), m̄ = N / G the mean cluster size:
the factor by which clustering inflates the variance of a mean compared with a simple random
sample of the same size.

Rule used for the warning: Muthén & Satorra (1995, Sociological Methodology 25, 267–316)
found in simulations that single-level analyses of clustered data give acceptable χ² and
standard errors when the design effect is below 2; a design effect above 2
(``DEFF_LIMIT``) makes a single-level analysis doubtful, and the data report says so.

Checked against R (``aov`` mean squares; lme4 REML as a second opinion) in
tests/test_cluster_icc.py (fixture and R script in tests/fixtures/cluster/).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..errors import DataError

__all__ = ["DEFF_LIMIT", "ClusterSummary", "icc1", "design_effect", "cluster_summary",
           "check_cluster_column", "cluster_sums"]

#: Design effect above which a single-level analysis is doubtful (Muthén & Satorra 1995).
DEFF_LIMIT = 2.0


def icc1(y, cluster) -> float:
    """ICC(1) of one variable by the one-way ANOVA estimator (unbalanced clusters: n₀).

    ``y`` and ``cluster`` are aligned sequences; rows where ``y`` is missing are dropped.
    NaN when fewer than two clusters or no within-cluster replication remain, or when the
    variable does not vary at all.
    """
    y = pd.to_numeric(pd.Series(np.asarray(y, dtype=float)), errors="coerce")
    c = pd.Series(np.asarray(cluster, dtype=object))
    ok = y.notna().to_numpy()
    y, c = y[ok].to_numpy(), c[ok].to_numpy()
    if len(y) == 0:
        return float("nan")
    codes, _ = pd.factorize(c)
    n_j = np.bincount(codes).astype(float)
    G, N = len(n_j), float(len(y))
    if G < 2 or N - G < 1:
        return float("nan")
    sums = np.bincount(codes, weights=y)
    means = sums / n_j
    grand = y.mean()
    msb = float(np.sum(n_j * (means - grand) ** 2) / (G - 1))
    msw = float(np.sum((y - means[codes]) ** 2) / (N - G))
    n0 = (N - np.sum(n_j ** 2) / N) / (G - 1)
    denom = msb + (n0 - 1.0) * msw
    if denom <= 0:
        return float("nan")
    return (msb - msw) / denom


def design_effect(icc: float, mean_size: float) -> float:
    """Kish's design effect 1 + (m̄ − 1)·ICC for a mean cluster size m̄."""
    return 1.0 + (mean_size - 1.0) * icc


@dataclass(frozen=True)
class ClusterSummary:
    """The clusters of the rows used: their number, sizes, and per item ICC(1) and deff."""

    column: str
    n_clusters: int
    sizes: dict = field(default_factory=dict)          # {cluster id: rows}
    icc: dict = field(default_factory=dict)            # {item: ICC(1)}
    deff: dict = field(default_factory=dict)           # {item: design effect}

    @property
    def mean_size(self) -> float:
        return float(np.mean(list(self.sizes.values())))

    @property
    def size_range(self) -> tuple:
        s = np.array(list(self.sizes.values()), dtype=float)
        return float(s.min()), float(np.median(s)), float(s.max())

    @property
    def doubtful(self) -> tuple:
        """Items whose design effect exceeds :data:`DEFF_LIMIT`."""
        return tuple(k for k, v in self.deff.items() if np.isfinite(v) and v > DEFF_LIMIT)

    def to_dict(self) -> dict:
        return {"column": self.column, "n_clusters": self.n_clusters,
                "sizes": {str(k): int(v) for k, v in self.sizes.items()},
                "icc": {k: _num(v) for k, v in self.icc.items()},
                "deff": {k: _num(v) for k, v in self.deff.items()}}

    def lines(self) -> list:
        """The data report's lines on the clusters."""
        lo, med, hi = self.size_range
        out = [f"  clusters ('{self.column}'): {self.n_clusters}; firms per cluster: min "
               f"{lo:g}, median {med:g}, max {hi:g} (mean {self.mean_size:.1f})",
               "  ICC(1) and design effect 1 + (mean size - 1)*ICC per item: "
               + ", ".join(f"{k} {_fmt(self.icc[k])}/{_fmt(self.deff[k], 2)}"
                           for k in self.icc)]
        return out

    def warning(self) -> str | None:
        """The warning when some design effect exceeds the limit, else None."""
        bad = self.doubtful
        if not bad:
            return None
        return (f"design effect above {DEFF_LIMIT:g} for {len(bad)} item(s) "
                f"({', '.join(bad[:8])}{' ...' if len(bad) > 8 else ''}): answers within a "
                f"cluster are alike, so a single-level analysis that treats the firms as "
                f"independent understates standard errors (rule: design effect > 2, Muthén & "
                f"Satorra 1995); 'fit' with the cluster column gives cluster-robust MLR "
                f"standard errors and test, the other analyses treat the firms as "
                f"independent")


def _num(v):
    return None if not np.isfinite(v) else float(v)


def _fmt(v, d=3):
    return "n/a" if not np.isfinite(v) else f"{v:.{d}f}"


def check_cluster_column(df: pd.DataFrame, column: str, variables, *, source: str = "data",
                         group: str | None = None, id_column: str | None = None) -> None:
    """Refuse a cluster column that cannot be one: not in the data, an item, the group or
    id column."""
    if column in set(variables):
        raise DataError(f"{source}: cluster column '{column}' is a model item; the cluster "
                        f"variable says which cluster a firm belongs to and is never fitted "
                        f"(--cluster)")
    if group is not None and column == group:
        raise DataError(f"{source}: cluster and group column are the same ('{column}'); "
                        f"groups are compared, clusters are sampled units: give different "
                        f"columns (--cluster, --group)")
    if id_column is not None and column == id_column:
        raise DataError(f"{source}: cluster and id column are the same ('{column}'); every "
                        f"firm would be its own cluster (--cluster, --id)")
    if column not in df.columns:
        raise DataError(f"{source}: cluster column '{column}' is not in the data (--cluster)")


def cluster_summary(X: pd.DataFrame, column: str, items, *, source: str = "data"
                    ) -> ClusterSummary:
    """Cluster sizes and per-item ICC(1)/design effect of the rows used.

    Raises
    ------
    DataError
        A row without a cluster id, a single cluster, or clusters of one row only.
    """
    ids = X[column]
    blank = ids.isna() | ids.astype(str).str.strip().eq("")
    if blank.any():
        where = ", ".join(str(i) for i in list(ids.index[blank])[:5])
        raise DataError(f"{source}: {int(blank.sum())} row(s) have no cluster id in "
                        f"'{column}' (rows {where}{' ...' if blank.sum() > 5 else ''}); "
                        f"every firm needs its cluster (--cluster)")
    sizes = ids.value_counts(sort=False)
    if len(sizes) < 2:
        raise DataError(f"{source}: cluster column '{column}' has a single cluster "
                        f"({ids.iloc[0]!r}); clustering needs at least two clusters")
    if int(sizes.max()) < 2:
        raise DataError(f"{source}: every cluster in '{column}' has one row only; with one "
                        f"firm per cluster there is no clustering (is '{column}' an id column?)")
    sizes = {k: int(v) for k, v in sizes.items()}
    m = float(np.mean(list(sizes.values())))
    icc = {v: icc1(X[v], ids) for v in items}
    deff = {v: design_effect(icc[v], m) if np.isfinite(icc[v]) else float("nan")
            for v in items}
    return ClusterSummary(column=str(column), n_clusters=len(sizes), sizes=sizes, icc=icc,
                          deff=deff)


def cluster_sums(scores: np.ndarray, codes: np.ndarray, n_clusters: int) -> np.ndarray:
    """Casewise scores summed within clusters, times √(G/(G−1)): the rows of the
    cluster-robust "meat" as lavaan forms it (``lav_mvnorm_information_firstorder`` with
    ``cluster.idx``); used by :mod:`semcluster.estimation.cluster_robust` and robust FIML."""
    out = np.zeros((n_clusters, scores.shape[1]))
    np.add.at(out, codes, scores)
    return out * np.sqrt(n_clusters / (n_clusters - 1.0))
