"""WLSMV: diagonally weighted least squares on polychoric correlations, with robust standard
errors and a mean-and-variance adjusted (scaled and shifted) test statistic.

This is lavaan's ``estimator = "WLSMV"`` with every model item declared ``ordered`` (Muthén,
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

Not implemented (and not reported rather than guessed): a mix of ordinal and continuous items,
exogenous covariates, multiple groups, the theta parameterization.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import optimize

from ..errors import EstimationError
from ._structure import CovarianceStructure, numerical_jacobian, vechs_indices

ESTIMATOR = "WLSMV"


class OrdinalModel:
    """The delta-parameterized correlation structure of a spec with ordinal indicators.

    Parameters of the fit are the spec's free parameters except the residual variances of the
    ordinal items (``reduced``); the full vector fills those so that diag Σ* = 1.
    """

    def __init__(self, spec, ordered: list[str]):
        from .mlr import check_supported

        check_supported(spec, ESTIMATOR)
        self.spec = spec
        self.structure = CovarianceStructure(spec)
        pt = spec.partable
        obs = spec.observed
        self.p = len(obs)
        not_ordered = [v for v in obs if v not in ordered]
        if not_ordered:
            raise EstimationError(f"WLSMV here needs every model item to be ordinal; "
                                  f"{', '.join(not_ordered)} are not declared ordered (a mix of "
                                  f"ordinal and continuous items is not implemented)")
        for _, r in pt[pt.op.isin(["~", "=~"])].iterrows():
            pred = r.rhs if r.op == "~" else r.lhs
            if pred in ordered:
                raise EstimationError(f"{spec.source}: ordinal item '{pred}' predicts another "
                                      f"variable ('{r.lhs} {r.op} {r.rhs}'); with WLSMV ordinal "
                                      f"items may only be outcomes or indicators here")
        res_rows = pt[(pt.op == "~~") & (pt.lhs == pt.rhs) & pt.lhs.isin(ordered)]
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
            self.resvar_item.append(obs.index(r.lhs))
        q = self.structure.q
        self.keep = np.array([k for k in range(q) if k not in set(self.resvar_free)], dtype=int)
        self.q_red = len(self.keep)
        self.rows, self.cols = vechs_indices(self.p)

    def full(self, theta: np.ndarray) -> np.ndarray:
        """Full parameter vector: residual variances of the items set so that diag Σ* = 1."""
        x = np.zeros(self.structure.q)
        x[self.keep] = theta
        S0 = self.structure.sigma(x)
        for k, j in zip(self.resvar_free, self.resvar_item):
            x[k] = 1.0 - S0[j, j]
        return x

    def sigma(self, theta: np.ndarray) -> np.ndarray:
        """Model-implied polychoric correlations (vechs order)."""
        S = self.structure.sigma(self.full(theta))
        return S[self.rows, self.cols]

    def jacobian(self, theta: np.ndarray) -> np.ndarray:
        """∂σ/∂θᵀ (pstar × q_red); off-diagonal elements do not involve residual variances."""
        _, D = self.structure.jacobian(self.full(theta))
        return D[self.keep][:, self.rows, self.cols].T

    def full_jacobian(self, theta: np.ndarray) -> np.ndarray:
        """∂x_full/∂θᵀ (q × q_red), for the delta method on standardized values."""
        return numerical_jacobian(self.full, theta, rel_step=1e-6)


def _start_values(model: OrdinalModel, R: np.ndarray, n: int) -> np.ndarray:
    """ML fit to the polychoric matrix (made positive definite if need be) as start values."""
    from ..engine import MLEngine

    ev, vec = np.linalg.eigh(R)
    if ev.min() < 1e-3:
        ev = np.maximum(ev, 1e-3)
        R = vec @ np.diag(ev) @ vec.T
        d = 1 / np.sqrt(np.diag(R))
        R = R * np.outer(d, d)
    obs = model.spec.observed
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


def fit(spec, X: pd.DataFrame, *, ordered=None, report=None, missing: str = "listwise"):
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

    obs = list(spec.observed)
    ordered = list(obs if ordered is None else ordered)
    X = X[obs]
    if missing not in ("listwise", "pairwise"):
        raise EstimationError(f"WLSMV with missing='{missing}' is not implemented; use "
                              f"'listwise' or 'pairwise'")
    if missing == "listwise" and X.isna().to_numpy().any():
        raise EstimationError("WLSMV with missing='listwise' needs complete answers: prepare "
                              "the data with missing='listwise', or use missing='pairwise'")
    from .identification import check_identification, flag_unidentified

    model = OrdinalModel(spec, ordered)
    ident = check_identification(spec, jacobian=model.jacobian, keep=model.keep)
    pc = polychoric(X, gamma=True, missing=missing)
    n = pc.nobs
    R = pc.correlation.to_numpy()
    tau = pc.thresholds.to_numpy()
    n_th = len(tau)
    G = pc.gamma
    pstar = len(model.rows)
    r = R[model.rows, model.cols]
    W_all = 1.0 / np.diag(G)
    w = W_all[n_th:]
    if not np.all(np.isfinite(W_all)) or np.any(np.diag(G) <= 0):
        raise EstimationError("the asymptotic variances of the polychoric correlations are not "
                              "all positive (empty categories or perfectly related items?)")
    theta0 = _start_values(model, R, n)
    theta, converged, msg = dwls_estimate(model, r, w, theta0)
    x_full = model.full(theta)

    # ---- robust covariance of (θ, τ) -----------------------------------------------------
    q = model.q_red
    Delta = np.zeros((n_th + pstar, q + n_th))
    Delta[:n_th, q:] = np.eye(n_th)
    Delta[n_th:, :q] = model.jacobian(theta)
    WD = W_all[:, None] * Delta
    H = Delta.T @ WD                                  # ΔᵀWΔ
    try:
        Hinv = np.linalg.inv(H)
        ev = np.linalg.eigvalsh(H)
        vcov_ok = bool(ev.min() > 1e-10 * ev.max())
    except np.linalg.LinAlgError:
        Hinv = np.full(H.shape, np.nan)
        vcov_ok = False
    # lavaan divides by N − 1 (N − G groups) for the least-squares estimators
    # (lav_model_vcov; the test statistic likewise uses N − 1)
    V = Hinv @ (WD.T @ G @ WD) @ Hinv / (n - 1) if vcov_ok else np.full(H.shape, np.nan)

    # ---- test statistics -------------------------------------------------------------------
    resid = r - model.sigma(theta)
    T = float((n - 1) * np.sum(w * resid ** 2))
    df = pstar - q
    Tb = float((n - 1) * np.sum(w * r ** 2))
    df_b = pstar
    G_rr = G[n_th:, n_th:]
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
    WG = w[:, None] * G_rr
    tr1b, tr2b = float(np.trace(WG)), float(np.sum(WG * WG.T))
    a_b = math.sqrt(df_b / tr2b)
    b_b = df_b - a_b * tr1b
    values = _fit_measures(T, df, Tb, df_b, n, q + n_th, a, b, a_b, b_b, R, model, theta, tau,
                           W_all)
    values.update(_catml_robust(R, model, theta, w, G_rr, n, df) if vcov_ok and df > 0 else
                  _catml_robust(None, model, theta, w, G_rr, n, df))
    from ..fitmeasures import in_lavaan_order

    fm = in_lavaan_order(values, likelihood=False, scaled=True, robust=True, categorical=True)
    shift = {k: values.get(k, np.nan) for k in ("chisq_shift_parameter",
                                                "baseline_chisq_shift_parameter")}

    res = _assemble(spec, model, theta, x_full, V, vcov_ok, tau, pc, fm, n, converged, msg,
                    report)
    # lavaan prints the shift parameters of the scaled-shifted test but does not list them
    # among its fit measures
    import dataclasses

    res = dataclasses.replace(res, info={**dict(res.info), **shift})
    return flag_unidentified(res, ident)


def _catml_robust(R, model, theta, w, G, n, df) -> dict:
    """lavaan's robust CFI/TLI/NNFI/RNI/RMSEA for categorical data (``lav_fit_catml_dwls``).

    The DWLS estimates are plugged into the ML discrepancy of the polychoric matrix ("catML",
    Savalei 2021): T₃ = N·F_ML(R, Σ̂*), with its own scaling c₃ = tr(UᵀVUΓ)/df, where
    U = I − Δ(ΔᵀWΔ)⁻¹ΔᵀW (DWLS), V = ½D'(Σ̂*⁻¹⊗Σ̂*⁻¹)D on the correlations, and for the
    baseline T₃,B = −N log|R| with c₃,B = tr(Γ)/df_B; the measures are then those of
    :func:`._scaled.robust_measures` with lavaan's N − 1.  Not defined (NaN) when R is not
    positive definite (or not given), as in lavaan.
    """
    from ._scaled import robust_measures

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
                  weights) -> dict:
    """The measures of the DWLS statistic T and its scaled-and-shifted version (lavaan's N for
    least-squares estimators is N − 1, ``lav_utils_get_ntotal``): :func:`chisq_measures`,
    the residual measures of the correlations (``residual_measures_categorical``), GFI on the
    thresholds and correlations with the DWLS weights (lavaan's ``lav_fit_gfi`` with a
    diagonal ``WLS.V``), WRMR = sqrt(T / moments) (``lav_fit_wrmr``) and the scaled ones."""
    from ..fitmeasures import chisq_measures, gfi_measures, residual_measures_categorical
    from ._scaled import scaled_measures

    n_ls = n - 1
    values = chisq_measures(T, df, Tb, df_b, n_ls, npar, ntotal=n)
    S = model.structure.sigma(model.full(theta))
    values.update(residual_measures_categorical(R, S, len(tau)))
    obs = np.concatenate([tau, R[model.rows, model.cols]])
    est = np.concatenate([tau, S[model.rows, model.cols]])
    gfi = 1 - np.sum(weights * (obs - est) ** 2) / np.sum(weights * obs ** 2)
    values.update(gfi_measures(gfi, len(obs), df))
    values["wrmr"] = float(np.sqrt(T / len(obs)))
    values["npar"] = npar
    if np.isfinite(a):
        values.update(scaled_measures(pd.Series(values), chisq_scaled=a * T + b, df_scaled=df,
                                      scaling_factor=1 / a,
                                      baseline_chisq_scaled=a_b * Tb + b_b,
                                      baseline_df_scaled=df_b, baseline_scaling_factor=1 / a_b,
                                      n=n_ls, kind="scaled.shifted", shift=b,
                                      baseline_shift=b_b, robust=False))
    return values


def _assemble(spec, model, theta, x_full, V, vcov_ok, tau, pc, fm, n, converged, msg, report):
    """The SEMResult: estimates with thresholds, standardized values and their SEs."""
    from ..solution import defined_rows as _defined_rows
    from ..results import SEMResult
    from ..standardized import RAM, standardized

    q = model.q_red
    n_th = len(tau)
    ram = RAM(spec)
    rows = ram.rows
    vals = ram.values(x_full)
    std_lv, std_all, r2 = standardized(ram, x_full, spec)
    # covariance of the full vector by the delta method through the residual variances
    Vt = V[:q, :q]
    Jg = model.full_jacobian(theta) if vcov_ok else None
    V_full = Jg @ Vt @ Jg.T if vcov_ok else np.full((model.structure.q,) * 2, np.nan)
    free_old = rows["free"].to_numpy()
    # renumber: reduced parameters 1..q, then thresholds q+1..q+n_th
    renum = {int(k) + 1: i + 1 for i, k in enumerate(model.keep)}
    free_new = np.array([renum.get(int(f), 0) if f > 0 else 0 for f in free_old])
    se = np.where(free_new > 0,
                  np.sqrt(np.clip(np.diag(V_full), 0, None))[np.maximum(free_old - 1, 0)],
                  0.0) if vcov_ok else np.where(free_new > 0, np.nan, 0.0)
    se_std = np.full(len(rows), np.nan)
    if vcov_ok:
        J = numerical_jacobian(lambda z: standardized(ram, model.full(z), spec)[1], theta,
                               rel_step=1e-6)
        se_std = np.sqrt(np.clip(np.einsum("ij,jk,ik->i", J, Vt, J), 0, None))
        se_std[~np.isfinite(std_all)] = np.nan
    table = pd.DataFrame({"lhs": rows.lhs, "op": rows.op, "rhs": rows.rhs, "label": rows.label,
                          "est": vals, "se": se, "std_lv": std_lv, "std_all": std_all,
                          "se_std_all": se_std, "free": free_new})
    # thresholds (y* has unit variance: std values equal the estimates)
    se_tau = np.sqrt(np.clip(np.diag(V)[q:], 0, None)) if vcov_ok else np.full(n_th, np.nan)
    names = list(pc.thresholds.index)
    th_rows = pd.DataFrame({"lhs": [s.split("|")[0] for s in names], "op": "|",
                            "rhs": [s.split("|")[1] for s in names], "label": "", "est": tau,
                            "se": se_tau, "std_lv": tau, "std_all": tau, "se_std_all": se_tau,
                            "free": np.arange(q + 1, q + n_th + 1)})
    table = pd.concat([table, th_rows], ignore_index=True)
    if len(spec.defined):
        table = pd.concat([table, _defined_rows(spec, rows, x_full, vals, std_lv, std_all,
                                                V_full, vcov_ok, ram)], ignore_index=True)
    from ..solution import wald_columns

    table = wald_columns(table)

    warnings_ = []
    if not converged:
        warnings_.append(f"the DWLS optimizer did not converge ({msg}); estimates are not "
                         f"trustworthy")
    if not vcov_ok:
        warnings_.append("the weighted information matrix is singular: the model is probably "
                         "not identified (standard errors not available)")
    admissible = vcov_ok
    var_rows = table[(table.op == "~~") & (table.lhs == table.rhs)]
    neg = var_rows[var_rows.est < 0]
    if len(neg):
        admissible = False
        names_ = ", ".join(f"{r.lhs} ({r.est:.3f})" for r in neg.itertuples())
        warnings_.append(f"negative variance estimate (Heywood case) for {names_}: for an "
                         f"ordinal item this means the model explains more than all of its "
                         f"latent response variance; the solution is inadmissible")
    lat = list(spec.latent)
    C = ram.total_cov(x_full)
    lat_ix = [ram.ix[v] for v in lat]
    latent_cov = pd.DataFrame(C[np.ix_(lat_ix, lat_ix)], index=lat, columns=lat)
    if lat and np.linalg.eigvalsh(latent_cov.to_numpy()).min() < -1e-10:
        admissible = False
        warnings_.append("the model-implied covariance matrix of the latent variables is not "
                         "positive definite (a latent correlation beyond ±1?)")
    cor_rows = table[(table.op == "~~") & (table.lhs != table.rhs)]
    big = cor_rows[np.abs(cor_rows.std_all) > 1]
    if len(big):
        admissible = False
        warnings_.append("standardized covariance beyond ±1: " + ", ".join(
            f"{r.lhs}~~{r.rhs} ({r.std_all:.3f})" for r in big.itertuples()))
    ev = np.linalg.eigvalsh(pc.correlation.to_numpy())
    if ev.min() <= 0:
        warnings_.append(f"the polychoric correlation matrix is not positive definite "
                         f"(smallest eigenvalue {ev.min():.3g}); DWLS still works, but check "
                         f"for sparse categories")

    pnames = []
    first = {}
    for r_ in table.itertuples():
        if r_.free > 0 and r_.free not in first:
            first[r_.free] = f"{r_.lhs}{r_.op}{r_.rhs}"
    pnames = [first[k] for k in range(1, q + n_th + 1)]
    obs = list(spec.observed)
    Sigma = model.structure.sigma(x_full)
    return SEMResult(
        spec=spec, estimates=table, fit_measures=fm, r2=pd.Series(r2, dtype=float),
        nobs=int(n), converged=bool(converged), admissible=bool(admissible),
        warnings=tuple(warnings_), estimator=ESTIMATOR,
        sample_cov=pc.correlation.copy(),
        implied_cov=pd.DataFrame(Sigma, index=obs, columns=obs), latent_cov=latent_cov,
        vcov=pd.DataFrame(V, index=pnames, columns=pnames), data_report=report,
        info={"x": x_full.copy(), "optimizer": msg, "test": "scaled.shifted",
              "se": "robust.sem", "thresholds": pc.thresholds.copy(),
              "parameterization": "delta"})
