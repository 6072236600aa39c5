"""The model core: one numpy representation of a model, used by every estimator.

:class:`~semcluster.model.core.ModelCore` is built once per model from the parameter table and
gives Σ(θ), its derivatives, the ML discrepancy with its gradient and expected information, and
start values; estimation, standardization, resampling and Monte Carlo all read it.
:class:`~semcluster.model.core.GroupCore` is the same algebra for one group of a multi-group
model with a mean structure (cells mapped to the global parameter vector).
"""
from .core import RAM, GroupCore, ModelCore

__all__ = ["RAM", "GroupCore", "ModelCore"]
