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

* Computation: per pattern, not per row, and all patterns at once (:class:`MissingPatterns`):
  Σ_oo⁻¹ is swept out of Σ⁻¹ one missing item at a time over the stacked patterns, sums over
  patterns are matrix products, and the θ-derivatives are contracted with ∂Σ/∂θ once
  (:class:`FIMLObjective`).
* Optimizer: Newton steps on the analytic observed information (Fisher scoring where it is
  indefinite), step halving, no bounds, from the ML fit to the EM moments; where that path
  runs along a ridge, again from the simple start values (as lavaan's nlminb starts), see
  :func:`fiml_estimate`.
* Standard errors: inverse of the observed information (analytic), lavaan's default for
  ``missing = "ml"``.
* Test: χ² = 2[log L(h1) − log L(h0)], h1 the saturated model fitted by EM (Dempster, Laird &
  Rubin 1977; Little & Rubin 2002, ch. 11).  Baseline: independence model with free means and
  variances, whose FIML estimates are each item's available-case mean and variance.

semopy's own ``Model.fit(obj="FIML")`` is not used: it is wrong even on complete data
(shared/semopy-notes.md).  Checked against lavaan 0.6.14 ``missing = "ml"`` in
tests/test_estimators_fiml.py.
"""
from __future__ import annotations

import dataclasses
import functools
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..errors import EstimationError
from ..numerics import n_moments
from ._structure import CovarianceStructure, damped_step, invert_information

LOG2PI = math.log(2 * math.pi)


@dataclass
class Pattern:
    obs: np.ndarray        # indices of the answered items
    n: int
    mean: np.ndarray       # x̄_o
    cov: np.ndarray        # S_o (N-divisor, about x̄_o)
    rows: np.ndarray       # the rows' data on the answered items (n × p_o)


@dataclass
class PatternMoments:
    """What one pass over the patterns gives at (Σ, μ), every pattern's matrices embedded in
    p × p (zeros in the rows and columns of its missing items).

    K[o] = Σ_oo⁻¹, d[o] = x̄_o − μ_o, T[o] = S_o + d dᵀ, M[o] = K T K; summed with weights n_o:
    ``Kbar`` = Σ n_o K_o, ``G`` = Σ n_o (K_o − M_o) (so ∂ log L/∂Σ_ij = −½ G_ij, ∂Σ symmetric),
    ``g_mu`` = Σ n_o K_o d_o (= ∂ log L/∂μ) and ``loglik``.
    """

    loglik: float
    K: np.ndarray
    d: np.ndarray
    Kd: np.ndarray
    M: np.ndarray | None
    Kbar: np.ndarray
    G: np.ndarray | None
    g_mu: np.ndarray


def _vech_pos(p: int) -> np.ndarray:
    """pos[i, j]: the position of cell (i, j) of a symmetric p × p matrix among its
    non-duplicated cells (upper triangle, row by row)."""
    r, c = np.triu_indices(p)
    pos = np.zeros((p, p), dtype=int)
    pos[r, c] = np.arange(len(r))
    pos[c, r] = pos[r, c]
    return pos


@functools.lru_cache(maxsize=8)
def _contract_index(p: int) -> np.ndarray:
    """Flat indices into a p* × p* matrix X over non-duplicated cells giving the p² × p² matrix
    with row (i, b), column (j, a) = X[pos(i, j), pos(a, b)]."""
    pos = _vech_pos(p)
    ps = int(pos.max()) + 1
    i, b, j, a = np.meshgrid(*(np.arange(p),) * 4, indexing="ij")
    return (pos[i, j] * ps + pos[a, b]).reshape(p * p, p * p)


@functools.lru_cache(maxsize=8)
def _duplicate_sum_index(p: int):
    """For D'(A⊗B)D from the vech outer sum X of A and B: four (rows, columns, keep) gathers,
    one per pair of duplicates ((i,j) or (j,i)) × ((k,l) or (l,k)) of the vech cells (i,j),
    (k,l); ``keep`` drops the second duplicate of a diagonal cell."""
    pos = _vech_pos(p)
    r, c = np.triu_indices(p)
    out = []
    for (a1, b1, ka) in ((r, c, np.ones(len(r), bool)), (c, r, r != c)):
        for (a2, b2, kb) in ((r, c, np.ones(len(r), bool)), (c, r, r != c)):
            rows = pos[a1[:, None], a2[None, :]]      # (a, c)
            cols = pos[b1[:, None], b2[None, :]]      # (b, d)
            out.append((rows, cols, ka[:, None] & kb[None, :]))
    return tuple(out)


def _vech_outer_sum(A: np.ndarray, B: np.ndarray, w: np.ndarray, p: int,
                    expand: bool = True) -> np.ndarray:
    """X[i, j, a, b] = Σ_o w_o A_o[i, j] B_o[a, b] for stacks of symmetric p × p matrices, as one
    matrix product over the non-duplicated cells; expanded to (p, p, p, p) unless ``expand`` is
    false (then the p* × p* matrix over the non-duplicated cells)."""
    r, c = np.triu_indices(p)
    Xv = A[:, r, c].T @ (B[:, r, c] * w[:, None])
    if not expand:
        return Xv
    pos = _vech_pos(p)
    return Xv[pos[:, :, None, None], pos[None, None, :, :]]


class MissingPatterns:
    """Rows of a data matrix grouped by which items are answered.

    Every quantity is computed per pattern, not per row, from the pattern's mean and
    cross-products, and all patterns at once: patterns with the same number of answered items
    are stacked and factored together (batched Cholesky), and their inverses are embedded in
    p × p so that sums over patterns are matrix products.

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
        p = self.p
        keys, inverse = np.unique(mask, axis=0, return_inverse=True)
        inverse = inverse.ravel()
        self.patterns: list[Pattern] = []
        by_pattern = np.argsort(inverse, kind="stable")
        ends = np.cumsum(np.bincount(inverse, minlength=len(keys)))
        for k, key in enumerate(keys):
            obs = np.flatnonzero(key)
            rows = X[by_pattern[ends[k - 1] if k else 0:ends[k]]][:, obs]
            m = rows.mean(axis=0)
            d = rows - m
            self.patterns.append(Pattern(obs=obs, n=rows.shape[0], mean=m,
                                         cov=d.T @ d / rows.shape[0], rows=rows))
        self.X = X
        self.mask = mask
        self.row_pattern = inverse
        # stacked, embedded pattern statistics
        P = len(keys)
        self.obs_mask = keys.astype(bool)
        self.counts = np.array([pt.n for pt in self.patterns], dtype=float)
        self.n_obs = self.obs_mask.sum(axis=1)
        self.means = np.zeros((P, p))
        self.covs = np.zeros((P, p, p))
        for k, pt in enumerate(self.patterns):
            self.means[k, pt.obs] = pt.mean
            self.covs[k][np.ix_(pt.obs, pt.obs)] = pt.cov
        # groups of patterns with the same number of answered items: flat indices to gather
        # Σ_oo from Σ and to scatter Σ_oo⁻¹ into the stack of embedded p × p matrices
        self._groups = []
        for po in np.unique(self.n_obs):
            idx = np.flatnonzero(self.n_obs == po)
            obs = np.array([self.patterns[k].obs for k in idx])          # (n_g, p_o)
            mis = np.array([np.flatnonzero(~self.obs_mask[k]) for k in idx], dtype=int)
            gather = obs[:, :, None] * p + obs[:, None, :]
            scatter = idx[:, None, None] * (p * p) + gather
            self._groups.append((idx, int(po), gather, scatter, mis.reshape(len(idx), -1)))
        self._outer_mask = (self.obs_mask[:, :, None] & self.obs_mask[:, None, :]).astype(float)
        # the patterns with missing items, most missing first, for the sweep of _inverses:
        # step t works on the first _sweep_active[t] of them (a view, no copy)
        k_mis = p - self.n_obs
        order = np.argsort(-k_mis, kind="stable")
        order = order[k_mis[order] > 0]
        kmax = int(k_mis.max()) if len(order) else 0
        self._sweep_order = order
        self._sweep_mis = np.zeros((len(order), kmax), dtype=int)
        for r, k in enumerate(order):
            m = np.flatnonzero(~self.obs_mask[k])
            self._sweep_mis[r, :len(m)] = m
        self._sweep_active = [int(np.sum(k_mis[order] > t)) for t in range(kmax)]
        self._complete = np.flatnonzero(k_mis == 0)
        self._const = float(self.counts @ self.n_obs) * LOG2PI

    # -- one pass over the patterns -----------------------------------------------------------
    def _inverses(self, Sigma: np.ndarray):
        """Embedded Σ_oo⁻¹ of every pattern (P × p × p) and log|Σ_oo|; None if one of the Σ_oo
        is not positive definite.

        From K = Σ⁻¹ by the partitioned inverse, Σ_oo⁻¹ = K_oo − K_om K_mm⁻¹ K_mo and
        |Σ_oo| = |Σ| |K_mm|: one p × p inverse, then per pattern one rank-one downdate per
        missing item, batched. Where Σ itself is not positive definite (possible when
        no row is complete), every Σ_oo is factored directly.
        """
        Sigma = np.asarray(Sigma, dtype=float)
        # the last result is kept: a Newton step evaluates log L at the point it accepts, then
        # needs the same inverses again for the derivatives there
        last = getattr(self, "_last_inverses", None)
        if last is not None and np.array_equal(last[0], Sigma):
            return last[1], last[2]
        K, logdet = self._inverses_of(Sigma)
        if K is not None:
            K.setflags(write=False)
            logdet.setflags(write=False)
        self._last_inverses = (Sigma.copy(), K, logdet)
        return K, logdet

    def _inverses_of(self, Sigma: np.ndarray):
        try:
            L = np.linalg.cholesky(Sigma)
        except np.linalg.LinAlgError:
            return self._inverses_direct(Sigma)
        dL = np.diag(L)
        if not np.all(dL > 0):
            return self._inverses_direct(Sigma)
        Li = np.linalg.inv(L)
        K = Li.T @ Li
        logdet_full = 2.0 * float(np.sum(np.log(dL)))
        P, p = len(self.patterns), self.p
        out = np.empty((P, p, p))
        logdet = np.empty(P)
        out[self._complete] = K
        logdet[self._complete] = logdet_full
        order = self._sweep_order
        if len(order):
            # sweep the missing items out one by one (rank-one downdates of K; the pivots
            # multiply to |K_mm|), all patterns at once: step t on those with > t missing items
            Kg = np.broadcast_to(K, (len(order), p, p)).copy()
            ld = np.full(len(order), logdet_full)
            for t, m_t in enumerate(self._sweep_active):
                Kv = Kg[:m_t]
                rows = np.arange(m_t)
                j = self._sweep_mis[:m_t, t]
                col = Kv[rows, :, j]                                 # (m_t, p)
                piv = col[rows, j]
                if not np.all(piv > 0):
                    return self._inverses_direct(Sigma)
                ld[:m_t] += np.log(piv)
                Kv -= col[:, :, None] * (col / piv[:, None])[:, None, :]
            out[order] = Kg * self._outer_mask[order]
            logdet[order] = ld
        return out, logdet

    def _inverses_direct(self, Sigma: np.ndarray):
        """As :meth:`_inverses`, factoring every Σ_oo (batched by size)."""
        p = self.p
        P = len(self.patterns)
        K = np.zeros(P * p * p)
        logdet = np.empty(P)
        flat = np.asarray(Sigma, dtype=float).reshape(-1)
        for idx, po, gather, scatter, _ in self._groups:
            S = flat[gather]
            try:
                L = np.linalg.cholesky(S)
            except np.linalg.LinAlgError:
                return None, None
            diag = np.diagonal(L, axis1=1, axis2=2)
            if not np.all(diag > 0):
                return None, None
            logdet[idx] = 2.0 * np.sum(np.log(diag), axis=1)
            Li = np.linalg.inv(L)
            K[scatter] = np.matmul(Li.transpose(0, 2, 1), Li)
        return K.reshape(P, p, p), logdet

    def moments(self, Sigma: np.ndarray, mu: np.ndarray, *, second: bool = True):
        """The :class:`PatternMoments` at (Σ, μ), or None where some Σ_oo is not positive
        definite. ``second=False`` leaves out M and G (log-likelihood and ∂/∂μ only)."""
        K, logdet = self._inverses(Sigma)
        if K is None:
            return None
        n = self.counts
        d = (self.means - mu) * self.obs_mask
        Kd = np.einsum("oij,oj->oi", K, d)
        quad = np.einsum("oij,oij->o", K, self.covs) + np.einsum("oi,oi->o", d, Kd)
        ll = -0.5 * (self._const + float(n @ (logdet + quad)))
        Kbar = np.tensordot(n, K, axes=1)
        g_mu = n @ Kd
        M = G = None
        if second:
            M = np.matmul(np.matmul(K, self.covs), K) + Kd[:, :, None] * Kd[:, None, :]
            G = Kbar - np.tensordot(n, M, axes=1)
        return PatternMoments(loglik=ll, K=K, d=d, Kd=Kd, M=M, Kbar=Kbar, G=G, g_mu=g_mu)

    # -- log-likelihood of given moments ------------------------------------------------------
    def loglik(self, Sigma: np.ndarray, mu: np.ndarray) -> float:
        mo = self.moments(Sigma, mu, second=False)
        return -np.inf if mo is None else float(mo.loglik)

    def casewise_loglik(self, Sigma: np.ndarray, mu: np.ndarray) -> np.ndarray:
        K, logdet = self._inverses(Sigma)
        if K is None:
            raise EstimationError("FIML: a pattern's covariance matrix is not positive definite")
        w = self.row_pattern
        xs = np.where(self.mask, self.X - mu, 0.0)
        q = np.einsum("ni,nij,nj->n", xs, K[w], xs)
        return -0.5 * (self.n_obs[w] * LOG2PI + logdet[w] + q)

    def _row_index(self):
        return [np.flatnonzero(self.row_pattern == i) for i in range(len(self.patterns))]

    # -- saturated model (EM) -----------------------------------------------------------------
    def em(self, *, tol: float = 1e-11, max_iter: int = 20000, start=None):
        """EM estimates of the mean vector and covariance matrix (the h1 model).

        ``start``: (μ, Σ) to start from (e.g. moments known to be close, as a Bollen–Stine
        replicate's model-implied ones); by default the available-case means and variances.

        One EM step from (μ, Σ), written with the pattern sums of :meth:`moments` (the E-step's
        conditional means Σ K_o (x − μ) and covariances Σ − Σ K_o Σ, summed over rows):
        μ' = μ + Σ g_μ/N and Σ' = Σ − Σ G Σ/N − (Σ g_μ/N)(Σ g_μ/N)ᵀ.

        Returns
        -------
        mu, Sigma, loglik, converged, iterations
        """
        X = self.X
        if start is not None:
            mu = np.array(start[0], dtype=float)
            Sigma = np.array(start[1], dtype=float)
        else:
            mu = np.nanmean(X, axis=0)
            Sigma = np.diag(np.nanvar(X, axis=0))
            Sigma[~np.isfinite(Sigma)] = 1.0
        ll_old = -np.inf
        converged = False
        it = 0
        N = self.n
        # the log-likelihood of each new point comes with the next step's pattern moments (one
        # pass over the patterns per step); the stopping rule compares successive values
        mo = self.moments(Sigma, mu)
        for it in range(1, max_iter + 1):
            if mo is None:
                break
            e = Sigma @ mo.g_mu / N
            mu_new = mu + e
            Sigma_new = Sigma - Sigma @ mo.G @ Sigma / N - np.outer(e, e)
            Sigma_new = (Sigma_new + Sigma_new.T) / 2
            delta = max(np.max(np.abs(mu_new - mu)), np.max(np.abs(Sigma_new - Sigma)))
            mu, Sigma = mu_new, Sigma_new
            mo = self.moments(Sigma, mu)
            ll = -np.inf if mo is None else float(mo.loglik)
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
        K, _ = self._inverses(Sigma)
        if K is None:
            raise EstimationError("FIML: a pattern's covariance matrix is not positive definite")
        w = self.row_pattern
        xs = np.where(self.mask, self.X - mu, 0.0)
        U = np.einsum("nij,nj->ni", K[w], xs)          # rows K d_i, embedded
        out = np.empty((self.n, p + len(r)))
        out[:, :p] = U
        out[:, p:] = half[None, :] * (U[:, r] * U[:, c] - K[:, r, c][w])
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
        mo = self.moments(Sigma, mu)
        return np.concatenate([mo.g_mu, np.where(r == c, 0.5, 1.0) * -mo.G[r, c]])

    def saturated_information(self, Sigma: np.ndarray, mu: np.ndarray) -> np.ndarray:
        """Observed information (−Hessian of log L, whole sample) of the saturated model at
        (μ, Σ), in (μ, vech Σ) coordinates.

        Per pattern, with K = Σ_oo⁻¹, d = x̄_o − μ_o, T = S_o + ddᵀ and M = KTK, in vec
        coordinates: −∂²/∂μ∂μᵀ = n K, −∂²/∂vecΣ∂μᵀ = n (Kd ⊗ K),
        −∂²/∂vecΣ∂vecΣᵀ = n/2 (M⊗K + K⊗M − K⊗K); padded with zeros to the full p items,
        summed over patterns (as matrix products over the stacked patterns) and mapped to
        vech Σ by the duplication matrix.
        """
        p = self.p
        mo = self.moments(Sigma, mu)
        n = self.counts
        K, M = mo.K, mo.M
        H_mm = mo.Kbar
        H_sm = ((mo.Kd * n[:, None]).T @ K.reshape(len(n), -1)).reshape(p * p, p)
        # Σ n (M − K/2) ⊗ K + Σ n K ⊗ (M − K/2), halved, taken straight to vech coordinates:
        # D'(A⊗B)D at vech cells (i,j), (k,l) sums A_ac B_bd over the cells' duplicates (a,b),
        # (c,d), i.e. the vech outer sum X = Σ n vech(A) vech(B)' at (pos(a,c), pos(b,d))
        Xv = _vech_outer_sum(M - K / 2, K, n, p, expand=False)
        H_ss = sum(np.where(keep, Xv[a, b] + Xv[b, a], 0.0)
                   for a, b, keep in _duplicate_sum_index(p)) / 2
        r, c = np.triu_indices(p)
        ps = len(r)
        A = np.zeros((p + ps, p + ps))
        A[:p, :p] = H_mm
        A[p:, :p] = H_sm[r * p + c] + np.where((r != c)[:, None], H_sm[c * p + r], 0.0)   # D'
        A[:p, p:] = A[p:, :p].T
        A[p:, p:] = H_ss
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
    """log L(θ, ν), its gradient, expected and observed information for a covariance structure.

    With G = Σ_o n_o (K_o − M_o) (:class:`PatternMoments`) the θ-gradient is −½⟨G, ∂Σ/∂θ_k⟩,
    taken cell by cell from the model core's U, V (∂Σ_cell = w(u vᵀ + v uᵀ)), so it costs one
    pass over the patterns whatever q. The information matrices need the pattern sums
    X_KK = Σ n_o K_o ⊗ K_o and X_KM = Σ n_o K_o ⊗ M_o, each one matrix product over the stacked
    patterns, contracted with ∂Σ/∂θ:

    * expected: ½ tr-sums Σ_o n_o tr(K_o ∂_kΣ K_o ∂_lΣ) (θθ), Σ_o n_o K_o (νν);
    * observed (−Hessian): Σ_o n_o [tr(K_o ∂_lΣ M_o ∂_kΣ) − ½ tr(K_o ∂_lΣ K_o ∂_kΣ)]
      + ½⟨G, ∂²Σ/∂θ_k∂θ_l⟩ (θθ), Σ_o n_o K_o ∂_kΣ K_o d_o (νθ), Σ_o n_o K_o (νν).

    ∂²Σ/∂θ_k∂θ_l enters only through ⟨G, ·⟩ for a fixed G, whose Hessian is a handful of
    RAM-matrix products (:meth:`_g_theta_hessian`).

    ``fixed_x_idx``: columns of exogenous observed covariates (lavaan's ``fixed.x``, complete
    by construction): their means are held at the sample means and are not in ν (their
    (co)variances are held by ``structure``). The free means ν are those of the other
    variables; the gradient and information are those of the full (θ, μ) restricted to the
    free coordinates (the held means are constants).
    """

    def __init__(self, structure: CovarianceStructure, patterns: MissingPatterns,
                 fixed_x_idx=()):
        self.structure = structure
        self.patterns = patterns
        self.q = structure.q
        self.p = structure.p
        self.evaluations = 0
        fx = sorted(int(i) for i in fixed_x_idx)
        self.fixed_x_idx = np.array(fx, dtype=int)
        self.mean_free = np.array([j for j in range(self.p) if j not in set(fx)], dtype=int)
        self.mean0 = np.zeros(self.p)
        if fx:
            self.mean0[fx] = patterns.X[:, fx].mean(axis=0)
        self._keep = np.concatenate([np.arange(self.q), self.q + self.mean_free])
        self._all = len(fx) == 0

    def split(self, z):
        return z[: self.q], z[self.q:]

    def mean(self, nu_free) -> np.ndarray:
        """The full mean vector: the free means ν, the covariates' sample means."""
        if self._all:
            return nu_free
        mu = self.mean0.copy()
        mu[self.mean_free] = nu_free
        return mu

    def _free(self, g=None, H=None):
        """Restrict a full (θ, μ) gradient / information to the free coordinates."""
        if self._all:
            return g if H is None else (H if g is None else (g, H))
        k = self._keep
        if H is None:
            return g[k]
        if g is None:
            return H[np.ix_(k, k)]
        return g[k], H[np.ix_(k, k)]

    def loglik(self, z) -> float:
        x, nu = self.split(z)
        self.evaluations += 1
        try:
            Sigma = self.structure.sigma(x)
        except EstimationError:
            return -np.inf
        return self.patterns.loglik(Sigma, self.mean(nu))

    def _g_theta(self, x, G):
        """⟨G, ∂Σ/∂θ_k⟩ for every k (the model core's :meth:`~ModelCore.inner_gradient`)."""
        return self.structure.inner_gradient(x, G)

    def _g_theta_hessian(self, x, G):
        """∂²⟨G, Σ(θ)⟩/∂θ∂θᵀ (the model core's :meth:`~ModelCore.inner_hessian`)."""
        return self.structure.inner_hessian(x, G)

    def _state(self, z):
        x, nu = self.split(z)
        Sigma, D = self.structure.jacobian(x)
        mo = self.patterns.moments(Sigma, self.mean(nu))
        if mo is None:
            raise EstimationError("FIML: a pattern's model-implied covariance matrix is not "
                                  "positive definite")
        return x, D, mo

    def _gradient_of(self, x, mo):
        return np.concatenate([-0.5 * self._g_theta(x, mo.G), mo.g_mu])

    def gradient(self, z, *, information: bool = False):
        x, D, mo = self._state(z)
        g = self._gradient_of(x, mo)
        if not information:
            return self._free(g)
        return self._free(g, self._expected(D, mo))

    def _contract(self, Xv, D):
        """Σ X[i, j, a, b] D_k[j, a] D_l[b, i] for all k, l, from X over the non-duplicated
        cells (p* × p*, :func:`_vech_outer_sum` with ``expand=False``)."""
        p, q = self.p, self.q
        Df = D.reshape(q, p * p)
        Y = np.take(Xv.reshape(-1), _contract_index(p)) @ Df.T        # (i, b) × k
        return Df @ Y                                                 # D_l[b, i] = D_l[i, b]

    def _expected(self, D, mo):
        q, p = self.q, self.p
        n = self.patterns.counts
        info = np.zeros((q + p, q + p))
        info[:q, :q] = 0.5 * self._contract(_vech_outer_sum(mo.K, mo.K, n, p, expand=False), D)
        info[q:, q:] = mo.Kbar
        return info

    def expected_information(self, z):
        _, D, mo = self._state(z)
        return self._free(H=self._expected(D, mo))

    def observed_information(self, z, *, with_gradient: bool = False, expected: bool = False):
        """−∂² log L/∂z∂zᵀ (analytic, but for ⟨G, ∂²Σ⟩), and the gradient if asked.

        ``expected``: also return a function giving the expected information at z from the
        same pass over the patterns (for a scoring step where the observed information is not
        positive definite)."""
        x, D, mo = self._state(z)
        q, p = self.q, self.p
        n = self.patterns.counts
        info = np.zeros((q + p, q + p))
        X = _vech_outer_sum(mo.K, mo.M - mo.K / 2, n, p, expand=False)
        A = self._contract(X, D)                      # Σ n tr(K ∂_k M ∂_l) − ½ tr(K ∂_k K ∂_l)
        H = (A + A.T) / 2 + 0.5 * self._g_theta_hessian(x, mo.G)
        info[:q, :q] = H
        # νθ: Σ n K D_k K d  → Z[i, j, a] = Σ n K_ij (Kd)_a, contracted over (j, a) with D_k
        Z = ((mo.K.reshape(len(n), -1) * n[:, None]).T @ mo.Kd).reshape(p, p, p)
        info[q:, :q] = Z.reshape(p, p * p) @ D.reshape(q, p * p).T
        info[:q, q:] = info[q:, :q].T
        info[q:, q:] = mo.Kbar
        out = []
        if with_gradient:
            g, info = self._free(self._gradient_of(x, mo), info)
            out = [info, g]
        else:
            out = [self._free(H=info)]
        if expected:
            out.append(lambda: self._free(H=self._expected(D, mo)))
        return tuple(out) if len(out) > 1 else out[0]


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


def _newton(obj: FIMLObjective, z: np.ndarray, max_iter: int, gtol: float,
            give_up: int | None = None):
    """Maximise log L from z: Newton steps on the observed information where it is positive
    definite, Fisher scoring (expected information) elsewhere, step halving.

    ``give_up``: abandon after that many steps in a row that had to be cut to 1/16 or less
    (the path runs along a ridge, away from a maximum). Returns (z, log L, observed
    information at z or None, converged, message, steps).
    """
    n = obj.patterns.n
    f = obj.loglik(z)
    if not np.isfinite(f):
        return z, f, None, False, "the start values give an impossible covariance matrix", 0
    short = 0
    it = 0
    far = False
    for it in range(1, max_iter + 1):
        if far:                                 # far from a maximum: scoring only
            H = None
            g, Hs = obj.gradient(z, information=True)
        else:
            H, g, expected = obj.observed_information(z, with_gradient=True, expected=True)
        gmax = np.max(np.abs(g)) / n
        if gmax < gtol:
            return z, f, H, True, "converged", it
        accept = (lambda fn, f=f: fn >= f - 1e-12 * abs(f))
        moved = None
        if H is not None:
            try:
                np.linalg.cholesky(H)
                Hs = H
                moved = damped_step(obj.loglik, z, H, g, accept, sign=1.0, t_min=1e-10)
            except np.linalg.LinAlgError:
                pass
            if moved is None:
                Hs = expected()
        if moved is None:                       # observed information not PD: scoring
            moved = damped_step(obj.loglik, z, Hs, g, accept, sign=1.0, t_min=1e-10)
        if moved is None:
            ok = gmax < 1e-5
            return (z, f, H, ok, "line search failed" + ("" if ok else " far from the optimum"),
                    it)
        try:
            full = np.linalg.solve(Hs, g)             # the undamped step, as damped_step's
        except np.linalg.LinAlgError:
            full = np.linalg.lstsq(Hs, g, rcond=None)[0]
        fraction = np.linalg.norm(moved[0] - z) / max(np.linalg.norm(full), 1e-300)
        z, f = moved
        short = short + 1 if fraction <= 1 / 16 + 1e-9 else 0
        # scoring steps while the observed information is indefinite and the gradient large
        far = Hs is not H and gmax > 1.0
        if give_up is not None and short >= give_up:
            return z, f, None, False, f"abandoned after {it} steps along a ridge", it
    return z, f, None, False, f"no convergence in {max_iter} Newton/scoring steps", max_iter


def fiml_estimate(structure: CovarianceStructure, X: np.ndarray, x0: np.ndarray,
                  *, gtol: float = 1e-7, max_iter: int = 500,
                  patterns: MissingPatterns | None = None, em=None,
                  fixed_x_idx=(), x0_first: bool = True) -> FIMLSolution:
    """Maximise the FIML log-likelihood from start values ``x0``: Newton steps on the analytic
    observed information where it is positive definite, Fisher-scoring steps (expected
    information) elsewhere, with step halving; no bounds (lavaan's nlminb has none either, so
    an optimum with a negative variance is reached and flagged afterwards).

    Newton converges quadratically where scoring crawls linearly (a model that does not fit
    exactly, a nearly singular information at an inadmissible optimum). Where the path from
    ``x0`` does not reach a maximum within 30 steps or runs along a ridge (3 steps in a row cut
    to 1/16), the fit starts again from the model's simple start values on the EM covariance
    matrix (the rules lavaan's start values follow: paths 0, loadings from marker slopes),
    where lavaan's nlminb starts; of the end points, a converged one with the highest log L
    is kept. ``x0_first=False`` (x0 is not a converged ML fit) tries the simple start values
    first and ``x0`` second.

    Parameters
    ----------
    structure : CovarianceStructure
    X : ndarray (N, p)
        Data with NaN for missing answers (columns in ``structure.observed`` order).
    x0 : ndarray (q,)
        Start values of θ (e.g. the ML fit to the EM moments).
    gtol : float
        Convergence when the largest gradient element, divided by N, is below ``gtol``.
    max_iter : int
        Newton / scoring steps in all before giving up.
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
    z0 = np.concatenate([np.asarray(x0, dtype=float), mu_h1[obj.mean_free]])
    z1 = np.concatenate([structure.start_values(sigma_h1), mu_h1[obj.mean_free]])
    starts = [z for z in ((z0, z1) if x0_first else (z1, z0)) if np.isfinite(obj.loglik(z))]
    if not starts:
        raise EstimationError("FIML: the start values give an impossible covariance matrix")
    first = min(30, max_iter)
    runs = [_newton(obj, starts[0], first, gtol, give_up=3)]
    used = runs[0][5]
    if not runs[0][3] and max_iter > used and len(starts) > 1:
        runs.append(_newton(obj, starts[1], max_iter - used, gtol))
        used += runs[1][5]
    ok = [r for r in runs if r[3] and np.isfinite(r[1])]
    z, f, H, converged, msg, _ = max(ok or [r for r in runs if np.isfinite(r[1])] or runs,
                                     key=lambda r: r[1])
    if not converged and used >= max_iter:
        msg = f"no convergence in {max_iter} Newton/scoring steps"
    if H is None:                               # the information at the end point
        H = obj.observed_information(z)
    vcov, ok_v = invert_information(H, symmetrize=True)
    x, nu = obj.split(z)
    return FIMLSolution(x=x.copy(), nu=nu.copy(), vcov=vcov, vcov_ok=ok_v, loglik=f,
                        loglik_h1=ll_h1,
                        loglik_baseline=pats.independence_loglik(obj.fixed_x_idx),
                        mu_h1=mu_h1, sigma_h1=sigma_h1, converged=converged,
                        h1_converged=h1_ok, message=msg, iterations=used,
                        mu=obj.mean(nu), fixed_x_idx=tuple(int(i) for i in obj.fixed_x_idx))


def fiml_fit_measures(sol: FIMLSolution, structure: CovarianceStructure, n: int,
                      patterns: MissingPatterns | None = None) -> dict:
    """lavaan's fit measures for a FIML solution (names as :mod:`semcluster.measures.fitmeasures`), all
    but the robust ones (:func:`fiml_corrected`).

    The residual measures (RMR, SRMR, CRMR, Mplus' SRMR) use the EM moments as the "sample"
    moments, with the means, as lavaan does.  GFI (lavaan's ``lav_fit_gfi``) uses lavaan's
    ``WLS.obs`` for incomplete data instead: each item's available-case mean and the pairwise
    covariances (N − 1 divisor of each pair) times (N − 1)/N (checked against
    ``lavInspect(fit, "wls.obs")``), and weights the residuals of (means, vech Σ) by lavaan's
    h1 expected information for incomplete data at the model-implied moments: per
    missing-data pattern o, K_o = Σ̂_oo⁻¹ for the means and ½D'(K_o⊗K_o)D for the
    covariances, weighted by n_o/N; so rᵀWr = Σ_o n_o [d_oᵀK_o d_o + ½ tr(E_oo K_o E_oo K_o)]
    with d, E the mean and covariance residuals, and likewise sᵀWs; with fixed.x covariates
    the weights of their own means and (co)variances are zero.  Its moment count (AGFI, PGFI)
    is p + p*, covariates included.
    """
    from ..measures.fitmeasures import (chisq_measures, gfi_measures, likelihood_measures,
        residual_measures)

    p = structure.p
    q = structure.q
    fx = list(sol.fixed_x_idx)
    nx = len(fx)
    npar = q + p - nx
    # with fixed.x the covariates' means and (co)variances are neither data nor parameters
    ndat = n_moments(p, n_fixed_x=nx, means=True)
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
    K, _ = patterns._inverses(Sigma) if patterns is not None else (None, None)
    if K is not None:
        Mp = np.nanmean(patterns.X, axis=0)
        Sp = pd.DataFrame(patterns.X).cov().to_numpy() * (n - 1) / n
        # every pattern at once: K holds the Σ_oo⁻¹ embedded in p × p (zeros elsewhere), so
        # the masked residuals times K are the per-pattern products E_oo Σ_oo⁻¹
        mask = patterns.obs_mask
        outer = mask[:, :, None] & mask[:, None, :]
        # fixed.x: lavaan zeroes the weights of the covariates' own means and (co)variances
        # (lav_mvnorm_missing_information_expected with x.idx), i.e. their residuals and
        # sample values drop out of both sums
        own = np.zeros(p, dtype=bool)
        own[fx] = True
        weighted = ~own[None, :] & mask
        outer &= ~(own[:, None] & own[None, :])[None, :, :]
        d, m = (Mp - np.asarray(mu, dtype=float)) * weighted, Mp * weighted
        E = np.matmul(np.where(outer, Sp - Sigma, 0.0), K)
        So = np.matmul(np.where(outer, Sp, 0.0), K)
        w = patterns.counts
        num = w @ (np.einsum("oi,oij,oj->o", d, K, d) + 0.5 * np.einsum("oij,oji->o", E, E))
        den = w @ (np.einsum("oi,oij,oj->o", m, K, m) + 0.5 * np.einsum("oij,oji->o", So, So))
        gfi = 1 - num / den
    # AGFI and PGFI count every moment (lavaan's length of WLS.obs), the covariates' too
    values.update(gfi_measures(gfi, n_moments(p, means=True), df))
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
    S1 = _clustered(patterns.casewise_scores(sol.sigma_h1, sol.mu_h1), patterns)
    return patterns.saturated_information(sol.sigma_h1, sol.mu_h1), S1.T @ S1


def _clustered(scores: np.ndarray, patterns) -> np.ndarray:
    """The casewise scores, or with ``cluster=`` their sums within clusters times
    √(G/(G−1)) (lavaan's robust.cluster meat, :mod:`semcluster.estimation.cluster_robust`)."""
    codes = getattr(patterns, "cluster_codes", None)
    if codes is None:
        return scores
    from ..data.clusters import cluster_sums

    return cluster_sums(scores, codes, int(codes.max()) + 1)


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
    from ..measures.scaled import robust_measures
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
    df = n_moments(p, n_fixed_x=nx) - q
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
    df_null = n_moments(p, n_fixed_x=nx) - py
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
    c3 = fiml_corrected_trace(Wmi, Wm, Wc, Jm, Delta, robust) / df
    c3_null = fiml_corrected_trace(Wmi, Wm, Wc, Jm, DB, robust) / df_null
    return robust_measures(X3, df, X3_null, df_null, n, c=c3, c_null=c3_null, X2_scaled=X3 / c3,
                           c_ci=c3)


def fiml_corrected_trace(Wmi, Wm, Wc, Jm, D, robust: bool) -> float:
    """The trace of the FIML-corrected statistic for the model (or baseline) derivative ``D``:
    with P = W_m⁻¹UW_m⁻¹ = W_m⁻¹ − D(DᵀW_mD)⁻¹Dᵀ it is tr(W_c P), or tr(P W_c P J_m) for the
    robust version (W_m⁻¹W_m = I): no product of the large matrices but one."""
    P = Wmi - D @ np.linalg.solve(D.T @ Wm @ D, D.T)
    if robust:
        return float(np.sum((P @ Wc) * (P @ Jm).T))
    return float(np.sum(Wc * P))


def baseline_score_trace(X: np.ndarray, patterns=None) -> float:
    """tr(E⁻¹B) of the independence (baseline) model on incomplete data: free means m_j and
    variances v_j at their available-case estimates, casewise scores of the observed answers,
    E⁻¹ = diag(v/n_j, 2v²/n_j) (the baseline part of the robust FIML scaling factor)."""
    m = np.nanmean(X, axis=0)
    v = np.nanvar(X, axis=0)
    obs = ~np.isnan(X)
    dev = np.where(obs, X - m, 0.0)
    sb = np.hstack([dev / v, np.where(obs, (dev ** 2 / v ** 2 - 1 / v) / 2, 0.0)])
    nj = obs.sum(axis=0)
    Eb_inv = np.diag(np.concatenate([v / nj, 2 * v ** 2 / nj]))
    sb = _clustered(sb, patterns)
    return float(np.trace(Eb_inv @ (sb.T @ sb)))


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
    df = n_moments(p, n_fixed_x=nx, means=True) - (q + len(ys))
    A1, B1 = h1_information(patterns, sol) if h1 is None else h1
    keep = h1_keep(p, fx)
    kk = np.ix_(keep, keep)
    tr_h1 = float(np.trace(np.linalg.solve(A1[kk], B1[kk])))
    # h0: the model
    Sigma, Delta = structure.jacobian_vech(sol.x)
    S0 = patterns.casewise_scores(Sigma, sol.mu if sol.mu is not None else sol.nu)
    scores = _clustered(np.hstack([S0[:, p:] @ Delta, S0[:, ys]]), patterns)  # (θ, ν) order
    B0 = scores.T @ scores
    ok = sol.vcov_ok
    if ok:
        vcov = sol.vcov @ B0 @ sol.vcov
        trace = tr_h1 - float(np.trace(sol.vcov @ B0))
        c_model = trace / df if df > 0 else np.nan
    else:
        vcov = np.full(sol.vcov.shape, np.nan)
        trace = c_model = np.nan
    tr_baseline = baseline_score_trace(patterns.X[:, ys], patterns)
    df_b = n_moments(p, n_fixed_x=nx, means=True) - 2 * len(ys)
    c_b = (tr_h1 - tr_baseline) / df_b if df_b > 0 else np.nan
    return RobustML(vcov=vcov, vcov_ok=bool(ok and np.all(np.isfinite(vcov))),
                    scaling_factor=float(c_model), baseline_scaling_factor=float(c_b),
                    trace_ugamma=float(trace), observed_information=invert_information(sol.vcov)[0]
                    if ok else np.full(sol.vcov.shape, np.nan), trace_h1=tr_h1)


def fit(spec, X: pd.DataFrame, *, report=None, max_iter: int = 500, robust: bool = False,
        cluster: str | None = None, estimator=None):
    """Fit a model by FIML to data with missing answers.

    Parameters
    ----------
    spec : ModelSpec
    X : DataFrame
        The model's observed variables, ``NaN`` for missing answers (as
        :func:`semcluster.data.survey.prepare_data` returns with ``missing="fiml"``).
    report : DataReport, optional
    max_iter : int
        Fisher-scoring steps before giving up (the result is then flagged as not converged).
    robust : bool
        Robust FIML (lavaan's ``estimator = "MLR", missing = "ml"``): Huber-White standard
        errors and the Yuan-Bentler scaled test, for non-normal answers with missing values.
    cluster : str, optional
        With ``robust``: a column of ``X`` naming each row's cluster; the meat of every
        sandwich sums the casewise scores within clusters (lavaan's ``cluster =`` with
        ``missing = "ml"``, ``estimator = "MLR"``; :mod:`semcluster.estimation.cluster_robust`).

    Returns
    -------
    SEMResult
        ``estimator == "ML"`` with ``info["missing"] == "fiml"``; the estimates table has
        intercept rows (``op == "~1"``) as lavaan's with ``missing = "ml"``; ``sample_cov`` is the
        EM estimate of the saturated covariance matrix.
    """
    from .engine import MLEngine
    from ..result.builder import assemble_result
    from .identification import check_identification

    ident = check_identification(spec)
    codes = pd.Series(pd.factorize(X[cluster])[0], index=X.index) if cluster else None
    given = X                           # the rows given, kept for predict()
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
    structure = CovarianceStructure.of(spec)        # built once per model
    if fx_cov is not None:
        structure.ram.set_fixed_x(fx_cov.to_numpy())
    pats = MissingPatterns(arr)
    if codes is not None:
        c = codes.loc[X.index].to_numpy()
        pats.cluster_codes = np.unique(c, return_inverse=True)[1]
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
    # a start: FIML's Newton steps do the rest. Where scoring alone does not reach the ML
    # optimum of the EM moments, or reaches one with a negative variance, the FIML surface near
    # it is a ridge (on the corpus: exactly the two sets with an inadmissible FIML optimum) and
    # FIML starts from the simple start values first, as lavaan does
    start = engine.fit(gtol=1e-6, scoring_only=True)
    admissible = bool(np.all(start.x[structure.is_variance] >= 0))
    sol = fiml_estimate(structure, arr, start.x, max_iter=max_iter, patterns=pats, em=em,
                        fixed_x_idx=fx_idx, x0_first=start.converged and admissible)
    rob = None
    h1 = h1_information(pats, sol)
    corrected = fiml_corrected(structure, pats, sol, h1, robust=robust)
    if robust:
        rob = robust_fiml(structure, pats, sol, h1)
        sol = dataclasses.replace(sol, vcov=rob.vcov, vcov_ok=rob.vcov_ok)
    q = structure.q
    from ..measures.fitmeasures import in_lavaan_order

    values = fiml_fit_measures(sol, structure, n, pats)
    if rob is not None:
        from .mlr import equality_count, yuan_bentler_measures

        values.update(yuan_bentler_measures(values, rob, n,
                                            n_moments=n_moments(p, n_fixed_x=len(fx_idx), means=True),
                                            n_equalities=equality_count(spec),
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
    nu, J_nu, J_std, sd = _intercepts(structure, sol, ys, fx_idx)
    if sol.vcov_ok:
        se_nu = np.sqrt(np.clip(np.einsum("ij,jk,ik->i", J_nu, sol.vcov, J_nu), 0, None))
        se_std = np.sqrt(np.clip(np.einsum("ij,jk,ik->i", J_std, sol.vcov, J_std), 0, None))
    else:
        se_nu = se_std = np.full(len(ys), np.nan)
    lat = list(spec.latent)
    zeros = np.zeros(len(lat))          # latent means are fixed at zero; lavaan lists them
    means = pd.DataFrame({"lhs": y_names + lat, "op": "~1", "rhs": "", "label": "",
                          "est": np.r_[nu, zeros], "se": np.r_[se_nu, zeros],
                          "std_lv": np.r_[nu, zeros], "std_all": np.r_[nu / sd, zeros],
                          "se_std_all": np.r_[se_std, zeros],
                          "free": np.r_[np.arange(q + 1, q + len(ys) + 1), np.zeros(len(lat))
                                        ].astype(int)})
    notes = []
    if dropped_x:
        notes.append(f"{dropped_x} row(s) deleted because of missing values in the "
                     f"exogenous covariate(s) {', '.join(fixed_x)}: their (co)variances "
                     f"and means are held at the sample values of the other rows "
                     f"(lavaan's fixed.x = TRUE does the same)")
    if not h1_ok:
        notes.append("the EM algorithm for the saturated model did not converge; the "
                     "chi-square test and fit indices are approximate")
    return assemble_result(spec, engine, sol.x, S_h1, n, converged=sol.converged,
                           message=sol.message, report=report,
                           estimator=estimator or ("MLR" if robust else "ML"), vcov=sol.vcov,
                           vcov_ok=sol.vcov_ok, measures=fm, extra_rows=means,
                           info={"missing": "fiml", "nu": nu.copy(),
                                 "iterations": sol.iterations,
                                 "mean_h1": pd.Series(sol.mu_h1, index=spec.observed),
                                 **({"test": "yuan.bentler.mplus", "se": "robust.huber.white"}
                                    if robust else {}),
                                 **({"se": "robust.cluster",
                                     "n_clusters": int(codes.nunique())}
                                    if robust and codes is not None else {})},
                           warnings=notes, identification=ident, data=given)


def _intercepts(structure: CovarianceStructure, sol: FIMLSolution, ys, fx_idx):
    """The intercepts ν of the non-covariate variables ``ys``, their Jacobians with respect to
    the fit's parameters z = (θ, free means), raw and standardized, and the model SDs.

    μ = F(I − A)⁻¹u, so with B = (I − A)⁻¹ on the observed rows and columns,
    ν_y = B_yy⁻¹(μ_y − B_yx μ_x). Analytic derivatives: ∂ν/∂μ_y = B_yy⁻¹; for a path a_ij,
    ∂B/∂a_ij = B e_i e_jᵀ B, so ∂ν/∂a_ij = −B_yy⁻¹ B_yi (B_j· w) with w = (ν, μ_x) on the
    observed variables; other parameters leave ν unchanged. For ν/sd with sd = √diag Σ:
    ∂(ν/sd) = ∂ν/sd − ν ∂Σ_ii/(2 sd³).
    """
    q = structure.q
    oy = structure.obs_ix[ys]
    ox = structure.obs_ix[list(fx_idx)]
    mu_x = sol.mu[list(fx_idx)] if len(fx_idx) else np.zeros(0)
    B = structure.matrices(sol.x)[2]
    Byy_inv = np.linalg.inv(B[np.ix_(oy, oy)])
    nu = Byy_inv @ (sol.nu - B[np.ix_(oy, ox)] @ mu_x)
    w = np.zeros(B.shape[0])
    w[oy] = nu
    w[ox] = mu_x
    Bw = B @ w
    J_nu = np.zeros((len(ys), q + len(ys)))
    ai, aj, ak = structure._a_cells
    np.add.at(J_nu.T, ak, -(B[np.ix_(oy, ai)] * Bw[aj]).T)
    J_nu[:, :q] = Byy_inv @ J_nu[:, :q]
    J_nu[:, q:] = Byy_inv
    Sigma, D = structure.jacobian(sol.x)
    sd = np.sqrt(np.diag(Sigma))[ys]
    dvar = np.zeros((len(ys), q + len(ys)))
    dvar[:, :q] = D[:, ys, ys].T
    J_std = J_nu / sd[:, None] - (nu / (2 * sd ** 3))[:, None] * dvar
    return nu, J_nu, J_std, sd


def fit_robust(spec, X: pd.DataFrame, *, report=None, estimator=None):
    """FIML with robust (Huber-White) SEs and the Yuan-Bentler scaled test: lavaan's
    ``estimator = "MLR", missing = "ml"`` (the registry's MLR entry for missing='fiml')."""
    return fit(spec, X, report=report, robust=True, estimator=estimator)
