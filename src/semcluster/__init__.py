"""semcluster: structural equation models for survey research.

Fit lavaan-syntax models with semopy, with lavaan's fit measures and standardized solutions,
test H1-H5 of the cluster knowledge innovation platform study as latent paths, and compare them
with the published stepwise regression.

>>> import semcluster
>>> res = semcluster.fit("h1_h5")            # bundled model, bundled (synthetic) study data
>>> res.fit_measures["cfi"]                    # doctest: +SKIP

Names are imported on first use, so that ``import semcluster`` (and the CLI's ``--help``) stay
fast: pandas, scipy and semopy load only when a function needs them.
"""
from __future__ import annotations

import importlib
import sys
import types

__version__ = "0.1.0"

# public name -> module that defines it
_EXPORTS = {
    "SemclusterError": "errors", "ModelSyntaxError": "errors", "ModelSpecError": "errors",
    "DataError": "errors", "EstimationError": "errors", "SemclusterWarning": "errors",
    "OutputPathError": "errors", "OptionError": "errors", "InputTypeError": "errors",
    "bundled_models": "resources", "model_path": "resources",
    "ModelSpec": "spec", "read_model": "spec", "parse_model": "spec",
    "SEMResult": "results",
    "fit": "fit", "sample_covariance": "fit",
    "load_data": "data", "prepare_data": "data", "DataReport": "data",
    "estimate": "estimators",
    "compare_methods": "compare", "audit": "audit",
    "measurement_report": "measurement",
    "bootstrap": "bootstrap", "power_analysis": "power",
    "measurement_invariance": "invariance", "compare_models": "comparison",
    "modification_indices": "modindices", "residuals": "modindices",
    "conceptual_diagram": "diagrams", "tested_diagram": "diagrams",
    "measurement_diagram": "diagrams", "compare_diagram": "diagrams",
    "save_figure": "diagrams", "build_report": "report",
    "simulate_items": "simulate", "population_model": "simulate",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name):
    if name in _EXPORTS:
        module = importlib.import_module(f".{_EXPORTS[name]}", __name__)
        value = getattr(module, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'semcluster' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))


class _Package(types.ModuleType):
    """The package module.  ``semcluster.fit`` is the function, although a submodule has the same
    name: importing the submodule (``from semcluster.fit import ...``) must not replace the
    function by the module on the package, which the import system would otherwise do."""

    def __setattr__(self, name, value):
        # fit, audit, bootstrap: functions named like their modules
        if isinstance(value, types.ModuleType) and name in _EXPORTS and \
                _EXPORTS[name] == name:
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
