"""Multi-group models and mean structures, with lavaan 0.6's semantics (estimators ML and MLR;
MLR: see :func:`robust_mlr`).

Used by ``semcluster.fit(model, data, group=..., group_equal=..., group_partial=...,
meanstructure=...)`` and by :func:`semcluster.invariance.measurement_invariance` (one
implementation for both).

The model is built on the RAM form (:class:`semcluster.model.RAM`) with a mean
structure: per group g, Σ_g = F(I − A_g)⁻¹P_g(I − A_g)⁻ᵀFᵀ and μ_g = F(I − A_g)⁻¹m_g, where m_g
holds the intercepts of the observed variables and the latent means (intercepts). The
matrices and every derivative come from the model core, one
:class:`semcluster.model.GroupCore` per group whose cells map to the global parameter vector
(this module only decides which cells share a parameter).

Parameters and equality constraints follow lavaan's ``lav_partable_labels`` and
``lavaanify``: every (row, group) gets a name ``lhs op rhs`` (plus ``.gG`` in groups 2..G);
a ``group.equal`` class gives the rows of that class in groups 2..G the name of group 1 unless
the row is listed in ``group.partial``; a user label replaces the name (so a label written once
is ONE parameter in every group; ``c(a1, a2)`` gives one label per group); rows with the same
name are one parameter, and if any of them is fixed all are fixed at the first fixed value.
Defaults as lavaan's: intercepts of observed variables free; latent means fixed at 0, freed in
groups 2..G when ``group.equal`` has ``intercepts`` (or ``thresholds``) but not ``means``.

``group.equal`` classes (lavaan): loadings (=~), intercepts (~1 of observed variables), means
(~1 of latent variables), thresholds (none for continuous data), residuals (~~ of an observed
variable with itself), residual.covariances (~~ between observed variables), lv.variances,
lv.covariances, regressions (~).

ML fit function (lavaan's, times 2): F = Σ_g (N_g/N)[log|Σ_g| + tr(S_gΣ_g⁻¹) − log|S_g| − p
+ (x̄_g − μ_g)ᵀΣ_g⁻¹(x̄_g − μ_g)], χ² = N·F; analytic gradient with W = Σ⁻¹ − Σ⁻¹(S + rrᵀ)Σ⁻¹,
r = x̄ − μ, B = (I − A)⁻¹, v = BᵀFᵀΣ⁻¹r, u = Bm: ∂F/∂A = 2BᵀFᵀWFBPBᵀ − 2vuᵀ,
∂F/∂P = BᵀFᵀWFB, ∂F/∂m = −2v.  Standard errors from the expected information
Σ_g N_g [½ tr(Σ⁻¹∂_kΣ Σ⁻¹∂_lΣ) + ∂_kμᵀΣ⁻¹∂_lμ].  df = G(p(p+1)/2 + p) − npar.
The optimum: BFGS from the pooled single-group solution, polished by Fisher scoring.
Missing answers with the FIML rule (lavaan's missing = "ml"): the casewise likelihood of the
answers given (:func:`fiml_loglik_gradient`), observed-information SEs, χ² against the EM
saturated model per group (:func:`fiml_statistics`); with MLR :func:`robust_fiml_groups`.
Baseline (CFI, TLI): independence model with free variances and means in every group.
RMSEA as lavaan's multi-group version, √(max(χ² − df, 0)/(df·N))·√G.  SRMR as lavaan's
(Bentler's, with means when there is a mean structure): per group
√((Σ_{i≤j} ((s_ij − σ_ij)/√(s_ii s_jj))² + Σ_i ((x̄_i − μ_i)/√s_ii)²) / (p(p+1)/2 + p)),
averaged over groups with weights N_g/N.

Exogenous observed covariates (lavaan's fixed.x): their (co)variances and means are fixed at
each group's sample values and left out of the data points (df) and of the baseline's free
part; logL is conditional on them.  Defined parameters (``:=``) are functions of the labels'
values, with delta-method SEs (group 0 in the table, as lavaan's).  std.lv/std.all: see
:func:`standardize`; R² per group: :func:`r_squared`.

Checked against lavaan 0.6.14 in tests/test_groups.py (fixtures from
tests/fixtures/models/make_groups.R).
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd
from scipy import optimize, stats

from .errors import DataError, ModelSpecError, OptionError, SemclusterError
from .protocol import ResultProtocol, clean, records
from .standardized import compile_definitions, evaluate_definitions

GROUP_EQUAL = ("loadings", "intercepts", "means", "thresholds", "residuals",
               "residual.covariances", "lv.variances", "lv.covariances", "regressions")
Z975 = stats.norm.ppf(0.975)


def group_equal_classes(group_equal) -> tuple:
    """Check ``group_equal`` (a list of lavaan classes, or a comma-separated string)."""
    if group_equal is None:
        return ()
    if isinstance(group_equal, str):
        group_equal = [g for g in group_equal.replace(" ", "").split(",") if g]
    out = []
    for g in group_equal:
        if not isinstance(g, str) or g not in GROUP_EQUAL:
            raise OptionError(f"unknown group.equal class {g!r}; use any of "
                              f"{', '.join(GROUP_EQUAL)}")
        out.append(g)
    return tuple(dict.fromkeys(out))


def group_partial_entries(group_partial) -> tuple:
    """Parse ``group_partial`` entries such as ``"visual=~x2"`` or ``"x3 ~ 1"`` into
    (lhs, op, rhs) with rhs ``""`` for intercepts."""
    if group_partial is None:
        return ()
    if isinstance(group_partial, str):
        group_partial = [g for g in group_partial.split(",") if g.strip()]
    out = []
    for e in group_partial:
        if isinstance(e, tuple) and len(e) == 3 and all(isinstance(t, str) for t in e):
            out.append(e)            # already parsed
            continue
        if not isinstance(e, str):
            raise OptionError(f"group.partial entries are parameters such as 'visual=~x2' or "
                              f"'x3~1', not {e!r}")
        t = "".join(e.split())
        for op in ("=~", "~~", "~"):
            if op in t:
                lhs, rhs = t.split(op, 1)
                break
        else:
            raise OptionError(f"group.partial entry '{e}' is not a parameter (write it as "
                              f"'visual=~x2', 'x1~~x2', 'y~x' or 'x3~1')")
        if op == "~" and rhs == "1":
            op, rhs = "~1", ""
        if not lhs or (not rhs and op != "~1"):
            raise OptionError(f"group.partial entry '{e}' is not a parameter (write it as "
                              f"'visual=~x2', 'x1~~x2', 'y~x' or 'x3~1')")
        out.append((lhs, op, rhs))
    return tuple(dict.fromkeys(out))      # a parameter freed twice is freed once


@dataclass
class _Param:
    kind: str        # "A", "P", "m"
    i: int
    j: int
    group: int
    key: tuple       # equality key (same key -> same parameter number)
    fixed: float | None
    lhs: str
    op: str
    rhs: str
    label: str       # the user's label ("" if none)
    start: float = float("nan")


class MultiGroupModel:
    """A model in G groups (G = 1: a single group with a mean structure); see the module
    docstring for the parameters and constraints."""

    def __init__(self, spec, groups, group_equal=(), group_partial=(), moments=None):
        from .model.core import RAM, GroupCore

        if spec.fixed_x and moments is None:
            raise ModelSpecError("exogenous observed covariates need the group moments")
        self.spec = spec
        self.fixed_x = list(spec.fixed_x)
        self.groups = [str(g) for g in groups]
        G = len(self.groups)
        self.group_equal = group_equal_classes(group_equal)
        self.group_partial = group_partial_entries(group_partial)
        self.ram = RAM(spec)
        self.obs = list(spec.observed)
        self.obs_ix = np.array([self.ram.ix[v] for v in self.obs])
        self.m = self.ram.m
        lat = set(spec.latent)
        mods = {k: v for k, v in spec.group_modifiers}
        user_means = {r["lhs"]: r for r in spec.mean_rows}
        for (lhs, op, rhs), els in list(mods.items()) + [
                ((r["lhs"], "~1", ""), r["groups"]) for r in spec.mean_rows if r["groups"]]:
            if len(els) != G:
                where = f"{lhs} {op} {rhs}".strip() if op != "~1" else f"{lhs} ~ 1"
                raise ModelSpecError(
                    f"c(...) on '{where}' has {len(els)} element(s), but there "
                    f"{'is' if G == 1 else 'are'} {G} group(s)"
                    + (f" ({', '.join(self.groups)})" if G > 1 else
                       " (c() needs group=)"))
        alias = {}
        for a, b in spec.constraints:
            alias[b] = alias.get(a, a)

        # base rows: (lhs, op, rhs, kind, i, j, fixed-or-None, label, user, modifiers)
        base = []
        for k, r in enumerate(self.ram.rows.itertuples()):
            kind, (i, j) = self.ram.kind[k], self.ram.pos[k]
            base.append((r.lhs, r.op, r.rhs, kind, i, j,
                         None if r.free > 0 else float(r.fixed), r.label, True,
                         mods.get((r.lhs, r.op, r.rhs)),
                         float(r.start) if np.isfinite(r.start) else float("nan")))
        fx_set = set(self.fixed_x)
        for v in [v for v in self.obs if v not in fx_set] + list(spec.latent):
            u = user_means.get(v)
            if u is not None:
                fx = None if u["fixed"] is None else float(u["fixed"])
                base.append((v, "~1", "", "m", self.ram.ix[v], 0, fx, u["label"], True,
                             u["groups"], float("nan")))
            else:
                base.append((v, "~1", "", "m", self.ram.ix[v], 0,
                             None if v not in lat else 0.0, "", False, None, float("nan")))
        known = {(b[0], b[1], b[2]) for b in base}
        known |= {(b[2], b[1], b[0]) for b in base if b[1] == "~~"}
        for e in self.group_partial:
            if e not in known:
                name = f"{e[0]}~1" if e[1] == "~1" else "".join(e)
                raise OptionError(f"group.partial entry '{name}' names no parameter of the "
                                  f"model")
        partial = set(self.group_partial) | {(c, b, a) for a, b, c in self.group_partial
                                             if b == "~~"}
        eq = set(self.group_equal)
        free_lv_means = ("intercepts" in eq or "thresholds" in eq) and "means" not in eq

        params: list[_Param] = []
        for g in range(G):
            for lhs, op, rhs, kind, i, j, fixed, label, user, els, start in base:
                if op == "~1" and lhs in lat and not user and g > 0 and free_lv_means:
                    fixed = None
                if els is not None:
                    fx, lab, na = els[g]
                    if fx is not None:
                        fixed, label = fx, ""
                    elif na:
                        fixed, label = None, ""
                    elif lab:
                        label = lab
                cls = self._class(lhs, op, rhs, lat)
                name = f"{lhs}{op}{rhs}"
                if label:
                    key = ("label", alias.get(label, label))
                elif cls in eq and (lhs, op, rhs) not in partial:
                    key = ("row", name, 0)
                else:
                    key = ("row", name, g)
                params.append(_Param(kind, i, j, g, key, fixed, lhs, op, rhs, label, start))
            # fixed.x (lavaan's default): the covariates' (co)variances and means are held at
            # the group's sample values; neither parameters nor data points
            for a_, xa in enumerate(self.fixed_x):
                ia = self.obs.index(xa)
                for xb in self.fixed_x[a_:]:
                    ib = self.obs.index(xb)
                    params.append(_Param("P", self.ram.ix[xa], self.ram.ix[xb], g,
                                         ("x", xa, xb, g), float(moments[g][0][ia, ib]),
                                         xa, "~~", xb, ""))
                params.append(_Param("m", self.ram.ix[xa], 0, g, ("xm", xa, g),
                                     float(moments[g][1][ia]), xa, "~1", "", ""))
        # rows sharing a name are one parameter; if one of them is fixed, all are (lavaan)
        first_fixed = {}
        for p_ in params:
            if p_.fixed is not None:
                first_fixed.setdefault(p_.key, p_.fixed)
        for p_ in params:
            if p_.key in first_fixed:
                p_.fixed = first_fixed[p_.key]
        numbers = {}
        for p_ in params:
            if p_.fixed is None and p_.key not in numbers:
                numbers[p_.key] = len(numbers)
        self.params = params
        self.numbers = numbers
        self.npar = len(numbers)
        self.names = [None] * self.npar
        for p_ in params:
            if p_.fixed is None:
                k = numbers[p_.key]
                if self.names[k] is None:
                    self.names[k] = self._describe(p_)
        self._fill = [[p_ for p_ in params if p_.group == g] for g in range(G)]
        # one model core per group: its cells, fixed values and global parameter numbers
        self.cores = [GroupCore(self.m, self.obs_ix, self.npar,
                                [p_.kind for p_ in fill], [p_.i for p_ in fill],
                                [p_.j for p_ in fill],
                                [-1 if p_.fixed is not None else numbers[p_.key] for p_ in fill],
                                [0.0 if p_.fixed is None else p_.fixed for p_ in fill])
                      for fill in self._fill]
        # labels (after '==' aliases) -> a parameter: for ':=' definitions
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

    @staticmethod
    def _class(lhs, op, rhs, lat):
        """lavaan's group.equal class of a row."""
        if op == "=~":
            return "loadings"
        if op == "~":
            return "regressions"
        if op == "~1":
            return "means" if lhs in lat else "intercepts"
        if lhs in lat:
            return "lv.variances" if lhs == rhs else "lv.covariances"
        return "residuals" if lhs == rhs else "residual.covariances"

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


