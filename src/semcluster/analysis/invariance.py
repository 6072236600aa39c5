"""Measurement invariance (configural, metric, scalar, strict) across groups.

Each level is a multi-group model of :mod:`semcluster.estimation.groups` (lavaan's semantics: the
same code as ``semcluster.fit(..., group=...)``) with lavaan's ``group.equal`` classes:

============  ==================================================================
configural    same pattern; intercepts free; latent means fixed at 0
metric        + loadings equal across groups (group.equal = "loadings")
scalar        + intercepts equal; latent means free in groups 2..G
strict        + residual variances equal
============  ==================================================================

``group_partial`` (lavaan's ``group.partial``) frees named parameters again at every level.
Missing answers under the FIML rule are fitted by FIML (as ``fit(group=...)``).
Model comparison by χ² difference (lavTestLRT for standard ML); ΔCFI ≤ −.010 and
ΔRMSEA ≥ .015 flag non-invariance (Chen 2007).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from ..errors import OptionError
from ..numerics import invert_information
from ..estimation.groups import (MultiGroupModel, fiml_observed_information, fiml_statistics,
    fit_fiml, fit_multigroup, fit_statistics, pooled_start, prepare_group_data)
from ..result.protocol import ResultProtocol, clean, records

LEVELS = ("configural", "metric", "scalar", "strict")
LEVEL_EQUAL = {"configural": (), "metric": ("loadings",), "scalar": ("loadings", "intercepts"),
               "strict": ("loadings", "intercepts", "residuals")}


@dataclass(frozen=True, eq=False)
class InvarianceResult(ResultProtocol):
    """The invariance sequence (configural, metric, scalar, ...) fitted across groups.

    The result protocol (:mod:`semcluster.result.protocol`) gives ``summary()``, ``to_frame()`` (the
    fit table, one row per level), ``to_dict()``, ``to_json()``/``from_json()``, pickling and
    ``==``.
    """

    table: pd.DataFrame            # one row per level: npar chisq df pvalue cfi tli rmsea ...
    comparisons: pd.DataFrame      # each level vs the previous one: LRT, ΔCFI, ΔRMSEA, verdict
    groups: tuple
    nobs: dict
    estimates: dict = field(default_factory=dict)    # level -> DataFrame est, se (expected
                                                     # information) per parameter

    def to_frame(self) -> pd.DataFrame:
        """Fit of every level (a copy of :attr:`table`, indexed by level)."""
        return self.table.copy()

    def to_dict(self) -> dict:
        return {"groups": list(self.groups), "nobs": clean(self.nobs),
                "table": records(self.table.reset_index()),
                "comparisons": records(self.comparisons),
                "estimates": {k: records(v.reset_index(names="parameter"))
                              for k, v in self.estimates.items()}}

    def summary(self) -> str:
        """Fit per level and the verdict of each step."""
        groups = ", ".join(f"{g} (N={self.nobs.get(g)})" for g in self.groups)
        cols = [c for c in ("npar", "chisq", "df", "pvalue", "cfi", "tli", "rmsea", "aic",
                            "bic") if c in self.table]
        lines = [f"Measurement invariance across {groups}",
                 self.table[cols].to_string(float_format=lambda v: f"{v:.3f}"), ""]
        for r in self.comparisons.itertuples():
            lines.append(f"{r.comparison}: chi-square difference {r.chisq_diff:.3f} on "
                         f"{r.df_diff} df, p {r.pvalue:.4f} ({r.lrt_verdict}); "
                         f"delta CFI {r.delta_cfi:+.4f}, delta RMSEA {r.delta_rmsea:+.4f}: "
                         f"{r.fit_index_verdict}")
        return "\n".join(lines) + "\n"


def lrt_verdict(pvalue, alpha: float = 0.05) -> str:
    """Verdict of the chi-square difference test of a level against the previous one.

    ``"holds"`` when p ≥ ``alpha`` (the equality constraints do not worsen the fit
    significantly: the likelihood-ratio test of nested models, as lavTestLRT; Cheung &
    Rensvold 2002 for its use in invariance testing), ``"rejected"`` when p < ``alpha``,
    ``"not tested"`` when there is no test (no degrees of freedom between the levels).
    """
    if pvalue is None or pd.isna(pvalue):
        return "not tested"
    return "holds" if pvalue >= alpha else "rejected"


def fit_index_verdict(level: str, delta_cfi, delta_rmsea, cfi_limit: float = -0.010,
                      rmsea_limit: float = 0.015) -> str:
    """Verdict of the change in CFI and RMSEA from the previous level to ``level``.

    Invariance at ``level`` is not supported when CFI drops by .010 or more (ΔCFI ≤ −.010) or
    RMSEA rises by .015 or more (ΔRMSEA ≥ .015) (Chen 2007; Cheung & Rensvold 2002 for ΔCFI);
    it holds when ΔCFI > −.010 and ΔRMSEA < .015.  A missing change (NaN) does not support it.
    """
    holds = (delta_cfi > cfi_limit) and (delta_rmsea < rmsea_limit)
    return f"{level} invariance holds" if holds else f"{level} invariance not supported"


def measurement_invariance(model, data=None, *, group: str, levels=LEVELS,
                           delta_cfi: float = -0.010, delta_rmsea: float = 0.015,
                           options=None, group_partial=None) -> InvarianceResult:
    """Fit the invariance sequence by a grouping column and compare adjacent levels.

    ``group_partial``: lavaan's ``group.partial`` (e.g. ``["visual=~x2", "x3~1"]``), freed
    again in every level.
    """
    from ..spec.parser import read_model

    spec = read_model(model)
    bad = [lv for lv in levels if lv not in LEVELS]
    if bad:
        raise OptionError(f"level must be one of {', '.join(LEVELS)}, not {bad[0]!r}")
    df, data_g, labels, _, patterns = prepare_group_data(spec, data, group, options,
                                                         allow_missing=True)
    pt = spec.partable
    shared = sorted(set(pt.loc[(pt["free"] > 0) & (pt.label != ""), "label"]))
    if shared:
        import warnings

        from ..errors import SemclusterWarning

        warnings.warn(f"label(s) {', '.join(shared)} name one parameter in every group (as in "
                      f"lavaan): they are held equal across the {len(labels)} groups",
                      SemclusterWarning, stacklevel=2)
    single = pooled_start(spec, df.dropna(subset=spec.observed))
    rows, est = [], {}
    for level in levels:
        mg = MultiGroupModel(spec, labels, LEVEL_EQUAL[level], group_partial, moments=data_g)
        x, f, _, converged = fit_multigroup(mg, data_g, single, what=f"{level} model")
        if patterns is not None:        # missing answers: FIML, as fit(group=...)
            x, _, converged = fit_fiml(mg, patterns, x)
            st = fiml_statistics(mg, x, patterns, data_g)
        else:
            st = fit_statistics(mg, x, f, data_g)
        # the table's columns (the full fitMeasures() list is on fit(group=...)'s result)
        st = {k: st[k] for k in ("npar", "chisq", "df", "pvalue", "baseline_chisq",
                                 "baseline_df", "cfi", "tli", "rmsea", "srmr", "logl", "aic",
                                 "bic")}
        st["converged"] = converged
        st["level"] = level
        rows.append(st)
        try:
            info = (mg.information(x, data_g) if patterns is None else
                    fiml_observed_information(mg, patterns, x))
            cov, ok = invert_information(info)
        except np.linalg.LinAlgError:
            ok = False
        se = np.sqrt(np.clip(np.diag(cov), 0, None)) if ok else np.full(mg.npar, np.nan)
        est[level] = pd.DataFrame({"est": x, "se": se}, index=mg.names)
    table = pd.DataFrame(rows).set_index("level")
    comps = []
    for a, b in zip(levels[:-1], levels[1:]):
        d_chi = table.loc[b, "chisq"] - table.loc[a, "chisq"]
        d_df = int(table.loc[b, "df"] - table.loc[a, "df"])
        dcfi = table.loc[b, "cfi"] - table.loc[a, "cfi"]
        drm = table.loc[b, "rmsea"] - table.loc[a, "rmsea"]
        p = stats.chi2.sf(d_chi, d_df) if d_df > 0 else np.nan
        comps.append({"comparison": f"{b} vs {a}", "chisq_diff": d_chi, "df_diff": d_df,
                      "pvalue": p, "delta_cfi": dcfi, "delta_rmsea": drm,
                      "lrt_verdict": lrt_verdict(p),
                      "fit_index_verdict": fit_index_verdict(b, dcfi, drm, delta_cfi,
                                                             delta_rmsea),
                      "criteria": f"ΔCFI > {delta_cfi} and ΔRMSEA < {delta_rmsea} "
                                  f"(Chen 2007)"})
    return InvarianceResult(table=table, comparisons=pd.DataFrame(comps),
                            groups=tuple(labels),
                            nobs={lab: int(d[2]) for lab, d in zip(labels, data_g)},
                            estimates=est)
