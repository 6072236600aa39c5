"""The measurement report's threshold checks, each tested on both sides of its threshold.

Rules and sources (as :data:`semcluster.analysis.measurement.THRESHOLDS` cites them):

* Cronbach's α >= .70 (Nunnally 1978), ω >= .70 (McDonald 1999), CR >= .70 (Hair, Black,
  Babin & Anderson 2010);
* AVE >= .50 (Fornell & Larcker 1981), the AVE of standardized loadings (``ave_std``), not
  semTools' ``ave`` of raw loadings over observed variances;
* Fornell-Larcker: √AVE above the absolute value of every correlation of the construct
  (Fornell & Larcker 1981);
* HTMT below .85 (strict) and below .90 (liberal) (Henseler, Ringle & Sarstedt 2015, J. Acad.
  Mark. Sci. 43, 115-135: "a value at or above" the threshold indicates a lack of
  discriminant validity);
* KMO >= .60 (Kaiser 1974; Kaiser & Rice's "mediocre" band starts at .60).

Inputs are built by hand so that each figure sits just above, at or just below its threshold.
"""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from semcluster.analysis import measurement
from semcluster.analysis.measurement import (THRESHOLDS, flags_table, fornell_larcker,
                                    threshold_flags)


def test_thresholds_are_the_published_values():
    """The numbers the sources give (the sources are the strings beside them)."""
    assert {k: v[0] for k, v in THRESHOLDS.items() if v[0] is not None} == {
        "alpha": 0.70, "cr": 0.70, "omega": 0.70, "ave": 0.50, "htmt_strict": 0.85,
        "htmt_liberal": 0.90, "kmo": 0.60, "cross_loading": 0.30}
    assert "Henseler" in THRESHOLDS["htmt_strict"][1] and ".85" in THRESHOLDS["htmt_strict"][1]
    assert "Fornell" in THRESHOLDS["ave"][1]


def _reliability(**columns):
    """A reliability table for one construct ``F`` (every figure comfortably passing unless
    given)."""
    row = {"alpha": 0.85, "omega": 0.85, "cr": 0.85, "ave": 0.65, "ave_std": 0.65}
    row.update(columns)
    return pd.DataFrame([row], index=pd.Index(["F"], name="construct"))


def _fl_one(passes=True):
    return pd.DataFrame({"F": [0.8], "passes": [passes]}, index=["F"])


def _one_htmt():
    return pd.DataFrame([[1.0]], index=["F"], columns=["F"])


def _flags(rel=None, fl=None, h=None, kmo=0.8, th=None):
    return threshold_flags(rel if rel is not None else _reliability(),
                           fl if fl is not None else _fl_one(), h if h is not None else
                           _one_htmt(), kmo, th).set_index("figure")


@pytest.mark.parametrize("figure, column", [("alpha F", "alpha"), ("omega F", "omega"),
                                            ("CR F", "cr")])
@pytest.mark.parametrize("value, passes", [(0.701, True), (0.70, True), (0.699, False),
                                           (0.45, False), (0.95, True)])
def test_reliability_passes_at_or_above_70(figure, column, value, passes):
    fl = _flags(_reliability(**{column: value}))
    assert bool(fl.loc[figure, "passes"]) is passes
    assert fl.loc[figure, "value"] == value and fl.loc[figure, "threshold"] == 0.70


@pytest.mark.parametrize("ave, ave_std, passes", [
    (0.45, 0.55, True),      # the two AVEs on different sides of .50: ave_std decides
    (0.55, 0.45, False),
    (0.30, 0.50, True),      # at .50
    (0.70, 0.499, False),
    (0.60, 0.60, True),
    (0.40, 0.40, False),
])
def test_ave_flag_reads_the_standardized_ave(ave, ave_std, passes):
    fl = _flags(_reliability(ave=ave, ave_std=ave_std))
    assert bool(fl.loc["AVE F", "passes"]) is passes
    assert fl.loc["AVE F", "value"] == ave_std


@pytest.mark.parametrize("kmo, passes", [(0.61, True), (0.60, True), (0.599, False),
                                         (0.30, False)])
def test_kmo_passes_at_or_above_60(kmo, passes):
    assert bool(_flags(kmo=kmo).loc["KMO overall", "passes"]) is passes


def _htmt_two(v):
    return pd.DataFrame([[1.0, v], [v, 1.0]], index=["A", "B"], columns=["A", "B"])


def _two_constructs():
    rel = pd.concat([_reliability().rename(index={"F": "A"}),
                     _reliability().rename(index={"F": "B"})])
    fl = pd.DataFrame({"A": [0.8, 0.3], "B": [0.3, 0.8], "passes": [True, True]},
                      index=["A", "B"])
    return rel, fl


# (HTMT, passes strict .85, passes liberal .90)
HTMT_ROWS = [
    (0.80, True, True),
    (0.849, True, True),
    (0.85, False, True),      # at .85: fails the strict check
    (0.87, False, True),      # between the two thresholds
    (0.899, False, True),
    (0.90, False, False),     # at .90: fails both
    (0.95, False, False),
]


