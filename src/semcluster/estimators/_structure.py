"""The covariance structure Σ(θ) of a model and its derivatives, in plain numpy.

The estimators in this package (MLR, FIML, WLSMV) need Σ(θ) and the Jacobian ∂Σ/∂θ many
times per fit and casewise quantities that semopy does not give; they work on the RAM form
of the model that :class:`semcluster.standardized.RAM` builds from the parameter table
(McArdle & McDonald 1984):

    C = (I − A)⁻¹ P (I − A)⁻ᵀ,      Σ = F C Fᵀ,

with A the directed paths, P the (co)variances and F the selection of the observed variables.
For a free parameter θ_k entering A at the cells E_A(k) and P at E_P(k) (several cells when a
label is shared), with B = (I − A)⁻¹,

    ∂C/∂θ_k = B E_A C + C E_Aᵀ Bᵀ + B E_P Bᵀ        (e.g. Neudecker & Satorra 1991).

Vectors of non-duplicated moments use lavaan's order: ``vech`` runs down the columns of the lower
triangle (s11, s21, ..., sp1, s22, s32, ...), as ``lav_matrix_vech``.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import EstimationError


def vech_indices(p: int) -> tuple[np.ndarray, np.ndarray]:
    """Row and column indices of the lower triangle, column by column (lavaan's vech order)."""
    rows, cols = [], []
    for j in range(p):
        for i in range(j, p):
            rows.append(i)
            cols.append(j)
    return np.array(rows, dtype=int), np.array(cols, dtype=int)


def vechs_indices(p: int) -> tuple[np.ndarray, np.ndarray]:
    """As :func:`vech_indices` without the diagonal (the correlations of lavaan's ``vechs``)."""
    r, c = vech_indices(p)
    keep = r != c
    return r[keep], c[keep]


def duplication_matrix(p: int) -> np.ndarray:
    """D with vec(S) = D vech(S) for symmetric S (Magnus & Neudecker 1988)."""
    r, c = vech_indices(p)
    D = np.zeros((p * p, len(r)))
    for k, (i, j) in enumerate(zip(r, c)):
        D[j * p + i, k] = 1.0
        D[i * p + j, k] = 1.0
    return D


class CovarianceStructure:
    """Σ(θ) and ∂Σ/∂θ for the free parameters of a :class:`~semcluster.spec.ModelSpec`.

    Parameters
    ----------
    spec : ModelSpec
        The model (free parameters numbered 1..q in ``spec.partable["free"]``).
    fixed_x_cov : DataFrame, optional
        Sample covariances of exogenous observed covariates (lavaan's ``fixed.x``), which are
        held at these values.
    """

    def __init__(self, spec, fixed_x_cov: pd.DataFrame | None = None):
        from ..standardized import RAM

        self.spec = spec
        self.ram = RAM(spec, fixed_x_cov=fixed_x_cov)
        self.observed = list(spec.observed)
        self.p = len(self.observed)
        self.q = int(spec.n_free)
        self.obs_ix = np.array([self.ram.ix[v] for v in self.observed], dtype=int)
        m = self.ram.m
        # indicator structure of each free parameter: lists of (matrix, i, j)
        self._cells: list[list[tuple[str, int, int]]] = [[] for _ in range(self.q)]
        for k, (kind, (i, j)) in enumerate(zip(self.ram.kind, self.ram.pos)):
            f = int(self.ram.free[k])
            if f > 0:
                self._cells[f - 1].append((kind, i, j))
        self._m = m

    # -- moments ------------------------------------------------------------------------------
    def matrices(self, x: np.ndarray):
        A, P, _ = self.ram.matrices(np.asarray(x, dtype=float))
        try:
            B = np.linalg.inv(np.eye(self._m) - A)
        except np.linalg.LinAlgError:
            raise EstimationError("the regression paths form a loop with gain 1 "
                                  "((I - B) is singular)") from None
        C = B @ P @ B.T
        return A, P, B, C

    def sigma(self, x: np.ndarray) -> np.ndarray:
        """Model-implied covariance of the observed variables (order ``spec.observed``)."""
        _, _, _, C = self.matrices(x)
        o = self.obs_ix
        return C[np.ix_(o, o)]

    def jacobian(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Σ(θ) and the array ∂Σ/∂θ_k of shape (q, p, p)."""
        _, _, B, C = self.matrices(x)
        o = self.obs_ix
        Bo = B[o, :]                # F B
        Co = C[o, :]                # F C
        D = np.zeros((self.q, self.p, self.p))
        for k, cells in enumerate(self._cells):
            d = np.zeros((self.p, self.p))
            for kind, i, j in cells:
                if kind == "A":     # ∂A = e_i e_jᵀ: F B e_i (F C e_j)ᵀ + transpose
                    t = np.outer(Bo[:, i], Co[:, j])
                    d += t + t.T
                else:               # ∂P = e_i e_jᵀ (+ e_j e_iᵀ off the diagonal)
                    t = np.outer(Bo[:, i], Bo[:, j])
                    d += t if i == j else t + t.T
            D[k] = d
        return C[np.ix_(o, o)], D

    def jacobian_vech(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Σ(θ) and Δ = ∂vech(Σ)/∂θᵀ, shape (p(p+1)/2, q)."""
        Sigma, D = self.jacobian(x)
        r, c = vech_indices(self.p)
        return Sigma, D[:, r, c].T

    def total_cov(self, x: np.ndarray) -> np.ndarray:
        return self.matrices(x)[3]


def damped_step(objective, x: np.ndarray, H: np.ndarray, g: np.ndarray, accept,
                *, sign: float = -1.0, t_min: float = 1e-8):
    """One (quasi-)Newton step with step halving: the direction H⁻¹g (least squares when H is
    singular), scaled by t = 1, ½, ¼, … > ``t_min`` until ``accept(objective(x_new))``.

    Used by every scoring / Gauss-Newton loop (ML engine, GLS, FIML). ``sign`` is −1 for a
    minimisation (x − tH⁻¹g), +1 for a maximisation. Returns (x_new, objective) or None when no
    step was accepted.
    """
    try:
        step = np.linalg.solve(H, g)
    except np.linalg.LinAlgError:
        step = np.linalg.lstsq(H, g, rcond=None)[0]
    t = 1.0
    while t > t_min:
        xn = x + sign * t * step
        fn = objective(xn)
        if np.isfinite(fn) and accept(fn):
            return xn, fn
        t /= 2
    return None


def numerical_jacobian(func, x: np.ndarray, rel_step: float = 1e-5) -> np.ndarray:
    """Central-difference Jacobian of a vector function (columns = parameters)."""
    x = np.asarray(x, dtype=float)
    f0 = np.atleast_1d(func(x))
    J = np.empty((f0.size, x.size))
    for k in range(x.size):
        h = rel_step * max(1.0, abs(x[k]))
        xp = x.copy()
        xm = x.copy()
        xp[k] += h
        xm[k] -= h
        J[:, k] = (np.atleast_1d(func(xp)) - np.atleast_1d(func(xm))) / (2 * h)
    return J


def symmetric_inverse(M: np.ndarray, what: str = "information matrix"):
    """Inverse of a symmetric positive-definite matrix, or (NaN matrix, False) if singular."""
    M = (M + M.T) / 2
    try:
        ev = np.linalg.eigvalsh(M)
    except np.linalg.LinAlgError:
        return np.full(M.shape, np.nan), False
    if not np.all(np.isfinite(ev)) or ev.min() <= 1e-10 * max(abs(ev.max()), 1e-300):
        return np.full(M.shape, np.nan), False
    return np.linalg.inv(M), True
