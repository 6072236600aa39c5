"""Modification indices, expected parameter changes, and residual diagnostics.

Modification index of a parameter fixed at zero (Sörbom 1989; lavaan's ``modindices``): the
score test of freeing it, with the expected information at the ML solution,

    MI = (N/2) g_k² / (H_kk − H_kf H_ff⁻¹ H_fk),   EPC = −g_k / (H_kk − H_kf H_ff⁻¹ H_fk),

where g = ∂F_ML/∂θ (zero for the free parameters at the optimum), H_kl = tr(Σ⁻¹∂_kΣ Σ⁻¹∂_lΣ),
f the free parameters and k the candidate.  Candidates, as lavaan's defaults: every loading of
an item on a factor it does not load on, and every residual covariance between two observed
variables (and between latent variables) that the model fixes at zero.  The standardized EPC
(``sepc_all``) scales the EPC as std.all scales an estimate: a loading by sd(factor)/sd(item), a
covariance by the two residual SDs.

Residuals of the covariance matrix (lavaan's ``resid``): ``raw`` S − Σ̂; ``normalized``
(s_ij − σ̂_ij)/√((s_ii s_jj + s_ij²)/N); ``standardized`` divides by the standard error of the
residual, Var(s − σ̂) = QΓQᵀ/N with Γ = 2D⁺(S⊗S)D⁺ᵀ (normal theory, from the sample) and the
projection Q = I − Δ(ΔᵀWΔ)⁻¹ΔᵀW, W the normal-theory weight at Σ̂ (lavaan ≥ 0.6-6); elements
whose residual variance is ~0 (variances in a saturated block) are NaN.  All three equal
lavaan 0.6.14's ``resid()`` (HS39: 5e-6, 5e-6 and 4e-5).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import EstimationError
from ..numerics import invert_information

#: lavaan's refusal (``modindices()``: "could not compute modification indices; information
#: matrix is singular"), with what it means for the model
SINGULAR_INFORMATION = ("modification indices cannot be computed: the information matrix of "
                        "the fitted model is singular (the model may not be identified; "
                        "lavaan's modindices() refuses too) - identify the model first")


#: The one rule for a candidate without a score test (freeing it leaves the model
#: unidentified): its information conditional on the free parameters,
#: I_kk − I_kf I_ff⁻¹ I_fk, is at most this fraction of its own I_kk.  A ratio, so free of
#: the item's units; lavaan's NA rule compares the conditional information per observation
#: with .Machine$double.eps^(1/3) and so also drops the candidates of an item recorded in
#: large units (10 of HS39's 54 with x2 × 600; tests/test_modindices_constraints.py).
NO_SCORE_TEST = 1e-8


def _inverse_of_fitted_information(info: np.ndarray) -> np.ndarray:
    """The inverse of the fitted model's information (its free parameters, equality
    constraints applied), by the one singularity rule of every standard error
    (:func:`semcluster.numerics.invert_information`); a singular one stops with lavaan's
    refusal.

    Equality constraints (a label shared across groups, ``a == b``) are applied by giving the
    tied parameters one number; lavaan 0.6.14 keeps them apart and inverts the information
    bordered by the constraints' Jacobian (``lav_model_information_augment_invert``).  The
    block of that generalized inverse for the parameters is K(KᵀIK)⁻¹Kᵀ, K the map from the
    tied numbers to lavaan's parameters, so the score test is the same with either.
    """
    inv, ok = invert_information(info)
    if not ok:
        raise EstimationError(SINGULAR_INFORMATION)
    return inv


def modification_indices(result, *, sort: bool = True, minimum: float = 0.0) -> pd.DataFrame:
    """MI, EPC and standardized EPC for the zero-fixed loadings and covariances of a fit.

    Returns a DataFrame ``lhs op rhs mi epc sepc_all`` (largest MI first).  A fit with groups
    or a mean structure, or a FIML fit: :func:`group_modification_indices` (a ``group`` column
    per group; a FIML fit's score test uses the incomplete-data information, as lavaan's).
    """
    if getattr(result, "moments", ()) or result.missing == "fiml":
        return group_modification_indices(result, sort=sort, minimum=minimum)
    from ..model import ModelCore

    spec = result.spec
    x = np.asarray(result.info["x"], dtype=float)
    n = result.nobs
    obs = list(spec.observed)
    cs = ModelCore(spec, fixed_x_cov=result.sample_cov)
    Sigma, D = cs.jacobian(x)
    ram = cs.ram
    S = result.sample_cov.loc[obs, obs].to_numpy()
    Si = np.linalg.inv(Sigma)
    W = Si @ (Sigma - S) @ Si
    q = D.shape[0]
    SD = np.matmul(Si, D)
    Hff = SD.reshape(q, -1) @ SD.transpose(0, 2, 1).reshape(q, -1).T
    Hff_inv = _inverse_of_fitted_information(Hff)

    pt = spec.partable
    existing = set()
    for r in pt.itertuples():
        if r.op in ("=~", "~"):
            existing.add((r.lhs, r.op, r.rhs))
        elif r.op == "~~":
            existing.add((r.lhs, "~~", r.rhs))
            existing.add((r.rhs, "~~", r.lhs))
    latent = list(spec.latent)
    cands = []
    indicators = {f: set(pt.loc[(pt.op == "=~") & (pt.lhs == f), "rhs"]) for f in latent}
    for f in latent:
        for v in obs:
            if v not in indicators[f] and (f, "=~", v) not in existing and v not in spec.fixed_x:
                cands.append((f, "=~", v, "A", ram.ix[v], ram.ix[f]))
    for a_i, a in enumerate(obs):
        for b in obs[a_i + 1:]:
            if (a, "~~", b) not in existing and a not in spec.fixed_x and b not in spec.fixed_x:
                cands.append((a, "~~", b, "P", ram.ix[a], ram.ix[b]))
    for a_i, a in enumerate(latent):
        for b in latent[a_i + 1:]:
            if (a, "~~", b) not in existing:
                cands.append((a, "~~", b, "P", ram.ix[a], ram.ix[b]))

    std = result.estimates
    total_var = np.diag(ram.total_cov(x))
    _, P_, B_, C_ = cs.matrices(x)
    resvar = np.diag(P_)
    rows = []
    for lhs, op, rhs, kind, i, j in cands:
        d = cs.cell_derivative(B_, C_, kind == "A", i, j)
        g = float(np.sum(W * d))
        hk = Si @ d
        hkk = float(np.sum(hk * hk.T))
        hkf = np.einsum("ij,kji->k", hk, SD)
        denom = hkk - hkf @ Hff_inv @ hkf
        if not denom > NO_SCORE_TEST * hkk:
            continue
        mi = n / 2 * g * g / denom
        epc = -g / denom
        if op == "=~":
            sepc = epc * np.sqrt(total_var[j]) / np.sqrt(total_var[i])
        else:
            sepc = epc / np.sqrt(resvar[i] * resvar[j])
        rows.append({"lhs": lhs, "op": op, "rhs": rhs, "mi": mi, "epc": epc,
                     "sepc_all": sepc})
    out = pd.DataFrame(rows)
    if len(out):
        out = out[out.mi >= minimum]
        if sort:
            out = out.sort_values("mi", ascending=False)
    return out.reset_index(drop=True)


def residuals(result, type: str = "standardized") -> pd.DataFrame:
    """Residual covariance matrix: ``raw``, ``normalized`` or ``standardized`` (see above).
    A fit with groups or a mean structure: :func:`group_residuals` (per group, cov and
    mean)."""
    if getattr(result, "moments", ()):
        return group_residuals(result, type)
    obs = list(result.spec.observed)
    S = result.sample_cov.loc[obs, obs].to_numpy()
    Sig = result.implied_cov.loc[obs, obs].to_numpy()
    n = result.nobs
    R = S - Sig
    if type == "raw":
        out = R
    elif type == "normalized":
        # lavaan's normalized residuals scale by the sample moments (checked: 5e-6 on HS39)
        d = np.diag(S)
        out = R / np.sqrt((np.outer(d, d) + S ** 2) / n)
    elif type == "standardized":
        from ..model.core import ModelCore, duplication_matrix, normal_weight, vech_indices

        p = len(obs)
        Dplus = np.linalg.pinv(duplication_matrix(p))
        Gamma = 2 * Dplus @ np.kron(S, S) @ Dplus.T           # h1 ("unstructured")
        W = normal_weight(Sig)
        cs = ModelCore(result.spec, fixed_x_cov=result.sample_cov)
        _, Delta = cs.jacobian_vech(np.asarray(result.info["x"], dtype=float))
        # a generalized inverse on purpose, as lavaan's (lav_residuals_acov, use.ginv = TRUE):
        # Q projects off the model's tangent space, the same projection for any generalized
        # inverse, so a model with a singular information still has standardized residuals
        Q = np.eye(len(Gamma)) - Delta @ np.linalg.pinv(Delta.T @ W @ Delta) @ Delta.T @ W
        V = Q @ Gamma @ Q.T / n
        r, c = vech_indices(p)
        var = np.diag(V)
        out = np.full((p, p), np.nan)
        with np.errstate(invalid="ignore", divide="ignore"):
            z = np.where(var > 1e-12 * np.max(np.abs(var)), R[r, c] / np.sqrt(var), np.nan)
        out[r, c] = z
        out[c, r] = z
    else:
        from ..errors import OptionError

        raise OptionError("type must be 'raw', 'normalized' or 'standardized'")
    return pd.DataFrame(out, index=obs, columns=obs)


def largest_residuals(result, type: str = "standardized", k: int = 10) -> pd.DataFrame:
    """The k largest residuals (absolute value) of the lower triangle, with both variables."""
    if getattr(result, "moments", ()):
        from ..errors import OptionError

        raise OptionError("largest_residuals reads one covariance matrix: for a fit with groups "
                          "or a mean structure use residuals(result, 'raw' or 'normalized'), "
                          "one block per group")
    R = residuals(result, type)
    obs = list(R.index)
    rows = [{"lhs": obs[i], "rhs": obs[j], type: R.iloc[i, j]}
            for i in range(len(obs)) for j in range(i + 1) if np.isfinite(R.iloc[i, j])]
    out = pd.DataFrame(rows)
    return out.reindex(out[type].abs().sort_values(ascending=False).index).head(k)\
        .reset_index(drop=True)


def group_modification_indices(result, *, sort: bool = True,
                               minimum: float = 0.0) -> pd.DataFrame:
    """MI, EPC and standardized EPC of a fit with groups or a mean structure, per group
    (lavaan's ``modindices()``: a ``group`` column with several groups).

    The score test of freeing one cell in one group, with every other parameter (and every
    equality constraint) as fitted: for the model's free parameters f and the candidate k,
    MI = d_k² / (I_kk − I_kf I_ff⁻¹ I_fk) and EPC = d_k / (I_kk − I_kf I_ff⁻¹ I_fk), with d the
    gradient of the log-likelihood, d = −Σ_g (N_g/2) ∂F_g/∂θ (F_g the group's ML discrepancy
    with means), and I the expected information of the whole sample,
    Σ_g N_g [½ tr(Σ⁻¹∂Σ Σ⁻¹∂Σ) + ∂μᵀΣ⁻¹∂μ].  With one group and no means this is the formula
    of :func:`modification_indices`.  Candidates: as there (loadings on other factors,
    residual covariances the model fixes at zero), and every other fixed loading, regression
    or (co)variance of the group (a marker loading freed in one group while the equality
    constraints hold); a candidate whose freeing leaves the model unidentified (I_kk −
    I_kf I_ff⁻¹ I_fk ≈ 0, lavaan's NA) is left out.

    A FIML fit (``missing = "fiml"``): d is the gradient of the incomplete-data
    log-likelihood and I its expected information per missing-data pattern
    (:func:`_fiml_score_information`), as lavaan's ``modindices()`` on a ``missing = "ml"``
    fit; checked against lavaan 0.6.14 in tests/test_modindices_fiml.py.
    """
    from ..errors import OptionError
    from ..model.core import GroupCore

    spec = result.spec
    fiml = result.missing == "fiml"
    patterns = _fiml_patterns(result) if fiml else None
    data = None if fiml else [(m.sample_cov.to_numpy(), m.sample_mean.to_numpy(), int(m.nobs))
                              for m in result.moments]
    x = np.asarray(result.info["x"], dtype=float)
    if fiml and "nu" in result.info and len(x) < int(result.estimates.free.max()):
        # a one-group FIML fit keeps the intercepts apart (numbered after the other parameters)
        x = np.concatenate([x, np.asarray(result.info["nu"], dtype=float)])
    npar = len(x)
    obs, latent, fixed_x = list(spec.observed), list(spec.latent), set(spec.fixed_x)
    names = latent + obs                     # the RAM order (semcluster.model.RAM)
    ix = {v: n for n, v in enumerate(names)}
    obs_ix = np.array([ix[v] for v in obs])
    pt = spec.partable
    existing = set()
    for r in pt.itertuples():
        if r.op in ("=~", "~", "~~"):
            existing.add((r.lhs, r.op, r.rhs))
            if r.op == "~~":
                existing.add((r.rhs, "~~", r.lhs))
    indicators = {f: set(pt.loc[(pt.op == "=~") & (pt.lhs == f), "rhs"]) for f in latent}
    new_cells = []
    for f in latent:
        for v in obs:
            if v not in indicators[f] and (f, "=~", v) not in existing and v not in fixed_x:
                new_cells.append((f, "=~", v, "A", ix[v], ix[f]))
    for a_i, a in enumerate(obs):
        for b in obs[a_i + 1:]:
            if (a, "~~", b) not in existing and a not in fixed_x and b not in fixed_x:
                new_cells.append((a, "~~", b, "P", ix[a], ix[b]))
    for a_i, a in enumerate(latent):
        for b in latent[a_i + 1:]:
            if (a, "~~", b) not in existing:
                new_cells.append((a, "~~", b, "P", ix[a], ix[b]))
    # each group's cells, read from the estimates (the fitted parameter table): kind, RAM
    # position, parameter number (−1 fixed) and value
    e = result.estimates
    e = e[e.op != ":="]
    G = len(patterns) if fiml else len(result.moments)
    fills = []
    for g in range(G):
        rows = e[e.group == g + 1] if "group" in e.columns else e
        fill = []
        for r in rows.itertuples():
            if r.op == "=~":
                kind, i, j = "A", ix[r.rhs], ix[r.lhs]
            elif r.op == "~":
                kind, i, j = "A", ix[r.lhs], ix[r.rhs]
            elif r.op == "~~":
                kind, i, j = "P", ix[r.lhs], ix[r.rhs]
            else:
                kind, i, j = "m", ix[r.lhs], 0
            fixed_x_row = r.lhs in fixed_x and (r.op == "~1" or r.rhs in fixed_x)
            fill.append((r.lhs, r.op, r.rhs, kind, i, j, int(r.free) - 1, float(r.est),
                         fixed_x_row))
        fills.append(fill)
    cand = []              # (group, lhs, op, rhs, kind, i, j, position in the fill or -1)
    for g in range(G):
        for pos, (lhs, op, rhs, kind, i, j, k, _, fx) in enumerate(fills[g]):
            if k < 0 and op in ("=~", "~", "~~") and not fx:
                cand.append((g, lhs, op, rhs, kind, i, j, pos))
        for lhs, op, rhs, kind, i, j in new_cells:
            cand.append((g, lhs, op, rhs, kind, i, j, -1))
    q = npar + len(cand)
    x_ext = np.concatenate([x, np.zeros(len(cand))])
    cores, fitted = [], []
    for g in range(G):
        kinds = [c[3] for c in fills[g]]
        ii = [c[4] for c in fills[g]]
        jj = [c[5] for c in fills[g]]
        kk = [c[6] for c in fills[g]]
        vals = [c[7] for c in fills[g]]
        fitted.append(GroupCore(len(names), obs_ix, npar, kinds, ii, jj, kk, vals))
        for c, (cg, _, _, _, kind, i, j, pos) in enumerate(cand):
            if cg != g:
                continue
            k = npar + c
            if pos >= 0:
                kk[pos] = k
                x_ext[k] = vals[pos]
            else:
                kinds.append(kind)
                ii.append(i)
                jj.append(j)
                kk.append(k)
                vals.append(0.0)
        cores.append(GroupCore(len(names), obs_ix, q, kinds, ii, jj, kk, vals))
    d = np.zeros(q)
    info = np.zeros((q, q))
    if fiml:
        for core, pats in zip(cores, patterns):
            dg, ig = _fiml_score_information(core, pats, x_ext)
            d += dg
            info += ig
    else:
        for core, (S, xbar, n) in zip(cores, data):
            _, grad = core.ml_mean_value_gradient(x_ext, S, xbar, np.linalg.slogdet(S)[1])
            d -= n / 2 * grad
            info += n / 2 * core.information(x_ext)
    f = np.arange(npar)
    Iff_inv = _inverse_of_fitted_information(info[np.ix_(f, f)])
    rows = []
    for c, (g, lhs, op, rhs, kind, i, j, _) in enumerate(cand):
        k = npar + c
        ikf = info[k, f]
        denom = info[k, k] - ikf @ Iff_inv @ ikf
        if not denom > NO_SCORE_TEST * max(info[k, k], 1e-300):
            continue                   # freeing it leaves the model unidentified: no MI
        mi = d[k] ** 2 / denom
        epc = d[k] / denom
        _, P_, _, _, C_ = fitted[g].structure(x)
        if op in ("=~", "~"):
            sepc = epc * np.sqrt(C_[j, j]) / np.sqrt(C_[i, i])
        else:
            sepc = epc / np.sqrt(P_[i, i] * P_[j, j])
        rows.append({"lhs": lhs, "op": op, "rhs": rhs, "group": g + 1, "mi": float(mi),
                     "epc": float(epc), "sepc_all": float(sepc)})
    out = pd.DataFrame(rows, columns=["lhs", "op", "rhs", "group", "mi", "epc", "sepc_all"])
    if not result.groups:
        out = out.drop(columns="group")
    if len(out):
        out = out[out.mi >= minimum]
        if sort:
            out = out.sort_values("mi", ascending=False, kind="stable")
    return out.reset_index(drop=True)


def _fiml_patterns(result) -> list:
    """Per group, the missing-data patterns of the rows a FIML fit used (the fit keeps them
    with the result), items in the model's observed order: a list of (observed item
    positions, rows, mean, covariance with divisor n) per pattern."""
    from ..errors import OptionError

    data = getattr(result, "_data", None)
    if data is None:
        raise OptionError("modification indices of a FIML fit need the rows it was fitted to; "
                          "this result does not carry them (a result read back from JSON): "
                          "refit the model")
    obs = list(result.spec.observed)
    df = pd.DataFrame(data)
    if result.groups:
        col = df[result.group_column].astype(str)
        parts = [df[col == str(label)] for label in result.groups]
    else:
        parts = [df]
    out = []
    for part in parts:
        X = part[obs].to_numpy(dtype=float)
        keep = ~np.isnan(X).all(axis=1)
        if result.spec.fixed_x:        # FIML leaves out rows with a missing covariate
            fx = [obs.index(v) for v in result.spec.fixed_x]
            keep &= ~np.isnan(X[:, fx]).any(axis=1)
        X = X[keep]
        mask = ~np.isnan(X)
        keys, which = np.unique(mask, axis=0, return_inverse=True)
        pats = []
        for k, key in enumerate(keys):
            o = np.flatnonzero(key)
            rows = X[np.asarray(which).ravel() == k][:, o]
            m = rows.mean(axis=0)
            d = rows - m
            pats.append((o, rows.shape[0], m, d.T @ d / rows.shape[0]))
        out.append(pats)
    return out


def _fiml_score_information(core, patterns, x) -> tuple:
    """Gradient of the FIML log-likelihood of one group and its expected information, as
    lavaan's ``modindices()`` on a ``missing = "ml"`` fit (information = "expected",
    h1.information = "structured"): per missing-data pattern o with K_o = Σ_oo⁻¹ (padded with
    zeros), d_o = x̄_o − μ_o and T_o = S_o + d_o d_oᵀ,

        ∂logL/∂θ_k = Σ_o n_o [½ tr((K_o T_o K_o − K_o) ∂_kΣ) + d_oᵀ K_o ∂_kμ],
        I_kl       = Σ_o n_o [½ tr(K_o ∂_kΣ K_o ∂_lΣ) + ∂_kμᵀ K_o ∂_lμ],

    the expected information of the answers each pattern gives, at the fitted moments (the
    trace terms from the rank-two cell derivatives of :class:`semcluster.model.core.GroupCore`).
    """
    from ..errors import EstimationError

    _, _, mv, B, C = core.structure(x)
    Sigma, mu = core._obs_block(C), B[core._o] @ mv
    p = len(mu)
    dm = core.mean_incidence @ core._mean_cells(B, mv).T          # ∂μ/∂θ_k, (q, p)
    U, V = core._uv(B, C)                                        # ∂Σ per cell, rank two
    G = np.zeros((p, p))                                         # Σ n (K − KTK)
    g_mu = np.zeros(p)                                           # Σ n K d
    Kbar = np.zeros((p, p))
    info = np.zeros((core.q, core.q))
    for o, n_o, mean, cov in patterns:
        try:
            Koo = np.linalg.inv(np.linalg.cholesky(Sigma[np.ix_(o, o)]))
        except np.linalg.LinAlgError:
            raise EstimationError("FIML modification indices: a pattern's implied covariance "
                                  "matrix is not positive definite") from None
        Koo = Koo.T @ Koo
        d = mean - mu[o]
        K = np.zeros((p, p))
        K[np.ix_(o, o)] = Koo
        KTK = np.zeros((p, p))
        KTK[np.ix_(o, o)] = Koo @ (cov + np.outer(d, d)) @ Koo
        G += n_o * (K - KTK)
        g_mu[o] += n_o * Koo @ d
        Kbar += n_o * K
        info += n_o / 2 * core._sigma_information(K, U, V)
    grad = -0.5 * core.inner_gradient(x, G) + dm @ g_mu
    info += dm @ Kbar @ dm.T
    return grad, info


def group_residuals(result, type: str = "raw") -> dict:
    """Residuals of a fit with groups or a mean structure, per group (lavaan's ``resid()``):
    ``{group label: {"cov": S − Σ̂, "mean": x̄ − μ̂}}``; ``normalized`` divides the covariance
    residuals by √((s_ii s_jj + s_ij²)/N_g) and the mean residuals by √(s_ii/N_g).  The
    ``standardized`` type (the residuals over their standard errors) is not computed for these
    fits: a clear refusal."""
    from ..errors import OptionError

    if type not in ("raw", "normalized", "standardized"):
        raise OptionError("type must be 'raw', 'normalized' or 'standardized'")
    if type == "standardized":
        raise OptionError("standardized residuals of a fit with groups or a mean structure are "
                          "not computed; use type='raw' or 'normalized'")
    out = {}
    for m in result.moments:
        obs = list(m.sample_cov.index)
        S = m.sample_cov.to_numpy()
        R = S - m.implied_cov.loc[obs, obs].to_numpy()
        r = m.sample_mean.to_numpy() - m.implied_mean.loc[obs].to_numpy()
        if type == "normalized":
            d = np.diag(S)
            R = R / np.sqrt((np.outer(d, d) + S ** 2) / m.nobs)
            r = r / np.sqrt(d / m.nobs)
        out[m.label] = {"cov": pd.DataFrame(R, index=obs, columns=obs),
                        "mean": pd.Series(r, index=obs)}
    return out
