"""One output path (:mod:`semcluster.output.files`): every command's outputs, aimed at the
command's own inputs and at the user's folders, never touch them; modes follow the umask;
folders carry a manifest and a rerun removes only what semcluster wrote; CSV cells cannot run
as spreadsheet formulas; names cannot break out of Markdown code spans.

Refusals must come before any analysis starts: in those tests every analysis is replaced by a
function that raises (fixture ``no_work``), so they are fast and prove the order."""
from __future__ import annotations

import csv
import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from semcluster.cli import build_parser, main
from semcluster.errors import OutputPathError
from semcluster.output.files import (MANIFEST, OutputFiles, csv_safe, md_code, md_text,
                                     neutralize_cell)
from semcluster.resources import data_path, model_path

ROOT = os.geteuid() == 0 if hasattr(os, "geteuid") else False


def sha(p: Path) -> str:
    return hashlib.sha256(Path(p).read_bytes()).hexdigest()


@pytest.fixture
def inputs(tmp_path, monkeypatch):
    """A user's working folder: model, data, mapping, published tables, a result JSON, and a
    folder of their own notes."""
    monkeypatch.chdir(tmp_path)
    shutil.copy(model_path("h1_h5"), tmp_path / "M.lav")
    shutil.copy(data_path("paper_synthetic.csv"), tmp_path / "mydata.csv")
    (tmp_path / "map.yaml").write_text("columns: {}\n")
    from semcluster.study.audit import paper_published

    (tmp_path / "pub.json").write_text(json.dumps(paper_published(), default=_plain))
    (tmp_path / "r.json").write_text('{"estimates": []}\n')
    (tmp_path / "d.png").write_bytes(b"\x89PNG not really")    # an input with a figure suffix
    user = tmp_path / "mine"
    user.mkdir()
    (user / "thesis.docx").write_text("precious")
    return tmp_path


def _plain(o):
    return o.item() if hasattr(o, "item") else str(o)


# command line -> the inputs it reads; OUT marks where the output goes
CASES = {
    "fit --json": ["fit", "M.lav", "--data", "mydata.csv", "--map", "map.yaml", "--json", "OUT"],
    "bootstrap --csv": ["bootstrap", "M.lav", "--data", "mydata.csv", "--n-boot", "10",
                        "--no-bca", "--jobs", "1", "--csv", "OUT"],
    "bootstrap --json": ["bootstrap", "M.lav", "--data", "mydata.csv", "--n-boot", "10",
                         "--no-bca", "--jobs", "1", "--json", "OUT"],
    "modindices --json": ["modindices", "M.lav", "--data", "mydata.csv", "--json", "OUT"],
    "compare-models --csv": ["compare-models", "M.lav", "--data", "mydata.csv", "--csv", "OUT"],
    "power --csv": ["power", "M.lav", "--n", "100", "--reps", "10", "--jobs", "1", "--csv",
                    "OUT"],
    "power --plot": ["power", "M.lav", "--n", "100", "--reps", "10", "--jobs", "1", "--plot",
                     "OUT"],
    "invariance --json": ["invariance", "M.lav", "--data", "mydata.csv", "--group", "g",
                          "--json", "OUT"],
    "compare --csv": ["compare", "--data", "mydata.csv", "--csv", "OUT"],
    "compare --json": ["compare", "--data", "mydata.csv", "--json", "OUT"],
    "audit --csv": ["audit", "--published", "pub.json", "--csv", "OUT"],
    "audit --json": ["audit", "--published", "pub.json", "--json", "OUT"],
    "diagram --out (model)": ["diagram", "M.lav", "--data", "d.png", "--out", "OUT"],
    "diagram --out (result)": ["diagram", "r.json", "--out", "OUT"],
    "measure --out": ["measure", "M.lav", "--data", "mydata.csv", "--parallel-iter", "10",
                      "--out", "OUT"],
    "method-bias --json": ["method-bias", "M.lav", "--data", "mydata.csv", "--map", "map.yaml",
                           "--json", "OUT"],
    "reproduce --out": ["reproduce", "--data", "mydata.csv", "--n-boot", "10",
                        "--power-reps", "10", "--jobs", "1", "--out", "OUT"],
    "simulate --out": ["simulate", "--n", "20", "--out", "OUT"],
    "report --out": ["report", "M.lav", "--data", "mydata.csv", "--map", "map.yaml",
                     "--n-boot", "10", "--jobs", "1", "--out", "OUT"],
    "calibrate --csv": ["calibrate", "--data", "mydata.csv", "--csv", "OUT"],
    "scores --out": ["scores", "M.lav", "--data", "mydata.csv", "--map", "map.yaml", "--out",
                     "OUT"],
}
INPUT_NAMES = ("M.lav", "mydata.csv", "map.yaml", "pub.json", "r.json", "d.png")


