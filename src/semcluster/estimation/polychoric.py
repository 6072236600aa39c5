"""Thresholds, polychoric correlations and their asymptotic covariance matrix.

Ordinal answers are taken as cut-up normal variables (Pearson 1900; Olsson 1979): item j shows
category c when τ_j,c−1 < y*_j ≤ τ_j,c.  Estimation is two-step, as in lavaan and Mplus:

1. **Thresholds** from each item's margins: τ_j,c = Φ⁻¹(proportion of answers ≤ c).
2. **Polychoric correlation** of each pair by maximum likelihood given the thresholds:
   maximise Σ_kl n_kl log P_kl(ρ), P_kl the bivariate-normal probability of cell (k, l)
   (Olsson 1979, "two-step" estimator).

The asymptotic covariance matrix Γ of (thresholds, correlations) follows Muthén (1984) and
lavaan's ``muthen1984()``: with casewise scores s_i of the univariate (threshold) and bivariate
(correlation) log-likelihoods stacked as an M-estimator, and
A = [[A11, 0], [A21, A22]], A11 = Σ s_τ s_τᵀ (block-diagonal by item), A22 = diag Σ s_ρ²,
A21 = Σ s_ρ s_τ,bivᵀ (the scores of the *bivariate* likelihood with respect to the thresholds),
Γ = N · A⁻¹ (Σ s_i s_iᵀ) A⁻ᵀ.  The information matrices are estimated by outer products of the
scores, as lavaan does.

Bivariate normal probabilities use Genz's (2004) method (after Drezner & Wesolowsky 1990), with
Gauss–Legendre quadrature of the Plackett-type integral; accurate to about 1e-15.

semopy's polychoric code is not used: it does not run on current numpy/scipy, and returned
Pearson correlations for DataFrame input in earlier versions (shared/semopy-notes.md).
Checked against lavaan 0.6.14 (``lavInspect(fit, "sampstat")`` and ``"gamma"``) in
tests/test_estimators.py.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import optimize, special

from ..errors import DataError

_BIG = 40.0      # stands in for ±∞ in threshold vectors: Φ(−40) and φ(40) underflow to 0
SQRT2PI = math.sqrt(2 * math.pi)


def _norm_cdf(x):
    return special.ndtr(x)


def _norm_pdf(x):
    return np.exp(-0.5 * np.asarray(x, dtype=float) ** 2) / SQRT2PI


def _gauss_legendre(n_pairs: int):
    x, w = np.polynomial.legendre.leggauss(2 * n_pairs)
    keep = x < 0
    return x[keep], w[keep]


_GL = {3: _gauss_legendre(3), 6: _gauss_legendre(6), 10: _gauss_legendre(10)}


def _bvn_upper(h, k, r):
    """P(X > h, Y > k) for a standard bivariate normal with correlation r (arrays, r scalar).

    Genz (2004), "Numerical computation of rectangular bivariate and trivariate normal and t
    probabilities", Statistics and Computing 14: 251-260, algorithm for the bivariate case.
    """
    h = np.asarray(h, dtype=float)
    k = np.asarray(k, dtype=float)
    h, k = np.broadcast_arrays(h, k)
    h = h.copy()
    k = k.copy()
    ar = abs(r)
    x, w = _GL[3] if ar < 0.3 else (_GL[6] if ar < 0.75 else _GL[10])
    hk = h * k
    if ar < 0.925:
        hs = (h * h + k * k) / 2
        asr = math.asin(r)
        sn1 = np.sin(asr * (1 - x) / 2)[:, None]
        sn2 = np.sin(asr * (1 + x) / 2)[:, None]
        hk_ = hk.ravel()[None, :]
        hs_ = hs.ravel()[None, :]
        s = (w[:, None] * (np.exp((sn1 * hk_ - hs_) / (1 - sn1 ** 2)) +
                           np.exp((sn2 * hk_ - hs_) / (1 - sn2 ** 2)))).sum(axis=0)
        bvn = s.reshape(h.shape) * asr / (4 * math.pi) + _norm_cdf(-h) * _norm_cdf(-k)
        return bvn
    if r < 0:
        k = -k
        hk = -hk
    bvn = np.zeros(h.shape)
    if ar < 1:
        as_ = (1 - r) * (1 + r)
        a = math.sqrt(as_)
        bs = (h - k) ** 2
        c = (4 - hk) / 8
        d = (12 - hk) / 16
        asr = -(bs / as_ + hk) / 2
        with np.errstate(over="ignore", under="ignore", invalid="ignore"):
            bvn = np.where(asr > -100,
                           a * np.exp(asr) * (1 - c * (bs - as_) * (1 - d * bs / 5) / 3 +
                                              c * d * as_ * as_ / 5), 0.0)
            b = np.sqrt(bs)
            term = np.exp(-hk / 2) * SQRT2PI * _norm_cdf(-b / a) * b * \
                (1 - c * bs * (1 - d * bs / 5) / 3)
            bvn = bvn - np.where(hk > -100, np.nan_to_num(term), 0.0)
            a2 = a / 2
            for sign in (-1.0, 1.0):
                xs = (a2 * (sign * x + 1)) ** 2                      # per node
                rs = np.sqrt(1 - xs)
                xs_ = xs[:, None]
                rs_ = rs[:, None]
                asr2 = -(bs.ravel()[None, :] / xs_ + hk.ravel()[None, :]) / 2
                hk_ = hk.ravel()[None, :]
                c_ = c.ravel()[None, :]
                d_ = d.ravel()[None, :]
                val = a2 * w[:, None] * np.exp(asr2) * (
                    np.exp(-hk_ * (1 - rs_) / (2 * (1 + rs_))) / rs_
                    - (1 + c_ * xs_ * (1 + d_ * xs_)))
                bvn = bvn + np.where(asr2 > -100, val, 0.0).sum(axis=0).reshape(h.shape)
        bvn = -bvn / (2 * math.pi)
    if r > 0:
        bvn = bvn + _norm_cdf(-np.maximum(h, k))
    else:
        bvn = -bvn
        diff = np.where(h < 0, _norm_cdf(k) - _norm_cdf(h), _norm_cdf(-h) - _norm_cdf(-k))
        bvn = bvn + np.where(k > h, diff, 0.0)
    return bvn


def bvn_cdf(h, k, r: float):
    """P(X ≤ h, Y ≤ k) for a standard bivariate normal with correlation ``r``."""
    h = np.clip(np.asarray(h, dtype=float), -_BIG, _BIG)
    k = np.clip(np.asarray(k, dtype=float), -_BIG, _BIG)
    return np.clip(_bvn_upper(-h, -k, r), 0.0, 1.0)


def bvn_pdf(h, k, r: float):
    """Standard bivariate normal density (0 at infinite arguments)."""
    h = np.asarray(h, dtype=float)
    k = np.asarray(k, dtype=float)
    s = 1 - r * r
    with np.errstate(over="ignore", invalid="ignore"):
        q = (h * h - 2 * r * h * k + k * k) / s
        out = np.exp(-q / 2) / (2 * math.pi * math.sqrt(s))
    return np.where(np.isfinite(h) & np.isfinite(k), np.nan_to_num(out), 0.0)


# ---------------------------------------------------------------------------------------------
# univariate step
# ---------------------------------------------------------------------------------------------
@dataclass
class OrdinalItem:
    """One ordinal item: its categories, codes (0..K−1 per row), counts and thresholds."""

    name: str
    levels: np.ndarray        # observed answer values, ascending
    codes: np.ndarray         # per row, 0..K-1 (−1: no answer)
    counts: np.ndarray
    thresholds: np.ndarray    # K-1 finite values

    @property
    def bounds(self):
        """(lower, upper) threshold of each category, with ∓40 for ∓∞."""
        t = np.concatenate([[-_BIG], self.thresholds, [_BIG]])
        return t[:-1], t[1:]

    def scores(self) -> np.ndarray:
        """Casewise scores of the univariate log-likelihood w.r.t. the thresholds (N × K−1);
        zero for rows without an answer."""
        lo, up = self.bounds
        P = _norm_cdf(up) - _norm_cdf(lo)
        K = len(self.levels)
        S = np.zeros((K, K - 1))
        for c in range(K):
            if c < K - 1:
                S[c, c] = _norm_pdf(up[c]) / P[c]
            if c > 0:
                S[c, c - 1] = -_norm_pdf(lo[c]) / P[c]
        out = S[np.maximum(self.codes, 0)]
        out[self.codes < 0] = 0.0
        return out


def ordinal_item(name: str, x: np.ndarray) -> OrdinalItem:
    """Categories and thresholds of one item (NaN: no answer; thresholds from the answers)."""
    x = np.asarray(x, dtype=float)
    seen = ~np.isnan(x)
    levels, codes_seen, counts = np.unique(x[seen], return_inverse=True, return_counts=True)
    if len(levels) < 2:
        raise DataError(f"ordinal item '{name}' has a single category: no threshold or "
                        f"polychoric correlation can be estimated")
    codes = np.full(len(x), -1, dtype=int)
    codes[seen] = codes_seen.ravel()
    cum = np.cumsum(counts)[:-1] / int(seen.sum())
    return OrdinalItem(name=name, levels=levels, codes=codes, counts=counts,
                       thresholds=special.ndtri(cum))


# ---------------------------------------------------------------------------------------------
# bivariate step
# ---------------------------------------------------------------------------------------------
def _cell_probabilities(a: OrdinalItem, b: OrdinalItem, rho: float) -> np.ndarray:
    ta = np.concatenate([[-_BIG], a.thresholds, [_BIG]])
    tb = np.concatenate([[-_BIG], b.thresholds, [_BIG]])
    F = bvn_cdf(ta[:, None], tb[None, :], rho)         # (Ka+1) × (Kb+1) grid of Φ2
    P = F[1:, 1:] - F[:-1, 1:] - F[1:, :-1] + F[:-1, :-1]
    return np.maximum(P, 1e-300)


def _cell_rho_derivative(a: OrdinalItem, b: OrdinalItem, rho: float) -> np.ndarray:
    ta = np.concatenate([[-np.inf], a.thresholds, [np.inf]])
    tb = np.concatenate([[-np.inf], b.thresholds, [np.inf]])
    f = bvn_pdf(ta[:, None], tb[None, :], rho)
    return f[1:, 1:] - f[:-1, 1:] - f[1:, :-1] + f[:-1, :-1]


def _contingency(a: OrdinalItem, b: OrdinalItem) -> np.ndarray:
    n = np.zeros((len(a.levels), len(b.levels)))
    both = (a.codes >= 0) & (b.codes >= 0)            # pairwise-complete rows
    np.add.at(n, (a.codes[both], b.codes[both]), 1.0)
    return n


def polychoric_pair(a: OrdinalItem, b: OrdinalItem, *, start: float | None = None) -> float:
    """ML estimate of the polychoric correlation of two items, thresholds held fixed.

    For a 2 × 2 table with an empty cell, 0.5 is added to the empty cell(s) first (lavaan's
    ``zero.add`` default for such tables); larger tables are used as they are.
    """
    n = _contingency(a, b)
    if n.shape == (2, 2) and (n == 0).any():
        n = np.where(n == 0, 0.5, n)

    def negll(r):
        return -float(np.sum(n * np.log(_cell_probabilities(a, b, r))))

    def grad(r):
        P = _cell_probabilities(a, b, r)
        return -float(np.sum(n * _cell_rho_derivative(a, b, r) / P))

    lim = 1 - 1e-7
    # a coarse scan protects against a poor local start, then Brent on the bracket
    grid = np.linspace(-0.98, 0.98, 15)
    vals = [negll(r) for r in grid]
    i = int(np.argmin(vals))
    lo = grid[max(i - 1, 0)] if i > 0 else -lim
    hi = grid[min(i + 1, len(grid) - 1)] if i < len(grid) - 1 else lim
    res = optimize.minimize_scalar(negll, bounds=(lo, hi), method="bounded",
                                   options={"xatol": 1e-10, "maxiter": 500})
    r = float(res.x)
    # polish with Newton steps on the score (outer-product information)
    for _ in range(5):
        P = _cell_probabilities(a, b, r)
        d = _cell_rho_derivative(a, b, r)
        g = float(np.sum(n * d / P))
        info = float(np.sum(n * (d / P) ** 2))
        if info <= 0:
            break
        step = g / info
        if abs(step) < 1e-12 or not (-lim < r + step < lim):
            break
        if negll(r + step) <= negll(r) + 1e-12:
            r += step
        else:
            break
    return r


def _pair_scores(a: OrdinalItem, b: OrdinalItem, rho: float):
    """Per-cell scores of the bivariate log-likelihood: w.r.t. ρ and both items' thresholds."""
    ta = np.concatenate([[-_BIG], a.thresholds, [_BIG]])
    tb = np.concatenate([[-_BIG], b.thresholds, [_BIG]])
    P = _cell_probabilities(a, b, rho)
    s_rho = _cell_rho_derivative(a, b, rho) / P
    s = math.sqrt(1 - rho * rho)
    Ka, Kb = len(a.levels), len(b.levels)
    # dΦ2(x, y)/dx = φ(x) Φ((y − ρx)/s)
    G = _norm_pdf(ta)[:, None] * _norm_cdf((tb[None, :] - rho * ta[:, None]) / s)   # (Ka+1)×(Kb+1)
    dA = G[:, 1:] - G[:, :-1]          # d[F(x, u2) − F(x, l2)]/dx at each a-threshold row
    Hb = _norm_pdf(tb)[None, :] * _norm_cdf((ta[:, None] - rho * tb[None, :]) / s)
    dB = Hb[1:, :] - Hb[:-1, :]        # d[F(u1, y) − F(l1, y)]/dy at each b-threshold column
    s_ta = np.zeros((Ka, Kb, Ka - 1))
    s_tb = np.zeros((Ka, Kb, Kb - 1))
    for m in range(Ka - 1):            # threshold m is the upper bound of category m
        s_ta[m, :, m] += dA[m + 1, :] / P[m, :]
        s_ta[m + 1, :, m] -= dA[m + 1, :] / P[m + 1, :]
    for m in range(Kb - 1):
        s_tb[:, m, m] += dB[:, m + 1] / P[:, m]
        s_tb[:, m + 1, m] -= dB[:, m + 1] / P[:, m + 1]
    return s_rho, s_ta, s_tb


