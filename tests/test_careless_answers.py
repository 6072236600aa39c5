"""Careless-answer checks: the long-string index and straight-lining, on the raw answers.

Reference: the long-string index is R's ``careless::longstring`` (the longest run of identical
consecutive answers of a row, run-length encoded as base R's ``rle()`` does, where a missing
answer is a run of its own).  The ``careless`` package cannot be installed here, so every
expected index below is counted by hand on a small frame, and the surveys are built so that the
flagged respondents are known by construction: the attentive respondents never give the same
answer to two neighbouring items (checked with plain numpy in :func:`survey`), so only the
planted respondents can have a long string.
"""
from __future__ import annotations

import hashlib
import warnings

import numpy as np
import pandas as pd
import pytest

from semcluster.cli import main
from semcluster.data.survey import DataOptions, careless_answers, long_string, read_survey
from semcluster.errors import OptionError

ITEMS = [f"q{j}" for j in range(1, 13)]
REVERSED = ["q3", "q6", "q9", "q12"]
MODEL = ("f1 =~ q1 + q2 + q3 + q4 + q5 + q6\n"
         "f2 =~ q7 + q8 + q9 + q10 + q11 + q12\n")

#: planted respondents, raw answers in file order (scale 1-7; q3, q6, q9, q12 reverse-keyed)
STRAIGHT_6 = [6] * 12                                  # ticks 6 down the page: careless
STRAIGHT_1 = [1] * 12                                  # ticks 1 down the page: careless
CONSISTENT_62 = [6, 6, 2, 6, 6, 2, 6, 6, 2, 6, 6, 2]   # agrees, disagrees with reversed items
CONSISTENT_71 = [7, 7, 1, 7, 7, 1, 7, 7, 1, 7, 7, 1]   # the same attitude, stronger


