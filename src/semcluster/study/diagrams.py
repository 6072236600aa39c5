"""The diagrams of :mod:`semcluster.output.diagrams` with the study's construct names as labels.

Each function is its namesake in :mod:`semcluster.output.diagrams`, with ``labels=None`` meaning the
study's construct names (:func:`semcluster.study.construct_labels`: ``CA`` is drawn as "cluster
awareness" / "集群意识"; variables that are not the study's constructs keep their own names;
pass ``{}`` for the variables' own names throughout), and :func:`conceptual_diagram` drawing the
study's model ``h1_h5`` by default.
"""
from __future__ import annotations

from ..output import diagrams as _d
from .paper import construct_labels


def _study(labels):
    """``labels`` as given, or the study's construct names when None."""
    return construct_labels if labels is None else labels


def conceptual_diagram(model="h1_h5", *, lang: str = "en", labels=None):
    """:func:`semcluster.output.diagrams.conceptual_diagram` with the study's labels."""
    return _d.conceptual_diagram(model, lang=lang, labels=_study(labels))


def tested_diagram(result, *, lang: str = "en", alpha: float = 0.05, hide_ns: bool = False,
                   covariances: bool = False, ax=None, title: str | None = None,
                   caption: bool = True, labels=None):
    """:func:`semcluster.output.diagrams.tested_diagram` with the study's labels."""
    return _d.tested_diagram(result, lang=lang, alpha=alpha, hide_ns=hide_ns,
                             covariances=covariances, ax=ax, title=title, caption=caption,
                             labels=_study(labels))


def measurement_diagram(result, *, lang: str = "en", alpha: float = 0.05,
                        labels=None):
    """:func:`semcluster.output.diagrams.measurement_diagram` with the study's labels."""
    return _d.measurement_diagram(result, lang=lang, alpha=alpha, labels=_study(labels))


def compare_diagram(comparison, *, left: str = "ols_data", right: str = "sem_data",
                    lang: str = "en", alpha: float = 0.05, labels=None):
    """:func:`semcluster.output.diagrams.compare_diagram` with the study's labels."""
    return _d.compare_diagram(comparison, left=left, right=right, lang=lang, alpha=alpha,
                              labels=_study(labels))


def _document(fn, general):
    """The general function's docstring, and what the study's version changes."""
    import inspect

    fn.__doc__ = (inspect.cleandoc(getattr(general, "__doc__", None) or "")
                  + "\n\nThe study's version ("
                  f"``semcluster.study.diagrams.{fn.__name__}``): ``labels`` None (the "
                  "default) is the study's construct names "
                  "(:func:`semcluster.study.construct_labels`); ``{}`` keeps the variables' own "
                  "names.")


for _fn, _general in ((conceptual_diagram, _d.conceptual_diagram),
                      (tested_diagram, _d.tested_diagram),
                      (measurement_diagram, _d.measurement_diagram),
                      (compare_diagram, _d.compare_diagram)):
    _document(_fn, _general)
del _fn, _general