@dataclass(frozen=True)
class PolychoricResult:
    """Thresholds, polychoric correlations and (optionally) their asymptotic covariance.

    Attributes
    ----------
    correlation : DataFrame
        Polychoric correlation matrix.
    thresholds : Series
        Indexed ``item|t1``, ``item|t2`` ... (lavaan's names and order).
    gamma : ndarray or None
        Asymptotic covariance matrix of √N·(thresholds, correlations in vechs order),
        lavaan's ``lavInspect(fit, "gamma")``.
    nobs : int
    items : list of OrdinalItem
    """

    correlation: pd.DataFrame
    thresholds: pd.Series
    gamma: np.ndarray | None
    nobs: int
    items: list


def polychoric(data: pd.DataFrame, *, gamma: bool = True,
               missing: str = "listwise") -> PolychoricResult:
    """Polychoric correlation matrix (two-step ML) with thresholds and their Γ matrix.

    Parameters
    ----------
    data : DataFrame
        Ordinal answers (whole numbers; any coding, only the order matters).
    gamma : bool
        Also compute the asymptotic covariance matrix (needed for WLSMV).
    missing : {"listwise", "pairwise"}
        ``listwise`` requires complete answers; ``pairwise`` (lavaan's ``missing =
        "pairwise"``) takes each threshold from the item's answers and each correlation from the
        rows answering both items; missing answers contribute zero scores to Γ.

    Raises
    ------
    DataError
        Missing answers (listwise), non-integer answers, an item with a single category, or a
        pair of items never answered together.
    """
    if missing not in ("listwise", "pairwise"):
        raise DataError(f"missing='{missing}': use 'listwise' or 'pairwise'")
    if missing == "listwise" and data.isna().to_numpy().any():
        raise DataError("polychoric correlations here need complete answers; drop incomplete "
                        "rows (missing='listwise') first, or use missing='pairwise'")
    names = [str(c) for c in data.columns]
    X = data.to_numpy(dtype=float)
    seen = ~np.isnan(X)
    if (~seen.any(axis=1)).any():
        raise DataError("rows without any answer must be dropped before polychoric correlations")
    both = seen.astype(int).T @ seen.astype(int)
    if (both < 2).any():
        i, j = np.argwhere(both < 2)[0]
        raise DataError(f"items '{names[i]}' and '{names[j]}' are answered together in "
                        f"{int(both[i, j])} row(s); no polychoric correlation can be estimated")
    if np.any(np.abs(X[seen] - np.round(X[seen])) > 1e-9):
        raise DataError("ordinal items must hold whole-number categories")
    n, p = X.shape
    items = [ordinal_item(names[j], X[:, j]) for j in range(p)]
    R = np.eye(p)
    for j in range(p):
        for i in range(j + 1, p):
            R[i, j] = R[j, i] = polychoric_pair(items[i], items[j])
    th_names = [f"{it.name}|t{m + 1}" for it in items for m in range(len(it.thresholds))]
    th = pd.Series(np.concatenate([it.thresholds for it in items]), index=th_names)
    G = _gamma(items, R, n) if gamma else None
    return PolychoricResult(correlation=pd.DataFrame(R, index=names, columns=names),
                            thresholds=th, gamma=G, nobs=n, items=items)


