"""Fitting a model: from a model and data (or summary statistics) to a :class:`SEMResult`.

``fit`` is the one way through: read the model, check and prepare the data, estimate with the
ML engine (the numpy model core), then compute everything lavaan reports — standard errors,
standardized solutions with their standard errors, defined parameters, R², fit measures — from
the estimates and the sample moments, and flag problems in plain language.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .data.survey import DataReport, missing_rule, resolve_missing, sample_covariance
from .errors import DataError, InputTypeError, OptionError
from .estimation.registry import ESTIMATORS, estimate, estimator_name
from .estimation.ml import fit_moments
from .result.result import SEMResult
from .result.builder import assemble_result, wald_columns
from .spec.parser import ModelSpec, read_model

__all__ = ["fit", "estimator_name", "sample_covariance", "assemble_result", "wald_columns"]


def fit(model, data=None, *, cov: pd.DataFrame | None = None, nobs: int | None = None,
        estimator: str | None = None, missing: str | None = None, ordered=None, mapping=None,
        scale=None, reverse=None, options=None, cov_rescale: bool = True, group=None,
        group_equal=None, group_partial=None,
        meanstructure=None, parameterization: str | None = None,
        cluster: str | None = None) -> SEMResult:
    """Fit a model.

    Parameters
    ----------
    model : str, Path, ModelSpec or semopy.Model
        A bundled model name (``"h1_h5"``), a lavaan-syntax file, model text, or a
        ``semopy.Model`` (read from its description; ``res.to_semopy()`` hands the fit back).
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
    estimator : {"ML", "MLR", "WLSMV", "GLS"} or None
        ML with expected-information SEs (lavaan's defaults); MLR (Huber–White SEs,
        Yuan–Bentler scaled χ²); WLSMV for ordinal items; GLS (see ``semcluster.estimation.registry``:
        each registry entry says what it supports: groups, means, ordinal items, covariates).
        ``None``: ML, or WLSMV when items are declared ordered (as lavaan switches; the data
        report says so). Names are those of ``semcluster.estimation.registry.ESTIMATORS``, any case.
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
        written once is one parameter in every group, ``c(a1, a2)`` one per group); the
        :class:`SEMResult` then has lavaan's ``group`` column and per-group moments (see
        :mod:`semcluster.estimation.groups`).
    group_equal, group_partial : list of str, optional
        lavaan's ``group.equal`` classes (``loadings``, ``intercepts``, ``means``,
        ``residuals``, ...) and ``group.partial`` parameters (``"visual=~x2"``, ``"x3~1"``).
    meanstructure : bool, optional
        True: intercepts and latent means (also implied by ``y ~ 1`` in the model); the
        result then has ``~1`` rows.
    options : semcluster.data.survey.DataOptions, optional
        How the data are read (mapping, missing codes, scale, reverse, ordered, id, sheet,
        out-of-scale rule, missing-data rule): the one data path every command uses
        (:func:`semcluster.data.survey.read_survey`).

    parameterization : {"delta", "theta"}, optional
        WLSMV only (lavaan's ``parameterization``): ``delta`` (default) scales the latent
        responses to unit variance, ``theta`` fixes their residual variances at 1.
    cluster : str, optional
        A cluster column (firms in industrial parks ...), as lavaan's ``cluster=`` on a
        single-level model: with ``estimator="MLR"``, cluster-robust SEs and the clustered
        Yuan-Bentler test (:mod:`semcluster.estimation.cluster_robust`); the data report gives
        ICC(1) and design effects (:mod:`semcluster.data.clusters`).  Same as
        ``options.cluster``.

    Returns
    -------
    SEMResult (every fit: one group or several, with or without a mean structure)

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

    from .data.survey import DataOptions, read_survey

    spec = read_model(model)
    opts = options if options is not None else DataOptions()
    if not isinstance(opts, DataOptions):
        raise InputTypeError(f"options must be a semcluster.data.survey.DataOptions; got "
                             f"{type(opts).__name__}")
    if missing is not None:
        missing = missing_rule(missing)
    changes = {k: v for k, v in (("map", mapping), ("scale", scale), ("reverse", reverse),
                                 ("ordered", ordered), ("missing", missing),
                                 ("cluster", cluster)) if v is not None}
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
        elif "ordinal" not in ESTIMATORS[est].supports:
            raise OptionError(f"ordered items are fitted by WLSMV; estimator {est} treats "
                                  f"answers as continuous: drop --ordered or use --estimator "
                                  f"WLSMV")
    if opts.cluster is not None and est is None:
        # lavaan's default for cluster= on a single-level model: ML estimates,
        # se = "robust.cluster", standard and Yuan-Bentler tests
        switched = ("cluster column given: ML estimates with cluster-robust standard errors "
                    "and the Yuan-Bentler scaled test, as lavaan's cluster= (--estimator MLR: "
                    "lavaan's MLR scaling factor)")
    if spec.is_twolevel:
        return _fit_twolevel(spec, data, cov, est, opts, group, meanstructure)
    est = est or "ML"
    if opts.cluster is not None:
        _check_cluster(opts, est, group, cov)
        if meanstructure or spec.has_means or spec.has_group_modifiers:
            raise OptionError("cluster= with a mean structure (meanstructure=True, '~ 1' rows "
                              "or c(...) modifiers) is not built yet; lavaan's saturated means "
                              "are added (and reported in npar) automatically")
    if parameterization is not None:
        if parameterization not in ("delta", "theta"):
            raise OptionError(f"parameterization '{parameterization}' is not known; use "
                              f"'delta' or 'theta' (lavaan's names)")
        if "ordinal" not in ESTIMATORS[est].supports:
            raise OptionError(f"parameterization applies to WLSMV (ordered items); estimator "
                              f"{est} has none")
    if (meanstructure and group is None and "ordinal" in ESTIMATORS[est].supports
            and not (spec.has_means or spec.has_group_modifiers or group_equal
                     or group_partial)):
        # WLSMV always has lavaan's mean structure (thresholds; intercepts and latent means
        # fixed at 0 in the delta parameterization): meanstructure=True is the same fit
        meanstructure = None
    if (meanstructure and group is None and opts.missing == "fiml" and spec.fixed_x
            and not (spec.has_means or spec.has_group_modifiers or group_equal
                     or group_partial)):
        # FIML with exogenous covariates has lavaan's mean structure already (intercepts,
        # conditional on the covariates): meanstructure=True is the same fit
        meanstructure = None
    if (group is not None or meanstructure or spec.has_means or spec.has_group_modifiers
            or group_equal or group_partial):
        return _fit_groups(spec, data, cov, est, opts, group, group_equal, group_partial,
                           meanstructure)
    if cov is not None:
        if data is not None:
            raise OptionError("give either data or cov (with nobs), not both")
        if not ESTIMATORS[est].summary_statistics:
            raise OptionError(f"estimator {est} needs raw data, not a covariance matrix")
        S, n, report = _prepare_cov(spec, cov, nobs, cov_rescale)
        return fit_moments(spec, S, n, report=report, estimator=ESTIMATORS[est])
    # "auto" as the estimator's registry entry says; the data step resolves what needs the data
    opts = replace(opts, missing=resolve_missing(opts.missing, None,
                                                 ESTIMATORS[est].auto_missing))
    ordinal = "ordinal" in ESTIMATORS[est].supports
    if not ordinal and opts.ordered:
        opts = replace(opts, ordered=None)  # pragma: no cover - refused above
    if ordinal and not opts.ordered:
        opts = replace(opts, ordered="all")
    X, report = read_survey(data, opts, variables=spec.observed, n_free=spec.n_free,
                            latent=spec.latent)
    if switched:
        report = report.with_note(switched)
    ordered_items = list(report.ordered) or None
    rule_used = getattr(report, "missing", "listwise")
    if opts.cluster is not None:
        from .estimation import cluster_robust

        cluster_robust.check_supported(est, missing=rule_used)
        return cluster_robust.fit(spec, X, report=report, cluster=opts.cluster,
                                  estimator=ESTIMATORS[est])
    if est == "ML" and rule_used == "listwise":
        # the prepared rows stay with the result (not saved, not compared), so that
        # res.predict() scores the data that were fitted, as lavaan's lavPredict(fit); every
        # estimator keeps the rows it is given the same way
        return fit_moments(spec, sample_covariance(X), len(X), report=report,
                           estimator=ESTIMATORS[est], data=X)
    return estimate(spec, X, report, estimator=est, ordered=ordered_items,
                    parameterization=parameterization)


def _fit_twolevel(spec, data, cov, est, opts, group, meanstructure):
    """A model with 'level:' blocks: two-level ML (semcluster.estimation.twolevel), as
    lavaan's sem(..., cluster = ); what it does not fit is refused in one line."""
    from .data.survey import read_survey
    from .estimation import twolevel

    if opts.cluster is None:
        raise OptionError("the model has 'level:' blocks (a two-level model): give the cluster "
                          "column with cluster= (--cluster)")
    _check_cluster_name(opts, group)
    est = est or "ML"
    twolevel.check_supported(est, missing=opts.missing, group=group, ordered=opts.ordered,
                             cov=cov)
    if meanstructure is False:
        raise OptionError("a two-level model has a mean structure (the between-level means); "
                          "meanstructure=False is not possible")
    X, report = read_survey(data, opts, variables=spec.observed, n_free=spec.n_free,
                            latent=spec.latent)
    return twolevel.fit(spec, X, report=report, cluster=opts.cluster,
                        estimator=ESTIMATORS[est])


def _check_cluster_name(opts, group) -> None:
    """The cluster column is a column name, not the grouping column."""
    if not isinstance(opts.cluster, str):
        raise InputTypeError(f"cluster must be a column name (a string); got "
                             f"{type(opts.cluster).__name__}")
    if group is not None and group == opts.cluster:
        raise DataError(f"cluster and group column are the same ('{group}'); groups are "
                        f"compared, clusters are sampled units: give different columns")


def _check_cluster(opts, est, group, cov) -> None:
    """Refuse what cluster= is not built for, before the data are read."""
    from .estimation import cluster_robust

    _check_cluster_name(opts, group)
    if cov is not None:
        raise OptionError("cluster= needs raw data with the cluster column, not a covariance "
                          "matrix")
    cluster_robust.check_supported(est, missing=None if opts.missing == "auto" else
                                   opts.missing, group=group, ordered=opts.ordered)


def _fit_groups(spec, data, cov, est, opts, group, group_equal, group_partial,
                meanstructure):
    """Multi-group and mean-structure fits (semcluster.estimation.groups)."""
    from .errors import ModelSpecError
    from .estimation.groups import fit_groups

    if meanstructure is False and (group is not None or spec.has_means):
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


def _prepare_cov(spec: ModelSpec, cov, nobs, rescale):
    if not isinstance(cov, pd.DataFrame):
        raise DataError("cov must be a labelled pandas DataFrame (variable names as index and "
                        "columns)")
    if nobs is None:
        raise DataError("fitting a covariance matrix needs nobs, the number of observations")
    from .arguments import MAX_NOBS, integer

    nobs = integer("nobs (the number of observations behind cov)", nobs, 2, MAX_NOBS)
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


