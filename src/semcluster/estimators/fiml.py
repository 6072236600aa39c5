"""Full-information maximum likelihood (FIML) for data with missing answers.

Every respondent contributes the likelihood of the answers they gave (Anderson 1957; Arbuckle
1996; Enders 2010, ch. 4).  Rows are grouped by their pattern of answered items o; with mean
structure ν (one free intercept per item, latent means zero, as lavaan's default) the
log-likelihood is

    log L(θ, ν) = Σ_o −n_o/2 [p_o log 2π + log|Σ_oo| + tr(Σ_oo⁻¹ T_o)],
    T_o = S_o + (x̄_o − ν_o)(x̄_o − ν_o)ᵀ,

with x̄_o, S_o the mean and N-divisor covariance of the n_o rows of pattern o on their items.
Its gradient is ∂/∂θ_k = −Σ_o n_o/2 tr[(Σ_oo⁻¹ − Σ_oo⁻¹T_oΣ_oo⁻¹) ∂Σ_oo/∂θ_k] and
∂/∂ν_o = Σ_o n_o Σ_oo⁻¹(x̄_o − ν_o); the expected information is block diagonal with
Σ_o n_o/2 tr(Σ_oo⁻¹∂_kΣ_oo Σ_oo⁻¹∂_lΣ_oo) and Σ_o n_o Σ_oo⁻¹ (Fisher scoring).

* Start values: ML fit to the EM estimate of the saturated moments.
* Standard errors: inverse of the observed information (numerical Hessian of the analytic
  gradient), lavaan's default for ``missing = "ml"``.
* Test: χ² = 2[log L(h1) − log L(h0)], h1 the saturated model fitted by EM (Dempster, Laird &
  Rubin 1977; Little & Rubin 2002, ch. 11).  Baseline: independence model with free means and
  variances, whose FIML estimates are each item's available-case mean and variance.

semopy's own ``Model.fit(obj="FIML")`` is not used: it is wrong even on complete data
(shared/semopy-notes.md).  Checked against lavaan 0.6.14 ``missing = "ml"`` in
tests/test_estimators_fiml.py.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from ..errors import EstimationError
from ._structure import (CovarianceStructure, damped_step, numerical_jacobian,
                         symmetric_inverse)

LOG2PI = math.log(2 * math.pi)


@dataclass
class Pattern:
    obs: np.ndarray        # indices of the answered items
    n: int
    mean: np.ndarray       # x̄_o
    cov: np.ndarray        # S_o (N-divisor, about x̄_o)
    rows: np.ndarray       # the rows' data on the answered items (n × p_o)


class MissingPatterns:
    """Rows of a data matrix grouped by which items are answered.

    Parameters
    ----------
    X : ndarray (N, p)
        Data with ``NaN`` for missing answers; rows without any answer are not allowed.
    """

    def __init__(self, X: np.ndarray):
        X = np.asarray(X, dtype=float)
        mask = ~np.isnan(X)
        if (~mask.any(axis=1)).any():
            raise EstimationError("FIML: a row without any answer reached the estimator "
                                  "(prepare_data drops these)")
        self.n, self.p = X.shape
        keys, inverse = np.unique(mask, axis=0, return_inverse=True)
        self.patterns: list[Pattern] = []
        for k, key in enumerate(keys):
            obs = np.flatnonzero(key)
            rows = X[np.flatnonzero(inverse.ravel() == k)][:, obs]
            m = rows.mean(axis=0)
            d = rows - m
            self.patterns.append(Pattern(obs=obs, n=rows.shape[0], mean=m,
                                         cov=d.T @ d / rows.shape[0], rows=rows))
        self.X = X
        self.mask = mask

    # -- log-likelihood of given moments ------------------------------------------------------
    def loglik(self, Sigma: np.ndarray, mu: np.ndarray) -> float:
        total = 0.0
        for pt in self.patterns:
            o = pt.obs
            Soo = Sigma[np.ix_(o, o)]
            try:
                L = np.linalg.cholesky(Soo)
            except np.linalg.LinAlgError:
                return -np.inf
            d = pt.mean - mu[o]
            T = pt.cov + np.outer(d, d)
            Li = np.linalg.inv(L)
            logdet = 2 * np.sum(np.log(np.diag(L)))
            total += -pt.n / 2 * (len(o) * LOG2PI + logdet + np.sum((Li @ T) * Li))
        return float(total)

    def casewise_loglik(self, Sigma: np.ndarray, mu: np.ndarray) -> np.ndarray:
        out = np.empty(self.n)
        for pt, idx in zip(self.patterns, self._row_index()):
            o = pt.obs
            Soo = Sigma[np.ix_(o, o)]
            _, logdet = np.linalg.slogdet(Soo)
            d = pt.rows - mu[o]
            q = np.sum(d * np.linalg.solve(Soo, d.T).T, axis=1)
            out[idx] = -0.5 * (len(o) * LOG2PI + logdet + q)
        return out

    def _row_index(self):
        keys = [tuple(np.isin(np.arange(self.p), pt.obs)) for pt in self.patterns]
        lookup = {k: i for i, k in enumerate(keys)}
        which = np.array([lookup[tuple(r)] for r in self.mask])
        return [np.flatnonzero(which == i) for i in range(len(self.patterns))]

    # -- saturated model (EM) -----------------------------------------------------------------
    def em(self, *, tol: float = 1e-11, max_iter: int = 20000):
        """EM estimates of the mean vector and covariance matrix (the h1 model).

        Returns
        -------
        mu, Sigma, loglik, converged, iterations
        """
        X = self.X
        p = self.p
        mu = np.nanmean(X, axis=0)
        Sigma = np.diag(np.nanvar(X, axis=0))
        Sigma[~np.isfinite(Sigma)] = 1.0
        ll_old = -np.inf
        converged = False
        it = 0
        for it in range(1, max_iter + 1):
            T1 = np.zeros(p)
            T2 = np.zeros((p, p))
            for pt in self.patterns:
                o = pt.obs
                m = np.setdiff1d(np.arange(p), o)
                if len(m) == 0:
                    T1 += pt.n * pt.mean
                    T2 += pt.n * (pt.cov + np.outer(pt.mean, pt.mean))
                    continue
                Soo = Sigma[np.ix_(o, o)]
                B = np.linalg.solve(Soo, Sigma[np.ix_(o, m)]).T        # Σ_mo Σ_oo⁻¹
                C = Sigma[np.ix_(m, m)] - B @ Sigma[np.ix_(o, m)]
                Xo = pt.rows
                Xm = mu[m] + (Xo - mu[o]) @ B.T
                full = np.empty((pt.n, p))
                full[:, o] = Xo
                full[:, m] = Xm
                T1 += full.sum(axis=0)
                T2 += full.T @ full
                T2[np.ix_(m, m)] += pt.n * C
            mu_new = T1 / self.n
            Sigma_new = T2 / self.n - np.outer(mu_new, mu_new)
            Sigma_new = (Sigma_new + Sigma_new.T) / 2
            ll = self.loglik(Sigma_new, mu_new)
            delta = max(np.max(np.abs(mu_new - mu)), np.max(np.abs(Sigma_new - Sigma)))
            mu, Sigma = mu_new, Sigma_new
            if delta < tol or (np.isfinite(ll_old) and abs(ll - ll_old) < tol * 1e-2):
                converged = True
                break
            ll_old = ll
        return mu, Sigma, self.loglik(Sigma, mu), converged, it

    # -- scores (for robust standard errors and the Yuan-Bentler test) -------------------------
    def casewise_scores(self, Sigma: np.ndarray, mu: np.ndarray) -> np.ndarray:
        """∂ log L_i/∂(μ, vech Σ) for every row (N × (p + p*)), zero where an item is missing."""
        from ._structure import vech_indices

        p = self.p
        r, c = vech_indices(p)
        half = np.where(r == c, 0.5, 1.0)
        out = np.zeros((self.n, p + len(r)))
        for pt, idx in zip(self.patterns, self._row_index()):
            o = pt.obs
            K = np.linalg.inv(Sigma[np.ix_(o, o)])
            U = np.zeros((len(idx), p))
            U[:, o] = (pt.rows - mu[o]) @ K            # rows K d_i, embedded
            Kf = np.zeros((p, p))
            Kf[np.ix_(o, o)] = K
            out[idx, :p] = U
            out[idx, p:] = half[None, :] * (U[:, r] * U[:, c] - Kf[r, c][None, :])
        return out

    def saturated_gradient(self, z: np.ndarray) -> np.ndarray:
        """Gradient of log L w.r.t. (μ, vech Σ) at z = (μ, vech Σ), summed by pattern."""
        from ._structure import vech_indices

        p = self.p
        r, c = vech_indices(p)
        mu = z[:p]
        Sigma = np.zeros((p, p))
        Sigma[r, c] = z[p:]
        Sigma[c, r] = z[p:]
        g_mu = np.zeros(p)
        M = np.zeros((p, p))
        for pt in self.patterns:
            o = pt.obs
            K = np.linalg.inv(Sigma[np.ix_(o, o)])
            d = pt.mean - mu[o]
            T = pt.cov + np.outer(d, d)
            g_mu[o] += pt.n * (K @ d)
            M[np.ix_(o, o)] += pt.n * (K @ T @ K - K)
        return np.concatenate([g_mu, np.where(r == c, 0.5, 1.0) * M[r, c]])

    def saturated_information(self, Sigma: np.ndarray, mu: np.ndarray) -> np.ndarray:
        """Observed information (−Hessian of log L, whole sample) of the saturated model at
        (μ, Σ), in (μ, vech Σ) coordinates.

        Per pattern, with K = Σ_oo⁻¹, d = x̄_o − μ_o, T = S_o + ddᵀ and M = KTK, in vec
        coordinates: −∂²/∂μ∂μᵀ = n K, −∂²/∂vecΣ∂μᵀ = n (Kd ⊗ K),
        −∂²/∂vecΣ∂vecΣᵀ = n/2 (M⊗K + K⊗M − K⊗K); padded with zeros to the full p items,
        summed over patterns and mapped to vech Σ by the duplication matrix.
        """
        from ._structure import duplication_matrix

        p = self.p
        H_mm = np.zeros((p, p))
        H_sm = np.zeros((p * p, p))
        H_ss = np.zeros((p * p, p * p))
        for pt in self.patterns:
            o = pt.obs
            K = np.zeros((p, p))
            K[np.ix_(o, o)] = np.linalg.inv(Sigma[np.ix_(o, o)])
            d = np.zeros(p)
            d[o] = pt.mean - mu[o]
            T = np.zeros((p, p))
            T[np.ix_(o, o)] = pt.cov
            T += np.outer(d, d)
            M = K @ T @ K
            H_mm += pt.n * K
            H_sm += pt.n * np.kron((K @ d)[:, None], K)
            H_ss += pt.n / 2 * (np.kron(M, K) + np.kron(K, M) - np.kron(K, K))
        Dm = duplication_matrix(p)
        ps = Dm.shape[1]
        A = np.zeros((p + ps, p + ps))
        A[:p, :p] = H_mm
        A[p:, :p] = Dm.T @ H_sm
        A[:p, p:] = A[p:, :p].T
        A[p:, p:] = Dm.T @ H_ss @ Dm
        return A

    def independence_loglik(self, fixed_x_idx=()) -> float:
        """Maximum of the independence model: available-case means and variances per item;
        fixed-x covariates (complete columns) keep their sample means and covariances, as in
        lavaan's baseline model with ``fixed.x``."""
        total = 0.0
        fx = [int(i) for i in fixed_x_idx]
        if fx:
            Xx = self.X[:, fx]
            d = Xx - Xx.mean(axis=0)
            _, ld = np.linalg.slogdet(d.T @ d / len(Xx))
            total += -len(Xx) / 2 * (len(fx) * LOG2PI + ld + len(fx))
        for j in range(self.p):
            if j in fx:
                continue
            x = self.X[~np.isnan(self.X[:, j]), j]
            v = x.var()
            total += -len(x) / 2 * (LOG2PI + math.log(v) + 1)
        return float(total)


