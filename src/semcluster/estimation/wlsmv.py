"""WLSMV: diagonally weighted least squares on polychoric correlations, with robust standard
errors and a mean-and-variance adjusted (scaled and shifted) test statistic.

This is lavaan's ``estimator = "WLSMV"`` with the model's items declared ``ordered`` (Muthén,
du Toit & Spisic 1997; Asparouhov & Muthén 2010):

* **Sample statistics** s = (thresholds τ, polychoric correlations ρ in vechs order) and their
  asymptotic covariance Γ (:mod:`.polychoric`).
* **Model** (delta parameterization, single group): y* = Λη + ε with unit variances, so the
  model-implied correlation matrix is Σ*(θ) = off-diagonal of ΛΨΛᵀ + Θ, the residual variances
  of the items are *not* parameters but 1 − diag(ΛΨΛᵀ)_jj, and the thresholds are free.
* **Estimates**: minimise F = (s − σ(θ))ᵀ W (s − σ(θ)) with W = diag(Γ)⁻¹ (DWLS).  The thresholds
  are saturated and equal their sample values; θ solves a non-linear least-squares problem
  (trust-region, analytic Jacobian Δ = ∂σ/∂θᵀ), started from an ML fit to the polychoric matrix.
* **Standard errors** (lavaan ``se = "robust.sem"``):
  V = (N − 1)⁻¹ (ΔᵀWΔ)⁻¹ ΔᵀWΓWΔ (ΔᵀWΔ)⁻¹ (lavaan uses N − 1 for least-squares estimators).
* **Test**: T = (N − 1)·F.  With U = W − WΔ(ΔᵀWΔ)⁻¹ΔᵀW, a = √(df / tr[(UΓ)²]),
  b = df − a·tr(UΓ), the scaled-and-shifted statistic is T* = a·T + b (lavaan's
  ``test = "scaled.shifted"``, reported with ``chisq_scaling_factor`` = 1/a and, in ``info``,
  ``chisq_shift_parameter`` = b).  The baseline model has free thresholds and zero correlations.

The ``*_robust`` CFI/TLI/RMSEA are lavaan's for categorical data (``lav_fit_catml_dwls``, see
:func:`_catml_robust`).

Missing answers: listwise, or lavaan's ``missing = "pairwise"`` (see :func:`fit`).

**Exogenous observed covariates** (lavaan's ``fixed.x = TRUE`` with its categorical default
``conditional.x = TRUE``): the first stage is an ordered probit regression of each item on the
covariates (thresholds τ at x = 0 and slopes) and the residual polychoric correlations given x
(:func:`.polychoric.conditional_polychoric`); the statistics are (τ, slopes Π, residual
correlations), the model-implied Π = Cov(y*, x) and residual covariance Σ_yy − ΠΠᵀ are those of
the RAM structure with Cov(x) = I, and the items' residual variances make Var(y* | x) = 1.
The baseline keeps thresholds and slopes free. The standardized solution uses the covariates'
sample covariance (N − 1 divisor, as lavaan). Complete data only; lavaan reports no
``*_robust`` CFI/TLI/RMSEA here, and neither does this module.

**Theta parameterization** (lavaan's ``parameterization = "theta"``): the same model with the
items' residual variances fixed at 1; the solution is the delta one rescaled
(:class:`ThetaParameterization`), its covariance matrix by the delta method. Models with
equality constraints or several fixed loadings per factor are refused with theta.

**A mix of ordinal and continuous items** (lavaan's ``ordered =`` naming only some items):
the first stage adds each continuous item's mean and variance, polyserial correlations
(two-step ML) with the ordinal items and covariances among the continuous ones
(:func:`.polychoric.mixed_correlations`, Γ as lavaan's ``muthen1984`` in the covariance
metric). The statistics are (thresholds and means, variances of the continuous items, the
off-diagonal (co)variances); the continuous items have free residual variances, their means are
saturated and listed as intercepts (``~1``).

**Groups** (lavaan's ``group =`` with ``ordered =``): the configural model, every parameter
free in each group, each group with its own thresholds, polychorics, Γ and weights; or with
``group_equal`` (lavaan's classes, its defaults for the scale factors and latent means of
groups 2..G); standard errors, the scaled-and-shifted test and the fit measures on lavaan's
multi-group scale (:func:`fit_groups`).

Not implemented (refused with a message naming it): groups with ``c(...)`` labels, ``:=``,
``group_equal = residuals`` or missing answers, constraints across groups together with
covariates or the theta parameterization; covariates with missing answers; a mix of ordinal and continuous
items with missing answers or together with covariates.
"""
from __future__ import annotations

import dataclasses
import math

import numpy as np
import pandas as pd
from scipy import optimize

from ..errors import DataError, EstimationError, OptionError
from ..model import RAM
from ..result.builder import assemble_result
from ._structure import (CovarianceStructure, invert_information, numerical_jacobian,
                         vechs_indices)

ESTIMATOR = "WLSMV"


class OrdinalModel:
    """The delta-parameterized correlation structure of a spec with ordinal indicators.

    Parameters of the fit are the spec's free parameters except the residual variances of the
    ordinal items (``reduced``); the full vector fills those so that diag Σ* = 1.
    """

    def __init__(self, spec, ordered: list[str]):
        self.spec = spec
        pt = spec.partable
        obs = spec.observed
        # exogenous covariates (fixed.x, lavaan's conditional.x = TRUE): the model is fitted to
        # the items' thresholds, probit slopes Π and residual correlations given x; Π and the
        # conditional covariance do not depend on the covariates' own covariance, which is set
        # to I here (Π is then the items' covariance with x)
        self.fixed_x = list(spec.fixed_x)
        fx_cov = (pd.DataFrame(np.eye(len(self.fixed_x)), index=self.fixed_x,
                               columns=self.fixed_x) if self.fixed_x else None)
        self.structure = CovarianceStructure(spec, fixed_x_cov=fx_cov)
        self.y_idx = [i for i, v in enumerate(obs) if v not in set(self.fixed_x)]
        self.x_idx = [obs.index(v) for v in self.fixed_x]
        self.items = [obs[i] for i in self.y_idx]
        self.p = len(self.y_idx)
        # continuous items (a mix, lavaan's ``ordered =`` naming only some): their variances
        # and covariances are fitted, their means are saturated, their residual variances free
        self.numeric = [v for v in self.items if v not in set(ordered)]
        self.num_idx = [self.items.index(v) for v in self.numeric]
        if self.numeric and self.fixed_x:
            raise EstimationError(
                f"WLSMV with continuous items ({', '.join(self.numeric)}) and exogenous "
                f"covariates ({', '.join(self.fixed_x)}) together is not implemented (the "
                f"conditional first stage would need linear regressions of the continuous items "
                f"and conditional polyserial correlations, and lavaan 0.6.14's own are "
                f"degenerate on the test data, so there is no reference); declare every item "
                f"ordered, or drop the covariates")
        if len(self.numeric) == len(self.items):
            raise EstimationError("WLSMV needs at least one ordinal item: declare the ordinal "
                                  "items with ordered=, or use estimator ML/MLR for continuous "
                                  "items")
        for _, r in pt[pt.op.isin(["~", "=~"])].iterrows():
            pred = r.rhs if r.op == "~" else r.lhs
            if pred in ordered and pred not in self.fixed_x:
                raise EstimationError(f"{spec.source}: ordinal item '{pred}' predicts another "
                                      f"variable ('{r.lhs} {r.op} {r.rhs}'); with WLSMV ordinal "
                                      f"items may only be outcomes or indicators here")
        ordinal = [v for v in self.items if v not in set(self.numeric)]
        res_rows = pt[(pt.op == "~~") & (pt.lhs == pt.rhs) & pt.lhs.isin(ordinal)]
        free_counts = pt[pt["free"] > 0]["free"].value_counts()
        self.resvar_free = []
        self.resvar_item = []
        for _, r in res_rows.iterrows():
            if r["free"] == 0:
                raise EstimationError(
                    f"{spec.source}:{r.line}: '{r.lhs} ~~ {r.rhs}' fixes the residual variance of "
                    f"an ordinal item; with WLSMV (delta parameterization) it is 1 minus the "
                    f"explained variance: remove the statement")
            if free_counts.get(r["free"], 0) > 1:
                raise EstimationError(
                    f"{spec.source}:{r.line}: the residual variance of ordinal item '{r.lhs}' "
                    f"shares a label with another parameter; not possible with WLSMV")
            self.resvar_free.append(int(r["free"]) - 1)
            self.resvar_item.append(self.items.index(r.lhs))
        q = self.structure.q
        self.keep = np.array([k for k in range(q) if k not in set(self.resvar_free)], dtype=int)
        self.q_red = len(self.keep)
        self.rows, self.cols = vechs_indices(self.p)
        self.n_slopes = self.p * len(self.x_idx)

    def moments(self, x: np.ndarray):
        """Covariance of the items' y* given the covariates, and the slopes Π (items × x;
        None without covariates)."""
        S = self.structure.sigma(x)
        y = self.y_idx
        Syy = S[np.ix_(y, y)]
        if not self.x_idx:
            return Syy, None
        Pi = S[np.ix_(y, self.x_idx)]
        return Syy - Pi @ Pi.T, Pi

    def full(self, theta: np.ndarray) -> np.ndarray:
        """Full parameter vector: residual variances of the items set so that diag Σ* = 1."""
        x = np.zeros(self.structure.q)
        x[self.keep] = theta
        S0, _ = self.moments(x)
        for k, j in zip(self.resvar_free, self.resvar_item):
            x[k] = 1.0 - S0[j, j]
        return x

    def sigma(self, theta: np.ndarray) -> np.ndarray:
        """Model-implied slopes (item by item, with covariates) and polychoric correlations
        (vechs order)."""
        S, Pi = self.moments(self.full(theta))
        r = S[self.rows, self.cols]
        if self.num_idx:
            r = np.concatenate([S[self.num_idx, self.num_idx], r])
        return r if Pi is None else np.concatenate([Pi.ravel(), r])

    def jacobian(self, theta: np.ndarray) -> np.ndarray:
        """∂σ/∂θᵀ; slopes and off-diagonal elements do not involve residual variances."""
        Sigma, D = self.structure.jacobian(self.full(theta))
        D = D[self.keep]
        y = self.y_idx
        Dyy = D[:, y][:, :, y]
        if not self.x_idx:
            J = Dyy[:, self.rows, self.cols].T
            if self.num_idx:
                J = np.vstack([Dyy[:, self.num_idx, self.num_idx].T, J])
            return J
        xi = self.x_idx
        Pi = Sigma[np.ix_(y, xi)]
        dPi = D[:, y][:, :, xi]
        dS = Dyy - dPi @ Pi.T - np.matmul(Pi, dPi.transpose(0, 2, 1))
        k = len(self.keep)
        return np.hstack([dPi.reshape(k, -1), dS[:, self.rows, self.cols]]).T

    def full_jacobian(self, theta: np.ndarray) -> np.ndarray:
        """∂x_full/∂θᵀ (q × q_red), for the delta method on standardized values."""
        return numerical_jacobian(self.full, theta, rel_step=1e-6)