def _gamma(items: list, R: np.ndarray, n: int) -> np.ndarray:
    p = len(items)
    nth = [len(it.thresholds) for it in items]
    start = np.concatenate([[0], np.cumsum(nth)])
    n_th = int(start[-1])
    pairs = [(i, j) for j in range(p) for i in range(j + 1, p)]   # vechs order
    pstar = len(pairs)
    SC_th = np.zeros((n, n_th))
    for j, it in enumerate(items):
        SC_th[:, start[j]:start[j + 1]] = it.scores()
    SC_cor = np.zeros((n, pstar))
    A21 = np.zeros((pstar, n_th))
    for k, (i, j) in enumerate(pairs):
        a, b = items[i], items[j]
        s_rho, s_ta, s_tb = _pair_scores(a, b, R[i, j])
        both = (a.codes >= 0) & (b.codes >= 0)
        ci, cj = a.codes[both], b.codes[both]
        SC_cor[both, k] = s_rho[ci, cj]
        A21[k, start[i]:start[i + 1]] = SC_cor[both, k] @ s_ta[ci, cj]
        A21[k, start[j]:start[j + 1]] = SC_cor[both, k] @ s_tb[ci, cj]
    SC = np.hstack([SC_th, SC_cor])
    inner = SC.T @ SC
    A11 = np.zeros((n_th, n_th))
    for j in range(p):
        sl = slice(start[j], start[j + 1])
        A11[sl, sl] = inner[sl, sl]
    A22_diag = np.sum(SC_cor ** 2, axis=0)
    A11_inv = np.linalg.inv(A11)
    A22_inv = np.diag(1.0 / A22_diag)
    A21_inv = -A22_inv @ A21 @ A11_inv
    B_inv = np.block([[A11_inv, np.zeros((n_th, pstar))], [A21_inv, A22_inv]])
    return n * (B_inv @ inner @ B_inv.T)


