"""From an estimate vector to everything lavaan reports: the one result builder.

Every estimator (ML, MLR, FIML, GLS, WLSMV) ends here: given the estimates, the estimator's
covariance matrix of the estimates (default: the inverse expected ML information) and its fit
measures, :func:`assemble_result` computes standard errors, Wald tests and intervals, the
standardized solutions (lavaan's std.lv and std.all) with delta-method standard errors,
defined parameters, R², the admissibility checks, and returns the :class:`SEMResult`.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import special, stats

from ..measures.fitmeasures import fit_measures
from ..model import ModelCore
from ..numerics import invert_information, numerical_jacobian
from .result import ESTIMATE_COLUMNS, SEMResult
from ..model.standardized import Definitions, evaluate_definitions, standardized, std_all_jacobian

Z975 = stats.norm.ppf(0.975)

__all__ = ["Z975", "assemble_group_result", "assemble_result", "defined_rows", "estimator_info",
           "invert_information", "wald_columns"]


def assemble_result(spec, engine, x, S, n, *, converged, message, report,
                    estimator="ML", vcov=None, vcov_ok=None, measures=None, implied=None,
                    fixed_x_cov=None, reduced=None, extra_rows=None, info=None,
                    lead_warnings=(), warnings=(), inadmissible=False, identification=None,
                    data=None, difftest=None) -> SEMResult:
    """Everything lavaan reports, from an estimate vector (the one result builder).

    ``x`` is the vector of the spec's free parameters. ``engine`` gives the implied covariance
    matrix (``implied``), the observed variables' order and the exogenous covariates.
    ``vcov``/``vcov_ok``: the estimator's covariance matrix of the estimates (default: the
    inverse expected ML information); every standard error, of standardized and defined
    parameters too, comes from it. ``measures``: the estimator's fit measures (default:
    lavaan's ML ones from S and Σ̂).

    For an estimator that fits something other than a covariance matrix of ``engine``'s
    variables (WLSMV), ``engine`` may be None when these are given:

    * ``implied``: the model-implied matrix reported (a labelled DataFrame; the sample matrix
      ``S`` is reported over the same variables), with ``vcov`` and ``measures``;
    * ``fixed_x_cov``: the exogenous covariates' covariance matrix for the standardized
      solution, when ``S`` does not hold it;
    * ``reduced = (keep, full)``: the estimator's parameters are θ = x[keep], and the spec's
      other free parameters are functions of them, x = full(θ) (the residual variances of
      ordinal items); ``vcov`` is then θ's covariance, carried to x and to the standardized
      values by central differences through ``full``, and the ``free`` column numbers θ (the
      dependent parameters are listed as fixed);
    * ``extra_rows``: rows of parameters outside the model's matrices (thresholds ``|``,
      intercepts ``~1``) with columns lhs, op, rhs, label, est, se, std_lv, std_all,
      se_std_all, free; listed after the model rows and before the defined parameters, their
      ``free`` numbers follow the model's (``vcov`` covers them after θ);
    * ``info``: entries added to the result's ``info``.

    What the estimator found beyond the numbers goes in once, here (the result is never
    patched afterwards): ``lead_warnings`` (listed before the builder's own, with
    ``inadmissible=True`` when they make the solution inadmissible) and ``warnings`` (after
    them); ``identification`` (:func:`semcluster.estimation.identification.check_identification`:
    an unidentified model's message comes first and makes the solution inadmissible); ``data``
    (the rows fitted, kept for ``predict()``) and ``difftest`` (WLSMV's nested-test parts).
    """
    warnings_: list[str] = list(lead_warnings)
    if implied is None:
        obs = engine.observed
        Sigma = engine.implied(x)
    else:
        obs = list(implied.index)
        Sigma = implied.loc[obs, obs].to_numpy()
    S_np = S.loc[obs, obs].to_numpy()
    if not converged:
        warnings_.append(f"the optimizer did not converge ({message}); estimates are not "
                         f"trustworthy")

    if vcov is None:
        vcov, vcov_ok = invert_information(engine.information(x))
    else:
        vcov = np.asarray(vcov, dtype=float)
        vcov_ok = bool(vcov_ok if vcov_ok is not None else np.all(np.isfinite(vcov)))
        if not vcov_ok:
            vcov = np.full(vcov.shape, np.nan)
    if not vcov_ok:
        warnings_.append("the information matrix is singular: the model is not identified "
                         "(estimates are not unique; no standard errors)")

    core = ModelCore.of(spec)
    if fixed_x_cov is None:
        core.set_fixed_x(S.loc[core.observed, core.observed].to_numpy())
    else:
        fx = list(spec.fixed_x)
        core.ram.set_fixed_x(fixed_x_cov.loc[fx, fx].to_numpy())
    ram = core.ram
    rows = ram.rows
    vals = ram.values(x)
    std_lv, std_all, r2 = standardized(ram, x, spec)
    free_x = rows["free"].to_numpy()
    if reduced is None:
        theta, full, free = x, None, free_x
    else:
        keep, full = reduced
        theta = x[keep]
        number = {int(k) + 1: i + 1 for i, k in enumerate(keep)}
        free = np.array([number.get(int(f), 0) if f > 0 else 0 for f in free_x])
    V_fit = vcov[:len(theta), :len(theta)]         # θ's block (the extra rows' follow)
    # covariance of x (the model rows' and defined parameters' standard errors)
    if full is None:
        V_x = V_fit
    elif vcov_ok:
        Jg = numerical_jacobian(full, theta, rel_step=1e-6)
        V_x = Jg @ V_fit @ Jg.T
    else:
        V_x = np.full((len(x),) * 2, np.nan)
    se = np.sqrt(np.clip(np.diag(V_x), 0, None)) if vcov_ok else np.full(len(x), np.nan)
    # delta-method standard errors of std.all (analytic Jacobian, or central differences
    # through ``full``); standardized values of fixed parameters still vary, and lavaan
    # reports their SE too: without a vcov every one is unknown (NaN), as lavaan's NA
    se_std = np.full(len(rows), np.nan)
    if vcov_ok:
        J = (std_all_jacobian(ram, x) if full is None else
             numerical_jacobian(lambda z: standardized(ram, full(z), spec)[1], theta,
                                rel_step=1e-6))
        se_std = np.sqrt(np.clip(np.einsum("ij,jk,ik->i", J, V_fit, J), 0, None))
        se_std[~np.isfinite(std_all)] = np.nan

    est_se = np.where(free > 0, se[np.maximum(free_x - 1, 0)], 0.0)
    table = pd.DataFrame({
        "lhs": rows.lhs.to_numpy(), "op": rows.op.to_numpy(), "rhs": rows.rhs.to_numpy(),
        "label": rows.label.to_numpy(), "est": vals, "se": est_se, "std_lv": std_lv,
        "std_all": std_all, "se_std_all": se_std, "free": free})
    if extra_rows is not None and len(extra_rows):
        table = pd.concat([table, extra_rows[list(table.columns)]], ignore_index=True)
    # names of the parameters vcov is over (the first row of each), before defined rows
    first = {}
    for lhs, op, rhs, k in zip(table.lhs, table.op, table.rhs, table["free"]):
        if k > 0 and k not in first:
            first[k] = f"{lhs}{op}{rhs}"
    pnames = [first[k] for k in range(1, len(vcov) + 1)]

    # defined parameters
    defined = spec.defined
    if len(defined):
        with np.errstate(all="ignore"):
            drows = defined_rows(spec, rows, x, vals, std_lv, std_all, V_x, vcov_ok, ram)
        est_ok = np.isfinite(drows["est"].astype(float))
        se_ok = ~np.isinf(drows["se"].astype(float))
        for r in drows[~est_ok].itertuples():
            warnings_.append(f"defined parameter {r.lhs} := {r.rhs} is not a finite number at "
                             f"the estimates (division by zero or overflow): no estimate, no "
                             f"standard error")
        for r in drows[est_ok & ~se_ok].itertuples():
            warnings_.append(f"defined parameter {r.lhs} := {r.rhs}: its standard error "
                             f"overflows (the function is too steep at the estimates)")
        drows.loc[~est_ok, ["est", "se", "std_lv", "std_all", "se_std_all"]] = np.nan
        drows.loc[~se_ok, ["se", "se_std_all"]] = np.nan
        table = pd.concat([table, drows], ignore_index=True)
    table = wald_columns(table)

    fm = (measures if measures is not None else
          fit_measures(S_np, Sigma, n, spec.n_free, fixed_x_idx=engine.fixed_x_idx))

    lat = spec.latent
    C = core.matrices(x)[3]
    lat_ix = [ram.ix[v] for v in lat]
    latent_cov = pd.DataFrame(C[np.ix_(lat_ix, lat_ix)], index=lat, columns=lat)
    admissible, notes = admissibility(table, [(latent_cov, Sigma)], vcov_ok)
    warnings_ += notes
    warnings_ += list(warnings)
    admissible, warnings_ = _flagged(admissible and not inadmissible, warnings_, identification)

    vcov_df = pd.DataFrame(vcov, index=pnames, columns=pnames)
    r2s = pd.Series(r2, dtype=float)
    estimator, described = estimator_info(estimator)
    return SEMResult(
        spec=spec, estimates=table, fit_measures=fm, r2=r2s, nobs=int(n),
        converged=bool(converged), admissible=bool(admissible), warnings=tuple(warnings_),
        estimator=estimator,
        sample_cov=pd.DataFrame(S_np, index=obs, columns=obs),
        implied_cov=pd.DataFrame(Sigma, index=obs, columns=obs),
        latent_cov=latent_cov, vcov=vcov_df, data_report=report,
        info={"x": x.copy(), "optimizer": message, **described, **(info or {})},
        data=data, difftest=difftest)


def estimator_info(estimator) -> tuple:
    """The estimator's name and what the result's ``info`` records of it.

    ``estimator`` is a registry entry (:class:`semcluster.estimation.registry.Estimator`: its lavaan
    summary label, kinds of standard errors and test are kept as ``estimator_label``, ``se``
    and ``test``, which the printer reads) or a bare name (nothing more is known)."""
    if isinstance(estimator, str):
        return estimator, {}
    return estimator.name, {"estimator_label": estimator.label, "se": estimator.se,
                            "test": estimator.test}


def _flagged(admissible: bool, warnings_: list, identification) -> tuple:
    """The admissibility and warnings once the identification check is taken in: an
    unidentified model is inadmissible and its message is the first warning."""
    if identification is None or identification.identified:
        return admissible, warnings_
    return False, [identification.message] + list(warnings_)


def wald_columns(table: pd.DataFrame) -> pd.DataFrame:
    """Add z, two-sided p and 95 % Wald interval; order the columns as lavaan's."""
    est = table["est"].to_numpy(dtype=float)
    se = table["se"].to_numpy(dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        has_se = se > 0
        z = np.where(has_se, est / se, np.nan)
        out = {c: table[c].to_numpy() for c in table.columns}
        # a fixed value's interval is the value; without a standard error (NaN: a singular
        # information matrix) there is no interval, as lavaan's NA
        fixed = se == 0
        out.update(z=z, pvalue=2 * special.ndtr(-np.abs(z)),
                   ci_lower=np.where(has_se, est - Z975 * se, np.where(fixed, est, np.nan)),
                   ci_upper=np.where(has_se, est + Z975 * se, np.where(fixed, est, np.nan)))
    cols = ESTIMATE_COLUMNS + ["free"]
    if "group" in table.columns:          # lavaan's group column, after rhs
        cols = cols[:3] + ["group"] + cols[3:]
    return pd.DataFrame({c: out[c] for c in cols}, index=table.index)


def defined_rows(spec, rows, x, vals, std_lv, std_all, vcov, vcov_ok, ram):
    """Values, delta-method SEs and standardized values of ``:=`` parameters."""
    defs = Definitions(ram, spec)
    est = defs.values(x)
    s_lv = defs.standardized(x, "lv")
    s_all = defs.standardized(x, "all")
    se = np.full(len(defs), np.nan)
    se_std = np.full(len(defs), np.nan)
    if vcov_ok:
        J = numerical_jacobian(defs.values, x, rel_step=1e-6)
        se = np.sqrt(np.clip(np.einsum("ij,jk,ik->i", J, vcov, J), 0, None))
        J = numerical_jacobian(lambda z: defs.standardized(z, "all"), x, rel_step=1e-6)
        se_std = np.sqrt(np.clip(np.einsum("ij,jk,ik->i", J, vcov, J), 0, None))
    return pd.DataFrame([{"lhs": d.lhs, "op": ":=", "rhs": d.rhs, "label": d.lhs,
                          "est": est[i], "se": se[i], "std_lv": s_lv[i], "std_all": s_all[i],
                          "se_std_all": se_std[i], "free": 0}
                         for i, d in enumerate(defs.defs)])


# -- fits with groups or a mean structure: the same result, built in named steps -----------------
def assemble_group_result(spec, mg, x, data_g, labels, *, estimator, vcov, measures,
                          converged, message="", report=None, group_column=None,
                          missing="listwise", warnings=(), info=None,
                          data=None) -> SEMResult:
    """The :class:`SEMResult` of a fit with groups or a mean structure
    (:class:`semcluster.estimation.groups.MultiGroupModel` ``mg``, estimates ``x``).

    ``data_g``: per group (S_g, x̄_g, N_g) (FIML: the EM moments); ``labels`` the group labels
    (one group: ``["1"]``, no ``group`` column, as lavaan's); ``vcov`` the estimator's
    covariance matrix of the estimates (NaN when the information is singular); ``measures``
    the fit measures in lavaan's order.  Steps: :func:`group_estimate_table` (estimates,
    standard errors, standardized values and their delta-method standard errors, defined
    parameters), :func:`wald_columns` (the one Wald/interval rule), :func:`group_moments`,
    :func:`admissibility`.
    """
    warnings_ = list(warnings)
    if not converged:
        warnings_.append(f"the optimizer did not converge ({message}); estimates are not "
                         f"trustworthy" if message else "the optimizer did not converge; "
                         "estimates are not trustworthy")
    vcov = np.asarray(vcov, dtype=float)
    vcov_ok = bool(np.all(np.isfinite(vcov)))
    if not vcov_ok and not any("singular" in w for w in warnings_):
        warnings_.append("the information matrix is singular: the model is not identified "
                         "(estimates are not unique; no standard errors)")
    several = len(labels) > 1
    table = wald_columns(group_estimate_table(mg, x, vcov, vcov_ok, several))
    moments = group_moments(mg, x, data_g, labels)
    admissible, notes = admissibility(table, [(m.latent_cov, m.implied_cov.to_numpy())
                                              for m in moments], vcov_ok, several)
    warnings_ += notes
    vcov_df = pd.DataFrame(vcov, index=mg.names, columns=mg.names)
    estimator, described = estimator_info(estimator)
    if several:
        r2 = pd.concat({m.label: m.r2 for m in moments}, names=["group", "variable"]) \
            if any(len(m.r2) for m in moments) else pd.Series(dtype=float)
        top = dict(sample_cov=None, implied_cov=None, latent_cov=None)
    else:
        m = moments[0]
        r2 = m.r2
        top = dict(sample_cov=m.sample_cov, implied_cov=m.implied_cov, latent_cov=m.latent_cov)
    return SEMResult(
        spec=spec, estimates=table, fit_measures=pd.Series(measures, dtype=float), r2=r2,
        nobs=int(sum(int(d[2]) for d in data_g)), converged=bool(converged),
        admissible=bool(admissible), warnings=tuple(warnings_), estimator=estimator,
        vcov=vcov_df, data_report=report, **top,
        info={"x": np.asarray(x, dtype=float).copy(), "optimizer": message,
              "missing": missing, **described, **(info or {})},
        groups=tuple(labels) if several else (), group_column=group_column if several else None,
        group_equal=tuple(mg.group_equal),
        group_partial=tuple(f"{a}~1" if o == "~1" else f"{a}{o}{b}"
                            for a, o, b in mg.group_partial),
        moments=tuple(moments), data=data)


def level_result(spec, *, table, measures, r2, nobs, converged, admissible, warnings_, vcov,
                 names, report, estimator, info, moments, data=None):
    """The result of a two-level fit (:mod:`semcluster.estimation.twolevel`): lavaan's
    ``level`` column in ``estimates``, the within and between moments in ``moments``, no
    single-group matrices."""
    estimator, described = estimator_info(estimator)
    return SEMResult(
        spec=spec, estimates=table, fit_measures=pd.Series(measures, dtype=float), r2=r2,
        nobs=int(nobs), converged=bool(converged), admissible=bool(admissible),
        warnings=tuple(warnings_), estimator=estimator, sample_cov=None, implied_cov=None,
        latent_cov=None, vcov=pd.DataFrame(vcov, index=names, columns=names),
        data_report=report, info={**info, **described}, moments=tuple(moments), data=data)


def group_estimate_table(mg, x, vcov, vcov_ok, several) -> pd.DataFrame:
    """Rows of every (parameter, group) of ``mg`` (lavaan's parameter table order: group by
    group), then the defined parameters (group 0): est, se, std.lv, std.all, the delta-method
    SE of std.all (central differences of the standardized solution) and the parameter
    number ``free``."""
    rows = []
    for p_ in mg.params:
        k = mg.numbers[p_.key] + 1 if p_.fixed is None else 0
        rows.append({"lhs": p_.lhs, "op": p_.op, "rhs": p_.rhs, "group": p_.group + 1,
                     "label": p_.label, "est": float(mg.value(p_, x)), "free": k})
    se_x = (np.sqrt(np.clip(np.diag(vcov), 0, None)) if vcov_ok
            else np.full(mg.npar, np.nan))
    for r in rows:
        r["se"] = float(se_x[r["free"] - 1]) if r["free"] else 0.0
    if mg.defined:
        vals = mg.defined_values(x)
        dse = np.full(len(vals), np.nan)
        if vcov_ok:
            with np.errstate(all="ignore"):
                J = numerical_jacobian(mg.defined_values, x, rel_step=1e-6)
                dse = np.sqrt(np.clip(np.einsum("ij,jk,ik->i", J, vcov, J), 0, None))
        for (name, expr), v, s_ in zip(mg.defined, vals, dse):
            rows.append({"lhs": name, "op": ":=", "rhs": expr, "group": 0, "label": name,
                         "est": float(v), "se": float(s_), "free": 0})
    t = pd.DataFrame(rows)
    std_lv, std_all = standardize(mg, x)
    t["std_lv"], t["std_all"] = std_lv, std_all
    se_std = np.full(len(t), np.nan)
    if vcov_ok:
        with np.errstate(all="ignore"):
            J = numerical_jacobian(lambda z: standardize(mg, z)[1], x, rel_step=1e-6)
            se_std = np.sqrt(np.clip(np.einsum("ij,jk,ik->i", J, vcov, J), 0, None))
        se_std[~np.isfinite(std_all)] = np.nan
    t["se_std_all"] = se_std
    if not several:
        t = t.drop(columns="group")
    return t


def group_moments(mg, x, data_g, labels) -> list:
    """Per group: sample and implied moments, latent covariances and means, R²."""
    from .result import GroupMoments

    obs, lat = mg.obs, list(mg.spec.latent)
    lat_ix = [mg.ram.ix[v] for v in lat]
    r2 = r_squared(mg, x)
    out = []
    for g, ((S, xbar, n), lab) in enumerate(zip(data_g, labels)):
        Sigma, mu, (_, _, mvec, B) = mg.moments(x, g)
        C = mg.cores[g].structure(x)[4]
        r2g = r2[r2.group == mg.groups[g]]
        out.append(GroupMoments(
            label=str(lab), nobs=int(n),
            sample_cov=pd.DataFrame(np.asarray(S), index=obs, columns=obs),
            sample_mean=pd.Series(np.asarray(xbar, dtype=float), index=obs),
            implied_cov=pd.DataFrame(Sigma, index=obs, columns=obs),
            implied_mean=pd.Series(mu, index=obs),
            latent_cov=pd.DataFrame(C[np.ix_(lat_ix, lat_ix)], index=lat, columns=lat),
            latent_mean=pd.Series((B @ mvec)[lat_ix], index=lat, dtype=float),
            r2=pd.Series(r2g.r2.to_numpy(dtype=float), index=list(r2g.variable),
                         dtype=float)))
    return out


def admissibility(table, blocks, vcov_ok, several=False):
    """lavaan-style admissibility of a solution: no negative variance, latent covariance
    matrices and implied covariance matrices positive definite, no standardized covariance
    beyond ±1, an invertible information matrix.  ``blocks``: per group (latent covariance
    DataFrame, implied covariance array).  Returns (admissible, warnings).

    Sources: Bollen (1989, ch. 7) and Kline (2016, ch. 9) on Heywood cases and inadmissible
    solutions; the checks of lavaan's ``lav_object_post_check``."""
    notes = []
    ok = True
    t_op, t_lhs, t_rhs = (table[c].to_numpy() for c in ("op", "lhs", "rhs"))
    t_est, t_std = table["est"].to_numpy(), table["std_all"].to_numpy()
    where = ([f" (group {g})" for g in table["group"]] if several and "group" in table
             else [""] * len(table))
    is_cov = t_op == "~~"
    neg = np.flatnonzero(is_cov & (t_lhs == t_rhs) & (t_est < 0))
    if len(neg):
        ok = False
        names = ", ".join(f"{t_lhs[i]}{where[i]} ({t_est[i]:.3f})" for i in neg)
        notes.append(f"negative variance estimate (Heywood case) for {names}: the solution "
                     f"is inadmissible; consider the model or the sample size")
    for g, (latent_cov, Sigma) in enumerate(blocks, start=1):
        tag = f" of group {g}" if several else ""
        if latent_cov.shape[0] and np.linalg.eigvalsh(latent_cov.to_numpy()).min() < -1e-10:
            ok = False
            notes.append(f"the model-implied covariance matrix of the latent variables{tag} is "
                         f"not positive definite (a latent correlation beyond ±1?)")
    with np.errstate(invalid="ignore"):
        big = np.flatnonzero(is_cov & (t_lhs != t_rhs) & (np.abs(t_std) > 1))
    if len(big):
        ok = False
        names = ", ".join(f"{t_lhs[i]}~~{t_rhs[i]}{where[i]} ({t_std[i]:.3f})" for i in big)
        notes.append(f"standardized covariance beyond ±1: {names}")
    if not vcov_ok:
        ok = False
    for g, (_, Sigma) in enumerate(blocks, start=1):
        if np.linalg.eigvalsh(Sigma).min() <= 0:
            ok = False
            notes.append("the model-implied covariance matrix" + (f" of group {g}" if several
                                                                   else "")
                         + " is not positive definite")
    return ok, notes


def standardize(mg, x):
    """std.lv and std.all of every row of ``mg.params`` (then of the ':=' rows), as lavaan's
    standardizedSolution with cov.std = TRUE, from each group's implied total covariance
    C = BPBᵀ: paths λ·sd(from)/sd(to); variances by the total variance; covariances by the
    residual SDs; intercepts and means by the total SD (std.lv: latent variables only).
    A ':=' parameter's standardized value is its expression on the standardized labels."""
    lat = np.array([v in set(mg.spec.latent) for v in mg.ram.vars])
    params = mg.params
    g = np.array([p_.group for p_ in params], dtype=int)
    i = np.array([p_.i for p_ in params], dtype=int)
    j = np.array([p_.j for p_ in params], dtype=int)
    kind = np.array([p_.kind for p_ in params])
    k = np.array([-1 if p_.fixed is not None else mg.numbers[p_.key] for p_ in params])
    v = np.where(k >= 0, np.asarray(x, dtype=float)[np.maximum(k, 0)],
                 [0.0 if p_.fixed is None else p_.fixed for p_ in params])
    var, resvar = [], []
    for core in mg.cores:
        _, P, _, _, C = core.structure(x)
        var.append(np.diag(C))
        resvar.append(np.diag(P))
    var, resvar = np.array(var), np.array(resvar)
    with np.errstate(invalid="ignore", divide="ignore"):
        sd = np.sqrt(var)
        sd_lv = np.where(lat, sd, 1.0)
        r_lv = np.where(lat, resvar, 1.0)
        is_a, is_m = kind == "A", kind == "m"
        is_var = (kind == "P") & (i == j)
        s_lv = np.where(is_a, v * sd_lv[g, j] / sd_lv[g, i],
                        np.where(is_m, v / sd_lv[g, i],
                                 np.where(is_var, v / sd_lv[g, i] ** 2,
                                          v / np.sqrt(r_lv[g, i] * r_lv[g, j]))))
        s_all = np.where(is_a, v * sd[g, j] / sd[g, i],
                         np.where(is_m, v / sd[g, i],
                                  np.where(is_var, v / var[g, i],
                                           v / np.sqrt(resvar[g, i] * resvar[g, j]))))
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