def _start_values(model: OrdinalModel, R: np.ndarray, n: int, Pi=None) -> np.ndarray:
    """ML fit to the polychoric matrix (made positive definite if need be) as start values;
    with covariates, to the joint matrix of (y*, x) with Cov(x) = I, Cov(y*, x) = Π."""
    from .engine import MLEngine

    ev, vec = np.linalg.eigh(R)
    if ev.min() < 1e-3:
        ev = np.maximum(ev, 1e-3)
        R = vec @ np.diag(ev) @ vec.T
        d = 1 / np.sqrt(np.diag(R))
        R = R * np.outer(d, d)
    obs = model.spec.observed
    if Pi is not None:
        y, xi = model.y_idx, model.x_idx
        J = np.eye(len(obs))
        J[np.ix_(y, y)] = R + Pi @ Pi.T
        J[np.ix_(y, xi)] = Pi
        J[np.ix_(xi, y)] = Pi.T
        R = J
    engine = MLEngine(model.spec)
    try:
        engine.load(pd.DataFrame(R, index=obs, columns=obs), n, None)
        opt = engine.fit()
        x = opt.x
    except Exception:  # noqa: BLE001 - any trouble: fall back to neutral starts
        x = engine.get_x() if hasattr(engine, "get_x") else np.full(model.structure.q, 0.5)
    theta = np.asarray(x, dtype=float)[model.keep]
    return np.where(np.isfinite(theta), theta, 0.5)


def dwls_estimate(model: OrdinalModel, r: np.ndarray, w: np.ndarray, theta0: np.ndarray):
    """Minimise Σ w (r − σ(θ))² from θ0; returns (θ, converged, message)."""
    sw = np.sqrt(w)

    def resid(t):
        try:
            return sw * (r - model.sigma(t))
        except (EstimationError, np.linalg.LinAlgError):
            return np.full(len(r), 1e6)

    def jac(t):
        return -sw[:, None] * model.jacobian(t)

    res = optimize.least_squares(resid, theta0, jac=jac, method="trf", xtol=1e-14, ftol=1e-15,
                                 gtol=1e-12, max_nfev=2000)
    g = jac(res.x).T @ resid(res.x)
    ok = bool(res.success) and float(np.max(np.abs(g))) < 1e-6
    return res.x, ok, str(res.message)


def fit(spec, X: pd.DataFrame, *, ordered=None, report=None, missing: str = "listwise",
        parameterization: str = "delta", estimator=None):
    """Fit a model to ordinal items by WLSMV.

    Parameters
    ----------
    spec : ModelSpec
    X : DataFrame
        Answers of the model's observed variables (whole-number categories).
    ordered : list of str, optional
        Items declared ordinal (default: all of the model's observed variables).
    report : DataReport, optional
    missing : {"listwise", "pairwise"}
        ``listwise`` needs complete answers; ``pairwise`` is lavaan's ``missing = "pairwise"``:
        thresholds from each item's answers, correlations from the rows answering both items,
        N the number of rows.
    parameterization : {"delta", "theta"}
        lavaan's ``parameterization``: ``delta`` (default) scales y* to unit variance (given
        the covariates); ``theta`` fixes the items' residual variances at 1 instead. The two
        are the same model (same χ², fit indices and standardized solution); the theta
        estimates and their robust SEs follow from the delta ones by the delta method
        (:class:`ThetaParameterization`).

    Returns
    -------
    SEMResult
        ``estimator == "WLSMV"``; threshold rows (``op == "|"``, ``rhs == "t1"`` ...) in the
        estimates; ``sample_cov`` holds the polychoric correlations; fit measures as lavaan's
        for WLSMV (``chisq`` is the DWLS statistic, ``chisq_scaled`` the scaled-and-shifted
        one): exactly the names lavaan's fitMeasures() lists for WLSMV, so no
        likelihood-based measures (logl, AIC, BIC); the shift parameters of the scaled test
        are in ``info`` (``chisq_shift_parameter``, ``baseline_chisq_shift_parameter``).
    """
    return _fit_block(spec, X, ordered=ordered, report=report, missing=missing,
                      parameterization=parameterization, estimator=estimator)[0]


