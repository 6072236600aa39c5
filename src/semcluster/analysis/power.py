"""Monte Carlo power for the structural paths of a model.

For each sample size N of a grid, ``reps`` data sets are drawn from a population model, the
model is refitted to each (:class:`semcluster.estimation.refit.FastRefitter`, warm start, no model
building), and for every regression path we record

* power: the share of converged replicates with p < α (two-sided Wald test, expected-
  information SE, as in the single fits) *and* the estimate's sign equal to the true one;
* convergence rate;
* bias: mean estimate minus the true value;
* coverage: the share of 95 % Wald intervals that contain the true value.

The *true values* are the model's estimates at the population: the model fitted to one very
large draw (``n_truth`` respondents, default 200,000) from the same population, so that they are
in the model's own metric (marker-variable scaling) and include what the population's rounding
to 1–7 answers does to the paths.  The population is given (a draw function, or a Likert
:class:`semcluster.analysis.simulate.Population`), or is the model fitted to the user's data; the
population calibrated to the paper's Tables 2–3, with ``effect_scale`` to explore weaker or
stronger effects, is the default of :func:`semcluster.study.power.power_analysis`.

Clustered firms (``clusters=``, a :class:`semcluster.analysis.simulate.ClusterDesign`): each data set
is drawn in clusters (within- and between-cluster structure in that class's docstring: the
firms' total covariance is the population's, the between part ICC × it), with the same true
values.  Each is analysed twice: with cluster-robust standard errors (lavaan's ``cluster =``
with MLR: the sandwich whose meat sums the scores within clusters,
:func:`semcluster.estimation.cluster_robust.cluster_robust_ml`) — the power reported — and
naively, as if the firms were independent (ML, expected information), in ``naive``: under a
null path its rejection rate exceeds α, which is why the robust analysis is the one to plan
with.

Missing answers (``missing=``, a :class:`semcluster.analysis.simulate.MissingDesign`, MCAR or MAR by a
stated rule): answers are removed from each data set and the model is fitted by FIML
(:func:`semcluster.estimation.fiml.fiml_estimate`, SEs from the observed information as
lavaan's ``missing = "ml"``; with clusters as well, robust FIML with the clustered meat, lavaan's
``cluster =, missing = "ml", estimator = "MLR"``).  Exogenous covariates (fixed.x) are never
made missing; rows left without any answer are dropped.

Besides power (correct sign), the table reports ``rejection``: the share of replicates with
p < α whatever the sign, the type-I error rate when a path is truly zero.

Per-replicate random streams are children of ``SeedSequence(seed)``, so results are identical on
1 or n processes or a cluster.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from ..numerics import invert_information
from .parallel import run_replicates
from ..result.protocol import ResultProtocol, clean, records


class _PowerWorker:
    """Picklable: draws data, refits, returns (converged, est, se) of the tracked paths."""

    def __init__(self, refitter, draw, observed, path_idx, order, alpha):
        self.refitter = refitter
        self.draw = draw
        self.observed = observed
        self.path_idx = path_idx
        self.order = order
        self.alpha = alpha

    def one(self, n, seed_seq):
        rng = np.random.default_rng(seed_seq)
        X = self.draw(n, rng)[self.observed].to_numpy(dtype=float)[:, self.order]
        X = X - X.mean(axis=0)
        S = X.T @ X / n
        try:
            opt = self.refitter.refit(S, n, gtol=1e-6)
            if not opt.converged:
                return False, None, None
            cov, ok = invert_information(self.refitter.information(opt.x))
        except np.linalg.LinAlgError:
            return False, None, None
        if not ok:                      # singular information: no standard errors
            return False, None, None
        se = np.sqrt(np.clip(np.diag(cov)[self.path_idx], 0, None))
        return True, opt.x[self.path_idx], se


class _DesignPowerWorker:
    """Picklable: draws a clustered and/or incomplete data set, fits it (ML or FIML), and
    returns (converged, est, se, naive se) of the tracked paths; ``se`` is cluster-robust when
    the design has clusters, else the ML/FIML standard error (then equal to the naive one)."""

    def __init__(self, refitter, draw, observed, path_idx, order, structure, fx_idx, x_true,
                 clusters, missing, center):
        self.refitter = refitter
        self.draw = draw
        self.observed = list(observed)
        self.path_idx = path_idx
        self.order = order
        self.structure = structure
        self.fx_idx = list(fx_idx)
        self.x_true = np.asarray(x_true, dtype=float)
        self.clusters = clusters
        self.missing = missing
        self.center = center

    def data(self, n, rng):
        """One data set: (DataFrame of the observed variables, cluster codes or None)."""
        codes = None
        if self.clusters is None:
            X = self.draw(n, rng)[self.observed]
        else:
            sizes = self.clusters.sizes(n, rng)
            codes = np.repeat(np.arange(len(sizes)), sizes)
            X = draw_clustered(self.draw, sizes, self.clusters, rng, self.center)[self.observed]
        if self.missing is not None:
            X = self.missing.apply(X, self.observed, rng,
                                   skip=[self.observed[j] for j in self.fx_idx])
        return X.reset_index(drop=True), codes

    def one(self, n, seed_seq):
        rng = np.random.default_rng(seed_seq)
        X, codes = self.data(n, rng)
        failed = (False, None, None, None)
        try:
            with np.errstate(all="ignore"):
                if self.missing is None:
                    out = self._complete(X.to_numpy(dtype=float), codes)
                else:
                    out = self._fiml(X.to_numpy(dtype=float), codes)
        except (np.linalg.LinAlgError, ValueError, FloatingPointError):
            return failed
        if out is None:
            return failed
        est, se, naive = out
        i = self.path_idx
        if not (np.all(np.isfinite(se[i])) and np.all(np.isfinite(naive[i]))):
            return failed
        return True, est[i], se[i], naive[i]

    def _complete(self, arr, codes):
        n = len(arr)
        d = arr - arr.mean(axis=0)
        S = d.T @ d / n                                   # spec.observed order
        opt = self.refitter.refit(S[np.ix_(self.order, self.order)], n, gtol=1e-6)
        if not opt.converged:
            return None
        cov, ok = invert_information(self.refitter.information(opt.x))
        if not ok:
            return None
        naive = np.sqrt(np.clip(np.diag(cov), 0, None))
        if codes is None:
            return opt.x, naive, naive
        from ..estimation.cluster_robust import cluster_robust_ml

        self.structure.set_fixed_x(S)
        rob = cluster_robust_ml(self.structure, arr, opt.x, codes, self.fx_idx)
        if not rob.vcov_ok:
            return None
        return opt.x, np.sqrt(np.clip(np.diag(rob.vcov), 0, None)), naive

    def _fiml(self, arr, codes):
        from ..estimation.fiml import MissingPatterns, fiml_estimate, robust_fiml

        answered = ~np.all(np.isnan(arr), axis=1)
        arr = arr[answered]
        if codes is not None:
            codes = np.unique(codes[answered], return_inverse=True)[1]
        if self.fx_idx:
            xa = arr[:, self.fx_idx]
            xa = xa - xa.mean(axis=0)
            self.structure.ram.set_fixed_x(xa.T @ xa / len(xa))
        pats = MissingPatterns(arr)
        sol = fiml_estimate(self.structure, arr, self.x_true, patterns=pats,
                            fixed_x_idx=self.fx_idx, gtol=1e-6, max_iter=100)
        if not (sol.converged and sol.vcov_ok):
            return None
        q = len(sol.x)
        naive = np.sqrt(np.clip(np.diag(sol.vcov)[:q], 0, None))
        if codes is None:
            return sol.x, naive, naive
        pats.cluster_codes = codes
        rob = robust_fiml(self.structure, pats, sol)
        if not rob.vcov_ok:
            return None
        return sol.x, np.sqrt(np.clip(np.diag(rob.vcov)[:q], 0, None)), naive


def draw_clustered(draw, sizes, design, rng, center=0.0) -> pd.DataFrame:
    """Firms in clusters of ``sizes`` from a population draw (see
    :class:`semcluster.analysis.simulate.ClusterDesign`): a draw with a ``clustered`` method (Likert
    populations: the decomposition is applied to the latent responses before the cut points)
    uses it; any other draw function is combined on its values, √(1 − ρ)·(w − c) + √ρ·(b_j − c)
    + c with c = ``center`` the population mean (exact two-level normal data for a normal
    population)."""
    sizes = np.asarray(sizes, dtype=int)
    if hasattr(draw, "clustered"):
        return draw.clustered(sizes, design, rng)
    codes = np.repeat(np.arange(len(sizes)), sizes)
    W = draw(int(sizes.sum()), rng)
    B = draw(len(sizes), rng)[list(W.columns)]
    c = np.asarray(center, dtype=float) if np.ndim(center) else center
    return pd.DataFrame(design.combine(W.to_numpy(dtype=float), B.to_numpy(dtype=float), codes,
                                       c), columns=W.columns)


def _run_power_chunk(args):
    from threadpoolctl import threadpool_limits

    worker, n, seeds = args
    with threadpool_limits(1):
        return [worker.one(n, s) for s in seeds]


class _PopulationDraw:
    """Picklable draw from a Likert population (:class:`semcluster.analysis.simulate.Population`)."""

    def __init__(self, population):
        self.population = population

    def __call__(self, n, rng):
        from .simulate import simulate_from

        return simulate_from(self.population, n, rng)

    def clustered(self, sizes, design, rng):
        from .simulate import draw_in_clusters

        return draw_in_clusters(self.population, sizes, design, rng)


class _NormalDraw:
    """Picklable draw from a multivariate normal population (a model fitted to the user's data)."""

    def __init__(self, mean, cov, names):
        self.mean, self.cov, self.names = np.asarray(mean), np.asarray(cov), list(names)

    def __call__(self, n, rng):
        return pd.DataFrame(rng.multivariate_normal(self.mean, self.cov, size=n),
                            columns=self.names)


def population_from_data(model, data, options=None):
    """A population for :func:`power_analysis`: the model fitted to the user's data.

    Draws are multivariate normal with the sample means and the model-implied covariance
    matrix, so the "true" paths are the estimates from the user's survey.
    """
    from ..data.survey import read_survey
    from ..fitting import fit
    from ..spec.parser import read_model

    spec = read_model(model)
    X, _ = read_survey(data, options, variables=spec.observed)
    res = fit(spec, X)
    if not res.converged:
        from ..errors import EstimationError

        raise EstimationError("the model does not converge on the data; no population to "
                              "draw from")
    cov = res.implied_cov.loc[spec.observed, spec.observed]
    return _NormalDraw(X[spec.observed].mean().to_numpy(), cov.to_numpy(), spec.observed)


@dataclass(frozen=True, eq=False)
class PowerResult(ResultProtocol):
    """Monte Carlo power of the regression paths over a grid of sample sizes.

    ``table`` has one row per (N, path): ``n path label true power power_mcse rejection
    converged mean_est mean_se bias relative_bias coverage reps`` (``rejection``: share with p < α
    whatever the sign);  ``naive`` (clustered designs only) the same table from the naive
    analysis that takes the firms as independent; ``smallest_n`` the smallest N of the grid
    reaching ``target`` power per path (``None`` if none does).  The result protocol
    (:mod:`semcluster.result.protocol`) gives ``summary()``, ``to_frame()`` (the table),
    ``to_dict()``, ``to_json()``/``from_json()``, pickling and ``==``.
    """

    table: pd.DataFrame        # one row per (n, path): power, convergence, bias, coverage ...
    true_values: pd.Series
    smallest_n: pd.Series      # per path: smallest N of the grid with power >= target
    target: float
    alpha: float
    reps: int
    seed: int
    info: dict = field(default_factory=dict)
    naive: pd.DataFrame | None = None    # clustered designs: the same table, firms as independent

    def to_frame(self) -> pd.DataFrame:
        """The power table (a copy of :attr:`table`)."""
        return self.table.copy()

    def to_dict(self) -> dict:
        return {"target": self.target, "alpha": self.alpha, "reps": self.reps,
                "seed": self.seed, "true_values": clean(self.true_values),
                "smallest_n": clean(self.smallest_n), "table": records(self.table),
                "info": clean(self.info),
                "naive": None if self.naive is None else records(self.naive)}

    def summary(self) -> str:
        """Power of every path at every N, and the smallest N reaching the target."""
        wide = self.table.pivot(index="n", columns="path", values="power")
        lines = [f"Monte Carlo power ({self.reps} replications per N, alpha {self.alpha}, "
                 f"seed {self.seed})", wide.to_string(float_format=lambda v: f"{v:.3f}"), "",
                 f"smallest N with power >= {self.target}:"]
        for path, n in self.smallest_n.items():
            lines.append(f"  {path:<12} {n if n is not None else 'not reached in the grid'}")
        for key in ("clusters", "analysis", "missing", "estimator"):
            if key in self.info:
                lines.append(f"{key}: {self.info[key]}")
        if self.naive is not None:
            naive = self.naive.pivot(index="n", columns="path", values="rejection")
            lines += ["", "naive analysis (firms taken as independent), rejection rate p < "
                      f"{self.alpha}:", naive.to_string(float_format=lambda v: f"{v:.3f}")]
        return "\n".join(lines) + "\n"


#: the N grid when none is given
DEFAULT_GRID = (100, 160, 250, 400, 600)


def power_analysis(model, *, data=None, options=None, n_grid=None, reps: int = 500,
                   alpha: float = 0.05, target: float = 0.80, seed: int = 20140101,
                   population=None, effect_scale: float = 1.0, n_truth: int = 200_000,
                   n_jobs: int = 1, backend: str = "joblib", scheduler=None,
                   progress: bool = False, clusters=None, missing=None) -> PowerResult:
    """Monte Carlo power of every regression path of ``model`` (see the module docstring).

    Parameters
    ----------
    n_grid : sequence of int, optional
        The sample sizes N (default :data:`DEFAULT_GRID`; with ``clusters`` fixing N — K
        clusters of a fixed size — the one N = K·M, and ``n_grid`` must not be given).
    population : callable or Population
        ``population(n, rng) -> DataFrame`` of the model's observed variables, or a
        :class:`semcluster.analysis.simulate.Population` of Likert items; without it, ``data`` gives the
        model fitted to those data (:func:`population_from_data`).  One of the two is needed
        (the paper's population is the default of
        :func:`semcluster.study.power.power_analysis`).
    effect_scale : float
        Recorded in ``info``; the population was scaled by it (only a population built from
        the paper's tables can be).
    data, options
        A user's survey (read by :func:`semcluster.data.survey.read_survey` with ``options``) whose
        fitted model is the population.
    clusters : ClusterDesign, optional
        Draw the firms in clusters (:class:`semcluster.analysis.simulate.ClusterDesign`) and test the
        paths with cluster-robust SEs; the naive (independent-firms) analysis is in
        ``result.naive``.
    missing : MissingDesign, optional
        Remove answers by MCAR or a MAR rule (:class:`semcluster.analysis.simulate.MissingDesign`) and
        fit by FIML.
    """
    from threadpoolctl import threadpool_limits

    from .. import arguments as check
    from .simulate import ClusterDesign, MissingDesign

    reps = check.reps("reps", reps)
    alpha = check.probability("alpha", alpha)
    target = check.probability("target", target)
    seed = check.seed("seed", seed)
    effect_scale = check.positive("effect_scale", effect_scale)
    n_truth = check.integer("n_truth", n_truth, 1_000, check.MAX_N)
    n_jobs = check.jobs("n_jobs", n_jobs)
    if clusters is not None and not isinstance(clusters, ClusterDesign):
        raise check.OptionError("clusters must be a ClusterDesign (semcluster.analysis.simulate)")
    if missing is not None and not isinstance(missing, MissingDesign):
        raise check.OptionError("missing must be a MissingDesign (semcluster.analysis.simulate)")
    if missing is not None and missing.rate == 0:
        missing = None
    if clusters is not None and clusters.fixes_n:
        if clusters.n is None:
            raise check.OptionError(
                "power needs a fixed N per point of the grid: with a cluster-size range give "
                "the N grid and no number of clusters (or a fixed --cluster-size)")
        if n_grid is not None:
            raise check.OptionError(f"{clusters.clusters} clusters of {clusters.size} firms make "
                                    f"N = {clusters.n}; do not give an N grid as well")
        n_grid = [clusters.n]
    if n_grid is None:
        n_grid = DEFAULT_GRID
    if isinstance(n_grid, (str, bytes)) or not hasattr(n_grid, "__iter__"):
        n_grid = [n_grid]
    n_grid = [check.sample_size("n_grid", n) for n in n_grid]
    if not n_grid:
        raise check.OptionError("n_grid must hold at least one sample size")

    from ..estimation.engine import MLEngine
    from ..errors import ModelSpecError, SemclusterError
    from ..estimation._structure import CovarianceStructure
    from ..estimation.refit import FastRefitter
    from ..data.survey import sample_covariance
    from ..spec.parser import read_model

    spec = read_model(model)
    grid = sorted(n_grid)
    if grid[0] <= len(spec.observed):
        raise check.OptionError(f"every N must exceed the number of observed variables "
                                f"({len(spec.observed)})")
    if clusters is not None:
        for n in grid:          # refuse a grid the design cannot split, before any draw
            clusters.sizes(n, np.random.default_rng(0))
    if missing is not None:
        missing.check([v for v in spec.observed if v not in set(spec.fixed_x)])
    if population is None and data is not None:
        if effect_scale != 1.0:
            raise SemclusterError("effect_scale applies to the paper's population; with data "
                                  "the population is the model fitted to them")
        population = population_from_data(spec, data, options)
    if population is None:
        raise check.OptionError("give a population (a draw function or a Population) or data "
                                "to fit the model to")
    from .simulate import Population

    draw = _PopulationDraw(population) if isinstance(population, Population) else population
    pt = spec.partable
    paths = pt[(pt.op == "~") & (pt["free"] > 0)]
    if paths.empty:
        raise ModelSpecError(f"model '{spec.name}' has no free regression paths")
    with threadpool_limits(1):
        big = draw(n_truth, np.random.default_rng(np.random.SeedSequence([seed, 0])))
        Xb = big[spec.observed]
        engine = MLEngine(spec)
        engine.load(sample_covariance(Xb), n_truth, Xb)
        opt = engine.fit()
        if not opt.converged:
            raise SemclusterError("the model does not converge at the population")
        x_true = opt.x
        refitter = FastRefitter(engine, x_true)
        order = np.array([spec.observed.index(v) for v in engine.observed])
        idx = np.array(paths["free"].to_numpy() - 1, dtype=int)
        designed = clusters is not None or missing is not None
        if designed:
            fx_idx = [spec.observed.index(v) for v in spec.fixed_x]
            worker = _DesignPowerWorker(refitter, draw, spec.observed, idx, order,
                                        CovarianceStructure.of(spec), fx_idx, x_true, clusters,
                                        missing, Xb.to_numpy(dtype=float).mean(axis=0))
        else:
            worker = _PowerWorker(refitter, draw, spec.observed, idx, order, alpha)
        names = [f"{r.lhs}~{r.rhs}" for r in paths.itertuples()]
        labels = {f"{r.lhs}~{r.rhs}": r.label for r in paths.itertuples()}
        truth = pd.Series(x_true[idx], index=names)
        z = stats.norm.ppf(1 - alpha / 2)
        rows, naive_rows = [], []
        master = np.random.SeedSequence(seed)
        streams = master.spawn(len(grid))
        for n, ss in zip(grid, streams):
            out = run_replicates(_run_power_chunk, (worker, n), ss.spawn(reps), n_jobs=n_jobs,
                                 backend=backend, scheduler=scheduler, progress=progress,
                                 desc=f"power N={n}")
            ok = np.array([o[0] for o in out])
            if not ok.any():
                raise SemclusterError(f"no replicate at N = {n} converged; the model cannot "
                                      f"be estimated at this N")
            est = np.array([o[1] for o in out if o[0]])
            se = np.array([o[2] for o in out if o[0]])
            ses = [(rows, se)]
            if clusters is not None:
                ses.append((naive_rows, np.array([o[3] for o in out if o[0]])))
            for target_rows, se_k in ses:
                for j, name in enumerate(names):
                    target_rows.append(_power_row(n, name, labels[name], truth[name], est[:, j],
                                                  se_k[:, j], ok.mean(), reps, alpha, z))
    table = pd.DataFrame(rows)
    smallest = smallest_n_reaching(table, names, target)
    info = {"n_truth": n_truth, "effect_scale": effect_scale, "n_jobs": n_jobs,
            "backend": backend}
    if clusters is not None:
        info.update(clusters=clusters.describe(), icc=clusters.icc,
                    analysis="cluster-robust (lavaan cluster=, MLR sandwich)")
    if missing is not None:
        info.update(missing=f"{missing.mechanism.upper()} {missing.rate:g}",
                    estimator="FIML" + (" (robust, clustered meat)" if clusters else ""))
    return PowerResult(table=table, true_values=truth,
                       smallest_n=pd.Series(smallest, dtype=object), target=target,
                       alpha=alpha, reps=reps, seed=seed, info=info,
                       naive=pd.DataFrame(naive_rows) if clusters is not None else None)


def _power_row(n, name, label, true, e, s, converged, reps, alpha, z) -> dict:
    sig = detected(e, s, true, alpha)
    with np.errstate(divide="ignore", invalid="ignore"):
        rejected = 2 * stats.norm.sf(np.abs(e / s)) < alpha
    cover = (e - z * s <= true) & (true <= e + z * s)
    return {"n": n, "path": name, "label": label, "true": true, "power": sig.mean(),
            "power_mcse": np.sqrt(sig.mean() * (1 - sig.mean()) / len(e)),
            "rejection": rejected.mean(), "converged": converged, "mean_est": e.mean(),
            "mean_se": s.mean(),
            "bias": e.mean() - true,
            "relative_bias": (e.mean() - true) / true if true else np.nan,
            "coverage": cover.mean(), "reps": reps}


def detected(est, se, true_value: float, alpha: float) -> np.ndarray:
    """Which replicates detect a path: two-sided Wald p = 2·(1 − Φ(|est/se|)) below ``alpha``
    **and** the estimate on the side of the true value (power as the share of replications
    that reject H0 at ``alpha``: Muthén & Muthén 2002; a significant estimate of the wrong
    sign is no detection).  A replicate without a standard error detects nothing."""
    est, se = np.asarray(est, dtype=float), np.asarray(se, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = 2 * stats.norm.sf(np.abs(est / se))
    return (p < alpha) & (np.sign(est) == np.sign(true_value))


def smallest_n_reaching(table: pd.DataFrame, paths, target: float) -> dict:
    """Per path, the smallest N of the grid whose power is at least ``target`` (.80 by
    default: Cohen 1988), or None when no N of the grid reaches it."""
    out = {}
    for name in paths:
        t = table[(table.path == name) & (table.power >= target)]
        out[name] = int(t.n.min()) if len(t) else None
    return out


def analytic_regression_power(b: float, sd_x: float, sd_e: float, n: int,
                              alpha: float = 0.05) -> float:
    """Power of the Wald test of y ~ b·x with normal x (fixed) and normal errors, N large:
    λ = b·√N·sd_x/sd_e, power = Φ(λ − z) + Φ(−λ − z)."""
    z = stats.norm.ppf(1 - alpha / 2)
    lam = b * np.sqrt(n) * sd_x / sd_e
    return float(stats.norm.cdf(lam - z) + stats.norm.cdf(-lam - z))
