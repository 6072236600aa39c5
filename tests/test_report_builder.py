"""The report builder's rules, each on both sides of its threshold: the fit cut-off verdicts
(Hu & Bentler 1999), the printed cells (APA 7 and three-line), the hypotheses file, the z test
of a path difference between groups, and the warnings of a run (once, one line, in the report).
"""
from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from semcluster import SemclusterError
from semcluster.cli import main
from semcluster.result.document import Column
from semcluster.output.report import (FIT_CUTOFFS, build_report, fit_cutoff_verdict, format_cell,
                               path_difference_z, read_hypotheses)
from semcluster.spec.parser import parse_model

OWN = Path(__file__).parent / "fixtures" / "own_studies"


# -- fit cut-offs ----------------------------------------------------------------------------------
@pytest.mark.parametrize("measure, value, expected", [
    ("cfi", 0.95, "meets"), ("cfi", 0.9499, "does not meet"), ("cfi", 0.99, "meets"),
    ("tli", 0.95, "meets"), ("tli", 0.949, "does not meet"),
    ("rmsea", 0.06, "meets"), ("rmsea", 0.0601, "does not meet"), ("rmsea", 0.0, "meets"),
    ("srmr", 0.08, "meets"), ("srmr", 0.0801, "does not meet"),
])
def test_fit_cutoff_verdict_on_both_sides_of_each_cutoff(measure, value, expected):
    assert fit_cutoff_verdict(measure, value) == expected


def test_fit_cutoffs_are_hu_and_bentler_1999():
    assert {k: v[:2] for k, v in FIT_CUTOFFS.items()} == {
        "cfi": (">=", 0.95), "tli": (">=", 0.95), "rmsea": ("<=", 0.06), "srmr": ("<=", 0.08)}
    assert all("Hu & Bentler (1999)" in v[2] for v in FIT_CUTOFFS.values())


@pytest.mark.parametrize("measure, value", [("chisq", 10.0), ("cfi", float("nan")),
                                            ("cfi", None)])
def test_fit_cutoff_verdict_is_none_without_a_cutoff_or_a_value(measure, value):
    assert fit_cutoff_verdict(measure, value) is None


# -- cells -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("value, kind, apa, three", [
    (0.8123, "bounded", ".812", "0.812"), (0.0004, "p", "< .001", "< 0.001"),
    (float("nan"), "number", "–", "–")])
def test_cells_follow_the_manuscript_rule(value, kind, apa, three):
    """The html and Markdown writers print every cell by the Word writer's rule (one rule, so
    the formats cannot disagree; the rule itself is tested in test_manuscript)."""
    from semcluster.output import manuscript

    col = Column("x", kind=kind, decimals=3)
    for style, want in (("apa", apa), ("three-line", three)):
        assert format_cell(value, col, style) == manuscript.format_cell(value, col, style) \
            == want


# -- hypotheses --------------------------------------------------------------------------------------
SPEC = parse_model("X =~ x1 + x2 + x3\nM =~ m1 + m2 + m3\nY =~ y1 + y2 + y3\n"
                   "M ~ a*X\nY ~ b*M + X\nind := a*b\n", name="med")


def test_hypotheses_by_path_label_and_defined_parameter():
    hyps = read_hypotheses({"hypotheses": {
        "H1": {"path": "X -> M", "sign": "+", "text": "t1"},
        "H2": {"label": "b", "sign": "-"},
        "H3": {"path": "Y ~ X"},
        "H4": {"label": "ind"}}}, SPEC)
    assert [(h.id, h.lhs, h.op, h.rhs, h.sign) for h in hyps] == [
        ("H1", "M", "~", "X", "+"), ("H2", "Y", "~", "M", "-"), ("H3", "Y", "~", "X", "+"),
        ("H4", "ind", ":=", "", "+")]
    assert hyps[0].label == "a" and hyps[0].text == "t1"


def test_hypotheses_default_to_the_labelled_paths():
    hyps = read_hypotheses(None, SPEC)
    assert [(h.id, h.lhs, h.rhs) for h in hyps] == [("a", "M", "X"), ("b", "Y", "M")]


