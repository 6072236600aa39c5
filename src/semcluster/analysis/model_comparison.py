"""Comparing competing models fitted to the same data.

``compare_models`` fits each model and tabulates npar, χ², df, p, CFI, TLI, RMSEA, SRMR, AIC,
BIC and ΔCFI/ΔAIC/ΔBIC against the best; ``chisq_difference`` tests a nested pair as lavaan's
``lavTestLRT`` does by default: the plain difference for ML (and GLS), for MLR the scaled
difference of Satorra & Bentler (2001): T_d = (T₀ − T₁)/c_d, c_d = (d₀c₀ − d₁c₁)/(d₀ − d₁),
c = T/T_scaled, and for WLSMV the scaled-and-shifted difference of Satorra (2000) (lavaan's
``method = "satorra.2000"``, :func:`semcluster.estimation.wlsmv.satorra_2000`).
Nesting is the user's claim (same data and variables, the restricted model having more df); the
test does not check it.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from ..errors import InputTypeError, OptionError
from ..result.protocol import ResultProtocol, clean, records

COLUMNS = ["npar", "chisq", "df", "pvalue", "cfi", "tli", "rmsea", "srmr", "aic", "bic"]


def chisq_difference(restricted, full) -> dict:
    """χ² difference test of a restricted model against a fuller one (both SEMResults)."""
    fr, ff = restricted.fit_measures, full.fit_measures
    if restricted.nobs != full.nobs:
        raise OptionError("the two models were fitted to different numbers of rows")
    d0, d1 = fr["df"], ff["df"]
    if d0 <= d1:
        raise OptionError("the restricted model must have more degrees of freedom")
    if restricted.estimator != full.estimator:
        raise OptionError(f"the two models were fitted by different estimators "
                          f"({restricted.estimator}, {full.estimator})")
    test = nested_test(restricted.estimator)
    if test == "satorra.2000":
        from ..estimation.wlsmv import satorra_2000

        parts = [getattr(r, "_difftest", None) for r in (restricted, full)]
        if any(p is None for p in parts):
            raise OptionError("the WLSMV difference test needs the fits themselves (their "
                              "Jacobians and the statistics' covariance), which results read "
                              "back from JSON do not keep: fit the two models again")
        T = satorra_2000(parts[0], parts[1], float(fr["chisq"]), float(ff["chisq"]),
                         int(d0), int(d1))["chisq_diff"]
        kind = "Satorra (2000) scaled-shifted difference (lavaan's satorra.2000)"
    elif test == "sb2001" and "chisq_scaled" in fr.index and "chisq_scaled" in ff.index and \
            np.isfinite(fr["chisq_scaled"]):
        c0 = fr["chisq"] / fr["chisq_scaled"]
        c1 = ff["chisq"] / ff["chisq_scaled"]
        cd = (d0 * c0 - d1 * c1) / (d0 - d1)
        T = (fr["chisq"] - ff["chisq"]) / cd
        kind = "Satorra-Bentler (2001) scaled difference"
    else:
        T = fr["chisq"] - ff["chisq"]
        kind = ("chi-square difference (likelihood ratio)" if test == "lrt"
                else "chi-square difference")
    ddf = int(d0 - d1)
    return {"restricted": restricted.spec.name, "full": full.spec.name, "chisq_diff": float(T),
            "df_diff": ddf, "pvalue": float(stats.chi2.sf(T, ddf)), "test": kind}


def nested_test(estimator: str) -> str:
    """The nested-model test of an estimator's registry entry (``lrt``, ``difference``,
    ``sb2001``, ``satorra.2000``: :data:`semcluster.estimation.registry.NESTED_TESTS`); the plain
    difference for a name the registry does not hold (a result of an estimator no longer
    registered)."""
    from ..estimation.registry import ESTIMATORS

    e = ESTIMATORS.get(estimator)
    return e.nested_test if e is not None else "difference"


@dataclass(frozen=True, eq=False)
class ModelComparison(ResultProtocol):
    """Competing models fitted to the same data.

    Attributes
    ----------
    table : DataFrame
        One row per model (index ``model``): ``npar chisq df pvalue cfi tli rmsea srmr aic
        bic converged admissible delta_cfi delta_aic delta_bic``.
    tests : DataFrame
        One row per nested pair: ``restricted full chisq_diff df_diff pvalue test``.
    results : dict
        Model name -> :class:`~semcluster.result.result.SEMResult`.

    Unpacks as the tuple earlier versions returned: ``table, tests, results =
    compare_models(...)``.  The result protocol (:mod:`semcluster.result.protocol`) gives
    ``summary()``, ``to_frame()`` (the table), ``to_dict()``, ``to_json()``/``from_json()``,
    pickling and ``==``.
    """

    table: pd.DataFrame
    tests: pd.DataFrame
    results: dict = field(default_factory=dict)
    estimator: str = "ML"

    def __iter__(self):
        return iter((self.table, self.tests, self.results))

    def best(self, by: str = "bic") -> str:
        """Name of the model with the smallest ``by`` (``aic``/``bic``) or largest ``cfi``/
        ``tli``."""
        col = self.table[by]
        return str(col.idxmax() if by in ("cfi", "tli") else col.idxmin())

    def to_frame(self) -> pd.DataFrame:
        """The comparison table (a copy of :attr:`table`, one row per model)."""
        return self.table.copy()

    def to_dict(self) -> dict:
        return {"estimator": self.estimator, "table": records(self.table.reset_index()),
                "tests": records(self.tests),
                "results": {k: clean(r.to_dict()) for k, r in self.results.items()}}

    def summary(self) -> str:
        """The fit of every model and the χ² difference tests of the nested pairs."""
        cols = [c for c in ("npar", "chisq", "df", "pvalue", "cfi", "tli", "rmsea", "srmr",
                            "aic", "bic", "delta_cfi", "delta_aic", "delta_bic")
                if c in self.table]
        lines = [f"Model comparison ({self.estimator})",
                 self.table[cols].to_string(float_format=lambda v: f"{v:.3f}")]
        if len(self.tests):
            lines += ["", "Nested models:"]
            for r in self.tests.itertuples():
                lines.append(f"  {r.restricted} vs {r.full}: {r.test} {r.chisq_diff:.3f} on "
                             f"{r.df_diff} df, p {r.pvalue:.4f}")
        return "\n".join(lines) + "\n"


def compare_models(models, data=None, *, estimator: str = "ML", nested=None,
                   options=None) -> ModelComparison:
    """Fit several models to the same data and compare them.

    Parameters
    ----------
    models : list of model names/paths/specs
    nested : list of (restricted, full) name pairs to test, optional
        Default: the models ordered by df, each consecutive pair with the same observed
        variables (the study's nesting of its bundled models is
        :func:`semcluster.study.nested_models`).  A pair is tested only when the restricted
        model has more df than the full one.

    Returns
    -------
    ModelComparison
        ``table``, ``tests`` and ``results``; unpacks as ``table, tests, results``.
    """
    from ..data.survey import read_survey
    from ..fitting import fit
    from ..spec.parser import read_model

    if isinstance(models, (str, bytes)) or not hasattr(models, "__iter__"):
        raise InputTypeError(f"models must be a list of models, not {type(models).__name__}")
    observed: list = []
    for m in models:
        observed += [v for v in read_model(m).observed if v not in observed]
    # one reading for all models: the same rows (and missing-data rule) for every model
    df, _ = read_survey(data, options, variables=observed)
    results = {}
    for m in models:
        r = fit(m, df, estimator=estimator)
        results[r.spec.name] = r
    rows = []
    for name, r in results.items():
        fm = r.fit_measures
        row = {"model": name, **{c: float(fm[c]) if c in fm.index else np.nan
                                 for c in COLUMNS}, "converged": r.converged,
               "admissible": r.admissible}
        if estimator != "ML" and "chisq_scaled" in fm.index:
            row["chisq_scaled"] = float(fm["chisq_scaled"])
            row["cfi_robust"] = float(fm.get("cfi_robust", np.nan))
        rows.append(row)
    table = pd.DataFrame(rows).set_index("model")
    best_cfi = table["cfi"].max()
    table["delta_cfi"] = table["cfi"] - best_cfi
    table["delta_aic"] = table["aic"] - table["aic"].min()
    table["delta_bic"] = table["bic"] - table["bic"].min()
    if nested is None:
        order = sorted(results, key=lambda k: -results[k].fit_measures["df"])
        nested = [(a, b) for a, b in zip(order[:-1], order[1:])
                  if set(results[a].spec.observed) == set(results[b].spec.observed)]
    tests = pd.DataFrame([chisq_difference(results[a], results[b]) for a, b in nested
                          if results[a].fit_measures["df"] > results[b].fit_measures["df"]],
                         columns=["restricted", "full", "chisq_diff", "df_diff", "pvalue",
                                  "test"])
    return ModelComparison(table=table, tests=tests, results=results, estimator=estimator)
