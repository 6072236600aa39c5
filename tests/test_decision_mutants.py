"""Decision code held where mutation testing found it loose (docs/mutation.md): the report's
H1-H5 table read column by column with a directional hypothesis of each sign, and the verdict
rule at a zero coefficient.  The rules themselves are tested in test_decision_rules.py."""
from __future__ import annotations

import pandas as pd
import pytest

from semcluster import study
from semcluster.output.report import FIT_KEYS, hypothesis_verdict
from semcluster.study.report import _structural_section


class _StrictResult:
    """A fitted model that answers only res.parameter(to, "~", from) for the paths it has."""

    def __init__(self, paths):
        self.paths = paths                    # (to, from) -> (est, std_all, se_std_all, p)
        self.fit_measures = pd.Series({k: 1.0 for k in FIT_KEYS})
        self.r2 = {"IN": 0.4}
        self.converged = True
        self.admissible = True

    def parameter(self, lhs, op, rhs):
        assert op == "~", op
        est, std, se, p = self.paths[(lhs, rhs)]
        return pd.Series({"lhs": lhs, "op": op, "rhs": rhs, "est": est, "se": 0.1,
                          "pvalue": p, "std_all": std, "se_std_all": se})


def test_report_table_has_every_column_from_the_right_path(monkeypatch):
    """Each row of the H1-H5 table comes from the path to <- from of its hypothesis, with
    columns hypothesis, path, std_beta (std.all), se (its SE), est, p, verdict; a hypothesis
    stating a negative effect is supported by a significant negative coefficient."""
    hyp = study.hypotheses().copy()
    hyp.loc[hyp.index[1], "sign"] = "-"
    monkeypatch.setattr(study, "hypotheses", lambda: hyp)
    paths = {}
    for k, (h, r) in enumerate(hyp.iterrows()):
        std = -0.3 if r["sign"] == "-" else 0.2 + k / 100
        paths[(r["to"], r["from"])] = (1.5 + k, std, 0.05 + k / 1000, 0.001 * (k + 1))
    section, results = _structural_section(_StrictResult(paths))
    table = section.tables[0][2]
    assert list(table.columns) == ["hypothesis", "path", "std_beta", "se", "est", "p",
                                   "verdict"]
    for (h, r), row in zip(hyp.iterrows(), table.itertuples()):
        est, std, se, p = paths[(r["to"], r["from"])]
        assert (row.hypothesis, row.path) == (h, f"{r['from']} → {r['to']}")
        assert (row.std_beta, row.se, row.est, row.p) == (std, se, est, p)
        assert row.verdict == "supported"
    assert [d["hypothesis"] for d in results["structural"]["hypotheses"]] == list(hyp.index)


@pytest.mark.parametrize("beta, sign, expected", [
    (-0.1, "-", "supported"), (0.0, "-", "not supported"), (0.1, "-", "not supported"),
    (0.1, "+", "supported"), (0.0, "+", "not supported")])
def test_hypothesis_verdict_at_a_zero_coefficient(beta, sign, expected):
    """A coefficient of exactly 0 has neither sign: not supported whichever is stated."""
    assert hypothesis_verdict(beta, 0.01, sign) == expected


@pytest.fixture(scope="module")
def _small_invariance():
    import semcluster
    from semcluster.resources import data_path

    hs = pd.read_csv(data_path("holzinger_swineford_1939.csv"))
    model = "visual =~ x1 + x2 + x3\n"

    def run(**kw):
        return semcluster.measurement_invariance(model, hs, group="school", **kw).comparisons
    return run


def test_invariance_verdicts_use_the_limits_given(_small_invariance):
    """measurement_invariance passes its ΔCFI/ΔRMSEA limits to the verdict and states them:
    with limits no change can meet (ΔCFI > 1, ΔRMSEA < -1) nothing holds; the criteria column
    names the limits used."""
    strict = _small_invariance(delta_cfi=1.0, delta_rmsea=0.5)
    assert all(v.endswith("not supported") for v in strict["fit_index_verdict"])
    assert all(c == "ΔCFI > 1.0 and ΔRMSEA < 0.5 (Chen 2007)" for c in strict["criteria"])
    never_rmsea = _small_invariance(delta_cfi=-1.0, delta_rmsea=-1.0)
    assert all(v.endswith("not supported") for v in never_rmsea["fit_index_verdict"])
    loose = _small_invariance(delta_cfi=-1.0, delta_rmsea=1.0)
    assert all(v.endswith("invariance holds") for v in loose["fit_index_verdict"])


def test_threshold_flags_table_states_each_threshold_and_its_source():
    """Every flag row carries the threshold it was judged at and the source of that
    threshold (measurement.THRESHOLDS): AVE .50, KMO .60, α .70, in the columns figure, value,
    threshold, passes, source."""
    from semcluster.analysis.measurement import THRESHOLDS, threshold_flags

    rel = pd.DataFrame({"alpha": [0.8], "omega": [0.8], "cr": [0.8], "ave": [0.45],
                        "ave_std": [0.55]}, index=["A"])
    fl = pd.DataFrame({"A": [0.74], "passes": [True]}, index=["A"])
    htmt = pd.DataFrame([[1.0]], index=["A"], columns=["A"])
    flags = threshold_flags(rel, fl, htmt, kmo=0.7)
    assert list(flags.columns) == ["figure", "value", "threshold", "passes", "source"]
    rows = flags.set_index("figure")
    assert rows.loc["AVE A", "threshold"] == 0.50 and rows.loc["KMO overall", "threshold"] == 0.60
    assert rows.loc["alpha A", "threshold"] == 0.70
    assert rows.loc["AVE A", "source"] == THRESHOLDS["ave"][1]
    assert rows.loc["KMO overall", "source"] == THRESHOLDS["kmo"][1]
    assert all(isinstance(s, str) and s for s in flags["source"])