def _cases_aimed_at_inputs():
    for name, argv in CASES.items():
        for arg in argv:
            if arg in INPUT_NAMES:
                yield pytest.param(name, arg, id=f"{name} -> {arg}")


SLOW_WORK = [("semcluster.fitting", "fit"), ("semcluster.analysis.bootstrap", "bootstrap"),
             ("semcluster.analysis.power", "power_analysis"), ("semcluster.study.power", "power_analysis"),
             ("semcluster.analysis.model_comparison", "compare_models"),
             ("semcluster.analysis.invariance", "measurement_invariance"),
             ("semcluster.study.regression_vs_sem", "compare_methods"),
             ("semcluster.study.audit", "audit"), ("semcluster.study.audit", "load_published"),
             ("semcluster.data.survey", "load_data"),
             ("semcluster.analysis.measurement", "measurement_report"),
             ("semcluster.analysis.method_bias", "method_factor_check"),
             ("semcluster.study.synthetic", "simulate_items"), ("semcluster.output.diagrams", "as_view"),
             ("semcluster.output.diagrams", "conceptual_diagram")]


class WorkStarted(Exception):
    """Raised by the analyses in refusal tests: the output was not checked first."""


@pytest.fixture
def no_work(monkeypatch):
    """Every analysis a command could start raises: a refusal must come before any of them."""
    import importlib

    def refuse(*a, **k):
        raise WorkStarted

    for module, name in SLOW_WORK:
        monkeypatch.setattr(importlib.import_module(module), name, refuse)


def _run(argv, capsys):
    code = main(argv)
    return code, capsys.readouterr().err.strip()


def test_every_writing_option_is_covered():
    """Walk the parser: every option that names an output appears in CASES."""
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    writing = set()
    for cmd, p in sub.choices.items():
        for a in p._actions:
            if a.dest in ("json", "csv", "out", "plot"):
                writing.add(f"{cmd} {a.option_strings[0]}")
    covered = {k.split(" (")[0] for k in CASES}
    assert writing <= covered, writing - covered


@pytest.mark.parametrize("case, target", list(_cases_aimed_at_inputs()))
def test_output_aimed_at_an_input_is_refused(inputs, no_work, capsys, case, target):
    before = {n: sha(inputs / n) for n in INPUT_NAMES}
    argv = [target if a == "OUT" else a for a in CASES[case]]
    code, err = _run(argv, capsys)
    assert code == 2, err
    assert len(err.splitlines()) == 1 and err.startswith("semcluster: error:")
    assert target in err
    assert {n: sha(inputs / n) for n in INPUT_NAMES} == before


@pytest.mark.parametrize("case", list(CASES))
def test_output_aimed_at_a_users_folder_is_refused(inputs, no_work, capsys, case):
    argv = [str(inputs / "mine") if a == "OUT" else a for a in CASES[case]]
    code, err = _run(argv, capsys)
    assert code == 2, err
    assert len(err.splitlines()) == 1 and "mine" in err
    assert sorted(p.name for p in (inputs / "mine").iterdir()) == ["thesis.docx"]
    assert (inputs / "mine" / "thesis.docx").read_text() == "precious"