def _fit_block(spec, X: pd.DataFrame, *, ordered=None, report=None,
               missing: str = "listwise", parameterization: str = "delta",
               estimator=None):
    """:func:`fit`, returning also the parts a multi-group fit combines (one block = one
    group: :func:`fit_groups`): the statistics, traces and per-block measures."""
    from .polychoric import polychoric

    if parameterization not in ("delta", "theta"):
        raise EstimationError(f"parameterization '{parameterization}' is not available; use "
                              f"'delta' or 'theta'")
    obs = list(spec.observed)
    fixed_x = list(spec.fixed_x)
    items = [v for v in obs if v not in set(fixed_x)]
    ordered = list(items if ordered is None else ordered)
    if fixed_x and set(obs) <= set(ordered):
        # "every variable ordered" (the default when nothing is declared) means the items:
        # covariates enter as observed values
        ordered = items
    bad = [v for v in fixed_x if v in ordered]
    if bad:
        raise EstimationError(f"exogenous covariate(s) {', '.join(bad)} declared ordered: with "
                              f"WLSMV covariates enter as observed values (lavaan's "
                              f"conditional.x); code a categorical covariate as 0/1 dummies and "
                              f"do not declare it ordered")
    given = X                           # the rows given, kept for predict()
    X = X[obs]
    if missing not in ("listwise", "pairwise"):
        raise EstimationError(f"WLSMV with missing='{missing}' is not implemented; use "
                              f"'listwise' or 'pairwise'")
    if missing == "listwise" and X.isna().to_numpy().any():
        raise EstimationError("WLSMV with missing='listwise' needs complete answers: prepare "
                              "the data with missing='listwise', or use missing='pairwise'")
    from .identification import check_identification

    model = OrdinalModel(spec, ordered)
    ident = check_identification(spec, jacobian=model.jacobian, keep=model.keep)
    Pi = None
    mixed = any(v not in set(ordered) for v in items)
    if mixed:
        from .polychoric import mixed_correlations

        if X.isna().to_numpy().any():
            raise EstimationError(
                "WLSMV with continuous items is implemented for complete data only; "
                "missing='pairwise' with a mix of ordinal and continuous items is not: use "
                "complete rows (missing='listwise')")
        pc = mixed_correlations(X[items], [v for v in items if v in set(ordered)])
        R = pc.cov.to_numpy()
    elif fixed_x:
        from .polychoric import conditional_polychoric

        if X.isna().to_numpy().any():
            raise EstimationError(
                "WLSMV with exogenous covariates (conditional.x) is implemented for complete "
                "data only; missing='pairwise' with covariates is not: use complete rows "
                "(missing='listwise')")
        pc = conditional_polychoric(X[items], X[fixed_x])
        Pi = pc.slopes.to_numpy()
    else:
        pc = polychoric(X, gamma=True, missing=missing)
    if not mixed:
        R = pc.correlation.to_numpy()
    n = pc.nobs
    tau = pc.thresholds.to_numpy()
    n_th = len(tau)
    G = pc.gamma
    pstar = len(model.rows)
    r = R[model.rows, model.cols]
    if mixed:
        r = np.concatenate([np.diag(R)[model.num_idx], r])   # variances of continuous items
    if Pi is not None:
        r = np.concatenate([Pi.ravel(), r])        # the sample statistics after the thresholds
    W_all = 1.0 / np.diag(G)
    w = W_all[n_th:]
    if not np.all(np.isfinite(W_all)) or np.any(np.diag(G) <= 0):
        raise EstimationError("the asymptotic variances of the polychoric correlations are not "
                              "all positive (empty categories or perfectly related items?)")
    to_theta = (ThetaParameterization(model, [t.split("|")[0] for t in pc.thresholds.index])
                if parameterization == "theta" else None)
    theta0 = _start_values(model, R, n, Pi)
    theta, converged, msg = dwls_estimate(model, r, w, theta0)
    x_full = model.full(theta)

    # ---- robust covariance of (θ, τ) -----------------------------------------------------
    q = model.q_red
    nr = len(r)
    Delta = np.zeros((n_th + nr, q + n_th))
    Delta[:n_th, q:] = np.eye(n_th)
    Delta[n_th:, :q] = model.jacobian(theta)
    WD = W_all[:, None] * Delta
    H = Delta.T @ WD                                  # ΔᵀWΔ
    Hinv, vcov_ok = invert_information(H)
    # lavaan divides by N − 1 (N − G groups) for the least-squares estimators
    # (lav_model_vcov; the test statistic likewise uses N − 1)
    V = Hinv @ (WD.T @ G @ WD) @ Hinv / (n - 1) if vcov_ok else np.full(H.shape, np.nan)

    # the parts of a nested-model test, in the delta metric (before any theta conversion)
    difftest = DifftestParts(delta=Delta, weights=W_all, gamma=G,
                             statistics=np.concatenate([tau, r]))

    # ---- test statistics -------------------------------------------------------------------
    resid = r - model.sigma(theta)
    T = float((n - 1) * np.sum(w * resid ** 2))
    df = nr - q
    # baseline: thresholds (and slopes) free, correlations zero
    wc, rc = w[nr - pstar:], r[nr - pstar:]
    Tb = float((n - 1) * np.sum(wc * rc ** 2))
    df_b = pstar
    G_rr = G[n_th:, n_th:]
    G_cc = G[n_th + nr - pstar:, n_th + nr - pstar:]
    tr1 = tr2 = np.nan
    if vcov_ok:
        Dr = Delta[n_th:, :q]
        Hr = Dr.T @ (w[:, None] * Dr)
        U = np.diag(w) - (w[:, None] * Dr) @ np.linalg.solve(Hr, (w[:, None] * Dr).T)
        UG = U @ G_rr
        tr1, tr2 = float(np.trace(UG)), float(np.sum(UG * UG.T))
    if vcov_ok and df > 0:
        a = math.sqrt(df / tr2)
        b = df - a * tr1
    else:
        a = b = np.nan
    WG = wc[:, None] * G_cc
    tr1b, tr2b = float(np.trace(WG)), float(np.sum(WG * WG.T))
    a_b = math.sqrt(df_b / tr2b)
    b_b = df_b - a_b * tr1b
    plain = not fixed_x and not mixed
    values = _fit_measures(T, df, Tb, df_b, n, q + n_th, a, b, a_b, b_b, R, model, theta, tau,
                           W_all, r, int(sum(not str(t).endswith("|mean")
                                             for t in pc.thresholds.index)))
    # lavaan gives the catML robust indices for neither covariates nor a mix of items
    catml = _catml_parts(R if vcov_ok and plain else None, model, theta, w, G_rr, n)
    values.update(_catml_robust(catml, n - 1, df, len(model.rows)))
    parts = {"T": T, "df": df, "Tb": Tb, "df_b": df_b, "tr1": tr1, "tr2": tr2,
             "tr1b": tr1b, "tr2b": tr2b, "n": n, "npar": q + n_th, "nel": n_th + nr,
             "vcov_ok": vcov_ok, "catml": catml, "values": values, "converged": converged,
             "message": msg}
    from ..measures.fitmeasures import in_lavaan_order

    fm = in_lavaan_order(values, likelihood=False, scaled=True, robust=True, categorical=True)
    # lavaan prints the shift parameters of the scaled-shifted test but does not list them
    # among its fit measures
    shift = {k: values.get(k, np.nan) for k in ("chisq_shift_parameter",
                                                "baseline_chisq_shift_parameter")}

    fx_cov = None
    if fixed_x:
        xa = X[fixed_x].to_numpy(dtype=float)
        xa = xa - xa.mean(axis=0)
        # lavaan's categorical sample statistics hold the covariates' covariance with the
        # N − 1 divisor (it enters only the standardized solution and R²)
        fx_cov = pd.DataFrame(xa.T @ xa / (len(xa) - 1), index=fixed_x, columns=fixed_x)
    full = model.full
    if to_theta is not None:
        z = np.concatenate([theta, tau])
        if vcov_ok:
            J = numerical_jacobian(to_theta, z, rel_step=1e-7)
            V = J @ V @ J.T
        z = to_theta(z)
        theta, tau = z[:q], z[q:]
        full = to_theta.full
        x_full = full(theta)
    # the matrix fitted: polychoric correlations (with continuous items: their covariances and
    # polyserial correlations times SD), and the model's, given the covariates
    fitted = pc.cov if hasattr(pc, "cov") else pc.correlation
    items = list(model.items)
    Sigma, _ = model.moments(x_full)
    notes = []
    ev = np.linalg.eigvalsh(fitted.to_numpy())
    if ev.min() <= 0:
        notes.append(f"the polychoric correlation matrix is not positive definite (smallest "
                     f"eigenvalue {ev.min():.3g}); DWLS still works, but check for sparse "
                     f"categories")
    # difftest: what a nested-model test needs (chisq_difference), kept with this result
    # object but not saved with it: Γ alone has (statistics)² numbers, 9.5 MB of JSON for the
    # study model
    res = assemble_result(
        spec, None, x_full, fitted, n, converged=converged, message=msg, report=report,
        estimator=estimator or ESTIMATOR, vcov=V, vcov_ok=vcov_ok, measures=fm,
        implied=pd.DataFrame(Sigma, index=items, columns=items), fixed_x_cov=fx_cov,
        reduced=(model.keep, full),
        extra_rows=_threshold_rows(spec, pc, tau, V, vcov_ok, q, x_full, fx_cov,
                                   theta=theta, full=full,
                                   rescaled=to_theta is not None or mixed),
        info={"test": "scaled.shifted", "se": "robust.sem",
              "thresholds": pc.thresholds.copy(), "parameterization": parameterization,
              **shift},
        warnings=notes, identification=ident, data=given, difftest=difftest)
    return res, parts


def check_groups_supported(spec, *, group_equal=(), group_partial=(), missing=None,
                           parameterization=None) -> None:
    """Refuse, in one line each, what a multi-group WLSMV fit does not do yet: it fits
    lavaan's configural model (every parameter free in every group) and ``group_equal``
    over the classes of :data:`WLSMV_GROUP_EQUAL` (with ``group_partial``, thresholds too:
    ``"x3|t1"``), labels (one parameter in every group); not ``c(...)`` modifiers,
    ``residuals``, defined parameters, ``~ 1`` rows, nor constraints with covariates; complete
    rows only (``missing='listwise'``), delta parameterization."""
    what = None
    pt = spec.partable
    labels = sorted({str(r.label) for r in pt.itertuples() if r.label and r.op != ":="})
    if group_partial and not group_equal:
        what = "group_partial without group_equal (nothing to free)"
    elif set(group_equal or ()) - set(WLSMV_GROUP_EQUAL):
        bad = sorted(set(group_equal) - set(WLSMV_GROUP_EQUAL))
        what = (f"group_equal = {', '.join(bad)} (the residual variances of ordinal items are "
                f"not parameters in the delta parameterization; the classes built are "
                f"{', '.join(WLSMV_GROUP_EQUAL)})")
    elif (group_equal or labels) and spec.fixed_x:
        what = (f"group_equal or labels with exogenous covariates "
                f"({', '.join(spec.fixed_x)})")
    elif spec.has_group_modifiers:
        what = "c(...) modifiers (per-group values)"
    elif spec.has_means:
        what = "'~ 1' rows (with ordered items the intercepts of y* are fixed at 0)"
    elif len(spec.defined):
        what = "defined parameters (':=')"
    if what is not None:
        raise OptionError(f"WLSMV with groups fits the configural model and group_equal "
                          f"constraints only; {what} is not implemented: fit without it, or by "
                          f"group one at a time")
    if missing not in (None, "auto", "listwise"):
        raise OptionError(f"WLSMV with groups and missing='{missing}' is not implemented; "
                              f"use complete rows (missing='listwise')")
    if parameterization not in (None, "delta") and (group_equal or labels):
        raise OptionError(f"WLSMV with groups, constraints across them and "
                          f"parameterization='{parameterization}' is not implemented; use the "
                          f"default 'delta' (the configural model takes 'theta')")


