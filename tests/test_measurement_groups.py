"""Measurement quality per group of a grouped fit, as semTools reads a multigroup lavaan fit.

Reference: ``tests/fixtures/measurement_groups/make_fixtures.R`` (lavaan 0.6.14, semTools
0.5.6, psych 2.2.9): three groups of 160 respondents ("north" and "south" with answers missing
at random, "west" complete), three scales; ``cfa(group = "region", missing = "ml")``.
Per group: ``compRelSEM`` (ω; CR with obs.var = FALSE; α of the group's H1 matrix with
tau.eq = TRUE), ``AVE``, ``lavInspect(fit, "cor.lv")`` and the standardized loadings
(Fornell–Larcker), ``htmt(htmt2 = FALSE/TRUE)`` on the group's rows (``missing = "ml"`` where
answers are missing), ``psych::alpha`` for the complete group.

Tolerance 1e-5: lavaan's optimizer stops at its default rule (a tighter one makes nlminb
report non-convergence) and lavCor's EM at its own, so the references carry differences of a
few 1e-6 (largest seen: 4.0e-6, ω of TA in "west"; HTMT2 3.3e-6 in "south").
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from semcluster.analysis import measurement
from semcluster.errors import DataError, OptionError
from semcluster.fitting import fit

HERE = Path(__file__).parent / "fixtures" / "measurement_groups"
REF = json.loads((HERE / "semtools.json").read_text())
CSV = HERE / "survey_groups.csv"
MODEL = "TA =~ ta1 + ta2 + ta3\nTB =~ tb1 + tb2 + tb3 + tb4\nTC =~ tc1 + tc2 + tc3\n"
TOL = 1e-5
GROUPS = ["north", "south", "west"]


def _per_group(name, label):
    row = next(r for r in REF[name].values() if r["group"] == label)
    return pd.Series({k: v for k, v in row.items() if k != "group"}, dtype=float)


def _mat(label, name):
    f = REF["factors"]
    return pd.DataFrame(np.array(REF["per_group"][label][name]), index=f, columns=f)


@pytest.fixture(scope="module")
def data():
    return pd.read_csv(CSV)


@pytest.fixture(scope="module")
def report(data):
    return measurement.measurement_report(MODEL, data, group="region", parallel_iter=10,
                                          alpha_available=True)


def test_the_fixture_groups_differ_in_missingness(data):
    """Two groups have missing answers and one none (else the per-group bases prove nothing)."""
    miss = data.drop(columns="region").isna().any(axis=1).groupby(data.region).sum()
    assert miss["north"] > 20 and miss["south"] > 20 and miss["west"] == 0
    assert REF["converged"] and REF["groups"] == GROUPS


def test_report_has_one_report_per_group_in_lavaans_order(report):
    assert isinstance(report, measurement.GroupMeasurementReport)
    assert list(report.reports) == GROUPS and report.group == "region"
    frame = report.to_frame()
    assert list(frame.index.get_level_values("group").unique()) == GROUPS
    for name, t in report.tables().items():
        assert t.columns[0] == "group" and list(t.group.unique()) == GROUPS, name


@pytest.mark.parametrize("label", GROUPS)
@pytest.mark.parametrize("column, ref", [("omega", "omega"), ("cr", "cr"), ("ave", "ave"),
                                         ("alpha", "alpha_h1")])
def test_reliability_per_group_equals_semtools(report, label, column, ref):
    got = report.reports[label].reliability[column]
    want = _per_group(ref, label)
    assert np.abs(got[want.index] - want).max() < TOL


def test_groups_are_not_pooled(report):
    """The three groups' ω differ by far more than the tolerance (a pooled or first-group
    computation could not match all three references)."""
    om = pd.DataFrame({g: report.reports[g].reliability.omega for g in GROUPS})
    assert (om.max(axis=1) - om.min(axis=1)).min() > 0.03


@pytest.mark.parametrize("label", GROUPS)
def test_fornell_larcker_per_group_reads_that_groups_fit(report, label):
    fl = report.reports[label].fornell_larcker
    ref = REF["per_group"][label]
    want = _mat(label, "cor_lv")
    names = list(want.index)
    for i, a in enumerate(names):
        its = [k for k in ref["std_loadings"] if k.startswith(a.lower())]
        ave_std = np.mean([ref["std_loadings"][k] ** 2 for k in its])
        assert abs(fl.loc[a, a] - np.sqrt(ave_std)) < TOL
        for b in names[:i]:
            assert abs(fl.loc[a, b] - want.loc[a, b]) < TOL
    # the verdict: sqrt(AVE) above every |correlation| of the construct, read per group
    for a in names:
        others = [abs(want.loc[a, b]) for b in names if b != a]
        assert fl.loc[a, "passes"] == (fl.loc[a, a] > max(others))


@pytest.mark.parametrize("label", GROUPS)
@pytest.mark.parametrize("kind", ["htmt", "htmt2"])
def test_htmt_per_group_equals_semtools_on_the_groups_rows(report, label, kind):
    got = getattr(report.reports[label], kind)
    want = _mat(label, kind)
    assert np.abs(got.loc[want.index, want.columns].to_numpy() - want.to_numpy()).max() < TOL


def test_alpha_basis_follows_each_groups_answers(report):
    """Groups with missing answers: α of the EM matrix, no Feldt interval; the complete group:
    α of its rows with Feldt's interval, equal to psych::alpha."""
    for label in ("north", "south"):
        rel = report.reports[label].reliability
        assert (rel.alpha_basis == "EM covariance").all() and rel.alpha_ci_lower.isna().all()
        assert "FIML" in report.reports[label].bases["alpha"]
    rel = report.reports["west"].reliability
    assert (rel.alpha_basis == "complete rows").all() and rel.alpha_ci_lower.notna().all()
    for f, r in REF["per_group"]["west"]["alpha_psych"].items():
        assert abs(rel.loc[f, "alpha"] - r["alpha"]) < 1e-9
        assert abs(rel.loc[f, "std_alpha"] - r["std_alpha"]) < 1e-9
    assert rel.n.unique().tolist() == [160]