@pytest.mark.parametrize("entry, match", [
    ({"path": "Y -> X"}, "no path Y -> X"),
    ({"label": "zz"}, "no parameter labelled 'zz'"),
    ({"path": "X => M"}, "should read"),
    ({"label": "a", "sign": "up"}, "sign must be"),
    ({"text": "no target"}, "needs 'path' or 'label'"),
])
def test_a_wrong_hypothesis_is_a_one_line_error(entry, match):
    with pytest.raises(SemclusterError, match=match):
        read_hypotheses({"hypotheses": {"H1": entry}}, SPEC)


def test_the_report_command_refuses_a_bad_hypotheses_file(tmp_path, capsys):
    bad = tmp_path / "h.yaml"
    bad.write_text("hypotheses:\n  H1: {path: 'X -> Nowhere'}\n")
    argv = ["report", str(OWN / "mediation.lav"), "--data", str(OWN / "mediation.csv"),
            "--hypotheses", str(bad), "--out", str(tmp_path / "r")]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no path X -> Nowhere" in err[0]
    assert not (tmp_path / "r").exists()
    bad.write_text("hypotheses: [unclosed\n")
    assert main(argv) == 2
    assert "not valid YAML (line" in capsys.readouterr().err


# -- path differences ------------------------------------------------------------------------------
def test_path_difference_z_is_the_difference_over_its_standard_error():
    # z = (0.5 - 0.2) / sqrt(0.1^2 + 0.1^2) = 0.3 / 0.141421 = 2.1213; two-sided normal p
    # = 2 * (1 - Phi(2.1213)) = 0.0339 (normal table)
    z, p = path_difference_z(0.5, 0.1, 0.2, 0.1)
    assert z == pytest.approx(2.121320, abs=1e-6)
    assert p == pytest.approx(0.0339, abs=5e-5)
    z2, p2 = path_difference_z(0.2, 0.1, 0.5, 0.1)
    assert z2 == pytest.approx(-z) and p2 == pytest.approx(p)
    assert all(math.isnan(v) for v in path_difference_z(0.5, np.nan, 0.2, 0.1))


# -- warnings ----------------------------------------------------------------------------------------
def test_warnings_are_shown_once_in_one_line_and_listed_in_the_report(tmp_path, capsys):
    """The SPSS study with one label per path for two groups written as a single label warns
    (labels held equal across groups) from two places: the CLI shows each text once, one line,
    no Python source line, and the report's last section lists them."""
    model = tmp_path / "shared.lav"
    model.write_text("KS =~ q1_1 + q1_2 + q1_3 + q1_4\nAC =~ q2_1 + q2_2 + q2_3\n"
                     "AC ~ a*KS\n")
    argv = ["report", str(model), "--data", str(OWN / "spss_zh.sav"), "--group", "own",
            "--n-boot", "10", "--jobs", "1", "--out", str(tmp_path / "r")]
    assert main(argv) == 0
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    warned = [line for line in err if line.startswith("semcluster: warning:")]
    assert warned and len(warned) == len(set(warned))
    assert not any(a != b and b.startswith(a) for a in warned for b in warned)
    assert not any("warnings.warn" in line or line.startswith("  ") for line in err)
    md = (tmp_path / "r" / "report.md").read_text(encoding="utf-8")
    section = md.split("## Warnings", 1)[1].split("\n## ", 1)[0]
    listed = [line[2:] for line in section.splitlines() if line.startswith("> ")]
    assert sorted(listed) == sorted(w.removeprefix("semcluster: warning: ") for w in warned)


