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

With a mean structure or groups (:func:`gls_group_optimum`, used by
:mod:`semcluster.multigroup`) the mean residuals enter with the weight S_g⁻¹ and the groups
are summed as lavaan does; see the section below.

Checked against lavaan 0.6.14 (tests/fixtures/estimators/make_gls_fixture.R).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import EstimationError
from ..numerics import n_moments
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
    df = n_moments(p) - npar
    chisq = m * F
    V = np.linalg.inv(S)
    d = np.linalg.solve(V * V, np.diag(V))
    E = (S - np.diag(d)) @ V
    chisq_b = m * 0.5 * float(np.sum(E * E.T))
    df_b = n_moments(p) - p
    values = chisq_measures(chisq, df, chisq_b, df_b, m, npar, ntotal=n)
    values.update(residual_measures(S, Sigma))
    values.update(gfi_measures(gfi_normal(S, Sigma, V), n_moments(p), df))
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


# -- groups and mean structures -------------------------------------------------------------
# lavaan's GLS per group g (lav_model_objective_gls): F_g = ½ tr{[(S_g − Σ_g)S_g⁻¹]²}
# + (x̄_g − μ_g)ᵀS_g⁻¹(x̄_g − μ_g), S_g the unbiased covariance matrix; the objective is
# Σ_g (N_g/N)·½(N_g − 1)/N_g·F_g, so χ² = 2N·fmin = Σ_g (N_g − 1)·F_g.


def unbiased_moments(data_g):
    """Per group (S_g with divisor N_g − 1, x̄_g, N_g): lavaan's sample moments for GLS."""
    return [(np.asarray(S) * n / (n - 1), xbar, n) for S, xbar, n in data_g]


def _group_terms(mg, x, data, derivatives=True, weights=None):
    """χ²(θ) = Σ_g (N_g − 1)·F_g, its gradient and Gauss-Newton Hessian; ``weights`` replace
    the N_g − 1 (for the information: see :func:`gls_group_information`)."""
    chisq = 0.0
    grad = np.zeros(mg.npar)
    H = np.zeros((mg.npar, mg.npar))
    for g, (S, xbar, n) in enumerate(data):
        V = np.linalg.inv(S)
        if derivatives:
            Sigma, mu, dS, dm = mg.derivatives(x, g)
        else:
            Sigma, mu, _ = mg.moments(x, g)
        E = S - Sigma
        r = np.asarray(xbar, dtype=float) - mu
        EV = E @ V
        w = n - 1 if weights is None else weights[g]
        chisq += w * (0.5 * float(np.sum(EV * EV.T)) + float(r @ V @ r))
        if not derivatives:
            continue
        q = dS.shape[0]
        W = V @ E @ V
        grad -= w * (dS.reshape(q, -1) @ W.reshape(-1) + 2 * dm @ (V @ r))
        VD = np.matmul(V, dS)
        H += w * (VD.reshape(q, -1) @ VD.transpose(0, 2, 1).reshape(q, -1).T
                  + 2 * dm @ V @ dm.T)
    return chisq, grad, H


def gls_group_information(mg, x, data) -> np.ndarray:
    """lavaan's expected information of a GLS fit, N·Σ_g (N_g/N)·Δ_gᵀW_gΔ_g taken with lavaan's
    least-squares N − G in place of N: Σ_g N_g(N − G)/N·[½ tr(V∂_kΣV∂_lΣ) + ∂_kμᵀV∂_lμ]
    (one group: N − 1, as :func:`fit`)."""
    N = sum(d[2] for d in data)
    G = len(data)
    w = [n * (N - G) / N for _, _, n in data]
    return _group_terms(mg, x, data, weights=w)[2] / 2


