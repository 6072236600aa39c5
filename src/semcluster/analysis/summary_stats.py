"""SEM from published summary statistics (lavaan's ``sample.cov`` / ``sample.nobs``).

A paper's correlation table with SDs (or a covariance table) and N is all an ML fit of a
covariance structure needs: the likelihood depends on the data only through S and N.  As in
lavaan, the covariance matrix is taken as the usual unbiased one (divisor N − 1, what SPSS
prints) and rescaled by (N − 1)/N before fitting (lavaan's ``sample.cov.rescale = TRUE``), so the
fit equals the raw-data fit of any data with those moments.

Two model builders: the observed-variable regression of an outcome on composites
(:func:`regression_model`), and the reliability-corrected single-indicator model
(:func:`single_indicator_model`): each construct is a latent variable measured by its composite
with loading 1 and error variance fixed to (1 − α)·s² (Bollen 1989, pp. 168–170; Hayduk 1987),
which disattenuates every correlation by √(α_i α_j).  The paper's Tables 2–3 fitted with both
are in :mod:`semcluster.study.summary_stats`.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import DataError
from ..fitting import fit
from ..result.result import SEMResult

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