def fit_groups(spec, X: pd.DataFrame, group: str, *, ordered=None, report=None,
               estimator=None, group_equal=(), group_partial=(),
               parameterization: str = "delta"):
    """The configural multi-group WLSMV fit: lavaan's ``sem(..., ordered =, group =)``
    (delta parameterization; thresholds, loadings and every other parameter free in each
    group, scale factors 1, intercepts of y* and latent means 0 in every group).

    ``X`` holds the complete rows of the model's variables and the ``group`` column; groups
    in the order of their first row (lavaan's).  Each group has its own thresholds,
    polychoric correlations, Γ_g (N_g-scaled), DWLS weights W_g = diag(Γ_g)⁻¹ and Δ_g.
    lavaan's objective Σ_g (N_g − 1)·F_g (``lav_model_objective``: ½(N_g − 1)/N_g·F_g
    averaged with weights N_g) has no parameter shared between groups, so its optimum is each
    group's own DWLS optimum (:func:`fit` per group).  Then, as lavaan
    (``lav_model_nvcov_robust_sem``, ``lav_test_satorra_bentler``, ``lav_fit_*``), with
    f_g = N_g/N:

    * V = (N − G)⁻¹ E⁻¹ [Σ_g f_g Δ_gᵀW_gΓ_gW_gΔ_g] E⁻¹, E = Σ_g f_g Δ_gᵀW_gΔ_g; with no
      shared parameter E is block-diagonal and group g's block is its one-group covariance
      (divisor N_g − 1) times (N_g − 1)·N / (N_g·(N − G));
    * T = Σ_g (N_g − 1)·F_g; the scaled-and-shifted statistic from one pair of traces of UΓ
      over all groups (U and Γ block-diagonal with the f_g weights, which cancel per block):
      a = √(df / Σ tr[(U_gΓ_g)²]), b = df − a·Σ tr(U_gΓ_g); the baseline (thresholds free,
      correlations 0 in each group) likewise;
    * fit indices with N − G (lavaan's N for least squares) and RMSEA × √G; RMR/SRMR/CRMR
      and GFI per group weighted by N_g/N, AGFI/PGFI over every group's statistics; WRMR
      = √(T / the first group's number of statistics) (``lav_fit_wrmr`` reads group 1);
    * the robust CFI/TLI/RMSEA from the catML statistics summed over groups
      (``lav_fit_catml_dwls``), the baseline trace Σ_g tr(Γ_g)/f_g as lavaan's.

    Returns a :class:`SEMResult` with lavaan's ``group`` column (1..G), per-group moments
    (the polychoric and implied correlation matrices) and every ``fitMeasures()`` name.
    """
    from ..measures.fitmeasures import (RESIDUAL_NAMES, chisq_measures, gfi_measures,
        in_lavaan_order)
    from ..result.result import GroupMoments
    from ..result.builder import blocks_result, wald_columns
    from ..measures.scaled import scaled_measures

    values_g = list(pd.unique(X[group]))
    labels = [str(v) for v in values_g]
    pt = spec.partable
    if group_equal or any(bool(r.label) for r in pt.itertuples() if r.op != ":="):
        return _fit_groups_equal(spec, X, group, values_g, labels, ordered=ordered,
                                 report=report, estimator=estimator, group_equal=group_equal,
                                 group_partial=group_partial)
    fits, parts = [], []
    for v, lab in zip(values_g, labels):
        Xg = X[X[group] == v].drop(columns=[group])
        try:
            r, pt = _fit_block(spec, Xg, ordered=ordered, report=None, missing="listwise",
                               estimator=estimator, parameterization=parameterization)
        except (EstimationError, DataError) as err:
            raise type(err)(f"group '{lab}': {err}") from None
        fits.append(r)
        parts.append(pt)
    G = len(fits)
    nobs = np.array([pt["n"] for pt in parts], dtype=float)
    N = float(nobs.sum())
    n_ls = N - G

    # ---- estimates: each group's rows, standard errors on lavaan's multi-group scale ------
    tables, blocks, names, x_all = [], [], [], []
    offset = 0
    for g, (r, pt) in enumerate(zip(fits, parts)):
        k = (pt["n"] - 1) * N / (pt["n"] * n_ls)
        t = r.estimates[["lhs", "op", "rhs", "label", "est", "se", "std_lv", "std_all",
                         "se_std_all", "free"]].copy()
        t["se"] = t["se"] * math.sqrt(k)
        t["se_std_all"] = t["se_std_all"] * math.sqrt(k)
        t["free"] = np.where(t["free"] > 0, t["free"] + offset, 0)
        t.insert(3, "group", g + 1)
        tables.append(t)
        V = r.vcov.to_numpy() * k
        blocks.append(V)
        names += [nm if g == 0 else f"{nm}.g{g + 1}" for nm in r.vcov.index]
        x_all.append(np.asarray(r.info["x"], dtype=float))
        offset += len(V)
    table = wald_columns(pd.concat(tables, ignore_index=True))
    vcov = np.zeros((offset, offset))
    i = 0
    for V in blocks:
        vcov[i:i + len(V), i:i + len(V)] = V
        i += len(V)
    vcov_ok = all(pt["vcov_ok"] for pt in parts)
    if not vcov_ok:
        vcov[:] = np.nan

    # ---- test statistics and fit measures -------------------------------------------------
    tot = {k: float(sum(pt[k] for pt in parts)) for k in ("T", "Tb", "tr1", "tr2", "tr1b",
                                                          "tr2b")}
    df = int(sum(pt["df"] for pt in parts))
    df_b = int(sum(pt["df_b"] for pt in parts))
    npar = int(sum(pt["npar"] for pt in parts))
    T, Tb = tot["T"], tot["Tb"]
    values = chisq_measures(T, df, Tb, df_b, n_ls, npar, ntotal=N, groups=G)
    gfi = float(sum(n_g * pt["values"]["gfi"] for n_g, pt in zip(nobs, parts)) / N)
    values.update(gfi_measures(gfi, int(sum(pt["nel"] for pt in parts)), df))
    values["wrmr"] = float(np.sqrt(T / parts[0]["nel"]))
    for name in RESIDUAL_NAMES:
        values[name] = float(sum(n_g * pt["values"][name] for n_g, pt in zip(nobs, parts))
                             / N)
    values["npar"] = npar
    a = b = np.nan
    if vcov_ok and df > 0:
        a = math.sqrt(df / tot["tr2"])
        b = df - a * tot["tr1"]
    a_b = math.sqrt(df_b / tot["tr2b"])
    b_b = df_b - a_b * tot["tr1b"]
    if np.isfinite(a):
        values.update(scaled_measures(pd.Series(values), chisq_scaled=a * T + b,
                                      df_scaled=df, scaling_factor=1 / a,
                                      baseline_chisq_scaled=a_b * Tb + b_b,
                                      baseline_df_scaled=df_b, baseline_scaling_factor=1 / a_b,
                                      n=n_ls, kind="scaled.shifted", shift=b,
                                      baseline_shift=b_b, robust=False, groups=G))
    cat = [pt["catml"] for pt in parts]
    catml = None
    if all(c is not None for c in cat):
        catml = {"X3": sum(c["X3"] for c in cat), "k": sum(c["k"] for c in cat),
                 "X3_null": sum(c["X3_null"] for c in cat),
                 # lavaan's baseline trace takes Γ_g / f_g without the f_g of the weights
                 "k_null": sum(c["k_null"] * N / n_g for c, n_g in zip(cat, nobs))}
    values.update(_catml_robust(catml, n_ls, df, df_b, groups=G))
    fm = in_lavaan_order(values, likelihood=False, scaled=True, robust=True, categorical=True)

    # ---- the result --------------------------------------------------------------------------
    moments = []
    for lab, r in zip(labels, fits):
        obs = list(r.implied_cov.index)
        lat = list(r.latent_cov.index)
        moments.append(GroupMoments(
            label=lab, nobs=int(r.nobs), sample_cov=r.sample_cov, sample_mean=pd.Series(
                0.0, index=obs), implied_cov=r.implied_cov,
            implied_mean=pd.Series(0.0, index=obs), latent_cov=r.latent_cov,
            latent_mean=pd.Series(0.0, index=lat), r2=r.r2))
    r2 = (pd.concat({m.label: m.r2 for m in moments}, names=["group", "variable"])
          if any(len(m.r2) for m in moments) else pd.Series(dtype=float))
    warnings_ = [f"group '{lab}': {w}" for lab, r in zip(labels, fits) for w in r.warnings]
    converged = all(r.converged for r in fits)
    info = {"x": np.concatenate(x_all), "optimizer": "; ".join(
                f"group '{lab}': {pt['message']}" for lab, pt in zip(labels, parts)),
            "missing": "listwise", "test": "scaled.shifted", "se": "robust.sem",
            "parameterization": parameterization, "chisq_shift_parameter": b,
            "baseline_chisq_shift_parameter": b_b,
            "thresholds": {lab: r.info["thresholds"] for lab, r in zip(labels, fits)},
            "chisq_by_group": [pt["T"] for pt in parts]}
    # the nested-test parts: each group's Δ over its own parameters, block-diagonal
    dparts = [getattr(r, "_difftest", None) for r in fits]
    difftest = None
    if all(d is not None for d in dparts):
        cols = sum(d.delta.shape[1] for d in dparts)
        deltas, c = [], 0
        for d in dparts:
            Dg = np.zeros((d.delta.shape[0], cols))
            Dg[:, c:c + d.delta.shape[1]] = d.delta
            c += d.delta.shape[1]
            deltas.append(Dg)
        difftest = _group_difftest(deltas, [d.weights for d in dparts],
                                   [d.gamma for d in dparts], [d.statistics for d in dparts],
                                   nobs)
    return blocks_result(
        spec, table=table, measures=fm, r2=r2, nobs=N, converged=converged,
        admissible=all(r.admissible for r in fits), warnings_=warnings_, vcov=vcov,
        names=names, report=report, estimator=estimator or ESTIMATOR, info=info,
        moments=moments, groups=labels, group_column=group, data=X, difftest=difftest)


#: The ``group_equal`` classes a multi-group WLSMV fit takes (lavaan's names); any set of them
#: (the intercepts of y* are 0 in every group, so ``intercepts`` only frees the latent means).
WLSMV_GROUP_EQUAL = ("loadings", "thresholds", "intercepts", "means", "regressions",
                     "lv.variances", "lv.covariances", "residual.covariances")


def _row_class(lhs, op, rhs, latent) -> str:
    """lavaan's ``group.equal`` class of a model row."""
    if op == "=~":
        return "loadings"
    if op == "~":
        return "regressions"
    if lhs == rhs:
        return "lv.variances" if lhs in latent else "residuals"
    return ("lv.covariances" if lhs in latent and rhs in latent else
            "residual.covariances")


def _partial_key(lhs, op, rhs) -> tuple:
    """A parameter's key for group_partial matching (``a ~~ b`` is ``b ~~ a``)."""
    if op == "~~":
        return (min(lhs, rhs), op, max(lhs, rhs))
    return (lhs, op, rhs)


