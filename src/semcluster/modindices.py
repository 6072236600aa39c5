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

def modification_indices(result, *, sort: bool = True, minimum: float = 0.0) -> pd.DataFrame:
    """MI, EPC and standardized EPC for the zero-fixed loadings and covariances of a fit.

    Returns a DataFrame ``lhs op rhs mi epc sepc_all`` (largest MI first).
    """
    from .model import ModelCore

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
    Hff_inv = np.linalg.pinv(Hff)

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
        if denom <= 1e-12:
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
    """Residual covariance matrix: ``raw``, ``normalized`` or ``standardized`` (see above)."""
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
        from .model.core import ModelCore, duplication_matrix, vech_indices

        p = len(obs)
        Dup = duplication_matrix(p)
        Dplus = np.linalg.pinv(Dup)
        Gamma = 2 * Dplus @ np.kron(S, S) @ Dplus.T           # h1 ("unstructured")
        W = np.linalg.inv(2 * Dplus @ np.kron(Sig, Sig) @ Dplus.T)
        cs = ModelCore(result.spec, fixed_x_cov=result.sample_cov)
        _, Delta = cs.jacobian_vech(np.asarray(result.info["x"], dtype=float))
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
        from .errors import OptionError

        raise OptionError("type must be 'raw', 'normalized' or 'standardized'")
    return pd.DataFrame(out, index=obs, columns=obs)


def largest_residuals(result, type: str = "standardized", k: int = 10) -> pd.DataFrame:
    """The k largest residuals (absolute value) of the lower triangle, with both variables."""
    R = residuals(result, type)
    obs = list(R.index)
    rows = [{"lhs": obs[i], "rhs": obs[j], type: R.iloc[i, j]}
            for i in range(len(obs)) for j in range(i + 1) if np.isfinite(R.iloc[i, j])]
    out = pd.DataFrame(rows)
    return out.reindex(out[type].abs().sort_values(ascending=False).index).head(k)\
        .reset_index(drop=True)