def standardize(mg, x):
    """std.lv and std.all of every row of ``mg.params`` (then of the ':=' rows), as lavaan's
    standardizedSolution with cov.std = TRUE, from each group's implied total covariance
    C = BPBᵀ: paths λ·sd(from)/sd(to); variances by the total variance; covariances by the
    residual SDs; intercepts and means by the total SD (std.lv: latent variables only).
    A ':=' parameter's standardized value is its expression on the standardized labels."""
    lat = np.array([v in set(mg.spec.latent) for v in mg.ram.vars])
    per_group = []
    for core in mg.cores:
        _, P, _, _, C = core.structure(x)
        var = np.diag(C)
        with np.errstate(invalid="ignore", divide="ignore"):
            sd = np.sqrt(var)
        per_group.append((var, sd, np.where(lat, sd, 1.0), np.diag(P)))
    s_lv, s_all = [], []
    with np.errstate(invalid="ignore", divide="ignore"):
        for p_ in mg.params:
            var, sd, sd_lv, resvar = per_group[p_.group]
            v, i, j = mg.value(p_, x), p_.i, p_.j
            if p_.kind == "A":
                s_lv.append(v * sd_lv[j] / sd_lv[i])
                s_all.append(v * sd[j] / sd[i])
            elif p_.kind == "m":
                s_lv.append(v / sd_lv[i])
                s_all.append(v / sd[i])
            elif i == j:
                s_lv.append(v / sd_lv[i] ** 2)
                s_all.append(v / var[i])
            else:
                s_all.append(v / np.sqrt(resvar[i] * resvar[j]))
                s_lv.append(v / np.sqrt((resvar[i] if lat[i] else 1.0)
                                        * (resvar[j] if lat[j] else 1.0)))
    s_lv, s_all = np.array(s_lv, dtype=float), np.array(s_all, dtype=float)
    if mg.defined:
        rows = {id(p_): k for k, p_ in enumerate(mg.params)}

        def on(values):
            return evaluate_definitions(
                [n for n, _ in mg.defined], mg._defined_code,
                {lab: values[rows[id(p_)]] for lab, p_ in mg.label_rows.items()})
        s_lv = np.concatenate([s_lv, on(s_lv)])
        s_all = np.concatenate([s_all, on(s_all)])
    return s_lv, s_all


