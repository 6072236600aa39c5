"""One model, in numpy: RAM matrices, Σ(θ), ∂Σ/∂θ, the ML discrepancy and its derivatives.

The model is written in RAM form (McArdle & McDonald 1984): A holds the directed paths
(loadings ``f =~ x`` as x ← f, regressions ``y ~ x`` as y ← x), P the (co)variances, F selects
the observed variables, and with B = (I − A)⁻¹

    C = B P Bᵀ (covariance of all variables),      Σ(θ) = F C Fᵀ.

A free parameter θ_k sits in one or more matrix cells (several when a label is shared). For a
cell (i, j) of A, ∂Σ = u vᵀ + v uᵀ with u = F B e_i and v = F C e_j; for a cell of P,
∂Σ = u vᵀ + v uᵀ with u = F B e_i, v = F B e_j (half of that on the diagonal)
(Neudecker & Satorra 1991). Every derivative below is a product of the p × c matrices U and V
that hold these vectors for all c cells at once, so nothing loops over parameters:

* ML discrepancy F = log|Σ| + tr(SΣ⁻¹) − log|S| − p with W = Σ⁻¹(Σ − S)Σ⁻¹;
  ∂F/∂θ_k = Σ_cells 2 w_c u_cᵀ W v_c (Jöreskog 1973);
* expected information per observation (×2),
  tr(Σ⁻¹∂Σ_k Σ⁻¹∂Σ_l) = Σ_cells 2 w_c w_d [(u_cᵀΣ⁻¹u_d)(v_cᵀΣ⁻¹v_d) + (u_cᵀΣ⁻¹v_d)(v_cᵀΣ⁻¹u_d)]
  (Bollen 1989, ch. 4), summed over the cells of θ_k and θ_l.

Mean structure and groups (:class:`GroupCore`): with m the intercepts and latent means over all
RAM variables, μ = F B m, ∂μ/∂a_ij = F B e_i (B m)_j and ∂μ/∂m_i = F B e_i, again one p × cells
matrix; each group of a multi-group model is one core whose cells carry parameter numbers of
the global vector, so an equality constraint across groups is a shared number.

Vectors of non-duplicated moments use lavaan's order: ``vech`` runs down the columns of the
lower triangle (s11, s21, ..., sp1, s22, s32, ...), as ``lav_matrix_vech``.
"""
from __future__ import annotations

import copy

import numpy as np
import pandas as pd
from scipy.linalg import lapack

from ..errors import EstimationError


class RAM:
    """RAM matrices of a spec, filled from a vector of free parameters.

    ``rows`` are the model rows (=~, ~, ~~) of the parameter table in its order; ``values(x)``
    gives each row's value, ``matrices(x)`` the A and P matrices.
    """

    def __init__(self, spec, fixed_x_cov: pd.DataFrame | None = None):
        self.spec = spec
        pt = spec.partable
        self.rows = pt[pt.op.isin(["=~", "~", "~~"])].reset_index(drop=True)
        self.vars = list(spec.latent) + list(spec.observed)
        ix = {v: i for i, v in enumerate(self.vars)}
        self.ix = ix
        m = len(self.vars)
        self.m = m
        self.A0 = np.zeros((m, m))
        self.P0 = np.zeros((m, m))
        ops = self.rows.op.to_numpy()
        lhs = np.array([ix[v] for v in self.rows.lhs], dtype=int)
        rhs = np.array([ix[v] for v in self.rows.rhs], dtype=int)
        # =~ : rhs ← lhs (row rhs, column lhs); ~ : lhs ← rhs; ~~ : cell (lhs, rhs)
        loading = ops == "=~"
        self.i = np.where(loading, rhs, lhs)
        self.j = np.where(loading, lhs, rhs)
        self.is_a = ops != "~~"
        self.kind = ["A" if a else "P" for a in self.is_a]
        self.pos = list(zip(self.i.tolist(), self.j.tolist()))
        self.free = self.rows["free"].to_numpy().astype(int)
        self.fixed = self.rows["fixed"].to_numpy(dtype=float)
        self.lat_mask = np.zeros(m, dtype=bool)
        self.lat_mask[: len(spec.latent)] = True
        self.fixed_x_ix = np.array([ix[v] for v in spec.fixed_x], dtype=int)
        if spec.fixed_x and fixed_x_cov is not None:
            self.set_fixed_x(fixed_x_cov.loc[list(spec.fixed_x), list(spec.fixed_x)].to_numpy())

    @property
    def depth(self) -> int:
        """Nilpotency degree of A whatever the free values (0 when paths can form a loop)."""
        if getattr(self, "_depth", None) is None:
            free = self.free > 0
            fixed_nonzero = np.zeros((self.m, self.m), dtype=bool)
            fa = ~free & self.is_a & (self.fixed != 0)
            fixed_nonzero[self.i[fa], self.j[fa]] = True
            fr = free & self.is_a
            self._depth = nilpotent_depth(fixed_nonzero, (self.i[fr], self.j[fr]), self.m)
        return self._depth

    def set_fixed_x(self, C: np.ndarray) -> None:
        """Hold the exogenous covariates' (co)variances at ``C`` (lavaan's fixed.x)."""
        f = self.fixed_x_ix
        if len(f):
            self.P0[np.ix_(f, f)] = C

    def values(self, x: np.ndarray) -> np.ndarray:
        """Value of every model row (=~, ~, ~~) for free-parameter vector x."""
        v = self.fixed.copy()
        mask = self.free > 0
        v[mask] = x[self.free[mask] - 1]
        return v

    def matrices(self, x: np.ndarray):
        vals = self.values(x)
        A = self.A0.copy()
        P = self.P0.copy()
        a = self.is_a
        A[self.i[a], self.j[a]] = vals[a]
        p = ~a
        P[self.i[p], self.j[p]] = vals[p]
        P[self.j[p], self.i[p]] = vals[p]
        return A, P, vals

    def total_cov(self, x: np.ndarray) -> np.ndarray:
        A, P, _ = self.matrices(x)
        B = np.linalg.inv(np.eye(self.m) - A)
        return B @ P @ B.T


