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

Not implemented (refused with a message naming it): multiple groups; covariates with missing
answers; a mix of ordinal and continuous items with missing answers or together with
covariates.
"""
from __future__ import annotations

import dataclasses
import math

import numpy as np
import pandas as pd
from scipy import optimize

from ..errors import EstimationError
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
    if vcov_ok and df > 0:
        Dr = Delta[n_th:, :q]
        Hr = Dr.T @ (w[:, None] * Dr)
        U = np.diag(w) - (w[:, None] * Dr) @ np.linalg.solve(Hr, (w[:, None] * Dr).T)
        UG = U @ G_rr
        tr1, tr2 = float(np.trace(UG)), float(np.sum(UG * UG.T))
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
    values.update(_catml_robust(R, model, theta, w, G_rr, n, df) if vcov_ok and df > 0 and plain
                  else _catml_robust(None, model, theta, w, G_rr, n, df))
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
    return assemble_result(
        spec, None, x_full, fitted, n, converged=converged, message=msg, report=report,
        estimator=estimator or ESTIMATOR, vcov=V, vcov_ok=vcov_ok, measures=fm,
        implied=pd.DataFrame(Sigma, index=items, columns=items), fixed_x_cov=fx_cov,
        reduced=(model.keep, full),
        extra_rows=_threshold_rows(spec, pc, tau, V, vcov_ok, q, x_full, fx_cov,
                                   theta=theta, full=full),
        info={"test": "scaled.shifted", "se": "robust.sem",
              "thresholds": pc.thresholds.copy(), "parameterization": parameterization,
              **shift},
        warnings=notes, identification=ident, data=given, difftest=difftest)


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


def _catml_robust(R, model, theta, w, G, n, df) -> dict:
    """lavaan's robust CFI/TLI/NNFI/RNI/RMSEA for categorical data (``lav_fit_catml_dwls``).

    The DWLS estimates are plugged into the ML discrepancy of the polychoric matrix ("catML",
    Savalei 2021): T₃ = N·F_ML(R, Σ̂*), with its own scaling c₃ = tr(UᵀVUΓ)/df, where
    U = I − Δ(ΔᵀWΔ)⁻¹ΔᵀW (DWLS), V = ½D'(Σ̂*⁻¹⊗Σ̂*⁻¹)D on the correlations, and for the
    baseline T₃,B = −N log|R| with c₃,B = tr(Γ)/df_B; the measures are then those of
    :func:`._scaled.robust_measures` with lavaan's N − 1.  Not defined (NaN) when R is not
    positive definite (or not given), as in lavaan.
    """
    from ..measures.scaled import robust_measures

    rr, cc = model.rows, model.cols
    df_null = len(rr)
    n_fit = n - 1                   # lavaan's N for least-squares fit indices
    if R is None or np.linalg.eigvalsh(R).min() < np.sqrt(np.finfo(float).eps):
        return robust_measures(np.nan, df, np.nan, df_null, n_fit, c=np.nan, c_null=np.nan,
                               X2_scaled=np.nan, c_ci=np.nan)
    p = R.shape[0]
    Sig = model.structure.sigma(model.full(theta))
    Si = np.linalg.inv(Sig)
    _, ld_sig = np.linalg.slogdet(Sig)
    _, ld_r = np.linalg.slogdet(R)
    X3 = n * (ld_sig + np.trace(Si @ R) - ld_r - p)
    X3_null = -n * ld_r
    D = model.jacobian(theta)
    WiU = np.eye(len(rr)) - D @ np.linalg.solve(D.T @ (w[:, None] * D), D.T) * w[None, :]
    V = Si[np.ix_(rr, rr)] * Si[np.ix_(cc, cc)] + Si[np.ix_(rr, cc)] * Si[np.ix_(cc, rr)]
    c3 = float(np.trace(WiU.T @ V @ WiU @ G)) / df
    c3_null = float(np.trace(G)) / df_null
    return robust_measures(X3, df, X3_null, df_null, n_fit, c=c3, c_null=c3_null,
                           X2_scaled=X3 / c3, c_ci=c3)


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
                    full=None) -> pd.DataFrame:
    """Rows of the thresholds (``|``) and of the continuous items' means (``~1``, as lavaan
    lists them), free parameters q + 1 ... after the model's. y* has unit variance given x:
    without covariates the standardized values equal the estimates; with covariates std.all
    divides by the total SD of y*, as lavaan, and its standard error is the delta method over
    every free parameter (the SD depends on the loadings, slopes and variances, which covary
    with the thresholds: lavaan's ``lav_standardize_all`` Jacobian), not se(τ)/SD."""
    n_th = len(tau)
    se_tau = np.sqrt(np.clip(np.diag(V)[q:], 0, None)) if vcov_ok else np.full(n_th, np.nan)
    names = list(pc.thresholds.index)
    th_items = [s.split("|")[0] for s in names]
    ram = RAM(spec, fixed_x_cov=fx_cov)
    C_tot = ram.total_cov(x_full)
    sd_th = np.sqrt(np.array([C_tot[ram.ix[v], ram.ix[v]] for v in th_items]))
    is_mean = np.array([s.endswith("|mean") for s in names])
    se_std = se_tau / sd_th
    if fx_cov is not None and vcov_ok and theta is not None:
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
