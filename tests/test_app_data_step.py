"""The app's data step for a user's own survey and model (issue #25, the app parts).

- every data option of the command line has a control on the page, and the controls give the
  data path the same options as the flags;
- advice in the page's messages names the page's controls, never a command-line flag;
- the uploaded file is reported on its own, with no model chosen (the page starts without a
  model, so an upload is never checked against the study's model);
- with the user's model, a data error lists every problem of its items, not the first only;
- a user's model is drawn with its own names and caption (not the paper's dictionary).

The expected counts of the file report are those the test puts into the file.
"""
from __future__ import annotations

import argparse
import re

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("shiny", reason="the app extra is not installed (pip install '.[app]')")

from semcluster.app import mapping, texts, worker  # noqa: E402
from semcluster.cli import _common  # noqa: E402

FLAG = re.compile(r"(?<![\w-])--[a-z][a-z-]+")


def cli_data_options() -> list[str]:
    """The data options of the command line, read from its parser: the data-option group of
    every data-taking command, and the group column of ``fit``."""
    from semcluster.cli import build_parser

    p = argparse.ArgumentParser()
    g = _common.add_data_options(p)
    flags = [a.option_strings[0] for a in g._group_actions]
    fit = build_parser()._subparsers._group_actions[0].choices["fit"]
    flags += [a.option_strings[0] for a in fit._actions if "--group" in a.option_strings]
    return flags


def page_html() -> str:
    from semcluster.app.page import app_ui

    return str(app_ui(None))


# --- every data option has a control -----------------------------------------------------

def test_every_cli_data_option_has_a_control_on_the_page():
    flags = cli_data_options()
    assert {"--missing-codes", "--out-of-scale", "--cluster", "--group",
            "--long-string"} <= set(flags)          # the enumeration itself found them
    html = page_html()
    missing = [f for f in flags if f not in texts.CONTROLS]
    assert not missing, f"CLI data options without a control on the page: {missing}"
    for f in flags:
        control = texts.CONTROLS[f][0]
        assert f'id="{control}"' in html, f"{f}: no element with id {control!r} on the page"


def test_the_page_controls_give_the_data_path_the_options_the_flags_give():
    from semcluster.cli import build_parser

    args = build_parser().parse_args([
        "fit", "h1_h5", "--missing-codes=-99,98", "--scale", "1", "5", "--out-of-scale",
        "missing", "--id", "rid", "--missing", "listwise", "--ordered", "q1,q2",
        "--long-string", "4", "--drop-careless", "--cluster", "park", "--sheet", "S2",
        "--group", "own"])
    cli = _common.data_options_from_args(args)
    page = mapping.page_options(
        {"missing_codes": "-99, 98", "scale": "1 5", "out_of_scale": "missing",
         "id_col": "rid", "missing": "listwise", "ordered": "q1, q2", "long_string": "4",
         "drop_careless": True, "cluster_col": "park", "group_col": "own"}, sheet="S2")
    opts = worker.data_options(page)
    for field in ("missing", "missing_codes", "scale", "out_of_scale", "id", "ordered",
                  "long_string", "drop_careless", "cluster", "sheet"):
        assert getattr(opts, field) == getattr(cli, field), field
    assert page["group"] == args.group == "own"
    # and the empty page is the CLI's defaults
    empty = worker.data_options(mapping.page_options({}))
    default = _common.data_options_from_args(build_parser().parse_args(["fit", "h1_h5"]))
    for field in ("missing", "missing_codes", "scale", "out_of_scale", "id", "ordered",
                  "long_string", "drop_careless", "cluster", "sheet"):
        assert getattr(empty, field) == getattr(default, field), field


@pytest.mark.parametrize("text,field", [("1 x", "scale"), ("1", "scale"),
                                        ("three", "long_string"), ("1", "long_string")])
def test_a_malformed_control_is_a_one_line_message(text, field):
    key = {"scale": "scale", "long_string": "long_string"}[field]
    with pytest.raises(ValueError) as e:
        mapping.page_options({key: text})
    assert "\n" not in str(e.value) and str(e.value)


