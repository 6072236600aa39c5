"""Every argument checked at the edge: on the command line (argparse's one-line error, exit 2,
with the allowed range) and in the library (OptionError, a ValueError; InputTypeError, a
TypeError).  Also: malformed published-tables files for ``audit --published``, and the model
parser's scaling (linear, not quadratic, in the number of latent variables) and size limit."""
from __future__ import annotations

import copy
import json
import time

import pytest

import semcluster
from semcluster import arguments
from semcluster.cli import build_parser, main
from semcluster.errors import DataError, InputTypeError, ModelSyntaxError, OptionError

# --------------------------------------------------------------------------------------------
# command line: refused values
# --------------------------------------------------------------------------------------------
BAD_CLI = [
    # nonsense that used to be accepted
    (["power", "--alpha", "2"], "--alpha", "between 0 and 1"),
    (["power", "--alpha", "-1"], "--alpha", "between 0 and 1"),
    (["power", "--alpha", "0"], "--alpha", "between 0 and 1"),
    (["power", "--alpha", "1"], "--alpha", "between 0 and 1"),
    (["power", "--target", "5"], "--target", "between 0 and 1"),
    (["power", "--effect-scale", "0"], "--effect-scale", "greater than 0"),
    (["power", "--effect-scale", "-0.5"], "--effect-scale", "greater than 0"),
    (["diagram", "cfa", "--out", "x.png", "--alpha", "2"], "--alpha", "between 0 and 1"),
    (["compare", "--alpha", "1.5"], "--alpha", "between 0 and 1"),
    (["modindices", "cfa", "--top", "-5"], "--top", "from 1 to"),
    (["modindices", "cfa", "--top", "0"], "--top", "from 1 to"),
    # used to end in a traceback
    (["bootstrap", "cfa", "--seed", "-1"], "--seed", "from 0 to 4,294,967,295"),
    (["power", "--seed", "-1"], "--seed", "from 0 to 4,294,967,295"),
    (["simulate", "--out", "x.csv", "--seed", "-1"], "--seed", "from 0 to 4,294,967,295"),
    (["simulate", "--out", "x.csv", "--seed", "4294967296"], "--seed", "4,294,967,295"),
    (["power", "--n", "1e9"], "--n", "from 2 to 1,000,000"),
    (["power", "--n", "1000000000"], "--n", "from 2 to 1,000,000"),
    (["power", "--n", "100", "10.5"], "--n", "not a whole number"),
    (["simulate", "--out", "x.csv", "--n", "1e9"], "--n", "from 2 to 1,000,000"),
    (["simulate", "--out", "x.csv", "--n", "1"], "--n", "from 2 to 1,000,000"),
    (["power", "--effect-scale", "nan"], "--effect-scale", "greater than 0"),
    (["power", "--effect-scale", "inf"], "--effect-scale", "greater than 0"),
    (["measure", "--parallel-iter", "0"], "--parallel-iter", "from 10 to 100,000"),
    # no upper bound before
    (["bootstrap", "cfa", "--n-boot", "1000000000"], "--n-boot", "from 10 to 100,000"),
    (["bootstrap", "cfa", "--n-boot", "9"], "--n-boot", "from 10 to 100,000"),
    (["power", "--reps", "1000000000"], "--reps", "from 10 to 100,000"),
    (["reproduce", "--n-boot", "100001"], "--n-boot", "from 10 to 100,000"),
    (["reproduce", "--power-reps", "0"], "--power-reps", "from 10 to 100,000"),
    (["bootstrap", "cfa", "--jobs", "0"], "--jobs", "-1 (all cores)"),
    (["power", "--jobs", "-2"], "--jobs", "-1"),
    # not numbers at all
    (["bootstrap", "cfa", "--n-boot", "many"], "--n-boot", "not a whole number"),
    (["power", "--alpha", "five percent"], "--alpha", "not a number"),
]


