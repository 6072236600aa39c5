"""Every option of every ``semcluster`` command reaches the library with the value typed.

Two tables drive the tests:

* ``DATA_CASES``: the data options (``--data --map --sheet --id --missing --missing-codes
  --scale --out-of-scale --reverse --ordered --long-string --drop-careless``; the output
  ``--careless-csv`` is in ``test_cli_plumbing_outputs.py``), each with at least two values, run through
  every command that has them.  The library's data reader :func:`semcluster.data.survey.read_survey`
  (every command reads its survey through it) is replaced by a recorder that stops the run; the
  test asserts what it was given.
* ``OPTION_CASES``: every other option and positional argument of every command.  Where the
  output shows the value (the bootstrap JSON's seed, the fit summary's standardized columns,
  the simulated CSV's rows) a real, small run is checked; elsewhere the library function the
  command calls is replaced by a recorder and the argument it received is checked.

``test_every_option_of_every_command_has_a_plumbing_case`` walks the argparse parsers, so an
option added later without a case here fails the suite.  Outputs aimed at inputs are in
``test_cli_plumbing_outputs.py``; the app's mapping YAML in ``test_cli_plumbing_mapping.py``.
"""
from __future__ import annotations

import importlib
import inspect
import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from semcluster.cli import build_parser, main
from semcluster.resources import data_path
from semcluster.analysis.simulate import ClusterDesign, MissingDesign
from test_cli_plumbing_outputs import _is_output, _is_path   # one rule for what is an output

DATA_DESTS = {"data", "map", "sheet", "id", "cluster", "missing", "missing_codes", "scale",
              "out_of_scale", "reverse", "ordered", "long_string", "drop_careless"}


class Called(Exception):
    """Raised by a recorded library function: carries the arguments it was called with."""

    def __init__(self, target: str, arguments: dict):
        super().__init__(target)
        self.target = target
        self.arguments = arguments


def record(monkeypatch, target: str) -> None:
    """Replace ``module:function`` (or ``module:Class.method``) by a recorder that raises
    :class:`Called` with its arguments bound to the real signature (defaults filled in)."""
    module_name, attr = target.split(":")
    owner = importlib.import_module(module_name)
    *path, name = attr.split(".")
    for p in path:
        owner = getattr(owner, p)
    original = getattr(owner, name)
    sig = inspect.signature(original)

    def recorder(*args, **kwargs):
        bound = sig.bind(*args, **kwargs)
        bound.apply_defaults()
        raise Called(target, dict(bound.arguments))

    monkeypatch.setattr(owner, name, recorder)


def called_with(monkeypatch, argv, target) -> dict:
    record(monkeypatch, target)
    with pytest.raises(Called) as info:
        main(argv)
    assert info.value.target == target
    return info.value.arguments