class FIMLObjective:
    """log L(θ, ν), its gradient and expected information for a covariance structure.

    ``fixed_x_idx``: columns of exogenous observed covariates (lavaan's ``fixed.x``, complete
    by construction): their means are held at the sample means and are not in ν (their
    (co)variances are held by ``structure``).  The free means ν are those of the other
    variables; the model's intercepts follow from them (:func:`intercepts`).
    """

    def __init__(self, structure: CovarianceStructure, patterns: MissingPatterns,
                 fixed_x_idx=()):
        self.structure = structure
        self.patterns = patterns
        self.q = structure.q
        self.p = structure.p
        fx = sorted(int(i) for i in fixed_x_idx)
        self.fixed_x_idx = np.array(fx, dtype=int)
        self.mean_free = np.array([j for j in range(self.p) if j not in set(fx)], dtype=int)
        self.mean0 = np.zeros(self.p)
        if fx:
            self.mean0[fx] = patterns.X[:, fx].mean(axis=0)

    def split(self, z):
        return z[: self.q], z[self.q:]

    def mean(self, nu_free) -> np.ndarray:
        mu = self.mean0.copy()
        mu[self.mean_free] = nu_free
        return mu

    def loglik(self, z) -> float:
        x, nu = self.split(z)
        try:
            Sigma = self.structure.sigma(x)
        except EstimationError:
            return -np.inf
        return self.patterns.loglik(Sigma, self.mean(nu))

    def gradient(self, z, *, information: bool = False):
        x, nu_free = self.split(z)
        nu = self.mean(nu_free)
        Sigma, D = self.structure.jacobian(x)
        q, p = self.q, self.p
        g = np.zeros(q + p)
        info = np.zeros((q + p, q + p)) if information else None
        # tr(W_o ∂Σ_oo/∂θ_k) summed over patterns = <Σ_o n_o W_o (embedded in p × p), ∂Σ/∂θ_k>,
        # so the pattern terms are accumulated first and contracted with ∂Σ once
        M = np.zeros((p, p))
        for pt in self.patterns.patterns:
            o = pt.obs
            Soo = Sigma[np.ix_(o, o)]
            Si = np.linalg.inv(Soo)
            d = pt.mean - nu[o]
            T = pt.cov + np.outer(d, d)
            M[np.ix_(o, o)] += pt.n * (Si - Si @ T @ Si)
            g[q + o] += pt.n * (Si @ d)
            if information:
                Do = D[:, o][:, :, o]                   # q × p_o × p_o
                SD = np.matmul(Si, Do)                  # Σ_oo⁻¹ ∂Σ_oo/∂θ_k
                A = SD.reshape(q, -1)
                B = SD.transpose(0, 2, 1).reshape(q, -1)
                info[:q, :q] += pt.n / 2 * (A @ B.T)    # tr(Σ⁻¹∂_kΣ Σ⁻¹∂_lΣ)
                info[np.ix_(q + o, q + o)] += pt.n * Si
        g[:q] = -0.5 * np.einsum("ij,kji->k", M, D)
        keep = np.concatenate([np.arange(q), q + self.mean_free])
        g = g[keep]
        if information:
            info = info[np.ix_(keep, keep)]
        return (g, info) if information else g


