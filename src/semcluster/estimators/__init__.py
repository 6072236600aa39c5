"""Estimators beyond normal-theory ML, each checked against lavaan 0.6.14.

========  ==========================================  =======================================
module    what                                        lavaan equivalent
========  ==========================================  =======================================
ml        normal-theory ML on complete data           ``estimator = "ML"`` (the default)
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
from dataclasses import dataclass

from ..errors import InputTypeError, OptionError

__all__ = ["ml", "mlr", "fiml", "gls", "polychoric", "wlsmv", "identification", "estimate",
           "estimator_name", "ESTIMATORS", "Estimator"]
_MODULES = ("ml", "mlr", "fiml", "gls", "polychoric", "wlsmv", "identification")


@dataclass(frozen=True)
class Estimator:
    """One estimator as :func:`estimate`, ``fit()``, the CLI and error messages know it.

    ``fits`` maps each missing-data rule the estimator accepts to the function that fits it
    (``"module:function"``, imported on use); every such function takes
    ``(spec, X, *, report=None, **options)`` and returns a SEMResult.  ``auto_missing`` is
    what ``missing="auto"`` means when answers are missing (with none missing it is
    listwise): :func:`estimate` and ``fit()`` resolve it with
    :func:`semcluster.data.resolve_missing`.
    """
    name: str
    description: str
    fits: dict
    auto_missing: str = "fiml"
    summary_statistics: bool = False     # can fit a covariance matrix without raw data

    @property
    def missing(self) -> tuple:
        return tuple(self.fits)


#: The registry: adding an estimator is one module and one line here.
ESTIMATORS = {e.name: e for e in (
    Estimator("ML", "normal-theory maximum likelihood (FIML with missing answers)",
              {"listwise": "semcluster.estimators.ml:fit", "fiml": "semcluster.estimators.fiml:fit"},
              auto_missing="fiml", summary_statistics=True),
    Estimator("MLR", "ML estimates, Huber-White SEs, Yuan-Bentler scaled test",
              {"listwise": "semcluster.estimators.mlr:fit",
               "fiml": "semcluster.estimators.fiml:fit_robust"},
              auto_missing="fiml"),
    Estimator("WLSMV", "DWLS on polychoric correlations, robust SEs, scaled-shifted test",
              {"listwise": "semcluster.estimators.wlsmv:fit",
               "pairwise": "semcluster.estimators.wlsmv:fit"},
              auto_missing="pairwise"),
    # GLS fits complete rows only: "auto" with missing answers is FIML, which it refuses
    # with a message naming missing='listwise'
    Estimator("GLS", "normal-theory generalized least squares",
              {"listwise": "semcluster.estimators.gls:fit"}, auto_missing="fiml"),
)}


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


def _target(path: str):
    module, name = path.split(":")
    return getattr(importlib.import_module(module), name)


def estimate(spec, X, report=None, *, estimator: str = "ML", missing: str | None = None,
             ordered=None, parameterization: str | None = None):
    """Fit prepared data with the estimator asked for.

    Parameters
    ----------
    spec : ModelSpec
    X : DataFrame
        From :func:`semcluster.data.prepare_data` (``NaN`` where answers are missing).
    report : DataReport, optional
        Its ``missing`` (``listwise``/``pairwise``/``fiml``) is used when ``missing`` is None.
    estimator : str
        A name in :data:`ESTIMATORS` (ML, MLR, WLSMV, GLS).
    missing : {"listwise", "fiml", "pairwise", "auto"}, optional
        The rules each estimator accepts are in its registry entry (``ESTIMATORS[name].missing``);
        ``auto`` is the entry's ``auto_missing`` when any answer is missing, else listwise.
    ordered : list of str, optional
        Ordinal items (WLSMV; default all of the model's observed variables).
    parameterization : {"delta", "theta"}, optional
        WLSMV only (lavaan's ``parameterization``; default delta).

    Returns
    -------
    SEMResult

    Raises
    ------
    EstimationError
        For a combination that is not implemented (it names the alternatives).
    """
    from ..data import resolve_missing
    from ..errors import EstimationError

    est = estimator_name(estimator)
    rule = resolve_missing(missing or getattr(report, "missing", None) or "listwise",
                           bool(X.isna().to_numpy().any()), ESTIMATORS[est].auto_missing)
    if rule not in ESTIMATORS[est].missing:
        alts = " or ".join(f"missing='{r}'" for r in ESTIMATORS[est].missing)
        raise EstimationError(f"estimator {est} with missing='{rule}' is not implemented; use "
                              f"{alts}")
    if rule == "listwise" and X.isna().to_numpy().any():
        raise EstimationError("missing answers reached a listwise fit; prepare the data with "
                              "missing='listwise'")
    options = {"ordered": ordered, "missing": rule} if est == "WLSMV" else {}
    if parameterization is not None:
        if est != "WLSMV":
            raise EstimationError(f"parameterization='{parameterization}' applies to WLSMV "
                                  f"(ordinal items) only, not to estimator {est}")
        options["parameterization"] = parameterization
    return _target(ESTIMATORS[est].fits[rule])(spec, X, report=report, **options)


def __getattr__(name):
    if name in _MODULES:
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'semcluster.estimators' has no attribute {name!r}")
