"""SEM from published summary statistics (lavaan's ``sample.cov`` / ``sample.nobs``).

A paper's correlation table with SDs (or a covariance table) and N is all an ML fit of a
covariance structure needs: the likelihood depends on the data only through S and N.  As in
lavaan, the covariance matrix is taken as the usual unbiased one (divisor N − 1, what SPSS
prints) and rescaled by (N − 1)/N before fitting (lavaan's ``sample.cov.rescale = TRUE``), so the
fit equals the raw-data fit of any data with those moments.

Two models of the paper's Table 2 are built in:

* the observed-variable regression of IN on the five composites (saturated: df = 0; its
  standardized paths equal the OLS βs and its SEs are the ML ones, which use N where OLS
  uses N − k − 1);
* the reliability-corrected single-indicator model: each construct is a latent variable
  measured by its composite with loading 1 and error variance fixed to (1 − α)·s², α from
  Table 3 (Bollen 1989, pp. 168–170; Hayduk 1987).  This disattenuates every correlation by
  √(α_i α_j) and gives latent paths free of measurement error, if α is the right reliability.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .errors import DataError
from .fit import fit
from .results import SEMResult

SCORE_SUFFIX = "_score"


def covariance_from_correlations(R: pd.DataFrame, sds) -> pd.DataFrame:
    """Covariance matrix from a correlation matrix and SDs (same variable order)."""
    sd = pd.Series(sds, index=R.index) if not isinstance(sds, pd.Series) else sds.loc[R.index]
    if (sd <= 0).any():
        raise DataError("every SD must be positive")
    return R * np.outer(sd, sd)


def fit_summary(model, *, cov: pd.DataFrame | None = None, cor: pd.DataFrame | None = None,
                sds=None, nobs: int) -> SEMResult:
    """Fit ``model`` to a covariance matrix, or to correlations and SDs, and N."""
    if cov is None:
        if cor is None or sds is None:
            raise DataError("give cov, or cor together with sds")
        cov = covariance_from_correlations(cor, sds)
    return fit(model, cov=cov, nobs=nobs)


def regression_model(outcome: str, predictors: list[str]) -> str:
    """lavaan text of the observed-variable regression."""
    return f"{outcome} ~ " + " + ".join(predictors) + "\n"


def single_indicator_model(constructs: list[str], outcome: str, reliability: dict,
                           variances: dict, *, labels: dict | None = None) -> str:
    """lavaan text of the reliability-corrected single-indicator model.

    Each construct ``C`` is a latent variable measured by the observed score ``C_score`` with
    loading 1 and error variance fixed to (1 − α_C)·var(C_score).
    """
    lines = ["# reliability-corrected single-indicator model: error variance (1 - alpha) * s^2"]
    for c in constructs:
        a = float(reliability[c])
        if not 0 < a <= 1:
            raise DataError(f"reliability of {c} must be in (0, 1], got {a}")
        err = (1 - a) * float(variances[c])
        lines.append(f"{c} =~ 1*{c}{SCORE_SUFFIX}")
        lines.append(f"{c}{SCORE_SUFFIX} ~~ {err!r}*{c}{SCORE_SUFFIX}")
    preds = [c for c in constructs if c != outcome]
    lab = labels or {}
    terms = [f"{lab[c]}*{c}" if c in lab else c for c in preds]
    lines.append(f"{outcome} ~ " + " + ".join(terms))
    return "\n".join(lines) + "\n"


def published_regression_fit() -> SEMResult:
    """(a) The paper's Table 2 as an observed-variable regression of IN on the composites."""
    from . import study

    cov = study.covariances()
    return fit(regression_model(study.OUTCOME, list(study.PREDICTORS)), cov=cov,
               nobs=study.N)


def published_single_indicator_fit() -> SEMResult:
    """(b) The reliability-corrected single-indicator model of Tables 2 and 3."""
    from . import study

    cov = study.covariances()
    names = list(study.CONSTRUCTS)
    scored = cov.rename(index=lambda v: v + SCORE_SUFFIX, columns=lambda v: v + SCORE_SUFFIX)
    labels = {c: h.lower() for h, c in
              zip(study.hypotheses().index, study.hypotheses()["from"])}
    text = single_indicator_model(names, study.OUTCOME, study.reliability()["alpha"].to_dict(),
                                  {c: cov.loc[c, c] for c in names}, labels=labels)
    return fit(text, cov=scored, nobs=study.N)