@dataclass(frozen=True)
class FIMLSolution:
    """What a FIML fit found.

    Attributes
    ----------
    x : ndarray
        Free covariance-structure parameters (spec order).
    nu : ndarray
        Intercepts (means) of the observed variables.
    vcov : ndarray
        Covariance matrix of (x, nu) from the observed information (NaN if singular).
    loglik, loglik_h1, loglik_baseline : float
    mu_h1, sigma_h1 : ndarray
        EM estimates of the saturated means and covariances.
    converged, h1_converged : bool
    message : str
    """

    x: np.ndarray
    nu: np.ndarray
    vcov: np.ndarray
    vcov_ok: bool
    loglik: float
    loglik_h1: float
    loglik_baseline: float
    mu_h1: np.ndarray
    sigma_h1: np.ndarray
    converged: bool
    h1_converged: bool
    message: str
    iterations: int
    mu: np.ndarray | None = None        # the full model-implied mean vector
    fixed_x_idx: tuple = ()             # columns held at their sample moments (fixed.x)


def fiml_estimate(structure: CovarianceStructure, X: np.ndarray, x0: np.ndarray,
                  *, gtol: float = 1e-7, max_iter: int = 500,
                  patterns: MissingPatterns | None = None, em=None,
                  fixed_x_idx=()) -> FIMLSolution:
    """Maximise the FIML log-likelihood by Fisher scoring from start values ``x0``.

    Parameters
    ----------
    structure : CovarianceStructure
    X : ndarray (N, p)
        Data with NaN for missing answers (columns in ``structure.observed`` order).
    x0 : ndarray (q,)
        Start values of θ (e.g. the ML fit to the EM moments).
    gtol : float
        Convergence when the largest gradient element, divided by N, is below ``gtol``.
    patterns, em : optional
        The data's :class:`MissingPatterns` and the result of its ``em()``, if already made.
    fixed_x_idx : sequence of int
        Complete columns of exogenous covariates whose means (and, through ``structure``,
        (co)variances) are held at the sample values (lavaan's ``fixed.x``).

    The solution's ``nu`` holds the free means (all variables but the fixed-x ones).
    """
    pats = patterns if patterns is not None else MissingPatterns(X)
    mu_h1, sigma_h1, ll_h1, h1_ok, _ = em if em is not None else pats.em()
    obj = FIMLObjective(structure, pats, fixed_x_idx)
    n = pats.n
    z = np.concatenate([np.asarray(x0, dtype=float), mu_h1[obj.mean_free]])
    f = obj.loglik(z)
    if not np.isfinite(f):
        raise EstimationError("FIML: the start values give an impossible covariance matrix")
    converged = False
    msg = ""
    it = 0
    for it in range(1, max_iter + 1):
        g, info = obj.gradient(z, information=True)
        if np.max(np.abs(g)) / n < gtol:
            converged = True
            msg = "converged"
            break
        moved = damped_step(obj.loglik, z, info, g, lambda fn, f=f: fn >= f - 1e-12 * abs(f),
                            sign=1.0, t_min=1e-10)
        if moved is None:
            converged = np.max(np.abs(g)) / n < 1e-5
            msg = "line search failed" + ("" if converged else " far from the optimum")
            break
        z, f = moved
    else:
        msg = f"no convergence in {max_iter} Fisher-scoring steps"
    H = numerical_jacobian(obj.gradient, z, rel_step=1e-6)
    A = -(H + H.T) / 2
    vcov, ok = symmetric_inverse(A)
    x, nu = obj.split(z)
    return FIMLSolution(x=x.copy(), nu=nu.copy(), vcov=vcov, vcov_ok=ok, loglik=f,
                        loglik_h1=ll_h1,
                        loglik_baseline=pats.independence_loglik(obj.fixed_x_idx),
                        mu_h1=mu_h1, sigma_h1=sigma_h1, converged=converged,
                        h1_converged=h1_ok, message=msg, iterations=it,
                        mu=obj.mean(nu), fixed_x_idx=tuple(int(i) for i in obj.fixed_x_idx))