@pytest.mark.parametrize("value, strict, liberal", HTMT_ROWS)
def test_htmt_strict_below_85_and_liberal_below_90(value, strict, liberal):
    rel, fl = _two_constructs()
    flags = _flags(rel, fl, _htmt_two(value))
    assert bool(flags.loc["HTMT B-A", "passes"]) is strict
    assert flags.loc["HTMT B-A", "threshold"] == 0.85
    assert bool(flags.loc["HTMT B-A (liberal)", "passes"]) is liberal
    assert flags.loc["HTMT B-A (liberal)", "threshold"] == 0.90


@pytest.mark.parametrize("value, strict, liberal", HTMT_ROWS)
def test_flags_table_shows_strict_and_liberal_htmt_verdicts_side_by_side(value, strict,
                                                                          liberal):
    """The table the report (``measurement_flags``) and ``semcluster measure`` print."""
    rel, fl = _two_constructs()
    table = flags_table(threshold_flags(rel, fl, _htmt_two(value), 0.8)).set_index("figure")
    row = table.loc["HTMT B-A"]
    assert (bool(row["passes"]), bool(row["passes_liberal"])) == (strict, liberal)
    assert (row["threshold"], row["threshold_liberal"]) == (0.85, 0.90)
    assert row["observed"] == value
    assert table.loc["AVE A", "passes_liberal"] is None     # no liberal check for AVE


def test_thresholds_can_be_overridden_by_name():
    fl = _flags(_reliability(alpha=0.75), kmo=0.75, th={"alpha": 0.80, "kmo": 0.80})
    assert not fl.loc["alpha F", "passes"] and fl.loc["alpha F", "threshold"] == 0.80
    assert not fl.loc["KMO overall", "passes"]
    assert fl.loc["omega F", "threshold"] == 0.70


# Fornell-Larcker: √AVE = .70 (AVE .49); the construct's correlations with the others
@pytest.mark.parametrize("r_ab, r_ac, passes_a", [
    (0.69, 0.30, True),
    (0.71, 0.30, False),
    (-0.71, 0.30, False),     # a strong negative correlation fails too
    (-0.69, -0.69, True),
    (0.30, 0.70, False),      # equal to √AVE is not above it
    (0.30, 0.72, False),
])
def test_fornell_larcker_needs_root_ave_above_every_absolute_correlation(r_ab, r_ac,
                                                                          passes_a):
    names = ["A", "B", "C"]
    R = np.array([[1, r_ab, r_ac], [r_ab, 1, 0.2], [r_ac, 0.2, 1]])
    sd = np.array([1.0, 2.0, 0.5])          # latent variances other than 1
    result = SimpleNamespace(latent_cov=pd.DataFrame(R * np.outer(sd, sd), index=names,
                                                     columns=names))
    rel = pd.DataFrame({"ave_std": [0.49, 0.95, 0.95]}, index=names)
    fl = fornell_larcker(result, rel)
    assert fl.loc["A", "A"] == pytest.approx(0.70)
    assert bool(fl.loc["A", "passes"]) is passes_a
    flags = threshold_flags(rel.assign(alpha=.9, omega=.9, cr=.9, ave=.9), fl,
                            pd.DataFrame(np.eye(3), index=names, columns=names), 0.8)
    assert bool(flags.set_index("figure").loc["Fornell-Larcker A", "passes"]) is passes_a


def _plant_figures(monkeypatch):
    """Put the real report's AVEs and HTMTs of Holzinger-Swineford either side of the
    thresholds: visual ave .45 / ave_std .55, textual ave .55 / ave_std .45; HTMT
    textual-visual .87 (between .85 and .90), speed-visual .84, speed-textual .91."""
    real_rel = measurement.construct_reliability

    def planted_rel(result, items_of=None):
        rel = real_rel(result, items_of)
        rel.loc["visual", ["ave", "ave_std"]] = [0.45, 0.55]
        rel.loc["textual", ["ave", "ave_std"]] = [0.55, 0.45]
        return rel

    def planted_htmt(data, items_of, htmt2=False):
        names = list(items_of)
        H = pd.DataFrame(np.eye(3), index=names, columns=names)
        for (a, b), v in {("textual", "visual"): 0.87, ("speed", "visual"): 0.84,
                          ("speed", "textual"): 0.91}.items():
            H.loc[a, b] = H.loc[b, a] = v
        return H

    monkeypatch.setattr(measurement, "construct_reliability", planted_rel)
    monkeypatch.setattr(measurement, "htmt", planted_htmt)


HS_MODEL = "visual =~ x1 + x2 + x3\ntextual =~ x4 + x5 + x6\nspeed =~ x7 + x8 + x9\n"
PLANTED = {("AVE visual", True), ("AVE textual", False),
           ("HTMT textual-visual", False), ("HTMT textual-visual (liberal)", True),
           ("HTMT speed-visual", True), ("HTMT speed-visual (liberal)", True),
           ("HTMT speed-textual", False), ("HTMT speed-textual (liberal)", False)}


