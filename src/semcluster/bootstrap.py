"""Bootstrap: case resampling and Bollen–Stine, percentile and BCa intervals, in parallel.

Each replicate draws its rows from its own random stream, child ``i`` of
``numpy.random.SeedSequence(seed)``, so the numbers do not depend on how replicates are split
among processes or machines: 1 process, n processes and a Dask cluster give the same result.

Per replicate the model is refitted by :class:`semcluster.fastfit.FastRefitter` (no parsing, no
model building, warm start from the full-sample estimates).  Recorded per replicate: every
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
model test is the share of replicates whose χ² is at least the observed χ².

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
from .protocol import ResultProtocol, clean, records


# ---------------------------------------------------------------------------------------------
# the per-process worker (numpy and pandas only: semopy is never imported in a worker)
# ---------------------------------------------------------------------------------------------
class _Replicator:
    """Refit machinery and the quantities recorded per replicate; pickled to workers."""

    def __init__(self, spec, X: np.ndarray, x_hat: np.ndarray, gtol: float = 1e-5):
        from .engine import MLEngine
        from .fastfit import FastRefitter
        from .data import sample_covariance
        from .standardized import RAM, Definitions

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
        from .standardized import standardized

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


def _run_chunk(args):
    """Worker entry point: (replicator, X, [seed sequences]) -> results in order."""
    from threadpoolctl import threadpool_limits

    rep, X, seeds = args
    with threadpool_limits(1):
        return [rep.one(X, s) for s in seeds]


# ---------------------------------------------------------------------------------------------
# results
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class BootstrapResult(ResultProtocol):
    """Bootstrap distribution and intervals.

    ``table``: one row per quantity — ``lhs op rhs label what est se ci_lower ci_upper
    bca_lower bca_upper pvalue`` (``what`` is ``est``, ``std_all`` or ``r2``).  The result
    protocol (:mod:`semcluster.protocol`) gives ``summary()``, ``to_frame()`` (the table),
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
        with pd.option_context("display.width", 200, "display.max_rows", 1000,
                               "display.max_columns", 20,
                               "display.float_format", lambda v: f"{v:.3f}"):
            lines.append(show[cols].to_string(index=False))
        return "\n".join(lines) + "\n"


def _labels(rep: _Replicator):
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


def bootstrap(model, data=None, *, n_boot: int = 1000, kind: str = "nonparametric",
              seed: int = 20231124, ci: float = 0.95, bca: bool = True,
              exclude_inadmissible: bool = False, n_jobs: int = 1, backend: str = "joblib",
              scheduler: str | None = None, progress: bool = False,
              result=None, options=None) -> BootstrapResult:
    """Bootstrap a model fitted by ML (see the module docstring).

    Parameters
    ----------
    model : str, Path or ModelSpec
    data : DataFrame, path or None (bundled study data)
    kind : {"nonparametric", "bollen-stine"}
    n_jobs : int
        Worker processes (joblib, ``backend="joblib"``); ``-1`` for all cores.
    backend : {"joblib", "dask"}
        ``"dask"`` submits to a distributed cluster (``scheduler`` address, or a
        ``distributed.Client`` already connected); needs the ``[distributed]`` extra.
    progress : bool
        A tqdm progress bar on the terminal.
    result : SEMResult, optional
        The full-sample fit of ``model`` to ``data`` (avoids refitting it).
    options : semcluster.data.DataOptions, optional
        How ``data`` is read (see :func:`semcluster.data.read_survey`); resampling needs
        complete rows.
    """
    from .data import read_survey, require_complete
    from .errors import SemclusterError
    from .fit import fit
    from .spec import read_model

    from . import arguments as check

    if kind not in ("nonparametric", "bollen-stine"):
        raise check.OptionError(f"kind must be 'nonparametric' or 'bollen-stine', not "
                                f"{kind!r}")
    n_boot = check.n_boot("n_boot", n_boot)
    seed = check.seed("seed", seed)
    ci = check.probability("ci", ci)
    n_jobs = check.jobs("n_jobs", n_jobs)
    spec = result.spec if result is not None else read_model(model)
    Xdf, _ = read_survey(data, options, variables=spec.observed)
    require_complete(Xdf, None, "the bootstrap (resampling complete rows)")
    from threadpoolctl import threadpool_limits

    # One BLAS thread for the full-sample fit too: its estimates are every replicate's start,
    # and on a flat likelihood ridge a last-digit change of the start moves a replicate's end
    # point (h1_h5: 23 of 1000 replicates by up to 0.11, one more converged or not), so the
    # draws would depend on the machine's BLAS threads.
    with threadpool_limits(1):
        full = result if result is not None else fit(spec, Xdf)
    if getattr(full, "moments", ()):
        raise check.OptionError("the bootstrap resamples one group's rows of a model without a "
                                "mean structure: fits with groups or intercepts ('~ 1') are "
                                "not supported")
    if not full.converged:
        raise SemclusterError("the model does not converge on the full sample; nothing to "
                              "bootstrap")
    x_hat = np.asarray(full.info["x"], dtype=float)
    X = Xdf[spec.observed].to_numpy(dtype=float)
    chisq = float(full.fit_measures["chisq"])
    if kind == "bollen-stine":
        # Z = (X - mean) S^-1/2 Sigma^1/2: the resampled population has covariance Sigma-hat
        S = full.sample_cov.loc[spec.observed, spec.observed].to_numpy()
        Sig = full.implied_cov.loc[spec.observed, spec.observed].to_numpy()
        X = (X - X.mean(axis=0)) @ _msqrt(S, inverse=True) @ _msqrt(Sig)

    with threadpool_limits(1):
        return _bootstrap(spec, Xdf, X, full, x_hat, chisq, n_boot=n_boot, kind=kind, seed=seed,
                          ci=ci, bca=bca, exclude_inadmissible=exclude_inadmissible,
                          n_jobs=n_jobs, backend=backend, scheduler=scheduler,
                          progress=progress)


def _bootstrap(spec, Xdf, X, full, x_hat, chisq, *, n_boot, kind, seed, ci, bca,
               exclude_inadmissible, n_jobs, backend, scheduler, progress):
    import time

    timing = {}
    t0 = time.perf_counter()
    children = np.random.SeedSequence(seed).spawn(n_boot)
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
    if kind == "bollen-stine":
        valid = chis[use]
        bs_p = float((np.sum(valid >= chisq) + 1) / (len(valid) + 1))
    return BootstrapResult(table=table, draws=pd.DataFrame(draws, columns=names), n_boot=n_boot,
                           n_failed=n_failed, n_inadmissible=n_inadm, n_used=int(use.sum()),
                           kind=kind, seed=seed, ci=ci, bollen_stine_pvalue=bs_p, chisq=chisq,
                           info={"n_jobs": n_jobs, "backend": backend,
                                 "exclude_inadmissible": exclude_inadmissible,
                                 "seconds": timing})


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