def gls_group_optimum(mg, data, x0, *, gtol: float = 1e-9, max_iter: int = 200):
    """Gauss-Newton with step halving on Σ_g (N_g − 1)·F_g; returns (x, χ², max|g|,
    iterations, converged)."""
    x = np.asarray(x0, dtype=float).copy()
    f, g, H = _group_terms(mg, x, data)
    it = 0
    for it in range(1, max_iter + 1):
        gmax = float(np.max(np.abs(g))) if len(g) else 0.0
        if gmax < gtol:
            return x, f, gmax, it, True

        def value(z):
            try:
                return _group_terms(mg, z, data, derivatives=False)[0]
            except (np.linalg.LinAlgError, EstimationError):
                return np.inf

        if it > 20:
            # far from a perfect fit Gauss-Newton crawls (a weak loading in a small group):
            # Newton steps with the Hessian from central differences of the analytic gradient
            h = 1e-6
            cols = []
            for k in range(len(x)):
                e = np.zeros(len(x))
                e[k] = h
                cols.append((_group_terms(mg, x + e, data)[1]
                             - _group_terms(mg, x - e, data)[1]) / (2 * h))
            Hn = np.array(cols)
            Hn = (Hn + Hn.T) / 2
            if np.all(np.linalg.eigvalsh(Hn) > 0):
                H = Hn
        moved = damped_step(value, x, H, g, lambda fn, f=f: np.isfinite(fn) and fn <= f + 1e-12,
                            t_min=1e-10)
        if moved is None:
            return x, f, gmax, it, gmax < 1e-6
        x = moved[0]
        f, g, H = _group_terms(mg, x, data)
    gmax = float(np.max(np.abs(g))) if len(g) else 0.0
    return x, f, gmax, it, gmax < gtol


def gls_group_measures(mg, x, data, chisq: float, npar: int) -> pd.Series:
    """lavaan's fitMeasures() of a GLS fit with a mean structure in G ≥ 1 groups: χ² and the
    GLS baseline (per group the independence model with free means, diag(d) solving
    (V∘V)d = diag(V)) summed over groups; the χ²-based indices with lavaan's N for least
    squares, N − G; RMR/SRMR/CRMR and GFI (GLS weight: S_g⁻¹ for means and ½D'(S_g⁻¹⊗S_g⁻¹)D
    for covariances) per group, averaged with weights N_g/N."""
    from ..fitmeasures import (RESIDUAL_NAMES, chisq_measures, gfi_measures, in_lavaan_order,
                               residual_measures)

    G = len(data)
    N = float(sum(d[2] for d in data))
    p = len(mg.obs)
    xi = [mg.obs.index(v) for v in mg.fixed_x]
    yi = [i for i in range(p) if i not in xi]
    nx = len(xi)
    ndat = n_moments(p, n_fixed_x=nx, means=True, groups=G)
    df = ndat - npar
    chisq_b = 0.0
    res, gfis = [], []
    rows, cols = np.tril_indices(p)
    keep_c = np.array([not (i in xi and j in xi) for i, j in zip(rows, cols)])
    keep_m = np.array([i not in xi for i in range(p)])
    for g, (S, xbar, n) in enumerate(data):
        V = np.linalg.inv(S)
        if xi:
            # independence model with fixed x: the covariates' own block stays saturated
            Vy = V
            B = np.zeros((p, p))
            ix = np.ix_(xi, xi)
            B[ix] = S[ix]
            # minimise ½tr{[(S − D − B)V]²} over the diagonal D of the outcomes
            A = (Vy * Vy)[np.ix_(yi, yi)]
            rhs = (V @ (S - B) @ V).diagonal()[yi]
            d = np.linalg.solve(A, rhs)
            Dm = B.copy()
            Dm[yi, yi] = d
        else:
            Dm = np.diag(np.linalg.solve(V * V, np.diag(V)))
        E = (S - Dm) @ V
        chisq_b += (n - 1) * 0.5 * float(np.sum(E * E.T))
        Sigma, mu, _ = mg.moments(x, g)
        res.append(residual_measures(S, Sigma, xbar, mu))

        def form(m, C, V=V):
            m = np.where(keep_m, m, 0.0)
            Ek = np.zeros((p, p))
            Ek[rows[keep_c], cols[keep_c]] = C[rows[keep_c], cols[keep_c]]
            Ek = Ek + np.tril(Ek, -1).T
            EV = Ek @ V
            return float(m @ V @ m + 0.5 * np.sum(EV * EV.T))

        xb = np.asarray(xbar, dtype=float)
        gfis.append(1 - form(xb - mu, S - Sigma) / form(xb, S))
    df_b = n_moments(p, n_fixed_x=nx, means=True, groups=G) - 2 * G * (p - nx)  # y means, vars
    values = chisq_measures(chisq, df, chisq_b, df_b, N - G, npar, ntotal=N, groups=G)
    for k in RESIDUAL_NAMES:
        values[k] = float(sum(d[2] * r[k] for d, r in zip(data, res)) / N)
    gfi = float(sum(d[2] * v for d, v in zip(data, gfis)) / N)
    values.update(gfi_measures(gfi, n_moments(p, means=True, groups=G), df))
    values["npar"] = npar
    return in_lavaan_order(values, likelihood=False)