def fiml_fit_measures(sol: FIMLSolution, structure: CovarianceStructure, n: int,
                      patterns: MissingPatterns | None = None) -> dict:
    """lavaan's fit measures for a FIML solution (names as :mod:`semcluster.fitmeasures`), all
    but the robust ones (:func:`fiml_corrected`).

    The residual measures (RMR, SRMR, CRMR, Mplus' SRMR) use the EM moments as the "sample"
    moments, with the means, as lavaan does.  GFI (lavaan's ``lav_fit_gfi``) uses lavaan's
    ``WLS.obs`` for incomplete data instead: each item's available-case mean and the pairwise
    covariances (N − 1 divisor of each pair) times (N − 1)/N (checked against
    ``lavInspect(fit, "wls.obs")``), and weights the residuals of (means, vech Σ) by lavaan's
    h1 expected information for incomplete data at the model-implied moments: per
    missing-data pattern o, K_o = Σ̂_oo⁻¹ for the means and ½D'(K_o⊗K_o)D for the
    covariances, weighted by n_o/N; so rᵀWr = Σ_o n_o [d_oᵀK_o d_o + ½ tr(E_oo K_o E_oo K_o)]
    with d, E the mean and covariance residuals, and likewise sᵀWs.  Its moment count (AGFI,
    PGFI) is p + p*.
    """
    from ..fitmeasures import (chisq_measures, gfi_measures, likelihood_measures,
                               residual_measures)

    p = structure.p
    q = structure.q
    fx = list(sol.fixed_x_idx)
    nx = len(fx)
    npar = q + p - nx
    # with fixed.x the covariates' means and (co)variances are neither data nor parameters
    ndat = p * (p + 1) // 2 + p - nx * (nx + 1) // 2 - nx
    df = ndat - npar
    chisq = max(2 * (sol.loglik_h1 - sol.loglik), 0.0)
    chisq_b = 2 * (sol.loglik_h1 - sol.loglik_baseline)
    df_b = ndat - 2 * (p - nx)
    values = chisq_measures(chisq, df, chisq_b, df_b, n, npar)
    S, M = sol.sigma_h1, sol.mu_h1
    Sigma = structure.sigma(sol.x)
    mu = sol.mu if sol.mu is not None else sol.nu
    values.update(residual_measures(S, Sigma, M, mu))
    gfi = np.nan
    if patterns is not None and not fx:      # GFI with covariates is not checked: not given
        Mp = np.nanmean(patterns.X, axis=0)
        Sp = pd.DataFrame(patterns.X).cov().to_numpy() * (n - 1) / n
        num = den = 0.0
        for pt in patterns.patterns:
            o = pt.obs
            K = np.linalg.inv(Sigma[np.ix_(o, o)])
            d, m = Mp[o] - sol.nu[o], Mp[o]
            E, So = (Sp - Sigma)[np.ix_(o, o)] @ K, Sp[np.ix_(o, o)] @ K
            num += pt.n * (d @ K @ d + 0.5 * np.sum(E * E.T))
            den += pt.n * (m @ K @ m + 0.5 * np.sum(So * So.T))
        gfi = 1 - num / den
    values.update(gfi_measures(gfi, ndat, df))
    logl, logl_h1 = sol.loglik, sol.loglik_h1
    if fx:
        # lavaan reports the likelihood conditional on the covariates (as for ML): their own
        # saturated marginal log-likelihood is taken out of both
        Sx = S[np.ix_(fx, fx)]
        _, ldx = np.linalg.slogdet(Sx)
        lx = -n / 2 * (nx * LOG2PI + ldx + nx)
        logl -= lx
        logl_h1 -= lx
    values.update(npar=npar, ntotal=n, **likelihood_measures(logl, logl_h1, npar, n))
    return values


