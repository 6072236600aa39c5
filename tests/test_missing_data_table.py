"""docs/missing_data.md tells the truth: its estimator table equals the estimator registry, and
every analysis row's command, run on a small survey with missing answers, does what the row
says (kept by FIML / pairwise / EM / available cases / complete rows, or refused with exit
code 2 and a one-line reason).

A row without a check here, or a check without a row, fails: the table and the code cannot
drift apart silently.
"""
from __future__ import annotations

import re
import shlex
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from semcluster.cli import build_parser, main
from semcluster.estimation.registry import ESTIMATORS
from semcluster.resources import data_path

DOC = Path(__file__).resolve().parents[1] / "docs" / "missing_data.md"
RULES = {"FIML", "pairwise", "EM", "available cases", "complete rows", "refused",
         "not applicable"}


def _table(heading: str) -> list[list[str]]:
    """The rows (cells stripped) of the markdown table under ``## heading``."""
    text = DOC.read_text(encoding="utf-8")
    part = text.split(f"## {heading}\n", 1)[1].split("\n## ", 1)[0]
    lines = [ln for ln in part.splitlines() if ln.startswith("|")]
    rows = [[c.strip() for c in ln.strip("|").split("|")] for ln in lines]
    return [r for r in rows[2:]]                  # without the header and the rule line


ESTIMATOR_ROWS = _table("Estimators")
ANALYSIS_ROWS = {r[0]: {"command": r[1].strip("`"), "rule": r[2].strip("*"), "what": r[3]}
                 for r in _table("Analyses")}


def test_estimator_table_equals_the_registry():
    table = {r[0]: r for r in ESTIMATOR_ROWS}
    assert set(table) == set(ESTIMATORS)
    for name, e in ESTIMATORS.items():
        rules = {x.strip() for x in table[name][1].split(",")}
        assert rules == set(e.missing), name
        auto = e.auto_missing if e.auto_missing in e.missing else "refused"
        assert table[name][2] == auto, name


def test_every_rule_is_one_of_the_defined_ones():
    assert ANALYSIS_ROWS and {r["rule"] for r in ANALYSIS_ROWS.values()} <= RULES