def nilpotent_depth(fixed_nonzero: np.ndarray, free_cells, m: int) -> int:
    """d with Aᵈ = 0 for every value of the free cells (the longest chain of paths + 1), or 0
    when the paths can form a loop (A not nilpotent)."""
    pattern = fixed_nonzero.copy()
    pattern[free_cells[0], free_cells[1]] = True
    reach = pattern.astype(float)
    power = reach.copy()
    for d in range(1, m + 1):
        if not power.any():
            return max(d, 2)
        power = (power @ reach > 0).astype(float)
    return 0


def _tri_inverse(L: np.ndarray) -> np.ndarray:
    """Inverse of a lower-triangular Cholesky factor (LAPACK dtrtri: a fifth of a general
    inverse's time on a 23 × 23 factor; the F_ML evaluations of resampling run on it)."""
    Li, info = lapack.dtrtri(L, lower=1)
    if info != 0:
        raise np.linalg.LinAlgError("singular Cholesky factor")
    return Li


def total_effects(A: np.ndarray, depth: int) -> np.ndarray:
    """B = (I − A)⁻¹ for one A (m × m) or a stack (k × m × m). For a recursive model A is
    nilpotent, Aᵈ = 0 with ``depth`` = d (:attr:`RAM.depth`), and B = I + A + … + Aᵈ⁻¹ exactly
    (d − 2 small products); ``depth`` 0 (paths that can form a loop): the inverse."""
    eye = np.eye(A.shape[-1])
    if not depth:
        return np.linalg.inv(eye - A)
    B = eye + A
    for _ in range(depth - 2):
        B = eye + A @ B
    return B


def vech_indices(p: int) -> tuple[np.ndarray, np.ndarray]:
    """Row and column indices of the lower triangle, column by column (lavaan's vech order)."""
    cols, rows = np.triu_indices(p)        # upper triangle row-wise = lower column-wise
    return rows, cols


def vechs_indices(p: int) -> tuple[np.ndarray, np.ndarray]:
    """As :func:`vech_indices` without the diagonal (the correlations of lavaan's ``vechs``)."""
    r, c = vech_indices(p)
    keep = r != c
    return r[keep], c[keep]


def duplication_matrix(p: int) -> np.ndarray:
    """D with vec(S) = D vech(S) for symmetric S (Magnus & Neudecker 1988)."""
    r, c = vech_indices(p)
    D = np.zeros((p * p, len(r)))
    k = np.arange(len(r))
    D[c * p + r, k] = 1.0
    D[r * p + c, k] = 1.0
    return D


def normal_weight(Sigma: np.ndarray) -> np.ndarray:
    """½ D'(Σ⁻¹ ⊗ Σ⁻¹)D: the normal-theory weight of the vech moments at Σ, the inverse of
    their asymptotic covariance Γ = 2D⁺(Σ⊗Σ)D⁺ᵀ (per observation); the ML weight of lavaan's
    GFI and of the residuals' projection, and the saturated model's expected information.
    Built element by element, without the Kronecker product."""
    Si = np.linalg.inv(Sigma)
    p = Sigma.shape[0]
    r, c = vech_indices(p)
    # element (ij, kl) of ½ D'(Σ⁻¹⊗Σ⁻¹)D: ½ (w_ik w_jl + w_il w_jk) weighted for duplicates
    A = 0.5 * (Si[np.ix_(r, r)] * Si[np.ix_(c, c)] + Si[np.ix_(r, c)] * Si[np.ix_(c, r)])
    mult = np.where(r == c, 1.0, 2.0)
    A *= np.outer(mult, mult) / 2.0
    return A


