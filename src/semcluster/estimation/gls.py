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
:mod:`semcluster.estimation.groups`) the mean residuals enter with the weight S_g⁻¹ and the groups
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


def gls_baseline(S: np.ndarray, x_idx=()) -> np.ndarray:
    """The implied covariance matrix of lavaan's baseline (independence) model fitted by GLS.

    Every variance is free; so are the covariances among the exogenous observed covariates
    at ``x_idx`` (lavaan's independence model keeps them, lav_partable_indep_or_unrestricted;
    with their moments free, as lavaan's GLS, they are estimated, not copied from S).  The
    model is linear, M = Σ_k θ_k E_k, so the minimum of ½ tr{[(S − M)V]²} (V = S⁻¹) solves
    the normal equations Σ_l tr(V E_k V E_l) θ_l = tr(V E_k V S) = tr(E_k V).  Without
    covariates this is diag(d) with (V∘V) d = diag(V).
    """
    p = S.shape[0]
    V = np.linalg.inv(S)
    x_idx = list(x_idx)
    cells = [(i, i) for i in range(p)]
    cells += [(a, b) for k, a in enumerate(x_idx) for b in x_idx[k + 1:]]
    # each basis matrix E_k as its oriented cells e_i e_jᵀ (both orientations off the diagonal)
    parts = [[(i, j)] if i == j else [(i, j), (j, i)] for i, j in cells]
    q = len(cells)
    A = np.empty((q, q))
    rhs = np.empty(q)
    for k, pk in enumerate(parts):
        rhs[k] = sum(V[j, i] for i, j in pk)
        for m_, pm in enumerate(parts[: k + 1]):
            # tr(V e_i e_jᵀ V e_c e_dᵀ) = V_jc V_di
            A[k, m_] = A[m_, k] = sum(V[j, c] * V[d, i] for i, j in pk for c, d in pm)
    theta = np.linalg.solve(A, rhs)
    M = np.zeros((p, p))
    for t, (i, j) in zip(theta, cells):
        M[i, j] = M[j, i] = t
    return M


def gls_fit_measures(S: np.ndarray, Sigma: np.ndarray, F: float, n: int, npar: int,
                     x_idx=()) -> pd.Series:
    """lavaan's fitMeasures() for GLS (no likelihood-based measures; lavaan's N is N − 1).

    S is the unbiased sample covariance matrix (lavaan's sample statistics for GLS); the
    residual measures use it, and GFI weights the moments with the GLS weight ½D'(S⁻¹⊗S⁻¹)D
    (lavaan's h1 information for GLS).  ``x_idx``: positions of the exogenous observed
    covariates, whose moments GLS estimates (fixed.x = FALSE) and whose covariances the
    baseline model keeps free (:func:`gls_baseline`).
    """
    from ..measures.fitmeasures import (chisq_measures, gfi_measures, gfi_normal, in_lavaan_order,
        residual_measures)

    p = S.shape[0]
    nx = len(x_idx)
    m = n - 1                        # lavaan's N for least-squares estimators
    df = n_moments(p) - npar
    chisq = m * F
    V = np.linalg.inv(S)
    E = (S - gls_baseline(S, x_idx)) @ V
    chisq_b = m * 0.5 * float(np.sum(E * E.T))
    df_b = n_moments(p) - p - nx * (nx - 1) // 2
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
    from .engine import MLEngine
    from ..data.survey import sample_covariance
    from ..result.builder import assemble_result

    from ..spec.parser import free_covariates
    from .identification import check_identification

    # lavaan 0.6's GLS takes exogenous observed covariates as ordinary variables (fixed.x is
    # TRUE by default for ML only, lav_options.R): their variances and covariances are free
    notes = covariates_note(spec)
    spec = free_covariates(spec)
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
                           measures=gls_fit_measures(S_np, Sigma, F, n, spec.n_free,
                                                     x_idx=[spec.observed.index(v)
                                                            for v in spec.free_x]),
                           identification=ident, data=given, warnings=notes)


