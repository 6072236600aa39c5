"""Estimators beyond normal-theory ML, each checked against lavaan 0.6.14.

========  ==========================================  =======================================
module    what                                        lavaan equivalent
========  ==========================================  =======================================
mlr       ML estimates, Huber-White SEs,              ``estimator = "MLR"``
          Yuan-Bentler (Mplus) scaled chi-square      (with missing answers: ``fiml.fit(...,
                                                      robust=True)``)
fiml      full-information ML for missing answers     ``missing = "ml"``
polychoric thresholds, polychoric correlations, Γ     ``lavCor(..., ordered = )``,
                                                      ``lavInspect(fit, "gamma")``
wlsmv     DWLS on polychorics, robust SEs,            ``estimator = "WLSMV"``, ``ordered =``
          scaled-and-shifted chi-square
identification  rank of the moment Jacobian at random
          values, before fitting
========  ==========================================  =======================================

Each ``<module>.fit(spec, X, *, report=None, ...)`` takes a parsed model
(:class:`semcluster.spec.ModelSpec`) and the prepared data of its observed variables (from
:func:`semcluster.data.prepare_data`) and returns a :class:`semcluster.results.SEMResult`.
The modules are imported on first use: ``from semcluster.estimators import wlsmv``.
:func:`estimate` chooses among them (and plain ML) from ``estimator`` and the missing-data rule.
"""
from __future__ import annotations

import importlib

__all__ = ["mlr", "fiml", "polychoric", "wlsmv", "identification", "estimate", "ESTIMATORS"]
_MODULES = ("mlr", "fiml", "polychoric", "wlsmv", "identification")

#: Estimators :func:`estimate` knows, with the missing-data rules each supports.
ESTIMATORS = {"ML": ("listwise", "fiml"), "MLR": ("listwise", "fiml"),
              "WLSMV": ("listwise", "pairwise")}


def estimate(spec, X, report=None, *, estimator: str = "ML", missing: str | None = None,
             ordered=None):
    """Fit prepared data with the estimator asked for.

    Parameters
    ----------
    spec : ModelSpec
    X : DataFrame
        From :func:`semcluster.data.prepare_data` (``NaN`` where answers are missing).
    report : DataReport, optional
        Its ``missing`` (``listwise``/``pairwise``/``fiml``) is used when ``missing`` is None.
    estimator : {"ML", "MLR", "WLSMV"}
    missing : {"listwise", "fiml", "pairwise"}, optional
        ``fiml`` for ML and MLR, ``pairwise`` for WLSMV (as lavaan).
    ordered : list of str, optional
        Ordinal items (WLSMV; default all of the model's observed variables).

    Returns
    -------
    SEMResult

    Raises
    ------
    EstimationError
        For a combination that is not implemented (it names the alternatives).
    """
    from ..data import missing_rule
    from ..errors import EstimationError
    from ..fit import estimator_name

    est = estimator_name(estimator)
    rule = missing_rule(missing or getattr(report, "missing", None) or "listwise")
    if rule == "auto":
        rule = "fiml" if X.isna().to_numpy().any() else "listwise"
    if rule not in ESTIMATORS[est]:
        alt = {"ML": "missing='fiml'", "MLR": "missing='fiml'",
               "WLSMV": "missing='pairwise'"}[est]
        raise EstimationError(f"estimator {est} with missing='{rule}' is not implemented; use "
                              f"{alt} or missing='listwise'")
    if rule == "listwise" and X.isna().to_numpy().any():
        raise EstimationError("missing answers reached a listwise fit; prepare the data with "
                              "missing='listwise'")
    if est == "MLR":
        if rule == "fiml":
            from . import fiml
            return fiml.fit(spec, X, report=report, robust=True)
        from . import mlr
        return mlr.fit(spec, X, report=report)
    if est == "WLSMV":
        from . import wlsmv
        return wlsmv.fit(spec, X, ordered=ordered, report=report, missing=rule)
    if rule == "fiml":
        from . import fiml
        return fiml.fit(spec, X, report=report)
    from ..fit import _fit_moments, sample_covariance
    return _fit_moments(spec, sample_covariance(X), len(X), data=X, report=report,
                        estimator="ML")


def __getattr__(name):
    if name in _MODULES:
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'semcluster.estimators' has no attribute {name!r}")
