"""Standardized solutions (lavaan's std.lv and std.all) and R², from a parameter vector.

The model is the RAM form of the model core (:class:`semcluster.model.RAM`): A holds the
directed paths, P the (co)variances, and the covariance of all variables is
(I − A)⁻¹ P (I − A)⁻ᵀ.  lavaan's rules (lav_standardize_lv /
lav_standardize_all, lavaan 0.6):

* std.lv scales latent variables to unit variance, observed ones stay in their metric;
* std.all scales every variable by its model-implied SD;
* a covariance between two different variables is divided by the square root of the product of
  their *residual* variances (the ``~~`` estimates), so that it reads as a residual correlation;
  a variance is divided by the total variance;
* defined parameters (``:=``) are their expression evaluated on the standardized labels.
"""
from __future__ import annotations

import numpy as np

from .core import RAM, total_effects
from ..spec.parser import ModelSpec

__all__ = ["RAM", "Definitions", "standardized"]


def standardized(ram: RAM, x: np.ndarray, spec: ModelSpec):
    """std.lv and std.all of every model row, R² of endogenous variables.

    Returns
    -------
    std_lv, std_all : ndarray (one value per row of ``ram.rows``)
    r2 : dict variable -> R²
    """
    std_lv, std_all, var, resvar = standardize_batch(ram, np.asarray(x, dtype=float)[None, :])
    r2 = {}
    for v in spec.endogenous:
        i = ram.ix[v]
        r2[v] = float(1 - resvar[0, i] / var[0, i]) if var[0, i] > 0 else np.nan
    return std_lv[0], std_all[0], r2


def standardize_batch(ram: RAM, X: np.ndarray):
    """std.lv and std.all for many parameter vectors at once (rows of X, shape k × q).

    Returns (std_lv, std_all, var, resvar): k × rows, k × rows, and the total and residual
    variances of every variable (k × m). One batched matrix inverse instead of k calls is what
    makes the delta-method Jacobian of the standardized solution cheap.
    """
    X = np.atleast_2d(X)
    k = X.shape[0]
    vals = np.tile(ram.fixed, (k, 1))
    mask = ram.free > 0
    vals[:, mask] = X[:, ram.free[mask] - 1]
    m = ram.m
    A = np.zeros((k, m, m))
    P = np.broadcast_to(ram.P0, (k, m, m)).copy()
    i, j, is_a = ram.i, ram.j, ram.is_a
    A[:, i[is_a], j[is_a]] = vals[:, is_a]
    p = ~is_a
    P[:, i[p], j[p]] = vals[:, p]
    P[:, j[p], i[p]] = vals[:, p]
    B = total_effects(A, ram.depth)
    C = B @ P @ B.transpose(0, 2, 1)
    var = np.diagonal(C, axis1=1, axis2=2)
    resvar = np.diagonal(P, axis1=1, axis2=2)
    with np.errstate(invalid="ignore", divide="ignore"):
        sd = np.sqrt(var)
        lat = ram.lat_mask
        sd_lv = np.where(lat, sd, 1.0)
        is_var = p & (i == j)
        is_cov = p & (i != j)
        std_lv = np.empty_like(vals)
        std_all = np.empty_like(vals)
        # paths i <- j
        ia, ja = i[is_a], j[is_a]
        std_lv[:, is_a] = vals[:, is_a] * sd_lv[:, ja] / sd_lv[:, ia]
        std_all[:, is_a] = vals[:, is_a] * sd[:, ja] / sd[:, ia]
        # variances: by the total variance
        iv = i[is_var]
        std_lv[:, is_var] = vals[:, is_var] / sd_lv[:, iv] ** 2
        std_all[:, is_var] = vals[:, is_var] / var[:, iv]
        # covariances: by the residual SDs (lavaan's cov.std = TRUE); std.lv scales only the
        # latent side(s)
        ic, jc = i[is_cov], j[is_cov]
        ri, rj = resvar[:, ic], resvar[:, jc]
        std_all[:, is_cov] = vals[:, is_cov] / np.sqrt(ri * rj)
        li = np.where(lat[ic], ri, 1.0)
        lj = np.where(lat[jc], rj, 1.0)
        std_lv[:, is_cov] = vals[:, is_cov] / np.sqrt(li * lj)
    return std_lv, std_all, var, resvar


