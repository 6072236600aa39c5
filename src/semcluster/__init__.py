"""semcluster: structural equation models for survey research.

Fit lavaan-syntax models with semopy, with lavaan's fit measures and standardized solutions,
test H1-H5 of the cluster knowledge innovation platform study as latent paths, and compare them
with the published stepwise regression.

>>> import semcluster
>>> res = semcluster.fit("h1_h5")            # bundled model, bundled (synthetic) study data
>>> res.fit_measures["cfi"]                    # doctest: +SKIP
"""
from __future__ import annotations

__version__ = "0.1.0"

from .errors import (DataError, EstimationError, ModelSpecError, ModelSyntaxError,
                     SemclusterError, SemclusterWarning)
from .resources import bundled_models, model_path
from .spec import ModelSpec, parse_model, read_model
from .results import SEMResult
from .data import load_data
from .fit import fit, sample_covariance

__all__ = [
    "__version__",
    "SemclusterError", "ModelSyntaxError", "ModelSpecError", "DataError", "EstimationError",
    "SemclusterWarning",
    "bundled_models", "model_path",
    "ModelSpec", "read_model", "parse_model", "SEMResult", "fit", "sample_covariance",
    "load_data",
]
