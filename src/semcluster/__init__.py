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
__version__ = "0.1.0"

# public name -> module that defines it
_EXPORTS = {
    "SemclusterError": "errors", "ModelSyntaxError": "errors", "ModelSpecError": "errors",
    "DataError": "errors", "OptionError": "errors", "InputTypeError": "errors",
    "EstimationError": "errors", "SemclusterWarning": "errors", "OutputPathError": "errors",
    "bundled_models": "resources", "model_path": "resources",
    "ModelSpec": "spec.parser", "read_model": "spec.parser", "parse_model": "spec.parser",
    "SEMResult": "result.result", "ResultProtocol": "result.protocol", "load_result": "result.protocol",
    "fit": "fitting", "sample_covariance": "fitting", "Refitter": "estimation.refit",
    "load_data": "data.survey", "prepare_data": "data.survey", "DataReport": "data.survey",
    "read_survey": "data.survey", "DataOptions": "data.survey",
    "estimate": "estimation.registry",
    "measurement_report": "analysis.measurement",
    "bootstrap": "analysis.bootstrap",
    "measurement_invariance": "analysis.invariance", "compare_models": "analysis.model_comparison",
    "modification_indices": "measures.modindices", "residuals": "measures.modindices",
    "save_figure": "output.diagrams", "build_report": "output.report",
    # the study (semcluster.study): the paper's defaults (model h1_h5, its population, its
    # construct names in the diagrams)
    "compare_methods": "study.regression_vs_sem", "audit": "study.audit",
    "power_analysis": "study.power",
    "conceptual_diagram": "study.diagrams", "tested_diagram": "study.diagrams",
    "measurement_diagram": "study.diagrams", "compare_diagram": "study.diagrams",
    "simulate_items": "study.synthetic", "population_model": "study.synthetic",
}

__all__ = ["__version__", *_EXPORTS]

from ._lazy import install as _install  # noqa: E402

_install(__name__, _EXPORTS, __all__)
del _install
