"""The paper's own material: the cluster knowledge innovation platform study.

The general SEM code (fit, estimators, model comparison, diagrams, ...) never imports this
package; this package builds on it.

* :mod:`semcluster.study.paper` (re-exported here): constructs, items, hypotheses and the
  published Tables 2–4 as data, the construct labels of the diagrams and the nesting of the
  bundled models;
* :mod:`semcluster.study.audit`: the audit of the published statistics;
* :mod:`semcluster.study.regression_vs_sem`: the published stepwise regression vs SEM
  (:func:`compare_methods`);
* :mod:`semcluster.study.summary_stats`: the re-analysis from the published Tables 2–3;
* :mod:`semcluster.study.synthetic`: the population calibrated to the paper and the matched
  synthetic sample;
* :mod:`semcluster.study.power`: power with the paper's population as the default;
* :mod:`semcluster.study.diagrams`: the diagrams with the study's construct names.

>>> from semcluster import study
>>> float(study.correlations().loc["IN", "MR"])
0.328
"""
from .paper import (CONSTRUCTS, N, NESTED_MODELS, OUTCOME, PREDICTORS, SCALE,  # noqa: F401
                    construct_labels, constructs, correlations, covariances, descriptives,
                    hypotheses, item_names, items, nested_models, published, regression,
                    regression_summary, reliability, study_labels)
