"""Local identification of a model, checked before any data are fitted.

A model is locally identified at θ when the Jacobian Δ = ∂σ(θ)/∂θᵀ of its moments has full
column rank (Rothenberg 1971; Bekker, Merckens & Wansbeek 1994).  Evaluated at random parameter
values, rank deficiency means — with probability one — that the model is not identified
anywhere, and the null-space direction names the parameters that trade off against each other.
This catches what counting rules miss (e.g. a block of residual covariances that leaves one
factor unidentified although the model's df > 0).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._structure import CovarianceStructure


@dataclass(frozen=True)
class Identification:
    """Outcome of :func:`check_identification`.

    Attributes
    ----------
    identified : bool
    rank, n_free : int
        Rank of Δ and number of free parameters.
    involved : tuple of str
        Parameters (``lhs op rhs``) in the null space of Δ, largest weight first.
    message : str
        Plain-language explanation ("" when identified).
    """

    identified: bool
    rank: int
    n_free: int
    involved: tuple
    message: str


def _random_values(spec, rng) -> np.ndarray:
    pt = spec.partable
    q = int(spec.n_free)
    x = np.zeros(q)
    for _, r in pt[pt["free"] > 0].iterrows():
        k = int(r["free"]) - 1
        if r.op in ("=~", "~"):
            x[k] = rng.uniform(0.4, 1.2)
        elif r.lhs == r.rhs:
            x[k] = rng.uniform(0.6, 1.6)
        else:
            x[k] = rng.uniform(-0.3, 0.3)
    return x


def check_identification(spec, *, seed: int = 12345, jacobian=None,
                         keep=None) -> Identification:
    """Rank of the moment Jacobian at two random points.

    Parameters
    ----------
    spec : ModelSpec
    jacobian, keep : optional
        For an estimator that fits another moment structure (WLSMV's delta-parameterized
        correlations): its Jacobian as a function of the reduced parameter vector, and the
        positions ``keep`` of those parameters among the spec's free ones. Default: ∂vech(Σ)/∂θ
        of the model core, all free parameters.

    The default check depends on the model only: it is made once per (frozen) spec and kept
    with it, so a loop of fits of one model pays for it once.
    """
    if jacobian is None and keep is None:
        cache = spec.__dict__.setdefault("_identification", {})
        if seed not in cache:
            cache[seed] = _check(spec, seed, None, None)
        return cache[seed]
    return _check(spec, seed, jacobian, keep)


def _check(spec, seed, jacobian, keep) -> Identification:
    rng = np.random.default_rng(seed)
    fx_cov = None
    if spec.fixed_x:
        # exogenous covariates (fixed.x) enter at their sample (co)variances: any positive
        # definite matrix stands for them here (with zeros, their paths would look unidentified)
        import pandas as pd

        nx = len(spec.fixed_x)
        fx_cov = pd.DataFrame(0.7 * np.eye(nx) + 0.3, index=spec.fixed_x, columns=spec.fixed_x)
    structure = CovarianceStructure(spec, fixed_x_cov=fx_cov)
    q = structure.q
    first = {}
    for lhs, op, rhs, k in zip(spec.partable.lhs, spec.partable.op, spec.partable.rhs,
                               spec.partable["free"]):
        if k > 0:
            first.setdefault(int(k), f"{lhs} {op} {rhs}")
    names = [first[k] for k in range(1, q + 1)]
    if jacobian is not None:
        keep = np.arange(q) if keep is None else np.asarray(keep)

        def jac(x):
            return jacobian(x[keep])
    else:
        keep = np.arange(q)

        def jac(x):
            return structure.jacobian_vech(x)[1]
    deficient = []
    for _ in range(2):
        J = jac(_random_values(spec, rng))
        if J.shape[1] == 0:
            return Identification(True, 0, 0, (), "")
        J = J / np.maximum(np.linalg.norm(J, axis=0), 1e-300)[None, :]
        u, s, vt = np.linalg.svd(J, full_matrices=False)
        tol = max(J.shape) * np.finfo(float).eps * 1e3 * s[0]
        rank = int(np.sum(s > tol))
        deficient.append((rank, vt))
    rank = max(r for r, _ in deficient)
    n = len(keep)
    if rank >= n:
        return Identification(True, rank, n, (), "")
    vt = deficient[0][1]
    null = vt[rank:]
    weight = np.sqrt(np.sum(null ** 2, axis=0))
    order = np.argsort(-weight)
    involved = tuple(names[keep[i]] for i in order if weight[i] > 0.05)
    message = (f"the model is not identified: {n - rank} of its {n} free parameters cannot be "
               f"determined from the data (they trade off against each other: "
               f"{', '.join(involved[:8])}{' ...' if len(involved) > 8 else ''}); fix one of "
               f"them or drop a path")
    return Identification(False, rank, n, involved, message)
