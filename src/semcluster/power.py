"""Monte Carlo power for the structural paths of a model.

For each sample size N of a grid, ``reps`` data sets are drawn from a population model, the
model is refitted to each (:class:`semcluster.fastfit.FastRefitter`, warm start, no model
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
:class:`semcluster.simulate.Population`), or is the model fitted to the user's data; the
population calibrated to the paper's Tables 2–3, with ``effect_scale`` to explore weaker or
stronger effects, is the default of :func:`semcluster.study.power.power_analysis`.

Per-replicate random streams are children of ``SeedSequence(seed)``, so results are identical on
1 or n processes or a cluster.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from .parallel import run_replicates
from .protocol import ResultProtocol, clean, records


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
            info = self.refitter.information(opt.x)
            cov = np.linalg.inv(info)
        except np.linalg.LinAlgError:
            return False, None, None
        se = np.sqrt(np.clip(np.diag(cov)[self.path_idx], 0, None))
        return True, opt.x[self.path_idx], se


def _run_power_chunk(args):
    from threadpoolctl import threadpool_limits

    worker, n, seeds = args
    with threadpool_limits(1):
        return [worker.one(n, s) for s in seeds]


class _PopulationDraw:
    """Picklable draw from a Likert population (:class:`semcluster.simulate.Population`)."""

    def __init__(self, population):
        self.population = population

    def __call__(self, n, rng):
        from .simulate import simulate_from

        return simulate_from(self.population, n, rng)


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
    from .data import read_survey
    from .fit import fit
    from .spec import read_model

    spec = read_model(model)
    X, _ = read_survey(data, options, variables=spec.observed)
    res = fit(spec, X)
    if not res.converged:
        from .errors import EstimationError

        raise EstimationError("the model does not converge on the data; no population to "
                              "draw from")
    cov = res.implied_cov.loc[spec.observed, spec.observed]
    return _NormalDraw(X[spec.observed].mean().to_numpy(), cov.to_numpy(), spec.observed)


@dataclass(frozen=True, eq=False)
class PowerResult(ResultProtocol):
    """Monte Carlo power of the regression paths over a grid of sample sizes.

    ``table`` has one row per (N, path): ``n path label true power power_mcse converged
    mean_est bias relative_bias coverage reps``; ``smallest_n`` the smallest N of the grid
    reaching ``target`` power per path (``None`` if none does).  The result protocol
    (:mod:`semcluster.protocol`) gives ``summary()``, ``to_frame()`` (the table),
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

    def to_frame(self) -> pd.DataFrame:
        """The power table (a copy of :attr:`table`)."""
        return self.table.copy()

    def to_dict(self) -> dict:
        return {"target": self.target, "alpha": self.alpha, "reps": self.reps,
                "seed": self.seed, "true_values": clean(self.true_values),
                "smallest_n": clean(self.smallest_n), "table": records(self.table),
                "info": clean(self.info)}

    def summary(self) -> str:
        """Power of every path at every N, and the smallest N reaching the target."""
        wide = self.table.pivot(index="n", columns="path", values="power")
        lines = [f"Monte Carlo power ({self.reps} replications per N, alpha {self.alpha}, "
                 f"seed {self.seed})", wide.to_string(float_format=lambda v: f"{v:.3f}"), "",
                 f"smallest N with power >= {self.target}:"]
        for path, n in self.smallest_n.items():
            lines.append(f"  {path:<12} {n if n is not None else 'not reached in the grid'}")
        return "\n".join(lines) + "\n"