def r_squared(mg, x) -> pd.DataFrame:
    """R² of every endogenous variable per group: 1 − residual variance / implied variance."""
    rows = []
    for core, gname in zip(mg.cores, mg.groups):
        _, P, _, _, C = core.structure(x)
        var = np.diag(C)
        for v in mg.spec.endogenous:
            i = mg.ram.ix[v]
            rows.append({"group": gname, "variable": v,
                         "r2": float(1 - P[i, i] / var[i]) if var[i] > 0 else np.nan})
    return pd.DataFrame(rows, columns=["group", "variable", "r2"])


def robust_mlr(mg, x, data, raw):
    """MLR (lavaan's estimator = "MLR" defaults, as semcluster.estimators.mlr for one group):

    * Huber-White SEs: V = A⁻¹BA⁻¹, A the observed information (N/2 × the Hessian of F, by
      central differences of the analytic gradient), B = Σ_g Σ_i s_i s_iᵀ (casewise scores at
      the estimates, d_i = x_i − μ̂_g).
    * Yuan-Bentler (Mplus) scaling: c = [Σ_g tr(A₁g⁻¹B₁g) − tr(A⁻¹B)]/df, with A₁g, B₁g the
      expected and first-order information of the saturated model of group g (means and
      covariances) at the sample moments; for the baseline (free means and variances per
      group) tr(A_b⁻¹B_b) = Σ_g [p + Σ_j (1/(2N_g)) Σ_i (d_ij²/s_jj − 1)²].

    ``raw``: per group the (N_g, p) data in ``mg.obs`` order. Returns (vcov, ok, c, c_b, tr).
    """
    from .estimators._structure import numerical_jacobian
    from .estimators.mlr import h1_trace

    N = sum(d[2] for d in data)
    H = numerical_jacobian(lambda z: mg.objective_gradient(z, data)[1], x, rel_step=1e-6)
    A = N / 2 * (H + H.T) / 2
    sc = np.vstack([mg.scores(x, g, X) for g, X in enumerate(raw)])
    B = sc.T @ sc
    try:
        Ainv = np.linalg.inv(A)
        ok = bool(np.all(np.isfinite(Ainv)))
    except np.linalg.LinAlgError:
        Ainv, ok = np.full(A.shape, np.nan), False
    vcov = Ainv @ B @ Ainv
    p = len(mg.obs)
    G = len(raw)
    xi = [mg.obs.index(v) for v in mg.fixed_x]
    yi = [i for i in range(p) if i not in xi]
    px = len(xi)
    df = G * (p * (p + 1) // 2 + p - px * (px + 1) // 2 - px) - mg.npar
    # saturated model per group: the mean block contributes p, the covariance block h1_trace
    tr1 = sum(_h1_trace_fixed_x(X, xi) if px else p + h1_trace(X) for X in raw)
    tr = tr1 - float(np.trace(Ainv @ B)) if ok else np.nan
    c = tr / df if df > 0 else np.nan
    tr_b = 0.0
    for X in raw:
        d = (X - X.mean(axis=0))[:, yi]
        s2 = (d ** 2).mean(axis=0)
        tr_b += len(yi) + np.sum(((d ** 2 / s2 - 1) ** 2).mean(axis=0)) / 2
    df_b = G * (p * (p - 1) // 2 - px * (px - 1) // 2)
    c_b = (tr1 - tr_b) / df_b
    return vcov, ok, float(c), float(c_b), float(tr)


def _h1_trace_fixed_x(X, xi):
    """tr(A₁⁻¹B₁) of the saturated model (means and covariances) at the sample moments, with
    the covariates' own moments (their means, variances, covariances) left out."""
    from .estimators._structure import vech_indices
    from .estimators.mlr import _h1_expected_information, _score_rows

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


def fit_fiml(mg, patterns, x0):
    """Maximise the FIML log-likelihood from x0 (the ML fit to the EM moments): BFGS on
    F = −2 log L / N, then Newton steps with the numerical observed information."""
    N = sum(p_.n for p_ in patterns)

    def fg(z):
        ll, g = fiml_loglik_gradient(mg, patterns, z)
        return (-2 * ll / N, -2 * g / N) if np.isfinite(ll) else (np.inf, g)
    res = optimize.minimize(fg, x0, jac=True, method="BFGS",
                            options={"gtol": 1e-10, "maxiter": 10000})
    x, f = res.x, res.fun
    g = fg(x)[1]
    for _ in range(5):
        H = fiml_observed_information(mg, patterns, x) * 2 / N
        try:
            step = np.linalg.solve(H, g)
        except np.linalg.LinAlgError:
            break
        fn, gn = fg(x - step)
        if not np.isfinite(fn) or fn > f:
            break
        x, f, g = x - step, fn, gn
        if np.max(np.abs(g)) < 1e-12:
            break
    return x, g, bool(res.success or np.max(np.abs(g)) < 1e-6)


def fiml_observed_information(mg, patterns, x):
    """Observed information −∂²log L/∂θ∂θᵀ (central differences of the analytic gradient),
    lavaan's default for missing = "ml"."""
    from .estimators._structure import numerical_jacobian

    H = numerical_jacobian(lambda z: fiml_loglik_gradient(mg, patterns, z)[1], x,
                           rel_step=1e-6)
    return -(H + H.T) / 2


def _fiml_vcov(mg, patterns, x, warnings_):
    """Inverse observed FIML information, or NaN when it is singular."""
    return _vcov_or_nan(lambda: fiml_observed_information(mg, patterns, x), mg.npar, warnings_)


def _vcov_or_nan(information, npar, warnings_):
    """The inverse of ``information()`` and its SEs; NaN (and a warning) when it is singular."""
    try:
        info = information()
        ev = np.linalg.eigvalsh(info)
        if ev.min() <= 1e-10 * max(ev.max(), 1e-300):
            from .numerics import scaled_inverse

            vcov, ok = scaled_inverse(info)   # singular, or only badly scaled?
            if not ok:
                raise np.linalg.LinAlgError
        else:
            vcov = np.linalg.inv(info)
        return vcov, np.sqrt(np.clip(np.diag(vcov), 0, None))
    except np.linalg.LinAlgError:
        warnings_.append("the information matrix is singular: the model is not identified "
                         "(no standard errors)")
        return np.full((npar, npar), np.nan), np.full(npar, np.nan)


def robust_fiml_groups(mg, patterns, x, vcov_obs):
    """MLR with missing answers (lavaan's estimator = "MLR", missing = "ml"), per group as
    :func:`semcluster.estimators.fiml.robust_fiml`: V = A⁻¹BA⁻¹ with A the observed FIML
    information (``vcov_obs`` = A⁻¹) and B the sum of outer products of the casewise FIML
    scores; c = [Σ_g tr(A₁g⁻¹B₁g) − tr(A⁻¹B)]/df with A₁g, B₁g the observed and first-order
    information of group g's saturated model at its EM estimates; the baseline (available-case
    means and variances per group) alike."""
    from .estimators._structure import vech_indices
    from .estimators.fiml import baseline_score_trace

    p = len(mg.obs)
    r, c_ = vech_indices(p)
    tr_h1, tr_b = 0.0, 0.0
    scores = []
    for g, pat in enumerate(patterns):
        mu1, S1, _ = pat.h1
        B1s = pat.casewise_scores(S1, mu1)
        tr_h1 += float(np.trace(np.linalg.solve(pat.saturated_information(S1, mu1),
                                                B1s.T @ B1s)))
        Sigma, mu, dS, dm = mg.derivatives(x, g)
        S0 = pat.casewise_scores(Sigma, mu)
        scores.append(S0[:, :p] @ dm.T + S0[:, p:] @ dS[:, r, c_].T)
        tr_b += baseline_score_trace(pat.X)
    sc = np.vstack(scores)
    B = sc.T @ sc
    ok = bool(np.all(np.isfinite(vcov_obs)))
    vcov = vcov_obs @ B @ vcov_obs
    G = len(patterns)
    df = G * (p * (p + 1) // 2 + p) - mg.npar
    tr = tr_h1 - float(np.trace(vcov_obs @ B)) if ok else np.nan
    c = tr / df if df > 0 else np.nan
    c_b = (tr_h1 - tr_b) / (G * p * (p - 1) // 2)
    return vcov, ok, float(c), float(c_b), float(tr)


def fiml_statistics(mg, x, patterns, data_em):
    """FIML fit measures as lavaan's missing = "ml": χ² = 2[log L(h1) − log L(h0)] with h1 the
    EM saturated model per group; baseline with available-case means and variances; SRMR from
    the EM moments (``data_em``) as the sample moments; logL the FIML log-likelihood."""
    ll = fiml_loglik_gradient(mg, patterns, x)[0]
    ll_h1 = sum(p_.h1[2] for p_ in patterns)
    ll_b = sum(p_.independence_loglik() for p_ in patterns)
    st = fit_statistics(mg, x, 0.0, data_em)
    N, G = st["ntotal"], len(patterns)
    chisq = max(2 * (ll_h1 - ll), 0.0)
    chisq_b = 2 * (ll_h1 - ll_b)
    df, df_b = st["df"], st["baseline_df"]
    t1 = max(chisq - df, 0)
    t2 = max(chisq - df, chisq_b - df_b, 0)
    st.update({
        "chisq": chisq, "pvalue": stats.chi2.sf(chisq, df) if df > 0 else np.nan,
        "baseline_chisq": chisq_b, "baseline_pvalue": stats.chi2.sf(chisq_b, df_b),
        "cfi": 1 - t1 / t2 if t2 > 0 else 1.0,
        "tli": ((chisq_b / df_b) - (chisq / df)) / ((chisq_b / df_b) - 1) if df > 0 else 1.0,
        "rmsea": np.sqrt(max(chisq - df, 0) / (df * N)) * np.sqrt(G) if df > 0 else 0.0,
        "logl": ll, "unrestricted_logl": ll_h1,
        "aic": -2 * ll + 2 * mg.npar, "bic": -2 * ll + mg.npar * np.log(N)})
    return st


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
    for _ in range(20):
        try:
            step = np.linalg.solve(mg.information(x, data), g) * N / 2
        except np.linalg.LinAlgError:
            break
        t = 1.0
        while t > 1e-4:
            fn, gn = mg.objective_gradient(x - t * step, data)
            if np.isfinite(fn) and fn <= f:
                break
            t /= 2
        else:
            break
        x, f, g = x - t * step, fn, gn
        if np.max(np.abs(g)) < 1e-12:
            break
    converged = bool(res.success or np.max(np.abs(g)) < 1e-6)
    return x, float(f), g, converged


def fit_statistics(mg, x, f, data, *, meanstructure=True):
    """χ², df, baseline, CFI, TLI, RMSEA, SRMR, logL, AIC, BIC as lavaan (module docstring)."""
    from . import fitmeasures as fm

    N = sum(d[2] for d in data)
    G = len(data)
    p = len(mg.obs)
    chisq = N * f
    # fixed.x: the covariates' moments are not data points (lavaan's ndat)
    xi = [mg.obs.index(v) for v in mg.fixed_x]
    yi = [i for i in range(p) if i not in xi]
    px = len(xi)
    df = G * (p * (p + 1) // 2 + (p if meanstructure else 0)
              - px * (px + 1) // 2 - (px if meanstructure else 0)) - mg.npar

    def logdet_x(S):
        return np.linalg.slogdet(S[np.ix_(xi, xi)])[1] if px else 0.0

    # baseline: outcomes uncorrelated, covariates' block at its sample values
    chisq_b = sum(n * (np.sum(np.log(np.diag(S)[yi])) + logdet_x(S) - np.linalg.slogdet(S)[1])
                  for S, _, n in data)
    df_b = G * (p * (p - 1) // 2 - px * (px - 1) // 2)
    # the χ²-based family of semcluster.fitmeasures (one formula each, as for one group);
    # lavaan's multi-group RMSEA multiplies the single-group value by √G
    cfi = fm.cfi(chisq, df, chisq_b, df_b)
    tli = fm.tli(chisq, df, chisq_b, df_b) if df > 0 else 1.0
    rmsea = fm.rmsea_value(chisq, df, N) * np.sqrt(G)
    logl, logl_h1, srmr = 0.0, 0.0, 0.0
    low = np.tril_indices(p)
    for g, (S, xbar, n) in enumerate(data):
        Sigma, mu, _ = mg.moments(x, g)
        r = xbar - mu
        logl += -n / 2 * (p * np.log(2 * np.pi) + np.linalg.slogdet(Sigma)[1]
                          + np.trace(np.linalg.solve(Sigma, S)) + r @ np.linalg.solve(Sigma, r))
        logl_h1 += -n / 2 * (p * np.log(2 * np.pi) + np.linalg.slogdet(S)[1] + p)
        if px:
            # likelihood conditional on the covariates (lavaan with fixed.x)
            lx = -n / 2 * (px * np.log(2 * np.pi) + logdet_x(S) + px)
            logl -= lx
            logl_h1 -= lx
        sd = np.sqrt(np.diag(S))
        R = (S - Sigma) / np.outer(sd, sd)
        ss = np.sum(R[low] ** 2)
        cnt = p * (p + 1) / 2
        if meanstructure:
            ss += np.sum((r / sd) ** 2)
            cnt += p
        srmr += n / N * np.sqrt(ss / cnt)
    return {"npar": mg.npar, "chisq": chisq, "df": df,
            "pvalue": stats.chi2.sf(chisq, df) if df > 0 else np.nan,
            "baseline_chisq": chisq_b, "baseline_df": df_b,
            "baseline_pvalue": stats.chi2.sf(chisq_b, df_b),
            "cfi": cfi, "tli": tli, "rmsea": rmsea, "srmr": srmr,
            "logl": logl, "unrestricted_logl": logl_h1,
            "aic": -2 * logl + 2 * mg.npar, "bic": -2 * logl + mg.npar * np.log(N),
            "ntotal": N}


ESTIMATE_COLUMNS = ["lhs", "op", "rhs", "group", "label", "est", "se", "z", "pvalue",
                    "ci_lower", "ci_upper", "std_lv", "std_all"]


@dataclass(frozen=True, eq=False)
class GroupResult(ResultProtocol):
    """A multi-group fit, or a single-group fit with a mean structure (lavaan semantics).

    ``estimates`` is lavaan's ``parameterEstimates(standardized = TRUE)`` layout (``group``
    column numbered from 1 as lavaan's, 0 for ``:=`` rows; absent for a single group);
    ``fit_measures`` holds npar, chisq, df, pvalue, baseline_chisq, baseline_df, cfi, tli,
    rmsea, srmr, logl, aic, bic, ntotal (MLR: also lavaan's scaled and robust measures);
    ``r2`` the R² of every endogenous variable per group; ``vcov`` the covariance matrix of
    the free parameters (expected information for ML, sandwich for MLR).
    """

    estimates: pd.DataFrame
    fit_measures: pd.Series
    groups: tuple
    nobs: dict
    group_equal: tuple = ()
    group_partial: tuple = ()
    estimator: str = "ML"
    converged: bool = True
    warnings: tuple = ()
    vcov: pd.DataFrame | None = None
    group_column: str | None = None
    info: dict = field(default_factory=dict)
    r2: pd.DataFrame | None = None     # group, variable, r2 (lavInspect(fit, "r2"))
    missing: str = "listwise"          # or "fiml" (lavaan's missing = "ml")
    data_report: object = None         # the DataReport of the rows used (rows in no group)

    def to_frame(self) -> pd.DataFrame:
        """The parameter estimates (a copy)."""
        return self.estimates.copy()

    def parameter_estimates(self) -> pd.DataFrame:
        """lavaan's parameterEstimates(): a copy of :attr:`estimates`."""
        return self.estimates.copy()

    def to_dict(self) -> dict:
        return {"groups": list(self.groups), "group_column": self.group_column,
                "nobs": clean(self.nobs), "group_equal": list(self.group_equal),
                "group_partial": list(self.group_partial), "estimator": self.estimator,
                "converged": self.converged, "warnings": list(self.warnings),
                "fit_measures": clean(self.fit_measures.to_dict()),
                "estimates": records(self.estimates),
                "r2": records(self.r2) if self.r2 is not None else None,
                "missing": self.missing}

    def summary(self, standardized: bool = False) -> str:
        """lavaan-like summary: fit, then estimates per group."""
        fm = self.fit_measures
        G = len(self.groups)
        lines = [(f"semcluster {self.estimator} fit"
                  + (f", {G} groups by '{self.group_column}'" if G > 1 else
                     " with a mean structure")),
                 f"  Number of observations: {int(fm['ntotal'])}"]
        if G > 1:
            for g in self.groups:
                lines.append(f"    {g}: {self.nobs[g]}")
        if self.group_equal:
            lines.append(f"  Equal across groups: {', '.join(self.group_equal)}")
        if self.group_partial:
            lines.append(f"  Freed again (group.partial): {', '.join(self.group_partial)}")
        lines += [f"  Number of model parameters: {int(fm['npar'])}",
                  (f"  Chi-square {fm['chisq']:.3f}, df {int(fm['df'])}, p "
                   + (f"{fm['pvalue']:.4f}" if np.isfinite(fm["pvalue"]) else "NA")),
                  (f"  CFI {fm['cfi']:.3f}  TLI {fm['tli']:.3f}  RMSEA {fm['rmsea']:.3f}  "
                   f"SRMR {fm['srmr']:.3f}"),
                  f"  logL {fm['logl']:.3f}  AIC {fm['aic']:.3f}  BIC {fm['bic']:.3f}",
                  ("  Missing answers: FIML (casewise likelihood); standard errors: "
                   + ("observed information" if self.estimator == "ML" else
                      "robust (Huber-White)") if self.missing == "fiml" else
                   "  Standard errors: expected information" if self.estimator == "ML" else
                   "  Standard errors: robust (Huber-White, observed information)")]
        if "chisq_scaled" in fm:
            robust = (f"; robust CFI {fm['cfi_robust']:.3f}  TLI {fm['tli_robust']:.3f}  "
                      f"RMSEA {fm['rmsea_robust']:.3f}" if "cfi_robust" in fm else
                      "; robust CFI/TLI/RMSEA (FIML-corrected) not computed")
            lines.insert(-2, f"  Scaled (Yuan-Bentler) chi-square {fm['chisq_scaled']:.3f}, "
                             f"scaling factor {fm['chisq_scaling_factor']:.3f}{robust}")
        if not self.converged:
            lines.append("  WARNING: the optimizer did not converge")
        lines += [f"  WARNING: {w}" for w in self.warnings]
        sections = (("=~", "Latent variables"), ("~", "Regressions"), ("~~", "Covariances"),
                    ("~1", "Intercepts"))
        for gi, gname in enumerate(self.groups, start=1):
            est = self.estimates
            if G > 1:
                est = est[est.group == gi]
                lines += ["", f"Group {gi} [{gname}]:"]
            for op, title in sections:
                rows = est[est.op == op]
                if op == "~~":
                    rows_c = rows[rows.lhs != rows.rhs]
                    rows_v = rows[rows.lhs == rows.rhs]
                    blocks = ((title, rows_c), ("Variances", rows_v))
                else:
                    blocks = ((title, rows),)
                for t, r in blocks:
                    if not len(r):
                        continue
                    lines += ["", f"{t}:",
                              (f"{'':28}{'Estimate':>10}{'Std.Err':>10}{'z-value':>10}"
                               f"{'P(>|z|)':>10}"
                               + (f"{'Std.lv':>10}{'Std.all':>10}" if standardized else ""))]
                    for row in r.itertuples():
                        if op in ("=~", "~"):
                            name = f"  {row.lhs} {op} {row.rhs}"
                        elif op == "~1":
                            name = f"  {row.lhs}"
                        else:
                            name = f"  {row.lhs} ~~ {row.rhs}" if row.lhs != row.rhs \
                                else f"  {row.lhs}"
                        if row.label:
                            name += f" ({row.label})"
                        se = (f"{row.se:10.3f}{row.z:10.3f}{row.pvalue:10.3f}"
                              if row.se > 0 and np.isfinite(row.se) else " " * 30)
                        std = (f"{row.std_lv:10.3f}{row.std_all:10.3f}" if standardized
                               else "")
                        lines.append(f"{name:28}{row.est:10.3f}{se}{std}".rstrip())
            if self.r2 is not None and len(self.r2):
                r2 = self.r2[self.r2.group == gname]
                lines += ["", "R-Square:"]
                lines += [f"  {r.variable:26}{r.r2:10.3f}" for r in r2.itertuples()]
        defined = self.estimates[self.estimates.op == ":="]
        if len(defined):
            lines += ["", "Defined parameters:"]
            for row in defined.itertuples():
                se = (f"{row.se:10.3f}{row.z:10.3f}{row.pvalue:10.3f}"
                      if row.se > 0 and np.isfinite(row.se) else "")
                lines.append(f"{'  ' + row.lhs + ' := ' + row.rhs:28}{row.est:10.3f}{se}")
        return "\n".join(lines) + "\n"


def _estimate_table(mg, x, se, single_group, vcov=None):
    rows = []
    for p_ in mg.params:
        if p_.fixed is None:
            k = mg.numbers[p_.key]
            est, s = x[k], se[k]
        else:
            est, s = p_.fixed, 0.0
        rows.append({"lhs": p_.lhs, "op": p_.op, "rhs": p_.rhs, "group": p_.group + 1,
                     "label": p_.label, "est": float(est), "se": float(s)})
    if mg.defined:
        # delta method: SE² = J V Jᵀ, J by central differences; group 0 as lavaan's
        from .estimators._structure import numerical_jacobian

        vals = mg.defined_values(x)
        J = numerical_jacobian(mg.defined_values, x, rel_step=1e-6)
        dse = (np.sqrt(np.clip(np.einsum("ij,jk,ik->i", J, vcov, J), 0, None))
               if vcov is not None else np.full(len(vals), np.nan))
        for (name, expr), v, s_ in zip(mg.defined, vals, dse):
            rows.append({"lhs": name, "op": ":=", "rhs": expr, "group": 0, "label": name,
                         "est": float(v), "se": float(s_)})
    t = pd.DataFrame(rows)
    with np.errstate(divide="ignore", invalid="ignore"):
        t["z"] = np.where(t.se > 0, t.est / t.se, np.nan)
    t["pvalue"] = 2 * stats.norm.sf(np.abs(t.z))
    t["ci_lower"] = np.where(t.se > 0, t.est - Z975 * t.se, t.est)
    t["ci_upper"] = np.where(t.se > 0, t.est + Z975 * t.se, t.est)
    t["std_lv"], t["std_all"] = standardize(mg, x)
    cols = [c for c in ESTIMATE_COLUMNS if not (single_group and c == "group")]
    return t[cols]


def prepare_group_data(spec, data, group, options=None, allow_missing=False):
    """Read the data (the one data path) and split it by ``group``; complete rows only unless
    ``allow_missing`` and the missing-data rule is FIML (then the fifth value returned holds the
    per-group :class:`~semcluster.estimators.fiml.MissingPatterns` and the per-group moments
    are the EM (h1) estimates)."""
    from .data import load_data, read_survey, require_complete

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

            from .errors import SemclusterWarning

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
        from .estimators.fiml import MissingPatterns

        if spec.fixed_x:
            raise OptionError(f"FIML with exogenous observed covariates ({', '.join(spec.fixed_x)})"
                              f" in multi-group or mean-structure models is not supported; use "
                              f"missing='listwise'")
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
    from .data import sample_covariance
    from .engine import MLEngine

    pt = spec.partable
    plain = replace(spec, partable=pt[pt.op != ":="].reset_index(drop=True), mean_rows=(),
                    group_modifiers=())
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


def _scaled(st, c, c_b, tr, G, robust=True):
    """lavaan's scaled and robust measures from the Yuan-Bentler factors; RMSEAs times √G
    (lavaan's multi-group RMSEA). The RMSEA intervals are left out for several groups.
    ``robust=False`` (robust FIML): the robust CFI/TLI/RMSEA, which lavaan computes from the
    FIML-corrected statistics of Zhang & Savalei (2020), are left out."""
    from .estimators._scaled import scaled_measures

    out = scaled_measures(pd.Series(st), chisq_scaled=st["chisq"] / c, df_scaled=st["df"],
                          scaling_factor=c, baseline_chisq_scaled=st["baseline_chisq"] / c_b,
                          baseline_df_scaled=st["baseline_df"], baseline_scaling_factor=c_b,
                          n=st["ntotal"], kind="yuan.bentler.mplus", trace_ugamma=tr,
                          robust=robust)
    if G > 1:
        for k in ("rmsea_scaled", "rmsea_robust"):
            if k in out:
                out[k] *= np.sqrt(G)
        for k in [k for k in out if k.startswith(("rmsea_ci", "rmsea_pvalue"))]:
            del out[k]
    return out


def fit_groups(spec, data=None, *, group=None, group_equal=(), group_partial=(),
               estimator="ML", options=None) -> GroupResult:
    """Fit a multi-group model (``group`` a column) or a single-group model with a mean
    structure (``group=None``) by ML; see the module docstring."""
    if estimator not in ("ML", "MLR"):
        raise OptionError(f"estimator {estimator} is not available for multi-group or "
                          f"mean-structure models (lavaan can; semcluster fits them by ML "
                          f"and MLR only)")
    if group is None and (group_equal or group_partial):
        raise OptionError("group_equal and group_partial need group= (a grouping column)")
    df, data_g, labels, report, patterns = prepare_group_data(spec, data, group, options,
                                                              allow_missing=True)
    mg = MultiGroupModel(spec, labels, group_equal, group_partial, moments=data_g)
    pt = spec.partable
    per_group = {k for k, _ in spec.group_modifiers}
    shared = sorted({r.label for r in pt.itertuples() if r.label and r.free > 0
                     and (r.lhs, r.op, r.rhs) not in per_group}
                    | {m["label"] for m in spec.mean_rows if m["label"] and not m["groups"]})
    if shared and len(labels) > 1 and not mg.group_equal:
        import warnings

        from .errors import SemclusterWarning

        # lavaan's warning: a single label in several groups imposes equality constraints
        warnings.warn(f"label(s) {', '.join(shared)} name one parameter in every group (as in "
                      f"lavaan): they are held equal across the {len(labels)} groups; write "
                      f"c(a1, a2, ...) for one label per group", SemclusterWarning,
                      stacklevel=3)
    start = pooled_start(spec, df.dropna(subset=spec.observed))
    x, f, grad, converged = fit_multigroup(mg, data_g, start)
    warnings_ = []
    if patterns is not None:
        x, grad, converged = fit_fiml(mg, patterns, x)
        vcov, se = _fiml_vcov(mg, patterns, x, warnings_)
        st = fiml_statistics(mg, x, patterns, data_g)
    else:
        st = fit_statistics(mg, x, f, data_g)
    if patterns is not None and estimator == "MLR":
        vcov, ok, c, c_b, tr = robust_fiml_groups(mg, patterns, x, vcov)
        se = np.sqrt(np.clip(np.diag(vcov), 0, None)) if ok else np.full(mg.npar, np.nan)
        if not ok:
            warnings_.append("the robust (sandwich) standard errors could not be computed")
        st.update(_scaled(st, c, c_b, tr, len(labels), robust=False))
    elif patterns is not None:
        pass
    elif estimator == "MLR":
        raw = ([df[spec.observed].to_numpy(dtype=float)] if group is None else
               [df.loc[df[group].astype(str) == lab, spec.observed].to_numpy(dtype=float)
                for lab in labels])
        vcov, ok, c, c_b, tr = robust_mlr(mg, x, data_g, raw)
        se = np.sqrt(np.clip(np.diag(vcov), 0, None)) if ok else np.full(mg.npar, np.nan)
        if not ok:
            warnings_.append("the robust (sandwich) standard errors could not be computed")
        st.update(_scaled(st, c, c_b, tr, len(labels)))
    else:
        vcov, se = _expected_vcov(mg, x, data_g, warnings_)
    if st["df"] < 0:
        warnings_.append(f"the model has more parameters ({mg.npar}) than sample moments: "
                         f"df = {st['df']}, not identified")
    table = _estimate_table(mg, x, se, single_group=len(labels) == 1, vcov=vcov)
    neg = table[(table.op == "~~") & (table.lhs == table.rhs) & (table.est < 0)]
    if len(neg):
        warnings_.append("negative variance estimate (Heywood case): "
                         + ", ".join(f"{r.lhs} ({r.est:.3f})" for r in neg.itertuples()))
    return GroupResult(
        estimates=table, fit_measures=pd.Series(st, dtype=float), groups=tuple(labels),
        nobs={lab: int(d[2]) for lab, d in zip(labels, data_g)},
        group_equal=mg.group_equal,
        group_partial=tuple(f"{a}~1" if o == "~1" else f"{a}{o}{b}" for a, o, b in
                            mg.group_partial), estimator=estimator,
        converged=converged, warnings=tuple(warnings_),
        vcov=pd.DataFrame(vcov, index=mg.names, columns=mg.names), group_column=group,
        r2=r_squared(mg, x), missing="fiml" if patterns is not None else "listwise",
        data_report=report,
        info={"x": [float(v) for v in x], "max_gradient": float(np.max(np.abs(grad)))
              if len(grad) else 0.0})