def test_build_report_collects_the_warnings_of_its_run(tmp_path):
    model = tmp_path / "shared.lav"
    model.write_text("KS =~ q1_1 + q1_2 + q1_3 + q1_4\nAC =~ q2_1 + q2_2 + q2_3\n"
                     "AC ~ a*KS\n")
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        build_report(model, OWN / "spss_zh.sav", group="own", out=tmp_path / "r", n_boot=10,
                     n_jobs=1)
    shown = [str(w.message) for w in rec if "held equal" in str(w.message)]
    assert shown and len(shown) == len(set(shown))
    import json

    listed = json.loads((tmp_path / "r" / "results.json").read_text())["warnings"]
    assert set(shown) <= set(listed)


# -- inputs and formats ------------------------------------------------------------------------------
def test_the_report_never_overwrites_its_inputs(tmp_path, capsys):
    folder = tmp_path / "mine"
    folder.mkdir()
    data = folder / "survey.csv"
    data.write_bytes((OWN / "cfa_only.csv").read_bytes())
    argv = ["report", str(OWN / "cfa_only.lav"), "--data", str(data), "--out", str(folder)]
    assert main(argv) == 2
    assert "semcluster" in capsys.readouterr().err
    assert data.read_bytes() == (OWN / "cfa_only.csv").read_bytes()


def test_an_unknown_format_is_refused(capsys):
    with pytest.raises(SystemExit) as info:
        main(["report", "cfa", "--format", "pdf", "--out", "x"])
    assert info.value.code == 2
    assert "give one or more of html, md, docx" in capsys.readouterr().err


def test_fit_table_columns_read_the_fit_measures(tmp_path):
    out = build_report(OWN / "cfa_only.lav", OWN / "cfa_only.csv", out=tmp_path / "r",
                       n_boot=10, n_jobs=1, formats=("md",), style="three-line")
    import json

    import semcluster

    raw = json.loads((out / "results.json").read_text())["tables"]["fit"]["rows"][0]
    fm = semcluster.fit(str(OWN / "cfa_only.lav"), str(OWN / "cfa_only.csv")).fit_measures
    for k in ("chisq", "df", "cfi", "rmsea", "srmr"):
        assert raw[k] == pytest.approx(fm[k])
    rounded = pd.read_csv(out / "tables" / "fit.csv", encoding="utf-8-sig")
    assert rounded["CFI"].iloc[0] == round(fm["cfi"], 3)      # the reader's table, rounded
    assert (out / "tables" / "tables.xlsx").is_file()
    assert not (out / "report.html").exists()
    md = (out / "report.md").read_text()
    assert "| 0." in md                         # three-line style keeps the leading zero


def test_the_cli_shows_a_semcluster_warning_once_without_its_source_line(capsys):
    import io

    from semcluster.cli import _SHOWN, _show_warning
    from semcluster.errors import SemclusterWarning

    _SHOWN.clear()
    err = io.StringIO()
    for text in ("labels held equal; write c(a1, a2)", "labels held equal",
                 "labels held equal; write c(a1, a2)", "another"):
        _show_warning(SemclusterWarning(text), SemclusterWarning, "/x/fit.py", 12, file=err)
    _show_warning(UserWarning("not ours"), UserWarning, "/x/y.py", 3, file=err)
    _show_warning(UserWarning("not ours"), UserWarning, "/x/y.py", 3, file=err)
    assert err.getvalue().splitlines() == [
        "semcluster: warning: labels held equal; write c(a1, a2)",
        "semcluster: warning: another",
        "semcluster: warning: not ours", "semcluster: warning: not ours"]
    _SHOWN.clear()


def test_distinct_warnings_keep_the_longer_of_two_alike():
    from semcluster.output.report import distinct_warnings

    assert distinct_warnings(["a held equal", "a held equal; write c()", "b", "b"]) == [
        "a held equal; write c()", "b"]


@pytest.mark.parametrize("text, zh", [
    ("metric invariance holds", "弱（度量）不变性成立"),
    ("scalar invariance not supported", "强（截距）不变性不成立"),
    ("holds", "成立"), ("rejected", "拒绝"), ("strict", "严格不变")])
def test_invariance_verdicts_in_chinese(text, zh):
    from semcluster.output.report import _invariance_text

    assert _invariance_text(text, "zh") == zh
    assert _invariance_text(text, "en") == text