class CellCore:
    """The algebra of RAM cells mapped to parameters: Σ(θ), ∂Σ/∂θ, F_ML, its gradient,
    expected information and Hessian (the module docstring's formulas).

    Shared by :class:`ModelCore` (one model; the spec's free parameters) and :class:`GroupCore`
    (one group of a multi-group model, with a mean structure; cells mapped to the global
    parameter vector). The free cells are parallel arrays: ``cell_k`` (parameter, 0-based),
    ``cell_i``, ``cell_j`` (row, column) and ``cell_a`` (a path of A, else a (co)variance of P);
    fixed cells are held in constant A and P matrices.
    """

    def _init_cells(self, m: int, obs_ix: np.ndarray, q: int, cell_k, cell_i, cell_j, cell_a,
                    A_fixed: np.ndarray, P_fixed: np.ndarray, depth: int) -> None:
        self.m = m
        self.q = q
        self.obs_ix = obs_ix
        self.p = len(obs_ix)
        self.cell_k = np.asarray(cell_k, dtype=int)       # parameter of each free cell
        self.cell_i = np.asarray(cell_i, dtype=int)
        self.cell_j = np.asarray(cell_j, dtype=int)
        self.cell_a = np.asarray(cell_a, dtype=bool)
        # weight ½ on diagonal P cells (∂Σ = u uᵀ written as ½(u uᵀ + u uᵀ))
        self.cell_w = np.where(~self.cell_a & (self.cell_i == self.cell_j), 0.5, 1.0)
        c = len(self.cell_k)
        self.incidence = np.zeros((self.q, c))
        self.incidence[self.cell_k, np.arange(c)] = 1.0
        self._eye = np.eye(m)
        # observed variables follow the latent ones in RAM order: Σ is a contiguous block
        p = self.p
        self._o = (slice(m - p, m) if np.array_equal(obs_ix, np.arange(m - p, m))
                   else obs_ix)
        self._A_fixed = A_fixed
        self._P_fixed = P_fixed
        self._a_cells = (self.cell_i[self.cell_a], self.cell_j[self.cell_a],
                         self.cell_k[self.cell_a])
        pc = ~self.cell_a
        self._p_cells = (self.cell_i[pc], self.cell_j[pc], self.cell_k[pc])
        self._depth = depth
        # parameters that are variances (lower bound 0 in the bounded fallback)
        self.is_variance = np.zeros(self.q, dtype=bool)
        var_cells = ~self.cell_a & (self.cell_i == self.cell_j)
        self.is_variance[self.cell_k[var_cells]] = True

    def _P_const(self) -> np.ndarray:
        """P with every fixed cell filled (a fresh array, free cells to be written)."""
        return self._P_fixed.copy()

    # -- moments ------------------------------------------------------------------------------
    def matrices(self, x: np.ndarray):
        """A, P, B = (I − A)⁻¹ and C = B P Bᵀ.

        For a recursive model (no loop of paths) A is nilpotent, Aᵈ = 0 with d the longest
        chain of paths, and B = I + A + … + Aᵈ⁻¹ exactly: d − 1 small products instead of an
        inverse. Non-recursive models use the inverse.
        """
        x = np.asarray(x, dtype=float)
        A = self._A_fixed.copy()
        ai, aj, ak = self._a_cells
        A[ai, aj] = x[ak]
        P = self._P_const()
        pi, pj, pk = self._p_cells
        P[pi, pj] = x[pk]
        P[pj, pi] = x[pk]
        try:
            B = total_effects(A, self._depth)
        except np.linalg.LinAlgError:
            raise EstimationError("the regression paths form a loop with gain 1 "
                                  "((I - B) is singular)") from None
        return A, P, B, B @ P @ B.T

    def total_cov(self, x: np.ndarray) -> np.ndarray:
        return self.matrices(x)[3]

    def sigma(self, x: np.ndarray) -> np.ndarray:
        """Model-implied covariance of the observed variables (order ``spec.observed``)."""
        return self._obs_block(self.matrices(x)[3])

    def _obs_block(self, C):
        o = self._o
        return C[o, o] if isinstance(o, slice) else C[np.ix_(o, o)]

    def _uv(self, B, C):
        """U, V (p × cells) with ∂Σ_cell = w (u vᵀ + v uᵀ)."""
        o = self._o
        FB = B[o, :]
        U = FB[:, self.cell_i]
        V = np.where(self.cell_a, C[o][:, self.cell_j], FB[:, self.cell_j])
        return U, V

    def cell_derivative(self, B: np.ndarray, C: np.ndarray, is_a: bool, i: int,
                        j: int) -> np.ndarray:
        """∂Σ for one RAM cell, free or not (A: path i ← j; P: covariance of i and j), from
        B = (I − A)⁻¹ and C: what a modification index needs for a parameter fixed at 0."""
        o = self.obs_ix
        u = B[o, i]
        v = C[o, j] if is_a else B[o, j]
        t = np.outer(u, v)
        return t if (not is_a and i == j) else t + t.T

    def jacobian(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Σ(θ) and the array ∂Σ/∂θ_k of shape (q, p, p)."""
        _, _, B, C = self.matrices(x)
        o = self.obs_ix
        return C[np.ix_(o, o)], self._sigma_jacobian(B, C)

    def _sigma_jacobian(self, B, C) -> np.ndarray:
        """∂Σ/∂θ_k (q, p, p) from B and C: Σ_cells w (u vᵀ + v uᵀ) by the incidence matrix."""
        U, V = self._uv(B, C)
        T = np.einsum("ic,jc->cij", U * self.cell_w, V)
        T = T + T.transpose(0, 2, 1)
        return (self.incidence @ T.reshape(T.shape[0], -1)).reshape(self.q, self.p, self.p)

    def jacobian_vech(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Σ(θ) and Δ = ∂vech(Σ)/∂θᵀ, shape (p(p+1)/2, q)."""
        Sigma, D = self.jacobian(x)
        r, c = vech_indices(self.p)
        return Sigma, D[:, r, c].T

    # -- the ML discrepancy -------------------------------------------------------------------
    def ml_discrepancy(self, x: np.ndarray, S: np.ndarray, logdet_S: float) -> float:
        """F_ML(θ); +inf where Σ(θ) is not positive definite (or F is clearly negative, which
        only rounding in a nearly singular Σ produces)."""
        try:
            Sigma = self.sigma(x)
            L = np.linalg.cholesky(Sigma)
        except (np.linalg.LinAlgError, EstimationError):
            return np.inf
        Li = _tri_inverse(L)
        f = (2.0 * np.sum(np.log(np.diag(L))) + float(np.sum(Li * (Li @ S)))
             - logdet_S - self.p)
        if not np.isfinite(f) or f < -1e-8 * max(1.0, abs(logdet_S)):
            return np.inf
        return float(f)

    def ml_value_gradient(self, x: np.ndarray, S: np.ndarray, logdet_S: float):
        """F_ML and its gradient in one pass; (inf, NaN) where Σ(θ) is not positive definite."""
        bad = np.inf, np.full(self.q, np.nan)
        try:
            _, _, B, C = self.matrices(x)
        except EstimationError:
            return bad
        factor = self._factor(C)
        if factor is None:
            return bad
        L, Si = factor
        SiS = Si @ S
        f = 2.0 * np.sum(np.log(np.diag(L))) + float(SiS.trace()) - logdet_S - self.p
        if not np.isfinite(f) or f < -1e-8 * max(1.0, abs(logdet_S)):
            return bad
        return float(f), self._cells_gradient(Si - SiS @ Si, B, C)

    def _factor(self, C):
        """Σ's Cholesky factor and Σ⁻¹ from the total covariance C; None where Σ is not
        positive definite."""
        try:
            L = np.linalg.cholesky(self._obs_block(C))
        except np.linalg.LinAlgError:
            return None
        Li = _tri_inverse(L)
        return L, Li.T @ Li

    def _cells_gradient(self, W, B, C):
        """2 w_c u_cᵀ W v_c summed into the parameters: the gradient of an F whose derivative
        with respect to Σ is W. u_cᵀ W v_c for every cell from two m × m products (cheaper than
        gathering U, V): G1 = (FB)ᵀ W (FC) for path cells, G2 = (FB)ᵀ W (FB) for (co)variance
        cells."""
        o = self._o
        FB = B[o]
        WF = W @ FB
        ci, cj = self.cell_i, self.cell_j
        G1 = WF.T @ C[o]
        G2 = FB.T @ WF
        gc = np.where(self.cell_a, G1[ci, cj], G2[ci, cj])
        return np.bincount(self.cell_k, weights=2.0 * self.cell_w * gc, minlength=self.q)

    def ml_derivatives(self, x: np.ndarray, S: np.ndarray, *, information: bool = True):
        """Gradient of F_ML and (optionally) the expected information per observation × 2,
        tr(Σ⁻¹∂Σ_kΣ⁻¹∂Σ_l). Gradient NaN where Σ(θ) is singular."""
        try:
            _, _, B, C = self.matrices(x)
        except EstimationError:
            return np.full(self.q, np.nan), (np.full((self.q, self.q), np.nan)
                                              if information else None)
        Sigma = self._obs_block(C)
        try:
            Si = np.linalg.inv(Sigma)
        except np.linalg.LinAlgError:
            return np.full(self.q, np.nan), (np.full((self.q, self.q), np.nan)
                                              if information else None)
        W = Si @ (Sigma - S) @ Si
        U, V = self._uv(B, C)
        w = self.cell_w
        g_cells = 2.0 * w * np.einsum("ic,ic->c", U, W @ V)
        g = self.incidence @ g_cells
        if not information:
            return g, None
        return g, self._sigma_information(Si, U, V)

    def _sigma_information(self, Si, U, V) -> np.ndarray:
        """tr(Σ⁻¹∂Σ_kΣ⁻¹∂Σ_l) (q × q) from Σ⁻¹ and the cells' U, V."""
        w = self.cell_w
        SU, SV = Si @ U, Si @ V
        uu, vv, uv = U.T @ SU, V.T @ SV, U.T @ SV
        H_cells = 2.0 * np.outer(w, w) * (uu * vv + uv * uv.T)
        return self.incidence @ H_cells @ self.incidence.T

    # -- second derivatives ---------------------------------------------------------------
    def inner_gradient(self, x: np.ndarray, G: np.ndarray) -> np.ndarray:
        """⟨G, ∂Σ/∂θ_k⟩ = tr(G ∂Σ/∂θ_k) for every k, for a symmetric p × p matrix G."""
        _, _, B, C = self.matrices(x)
        U, V = self._uv(B, C)
        return self.incidence @ (2.0 * self.cell_w * np.einsum("ic,ic->c", U, G @ V))

    def inner_hessian(self, x: np.ndarray, G: np.ndarray) -> np.ndarray:
        """∂²⟨G, Σ(θ)⟩/∂θ∂θᵀ for a fixed symmetric G, analytic in the RAM matrices.

        With f = tr(Gₑ B P Bᵀ) (Gₑ: G embedded in the m × m RAM layout), Q = Bᵀ Gₑ C and
        R = Bᵀ Gₑ B: ∂f/∂A_ij = 2 Q_ij, ∂f/∂P_kl = w (R_kl + R_lk) and
        ∂²f/∂A_ij∂A_kl = 2 (B_li Q_kj + R_ik C_lj + Q_il B_jk),
        ∂²f/∂A_ij∂P_kl = 2 w (R_ik B_jl + R_il B_jk), ∂²f/∂P∂P = 0.
        """
        _, _, B, C = self.matrices(x)
        Ge = np.zeros((self.m, self.m))
        o = self.obs_ix
        Ge[np.ix_(o, o)] = G
        R = B.T @ Ge @ B
        Q = B.T @ Ge @ C
        a = self.cell_a
        i, j, w = self.cell_i, self.cell_j, self.cell_w
        ia, ja = i[a], j[a]
        ip, jp, wp = i[~a], j[~a], w[~a]
        c = len(i)
        Hc = np.zeros((c, c))
        ii, jj = ia[:, None], ja[:, None]
        kk, ll = ia[None, :], ja[None, :]
        Haa = 2.0 * (B[ll, ii] * Q[kk, jj] + R[ii, kk] * C[ll, jj] + Q[ii, ll] * B[jj, kk])
        kp, lp = ip[None, :], jp[None, :]
        Hap = 2.0 * wp[None, :] * (R[ii, kp] * B[jj, lp] + R[ii, lp] * B[jj, kp])
        A_ix, P_ix = np.flatnonzero(a), np.flatnonzero(~a)
        Hc[np.ix_(A_ix, A_ix)] = (Haa + Haa.T) / 2
        Hc[np.ix_(A_ix, P_ix)] = Hap
        Hc[np.ix_(P_ix, A_ix)] = Hap.T
        return self.incidence @ Hc @ self.incidence.T

    def ml_hessian(self, x: np.ndarray, S: np.ndarray) -> np.ndarray:
        """The observed Hessian of F_ML, analytic:
        ∂²F/∂θ_k∂θ_l = 2 tr(Σ⁻¹Σ_lΣ⁻¹SΣ⁻¹Σ_k) − tr(Σ⁻¹Σ_lΣ⁻¹Σ_k) + ⟨W, ∂²Σ/∂θ_k∂θ_l⟩ with
        W = Σ⁻¹ − Σ⁻¹SΣ⁻¹ (differentiating ∂F/∂θ_k = ⟨W, Σ_k⟩ once more)."""
        Sigma, D = self.jacobian(x)
        Si = np.linalg.inv(Sigma)
        q = self.q
        SD = np.matmul(Si, D)                                 # Σ⁻¹Σ_k
        SSD = np.matmul(Si @ S, SD)                           # Σ⁻¹SΣ⁻¹Σ_k
        # tr(A_l B_k) = vec(A_lᵀ)·vec(B_k)
        At = SD.transpose(0, 2, 1).reshape(q, -1)
        H = 2.0 * At @ SSD.reshape(q, -1).T - At @ SD.reshape(q, -1).T
        H = (H + H.T) / 2
        W = Si - Si @ S @ Si
        return H + self.inner_hessian(x, W)


class ModelCore(CellCore):
    """Σ(θ), ∂Σ/∂θ, F_ML, its gradient and expected information, and start values.

    Built once per model; swapping data needs no rebuilding (:meth:`set_fixed_x` for the
    exogenous covariates' sample moments). Parameters are the spec's free parameters 1..q in
    order (x[k-1] is free parameter k).

    Parameters
    ----------
    spec : ModelSpec
    fixed_x_cov : DataFrame, optional
        Sample covariances of exogenous observed covariates (lavaan's ``fixed.x``).
    """

    def __init__(self, spec, fixed_x_cov: pd.DataFrame | None = None):
        self.spec = spec
        self.ram = ram = RAM(spec, fixed_x_cov=fixed_x_cov)
        self.observed = list(spec.observed)
        obs_ix = np.array([ram.ix[v] for v in self.observed], dtype=int)
        self.fixed_x_idx = [self.observed.index(v) for v in spec.fixed_x]
        free = ram.free > 0
        # fixed cells once; free cells filled per call
        fixed = ~free
        A_fixed = np.zeros((ram.m, ram.m))
        P_fixed = np.zeros((ram.m, ram.m))
        fa = fixed & ram.is_a
        A_fixed[ram.i[fa], ram.j[fa]] = ram.fixed[fa]
        fp = fixed & ~ram.is_a
        P_fixed[ram.i[fp], ram.j[fp]] = ram.fixed[fp]
        P_fixed[ram.j[fp], ram.i[fp]] = ram.fixed[fp]
        self._init_cells(ram.m, obs_ix, int(spec.n_free), ram.free[free] - 1, ram.i[free],
                         ram.j[free], ram.is_a[free], A_fixed, P_fixed, ram.depth)

    @classmethod
    def of(cls, spec) -> "ModelCore":
        """The core of ``spec``, built on first use and kept with the (frozen, cached) spec, so
        that a loop of fits of one model builds it once. Each call returns a private copy of
        the only mutable part (the fixed-x block of P)."""
        cached = spec.__dict__.get("_model_core")
        if cached is None:
            cached = cls(spec)
            cached._plan = cached._start_plan()
            spec.__dict__["_model_core"] = cached
        return cached.clone()

    def _P_const(self) -> np.ndarray:
        """P with the fixed cells and the exogenous covariates' block (``ram.P0``)."""
        return self.ram.P0 + self._P_fixed

    def clone(self) -> "ModelCore":
        """A copy sharing every array but the fixed-x block of P (cheap)."""
        new = copy.copy(self)
        new.ram = copy.copy(self.ram)
        new.ram.P0 = self.ram.P0.copy()
        return new

    def set_fixed_x(self, S: np.ndarray) -> None:
        """Take the exogenous covariates' block of S (observed order) as their fixed values."""
        if self.fixed_x_idx:
            f = self.fixed_x_idx
            self.ram.set_fixed_x(np.asarray(S)[np.ix_(f, f)])

    # -- start values -------------------------------------------------------------------------
    def start_values(self, S: np.ndarray) -> np.ndarray:
        """Start values from the sample covariance S (observed order).

        Mostly the rules semopy uses (its ``startingvalues`` module): a free loading on a
        factor is the regression slope of the item on the factor's marker item,
        cov(x, m)/var(m) (times the marker's fixed loading), following a chain of markers for
        higher-order factors; regression paths and covariances start at 0; the variance of an
        exogenous factor with a marker item at half the marker's variance, other latent
        (residual) variances at 0.05; observed residual variances at half the sample variance;
        exogenous observed variables at their sample (co)variances. A start value written in
        the model (``start(0.5)*x``) wins.
        """
        if not hasattr(self, "_plan"):
            self._plan = self._start_plan()
        kind, a, b, val = self._plan
        S = np.asarray(S, dtype=float)
        x = val.copy()
        slope = kind == 1
        x[slope] *= S[a[slope], b[slope]] / S[b[slope], b[slope]]
        half = kind == 2
        x[half] = S[a[half], a[half]] / 2
        cov = kind == 3
        x[cov] = S[a[cov], b[cov]]
        return x

    def _start_plan(self):
        """Per parameter: rule (0 constant, 1 slope on marker, 2 half variance, 3 sample
        moment), the observed indices it reads and its constant or scale."""
        spec, ram = self.spec, self.ram
        pt = ram.rows
        obs_pos = {v: i for i, v in enumerate(self.observed)}
        lat = set(spec.latent)
        exo = set(spec.exogenous) - lat
        endo = set(spec.endogenous)
        marker = {}
        for r in pt.itertuples(index=False):
            if r.op != "=~":
                continue
            cur = marker.get(r.lhs)
            if cur is None or (not cur[2] and r.free == 0):
                marker[r.lhs] = (r.rhs, float(r.fixed) if r.free == 0 else 1.0, r.free == 0)

        def marker_item(f):
            seen, scale = set(), 1.0
            while f in lat:
                if f in seen or f not in marker:
                    return None, 1.0
                seen.add(f)
                f, s, _ = marker[f]
                scale *= s
            return f, scale

        kind = np.zeros(self.q, dtype=int)
        a = np.zeros(self.q, dtype=int)
        b = np.zeros(self.q, dtype=int)
        val = np.zeros(self.q)
        done = np.zeros(self.q, dtype=bool)
        for r, k in zip(pt.itertuples(index=False), ram.free):
            if k <= 0 or done[k - 1]:
                continue
            i = k - 1
            done[i] = True
            if np.isfinite(r.start):
                val[i] = float(r.start)
            elif r.op == "=~":
                mk, scale = marker_item(r.lhs)
                if r.rhs in obs_pos and mk is not None and mk != r.rhs:
                    kind[i], a[i], b[i], val[i] = 1, obs_pos[r.rhs], obs_pos[mk], scale
                elif r.rhs in obs_pos and mk == r.rhs:
                    val[i] = scale
            elif r.op == "~~":
                mk = marker_item(r.lhs)[0] if r.lhs == r.rhs and r.lhs in lat else None
                if mk is not None and r.lhs not in endo and mk in obs_pos:
                    # an exogenous factor with a marker item: half the marker's variance
                    # (reliability 0.5), not semopy's 0.05, which sends scoring towards a
                    # collapsing factor on larger CFAs (8 factors: 111 → 14 iterations)
                    kind[i], a[i] = 2, obs_pos[mk]
                elif r.lhs in lat or r.rhs in lat:
                    val[i] = 0.05 if r.lhs == r.rhs else 0.0
                elif r.lhs in exo and r.rhs in exo:
                    kind[i], a[i], b[i] = 3, obs_pos[r.lhs], obs_pos[r.rhs]
                elif r.lhs == r.rhs:
                    kind[i], a[i] = 2, obs_pos[r.lhs]
        return kind, a, b, val

    def bounds(self) -> list[tuple]:
        """Variances ≥ 0, everything else free (for the bounded fallback only)."""
        return [(0.0, None) if v else (None, None) for v in self.is_variance]


class GroupCore(CellCore):
    """One group of a (multi-group) model with a mean structure, on a GLOBAL parameter vector.

    With the mean vector m (intercepts of the observed variables, means or intercepts of the
    latent ones, over all RAM variables) the group's moments are

        Σ_g = F B P Bᵀ Fᵀ,    μ_g = F B m,

    and besides the covariance cells of :class:`CellCore`, ∂μ/∂a_ij = F B e_i (B m)_j for a
    path and ∂μ/∂m_i = F B e_i for an intercept: the p × cells matrix M of these columns gives
    every mean derivative at once, as U and V give every ∂Σ.

    Built from explicit cells, parallel arrays over every cell the group uses:

    kind
        ``"A"`` (path i ← j), ``"P"`` ((co)variance of i and j) or ``"m"`` (intercept or mean of
        variable i; j unused).
    i, j
        RAM indices (latent variables first, then the observed ones: ``obs_ix``).
    k
        The cell's parameter, 0-based in the global vector of length ``q``; −1 for a fixed cell.
        Cells sharing a number are one parameter: in one group (a label), or across groups
        (an equality constraint, e.g. lavaan's ``group.equal``).
    fixed
        The value of a fixed cell (ignored for free cells): per group, so that fixed values
        (a marker loading, the covariates' sample moments) may differ between groups.
    """

    def __init__(self, m: int, obs_ix, q: int, kind, i, j, k, fixed):
        kind = np.asarray(kind)
        i = np.asarray(i, dtype=int)
        j = np.asarray(j, dtype=int)
        k = np.asarray(k, dtype=int)
        fixed = np.asarray(fixed, dtype=float)
        is_a, is_p, is_m = kind == "A", kind == "P", kind == "m"
        if not np.all(is_a | is_p | is_m):
            raise ValueError("cell kinds are 'A', 'P' or 'm'")
        free = k >= 0
        A_fixed = np.zeros((m, m))
        P_fixed = np.zeros((m, m))
        fa, fp, fm = ~free & is_a, ~free & is_p, ~free & is_m
        A_fixed[i[fa], j[fa]] = fixed[fa]
        P_fixed[i[fp], j[fp]] = fixed[fp]
        P_fixed[j[fp], i[fp]] = fixed[fp]
        self._m_fixed = np.zeros(m)
        self._m_fixed[i[fm]] = fixed[fm]
        fr = free & is_a
        depth = nilpotent_depth(A_fixed != 0, (i[fr], j[fr]), m)
        cov = free & ~is_m
        self._init_cells(m, np.asarray(obs_ix, dtype=int), int(q), k[cov], i[cov], j[cov],
                         is_a[cov], A_fixed, P_fixed, depth)
        fm = free & is_m
        self._m_cells = (i[fm], k[fm])
        # mean cells: free paths (column F B e_i times (B m)_j) and free intercepts (F B e_i)
        mc = free & (is_a | is_m)
        self.mean_i = i[mc]
        self.mean_a = is_a[mc]
        self.mean_j = np.where(self.mean_a, j[mc], 0)
        self.mean_k = k[mc]
        self.mean_incidence = np.zeros((self.q, len(self.mean_k)))
        self.mean_incidence[self.mean_k, np.arange(len(self.mean_k))] = 1.0

    # -- moments ------------------------------------------------------------------------------
    def structure(self, x: np.ndarray):
        """A, P, m, B = (I − A)⁻¹ and C = B P Bᵀ."""
        x = np.asarray(x, dtype=float)
        A, P, B, C = self.matrices(x)
        mv = self._m_fixed.copy()
        mi, mk = self._m_cells
        mv[mi] = x[mk]
        return A, P, mv, B, C

    def moments(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Σ_g(θ) and μ_g(θ) of the observed variables."""
        _, _, mv, B, C = self.structure(x)
        return self._obs_block(C), B[self._o] @ mv

    def _mean_cells(self, B, mv) -> np.ndarray:
        """M (p × mean cells): ∂μ for each free path (F B e_i (B m)_j) and intercept (F B e_i)."""
        u = B @ mv
        return B[self._o][:, self.mean_i] * np.where(self.mean_a, u[self.mean_j], 1.0)

    def derivatives(self, x: np.ndarray):
        """Σ_g, μ_g, ∂Σ_g/∂θ_k (q, p, p) and ∂μ_g/∂θ_k (q, p)."""
        _, _, mv, B, C = self.structure(x)
        dS = self._sigma_jacobian(B, C)
        dm = self.mean_incidence @ self._mean_cells(B, mv).T
        return self._obs_block(C), B[self._o] @ mv, dS, dm

    # -- ML with means ------------------------------------------------------------------------
    def ml_mean_value_gradient(self, x: np.ndarray, S: np.ndarray, xbar: np.ndarray,
                               logdet_S: float):
        """F = log|Σ| + tr(SΣ⁻¹) − log|S| − p + rᵀΣ⁻¹r (r = x̄ − μ) and its gradient;
        (inf, NaN) where Σ(θ) is not positive definite.

        With W = Σ⁻¹ − Σ⁻¹(S + rrᵀ)Σ⁻¹ the covariance cells are those of F_ML (2 w uᵀWv); the
        mean part is ∂F/∂μ = −2Σ⁻¹r, i.e. −2 v_i (Bm)_j for a path and −2 v_i for an
        intercept, v = BᵀFᵀΣ⁻¹r.
        """
        bad = np.inf, np.full(self.q, np.nan)
        try:
            _, _, mv, B, C = self.structure(x)
        except EstimationError:
            return bad
        factor = self._factor(C)
        if factor is None:
            return bad
        L, Si = factor
        FB = B[self._o]
        r = xbar - FB @ mv
        Sir = Si @ r
        SiS = Si @ S
        f = (2.0 * np.sum(np.log(np.diag(L))) + float(SiS.trace()) - logdet_S - self.p
             + float(r @ Sir))
        g = self._cells_gradient(Si - SiS @ Si - np.outer(Sir, Sir), B, C)
        v = FB.T @ Sir
        u = B @ mv
        gm = -2.0 * v[self.mean_i] * np.where(self.mean_a, u[self.mean_j], 1.0)
        g += np.bincount(self.mean_k, weights=gm, minlength=self.q)
        return float(f), g

    def moment_gradient(self, structure, G: np.ndarray, g_mu: np.ndarray) -> np.ndarray:
        """The gradient of any F(Σ, μ) with dF = tr(G dΣ) + g_μᵀ dμ (G symmetric), chained
        through this core's Σ(θ) and μ(θ) at ``structure`` (:meth:`structure`'s output): the
        covariance cells as in :meth:`ml_mean_value_gradient` (2 w uᵀGv), the mean cells
        (F B e_i)ᵀ g_μ times (B m)_j for a path and once for an intercept. Used by the
        two-level likelihood, whose F is not a one-group discrepancy."""
        _, _, mv, B, C = structure
        g = self._cells_gradient(G, B, C)
        v = B[self._o].T @ g_mu
        u = B @ mv
        gm = v[self.mean_i] * np.where(self.mean_a, u[self.mean_j], 1.0)
        return g + np.bincount(self.mean_k, weights=gm, minlength=self.q)

    def information(self, x: np.ndarray) -> np.ndarray:
        """Expected information per observation × 2 (as :meth:`ml_derivatives`), means
        included: tr(Σ⁻¹∂Σ_kΣ⁻¹∂Σ_l) + 2 ∂μ_kᵀΣ⁻¹∂μ_l."""
        _, _, mv, B, C = self.structure(x)
        Si = np.linalg.inv(self._obs_block(C))
        U, V = self._uv(B, C)
        M = self._mean_cells(B, mv)
        Mi = self.mean_incidence
        return self._sigma_information(Si, U, V) + 2.0 * Mi @ (M.T @ Si @ M) @ Mi.T

    def scores(self, x: np.ndarray, X: np.ndarray) -> np.ndarray:
        """Casewise scores ∂ log L_i/∂θ (rows of X, observed order):
        ½[d_iᵀΣ⁻¹∂_kΣΣ⁻¹d_i − tr(Σ⁻¹∂_kΣ)] + d_iᵀΣ⁻¹∂_kμ with d_i = x_i − μ; per cell
        ½ dᵀΣ⁻¹∂ΣΣ⁻¹d = w (zᵀu)(zᵀv) and ½ tr(Σ⁻¹∂Σ) = w uᵀΣ⁻¹v (z = Σ⁻¹d)."""
        _, _, mv, B, C = self.structure(x)
        Si = np.linalg.inv(self._obs_block(C))
        Z = (np.asarray(X, dtype=float) - B[self._o] @ mv) @ Si
        U, V = self._uv(B, C)
        cov = self.cell_w * ((Z @ U) * (Z @ V) - np.einsum("ic,ic->c", U, Si @ V))
        return cov @ self.incidence.T + (Z @ self._mean_cells(B, mv)) @ self.mean_incidence.T
