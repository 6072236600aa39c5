"""What the estimator modules share, under the names they use: the model core
(:class:`semcluster.model.ModelCore`, here ``CovarianceStructure``), lavaan's moment ordering,
and the numerical helpers of :mod:`semcluster.numerics`.

Σ(θ) and its derivatives live in one place, the model core.
"""
from __future__ import annotations

from ..model.core import ModelCore, duplication_matrix, vech_indices, vechs_indices
from ..numerics import damped_step, invert_information, numerical_jacobian

CovarianceStructure = ModelCore

__all__ = ["CovarianceStructure", "damped_step", "duplication_matrix", "invert_information",
           "numerical_jacobian", "vech_indices", "vechs_indices"]
