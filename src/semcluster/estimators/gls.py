"""Generalized least squares (normal-theory GLS, Browne 1974), as lavaan's ``estimator = "GLS"``.

F_GLS(θ) = ½ tr{[(S − Σ(θ)) S⁻¹]²}, minimised by Gauss-Newton with the weight V = S⁻¹
(gradient g_k = −tr(V(S − Σ)V ∂Σ/∂θ_k), approximate Hessian H_kl = tr(V ∂Σ_k V ∂Σ_l)).
As lavaan 0.6 does for its least-squares estimators, S is the unbiased (N − 1) covariance
matrix and the sample size in the test statistic and the standard errors is N − 1:

* χ² = (N − 1)·F_GLS(θ̂) on df = p(p + 1)/2 − q;
* Cov(θ̂) = [(N − 1)/2 · H]⁻¹ (expected information with V = S⁻¹);
* baseline: the independence model fitted by GLS, diag(d) with (V∘V) d = diag(V);
* CFI, TLI, NFI, RMSEA (with interval and close-fit p) from these statistics and N − 1; SRMR
  from S and Σ̂ as for ML. lavaan reports no log-likelihood, AIC or BIC for GLS, nor do we.

Checked against lavaan 0.6.14 (tests/fixtures/estimators/make_gls_fixture.R).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import EstimationError
from ._structure import CovarianceStructure, damped_step, invert_information

ESTIMATOR = "GLS"


def _gls_terms(structure, x, S, V, derivatives=True):
    if not derivatives:
        E = (S - structure.sigma(x)) @ V
        return 0.5 * float(np.sum(E * E.T)), None, None
    Sigma, D = structure.jacobian(x)
    E = S - Sigma
    EV = E @ V
    f = 0.5 * float(np.sum(EV * EV.T))
    W = V @ E @ V
    q = D.shape[0]
    g = -(D.reshape(q, -1) @ W.reshape(-1))
    VD = np.matmul(V, D)
    H = VD.reshape(q, -1) @ VD.transpose(0, 2, 1).reshape(q, -1).T
    return f, g, H


def gls_optimum(structure, S: np.ndarray, x0: np.ndarray, *, gtol: float = 1e-10,
                max_iter: int = 200):
    """Gauss-Newton with step halving; returns (x, F, max|g|, iterations, converged)."""
    V = np.linalg.inv(S)
    x = np.asarray(x0, dtype=float).copy()
    f, g, H = _gls_terms(structure, x, S, V)
    it = 0
    for it in range(1, max_iter + 1):
        gmax = float(np.max(np.abs(g)))
        if gmax < gtol:
            return x, f, gmax, it, True
        moved = damped_step(lambda z: _gls_terms(structure, z, S, V, derivatives=False)[0],
                            x, H, g, lambda fn, f=f: fn <= f + 1e-15, t_min=1e-10)
        if moved is None:
            return x, f, gmax, it, gmax < 1e-8
        x = moved[0]
        f, g, H = _gls_terms(structure, x, S, V)
    gmax = float(np.max(np.abs(g)))
    return x, f, gmax, it, gmax < gtol


def gls_fit_measures(S: np.ndarray, Sigma: np.ndarray, F: float, n: int, npar: int) -> pd.Series:
    """lavaan's fitMeasures() for GLS (no likelihood-based measures; lavaan's N is N − 1).

    S is the unbiased sample covariance matrix (lavaan's sample statistics for GLS); the
    residual measures use it, and GFI weights the moments with the GLS weight ½D'(S⁻¹⊗S⁻¹)D
    (lavaan's h1 information for GLS).
    """
    from ..fitmeasures import (chisq_measures, gfi_measures, gfi_normal, in_lavaan_order,
                               residual_measures)

    p = S.shape[0]
    m = n - 1                        # lavaan's N for least-squares estimators
    df = p * (p + 1) // 2 - npar
    chisq = m * F
    V = np.linalg.inv(S)
    d = np.linalg.solve(V * V, np.diag(V))
    E = (S - np.diag(d)) @ V
    chisq_b = m * 0.5 * float(np.sum(E * E.T))
    df_b = p * (p + 1) // 2 - p
    values = chisq_measures(chisq, df, chisq_b, df_b, m, npar, ntotal=n)
    values.update(residual_measures(S, Sigma))
    values.update(gfi_measures(gfi_normal(S, Sigma, V), p * (p + 1) // 2, df))
    values["npar"] = npar
    return in_lavaan_order(values, likelihood=False)


def fit(spec, X: pd.DataFrame, *, report=None, estimator=None):
    """Fit a model by GLS to complete data (see the module docstring).

    Parameters
    ----------
    spec : ModelSpec
    X : DataFrame
        Complete answers of the model's observed variables.
    report : DataReport, optional

    Returns
    -------
    SEMResult
        ``estimator == "GLS"``; estimates, standard errors (and those of the standardized and
        defined parameters) and lavaan's GLS fit measures.
    """
    from ..engine import MLEngine
    from ..data import sample_covariance
    from ..solution import assemble_result

    from .identification import check_identification
    from .mlr import check_supported

    check_supported(spec, ESTIMATOR)
    given = X                           # the rows given, kept for predict()
    X = X[spec.observed]
    if X.isna().to_numpy().any():
        raise EstimationError("GLS needs complete answers; use missing='listwise', or ML with "
                              "missing='fiml'")
    ident = check_identification(spec)
    n = len(X)
    # lavaan fits GLS to the unbiased (N - 1) covariance matrix
    S = sample_covariance(X) * n / (n - 1)
    engine = MLEngine(spec)          # start values: the ML solution
    engine.load(S, n, X)
    start = engine.fit()
    structure = CovarianceStructure.of(spec)
    S_np = S.loc[spec.observed, spec.observed].to_numpy()
    x, F, gmax, it, ok = gls_optimum(structure, S_np, start.x)
    Sigma, D = structure.jacobian(x)
    V = np.linalg.inv(S_np)
    VD = np.matmul(V, D)
    q = D.shape[0]
    H = VD.reshape(q, -1) @ VD.transpose(0, 2, 1).reshape(q, -1).T
    vcov, vcov_ok = invert_information((n - 1) / 2 * H, symmetrize=True)
    msg = (f"converged (max |gradient| {gmax:.1e} after {it} iterations)" if ok else
           f"stopped after {it} iterations with max |gradient| {gmax:.1e}")
    return assemble_result(spec, engine, x, S, n, converged=ok, message=msg, report=report,
                           estimator=estimator or ESTIMATOR, vcov=vcov, vcov_ok=vcov_ok,
                           measures=gls_fit_measures(S_np, Sigma, F, n, spec.n_free),
                           identification=ident, data=given)
