"""The data report every data-taking command prints shows the data options typed.

A survey is made from the bundled answers with known damage planted: five ``-99`` codes in
ca2 (rows 1-5), two ``9``s in pa1 (rows 6-7, outside a 1-7 scale), one empty in4 (row 8) and
one respondent id entered twice; its columns are renamed so that only the mapping file finds
the items.  Two settings, run through every command that reads data:

* A: CSV, ``--map``, ``--missing listwise --missing-codes -99 --scale 1 7 --out-of-scale
  missing --reverse ca1 --id resp --cluster park`` (8 parks of 20 firms, rows i % 8);
* B: the second sheet of an Excel workbook, ``--sheet``, another mapping, ``--missing fiml
  --missing-codes=-99,9 --scale 0 8 --reverse pa2 --id 编号``.

The expected lines follow from the damage planted (e.g. listwise: 160 rows - 8 damaged rows =
152 used), not from an earlier run.  The command is stopped by a recorder at its analysis,
after the report is printed (fit-based commands fit first, as they print the report after).
"""
from __future__ import annotations

import importlib
import inspect

import numpy as np
import pandas as pd
import pytest

from semcluster.cli import main
from semcluster.resources import data_path


class Stopped(Exception):
    pass


def _stop_at(monkeypatch, target):
    module_name, attr = target.split(":")
    owner = importlib.import_module(module_name)
    *path, name = attr.split(".")
    for p in path:
        owner = getattr(owner, p)
    assert inspect.isfunction(getattr(owner, name))

    def stop(*a, **k):
        raise Stopped

    monkeypatch.setattr(owner, name, stop)


