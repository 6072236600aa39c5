"""Normal-theory maximum likelihood on complete data (lavaan's default ``estimator = "ML"``).

The estimates come from :class:`semcluster.estimation.engine.MLEngine` (the model core and lavaan's
unbounded optimum); standard errors from the expected information; every other figure from
the one result builder (:func:`semcluster.result.builder.assemble_result`). Missing answers are
fitted by :mod:`semcluster.estimation.fiml`.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..data.survey import sample_covariance
from .engine import MLEngine
from ..errors import DataError
from ..result.result import SEMResult
from ..result.builder import assemble_result


def fit(spec, X: pd.DataFrame, *, report=None, estimator="ML") -> SEMResult:
    """ML on complete data (the registry's ML entry for missing='listwise')."""
    return fit_moments(spec, sample_covariance(X), len(X), report=report, estimator=estimator,
                       data=X)


def fit_moments(spec, S: pd.DataFrame, n: int, *, report, estimator="ML",
                data=None) -> SEMResult:
    """ML from an N-divisor covariance matrix (labelled) and N (``data``: the rows it came
    from, kept with the result for ``predict()``; ``estimator``: a registry name or entry,
    :class:`semcluster.estimation.registry.Estimator`, whose label the result carries)."""
    p = len(spec.observed)
    if n <= p:
        raise DataError(f"{report.source}: {n} usable rows for {p} observed variables; the "
                        f"sample covariance matrix is singular (need more rows than variables)")
    # on the correlation matrix: an item in other units (x 10^6) is not a singular matrix
    A = S.to_numpy()
    d = np.sqrt(np.diag(A))
    with np.errstate(divide="ignore", invalid="ignore"):
        R = A / np.outer(d, d)
    eig = np.linalg.eigvalsh(R) if np.all(d > 0) and np.all(np.isfinite(R)) else np.zeros(1)
    if eig.min() <= 1e-10 * max(eig.max(), 1e-300):
        raise DataError(f"{report.source}: the sample covariance matrix of the model variables "
                        f"is singular (an item is a linear combination of others?)")
    engine = MLEngine(spec)
    engine.load(S, n)
    opt = engine.fit()
    return assemble_result(spec, engine, opt.x, S, n, converged=opt.converged,
                           message=opt.message, report=report,
                           estimator=estimator, data=data)
