"""Reading survey data: formats, column mapping, declared missing values, scale checks, reverse
coding, missing-data rules and the data report (the malformed files are in test_data_corpus.py).
"""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from semcluster.data.survey import (DataReport, data_description, load_data, missing_patterns,
                             pairwise_moments, prepare_data)
from semcluster.errors import DataError, SemclusterWarning

ITEMS = ["q1", "q2", "q3", "q4"]


@pytest.fixture
def survey():
    rng = np.random.default_rng(2)
    f = rng.standard_normal(60)
    cols = {f"Q{i}": np.clip(np.round(4 + 1.2 * (0.7 * f + 0.7 * rng.standard_normal(60))),
                             1, 7) for i in range(1, 5)}
    df = pd.DataFrame(cols)
    df.insert(0, "resp", np.arange(101, 161))
    return df


def test_csv_xlsx_sav_give_the_same_numbers(survey, tmp_path):
    import pyreadstat

    survey.to_csv(tmp_path / "s.csv", index=False)
    survey.to_excel(tmp_path / "s.xlsx", index=False)
    pyreadstat.write_sav(survey, str(tmp_path / "s.sav"))
    mapping = {f"Q{i}": f"q{i}" for i in range(1, 5)}
    frames = [load_data(tmp_path / f"s.{ext}", mapping=mapping) for ext in ("csv", "xlsx", "sav")]
    for df in frames:
        X, rep = prepare_data(df, ITEMS)
        np.testing.assert_array_equal(X.to_numpy(), survey[list(mapping)].to_numpy(float))
        assert rep.n_used == 60


def test_semicolon_csv_is_detected(survey, tmp_path):
    survey.to_csv(tmp_path / "s.csv", index=False, sep=";")
    df = load_data(tmp_path / "s.csv")
    assert list(df.columns) == list(survey.columns)


def test_gb18030_header(tmp_path):
    text = "编号,q1,q2\n1,3,4\n2,5,6\n"
    (tmp_path / "zh.csv").write_bytes(text.encode("gb18030"))
    df = load_data(tmp_path / "zh.csv")
    assert list(df.columns) == ["编号", "q1", "q2"]


def test_spss_value_labels_scale_and_declared_missing(survey, tmp_path):
    import pyreadstat

    s = survey.astype(float).copy()
    s.loc[[2, 5], "Q1"] = 9
    s.loc[7, "Q3"] = 8
    labels = {c: {1.0: "strongly disagree", 7.0: "strongly agree", 8.0: "don't know",
                  9.0: "refused"} for c in ["Q1", "Q2", "Q3", "Q4"]}
    pyreadstat.write_sav(s, str(tmp_path / "s.sav"), variable_value_labels=labels,
                         missing_ranges={c: [{"lo": 8, "hi": 9}] for c in labels})
    df = load_data(tmp_path / "s.sav", mapping={f"Q{i}": f"q{i}" for i in range(1, 5)})
    # nothing is changed on reading: the codes are still there
    assert (df["q1"] == 9).sum() == 2
    X, rep = prepare_data(df, ITEMS, missing="fiml")
    assert rep.recoded["declared missing code set missing"] == {"q1": 2, "q3": 1}
    assert rep.n_missing == {"q1": 2, "q3": 1}
    assert rep.n_used == 60 and rep.missing == "fiml"
    # labels 1..9 would give scale 1-9; declared missing codes are answers 'outside' the
    # substantive scale and are handled before the scale check
    X, rep = prepare_data(df, ITEMS, missing="listwise", scale=(1, 7))
    assert rep.n_used == 57
    assert rep.dropped == {"missing answer(s) (listwise deletion)": 3}


def test_scale_from_value_labels(tmp_path):
    import pyreadstat

    df = pd.DataFrame({"a": [1.0, 2, 3, 5, 4, 2, 3, 1], "b": [2.0, 3, 3, 5, 5, 1, 2, 2],
                       "c": [1.0, 1, 2, 4, 5, 2, 3, 3]})
    labs = {v: {1.0: "low", 5.0: "high"} for v in df}
    pyreadstat.write_sav(df, str(tmp_path / "l.sav"), variable_value_labels=labs)
    X, rep = prepare_data(load_data(tmp_path / "l.sav"), ["a", "b", "c"], warn=False)
    assert rep.scale == (1.0, 5.0)
    assert any("taken from the value labels" in n for n in rep.notes)