def covariates_note(spec, means: bool = False) -> list[str]:
    """The note a GLS fit with exogenous observed covariates carries (none without them)."""
    if not spec.fixed_x:
        return []
    what = "variances, covariances and means" if means else "variances and covariances"
    return [f"the exogenous covariates' {what} ({', '.join(spec.fixed_x)}) are estimated, "
            f"not held at their sample values: GLS takes them as ordinary observed variables, "
            f"as lavaan (fixed.x = FALSE unless the estimator is ML)"]


# -- groups and mean structures -------------------------------------------------------------
# lavaan's GLS per group g (lav_model_objective_gls): F_g = ½ tr{[(S_g − Σ_g)S_g⁻¹]²}
# + (x̄_g − μ_g)ᵀS_g⁻¹(x̄_g − μ_g), S_g the unbiased covariance matrix; the objective is
# Σ_g (N_g/N)·½(N_g − 1)/N_g·F_g, so χ² = 2N·fmin = Σ_g (N_g − 1)·F_g.


def unbiased_moments(data_g):
    """Per group (S_g with divisor N_g − 1, x̄_g, N_g): lavaan's sample moments for GLS."""
    return [(np.asarray(S) * n / (n - 1), xbar, n) for S, xbar, n in data_g]


def _group_terms(mg, x, data, derivatives=True, weights=None, hessian=True, only=None):
    """χ²(θ) = Σ_g (N_g − 1)·F_g, its gradient and Gauss-Newton Hessian (``hessian=False``:
    the gradient only; ``only``: the terms of these groups only); ``weights`` replace the
    N_g − 1 (for the information: see :func:`gls_group_information`)."""
    chisq = 0.0
    grad = np.zeros(mg.npar)
    H = np.zeros((mg.npar, mg.npar))
    for g, (S, xbar, n) in enumerate(data):
        if only is not None and g not in only:
            continue
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
        if not hessian:
            continue
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


#: The Newton phase stops when the largest gradient has grown this many times beyond the
#: smallest one met: the criterion still falls, but along a valley that leads away from every
#: stationary point (estimates running off to infinity), where more iterations only cost time.
RUNAWAY = 1e3


def gls_group_optimum(mg, data, x0, *, gtol: float = 1e-9, max_iter: int = 200):
    """Gauss-Newton with step halving on Σ_g (N_g − 1)·F_g; returns (x, χ², max|g|,
    iterations, converged, why) with ``why`` a sentence when it stopped unconverged.

    A minimum that is not reached at finite values (e.g. a factor whose variance goes to 0
    while its loadings grow without bound: the criterion keeps falling) is given up once the
    largest gradient has grown :data:`RUNAWAY`-fold beyond its smallest value (lavaan's
    optimizer does not converge on such a model either)."""
    x = np.asarray(x0, dtype=float).copy()
    f, g, H = _group_terms(mg, x, data)
    it = 0
    gmin = np.inf
    in_groups = [set() for _ in range(mg.npar)]
    for p_ in mg.params:
        if p_.fixed is None:
            in_groups[mg.numbers[p_.key]].add(p_.group)
    for it in range(1, max_iter + 1):
        gmax = float(np.max(np.abs(g))) if len(g) else 0.0
        if gmax < gtol:
            return x, f, gmax, it, True, ""
        gmin = min(gmin, gmax)
        if gmax > RUNAWAY * gmin:
            k = int(np.argmax(np.abs(x)))
            row = next(p_ for p_ in mg.params
                       if p_.fixed is None and mg.numbers[p_.key] == k)
            where = f" in group {mg.groups[row.group]}" if len(mg.groups) > 1 else ""
            return x, f, gmax, it, False, (
                f"the GLS criterion keeps falling while estimates run off (largest: "
                f"{row.lhs} {row.op} {row.rhs}{where} = {x[k]:.4g}; max |gradient| grew "
                f"from {gmin:.2g} to {gmax:.2g}): no minimum at finite values")

        def value(z):
            try:
                return _group_terms(mg, z, data, derivatives=False)[0]
            except (np.linalg.LinAlgError, EstimationError):
                return np.inf

        if it > 20:
            # far from a perfect fit Gauss-Newton crawls (a weak loading in a small group):
            # Newton steps with the Hessian from central differences of the analytic gradient
            # (a parameter moves the terms of its own groups only)
            h = 1e-6
            cols = []
            for k in range(len(x)):
                e = np.zeros(len(x))
                e[k] = h
                cols.append((_group_terms(mg, x + e, data, hessian=False, only=in_groups[k])[1]
                             - _group_terms(mg, x - e, data, hessian=False,
                                            only=in_groups[k])[1]) / (2 * h))
            Hn = np.array(cols)
            Hn = (Hn + Hn.T) / 2
            if np.all(np.linalg.eigvalsh(Hn) > 0):
                H = Hn
        moved = damped_step(value, x, H, g, lambda fn, f=f: np.isfinite(fn) and fn <= f + 1e-12,
                            t_min=1e-10)
        if moved is None:
            return x, f, gmax, it, gmax < 1e-6, ""
        x = moved[0]
        f, g, H = _group_terms(mg, x, data)
    gmax = float(np.max(np.abs(g))) if len(g) else 0.0
    return x, f, gmax, it, gmax < gtol, ""