def power_analysis(model, *, data=None, options=None, n_grid=(100, 160, 250, 400, 600), reps: int = 500,
                   alpha: float = 0.05, target: float = 0.80, seed: int = 20140101,
                   population=None, effect_scale: float = 1.0, n_truth: int = 200_000,
                   n_jobs: int = 1, backend: str = "joblib", scheduler=None,
                   progress: bool = False) -> PowerResult:
    """Monte Carlo power of every regression path of ``model`` (see the module docstring).

    Parameters
    ----------
    population : callable or Population
        ``population(n, rng) -> DataFrame`` of the model's observed variables, or a
        :class:`semcluster.simulate.Population` of Likert items; without it, ``data`` gives the
        model fitted to those data (:func:`population_from_data`).  One of the two is needed
        (the paper's population is the default of
        :func:`semcluster.study.power.power_analysis`).
    effect_scale : float
        Recorded in ``info``; the population was scaled by it (only a population built from
        the paper's tables can be).
    data, options
        A user's survey (read by :func:`semcluster.data.read_survey` with ``options``) whose
        fitted model is the population.
    """
    from threadpoolctl import threadpool_limits

    from . import arguments as check

    reps = check.reps("reps", reps)
    alpha = check.probability("alpha", alpha)
    target = check.probability("target", target)
    seed = check.seed("seed", seed)
    effect_scale = check.positive("effect_scale", effect_scale)
    n_truth = check.integer("n_truth", n_truth, 1_000, check.MAX_N)
    n_jobs = check.jobs("n_jobs", n_jobs)
    if isinstance(n_grid, (str, bytes)) or not hasattr(n_grid, "__iter__"):
        n_grid = [n_grid]
    n_grid = [check.sample_size("n_grid", n) for n in n_grid]
    if not n_grid:
        raise check.OptionError("n_grid must hold at least one sample size")

    from .engine import MLEngine
    from .errors import (ModelSpecError, SemclusterError)
    from .fastfit import FastRefitter
    from .data import sample_covariance
    from .spec import read_model

    spec = read_model(model)
    grid = sorted(n_grid)
    if grid[0] <= len(spec.observed):
        raise check.OptionError(f"every N must exceed the number of observed variables "
                                f"({len(spec.observed)})")
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
        worker = _PowerWorker(refitter, draw, spec.observed, idx, order, alpha)
        names = [f"{r.lhs}~{r.rhs}" for r in paths.itertuples()]
        labels = {f"{r.lhs}~{r.rhs}": r.label for r in paths.itertuples()}
        truth = pd.Series(x_true[idx], index=names)
        z = stats.norm.ppf(1 - alpha / 2)
        rows = []
        master = np.random.SeedSequence(seed)
        streams = master.spawn(len(grid))
        for n, ss in zip(grid, streams):
            out = run_replicates(_run_power_chunk, (worker, n), ss.spawn(reps), n_jobs=n_jobs,
                                 backend=backend, scheduler=scheduler, progress=progress,
                                 desc=f"power N={n}")
            ok = np.array([o[0] for o in out])
            est = np.array([o[1] for o in out if o[0]])
            se = np.array([o[2] for o in out if o[0]])
            for j, name in enumerate(names):
                e, s = est[:, j], se[:, j]
                sig = detected(e, s, truth[name], alpha)
                cover = (e - z * s <= truth[name]) & (truth[name] <= e + z * s)
                rows.append({"n": n, "path": name, "label": labels[name],
                             "true": truth[name], "power": sig.mean(),
                             "power_mcse": np.sqrt(sig.mean() * (1 - sig.mean()) / len(e)),
                             "converged": ok.mean(), "mean_est": e.mean(),
                             "bias": e.mean() - truth[name],
                             "relative_bias": (e.mean() - truth[name]) / truth[name]
                             if truth[name] else np.nan,
                             "coverage": cover.mean(), "reps": reps})
    table = pd.DataFrame(rows)
    smallest = smallest_n_reaching(table, names, target)
    return PowerResult(table=table, true_values=truth,
                       smallest_n=pd.Series(smallest, dtype=object), target=target,
                       alpha=alpha, reps=reps, seed=seed,
                       info={"n_truth": n_truth, "effect_scale": effect_scale,
                             "n_jobs": n_jobs, "backend": backend})


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