def h1_keep(p: int, fixed_x_idx=()) -> np.ndarray:
    """Mask over the saturated model's (μ, vech Σ) coordinates without the means and
    (co)variances of fixed-x covariates (lavaan leaves those out of the h1 information)."""
    from .mlr import x_vech_mask

    fx = np.zeros(p, dtype=bool)
    fx[list(fixed_x_idx)] = True
    return np.concatenate([~fx, x_vech_mask(p, fixed_x_idx)])


def h1_information(patterns: MissingPatterns, sol: FIMLSolution):
    """Observed and first-order information (whole sample) of the saturated model at its EM
    estimates, in (μ, vech Σ) coordinates: A₁ (analytic, :meth:`MissingPatterns.
    saturated_information`) and B₁ (sum of outer products of the casewise scores)."""
    S1 = patterns.casewise_scores(sol.sigma_h1, sol.mu_h1)
    return patterns.saturated_information(sol.sigma_h1, sol.mu_h1), S1.T @ S1


def fiml_corrected(structure: CovarianceStructure, patterns: MissingPatterns,
                   sol: FIMLSolution, h1, *, robust: bool) -> dict:
    """lavaan's robust CFI/TLI/RMSEA for incomplete data (``lav_fit_fiml_corrected``).

    FIML-corrected statistics of Zhang & Savalei (2020): the estimates are plugged into the
    complete-data ML discrepancy of the EM moments, T₃ = N·F_ML(S̃, m̃; Σ̂, ν̂), with scaling
    c₃ = tr(W_c W_m⁻¹ U W_m⁻¹)/df (version "V6", plain FIML) or
    c₃ = tr(U W_m⁻¹ W_c W_m⁻¹ U Γ)/df with Γ = W_m⁻¹ J_m W_m⁻¹ ("V3", robust FIML), where W_m
    and J_m are the observed and first-order information of the saturated incomplete-data model,
    W_c the complete-data information at the EM moments, U = W_m − W_mΔ(ΔᵀW_mΔ)⁻¹ΔᵀW_m.  The
    baseline model is treated alike.
    """
    from ._scaled import robust_measures
    from ._structure import vech_indices
    from .mlr import _h1_expected_information

    p, q, n = structure.p, structure.q, patterns.n
    r, c = vech_indices(p)
    pstar = len(r)
    fx = list(sol.fixed_x_idx)
    nx = len(fx)
    ys = np.array([j for j in range(p) if j not in set(fx)], dtype=int)
    py = len(ys)
    keep = h1_keep(p, fx)
    df = pstar - nx * (nx + 1) // 2 - q
    if not sol.vcov_ok or df <= 0:
        return robust_measures(np.nan, df, np.nan, pstar - p, n, c=np.nan, c_null=np.nan,
                               X2_scaled=np.nan, c_ci=np.nan)
    S_t, m_t = sol.sigma_h1, sol.mu_h1
    _, ld_t = np.linalg.slogdet(S_t)

    def discrepancy(Sg, mu):
        d = m_t - mu
        _, ld = np.linalg.slogdet(Sg)
        return n * (ld + np.trace(np.linalg.solve(Sg, S_t)) - ld_t - p + d @ np.linalg.solve(Sg, d))

    Sigma, Dl = structure.jacobian_vech(sol.x)
    X3 = discrepancy(Sigma, sol.mu if sol.mu is not None else sol.nu)
    m_b, v_b = np.nanmean(patterns.X, axis=0), np.nanvar(patterns.X, axis=0)
    Sb = np.diag(v_b)
    if fx:
        Sb[np.ix_(fx, fx)] = S_t[np.ix_(fx, fx)]
    X3_null = discrepancy(Sb, m_b)
    df_null = pstar - nx * (nx + 1) // 2 - py
    A1, B1 = h1
    Wm, Jm = A1 / n, B1 / n
    Wc = np.zeros_like(Wm)
    Wc[:p, :p] = np.linalg.inv(S_t)
    Wc[p:, p:] = _h1_expected_information(S_t)
    Delta = np.zeros((p + pstar, q + py))
    Delta[p:, :q] = Dl
    Delta[ys, q + np.arange(py)] = 1.0
    DB = np.zeros((p + pstar, 2 * py))
    DB[ys, np.arange(py)] = 1.0
    diag_pos = {i: k for k, (i, j) in enumerate(zip(r, c)) if i == j}
    DB[p + np.array([diag_pos[j] for j in ys], dtype=int), py + np.arange(py)] = 1.0
    # fixed-x covariates: their moments are not part of the saturated model
    kk = np.ix_(keep, keep)
    Wm, Jm, Wc = Wm[kk], Jm[kk], Wc[kk]
    Delta, DB = Delta[keep], DB[keep]
    Wmi = np.linalg.inv(Wm)

    def k(D):
        U = Wm - Wm @ D @ np.linalg.solve(D.T @ Wm @ D, D.T @ Wm)
        if robust:
            G = Wmi @ Jm @ Wmi
            return float(np.trace(U @ Wmi @ Wc @ Wmi @ U @ G))
        return float(np.trace(Wc @ Wmi @ U @ Wmi))

    c3, c3_null = k(Delta) / df, k(DB) / df_null
    return robust_measures(X3, df, X3_null, df_null, n, c=c3, c_null=c3_null, X2_scaled=X3 / c3,
                           c_ci=c3)


