"""The model core: one numpy representation of a model, used by every estimator.

:class:`~semcluster.model.core.ModelCore` is built once per model from the parameter table and
gives Σ(θ), its derivatives, the ML discrepancy with its gradient and expected information, and
start values; estimation, standardization, resampling and Monte Carlo all read it.
"""
from .core import RAM, ModelCore

__all__ = ["RAM", "ModelCore"]