# --- advice names the page's controls ---------------------------------------------------

def _data_messages(tmp_path) -> list[str]:
    """Messages the data path gives for bad surveys (each names at least one CLI flag)."""
    from semcluster.data.survey import DataOptions, read_survey, require_complete
    from semcluster.errors import DataError

    rng = np.random.default_rng(3)
    good = pd.DataFrame(rng.integers(1, 6, size=(40, 4)).astype(float),
                        columns=["q1", "q2", "q3", "q4"])
    cases = []
    d = good.copy(); d.loc[2, "q1"] = -99                          # undeclared code
    cases.append((d, DataOptions(), ["q1", "q2", "q3", "q4"]))
    d = good.copy(); d.loc[2, "q2"] = 55                           # outside a declared scale
    cases.append((d, DataOptions(scale=(1, 5)), ["q1", "q2", "q3", "q4"]))
    d = good.copy(); d["q3"] = d["q3"].astype(object); d.loc[4, "q3"] = "abc"  # text
    cases.append((d, DataOptions(), ["q1", "q2", "q3", "q4"]))
    cases.append((good, DataOptions(), ["q1", "q2", "q9"]))           # absent column
    cases.append((good, DataOptions(reverse=("q1",)), ["q1", "q2", "q3", "q4"]))  # no scale
    d = good.copy(); d["rid"] = range(40)
    cases.append((d, DataOptions(id="q1"), ["q1", "q2", "q3", "q4"]))  # id is an item
    out = []
    for df, opts, variables in cases:
        with pytest.raises(DataError) as e:
            read_survey(df, opts, variables=variables, warn=False)
        out.append(str(e.value))
    d = good.copy(); d.loc[1, "q1"] = np.nan
    X, rep = read_survey(d, DataOptions(missing="fiml"), variables=list(good.columns),
                         warn=False)
    with pytest.raises(DataError) as e:
        require_complete(X, rep, "this check")
    out.append(str(e.value))
    return out


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_advice_in_data_messages_names_the_pages_controls_not_flags(tmp_path, lang):
    messages = _data_messages(tmp_path)
    assert all(FLAG.search(m) for m in messages)          # the data path's wording has flags
    for m in messages:
        shown = texts.page_advice(m, lang)
        assert not FLAG.search(shown), shown
        assert "step" in shown or "步" in shown, shown
    shown = texts.page_advice(messages[0], lang)
    assert ("“Missing-value codes” (step 1) = -99" if lang == "en"
            else "“缺失值代码” (第 1 步) = -99") in shown
    assert ("“Answers outside the scale: set them missing”" if lang == "en"
            else "“超出量表范围的回答: 设为缺失”") in shown


def test_every_flag_a_message_may_name_is_rewritten():
    for flag in cli_data_options():
        shown = texts.page_advice(f"fix it ({flag}) or give {flag} X", "en")
        assert flag not in shown and texts.CONTROLS[flag][2][0] in shown, (flag, shown)
    # a message without a flag is left as it is
    assert texts.page_advice("the data have no rows", "en") == "the data have no rows"


# --- the file on its own ----------------------------------------------------------------

