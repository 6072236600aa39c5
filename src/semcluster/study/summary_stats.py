"""The paper's Tables 2–3 re-analysed from its published summary statistics.

Two models of the paper's Table 2 (built with :mod:`semcluster.analysis.summary_stats`):

* the observed-variable regression of IN on the five composites (saturated: df = 0; its
  standardized paths equal the OLS βs and its SEs are the ML ones, which use N where OLS
  uses N − k − 1);
* the reliability-corrected single-indicator model: each construct is a latent variable
  measured by its composite with loading 1 and error variance fixed to (1 − α)·s², α from
  Table 3 (Bollen 1989, pp. 168–170; Hayduk 1987).  This disattenuates every correlation by
  √(α_i α_j) and gives latent paths free of measurement error, if α is the right reliability.
"""
from __future__ import annotations

from ..fitting import fit
from ..result.result import SEMResult
from ..analysis.summary_stats import SCORE_SUFFIX, regression_model, single_indicator_model
from . import paper as study


def published_regression_fit() -> SEMResult:
    """(a) The paper's Table 2 as an observed-variable regression of IN on the composites."""
    cov = study.covariances()
    return fit(regression_model(study.OUTCOME, list(study.PREDICTORS)), cov=cov,
               nobs=study.N)


def published_single_indicator_fit() -> SEMResult:
    """(b) The reliability-corrected single-indicator model of Tables 2 and 3."""
    cov = study.covariances()
    names = list(study.CONSTRUCTS)
    scored = cov.rename(index=lambda v: v + SCORE_SUFFIX, columns=lambda v: v + SCORE_SUFFIX)
    labels = {c: h.lower() for h, c in
              zip(study.hypotheses().index, study.hypotheses()["from"])}
    text = single_indicator_model(names, study.OUTCOME, study.reliability()["alpha"].to_dict(),
                                  {c: cov.loc[c, c] for c in names}, labels=labels)
    return fit(text, cov=scored, nobs=study.N)
