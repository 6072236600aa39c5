"""Numerical helpers every estimator shares: the damped (quasi-)Newton step of each scoring
loop, a central-difference Jacobian, the inverse of an information matrix that reports
singularity instead of raising, and the count of sample moments (the data points of the
degrees of freedom).
"""
from __future__ import annotations

import numpy as np

__all__ = ["bfgs", "damped_step", "numerical_jacobian", "invert_information", "n_moments"]


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


def n_moments(p: int, *, n_fixed_x: int = 0, means: bool = False, groups: int = 1) -> int:
    """The number of sample moments of a model, the data points its degrees of freedom count,
    as lavaan counts them (``lav_partable_ndat``).

    Per group: the p(p+1)/2 variances and covariances of the p observed variables, and with a
    mean structure (``means``) their p means; less the moments of the ``n_fixed_x`` exogenous
    covariates held at their sample values (fixed.x: their own nx(nx+1)/2 (co)variances, and
    with means their nx means), which are neither data points nor parameters.  Times
    ``groups``.  The degrees of freedom are this less the free parameters.

    >>> n_moments(9)                       # HS39's nine items: 45 (co)variances
    45
    >>> n_moments(5, n_fixed_x=2, means=True, groups=3)    # 3 × (15 + 5 − 3 − 2)
    45
    """
    per_group = p * (p + 1) // 2 - n_fixed_x * (n_fixed_x + 1) // 2
    if means:
        per_group += p - n_fixed_x
    return groups * per_group


#: The one singularity rule of an information matrix: singular when its smallest eigenvalue is
#: at most this fraction of its largest (or any eigenvalue is not finite).
SINGULAR_RATIO = 1e-10


def invert_information(M: np.ndarray, *, symmetrize: bool = False):
    """The inverse of an information matrix (or any symmetric matrix meant to be positive
    definite), with the one singularity rule every standard error in semcluster uses.

    Returns ``(inverse, True)``, or ``(NaN matrix, False)`` when the matrix is singular: an
    entry or eigenvalue not finite, or the smallest eigenvalue at most
    :data:`SINGULAR_RATIO` times the largest both of M and of M scaled to a unit diagonal
    (:func:`scaled_inverse`: a parameter of an item measured x 10^6 has a tiny information
    without the model being unidentified).  ``symmetrize``: invert (M + Mᵀ)/2 (for a
    matrix from numerical derivatives; the callers that always did so keep doing so, so that
    their results stay the same to the last bit).
    """
    M = np.asarray(M, dtype=float)
    if symmetrize:
        M = (M + M.T) / 2
    nan = np.full(M.shape, np.nan)
    if not np.all(np.isfinite(M)):
        return nan, False
    try:
        ev = np.linalg.eigvalsh(M)
        if not np.all(np.isfinite(ev)):
            return nan, False
        if ev.min() <= SINGULAR_RATIO * max(abs(ev.max()), 1e-300):
            # singular, or only badly scaled (an item in other units)? judged again in units
            # free of the parameters' scales, with the same ratio
            return scaled_inverse(M)
        return np.linalg.inv(M), True
    except np.linalg.LinAlgError:
        return nan, False


def scaled_inverse(M: np.ndarray):
    """Inverse of a symmetric matrix judged singular or not in units free of the parameters'
    scales (a loading of an item measured x 100 is 100 times smaller, its information 10^4
    times larger): ``D^-1/2 M D^-1/2`` with ``D = diag(M)``, inverted in that form.  Returns
    (inverse, True), or (NaN matrix, False) when even that form is singular."""
    M = np.asarray(M, dtype=float)
    d = np.diag(M)
    if not (np.all(np.isfinite(M)) and np.all(d > 0)):
        return np.full(M.shape, np.nan), False
    r = 1.0 / np.sqrt(d)
    Ms = M * np.outer(r, r)
    try:
        evs = np.linalg.eigvalsh((Ms + Ms.T) / 2)
    except np.linalg.LinAlgError:
        return np.full(M.shape, np.nan), False
    if not np.all(np.isfinite(evs)) or evs.min() <= 1e-10 * max(abs(evs.max()), 1e-300):
        return np.full(M.shape, np.nan), False
    return np.linalg.inv(Ms) * np.outer(r, r), True


def bfgs(value_gradient, x: np.ndarray, H0inv: np.ndarray, *, gtol: float,
         max_iter: int = 300):
    """BFGS with Armijo step halving, started from the inverse Hessian ``H0inv``.

    ``value_gradient(x) -> (f, g)`` gives the objective and its gradient in one call (f = inf
    where x is not admissible). Started from the inverse expected information, BFGS converges
    superlinearly where Fisher scoring crawls linearly (a model that does not fit exactly).
    Returns (x, f, g, iterations, status): status "converged" (max|g| < gtol), "stuck" (no
    step of the line search decreased f) or "limit" (max_iter reached).
    """
    x = np.asarray(x, dtype=float).copy()
    f, g = value_gradient(x)
    if not np.isfinite(f):
        return x, f, g, 0, "stuck"
    Hinv = H0inv.copy()
    for it in range(1, max_iter + 1):
        if float(np.max(np.abs(g))) < gtol:
            return x, f, g, it, "converged"
        p = -Hinv @ g
        slope = float(g @ p)
        if not slope < 0:                       # not a descent direction: restart from H0
            Hinv = H0inv.copy()
            p = -Hinv @ g
            slope = float(g @ p)
        # near the optimum the predicted decrease falls below the rounding error of f: there
        # a step is judged by the gradient it reaches (else the halving runs to t = 1e-10)
        flat = -slope <= 1e-10 * max(1.0, abs(f))
        gmax = float(np.max(np.abs(g)))
        t = 1.0
        while t > 1e-10:
            xn = x + t * p
            fn, gn = value_gradient(xn)
            if np.isfinite(fn) and (fn <= f + 1e-4 * t * slope or (
                    flat and fn <= f + 1e-12 * max(1.0, abs(f))
                    and float(np.max(np.abs(gn))) < gmax)):
                break
            t *= 0.5
        else:
            return x, f, g, it, "stuck"
        s = xn - x
        y = gn - g
        sy = float(s @ y)
        if sy > 1e-12:
            rho = 1.0 / sy
            Hy = Hinv @ y
            # H − ρ(s Hyᵀ + Hy sᵀ) + (ρ²yᵀHy + ρ) s sᵀ, with one fewer outer product and no
            # temporaries beyond two (the same operations in the same order)
            T = np.outer(s, Hy)
            T += T.T
            T *= rho
            Hinv = Hinv - T
            Hinv += (rho * rho * float(y @ Hy) + rho) * np.outer(s, s)
        x, f, g = xn, fn, gn
    status = "converged" if float(np.max(np.abs(g))) < gtol else "limit"
    return x, f, g, max_iter, status