def robust_fiml(structure: CovarianceStructure, patterns: MissingPatterns,
                sol: FIMLSolution, h1=None):
    """Huber-White covariance of (θ, ν) and Yuan-Bentler scaling factors for a FIML solution.

    lavaan's ``estimator = "MLR", missing = "ml"``: V = A⁻¹BA⁻¹ with A the observed information
    (``sol.vcov`` is A⁻¹) and B the sum of outer products of the casewise FIML scores
    (``h1``: the result of :func:`h1_information`, if already computed);
    c = [tr(A₁⁻¹B₁) − tr(A⁻¹B)]/df with A₁, B₁ the observed and first-order information of the
    saturated model at its EM estimates (Yuan & Bentler 2000, Mplus variant).  The baseline
    (independence) model gets the same treatment.

    Returns
    -------
    RobustML
        (``vcov`` over θ then ν).
    """
    from ._structure import vech_indices
    from .mlr import RobustML

    p, q = structure.p, structure.q
    r, c = vech_indices(p)
    pstar = len(r)
    fx = list(sol.fixed_x_idx)
    nx = len(fx)
    ys = np.array([j for j in range(p) if j not in set(fx)], dtype=int)
    df = pstar + p - nx * (nx + 1) // 2 - nx - (q + len(ys))
    A1, B1 = h1_information(patterns, sol) if h1 is None else h1
    keep = h1_keep(p, fx)
    kk = np.ix_(keep, keep)
    tr_h1 = float(np.trace(np.linalg.solve(A1[kk], B1[kk])))
    # h0: the model
    Sigma, Delta = structure.jacobian_vech(sol.x)
    S0 = patterns.casewise_scores(Sigma, sol.mu if sol.mu is not None else sol.nu)
    scores = np.hstack([S0[:, p:] @ Delta, S0[:, ys]])          # (θ, ν) order
    B0 = scores.T @ scores
    ok = sol.vcov_ok
    if ok:
        vcov = sol.vcov @ B0 @ sol.vcov
        trace = tr_h1 - float(np.trace(sol.vcov @ B0))
        c_model = trace / df if df > 0 else np.nan
    else:
        vcov = np.full(sol.vcov.shape, np.nan)
        trace = c_model = np.nan
    # baseline: free means m_j and variances v_j (available-case estimates)
    X = patterns.X[:, ys]
    m = np.nanmean(X, axis=0)
    v = np.nanvar(X, axis=0)
    obs = ~np.isnan(X)
    dev = np.where(obs, X - m, 0.0)
    sb = np.hstack([dev / v, np.where(obs, (dev ** 2 / v ** 2 - 1 / v) / 2, 0.0)])
    nj = obs.sum(axis=0)
    Eb_inv = np.diag(np.concatenate([v / nj, 2 * v ** 2 / nj]))
    df_b = pstar + p - nx * (nx + 1) // 2 - nx - 2 * len(ys)
    c_b = (tr_h1 - float(np.trace(Eb_inv @ (sb.T @ sb)))) / df_b if df_b > 0 else np.nan
    return RobustML(vcov=vcov, vcov_ok=bool(ok and np.all(np.isfinite(vcov))),
                    scaling_factor=float(c_model), baseline_scaling_factor=float(c_b),
                    trace_ugamma=float(trace), observed_information=np.linalg.pinv(sol.vcov)
                    if ok else np.full(sol.vcov.shape, np.nan), trace_h1=tr_h1)


