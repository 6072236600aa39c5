"""The last silent inputs: list options with repeats, missing codes written with ';', a
missing code that matches nothing, an id column that is an item.

Reference values are computed here from the raw file with pandas (reverse coding is
``min + max - x`` on the declared scale; a declared code is set missing), never taken from
semcluster's own output.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from semcluster.cli import build_parser, main
from semcluster.cli._common import data_options_from_args
from semcluster.data.survey import DataOptions, read_survey
from semcluster.errors import DataError
from semcluster.resources import data_path
from semcluster.spec.parser import read_model

ITEMS = read_model("cfa").observed


@pytest.fixture
def raw():
    return pd.read_csv(data_path("paper_synthetic.csv"))


@pytest.fixture
def coded(raw, tmp_path):
    """The bundled answers with 99 ('refused') in 7 cells of ca2 and 98 ('don't know') in
    4 cells of pa1, written to a CSV."""
    df = raw.copy()
    df.loc[df.index[:7], "ca2"] = 99
    df.loc[df.index[10:14], "pa1"] = 98
    path = tmp_path / "coded.csv"
    df.to_csv(path, index=False)
    return path, df


def _args(*argv):
    return build_parser().parse_args(["fit", "cfa", *argv])


# -- repeats in list options ---------------------------------------------------------------------
def test_an_item_listed_twice_for_reverse_coding_is_reversed_once(raw):
    X, rep = read_survey(data_path("paper_synthetic.csv"),
                         DataOptions(reverse="ca1,ca1", scale=(1, 7)), variables=ITEMS)
    expected = 1 + 7 - raw["ca1"].astype(float)
    np.testing.assert_array_equal(X["ca1"].to_numpy(), expected.to_numpy())
    assert rep.reverse == ("ca1",)
    assert any("ca1 listed more than once" in n for n in rep.notes)
    assert rep.recoded["reverse-coded (min + max - x)"] == {"ca1": len(raw)}


def test_reverse_twice_in_a_map_file_is_reversed_once(raw, tmp_path):
    m = tmp_path / "map.yaml"
    m.write_text("reverse: [ca1, ca1, ca2]\nscale: [1, 7]\n")
    X, rep = read_survey(data_path("paper_synthetic.csv"), DataOptions(map=str(m)),
                         variables=ITEMS)
    for item in ("ca1", "ca2"):
        np.testing.assert_array_equal(X[item].to_numpy(), (8 - raw[item]).to_numpy(float))
    np.testing.assert_array_equal(X["ca3"].to_numpy(), raw["ca3"].to_numpy(float))
    assert "listed more than once" in str(rep)


def test_reverse_once_gets_no_repeat_note(raw):
    _, rep = read_survey(data_path("paper_synthetic.csv"),
                         DataOptions(reverse="ca1", scale=(1, 7)), variables=ITEMS)
    assert not any("more than once" in n for n in rep.notes)


def test_cli_reverse_twice_reports_one_reversal(capsys):
    code = main(["measure", "--reverse", "ca1,ca1", "--scale", "1", "7", "--parallel-iter",
                 "10"])
    out = capsys.readouterr().out
    assert code == 0
    assert "reverse-coded (min + max - x): 160 value(s) (ca1 160)" in out
    assert "ca1 listed more than once" in out


def test_an_item_listed_twice_as_ordered_is_taken_once():
    _, rep = read_survey(data_path("paper_synthetic.csv"),
                         DataOptions(ordered="ca1,ca2,ca1"), variables=ITEMS)
    assert rep.ordered == ("ca1", "ca2")
    assert any("ca1 listed more than once" in n for n in rep.notes)


def test_group_partial_entries_listed_twice_are_taken_once():
    from semcluster.estimation.groups import group_equal_classes, group_partial_entries

    assert group_partial_entries("CA=~ca2, CA=~ca2,ca1~1") == (("CA", "=~", "ca2"),
                                                                ("ca1", "~1", ""))
    assert group_equal_classes("loadings,loadings") == ("loadings",)


# -- missing codes -------------------------------------------------------------------------------
@pytest.mark.parametrize("given", ["98;99", "98,99", "98; 99", " 98 ;99;"])
def test_missing_codes_split_on_comma_and_semicolon(given):
    assert data_options_from_args(_args(f"--missing-codes={given}")).missing_codes == (98, 99)


def test_missing_codes_with_a_semicolon_set_those_answers_missing(coded):
    path, df = coded
    opts = data_options_from_args(_args("--data", str(path), "--missing-codes=98;99",
                                        "--missing", "fiml"))
    X, rep = read_survey(str(path), opts, variables=ITEMS)
    assert int(X["ca2"].isna().sum()) == int((df["ca2"] == 99).sum()) == 7
    assert int(X["pa1"].isna().sum()) == int((df["pa1"] == 98).sum()) == 4
    assert rep.recoded["declared missing code set missing"] == {"ca2": 7, "pa1": 4}
    assert not (X[ITEMS] >= 98).any().any()


def test_missing_codes_in_a_map_file_text_are_split(coded, tmp_path):
    path, _ = coded
    m = tmp_path / "map.yaml"
    m.write_text('missing_codes: "98;99"\n')
    X, rep = read_survey(str(path), DataOptions(map=str(m), missing="fiml"), variables=ITEMS)
    assert rep.recoded["declared missing code set missing"] == {"ca2": 7, "pa1": 4}


def test_a_missing_code_that_matches_no_answer_is_reported(coded):
    path, _ = coded
    _, rep = read_survey(str(path), DataOptions(missing_codes=(99, 98, -9), missing="fiml"),
                         variables=ITEMS)
    notes = [n for n in rep.notes if "match no answer" in n]
    assert len(notes) == 1 and "-9" in notes[0] and "99" not in notes[0]


def test_missing_codes_that_all_match_give_no_such_note(coded):
    path, _ = coded
    _, rep = read_survey(str(path), DataOptions(missing_codes=(99, 98), missing="fiml"),
                         variables=ITEMS)
    assert not any("match no answer" in n for n in rep.notes)


def test_cli_missing_code_matching_nothing_is_in_the_data_report(capsys):
    assert main(["measure", "--missing-codes", "-99", "--parallel-iter", "10"]) == 0
    out = capsys.readouterr().out
    assert "declared missing code(s) -99 match no answer" in out


# -- the id column -------------------------------------------------------------------------------
def test_an_id_that_is_an_item_in_a_map_file_is_refused(tmp_path, capsys):
    m = tmp_path / "map.yaml"
    m.write_text("id: ca1\n")
    with pytest.raises(DataError, match="id column 'ca1' is an item of the model"):
        read_survey(data_path("paper_synthetic.csv"), DataOptions(map=str(m)),
                    variables=ITEMS)
    code = main(["fit", "cfa", "--data", str(data_path("paper_synthetic.csv")), "--map",
                 str(m)])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "is an item of the model" in err


def test_an_id_that_is_not_an_item_is_accepted():
    X, _ = read_survey(data_path("paper_synthetic.csv"), DataOptions(id="id"),
                       variables=ITEMS)
    assert list(X.columns[:len(ITEMS)]) == list(ITEMS)