# ---------------------------------------------------------------------------------------------
# with exogenous covariates (lavaan's conditional.x = TRUE)
# ---------------------------------------------------------------------------------------------
def _probit_bounds(codes: np.ndarray, tau: np.ndarray, eta: np.ndarray):
    """Lower and upper standardized bounds τ_{c−1} − η, τ_c − η of each row's category."""
    t = np.concatenate([[-np.inf], tau, [np.inf]])
    lo = t[codes] - eta
    up = t[codes + 1] - eta
    return np.clip(lo, -_BIG, _BIG), np.clip(up, -_BIG, _BIG)


def _probit_scores(codes, K, X, par):
    """Casewise log-likelihood and scores (N × (K−1+k)) of an ordered probit regression
    y* = Xβ + e, e ~ N(0, 1), with parameters (τ_1..τ_{K−1}, β)."""
    n = len(codes)
    tau, beta = par[:K - 1], par[K - 1:]
    eta = X @ beta
    lo, up = _probit_bounds(codes, tau, eta)
    P = np.maximum(_norm_cdf(up) - _norm_cdf(lo), 1e-300)
    fu = np.where(codes < K - 1, _norm_pdf(up), 0.0)
    fl = np.where(codes > 0, _norm_pdf(lo), 0.0)
    S = np.zeros((n, K - 1 + X.shape[1]))
    r = np.arange(n)
    up_ix = codes < K - 1
    S[r[up_ix], codes[up_ix]] += fu[up_ix] / P[up_ix]
    lo_ix = codes > 0
    S[r[lo_ix], codes[lo_ix] - 1] -= fl[lo_ix] / P[lo_ix]
    S[:, K - 1:] = -X * ((fu - fl) / P)[:, None]
    return np.log(P), S


