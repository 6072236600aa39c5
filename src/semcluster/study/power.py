"""Power for a follow-up of the study: :func:`semcluster.analysis.power.power_analysis` with the
population calibrated to the paper's Tables 2–3 (scaled by ``effect_scale``) as the default."""
from __future__ import annotations

from ..analysis import power as _power


class StudyPopulationDraw:
    """Picklable draw from the paper-calibrated population with the outcome's correlations
    times ``effect_scale`` (:func:`semcluster.study.synthetic.scaled_population`), built on
    the first draw (after the arguments were checked) and kept."""

    def __init__(self, effect_scale: float = 1.0):
        self.effect_scale = effect_scale
        self.population = None

    def __call__(self, n, rng):
        from ..analysis.simulate import simulate_from
        from .synthetic import scaled_population

        if self.population is None:
            self.population = scaled_population(self.effect_scale)
        return simulate_from(self.population, n, rng)

    def clustered(self, sizes, design, rng):
        """Firms in clusters (:func:`semcluster.analysis.simulate.draw_in_clusters`)."""
        from ..analysis.simulate import draw_in_clusters
        from .synthetic import scaled_population

        if self.population is None:
            self.population = scaled_population(self.effect_scale)
        return draw_in_clusters(self.population, sizes, design, rng)


def power_analysis(model="h1_h5", *, data=None, options=None,
                   n_grid=None, reps: int = 500, alpha: float = 0.05,
                   target: float = 0.80, seed: int = 20140101, population=None,
                   effect_scale: float = 1.0, n_truth: int = 200_000, n_jobs: int = 1,
                   backend: str = "joblib", scheduler=None,
                   progress: bool = False, clusters=None,
                   missing=None) -> _power.PowerResult:
    """Monte Carlo power of every regression path of ``model`` (default ``h1_h5``); without
    ``population`` and ``data``, drawn from the paper-calibrated Likert population with the
    outcome's correlations times ``effect_scale``.  The arguments are those of
    :func:`semcluster.analysis.power.power_analysis`."""
    if population is None and data is None:
        population = StudyPopulationDraw(effect_scale)
    return _power.power_analysis(model, data=data, options=options, n_grid=n_grid, reps=reps,
                                 alpha=alpha, target=target, seed=seed, population=population,
                                 effect_scale=effect_scale, n_truth=n_truth, n_jobs=n_jobs,
                                 backend=backend, scheduler=scheduler, progress=progress,
                                 clusters=clusters, missing=missing)


def _document():
    import inspect

    general = inspect.cleandoc(getattr(_power.power_analysis, "__doc__", None) or "")
    head, _, rest = general.partition("\n\n")
    power_analysis.__doc__ = (inspect.cleandoc(power_analysis.__doc__) + "\n\n" + rest)


_document()
