"""Standardized solutions (lavaan's std.lv and std.all) and R², from a parameter vector.

The model is written in RAM form (McArdle & McDonald 1984): A holds the directed paths
(loadings ``f =~ x`` as x ← f, regressions ``y ~ x`` as y ← x), P the (co)variances, and the
covariance of all variables is (I − A)⁻¹ P (I − A)⁻ᵀ.  lavaan's rules (lav_standardize_lv /
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
import pandas as pd

from .spec import ModelSpec


class RAM:
    """RAM matrices of a spec, filled from a vector of free parameters."""

    def __init__(self, spec: ModelSpec, fixed_x_cov: pd.DataFrame | None = None):
        self.spec = spec
        pt = spec.partable
        self.rows = pt[pt.op.isin(["=~", "~", "~~"])].reset_index(drop=True)
        self.vars = list(spec.latent) + [v for v in spec.observed]
        ix = {v: i for i, v in enumerate(self.vars)}
        self.ix = ix
        m = len(self.vars)
        self.m = m
        self.A0 = np.zeros((m, m))
        self.P0 = np.zeros((m, m))
        if spec.fixed_x and fixed_x_cov is not None:
            fx = spec.fixed_x
            C = fixed_x_cov.loc[fx, fx].to_numpy()
            for a, va in enumerate(fx):
                for b, vb in enumerate(fx):
                    self.P0[ix[va], ix[vb]] = C[a, b]
        # where each row's value goes
        self.kind = []      # 'A' or 'P'
        self.pos = []
        for _, r in self.rows.iterrows():
            if r.op == "=~":
                self.kind.append("A"); self.pos.append((ix[r.rhs], ix[r.lhs]))
            elif r.op == "~":
                self.kind.append("A"); self.pos.append((ix[r.lhs], ix[r.rhs]))
            else:
                self.kind.append("P"); self.pos.append((ix[r.lhs], ix[r.rhs]))
        self.free = self.rows["free"].to_numpy()
        self.fixed = self.rows["fixed"].to_numpy(dtype=float)
        # index arrays for vectorised filling and standardizing
        kind = np.array(self.kind)
        pos = np.array(self.pos, dtype=int).reshape(-1, 2)
        self.is_a = kind == "A"
        self.i = pos[:, 0]
        self.j = pos[:, 1]
        self.lat_mask = np.array([v in set(spec.latent) for v in self.vars])

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


def standardized(ram: RAM, x: np.ndarray, spec: ModelSpec):
    """std.lv and std.all of every model row, R² of endogenous variables.

    Returns
    -------
    std_lv, std_all : ndarray (one value per row of ``ram.rows``)
    r2 : dict variable -> R²
    """
    A, P, vals = ram.matrices(x)
    B = np.linalg.inv(np.eye(ram.m) - A)
    C = B @ P @ B.T
    var = np.diag(C)
    with np.errstate(invalid="ignore", divide="ignore"):
        sd = np.sqrt(var)
        lat = ram.lat_mask
        sd_lv = np.where(lat, sd, 1.0)
        resvar = np.diag(P)
        i, j, is_a = ram.i, ram.j, ram.is_a
        is_var = ~is_a & (i == j)
        is_cov = ~is_a & (i != j)
        std_lv = np.empty(len(vals))
        std_all = np.empty(len(vals))
        # paths i <- j
        std_lv[is_a] = vals[is_a] * sd_lv[j[is_a]] / sd_lv[i[is_a]]
        std_all[is_a] = vals[is_a] * sd[j[is_a]] / sd[i[is_a]]
        # variances: by the total variance
        std_lv[is_var] = vals[is_var] / sd_lv[i[is_var]] ** 2
        std_all[is_var] = vals[is_var] / var[i[is_var]]
        # covariances: by the residual SDs (lavaan's cov.std = TRUE); std.lv scales only the
        # latent side(s)
        ri, rj = resvar[i[is_cov]], resvar[j[is_cov]]
        std_all[is_cov] = vals[is_cov] / np.sqrt(ri * rj)
        li = np.where(lat[i[is_cov]], ri, 1.0)
        lj = np.where(lat[j[is_cov]], rj, 1.0)
        std_lv[is_cov] = vals[is_cov] / np.sqrt(li * lj)
    endo = spec.endogenous
    r2 = {}
    for v in endo:
        i = ram.ix[v]
        r2[v] = float(1 - resvar[i] / var[i]) if var[i] > 0 else np.nan
    return std_lv, std_all, r2


class Definitions:
    """Evaluator of a model's ``:=`` parameters on raw or standardized labelled values.

    A defined parameter is its expression evaluated on the labelled parameters (lavaan); its
    standardized value is the same expression on the standardized labelled parameters.
    """

    FUNCS = {"exp": np.exp, "log": np.log, "sqrt": np.sqrt, "abs": np.abs}

    def __init__(self, ram: RAM, spec: ModelSpec):
        self.ram = ram
        self.spec = spec
        self.defs = list(spec.defined.itertuples())
        self.names = [d.lhs for d in self.defs]
        self.code = [compile(d.rhs.replace("^", "**"), "<:=>", "eval") for d in self.defs]
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
        env = dict(env)
        out = np.empty(len(self.defs))
        for i, (d, code) in enumerate(zip(self.defs, self.code)):
            # a division by zero or an overflow gives NaN/inf (flagged by the result builder),
            # never a numpy warning on the user's console or an exception
            with np.errstate(all="ignore"):
                try:
                    v = eval(code, {"__builtins__": {}, **self.FUNCS}, env)  # checked by parser
                    v = float(v)
                except (ZeroDivisionError, OverflowError, ValueError):
                    v = float("nan")
            env[d.lhs] = v
            out[i] = v
        return out

    def values(self, x: np.ndarray) -> np.ndarray:
        env = {lab: x[f - 1] for lab, f in self.label_free.items()}
        env.update(self.label_fixed)
        return self._evaluate(env)

    def standardized(self, x: np.ndarray, which: str = "all", std=None) -> np.ndarray:
        """Defined parameters on std.lv or std.all values (``std`` = precomputed arrays)."""
        sl, sa, _ = std if std is not None else standardized(self.ram, x, self.spec)
        arr = sl if which == "lv" else sa
        return self._evaluate({lab: arr[k] for lab, k in self.label_row.items()})