def own_survey(path, *, n=60, seed=7):
    """A small own survey: id, group, 10 items K1..K10 on 1-5; known blanks, codes, two
    typos and two straight-liners put in by hand."""
    rng = np.random.default_rng(seed)
    items = [f"K{i}" for i in range(1, 11)]
    # answers alternate enough that no honest row has 5 equal answers in a row
    x = rng.integers(1, 6, size=(n, 10)).astype(float)
    for r in range(n):
        for j in range(4, 10):
            if len(set(x[r, j - 4:j + 1])) == 1:
                x[r, j] = 1 + x[r, j] % 5
    df = pd.DataFrame(x, columns=items)
    df.insert(0, "rid", [f"R{i:03d}" for i in range(n)])
    df["ownership"] = [1, 2] * (n // 2)
    df.loc[[3, 8], "K2"] = np.nan                         # 2 blanks
    df.loc[[5, 6, 7], "K4"] = -99                         # 3 missing-value codes
    df.loc[11, "K7"] = 55                                 # 2 typos outside the scale 1-5
    df.loc[12, "K8"] = 444
    df.loc[20, items] = 3.0                               # straight-lining
    df.loc[21, items] = 4.0
    df.to_csv(path, index=False)
    return df


def test_file_report_counts_what_the_file_holds_without_a_model(tmp_path):
    own_survey(tmp_path / "own.csv")
    cache = str(tmp_path / "own.pkl")
    r = worker.parse_upload(str(tmp_path / "own.csv"), cache, 10**7)
    assert r["rows"] == 60 and r["cols"] == 12
    rep = worker.file_report(cache, {"missing_codes": [-99], "scale": [1, 5], "id": "rid"},
                             exclude=["rid", "ownership"])
    col = {c["column"]: c for c in rep["columns"]}
    assert col["K2"]["blank"] == 2 and col["K4"]["codes"] == 3
    assert col["K7"]["outside_scale"] == 1 and col["K7"]["max"] == 55
    assert col["K8"]["outside_scale"] == 1
    assert sum(c["outside_scale"] for c in rep["columns"]) == 2
    assert rep["item_columns"] == [f"K{i}" for i in range(1, 11)]
    summary = dict(rep["summary"])
    assert summary["rows"] == 60 and summary["missing-value codes found"] == 3
    assert summary["answers missing (blank)"] == 2
    assert summary["answer scale"].startswith("1 … 5")
    flagged = sorted(c["respondent"] for c in rep["careless"])
    assert flagged == ["R020", "R021"]
    assert all(c["flagged_by"] == "straight-lining" for c in rep["careless"])
    # without the code declared nor a scale: -99 is a suspect code; 444 is a far value (over
    # 20 robust spreads from the median: |444 - 3| / (1.4826 * 2) = 149), 55 is not (17.5),
    # as in the data path, but it shows as the column's maximum
    rep = worker.file_report(cache, {"id": "rid"}, exclude=["rid", "ownership"])
    col = {c["column"]: c for c in rep["columns"]}
    assert col["K4"]["suspect_codes"] == [-99.0] and col["K4"]["codes"] == 0
    assert col["K8"]["far"] == [444.0] and col["K3"]["far"] == []
    assert col["K7"]["max"] == 55
    assert dict(rep["summary"])["answer scale"] == "not declared"


def test_careless_answers_of_the_file_follow_the_threshold_on_both_sides(tmp_path):
    df = own_survey(tmp_path / "own.csv")
    df.loc[30, [f"K{i}" for i in range(1, 11)]] = [1, 2, 4, 4, 4, 4, 4, 4, 2, 1]  # run of 6
    df.to_csv(tmp_path / "own.csv", index=False)
    cache = str(tmp_path / "own.pkl")
    worker.parse_upload(str(tmp_path / "own.csv"), cache, 10**7)
    opts = {"missing_codes": [-99], "scale": [1, 5], "id": "rid"}
    got = {t: sorted(c["respondent"] for c in worker.file_report(
        cache, dict(opts, long_string=t), exclude=["rid", "ownership"])["careless"])
        for t in (6, 7)}
    assert "R030" in got[6] and "R030" not in got[7]


# --- with the user's model: every problem at once ---------------------------------------

MODEL = "KS =~ K1 + K2 + K3 + K4 + K5\nINN =~ K6 + K7 + K8 + K9 + K10\nINN ~ KS\n"


def test_a_data_error_lists_every_problem_of_the_models_items(tmp_path):
    df = own_survey(tmp_path / "own.csv")
    df["K9"] = df["K9"].astype(object)
    df.loc[13, "K9"] = "n.a"                              # text in a third item
    df.to_csv(tmp_path / "own.csv", index=False)
    cache = str(tmp_path / "own.pkl")
    worker.parse_upload(str(tmp_path / "own.csv"), cache, 10**7)
    from semcluster.spec.parser import parse_model

    spec = parse_model(MODEL + "INN ~ K11\n", name="m")
    opts = mapping.page_options({"scale": "1 5", "id_col": "rid"})
    r = worker.prepare_data(cache, opts, list(spec.observed), list(spec.latent))
    problems = r["problems"]
    assert problems[0] == r["error"].splitlines()[0]
    text = "\n".join(problems)
    for what in ("K11", "'K4'", "'K7'", "'K8'", "'K9'"):   # absent, code, typos, text
        assert what in text, (what, problems)
    assert len(problems) == 5
    # one problem fixed: one fewer listed
    opts = mapping.page_options({"scale": "1 5", "id_col": "rid", "missing_codes": "-99"})
    r = worker.prepare_data(cache, opts, list(spec.observed), list(spec.latent))
    assert len(r["problems"]) == 4 and "'K4'" not in "\n".join(r["problems"])
    # and a clean read has none
    spec = parse_model(MODEL, name="m")
    opts = mapping.page_options({"scale": "1 5", "id_col": "rid", "missing_codes": "-99, n.a",
                                 "out_of_scale": "missing"})
    r = worker.prepare_data(cache, opts, list(spec.observed), list(spec.latent))
    assert "report" in r and r["report"].n_rows == 60


# --- the user's model drawn with its own names -------------------------------------------

def _texts_of(model_text, name, lang, study):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig = worker.conceptual_figure(model_text, name, lang, study)
    out = [t.get_text() for t in fig.findobj(matplotlib.text.Text) if t.get_text()]
    plt.close(fig)
    return out


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_a_users_model_is_drawn_with_its_own_names_and_caption(lang):
    model = "KS =~ K1 + K2 + K3\nPA =~ K4 + K5 + K6\nPA ~ KS\n"
    shown = " | ".join(_texts_of(model, "My firm survey", lang, False))
    assert "KS" in shown and "PA" in shown, shown
    for paper in ("knowledge", "Knowledge", "publicity", "知识", "宣传", "h1_h5"):
        assert paper not in shown, shown
    assert "My firm survey" in shown
    # the study's own model keeps the study's labels
    from semcluster.app.page import _model_text

    study = " | ".join(_texts_of(_model_text("h1_h5"), "", lang, True))
    assert ("Knowledge" in study or "knowledge" in study) if lang == "en" else "知识" in study


# --- the page, over its websocket (a real server) ----------------------------------------

@pytest.fixture(scope="module")
def server(tmp_path_factory):
    import os
    import sys
    from pathlib import Path

    pytest.importorskip("websockets")
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from app_client import free_port, start_server, stop_server

    port = free_port()
    log = tmp_path_factory.mktemp("app_log") / "server.log"
    tmp = tmp_path_factory.mktemp("app_tmp")
    proc = start_server(port, log, env=dict(os.environ, TMPDIR=str(tmp)))
    yield port
    stop_server(proc)


def _session(port, **inputs):
    from app_client import Session, initial_inputs

    return Session(port).open({**initial_inputs(""), "model_name": "", **inputs})


def _run(coro):
    import asyncio

    return asyncio.run(asyncio.wait_for(coro, 120))


def _cell(html: str, row: str) -> str:
    m = re.search(re.escape(row) + r"</td>\s*<td[^>]*>([^<]*)<", html)
    return m.group(1) if m else ""


OPTIONS = {"scale": "1 5", "missing_codes": "-99, n.a", "out_of_scale": "missing",
           "id_col": "rid"}


def test_a_fresh_page_has_no_model_chosen(server):
    import urllib.request

    html = urllib.request.urlopen(f"http://127.0.0.1:{server}/", timeout=20).read().decode()
    area = re.search(r'<textarea[^>]*id="model_text"[^>]*>(.*?)</textarea>', html, re.S)
    assert area is not None and area.group(1).strip() == ""
    select = re.search(r'<select[^>]*id="model_name".*?</select>', html, re.S).group(0)
    assert re.search(r'<option value="" selected(="")?>', select), select


def test_an_upload_is_reported_on_its_own_without_the_study_model(server, tmp_path):
    own_survey(tmp_path / "own.csv")

    async def go():
        s = await _session(server)
        await s.upload(tmp_path / "own.csv")
        await s.wait_for(lambda s: "file_summary_table" in s.outputs.get("file_report", ""),
                         what="the file's own report")
        await asyncio_sleep(1.0)
        out = dict(s.outputs)
        import urllib.request

        url = f"http://127.0.0.1:{server}/session/{s.session_id}/download/dl_careless?w="
        req = urllib.request.Request(url, headers={"Origin": f"http://127.0.0.1:{server}"})
        out["careless_csv"] = urllib.request.urlopen(req, timeout=20).read().decode()
        await s.update(lang="zh")                       # the report follows the language
        await s.wait_for(lambda s: "行数" in s.outputs.get("file_report", ""), what="zh")
        out["zh"] = s.outputs["file_report"]
        await s.close()
        return out

    out = _run(go())
    assert _cell(out["zh"], "行数") == "60" and "尚未选择模型" in out["zh"]
    # the two straight-liners put in rows 20 and 21 (file lines 22 and 23; the file's numeric
    # columns, ownership included, as no group column is named) in the download
    csv = pd.read_csv(__import__("io").StringIO(out["careless_csv"]))
    assert list(csv["row"]) == [22, 23], out["careless_csv"]
    fr = out["file_report"]
    assert _cell(fr, "rows") == "60" and _cell(fr, "columns") == "12"
    assert "no_model" in fr                                 # "choose a model to match"
    msg = out["data_message"]
    assert "data_ok" in msg and "data_error" not in msg, msg
    for study in ("ca1", "used by the model", "h1_h5"):
        assert study not in msg + out.get("data_report", ""), study
    assert "data_report_table" not in out.get("data_report", "")


def asyncio_sleep(t):
    import asyncio

    return asyncio.sleep(t)


@pytest.mark.parametrize("order", ["data first", "model first"])
def test_the_models_items_are_matched_in_either_order(server, tmp_path, order):
    own_survey(tmp_path / "own.csv")
    model = {"model_name": "(custom)", "model_text": MODEL}

    async def go():
        s = await _session(server, **OPTIONS, **(model if order == "model first" else {}))
        await s.upload(tmp_path / "own.csv")
        await s.wait_for(lambda s: "file_summary_table" in s.outputs.get("file_report", ""),
                         what="the file's own report")
        if order == "data first":
            await s.update(**model)
        await s.wait_for(lambda s: "data_report_table" in s.outputs.get("data_report", ""),
                         what="the model's data report")
        out = dict(s.outputs)
        await s.close()
        return out

    out = _run(go())
    rep = out["data_report"]
    assert _cell(rep, "rows read") == "60" and _cell(rep, "rows used") == "60"
    assert "K1, K2, K3" in rep
    # the two values outside the scale were set missing, as asked
    assert "K7 1, K8 1" in rep


def test_the_model_first_then_a_bad_file_lists_every_problem(server, tmp_path):
    df = own_survey(tmp_path / "own.csv")
    df["K9"] = df["K9"].astype(object)
    df.loc[13, "K9"] = "n.a"
    df.to_csv(tmp_path / "own.csv", index=False)

    async def go():
        s = await _session(server, model_name="(custom)", model_text=MODEL, scale="1 5",
                           id_col="rid")
        await s.upload(tmp_path / "own.csv")
        await s.wait_for(lambda s: "problem(s)" in s.outputs.get("data_message", ""),
                         what="the list of problems")
        out = dict(s.outputs)
        await s.close()
        return out

    msg = _run(go())["data_message"]
    assert "4 problem(s)" in msg, msg
    assert re.search(r"1\. own\.csv: column", msg), msg      # the file's name, no folder
    for col in ("'K4'", "'K7'", "'K8'", "'K9'"):
        assert col in msg, col
    assert not FLAG.search(msg), msg
    assert "“Missing-value codes” (step 1)" in msg.replace("&quot;", '"')


# --- the report job -----------------------------------------------------------------------

def _report_job(tmp_path, **extra):
    opts = mapping.page_options({"scale": "1 5", "id_col": "rid", "group_col": "ownership",
                                 "missing_codes": "-99"},
                                columns={"q_1": "K1", "q_2": "K2"}, reverse=["K2"])
    return {"kind": "report", "data": str(tmp_path / "own.csv"), "options": opts, "lang": "zh",
            "n_boot": 50, "model": MODEL, "model_name": "My survey", "study": "",
            "job": str(tmp_path / "job1"), **extra}


def test_the_report_job_builds_the_report_of_the_users_model(tmp_path, monkeypatch):
    import semcluster.output.report as report

    def builder(model=None, data=None, *, out=None, options=None, group=None,
                hypotheses=None, labels=None, lang="en", formats=("html", "md"),
                style="apa", n_boot=1000, seed=1, n_jobs=-1, progress=False):
        raise AssertionError("not called here")

    monkeypatch.setattr(report, "build_report", builder)
    args, kw = worker.report_call(_report_job(tmp_path))
    model, data = args
    assert list(model.observed) == [f"K{i}" for i in range(1, 11)] and model.name == "My survey"
    assert data == str(tmp_path / "own.csv") and kw["out"] == tmp_path / "job1" / "report"
    o = kw["options"]
    assert o.map == {"columns": {"q_1": "K1", "q_2": "K2"}, "reverse": ["K2"]}
    assert o.scale == (1.0, 5.0) and o.id == "rid" and o.missing_codes == (-99,)
    assert kw["group"] == "ownership" and kw["lang"] == "zh" and kw["n_boot"] == 50
    assert {"html", "md"} <= set(kw["formats"])
    assert "labels" not in kw and "hypotheses" not in kw
    # the user's labels and hypotheses files go to the builder as they are
    args, kw = worker.report_call(_report_job(tmp_path, labels="/x/labels.yaml",
                                              hypotheses="/x/hyp.yaml"))
    assert kw["labels"] == "/x/labels.yaml" and kw["hypotheses"] == "/x/hyp.yaml"


def test_the_study_model_unchanged_gets_the_studys_report(tmp_path):
    args, kw = worker.report_call(_report_job(tmp_path, study="h1_h5"))
    assert args == (str(tmp_path / "own.csv"), tmp_path / "job1" / "report")
    assert "power_reps" in kw and "group" not in kw


def test_a_builder_for_the_study_only_says_so_in_one_line(tmp_path, monkeypatch):
    import semcluster.output.report as report
    from semcluster.errors import OptionError

    def old(data=None, out="report", *, lang="en", n_boot=1000, power_reps=200,
            power_grid=(), n_jobs=-1, progress=False, options=None):
        raise AssertionError("not called here")

    monkeypatch.setattr(report, "build_report", old)
    with pytest.raises(OptionError) as e:
        worker.report_call(_report_job(tmp_path))
    assert "\n" not in str(e.value) and "h1_h5" in str(e.value)


@pytest.mark.parametrize("lang,label,title", [("en", "Knowledge sharing", "My KS study"),
                                              ("zh", "知识共享", "我的研究")])
def test_a_users_labels_file_names_the_constructs_and_the_caption(tmp_path, lang, label,
                                                                   title):
    f = tmp_path / "labels.yaml"
    f.write_text("title: {en: My KS study, zh: 我的研究}\n"
                 "constructs:\n  KS: {en: Knowledge sharing, zh: 知识共享}\n",
                 encoding="utf-8")
    model = "KS =~ K1 + K2 + K3\nPA =~ K4 + K5 + K6\nPA ~ KS\n"
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig = worker.conceptual_figure(model, "", lang, False, str(f))
    shown = " | ".join(t.get_text() for t in fig.findobj(matplotlib.text.Text))
    plt.close(fig)
    assert label in shown and title in shown and "PA" in shown, shown
    assert "publicity" not in shown and "宣传" not in shown      # PA keeps its own name


def test_the_group_control_reaches_the_fit(server, tmp_path):
    """With a group column named in step 1 the model is fitted in each group (the paths table
    shows one row per group), without it once."""
    own_survey(tmp_path / "own.csv")

    async def go(group):
        s = await _session(server, **OPTIONS, group_col=group, model_name="(custom)",
                           model_text=MODEL)
        await s.upload(tmp_path / "own.csv")
        await s.wait_for(lambda s: "data_report_table" in s.outputs.get("data_report", ""),
                         what="the model's data report")
        await s.update(**{"fit:shiny.action": 1})
        await s.wait_for(lambda s: "paths_table" in s.outputs.get("results", ""), timeout=90,
                         what="the fit")
        out = s.outputs["results"]
        await s.close()
        return out

    for group, rows in (("ownership", 2), ("", 1)):
        html = _run(go(group))
        table = re.search(r'id="paths_table">(.*?)</table>', html, re.S).group(1)
        body = table.split("<tbody>")[1]
        assert body.count("<tr>") == rows, (group, table)
        assert ("<th class=\"num\">group</th>" in table) == bool(group)


def test_another_worksheet_of_a_workbook_is_read_when_chosen(server, tmp_path):
    """An .xlsx with two worksheets: the first is read, the page offers both, and choosing
    the second reads that one (the sheet reaches the data options as --sheet does)."""
    path = tmp_path / "book.xlsx"
    first = pd.DataFrame({"note": ["read me", "then the data"]})
    second = own_survey(tmp_path / "own.csv")
    with pd.ExcelWriter(path) as xl:
        first.to_excel(xl, sheet_name="about", index=False)
        second.to_excel(xl, sheet_name="answers", index=False)

    async def go():
        s = await _session(server)
        await s.upload(path)
        await s.wait_for(lambda s: "book.xlsx: 2 rows, 1 columns" in
                         s.outputs.get("data_message", ""), what="the first worksheet")
        offered = [m for m in s.received if "inputMessages" in m and any(
            i.get("id") == "sheet" for i in m["inputMessages"])]
        await s.update(sheet="answers")
        await s.wait_for(lambda s: "book.xlsx: 60 rows, 12 columns" in
                         s.outputs.get("data_message", ""), what="the second worksheet")
        await s.wait_for(lambda s: _cell(s.outputs.get("file_report", ""), "rows") == "60",
                         what="its report")
        await s.close()
        return offered

    offered = _run(go())
    assert offered, "the page did not offer the workbook's worksheets"
    msg = [i for m in offered for i in m["inputMessages"] if i["id"] == "sheet"][-1]
    assert "about" in json_text(msg) and "answers" in json_text(msg)


def json_text(obj) -> str:
    import json

    return json.dumps(obj, ensure_ascii=False)


def test_the_saved_mapping_is_the_data_description_the_cli_reads(tmp_path):
    """Save mapping (step 2) writes every option a data description holds; --map reads it
    back to the same values."""
    from semcluster.data.survey import data_description

    doc = mapping.mapping_document({"Q_1": "K1", "Q_2": "K2", "Q_3": ""}, ["K2"], (1.0, 5.0),
                                   (-99, "n.a"), "rid", ["K1", "K2"], "answers")
    f = tmp_path / "mapping.yaml"
    f.write_text(mapping.to_yaml(doc), encoding="utf-8")
    d = data_description(str(f))
    assert d.columns == {"Q_1": "K1", "Q_2": "K2"} and tuple(d.reverse) == ("K2",)
    assert tuple(d.scale) == (1.0, 5.0) and tuple(d.missing_codes) == (-99, "n.a")
    assert d.id_column == "rid" and tuple(d.ordered) == ("K1", "K2") and d.sheet == "answers"