@pytest.fixture
def folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    shutil.copy(data_path("paper_synthetic.csv"), tmp_path / "survey.csv")
    df = pd.read_csv(tmp_path / "survey.csv")
    df["school"] = ["east", "west"] * (len(df) // 2)
    df["region"] = ["north"] * (len(df) // 2) + ["south"] * (len(df) - len(df) // 2)
    df.to_csv(tmp_path / "grouped.csv", index=False)
    df.loc[3, "ca4"] = None                                    # one empty answer
    df.to_csv(tmp_path / "grouped_hole.csv", index=False)
    return tmp_path


# ---------------------------------------------------------------------------------------------
# 1. the data options, through every command that has them
# ---------------------------------------------------------------------------------------------
# option -> [(argv fragment, field of read_survey's call, expected value)]; "data" is
# read_survey's first argument, the rest are fields of the DataOptions it receives
DATA_CASES = {
    "--data": [(["--data", "a.csv"], "data", "a.csv"),
               (["--data", "other.sav"], "data", "other.sav")],
    "--map": [(["--map", "m.yaml"], "map", "m.yaml"),
              (["--map", "描述.yml"], "map", "描述.yml")],
    "--sheet": [(["--sheet", "2"], "sheet", "2"), (["--sheet", "Wave B"], "sheet", "Wave B")],
    "--id": [(["--id", "resp"], "id", "resp"), (["--id", "编号"], "id", "编号")],
    "--cluster": [(["--cluster", "park"], "cluster", "park"),
                  (["--cluster", "园区"], "cluster", "园区")],
    "--missing": [(["--missing", "listwise"], "missing", "listwise"),
                  (["--missing", "ml"], "missing", "fiml"),          # lavaan's name for FIML
                  (["--missing", "pairwise"], "missing", "pairwise")],
    "--missing-codes": [(["--missing-codes", "-99"], "missing_codes", (-99,)),
                        (["--missing-codes=-99,9", "--missing-codes", "."], "missing_codes",
                         (-99, 9, "."))],
    "--scale": [(["--scale", "1", "7"], "scale", (1.0, 7.0)),
                (["--scale", "0", "10"], "scale", (0.0, 10.0))],
    "--out-of-scale": [(["--out-of-scale", "missing"], "out_of_scale", "missing"),
                       # "error" is the default: with --scale so that power and the compare diagram,
                       # which read data only when a data option differs from its default, read
                       (["--out-of-scale", "error", "--scale", "1", "7"], "out_of_scale",
                        "error")],
    "--reverse": [(["--reverse", "ca1"], "reverse", ("ca1",)),
                  (["--reverse", "ca1,in4"], "reverse", ("ca1", "in4"))],
    "--ordered": [(["--ordered", "all"], "ordered", "all"),
                  (["--ordered", "ca1,ca2"], "ordered", ("ca1", "ca2"))],
    "--long-string": [(["--long-string", "8"], "long_string", 8),
                      (["--long-string", "15"], "long_string", 15)],
    # off by default: with --scale so that power and the compare diagram read data either way
    "--drop-careless": [(["--drop-careless"], "drop_careless", True),
                        (["--scale", "1", "7"], "drop_careless", False)],
}

# command -> its argv without data options (bundled models; outputs in the test's folder)
DATA_COMMANDS = {
    "fit": ["fit", "h1_h5"],
    "bootstrap": ["bootstrap", "h1_h5", "--n-boot", "10", "--jobs", "1"],
    "compare": ["compare"],
    "compare-models": ["compare-models", "h1_h5", "revised"],
    "diagram": ["diagram", "h1_h5", "--kind", "tested", "--out", "d.png"],
    "diagram --kind compare": ["diagram", "h1_h5", "--kind", "compare", "--out", "d.png"],
    "diagram --kind measurement": ["diagram", "cfa", "--kind", "measurement", "--out", "d.png"],
    "invariance": ["invariance", "h1_h5", "--group", "school"],
    "measure": ["measure", "cfa", "--parallel-iter", "10"],
    "method-bias": ["method-bias", "cfa"],
    "modindices": ["modindices", "h1_h5"],
    "power": ["power", "h1_h5", "--n", "100", "--reps", "10", "--jobs", "1"],
    "reproduce": ["reproduce", "--out", "rep", "--n-boot", "10", "--power-reps", "10",
                  "--jobs", "1"],
    "scores": ["scores", "h1_h5", "--out", "s.csv"],
    "calibrate": ["calibrate"],
    "report": ["report", "h1_h5", "--out", "rep", "--n-boot", "10", "--jobs", "1"],
}

#: combinations refused with a clear error instead of reaching the data reader
REFUSED = {("scores", "--ordered"): "ordinal items"}


def _data_cases():
    for cmd, argv in DATA_COMMANDS.items():
        for opt, values in DATA_CASES.items():
            for fragment, field, expected in values:
                yield pytest.param(cmd, opt, argv + fragment, field, expected,
                                   id=f"{cmd} {' '.join(fragment)}")


def test_the_data_table_covers_every_command_with_data_options():
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    with_data = {c for c, p in sub.choices.items() if any(a.dest == "data" for a in p._actions)}
    assert with_data == {c.split(" ")[0] for c in DATA_COMMANDS}
    for cmd in with_data:
        dests = {a.dest for a in sub.choices[cmd]._actions}
        assert DATA_DESTS <= dests, (cmd, DATA_DESTS - dests)
    assert {f"--{d.replace('_', '-')}" for d in DATA_DESTS} == set(DATA_CASES)
    for opt, values in DATA_CASES.items():
        assert len({repr(v[2]) for v in values}) >= 2, opt


@pytest.mark.parametrize("cmd, opt, argv, field, expected", list(_data_cases()))
def test_data_option_reaches_the_data_reader(folder, monkeypatch, capsys, cmd, opt, argv,
                                             field, expected):
    if (cmd.split(" ")[0], opt) in REFUSED:
        assert main(argv) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and REFUSED[cmd.split(" ")[0], opt] in err
        return
    args = called_with(monkeypatch, argv, "semcluster.data.survey:read_survey")
    got = args["data"] if field == "data" else getattr(args["options"], field)
    assert got == expected


# ---------------------------------------------------------------------------------------------
# 2. every other option, command by command
# ---------------------------------------------------------------------------------------------
BOOT = ["bootstrap", "h1_h5", "--n-boot", "10", "--jobs", "1"]
BOOTSTRAP = "semcluster.analysis.bootstrap:bootstrap"
POWER = "semcluster.study.power:power_analysis"
POWER_ARGV = ["power", "--n", "100", "--reps", "10", "--jobs", "1"]
# reproduce is the study's report (study.report.reproduce_report); report is any model's
REPORT = "semcluster.study.report:reproduce_report"
BUILD = "semcluster.output.report:build_report"
OWN = ["report", "h1_h5", "--out", "rep", "--n-boot", "10", "--jobs", "1"]
REPRO = ["reproduce", "--out", "rep", "--n-boot", "10", "--power-reps", "10", "--jobs", "1"]
FIT = "semcluster.fitting:fit"
DIAG = ["diagram", "h1_h5", "--out", "d.png"]
SIMULATE = "semcluster.study.synthetic:simulate_items"
METHOD_BIAS = "semcluster.analysis.method_bias:method_factor_check"
MEASURE_CI = ["measure", "cfa", "--parallel-iter", "10", "--htmt-ci"]
HTMT_BOOT = "semcluster.analysis.measurement:htmt_bootstrap"


def C(cmd, dest, argv, function, **expected):
    """One case: ``argv`` calls ``function`` with ``expected`` arguments."""
    return (cmd, dest, argv, function, expected)


OPTION_CASES = [
    # bootstrap
    C("bootstrap", "model", ["bootstrap", "h1_h5", "--n-boot", "10"], BOOTSTRAP, model="h1_h5"),
    C("bootstrap", "model", ["bootstrap", "revised", "--n-boot", "10"], BOOTSTRAP,
      model="revised"),
    C("bootstrap", "n_boot", ["bootstrap", "h1_h5", "--n-boot", "10"], BOOTSTRAP, n_boot=10),
    C("bootstrap", "n_boot", ["bootstrap", "h1_h5", "--n-boot", "2500"], BOOTSTRAP, n_boot=2500),
    C("bootstrap", "kind", BOOT + ["--kind", "bollen-stine"], BOOTSTRAP, kind="bollen-stine"),
    C("bootstrap", "kind", BOOT + ["--kind", "nonparametric"], BOOTSTRAP, kind="nonparametric"),
    C("bootstrap", "seed", BOOT + ["--seed", "7"], BOOTSTRAP, seed=7),
    C("bootstrap", "seed", BOOT + ["--seed", "4294967295"], BOOTSTRAP, seed=4294967295),
    C("bootstrap", "jobs", ["bootstrap", "h1_h5", "--jobs", "1"], BOOTSTRAP, n_jobs=1),
    C("bootstrap", "jobs", ["bootstrap", "h1_h5", "--jobs", "3"], BOOTSTRAP, n_jobs=3),
    C("bootstrap", "scheduler", BOOT + ["--scheduler", "tcp://10.0.0.1:8786"], BOOTSTRAP,
      backend="dask", scheduler="tcp://10.0.0.1:8786"),
    C("bootstrap", "scheduler", BOOT, BOOTSTRAP, backend="joblib", scheduler=None),
    C("bootstrap", "exclude_inadmissible", BOOT + ["--exclude-inadmissible"], BOOTSTRAP,
      exclude_inadmissible=True),
    C("bootstrap", "exclude_inadmissible", BOOT, BOOTSTRAP, exclude_inadmissible=False),
    C("bootstrap", "no_bca", BOOT + ["--no-bca"], BOOTSTRAP, bca=False),
    C("bootstrap", "no_bca", BOOT, BOOTSTRAP, bca=True),
    C("bootstrap", "group", BOOT + ["--data", "grouped.csv", "--group", "school"], BOOTSTRAP,
      group="school"),
    C("bootstrap", "group", BOOT + ["--data", "grouped.csv", "--group", "region"], BOOTSTRAP,
      group="region"),
    C("bootstrap", "group_equal", BOOT + ["--data", "grouped.csv", "--group", "school",
                                          "--group-equal", "loadings"], BOOTSTRAP,
      group_equal=("loadings",)),
    C("bootstrap", "group_equal", BOOT + ["--data", "grouped.csv", "--group", "school",
                                          "--group-equal", "loadings,intercepts"], BOOTSTRAP,
      group_equal=("loadings", "intercepts")),
    C("bootstrap", "meanstructure", BOOT + ["--meanstructure"], BOOTSTRAP, meanstructure=True),
    C("bootstrap", "meanstructure", BOOT, BOOTSTRAP, meanstructure=None, group=None),
    # power
    C("power", "model", ["power", "revised"] + POWER_ARGV[1:], POWER, model="revised"),
    C("power", "model", POWER_ARGV, POWER, model="h1_h5"),
    C("power", "n", ["power", "--n", "90", "300", "--reps", "10"], POWER, n_grid=[90, 300]),
    C("power", "n", ["power", "--n", "1000", "--reps", "10"], POWER, n_grid=[1000]),
    C("power", "reps", POWER_ARGV, POWER, reps=10),
    C("power", "reps", ["power", "--n", "100", "--reps", "77"], POWER, reps=77),
    C("power", "alpha", POWER_ARGV + ["--alpha", "0.01"], POWER, alpha=0.01),
    C("power", "alpha", POWER_ARGV + ["--alpha", "0.1"], POWER, alpha=0.1),
    C("power", "target", POWER_ARGV + ["--target", "0.9"], POWER, target=0.9),
    C("power", "target", POWER_ARGV + ["--target", "0.5"], POWER, target=0.5),
    C("power", "effect_scale", POWER_ARGV + ["--effect-scale", "0.5"], POWER, effect_scale=0.5),
    C("power", "effect_scale", POWER_ARGV + ["--effect-scale", "2"], POWER, effect_scale=2.0),
    C("power", "seed", POWER_ARGV + ["--seed", "5"], POWER, seed=5),
    C("power", "seed", POWER_ARGV + ["--seed", "123456"], POWER, seed=123456),
    C("power", "jobs", ["power", "--n", "100", "--jobs", "1"], POWER, n_jobs=1),
    C("power", "jobs", ["power", "--n", "100", "--jobs", "2"], POWER, n_jobs=2),
    C("power", "scheduler", POWER_ARGV + ["--scheduler", "tcp://h:1"], POWER, backend="dask",
      scheduler="tcp://h:1"),
    C("power", "scheduler", POWER_ARGV, POWER, backend="joblib", scheduler=None),
    C("power", "clusters", ["power", "--clusters", "10", "--cluster-size", "20", "--icc", "0.1",
                            "--reps", "10"], POWER, n_grid=None,
      clusters=ClusterDesign(0.1, clusters=10, size=20)),
    C("power", "clusters", POWER_ARGV + ["--clusters", "5", "--icc", "0.1"], POWER,
      n_grid=[100], clusters=ClusterDesign(0.1, clusters=5)),
    C("power", "cluster_size", POWER_ARGV + ["--cluster-size", "5-60", "--icc", "0.1"], POWER,
      clusters=ClusterDesign(0.1, size=(5, 60))),
    C("power", "cluster_size", POWER_ARGV + ["--cluster-size", "25", "--icc", "0.1"], POWER,
      clusters=ClusterDesign(0.1, size=25)),
    C("power", "cluster_size", POWER_ARGV, POWER, clusters=None),
    C("power", "icc", POWER_ARGV + ["--clusters", "5", "--icc", "0"], POWER,
      clusters=ClusterDesign(0.0, clusters=5)),
    C("power", "icc", POWER_ARGV + ["--clusters", "5", "--icc", "0.5"], POWER,
      clusters=ClusterDesign(0.5, clusters=5)),
    C("power", "missing_rate", POWER_ARGV + ["--missing-rate", "0.06"], POWER,
      missing=MissingDesign(0.06, "mcar")),
    C("power", "missing_rate", POWER_ARGV, POWER, missing=None),
    C("power", "missing_mechanism", POWER_ARGV + ["--missing-rate", "0.1",
                                                  "--missing-mechanism", "mar"], POWER,
      missing=MissingDesign(0.1, "mar")),
    C("power", "missing_mechanism", POWER_ARGV + ["--missing-rate", "0.1",
                                                  "--missing-mechanism", "mcar"], POWER,
      missing=MissingDesign(0.1, "mcar")),
    # reproduce
    C("reproduce", "lang", REPRO + ["--lang", "zh"], REPORT, lang="zh"),
    C("reproduce", "lang", REPRO + ["--lang", "en"], REPORT, lang="en"),
    C("reproduce", "n_boot", REPRO, REPORT, n_boot=10),
    C("reproduce", "n_boot", REPRO + ["--n-boot", "333"], REPORT, n_boot=333),
    C("reproduce", "power_reps", REPRO, REPORT, power_reps=10),
    C("reproduce", "power_reps", REPRO + ["--power-reps", "44"], REPORT, power_reps=44),
    C("reproduce", "jobs", REPRO, REPORT, n_jobs=1),
    C("reproduce", "jobs", REPRO + ["--jobs", "2"], REPORT, n_jobs=2),
    # report (any model)
    C("report", "model", OWN, BUILD, model="h1_h5"),
    C("report", "model", ["report", "cfa", "--out", "rep"], BUILD, model="cfa"),
    C("report", "group", OWN + ["--group", "school"], BUILD, group="school"),
    C("report", "group", OWN, BUILD, group=None),
    C("report", "hypotheses", OWN + ["--hypotheses", "h.yaml"], BUILD, hypotheses="h.yaml"),
    C("report", "hypotheses", OWN, BUILD, hypotheses=None),
    C("report", "labels", OWN + ["--labels", "l.yaml"], BUILD, labels="l.yaml"),
    C("report", "labels", OWN, BUILD, labels=None),
    C("report", "lang", OWN + ["--lang", "zh"], BUILD, lang="zh"),
    C("report", "lang", OWN, BUILD, lang="en"),
    C("report", "format", OWN + ["--format", "md,docx"], BUILD, formats=("md", "docx")),
    C("report", "format", OWN, BUILD, formats=("html", "md")),
    C("report", "style", OWN + ["--style", "three-line"], BUILD, style="three-line"),
    C("report", "style", OWN, BUILD, style="apa"),
    C("report", "n_boot", OWN, BUILD, n_boot=10),
    C("report", "n_boot", OWN + ["--n-boot", "250"], BUILD, n_boot=250),
    C("report", "seed", OWN + ["--seed", "9"], BUILD, seed=9),
    C("report", "seed", OWN, BUILD, seed=20231124),
    C("report", "jobs", OWN, BUILD, n_jobs=1),
    C("report", "jobs", OWN + ["--jobs", "2"], BUILD, n_jobs=2),
    # fit
    C("fit", "model", ["fit", "h1_h5"], FIT, model="h1_h5"),
    C("fit", "model", ["fit", "revised"], FIT, model="revised"),
    C("fit", "estimator", ["fit", "h1_h5", "--estimator", "mlr"], FIT, estimator="MLR"),
    C("fit", "estimator", ["fit", "h1_h5", "--estimator", "GLS"], FIT, estimator="GLS"),
    C("fit", "group", ["fit", "h1_h5", "--group", "school"], FIT, group="school"),
    C("fit", "group", ["fit", "h1_h5", "--group", "地区"], FIT, group="地区"),
    C("fit", "group_equal", ["fit", "h1_h5", "--group", "g", "--group-equal", "loadings"], FIT,
      group_equal=("loadings",)),
    C("fit", "group_equal", ["fit", "h1_h5", "--group", "g", "--group-equal",
                             "loadings,intercepts"], FIT, group_equal=("loadings", "intercepts")),
    C("fit", "group_partial", ["fit", "h1_h5", "--group", "g", "--group-equal", "loadings",
                               "--group-partial", "CA=~ca2"], FIT,
      group_partial=(("CA", "=~", "ca2"),)),
    C("fit", "group_partial", ["fit", "h1_h5", "--group", "g", "--group-equal", "intercepts",
                               "--group-partial", "CA=~ca2,ca1~1"], FIT,
      group_partial=(("CA", "=~", "ca2"), ("ca1", "~1", ""))),
    C("fit", "parameterization", ["fit", "h1_h5", "--parameterization", "theta"], FIT,
      parameterization="theta"),
    C("fit", "parameterization", ["fit", "h1_h5", "--parameterization", "delta"], FIT,
      parameterization="delta"),
    C("fit", "meanstructure", ["fit", "h1_h5", "--meanstructure"], FIT, meanstructure=True),
    C("fit", "meanstructure", ["fit", "h1_h5"], FIT, meanstructure=None),
    # invariance
    C("invariance", "model", ["invariance", "cfa", "--data", "grouped.csv", "--group", "school"],
      "semcluster.analysis.invariance:measurement_invariance", model="cfa"),
    C("invariance", "model", ["invariance", "h1_h5", "--data", "grouped.csv", "--group",
                              "school"],
      "semcluster.analysis.invariance:measurement_invariance", model="h1_h5"),
    C("invariance", "group", ["invariance", "cfa", "--data", "grouped.csv", "--group", "school"],
      "semcluster.analysis.invariance:measurement_invariance", group="school"),
    C("invariance", "group", ["invariance", "cfa", "--data", "grouped.csv", "--group", "region"],
      "semcluster.analysis.invariance:measurement_invariance", group="region"),
    C("invariance", "group_partial", ["invariance", "cfa", "--data", "grouped.csv", "--group",
                                      "school", "--group-partial", "CA=~ca2"],
      "semcluster.analysis.invariance:measurement_invariance", group_partial=(("CA", "=~", "ca2"),)),
    C("invariance", "group_partial", ["invariance", "cfa", "--data", "grouped.csv", "--group",
                                      "school"],
      "semcluster.analysis.invariance:measurement_invariance", group_partial=None),
    # method-bias
    C("method-bias", "model", ["method-bias", "cfa"], METHOD_BIAS, model="cfa"),
    C("method-bias", "model", ["method-bias", "h1_h5"], METHOD_BIAS, model="h1_h5"),
    C("method-bias", "estimator", ["method-bias", "cfa", "--estimator", "mlr"], METHOD_BIAS,
      estimator="MLR"),
    C("method-bias", "estimator", ["method-bias", "cfa"], METHOD_BIAS, estimator=None),
    C("method-bias", "lang", ["method-bias", "cfa", "--lang", "zh"],
      "semcluster.analysis.method_bias:MethodBiasResult.summary", lang="zh"),
    C("method-bias", "lang", ["method-bias", "cfa"],
      "semcluster.analysis.method_bias:MethodBiasResult.summary", lang="en"),
    # measure
    C("measure", "model", ["measure", "cfa", "--parallel-iter", "10"],
      "semcluster.analysis.measurement:measurement_report", model="cfa"),
    C("measure", "model", ["measure", "revised", "--parallel-iter", "10"],
      "semcluster.analysis.measurement:measurement_report", model="revised"),
    C("measure", "parallel_iter", ["measure", "--parallel-iter", "10"],
      "semcluster.analysis.measurement:measurement_report", parallel_iter=10),
    C("measure", "parallel_iter", ["measure", "--parallel-iter", "321"],
      "semcluster.analysis.measurement:measurement_report", parallel_iter=321),
    C("measure", "alpha_available", ["measure", "--alpha-available", "--parallel-iter", "10"],
      "semcluster.analysis.measurement:measurement_report", alpha_available=True),
    C("measure", "alpha_available", ["measure", "--parallel-iter", "10"],
      "semcluster.analysis.measurement:measurement_report", alpha_available=False),
    C("measure", "group", ["measure", "cfa", "--data", "grouped.csv", "--group", "school",
                           "--parallel-iter", "10"],
      "semcluster.analysis.measurement:measurement_report", group="school"),
    C("measure", "group", ["measure", "cfa", "--data", "grouped.csv", "--group", "region",
                           "--parallel-iter", "10"],
      "semcluster.analysis.measurement:measurement_report", group="region"),
    C("measure", "group", ["measure", "--parallel-iter", "10"],
      "semcluster.analysis.measurement:measurement_report", group=None),
    C("measure", "n_boot", MEASURE_CI + ["--n-boot", "10"], HTMT_BOOT, n_boot=10),
    C("measure", "n_boot", MEASURE_CI + ["--n-boot", "2500"], HTMT_BOOT, n_boot=2500),
    C("measure", "seed", MEASURE_CI + ["--seed", "7"], HTMT_BOOT, seed=7),
    C("measure", "seed", MEASURE_CI, HTMT_BOOT, seed=20231124),
    C("measure", "jobs", MEASURE_CI + ["--jobs", "3"], HTMT_BOOT, n_jobs=3),
    C("measure", "jobs", MEASURE_CI, HTMT_BOOT, n_jobs=1),
    # modindices
    C("modindices", "model", ["modindices", "h1_h5"], FIT, model="h1_h5"),
    C("modindices", "model", ["modindices", "revised"], FIT, model="revised"),
    C("modindices", "top", ["modindices", "h1_h5", "--top", "1"],
      "semcluster.measures.modindices:largest_residuals", k=1),
    C("modindices", "top", ["modindices", "h1_h5", "--top", "7"],
      "semcluster.measures.modindices:largest_residuals", k=7),
    # compare, compare-models
    C("compare", "alpha", ["compare", "--alpha", "0.01"],
      "semcluster.study.regression_vs_sem:compare_methods", alpha=0.01),
    C("compare", "alpha", ["compare", "--alpha", "0.1"],
      "semcluster.study.regression_vs_sem:compare_methods", alpha=0.1),
    C("compare-models", "models", ["compare-models", "h1_h5", "revised"],
      "semcluster.analysis.model_comparison:compare_models", models=["h1_h5", "revised"]),
    C("compare-models", "models", ["compare-models", "one_factor", "second_order", "h1_h5"],
      "semcluster.analysis.model_comparison:compare_models",
      models=["one_factor", "second_order", "h1_h5"]),
    C("compare-models", "estimator", ["compare-models", "h1_h5", "revised", "--estimator", "mlr"],
      "semcluster.analysis.model_comparison:compare_models", estimator="MLR"),
    C("compare-models", "estimator", ["compare-models", "h1_h5", "revised", "--estimator", "ML"],
      "semcluster.analysis.model_comparison:compare_models", estimator="ML"),
    # diagram
    C("diagram", "source", DIAG, FIT, model="h1_h5"),
    C("diagram", "source", ["diagram", "revised", "--out", "d.png"], FIT, model="revised"),
    C("diagram", "kind", DIAG + ["--kind", "conceptual"], "semcluster.output.diagrams:conceptual_diagram",
      model="h1_h5"),
    C("diagram", "kind", DIAG + ["--kind", "measurement"],
      "semcluster.output.diagrams:measurement_diagram"),
    C("diagram", "kind", DIAG + ["--kind", "compare"], "semcluster.output.diagrams:compare_diagram"),
    C("diagram", "kind", DIAG + ["--kind", "tested"], "semcluster.output.diagrams:tested_diagram"),
    C("diagram", "lang", DIAG + ["--lang", "zh"], "semcluster.output.diagrams:tested_diagram", lang="zh"),
    C("diagram", "lang", DIAG + ["--lang", "en", "--kind", "conceptual"],
      "semcluster.output.diagrams:conceptual_diagram", lang="en"),
    C("diagram", "group", ["diagram", "grouped_fit.json", "--group", "west", "--out", "d.png"],
      "semcluster.output.diagrams:tested_diagram", group="west"),
    C("diagram", "group", ["diagram", "grouped_fit.json", "--group", "east", "--kind",
                           "measurement", "--out", "d.png"],
      "semcluster.output.diagrams:measurement_diagram", group="east"),
    C("diagram", "alpha", DIAG + ["--alpha", "0.01"], "semcluster.output.diagrams:tested_diagram",
      alpha=0.01),
    C("diagram", "alpha", DIAG + ["--alpha", "0.1", "--kind", "measurement"],
      "semcluster.output.diagrams:measurement_diagram", alpha=0.1),
    C("diagram", "hide_ns", DIAG + ["--hide-ns"], "semcluster.output.diagrams:tested_diagram",
      hide_ns=True),
    C("diagram", "hide_ns", DIAG, "semcluster.output.diagrams:tested_diagram", hide_ns=False),
    C("diagram", "covariances", DIAG + ["--covariances"], "semcluster.output.diagrams:tested_diagram",
      covariances=True),
    C("diagram", "covariances", DIAG, "semcluster.output.diagrams:tested_diagram", covariances=False),
    C("diagram", "labels", DIAG + ["--labels", "lab.yaml"], "semcluster.data.labels:Labels.from_yaml",
      path="lab.yaml"),
    C("diagram", "labels", DIAG + ["--labels", "标签.yaml", "--kind", "conceptual"],
      "semcluster.data.labels:Labels.from_yaml", path="标签.yaml"),
    # fit --labels, measure --labels (the labels file is read before the fit)
    C("fit", "labels", ["fit", "h1_h5", "--labels", "lab.yaml"],
      "semcluster.data.labels:Labels.from_yaml", path="lab.yaml"),
    C("fit", "labels", ["fit", "cfa", "--labels", "标签.yaml"],
      "semcluster.data.labels:Labels.from_yaml", path="标签.yaml"),
    C("measure", "labels", ["measure", "cfa", "--labels", "lab.yaml"],
      "semcluster.data.labels:Labels.from_yaml", path="lab.yaml"),
    C("measure", "labels", ["measure", "cfa", "--labels", "m/标签.yml"],
      "semcluster.data.labels:Labels.from_yaml", path="m/标签.yml"),
    # scores
    C("scores", "estimator", ["scores", "h1_h5", "--out", "s.csv", "--estimator", "mlr"], FIT,
      estimator="MLR"),
    C("scores", "estimator", ["scores", "h1_h5", "--out", "s.csv", "--estimator", "GLS"], FIT,
      estimator="GLS"),
    C("scores", "method", ["scores", "h1_h5", "--out", "s.csv", "--method", "Bartlett"],
      "semcluster.result.result:SEMResult.predict", method="bartlett"),
    C("scores", "method", ["scores", "h1_h5", "--out", "s.csv"],
      "semcluster.result.result:SEMResult.predict", method="regression"),
    C("scores", "se", ["scores", "h1_h5", "--out", "s.csv", "--se"],
      "semcluster.result.result:SEMResult.predict", se=True),
    C("scores", "se", ["scores", "h1_h5", "--out", "s.csv"],
      "semcluster.result.result:SEMResult.predict", se=False),
    # simulate
    C("simulate", "n", ["simulate", "--n", "20", "--out", "x.csv"], SIMULATE, n=20),
    C("simulate", "n", ["simulate", "--n", "3000", "--out", "x.csv"], SIMULATE, n=3000),
    C("simulate", "seed", ["simulate", "--seed", "9", "--out", "x.csv"], SIMULATE, seed=9),
    C("simulate", "seed", ["simulate", "--seed", "77", "--out", "x.csv"], SIMULATE, seed=77),
    C("simulate", "match_published", ["simulate", "--n", "50", "--seed", "4",
                                      "--match-published", "--out", "x.csv"],
      "semcluster.study.synthetic:match_published", seed=4, n=50),
    C("simulate", "match_published", ["simulate", "--seed", "8", "--match-published",
                                      "--out", "x.csv"],
      "semcluster.study.synthetic:paper_synthetic", seed=8),
    C("simulate", "clusters", ["simulate", "--clusters", "4", "--cluster-size", "6", "--icc",
                               "0.1", "--out", "x.csv"], SIMULATE, n=None,
      clusters=ClusterDesign(0.1, clusters=4, size=6)),
    C("simulate", "clusters", ["simulate", "--n", "90", "--clusters", "9", "--icc", "0.2",
                               "--out", "x.csv"], SIMULATE, n=90,
      clusters=ClusterDesign(0.2, clusters=9)),
    C("simulate", "cluster_size", ["simulate", "--n", "100", "--cluster-size", "5-60", "--icc",
                                   "0.1", "--out", "x.csv"], SIMULATE,
      clusters=ClusterDesign(0.1, size=(5, 60))),
    C("simulate", "cluster_size", ["simulate", "--n", "100", "--cluster-size", "20", "--icc",
                                   "0.1", "--out", "x.csv"], SIMULATE,
      clusters=ClusterDesign(0.1, size=20)),
    C("simulate", "icc", ["simulate", "--clusters", "4", "--cluster-size", "6", "--icc", "0",
                          "--out", "x.csv"], SIMULATE, clusters=ClusterDesign(0.0, 4, 6)),
    C("simulate", "icc", ["simulate", "--clusters", "4", "--cluster-size", "6", "--icc",
                          "0.35", "--out", "x.csv"], SIMULATE, clusters=ClusterDesign(0.35, 4, 6)),
    C("simulate", "missing_rate", ["simulate", "--missing-rate", "0.06", "--out", "x.csv"],
      SIMULATE, missing=MissingDesign(0.06, "mcar"), clusters=None),
    C("simulate", "missing_rate", ["simulate", "--missing-rate", "0.2", "--out", "x.csv"],
      SIMULATE, missing=MissingDesign(0.2, "mcar")),
    C("simulate", "missing_mechanism", ["simulate", "--missing-rate", "0.1",
                                        "--missing-mechanism", "mar", "--out", "x.csv"],
      SIMULATE, missing=MissingDesign(0.1, "mar")),
    C("simulate", "missing_mechanism", ["simulate", "--missing-rate", "0.1",
                                        "--missing-mechanism", "mcar", "--out", "x.csv"],
      SIMULATE, missing=MissingDesign(0.1, "mcar")),
    # audit
    C("audit", "published", ["audit", "--published", "pub.yaml"],
      "semcluster.study.audit:load_published", path="pub.yaml"),
    C("audit", "published", ["audit", "--published", "表.json"],
      "semcluster.study.audit:load_published", path="表.json"),
    # app (Shiny is not started: its serve() is recorded)
    C("app", "port", ["app", "--port", "8123", "--no-browser"], "semcluster.app:serve",
      port=8123),
    C("app", "port", ["app", "--no-browser"], "semcluster.app:serve", port=None),
    C("app", "host", ["app", "--host", "0.0.0.0", "--no-browser"], "semcluster.app:serve",
      host="0.0.0.0"),
    C("app", "host", ["app", "--no-browser"], "semcluster.app:serve", host="127.0.0.1"),
    C("app", "no_browser", ["app", "--no-browser"], "semcluster.app:serve", open_browser=False),
    C("app", "no_browser", ["app"], "semcluster.app:serve", open_browser=True),
    C("app", "max_jobs", ["app", "--max-jobs", "1", "--no-browser"],
      "semcluster.app:serve", max_jobs=1),
    C("app", "max_jobs", ["app", "--max-jobs", "4", "--no-browser"],
      "semcluster.app:serve", max_jobs=4),
    C("app", "max_sessions", ["app", "--max-sessions", "1", "--no-browser"],
      "semcluster.app:serve", max_sessions=1),
    C("app", "max_sessions", ["app", "--max-sessions", "20", "--no-browser"],
      "semcluster.app:serve", max_sessions=20),
    C("app", "max_upload_mb", ["app", "--max-upload-mb", "5", "--no-browser"],
      "semcluster.app:serve", max_upload_mb=5.0),
    C("app", "max_upload_mb", ["app", "--max-upload-mb", "0.5", "--no-browser"],
      "semcluster.app:serve", max_upload_mb=0.5),
]

#: options whose effect is checked on the output of a real run (tests below)
OUTPUT_CHECKED = {("fit", "standardized"), ("simulate", "report"), ("bootstrap", "seed"),
                  ("bootstrap", "n_boot"), ("bootstrap", "kind"), ("scores", "se"),
                  ("scores", "method"), ("simulate", "n"), ("simulate", "seed"),
                  ("scores", "model"), ("measure", "htmt_ci")}


def test_every_option_of_every_command_has_a_plumbing_case():
    """Walk the parsers: every option and positional argument has cases here (or is a data
    option, covered for every command above, or names an output file)."""
    missing = _options_without_case()
    assert not missing, f"options without a plumbing case: {missing}"


def test_an_option_added_without_a_case_is_reported(monkeypatch):
    import sys

    real = build_parser

    def with_title():
        parser = real()
        sub = next(a for a in parser._actions if a.dest == "command")
        sub.choices["fit"].add_argument("--title", metavar="TEXT")
        return parser

    monkeypatch.setattr(sys.modules[__name__], "build_parser", with_title)
    assert _options_without_case() == ["fit --title"]


def _options_without_case() -> list:
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    have = {(c, d) for c, d, *_ in OPTION_CASES}
    missing = []
    for cmd, p in sub.choices.items():
        for a in p._actions:
            if a.dest in ("help",) or a.dest in DATA_DESTS or (_is_path(a) and _is_output(a)):
                continue
            if (cmd, a.dest) not in have and (cmd, a.dest) not in OUTPUT_CHECKED:
                missing.append(f"{cmd} {a.option_strings[0] if a.option_strings else a.dest}")
    return missing


def test_every_option_case_has_two_values_that_differ():
    """A command that passed a constant would pass a single case; two different expected
    values per option cannot both hold for a constant."""
    by_option: dict = {}
    for cmd, dest, argv, target, expected in OPTION_CASES:
        by_option.setdefault((cmd, dest), set()).add(repr((target, sorted(expected.items()))))
    few = {k: v for k, v in by_option.items() if len(v) < 2}
    assert not few, few


@pytest.mark.parametrize("cmd, dest, argv, target, expected",
                         [pytest.param(*c, id=" ".join(c[2])) for c in OPTION_CASES])
def test_option_reaches_the_library(folder, monkeypatch, cmd, dest, argv, target, expected):
    if cmd == "app":
        pytest.importorskip("shiny")
    if "grouped_fit.json" in argv:          # a two-group result to draw
        from semcluster.fitting import fit

        Path("grouped_fit.json").write_text(
            fit("one_factor", "grouped.csv", group="school").to_json())
    args = called_with(monkeypatch, argv, target)
    for name, value in expected.items():
        got = args[name]
        if isinstance(value, float):
            assert got == pytest.approx(value, rel=1e-15), name
        else:
            assert got == value, (name, got)


def test_scores_model_argument_reaches_the_fit(folder, monkeypatch):
    """``scores`` reads the model itself (a ModelSpec goes to fit): its name is the model's."""
    for name in ("h1_h5", "revised"):
        args = called_with(monkeypatch, ["scores", name, "--out", "s.csv"], FIT)
        assert args["model"].name == name
        monkeypatch.undo()


@pytest.mark.parametrize("source, kind, target", [
    ("r.json", "tested", "semcluster.output.diagrams:as_view"),
    ("h1_h5", "conceptual", "semcluster.output.diagrams:conceptual_diagram")])
@pytest.mark.parametrize("data_option", [["--data", "survey.csv"], ["--scale", "1", "7"],
                                         ["--missing", "fiml"]])
def test_diagram_refuses_data_options_it_would_not_use(folder, monkeypatch, capsys, source,
                                                       kind, target, data_option):
    """A fitted result is drawn as fitted and the conceptual diagram has no data: a data option
    there is an error, not silently ignored; without it the diagram is drawn."""
    Path("r.json").write_text("{}")
    argv = ["diagram", source, "--kind", kind, "--out", "d.png"]
    assert main(argv + data_option) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "not used by" in err
    called_with(monkeypatch, argv, target)


# ---------------------------------------------------------------------------------------------
# 3. options checked on what a real (small) run writes
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("seed, kind, n_boot", [(11, "nonparametric", 10),
                                                (4242, "bollen-stine", 12)])
def test_bootstrap_json_records_the_seed_kind_and_resamples_given(folder, capsys, seed, kind,
                                                                  n_boot):
    code = main(["bootstrap", "h1_h5", "--n-boot", str(n_boot), "--kind", kind, "--seed",
                 str(seed), "--jobs", "1", "--no-bca", "--json", "b.json"])
    assert code == 0
    out = capsys.readouterr().out
    summary = json.loads(Path("b.json").read_text())["summary"]
    assert (summary["seed"], summary["kind"], summary["n_boot"]) == (seed, kind, n_boot)
    assert f"seed {seed}" in out and f"{n_boot} replicates" in out
    assert (summary["bollen_stine_pvalue"] is not None) == (kind == "bollen-stine")


def test_bootstrap_draws_follow_the_seed(folder, capsys):
    """The same seed gives the same intervals, another seed other intervals: the seed is used,
    not only printed."""
    tables = []
    for seed in (1, 1, 2):
        assert main(["bootstrap", "h1_h5", "--n-boot", "10", "--seed", str(seed), "--jobs", "1",
                     "--no-bca", "--csv", f"b{len(tables)}.csv"]) == 0
        tables.append(pd.read_csv(f"b{len(tables)}.csv"))
    capsys.readouterr()
    pd.testing.assert_frame_equal(tables[0], tables[1])
    assert not tables[0].equals(tables[2])


@pytest.mark.parametrize("standardized", [True, False])
def test_fit_standardized_shows_the_standardized_columns(folder, capsys, standardized):
    argv = ["fit", "h1_h5"] + (["--standardized"] if standardized else [])
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert ("Std.all" in out) == standardized


@pytest.mark.parametrize("n, seed", [(12, 3), (25, 4)])
def test_simulate_writes_the_sample_of_the_size_and_seed_given(folder, capsys, n, seed):
    from semcluster.study.synthetic import simulate_items

    assert main(["simulate", "--n", str(n), "--seed", str(seed), "--out", "sim.csv"]) == 0
    out = capsys.readouterr().out
    written = pd.read_csv("sim.csv")
    assert len(written) == n and f"seed {seed}" in out
    expected = simulate_items(n, seed)
    assert (written.to_numpy() == expected.to_numpy()).all()
    other = simulate_items(n, seed + 1)
    assert not (written.to_numpy() == other.to_numpy()).all()


@pytest.mark.parametrize("report", [True, False])
def test_simulate_report_prints_the_calibration_report(folder, capsys, report):
    argv = ["simulate", "--n", "20", "--out", "sim.csv"] + (["--report"] if report else [])
    assert main(argv) == 0
    assert ("figures match at printed precision" in capsys.readouterr().out) == report


@pytest.mark.parametrize("method, se", [("regression", True), ("bartlett", False)])
def test_scores_csv_has_the_method_and_standard_errors_asked_for(folder, capsys, method, se):
    from semcluster.fitting import fit

    argv = ["scores", "h1_h5", "--out", "s.csv", "--method", method] + (["--se"] if se else [])
    assert main(argv) == 0
    assert f"{method} scores" in capsys.readouterr().out
    written = pd.read_csv("s.csv")
    assert any(c.startswith("se_") for c in written.columns) == se
    res = fit("h1_h5")
    for m, same in ((method, True), ({"regression": "bartlett"}.get(method, "regression"),
                                     False)):
        lib = res.predict(method=m)
        close = (abs(written[list(lib.columns)].to_numpy() - lib.to_numpy()) < 1e-6).all()
        assert close == same, m


@pytest.mark.parametrize("argv, recorded, freed", [
    (["--group", "school", "--group-equal", "loadings", "--group-partial", "CA=~ca2",
      "--estimator", "ML", "--missing", "listwise"],
     {"group_column": "school", "group_equal": ["loadings"], "group_partial": ["CA=~ca2"],
      "estimator": "ML", "missing": "listwise", "nobs": 159,
      "group_nobs": {"east": 80, "west": 79}}, {"ca2"}),
    (["--group", "region", "--group-equal", "loadings,intercepts", "--estimator", "mlr",
      "--missing", "fiml"],
     {"group_column": "region", "group_equal": ["loadings", "intercepts"], "group_partial": [],
      "estimator": "MLR", "missing": "fiml", "nobs": 160,
      "group_nobs": {"north": 80, "south": 80}}, set()),
])
def test_fit_json_records_the_group_estimator_and_missing_options(folder, capsys, argv,
                                                                  recorded, freed):
    """The multi-group result JSON records the options given (on data with one empty answer,
    in row 4 of school 'west' and region 'north': listwise drops that row, FIML keeps it), and
    the loadings are held equal across the groups except those freed by --group-partial."""
    assert main(["fit", "cfa", "--data", "grouped_hole.csv", *argv, "--json", "r.json"]) == 0
    capsys.readouterr()
    js = json.loads(Path("r.json").read_text())
    assert {k: js[k] for k in recorded} == recorded
    est = pd.DataFrame(js["estimates"])
    loadings = est[est.op == "=~"].pivot_table(index="rhs", columns="group", values="est")
    assert loadings.shape[1] == 2
    differ = set(loadings.index[(loadings.iloc[:, 0] - loadings.iloc[:, 1]).abs() > 1e-6])
    assert differ == freed


@pytest.mark.parametrize("estimator", ["GLS", "MLR"])
def test_fit_json_records_the_estimator(folder, capsys, estimator):
    assert main(["fit", "h1_h5", "--estimator", estimator.lower(), "--json", "r.json"]) == 0
    capsys.readouterr()
    assert json.loads(Path("r.json").read_text())["estimator"] == estimator


@pytest.mark.parametrize("data, mapping", [("survey.csv", "m.yaml"), ("grouped.csv", None)])
def test_reproduce_gives_the_report_its_inputs_to_protect(folder, monkeypatch, capsys, data,
                                                          mapping):
    """The report folder's own guard (build_report checks every file it writes) is told the
    data and mapping files, so that none of the report's files can replace them."""
    if mapping:
        Path(mapping).write_text("scale: [1, 7]\n")
    argv = REPRO + ["--data", data] + (["--map", mapping] if mapping else [])
    args = called_with(monkeypatch, argv, REPORT)
    assert tuple(args["extra_inputs"]) == (data, mapping)
    assert args["out"] == "rep"


def test_data_options_of_a_namespace_without_them_are_the_defaults():
    """A command without data options (or a namespace built by hand) gives the library's
    defaults, not values of its own; a --careless-csv alone counts as a data option given."""
    import argparse

    from semcluster.cli._common import data_options_from_args, data_options_given
    from semcluster.data.survey import DataOptions

    bare = argparse.Namespace(data=None)
    assert data_options_from_args(bare) == DataOptions()
    assert not data_options_given(bare)
    assert data_options_given(argparse.Namespace(data=None, careless_csv="flagged.csv"))
    assert not data_options_given(argparse.Namespace(data=None, careless_csv=None))


def test_read_data_keeps_the_columns_asked_for_and_counts_the_free_parameters(folder, capsys):
    """read_data hands keep= (a group column beside the items) and n_free= (the rows-per-
    parameter check) to read_survey."""
    import warnings as _warnings

    from semcluster.cli._common import read_data

    ns = build_parser().parse_args(["fit", "cfa", "--data", "grouped.csv"])
    items = ["ca1", "ca2", "ca3", "ca4"]
    with _warnings.catch_warnings():
        _warnings.simplefilter("ignore")
        X, rep = read_data(ns, items, keep=["school"])
        assert "school" in X.columns
        X, rep = read_data(ns, items)
        assert "school" not in X.columns
        _, few = read_data(ns, items, n_free=10_000)
        _, enough = read_data(ns, items, n_free=10)
    capsys.readouterr()
    assert any("10000 free parameters" in w for w in few.warnings)
    assert not any("free parameters" in w for w in enough.warnings)


@pytest.mark.parametrize("htmt_ci", [True, False])
def test_measure_htmt_ci_adds_the_bootstrap_table(folder, capsys, htmt_ci):
    argv = ["measure", "cfa", "--parallel-iter", "10", "--n-boot", "10", "--out", "m"]
    assert main(argv + (["--htmt-ci"] if htmt_ci else [])) == 0
    printed = capsys.readouterr().out
    assert ("HTMT inference" in printed) == htmt_ci
    written = Path("m", "htmt_bootstrap.csv")
    assert written.exists() == htmt_ci
    if htmt_ci:
        table = pd.read_csv(written)
        assert len(table) == 2 * 15 and (table.n_boot == 10).all()   # 6 constructs: 15 pairs
