"""The ML estimation engine: semopy's model matrices, our objective, lavaan's optimum.

semopy builds the model matrices (Λ, B, Ψ, Θ) from the spelled-out syntax of
:meth:`ModelSpec.to_semopy` and supplies the derivatives of Σ(θ).  The optimisation is ours:

Fisher scoring without bounds (the ML fitting function of lavaan has no bounds either), with
step halving, then an unbounded quasi-Newton where scoring stalls (see :meth:`MLEngine.fit`).
This reaches lavaan's optimum (semopy's default stops short: HS39 x2 loading 0.5544 vs 0.5535,
see shared/semopy-notes.md) and lets a Heywood case show as the negative variance lavaan reports
instead of sitting at a bound.

F_ML(θ) = log|Σ| + tr(SΣ⁻¹) − log|S| − p, gradient g_i = tr(Σ⁻¹(Σ − S)Σ⁻¹ ∂Σ/∂θ_i), expected
information per observation I_ij = ½ tr(Σ⁻¹ ∂Σ/∂θ_i Σ⁻¹ ∂Σ/∂θ_j) (Bollen 1989, ch. 4).
"""
from __future__ import annotations

import logging
import warnings
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .errors import ModelSpecError
from .estimators._structure import damped_step
from .spec import ModelSpec, semopy_name


@contextmanager
def semopy_quiet():
    """Run semopy code without touching the user's logging set-up.

    semopy calls the module-level ``logging.warning``/``logging.info`` (root logger); with no
    handler on the root logger that call runs ``logging.basicConfig()`` and prints to stderr.
    A temporary NullHandler and level keep both from happening; warnings are silenced too
    (semopy's own ones are about its start values, which we replace).
    """
    root = logging.getLogger()
    handler = logging.NullHandler()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.CRITICAL)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)


@dataclass
class Optimum:
    x: np.ndarray
    fmin: float
    converged: bool
    message: str
    iterations: int
    grad_norm: float


