"""Refits: one model fitted again and again, to resamples, simulated data or new waves.

Two levels, both warm-started at a fitted model's estimates, neither parsing nor building the
model again: :class:`FastRefitter` / :class:`FIMLRefitter` (plain numpy, pickled to worker
processes by the bootstrap and Monte Carlo power), and :class:`Refitter`, the object a user
loops over (estimates, SEs and the χ² per data set).

Cheap refits for resampling (one model, many covariance matrices)
-----------------------------------------------------------------
Bootstrap and Monte Carlo runs refit the same model thousands of times to data close to a
known solution.  Per replicate this module does no parsing and no model building; it swaps the
sample covariance into the model core (:class:`semcluster.model.ModelCore`, plain numpy, with
the analytic gradient of F_ML) and minimises F_ML from the full-sample estimates with BFGS
whose initial inverse Hessian is the inverse expected information at the full-sample solution
(computed once).  Fisher scoring alone converges only linearly on resamples that fit worse than
the original data; BFGS started from that matrix needs few steps.

A refit has converged when max|∂F/∂θ| < ``gtol``.  The bootstrap uses ``gtol = 1e-5``, the
loosest setting that keeps every estimate inside the foundation's 1e-3 agreement tolerance: on
60 resamples of ``h1_h5`` the largest relative distance to a fully converged fit (gradient
< 1e-10) was 2.8e-4 (the tests check < 1e-3 on every converged replicate they draw).  Replicates that do not converge here are refitted by the
caller with the full engine (SLSQP + scoring) and, if that fails too, counted as failed.

Refit one model to many data sets: the object to loop over
------------------------------------------------------------
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
from ..errors import DataError, EstimationError, InputTypeError
from ..numerics import bfgs, invert_information, n_moments
from .engine import MLEngine, Optimum


class FastRefitter:
    """Refit one model to many covariance matrices, with numpy alone.

    Built from a fitted :class:`MLEngine`, keeping its model core (plain arrays), the start
    values and the initial inverse Hessian, so it pickles small and a worker process never
    imports semopy.

    Parameters
    ----------
    engine : MLEngine
        Loaded and fitted to the full sample.
    x_hat : ndarray
        The full-sample estimates (spec order): start values of every refit.
    """

    def __init__(self, engine: MLEngine, x_hat: np.ndarray):
        self.core = engine.core
        self.x_hat = np.asarray(x_hat, dtype=float)
        self.n_free = len(self.x_hat)
        engine.set_x(self.x_hat)
        _, H = engine.gradient_and_information(self.x_hat)
        self.H0inv = np.linalg.inv(H)
        self.n = engine.n
        self._set_S(engine.S)
        self.bounds = self.core.bounds()          # variances >= 0 for the bounded retry

    def _set_S(self, S):
        self.S = np.asarray(S, dtype=float)
        self.L_S = np.linalg.cholesky(self.S)
        self.logdet_S = 2.0 * float(np.sum(np.log(np.diag(self.L_S))))
        self.core.set_fixed_x(self.S)

    def gradient(self, x: np.ndarray) -> tuple[float, np.ndarray]:
        """F_ML and its gradient (spec order); (inf, nan) where Σ is not positive definite."""
        return self.core.ml_value_gradient(x, self.S, self.logdet_S)

    def refit(self, S: np.ndarray, n: int, *, gtol: float = 1e-7,
              max_iter: int = 300) -> Optimum:
        """Minimise F_ML for covariance S from the full-sample estimates (BFGS)."""
        self._set_S(S)
        self.n = int(n)
        x = self.x_hat.copy()
        f, g = self.gradient(x)
        if not np.isfinite(f):
            return Optimum(x=x, fmin=np.inf, converged=False, message="start not admissible",
                           iterations=0, grad_norm=np.nan)
        x, f, g, it, status = bfgs(self.gradient, x, self.H0inv, gtol=gtol, max_iter=max_iter)
        if status == "converged":
            return Optimum(x=x, fmin=f, converged=True, message="converged",
                           iterations=it, grad_norm=float(np.max(np.abs(g))))
        return self._newton(x, gtol=gtol, start_iter=it)

    def refit_bounded(self, S: np.ndarray, n: int, *, gtol: float = 1e-7) -> Optimum:
        """Second try for a hard resample: SLSQP with variances bounded at 0 (what the full
        engine does first, here with the fast gradient), then the unbounded path from that
        point, so that a genuine negative-variance optimum is still found."""
        from scipy.optimize import minimize

        self._set_S(S)
        self.n = int(n)

        last = {}

        def both(x):
            # SLSQP asks for F and its gradient at the same points: one evaluation for both
            if last.get("x") is None or not np.array_equal(last["x"], x):
                last["x"], last["fg"] = x.copy(), self.gradient(x)
            return last["fg"]

        def f(x):
            v = both(x)[0]
            return v if np.isfinite(v) else 1e10

        def g(x):
            return np.nan_to_num(both(x)[1])

        r = minimize(f, self.x_hat, jac=g, method="SLSQP", bounds=self.bounds,
                     options={"maxiter": 300})
        start = self.x_hat
        self.x_hat = r.x
        try:
            return self.refit(S, n, gtol=gtol)
        finally:
            self.x_hat = start

    def information(self, x: np.ndarray) -> np.ndarray:
        """Expected information of the whole sample, N/2·tr(Σ⁻¹∂Σ_kΣ⁻¹∂Σ_l) (spec order)."""
        return self.n / 2 * self.core.ml_derivatives(x, self.S)[1]

    def hessian(self, x: np.ndarray) -> np.ndarray:
        """Observed Hessian of F_ML, analytic (:meth:`ModelCore.ml_hessian`)."""
        return self.core.ml_hessian(x, self.S)

    def _newton(self, x, *, gtol, start_iter=0, max_iter=8) -> Optimum:
        """Levenberg–Marquardt-damped Newton steps on the (analytic) observed Hessian, for the few
        ill-conditioned replicates (nearly collinear factors) on which BFGS crawls."""
        f, g = self.gradient(x)
        lam = 1e-3
        for it in range(1, max_iter + 1):
            gmax = float(np.max(np.abs(g)))
            if gmax < gtol:
                return Optimum(x=x, fmin=f, converged=True, message="converged (Newton)",
                               iterations=start_iter + it, grad_norm=gmax)
            H = self.hessian(x)
            improved = False
            for _ in range(30):
                A = H + lam * np.diag(np.maximum(np.abs(np.diag(H)), 1e-8))
                try:
                    p = -np.linalg.solve(A, g)
                except np.linalg.LinAlgError:
                    lam *= 10
                    continue
                xn = x + p
                fn, gn = self.gradient(xn)
                if np.isfinite(fn) and fn < f:
                    x, f, g = xn, fn, gn
                    lam = max(lam / 10, 1e-12)
                    improved = True
                    break
                lam *= 10
            if not improved:
                break
        gmax = float(np.max(np.abs(g)))
        return Optimum(x=x, fmin=f, converged=gmax < gtol, message="converged (Newton)"
                       if gmax < gtol else "no convergence (BFGS, then Newton)",
                       iterations=start_iter + it, grad_norm=gmax)


class FIMLRefitter:
    """FIML refits of resamples of one data set with missing answers, row by row, numpy only.

    The FIML log-likelihood of rows i with answered items o(i) and residuals r_i = x_i − μ
    (zero where not answered) is log L = −½ Σ_i [p_i log 2π + log|Σ_oo| + r_iᵀ Σ_oo⁻¹ r_i].
    With K = Σ⁻¹ and m the missing items of row i, the partitioned inverse gives Σ_oo⁻¹
    (embedded in p × p) = K − W_iW_iᵀ, W_i = K_{·m} C_i⁻ᵀ, C_iC_iᵀ = K_mm, and
    |Σ_oo| = |Σ| |K_mm|; a row missing k items costs O(p k) beyond the one p × p inverse.
    With v_i = (K − W_iW_iᵀ) r_i:

        ∂ log L/∂μ = Σ_i v_i,     ∂ log L/∂Σ = −½ G,  G = N K − Σ_i W_iW_iᵀ − Σ_i v_i v_iᵀ,

    and the θ-gradient is −½⟨G, ∂Σ/∂θ⟩ (the model core's ``inner_gradient``): the same
    quantities as :class:`semcluster.estimation.fiml.PatternMoments`, summed over rows instead
    of patterns, so a resample (rows drawn with replacement, or one left out) needs no new
    pattern statistics.  The full sample's missing-data patterns are found once; a resample
    only looks its rows' patterns up.

    A refit minimises −log L/N with BFGS from the full-sample estimates (θ̂, μ̂), its first
    inverse Hessian the inverse of the full sample's observed information per respondent, to
    max|∂(log L/N)/∂z| < ``gtol``.

    Parameters
    ----------
    core : ModelCore
        The model core (``CovarianceStructure.of(spec)``).
    X : ndarray (N, p)
        The full sample, NaN for missing answers, columns in ``core.observed`` order.
    z_hat : ndarray
        The full-sample FIML estimates: θ̂ (spec order), then the free means (the observed
        variables but exogenous covariates held at their sample means, lavaan's fixed.x).
    H0inv : ndarray
        Inverse of the full-sample observed information divided by N (BFGS's start).
    """

    def __init__(self, core, X: np.ndarray, z_hat: np.ndarray, H0inv: np.ndarray):
        self.core = core
        X = np.asarray(X, dtype=float)
        self.N, self.p = X.shape
        self.mask = ~np.isnan(X)
        self.X0 = np.where(self.mask, X, 0.0)
        self.q = int(core.q)
        self.fx = list(core.fixed_x_idx)
        self.mean_free = np.array([j for j in range(self.p) if j not in set(self.fx)],
                                  dtype=int)
        self.z_hat = np.asarray(z_hat, dtype=float)
        self.H0inv = np.asarray(H0inv, dtype=float)
        keys, inverse = np.unique(self.mask, axis=0, return_inverse=True)
        self.row_pattern = inverse.ravel()
        k_mis = self.p - keys.sum(axis=1)
        kmax = int(k_mis.max()) if len(k_mis) else 0
        self.pattern_k = k_mis
        self.pattern_mis = np.zeros((len(keys), max(kmax, 1)), dtype=int)
        for r, key in enumerate(keys):
            m = np.flatnonzero(~key)
            self.pattern_mis[r, :len(m)] = m
        self.log2pi = float(np.log(2 * np.pi))

    def rows(self, rows: np.ndarray):
        """The per-resample bookkeeping of rows ``rows``: the data, and the rows missing
        something, most missing first, with their missing items (a sweep plan)."""
        rows = np.asarray(rows, dtype=int)
        pat = self.row_pattern[rows]
        k = self.pattern_k[pat]
        order = np.argsort(-k, kind="stable")
        sel = order[k[order] > 0]                    # rows with a missing item, most first
        mis = self.pattern_mis[pat[sel]]
        kmax = int(k.max()) if len(k) else 0
        active = [int(np.sum(k[sel] > t)) for t in range(kmax)]
        Xr = self.X0[rows]
        mu0 = np.zeros(self.p)
        if self.fx:
            mu0[self.fx] = Xr[:, self.fx].mean(axis=0)
        const = float(self.mask[rows].sum()) * self.log2pi
        return Xr, self.mask[rows], sel, mis, active, mu0, const

    def value_gradient(self, z: np.ndarray, data) -> tuple[float, np.ndarray]:
        """−log L/N and its gradient over the free (θ, μ); (inf, nan) where Σ (or a row's
        Σ_oo) is not positive definite.

        The W_i are built by sweeping the missing items out one at a time, all rows at once
        (step t on the rows missing more than t items): w_t = c_t/√c_t[j_t] with
        c_t = K_{·j_t} − Σ_{s<t} w_s w_s[j_t], the pivots c_t[j_t] multiplying to |K_mm|.
        """
        Xr, mask, sel, mis, active, mu0, const = data
        n, q = Xr.shape[0], self.q
        x = z[:q]
        mu = mu0.copy()
        mu[self.mean_free] = z[q:]
        bad = np.inf, np.full(len(z), np.nan)
        try:
            Sigma = self.core.sigma(x)
            L = np.linalg.cholesky(Sigma)
        except (np.linalg.LinAlgError, ValueError):
            return bad
        dL = np.diag(L)
        if not np.all(dL > 0):
            return bad
        Li = np.linalg.inv(L)
        K = Li.T @ Li
        R = (Xr - mu) * mask                        # residuals, 0 where not answered
        V = R @ K                                   # K r_i (K symmetric)
        quad = float(np.einsum("ij,ij->", R, V))
        logdet = n * 2.0 * float(np.sum(np.log(dL)))
        KW = n * K
        Rs = R[sel]
        Vs = V[sel]
        W = []
        for t, m_t in enumerate(active):
            j = mis[:m_t, t]
            c = K[j]                                # rows j of K = columns (m_t, p)
            for w in W:
                w = w[:m_t]
                c = c - w * w[np.arange(m_t), j][:, None]
            piv = c[np.arange(m_t), j]
            if not np.all(piv > 0):
                return bad
            logdet += float(np.sum(np.log(piv)))
            w = c / np.sqrt(piv)[:, None]
            W.append(w)
            u = np.einsum("np,np->n", w, Rs[:m_t])
            quad -= float(u @ u)
            Vs[:m_t] -= w * u[:, None]
            KW -= w.T @ w
        V[sel] = Vs
        loglik = -0.5 * (const + logdet + quad)
        G = KW - V.T @ V
        g = np.concatenate([-0.5 * self.core.inner_gradient(x, G),
                            V.sum(axis=0)[self.mean_free]])
        return -loglik / n, -g / n

    def refit(self, rows: np.ndarray, *, gtol: float = 5e-6, max_iter: int = 100):
        """BFGS from (θ̂, μ̂) on the rows ``rows``: (z, converged)."""
        data = self.rows(rows)
        if self.fx:              # the covariates' (complete) moments of these rows: fixed.x
            B = data[0][:, self.fx]
            B = B - B.mean(axis=0)
            self.core.ram.set_fixed_x(B.T @ B / len(B))
        z, _, _, _, status = bfgs(lambda v: self.value_gradient(v, data), self.z_hat,
                                  self.H0inv, gtol=gtol, max_iter=max_iter)
        return z, status == "converged"


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