@pytest.mark.parametrize("argv,option,words", BAD_CLI, ids=[" ".join(a) for a, _, _ in BAD_CLI])
def test_cli_refuses_bad_argument(argv, option, words, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    last = err.strip().splitlines()[-1]
    assert last.startswith(f"semcluster {argv[0]}: error: argument {option}"), last
    assert words in last, last
    assert not list(tmp_path.iterdir()), "nothing is written for a refused argument"


# --------------------------------------------------------------------------------------------
# command line: boundaries accepted
# --------------------------------------------------------------------------------------------
GOOD_CLI = [
    (["power", "--alpha", "0.0001"], "alpha", 0.0001),
    (["power", "--alpha", "0.9999"], "alpha", 0.9999),
    (["power", "--target", "0.99"], "target", 0.99),
    (["power", "--effect-scale", "1e-6"], "effect_scale", 1e-6),
    (["power", "--n", "2", "1000000"], "n", [2, 1_000_000]),
    (["power", "--n", "1e5"], "n", [100_000]),
    (["power", "--reps", "10"], "reps", 10),
    (["power", "--reps", "100000"], "reps", 100_000),
    (["power", "--seed", "0"], "seed", 0),
    (["bootstrap", "cfa", "--seed", "4294967295"], "seed", 4_294_967_295),
    (["bootstrap", "cfa", "--n-boot", "10"], "n_boot", 10),
    (["bootstrap", "cfa", "--n-boot", "100000"], "n_boot", 100_000),
    (["bootstrap", "cfa", "--jobs", "-1"], "jobs", -1),
    (["bootstrap", "cfa", "--jobs", "1"], "jobs", 1),
    (["simulate", "--out", "x.csv", "--n", "2"], "n", 2),
    (["simulate", "--out", "x.csv", "--n", "1000000"], "n", 1_000_000),
    (["measure", "--parallel-iter", "10"], "parallel_iter", 10),
    (["measure", "--parallel-iter", "100000"], "parallel_iter", 100_000),
    (["modindices", "cfa", "--top", "1"], "top", 1),
    (["diagram", "cfa", "--out", "x.png", "--alpha", "0.1"], "alpha", 0.1),
    (["reproduce", "--n-boot", "10", "--power-reps", "100000"], "power_reps", 100_000),
]


@pytest.mark.parametrize("argv,dest,value", GOOD_CLI, ids=[" ".join(a) for a, _, _ in GOOD_CLI])
def test_cli_accepts_boundaries(argv, dest, value):
    args = build_parser().parse_args(argv)
    assert getattr(args, dest) == value
    assert type(getattr(args, dest)) is type(value)


def test_cli_smallest_simulation_runs(tmp_path, capsys):
    out = tmp_path / "two.csv"
    assert main(["simulate", "--n", "2", "--seed", "0", "--out", str(out)]) == 0
    assert len(out.read_text().splitlines()) == 3


def test_cli_library_range_error_is_exit_2(capsys):
    # a value each option allows but the model does not: the library's OptionError -> exit 2
    assert main(["power", "--n", "10", "--reps", "10"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("semcluster: error: every N must exceed") and "\n" not in err


# --------------------------------------------------------------------------------------------
# library: the same rules
# --------------------------------------------------------------------------------------------
BAD_LIB = [
    (semcluster.power_analysis, dict(alpha=2), OptionError, "alpha"),
    (semcluster.power_analysis, dict(alpha=-1), OptionError, "alpha"),
    (semcluster.power_analysis, dict(target=5), OptionError, "target"),
    (semcluster.power_analysis, dict(effect_scale=0), OptionError, "effect_scale"),
    (semcluster.power_analysis, dict(effect_scale=float("nan")), OptionError, "effect_scale"),
    (semcluster.power_analysis, dict(effect_scale=5.0), OptionError, "effect_scale"),
    (semcluster.power_analysis, dict(seed=-1), OptionError, "seed"),
    (semcluster.power_analysis, dict(reps=10 ** 9), OptionError, "reps"),
    (semcluster.power_analysis, dict(reps=9), OptionError, "reps"),
    (semcluster.power_analysis, dict(reps="500"), InputTypeError, "reps"),
    (semcluster.power_analysis, dict(n_grid=[10 ** 9]), OptionError, "n_grid"),
    (semcluster.power_analysis, dict(n_grid=[]), OptionError, "n_grid"),
    (semcluster.power_analysis, dict(n_grid=[100.5]), InputTypeError, "n_grid"),
    (semcluster.power_analysis, dict(n_jobs=0), OptionError, "n_jobs"),
    (semcluster.power_analysis, dict(alpha=True), InputTypeError, "alpha"),
    (semcluster.bootstrap, dict(model="cfa", n_boot=10.5), InputTypeError, "n_boot"),
    (semcluster.bootstrap, dict(model="cfa", n_boot=10 ** 9), OptionError, "n_boot"),
    (semcluster.bootstrap, dict(model="cfa", n_boot=0), OptionError, "n_boot"),
    (semcluster.bootstrap, dict(model="cfa", seed=-1), OptionError, "seed"),
    (semcluster.bootstrap, dict(model="cfa", ci=1.0), OptionError, "ci"),
    (semcluster.bootstrap, dict(model="cfa", kind="jackknife"), OptionError, "kind"),
    (semcluster.simulate_items, dict(n=-3), OptionError, "n"),
    (semcluster.simulate_items, dict(n=10 ** 9), OptionError, "n"),
    (semcluster.simulate_items, dict(n="5"), InputTypeError, "n"),
    (semcluster.simulate_items, dict(n=5, seed=-1), OptionError, "seed"),
    (semcluster.measurement_report, dict(parallel_iter=0), OptionError, "parallel_iter"),
    (semcluster.measurement_report, dict(ci=2), OptionError, "ci"),
    (semcluster.compare_methods, dict(alpha=2), OptionError, "alpha"),
]


@pytest.mark.parametrize("fn,kw,error,name", BAD_LIB,
                         ids=[f"{f.__name__}({kw})" for f, kw, _, _ in BAD_LIB])
def test_library_refuses_bad_argument(fn, kw, error, name):
    with pytest.raises(error) as exc:
        fn(**kw)
    assert isinstance(exc.value, semcluster.SemclusterError)
    assert isinstance(exc.value, ValueError if error is OptionError else TypeError)
    msg = str(exc.value)
    assert msg.startswith(name) and "\n" not in msg


@pytest.mark.parametrize("check,lo,hi", [
    (arguments.n_boot, 10, arguments.MAX_N_BOOT), (arguments.reps, 10, arguments.MAX_REPS),
    (arguments.sample_size, 2, arguments.MAX_N), (arguments.seed, 0, arguments.MAX_SEED),
    (arguments.iterations, 10, arguments.MAX_ITER), (arguments.rows, 1, arguments.MAX_ROWS),
])
def test_library_checks_boundaries(check, lo, hi):
    import numpy as np

    assert check("x", lo) == lo and check("x", hi) == hi
    assert check("x", np.int64(lo)) == lo and check("x", float(hi)) == hi
    for bad in (lo - 1, hi + 1):
        with pytest.raises(OptionError, match=f"x must be from {lo:,} to {hi:,}"):
            check("x", bad)


def test_library_smallest_simulation():
    assert semcluster.simulate_items(1, seed=0).shape == (1, 23)


# --------------------------------------------------------------------------------------------
# audit --published: malformed files
# --------------------------------------------------------------------------------------------
_DEL = object()


def _set(path, value):
    def edit(d):
        *head, last = path
        for k in head:
            d = d[k]
        if value is _DEL:
            del d[last]
        else:
            d[last] = value
    return edit


PUBLISHED = {   # name -> (edit of the good file, or its bytes; a word the message must name)
    "missing_n": (_set(["n"], _DEL), "'n'"),
    "missing_variables": (_set(["variables"], _DEL), "'variables'"),
    "missing_correlations": (_set(["correlations"], _DEL), "'correlations'"),
    "n_text": (_set(["n"], "one hundred"), "'n'"),
    "n_zero": (_set(["n"], 0), "'n'"),
    "n_fraction": (_set(["n"], 160.5), "'n'"),
    "variables_not_list": (_set(["variables"], "CA PA MR KS LO IN"), "'variables'"),
    "variables_duplicate": (_set(["variables"], ["CA", "CA", "MR", "KS", "LO", "IN"]),
                            "'variables'"),
    "correlation_text": (lambda d: d["correlations"][2].__setitem__(0, "high"),
                         "'correlations' row 3"),
    "correlation_null": (lambda d: d["correlations"][3].__setitem__(1, None),
                         "'correlations' row 4"),
    "correlations_ragged": (lambda d: d["correlations"][2].append(0.3), "'correlations' row 3"),
    "means_unknown_variable": (lambda d: d["means"].__setitem__("XX", 4.0), "'XX'"),
    "outcome_unknown": (_set(["regression", "outcome"], "INNOV"), "'regression.outcome'"),
    "beta_unknown_predictor": (lambda d: d["regression"]["beta"].__setitem__("ZZ", 0.1),
                               "'ZZ'"),
    "n_items_zero": (lambda d: d["n_items"].__setitem__("CA", 0), "'n_items'"),
    "sd_text": (lambda d: d["sds"].__setitem__("PA", "1.2x"), "'sds'"),
    "scale_reversed": (_set(["scale"], [7, 1]), "'scale'"),
    "not_utf8": (b'{"n": 160,\n "variables": ["CA\xff", "PA"],\n "correlations": [[], [0.5]]}',
                 ":2: not UTF-8"),
}


@pytest.fixture(scope="module")
def good_published():
    from semcluster.study.audit import paper_published

    return json.loads(json.dumps(paper_published(), default=lambda o: o.item()))


def _published_file(tmp_path, good, name):
    how, word = PUBLISHED[name]
    if isinstance(how, bytes):
        raw = how
    else:
        d = copy.deepcopy(good)
        how(d)
        raw = json.dumps(d).encode()
    f = tmp_path / f"{name}.json"
    f.write_bytes(raw)
    return f, word


def test_good_published_file_is_accepted(tmp_path, good_published, capsys):
    f = tmp_path / "good.json"
    f.write_text(json.dumps(good_published))
    assert main(["audit", "--published", str(f)]) == 0


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_malformed_published_file_exit_2(name, tmp_path, good_published, capsys):
    f, word = _published_file(tmp_path, good_published, name)
    assert main(["audit", "--published", str(f)]) == 2
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err and "\n" not in err, err
    assert err.startswith(f"semcluster: error: {f}"), err
    assert word in err, err
    with pytest.raises(DataError):
        semcluster.audit(json.loads(f.read_bytes().decode("utf-8", "replace"))
                         if name != "not_utf8" else {"n": 160})


# --------------------------------------------------------------------------------------------
# model parser: linear time, early errors, size limit
# --------------------------------------------------------------------------------------------
def _model(n_latent: int) -> str:
    """n_latent factors of three items, each factor regressed on the one before."""
    lines = [f"F{i} =~ x{i}_1 + x{i}_2 + x{i}_3" for i in range(n_latent)]
    lines += [f"F{i} ~ F{i - 1}" for i in range(1, n_latent)]
    return "\n".join(lines) + "\n"


def _parse_time(text: str) -> float:
    best = float("inf")
    for _ in range(3):
        t = time.perf_counter()
        semcluster.parse_model(text)
        best = min(best, time.perf_counter() - t)
    return best


def test_parser_time_is_not_quadratic():
    small, large = _model(100), _model(400)
    assert len(semcluster.parse_model(large).latent) == 400
    ratio = _parse_time(large) / _parse_time(small)
    # 4x the latent variables: ~4x for a linear parser, ~16x for a quadratic one
    assert ratio < 8, f"400 latents take {ratio:.1f}x the time of 100"


def test_error_on_line_4_of_long_model_reported_at_once():
    lines = _model(2500).splitlines()          # ~130 KB
    lines[3] = "F3 =~ x3_1 + + x3_2"
    t = time.perf_counter()
    with pytest.raises(ModelSyntaxError) as exc:
        semcluster.parse_model("\n".join(lines))
    assert time.perf_counter() - t < 0.5
    assert exc.value.line == 4


def test_model_file_over_1_mb_refused_fast(tmp_path, capsys):
    big = tmp_path / "big.lav"
    big.write_text(_model(200) * 250)          # ~2 MB
    assert big.stat().st_size > 2_000_000
    t = time.perf_counter()
    assert main(["fit", str(big)]) == 2
    assert time.perf_counter() - t < 1.0
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "over 1 MB" in err and str(big) in err, err
    with pytest.raises(ModelSyntaxError, match="over 1 MB"):
        semcluster.read_model(big)