def test_flags_are_judged_per_group(report):
    """ω of TA is .77 in north and .53 in south: the same check passes in one group and fails
    in the other (the .70 threshold lies between them)."""
    def passes(label, figure):
        fl = report.reports[label].flags.set_index("figure")
        return bool(fl.loc[figure, "passes"])
    assert _per_group("omega", "north")["TA"] > 0.70 > _per_group("omega", "south")["TA"]
    assert passes("north", "omega TA") and not passes("south", "omega TA")
    assert _per_group("omega", "west")["TC"] > 0.70 > _per_group("omega", "south")["TC"]
    assert passes("west", "omega TC") and not passes("south", "omega TC")


def test_a_given_grouped_fit_is_used_per_group(data, report):
    res = fit(MODEL, data, group="region")
    again = measurement.measurement_report(MODEL, data, group="region", parallel_iter=10,
                                           result=res)
    for g in GROUPS:
        pd.testing.assert_frame_equal(again.reports[g].reliability[["omega", "cr", "ave"]],
                                      report.reports[g].reliability[["omega", "cr", "ave"]])


def test_grouped_report_refusals_are_one_line(data):
    with pytest.raises(DataError, match="'district' is not in the data") as info:
        measurement.measurement_report(MODEL, data, group="district", parallel_iter=10)
    assert "\n" not in str(info.value)
    one = fit(MODEL, data.drop(columns="region"))
    with pytest.raises(OptionError, match="has no groups") as info:
        measurement.measurement_report(MODEL, data, group="region", parallel_iter=10,
                                       result=one)
    grouped = fit(MODEL, data, group="region")
    with pytest.raises(OptionError, match="grouped fit is per group"):
        measurement.measurement_report(MODEL, data, parallel_iter=10, result=grouped)


def test_measure_command_prints_every_group(tmp_path, capsys, report):
    from semcluster.cli import main

    model = tmp_path / "scales.lav"
    model.write_text(MODEL)
    out = tmp_path / "out"
    rc = main(["measure", str(model), "--data", str(CSV), "--group", "region",
               "--parallel-iter", "10", "--out", str(out)])
    printed = capsys.readouterr().out
    assert rc == 0
    for g in GROUPS:
        assert f"Group region = {g}" in printed
    rel = pd.read_csv(out / "reliability.csv")
    assert list(rel.columns[:2]) == ["group", "construct"]
    for g in GROUPS:
        got = rel[rel.group == g].set_index("construct").omega
        want = _per_group("omega", g)
        assert np.abs(got[want.index] - want).max() < TOL
    js = json.loads((out / "measurement.json").read_text())
    assert js["group"] == "region" and list(js["groups"]) == GROUPS
    assert "FIML" in js["groups"]["north"]["bases"]["alpha"]


def test_measure_command_with_an_unknown_group_column_exits_2(tmp_path, capsys):
    from semcluster.cli import main

    model = tmp_path / "scales.lav"
    model.write_text(MODEL)
    rc = main(["measure", str(model), "--data", str(CSV), "--group", "district",
               "--parallel-iter", "10"])
    assert rc == 2
    err = capsys.readouterr().err
    assert "district" in err and "Traceback" not in err