def fit(spec, X: pd.DataFrame, *, report=None, max_iter: int = 500, robust: bool = False):
    """Fit a model by FIML to data with missing answers.

    Parameters
    ----------
    spec : ModelSpec
    X : DataFrame
        The model's observed variables, ``NaN`` for missing answers (as
        :func:`semcluster.data.prepare_data` returns with ``missing="fiml"``).
    report : DataReport, optional
    max_iter : int
        Fisher-scoring steps before giving up (the result is then flagged as not converged).
    robust : bool
        Robust FIML (lavaan's ``estimator = "MLR", missing = "ml"``): Huber-White standard
        errors and the Yuan-Bentler scaled test, for non-normal answers with missing values.

    Returns
    -------
    SEMResult
        ``estimator == "ML"`` with ``info["missing"] == "fiml"``; the estimates table has
        intercept rows (``op == "~1"``) as lavaan's with ``missing = "ml"``; ``sample_cov`` is the
        EM estimate of the saturated covariance matrix.
    """
    from ..engine import MLEngine
    from ..solution import Z975, assemble_result
    from .identification import check_identification, flag_unidentified

    ident = check_identification(spec)
    X = X[spec.observed]
    fixed_x = list(spec.fixed_x)
    fx_idx = [spec.observed.index(v) for v in fixed_x]
    dropped_x = 0
    if fixed_x:
        # lavaan (0.6, fixed.x = TRUE, conditional.x = FALSE) deletes the rows with a missing
        # covariate and holds the covariates' means and (co)variances at the sample values
        # of the remaining rows
        keep_rows = X[fixed_x].notna().all(axis=1)
        dropped_x = int((~keep_rows).sum())
        X = X[keep_rows]
        if len(X) <= len(spec.observed):
            raise EstimationError(f"FIML: only {len(X)} rows have every exogenous covariate "
                                  f"({', '.join(fixed_x)}) answered")
    n, p = X.shape
    arr = X.to_numpy(dtype=float)
    fx_cov = None
    if fixed_x:
        xa = arr[:, fx_idx]
        xa = xa - xa.mean(axis=0)
        fx_cov = pd.DataFrame(xa.T @ xa / n, index=fixed_x, columns=fixed_x)
    structure = CovarianceStructure(spec, fixed_x_cov=fx_cov)
    pats = MissingPatterns(arr)
    em = pats.em()
    mu_h1, sigma_h1, _, h1_ok, _ = em
    ev = np.linalg.eigvalsh(sigma_h1) if np.all(np.isfinite(sigma_h1)) else np.array([np.nan])
    if not np.all(np.isfinite(ev)) or ev.min() <= 1e-10 * max(ev.max(), 1e-300):
        raise EstimationError(
            "FIML: the saturated (EM) covariance matrix of the items is singular: too few rows, "
            "or items answered together too rarely, or an item that is a linear combination "
            "of others; the model cannot be fitted to these data")
    S_h1 = pd.DataFrame(sigma_h1, index=spec.observed, columns=spec.observed)
    engine = MLEngine(spec)
    complete = X.dropna()
    engine.load(S_h1, n, complete if len(complete) > p else None)
    start = engine.fit()
    sol = fiml_estimate(structure, arr, start.x, max_iter=max_iter, patterns=pats, em=em,
                        fixed_x_idx=fx_idx)
    rob = None
    h1 = h1_information(pats, sol)
    corrected = fiml_corrected(structure, pats, sol, h1, robust=robust)
    if robust:
        rob = robust_fiml(structure, pats, sol, h1)
        sol = dataclasses.replace(sol, vcov=rob.vcov, vcov_ok=rob.vcov_ok)
    q = structure.q
    vx = sol.vcov[:q, :q]
    res = assemble_result(spec, engine, sol.x, S_h1, n, converged=sol.converged,
                          message=sol.message, report=report,
                          estimator="MLR" if robust else "ML", vcov=vx, vcov_ok=sol.vcov_ok)
    from ..fitmeasures import in_lavaan_order

    values = fiml_fit_measures(sol, structure, n, pats)
    if rob is not None:
        from .mlr import yuan_bentler_measures

        values.update(yuan_bentler_measures(values, rob, n, n_moments=p * (p + 1) // 2 + p,
                                            robust=False))
    values.update(corrected)
    fm = in_lavaan_order(values, scaled=rob is not None, robust=True,
                         yuan_bentler=rob is not None)

    # intercept rows, as lavaan lists them (after the model rows, before defined parameters).
    # The fit's free means are the model-implied means μ_y of the non-covariate variables; the
    # intercepts ν follow from μ = F(I − A)⁻¹u (u: ν, the covariates' sample means, latent
    # intercepts 0): ν_y = B_yy⁻¹(μ_y − B_yx μ_x) with B = (I − A)⁻¹ on the observed rows.
    ys = [j for j in range(p) if j not in set(fx_idx)]
    y_names = [spec.observed[j] for j in ys]
    oy = structure.obs_ix[ys]
    ox = structure.obs_ix[fx_idx]
    mu_x = sol.mu[fx_idx] if fx_idx else np.zeros(0)

    def intercepts(zz):
        B = structure.matrices(zz[:q])[2]
        rhs = zz[q:] - B[np.ix_(oy, ox)] @ mu_x
        return np.linalg.solve(B[np.ix_(oy, oy)], rhs)

    def std_nu(zz):
        return intercepts(zz) / np.sqrt(np.diag(structure.sigma(zz[:q]))[ys])

    z_hat = np.concatenate([sol.x, sol.nu])
    nu = intercepts(z_hat)
    sd = np.sqrt(np.diag(structure.sigma(sol.x)))[ys]
    if sol.vcov_ok:
        J = numerical_jacobian(intercepts, z_hat, rel_step=1e-6)
        se_nu = np.sqrt(np.clip(np.einsum("ij,jk,ik->i", J, sol.vcov, J), 0, None))
        J = numerical_jacobian(std_nu, z_hat, rel_step=1e-6)
        se_std = np.sqrt(np.clip(np.einsum("ij,jk,ik->i", J, sol.vcov, J), 0, None))
    else:
        se_nu = se_std = np.full(len(ys), np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = nu / se_nu
    pval = 2 * stats.norm.sf(np.abs(z))
    ints = pd.DataFrame({"lhs": y_names, "op": "~1", "rhs": "", "label": "",
                         "est": nu, "se": se_nu, "z": z, "pvalue": pval,
                         "ci_lower": nu - Z975 * se_nu, "ci_upper": nu + Z975 * se_nu,
                         "std_lv": nu, "std_all": nu / sd, "se_std_all": se_std,
                         "free": np.arange(q + 1, q + len(ys) + 1)})
    # latent means are fixed at zero; lavaan lists them
    lat = list(spec.latent)
    zeros = np.zeros(len(lat))
    lat_ints = pd.DataFrame({"lhs": lat, "op": "~1", "rhs": "", "label": "", "est": zeros,
                             "se": zeros, "z": np.nan, "pvalue": np.nan, "ci_lower": zeros,
                             "ci_upper": zeros, "std_lv": zeros, "std_all": zeros,
                             "se_std_all": zeros, "free": 0})
    est = res.estimates
    is_def = est.op == ":="
    table = pd.concat([est[~is_def], ints, lat_ints, est[is_def]], ignore_index=True)
    names = list(res.vcov.index) + [f"{v}~1" for v in y_names]
    vcov_df = pd.DataFrame(sol.vcov, index=names, columns=names)

    warnings_ = list(res.warnings)
    if dropped_x:
        warnings_.append(f"{dropped_x} row(s) deleted because of missing values in the "
                         f"exogenous covariate(s) {', '.join(fixed_x)}: their (co)variances "
                         f"and means are held at the sample values of the other rows "
                         f"(lavaan's fixed.x = TRUE does the same)")
    if not h1_ok:
        warnings_.append("the EM algorithm for the saturated model did not converge; the "
                         "chi-square test and fit indices are approximate")
    info = {**dict(res.info), "missing": "fiml", "x": sol.x.copy(), "nu": nu.copy(),
            "optimizer": sol.message, "iterations": sol.iterations,
            "mean_h1": pd.Series(sol.mu_h1, index=spec.observed)}
    return flag_unidentified(dataclasses.replace(res, estimates=table, fit_measures=fm,
                                                 vcov=vcov_df, warnings=tuple(warnings_),
                                                 info=info), ident)


def fit_robust(spec, X: pd.DataFrame, *, report=None):
    """FIML with robust (Huber-White) SEs and the Yuan-Bentler scaled test: lavaan's
    ``estimator = "MLR", missing = "ml"`` (the registry's MLR entry for missing='fiml')."""
    return fit(spec, X, report=report, robust=True)
