"""Bootstrap: case resampling and Bollen–Stine, percentile and BCa intervals, in parallel.

Each replicate draws its rows from its own random stream, child ``i`` of
``numpy.random.SeedSequence(seed)``, so the numbers do not depend on how replicates are split
among processes or machines: 1 process, n processes and a Dask cluster give the same result.

Per replicate the model is refitted by :class:`semcluster.estimation.refit.FastRefitter` (no parsing, no
model building, warm start from the full-sample estimates).  With missing answers (the FIML
rule) respondents are resampled with their blanks and every replicate is refitted by FIML
(:class:`semcluster.estimation.refit.FIMLRefitter`, see :class:`_FIMLReplicator`), as lavaan's
``se = "bootstrap", missing = "ml"``.  Recorded per replicate: every
parameter (free and defined), its std.all value, and R² of every endogenous variable.

Intervals (Efron & Tibshirani 1993, ch. 13–14):

* percentile: the α/2 and 1 − α/2 quantiles of the R replicates, taken as R's ``boot``
  package (``norm.inter``, used by ``boot.ci`` and by lavaan's ``boot.ci.type = "perc"``)
  takes them: the order statistic (R + 1)·q, interpolated between its two neighbours on the
  normal-quantile scale when (R + 1)·q is not whole, the extreme ones beyond the ends;
* BCa: the same quantiles at Φ(z₀ + (z₀ + z)/(1 − a(z₀ + z))), with bias correction
  z₀ = Φ⁻¹(share of replicates below the estimate, ties counted half) and acceleration a
  from the jackknife (one refit per left-out row), centred at the jackknife mean as in
  Efron & Tibshirani (1993, eq. 14.15): a = Σ(θ̄ − θ₍ᵢ₎)³ / (6 [Σ(θ̄ − θ₍ᵢ₎)²]^{3/2}).
  This is ``boot::boot.ci(type = "bca", L = (n − 1)(θ̄ − θ₍ᵢ₎))``; boot's own
  ``empinf(type = "jack")`` centres at the full-sample estimate instead.
  (tests/test_references_bootstrap.py checks both intervals and the p-value against boot.)

Bootstrap p-value of a parameter: 2·min(share ≤ 0, share ≥ 0), the smallest two-sided level at
which the percentile interval excludes 0.  Bollen–Stine (1992): the data are first transformed
to Z = (X − x̄) S^{-1/2} Σ̂^{1/2}, whose covariance is the model-implied one, and the p-value of the
model test is the share of replicates whose χ² is at least the observed χ².  With missing
answers the transformation is made per missing-data pattern (Enders 2002), see
:func:`bollen_stine_missing`, and every replicate's χ² is the FIML likelihood-ratio statistic
2(log L_saturated − log L_model), both refitted on the replicate.

Per replicate: BFGS from the full-sample estimates, Newton steps if BFGS stalls, and for the few
nearly degenerate resamples a bounded SLSQP start (variances ≥ 0) followed by the unbounded
path again.  Failed replicates (no convergence, or a singular resample covariance matrix) and
inadmissible ones (a negative variance) are counted and reported; failed ones never enter the
intervals, inadmissible ones only with ``exclude_inadmissible=False`` (the default, as lavaan).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from .parallel import run_replicates
from ..result.protocol import ResultProtocol, clean, records


# ---------------------------------------------------------------------------------------------
# the per-process worker (numpy and pandas only: semopy is never imported in a worker)
# ---------------------------------------------------------------------------------------------
class _Replicator:
    """Refit machinery and the quantities recorded per replicate; pickled to workers."""

    def __init__(self, spec, X: np.ndarray, x_hat: np.ndarray, gtol: float = 1e-5):
        from ..estimation.engine import MLEngine
        from ..estimation.refit import FastRefitter
        from ..data.survey import sample_covariance
        from ..model.standardized import RAM, Definitions

        self.spec = spec
        self.n = X.shape[0]
        obs = spec.observed
        df = pd.DataFrame(X, columns=obs)
        S_full = sample_covariance(df)
        engine = MLEngine(spec)
        engine.load(S_full, self.n, df)
        self.refitter = FastRefitter(engine, x_hat)
        self.x_hat = x_hat
        # the engine's variable order may differ from spec.observed
        self.order = np.array([obs.index(v) for v in engine.observed])
        self.ram = RAM(spec, fixed_x_cov=S_full)
        self.defs = Definitions(self.ram, spec)
        self.var_rows = np.array([(r.op == "~~" and r.lhs == r.rhs and r.free > 0)
                                  for r in self.ram.rows.itertuples()])
        self.gtol = gtol

    def quantities(self, x: np.ndarray) -> np.ndarray:
        from ..model.standardized import standardized

        vals = self.ram.values(x)
        std = standardized(self.ram, x, self.spec)
        parts = [vals, std[1], np.array(list(std[2].values()))]
        if len(self.defs):
            parts += [self.defs.values(x), self.defs.standardized(x, "all", std=std)]
        return np.concatenate(parts)

    def covariance(self, X, seed_seq):
        rng = np.random.default_rng(seed_seq)
        idx = rng.integers(0, self.n, self.n)
        B = X[idx][:, self.order]
        B = B - B.mean(axis=0)
        return B.T @ B / self.n

    def outcome(self, opt):
        q = self.quantities(opt.x)
        admissible = bool(np.all(self.ram.values(opt.x)[self.var_rows] >= 0))
        return q, admissible, self.n * opt.fmin

    def one(self, X, seed_seq):
        """(quantities, admissible, chi-square), or (None, False, nan) when not converged."""
        S = self.covariance(X, seed_seq)
        try:
            opt = self.refitter.refit(S, self.n, gtol=self.gtol)
            if not opt.converged:
                opt = self.refitter.refit_bounded(S, self.n, gtol=self.gtol)
        except np.linalg.LinAlgError:        # a resample with a singular covariance matrix
            return None, False, np.nan
        if not opt.converged:
            return None, False, np.nan
        return self.outcome(opt)


class _FIMLReplicator(_Replicator):
    """The FIML refit of a resample with missing answers (lavaan's ``missing = "ml"``).

    Built from the full-sample FIML fit: the model core (plain numpy), the estimates θ̂ and the
    model-implied means μ̂ as every refit's start, and the full sample's missing-data patterns
    (found once: a resample keeps each drawn respondent's answers and blanks together, so its
    rows' patterns are looked up, not found again).  Per replicate
    :class:`semcluster.estimation.refit.FIMLRefitter` runs BFGS on the FIML log-likelihood, summed row
    by row, from (θ̂, μ̂) with the full-sample observed information as first Hessian; no EM of
    the saturated model (the bootstrap needs no χ²).  Where BFGS stalls (a flat ridge),
    Newton / scoring steps on the analytic observed information start again from (θ̂, μ̂)
    (:func:`semcluster.estimation.fiml._newton`, the full fit's optimizer), and where that
    fails too the full fit's own route is taken (EM moments, ML start, :func:`fiml_estimate`);
    a replicate none converges on is counted as failed (as lavaan counts its failed ones).
    Convergence: max|∂ log L/∂z|/N < ``gtol`` = 5e-6, the complete-data refits' 1e-5 on
    F_ML = −2 log L/N + const.
    """

    def __init__(self, spec, X: np.ndarray, x_hat: np.ndarray, mu_hat: np.ndarray,
                 sample_cov: pd.DataFrame, gtol: float = 5e-6):
        from ..estimation._structure import CovarianceStructure
        from ..estimation.fiml import FIMLObjective, MissingPatterns
        from ..estimation.refit import FIMLRefitter
        from ..model.standardized import RAM, Definitions

        self.spec = spec
        self.n = X.shape[0]
        self.structure = CovarianceStructure.of(spec)
        self.fx_idx = list(self.structure.fixed_x_idx)
        self.x_hat = np.asarray(x_hat, dtype=float)
        self.order = np.arange(X.shape[1])        # X is in spec.observed order, as the core
        self.ram = RAM(spec, fixed_x_cov=sample_cov)
        self.defs = Definitions(self.ram, spec)
        self.var_rows = np.array([(r.op == "~~" and r.lhs == r.rhs and r.free > 0)
                                  for r in self.ram.rows.itertuples()])
        self.gtol = gtol
        if self.fx_idx:     # covariates' sample (co)variances held fixed (lavaan's fixed.x)
            B = X[:, self.fx_idx] - X[:, self.fx_idx].mean(axis=0)
            self.structure.ram.set_fixed_x(B.T @ B / self.n)
        patterns = MissingPatterns(X)
        obj = FIMLObjective(self.structure, patterns, self.fx_idx)
        self.q = obj.q
        z_hat = np.concatenate([self.x_hat, np.asarray(mu_hat, float)[obj.mean_free]])
        # BFGS's first inverse Hessian: the full-sample observed information per respondent
        try:
            H0inv = np.linalg.inv(obj.observed_information(z_hat) / self.n)
            np.linalg.cholesky(H0inv)
        except np.linalg.LinAlgError:            # not positive definite: the expected one
            H0inv = np.linalg.inv(obj.expected_information(z_hat) / self.n)
        self.refitter = FIMLRefitter(self.structure, X, z_hat, H0inv)
        self.mask = patterns.mask
        self.saturated_start = None     # (μ, Σ): replicates also give their FIML χ²

    def fit_rows(self, X: np.ndarray, rows: np.ndarray):
        """FIML estimates θ of the full sample's rows ``rows`` (drawn with replacement or one
        left out), or None where no converged maximum is found."""
        z = self.fit_rows_z(X, rows)
        return None if z is None else z[: self.q]

    def fit_rows_z(self, X: np.ndarray, rows: np.ndarray):
        """FIML estimates (θ, free means) of the rows ``rows``, or None (see :meth:`fit_rows`)."""
        from ..errors import EstimationError
        from ..estimation.fiml import FIMLObjective, MissingPatterns, _newton

        try:
            z, converged = self.refitter.refit(rows, gtol=self.gtol)
            if converged:
                return z
            # a hard resample (BFGS lost on a flat ridge): Newton / scoring steps on the
            # observed information from the full-sample estimates, as the full FIML fit takes
            # them, abandoned after 3 steps in a row cut to 1/16 (a ridge again)
            pats = MissingPatterns(X[rows])
            obj = FIMLObjective(self.structure, pats, self.fx_idx)
            z, _, _, converged, _, _ = _newton(obj, self.refitter.z_hat, 30, self.gtol,
                                               give_up=3)
            if converged:
                return z
            return self._full_route(X[rows], pats)
        except (EstimationError, np.linalg.LinAlgError, FloatingPointError):
            return None

    def chisq_rows(self, X: np.ndarray, rows: np.ndarray, z: np.ndarray) -> float:
        """The FIML likelihood-ratio χ² of the rows ``rows`` at the model's maximum ``z``:
        2(log L_saturated − log L_model), the saturated maximum found by EM started from the
        model-implied moments of the full (transformed) sample, which are close to it."""
        from ..estimation.fiml import FIMLObjective, MissingPatterns

        pats = MissingPatterns(X[rows])
        ll_model = FIMLObjective(self.structure, pats, self.fx_idx).loglik(z)
        mu0, sigma0 = self.saturated_start
        _, _, ll_sat, converged, _ = pats.em(start=(mu0, sigma0), tol=1e-8)
        if not (converged and np.isfinite(ll_sat) and np.isfinite(ll_model)):
            return np.nan
        return 2.0 * (ll_sat - ll_model)

    def _full_route(self, B: np.ndarray, pats):
        """The full FIML fit's own route, for the few resamples whose optimum is far from the
        full sample's (h1_h5's collinear factors: about 2 % of replicates): EM moments, the ML
        fit to them by scoring as start, then :func:`fiml_estimate` (which also tries the
        simple start values).  θ, or None."""
        import warnings

        from ..estimation.engine import MLEngine
        from ..estimation.fiml import fiml_estimate

        em = pats.em()
        if not np.all(np.isfinite(em[1])):
            return None
        obs = self.spec.observed
        engine = MLEngine(self.spec)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            engine.load(pd.DataFrame(em[1], index=obs, columns=obs), len(B), None)
            start = engine.fit(gtol=1e-6, scoring_only=True)
        admissible = bool(np.all(start.x[self.structure.is_variance] >= 0))
        sol = fiml_estimate(self.structure, B, start.x, gtol=self.gtol, max_iter=60,
                            patterns=pats, em=em, fixed_x_idx=self.fx_idx,
                            x0_first=start.converged and admissible)
        return np.concatenate([sol.x, sol.nu]) if sol.converged else None

    def outcome_x(self, x):
        if x is None:
            return None, False, np.nan
        q = self.quantities(x)
        admissible = bool(np.all(self.ram.values(x)[self.var_rows] >= 0))
        return q, admissible, np.nan

    def one(self, X, seed_seq):
        """(quantities, admissible, χ² or nan), or (None, False, nan) when not converged; the
        χ² only when :attr:`saturated_start` is set (the Bollen–Stine bootstrap), NaN where
        the saturated model's EM does not converge."""
        rng = np.random.default_rng(seed_seq)
        idx = rng.integers(0, self.n, self.n)      # the same draw as the complete-data path
        if self.mask[idx].sum(axis=0).min() < 2:    # an item (nearly) never answered
            return None, False, np.nan
        z = self.fit_rows_z(X, idx)
        q, admissible, chisq = self.outcome_x(None if z is None else z[: self.q])
        if q is not None and self.saturated_start is not None:
            chisq = self.chisq_rows(X, idx, z)
        return q, admissible, chisq

    def leave_out(self, X, i):
        """Quantities with row ``i`` left out (the jackknife of BCa), or None."""
        return self.outcome_x(self.fit_rows(X, np.r_[0:i, i + 1:self.n]))[0]


class _WLSMVReplicator:
    """The WLSMV refit of a resample of ordinal answers (lavaan's ``se = "bootstrap"`` of a
    DWLS/WLSMV fit with ``ordered =``).

    Every replicate is refitted by :func:`semcluster.estimation.wlsmv.fit`, the full fit's own
    estimator: thresholds, polychoric correlations, their asymptotic covariance (the DWLS
    weights) and the estimates are all recomputed from the resampled rows, as lavaan does.
    With ``missing = "pairwise"`` rows are drawn with their blanks.  A resample in which some
    category of an ordered item observed in the full sample does not occur is left out (its
    thresholds would not be those of the full sample; lavaan's bootstrap skips such draws
    too): :meth:`empty_category` finds them, and :func:`bootstrap` counts them.

    Recorded per replicate: ``est`` and ``std_all`` of every row of the estimates table
    (loadings, variances, covariances, thresholds, ``:=`` effects) and R² of every item, in
    the full fit's row order (:meth:`labels`).  Unlike the ML replicators this one works on
    fitted results, not on parameter vectors: :meth:`quantities` gives the full-sample values.
    """

    def __init__(self, spec, X: np.ndarray, full, ordered, missing: str,
                 parameterization: str = "delta"):
        self.spec = spec
        self.n = X.shape[0]
        self.ordered = list(ordered)
        self.missing = missing
        self.parameterization = parameterization
        self.x_hat = np.asarray(full.info["x"], dtype=float)
        est = full.estimates
        self.keys = list(zip(est.lhs, est.op, est.rhs))
        self.rows = est[["lhs", "op", "rhs", "label", "free"]].copy()
        self.r2_names = list(full.r2.index)
        # variances, free or not: in the delta parameterization an item's residual variance
        # is 1 − (explained part), negative when a standardized loading exceeds 1 (lavaan
        # counts such draws as nonadmissible and keeps them)
        self.var_rows = np.array([(op == "~~" and lhs == rhs) for lhs, op, rhs
                                  in zip(est.lhs, est.op, est.rhs)])
        obs = list(spec.observed)
        self.ord_idx = [obs.index(v) for v in self.ordered]
        # the categories observed in the full sample, per ordered item
        self.cats = [np.unique(X[:, j][~np.isnan(X[:, j])]) for j in self.ord_idx]
        self.q_hat = self.from_result(full)

    def labels(self):
        out = []
        for what in ("est", "std_all"):
            for r in self.rows.itertuples():
                out.append((r.lhs, r.op, r.rhs, r.label, what, r.free))
        for v in self.r2_names:
            out.append((v, "r2", v, "", "r2", 0))
        return out

    def quantities(self, x=None) -> np.ndarray:
        """The full-sample quantities (the replicates' come from :meth:`from_result`)."""
        return self.q_hat

    def from_result(self, res) -> np.ndarray:
        e = res.estimates.set_index(["lhs", "op", "rhs"]).reindex(self.keys)
        r2 = pd.Series(res.r2).reindex(self.r2_names)
        return np.concatenate([e["est"].to_numpy(float), e["std_all"].to_numpy(float),
                               r2.to_numpy(float)])

    def draw(self, seed_seq) -> np.ndarray:
        rng = np.random.default_rng(seed_seq)
        return rng.integers(0, self.n, self.n)    # the same draw as the other replicators

    def empty_category(self, X, idx) -> bool:
        """Whether the rows ``idx`` miss a category of an ordered item (the draw is left out)."""
        B = X[idx]
        for j, cats in zip(self.ord_idx, self.cats):
            col = B[:, j]
            if len(np.unique(col[~np.isnan(col)])) < len(cats):
                return True
        return False

    def fit_rows(self, X, rows):
        """The quantities of the WLSMV fit of rows ``rows``, or None (no convergence, an empty
        category, or an estimation error)."""
        from ..errors import SemclusterError
        from ..estimation import wlsmv

        if self.empty_category(X, rows):
            return None
        df = pd.DataFrame(X[rows], columns=self.spec.observed)
        try:
            res = wlsmv.fit(self.spec, df, ordered=self.ordered, missing=self.missing,
                            parameterization=self.parameterization)
        except (SemclusterError, np.linalg.LinAlgError, FloatingPointError, ValueError):
            return None
        if not res.converged:
            return None
        return self.from_result(res)

    def one(self, X, seed_seq):
        """(quantities, admissible, nan), or (None, False, nan) for a draw left out."""
        q = self.fit_rows(X, self.draw(seed_seq))
        if q is None:
            return None, False, np.nan
        k = len(self.keys)
        admissible = bool(np.all(q[:k][self.var_rows] >= 0))
        return q, admissible, np.nan

    def leave_out(self, X, i):
        """Quantities with row ``i`` left out (the jackknife of BCa), or None."""
        return self.fit_rows(X, np.r_[0:i, i + 1:self.n])


def _run_chunk(args):
    """Worker entry point: (replicator, X, [seed sequences]) -> results in order."""
    from threadpoolctl import threadpool_limits

    rep, X, seeds = args
    with threadpool_limits(1):
        return [rep.one(X, s) for s in seeds]


def _run_jackknife_chunk(args):
    """Worker entry point of the FIML jackknife: (replicator, X, [row indices])."""
    from threadpoolctl import threadpool_limits

    rep, X, rows = args
    with threadpool_limits(1):
        return [rep.leave_out(X, int(i)) for i in rows]


# ---------------------------------------------------------------------------------------------
# results
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class BootstrapResult(ResultProtocol):
    """Bootstrap distribution and intervals.

    ``table``: one row per quantity — ``lhs op rhs label what est se ci_lower ci_upper
    bca_lower bca_upper pvalue`` (``what`` is ``est``, ``std_all`` or ``r2``).  The result
    protocol (:mod:`semcluster.result.protocol`) gives ``summary()``, ``to_frame()`` (the table),
    ``to_dict()``, ``to_json()``/``from_json()``, pickling and ``==``.
    """

    table: pd.DataFrame
    draws: pd.DataFrame             # replicates x quantities (NaN rows for failed ones)
    n_boot: int
    n_failed: int
    n_inadmissible: int
    n_used: int
    kind: str
    seed: int
    ci: float
    bollen_stine_pvalue: float | None = None
    chisq: float | None = None
    info: dict = field(default_factory=dict)

    def paths(self, what: str = "std_all") -> pd.DataFrame:
        t = self.table
        return t[(t.op == "~") & (t.what == what)].reset_index(drop=True)

    def counts(self) -> dict:
        """Replicates asked for, failed, inadmissible and used, with the kind, seed and level."""
        return {"kind": self.kind, "n_boot": self.n_boot, "failed": self.n_failed,
                "inadmissible": self.n_inadmissible, "used": self.n_used, "seed": self.seed,
                "ci": self.ci, "bollen_stine_pvalue": self.bollen_stine_pvalue}

    def to_frame(self) -> pd.DataFrame:
        """The interval table (a copy of :attr:`table`)."""
        return self.table.copy()

    def to_dict(self) -> dict:
        """:meth:`counts` and the interval table as records (the draws are left out)."""
        return {**clean(self.counts()), "chisq": clean(self.chisq),
                "table": records(self.table)}

    def summary(self) -> str:
        """Replicate counts and the intervals of the paths, defined parameters and R²."""
        c = self.counts()
        lines = [f"{c['kind']} bootstrap: {c['n_boot']} replicates, {c['used']} used, "
                 f"{c['failed']} failed (no convergence), {c['inadmissible']} inadmissible; "
                 f"seed {c['seed']}; {100 * c['ci']:g} % intervals"]
        if self.bollen_stine_pvalue is not None:
            lines.append(f"Bollen-Stine p-value of the model test: "
                         f"{self.bollen_stine_pvalue:.4f} (chi-square {self.chisq:.3f})")
        t = self.table
        show = t[t.op.isin(["~", ":=", "r2"])]
        cols = ["lhs", "op", "rhs", "label", "what", "est", "se", "ci_lower", "ci_upper",
                "bca_lower", "bca_upper", "pvalue"]
        if "group" in t.columns:          # a grouped fit: which group each row belongs to
            cols.insert(3, "group")
        with pd.option_context("display.width", 200, "display.max_rows", 1000,
                               "display.max_columns", 20,
                               "display.float_format", lambda v: f"{v:.3f}"):
            lines.append(show[cols].to_string(index=False))
        return "\n".join(lines) + "\n"


def _labels(rep: _Replicator):
    if hasattr(rep, "labels"):          # the WLSMV replicator names its own quantities
        return rep.labels()
    rows = rep.ram.rows
    out = []
    for what in ("est", "std_all"):
        for r in rows.itertuples():
            out.append((r.lhs, r.op, r.rhs, r.label, what, r.free))
    for v in rep.spec.endogenous:
        out.append((v, "r2", v, "", "r2", 0))
    if len(rep.defs):
        for what in ("est", "std_all"):
            for d in rep.defs.defs:
                out.append((d.lhs, ":=", d.rhs, d.lhs, what, 0))
    return out


def _norm_inter(draws, q) -> np.ndarray:
    """Quantiles ``q`` of the replicates as R's ``boot:::norm.inter`` takes them.

    Order statistic k = (R + 1)q when whole; otherwise interpolation between order statistics
    k and k + 1 (k = ⌊(R + 1)q⌋) on the normal-quantile scale,
    t₍ₖ₎ + (Φ⁻¹(q) − Φ⁻¹(k/(R+1))) / (Φ⁻¹((k+1)/(R+1)) − Φ⁻¹(k/(R+1))) · (t₍ₖ₊₁₎ − t₍ₖ₎);
    the smallest (largest) replicate when k = 0 (k = R).
    """
    t = np.sort(draws[np.isfinite(draws)])
    R = len(t)
    q = np.atleast_1d(np.asarray(q, dtype=float))
    rk = (R + 1) * q
    k = np.trunc(rk).astype(int)
    out = np.empty(len(q))
    for i in range(len(q)):
        if k[i] <= 0:
            out[i] = t[0]
        elif k[i] >= R:
            out[i] = t[R - 1]
        elif k[i] == rk[i]:
            out[i] = t[k[i] - 1]
        else:
            z, zk, zk1 = stats.norm.ppf([q[i], k[i] / (R + 1), (k[i] + 1) / (R + 1)])
            out[i] = t[k[i] - 1] + (z - zk) / (zk1 - zk) * (t[k[i]] - t[k[i] - 1])
    return out


def _percentile(draws, ci):
    """Percentile interval of one quantity (boot's ``perc``)."""
    return tuple(_norm_inter(draws, [(1 - ci) / 2, (1 + ci) / 2]))


def _pvalue(draws):
    """2·min(share ≤ 0, share ≥ 0), at most 1."""
    d = draws[np.isfinite(draws)]
    return min(1.0, 2 * min(np.mean(d <= 0), np.mean(d >= 0)))


def _acceleration(jack):
    """a = Σ(θ̄ − θ₍ᵢ₎)³ / (6 [Σ(θ̄ − θ₍ᵢ₎)²]^{3/2}) from the jackknife values."""
    jack = jack[np.isfinite(jack)]
    jm = jack.mean()
    num = np.sum((jm - jack) ** 3)
    den = 6 * np.sum((jm - jack) ** 2) ** 1.5
    return num / den if den > 0 else 0.0


def _bca(theta_hat, draws, jack, ci):
    """BCa interval of one quantity."""
    d = draws[np.isfinite(draws)]
    if len(d) < 10 or not np.isfinite(theta_hat):
        return np.nan, np.nan
    prop = (np.sum(d < theta_hat) + 0.5 * np.sum(d == theta_hat)) / len(d)
    if prop <= 0 or prop >= 1:
        return np.nan, np.nan
    z0 = stats.norm.ppf(prop)
    a = _acceleration(jack)
    zs = stats.norm.ppf([(1 - ci) / 2, (1 + ci) / 2])
    adj = stats.norm.cdf(z0 + (z0 + zs) / (1 - a * (z0 + zs)))
    return tuple(_norm_inter(d, adj))


def _interval_row(theta_hat, draws, jack, ci, *, pvalue=True):
    """se, percentile and BCa interval and p-value of one quantity (``jack`` None: no BCa)."""
    d = draws[np.isfinite(draws)]
    if not (len(d) > 1 and np.ptp(d) > 1e-12):
        return {"se": np.nan, "ci_lower": np.nan, "ci_upper": np.nan, "bca_lower": np.nan,
                "bca_upper": np.nan, "pvalue": np.nan}
    lo, hi = _percentile(d, ci)
    b_lo, b_hi = _bca(theta_hat, d, jack, ci) if jack is not None else (np.nan, np.nan)
    return {"se": d.std(ddof=1), "ci_lower": lo, "ci_upper": hi, "bca_lower": b_lo,
            "bca_upper": b_hi, "pvalue": _pvalue(d) if pvalue else np.nan}


def _missing_answers(Xdf, spec, report, kind) -> bool:
    """Whether the rows to resample have blanks, and the refusals that go with them: blanks are
    refitted by FIML only, and Bollen-Stine with blanks does not handle fixed covariates."""
    from .. import arguments as check
    from ..errors import DataError

    missing = bool(Xdf[spec.observed].isna().to_numpy().any())
    if missing and report.missing != "fiml":
        raise DataError(f"the bootstrap refits by FIML or on complete rows; the missing-data "
                        f"rule '{report.missing}' is neither: pass --missing fiml "
                        f"(missing='fiml') or --missing listwise")
    if missing and kind == "bollen-stine" and spec.fixed_x:
        raise check.OptionError(
            "the Bollen-Stine bootstrap with missing answers does not handle exogenous "
            "observed covariates (fixed.x) yet; use kind='nonparametric', or --missing "
            "listwise")
    return missing


def bootstrap(model, data=None, *, n_boot: int = 1000, kind: str = "nonparametric",
              seed: int = 20231124, ci: float = 0.95, bca: bool = True,
              exclude_inadmissible: bool = False, n_jobs: int = 1, backend: str = "joblib",
              scheduler: str | None = None, progress: bool = False,
              result=None, options=None, estimator: str = "ML", group: str | None = None,
              group_equal=(), group_partial=(), meanstructure: bool | None = None
              ) -> BootstrapResult:
    """Bootstrap a model fitted by ML, or by FIML when answers are missing (see the module
    docstring).

    Parameters
    ----------
    model : str, Path or ModelSpec
    data : DataFrame, path or None (bundled study data)
    kind : {"nonparametric", "bollen-stine"}
        ``"bollen-stine"`` also gives the bootstrap p-value of the model test; with missing
        answers the data are transformed per missing-data pattern
        (:func:`bollen_stine_missing`) and every replicate's χ² is the FIML one.
    n_jobs : int
        Worker processes (joblib, ``backend="joblib"``); ``-1`` for all cores.
    backend : {"joblib", "dask"}
        ``"dask"`` submits to a distributed cluster (``scheduler`` address, or a
        ``distributed.Client`` already connected); needs the ``[distributed]`` extra.
    progress : bool
        A tqdm progress bar on the terminal.
    result : SEMResult, optional
        The full-sample fit of ``model`` to ``data`` (avoids refitting it).
    options : semcluster.data.survey.DataOptions, optional
        How ``data`` is read (see :func:`semcluster.data.survey.read_survey`).  With missing answers
        the missing-data rule decides: FIML (``auto``, the default, or ``fiml``) resamples
        respondents with their blanks and refits each replicate by FIML, as lavaan's
        ``se = "bootstrap", missing = "ml"``; ``listwise`` bootstraps the complete rows.
    estimator : {"ML", "MLR", "WLSMV"}
        MLR has the ML (FIML) point estimates, so its bootstrap is the same (as lavaan's).
        WLSMV (ordinal items, ``options.ordered``; also chosen when items are declared
        ordered) refits every replicate by WLSMV, see :func:`_bootstrap_wlsmv`.
    group : str, optional
        A grouping column: the multi-group fit (lavaan's ``group =``) is bootstrapped with
        rows drawn within each group, group sizes kept (:class:`_GroupReplicator`);
        ``kind="bollen-stine"`` transforms each group to its own model-implied moments
        (:func:`bollen_stine_groups`).  Taken from ``result`` when that is a grouped fit.
    group_equal, group_partial, meanstructure
        As :func:`semcluster.fit`; a model with intercepts (``~ 1``) or ``meanstructure=True``
        is bootstrapped the same way, in one group.

    The table has normal intervals too (``norm_lower``, ``norm_upper``:
    :func:`_normal_interval`, lavaan's ``boot.ci.type = "norm"``).
    """
    from ..data.survey import read_survey
    from ..errors import SemclusterError
    from ..fitting import fit
    from ..spec.parser import read_model

    from .. import arguments as check

    if kind not in ("nonparametric", "bollen-stine"):
        raise check.OptionError(f"kind must be 'nonparametric' or 'bollen-stine', not "
                                f"{kind!r}")
    n_boot = check.n_boot("n_boot", n_boot)
    seed = check.seed("seed", seed)
    ci = check.probability("ci", ci)
    n_jobs = check.jobs("n_jobs", n_jobs)
    est = str(estimator).upper()
    prepared = data.attrs.get("semcluster", {}) if isinstance(data, pd.DataFrame) else {}
    if est == "WLSMV" or (options is not None and options.ordered) or (
            est == "ML" and prepared.get("prepared") and prepared.get("ordered")) or (
            getattr(result, "estimator", None) == "WLSMV"):
        # ordered items (given, or carried by data the CLI prepared): the WLSMV bootstrap
        return _with_normal_intervals(_bootstrap_wlsmv(
            model, data, result, options, kind=kind, n_boot=n_boot, seed=seed, ci=ci, bca=bca,
            exclude_inadmissible=exclude_inadmissible, n_jobs=n_jobs, backend=backend,
            scheduler=scheduler, progress=progress), exclude_inadmissible)
    if est not in ("ML", "MLR"):
        raise check.OptionError(f"the bootstrap refits by ML (FIML with missing answers) or "
                                f"by WLSMV (ordinal items); estimator must be 'ML', 'MLR' "
                                f"(same estimates) or 'WLSMV', not {estimator!r}")
    spec = result.spec if result is not None else read_model(model)
    if (group is not None or meanstructure or group_equal or group_partial or spec.has_means
            or spec.has_group_modifiers or getattr(result, "moments", ())):
        if (group_equal or group_partial) and group is None and result is None:
            raise check.OptionError("group_equal and group_partial need group= (a grouping "
                                    "column)")
        return _with_normal_intervals(_bootstrap_groups(
            spec, data, result, options, group=group, estimator=est,
            group_equal=tuple(group_equal or ()), group_partial=tuple(group_partial or ()),
            meanstructure=meanstructure, kind=kind, n_boot=n_boot, seed=seed, ci=ci, bca=bca,
            exclude_inadmissible=exclude_inadmissible, n_jobs=n_jobs, backend=backend,
            scheduler=scheduler, progress=progress), exclude_inadmissible)
    Xdf, report = read_survey(data, options, variables=spec.observed)
    missing = _missing_answers(Xdf, spec, report, kind)
    from threadpoolctl import threadpool_limits

    # One BLAS thread for the full-sample fit too: its estimates are every replicate's start,
    # and on a flat likelihood ridge a last-digit change of the start moves a replicate's end
    # point (h1_h5: 23 of 1000 replicates by up to 0.11, one more converged or not), so the
    # draws would depend on the machine's BLAS threads.
    with threadpool_limits(1):
        full = result if result is not None else fit(spec, Xdf, estimator=est)
    if getattr(full, "moments", ()):
        raise check.OptionError("the bootstrap resamples one group's rows of a model without a "
                                "mean structure: fits with groups or intercepts ('~ 1') are "
                                "not supported")
    if not full.converged:
        raise SemclusterError("the model does not converge on the full sample; nothing to "
                              "bootstrap")
    x_hat = np.asarray(full.info["x"], dtype=float)
    X = Xdf[spec.observed].to_numpy(dtype=float)
    if missing:
        if full.info.get("missing") != "fiml":
            raise SemclusterError("the data have missing answers but the fit given as "
                                  "result= was not a FIML fit of them")
        if spec.fixed_x:      # FIML deletes rows with a missing covariate (lavaan's fixed.x)
            keep = ~np.isnan(X[:, [spec.observed.index(v) for v in spec.fixed_x]]).any(axis=1)
            X, Xdf = X[keep], Xdf[keep]
        chisq = np.nan
        with threadpool_limits(1):
            if kind == "bollen-stine":    # the data transformed to the model's moments
                chisq = float(full.fit_measures["chisq"])
                obs = spec.observed
                X = bollen_stine_missing(
                    X, full.info["mean_h1"].to_numpy(dtype=float),
                    full.sample_cov.loc[obs, obs].to_numpy(),
                    _implied_means(spec, full, x_hat), full.implied_cov.loc[obs, obs].to_numpy())
            return _with_normal_intervals(_bootstrap(
                spec, Xdf, X, full, x_hat, chisq, n_boot=n_boot, kind=kind, seed=seed, ci=ci,
                bca=bca, exclude_inadmissible=exclude_inadmissible, n_jobs=n_jobs,
                backend=backend, scheduler=scheduler, progress=progress, fiml=True),
                exclude_inadmissible)
    chisq = float(full.fit_measures["chisq"])
    if kind == "bollen-stine":
        # Z = (X - mean) S^-1/2 Sigma^1/2: the resampled population has covariance Sigma-hat
        S = full.sample_cov.loc[spec.observed, spec.observed].to_numpy()
        Sig = full.implied_cov.loc[spec.observed, spec.observed].to_numpy()
        X = bollen_stine_complete(X, S, Sig)

    with threadpool_limits(1):
        return _with_normal_intervals(_bootstrap(
            spec, Xdf, X, full, x_hat, chisq, n_boot=n_boot, kind=kind, seed=seed, ci=ci,
            bca=bca, exclude_inadmissible=exclude_inadmissible, n_jobs=n_jobs, backend=backend,
            scheduler=scheduler, progress=progress), exclude_inadmissible)


def _bootstrap_wlsmv(model, data, result, options, *, kind, **run) -> BootstrapResult:
    """The bootstrap of a WLSMV fit of ordinal items (lavaan's ``se = "bootstrap"`` with
    ``ordered =``, which lavaan 0.6 asks of ``estimator = "DWLS"``: the same estimates).

    Respondents are resampled (with their blanks under ``missing = "pairwise"``) and every
    replicate is refitted by WLSMV (:class:`_WLSMVReplicator`); the intervals and p-values are
    the ML bootstrap's (:func:`_bootstrap`).  Draws in which a category of an ordered item is
    not observed are left out and counted in ``info["n_empty_category"]`` (they are among
    ``n_failed``).  Bollen–Stine is refused: lavaan has no such test for categorical data.
    """
    from dataclasses import replace

    from threadpoolctl import threadpool_limits

    from .. import arguments as check
    from ..data.survey import DataOptions, read_survey, resolve_missing
    from ..errors import SemclusterError
    from ..estimation.registry import ESTIMATORS
    from ..fitting import fit
    from ..spec.parser import read_model

    if kind != "nonparametric":
        raise check.OptionError("the Bollen-Stine bootstrap is not available for WLSMV "
                                "(ordered items): lavaan has no such test for categorical "
                                "data; use kind='nonparametric'")
    spec = result.spec if result is not None else read_model(model)
    opts = options if options is not None else DataOptions()
    if not opts.ordered:
        opts = replace(opts, ordered="all")
    opts = replace(opts, missing=resolve_missing(opts.missing, None,
                                                 ESTIMATORS["WLSMV"].auto_missing))
    Xdf, report = read_survey(data, opts, variables=spec.observed)
    with threadpool_limits(1):
        full = result if result is not None else fit(spec, data, estimator="WLSMV",
                                                     options=opts)
    if full.estimator != "WLSMV":
        raise check.OptionError(f"the fit given as result= is a {full.estimator} fit, not "
                                f"WLSMV")
    if getattr(full, "moments", ()) or full.n_groups > 1:
        raise check.OptionError("the WLSMV bootstrap resamples one group's rows: fits with "
                                "groups or intercepts ('~ 1') are not supported")
    if not full.converged:
        raise SemclusterError("the model does not converge on the full sample; nothing to "
                              "bootstrap")
    ordered = list(full.data_report.ordered) or list(report.ordered)
    X = Xdf[spec.observed].to_numpy(dtype=float)
    rep = _WLSMVReplicator(spec, X, full, ordered, full.data_report.missing,
                           full.info.get("parameterization", "delta"))
    with threadpool_limits(1):
        out = _bootstrap(spec, Xdf, X, full, rep.x_hat, np.nan, kind=kind, fiml=True,
                         rep=rep, **run)
    children = np.random.SeedSequence(run["seed"]).spawn(run["n_boot"])
    n_empty = sum(rep.empty_category(X, rep.draw(c)) for c in children)
    if out.n_used == 0:
        from ..errors import EstimationError

        raise EstimationError(
            f"no bootstrap draw could be used ({n_empty} of {run['n_boot']} lacked a category "
            f"of an item that the full sample has): some answer category is too rare to be "
            f"resampled; merge rare categories (--scale / recode) or bootstrap without "
            f"--ordered")
    out.info.update({"missing": full.data_report.missing, "estimator": "WLSMV",
                     "ordered": ordered, "n_empty_category": int(n_empty)})
    return out


# ---------------------------------------------------------------------------------------------
# grouped fits and fits with a mean structure
# ---------------------------------------------------------------------------------------------
class _GroupReplicator:
    """The refit of a resample of a multi-group fit, or of a one-group fit with a mean
    structure (intercepts ``~ 1``), as lavaan's ``se = "bootstrap"`` / ``bootstrapLavaan``.

    Rows are drawn *within each group*, every group keeping its size (lavaan's
    ``lav_bootstrap_internal`` draws the indices of each group separately "to ensure the group
    sizes do not change"); the groups are stacked in the full fit's order, so that the
    resample's first group is the full fit's (the reference group whose latent means are 0).
    Each resample is refitted by :func:`semcluster.fit` with the full fit's grouping column,
    estimator, missing-data rule and equality constraints (FIML with missing answers: rows
    drawn with their blanks).  Like :class:`_WLSMVReplicator` it works on fitted results:
    recorded per replicate are ``est`` and ``std_all`` of every row of the estimates table
    (every group's parameters, intercepts, ``:=`` rows) and R² of every endogenous variable
    in every group, in the full fit's order (:meth:`labels`, :attr:`groups`), and the
    replicate's χ² (``fit_measures["chisq"]``; with FIML the likelihood-ratio χ²), which the
    Bollen–Stine p-value needs.
    """

    def __init__(self, spec, X: np.ndarray, codes, full, fit_args: dict):
        self.spec = spec
        self.n = X.shape[0]
        self.codes = np.asarray(codes, dtype=object)     # group value per row (None: one group)
        self.group = fit_args.get("group")
        self.fit_args = dict(fit_args)
        labels = [m.label for m in full.moments] or ["1"]
        if self.group is None:
            self.blocks = [np.arange(self.n)]
        else:
            text = np.array([str(v) for v in self.codes])
            self.blocks = [np.flatnonzero(text == lab) for lab in labels]
        self.x_hat = np.asarray(full.info["x"], dtype=float)
        est = full.estimates
        gcol = est["group"].to_numpy() if "group" in est.columns else np.ones(len(est), int)
        self.keys = list(zip(est.lhs, est.op, est.rhs, gcol))
        self.rows = est[["lhs", "op", "rhs", "label", "free"]].copy()
        self.rows["group"] = [int(g) for g in gcol]
        self.r2_keys = list(full.r2.index)
        number = {lab: i + 1 for i, lab in enumerate(labels)}
        self.r2_rows = [(k[-1], number.get(str(k[0]), 1)) if isinstance(k, tuple) else (k, 1)
                        for k in self.r2_keys]
        self.var_rows = np.array([(op == "~~" and lhs == rhs) for lhs, op, rhs, _ in self.keys])
        self.q_hat = self.from_result(full)

    def labels(self):
        out = []
        for what in ("est", "std_all"):
            for r in self.rows.itertuples():
                out.append((r.lhs, r.op, r.rhs, r.label, what, r.free))
        for v, _ in self.r2_rows:
            out.append((v, "r2", v, "", "r2", 0))
        return out

    @property
    def groups(self) -> list:
        """The group number (lavaan's ``group`` column: 1, 2, ...; 0 for ``:=`` rows) of every
        quantity, in the order of :meth:`labels`."""
        g = list(self.rows["group"])
        return g + g + [k for _, k in self.r2_rows]

    def quantities(self, x=None) -> np.ndarray:
        """The full-sample quantities (the replicates' come from :meth:`from_result`)."""
        return self.q_hat

    def from_result(self, res) -> np.ndarray:
        est = res.estimates
        if "group" not in est.columns:
            est = est.assign(group=1)
        e = est.set_index(["lhs", "op", "rhs", "group"]).reindex(self.keys)
        r2 = pd.Series(res.r2).reindex(self.r2_keys)
        return np.concatenate([e["est"].to_numpy(float), e["std_all"].to_numpy(float),
                               r2.to_numpy(float)])

    def draw(self, seed_seq) -> np.ndarray:
        """Row numbers of one resample: each group's rows drawn from that group's rows only."""
        rng = np.random.default_rng(seed_seq)
        return np.concatenate([b[rng.integers(0, len(b), len(b))] for b in self.blocks])

    def refit(self, X, rows):
        """The fit of rows ``rows`` (a :class:`SEMResult`), or None (an error, no convergence)."""
        import warnings

        from ..errors import SemclusterError
        from ..fitting import fit

        df = pd.DataFrame(X[rows], columns=self.spec.observed)
        if self.group is not None:
            df[self.group] = self.codes[rows]
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")   # the full fit gave its warnings already
                res = fit(self.spec, df, **self.fit_args)
        except (SemclusterError, np.linalg.LinAlgError, FloatingPointError, ValueError):
            return None
        return res if res.converged else None

    def one(self, X, seed_seq):
        """(quantities, admissible, χ²), or (None, False, nan) when the refit fails."""
        res = self.refit(X, self.draw(seed_seq))
        if res is None:
            return None, False, np.nan
        q = self.from_result(res)
        admissible = bool(np.all(q[: len(self.keys)][self.var_rows] >= 0))
        return q, admissible, float(res.fit_measures.get("chisq", np.nan))

    def leave_out(self, X, i):
        """Quantities with row ``i`` left out (the jackknife of BCa), or None."""
        res = self.refit(X, np.concatenate([b[b != i] for b in self.blocks]))
        return None if res is None else self.from_result(res)


def bollen_stine_groups(X, blocks, moments, observed, *, missing: bool = False) -> np.ndarray:
    """Bollen and Stine's (1992) transformation made in every group, as lavaan's
    ``bootstrapLavaan(type = "bollen.stine")``: the rows of group g become
    Z_g = (X_g − x̄_g) S_g^{-1/2} Σ̂_g^{1/2} + μ̂_g, with S_g its sample covariance matrix
    (divisor N_g), Σ̂_g and μ̂_g its model-implied moments, so that every group's sample moments
    are the model's and the null hypothesis holds exactly in the resampled population.  With
    missing answers (``missing=True``) each group is transformed per missing-data pattern
    (:func:`bollen_stine_missing`, from the group's EM moments); lavaan refuses that case.

    ``blocks``: the row numbers of every group; ``moments``: the fit's ``GroupMoments`` in the
    same order."""
    Z = np.array(X, dtype=float, copy=True)
    for rows, m in zip(blocks, moments):
        S = m.sample_cov.loc[observed, observed].to_numpy(dtype=float)
        Sig = m.implied_cov.loc[observed, observed].to_numpy(dtype=float)
        mu = m.implied_mean.reindex(observed).to_numpy(dtype=float)
        if missing:
            xbar = m.sample_mean.reindex(observed).to_numpy(dtype=float)
            Z[rows] = bollen_stine_missing(Z[rows], xbar, S, mu, Sig)
        else:
            Z[rows] = bollen_stine_complete(Z[rows], S, Sig) + mu
    return Z


def _normal_interval(theta_hat, draws, ci):
    """boot's and lavaan's normal interval (``boot.ci.type = "norm"``): θ̂ − bias ± z·se with
    bias = mean(draws) − θ̂ and se the draws' standard deviation (divisor R − 1)."""
    d = np.asarray(draws, dtype=float)
    d = d[np.isfinite(d)]
    if len(d) < 2 or not np.isfinite(theta_hat) or np.ptp(d) <= 1e-12:
        return np.nan, np.nan
    centre = 2 * theta_hat - d.mean()
    z = stats.norm.ppf((1 + ci) / 2)
    sd = d.std(ddof=1)
    return centre - z * sd, centre + z * sd


def _bootstrap_groups(spec, data, result, options, *, group, estimator, group_equal,
                      group_partial, meanstructure, kind, **run) -> BootstrapResult:
    """The bootstrap of a multi-group fit, or of a one-group fit with a mean structure (see
    :class:`_GroupReplicator`): ML or MLR (the same estimates), FIML with missing answers.
    ``kind="bollen-stine"`` transforms every group to its model-implied moments first
    (:func:`bollen_stine_groups`).  The table has lavaan's ``group`` column (0 for ``:=``
    rows); the draws' columns are named ``lhs op rhs[.gG]:what`` (lavaan's ``.g2`` suffix for
    the parameters of group 2 and later)."""
    from threadpoolctl import threadpool_limits

    from .. import arguments as check
    from ..data.survey import read_survey
    from ..errors import DataError, SemclusterError
    from ..fitting import fit

    if result is not None:
        group = group if group is not None else getattr(result, "group_column", None)
        if group is not None and getattr(result, "group_column", None) not in (None, group):
            raise check.OptionError(f"the fit given as result= is grouped by "
                                    f"'{result.group_column}', not '{group}'")
        group_equal = group_equal or tuple(getattr(result, "group_equal", ()) or ())
        group_partial = group_partial or tuple(getattr(result, "group_partial", ()) or ())
    keep = [group] if group is not None else []
    Xdf, report = read_survey(data, options, variables=spec.observed, keep=keep)
    if group is not None:
        if group not in Xdf.columns:
            raise DataError(f"grouping column '{group}' is not in the data")
        lab = Xdf[group]
        empty = lab.isna() | lab.map(lambda v: isinstance(v, str) and not v.strip())
        Xdf = Xdf[~empty.to_numpy()]          # in no group: left out, as the fit leaves them
    missing = _missing_answers(Xdf, spec, report, kind)
    fit_args = {"group": group, "estimator": estimator,
                "missing": "fiml" if missing else "listwise",
                "group_equal": list(group_equal) or None,
                "group_partial": list(group_partial) or None,
                "meanstructure": True if (meanstructure or group is None) else None}
    with threadpool_limits(1):
        full = result if result is not None else fit(spec, Xdf, **fit_args)
    if not full.converged:
        raise SemclusterError("the model does not converge on the full sample; nothing to "
                              "bootstrap")
    if not getattr(full, "moments", ()):
        raise check.OptionError("the fit given as result= has no groups and no mean "
                                "structure; bootstrap it without group= / meanstructure=")
    X = Xdf[spec.observed].to_numpy(dtype=float)
    codes = Xdf[group].to_numpy(dtype=object) if group is not None else np.full(len(X), None)
    if len(X) != int(full.nobs):
        raise SemclusterError(f"the fit given as result= used {int(full.nobs)} rows; the data "
                              f"given have {len(X)}: pass the data the fit was made from")
    rep = _GroupReplicator(spec, X, codes, full, fit_args)
    chisq = float(full.fit_measures.get("chisq", np.nan))
    if kind == "bollen-stine":
        with threadpool_limits(1):
            X = bollen_stine_groups(X, rep.blocks, full.moments, spec.observed,
                                    missing=missing)
    with threadpool_limits(1):
        out = _bootstrap(spec, Xdf, X, full, rep.x_hat, chisq, kind=kind, fiml=True, rep=rep,
                         **run)
    if out.n_used == 0:
        raise SemclusterError(f"no bootstrap draw could be used (all {out.n_boot} refits "
                              f"failed to converge)")
    groups = rep.groups
    out.table.insert(3, "group", groups)
    labels = _labels(rep)
    out.draws.columns = [f"{a}{b}{c}{'' if g < 2 else f'.g{g}'}:{w}"
                         for (a, b, c, _, w, _), g in zip(labels, groups)]
    out.info.update({"missing": "fiml" if missing else "listwise", "estimator": estimator,
                     "group": group, "group_labels": [m.label for m in full.moments],
                     "group_nobs": [int(len(b)) for b in rep.blocks]})
    return out


def _with_normal_intervals(out: BootstrapResult, exclude_inadmissible: bool) -> BootstrapResult:
    """``out`` with the normal interval of every quantity (:func:`_normal_interval`) in the
    columns ``norm_lower`` and ``norm_upper``, from the draws the other intervals use: the
    converged ones, less the inadmissible ones (a negative variance among the ``est``
    draws, the replicators' rule) when ``exclude_inadmissible``."""
    t, D = out.table, out.draws.to_numpy(dtype=float)
    ok = ~np.all(np.isnan(D), axis=1)
    if exclude_inadmissible:
        var = ((t.op == "~~") & (t.lhs == t.rhs) & (t.what == "est")).to_numpy()
        ok &= ~np.any(D[:, var] < 0, axis=1)
    ends = [_normal_interval(est, D[ok, j], out.ci) for j, est in enumerate(t.est)]
    at = list(t.columns).index("bca_upper") + 1
    t.insert(at, "norm_lower", [e[0] for e in ends])
    t.insert(at + 1, "norm_upper", [e[1] for e in ends])
    return out


def bollen_stine_complete(X, S, Sigma) -> np.ndarray:
    """Bollen and Stine's (1992) transformation of complete data, Z = (X − x̄) S^{-1/2} Σ̂^{1/2}
    (symmetric square roots): Z's covariance matrix (divisor N) is Σ̂ and its means are 0."""
    X = np.asarray(X, dtype=float)
    return (X - X.mean(axis=0)) @ _msqrt(S, inverse=True) @ _msqrt(Sigma)


def _pattern_transform(X, mu_from, sigma_from, mu_to, sigma_to) -> np.ndarray:
    """One round of Enders' (2002) transformation: row i's answered items o become
    (x_o − μ_o) S_oo^{-1/2} Σ_oo^{1/2} + μ*_o with (μ, S) = (``mu_from``, ``sigma_from``) and
    (μ*, Σ) = (``mu_to``, ``sigma_to``), symmetric square roots; blanks stay blank."""
    mask = ~np.isnan(X)
    Z = np.full(X.shape, np.nan)
    keys, inverse = np.unique(mask, axis=0, return_inverse=True)
    inverse = inverse.ravel()
    for k, key in enumerate(keys):
        o = np.flatnonzero(key)
        r = np.flatnonzero(inverse == k)
        T = _msqrt(sigma_from[np.ix_(o, o)], inverse=True) @ _msqrt(sigma_to[np.ix_(o, o)])
        Z[np.ix_(r, o)] = (X[np.ix_(r, o)] - mu_from[o]) @ T + mu_to[o]
    return Z


def bollen_stine_missing(X, mu_h1, sigma_h1, mu_model, sigma_model, *, tol: float = 1e-10,
                         max_rounds: int = 100) -> np.ndarray:
    """Data with missing answers transformed so that their ML saturated (EM) estimate is the
    model-implied moments: the Bollen–Stine (1992) transformation made per missing-data pattern.

    Enders (2002, "Applying the Bollen–Stine bootstrap for goodness-of-fit measures to
    structural equation models with missing data", Multivariate Behavioral Research 37(3),
    359–377) transforms the answered part x_o of every row of pattern o with the pattern's
    submatrices of the saturated EM moments (μ̂, Ŝ) and of the model-implied moments
    (μ(θ̂), Σ(θ̂)):

        z_o = (x_o − μ̂_o) Ŝ_oo^{-1/2} Σ(θ̂)_oo^{1/2} + μ(θ̂)_o        (rows as row vectors).

    With one pattern (complete data) this is Bollen and Stine's Z = (X − x̄) S^{-1/2} Σ̂^{1/2}
    (plus the model means), whose sample moments are exactly (μ(θ̂), Σ(θ̂)).  With several
    patterns one round leaves the EM estimate of Z near, not at, the model moments, because a
    pattern's own rows do not have the moments Ŝ_oo (Savalei & Yuan 2009, "On the model-based
    bootstrap with missing data: obtaining a p-value for a test of exact fit", Multivariate
    Behavioral Research 44(6), examine the method); on the MAR mediation fixture (N = 300,
    9 items, 6.7 % of answers missing, 36 patterns) round one misses Σ(θ̂) by 4e-3 and
    leaves the model a FIML χ² of 0.024 on Z (the data's own: 24.8).  So the round is
    repeated on Z with Z's own EM moments in place of (μ̂, Ŝ) — a fixed point of the
    repetition is data whose EM estimate is the model's — until the largest difference is
    below ``tol`` (each round shrinks it 12- to 55-fold there: 2e-11 after 7 rounds).  The null hypothesis
    then holds exactly in the resampled population: the model's FIML χ² of Z is 0.

    Parameters
    ----------
    X : ndarray (N, p)
        The data, NaN for missing answers.
    mu_h1, sigma_h1 : ndarray
        The EM (saturated) mean vector and covariance matrix of X.
    mu_model, sigma_model : ndarray
        The model-implied mean vector and covariance matrix.

    Raises
    ------
    EstimationError
        When the rounds do not reach ``tol`` (the EM of the transformed data fails).
    """
    from ..errors import EstimationError
    from ..estimation.fiml import MissingPatterns

    X = np.asarray(X, dtype=float)
    mu_to = np.asarray(mu_model, dtype=float)
    sigma_to = np.asarray(sigma_model, dtype=float)
    mu, sigma = np.asarray(mu_h1, dtype=float), np.asarray(sigma_h1, dtype=float)
    Z = X
    for _ in range(max_rounds):
        Z = _pattern_transform(Z, mu, sigma, mu_to, sigma_to)
        if not np.isnan(X).any():
            return Z                       # complete data: exact after one round
        mu, sigma, _, converged, _ = MissingPatterns(Z).em(start=(mu_to, sigma_to),
                                                           tol=tol / 100)
        gap = max(np.max(np.abs(mu - mu_to)), np.max(np.abs(sigma - sigma_to)))
        if not (converged and np.isfinite(gap)):
            break
        if gap < tol:
            return Z
    raise EstimationError("the Bollen-Stine transformation of the data with missing answers "
                          "did not reach the model-implied moments (the EM of the "
                          "transformed data did not converge)")


def _implied_means(spec, full, x_hat) -> np.ndarray:
    """Model-implied means of the observed variables of a FIML fit (spec.observed order):
    μ = F(I − A)⁻¹u with u the intercepts ν (``info["nu"]``, non-covariates) and the
    covariates' sample means (FIML's EM means of complete columns are the sample means)."""
    from ..estimation._structure import CovarianceStructure

    core = CovarianceStructure.of(spec)
    B = core.matrices(x_hat)[2]
    obs = core.obs_ix
    fx = list(core.fixed_x_idx)
    ys = [j for j in range(len(spec.observed)) if j not in set(fx)]
    u = np.zeros(B.shape[0])
    u[obs[ys]] = np.asarray(full.info["nu"], dtype=float)
    if fx:
        u[obs[fx]] = full.info["mean_h1"].to_numpy(dtype=float)[fx]
    return (B @ u)[obs]


def _bootstrap(spec, Xdf, X, full, x_hat, chisq, *, n_boot, kind, seed, ci, bca,
               exclude_inadmissible, n_jobs, backend, scheduler, progress, fiml=False,
               rep=None):
    import time

    timing = {}
    t0 = time.perf_counter()
    children = np.random.SeedSequence(seed).spawn(n_boot)
    if rep is not None:
        pass                           # given by the caller (the WLSMV bootstrap)
    elif fiml:
        S_h1 = full.sample_cov.loc[spec.observed, spec.observed]
        mu_model = _implied_means(spec, full, x_hat)
        rep = _FIMLReplicator(spec, X, x_hat, mu_model, S_h1)
        if kind == "bollen-stine":     # X is transformed: its EM moments are the model's
            obs = spec.observed
            rep.saturated_start = (mu_model,
                                   full.implied_cov.loc[obs, obs].to_numpy(dtype=float))
    else:
        rep = _Replicator(spec, Xdf[spec.observed].to_numpy(float), x_hat)
    outcomes = run_replicates(_run_chunk, (rep, X), children, n_jobs=n_jobs,
                              backend=backend, scheduler=scheduler, progress=progress,
                              desc=f"bootstrap {spec.name}")
    timing["replicates"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    labels = _labels(rep)
    theta_hat = rep.quantities(x_hat)
    ncol = len(theta_hat)
    draws = np.full((n_boot, ncol), np.nan)
    admissible = np.zeros(n_boot, bool)
    ok = np.zeros(n_boot, bool)
    chis = np.full(n_boot, np.nan)
    for i, (q, adm, c) in enumerate(outcomes):
        if q is not None:
            draws[i] = q
            ok[i] = True
            admissible[i] = adm
            chis[i] = c
    n_failed = int((~ok).sum())
    n_inadm = int((ok & ~admissible).sum())
    use = ok & (admissible if exclude_inadmissible else True)
    D = draws[use]
    t0 = time.perf_counter()
    bca = bca and kind == "nonparametric"     # BCa needs the original data's jackknife
    if bca and fiml:
        jack = _jackknife_fiml(rep, X, n_jobs=n_jobs, backend=backend, scheduler=scheduler,
                               progress=progress, desc=f"jackknife {spec.name}")
    else:
        jack = _jackknife(rep, X, x_hat) if bca else None
    timing["jackknife"] = time.perf_counter() - t0
    rows = []
    for j, (lhs, op, rhs, label, what, free) in enumerate(labels):
        rows.append({"lhs": lhs, "op": op, "rhs": rhs, "label": label, "what": what,
                     "est": theta_hat[j],
                     **_interval_row(theta_hat[j], D[:, j], jack[:, j] if bca else None, ci,
                                     pvalue=op != "r2")})
    table = pd.DataFrame(rows)
    names = [f"{a}{b}{c}:{w}" for a, b, c, _, w, _ in labels]
    bs_p = None
    n_chisq_failed = 0
    if kind == "bollen-stine":
        valid = chis[use]
        n_chisq_failed = int(np.sum(~np.isfinite(valid)))   # saturated EM not converged
        valid = valid[np.isfinite(valid)]
        bs_p = float((np.sum(valid >= chisq) + 1) / (len(valid) + 1))
    return BootstrapResult(table=table, draws=pd.DataFrame(draws, columns=names), n_boot=n_boot,
                           n_failed=n_failed, n_inadmissible=n_inadm, n_used=int(use.sum()),
                           kind=kind, seed=seed, ci=ci, bollen_stine_pvalue=bs_p, chisq=chisq,
                           info={"n_jobs": n_jobs, "backend": backend,
                                 "exclude_inadmissible": exclude_inadmissible,
                                 "missing": "fiml" if fiml else "listwise",
                                 "nobs": int(X.shape[0]), "seconds": timing,
                                 "chisq_failed": n_chisq_failed})


def _msqrt(A, inverse=False):
    w, V = np.linalg.eigh(A)
    p = -0.5 if inverse else 0.5
    return (V * w ** p) @ V.T


def _jackknife(rep: _Replicator, X: np.ndarray, x_hat: np.ndarray) -> np.ndarray:
    """Leave-one-out estimates of every quantity (for the BCa acceleration)."""
    n = X.shape[0]
    Xo = X[:, rep.order]
    out = np.full((n, len(rep.quantities(x_hat))), np.nan)
    for i in range(n):
        B = np.delete(Xo, i, axis=0)
        B = B - B.mean(axis=0)
        S = B.T @ B / (n - 1)
        opt = rep.refitter.refit(S, n - 1, gtol=rep.gtol)
        if opt.converged:
            out[i] = rep.quantities(opt.x)
    return out


def _jackknife_fiml(rep: _FIMLReplicator, X: np.ndarray, **run) -> np.ndarray:
    """Leave-one-out FIML estimates of every quantity, refitted in the workers like the
    replicates (n FIML refits cost about as much as n replicates)."""
    outs = run_replicates(_run_jackknife_chunk, (rep, X), list(range(rep.n)), **run)
    width = len(rep.quantities(rep.x_hat))
    return np.array([o if o is not None else np.full(width, np.nan) for o in outs])