# ---------------------------------------------------------------------------------------------
# the rows, run
# ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def survey(tmp_path_factory):
    """The bundled survey (160 respondents, 23 items) with 4 % of answers blanked at random
    and a two-group column; a two-factor model of eight items for the grouped runs."""
    folder = tmp_path_factory.mktemp("holes")
    df = pd.read_csv(data_path("paper_synthetic.csv"))
    rng = np.random.default_rng(1)
    items = [c for c in df.columns if c != "id"]
    blank = rng.random((len(df), len(items))) < 0.04
    for j, c in enumerate(items):
        df.loc[blank[:, j], c] = np.nan
    df["school"] = ["east", "west"] * (len(df) // 2)
    df.to_csv(folder / "holes.csv", index=False)
    (folder / "small.lav").write_text("CA =~ ca1 + ca2 + ca3 + ca4\nPA =~ pa1 + pa2 + pa3 + pa4\n")
    assert df[items].isna().any(axis=1).sum() > 80
    return folder


#: per row: the words of the doc's command filled in, options that keep the run small, and
#: what the output (or the library) must show besides the rule's own check
FILL = {"MODEL": "cfa", "FILE": "holes.csv", "COL": "school", "M1": "h1_h5", "M2": "revised"}
SMALL = {"measure": ["--parallel-iter", "10"], "bootstrap": ["--n-boot", "10", "--jobs", "1",
                                                            "--no-bca"],
         "power": ["--n", "100", "--reps", "10", "--jobs", "1"],
         "reproduce": ["--n-boot", "10", "--power-reps", "10", "--jobs", "1"]}
MODEL = {"invariance": "small.lav", "fit with groups": "small.lav",
         "measure per group": "small.lav", "fit, ML": "h1_h5", "fit, MLR": "h1_h5",
         "fit, GLS": "h1_h5", "bootstrap, nonparametric": "h1_h5",
         "bootstrap, Bollen–Stine": "h1_h5", "modification indices": "h1_h5",
         "bootstrap with groups": "small.lav",
         # items whose every answer category has 7 or more answers: the study's ks2/ks3 have a
         # category with one answer, which nearly every draw loses (then an error says so)
         "bootstrap, WLSMV": "small.lav"}


def _argv(name):
    words = shlex.split(ANALYSIS_ROWS[name]["command"])
    assert words[0] == "semcluster"
    out_files = iter(["out.csv", "out.png"] if "diagram" in words else ["out.csv"])
    argv = []
    for k, w in enumerate(words[1:]):
        if w == "MODEL":
            argv.append(MODEL.get(name, "cfa"))
        elif w == "FILE" and words[k] == "--out":
            argv.append("d.png" if words[1] == "diagram" else next(out_files))
        else:
            argv.append(FILL.get(w, w))
    argv += SMALL.get(argv[0], [])
    if "--htmt-ci" in argv:
        argv += ["--n-boot", "10", "--jobs", "1"]
    return argv


_RUNS: dict = {}


def _run(argv, capsys):
    """Run a command once per distinct argv (several rows share one command)."""
    key = tuple(argv)
    if key not in _RUNS:
        capsys.readouterr()
        rc = main(argv)
        captured = capsys.readouterr()
        _RUNS[key] = (rc, captured.out, captured.err)
    return _RUNS[key]


def _fit_missing(survey, **kw):
    from semcluster.fitting import fit

    res = fit(kw.pop("model", "h1_h5"), survey / "holes.csv", **kw)
    return res


def _check_fit_ml(survey, out):
    res = _fit_missing(survey)
    assert res.missing == "fiml" and res.nobs == 160


def _check_fit_mlr(survey, out):
    res = _fit_missing(survey, estimator="MLR")
    assert res.missing == "fiml" and res.estimator == "MLR" and res.nobs == 160


def _check_fit_groups(survey, out):
    res = _fit_missing(survey, model=survey / "small.lav", group="school")
    assert res.missing == "fiml" and res.nobs == 160 and len(res.groups) == 2


def _check_invariance(survey, out):
    from semcluster.analysis.invariance import measurement_invariance

    inv = measurement_invariance(survey / "small.lav", survey / "holes.csv", group="school")
    assert sum(inv.nobs.values()) == 160


def _check_compare_models(survey, out):
    from semcluster.analysis.model_comparison import compare_models

    cmp = compare_models(["h1_h5", "revised"], survey / "holes.csv")
    assert all(r.missing == "fiml" and r.nobs == 160 for r in cmp.results.values())


def _check_power(survey, out):
    from semcluster.fitting import fit
    from semcluster.analysis.power import population_from_data

    pop = population_from_data("h1_h5", survey / "holes.csv")
    res = fit("h1_h5", survey / "holes.csv")
    assert res.missing == "fiml"
    obs = list(res.spec.observed)
    np.testing.assert_allclose(pop.cov, res.implied_cov.loc[obs, obs].to_numpy())


CHECKS = {
    "fit, ML": _check_fit_ml,
    "fit, MLR": _check_fit_mlr,
    "fit, WLSMV": "missing data: pairwise",
    "fit, GLS": "missing='listwise'",
    "fit with groups": _check_fit_groups,
    "measure: ω, CR, AVE, Fornell–Larcker": "EM (FIML) covariance",
    "measure: α": "EM (FIML) covariance of the items",
    "measure: HTMT, HTMT2": "EM correlations of the items",
    "measure: HTMT bootstrap": "respondents with their missing answers",
    "measure: item statistics": "per scale on the rows that answered the scale",
    "measure: KMO, Bartlett, parallel analysis, EFA": re.compile(r"on the \d+ complete rows of "
                                                                 r"160"),
    "measure per group": "Group school = west",
    "bootstrap, nonparametric": "refitted by FIML",
    "bootstrap, WLSMV": "every replicate refitted by WLSMV",
    "bootstrap, Bollen–Stine": "missing-data pattern (Enders 2002)",
    "bootstrap with groups": "rows resampled within each group, group sizes kept",
    "invariance": _check_invariance,
    "compare (regression vs SEM)": "uses complete answers only",
    "compare-models": _check_compare_models,
    "power from data": _check_power,
    "modification indices": "Score tests of the FIML fit",
    "factor scores": "for 160 of 160 rows",
    "diagram with data": "missing data: fiml",
    "calibrate": re.compile(r"alpha CA\s+[0-9.]+\s+–"),
    "reproduce": "uses complete answers only",
    "audit": None,
    "simulate": None,
}


def test_every_row_has_a_check_and_every_check_a_row():
    assert set(CHECKS) == set(ANALYSIS_ROWS)


@pytest.mark.parametrize("name", list(ANALYSIS_ROWS))
def test_row_says_what_the_command_does_with_missing_answers(name, survey, monkeypatch,
                                                             capsys):
    row = ANALYSIS_ROWS[name]
    check = CHECKS[name]
    argv = _argv(name)
    if row["rule"] == "not applicable":
        sub = next(a for a in build_parser()._actions if a.dest == "command")
        dests = {a.dest for a in sub.choices[argv[0]]._actions}
        assert "data" not in dests, f"{name} reads data: the table says it does not"
        return
    monkeypatch.chdir(survey)
    rc, out, err = _run(argv, capsys)
    if row["rule"] == "refused":
        assert rc == 2, (name, rc, out[-500:])
        msg = [ln for ln in err.splitlines() if "error:" in ln]
        assert len(msg) == 1 and "Traceback" not in err, err
        assert check in msg[0], msg[0]
        return
    assert rc == 0, (name, err[-800:])
    if row["rule"] == "pairwise":
        assert "missing data: pairwise" in out
    else:
        assert "missing data: fiml" in out          # the rows with blanks were kept
    if isinstance(check, str):
        assert check in out, (name, check)
    elif isinstance(check, re.Pattern):
        assert check.search(out), (name, check.pattern)
    else:
        check(survey, out)