def ordered_probit(codes: np.ndarray, K: int, X: np.ndarray, *, tol: float = 1e-10):
    """ML estimates (τ, β) of an ordered probit regression (lavaan's ``lav_uvord_fit``).

    Newton steps on the analytic scores with the Hessian by central differences of the scores,
    step halving; started from the marginal thresholds and β = 0.
    """
    from ._structure import numerical_jacobian

    n = len(codes)
    counts = np.bincount(codes, minlength=K)
    par = np.concatenate([special.ndtri(np.cumsum(counts)[:-1] / n), np.zeros(X.shape[1])])

    def ll(p):
        if np.any(np.diff(p[:K - 1]) <= 0):
            return -np.inf
        return float(np.sum(_probit_scores(codes, K, X, p)[0]))

    def grad(p):
        return _probit_scores(codes, K, X, p)[1].sum(axis=0)

    f = ll(par)
    for _ in range(100):
        g = grad(par)
        if np.max(np.abs(g)) < tol * n:
            break
        H = numerical_jacobian(grad, par, rel_step=1e-6)
        H = (H + H.T) / 2
        try:
            step = np.linalg.solve(-H, g)
        except np.linalg.LinAlgError:
            step = np.linalg.lstsq(-H, g, rcond=None)[0]
        t = 1.0
        while t > 1e-10:
            fn = ll(par + t * step)
            if np.isfinite(fn) and fn >= f - 1e-12 * abs(f):
                break
            t /= 2
        par, f = par + t * step, fn
    return par


def _pair_rows(ci, cj, Ki, Kj, pi, pj, Xi, rho):
    """Per-row probability of a pair's observed categories and its derivatives: w.r.t. ρ and
    w.r.t. each item's (τ, β) (conditional bivariate probit, parameters of the items fixed)."""
    lo1, up1 = _probit_bounds(ci, pi[:Ki - 1], Xi @ pi[Ki - 1:])
    lo2, up2 = _probit_bounds(cj, pj[:Kj - 1], Xi @ pj[Kj - 1:])
    P = (bvn_cdf(up1, up2, rho) - bvn_cdf(lo1, up2, rho) - bvn_cdf(up1, lo2, rho)
         + bvn_cdf(lo1, lo2, rho))
    P = np.maximum(P, 1e-300)
    inf1u, inf1l = ci == Ki - 1, ci == 0
    inf2u, inf2l = cj == Kj - 1, cj == 0
    U1 = np.where(inf1u, np.inf, up1)
    L1 = np.where(inf1l, -np.inf, lo1)
    U2 = np.where(inf2u, np.inf, up2)
    L2 = np.where(inf2l, -np.inf, lo2)
    dr = bvn_pdf(U1, U2, rho) - bvn_pdf(L1, U2, rho) - bvn_pdf(U1, L2, rho) + bvn_pdf(L1, L2, rho)
    s = math.sqrt(1 - rho * rho)

    def d_first(a, b_up, b_lo):        # d/da [Φ2(a, b_up) − Φ2(a, b_lo)]
        with np.errstate(invalid="ignore"):
            v = _norm_pdf(a) * (_norm_cdf((b_up - rho * a) / s) - _norm_cdf((b_lo - rho * a) / s))
        return np.nan_to_num(v)

    dU1 = np.where(inf1u, 0.0, d_first(up1, up2, lo2))
    dL1 = np.where(inf1l, 0.0, -d_first(lo1, up2, lo2))
    dU2 = np.where(inf2u, 0.0, d_first(up2, up1, lo1))
    dL2 = np.where(inf2l, 0.0, -d_first(lo2, up1, lo1))
    return P, dr, (dU1, dL1), (dU2, dL2)


def _item_param_scores(codes, K, X, dU, dL, P):
    """Scores of a pair's log-likelihood w.r.t. one item's (τ, β) from dP/d(upper, lower)."""
    n = len(codes)
    out = np.zeros((n, K - 1 + X.shape[1]))
    r = np.arange(n)
    m = codes < K - 1
    out[r[m], codes[m]] += dU[m] / P[m]
    m = codes > 0
    out[r[m], codes[m] - 1] += dL[m] / P[m]
    out[:, K - 1:] = -X * ((dU + dL) / P)[:, None]
    return out


@dataclass(frozen=True)
class ConditionalPolychoric:
    """First stage of WLSMV with exogenous covariates (lavaan's ``conditional.x = TRUE``).

    Attributes
    ----------
    thresholds : Series
        ``item|t1`` ... of the ordered probit regressions (at x = 0, lavaan's values).
    slopes : DataFrame
        Items × covariates: the probit regression coefficients.
    correlation : DataFrame
        Residual polychoric correlations (of y* given x).
    gamma : ndarray
        Asymptotic covariance of √N·(thresholds, slopes, correlations); slopes item by item
        (all covariates of item 1, then item 2 ...), correlations in vechs order.
    nobs : int
    """

    thresholds: pd.Series
    slopes: pd.DataFrame
    correlation: pd.DataFrame
    gamma: np.ndarray
    nobs: int


