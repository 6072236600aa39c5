"""Multi-group models and mean structures, with lavaan 0.6's semantics (estimators ML, MLR
and GLS; MLR: see :func:`robust_mlr`; GLS: :func:`_fit_groups_gls`; FIML with or without fixed
covariates).

Used by ``semcluster.fit(model, data, group=..., group_equal=..., group_partial=...,
meanstructure=...)`` and by :func:`semcluster.analysis.invariance.measurement_invariance` (one
implementation for both).

The model is built on the RAM form (:class:`semcluster.model.RAM`) with a mean
structure: per group g, Σ_g = F(I − A_g)⁻¹P_g(I − A_g)⁻ᵀFᵀ and μ_g = F(I − A_g)⁻¹m_g, where m_g
holds the intercepts of the observed variables and the latent means (intercepts). The
matrices and every derivative come from the model core, one
:class:`semcluster.model.GroupCore` per group whose cells map to the global parameter vector.

Which rows exist in each group and which are one parameter is decided in the spec layer: the
model's parameter table for G groups, :func:`semcluster.spec.parser.group_table` (lavaan's
``parTable()`` with one block per group: lavaan's defaults per group, ``group.equal`` /
``group.partial``, shared labels, ``c(...)`` modifiers and ``==`` resolved into the ``free``
numbers; checked against lavaan's own tables in tests/test_parameter_table.py).
:class:`MultiGroupModel` reads that table (``mg.table``) and places each row in its group's
matrices.

ML fit function (lavaan's, times 2): F = Σ_g (N_g/N)[log|Σ_g| + tr(S_gΣ_g⁻¹) − log|S_g| − p
+ (x̄_g − μ_g)ᵀΣ_g⁻¹(x̄_g − μ_g)], χ² = N·F; analytic gradient with W = Σ⁻¹ − Σ⁻¹(S + rrᵀ)Σ⁻¹,
r = x̄ − μ, B = (I − A)⁻¹, v = BᵀFᵀΣ⁻¹r, u = Bm: ∂F/∂A = 2BᵀFᵀWFBPBᵀ − 2vuᵀ,
∂F/∂P = BᵀFᵀWFB, ∂F/∂m = −2v.  Standard errors from the expected information
Σ_g N_g [½ tr(Σ⁻¹∂_kΣ Σ⁻¹∂_lΣ) + ∂_kμᵀΣ⁻¹∂_lμ].  df = G(p(p+1)/2 + p) − npar.
The optimum: BFGS from the pooled single-group solution, polished by Fisher scoring.
Missing answers with the FIML rule (lavaan's missing = "ml"): the casewise likelihood of the
answers given (:func:`fiml_loglik_gradient`), observed-information SEs, χ² against the EM
saturated model per group (:func:`fiml_statistics`); with MLR :func:`robust_fiml_groups`.
Fit measures: every name of lavaan's ``fitMeasures()`` in its order, from
:func:`semcluster.measures.fitmeasures.group_fit_measures` (one formula for one group or several: the
baseline is the independence model with free variances and means in every group; RMSEA √G
times the one-group value; RMR/SRMR/GFI per group weighted by N_g/N).  The result is a
:class:`semcluster.result.result.SEMResult` built by :func:`semcluster.result.builder.assemble_group_result`
(``group`` column, per-group moments, the one Wald and admissibility rules).

Exogenous observed covariates (lavaan's fixed.x): their (co)variances and means are fixed at
each group's sample values and left out of the data points (df) and of the baseline's free
part; logL is conditional on them.  Defined parameters (``:=``) are functions of the labels'
values, with delta-method SEs (group 0 in the table, as lavaan's).  std.lv/std.all: see
:func:`standardize`; R² per group: :func:`r_squared`.

Checked against lavaan 0.6.14 in tests/test_groups.py (fixtures from
tests/fixtures/models/make_groups.R).
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
from scipy import optimize

from ..errors import DataError, ModelSpecError, OptionError, SemclusterError
from .. import numerics
from ..numerics import invert_information
from ..result.builder import r_squared, standardize  # noqa: F401  (the group model's std/R²)
from ..spec.parser import STRUCTURE_OPS, group_equal_classes, group_partial_entries, group_table
from ..model.standardized import compile_definitions, evaluate_definitions


@dataclass
class _Param:
    """One row of the groups' parameter table (:func:`semcluster.spec.parser.group_table`) with its
    cell in the RAM matrices: ``kind`` "A", "P" or "m" and (i, j); ``key`` the row's parameter
    number (``free``) and ``fixed`` None for a free row, else its value."""

    kind: str        # "A", "P", "m"
    i: int
    j: int
    group: int       # 0-based
    key: int         # the table's 'free' (0 for a fixed row)
    fixed: float | None
    lhs: str
    op: str
    rhs: str
    label: str       # the user's label ("" if none)
    start: float = float("nan")


class MultiGroupModel:
    """A model in G groups (G = 1: a single group with a mean structure) built from its
    parameter table, :func:`semcluster.spec.parser.group_table` (``table``): one
    :class:`~semcluster.model.GroupCore` per group whose cells map to the table's parameter
    numbers."""

    def __init__(self, spec, groups, group_equal=(), group_partial=(), moments=None):
        from ..model.core import RAM, GroupCore

        if spec.fixed_x and moments is None:
            raise ModelSpecError("exogenous observed covariates need the group moments")
        self.spec = spec
        self.fixed_x = list(spec.fixed_x)
        self.groups = [str(g) for g in groups]
        G = len(self.groups)
        self.group_equal = group_equal_classes(group_equal)
        self.group_partial = group_partial_entries(group_partial)
        self.table = group_table(spec, self.groups, self.group_equal, self.group_partial,
                                 fixed_x_moments=moments)
        self.ram = RAM(spec)
        self.obs = list(spec.observed)
        self.obs_ix = np.array([self.ram.ix[v] for v in self.obs])
        self.m = self.ram.m
        ix = self.ram.ix
        t = self.table[self.table.group > 0]
        params: list[_Param] = []
        for lhs, op, rhs, g, free, ustart, start, label in zip(
                t.lhs, t.op, t.rhs, t.group, t["free"], t.ustart, t.start, t.label):
            if op == "=~":
                kind, i, j = "A", ix[rhs], ix[lhs]
            elif op == "~":
                kind, i, j = "A", ix[lhs], ix[rhs]
            elif op == "~~":
                kind, i, j = "P", ix[lhs], ix[rhs]
            else:
                kind, i, j = "m", ix[lhs], 0
            fixed = None if free > 0 else float(ustart if np.isfinite(ustart) else start)
            params.append(_Param(kind, i, j, int(g) - 1, int(free), fixed, lhs, op, rhs,
                                 label, float(ustart) if free > 0 else float("nan")))
        self.npar = int(t["free"].max()) if len(t) else 0
        self.numbers = {k: k - 1 for k in range(1, self.npar + 1)}
        self.params = params
        self.names = [None] * self.npar
        for p_ in params:
            if p_.fixed is None and self.names[p_.key - 1] is None:
                self.names[p_.key - 1] = self._describe(p_)
        self._fill = [[p_ for p_ in params if p_.group == g] for g in range(G)]
        # one model core per group: its cells, fixed values and global parameter numbers
        self.cores = [GroupCore(self.m, self.obs_ix, self.npar,
                                [p_.kind for p_ in fill], [p_.i for p_ in fill],
                                [p_.j for p_ in fill],
                                [-1 if p_.fixed is not None else p_.key - 1 for p_ in fill],
                                [0.0 if p_.fixed is None else p_.fixed for p_ in fill])
                      for fill in self._fill]
        # labels -> a parameter: for ':=' definitions
        self.label_rows = {}
        for p_ in params:
            if p_.label:
                self.label_rows.setdefault(p_.label, p_)
        self.defined = [(r.lhs, r.rhs) for r in spec.defined.itertuples()]
        self._defined_code = compile_definitions(spec.defined)

    def defined_values(self, x) -> np.ndarray:
        """Values of the ':=' parameters: their expressions evaluated at the labels' values
        (the arithmetic was checked by the parser: + − * / ^, exp, log, sqrt, abs)."""
        return evaluate_definitions(
            [n for n, _ in self.defined], self._defined_code, {lab: self.value(p_, x) for lab, p_ in self.label_rows.items()})

    def _describe(self, p_):
        v = self.ram.vars
        if p_.kind == "A":
            return f"{v[p_.j]}->{v[p_.i]}[g{p_.group + 1}]"
        if p_.kind == "P":
            return f"{v[p_.i]}~~{v[p_.j]}[g{p_.group + 1}]"
        return f"{v[p_.i]}~1[g{p_.group + 1}]"

    def value(self, p_, x):
        return p_.fixed if p_.fixed is not None else x[self.numbers[p_.key]]

    def matrices(self, x, g):
        """A, P and the mean vector m of group g."""
        A, P, mvec, _, _ = self.cores[g].structure(x)
        return A, P, mvec

    def moments(self, x, g):
        """Σ_g, μ_g and (A, P, m, B) of group g (:class:`~semcluster.model.core.GroupCore`)."""
        A, P, mvec, B, C = self.cores[g].structure(x)
        o = self.obs_ix
        return C[np.ix_(o, o)], (B @ mvec)[o], (A, P, mvec, B)

    def objective_gradient(self, x, data):
        """F = Σ_g w_g F_g and its gradient (``data``: list of (S_g, xbar_g, N_g))."""
        N = sum(d[2] for d in data)
        f = 0.0
        grad = np.zeros(self.npar)
        for core, (S, xbar, n) in zip(self.cores, data):
            fg, gg = core.ml_mean_value_gradient(x, S, xbar, np.linalg.slogdet(S)[1])
            if not np.isfinite(fg):
                return np.inf, np.full(self.npar, np.nan)
            w = n / N
            f += w * fg
            grad += w * gg
        return float(f), grad

    def derivatives(self, x, g):
        """Σ_g, μ_g and their derivatives ∂Σ/∂θ_k (q, p, p), ∂μ/∂θ_k (q, p) in group g."""
        return self.cores[g].derivatives(x)

    def information(self, x, data):
        """Expected information of the whole sample:
        Σ_g N_g [½ tr(Σ⁻¹∂_kΣ Σ⁻¹∂_lΣ) + ∂_kμᵀ Σ⁻¹ ∂_lμ]."""
        info = np.zeros((self.npar, self.npar))
        for core, (_, _, n) in zip(self.cores, data):
            info += n / 2 * core.information(x)
        return info

    def scores(self, x, g, X):
        """Casewise scores ∂ log L_i/∂θ in group g (rows of X):
        ½[d_iᵀΣ⁻¹∂_kΣΣ⁻¹d_i − tr(Σ⁻¹∂_kΣ)] + d_iᵀΣ⁻¹∂_kμ, d_i = x_i − μ."""
        return self.cores[g].scores(x, X)

    def start(self, data, single=None):
        """Start values: the pooled single-group ML solution (``single``: its free-parameter
        vector) or, without one, lavaan's simple starts (loadings 1, residual variances half
        the sample variances, latent variances 0.05); group means as intercepts."""
        x = np.zeros(self.npar)
        vals = self.ram.values(single) if single is not None else None
        row_of = {(kk, pos): idx for idx, (kk, pos) in
                  enumerate(zip(self.ram.kind, self.ram.pos))}
        lat = set(self.spec.latent)
        set_ = set()
        for p_ in self.params:
            if p_.fixed is not None:
                continue
            k = self.numbers[p_.key]
            if k in set_:
                continue
            set_.add(k)
            if np.isfinite(p_.start):
                x[k] = p_.start
            elif p_.kind in ("A", "P"):
                if vals is not None:
                    x[k] = vals[row_of[(p_.kind, (p_.i, p_.j))]]
                elif p_.kind == "A":
                    x[k] = 1.0 if p_.op == "=~" else 0.0
                elif p_.i == p_.j:
                    v = self.ram.vars[p_.i]
                    x[k] = 0.05 if v in lat else 0.5 * data[p_.group][0][
                        self.obs.index(v), self.obs.index(v)]
            else:
                v = self.ram.vars[p_.i]
                if v in self.obs:
                    x[k] = data[p_.group][1][self.obs.index(v)]
        return x


def robust_mlr(mg, x, data, raw):
    """MLR (lavaan's estimator = "MLR" defaults, as semcluster.estimation.mlr for one group):

    * Huber-White SEs: V = A⁻¹BA⁻¹, A the observed information (N/2 × the Hessian of F, by
      central differences of the analytic gradient), B = Σ_g Σ_i s_i s_iᵀ (casewise scores at
      the estimates, d_i = x_i − μ̂_g).
    * Yuan-Bentler (Mplus) scaling: c = [Σ_g tr(A₁g⁻¹B₁g) − tr(A⁻¹B)]/df, with A₁g, B₁g the
      expected and first-order information of the saturated model of group g (means and
      covariances) at the sample moments; for the baseline (free means and variances per
      group) tr(A_b⁻¹B_b) = Σ_g [p + Σ_j (1/(2N_g)) Σ_i (d_ij²/s_jj − 1)²].

    ``raw``: per group the (N_g, p) data in ``mg.obs`` order. Returns (vcov, ok, c, c_b, tr,
    tr1): tr = tr(UΓ) = Σ_g tr(A₁g⁻¹B₁g) − tr(A⁻¹B) and tr1 = Σ_g tr(A₁g⁻¹B₁g).
    """
    from ._structure import numerical_jacobian
    from .mlr import h1_trace

    N = sum(d[2] for d in data)
    H = numerical_jacobian(lambda z: mg.objective_gradient(z, data)[1], x, rel_step=1e-6)
    A = N / 2 * (H + H.T) / 2
    sc = np.vstack([mg.scores(x, g, X) for g, X in enumerate(raw)])
    B = sc.T @ sc
    Ainv, ok = invert_information(A)
    vcov = Ainv @ B @ Ainv
    p = len(mg.obs)
    G = len(raw)
    xi = [mg.obs.index(v) for v in mg.fixed_x]
    yi = [i for i in range(p) if i not in xi]
    px = len(xi)
    df = numerics.n_moments(p, n_fixed_x=px, means=True, groups=G) - mg.npar
    # saturated model per group: the mean block contributes p, the covariance block h1_trace
    tr1 = sum(_h1_trace_fixed_x(X, xi) if px else p + h1_trace(X) for X in raw)
    tr = tr1 - float(np.trace(Ainv @ B)) if ok else np.nan
    c = tr / df if df > 0 else np.nan
    tr_b = 0.0
    for X in raw:
        d = (X - X.mean(axis=0))[:, yi]
        s2 = (d ** 2).mean(axis=0)
        tr_b += len(yi) + np.sum(((d ** 2 / s2 - 1) ** 2).mean(axis=0)) / 2
    df_b = numerics.n_moments(p, n_fixed_x=px, means=True, groups=G) - 2 * G * (p - px)
    c_b = (tr1 - tr_b) / df_b
    return vcov, ok, float(c), float(c_b), float(tr), float(tr1)


def _h1_trace_fixed_x(X, xi):
    """tr(A₁⁻¹B₁) of the saturated model (means and covariances) at the sample moments, with
    the covariates' own moments (their means, variances, covariances) left out."""
    from ._structure import vech_indices
    from .mlr import _h1_expected_information, _score_rows

    n, p = X.shape
    d = X - X.mean(axis=0)
    S = d.T @ d / n
    Si = np.linalg.inv(S)
    r, c = vech_indices(p)
    keep_m = [i for i in range(p) if i not in xi]
    keep_c = [k for k in range(len(r)) if not (r[k] in xi and c[k] in xi)]
    g = np.hstack([(d @ Si)[:, keep_m], _score_rows(Si, d)[:, keep_c]])
    B1 = g.T @ g / n
    A1 = np.zeros_like(B1)
    m = len(keep_m)
    A1[:m, :m] = Si[np.ix_(keep_m, keep_m)]
    A1[m:, m:] = _h1_expected_information(S)[np.ix_(keep_c, keep_c)]
    return float(np.trace(np.linalg.solve(A1, B1)))


def fiml_loglik_gradient(mg, patterns, x):
    """Σ_g log L_g (casewise likelihood of the answers given) and its gradient:
    per pattern o, ∂logL/∂Σ_oo = −n_o/2 (Σ_oo⁻¹ − Σ_oo⁻¹T_oΣ_oo⁻¹), ∂logL/∂μ_o = n_oΣ_oo⁻¹(x̄_o − μ_o),
    T_o = S_o + (x̄_o − μ_o)(x̄_o − μ_o)ᵀ, chained with ∂Σ/∂θ and ∂μ/∂θ (see fiml.py)."""
    total = 0.0
    grad = np.zeros(mg.npar)
    p = len(mg.obs)
    for g, pat in enumerate(patterns):
        Sigma, mu, dS, dm = mg.derivatives(x, g)
        GS = np.zeros((p, p))
        gm = np.zeros(p)
        for pt in pat.patterns:
            o = pt.obs
            Soo = Sigma[np.ix_(o, o)]
            try:
                L = np.linalg.cholesky(Soo)
            except np.linalg.LinAlgError:
                return -np.inf, np.full(mg.npar, np.nan)
            Si = np.linalg.inv(Soo)
            d = pt.mean - mu[o]
            T = pt.cov + np.outer(d, d)
            total += -pt.n / 2 * (len(o) * np.log(2 * np.pi) + 2 * np.sum(np.log(np.diag(L)))
                                  + np.sum(Si * T))
            GS[np.ix_(o, o)] += -pt.n / 2 * (Si - Si @ T @ Si)
            gm[o] += pt.n * Si @ d
        grad += np.einsum("ab,kab->k", GS, dS) + dm @ gm
    return float(total), grad


def descend(fg, x, f, g, step_at, iterations: int = 20):
    """Newton-type steps x ← x − t·step_at(x) after BFGS, t halved (down to 1e-4) until F does
    not increase; stops when a step cannot be taken or max|∂F/∂θ| < 1e-12.  ``fg`` gives
    (F, ∂F/∂θ); ``step_at(x, g)`` the full step at a point (scoring or Newton)."""
    for _ in range(iterations):
        if np.max(np.abs(g)) < 1e-12:
            break
        try:
            step = step_at(x, g)
        except np.linalg.LinAlgError:
            break
        t = 1.0
        while t > 1e-4:
            fn, gn = fg(x - t * step)
            if np.isfinite(fn) and fn <= f:
                break
            t /= 2
        else:
            break
        x, f, g = x - t * step, fn, gn
    return x, f, g


def fit_fiml(mg, patterns, x0, alt_start=None):
    """Maximise the FIML log-likelihood from x0 (the ML fit to the EM moments): BFGS on
    F = −2 log L / N, then Newton steps with the numerical observed information, each halved
    until F does not increase.  When that does not reach max|∂F/∂θ| < 1e-6 (a resample whose
    EM-moment fit sits next to a singular implied covariance stops BFGS at its first step),
    the same is run from ``alt_start`` (the pooled single-group start); a converged solution is
    preferred, then the lower F."""
    N = sum(p_.n for p_ in patterns)

    def fg(z):
        ll, g = fiml_loglik_gradient(mg, patterns, z)
        return (-2 * ll / N, -2 * g / N) if np.isfinite(ll) else (np.inf, g)

    def run(x_start):
        res = optimize.minimize(fg, x_start, jac=True, method="BFGS",
                                options={"gtol": 1e-10, "maxiter": 10000})
        x, f = res.x, res.fun
        g = fg(x)[1]
        if np.isfinite(f):
            x, f, g = descend(fg, x, f, g, lambda z, gz: np.linalg.solve(
                fiml_observed_information(mg, patterns, z) * 2 / N, gz))
        ok = bool(np.isfinite(f) and np.max(np.abs(g)) < 1e-6)
        return x, f, g, ok

    best = run(x0)
    if not best[3] and alt_start is not None:
        other = run(np.asarray(alt_start, dtype=float))
        if (other[3], -other[1]) > (best[3], -best[1]):
            best = other
    x, _, g, ok = best
    return x, g, ok


def fiml_observed_information(mg, patterns, x):
    """Observed information −∂²log L/∂θ∂θᵀ (central differences of the analytic gradient),
    lavaan's default for missing = "ml"."""
    from ._structure import numerical_jacobian

    H = numerical_jacobian(lambda z: fiml_loglik_gradient(mg, patterns, z)[1], x,
                           rel_step=1e-6)
    return -(H + H.T) / 2


def _fiml_vcov(mg, patterns, x, warnings_):
    """Inverse observed FIML information, or NaN when it is singular."""
    return _vcov_or_nan(lambda: fiml_observed_information(mg, patterns, x), mg.npar, warnings_)


def _vcov_or_nan(information, npar, warnings_):
    """The inverse of ``information()`` and its SEs; NaN (and a warning) when it is singular."""
    try:
        vcov, ok = invert_information(information())
    except np.linalg.LinAlgError:
        ok = False
    if ok:
        return vcov, np.sqrt(np.clip(np.diag(vcov), 0, None))
    warnings_.append("the information matrix is singular: the model is not identified "
                     "(no standard errors)")
    return np.full((npar, npar), np.nan), np.full(npar, np.nan)


def robust_fiml_groups(mg, patterns, x, vcov_obs):
    """MLR with missing answers (lavaan's estimator = "MLR", missing = "ml"), per group as
    :func:`semcluster.estimation.fiml.robust_fiml`: V = A⁻¹BA⁻¹ with A the observed FIML
    information (``vcov_obs`` = A⁻¹) and B the sum of outer products of the casewise FIML
    scores; c = [Σ_g tr(A₁g⁻¹B₁g) − tr(A⁻¹B)]/df with A₁g, B₁g the observed and first-order
    information of group g's saturated model at its EM estimates; the baseline (available-case
    means and variances per group) alike."""
    from ._structure import vech_indices
    from .fiml import baseline_score_trace

    from .fiml import h1_keep

    p = len(mg.obs)
    r, c_ = vech_indices(p)
    xi = [mg.obs.index(v) for v in mg.fixed_x]
    nx = len(xi)
    ys = [j for j in range(p) if j not in set(xi)]
    kk = np.ix_(h1_keep(p, xi), h1_keep(p, xi))   # fixed-x moments: not in the h1 model
    tr_h1, tr_b = 0.0, 0.0
    scores = []
    for g, pat in enumerate(patterns):
        mu1, S1, _ = pat.h1
        B1s = pat.casewise_scores(S1, mu1)
        tr_h1 += float(np.trace(np.linalg.solve(pat.saturated_information(S1, mu1)[kk],
                                                (B1s.T @ B1s)[kk])))
        Sigma, mu, dS, dm = mg.derivatives(x, g)
        S0 = pat.casewise_scores(Sigma, mu)
        scores.append(S0[:, :p] @ dm.T + S0[:, p:] @ dS[:, r, c_].T)
        tr_b += baseline_score_trace(pat.X[:, ys], pat) if xi else baseline_score_trace(pat.X)
    sc = np.vstack(scores)
    B = sc.T @ sc
    ok = bool(np.all(np.isfinite(vcov_obs)))
    vcov = vcov_obs @ B @ vcov_obs
    G = len(patterns)
    moments = numerics.n_moments(p, n_fixed_x=nx, means=True)
    df = G * moments - mg.npar
    tr = tr_h1 - float(np.trace(vcov_obs @ B)) if ok else np.nan
    c = tr / df if df > 0 else np.nan
    c_b = (tr_h1 - tr_b) / (G * (moments - 2 * len(ys)))
    return vcov, ok, float(c), float(c_b), float(tr), float(tr_h1)


def fiml_corrected_groups(mg, patterns, x, *, robust: bool) -> dict:
    """lavaan's robust CFI/TLI/NNFI/RNI and robust RMSEA family for incomplete data in G
    groups (``lav_fit_fiml_corrected``; one group: :func:`semcluster.estimation.fiml.
    fiml_corrected`, whose formulas these are): the FIML-corrected statistic of Zhang &
    Savalei (2020), T₃ = Σ_g N_g·F_ML(S̃_g, m̃_g; Σ̂_g, μ̂_g) on the EM moments, scaled by
    c₃ = tr(W_c P)/df (plain FIML) or tr(P W_c P J_m)/df (robust FIML), with P = W_m⁻¹ −
    Δ(ΔᵀW_mΔ)⁻¹Δᵀ, where W_m, J_m and W_c are block-diagonal over the groups with weights
    N_g/N (the observed and first-order information of each group's saturated incomplete-data
    model, and the complete-data information at its EM moments) and Δ stacks the groups'
    ∂(μ, vech Σ)/∂θ over the parameters after the equality constraints.  The baseline (free
    means and variances in every group) alike; the RMSEA family with lavaan's multi-group
    rule (G)."""
    from scipy.linalg import block_diag

    from ._structure import vech_indices
    from .mlr import _h1_expected_information
    from ..measures.fitmeasures import baseline_comparisons, rmsea_measures

    p = len(mg.obs)
    r, c = vech_indices(p)
    pstar = len(r)
    G = len(patterns)
    N = float(sum(pat.n for pat in patterns))
    diag_pos = np.array([k for k, (i, j) in enumerate(zip(r, c)) if i == j], dtype=int)
    from .fiml import h1_keep

    xi = [mg.obs.index(v) for v in mg.fixed_x]
    nx = len(xi)
    ys = np.array([j for j in range(p) if j not in set(xi)], dtype=int)
    py = len(ys)
    keep = h1_keep(p, xi)           # fixed-x covariates' moments are not in the h1 model
    kk = np.ix_(keep, keep)
    X3 = X3_null = 0.0
    Wm, Jm, Wc, Delta, DB = [], [], [], [], []
    for g, pat in enumerate(patterns):
        mu_t, S_t, _ = pat.h1
        n_g, f_g = pat.n, pat.n / N
        ld_t = np.linalg.slogdet(S_t)[1]

        def discrepancy(Sg, mu):
            d = mu_t - mu
            return n_g * (np.linalg.slogdet(Sg)[1] + np.trace(np.linalg.solve(Sg, S_t)) - ld_t
                          - p + d @ np.linalg.solve(Sg, d))
        Sigma, mu, dS, dm = mg.derivatives(x, g)
        X3 += discrepancy(Sigma, mu)
        Sb = np.diag(np.nanvar(pat.X, axis=0))
        if xi:
            Sb[np.ix_(xi, xi)] = S_t[np.ix_(xi, xi)]
        X3_null += discrepancy(Sb, np.nanmean(pat.X, axis=0))
        A1 = pat.saturated_information(S_t, mu_t)
        B1s = pat.casewise_scores(S_t, mu_t)
        Wm.append((f_g * A1 / n_g)[kk])
        Jm.append((f_g * (B1s.T @ B1s) / n_g)[kk])
        W = np.zeros((p + pstar, p + pstar))
        W[:p, :p] = np.linalg.inv(S_t)
        W[p:, p:] = _h1_expected_information(S_t)
        Wc.append((f_g * W)[kk])
        Delta.append(np.vstack([dm.T, dS[:, r, c].T])[keep])
        D = np.zeros((p + pstar, 2 * py))
        D[ys, np.arange(py)] = 1.0
        D[p + diag_pos[ys], py + np.arange(py)] = 1.0
        DB.append(D[keep])
    Wm, Jm, Wc = block_diag(*Wm), block_diag(*Jm), block_diag(*Wc)
    Delta, DB = np.vstack(Delta), block_diag(*DB)
    df = numerics.n_moments(p, n_fixed_x=nx, means=True, groups=G) - mg.npar
    df_null = numerics.n_moments(p, n_fixed_x=nx, groups=G) - G * py
    Wmi = np.linalg.inv(Wm)
    from .fiml import fiml_corrected_trace

    c3 = fiml_corrected_trace(Wmi, Wm, Wc, Jm, Delta, robust) / df
    c3_null = fiml_corrected_trace(Wmi, Wm, Wc, Jm, DB, robust) / df_null
    out = baseline_comparisons(X3, df, X3_null, df_null, suffix="_robust", c=c3,
                               c_null=c3_null)
    out.update(rmsea_measures(X3, df, N, suffix="_robust", c=c3, X2_test=X3 / c3, c_test=c3,
                              groups=G))
    return out


def fiml_statistics(mg, x, patterns, data_em):
    """FIML fit measures as lavaan's missing = "ml": χ² = 2[log L(h1) − log L(h0)] with h1 the
    EM saturated model per group; baseline with available-case means and variances; the
    residual-based measures from the EM moments (``data_em``) as the sample moments; logL the
    FIML log-likelihood (then every index by the same formulas as complete data)."""
    ll = fiml_loglik_gradient(mg, patterns, x)[0]
    ll_h1 = sum(p_.h1[2] for p_ in patterns)
    xi = [mg.obs.index(v) for v in mg.fixed_x]
    ll_b = sum(p_.independence_loglik(xi) for p_ in patterns)
    if xi:
        # lavaan's log-likelihoods with fixed.x are conditional on the (complete) covariates:
        # their own marginal log-likelihood at the sample moments is left out
        from ..measures.fitmeasures import loglik

        lx = 0.0
        for pat in patterns:
            Xx = pat.X[:, xi]
            d = Xx - Xx.mean(axis=0)
            Sx = d.T @ d / len(Xx)
            lx += loglik(Sx, Sx, len(Xx))
        ll, ll_h1, ll_b = ll - lx, ll_h1 - lx, ll_b - lx
    gfi = []
    for g, pat in enumerate(patterns):
        Sigma, mu, _ = mg.moments(x, g)
        gfi.append(_fiml_gfi(pat, Sigma, mu, xi))
    return fit_statistics(mg, x, 0.0, data_em, chisq=max(2 * (ll_h1 - ll), 0.0),
                          baseline_chisq=2 * (ll_h1 - ll_b), logl=ll, logl_h1=ll_h1,
                          gfi_groups=gfi)


def _fiml_gfi(pat, Sigma, mu, fixed_x_idx=()) -> float:
    """GFI of one group with missing answers, as lavaan's ``lav_fit_gfi`` for missing = "ml"
    (the rule of :func:`semcluster.estimation.fiml.fiml_fit_measures`): lavaan's ``WLS.obs``
    (available-case means, pairwise covariances times (N − 1)/N) against the implied moments,
    weighted per missing-data pattern o by n_o and the h1 expected information at the implied
    moments restricted to the answered items (K_o = Σ̂_oo⁻¹); fixed-x covariates' own means
    and (co)variances weigh nothing, as there."""
    n = pat.X.shape[0]
    K, _ = pat._inverses(Sigma)
    if K is None:
        return np.nan
    Mp = np.nanmean(pat.X, axis=0)
    Sp = pd.DataFrame(pat.X).cov().to_numpy() * (n - 1) / n
    mask = pat.obs_mask
    outer = mask[:, :, None] & mask[:, None, :]
    own = np.zeros(len(Mp), dtype=bool)
    own[list(fixed_x_idx)] = True
    weighted = ~own[None, :] & mask
    outer &= ~(own[:, None] & own[None, :])[None, :, :]
    d, m = (Mp - mu) * weighted, Mp * weighted
    E = np.matmul(np.where(outer, Sp - Sigma, 0.0), K)
    So = np.matmul(np.where(outer, Sp, 0.0), K)
    w = pat.counts
    num = w @ (np.einsum("oi,oij,oj->o", d, K, d) + 0.5 * np.einsum("oij,oji->o", E, E))
    den = w @ (np.einsum("oi,oij,oj->o", m, K, m) + 0.5 * np.einsum("oij,oji->o", So, So))
    return float(1 - num / den)


def group_moments(df, obs, group_col):
    """Per-group (S_g with divisor N_g, x̄_g, N_g), groups in order of first appearance (as
    lavaan: the first is the reference group whose latent means are fixed at 0)."""
    data, labels = [], []
    if group_col is None:
        values = [None]
    else:
        values = list(pd.unique(df[group_col]))
    for g in values:
        sub = df if g is None else df[df[group_col] == g]
        X = sub[obs].to_numpy(dtype=float)
        n = len(X)
        xbar = X.mean(axis=0)
        Xc = X - xbar
        data.append((Xc.T @ Xc / n, xbar, n))
        labels.append("1" if g is None else str(g))
    return data, labels


def fit_multigroup(mg, data, single_x=None, what="model"):
    """Minimise F (BFGS with the analytic gradient), then polish with Fisher scoring steps
    x ← x − (N/2)·I⁻¹∇F (the expected Hessian of F is 2I/N) while F decreases."""
    x0 = mg.start(data, single_x)
    res = optimize.minimize(lambda z: mg.objective_gradient(z, data), x0, jac=True,
                            method="BFGS", options={"gtol": 1e-9, "maxiter": 10000})
    if not np.isfinite(res.fun):
        raise SemclusterError(f"the {what} could not be fitted (the implied covariance "
                              f"matrix is not positive definite at every step)")
    x, f = res.x, res.fun
    N = sum(d[2] for d in data)
    g = mg.objective_gradient(x, data)[1]
    x, f, g = descend(lambda z: mg.objective_gradient(z, data), x, f, g,
                      lambda z, gz: np.linalg.solve(mg.information(z, data), gz) * N / 2)
    converged = bool(res.success or np.max(np.abs(g)) < 1e-6)
    return x, float(f), g, converged


def fit_statistics(mg, x, f, data, **given):
    """Every lavaan ``fitMeasures()`` figure of the ML fit at ``x`` (``data``: per group
    (S_g, x̄_g, N_g)); one formula for one group or several:
    :func:`semcluster.measures.fitmeasures.group_fit_measures` (``given``: its chisq, baseline_chisq,
    logl, logl_h1 when they do not come from the moments, as for FIML).  ``f`` is unused
    (kept for callers that pass the optimizer's minimum)."""
    from ..measures.fitmeasures import group_fit_measures

    S, M, Sig, Mu = [], [], [], []
    for g, (S_g, xbar, _) in enumerate(data):
        Sigma, mu, _ = mg.moments(x, g)
        S.append(np.asarray(S_g))
        M.append(np.asarray(xbar, dtype=float))
        Sig.append(Sigma)
        Mu.append(mu)
    xi = [mg.obs.index(v) for v in mg.fixed_x]
    return group_fit_measures(S, M, Sig, Mu, [d[2] for d in data], mg.npar, fixed_x_idx=xi,
                              **given)


def prepare_group_data(spec, data, group, options=None, allow_missing=False):
    """Read the data (the one data path) and split it by ``group``; complete rows only unless
    ``allow_missing`` and the missing-data rule is FIML (then the fifth value returned holds the
    per-group :class:`~semcluster.estimation.fiml.MissingPatterns` and the per-group moments
    are the EM (h1) estimates)."""
    from ..data.survey import load_data, read_survey, require_complete

    if group is not None:
        df0 = data if isinstance(data, pd.DataFrame) else (
            load_data(data) if data is None else None)
        if df0 is not None and group not in df0.columns:
            raise DataError(f"grouping column '{group}' is not in the data (columns: "
                            f"{', '.join(map(str, df0.columns[:12]))}"
                            f"{' ...' if len(df0.columns) > 12 else ''})")
    df, report = read_survey(data, options, variables=spec.observed,
                             keep=[group] if group is not None else ())
    if group is not None and group not in df.columns:
        raise DataError(f"grouping column '{group}' is not in the data")
    if group is not None:
        lab = df[group]
        empty = lab.isna() | lab.map(lambda v: isinstance(v, str) and not v.strip())
        if empty.any():       # in no group: left out, and the data report says so
            from dataclasses import replace as _replace

            import warnings

            from ..errors import SemclusterWarning

            k = int(empty.sum())
            df = df[~empty.to_numpy()]
            warnings.warn(f"{k} row(s) with an empty '{group}' label are in no group and are "
                          f"left out", SemclusterWarning, stacklevel=3)
            report = _replace(report, n_used=int(len(df)),
                              dropped={**report.dropped,
                                       f"empty group label in '{group}' (in no group)": k})
    incomplete = bool(df[spec.observed].isna().to_numpy().any())
    fiml = allow_missing and incomplete and getattr(report, "missing", "") == "fiml"
    if not fiml:
        require_complete(df[spec.observed], None,
                         "multi-group ML" if group is not None else "ML with a mean structure")
    data_g, labels = group_moments(df, spec.observed, group)
    patterns = None
    if fiml:
        from .fiml import MissingPatterns

        if spec.fixed_x and df[list(spec.fixed_x)].isna().to_numpy().any():
            raise OptionError(f"FIML with missing values in the exogenous observed covariates "
                              f"({', '.join(spec.fixed_x)}) in multi-group or mean-structure "
                              f"models is not supported (lavaan's fixed.x drops those rows); "
                              f"use missing='listwise' or drop the rows")
        values = [None] if group is None else list(pd.unique(df[group]))
        patterns = []
        for gi, g in enumerate(values):
            sub = df if g is None else df[df[group] == g]
            pat = MissingPatterns(sub[spec.observed].to_numpy(dtype=float))
            mu, Sig, ll, _, _ = pat.em()
            pat.h1 = (mu, Sig, ll)
            patterns.append(pat)
            data_g[gi] = (Sig, mu, data_g[gi][2])
    if group is not None and len(labels) < 2:
        raise DataError(f"'{group}' has fewer than two groups")
    p = len(spec.observed)
    for (S, _, n), lab in zip(data_g, labels):
        if n <= p:
            raise DataError(f"group '{lab}' has {n} rows for {p} variables: too few for a "
                            f"multi-group model (need more rows than variables)"
                            if group is not None else
                            f"{n} usable rows for {p} observed variables: too few")
    return df, data_g, labels, report, patterns


def pooled_start(spec, df):
    """The pooled single-group ML solution as start values (None if it cannot be fitted)."""
    from ..data.survey import sample_covariance
    from .engine import MLEngine

    pt = spec.partable
    plain = pt[pt.op.isin(STRUCTURE_OPS)].reset_index(drop=True)
    plain = replace(spec, partable=plain.assign(group_values=None))
    X = df[spec.observed].dropna()
    try:
        if len(X) <= len(spec.observed):
            return None
        engine = MLEngine(plain)
        engine.load(sample_covariance(X), len(X))
        opt = engine.fit()
        return opt.x if np.all(np.isfinite(opt.x)) else None
    except (SemclusterError, np.linalg.LinAlgError, ValueError):
        return None             # the pooled model cannot be fitted: simple start values


def _expected_vcov(mg, x, data, warnings_):
    """Inverse expected information (lavaan's ML default), or NaN when it is singular."""
    return _vcov_or_nan(lambda: mg.information(x, data), mg.npar, warnings_)


def _scaled(st, c, c_b, tr, tr1, G, *, n_moments, npar_free, robust=True):
    """lavaan's scaled and robust measures from the Yuan-Bentler factors, with G groups:
    every ``*_scaled`` and ``*_robust`` index of :func:`semcluster.measures.scaled.
    scaled_measures`, the RMSEA families with lavaan's multi-group rule (√G; the
    non-centrality of the close / not-close p-values divided by G), and lavaan's
    ``scaling_factor_h1`` = tr(A₁⁻¹B₁)/(sample moments, the covariates' own left out) and
    ``scaling_factor_h0`` = tr(A⁻¹B)/(free parameters before equality constraints, lavaan's
    count: every (row, group) free, shared labels and group.equal counted once per row).
    ``robust=False`` (robust FIML): the robust CFI/TLI/RMSEA, which lavaan computes from the
    FIML-corrected statistics of Zhang & Savalei (2020), come from
    :func:`fiml_corrected_groups` instead."""
    from ..measures.scaled import scaled_measures
    from ..measures.fitmeasures import rmsea_measures

    X2, N = st["chisq"], st["ntotal"]
    out = scaled_measures(pd.Series(st), chisq_scaled=X2 / c, df_scaled=st["df"],
                          scaling_factor=c, baseline_chisq_scaled=st["baseline_chisq"] / c_b,
                          baseline_df_scaled=st["baseline_df"], baseline_scaling_factor=c_b,
                          n=N, kind="yuan.bentler.mplus", trace_ugamma=tr,
                          robust=robust)
    df_tr = tr if np.isfinite(tr) and tr != 0 else np.nan
    out.update(rmsea_measures(X2, df_tr, N, suffix="_scaled", groups=G))
    if robust:
        out.update(rmsea_measures(X2, st["df"], N, suffix="_robust", c=c, X2_test=X2 / c,
                                  c_test=c, groups=G))
    out["scaling_factor_h1"] = tr1 / n_moments
    out["scaling_factor_h0"] = (tr1 - tr) / npar_free
    return out


def _listed(items) -> str:
    """'A', 'A and B', 'A, B and C'."""
    items = list(items)
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def fit_groups(spec, data=None, *, group=None, group_equal=(), group_partial=(),
               estimator="ML", options=None):
    """Fit a multi-group model (``group`` a column) or a single-group model with a mean
    structure (``group=None``) by ML; see the module docstring."""
    from .registry import entry, names

    if "groups" not in entry(estimator).supports:
        raise OptionError(f"estimator {estimator} is not available for multi-group or "
                          f"mean-structure models (lavaan can; semcluster fits them by "
                          f"{_listed(names('groups'))} only)")
    if group is None and (group_equal or group_partial):
        raise OptionError("group_equal and group_partial need group= (a grouping column)")
    notes = []
    if estimator == "GLS" and spec.fixed_x:
        # lavaan's GLS frees the covariates' means, variances and covariances (fixed.x =
        # FALSE, see semcluster.estimation.gls)
        from .gls import covariates_note
        from ..spec.parser import free_covariates

        notes = covariates_note(spec, means=True)
        spec = free_covariates(spec)
    df, data_g, labels, report, patterns = prepare_group_data(
        spec, data, group, options, allow_missing=estimator != "GLS")
    if estimator == "GLS":
        return _fit_groups_gls(spec, df, data_g, labels, report, group, group_equal,
                               group_partial, notes)
    mg = MultiGroupModel(spec, labels, group_equal, group_partial, moments=data_g)
    pt = spec.partable
    shared = sorted({r.label for r in pt.itertuples() if r.label and r.group_values is None
                     and ((r.free > 0 and r.op in STRUCTURE_OPS) or r.op == "~1")})
    if shared and len(labels) > 1 and not mg.group_equal:
        import warnings

        from ..errors import SemclusterWarning

        # lavaan's warning: a single label in several groups imposes equality constraints
        warnings.warn(f"label(s) {', '.join(shared)} name one parameter in every group (as in "
                      f"lavaan): they are held equal across the {len(labels)} groups; write "
                      f"c(a1, a2, ...) for one label per group", SemclusterWarning,
                      stacklevel=3)
    start = pooled_start(spec, df.dropna(subset=spec.observed))
    x, f, grad, converged = fit_multigroup(mg, data_g, start)
    warnings_ = []
    G = len(labels)
    p, px = len(mg.obs), len(mg.fixed_x)
    n_moments = numerics.n_moments(p, n_fixed_x=px, means=True, groups=G)
    npar_free = sum(1 for p_ in mg.params if p_.fixed is None)
    if patterns is not None:
        x, grad, converged = fit_fiml(mg, patterns, x, alt_start=mg.start(data_g, start))
        vcov, se = _fiml_vcov(mg, patterns, x, warnings_)
        st = fiml_statistics(mg, x, patterns, data_g)
    else:
        st = fit_statistics(mg, x, f, data_g)
    if estimator == "MLR":
        if patterns is not None:
            vcov, ok, c, c_b, tr, tr1 = robust_fiml_groups(mg, patterns, x, vcov)
        else:
            raw = ([df[spec.observed].to_numpy(dtype=float)] if group is None else
                   [df.loc[df[group].astype(str) == lab, spec.observed].to_numpy(dtype=float)
                    for lab in labels])
            vcov, ok, c, c_b, tr, tr1 = robust_mlr(mg, x, data_g, raw)
        if not ok:
            vcov = np.full((mg.npar, mg.npar), np.nan)
            warnings_.append("the robust (sandwich) standard errors could not be computed")
        st.update(_scaled(st, c, c_b, tr, tr1, G, n_moments=n_moments, npar_free=npar_free,
                          robust=patterns is None))
    elif patterns is None:
        vcov, se = _expected_vcov(mg, x, data_g, warnings_)
    if patterns is not None:
        # lavaan's robust CFI/TLI/RMSEA of incomplete data: the FIML-corrected statistics
        if np.all(np.isfinite(vcov)) and st["df"] > 0:
            st.update(fiml_corrected_groups(mg, patterns, x, robust=estimator == "MLR"))
    if st["df"] < 0:
        warnings_.append(f"the model has more parameters ({mg.npar}) than sample moments: "
                         f"df = {st['df']}, not identified")
    from ..measures.fitmeasures import in_lavaan_order
    from ..result.builder import assemble_group_result

    mlr = estimator == "MLR"
    measures = in_lavaan_order(st, scaled=mlr, robust=mlr or patterns is not None,
                               yuan_bentler=mlr)
    info = {"max_gradient": float(np.max(np.abs(grad))) if len(grad) else 0.0}
    if G > 1 and "chisq_by_group" in st:
        info["chisq_by_group"] = [float(v) for v in st["chisq_by_group"]]
    if mlr:
        info.update(test="yuan.bentler.mplus", se="robust.huber.white")
    res = assemble_group_result(
        spec, mg, x, data_g, labels, estimator=entry(estimator), vcov=vcov,
        measures=measures,
        converged=converged, message="BFGS, then Fisher scoring" if patterns is None else
        "BFGS, then Newton (FIML)", report=report, group_column=group,
        missing="fiml" if patterns is not None else "listwise", warnings=warnings_, info=info,
        data=df)      # the rows the fit used: res.predict() scores them, as lavPredict(fit)
    return res


def _fit_groups_gls(spec, df, data_g, labels, report, group, group_equal, group_partial,
                    notes=()):
    """GLS with a mean structure in G ≥ 1 groups (lavaan's ``estimator = "GLS"``, see
    :mod:`semcluster.estimation.gls`): the unbiased moments of each group, start values from
    the ML fit of those moments, Gauss-Newton on Σ_g (N_g − 1)·F_g; standard errors from the
    expected information (:func:`~semcluster.estimation.gls.gls_group_information`)."""
    from .registry import entry
    from .gls import gls_group_information, gls_group_measures, gls_group_optimum, unbiased_moments
    from ..numerics import invert_information
    from ..result.builder import assemble_group_result

    data_u = unbiased_moments(data_g)
    mg = MultiGroupModel(spec, labels, group_equal, group_partial, moments=data_u)
    start = pooled_start(spec, df.dropna(subset=spec.observed))
    x0, _, _, _ = fit_multigroup(mg, data_u, start)
    x, chisq, gmax, it, ok, why = gls_group_optimum(mg, data_u, x0)
    vcov, vcov_ok = invert_information(gls_group_information(mg, x, data_u), symmetrize=True)
    warnings_ = list(notes)
    if not vcov_ok:
        warnings_.append("the information matrix is singular: the model is not identified "
                         "(estimates are not unique; no standard errors)")
    npar_free = mg.npar
    measures = gls_group_measures(mg, x, data_u, chisq, npar_free)
    if measures["df"] < 0:
        warnings_.append(f"the model has more parameters ({mg.npar}) than sample moments: "
                         f"df = {int(measures['df'])}, not identified")
    msg = why or f"Gauss-Newton (GLS), max |gradient| {gmax:.1e} after {it} iterations"
    return assemble_group_result(
        spec, mg, x, data_u, labels, estimator=entry("GLS"), vcov=vcov, measures=measures,
        converged=ok, message=msg, report=report, group_column=group, missing="listwise",
        warnings=warnings_, info={"max_gradient": gmax}, data=df)