def gls_group_measures(mg, x, data, chisq: float, npar: int) -> pd.Series:
    """lavaan's fitMeasures() of a GLS fit with a mean structure in G ≥ 1 groups: χ² and the
    GLS baseline (per group the independence model with free means, :func:`gls_baseline`:
    free variances, and free covariances among the exogenous covariates ``mg.spec.free_x``)
    summed over groups; the χ²-based indices with lavaan's N for least squares, N − G;
    RMR/SRMR/CRMR and GFI (GLS weight: S_g⁻¹ for means and ½D'(S_g⁻¹⊗S_g⁻¹)D for covariances)
    per group, averaged with weights N_g/N.  GLS holds no covariate at its sample moments
    (lavaan's fixed.x = FALSE), so every mean and covariance is a data point."""
    from ..measures.fitmeasures import (RESIDUAL_NAMES, chisq_measures, gfi_measures,
        in_lavaan_order, residual_measures)

    if mg.fixed_x:
        raise EstimationError("GLS frees the exogenous covariates' moments: fit it with "
                              "spec.free_covariates(spec)")
    G = len(data)
    N = float(sum(d[2] for d in data))
    p = len(mg.obs)
    xi = [mg.obs.index(v) for v in mg.spec.free_x]
    nx = len(xi)
    ndat = n_moments(p, means=True, groups=G)        # the covariates' moments are data here
    df = ndat - npar
    chisq_b = 0.0
    res, gfis = [], []
    for g, (S, xbar, n) in enumerate(data):
        V = np.linalg.inv(S)
        E = (S - gls_baseline(S, xi)) @ V
        chisq_b += (n - 1) * 0.5 * float(np.sum(E * E.T))
        Sigma, mu, _ = mg.moments(x, g)
        res.append(residual_measures(S, Sigma, xbar, mu))

        def form(m, C, V=V):
            CV = C @ V
            return float(m @ V @ m + 0.5 * np.sum(CV * CV.T))

        xb = np.asarray(xbar, dtype=float)
        gfis.append(1 - form(xb - mu, S - Sigma) / form(xb, S))
    df_b = n_moments(p, n_fixed_x=nx, means=True, groups=G) - 2 * G * (p - nx)  # y means, vars
    values = chisq_measures(chisq, df, chisq_b, df_b, N - G, npar, ntotal=N, groups=G)
    for k in RESIDUAL_NAMES:
        values[k] = float(sum(d[2] * r[k] for d, r in zip(data, res)) / N)
    gfi = float(sum(d[2] * v for d, v in zip(data, gfis)) / N)
    values.update(gfi_measures(gfi, ndat, df))
    values["npar"] = npar
    return in_lavaan_order(values, likelihood=False)