def conditional_polychoric(Y: pd.DataFrame, Xexo: pd.DataFrame) -> ConditionalPolychoric:
    """Ordered probit regressions of each item on the covariates, residual polychoric
    correlations of each pair given the regressions (two-step ML), and Γ by Muthén (1984) with
    the items' (τ, β) blocks (lavaan's ``lav_samplestats_step1/2`` and ``lav_muthen1984`` with
    ``eXo``). Complete data only."""
    names = [str(c) for c in Y.columns]
    Ya = Y.to_numpy(dtype=float)
    X = Xexo.to_numpy(dtype=float)
    if np.isnan(Ya).any() or np.isnan(X).any():
        raise DataError("WLSMV with covariates needs complete data (missing='listwise')")
    if np.any(np.abs(Ya - np.round(Ya)) > 1e-9):
        raise DataError("ordinal items must hold whole-number categories")
    n, p = Ya.shape
    nx = X.shape[1]
    codes, Ks, pars = [], [], []
    for j in range(p):
        levels, c = np.unique(Ya[:, j], return_inverse=True)
        if len(levels) < 2:
            raise DataError(f"ordinal item '{names[j]}' has a single category")
        codes.append(c.ravel())
        Ks.append(len(levels))
        pars.append(ordered_probit(c.ravel(), len(levels), X))
    pairs = [(i, j) for j in range(p) for i in range(j + 1, p)]     # vechs order
    R = np.eye(p)
    for (i, j) in pairs:
        def negll(r, i=i, j=j):
            P = _pair_rows(codes[i], codes[j], Ks[i], Ks[j], pars[i], pars[j], X, r)[0]
            return -float(np.sum(np.log(P)))
        grid = np.linspace(-0.98, 0.98, 15)
        k = int(np.argmin([negll(r) for r in grid]))
        lo = grid[k - 1] if k > 0 else -1 + 1e-7
        hi = grid[k + 1] if k < len(grid) - 1 else 1 - 1e-7
        r = float(optimize.minimize_scalar(negll, bounds=(lo, hi), method="bounded",
                                           options={"xatol": 1e-12, "maxiter": 500}).x)
        for _ in range(5):        # Newton polish on the score (outer-product information)
            P, dr = _pair_rows(codes[i], codes[j], Ks[i], Ks[j], pars[i], pars[j], X, r)[:2]
            sc = dr / P
            step = float(sc.sum() / np.sum(sc ** 2))
            if abs(step) < 1e-13 or negll(r + step) > negll(r) + 1e-12:
                break
            r += step
        R[i, j] = R[j, i] = r
    # ---- Γ ---------------------------------------------------------------------------------
    npar = [Ks[j] - 1 + nx for j in range(p)]
    start = np.concatenate([[0], np.cumsum(npar)])
    n1 = int(start[-1])
    SC1 = np.zeros((n, n1))
    for j in range(p):
        SC1[:, start[j]:start[j + 1]] = _probit_scores(codes[j], Ks[j], X, pars[j])[1]
    SCr = np.zeros((n, len(pairs)))
    A21 = np.zeros((len(pairs), n1))
    for k, (i, j) in enumerate(pairs):
        P, dr, (dU1, dL1), (dU2, dL2) = _pair_rows(codes[i], codes[j], Ks[i], Ks[j], pars[i],
                                                   pars[j], X, R[i, j])
        SCr[:, k] = dr / P
        A21[k, start[i]:start[i + 1]] = SCr[:, k] @ _item_param_scores(codes[i], Ks[i], X,
                                                                       dU1, dL1, P)
        A21[k, start[j]:start[j + 1]] = SCr[:, k] @ _item_param_scores(codes[j], Ks[j], X,
                                                                       dU2, dL2, P)
    SC = np.hstack([SC1, SCr])
    inner = SC.T @ SC
    A11 = np.zeros((n1, n1))
    for j in range(p):
        sl = slice(start[j], start[j + 1])
        A11[sl, sl] = inner[sl, sl]
    A11_inv = np.linalg.inv(A11)
    A22_inv = np.diag(1.0 / np.sum(SCr ** 2, axis=0))
    B_inv = np.block([[A11_inv, np.zeros((n1, len(pairs)))],
                      [-A22_inv @ A21 @ A11_inv, A22_inv]])
    G1 = n * (B_inv @ inner @ B_inv.T)
    # reorder (τ_1, β_1, τ_2, β_2, ...) to (τ all items, β all items, ρ)
    th_ix = np.concatenate([np.arange(start[j], start[j] + Ks[j] - 1) for j in range(p)])
    sl_ix = np.concatenate([np.arange(start[j] + Ks[j] - 1, start[j + 1]) for j in range(p)])
    order = np.concatenate([th_ix, sl_ix, n1 + np.arange(len(pairs))])
    G = G1[np.ix_(order, order)]
    th_names = [f"{names[j]}|t{m + 1}" for j in range(p) for m in range(Ks[j] - 1)]
    th = pd.Series(np.concatenate([pars[j][:Ks[j] - 1] for j in range(p)]), index=th_names)
    slopes = pd.DataFrame([pars[j][Ks[j] - 1:] for j in range(p)], index=names,
                          columns=list(Xexo.columns))
    return ConditionalPolychoric(thresholds=th, slopes=slopes,
                                 correlation=pd.DataFrame(R, index=names, columns=names),
                                 gamma=G, nobs=n)