class _EqualGroups:
    """Multi-group delta-parameterized model with parameters held equal across groups
    (lavaan's ``group.equal`` with ordered items): the rows of each class in ``group_equal``
    are one parameter in every group; as lavaan's defaults (``lav_partable_flat``), in groups
    2..G the scale factors δ (``~*~``) are free when the thresholds are equal, and the latent
    means α (``~1``) when the thresholds (or intercepts) are equal and the means are not;
    intercepts of y* are 0 everywhere; δ = 1 and α = 0 in group 1.

    Group g's unscaled y* have covariance Σ_g = ΛΨ_gΛᵀ + Θ_g with Θ_g,jj = 1/δ_j² −
    (ΛΨ_gΛᵀ)_jj (so var y*_j = 1/δ_j²) and means μ_g = Λ(I − B)⁻¹α_g; the fitted statistics
    are the standardized thresholds δ_j(τ_jk − μ_g,j) and the correlations of D_gΣ_gD_g,
    D_g = diag(δ_g) (lavaan's delta parameterization)."""

    def __init__(self, spec, ordered, threshold_items, group_equal, group_partial=(),
                 threshold_names=None):
        self.model = OrdinalModel(spec, ordered)
        m = self.model
        self.ram = RAM(spec)
        self.spec = spec
        n_groups = len(threshold_items)
        self.G = n_groups
        self.lat = list(spec.latent)
        self.lat_ix = [self.ram.ix[v] for v in self.lat]
        self.item_ix = [self.ram.ix[v] for v in m.items]
        self.th_item = [np.array([m.items.index(v) for v in items], dtype=int)
                        for items in threshold_items]
        equal = set(group_equal)
        self.free_delta = "thresholds" in equal
        self.free_alpha = bool({"thresholds", "intercepts"} & equal) and "means" not in equal
        pt = spec.partable
        latent = set(spec.latent)
        partial = {_partial_key(*e) for e in group_partial}
        # a parameter is one in every group when it carries a label (lavaan: a label written
        # once names one parameter in every group) or its class is in group_equal and it is
        # not freed by group_partial
        shared = {}
        for r in pt.itertuples():
            if r.free > 0 and r.op in ("=~", "~", "~~"):
                k_ = int(r.free) - 1
                one = bool(r.label) or (_row_class(r.lhs, r.op, r.rhs, latent) in equal
                                        and _partial_key(r.lhs, r.op, r.rhs) not in partial)
                shared[k_] = shared.get(k_, True) and one
        names = threshold_names or [[f"{v}|t{i}" for i, v in enumerate(items)]
                                    for items in threshold_items]
        self.idx_model, self.idx_tau, self.idx_delta, self.idx_alpha = [], [], [], []
        k = 0
        for g in range(n_groups):
            ix = []
            for j, kk in enumerate(m.keep):
                if g > 0 and shared.get(int(kk), False):
                    ix.append(self.idx_model[0][j])        # one parameter in every group
                else:
                    ix.append(k)
                    k += 1
            self.idx_model.append(np.array(ix, dtype=int))
            tau_ix = []
            for t_i, t in enumerate(names[g]):
                item, th = t.split("|")
                if g > 0 and "thresholds" in equal and (item, "|", th) not in partial:
                    tau_ix.append(self.idx_tau[0][t_i])
                else:
                    tau_ix.append(k)
                    k += 1
            self.idx_tau.append(np.array(tau_ix, dtype=int))
            if g > 0 and self.free_delta:
                self.idx_delta.append(np.arange(k, k + m.p))
                k += m.p
            else:
                self.idx_delta.append(None)
            if g > 0 and self.free_alpha:
                self.idx_alpha.append(np.arange(k, k + len(self.lat)))
                k += len(self.lat)
            else:
                self.idx_alpha.append(None)
        self.npar = k

    def delta(self, z, g):
        ix = self.idx_delta[g]
        return np.ones(self.model.p) if ix is None else z[ix]

    def alpha(self, z, g):
        ix = self.idx_alpha[g]
        return np.zeros(len(self.lat)) if ix is None else z[ix]

    def full(self, z, g):
        """Group g's spec vector: the items' residual variances make var y*_j = 1/δ_j²."""
        m = self.model
        x = np.zeros(m.structure.q)
        x[m.keep] = z[self.idx_model[g]]
        S0, _ = m.moments(x)
        d = self.delta(z, g)
        for kk, j in zip(m.resvar_free, m.resvar_item):
            x[kk] = 1.0 / d[j] ** 2 - S0[j, j]
        return x

    def group_moments(self, z, g):
        """(standardized thresholds, correlation matrix Σ*_g, unscaled covariance Σ_g, means
        of y*, spec vector) of group g."""
        x = self.full(z, g)
        S, _ = self.model.moments(x)
        d = self.delta(z, g)
        A, _, _ = self.ram.matrices(x)
        mvec = np.zeros(self.ram.m)
        mvec[self.lat_ix] = self.alpha(z, g)
        mu = np.linalg.solve(np.eye(self.ram.m) - A, mvec)[self.item_ix]
        tau = z[self.idx_tau[g]]
        ti = self.th_item[g]
        th = d[ti] * (tau - mu[ti])
        return th, S * np.outer(d, d), S, mu, x

    def sigma(self, z, g):
        th, R, _, _, _ = self.group_moments(z, g)
        return np.concatenate([th, R[self.model.rows, self.model.cols]])


