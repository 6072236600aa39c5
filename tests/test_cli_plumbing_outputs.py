"""No output over an input: the matrix of every command's outputs aimed at each of its inputs,
generated from the argparse parsers.

Every option or positional argument that takes a free text value is a path unless it is named
in ``NOT_A_PATH``; a path is an output when its destination is one of ``OUTPUT_DESTS``, its
metavar is OUT or DIR, or its help starts with "write"; every other path is an input (the
model, ``--data``, ``--map``, ``--published``, a result JSON ...).  For each command, each
output is aimed at each input in turn; the command must stop with exit status 2 and the
output guard's one-line message naming the file, before any analysis starts (the analyses are
replaced by a function that raises), and every input file must be byte-identical afterwards.

A new input option is therefore covered without editing this file, and a command whose guard
(``OutputFiles(inputs=[...])``) leaves one of its inputs out fails here.
"""
from __future__ import annotations

import argparse
import hashlib
import importlib
import json
import re
import shutil
from pathlib import Path

import pytest

from semcluster.cli import build_parser, main
from semcluster.resources import data_path, model_path

OUTPUT_DESTS = {"out", "json", "csv", "plot"}
#: free-text options that are not file names
NOT_A_PATH = {"sheet", "id", "cluster", "missing_codes", "reverse", "ordered", "group",
              "scheduler", "host"}
#: values for required options that are not paths
REQUIRED_VALUES = {"group": "school"}


def _subparsers():
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    return sub.choices


def _is_path(a: argparse.Action) -> bool:
    return (isinstance(a, (argparse._StoreAction, argparse._AppendAction)) and a.type is None
            and a.choices is None and a.nargs not in (0, 2) and a.dest not in NOT_A_PATH)


def _is_output(a: argparse.Action) -> bool:
    return (a.dest in OUTPUT_DESTS or a.metavar in ("OUT", "DIR")
            or (a.help or "").lower().startswith(("write", "also write")))


def _suffix(a: argparse.Action) -> str | None:
    """The file suffix an output's help asks for (".png, .svg or .pdf" -> ".png"), if any."""
    m = re.search(r"\.(png|svg|pdf|csv|xlsx|json|html)\b", a.help or "")
    return f".{m.group(1)}" if m else None


def _n_files(a: argparse.Action) -> int:
    return 2 if a.nargs in ("*", "+") else 1


def guard_matrix():
    """(command, output action, input action, which of the input's files)."""
    for cmd, p in _subparsers().items():
        paths = [a for a in p._actions if _is_path(a)]
        outputs = [a for a in paths if _is_output(a)]
        inputs = [a for a in paths if not _is_output(a)]
        for out in outputs:
            for inp in inputs:
                for k in range(_n_files(inp)):
                    yield cmd, out.dest, inp.dest, k


CASES = list(guard_matrix())

_NATURAL = {"model": ".lav", "models": ".lav", "source": ".lav", "data": ".csv", "map": ".yaml",
            "published": ".json", "labels": ".yaml"}


def _content(dest: str) -> bytes:
    if dest in ("model", "models", "source"):
        return model_path("h1_h5").read_bytes()
    if dest == "data":
        return data_path("paper_synthetic.csv").read_bytes()
    if dest == "map":
        return "# a data description\nscale: [1, 7]\n".encode()
    if dest == "published":
        from semcluster.study.audit import paper_published

        return json.dumps(paper_published(), default=lambda o: o.item() if hasattr(o, "item")
                          else str(o)).encode()
    return b"an input of this command\n"


def _spelled(folder: Path, f: Path, spelling: str) -> str:
    """Another way to name the file ``f`` in ``folder`` (the current directory)."""
    if spelling == "absolute":
        return str(f)
    if spelling == "relative":
        return f"./nowhere/../{f.name}"
    link = folder / "linked-folder"                     # a symbolic link to the folder itself
    if not link.exists():
        link.symlink_to(folder, target_is_directory=True)
    return str(link / f.name)


def build_argv(folder: Path, cmd: str, out_dest: str, target: tuple[str, int],
               spelling: str = "absolute"):
    """The command line, with every input given a file (named with the suffix the output under
    test accepts, so that a suffix check cannot refuse first) and the output aimed at
    ``target`` = (input destination, index of its file), spelled as ``spelling`` says."""
    p = _subparsers()[cmd]
    actions = {a.dest: a for a in p._actions}
    out = actions[out_dest]
    suffix = _suffix(out)
    files: dict[str, list[Path]] = {}
    positional, optional = [], []
    for a in p._actions:
        if not _is_path(a) or _is_output(a):
            continue
        names = []
        for k in range(_n_files(a)):
            f = folder / f"{a.dest}-{k}{suffix or _NATURAL.get(a.dest, '.txt')}"
            f.write_bytes(_content(a.dest))
            names.append(f)
        files[a.dest] = names
        if a.option_strings:
            for f in names:
                optional += [a.option_strings[0], str(f)]
        else:
            positional += [str(f) for f in names]
    for a in p._actions:
        if a.required and a.option_strings and a.dest != out_dest:
            if _is_path(a) and _is_output(a):
                optional += [a.option_strings[0], str(folder / f"fresh-{a.dest}"
                                                      f"{_suffix(a) or '.txt'}")]
            elif not _is_path(a):
                optional += [a.option_strings[0], REQUIRED_VALUES[a.dest]]
    aimed = files[target[0]][target[1]]
    argv = [cmd, *positional, *optional, out.option_strings[0],
            _spelled(folder, aimed, spelling)]
    return argv, aimed, [f for fs in files.values() for f in fs]


