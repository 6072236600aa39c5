"""semopy in and out: a ``semopy.Model`` as the model to fit, and a fit handed back to semopy.

semcluster fits with its own model core (lavaan's optimum, lavaan's defaults); semopy users
keep their tools on both sides:

* :func:`model_text` reads the description of a ``semopy.Model`` (its ``description``
  attribute, the text it was built from) so that ``semcluster.fit(semopy.Model(desc), data)``
  fits the same model. The text is read with lavaan's rules, which are semopy's for the
  operators both share (``=~ ~ ~~``, ``1*x``, ``start(.5)*x``, labels); semopy-only extensions
  are refused by the parser with their line and column.
* :func:`to_semopy` builds a ``semopy.Model`` of the fitted model, loads the sample moments and
  sets its parameters to semcluster's estimates, so ``inspect()``, ``calc_stats`` or semopy's
  plotting work on the fitted values.
"""
from __future__ import annotations

import logging
import warnings
from contextlib import contextmanager

import numpy as np

from ..errors import InputTypeError, ModelSpecError


@contextmanager
def semopy_quiet():
    """Run semopy code without touching the user's logging set-up.

    semopy calls the module-level ``logging.warning``/``logging.info`` (root logger); with no
    handler on the root logger that call runs ``logging.basicConfig()`` and prints to stderr.
    A temporary NullHandler and level keep both from happening; semopy's warnings (about its
    start values, which are not used) are silenced too.
    """
    root = logging.getLogger()
    handler = logging.NullHandler()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.CRITICAL)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)


def is_semopy_model(obj) -> bool:
    """True for a ``semopy.Model`` (without importing semopy when it is not loaded)."""
    mod = type(obj).__module__ or ""
    return mod.startswith("semopy.") and hasattr(obj, "description")


def model_text(model) -> str:
    """The lavaan-syntax text of a ``semopy.Model`` (plain ``Model`` only)."""
    name = type(model).__name__
    if name != "Model":
        raise InputTypeError(f"semopy.{name} is not supported: pass a plain semopy.Model, or the "
                             f"model text (mean structures, random effects and multi-group "
                             f"semopy classes have no counterpart here yet)")
    text = getattr(model, "description", None)
    if not isinstance(text, str) or not text.strip():
        raise InputTypeError("this semopy.Model has no description text to read the model from")
    return text


def to_semopy(result):
    """A ``semopy.Model`` of ``result``'s model with the moments loaded and the parameters set
    to ``result``'s estimates.

    Raises
    ------
    ModelSpecError
        When semopy cannot build the model or numbers its parameters differently.
    """
    with semopy_quiet():
        import semopy

        spec = result.spec
        try:
            model = semopy.Model(spec.to_semopy())
        except Exception as exc:          # semopy's own syntax errors
            raise ModelSpecError(f"{spec.source}: semopy cannot build this model ({exc})") \
                from None
        obs = list(model.vars["observed"])
        if set(obs) != set(spec.observed):
            raise ModelSpecError(f"{spec.source}: semopy reads the observed variables as "
                                 f"{sorted(obs)}, the model names {sorted(spec.observed)}")
        model.load(cov=result.sample_cov.loc[obs, obs], n_samples=int(result.nobs))
        x = np.asarray(result.info["x"], dtype=float)
        active = [name for name, p in model.parameters.items() if p.active]
        try:
            values = np.array([x[int(name[2:]) - 1] for name in active])
        except (ValueError, IndexError):
            raise ModelSpecError(f"{spec.source}: semopy added parameters the model does not "
                                 f"have ({', '.join(active[:5])})") from None
        model.param_vals = values
        model.update_matrices(values)
    return model