def _fit_groups_equal(spec, X, group, values_g, labels, *, ordered, report, estimator,
                      group_equal, group_partial=()):
    """:func:`fit_groups` with ``group_equal``: one DWLS fit of Σ_g (N_g − 1)·F_g over every
    group (:class:`_EqualGroups`); the robust covariance, scaled-and-shifted test and measures
    with lavaan's multi-group rules (see :func:`fit_groups`), Δ_g by central differences."""
    from ..measures.fitmeasures import (RESIDUAL_NAMES, chisq_measures, gfi_measures,
        in_lavaan_order)
    from ..result.result import GroupMoments
    from ..result.builder import admissibility, blocks_result, wald_columns
    from ..model.standardized import standardized
    from ..measures.scaled import scaled_measures
    from .polychoric import polychoric

    obs = list(spec.observed)
    numeric = [v for v in obs if ordered is not None and v not in set(ordered)]
    if numeric:
        raise OptionError(f"WLSMV with constraints across groups and continuous items "
                          f"({', '.join(numeric)}) is not implemented; declare every item "
                          f"ordered, or fit the configural model")
    pcs = []
    for v, lab in zip(values_g, labels):
        try:
            pcs.append(polychoric(X[X[group] == v][obs], gamma=True, missing="listwise"))
        except (EstimationError, DataError) as err:
            raise type(err)(f"group '{lab}': {err}") from None
    names_th = [list(pc.thresholds.index) for pc in pcs]
    if "thresholds" in group_equal and any(nm != names_th[0] for nm in names_th[1:]):
        raise OptionError("WLSMV with thresholds equal across groups needs the same answer "
                          "categories of every item in every group (a category is empty in "
                          "some group): merge sparse categories, or leave thresholds out of "
                          "group_equal")
    th_items = [[t.split("|")[0] for t in nm] for nm in names_th]
    known = ({_partial_key(r.lhs, r.op, r.rhs) for r in spec.partable.itertuples()}
             | {(t.split("|")[0], "|", t.split("|")[1]) for nm in names_th for t in nm})
    for e in group_partial:
        if _partial_key(*e) not in known:
            raise OptionError(f"group_partial entry '{e[0]}{e[1]}{e[2]}' names no parameter "
                              f"of the model (nor a threshold such as 'x1|t1')")
    mg = _EqualGroups(spec, ordered, th_items, group_equal, group_partial, names_th)
    m = mg.model
    G = len(pcs)
    nobs = np.array([pc.nobs for pc in pcs], dtype=float)
    N = float(nobs.sum())
    f = nobs / N
    stats, W, Gam = [], [], []
    for pc in pcs:
        R = pc.correlation.to_numpy()
        stats.append(np.concatenate([pc.thresholds.to_numpy(), R[m.rows, m.cols]]))
        Gam.append(pc.gamma)
        dg = np.diag(pc.gamma)
        if np.any(dg <= 0) or not np.all(np.isfinite(dg)):
            raise EstimationError("the asymptotic variances of the polychoric correlations are "
                                  "not all positive (empty categories or perfectly related "
                                  "items?)")
        W.append(1.0 / dg)
    # start: the configural estimates of each group (group 1's for the equal parameters), the
    # sample thresholds, δ = 1, α = 0
    z0 = np.zeros(mg.npar)
    for g in reversed(range(G)):
        z0[mg.idx_model[g]] = _start_values(m, pcs[g].correlation.to_numpy(),
                                            int(pcs[g].nobs))
        z0[mg.idx_tau[g]] = pcs[g].thresholds.to_numpy()
    for g in range(1, G):
        if mg.idx_delta[g] is not None:
            z0[mg.idx_delta[g]] = 1.0
    # Σ_g (N_g − 1)/N · F_g: lavaan's objective (2·fx), whose gradient the convergence check
    # reads on the scale of a one-group fit's
    sw = [np.sqrt((n_g - 1) / N * w) for n_g, w in zip(nobs, W)]

    def resid(z):
        try:
            return np.concatenate([sw[g] * (stats[g] - mg.sigma(z, g)) for g in range(G)])
        except (EstimationError, np.linalg.LinAlgError, FloatingPointError):
            return np.full(sum(len(s_) for s_ in stats), 1e6)

    def jac(z):
        return numerical_jacobian(resid, z, rel_step=1e-7)

    with np.errstate(all="ignore"):
        sol = optimize.least_squares(resid, z0, jac=jac, method="trf", xtol=1e-14,
                                     ftol=1e-15, gtol=1e-12, max_nfev=500)
    z = sol.x
    grad = jac(z).T @ resid(z)
    converged = bool(sol.success) and float(np.max(np.abs(grad))) < 1e-6
    msg = f"trust-region least squares ({sol.message})"

    # ---- robust covariance (lavaan's robust.sem with the f_g weights, divisor N − G) ------
    D = [numerical_jacobian(lambda t, g=g: mg.sigma(t, g), z, rel_step=1e-7) for g in range(G)]
    E = sum(f[g] * D[g].T @ (W[g][:, None] * D[g]) for g in range(G))
    Einv, vcov_ok = invert_information(E)
    if vcov_ok:
        Bm = sum(f[g] * (W[g][:, None] * D[g]).T @ Gam[g] @ (W[g][:, None] * D[g])
                 for g in range(G))
        V = Einv @ Bm @ Einv / (N - G)
    else:
        V = np.full(E.shape, np.nan)

    # ---- test statistics -------------------------------------------------------------------
    res_g = [stats[g] - mg.sigma(z, g) for g in range(G)]
    T = float(sum((nobs[g] - 1) * np.sum(W[g] * res_g[g] ** 2) for g in range(G)))
    nel = [len(s_) for s_ in stats]
    df = int(sum(nel) - mg.npar)
    n_th = [len(nm) for nm in names_th]
    Tb = tr1b = tr2b = 0.0
    for g in range(G):
        k0 = n_th[g]
        wc, rc, Gc = W[g][k0:], stats[g][k0:], Gam[g][k0:, k0:]
        Tb += float((nobs[g] - 1) * np.sum(wc * rc ** 2))
        WG = wc[:, None] * Gc
        tr1b += float(np.trace(WG))
        tr2b += float(np.sum(WG * WG.T))
    df_b = G * len(m.rows)
    a = b = np.nan
    if vcov_ok and df > 0:
        Vall = np.concatenate([f[g] * W[g] for g in range(G)])
        Dall = np.vstack(D)
        Gall = np.zeros((sum(nel), sum(nel)))
        i = 0
        for g in range(G):
            Gall[i:i + nel[g], i:i + nel[g]] = Gam[g] / f[g]
            i += nel[g]
        VD = Vall[:, None] * Dall
        U = np.diag(Vall) - VD @ Einv @ VD.T
        UG = U @ Gall
        tr1, tr2 = float(np.trace(UG)), float(np.sum(UG * UG.T))
        a = math.sqrt(df / tr2)
        b = df - a * tr1
    a_b = math.sqrt(df_b / tr2b)
    b_b = df_b - a_b * tr1b
    n_ls = N - G
    npar = mg.npar
    values = chisq_measures(T, df, Tb, df_b, n_ls, npar, ntotal=N, groups=G)
    gfi = sum(nobs[g] * (1 - np.sum(W[g] * res_g[g] ** 2) / np.sum(W[g] * stats[g] ** 2))
              for g in range(G)) / N
    values.update(gfi_measures(float(gfi), int(sum(nel)), df))
    values["wrmr"] = float(np.sqrt(T / nel[0]))
    per = [_residual_measures_thresholds(res_g[g][n_th[g]:], res_g[g][:n_th[g]], m.p)
           for g in range(G)]
    for name in RESIDUAL_NAMES:
        values[name] = float(sum(nobs[g] * per[g][name] for g in range(G)) / N)
    values["npar"] = npar
    if np.isfinite(a):
        values.update(scaled_measures(pd.Series(values), chisq_scaled=a * T + b,
                                      df_scaled=df, scaling_factor=1 / a,
                                      baseline_chisq_scaled=a_b * Tb + b_b,
                                      baseline_df_scaled=df_b, baseline_scaling_factor=1 / a_b,
                                      n=n_ls, kind="scaled.shifted", shift=b,
                                      baseline_shift=b_b, robust=False, groups=G))
    # the catML robust CFI/TLI/RMSEA: lavaan's refit without thresholds and means fails (NA)
    # when the scale factors are free; otherwise as lav_fit_catml_dwls over all groups
    catml = None
    if vcov_ok and not mg.free_delta:
        catml = _catml_groups(mg, z, pcs, D, W, Gam, Einv, n_th, nobs)
    n_mean = sum(len(ix) for ix in mg.idx_alpha if ix is not None)
    n_tau = len(set(np.concatenate(mg.idx_tau).tolist()))
    df3 = df_b - (npar - n_tau - n_mean)
    values.update(_catml_robust(catml, n_ls, df3, df_b, groups=G))
    fm = in_lavaan_order(values, likelihood=False, scaled=True, robust=True, categorical=True)

    # ---- the estimates table, group by group -------------------------------------------------
    ram = mg.ram
    rows = ram.rows
    free_x = rows["free"].to_numpy().astype(int)
    dep = set(int(k) for k in m.resvar_free)
    keep_pos = {int(kk): j for j, kk in enumerate(m.keep)}

    def group_rows(zz, g):
        """(est, std_lv, std_all) of group g's rows: model rows, thresholds, then the free
        scale factors and latent means."""
        x = mg.group_moments(zz, g)[4]
        vals = ram.values(x)
        s_lv, s_all, _ = standardized(ram, x, spec)
        d = mg.delta(zz, g)
        tau = zz[mg.idx_tau[g]]
        est, lv, al = [vals, tau], [s_lv, tau], [s_all, tau * d[mg.th_item[g]]]
        if mg.idx_delta[g] is not None:
            est.append(d)
            lv.append(d)
            al.append(np.ones_like(d))
        if mg.idx_alpha[g] is not None:
            C = ram.total_cov(x)
            alpha = mg.alpha(zz, g)
            sd_lat = np.sqrt(np.diag(C)[mg.lat_ix])
            est.append(alpha)
            lv.append(alpha / sd_lat)
            al.append(alpha / sd_lat)
        return np.concatenate(est), np.concatenate(lv), np.concatenate(al)

    def std_all_all(zz):
        return np.concatenate([group_rows(zz, g)[2] for g in range(G)])

    se_z = np.sqrt(np.clip(np.diag(V), 0, None)) if vcov_ok else np.full(mg.npar, np.nan)
    se_std_all = np.full(len(std_all_all(z)), np.nan)
    if vcov_ok:
        J = numerical_jacobian(std_all_all, z, rel_step=1e-6)
        se_std_all = np.sqrt(np.clip(np.einsum("ij,jk,ik->i", J, V, J), 0, None))
    tables = []
    pos = 0
    for g in range(G):
        est, lv, al = group_rows(z, g)
        # parameter numbers (from 1) of the rows, 0 where fixed or dependent
        model_free = np.zeros(len(rows), dtype=int)
        for r_i, fx in enumerate(free_x):
            if fx > 0 and (fx - 1) not in dep:
                model_free[r_i] = mg.idx_model[g][keep_pos[fx - 1]] + 1
        frees = [model_free, mg.idx_tau[g] + 1]
        lhs = list(rows.lhs) + th_items[g]
        op = list(rows.op) + ["|"] * n_th[g]
        rhs = list(rows.rhs) + [t.split("|")[1] for t in names_th[g]]
        if mg.idx_delta[g] is not None:
            frees.append(mg.idx_delta[g] + 1)
            lhs += list(m.items)
            op += ["~*~"] * m.p
            rhs += list(m.items)
        if mg.idx_alpha[g] is not None:
            frees.append(mg.idx_alpha[g] + 1)
            lhs += mg.lat
            op += ["~1"] * len(mg.lat)
            rhs += [""] * len(mg.lat)
        free = np.concatenate(frees)
        se = np.where(free > 0, se_z[np.maximum(free - 1, 0)], 0.0)
        k = len(est)
        user = [str(v) if isinstance(v, str) else "" for v in rows.label]
        tables.append(pd.DataFrame({
            "lhs": lhs, "op": op, "rhs": rhs, "group": g + 1,
            "label": user + [""] * (len(lhs) - len(user)), "est": est,
            "se": se, "std_lv": lv, "std_all": al, "se_std_all": se_std_all[pos:pos + k],
            "free": free}))
        pos += k
    table = wald_columns(pd.concat(tables, ignore_index=True))

    # ---- moments, admissibility, result -------------------------------------------------------
    moments, blocks = [], []
    for g, lab in enumerate(labels):
        _, R, _, _, x = mg.group_moments(z, g)
        C = ram.total_cov(x)
        lat_cov = pd.DataFrame(C[np.ix_(mg.lat_ix, mg.lat_ix)], index=mg.lat, columns=mg.lat)
        _, _, r2 = standardized(ram, x, spec)
        moments.append(GroupMoments(
            label=lab, nobs=int(nobs[g]), sample_cov=pcs[g].correlation,
            sample_mean=pd.Series(0.0, index=m.items),
            implied_cov=pd.DataFrame(R, index=m.items, columns=m.items),
            implied_mean=pd.Series(0.0, index=m.items), latent_cov=lat_cov,
            latent_mean=pd.Series(mg.alpha(z, g), index=mg.lat),
            r2=pd.Series(r2, dtype=float)))
        blocks.append((lat_cov, R))
    admissible, notes = admissibility(table, blocks, vcov_ok, True)
    warnings_ = ([] if converged else [f"the optimizer did not converge ({msg}); estimates are "
                                       f"not trustworthy"]) + list(notes)
    if not vcov_ok:
        warnings_.append("the information matrix is singular: the model is not identified "
                         "(estimates are not unique; no standard errors)")
    r2 = (pd.concat({mo.label: mo.r2 for mo in moments}, names=["group", "variable"])
          if any(len(mo.r2) for mo in moments) else pd.Series(dtype=float))
    pnames = [f"p{k + 1}" for k in range(mg.npar)]
    difftest = _group_difftest(D, W, Gam, stats, nobs)
    info = {"x": z.copy(), "optimizer": msg, "missing": "listwise", "test": "scaled.shifted",
            "se": "robust.sem", "parameterization": "delta", "chisq_shift_parameter": b,
            "baseline_chisq_shift_parameter": b_b, "max_gradient": float(np.max(np.abs(grad)))}
    return blocks_result(
        spec, table=table, measures=fm, r2=r2, nobs=N, converged=converged,
        admissible=admissible, warnings_=warnings_, vcov=V, names=pnames, report=report,
        estimator=estimator or ESTIMATOR, info=info, moments=moments, groups=labels,
        group_column=group, data=X, difftest=difftest)