def test_out_of_scale_value_stops_or_is_set_missing(survey):
    df = survey.rename(columns={f"Q{i}": f"q{i}" for i in range(1, 5)})
    df.loc[10, "q2"] = 8
    with pytest.raises(DataError, match=r"column 'q2' has the value 8 at row 11, outside the scale 1-7.*"
                                         r"--missing-codes 8.*--out-of-scale missing"):
        prepare_data(df, ITEMS, scale=(1, 7))
    with pytest.warns(SemclusterWarning, match="set missing"):
        X, rep = prepare_data(df, ITEMS, scale=(1, 7), out_of_scale="missing", missing="fiml")
    assert np.isnan(X.loc[10, "q2"]) and rep.recoded["answer outside the scale set missing"] == \
        {"q2": 1}


def test_reverse_coding(survey):
    df = survey.rename(columns={f"Q{i}": f"q{i}" for i in range(1, 5)})
    X, rep = prepare_data(df, ITEMS, scale=(1, 7), reverse=["q2"])
    np.testing.assert_array_equal(X["q2"].to_numpy(), 8 - df["q2"].to_numpy())
    np.testing.assert_array_equal(X["q1"].to_numpy(), df["q1"].to_numpy())
    assert rep.reverse == ("q2",) and rep.recoded["reverse-coded (min + max - x)"] == {"q2": 60}
    # the user's frame is untouched
    assert df["q2"].equals(survey["Q2"])


def test_mapping_from_yaml_with_description(survey, tmp_path):
    survey.to_csv(tmp_path / "s.csv", index=False)
    (tmp_path / "m.yaml").write_text(
        "columns:\n  Q1: q1\n  Q2: q2\n  Q3: q3\n  Q4: q4\nreverse: [q4]\nscale: [1, 7]\n"
        "missing_codes: [-99]\nid: resp\n")
    df = load_data(tmp_path / "s.csv", mapping=tmp_path / "m.yaml")
    X, rep = prepare_data(df, ITEMS)
    np.testing.assert_array_equal(X["q4"].to_numpy(), 8 - survey["Q4"].to_numpy())
    assert rep.scale == (1.0, 7.0)


def test_bare_mapping_dict_and_description_object():
    d = data_description({"A": "a", "B": "b"})
    assert d.columns == {"A": "a", "B": "b"} and d.reverse == ()
    with pytest.raises(DataError, match="same model name"):
        data_description({"A": "a", "B": "a"})


def test_missing_codes_including_text(survey):
    df = survey.rename(columns={f"Q{i}": f"q{i}" for i in range(1, 5)}).astype(object)
    df.loc[3, "q1"] = "."
    df.loc[4, "q2"] = -99
    X, rep = prepare_data(df, ITEMS, missing_codes=[".", -99], missing="fiml")
    assert rep.n_missing == {"q1": 1, "q2": 1}


def test_listwise_report_counts_rows(survey):
    df = survey.rename(columns={f"Q{i}": f"q{i}" for i in range(1, 5)}).astype(float)
    df.loc[[1, 2], "q1"] = np.nan
    df.loc[2, "q3"] = np.nan
    df.loc[9, "q4"] = np.nan
    X, rep = prepare_data(df, ITEMS)
    assert rep.n_rows == 60 and rep.n_used == 57 and len(X) == 57
    assert rep.dropped == {"missing answer(s) (listwise deletion)": 3}
    assert "rows used: 57" in str(rep)
    assert list(X.index[:3]) == [0, 3, 4]           # original row labels kept


def test_auto_is_fiml_only_with_missing_answers(survey):
    df = survey.rename(columns={f"Q{i}": f"q{i}" for i in range(1, 5)}).astype(float)
    _, rep = prepare_data(df, ITEMS, missing="auto")
    assert rep.missing == "listwise"
    df.loc[0, "q1"] = np.nan
    X, rep = prepare_data(df, ITEMS, missing="auto")
    assert rep.missing == "fiml" and len(X) == 60 and rep.n_patterns == 2


def test_rows_without_any_answer_are_dropped_under_fiml(survey):
    df = survey.rename(columns={f"Q{i}": f"q{i}" for i in range(1, 5)}).astype(float)
    df.loc[5, ITEMS] = np.nan
    X, rep = prepare_data(df, ITEMS, missing="fiml")
    assert rep.dropped == {"no answer to any model item": 1} and rep.n_used == 59


