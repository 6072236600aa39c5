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
twolevel  two-level ML (``level: 1`` / ``level: 2``)     ``sem(..., cluster = )`` with levels
identification  rank of the moment Jacobian at random
          values, before fitting
========  ==========================================  =======================================

Each ``<module>.fit(spec, X, *, report=None, estimator=None, ...)`` takes a parsed model
(:class:`semcluster.spec.parser.ModelSpec`) and the prepared data of its observed variables (from
:func:`semcluster.data.survey.prepare_data`) and returns a :class:`semcluster.result.result.SEMResult`.
The modules are imported on first use: ``from semcluster.estimation.registry import wlsmv``.
:func:`estimate` chooses among them (and plain ML) from ``estimator`` and the missing-data rule.
"""
from __future__ import annotations

import importlib
from contextlib import contextmanager
from dataclasses import dataclass

from ..errors import InputTypeError, OptionError

__all__ = ["ml", "mlr", "fiml", "gls", "polychoric", "wlsmv", "identification", "twolevel",
           "estimate",
           "estimator_name", "entry", "names", "registered", "ESTIMATORS", "Estimator",
           "FEATURES", "NESTED_TESTS"]
_MODULES = ("ml", "mlr", "fiml", "gls", "polychoric", "wlsmv", "identification", "twolevel")


#: What an estimator can fit beyond one group of continuous items: several groups, a mean
#: structure (intercepts, ``meanstructure=True``), ordinal items, exogenous covariates.
FEATURES = ("groups", "means", "ordinal", "covariates")

#: The nested-model tests :func:`semcluster.analysis.model_comparison.chisq_difference` knows (lavaan's
#: ``lavTestLRT`` default for each estimator): the plain difference, labelled a likelihood
#: ratio for a likelihood (``lrt``) and not otherwise (``difference``); the scaled difference
#: of Satorra & Bentler (2001, ``sb2001``); Satorra (2000) scaled-shifted (``satorra.2000``).
NESTED_TESTS = ("lrt", "difference", "sb2001", "satorra.2000")


@dataclass(frozen=True)
class Estimator:
    """One estimator, as :func:`estimate`, ``fit()``, the summary, the CLI, the app and
    ``compare_models`` know it: they read these fields rather than its name.

    ``fits`` maps each missing-data rule the estimator accepts to the function that fits it;
    every such function takes ``(spec, X, *, report=None, estimator=None, **options)`` (the
    entry itself comes as ``estimator``, for the result builder) and returns a SEMResult.  ``auto_missing`` is what ``missing="auto"`` means when answers are missing
    (with none missing it is listwise): :func:`estimate` and ``fit()`` resolve it with
    :func:`semcluster.data.survey.resolve_missing`.  ``label`` is lavaan's ``Estimator`` line of the
    summary (MLR prints ML, WLSMV prints DWLS); ``se`` and ``test`` lavaan's names of the kind
    of standard errors and test statistic; ``supports`` a subset of :data:`FEATURES`;
    ``nested_test`` one of :data:`NESTED_TESTS`.
    """
    name: str
    description: str
    fits: dict
    auto_missing: str = "fiml"
    summary_statistics: bool = False     # can fit a covariance matrix without raw data
    label: str = ""
    se: str = "standard"
    test: str = "standard"
    supports: frozenset = frozenset()
    nested_test: str = "lrt"

    def __post_init__(self):
        if not self.label:
            object.__setattr__(self, "label", self.name)
        object.__setattr__(self, "supports", frozenset(self.supports))
        unknown = set(self.supports) - set(FEATURES)
        if unknown or self.nested_test not in NESTED_TESTS:
            raise OptionError(f"estimator {self.name}: unknown feature(s) {sorted(unknown)} or "
                              f"nested test {self.nested_test!r}")

    @property
    def missing(self) -> tuple:
        return tuple(self.fits)


# The fitting functions, imported on first use (the modules stay unloaded until a fit asks for
# them) but written as imports, so that import-linter sees every edge.
def _ml(spec, X, **options):
    from .ml import fit
    return fit(spec, X, **options)


def _fiml(spec, X, **options):
    from .fiml import fit
    return fit(spec, X, **options)


def _mlr(spec, X, **options):
    from .mlr import fit
    return fit(spec, X, **options)


def _fiml_robust(spec, X, **options):
    from .fiml import fit_robust
    return fit_robust(spec, X, **options)


def _wlsmv(spec, X, **options):
    from .wlsmv import fit
    return fit(spec, X, **options)


def _gls(spec, X, **options):
    from .gls import fit
    return fit(spec, X, **options)


#: The registry: adding an estimator is one module and one line here (or, for a while,
#: :func:`registered`).
ESTIMATORS = {e.name: e for e in (
    Estimator("ML", "normal-theory maximum likelihood (FIML with missing answers)",
              {"listwise": _ml, "fiml": _fiml}, auto_missing="fiml", summary_statistics=True,
              label="ML", se="standard", test="standard",
              supports={"groups", "means", "covariates"}, nested_test="lrt"),
    Estimator("MLR", "ML estimates, Huber-White SEs, Yuan-Bentler scaled test",
              {"listwise": _mlr, "fiml": _fiml_robust}, auto_missing="fiml",
              label="ML", se="robust.huber.white", test="yuan.bentler.mplus",
              supports={"groups", "means", "covariates"}, nested_test="sb2001"),
    Estimator("WLSMV", "DWLS on polychoric correlations, robust SEs, scaled-shifted test",
              {"listwise": _wlsmv, "pairwise": _wlsmv}, auto_missing="pairwise",
              label="DWLS", se="robust.sem", test="scaled.shifted",
              supports={"ordinal", "covariates"}, nested_test="satorra.2000"),
    # GLS fits complete rows only: "auto" with missing answers is FIML, which it refuses
    # with a message naming missing='listwise'.  Exogenous covariates: their moments are
    # estimated (lavaan's fixed.x = FALSE for GLS), see estimators/gls.py
    Estimator("GLS", "normal-theory generalized least squares",
              {"listwise": _gls}, auto_missing="fiml", label="GLS", se="standard",
              test="standard", supports={"groups", "means", "covariates"},
              nested_test="difference"),
)}


@contextmanager
def registered(new: Estimator):
    """Add ``new`` to :data:`ESTIMATORS` for the duration of a ``with`` block (an estimator
    tried out, or a test's); the registry is restored afterwards."""
    if not isinstance(new, Estimator):
        raise InputTypeError(f"registered() takes an Estimator, not {type(new).__name__}")
    before = ESTIMATORS.get(new.name)
    ESTIMATORS[new.name] = new
    try:
        yield new
    finally:
        if before is None:
            ESTIMATORS.pop(new.name, None)
        else:
            ESTIMATORS[new.name] = before


def entry(estimator) -> Estimator:
    """The registry entry of an estimator name (any case), or a clear error
    (:func:`estimator_name`)."""
    return ESTIMATORS[estimator_name(estimator)]


def names(feature: str | None = None) -> tuple:
    """The registry's estimator names (those supporting ``feature``, one of
    :data:`FEATURES`, when given), in registry order: the lists the CLI and the app offer."""
    return tuple(k for k, e in ESTIMATORS.items() if feature is None or feature in e.supports)


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


def estimate(spec, X, report=None, *, estimator: str = "ML", missing: str | None = None,
             ordered=None, parameterization: str | None = None):
    """Fit prepared data with the estimator asked for.

    Parameters
    ----------
    spec : ModelSpec
    X : DataFrame
        From :func:`semcluster.data.survey.prepare_data` (``NaN`` where answers are missing).
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
    from ..data.survey import resolve_missing
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
    ordinal = "ordinal" in ESTIMATORS[est].supports
    options = {"ordered": ordered, "missing": rule} if ordinal else {}
    if parameterization is not None:
        if not ordinal:
            raise EstimationError(f"parameterization='{parameterization}' applies to WLSMV "
                                  f"(ordinal items) only, not to estimator {est}")
        options["parameterization"] = parameterization
    # the entry goes down to the result builder, which keeps its label and kinds of standard
    # errors and test (the estimator modules never import the registry: no import cycle)
    return ESTIMATORS[est].fits[rule](spec, X, report=report, estimator=ESTIMATORS[est],
                                      **options)


def __getattr__(name):
    if name in _MODULES:
        return importlib.import_module(f"semcluster.estimation.{name}")
    raise AttributeError(f"module 'semcluster.estimation.registry' has no attribute {name!r}")