def _catml_groups(mg, z, pcs, D, W, Gam, Einv, n_th, nobs) -> dict | None:
    """lavaan's ``lav_fit_catml_dwls`` for a multi-group fit with constraints: T₃ = Σ_g N_g
    F_ML(R_g, Σ̂*_g) at the DWLS estimates; k = tr(UᵀVUΓ) over all groups at once with
    U = I − Δ_c E⁻¹Δ_cᵀ·diag(f_g W_g,c) (Δ_c the correlation rows, E⁻¹ the DWLS inverse
    information), V = ⊕ f_g V_g (the ML weights of the correlations), Γ = ⊕ Γ_g,c / f_g;
    k_B = Σ_g tr(Γ_g,c)/f_g, T₃,B = −Σ_g N_g log|R_g|.  None when a sample matrix is not
    positive definite (lavaan's NA)."""
    m = mg.model
    N = float(sum(nobs))
    rr, cc = m.rows, m.cols
    p = m.p
    X3 = X3_null = k_null = 0.0
    Vs, Gs, Ws, Ds = [], [], [], []
    for g, pc in enumerate(pcs):
        R = pc.correlation.to_numpy()
        if np.linalg.eigvalsh(R).min() < np.sqrt(np.finfo(float).eps):
            return None
        f_g = nobs[g] / N
        _, Sig, _, _, _ = mg.group_moments(z, g)
        Si = np.linalg.inv(Sig)
        ld_s = np.linalg.slogdet(Sig)[1]
        ld_r = np.linalg.slogdet(R)[1]
        X3 += nobs[g] * (ld_s + np.trace(Si @ R) - ld_r - p)
        X3_null += -nobs[g] * ld_r
        Gc = Gam[g][n_th[g]:, n_th[g]:]
        k_null += float(np.trace(Gc)) / f_g
        Vs.append(f_g * (Si[np.ix_(rr, rr)] * Si[np.ix_(cc, cc)]
                         + Si[np.ix_(rr, cc)] * Si[np.ix_(cc, rr)]))
        Gs.append(Gc / f_g)
        Ws.append(f_g * W[g][n_th[g]:])
        Ds.append(D[g][n_th[g]:])
    size = sum(len(w) for w in Ws)
    Vall = np.zeros((size, size))
    Gall = np.zeros((size, size))
    i = 0
    for V_g, G_g in zip(Vs, Gs):
        k = len(V_g)
        Vall[i:i + k, i:i + k] = V_g
        Gall[i:i + k, i:i + k] = G_g
        i += k
    Dall = np.vstack(Ds)
    WiU = np.eye(size) - Dall @ Einv @ Dall.T * np.concatenate(Ws)[None, :]
    return {"X3": float(X3), "k": float(np.trace(WiU.T @ Vall @ WiU @ Gall)),
            "X3_null": float(X3_null), "k_null": float(k_null)}


def _group_difftest(deltas, weights, gammas, stats, nobs) -> "DifftestParts":
    """The nested-test parts of a multi-group fit, stacked so that :func:`satorra_2000` gives
    lavaan's multi-group ``lav_test_diff_Satorra2000``: Δ the groups' Jacobians stacked (rows
    group by group, columns the parameters), weights f_g·W_g (P = Σ f_g Δ_gᵀW_gΔ_g, lavaan's
    information) and Γ block-diagonal with blocks Γ_g/f_g (so that UΓ has lavaan's
    W_gΔ_g M Δ_gᵀW_g · f_gΓ_g), f_g = N_g/N."""
    N = float(sum(nobs))
    f = [n_g / N for n_g in nobs]
    size = sum(len(w) for w in weights)
    gamma = np.zeros((size, size))
    i = 0
    for G_g, f_g in zip(gammas, f):
        k = len(G_g)
        gamma[i:i + k, i:i + k] = G_g / f_g
        i += k
    return DifftestParts(delta=np.vstack(deltas),
                         weights=np.concatenate([f_g * w for f_g, w in zip(f, weights)]),
                         gamma=gamma, statistics=np.concatenate(stats))


def _residual_measures_thresholds(e_cor, e_th, nvar) -> dict:
    """lavaan's categorical RMR/SRMR/CRMR (``lav_residuals_summary``) when the thresholds are
    not saturated: the "total" versions add the thresholds' residuals (and count them); the
    correlation residuals are the same for the three with unit variances (all items ordinal)."""
    k, n_th = len(e_cor), len(e_th)
    ss_c, ss_t = float(np.sum(e_cor ** 2)), float(np.sum(e_th ** 2))
    out = {}
    for name, extra in (("rmr", nvar), ("srmr_bentler", nvar), ("crmr", 0)):
        out[name] = math.sqrt((ss_c + ss_t) / (k + n_th + extra))
        out[name + "_nomean"] = math.sqrt(ss_c / (k + extra)) if k + extra else 0.0
    out["srmr"] = out["srmr_bentler_nomean"]
    out["srmr_mplus"] = out["srmr_mplus_nomean"] = np.nan
    return out


@dataclasses.dataclass(frozen=True, eq=False)
class DifftestParts:
    """What a nested-model test of two WLSMV fits needs from each (lavaan's
    ``lav_test_diff_Satorra2000``): Δ = ∂σ/∂θᵀ at the estimate (sample statistics × free
    parameters, thresholds included; delta parameterization), the DWLS weights (the diagonal
    of W), Γ (the asymptotic covariance of the statistics, N-scaled) and the statistics."""

    delta: np.ndarray
    weights: np.ndarray
    gamma: np.ndarray
    statistics: np.ndarray


def satorra_2000(parts0: DifftestParts, parts1: DifftestParts, T0: float, T1: float,
                 df0: int, df1: int) -> dict:
    """Scaled-and-shifted χ² difference test of a restricted WLSMV fit (0) against a fuller
    one (1): lavaan's ``lavTestLRT(m1, m0)`` default for a scaled-shifted test
    (``method = "satorra.2000"``, ``A.method = "delta"``, ``scaled.shifted = TRUE``;
    Satorra 2000, Asparouhov & Muthén 2006 "DIFFTEST").

    The restriction is found from the two Jacobians: H = Δ₁⁺Δ₀ spans the restricted
    parameters inside the fuller model's, A (rows) the orthogonal complement of H's columns.
    With P = Δ₁ᵀWΔ₁ and U = WΔ₁P⁻¹Aᵀ(AP⁻¹Aᵀ)⁻¹AP⁻¹Δ₁ᵀW, m = df₀ − df₁,
    a = √(m / tr[(UΓ)²]), b = m − a·tr(UΓ), the statistic is (T₀ − T₁)·a + b on m df.
    """
    D1, D0 = parts1.delta, parts0.delta
    if D1.shape[0] != D0.shape[0] or not np.allclose(parts0.statistics, parts1.statistics,
                                                       rtol=1e-10, atol=1e-12):
        raise EstimationError("the two WLSMV fits do not have the same sample statistics "
                              "(thresholds, correlations): not the same items and rows")
    m = int(df0 - df1)
    if m <= 0:
        raise EstimationError("the restricted model must have more degrees of freedom")
    w = parts1.weights
    H = np.linalg.pinv(D1) @ D0
    Q, _ = np.linalg.qr(H, mode="complete")
    A = Q[:, np.linalg.matrix_rank(H):].T          # lavaan's lav_matrix_orthogonal_complement
    P = D1.T @ (w[:, None] * D1)
    Pinv = np.linalg.inv(P)
    APA = A @ Pinv @ A.T
    tiny = np.sqrt(np.finfo(float).eps)
    keep = ~((np.abs(APA.sum(axis=0)) < tiny) & (np.abs(APA.sum(axis=1)) < tiny))
    A = A[keep]
    PA = Pinv @ A.T
    M = PA @ np.linalg.pinv(A @ PA) @ PA.T
    WD = w[:, None] * D1
    UG = WD @ M @ WD.T @ parts1.gamma
    tr1, tr2 = float(np.trace(UG)), float(np.sum(UG * UG.T))
    a = math.sqrt(m / tr2)
    b = m - a * tr1
    return {"chisq_diff": float((T0 - T1) * a + b), "df_diff": m, "scale": a, "shift": b,
            "trace_ugamma": tr1, "trace_ugamma2": tr2}


class ThetaParameterization:
    """Map the delta-parameterized solution (θ_reduced, τ) to lavaan's theta parameterization.

    With the items' delta residual variances θ^δ_jj (given the covariates), y*^θ_j = c_j y*^δ_j,
    c_j = 1/√θ^δ_jj, makes the theta residual variances 1. Each latent variable is rescaled by
    s_f = c_j of its marker item (the item whose loading is fixed), or 1 when its variance
    carries the scale; covariates keep their metric. Then every parameter scales as
    ``a =~ b``: ×s_b/s_a, ``a ~ b``: ×s_a/s_b, ``a ~~ b``: ×s_a·s_b, thresholds of j: ×c_j.
    This is a one-to-one reparameterization only when no constraint ties parameters together
    and no loading is fixed at a value other than 0 or the marker's: such models are refused.
    """

    def __init__(self, model: OrdinalModel, threshold_items: list[str]):
        spec = model.spec
        pt = spec.partable
        self.model = model
        rows = pt[pt.op.isin(["=~", "~", "~~"])].reset_index(drop=True)
        free = rows["free"].to_numpy()
        counts = pd.Series(free[free > 0]).value_counts()
        if (counts > 1).any():
            raise EstimationError(
                f"{spec.source}: parameterization='theta' with equality constraints (shared "
                f"labels) is not implemented: equal loadings in the theta metric are a different "
                f"model from equal loadings in the delta metric; use parameterization='delta'")
        items = set(model.items)
        self.marker = {}
        for f in spec.latent:
            ld = rows[(rows.op == "=~") & (rows.lhs == f)]
            fixed = ld[(ld["free"] == 0) & (ld["fixed"].astype(float) != 0)]
            var_fixed = len(rows[(rows.op == "~~") & (rows.lhs == f) & (rows.rhs == f)
                                 & (rows["free"] == 0)]) > 0
            if len(fixed) > 1 or (len(fixed) == 1 and var_fixed):
                raise EstimationError(
                    f"{spec.source}: parameterization='theta' for latent variable '{f}' with "
                    f"{'several fixed loadings' if len(fixed) > 1 else 'a fixed loading and a fixed variance'} "
                    f"is not implemented; use parameterization='delta'")
            if len(fixed) == 1:
                m = fixed.iloc[0].rhs
                if m not in items:
                    raise EstimationError(
                        f"{spec.source}: parameterization='theta' with a latent variable ('{f}') "
                        f"scaled by a non-ordinal indicator is not implemented")
                self.marker[f] = model.items.index(m)
        # any other fixed non-zero value on a rescaled variable would change meaning
        scaled = ({v for v in model.items if v not in set(model.numeric)}
                  | set(self.marker))
        markers = {(f, model.items[j]) for f, j in self.marker.items()}
        for r in rows[rows["free"] == 0].itertuples():
            val = float(r.fixed)
            if not np.isfinite(val) or val == 0 or (r.op == "=~" and (r.lhs, r.rhs) in markers):
                continue
            if r.op == "~~" and r.lhs == r.rhs and r.lhs in spec.latent:
                continue                   # a latent variance carrying the scale (s_f = 1)
            if r.lhs in scaled or r.rhs in scaled:
                raise EstimationError(
                    f"{spec.source}: parameterization='theta' with the fixed value "
                    f"'{r.lhs} {r.op} {val:g}*{r.rhs}' is not implemented (it means something "
                    f"else in the theta metric); use parameterization='delta'")
        self.rows = rows
        self.obs = list(spec.observed)
        self.th_item = np.array([model.items.index(v) for v in threshold_items], dtype=int)

    def _scales(self, x_full):
        m = self.model
        c = np.ones(m.p)
        for k, j in zip(m.resvar_free, m.resvar_item):
            c[j] = 1.0 / np.sqrt(x_full[k])          # 1/√θ^δ_jj
        scale = {v: 1.0 for v in self.obs}
        for j, v in enumerate(m.items):
            scale[v] = c[j]
        for f in m.spec.latent:
            scale[f] = c[self.marker[f]] if f in self.marker else 1.0
        return c, scale

    def _convert(self, x_full):
        c, scale = self._scales(x_full)
        out = np.array(x_full, dtype=float)
        for r in self.rows.itertuples():
            if r.free <= 0:
                continue
            k = int(r.free) - 1
            if r.op == "=~":
                out[k] = x_full[k] * scale[r.rhs] / scale[r.lhs]
            elif r.op == "~":
                out[k] = x_full[k] * scale[r.lhs] / scale[r.rhs]
            else:
                out[k] = x_full[k] * scale[r.lhs] * scale[r.rhs]
        return out, c

    def __call__(self, z):
        m = self.model
        q = m.q_red
        x_full = m.full(z[:q])
        out, c = self._convert(x_full)
        tau = np.asarray(z[q:], dtype=float)
        return np.concatenate([out[m.keep], tau * c[self.th_item]])

    def full(self, theta_red):
        """Full vector in the theta metric: residual variances of the items 1."""
        x = np.zeros(self.model.structure.q)
        x[self.model.keep] = theta_red
        for k in self.model.resvar_free:
            x[k] = 1.0
        return x