def survey(n: int = 150, seed: int = 7, planted: dict | None = None) -> pd.DataFrame:
    """Attentive respondents of a two-factor survey (raw answers, reversed items reverse-keyed)
    with no two neighbouring answers equal, and the ``planted`` rows {id: answers} appended."""
    rng = np.random.default_rng(seed)
    f = rng.standard_normal((n, 2))
    x = np.column_stack([4 + 1.2 * f[:, j // 6] + rng.standard_normal(n) for j in range(12)])
    rev = [ITEMS.index(r) for r in REVERSED]
    x[:, rev] = 8 - x[:, rev]
    x = np.clip(np.rint(x), 1, 7)
    for i in range(n):
        for j in range(1, 12):
            if x[i, j] == x[i, j - 1]:
                x[i, j] += 1 if x[i, j] < 7 else -1
    assert (np.diff(x, axis=1) != 0).all()      # long string 1 for every attentive respondent
    df = pd.DataFrame(x.astype(int), columns=ITEMS)
    df.insert(0, "resp", [f"r{i:03d}" for i in range(1, n + 1)])
    for who, answers in (planted or {}).items():
        df.loc[len(df)] = [who, *answers]
    return df


def planted_survey():
    return survey(planted={"A": STRAIGHT_6, "C": CONSISTENT_62, "B": STRAIGHT_1,
                           "D": CONSISTENT_71})


def read(df, **options):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return read_survey(df, DataOptions(**options), variables=ITEMS)


# ---------------------------------------------------------------------------------------------
# the long-string index
# ---------------------------------------------------------------------------------------------
def test_long_string_is_the_longest_run_counted_by_hand():
    nan = np.nan
    rows = [[1, 1, 2, 2, 2, 3],          # runs 2, 3, 1            -> 3
            [4, 4, 4, 4, 4, 4],          # one run of 6            -> 6
            [1, nan, 1, 1, 2, 2],        # 1 | NA | 1 1 | 2 2      -> 2 (NA ends a run)
            [nan] * 6,                   # every NA its own run    -> 1
            [5, 5, nan, 5, 5, 5],        # 2 | NA | 3              -> 3
            [1, 2, 1, 2, 1, 2],          # no repeat               -> 1
            [3, 3, 3, 3, 3, 7]]          # 5 | 1                   -> 5
    got = long_string(pd.DataFrame(rows, index=list("abcdefg")))
    assert list(got) == [3, 6, 2, 1, 3, 1, 5]
    assert list(got.index) == list("abcdefg")


def test_long_string_follows_the_files_item_order_not_the_models():
    """Runs are counted in the order the questionnaire showed the items (the file's columns):
    the row 1 1 1 1 1 1 2 2 2 2 2 2 has a long string of 6; in the model's order odd items
    first it would read 1 1 1 2 2 2 1 1 1 2 2 2 (longest run 3)."""
    df = survey(planted={"E": [1] * 6 + [2] * 6})
    model_order = ITEMS[0::2] + ITEMS[1::2]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _, rep = read_survey(df, DataOptions(id="resp", long_string=6), variables=model_order)
    assert [(r["respondent"], r["long_string"]) for r in rep.careless] == [("E", 6)]


def test_straight_lining_with_missing_answers_counts_the_answered_items():
    """Every other answer missing: runs of 1, yet one value throughout; flagged as
    straight-lining when at least T items are answered (6 answered: T = 6 yes, T = 7 no)."""
    row = [4, np.nan] * 6
    flags = careless_answers(pd.DataFrame([row, [1, 2] * 6]), threshold=6)
    assert flags["long_string"].tolist() == [1, 1]
    assert flags["answered"].tolist() == [6, 12]
    assert flags["straight_lining"].tolist() == [True, False]
    assert flags["flagged_by"].tolist() == ["straight-lining", ""]
    assert flags["same_value"].iloc[0] == 4
    assert not careless_answers(pd.DataFrame([row]), threshold=7)["flagged"].iloc[0]


# ---------------------------------------------------------------------------------------------
# straight-lining judged before reverse coding, respondents named by id
# ---------------------------------------------------------------------------------------------
def test_straight_liners_through_reversed_items_are_flagged_by_id():
    """A and B tick one box down the whole page, reversed items included: flagged.  C and D
    agree with the items and disagree with the reversed ones (the same attitude, so their raw
    answers differ; after reverse coding they are constant): not flagged."""
    _, rep = read(planted_survey(), id="resp", scale=(1, 7), reverse=REVERSED)
    got = [(r["respondent"], r["flagged_by"], r["same_value"]) for r in rep.careless]
    assert got == [("A", "straight-lining", 6), ("B", "straight-lining", 1)]
    assert rep.n_used == rep.n_rows == 154                     # listed, not dropped
    note = next(n for n in rep.notes if "careless" in n)
    assert "2 respondent(s) flagged as careless (2 straight-lining): id A, B" in note
    assert "A, B" in str(rep)


def test_every_straight_liner_is_found_whatever_box_they_tick():
    """Seven straight-liners, one per scale point, among attentive respondents.  Judged after
    reverse coding only the one at the midpoint (4 stays 4) would look uniform; on the raw
    answers all seven are flagged, in file order, by id."""
    planted = {f"S{v}": [v] * 12 for v in (3, 7, 1, 4, 6, 2, 5)}
    planted.update({"C": CONSISTENT_62, "D": CONSISTENT_71})
    _, rep = read(survey(planted=planted), id="resp", scale=(1, 7), reverse=REVERSED)
    assert [r["respondent"] for r in rep.careless] == ["S3", "S7", "S1", "S4", "S6", "S2",
                                                       "S5"]
    assert [r["same_value"] for r in rep.careless] == [3, 7, 1, 4, 6, 2, 5]
    note = next(n for n in rep.notes if "careless" in n)
    assert "7 respondent(s) flagged as careless (7 straight-lining): id S3, S7, S1, S4, S6 ..." \
        in note


def test_without_an_id_column_the_flagged_rows_are_named_by_their_line_in_the_file(tmp_path):
    df = planted_survey().drop(columns="resp")
    path = tmp_path / "s.csv"
    df.to_csv(path, index=False)
    _, rep = read(str(path), scale=(1, 7), reverse=REVERSED)
    # rows 151 and 153 of the data (A, B) are lines 152 and 154 of the file (header line 1)
    assert [r["respondent"] for r in rep.careless] == [152, 154]
    assert [r["row"] for r in rep.careless] == [152, 154]
    assert "line 152, 154" in str(rep)


def test_an_attentive_survey_has_no_respondent_flagged():
    _, rep = read(survey(planted={"C": CONSISTENT_62, "D": CONSISTENT_71}), id="resp",
                  scale=(1, 7), reverse=REVERSED)
    assert rep.careless == () and rep.careless_rule
    assert "careless" not in str(rep)


# ---------------------------------------------------------------------------------------------
# the threshold, on both sides
# ---------------------------------------------------------------------------------------------
def test_default_threshold_is_half_the_items():
    """12 items: T = 6.  A run of 6 is flagged, a run of 5 is not."""
    df = survey(planted={"six": [2, 5, 5, 5, 5, 5, 5, 3, 4, 3, 4, 3],
                         "five": [2, 5, 5, 5, 5, 5, 3, 4, 3, 4, 3, 4]})
    _, rep = read(df, id="resp")
    assert [(r["respondent"], r["long_string"], r["flagged_by"]) for r in rep.careless] == \
        [("six", 6, "long string")]


@pytest.mark.parametrize("threshold, flagged", [(5, ["six", "five"]), (6, ["six"]),
                                                (7, [])])
def test_a_given_threshold_is_applied_on_both_sides(threshold, flagged):
    df = survey(planted={"six": [2, 5, 5, 5, 5, 5, 5, 3, 4, 3, 4, 3],
                         "five": [2, 5, 5, 5, 5, 5, 3, 4, 3, 4, 3, 4]})
    _, rep = read(df, id="resp", long_string=threshold)
    assert [r["respondent"] for r in rep.careless] == flagged


def test_models_under_ten_items_are_checked_only_with_a_given_threshold():
    """Eight items, one respondent answering 3 to all: not judged by default (short scales
    are often answered alike by attentive respondents); with long_string=8 flagged."""
    df = survey(planted={"flat": [3] * 12})
    eight = ITEMS[:8]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _, default = read_survey(df, DataOptions(id="resp"), variables=eight)
        _, given = read_survey(df, DataOptions(id="resp", long_string=8), variables=eight)
        _, nine = read_survey(df, DataOptions(id="resp", long_string=9), variables=eight)
    assert default.careless == () and default.careless_rule == ""
    assert [r["respondent"] for r in given.careless] == ["flat"]
    assert nine.careless == ()


@pytest.mark.parametrize("bad", [1, 0, -3, 2.5, "6", True])
def test_a_threshold_that_is_not_a_count_of_at_least_two_is_refused(bad):
    with pytest.raises(OptionError):
        DataOptions(long_string=bad)


# ---------------------------------------------------------------------------------------------
# dropping them
# ---------------------------------------------------------------------------------------------
def test_drop_careless_lowers_rows_used_by_exactly_the_flagged_count():
    df = planted_survey()
    opts = dict(id="resp", scale=(1, 7), reverse=REVERSED)
    X_keep, keep = read(df, **opts)
    X_drop, drop = read(df, drop_careless=True, **opts)
    assert len(keep.careless) == 2
    assert drop.n_used == keep.n_used - 2 == 152
    assert drop.dropped == {"careless answers (--drop-careless)": 2}
    assert "not used: 2 row(s): careless answers (--drop-careless)" in str(drop)
    dropped_rows = set(X_keep.index) - set(X_drop.index)
    assert set(df.loc[list(dropped_rows), "resp"]) == {"A", "B"}


def test_drop_careless_reaches_the_fit():
    from semcluster.fitting import fit

    df = planted_survey()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        kept = fit(MODEL, df, options=DataOptions(id="resp", scale=(1, 7), reverse=REVERSED))
        dropped = fit(MODEL, df, options=DataOptions(id="resp", scale=(1, 7), reverse=REVERSED,
                                                     drop_careless=True))
    assert kept.data_report.n_used == 154 and dropped.data_report.n_used == 152
    assert (kept.nobs, dropped.nobs) == (154, 152)


def test_a_prepared_frame_keeps_its_careless_findings_and_refuses_a_late_drop():
    """A frame read before is not judged again (its raw answers are reverse coded by now): the
    respondents found then stay in the report; asking to drop them only now is an error
    rather than a silent no-op."""
    from dataclasses import replace

    X, first = read(planted_survey(), id="resp", scale=(1, 7), reverse=REVERSED)
    opts = DataOptions(scale=(1, 7), reverse=REVERSED)       # the id column stayed behind
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _, again = read_survey(X, opts, variables=ITEMS)
        with pytest.raises(OptionError, match="drop_careless=True"):
            read_survey(X, replace(opts, drop_careless=True), variables=ITEMS)
    assert again.careless == first.careless and len(again.careless) == 2
    assert again.careless_rule == first.careless_rule and not again.careless_dropped


# ---------------------------------------------------------------------------------------------
# the command line: the CSV, --drop-careless, and no output over an input
# ---------------------------------------------------------------------------------------------
@pytest.fixture
def files(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    planted_survey().to_csv("s.csv", index=False)
    (tmp_path / "m.lav").write_text(MODEL)
    return tmp_path


BASE = ["fit", "m.lav", "--data", "s.csv", "--id", "resp", "--scale", "1", "7", "--reverse",
        ",".join(REVERSED)]


def test_careless_csv_lists_the_flagged_respondents(files, capsys):
    assert main(BASE + ["--careless-csv", "flagged.csv"]) == 0
    out = capsys.readouterr().out
    table = pd.read_csv("flagged.csv")
    assert table["respondent"].tolist() == ["A", "B"]
    assert table["row"].tolist() == [152, 154]                 # their lines in s.csv
    assert table["straight_lining"].tolist() == [True, True]
    assert table["long_string"].tolist() == [12, 12]
    assert "wrote flagged.csv (2 respondent(s) flagged as careless)" in out
    assert "rows used: 154" in out


def test_drop_careless_on_the_command_line(files, capsys):
    assert main(BASE + ["--drop-careless"]) == 0
    out = capsys.readouterr().out
    assert "rows read: 154; rows used: 152" in out
    assert "not used: 2 row(s): careless answers (--drop-careless)" in out


@pytest.mark.parametrize("aimed", ["s.csv", "m.lav"])
def test_careless_csv_aimed_at_an_input_is_refused(files, capsys, aimed):
    if aimed == "m.lav":                   # the output must end in .csv: a model file that does
        (files / "m.csv").write_text(MODEL)
        aimed, argv = "m.csv", ["fit", "m.csv"] + BASE[2:]
    else:
        argv = BASE
    before = hashlib.sha256((files / aimed).read_bytes()).hexdigest()
    assert main(argv + ["--careless-csv", aimed]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "input of this run" in err and aimed in err
    assert hashlib.sha256((files / aimed).read_bytes()).hexdigest() == before


def test_careless_csv_and_another_output_with_the_same_name_are_refused(files, capsys):
    assert main(BASE + ["--json", "out.csv", "--careless-csv", "out.csv"]) == 2
    err = capsys.readouterr().err
    assert "two outputs" in err and not (files / "out.csv").exists()