# ---------------------------------------------------------------------------------------------
# a mix of ordinal and continuous variables (polychoric, polyserial and Pearson)
# ---------------------------------------------------------------------------------------------
def _polyserial_rows(y, mu, var, item: OrdinalItem, rho):
    """Per-row likelihood pieces of a continuous y and an ordinal item (bivariate normal with the
    item cut at its thresholds): P(category | y), the standardized bounds and z."""
    sd = math.sqrt(var)
    z = (y - mu) / sd
    s = math.sqrt(1 - rho * rho)
    lo, up = item.bounds
    c = item.codes
    u = (up[c] - rho * z) / s
    l_ = (lo[c] - rho * z) / s
    P = np.maximum(_norm_cdf(u) - _norm_cdf(l_), 1e-300)
    fu = np.where(c < len(item.levels) - 1, _norm_pdf(u), 0.0)
    fl = np.where(c > 0, _norm_pdf(l_), 0.0)
    return z, s, u, l_, P, fu, fl


def polyserial_pair(y, mu, var, item: OrdinalItem) -> float:
    """Two-step ML polyserial correlation (mean, variance and thresholds held at their
    univariate estimates), lavaan's ``lav_bvmix_cor_twostep_fit``."""
    def negll(r):
        return -float(np.sum(np.log(_polyserial_rows(y, mu, var, item, r)[4])))

    grid = np.linspace(-0.98, 0.98, 15)
    k = int(np.argmin([negll(r) for r in grid]))
    lo = grid[k - 1] if k > 0 else -1 + 1e-7
    hi = grid[k + 1] if k < len(grid) - 1 else 1 - 1e-7
    return float(optimize.minimize_scalar(negll, bounds=(lo, hi), method="bounded",
                                          options={"xatol": 1e-13, "maxiter": 500}).x)


def _polyserial_scores(y, mu, var, item: OrdinalItem, rho):
    """Scores of the bivariate (continuous, ordinal) log-likelihood: ρ, μ, σ², thresholds."""
    z, s, u, l_, P, fu, fl = _polyserial_rows(y, mu, var, item, rho)
    lo, up = item.bounds
    c = item.codes
    sd = math.sqrt(var)
    tu = up[c]
    tl = lo[c]
    d_rho = (fu * (rho * tu - z) - fl * (rho * tl - z)) / (s ** 3 * P)
    d_mu = z / sd + (fu - fl) * rho / (s * sd * P)
    d_var = (z * z - 1) / (2 * var) + (fu - fl) * rho * z / (2 * s * var * P)
    K = len(item.levels)
    d_th = np.zeros((len(y), K - 1))
    r = np.arange(len(y))
    m = c < K - 1
    d_th[r[m], c[m]] += fu[m] / (s * P[m])
    m = c > 0
    d_th[r[m], c[m] - 1] -= fl[m] / (s * P[m])
    return d_rho, d_mu, d_var, d_th


@dataclass(frozen=True)
class MixedCorrelations:
    """First stage of WLSMV with ordinal and continuous items (no covariates).

    Attributes
    ----------
    thresholds : Series
        Thresholds of the ordinal items (``item|t1`` ...) and means of the continuous ones
        (``item|mean``), variable by variable (lavaan's TH vector, means unsigned).
    variances : Series
        Variances of the continuous items (N divisor).
    cov : DataFrame
        Polychoric correlations (ordinal pairs), polyserial correlation × SD (ordinal ×
        continuous), covariances (continuous pairs); unit diagonal for the ordinal items.
    gamma : ndarray
        Asymptotic covariance of √N·(thresholds and means, variances, vechs(cov)), lavaan's
        ``muthen1984`` with the H transformation from correlations to covariances.
    nobs : int
    ordered : list of str
    """

    thresholds: pd.Series
    variances: pd.Series
    cov: pd.DataFrame
    gamma: np.ndarray
    nobs: int
    ordered: list


