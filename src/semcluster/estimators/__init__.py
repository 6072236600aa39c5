"""Estimators beyond normal-theory ML, each checked against lavaan 0.6.14.

========  ==========================================  =======================================
module    what                                        lavaan equivalent
========  ==========================================  =======================================
mlr       ML estimates, Huber-White SEs,              ``estimator = "MLR"``
          Yuan-Bentler (Mplus) scaled chi-square
fiml      full-information ML for missing answers     ``missing = "ml"``
polychoric thresholds, polychoric correlations, Γ     ``lavCor(..., ordered = )``,
                                                      ``lavInspect(fit, "gamma")``
wlsmv     DWLS on polychorics, robust SEs,            ``estimator = "WLSMV"``, ``ordered =``
          scaled-and-shifted chi-square
========  ==========================================  =======================================

Each ``<module>.fit(spec, X, *, report=None, ...)`` takes a parsed model
(:class:`semcluster.spec.ModelSpec`) and the prepared data of its observed variables (from
:func:`semcluster.data.prepare_data`) and returns a :class:`semcluster.results.SEMResult`.
The modules are imported on first use: ``from semcluster.estimators import wlsmv``.
"""
from __future__ import annotations

import importlib

__all__ = ["mlr", "fiml", "polychoric", "wlsmv"]


def __getattr__(name):
    if name in __all__:
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'semcluster.estimators' has no attribute {name!r}")