def test_pairwise_moments_match_pandas(survey):
    df = survey[["Q1", "Q2", "Q3"]].astype(float)
    df.loc[[1, 2, 3], "Q1"] = np.nan
    df.loc[[3, 4], "Q2"] = np.nan
    means, cov, nobs = pairwise_moments(df)
    pd.testing.assert_frame_equal(cov, df.cov())
    assert nobs.loc["Q1", "Q2"] == 60 - 4 and nobs.loc["Q3", "Q3"] == 60
    X, rep = prepare_data(df, ["Q1", "Q2", "Q3"], missing="pairwise")
    assert rep.pairwise_nobs.loc["Q1", "Q2"] == 56
    pats = missing_patterns(df)
    assert pats["n"].sum() == 60 and len(pats) == 4


def test_ordered_items_need_whole_numbers(survey):
    df = survey.rename(columns={f"Q{i}": f"q{i}" for i in range(1, 5)}).astype(float)
    df.loc[0, "q1"] = 2.5
    with pytest.raises(DataError, match="non-integer answer 2.5"):
        prepare_data(df, ITEMS, ordered=ITEMS)


def test_few_categories_warn_for_continuous_treatment():
    df = pd.DataFrame({"a": [1, 2, 1, 2, 1, 2, 2, 1, 1, 2] * 3,
                       "b": [1, 2, 3, 4, 5, 6, 7, 1, 2, 4] * 3,
                       "c": [2, 3, 4, 5, 6, 7, 1, 1, 4, 4] * 3})
    with pytest.warns(SemclusterWarning, match="only 2 distinct values"):
        prepare_data(df, ["a", "b", "c"])


def test_few_rows_warning_with_parameter_count(survey):
    df = survey.rename(columns={f"Q{i}": f"q{i}" for i in range(1, 5)}).head(12)
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        _, rep = prepare_data(df, ITEMS, n_free=20)
    assert any("12 rows for 20 free parameters" in str(x.message) for x in w)
    assert rep.warnings


def test_linear_dependency_is_named(survey):
    df = survey.rename(columns={f"Q{i}": f"q{i}" for i in range(1, 5)}).astype(float)
    df["q4"] = df["q1"] + df["q2"] - df["q3"]
    with pytest.raises(DataError, match="linear combination of"):
        prepare_data(df, ITEMS)


def test_report_round_trips_through_json_with_what_happened(survey):
    """The data report says what was done (rows, rule, reverse-coded items with the number of
    values changed, scale) and survives JSON unchanged."""
    import json

    df = survey.rename(columns={f"Q{i}": f"q{i}" for i in range(1, 5)})
    df.loc[[3, 7], "q2"] = np.nan
    X, rep = prepare_data(df, ITEMS, scale=(1, 7), reverse=["q1"], missing="fiml")
    assert isinstance(rep, DataReport)
    d = json.loads(json.dumps(rep.to_dict()))
    assert d == rep.to_dict()
    assert (d["n_rows"], d["n_used"], d["missing"]) == (60, 60, "fiml")
    assert d["n_missing"] == {"q2": 2}            # items with missing answers
    assert d["reverse"] == ["q1"] and d["scale"] == [1.0, 7.0]
    changed = len(df)                 # every answer of q1 is recoded (8 - x), the midpoint too
    assert sum(v.get("q1", 0) for v in d["recoded"].values()) == changed
    np.testing.assert_array_equal(X["q1"].to_numpy(), 8 - df["q1"].to_numpy())


def test_lead_signature_still_works(survey):
    """fit.py calls prepare_data(df, variables, source=..., missing=...)."""
    df = survey.rename(columns={f"Q{i}": f"q{i}" for i in range(1, 5)})
    X, rep = prepare_data(df, ITEMS, source="x.csv", missing="listwise")
    assert rep.source == "x.csv" and rep.n_used == 60 and list(X.columns) == ITEMS