@pytest.fixture(scope="module")
def surveys(tmp_path_factory):
    folder = tmp_path_factory.mktemp("surveys")
    df = pd.read_csv(data_path("paper_synthetic.csv"))
    items = [c for c in df.columns if c[-1].isdigit()]                  # ca1 .. in4
    s = df[items].astype(float)
    s.loc[0:4, "ca2"] = -99
    s.loc[5:6, "pa1"] = 9
    s.loc[7, "in4"] = np.nan
    ids = list(range(1001, 1001 + len(s)))
    ids[12] = ids[9]                                                     # entered twice
    school = ["east", "west"] * (len(s) // 2)

    a = s.rename(columns={c: f"Q_{c}" for c in items})
    a.insert(0, "resp", ids)
    a["school"] = school
    a["park"] = [f"park{i % 8}" for i in range(len(a))]                # 8 clusters of 20
    a.to_csv(folder / "a.csv", index=False)
    (folder / "a.yaml").write_text("columns:\n" + "".join(f"  Q_{c}: {c}\n" for c in items))

    b = s.rename(columns={c: f"题目 {c.upper()}" for c in items})
    b.insert(0, "编号", ids)
    b["school"] = school
    with pd.ExcelWriter(folder / "b.xlsx") as xw:
        pd.DataFrame({"说明": ["问卷说明"]}).to_excel(xw, sheet_name="readme", index=False)
        b.to_excel(xw, sheet_name="answers", index=False)
    (folder / "b.yaml").write_text("columns:\n" + "".join(f"  题目 {c.upper()}: {c}\n"
                                                          for c in items), encoding="utf-8")
    return folder


SETTINGS = {
    "A": (["--data", "a.csv", "--map", "a.yaml", "--missing", "listwise", "--missing-codes",
           "-99", "--scale", "1", "7", "--out-of-scale", "missing", "--reverse", "ca1",
           "--id", "resp", "--cluster", "park"],
          ["data: a.csv", "rows read: 160; rows used: 152 (missing data: listwise)",
           "declared missing code set missing: 5 value(s) (ca2 5)",
           "answer outside the scale set missing: 2 value(s) (pa1 2)",
           "reverse-coded (min + max - x): 160 value(s) (ca1 160)", "answer scale: 1 to 7",
           "occur more than once in 'resp'",
           # rows 1-8 (damaged, dropped) are one in each of the 8 parks: 19 firms left in each
           "clusters ('park'): 8; firms per cluster: min 19, median 19, max 19"]),
    "B": (["--data", "b.xlsx", "--sheet", "answers", "--map", "b.yaml", "--missing", "fiml",
           "--missing-codes=-99,9", "--scale", "0", "8", "--reverse", "pa2", "--id", "编号"],
          ["data: b.xlsx", "rows read: 160; rows used: 160 (missing data: fiml)",
           "missing answers kept: 8 in 4 pattern(s)",
           "declared missing code set missing: 7 value(s) (ca2 5, pa1 2)",
           "reverse-coded (min + max - x): 160 value(s) (pa2 160)", "answer scale: 0 to 8",
           "occur more than once in '编号'"]),
}

# command line without data options -> the library function reached after the report
COMMANDS = {
    "fit": (["fit", "h1_h5"], "semcluster.result.result:SEMResult.summary"),
    "bootstrap": (["bootstrap", "h1_h5", "--n-boot", "10", "--jobs", "1"],
                  "semcluster.analysis.bootstrap:bootstrap"),
    "compare": (["compare"], "semcluster.study.regression_vs_sem:compare_methods"),
    "compare-models": (["compare-models", "h1_h5", "revised"],
                       "semcluster.analysis.model_comparison:compare_models"),
    "diagram": (["diagram", "h1_h5", "--out", "d.png"], "semcluster.output.diagrams:tested_diagram"),
    "diagram --kind compare": (["diagram", "h1_h5", "--kind", "compare", "--out", "d.png"],
                               "semcluster.study.regression_vs_sem:compare_methods"),
    "diagram --kind measurement": (["diagram", "cfa", "--kind", "measurement", "--out",
                                    "d.png"], "semcluster.output.diagrams:measurement_diagram"),
    "invariance": (["invariance", "cfa", "--group", "school"],
                   "semcluster.analysis.invariance:measurement_invariance"),
    "measure": (["measure", "cfa", "--parallel-iter", "10"],
                "semcluster.analysis.measurement:measurement_report"),
    "method-bias": (["method-bias", "cfa"], "semcluster.analysis.method_bias:method_factor_check"),
    "modindices": (["modindices", "h1_h5"], "semcluster.measures.modindices:modification_indices"),
    "power": (["power", "h1_h5", "--n", "100", "--reps", "10", "--jobs", "1"],
              "semcluster.study.power:power_analysis"),
    "reproduce": (["reproduce", "--out", "rep", "--n-boot", "10", "--power-reps", "10",
                   "--jobs", "1"], "semcluster.study.report:reproduce_report"),
    "report": (["report", "h1_h5", "--out", "rep", "--n-boot", "10", "--jobs", "1"],
               "semcluster.fitting:fit"),
    "scores": (["scores", "h1_h5", "--out", "s.csv"], "semcluster.result.result:SEMResult.predict"),
    "calibrate": (["calibrate"], "semcluster.study.synthetic:calibration_report"),
}


def test_every_data_command_is_here():
    from semcluster.cli import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    with_data = {c for c, p in sub.choices.items() if any(a.dest == "data" for a in p._actions)}
    assert with_data == {c.split(" ")[0] for c in COMMANDS}


@pytest.mark.parametrize("setting", list(SETTINGS))
@pytest.mark.parametrize("cmd", list(COMMANDS))
def test_the_data_report_shows_the_data_options_given(surveys, monkeypatch, capsys, cmd,
                                                      setting):
    monkeypatch.chdir(surveys)
    argv, stop = COMMANDS[cmd]
    options, lines = SETTINGS[setting]
    _stop_at(monkeypatch, stop)
    with pytest.raises(Stopped):
        main(argv + options)
    out = capsys.readouterr().out
    report = out[out.index("data: "):]
    for line in lines:
        assert line in report, (line, report[:800])