@pytest.fixture(scope="module")
def planted_report():
    """The measurement report of Holzinger-Swineford (three factors) with the figures of
    :func:`_plant_figures`; every flag is computed by the report itself."""
    from semcluster.resources import data_path

    hs = pd.read_csv(data_path("holzinger_swineford_1939.csv"))
    with pytest.MonkeyPatch.context() as mp:
        _plant_figures(mp)
        return measurement.measurement_report(HS_MODEL, hs, parallel_iter=10, scale=None)


def test_measurement_report_flags_come_from_the_rules(planted_report):
    """End to end: the report's flags follow the rules when the figures they read are placed
    either side of the thresholds (AVE: ``ave`` and ``ave_std`` on different sides of .50; HTMT
    between .85 and .90)."""
    rep = planted_report
    fl = rep.flags.set_index("figure")
    assert {(f, bool(fl.loc[f, "passes"])) for f, _ in PLANTED} == PLANTED
    # the other checks read the report's own figures with the same rules
    for f in ("visual", "textual", "speed"):
        for fig, col, lim in (("alpha", "alpha", .70), ("omega", "omega", .70),
                              ("CR", "cr", .70)):
            v = rep.reliability.loc[f, col]
            assert bool(fl.loc[f"{fig} {f}", "passes"]) is bool(v >= lim)
    assert bool(fl.loc["KMO overall", "passes"]) is bool(rep.sphericity["kmo"] >= 0.60)
    text = rep.summary()
    assert "fails: AVE textual = 0.450" in text and "fails: AVE visual" not in text


def test_measure_cli_writes_and_prints_the_flags(planted_report, monkeypatch, tmp_path,
                                                 capsys):
    """The flags through ``semcluster measure``: flags.csv and the printed table (the report
    is the fixture's, made with the same model and data, so the CFA is not fitted twice)."""
    from semcluster.cli import main
    from semcluster.resources import data_path

    calls = []

    def same_report(model, X, *, parallel_iter, scale, alpha_available=False, group=None):
        calls.append((len(X), parallel_iter, group))
        return planted_report

    monkeypatch.setattr(measurement, "measurement_report", same_report)
    model = tmp_path / "hs.lav"
    model.write_text(HS_MODEL)
    rc = main(["measure", str(model), "--data", str(data_path("holzinger_swineford_1939.csv")),
               "--parallel-iter", "10", "--out", str(tmp_path / "out")])
    assert rc == 0 and calls == [(301, 10, None)]
    flags = pd.read_csv(tmp_path / "out" / "flags.csv").set_index("figure")
    assert {(f, bool(flags.loc[f, "passes"])) for f, _ in PLANTED} == PLANTED
    printed = capsys.readouterr().out
    table = printed[printed.index("Flags (HTMT: strict .85 and liberal .90 thresholds)"):]
    cells = {line.split()[1]: line.split()[2:7] for line in table.splitlines()
             if line.strip().startswith("HTMT ")}
    # observed, strict threshold, liberal threshold, passes strict, passes liberal
    assert cells["textual-visual"] == ["0.870", "0.850", "0.900", "no", "yes"]
    assert cells["speed-visual"] == ["0.840", "0.850", "0.900", "yes", "yes"]
    assert cells["speed-textual"] == ["0.910", "0.850", "0.900", "no", "no"]


@pytest.mark.parametrize("ev, ref, n", [
    ([3.0, 1.5, 1.1, 0.4], [1.3, 1.2, 1.1, 1.0], 2),     # 1.1 is not above 1.1
    ([3.0, 1.5, 1.11, 0.4], [1.3, 1.2, 1.1, 1.0], 3),
    ([3.0, 1.0, 1.25, 0.4], [1.3, 1.2, 1.1, 1.0], 1),    # counting stops at the first miss
    ([1.2, 1.1], [1.3, 1.2], 0),
    ([3.0, 2.0], [1.3, 1.2], 2),
])
def test_parallel_analysis_keeps_leading_eigenvalues_above_the_random_quantile(ev, ref, n):
    assert measurement.retained_factors(ev, ref) == n


@pytest.mark.parametrize("row, flagged", [
    ([0.70, 0.31, 0.05], True),
    ([0.70, 0.30, 0.05], True),       # at .30
    ([0.70, 0.29, 0.05], False),
    ([0.70, -0.35, 0.05], True),      # a negative secondary loading counts
    ([-0.70, 0.10, -0.29], False),
    ([0.40, 0.10, 0.38], True),
])
def test_cross_loading_is_a_secondary_loading_of_at_least_30(row, flagged):
    L = pd.DataFrame([row], index=["x1"], columns=["F1", "F2", "F3"])
    assert bool(measurement.cross_loadings(L).loc["x1"]) is flagged