def test_user_survey_end_to_end(tmp_path):
    """Issue 7's user: an SPSS file with value labels, skipped answers, a declared 'no answer'
    code, an item typed as 8, a reverse-coded item and the survey's own item names.  Each
    problem is reported, nothing is dropped or changed silently, and the final robust FIML fit
    equals the fit of the original answers with the same cells missing."""
    import hashlib

    import pyreadstat

    from semcluster.estimation.registry import estimate
    from semcluster.resources import data_path
    from semcluster.spec.parser import read_model

    spec = read_model("h1_h5")
    items = spec.observed
    orig = pd.read_csv(data_path("paper_synthetic.csv"))[items].astype(float)
    names = {v: f"Q{i + 1}" for i, v in enumerate(items)}
    survey = orig.rename(columns=names).copy()
    survey["Q3"] = 8 - survey["Q3"]                       # ca3 asked the other way round
    rng = np.random.default_rng(1)
    skipped = [(int(rng.integers(160)), f"Q{int(rng.integers(1, 24))}") for _ in range(12)]
    for r, c in skipped:
        survey.loc[r, c] = np.nan                         # skipped: system missing
    survey.loc[[5, 6], "Q10"] = 99                        # declared "no answer"
    survey.loc[40, "Q20"] = 8                             # typed 8 on a 7-point scale
    labels = {c: {1.0: "strongly disagree", 4.0: "neither", 7.0: "strongly agree",
                  99.0: "no answer"} for c in survey}
    path = tmp_path / "survey.sav"
    pyreadstat.write_sav(survey, str(path), variable_value_labels=labels,
                         missing_ranges={c: [99] for c in survey})
    mapping = tmp_path / "map.yaml"
    mapping.write_text("columns:\n" + "".join(f"  {q}: {v}\n" for v, q in names.items()) +
                       "reverse: [ca3]\nscale: [1, 7]\n")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()

    df = load_data(path, mapping=mapping)
    with pytest.raises(DataError, match=r"'in1' has the value 8 at case 41"):
        prepare_data(df, items)                                   # the 8 stops the analysis
    with pytest.warns(SemclusterWarning, match="outside the scale"):
        X, rep = prepare_data(df, items, out_of_scale="missing", missing="auto")
    assert rep.missing == "fiml" and rep.n_rows == 160 and rep.n_used == 160
    assert rep.recoded["declared missing code set missing"] == {"mr2": 2}
    assert rep.recoded["answer outside the scale set missing"] == {"in1": 1}
    assert rep.recoded["reverse-coded (min + max - x)"]["ca3"] == 160 - \
        sum(1 for r, c in set(skipped) if c == "Q3")
    n_skipped = len(set(skipped))
    assert sum(rep.n_missing.values()) == n_skipped + 2 + 1

    res = estimate(spec, X, rep, estimator="MLR")                 # robust FIML
    assert res.estimator == "MLR" and res.converged

    # the same cells missing in the original answers: identical estimates and SEs
    ref = orig.copy()
    for r, c in skipped:
        ref.loc[r, items[int(c[1:]) - 1]] = np.nan
    ref.loc[[5, 6], "mr2"] = np.nan
    ref.loc[40, "in1"] = np.nan
    Xr, rr = prepare_data(ref, items, missing="fiml", warn=False)
    res_ref = estimate(spec, Xr, rr, estimator="MLR")
    pd.testing.assert_series_equal(res.estimates["est"], res_ref.estimates["est"], atol=1e-8)
    pd.testing.assert_series_equal(res.estimates["se"], res_ref.estimates["se"], atol=1e-8)
    assert hashlib.sha256(path.read_bytes()).hexdigest() == digest


def test_extreme_values(survey):
    df = survey.rename(columns={f"Q{i}": f"q{i}" for i in range(1, 5)}).astype(float)
    df.loc[7, "q3"] = 44.0                                   # a typing error for 4
    with pytest.warns(SemclusterWarning, match=r"'q3' has 1 value\(s\) far outside .*44 at row 8"):
        prepare_data(df, ITEMS)
    df.loc[7, "q3"] = 1e78
    with pytest.raises(DataError, match="times the spread"):
        prepare_data(df, ITEMS)
    # a rare answer of a binary item is not flagged
    b = pd.DataFrame({"a": [0.0] * 57 + [1.0] * 3, "b": np.arange(60) % 5,
                      "c": (np.arange(60) * 7) % 6})
    _, rep = prepare_data(b, ["a", "b", "c"], warn=False)
    assert not any("far outside" in w for w in rep.warnings)
    assert any("only 2 distinct values" in w for w in rep.warnings)
