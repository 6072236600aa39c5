"""Refit one model to many data sets: the object to loop over.

A simulation study, a resampling scheme of the user's own or one model fitted to many survey
waves refits the same model thousands of times. :class:`Refitter` is built once from a fit
(ML, complete data) and keeps the model core, the estimates as warm start and the inverse
information as BFGS's first Hessian; :meth:`Refitter.fit` then needs no parsing, no model
building and no data report: the N-divisor covariance of the new data, BFGS to
max|∂F/∂θ| < ``gtol`` (the full engine with its fallbacks when that does not converge), and the
estimates, expected-information standard errors and the ML χ² of lavaan.

>>> res = semcluster.fit("h1_h5", data)                       # doctest: +SKIP
>>> refit = semcluster.Refitter(res)                          # doctest: +SKIP
>>> [refit.fit(d).chisq for d in waves]                       # doctest: +SKIP

For a full result (standardized solution, fit indices, checks) of one data set use
:func:`semcluster.fit`; it reuses the parsed model and its core too.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from ..data.survey import sample_covariance
from .engine import MLEngine
from ..errors import DataError, EstimationError, InputTypeError
from .fastfit import FastRefitter
from ..numerics import invert_information
from ..numerics import n_moments


@dataclass(frozen=True)
class Refit:
    """Estimates (free parameters, in the model's order), their SEs and the χ² test."""
    estimates: pd.Series
    se: pd.Series
    chisq: float
    df: int
    pvalue: float
    nobs: int
    converged: bool
    message: str


class Refitter:
    """Built from an ML fit of complete data; :meth:`fit` refits the model to new data.

    Parameters
    ----------
    result : SEMResult
        A converged ML fit (``estimator="ML"``, complete data) of the model to refit.
    gtol : float
        Convergence: max |∂F_ML/∂θ| below this (1e-7 keeps estimates within about 1e-6 of a
        fully converged fit).
    """

    def __init__(self, result, *, gtol: float = 1e-7):
        if getattr(result, "estimator", None) != "ML" or not hasattr(result, "sample_cov"):
            raise InputTypeError("Refitter needs an ML fit (semcluster.fit(..., estimator='ML'))")
        if getattr(result, "moments", ()):
            raise InputTypeError("Refitter refits one group without a mean structure: this fit "
                                 "has groups or intercepts ('~ 1')")
        if not result.converged:
            raise EstimationError("the fit to start from did not converge; refits need a "
                                  "converged fit as warm start")
        self.spec = result.spec
        self.observed = list(self.spec.observed)
        self.gtol = float(gtol)
        self.engine = MLEngine(self.spec)
        self.engine.load(result.sample_cov.loc[self.observed, self.observed], result.nobs)
        x = np.asarray(result.info["x"], dtype=float)
        self.fast = FastRefitter(self.engine, x)
        self.names = list(result.vcov.index)
        p = len(self.observed)
        nx = len(self.spec.fixed_x)
        self.df = n_moments(p, n_fixed_x=nx) - self.spec.n_free

    def _matrix(self, data) -> np.ndarray:
        if isinstance(data, pd.DataFrame):
            absent = [v for v in self.observed if v not in data.columns]
            if absent:
                raise DataError(f"the data lack the model variable(s) {', '.join(absent)}")
            X = data[self.observed].to_numpy(dtype=float)
        elif isinstance(data, np.ndarray):
            X = np.asarray(data, dtype=float)
            if X.ndim != 2 or X.shape[1] != len(self.observed):
                raise DataError(f"an array to refit needs one column per observed variable "
                                f"({len(self.observed)}, in the order {', '.join(self.observed)})"
                                f"; got shape {X.shape}")
        else:
            raise InputTypeError(f"data must be a DataFrame or a 2-d numpy array, not "
                                 f"{type(data).__name__}")
        if not np.all(np.isfinite(X)):
            raise DataError("refits take complete numeric data (no missing or infinite "
                            "values); fit data with missing answers with semcluster.fit")
        if X.shape[0] <= X.shape[1]:
            raise DataError(f"{X.shape[0]} rows for {X.shape[1]} observed variables: the "
                            f"sample covariance matrix is singular")
        return X

    def fit(self, data) -> Refit:
        """Refit to ``data`` (DataFrame with the model's columns, or an array in model order)."""
        X = self._matrix(data)
        n = X.shape[0]
        S = sample_covariance(pd.DataFrame(X, columns=self.observed)).to_numpy()
        try:
            opt = self.fast.refit(S, n, gtol=self.gtol)
        except np.linalg.LinAlgError:
            raise DataError("the sample covariance matrix of the new data is not positive "
                            "definite (an item is constant or a linear combination of "
                            "others)") from None
        if not opt.converged:                   # the full engine and its fallbacks
            self.engine.set_moments(S, n)
            opt = self.engine.fit(x0=self.fast.x_hat, gtol=self.gtol)
        vcov, ok = invert_information(self.fast.information(opt.x), symmetrize=True)
        se = np.sqrt(np.clip(np.diag(vcov), 0, None)) if ok else np.full(len(opt.x), np.nan)
        chisq = float(n * opt.fmin)
        pvalue = float(stats.chi2.sf(chisq, self.df)) if self.df > 0 else np.nan
        return Refit(estimates=pd.Series(opt.x, index=self.names),
                     se=pd.Series(se, index=self.names), chisq=chisq, df=self.df,
                     pvalue=pvalue, nobs=n, converged=bool(opt.converged), message=opt.message)