def mixed_correlations(data: pd.DataFrame, ordered: list) -> MixedCorrelations:
    """Thresholds/means, variances, polychoric/polyserial/Pearson (co)variances and their Γ
    (complete data)."""
    names = [str(c) for c in data.columns]
    X = data.to_numpy(dtype=float)
    if np.isnan(X).any():
        raise DataError("WLSMV with continuous items needs complete data (missing='listwise')")
    n, p = X.shape
    is_ord = np.array([v in set(ordered) for v in names])
    items, mu, var = {}, {}, {}
    for j in range(p):
        if is_ord[j]:
            if np.any(np.abs(X[:, j] - np.round(X[:, j])) > 1e-9):
                raise DataError(f"ordinal item '{names[j]}' must hold whole-number categories")
            items[j] = ordinal_item(names[j], X[:, j])
        else:
            mu[j] = float(X[:, j].mean())
            var[j] = float(X[:, j].var())
    pairs = [(i, j) for j in range(p) for i in range(j + 1, p)]
    R = np.eye(p)
    for (i, j) in pairs:
        if is_ord[i] and is_ord[j]:
            R[i, j] = polychoric_pair(items[i], items[j])
        elif not is_ord[i] and not is_ord[j]:
            R[i, j] = float(np.corrcoef(X[:, i], X[:, j])[0, 1])
        else:
            c_, o_ = (i, j) if not is_ord[i] else (j, i)
            R[i, j] = polyserial_pair(X[:, c_], mu[c_], var[c_], items[o_])
        R[j, i] = R[i, j]
    # ---- Γ (muthen1984) ----------------------------------------------------------------------
    th_len = [len(items[j].thresholds) if is_ord[j] else 1 for j in range(p)]
    th_start = np.concatenate([[0], np.cumsum(th_len)])
    n_th = int(th_start[-1])
    num = [j for j in range(p) if not is_ord[j]]
    var_pos = {j: n_th + k for k, j in enumerate(num)}
    n1 = n_th + len(num)
    SC1 = np.zeros((n, n1))
    for j in range(p):
        if is_ord[j]:
            SC1[:, th_start[j]:th_start[j + 1]] = items[j].scores()
        else:
            d = X[:, j] - mu[j]
            SC1[:, th_start[j]] = d / var[j]
            SC1[:, var_pos[j]] = (d * d / var[j] - 1) / (2 * var[j])
    SCr = np.zeros((n, len(pairs)))
    A21 = np.zeros((len(pairs), n1))
    H21 = np.zeros((len(pairs), n1))
    H22 = np.ones(len(pairs))
    for k, (i, j) in enumerate(pairs):
        rho = R[i, j]
        ti = slice(th_start[i], th_start[i + 1])
        tj = slice(th_start[j], th_start[j + 1])
        if is_ord[i] and is_ord[j]:
            a, b = items[i], items[j]
            s_rho, s_ta, s_tb = _pair_scores(a, b, rho)
            SCr[:, k] = s_rho[a.codes, b.codes]
            A21[k, ti] = SCr[:, k] @ s_ta[a.codes, b.codes]
            A21[k, tj] = SCr[:, k] @ s_tb[a.codes, b.codes]
        elif not is_ord[i] and not is_ord[j]:
            z1 = (X[:, i] - mu[i]) / math.sqrt(var[i])
            z2 = (X[:, j] - mu[j]) / math.sqrt(var[j])
            om = 1 - rho * rho
            SCr[:, k] = (rho * om + (1 + rho * rho) * z1 * z2 - rho * (z1 * z1 + z2 * z2)) / om ** 2
            d_mu1 = (z1 - rho * z2) / (math.sqrt(var[i]) * om)
            d_mu2 = (z2 - rho * z1) / (math.sqrt(var[j]) * om)
            d_v1 = -1 / (2 * var[i]) + z1 * (z1 - rho * z2) / (2 * var[i] * om)
            d_v2 = -1 / (2 * var[j]) + z2 * (z2 - rho * z1) / (2 * var[j] * om)
            A21[k, ti] = SCr[:, k] @ d_mu1
            A21[k, tj] = SCr[:, k] @ d_mu2
            A21[k, var_pos[i]] = SCr[:, k] @ d_v1
            A21[k, var_pos[j]] = SCr[:, k] @ d_v2
            si, sj = math.sqrt(var[i]), math.sqrt(var[j])
            H21[k, var_pos[i]] = sj * rho / (2 * si)
            H21[k, var_pos[j]] = si * rho / (2 * sj)
            H22[k] = si * sj
        else:
            c_, o_ = (i, j) if not is_ord[i] else (j, i)
            d_rho, d_mu, d_var, d_th = _polyserial_scores(X[:, c_], mu[c_], var[c_], items[o_],
                                                          rho)
            SCr[:, k] = d_rho
            A21[k, th_start[c_]] = d_rho @ d_mu
            A21[k, var_pos[c_]] = d_rho @ d_var
            A21[k, th_start[o_]:th_start[o_ + 1]] = d_rho @ d_th
            H21[k, var_pos[c_]] = rho / (2 * math.sqrt(var[c_]))
            H22[k] = math.sqrt(var[c_])
    SC = np.hstack([SC1, SCr])
    inner = SC.T @ SC
    A11 = np.zeros((n1, n1))
    for j in range(p):
        ix = list(range(th_start[j], th_start[j + 1])) + ([var_pos[j]] if j in var_pos else [])
        A11[np.ix_(ix, ix)] = inner[np.ix_(ix, ix)]
    A11_inv = np.linalg.inv(A11)
    A22_inv = np.diag(1.0 / np.sum(SCr ** 2, axis=0))
    B_inv = np.block([[A11_inv, np.zeros((n1, len(pairs)))],
                      [-A22_inv @ A21 @ A11_inv, A22_inv]])
    G = n * (B_inv @ inner @ B_inv.T)
    H = np.block([[np.eye(n1), np.zeros((n1, len(pairs)))], [H21, np.diag(H22)]])
    G = H @ G @ H.T
    sds = np.array([math.sqrt(var[j]) if j in var else 1.0 for j in range(p)])
    C = R * np.outer(sds, sds)
    th_names, th_vals = [], []
    for j in range(p):
        if is_ord[j]:
            th_names += [f"{names[j]}|t{m + 1}" for m in range(th_len[j])]
            th_vals += list(items[j].thresholds)
        else:
            th_names.append(f"{names[j]}|mean")
            th_vals.append(mu[j])
    return MixedCorrelations(thresholds=pd.Series(th_vals, index=th_names),
                             variances=pd.Series([var[j] for j in num],
                                                 index=[names[j] for j in num]),
                             cov=pd.DataFrame(C, index=names, columns=names), gamma=G, nobs=n,
                             ordered=[v for v in names if v in set(ordered)])
