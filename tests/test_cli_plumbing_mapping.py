"""The app's mapping YAML (``semcluster.app.mapping``) is read back by the reader ``--map``
uses (:func:`semcluster.data.survey.data_description`) as the same data description.

The property test draws column names a real survey export may have: Chinese, spaces (inside
and at either end), quotes, colons, ``#``, and the words YAML would read as something else
(``yes``, ``no``, ``null``, ``~``, ``1e3``, ``0x1F``, ``2024-01-01``, ``.inf``); items, reverse
lists, answer scales, missing codes (numbers and text) and the id column likewise.  The end
to end test runs ``semcluster fit --map`` on a file written by the app's code.
"""
from __future__ import annotations

import json
import string

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from semcluster.app.mapping import mapping_document, to_yaml
from semcluster.data.survey import data_description

YAML_WORDS = ["yes", "no", "Yes", "NO", "on", "off", "true", "False", "null", "Null", "~", "",
              "1e3", "1E3", "1_000", "0x1F", "0o17", "017", "+1", "-.5", ".inf", "-.Inf", ".nan",
              "2024-01-01", "12:30:00", "1,5", "- a", "? q", ": x", "#c", "a #b", "&a", "*a",
              "!tag", "%p", "@x", "`x`", "'q'", '"q"', "a: b", "[1]", "{k: v}", "|", ">", "=",
              "<<", "-", "---", "...", "问题1", "认知 1", "中文：题目", " lead", "trail ",
              "tab\tin", "O'Brien", 'say "hi"', "back\\slash"]

# any printable text (Chinese included) without control characters or lone surrogates
_text = st.text(st.characters(blacklist_categories=("Cc", "Cs"),
                              blacklist_characters="\ufeff"), max_size=12)
column_names = st.one_of(st.sampled_from(YAML_WORDS), _text)
# model item names: what a model file can name (identifiers), plus YAML's special words
item_names = st.one_of(
    st.from_regex(r"[A-Za-z_\u4e00-\u9fff][A-Za-z0-9_.\u4e00-\u9fff]{0,8}", fullmatch=True),
    st.sampled_from(["yes", "no", "on", "off", "true", "null", "Null", "NaN", "inf", "e1"]))
codes = st.one_of(st.integers(-10**6, 10**6),
                  st.floats(allow_nan=False, allow_infinity=False, width=64),
                  st.sampled_from(YAML_WORDS[:-3]).filter(bool), _text.filter(bool))
scales = st.one_of(st.none(), st.tuples(st.integers(-10, 10), st.integers(1, 20))
                   .map(lambda t: (float(t[0]), float(t[0] + t[1]))))


@st.composite
def mappings(draw):
    items = draw(st.lists(item_names, min_size=1, max_size=6, unique=True))
    cols = draw(st.lists(column_names, min_size=len(items), max_size=len(items), unique=True))
    columns = dict(zip(cols, items))
    # a column the user left unassigned ("" in the app's table) is not written
    extra = draw(st.lists(column_names.filter(lambda c: c not in columns), max_size=2,
                          unique=True))
    columns.update({c: "" for c in extra})
    reverse = draw(st.lists(st.sampled_from(items), unique=True, max_size=len(items)))
    scale = draw(scales)
    missing = draw(st.lists(codes, max_size=4, unique_by=repr))
    id_column = draw(st.one_of(st.none(), column_names.filter(bool)))
    return columns, reverse, scale, missing, id_column


@settings(max_examples=200, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(mappings())
def test_the_apps_mapping_yaml_reads_back_as_the_same_description(tmp_path, m):
    columns, reverse, scale, missing, id_column = m
    path = tmp_path / "mapping.yaml"
    path.write_text(to_yaml(mapping_document(columns, reverse, scale, missing, id_column)),
                    encoding="utf-8")
    desc = data_description(path)
    assert desc.columns == {c: i for c, i in columns.items() if i}
    assert desc.reverse == tuple(reverse)
    assert desc.scale == (None if scale is None else tuple(scale))
    # codes read back as the data path reads any code list (data.split_codes: text split on
    # ',' and ';', a number written as text taken as that number, since answers are numbers)
    from semcluster.data.survey import split_codes

    want = split_codes(missing)
    assert [(type(c), c) for c in desc.missing_codes] == [(type(c), c) for c in want]
    assert desc.id_column == id_column


def test_the_direction_is_file_column_to_model_item(tmp_path):
    """One fixed case spelled out: the key is the file's column, the value the model's item."""
    path = tmp_path / "mapping.yaml"
    path.write_text(to_yaml(mapping_document({"问题 1": "ca1", "yes": "ca2"}, ["ca2"], (1, 7),
                                             [-99, "."], "编号")), encoding="utf-8")
    desc = data_description(path)
    assert desc.columns == {"问题 1": "ca1", "yes": "ca2"}
    assert (desc.reverse, desc.scale, desc.missing_codes, desc.id_column) == \
        (("ca2",), (1.0, 7.0), (-99, "."), "编号")


def test_fit_reads_a_survey_through_the_apps_mapping_file(tmp_path, monkeypatch, capsys):
    """A survey with Chinese column names, an id and -99 codes, described by a mapping file
    the app's code wrote, fits as the bundled data does (same rows, same estimates)."""
    from semcluster.cli import main
    from semcluster.fitting import fit
    from semcluster.resources import data_path

    monkeypatch.chdir(tmp_path)
    df = pd.read_csv(data_path("paper_synthetic.csv"))
    items = [c for c in df.columns if c[-1].isdigit()]            # ca1 .. in4
    survey = df[items].rename(columns={c: f"题目 {c.upper()}" for c in items})
    survey.insert(0, "编号", range(1, len(df) + 1))
    survey.to_csv("survey.csv", index=False)
    columns = {f"题目 {c.upper()}": c for c in items}                 # file column: model item
    (tmp_path / "map.yaml").write_text(
        to_yaml(mapping_document(columns, (), (1, 7), [-99], "编号")), encoding="utf-8")
    assert main(["fit", "h1_h5", "--data", "survey.csv", "--map", "map.yaml",
                 "--json", "r.json"]) == 0
    out = capsys.readouterr().out
    assert "rows used: 160" in out and "answer scale: 1 to 7" in out
    got = pd.DataFrame(json.loads((tmp_path / "r.json").read_text())["estimates"])
    ref = fit("h1_h5").estimates
    assert got["est"].to_numpy() == pytest.approx(ref["est"].to_numpy(), abs=1e-8)