@pytest.mark.parametrize("case", list(CASES))
def test_output_through_a_symlink_is_refused(inputs, no_work, capsys, case):
    (inputs / "link.png").symlink_to(inputs / "mine")
    argv = ["link.png" if a == "OUT" else a for a in CASES[case]]
    code, err = _run(argv, capsys)
    assert code == 2 and "symbolic link" in err and len(err.splitlines()) == 1
    assert (inputs / "link.png").is_symlink()


@pytest.mark.parametrize("case", ["fit --json", "reproduce --out", "measure --out",
                                  "power --plot", "simulate --out"])
def test_unwritable_place_is_refused_at_once(inputs, no_work, capsys, case):
    place = "/proc/semcluster-out.png" if "plot" in case else "/proc/semcluster-out"
    argv = [place if a == "OUT" else a for a in CASES[case]]
    code, err = _run(argv, capsys)
    assert code == 2 and "cannot write" in err and len(err.splitlines()) == 1


@pytest.mark.skipif(ROOT, reason="root may write in a read-only folder")
def test_read_only_folder_is_refused(inputs, capsys):
    ro = inputs / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        code, err = _run(["simulate", "--n", "5", "--out", str(ro / "x.csv")], capsys)
    finally:
        ro.chmod(0o755)
    assert code == 2 and "permission denied" in err


def test_reproduce_out_dot_deletes_nothing(inputs, no_work, capsys):
    before = sorted(p.name for p in inputs.iterdir())
    code, err = _run(["reproduce", "--out", "."], capsys)
    assert code == 2 and "not written by semcluster" in err
    assert sorted(p.name for p in inputs.iterdir()) == before


def test_two_outputs_of_one_run_with_one_name(inputs, no_work, capsys):
    code, err = _run(["bootstrap", "M.lav", "--csv", "x", "--json", "./x"], capsys)
    assert code == 2 and "two outputs" in err


def test_hard_link_to_an_input_is_refused(inputs, no_work, capsys):
    os.link(inputs / "M.lav", inputs / "hard.json")
    before = sha(inputs / "M.lav")
    code, err = _run(["fit", "M.lav", "--json", "hard.json"], capsys)
    assert code == 2 and "input" in err and sha(inputs / "M.lav") == before