class WorkStarted(Exception):
    """Raised by every analysis: a refusal must come before any of them."""


#: the library functions the commands start their work with
WORK = [("semcluster.data.survey", "read_survey"), ("semcluster.data.survey", "load_data"),
        ("semcluster.spec.parser", "read_model"), ("semcluster.fitting", "fit"),
        ("semcluster.analysis.bootstrap", "bootstrap"), ("semcluster.study.power", "power_analysis"),
        ("semcluster.analysis.model_comparison", "compare_models"),
        ("semcluster.analysis.invariance", "measurement_invariance"),
        ("semcluster.study.regression_vs_sem", "compare_methods"),
        ("semcluster.study.audit", "audit"), ("semcluster.study.audit", "load_published"),
        ("semcluster.analysis.measurement", "measurement_report"),
        ("semcluster.study.synthetic", "simulate_items"),
        ("semcluster.study.synthetic", "match_published"),
        ("semcluster.study.synthetic", "paper_synthetic"),
        ("semcluster.study.synthetic", "calibration_report"),
        ("semcluster.output.diagrams", "as_view"), ("semcluster.output.diagrams", "conceptual_diagram"),
        ("semcluster.output.report", "build_report"), ("semcluster.study.report", "reproduce_report")]


@pytest.fixture
def no_work(monkeypatch):
    def refuse(*a, **k):
        raise WorkStarted

    # every module imported before any is patched: a module imported while another's function
    # is replaced would bind the stand-in for good (``from .spec import read_model``), and the
    # tests that run after this one would meet it
    modules = [importlib.import_module(module) for module, _ in WORK]
    for mod, (_, name) in zip(modules, WORK):
        monkeypatch.setattr(mod, name, refuse)


def _sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def test_the_matrix_covers_every_command_that_writes_and_reads():
    by_cmd: dict = {}
    for cmd, out, inp, _ in CASES:
        by_cmd.setdefault(cmd, set()).add((out, inp))
    expected_inputs = {"fit": {"model", "data", "map", "labels"},
                       "bootstrap": {"model", "data", "map"},
                       "audit": {"published"}, "diagram": {"source", "data", "map", "labels"},
                       "compare-models": {"models", "data", "map"}, "calibrate": {"data", "map"}}
    for cmd, inputs in expected_inputs.items():
        assert {i for _, i in by_cmd[cmd]} == inputs, cmd
    assert {o for o, _ in by_cmd["bootstrap"]} == {"csv", "json", "careless_csv"}
    assert {o for o, _ in by_cmd["power"]} == {"csv", "plot", "careless_csv"}
    writing = {c for c, p in _subparsers().items() if any(_is_path(a) and _is_output(a)
                                                          for a in p._actions)}
    assert writing - {"simulate"} == set(by_cmd)        # simulate reads no file


@pytest.mark.parametrize("spelling", ["absolute", "relative", "through a linked folder"])
@pytest.mark.parametrize("cmd, out, inp, k",
                         [pytest.param(*c, id=f"{c[0]} --{c[1]} -> {c[2]}[{c[3]}]")
                          for c in CASES])
def test_output_aimed_at_an_input_is_refused_and_the_input_kept(tmp_path, monkeypatch, capsys,
                                                                no_work, cmd, out, inp, k,
                                                                spelling):
    monkeypatch.chdir(tmp_path)
    argv, aimed, inputs = build_argv(tmp_path, cmd, out, (inp, k), spelling)
    before = {f: _sha(f) for f in inputs}
    try:
        code = main(argv)
    except WorkStarted:
        pytest.fail(f"semcluster {' '.join(argv)}: started its analysis with the output aimed "
                    f"at its input {aimed.name} (if --{inp} is not a file, add it to "
                    f"NOT_A_PATH)")
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    assert len(err.splitlines()) == 1 and err.startswith("semcluster: error:"), err
    assert "input of this run" in err and aimed.name in err, err
    assert {f: _sha(f) for f in inputs} == before


def test_the_map_file_survives_a_real_bootstrap_aimed_at_it(tmp_path, monkeypatch, capsys):
    """Without the analyses replaced: ``bootstrap --map m.yaml --csv m.yaml`` stops and the
    mapping is unchanged."""
    monkeypatch.chdir(tmp_path)
    shutil.copy(data_path("paper_synthetic.csv"), tmp_path / "d.csv")
    (tmp_path / "m.yaml").write_text("scale: [1, 7]\n")
    before = _sha(tmp_path / "m.yaml")
    code = main(["bootstrap", "h1_h5", "--data", "d.csv", "--map", "m.yaml", "--n-boot", "10",
                 "--jobs", "1", "--no-bca", "--csv", "m.yaml"])
    assert code == 2 and "input of this run" in capsys.readouterr().err
    assert _sha(tmp_path / "m.yaml") == before


def test_a_new_input_option_joins_the_matrix_by_itself(monkeypatch):
    """An input option added to a command (here a made-up ``--hypotheses FILE`` on bootstrap)
    is aimed at by every output of that command without editing this file."""
    import sys

    real = build_parser

    def with_hypotheses():
        parser = real()
        sub = next(a for a in parser._actions if a.dest == "command")
        sub.choices["bootstrap"].add_argument("--hypotheses", metavar="FILE")
        return parser

    monkeypatch.setattr(sys.modules[__name__], "build_parser", with_hypotheses)
    cases = {(o, i) for c, o, i, _ in guard_matrix() if c == "bootstrap"}
    assert {("csv", "hypotheses"), ("json", "hypotheses")} <= cases