def _catml_parts(R, model, theta, w, G, n) -> dict | None:
    """The ingredients of lavaan's robust CFI/TLI/NNFI/RNI/RMSEA for categorical data
    (``lav_fit_catml_dwls``), for one group.

    The DWLS estimates are plugged into the ML discrepancy of the polychoric matrix ("catML",
    Savalei 2021): T₃ = N·F_ML(R, Σ̂*), with the trace k = tr(UᵀVUΓ), where
    U = I − Δ(ΔᵀWΔ)⁻¹ΔᵀW (DWLS), V = ½D'(Σ̂*⁻¹⊗Σ̂*⁻¹)D on the correlations; for the baseline
    T₃,B = −N log|R| and k_B = tr(Γ).  None when R is not positive definite (or not given),
    as lavaan's NA.
    """
    if R is None or np.linalg.eigvalsh(R).min() < np.sqrt(np.finfo(float).eps):
        return None
    rr, cc = model.rows, model.cols
    p = R.shape[0]
    Sig = model.structure.sigma(model.full(theta))
    Si = np.linalg.inv(Sig)
    _, ld_sig = np.linalg.slogdet(Sig)
    _, ld_r = np.linalg.slogdet(R)
    X3 = n * (ld_sig + np.trace(Si @ R) - ld_r - p)
    D = model.jacobian(theta)
    WiU = np.eye(len(rr)) - D @ np.linalg.solve(D.T @ (w[:, None] * D), D.T) * w[None, :]
    V = Si[np.ix_(rr, rr)] * Si[np.ix_(cc, cc)] + Si[np.ix_(rr, cc)] * Si[np.ix_(cc, rr)]
    return {"X3": float(X3), "k": float(np.trace(WiU.T @ V @ WiU @ G)),
            "X3_null": float(-n * ld_r), "k_null": float(np.trace(G))}


def _catml_robust(parts, n_fit, df, df_null, groups: int = 1) -> dict:
    """lavaan's robust CFI/TLI/NNFI/RNI/RMSEA for categorical data from the catML parts
    (:func:`_catml_parts`, summed over the groups): c₃ = k/df, c₃,B = k_B/df_B, and the
    measures of :func:`._scaled.robust_measures` with lavaan's N (``n_fit``: N − G for
    least squares) and G groups.  NaN without parts."""
    from ..measures.scaled import robust_measures

    if parts is None or not df > 0:
        return robust_measures(np.nan, df, np.nan, df_null, n_fit, c=np.nan, c_null=np.nan,
                               X2_scaled=np.nan, c_ci=np.nan, groups=groups)
    c3 = parts["k"] / df
    c3_null = parts["k_null"] / df_null
    X3 = parts["X3"]
    return robust_measures(X3, df, parts["X3_null"], df_null, n_fit, c=c3, c_null=c3_null,
                           X2_scaled=X3 / c3, c_ci=c3, groups=groups)


def _fit_measures(T, df, Tb, df_b, n, npar, a, b, a_b, b_b, R, model, theta, tau,
                  weights, stats, n_thresholds) -> dict:
    """The measures of the DWLS statistic T and its scaled-and-shifted version (lavaan's N for
    least-squares estimators is N − 1, ``lav_utils_get_ntotal``): :func:`chisq_measures`,
    the residual measures of the correlations (``residual_measures_categorical``), GFI on
    every sample statistic with the DWLS weights (lavaan's ``lav_fit_gfi`` with a diagonal
    ``WLS.V``), WRMR = sqrt(T / statistics) (``lav_fit_wrmr``) and the scaled ones; the same
    with covariates (slopes among the statistics) and with continuous items."""
    from ..measures.fitmeasures import chisq_measures, gfi_measures, residual_measures_categorical
    from ..measures.scaled import scaled_measures

    n_ls = n - 1
    values = chisq_measures(T, df, Tb, df_b, n_ls, npar, ntotal=n)
    S, _ = model.moments(model.full(theta))
    # GFI and WRMR on every sample statistic (thresholds, and the continuous items' means;
    # slopes on the covariates; the continuous items' variances; correlations), the
    # thresholds and means being saturated
    obs = np.concatenate([tau, stats])
    est = np.concatenate([tau, model.sigma(theta)])
    gfi = 1 - np.sum(weights * (obs - est) ** 2) / np.sum(weights * obs ** 2)
    values.update(gfi_measures(gfi, len(obs), df))
    values["wrmr"] = float(np.sqrt(T / len(obs)))
    # residual measures over the items and the covariates (lavaan's nvar); the "total"
    # versions count the thresholds, not the continuous items' means
    values.update(residual_measures_categorical(R, S, n_thresholds,
                                                nvar=model.p + len(model.x_idx)))
    values["npar"] = npar
    if np.isfinite(a):
        values.update(scaled_measures(pd.Series(values), chisq_scaled=a * T + b, df_scaled=df,
                                      scaling_factor=1 / a,
                                      baseline_chisq_scaled=a_b * Tb + b_b,
                                      baseline_df_scaled=df_b, baseline_scaling_factor=1 / a_b,
                                      n=n_ls, kind="scaled.shifted", shift=b,
                                      baseline_shift=b_b, robust=False))
    return values


def _threshold_rows(spec, pc, tau, V, vcov_ok, q, x_full, fx_cov, *, theta=None,
                    full=None, rescaled: bool = False) -> pd.DataFrame:
    """Rows of the thresholds (``|``) and of the continuous items' means (``~1``, as lavaan
    lists them), free parameters q + 1 ... after the model's. y* has unit variance given x:
    without covariates the standardized values equal the estimates; with covariates std.all
    divides by the total SD of y*, as lavaan, and its standard error is the delta method over
    every free parameter (the SD depends on the loadings, slopes and variances, which covary
    with the thresholds: lavaan's ``lav_standardize_all`` Jacobian), not se(τ)/SD; the same
    in the theta parameterization and for the means of continuous items (``rescaled``), where
    the SD is a function of the parameters too."""
    n_th = len(tau)
    se_tau = np.sqrt(np.clip(np.diag(V)[q:], 0, None)) if vcov_ok else np.full(n_th, np.nan)
    names = list(pc.thresholds.index)
    th_items = [s.split("|")[0] for s in names]
    ram = RAM(spec, fixed_x_cov=fx_cov)
    C_tot = ram.total_cov(x_full)
    sd_th = np.sqrt(np.array([C_tot[ram.ix[v], ram.ix[v]] for v in th_items]))
    is_mean = np.array([s.endswith("|mean") for s in names])
    se_std = se_tau / sd_th
    if (fx_cov is not None or rescaled) and vcov_ok and theta is not None:
        ix = [ram.ix[v] for v in th_items]

        def standardized(z):
            C = ram.total_cov(full(z[:q]))
            return z[q:] / np.sqrt(C[ix, ix])

        J = numerical_jacobian(standardized, np.concatenate([theta, tau]), rel_step=1e-7)
        se_std = np.sqrt(np.clip(np.einsum("ij,jk,ik->i", J, V, J), 0, None))
    return pd.DataFrame({"lhs": th_items, "op": np.where(is_mean, "~1", "|"),
                         "rhs": ["" if m else s.split("|")[1] for s, m in zip(names, is_mean)],
                         "label": "", "est": tau, "se": se_tau, "std_lv": tau,
                         "std_all": tau / sd_th, "se_std_all": se_std,
                         "free": np.arange(q + 1, q + n_th + 1)})
