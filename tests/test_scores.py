"""Factor scores (``SEMResult.predict``, ``semcluster scores``) against lavaan's lavPredict().

Reference: tests/fixtures/models/scores.json, written by make_scores.R (lavaan 0.6): regression
and Bartlett scores with their standard errors (``se = "standard"``) for the Holzinger &
Swineford CFA on complete data, the same with answers missing (FIML, ``missing = "ml"``), and
the study's structural model h1_h5.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import semcluster
from semcluster.cli import main
from semcluster.errors import DataError, InputTypeError, OptionError
from semcluster.resources import data_path

HERE = Path(__file__).parent
REF = json.loads((HERE / "fixtures" / "models" / "scores.json").read_text())
HS_MODEL = "visual =~ x1 + x2 + x3\ntextual =~ x4 + x5 + x6\nspeed =~ x7 + x8 + x9\n"
HS_DATA = data_path("holzinger_swineford_1939.csv")
HS_MISSING = HERE / "fixtures" / "estimators" / "hs39_missing.csv"
STUDY_DATA = data_path("paper_synthetic.csv")
COVARIATE = "visual =~ x1 + x2 + x3\ntextual =~ x4 + x5 + x6\ntextual ~ visual + x7\n"
OUTCOME = "visual =~ x1 + x2 + x3\ntextual =~ x4 + x5 + x6\nx7 ~ textual\n"
MIXED = "visual =~ x1 + x2 + x3\ntextual =~ x4 + x5 + x6\nx7 ~ textual + x8\n"
#: name in scores.json -> (model, data, missing, estimator)
CASES = {"hs39": (HS_MODEL, HS_DATA, None, None),
         "hs39_fiml": (HS_MODEL, HS_MISSING, "fiml", None),
         "study": ("h1_h5", STUDY_DATA, None, None),
         "hs39_mlr": (HS_MODEL, HS_DATA, None, "MLR"),
         "hs39_gls": (HS_MODEL, HS_DATA, None, "GLS"),
         # observed variables in regressions (lavaan's dummy latent variables)
         "hs39_covariate": (COVARIATE, HS_DATA, None, None),
         "hs39_outcome": (OUTCOME, HS_DATA, None, None),
         "hs39_mixed": (MIXED, HS_DATA, None, None),
         "hs39_outcome_fiml": (OUTCOME, HS_MISSING, "fiml", None)}
SCORE_TOL = 1e-4        # absolute, every row
SE_TOL = 2e-4           # relative


def _frame(columns: dict, n: int) -> pd.DataFrame:
    return pd.DataFrame({k: [np.nan if v is None else v for v in vals]
                         for k, vals in columns.items()}, index=range(n))


@pytest.fixture(scope="module")
def fits():
    out = {}
    for name, (model, path, missing, estimator) in CASES.items():
        df = pd.read_csv(path)
        out[name] = (semcluster.fit(model, df, missing=missing, estimator=estimator), df)
    return out


@pytest.mark.parametrize("name", list(CASES))
@pytest.mark.parametrize("method", ["regression", "bartlett"])
def test_scores_and_se_match_lavpredict(fits, name, method):
    res, df = fits[name]
    ref = REF[name][method]
    scores, se = res.predict(method, se=True, data=df)
    n = len(df)
    want = _frame(ref["scores"], n)
    assert list(scores.index) == list(df.index)
    assert list(scores.columns) == list(want.columns) == list(res.spec.latent)
    assert REF[name]["meanstructure"] == (missing_rule(name) == "fiml")
    got = scores.to_numpy()
    # lavaan's missing scores (Bartlett, a factor none of whose items was answered) are ours
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want.to_numpy()))
    np.testing.assert_allclose(got, want.to_numpy(), rtol=0, atol=SCORE_TOL)
    if ref["se_per_row"]:
        want_se = _frame(ref["se"], n)
    else:
        want_se = pd.DataFrame({k: [v] * n for k, v in ref["se"].items()})
    np.testing.assert_array_equal(np.isnan(se.to_numpy()), np.isnan(want_se.to_numpy()))
    np.testing.assert_allclose(se.to_numpy(), want_se.to_numpy(), rtol=SE_TOL)


def missing_rule(name):
    return CASES[name][2]


def test_fiml_bartlett_leaves_unanswered_factors_empty(fits):
    """Two respondents answered none of a factor's items: lavaan gives no Bartlett score for
    that factor (and no standard error), but a regression score from the other factors."""
    res, df = fits["hs39_fiml"]
    b = res.predict("bartlett", data=df)
    r = res.predict("regression", data=df)
    none_visual = df[["x1", "x2", "x3"]].isna().all(axis=1)
    assert none_visual.sum() == 1
    assert b.loc[none_visual, "visual"].isna().all()
    assert r.loc[none_visual, "visual"].notna().all()


def test_complete_data_fit_centres_at_sample_means_and_skips_incomplete_rows(fits):
    res, df = fits["hs39"]
    scores = res.predict(data=df)
    # regression scores of the fitted rows average zero (sample means, latent means zero)
    np.testing.assert_allclose(scores.mean().to_numpy(), 0, atol=1e-10)
    holed = df.copy()
    holed.loc[3, "x5"] = np.nan
    again = res.predict(data=holed)
    assert again.loc[3].isna().all() and again.drop(index=3).notna().all().all()


def test_index_is_kept(fits):
    res, df = fits["study"]
    shuffled = df.set_index(df.index + 1000)
    scores = res.predict("bartlett", data=shuffled)
    assert list(scores.index) == list(shuffled.index)


def test_a_result_read_back_from_json_gives_the_same_scores(fits):
    from semcluster.result.result import SEMResult

    res, df = fits["hs39_fiml"]
    again = SEMResult.from_json(res.to_json())
    pd.testing.assert_frame_equal(again.predict("bartlett", data=df),
                                  res.predict("bartlett", data=df))


def test_errors(fits):
    res, df = fits["hs39"]
    with pytest.raises(OptionError, match="unknown factor-score method 'anderson'"):
        res.predict("anderson", data=df)
    # a fit keeps the rows it was fitted to: predict() without data scores them
    pd.testing.assert_frame_equal(res.predict(), res.predict(data=df))
    # a result read back from JSON does not (the data are not saved)
    from semcluster.result.result import SEMResult

    with pytest.raises(OptionError, match="pass data="):
        SEMResult.from_json(res.to_json()).predict()
    with pytest.raises(DataError, match="x9"):
        res.predict(data=df.drop(columns="x9"))
    with pytest.raises(InputTypeError):
        res.predict(data=df.to_numpy())
    path = semcluster.fit("y ~ x1 + x2", pd.DataFrame(
        {"y": df.x9, "x1": df.x1, "x2": df.x2}))
    with pytest.raises(OptionError, match="no latent variables"):
        path.predict(data=df.rename(columns={"x9": "y"}))


def test_indicator_in_a_regression_is_refused(fits):
    _, df = fits["hs39"]
    res = semcluster.fit(HS_MODEL + "x1 ~ ageyr\n", df)
    with pytest.raises(OptionError, match=r"indicator is also in a regression \(x1\)"):
        res.predict(data=df)


def test_wlsmv_is_refused_with_a_reason():
    ordinal = pd.read_csv(HERE / "fixtures" / "estimators" / "hs39_ordinal.csv")
    res = semcluster.fit(HS_MODEL, ordinal, estimator="WLSMV")
    with pytest.raises(OptionError, match="ordinal items .*WLSMV.* not supported"):
        res.predict(data=ordinal)


def test_cli_writes_scores_in_file_order(tmp_path, capsys):
    model = tmp_path / "hs.lav"
    model.write_text(HS_MODEL)
    out = tmp_path / "scores.csv"
    assert main(["scores", str(model), "--data", str(HS_MISSING), "--out", str(out),
                 "--method", "bartlett", "--se", "--id", "id"]) == 0
    assert "wrote" in capsys.readouterr().out
    got = pd.read_csv(out)
    ref = REF["hs39_fiml"]["bartlett"]
    n = len(got)
    assert list(got.columns) == ["row", "id", "visual", "textual", "speed", "se_visual",
                                 "se_textual", "se_speed"]
    assert list(got.row) == list(range(1, n + 1))
    assert list(got.id) == list(pd.read_csv(HS_MISSING).id)
    np.testing.assert_allclose(got[["visual", "textual", "speed"]].to_numpy(),
                               _frame(ref["scores"], n).to_numpy(), atol=SCORE_TOL)
    np.testing.assert_allclose(got[["se_visual", "se_textual", "se_speed"]].to_numpy(),
                               _frame(ref["se"], n).to_numpy(), rtol=SE_TOL)


def test_cli_listwise_rows_are_kept_empty(tmp_path, capsys):
    model = tmp_path / "hs.lav"
    model.write_text(HS_MODEL)
    out = tmp_path / "scores.csv"
    assert main(["scores", str(model), "--data", str(HS_MISSING), "--missing", "listwise",
                 "--out", str(out)]) == 0
    text = capsys.readouterr().out
    got = pd.read_csv(out)
    complete = pd.read_csv(HS_MISSING)[[f"x{i}" for i in range(1, 10)]].notna().all(axis=1)
    assert len(got) == len(complete)
    assert got.loc[complete, "visual"].notna().all()
    assert got.loc[~complete, ["visual", "textual", "speed"]].isna().all().all()
    assert f"{(~complete).sum()} row(s) without scores" in text


def test_cli_id_column_from_the_data_description(tmp_path, capsys):
    desc = tmp_path / "map.yaml"
    desc.write_text("columns: {}\nid: id\n")
    out = tmp_path / "scores.csv"
    assert main(["scores", "h1_h5", "--data", str(STUDY_DATA), "--map", str(desc), "--out",
                 str(out)]) == 0
    got = pd.read_csv(out)
    assert list(got.columns[:2]) == ["row", "id"]
    assert list(got.id) == list(pd.read_csv(STUDY_DATA).id)


def test_cli_xlsx(tmp_path, capsys):
    pytest.importorskip("openpyxl")
    out = tmp_path / "scores.xlsx"
    assert main(["scores", "h1_h5", "--data", str(STUDY_DATA), "--out", str(out)]) == 0
    got = pd.read_excel(out, sheet_name="scores")
    ref = _frame(REF["study"]["regression"]["scores"], len(got))
    np.testing.assert_allclose(got[list(ref.columns)].to_numpy(), ref.to_numpy(),
                               atol=SCORE_TOL)


@pytest.mark.parametrize("argv, words", [
    (["--method", "anderson"], "invalid choice"),
    (["--estimator", "WLSMV"], "WLSMV"),
    (["--ordered", "all"], "ordinal"),
])
def test_cli_errors(tmp_path, capsys, argv, words):
    out = tmp_path / "s.csv"
    try:
        code = main(["scores", "h1_h5", "--out", str(out), *argv])
    except SystemExit as exc:          # argparse
        code = exc.code
    assert code == 2
    assert words in capsys.readouterr().err
    assert not out.exists()


def test_cli_model_without_latent_variables(tmp_path, capsys):
    model = tmp_path / "path.lav"
    model.write_text("in1 ~ ca1 + ca2\n")
    assert main(["scores", str(model), "--out", str(tmp_path / "s.csv")]) == 2
    assert "no latent variables" in capsys.readouterr().err


def test_cli_refuses_other_suffixes_and_the_input(tmp_path, capsys):
    assert main(["scores", "h1_h5", "--out", str(tmp_path / "s.txt")]) == 2
    assert ".csv or .xlsx" in capsys.readouterr().err
    data = tmp_path / "d.csv"
    data.write_bytes(Path(STUDY_DATA).read_bytes())
    assert main(["scores", "h1_h5", "--data", str(data), "--out", str(data)]) == 2
    assert "input" in capsys.readouterr().err
    assert data.read_bytes() == Path(STUDY_DATA).read_bytes()
