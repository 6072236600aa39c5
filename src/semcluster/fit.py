"""Fitting a model: from a model and data (or summary statistics) to a :class:`SEMResult`.

``fit`` is the one way through: read the model, check and prepare the data, estimate with the
ML engine (semopy's matrices), then compute everything lavaan reports — standard errors,
standardized solutions with their standard errors, defined parameters, R², fit measures — from
the estimates and the sample moments, and flag problems in plain language.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from scipy import stats

from .data import DataReport, missing_rule
from .engine import MLEngine
from .errors import DataError, InputTypeError, OptionError
from .fitmeasures import fit_measures
from .results import ESTIMATE_COLUMNS, SEMResult
from .spec import ModelSpec, read_model
from .standardized import RAM, Definitions, standardized

if TYPE_CHECKING:
    from .multigroup import GroupResult

Z975 = stats.norm.ppf(0.975)
from .estimators import ESTIMATORS  # noqa: E402  (the registry: names, rules, targets)


def sample_covariance(X: pd.DataFrame) -> pd.DataFrame:
    """N-divisor covariance matrix (lavaan's and semopy's ML sample moments)."""
    arr = X.to_numpy(dtype=float)
    arr = arr - arr.mean(axis=0)
    S = arr.T @ arr / arr.shape[0]
    return pd.DataFrame(S, index=X.columns, columns=X.columns)


def fit(model, data=None, *, cov: pd.DataFrame | None = None, nobs: int | None = None,
        estimator: str | None = None, missing: str | None = None, ordered=None, mapping=None,
        scale=None, reverse=None, options=None, cov_rescale: bool = True, group=None,
        group_equal=None, group_partial=None,
        meanstructure=None) -> SEMResult | GroupResult:
    """Fit a model.

    Parameters
    ----------
    model : str, Path or ModelSpec
        A bundled model name (``"h1_h5"``), a lavaan-syntax file, or model text.
    data : DataFrame, str, Path or None
        Item-level data (CSV, xlsx, SPSS, Stata).  ``None`` (and no ``cov``) uses the bundled
        synthetic study data.
    cov : DataFrame, optional
        A labelled covariance matrix to fit instead of raw data (like lavaan's ``sample.cov``).
    nobs : int
        Number of observations behind ``cov`` (lavaan's ``sample.nobs``).
    cov_rescale : bool
        As lavaan's ``sample.cov.rescale``: ``cov`` is taken as the usual unbiased (N−1)
        covariance and multiplied by (N−1)/N before fitting, so that the fit equals the raw-data
        fit of the same data.  Set False if ``cov`` already has divisor N.
    estimator : {"ML", "MLR", "WLSMV"} or None
        ML with expected-information SEs (lavaan's defaults); MLR (Huber–White SEs,
        Yuan–Bentler scaled χ²); WLSMV for ordinal items (see ``semcluster.estimators``).
        ``None``: ML, or WLSMV when items are declared ordered (as lavaan switches; the data
        report says so). Names are those of ``semcluster.estimators.ESTIMATORS``, any case.
    missing : {"auto", "listwise", "fiml", "pairwise"} or a lavaan spelling
        ``auto``: FIML for ML/MLR when answers are missing, pairwise for WLSMV, listwise
        (nothing dropped) otherwise.  lavaan's ``"ml"``, ``"ml.x"``, ``"direct"`` mean
        ``"fiml"``, ``"available.cases"`` means ``"pairwise"``.
    ordered : list of str or "all", optional
        Ordinal items for WLSMV (default: all of the model's items).
    mapping, scale, reverse
        Column mapping (dict or YAML file), answer scale (min, max) and reverse-coded items
        (shortcuts for the same fields of ``options``).
    group : str, optional
        A grouping column: a multi-group fit with lavaan's semantics (mean structure; a label
        written once is one parameter in every group, ``c(a1, a2)`` one per group), returning a
        :class:`semcluster.multigroup.GroupResult` (see :mod:`semcluster.multigroup`).
    group_equal, group_partial : list of str, optional
        lavaan's ``group.equal`` classes (``loadings``, ``intercepts``, ``means``,
        ``residuals``, ...) and ``group.partial`` parameters (``"visual=~x2"``, ``"x3~1"``).
    meanstructure : bool, optional
        True: intercepts and latent means (also implied by ``y ~ 1`` in the model); the fit
        then returns a :class:`semcluster.multigroup.GroupResult` with ``~1`` rows.
    options : semcluster.data.DataOptions, optional
        How the data are read (mapping, missing codes, scale, reverse, ordered, id, sheet,
        out-of-scale rule, missing-data rule): the one data path every command uses
        (:func:`semcluster.data.read_survey`).

    Returns
    -------
    SEMResult, or GroupResult for ``group=``, ``meanstructure=True`` or ``y ~ 1`` in the model

    Raises
    ------
    ModelSyntaxError, ModelSpecError, DataError, OptionError
        (all also ``ValueError``) for a model, data set or option that cannot be used;
    InputTypeError
        (also ``TypeError``) for an argument of the wrong type (a numpy array as data ...).

    Examples
    --------
    >>> res = fit("h1_h5")                                  # doctest: +SKIP
    >>> res.paths()[["lhs", "rhs", "label", "std_all", "pvalue"]]   # doctest: +SKIP
    """
    from dataclasses import replace

    from .data import DataOptions, read_survey

    spec = read_model(model)
    opts = options if options is not None else DataOptions()
    if not isinstance(opts, DataOptions):
        raise InputTypeError(f"options must be a semcluster.data.DataOptions; got "
                             f"{type(opts).__name__}")
    if missing is not None:
        missing = missing_rule(missing)
    changes = {k: v for k, v in (("map", mapping), ("scale", scale), ("reverse", reverse),
                                 ("ordered", ordered), ("missing", missing)) if v is not None}
    if changes:
        opts = replace(opts, **changes)
    if isinstance(data, pd.DataFrame) and opts.ordered is None:
        prior = data.attrs.get("semcluster", {})
        if prior.get("prepared") and prior.get("ordered"):
            opts = replace(opts, ordered=tuple(prior["ordered"]))
    est = estimator_name(estimator) if estimator is not None else None
    switched = None
    if opts.ordered:
        if est is None:
            est = "WLSMV"
            switched = ("ordered items declared: estimator WLSMV (polychoric correlations, "
                        "robust chi-square), as lavaan switches; pass --estimator to choose")
        elif est != "WLSMV":
            raise OptionError(f"ordered items are fitted by WLSMV; estimator {est} treats "
                                  f"answers as continuous: drop --ordered or use --estimator "
                                  f"WLSMV")
    est = est or "ML"
    if (group is not None or meanstructure or spec.mean_rows or spec.has_group_modifiers
            or group_equal or group_partial):
        return _fit_groups(spec, data, cov, est, opts, group, group_equal, group_partial,
                           meanstructure)
    if cov is not None:
        if data is not None:
            raise OptionError("give either data or cov (with nobs), not both")
        if not ESTIMATORS[est].summary_statistics:
            raise OptionError(f"estimator {est} needs raw data, not a covariance matrix")
        S, n, report = _prepare_cov(spec, cov, nobs, cov_rescale)
        return _fit_moments(spec, S, n, data=None, report=report, estimator=est)
    if est == "WLSMV" and opts.missing == "auto":
        opts = replace(opts, missing="pairwise")
    if est != "WLSMV" and opts.ordered:
        opts = replace(opts, ordered=None)  # pragma: no cover - refused above
    if est == "WLSMV" and not opts.ordered:
        opts = replace(opts, ordered="all")
    X, report = read_survey(data, opts, variables=spec.observed, n_free=spec.n_free,
                            latent=spec.latent)
    if switched:
        report = report.with_note(switched)
    ordered_items = list(report.ordered) or None
    rule_used = getattr(report, "missing", "listwise")
    if est == "ML" and rule_used == "listwise":
        return _fit_moments(spec, sample_covariance(X), len(X), data=X, report=report,
                            estimator=est)
    from .estimators import estimate

    return estimate(spec, X, report, estimator=est, ordered=ordered_items)


def _fit_groups(spec, data, cov, est, opts, group, group_equal, group_partial,
                meanstructure):
    """Multi-group and mean-structure fits (semcluster.multigroup)."""
    from .errors import ModelSpecError
    from .multigroup import fit_groups

    if meanstructure is False and (group is not None or spec.mean_rows):
        raise OptionError("meanstructure=False with " + ("group=" if group is not None else
                          "intercepts ('~ 1') in the model") + " is not supported (multi-group "
                          "and intercept models have a mean structure, as lavaan's default)")
    if group is None and spec.has_group_modifiers:
        raise ModelSpecError("c(...) modifiers give one value per group: fit with group= "
                             "(a grouping column)")
    if cov is not None:
        raise OptionError("multi-group and mean-structure fits need raw data (lavaan's "
                          "sample.cov with sample.mean is not supported)")
    return fit_groups(spec, data, group=group, group_equal=group_equal,
                      group_partial=group_partial, estimator=est, options=opts)


def estimator_name(estimator) -> str:
    """The estimator's canonical name (``"ML"``, ``"MLR"``, ``"WLSMV"``), or a clear error.

    Raises
    ------
    OptionError
        An estimator semcluster does not have (lavaan's GLS, WLS, ULS ...); the message lists
        the available ones.
    InputTypeError
        Not a string (``None`` ...).
    """
    if not isinstance(estimator, str):
        raise InputTypeError(f"estimator must be one of {', '.join(ESTIMATORS)} (a string), "
                             f"not {type(estimator).__name__} {estimator!r}")
    est = estimator.strip().upper()
    if est not in ESTIMATORS:
        raise OptionError(f"estimator '{estimator}' is not available; use one of "
                          f"{', '.join(ESTIMATORS)}")
    return est


def _prepare_cov(spec: ModelSpec, cov, nobs, rescale):
    if not isinstance(cov, pd.DataFrame):
        raise DataError("cov must be a labelled pandas DataFrame (variable names as index and "
                        "columns)")
    if nobs is None or int(nobs) < 2:
        raise DataError("fitting a covariance matrix needs nobs, the number of observations")
    missing = [v for v in spec.observed if v not in cov.columns or v not in cov.index]
    if missing:
        raise DataError(f"covariance matrix lacks the model variable(s) {', '.join(missing)}")
    C = cov.loc[spec.observed, spec.observed].astype(float)
    A = C.to_numpy()
    if not np.all(np.isfinite(A)):
        raise DataError("covariance matrix has missing or infinite entries")
    if not np.allclose(A, A.T, atol=1e-8 * max(1.0, np.abs(A).max())):
        raise DataError("covariance matrix is not symmetric")
    n = int(nobs)
    if rescale:
        C = C * (n - 1) / n
    eig = np.linalg.eigvalsh(C.to_numpy())
    if eig.min() <= 0:
        raise DataError(f"covariance matrix is not positive definite (smallest eigenvalue "
                        f"{eig.min():.3g}); it cannot come from complete data")
    report = DataReport(source="<covariance matrix>", n_rows=n, n_used=n,
                        notes=("fitted from summary statistics" +
                               (" (rescaled by (N-1)/N as lavaan does)" if rescale else ""),))
    return C, n, report


def fit_ml(spec, X: pd.DataFrame, *, report=None) -> SEMResult:
    """ML on complete data (the registry's ML entry for missing='listwise')."""
    return _fit_moments(spec, sample_covariance(X), len(X), data=X, report=report,
                        estimator="ML")


def _fit_moments(spec, S, n, *, data, report, estimator) -> SEMResult:
    p = len(spec.observed)
    if n <= p:
        raise DataError(f"{report.source}: {n} usable rows for {p} observed variables; the "
                        f"sample covariance matrix is singular (need more rows than variables)")
    eig = np.linalg.eigvalsh(S.to_numpy())
    if eig.min() <= 1e-10 * max(eig.max(), 1e-300):
        raise DataError(f"{report.source}: the sample covariance matrix of the model variables "
                        f"is singular (an item is a linear combination of others?)")
    engine = MLEngine(spec)
    engine.load(S, n, data)
    opt = engine.fit()
    return assemble_result(spec, engine, opt.x, S, n, converged=opt.converged,
                           message=opt.message, report=report, estimator=estimator)


def assemble_result(spec, engine, x, S, n, *, converged, message, report,
                    estimator="ML", vcov=None, vcov_ok=None, measures=None) -> SEMResult:
    """Everything lavaan reports, from an estimate vector (the one result builder).

    ``engine`` gives the implied covariance matrix (``implied``), the observed variables'
    order and the exogenous covariates. ``vcov``/``vcov_ok``: the estimator's covariance
    matrix of the estimates (default: the inverse expected ML information); every standard
    error, of standardized and defined parameters too, comes from it. ``measures``: the
    estimator's fit measures (default: lavaan's ML ones from S and Σ̂).
    """
    warnings_: list[str] = []
    obs = engine.observed
    Sigma = engine.implied(x)
    S_np = S.loc[obs, obs].to_numpy()
    if not converged:
        warnings_.append(f"the optimizer did not converge ({message}); estimates are not "
                         f"trustworthy")

    if vcov is None:
        vcov, vcov_ok = _invert_information(engine.information(x))
    else:
        vcov = np.asarray(vcov, dtype=float)
        vcov_ok = bool(vcov_ok if vcov_ok is not None else np.all(np.isfinite(vcov)))
        if not vcov_ok:
            vcov = np.full(vcov.shape, np.nan)
    if not vcov_ok:
        warnings_.append("the information matrix is singular: the model is not identified "
                         "(estimates are not unique; no standard errors)")
    se = np.sqrt(np.clip(np.diag(vcov), 0, None)) if vcov_ok else np.full(len(x), np.nan)

    ram = RAM(spec, fixed_x_cov=S)
    rows = ram.rows
    vals = ram.values(x)
    std_lv, std_all, r2 = standardized(ram, x, spec)
    # delta-method standard errors of std.all (numerical Jacobian, central differences)
    se_std = np.full(len(rows), np.nan)
    if vcov_ok:
        J = _jacobian(lambda z: standardized(ram, z, spec)[1], x)
        se_std = np.sqrt(np.clip(np.einsum("ij,jk,ik->i", J, vcov, J), 0, None))
        se_std[~np.isfinite(std_all)] = np.nan

    free = rows["free"].to_numpy()
    est_se = np.where(free > 0, se[np.maximum(free - 1, 0)], 0.0)
    table = pd.DataFrame({
        "lhs": rows.lhs, "op": rows.op, "rhs": rows.rhs, "label": rows.label,
        "est": vals, "se": est_se, "std_lv": std_lv, "std_all": std_all,
        "se_std_all": np.where(free > 0, se_std, 0.0), "free": free})
    # standardized values of fixed parameters still vary; lavaan reports their SE too
    fixed_rows = free == 0
    if vcov_ok:
        table.loc[fixed_rows, "se_std_all"] = se_std[fixed_rows]

    # defined parameters
    defined = spec.defined
    if len(defined):
        with np.errstate(all="ignore"):
            drows = _defined_rows(spec, rows, x, vals, std_lv, std_all, vcov, vcov_ok, ram)
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

    # admissibility
    admissible = True
    var_rows = table[(table.op == "~~") & (table.lhs == table.rhs)]
    neg = var_rows[var_rows.est < 0]
    if len(neg):
        admissible = False
        names = ", ".join(f"{r.lhs} ({r.est:.3f})" for _, r in neg.iterrows())
        warnings_.append(f"negative variance estimate (Heywood case) for {names}: the solution "
                         f"is inadmissible; consider the model or the sample size")
    lat = spec.latent
    C = ram.total_cov(x)
    lat_ix = [ram.ix[v] for v in lat]
    latent_cov = pd.DataFrame(C[np.ix_(lat_ix, lat_ix)], index=lat, columns=lat)
    if lat:
        ev = np.linalg.eigvalsh(latent_cov.to_numpy())
        if ev.min() < -1e-10:
            admissible = False
            warnings_.append("the model-implied covariance matrix of the latent variables is "
                             "not positive definite (a latent correlation beyond ±1?)")
    cor_rows = table[(table.op == "~~") & (table.lhs != table.rhs)]
    big = cor_rows[np.abs(cor_rows.std_all) > 1]
    if len(big):
        admissible = False
        names = ", ".join(f"{r.lhs}~~{r.rhs} ({r.std_all:.3f})" for _, r in big.iterrows())
        warnings_.append(f"standardized covariance beyond ±1: {names}")
    if not vcov_ok:
        admissible = False
    if np.linalg.eigvalsh(Sigma).min() <= 0:
        admissible = False
        warnings_.append("the model-implied covariance matrix is not positive definite")

    names = [f"{r.lhs}{r.op}{r.rhs}" for _, r in rows.iterrows() if r["free"] > 0]
    first = {}
    for _, r in rows.iterrows():
        if r["free"] > 0 and r["free"] not in first:
            first[r["free"]] = f"{r.lhs}{r.op}{r.rhs}"
    pnames = [first[k] for k in range(1, spec.n_free + 1)]
    vcov_df = pd.DataFrame(vcov, index=pnames, columns=pnames)
    r2s = pd.Series(r2, dtype=float)
    return SEMResult(
        spec=spec, estimates=table, fit_measures=fm, r2=r2s, nobs=int(n),
        converged=bool(converged), admissible=bool(admissible), warnings=tuple(warnings_),
        estimator=estimator,
        sample_cov=pd.DataFrame(S_np, index=obs, columns=obs),
        implied_cov=pd.DataFrame(Sigma, index=obs, columns=obs),
        latent_cov=latent_cov, vcov=vcov_df, data_report=report,
        info={"x": x.copy(), "optimizer": message})


def wald_columns(table: pd.DataFrame) -> pd.DataFrame:
    """Add z, two-sided p and 95 % Wald interval; order the columns as lavaan's."""
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(table.se > 0, table.est / table.se, np.nan)
    table["z"] = z
    table["pvalue"] = 2 * stats.norm.sf(np.abs(z))
    table["ci_lower"] = np.where(table.se > 0, table.est - Z975 * table.se, table.est)
    table["ci_upper"] = np.where(table.se > 0, table.est + Z975 * table.se, table.est)
    return table[ESTIMATE_COLUMNS + ["free"]]


def _invert_information(info: np.ndarray):
    try:
        ev = np.linalg.eigvalsh(info)
        if ev.min() <= 1e-10 * max(ev.max(), 1e-300):
            return np.full(info.shape, np.nan), False
        return np.linalg.inv(info), True
    except np.linalg.LinAlgError:
        return np.full(info.shape, np.nan), False


def _jacobian(func, x, rel_step=1e-6):
    f0 = func(x)
    J = np.empty((len(f0), len(x)))
    for k in range(len(x)):
        h = rel_step * max(1.0, abs(x[k]))
        xp = x.copy(); xp[k] += h
        xm = x.copy(); xm[k] -= h
        J[:, k] = (func(xp) - func(xm)) / (2 * h)
    return J


def _defined_rows(spec, rows, x, vals, std_lv, std_all, vcov, vcov_ok, ram):
    """Values, delta-method SEs and standardized values of ``:=`` parameters."""
    defs = Definitions(ram, spec)
    est = defs.values(x)
    s_lv = defs.standardized(x, "lv")
    s_all = defs.standardized(x, "all")
    se = np.full(len(defs), np.nan)
    se_std = np.full(len(defs), np.nan)
    if vcov_ok:
        J = _jacobian(defs.values, x)
        se = np.sqrt(np.clip(np.einsum("ij,jk,ik->i", J, vcov, J), 0, None))
        J = _jacobian(lambda z: defs.standardized(z, "all"), x)
        se_std = np.sqrt(np.clip(np.einsum("ij,jk,ik->i", J, vcov, J), 0, None))
    return pd.DataFrame([{"lhs": d.lhs, "op": ":=", "rhs": d.rhs, "label": d.lhs,
                          "est": est[i], "se": se[i], "std_lv": s_lv[i], "std_all": s_all[i],
                          "se_std_all": se_std[i], "free": 0}
                         for i, d in enumerate(defs.defs)])