class MLEngine:
    """One semopy model, reusable across data sets (bootstrap, Monte Carlo).

    Parameters
    ----------
    spec : ModelSpec
        The parsed model.
    """

    def __init__(self, spec: ModelSpec):
        with semopy_quiet():
            import semopy

        self.spec = spec
        try:
            with semopy_quiet():      # semopy warns "No fixed loadings" for std.lv models
                self.model = semopy.Model(spec.to_semopy())
        except Exception as exc:  # semopy's own syntax errors: should not happen for our text
            raise ModelSpecError(f"{spec.source}: semopy cannot build this model ({exc})") from None
        # semopy's start values regress each indicator on the factor's marker; a factor with
        # no fixed loading (variance fixed instead) has none, and semopy's search for it loops
        # forever.  Its first indicator serves as marker for start values only.
        pt = spec.partable
        for lat in spec.latent:
            if self.model.first_manifs.get(lat) is None:
                first = pt.loc[(pt.op == "=~") & (pt.lhs == lat), "rhs"].iloc[0]
                self.model.first_manifs[lat] = first
        self.observed = list(self.model.vars["observed"])
        if set(self.observed) != set(spec.observed):
            raise ModelSpecError(f"{spec.source}: semopy reads the observed variables as "
                                 f"{sorted(self.observed)}, the model names {sorted(spec.observed)}")
        active = [name for name, p in self.model.parameters.items() if p.active]
        n_free = spec.n_free
        expected = [semopy_name(k) for k in range(1, n_free + 1)]
        if sorted(active) != sorted(expected):
            extra = sorted(set(active) - set(expected))
            raise ModelSpecError(f"{spec.source}: semopy added parameters the model does not "
                                 f"have ({', '.join(extra[:5])}); please report this model")
        # position in semopy's vector of free parameter k (1-based) is perm[k-1]
        pos = {name: i for i, name in enumerate(active)}
        self.perm = np.array([pos[semopy_name(k)] for k in range(1, n_free + 1)])
        self.fixed_x_idx = [self.observed.index(v) for v in spec.fixed_x]
        self.n_free = n_free

    # -- data ---------------------------------------------------------------------------------
    def load(self, S: pd.DataFrame, n: int, data: pd.DataFrame | None = None,
             clean_slate: bool = True) -> None:
        """Load an N-divisor covariance matrix (labelled) and N; data only for start values."""
        S = S.loc[self.observed, self.observed]
        with semopy_quiet():
            self.model.load(data=None if data is None else data[self.observed], cov=S,
                            n_samples=n, clean_slate=clean_slate)
        self.S = S.to_numpy(dtype=float)
        self.n = int(n)
        self._fill_zero_loading_starts(S)
        _, self.logdet_S = np.linalg.slogdet(self.S)
        self.L_S = np.linalg.cholesky(self.S)
        # semopy may replace a non-PD covariance by a nearby one: we fit to the one we gave
        self.model.mx_cov = self.S

    def _fill_zero_loading_starts(self, S: pd.DataFrame) -> None:
        """Give free loadings that semopy starts at 0 a start value from S.

        Without raw data semopy starts every loading at 0, a saddle point of F_ML where the
        gradient vanishes.  Start instead from the covariance with the factor's marker
        (cov(x, m) / var(m) · marker loading) or, with no marker, from the item's SD times the
        root mean correlation with the factor's other items.
        """
        x = self.get_x()
        pt = self.spec.partable
        obs = set(self.observed)
        changed = False
        for f in self.spec.latent:
            rows = pt[(pt.op == "=~") & (pt.lhs == f)]
            inds = [v for v in rows.rhs if v in obs]
            marker = rows[(rows["free"] == 0) & rows.rhs.isin(obs)]
            for r in rows.itertuples():
                if r.free == 0 or r.rhs not in obs or abs(x[r.free - 1]) > 1e-12:
                    continue
                if len(marker):
                    m = marker.iloc[0]
                    start = S.loc[r.rhs, m.rhs] / S.loc[m.rhs, m.rhs] * float(m.fixed)
                else:
                    others = [v for v in inds if v != r.rhs]
                    sd = np.sqrt(np.diag(S.loc[inds, inds].to_numpy()))
                    R = S.loc[inds, inds].to_numpy() / np.outer(sd, sd)
                    i = inds.index(r.rhs)
                    rbar = np.mean([abs(R[i, inds.index(o)]) for o in others]) if others else .5
                    start = np.sqrt(max(rbar, 0.01)) * sd[i]
                x[r.free - 1] = start
                changed = True
        if changed:
            self.set_x(x)

    # -- parameter vector in spec order (free = 1..n) -----------------------------------------
    def get_x(self) -> np.ndarray:
        return np.asarray(self.model.param_vals, dtype=float)[self.perm]

    def set_x(self, x: np.ndarray) -> None:
        v = np.empty(self.n_free)
        v[self.perm] = x
        self.model.param_vals = v
        self.model.update_matrices(v)

    def _sem_x(self, x):
        v = np.empty(self.n_free)
        v[self.perm] = x
        return v

    # -- objective ----------------------------------------------------------------------------
    def sigma(self, x: np.ndarray) -> np.ndarray:
        self.model.update_matrices(self._sem_x(x))
        return self.model.calc_sigma()[0]

    def objective(self, x: np.ndarray) -> float:
        """F_ML(θ); +inf where Σ(θ) is not positive definite or the value is impossible.

        F_ML ≥ 0 for every positive definite Σ; a clearly negative value only arises from
        rounding in a nearly singular Σ, and must not attract the optimizer.
        """
        Sigma = self.sigma(x)
        try:
            L = np.linalg.cholesky(Sigma)
        except np.linalg.LinAlgError:
            return np.inf
        logdet = 2.0 * np.sum(np.log(np.diag(L)))
        Li = np.linalg.solve(L, np.eye(L.shape[0]))
        tr = float(np.sum((Li @ self.L_S) ** 2))      # tr(S Σ⁻¹) = ||L⁻¹ L_S||²
        f = logdet + tr - self.logdet_S - self.S.shape[0]
        if not np.isfinite(f) or f < -1e-8 * max(1.0, abs(self.logdet_S)):
            return np.inf
        return float(f)

    def sigma_derivatives(self, x: np.ndarray):
        """Σ(θ) and ∂Σ/∂θ_k (array k × p × p, spec order)."""
        self.model.update_matrices(self._sem_x(x))
        Sigma, (m, c) = self.model.calc_sigma()
        grads = self.model.calc_sigma_grad(m, c)
        D = np.empty((self.n_free,) + Sigma.shape)
        for k in range(self.n_free):
            D[k] = grads[self.perm[k]]
        return Sigma, D

    def gradient_and_information(self, x: np.ndarray):
        """Gradient of F_ML and the expected information (per observation, times 2)."""
        Sigma, D = self.sigma_derivatives(x)
        Si = np.linalg.inv(Sigma)
        W = Si @ (Sigma - self.S) @ Si
        q = D.shape[0]
        g = D.reshape(q, -1) @ W.T.reshape(-1)         # tr(W ∂Σ_k)
        SD = np.matmul(Si, D)                          # Σ⁻¹ ∂Σ_k
        # tr(A_k A_l) = vec(A_k) · vec(A_lᵀ): one matrix product instead of an einsum loop
        H = SD.reshape(q, -1) @ SD.transpose(0, 2, 1).reshape(q, -1).T
        return g, H

    def information(self, x: np.ndarray) -> np.ndarray:
        """Expected information matrix of the whole sample, N/2·tr(Σ⁻¹∂Σ_kΣ⁻¹∂Σ_l)."""
        _, H = self.gradient_and_information(x)
        return self.n / 2 * H

    # -- optimisation -------------------------------------------------------------------------
    def fit(self, *, x0: np.ndarray | None = None, gtol: float = 1e-9, max_scoring: int = 200,
            skip_slsqp: bool = False, max_slsqp: int = 10000) -> Optimum:
        """Minimise F_ML without bounds, as lavaan does (nlminb, analytic gradient).

        1. Fisher scoring with step halving from the start values: a few iterations reach
           the optimum of a well-conditioned model.
        2. If scoring stalls (nearly singular information: collinear factors, a variance near
           zero): SLSQP from the start values with variances bounded at 0 (semopy's route),
           which finds the right basin, then unbounded scoring from there.
        3. If that does not converge either: an unbounded quasi-Newton (BFGS with the
           analytic gradient, as lavaan's nlminb) from the best point so far, then scoring;
           it reaches optima where a variance is negative, which are then flagged, not hidden
           at a bound.
        Of all end points, the converged one with the smallest F is kept.

        ``converged`` is true when max |∂F/∂θ| ≤ ``tol_accept`` (1e-6 per observation, far
        below what changes a reported digit) and the message then says so; otherwise the
        message gives the gradient reached, never a contradictory optimizer message.
        ``skip_slsqp`` (warm starts in resampling) leaves out the last-resort stage.
        """
        x = self.get_x() if x0 is None else np.asarray(x0, dtype=float).copy()
        x = np.where(np.isfinite(x), x, 0.0)
        start = x.copy()
        tol_accept = max(gtol, 1e-6)
        total = 0
        candidates = []

        def polish(xs):
            nonlocal total
            xs, fs, gs, it, _ = self._scoring(xs, gtol, min(50, max_scoring))
            total += it
            candidates.append((xs, fs, gs))
            return gs <= tol_accept and np.isfinite(fs)

        # scoring converges in well under 40 steps where it converges at all; beyond that it
        # crawls (nearly singular information) and the other routes are quicker
        x, f, gnorm, it, stalled = self._scoring(x, gtol, min(40, max_scoring))
        total += it
        candidates.append((x, f, gnorm))
        done = gnorm <= gtol or not stalled
        if not done and not skip_slsqp:
            # semopy's route from the start values (SLSQP with variances >= 0), then the
            # unbounded polish: it finds the right basin where scoring stalls
            xb, it = self._bounded(start, max_slsqp)
            total += it
            done = polish(xb)
        if not done:
            # an unbounded quasi-Newton from the best point so far reaches optima outside the
            # bounds (a negative variance, flagged afterwards), as lavaan's nlminb does
            best = min((c for c in candidates if np.isfinite(c[1])), key=lambda c: c[1],
                       default=candidates[0])
            xq, _, _, it = self._quasi_newton(best[0], gtol, max_slsqp)
            total += it
            done = polish(xq)
        ok = [c for c in candidates if np.isfinite(c[1]) and c[2] <= tol_accept]
        x, f, gnorm = min(ok or [c for c in candidates if np.isfinite(c[1])] or candidates,
                          key=lambda c: c[1])
        self.set_x(x)
        converged = bool(np.isfinite(f) and gnorm <= tol_accept)
        msg = (f"converged (max |gradient| {gnorm:.1e} after {total} iterations)" if converged
               else f"stopped after {total} iterations with max |gradient| {gnorm:.1e} "
                    f"(needs < {tol_accept:.0e})")
        return Optimum(x=x, fmin=f, converged=converged, message=msg, iterations=total,
                       grad_norm=gnorm)

    def _scoring(self, x, gtol, max_iter):
        """Fisher scoring with step halving; returns (x, F, max|g|, iterations, stalled)."""
        f = self.objective(x)
        gnorm = np.inf
        if not np.isfinite(f):
            return x, f, gnorm, 0, True
        it = 0
        for it in range(1, max_iter + 1):
            g, H = self.gradient_and_information(x)
            gnorm = float(np.max(np.abs(g)))
            if not np.isfinite(gnorm):
                return x, f, np.inf, it, True
            if gnorm < gtol:
                return x, f, gnorm, it, False
            moved = damped_step(self.objective, x, H, g, lambda fn, f=f: fn <= f + 1e-14)
            if moved is None:
                return x, f, gnorm, it, True        # no descent along the scoring direction
            x, f = moved
        g = self._grad_only(x)
        gnorm = float(np.max(np.abs(g))) if np.all(np.isfinite(g)) else np.inf
        return x, f, gnorm, it, gnorm >= gtol

    def _quasi_newton(self, x, gtol, max_iter):
        """Unbounded BFGS with the analytic gradient (scipy)."""
        from scipy.optimize import minimize

        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            res = minimize(self.objective, x, jac=self._grad_only, method="BFGS",
                           options={"maxiter": max_iter, "gtol": gtol})
        xr = res.x if np.all(np.isfinite(res.x)) else x
        fr = self.objective(xr)
        if not np.isfinite(fr) or fr > self.objective(x):
            xr, fr = x, self.objective(x)
        g = self._grad_only(xr)
        gnorm = float(np.max(np.abs(g))) if np.all(np.isfinite(g)) else np.inf
        return xr, fr, gnorm, int(res.nit)

    def _bounded(self, x, max_iter):
        """semopy's route: SLSQP with variances ≥ 0 (a last resort)."""
        from scipy.optimize import minimize

        bounds = self.model.get_bounds()
        b = [bounds[i] for i in self.perm]
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            res = minimize(self.objective, x, jac=self._grad_only, method="SLSQP",
                           bounds=b, options={"maxiter": max_iter})
        ok = np.all(np.isfinite(res.x)) and np.isfinite(self.objective(res.x))
        return (res.x if ok else x), int(res.nit)

    def set_moments(self, S: np.ndarray, n: int) -> None:
        """Swap in another N-divisor covariance matrix (same variable order), no rebuilding.

        For resampling: the model, its matrices and semopy's bookkeeping stay as they are.
        Raises LinAlgError if S is not positive definite.
        """
        self.S = np.asarray(S, dtype=float)
        self.n = int(n)
        self.L_S = np.linalg.cholesky(self.S)
        self.logdet_S = 2.0 * float(np.sum(np.log(np.diag(self.L_S))))
        self.model.mx_cov = self.S
        self.model.n_samples = self.n

    def refit(self, x0: np.ndarray, *, gtol: float = 1e-9) -> Optimum:
        """Warm-started fit after :meth:`set_moments`: Fisher scoring from ``x0``; the full
        SLSQP + scoring path only when scoring alone does not converge."""
        opt = self.fit(x0=x0, gtol=gtol, skip_slsqp=True, max_scoring=50)
        if not opt.converged:
            opt = self.fit(x0=x0, gtol=gtol)
        return opt

    def _grad_only(self, x):
        Sigma, D = self.sigma_derivatives(x)
        try:
            Si = np.linalg.inv(Sigma)
        except np.linalg.LinAlgError:
            return np.full(self.n_free, np.nan)
        W = Si @ (Sigma - self.S) @ Si
        return D.reshape(D.shape[0], -1) @ W.T.reshape(-1)

    def implied(self, x: np.ndarray) -> np.ndarray:
        return self.sigma(x)