def std_all_jacobian(ram: RAM, x: np.ndarray) -> np.ndarray:
    """∂std.all/∂θ (rows × q), analytically.

    With C = BPBᵀ, B = (I − A)⁻¹, the total variances change with a path cell (i ← j) as
    ∂diag C = 2·B[:, i]∘C[:, j], with a covariance cell (i, j) as 2·B[:, i]∘B[:, j] and with a
    variance cell (i, i) as B[:, i]²; the residual variances are diag P. The chain rule then
    gives, for a path s = v·sd_j/sd_i, a variance s = v/var_i and a covariance
    s = v/√(ψ_i ψ_j) (lavaan's std.all rules, see :func:`standardized`), the derivative of
    every row. Checked against central differences of :func:`standardize_batch` in the tests.
    """
    x = np.asarray(x, dtype=float)
    q = len(x)
    A, P, vals = ram.matrices(x)
    m = ram.m
    B = total_effects(A, ram.depth)
    C = B @ P @ B.T
    var = np.diag(C)
    resvar = np.diag(P)
    i, j, is_a = ram.i, ram.j, ram.is_a
    free = ram.free > 0
    k = ram.free[free] - 1
    fi, fj, fa = i[free], j[free], is_a[free]
    # ∂diag(C) per free cell, then summed into parameters (shared labels: several cells)
    contrib = np.where(fa, 2.0 * B[:, fi] * C[:, fj], B[:, fi] * B[:, fj] * np.where(fi == fj,
                                                                                     1.0, 2.0))
    inc = np.zeros((len(k), q))
    inc[np.arange(len(k)), k] = 1.0
    dvar = contrib @ inc                                   # m × q
    dres = np.zeros((m, q))
    vc = ~fa & (fi == fj)
    np.add.at(dres, (fi[vc], k[vc]), 1.0)
    dval = np.zeros((len(vals), q))
    dval[np.flatnonzero(free), k] = 1.0
    J = np.empty((len(vals), q))
    with np.errstate(invalid="ignore", divide="ignore"):
        sd = np.sqrt(var)
        ia, ja = i[is_a], j[is_a]
        v = vals[is_a][:, None]
        J[is_a] = (dval[is_a] * (sd[ja] / sd[ia])[:, None]
                   + v * (dvar[ja] / (2 * sd[ja])[:, None]) / sd[ia][:, None]
                   - v * (sd[ja] / (2 * sd[ia] ** 3))[:, None] * dvar[ia])
        is_var = ~is_a & (i == j)
        iv = i[is_var]
        J[is_var] = (dval[is_var] / var[iv][:, None]
                     - (vals[is_var] / var[iv] ** 2)[:, None] * dvar[iv])
        is_cov = ~is_a & (i != j)
        ic, jc = i[is_cov], j[is_cov]
        root = np.sqrt(resvar[ic] * resvar[jc])[:, None]
        J[is_cov] = (dval[is_cov] / root
                     - (vals[is_cov][:, None] / (2 * root))
                     * (dres[ic] / resvar[ic][:, None] + dres[jc] / resvar[jc][:, None]))
    return J


def std_all_jacobian_numeric(ram: RAM, x: np.ndarray, rel_step: float = 1e-6) -> np.ndarray:
    """∂std.all/∂θ by central differences (rows × q), all 2q evaluations in one batch (the
    reference the analytic :func:`std_all_jacobian` is tested against)."""
    x = np.asarray(x, dtype=float)
    q = len(x)
    h = rel_step * np.maximum(1.0, np.abs(x))
    E = np.diag(h)
    X = np.vstack([x + E, x - E])
    _, sa, _, _ = standardize_batch(ram, X)
    return ((sa[:q] - sa[q:]) / (2 * h[:, None])).T


DEFINITION_FUNCS = {"exp": np.exp, "log": np.log, "sqrt": np.sqrt, "abs": np.abs}


def compile_definitions(defined) -> list:
    """The code of each ``:=`` row of ``defined`` (a table with lhs, rhs), in order: checked
    and bounded by :func:`semcluster.spec.parser.compile_expression` (numbers as floats, no power
    towers), whoever built the table."""
    from ..spec.parser import compile_expression

    return [compile_expression(d.rhs, f"defined parameter '{d.lhs}' :=")
            for d in defined.itertuples()]


def evaluate_definitions(names, codes, env: dict) -> np.ndarray:
    """The ``:=`` parameters' values from the labelled values in ``env``; each defined name is
    available to the later ones. A division by zero or an overflow gives NaN/inf (flagged by
    the result builder), never a numpy warning on the user's console or an exception."""
    env = dict(env)
    out = np.empty(len(codes))
    for i, (name, code) in enumerate(zip(names, codes)):
        with np.errstate(all="ignore"):
            try:
                v = eval(code, {"__builtins__": {}, **DEFINITION_FUNCS}, env)  # parser-checked
                v = float(v)
            except (ZeroDivisionError, OverflowError, ValueError, TypeError):
                v = float("nan")
        env[name] = v
        out[i] = v
    return out


class Definitions:
    """Evaluator of a model's ``:=`` parameters on raw or standardized labelled values.

    A defined parameter is its expression evaluated on the labelled parameters (lavaan); its
    standardized value is the same expression on the standardized labelled parameters.
    """

    def __init__(self, ram: RAM, spec: ModelSpec):
        self.ram = ram
        self.spec = spec
        self.defs = list(spec.defined.itertuples())
        self.names = [d.lhs for d in self.defs]
        self.code = compile_definitions(spec.defined)
        rows = ram.rows
        self.label_free, self.label_fixed, self.label_row = {}, {}, {}
        for k, r in enumerate(rows.itertuples()):
            if r.label:
                self.label_row.setdefault(r.label, k)
                if r.free > 0:
                    self.label_free.setdefault(r.label, int(r.free))
                else:
                    self.label_fixed.setdefault(r.label, float(r.fixed))

    def __len__(self):
        return len(self.defs)

    def _evaluate(self, env: dict) -> np.ndarray:
        return evaluate_definitions(self.names, self.code, env)

    def values(self, x: np.ndarray) -> np.ndarray:
        env = {lab: x[f - 1] for lab, f in self.label_free.items()}
        env.update(self.label_fixed)
        return self._evaluate(env)

    def standardized(self, x: np.ndarray, which: str = "all", std=None) -> np.ndarray:
        """Defined parameters on std.lv or std.all values (``std`` = precomputed arrays)."""
        sl, sa, _ = std if std is not None else standardized(self.ram, x, self.spec)
        arr = sl if which == "lv" else sa
        return self._evaluate({lab: arr[k] for lab, k in self.label_row.items()})