def test_no_traceback_from_the_real_entry_point(inputs):
    p = subprocess.run([sys.executable, "-m", "semcluster", "reproduce", "--out", "M.lav"],
                       capture_output=True, text=True, cwd=inputs,
                       env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    assert p.returncode == 2 and "Traceback" not in p.stderr
    assert len(p.stderr.strip().splitlines()) == 1


# ---------------------------------------------------------------------------------------------
# modes
# ---------------------------------------------------------------------------------------------
@pytest.fixture
def umask():
    old = os.umask(0o022)
    yield os.umask
    os.umask(old)


@pytest.mark.parametrize("mask, file_mode, dir_mode", [(0o022, 0o644, 0o755),
                                                      (0o077, 0o600, 0o700),
                                                      (0o002, 0o664, 0o775)])
def test_modes_follow_the_umask(tmp_path, umask, mask, file_mode, dir_mode):
    umask(mask)
    out = OutputFiles()
    f = out.file(tmp_path / "new" / "deeper" / "a.json")
    out.write_json(f, {"a": 1})
    assert f.stat().st_mode & 0o777 == file_mode
    assert (tmp_path / "new").stat().st_mode & 0o777 == dir_mode
    folder = OutputFiles().folder(tmp_path / "rep")
    folder.add_text("tables/t.csv", "a\n1\n")
    folder.commit()
    assert (tmp_path / "rep").stat().st_mode & 0o777 == dir_mode
    assert (tmp_path / "rep" / "tables").stat().st_mode & 0o777 == dir_mode
    assert (tmp_path / "rep" / "tables" / "t.csv").stat().st_mode & 0o777 == file_mode
    assert (tmp_path / "rep" / MANIFEST).stat().st_mode & 0o777 == file_mode


def test_cli_file_mode_with_umask_022(inputs, umask, capsys):
    umask(0o022)
    assert main(["simulate", "--n", "10", "--out", "sim.csv"]) == 0
    assert (inputs / "sim.csv").stat().st_mode & 0o777 == 0o644
    assert not [p for p in inputs.iterdir() if p.name.startswith(".sim.csv")]   # no temp left


# ---------------------------------------------------------------------------------------------
# folders and their manifest
# ---------------------------------------------------------------------------------------------
def _commit(path, files, inputs=()):
    folder = OutputFiles(inputs).folder(path)
    for name, text in files.items():
        folder.add_text(name, text)
    return folder.commit()


def test_rerun_keeps_the_users_files_and_removes_only_its_own(tmp_path):
    rep = tmp_path / "rep"
    _commit(rep, {"report.md": "one", "tables/old.csv": "x\n", "tables/keep.csv": "y\n"})
    (rep / "notes.txt").write_text("my notes")
    (rep / "tables" / "mine.csv").write_text("mine")
    (rep / "drafts").mkdir()
    _commit(rep, {"report.md": "two", "tables/keep.csv": "y2\n"})
    assert (rep / "report.md").read_text() == "two"
    assert not (rep / "tables" / "old.csv").exists()           # stale and ours: removed
    assert (rep / "notes.txt").read_text() == "my notes"
    assert (rep / "tables" / "mine.csv").read_text() == "mine"
    assert (rep / "drafts").is_dir()
    m = json.loads((rep / MANIFEST).read_text())["files"]
    assert sorted(m) == ["report.md", "tables/keep.csv"]


def test_a_file_changed_since_written_is_not_overwritten(tmp_path):
    rep = tmp_path / "rep"
    _commit(rep, {"report.md": "one"})
    (rep / "report.md").write_text("edited by hand")
    with pytest.raises(OutputPathError, match="changed after semcluster wrote it"):
        OutputFiles().folder(rep)
    assert (rep / "report.md").read_text() == "edited by hand"


def test_a_users_file_with_an_output_name_stops_the_run_before_writing(tmp_path):
    rep = tmp_path / "rep"
    _commit(rep, {"a.csv": "1"})
    folder = OutputFiles().folder(rep)
    (rep / "b.csv").write_text("the user's")          # appears while the run is going
    folder.add_text("a.csv", "2")
    folder.add_text("b.csv", "ours")
    with pytest.raises(OutputPathError, match="not written by semcluster"):
        folder.commit()
    assert (rep / "b.csv").read_text() == "the user's"
    assert (rep / "a.csv").read_text() == "1"          # nothing written


def test_folder_created_during_the_run_survives(tmp_path):
    rep = tmp_path / "rep"
    folder = OutputFiles().folder(rep)               # absent when the run starts
    rep.mkdir()                                      # the user makes it meanwhile
    (rep / "made-meanwhile").mkdir()
    (rep / "made-meanwhile" / "x.txt").write_text("x")
    folder.add_text("report.md", "r")
    with pytest.raises(OutputPathError, match="not written by semcluster"):
        folder.commit()                              # checked again: now it is the user's
    assert sorted(p.name for p in rep.iterdir()) == ["made-meanwhile"]
    assert (rep / "made-meanwhile" / "x.txt").read_text() == "x"


def test_folder_made_inside_a_report_folder_during_the_run_survives(tmp_path):
    rep = tmp_path / "rep"
    _commit(rep, {"report.md": "one", "tables/t.csv": "t"})
    folder = OutputFiles().folder(rep)
    (rep / "tables" / "sub").mkdir()
    (rep / "tables" / "sub" / "x.txt").write_text("x")
    folder.add_text("report.md", "two")
    folder.commit()                                  # tables/t.csv is stale: removed
    assert (rep / "tables" / "sub" / "x.txt").read_text() == "x"
    assert not (rep / "tables" / "t.csv").exists() and (rep / "report.md").read_text() == "two"


def test_input_inside_the_report_folder_is_kept(tmp_path):
    rep = tmp_path / "rep"
    _commit(rep, {"report.md": "one", "tables/t.csv": "t"})
    data = rep / "mydata.csv"
    data.write_text("a,b\n1,2\n")
    # an input that the old manifest lists (the user analyses an earlier table) is kept too
    _commit(rep, {"report.md": "two"}, inputs=[data, rep / "tables" / "t.csv"])
    assert data.read_text() == "a,b\n1,2\n" and (rep / "tables" / "t.csv").read_text() == "t"
    with pytest.raises(OutputPathError, match="input"):
        _commit(rep, {"mydata.csv": "over"}, inputs=[data])


def test_older_report_folder_is_adopted_without_deleting(tmp_path):
    rep = tmp_path / "rep"
    (rep / "tables").mkdir(parents=True)
    (rep / ".semcluster-report").write_text("written by semcluster reproduce\n")
    (rep / "report.md").write_text("old")
    (rep / "tables" / "gone.csv").write_text("old table")
    (rep / "notes.txt").write_text("mine")
    _commit(rep, {"report.md": "new"})
    assert (rep / "report.md").read_text() == "new"
    assert (rep / "notes.txt").read_text() == "mine"
    assert (rep / "tables" / "gone.csv").exists()


def test_damaged_manifest_is_refused(tmp_path):
    rep = tmp_path / "rep"
    rep.mkdir()
    (rep / MANIFEST).write_text("{not json")
    with pytest.raises(OutputPathError, match="damaged"):
        OutputFiles().folder(rep)


def test_measure_out_never_overwrites_a_same_named_user_file(inputs, no_work, capsys):
    out = inputs / "mout"
    out.mkdir()
    (out / "reliability.csv").write_text("the user's own table")
    code, err = _run(["measure", "M.lav", "--parallel-iter", "10", "--out", str(out)],
                           capsys)
    assert code == 2
    assert (out / "reliability.csv").read_text() == "the user's own table"


def test_reproduce_into_its_own_report_folder_keeps_notes_and_data(inputs, capsys):
    """A rerun over an earlier report: the user's notes and the data file inside the folder
    survive; files of the earlier run that this run does not write are removed."""
    rep = inputs / "rep"
    _commit(rep, {"report.md": "earlier", "tables/from_an_older_version.csv": "x"})
    (rep / "notes.md").write_text("my notes")
    shutil.copy(inputs / "mydata.csv", rep / "mydata.csv")
    before = sha(rep / "mydata.csv")
    code = main(["reproduce", "--data", str(rep / "mydata.csv"), "--out", str(rep),
                 "--n-boot", "10", "--power-reps", "10", "--jobs", "1"])
    assert code == 0, capsys.readouterr().err
    assert (rep / "notes.md").read_text() == "my notes"
    assert sha(rep / "mydata.csv") == before
    assert not (rep / "tables" / "from_an_older_version.csv").exists()
    assert (rep / "report.html").stat().st_mode & 0o777 == 0o666 & ~_umask()
    manifest = json.loads((rep / MANIFEST).read_text())["files"]
    assert "report.html" in manifest and "notes.md" not in manifest
    assert "mydata.csv" not in manifest
    md = (rep / "report.md").read_text()
    assert f"Data file: `{rep / 'mydata.csv'}`." in md


def _umask():
    m = os.umask(0)
    os.umask(m)
    return m


# ---------------------------------------------------------------------------------------------
# safe text
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("cell, expected", [
    ("=1+2", "'=1+2"), ("+cmd", "'+cmd"), ("-x", "'-x"), ("@SUM(A1)", "'@SUM(A1)"),
    ("\t=1", "'\t=1"), ("-0.25", "-0.25"), ("+3", "+3"), ("1e-3", "1e-3"), ("-inf", "-inf"),
    ("ca1", "ca1"), ("=~", "=~"), ("~~", "~~"), (":=", ":="), ("=~x", "'=~x"),
    (-0.25, -0.25), (3, 3), (None, None), ("", "")])
def test_neutralize_cell(cell, expected):
    assert neutralize_cell(cell) == expected


def test_csv_safe_leaves_numbers_and_neutralizes_text():
    df = pd.DataFrame({"item": ["=HYPERLINK(\"http://x\")", "ca1", "-0.5"],
                       "est": [-1.5, 2.0, 3.0], "n": [-1, 2, 3]},
                      index=pd.Index(["@a", "b", "c"], name="=idx"))
    out = csv_safe(df)
    assert list(out["item"]) == ["'=HYPERLINK(\"http://x\")", "ca1", "-0.5"]
    assert list(out["est"]) == [-1.5, 2.0, 3.0] and list(out["n"]) == [-1, 2, 3]
    assert list(out.index) == ["'@a", "b", "c"] and out.index.name == "'=idx"
    assert df["item"].iloc[0].startswith("=")                 # the original is unchanged


def test_audit_csv_of_a_hostile_published_file(inputs, capsys):
    pub = json.loads((inputs / "pub.json").read_text())
    bad = "=cmd|' /C calc'!A0"
    old = pub["variables"][0]
    pub["variables"][0] = bad
    for key in ("means", "sds", "n_items", "alpha"):
        if old in pub.get(key, {}):
            pub[key][bad] = pub[key].pop(old)
    for key in ("beta", "entered", "stars"):
        if old in pub["regression"].get(key, {}):
            pub["regression"][key][bad] = pub["regression"][key].pop(old)
    (inputs / "evil.json").write_text(json.dumps(pub))
    assert main(["audit", "--published", "evil.json", "--csv", "audit.csv"]) == 0
    with open(inputs / "audit.csv", newline="") as fh:
        cells = [c for row in csv.reader(fh) for c in row]
    assert any(c.startswith("'=cmd") for c in cells)
    assert not [c for c in cells if c[:1] in ("=", "@", "+") or
                (c.startswith("-") and not _is_number(c))]


def _is_number(s):
    try:
        float(s)
        return True
    except ValueError:
        return False


def test_compare_models_csv_with_a_formula_file_name(inputs, capsys):
    shutil.copy(inputs / "M.lav", inputs / "@SUM(A1).lav")
    shutil.copy(model_path("one_factor"), inputs / "=2+3.lav")
    assert main(["compare-models", "@SUM(A1).lav", "=2+3.lav", "--csv", "cm.csv"]) == 0
    with open(inputs / "cm.csv", newline="") as fh:
        first = [row[0] for row in csv.reader(fh)][1:]
    assert first and all(c.startswith("'") for c in first)


@pytest.mark.parametrize("name", ["my`data.csv", "``x``", "`", "a<b>c", "x\ny", "<img src=x>"])
def test_md_code_cannot_be_broken_out_of(name):
    span = md_code(name)
    fence = len(span) - len(span.lstrip("`"))
    inner = span[fence:-fence]
    assert span.endswith("`" * fence)
    assert "`" * fence not in inner                         # the fence never appears inside
    assert "\n" not in span


def test_md_text_has_no_raw_html():
    assert md_text("<script>alert(1)</script> | p < .05") == \
        "&lt;script>alert(1)&lt;/script> / p < .05"


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path, monkeypatch):
    import errno

    f = tmp_path / "a.csv"
    f.write_text("old")
    out = OutputFiles()
    target = out.file(f)

    def full(*a, **k):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "replace", full)
    with pytest.raises(OutputPathError, match="No space left"):
        out.write_text(target, "new")
    assert f.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.csv"]
