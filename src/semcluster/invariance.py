"""Multi-group models and measurement invariance (configural, metric, scalar, strict).

semopy fits groups separately and has no cross-group equality constraints, so the multi-group
model is built here on the RAM form of the model (:class:`semcluster.standardized.RAM`), with a
mean structure: per group g, Σ_g = F(I − A_g)⁻¹P_g(I − A_g)⁻ᵀFᵀ and μ_g = F(I − A_g)⁻¹m_g, where
m_g holds the item intercepts and the latent means.  Parameters are numbered once for all
groups; an equality constraint is a shared number (lavaan's ``group.equal``):

============  ==================================================================
configural    same pattern; intercepts free; latent means fixed at 0
metric        + loadings equal across groups
scalar        + intercepts equal; latent means free in groups 2..G
strict        + residual variances equal
============  ==================================================================

ML fit function as lavaan's: F = Σ_g (N_g/N)[log|Σ_g| + tr(S_gΣ_g⁻¹) − log|S_g| − p
+ (x̄_g − μ_g)ᵀΣ_g⁻¹(x̄_g − μ_g)], χ² = N·F, minimised with an analytic gradient:
with W = Σ⁻¹ − Σ⁻¹(S + rrᵀ)Σ⁻¹, r = x̄ − μ, B = (I − A)⁻¹, v = BᵀFᵀΣ⁻¹r, u = Bm:
∂F/∂A = 2BᵀFᵀWFBPBᵀ − 2vuᵀ, ∂F/∂P = BᵀFᵀWFB, ∂F/∂m = −2v.
Baseline (for CFI/TLI): per group free variances and means.  RMSEA as lavaan's multi-group
version, √(max(χ² − df, 0)/(df·N))·√G.  Model comparison by χ² difference (lavTestLRT for
standard ML); ΔCFI ≤ −.010 and ΔRMSEA ≥ .015 flag non-invariance (Chen 2007).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import optimize, stats

from .errors import DataError, ModelSpecError, OptionError, SemclusterError
from .protocol import ResultProtocol, clean, records

LEVELS = ("configural", "metric", "scalar", "strict")


@dataclass
class _Param:
    kind: str        # "A", "P", "m"
    i: int
    j: int
    group: int
    key: tuple       # equality key (same key -> same parameter number)
    fixed: float | None = None


class MultiGroupModel:
    """A model fitted in several groups with equality constraints (see module docstring)."""

    def __init__(self, spec, level: str, groups: list[str]):
        from .standardized import RAM

        if level not in LEVELS:
            raise OptionError(f"level must be one of {', '.join(LEVELS)}")
        if spec.fixed_x:
            raise ModelSpecError("multi-group models with exogenous observed covariates are "
                                  "not supported")
        self.spec = spec
        self.level = level
        self.groups = list(groups)
        self.ram = RAM(spec)
        self.obs = list(spec.observed)
        self.obs_ix = np.array([self.ram.ix[v] for v in self.obs])
        self.m = self.ram.m
        eq_load = level in ("metric", "scalar", "strict")
        eq_int = level in ("scalar", "strict")
        eq_res = level == "strict"
        params: list[_Param] = []
        lat = set(spec.latent)
        for g in range(len(groups)):
            for k, r in enumerate(self.ram.rows.itertuples()):
                kind, (i, j) = self.ram.kind[k], self.ram.pos[k]
                fixed = None if r.free > 0 else float(r.fixed)
                shared = ((r.op == "=~" and eq_load) or
                          (r.op == "~~" and r.lhs == r.rhs and r.lhs not in lat and eq_res))
                key = ("row", k) if shared else ("row", k, g)
                if r.label and r.free > 0:
                    # lavaan: a label written once names ONE parameter in every group
                    key = ("label", r.label)
                params.append(_Param(kind, i, j, g, key, fixed))
            for v in self.obs:
                key = ("int", v) if eq_int else ("int", v, g)
                params.append(_Param("m", self.ram.ix[v], 0, g, key))
            for f in spec.latent:
                if f in spec.endogenous:
                    fixed = 0.0        # intercepts of endogenous factors: fixed (lavaan)
                else:
                    fixed = 0.0 if (not eq_int or g == 0) else None
                params.append(_Param("m", self.ram.ix[f], 0, g, ("mean", f, g), fixed))
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
        # per group: index arrays for filling A, P, m from x
        self._fill = []
        for g in range(len(groups)):
            entries = [p_ for p_ in params if p_.group == g]
            self._fill.append(entries)

    def _describe(self, p_):
        v = self.ram.vars
        if p_.kind == "A":
            return f"{v[p_.j]}->{v[p_.i]}[g{p_.group + 1}]"
        if p_.kind == "P":
            return f"{v[p_.i]}~~{v[p_.j]}[g{p_.group + 1}]"
        return f"{v[p_.i]}~1[g{p_.group + 1}]"

    def matrices(self, x, g):
        A = np.zeros((self.m, self.m))
        P = np.zeros((self.m, self.m))
        mvec = np.zeros(self.m)
        for p_ in self._fill[g]:
            val = p_.fixed if p_.fixed is not None else x[self.numbers[p_.key]]
            if p_.kind == "A":
                A[p_.i, p_.j] = val
            elif p_.kind == "P":
                P[p_.i, p_.j] = P[p_.j, p_.i] = val
            else:
                mvec[p_.i] = val
        return A, P, mvec

    def moments(self, x, g):
        A, P, mvec = self.matrices(x, g)
        B = np.linalg.inv(np.eye(self.m) - A)
        o = self.obs_ix
        Sigma = (B @ P @ B.T)[np.ix_(o, o)]
        mu = (B @ mvec)[o]
        return Sigma, mu, (A, P, mvec, B)

    def objective_gradient(self, x, data):
        """F = Σ_g w_g F_g and its gradient (``data``: list of (S_g, xbar_g, N_g))."""
        N = sum(d[2] for d in data)
        f = 0.0
        grad = np.zeros(self.npar)
        o = self.obs_ix
        for g, (S, xbar, n) in enumerate(data):
            Sigma, mu, (A, P, mvec, B) = self.moments(x, g)
            try:
                L = np.linalg.cholesky(Sigma)
            except np.linalg.LinAlgError:
                return np.inf, np.full(self.npar, np.nan)
            Si = np.linalg.inv(Sigma)
            r = xbar - mu
            fg = (2 * np.sum(np.log(np.diag(L))) + np.trace(S @ Si) - np.linalg.slogdet(S)[1]
                  - len(o) + r @ Si @ r)
            w = n / N
            f += w * fg
            W = Si - Si @ (S + np.outer(r, r)) @ Si
            FB = B[o, :]                         # F B
            core = FB.T @ W @ FB                 # Bᵀ Fᵀ W F B
            v = FB.T @ Si @ r
            u = B @ mvec
            GA = 2 * core @ P @ B.T - 2 * np.outer(v, u)
            GP = core
            Gm = -2 * v
            for p_ in self._fill[g]:
                if p_.fixed is not None:
                    continue
                k = self.numbers[p_.key]
                if p_.kind == "A":
                    grad[k] += w * GA[p_.i, p_.j]
                elif p_.kind == "P":
                    grad[k] += w * (GP[p_.i, p_.j] if p_.i == p_.j else 2 * GP[p_.i, p_.j])
                else:
                    grad[k] += w * Gm[p_.i]
        return float(f), grad

    def information(self, x, data):
        """Expected information of the whole sample:
        Σ_g N_g [½ tr(Σ⁻¹∂_kΣ Σ⁻¹∂_lΣ) + ∂_kμᵀ Σ⁻¹ ∂_lμ]."""
        o = self.obs_ix
        p = len(o)
        info = np.zeros((self.npar, self.npar))
        for g, (S, xbar, n) in enumerate(data):
            Sigma, mu, (A, P, mvec, B) = self.moments(x, g)
            Si = np.linalg.inv(Sigma)
            C = B @ P @ B.T
            u = B @ mvec
            dS = np.zeros((self.npar, p, p))
            dm = np.zeros((self.npar, p))
            for p_ in self._fill[g]:
                if p_.fixed is not None:
                    continue
                k = self.numbers[p_.key]
                i, j = p_.i, p_.j
                if p_.kind == "A":
                    t = np.outer(B[:, i], C[j, :])
                    dS[k] += (t + t.T)[np.ix_(o, o)]
                    dm[k] += (B[:, i] * u[j])[o]
                elif p_.kind == "P":
                    t = np.outer(B[:, i], B[:, j])
                    dS[k] += (t if i == j else t + t.T)[np.ix_(o, o)]
                else:
                    dm[k] += B[o, i]
            SD = np.matmul(Si, dS)
            q = self.npar
            H = SD.reshape(q, -1) @ SD.transpose(0, 2, 1).reshape(q, -1).T
            info += n * (0.5 * H + dm @ Si @ dm.T)
        return info

    def start(self, data, single):
        """Start values: the pooled single-group ML solution, group means as intercepts."""
        x = np.zeros(self.npar)
        vals = self.ram.values(single)
        for p_ in self.params:
            if p_.fixed is not None:
                continue
            k = self.numbers[p_.key]
            if p_.kind in ("A", "P"):
                row = next(idx for idx, (kk, pos) in enumerate(zip(self.ram.kind,
                                                                   self.ram.pos))
                           if kk == p_.kind and pos == (p_.i, p_.j))
                x[k] = vals[row]
            else:
                v = self.ram.vars[p_.i]
                if v in self.obs:
                    x[k] = data[p_.group][1][self.obs.index(v)]
        return x


@dataclass(frozen=True, eq=False)
class InvarianceResult(ResultProtocol):
    """The invariance sequence (configural, metric, scalar, ...) fitted across groups.

    The result protocol (:mod:`semcluster.protocol`) gives ``summary()``, ``to_frame()`` (the
    fit table, one row per level), ``to_dict()``, ``to_json()``/``from_json()``, pickling and
    ``==``.
    """

    table: pd.DataFrame            # one row per level: npar chisq df pvalue cfi tli rmsea ...
    comparisons: pd.DataFrame      # each level vs the previous one: LRT, ΔCFI, ΔRMSEA, verdict
    groups: tuple
    nobs: dict
    estimates: dict = field(default_factory=dict)    # level -> DataFrame est, se (expected
                                                     # information) per parameter

    def to_frame(self) -> pd.DataFrame:
        """Fit of every level (a copy of :attr:`table`, indexed by level)."""
        return self.table.copy()

    def to_dict(self) -> dict:
        return {"groups": list(self.groups), "nobs": clean(self.nobs),
                "table": records(self.table.reset_index()),
                "comparisons": records(self.comparisons),
                "estimates": {k: records(v.reset_index(names="parameter"))
                              for k, v in self.estimates.items()}}

    def summary(self) -> str:
        """Fit per level and the verdict of each step."""
        groups = ", ".join(f"{g} (N={self.nobs.get(g)})" for g in self.groups)
        cols = [c for c in ("npar", "chisq", "df", "pvalue", "cfi", "tli", "rmsea", "aic",
                            "bic") if c in self.table]
        lines = [f"Measurement invariance across {groups}",
                 self.table[cols].to_string(float_format=lambda v: f"{v:.3f}"), ""]
        for r in self.comparisons.itertuples():
            lines.append(f"{r.comparison}: chi-square difference {r.chisq_diff:.3f} on "
                         f"{r.df_diff} df, p {r.pvalue:.4f} ({r.lrt_verdict}); "
                         f"delta CFI {r.delta_cfi:+.4f}, delta RMSEA {r.delta_rmsea:+.4f}: "
                         f"{r.fit_index_verdict}")
        return "\n".join(lines) + "\n"


def _group_moments(df, obs, group_col):
    data = []
    labels = []
    # groups in order of first appearance, as lavaan: the first is the reference group
    # whose latent means are fixed at 0
    for g in pd.unique(df[group_col]):
        sub = df[df[group_col] == g]
        X = sub[obs].to_numpy(dtype=float)
        n = len(X)
        xbar = X.mean(axis=0)
        Xc = X - xbar
        data.append((Xc.T @ Xc / n, xbar, n))
        labels.append(str(g))
    return data, labels


def fit_multigroup(spec, data, level, groups, single_x):
    mg = MultiGroupModel(spec, level, groups)
    x0 = mg.start(data, single_x)
    res = optimize.minimize(lambda z: mg.objective_gradient(z, data), x0, jac=True,
                            method="BFGS", options={"gtol": 1e-8, "maxiter": 5000})
    if not np.isfinite(res.fun):
        raise SemclusterError(f"the {level} model could not be fitted")
    return mg, res


def _fit_stats(mg, res, data):
    N = sum(d[2] for d in data)
    G = len(data)
    p = len(mg.obs)
    chisq = N * res.fun
    df = G * (p * (p + 1) // 2 + p) - mg.npar
    chisq_b = sum(n * (np.sum(np.log(np.diag(S))) - np.linalg.slogdet(S)[1])
                  for S, _, n in data)
    df_b = G * p * (p - 1) // 2
    t1 = max(chisq - df, 0)
    t2 = max(chisq - df, chisq_b - df_b, 0)
    cfi = 1 - t1 / t2 if t2 > 0 else 1.0
    tli = ((chisq_b / df_b) - (chisq / df)) / ((chisq_b / df_b) - 1) if df > 0 else 1.0
    rmsea = np.sqrt(max(chisq - df, 0) / (df * N)) * np.sqrt(G) if df > 0 else 0.0
    logl = 0.0
    for g, (S, xbar, n) in enumerate(data):
        Sigma, mu, _ = mg.moments(res.x, g)
        r = xbar - mu
        logl += -n / 2 * (p * np.log(2 * np.pi) + np.linalg.slogdet(Sigma)[1]
                          + np.trace(np.linalg.solve(Sigma, S)) + r @ np.linalg.solve(Sigma, r))
    return {"npar": mg.npar, "chisq": chisq, "df": df, "pvalue": stats.chi2.sf(chisq, df),
            "cfi": cfi, "tli": tli, "rmsea": rmsea, "logl": logl,
            "aic": -2 * logl + 2 * mg.npar, "bic": -2 * logl + mg.npar * np.log(N),
            "baseline_chisq": chisq_b, "baseline_df": df_b,
            "converged": bool(res.success or np.max(np.abs(res.jac)) < 1e-5)}


def measurement_invariance(model, data=None, *, group: str, levels=LEVELS,
                           delta_cfi: float = -0.010, delta_rmsea: float = 0.015,
                           options=None) -> InvarianceResult:
    """Fit the invariance sequence by a grouping column and compare adjacent levels."""
    from .data import load_data, read_survey, require_complete
    from .fit import fit
    from .spec import read_model

    spec = read_model(model)
    df = load_data(data) if data is None or isinstance(data, pd.DataFrame) else None
    if df is not None and group not in df.columns:
        raise SemclusterError(f"grouping column '{group}' is not in the data (columns: "
                              f"{', '.join(map(str, df.columns[:12]))} ...)")
    df, _ = read_survey(data, options, variables=spec.observed, keep=[group])
    require_complete(df[spec.observed], None, "measurement invariance (multi-group ML)")
    df = df.dropna(subset=[group])
    data_g, labels = _group_moments(df, spec.observed, group)
    if len(labels) < 2:
        raise DataError(f"'{group}' has fewer than two groups")
    for (S, _, n), lab in zip(data_g, labels):
        if n <= len(spec.observed):
            raise DataError(f"group '{lab}' has {n} rows for {len(spec.observed)} "
                                  f"variables: too few for a multi-group model")
    pt = spec.partable
    shared = sorted(set(pt.loc[(pt["free"] > 0) & (pt.label != ""), "label"]))
    if shared:
        import warnings

        from .errors import SemclusterWarning

        warnings.warn(f"label(s) {', '.join(shared)} name one parameter in every group (as in "
                      f"lavaan): they are held equal across the {len(labels)} groups",
                      SemclusterWarning, stacklevel=2)
    single = fit(spec, df[spec.observed])
    rows, est = [], {}
    for level in levels:
        mg, res = fit_multigroup(spec, data_g, level, labels, single.info["x"])
        st = _fit_stats(mg, res, data_g)
        st["level"] = level
        rows.append(st)
        try:
            cov = np.linalg.inv(mg.information(res.x, data_g))
            se = np.sqrt(np.clip(np.diag(cov), 0, None))
        except np.linalg.LinAlgError:
            se = np.full(mg.npar, np.nan)
        est[level] = pd.DataFrame({"est": res.x, "se": se}, index=mg.names)
    table = pd.DataFrame(rows).set_index("level")
    comps = []
    for a, b in zip(levels[:-1], levels[1:]):
        d_chi = table.loc[b, "chisq"] - table.loc[a, "chisq"]
        d_df = int(table.loc[b, "df"] - table.loc[a, "df"])
        dcfi = table.loc[b, "cfi"] - table.loc[a, "cfi"]
        drm = table.loc[b, "rmsea"] - table.loc[a, "rmsea"]
        p = stats.chi2.sf(d_chi, d_df) if d_df > 0 else np.nan
        holds = (dcfi > delta_cfi) and (drm < delta_rmsea)
        comps.append({"comparison": f"{b} vs {a}", "chisq_diff": d_chi, "df_diff": d_df,
                      "pvalue": p, "delta_cfi": dcfi, "delta_rmsea": drm,
                      "lrt_verdict": "holds" if p >= 0.05 else "rejected",
                      "fit_index_verdict": f"{b} invariance holds" if holds else
                      f"{b} invariance not supported",
                      "criteria": f"ΔCFI > {delta_cfi} and ΔRMSEA < {delta_rmsea} "
                                  f"(Chen 2007)"})
    return InvarianceResult(table=table, comparisons=pd.DataFrame(comps),
                            groups=tuple(labels),
                            nobs={lab: int(d[2]) for lab, d in zip(labels, data_g)},
                            estimates=est)
