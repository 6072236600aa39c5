"""The page: Shiny for Python UI and server for ``semcluster app``.

Every number and figure comes from the library: :func:`semcluster.data.survey.load_data` and
:func:`semcluster.data.survey.read_survey` (the data report), :func:`semcluster.spec.parser.read_model` (errors
with line and column as you type), :func:`semcluster.fit` (in the worker), :mod:`semcluster.result.tables`
(HTML tables), :mod:`semcluster.output.diagrams` (figures), :func:`semcluster.compare_methods` and
:func:`semcluster.output.report.build_report` (in the worker).  What a session uploads or makes lives in
its own temporary folder, removed when the session ends.
"""
from __future__ import annotations

import asyncio
import base64
import functools
import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd
from shiny import App, reactive, render, ui

from .server import (HostOriginGuard, WorkerPool, allowed_hosts, bind,
                     remove_stale_folders, server_folder)
from .texts import STEP_TITLES, TEXTS, file_word, page_advice, text
from .worker import conceptual_png, parse_upload, prepare_data, read_status, report_progress
from .worker import file_report as report_file

ACCEPT = [".csv", ".tsv", ".txt", ".xlsx", ".xlsm", ".sav", ".zsav", ".dta"]
MISSING = {"auto": "auto", "listwise": "listwise", "fiml": "fiml (ml)", "pairwise": "pairwise"}
FIT_KEYS = ("chisq", "df", "pvalue", "cfi", "tli", "rmsea", "rmsea_ci_lower", "rmsea_ci_upper",
            "srmr")
CUSTOM = "(custom)"
NONE = ""                       # no model chosen yet: the upload is reported on its own
OUT_OF_SCALE = {"error": "error", "missing": "missing"}
#: The inputs of step 1 that hold data options (see mapping.page_options).
PAGE_OPTIONS = ("missing_codes", "scale", "out_of_scale", "id_col", "group_col", "cluster_col",
                "missing", "ordered", "long_string", "drop_careless")


def estimator_choices() -> list:
    """The estimators offered: every entry of the registry (semcluster.estimation.registry)."""
    from ..estimation.registry import ESTIMATORS

    return list(ESTIMATORS)

CSS = """
body { max-width: 1180px; margin: auto; padding: 0 1em 3em; }
.top { display: flex; justify-content: space-between; align-items: center; gap: 1em; }
.msg-error { color: #a40000; background: #fff0f0; border-left: 4px solid #a40000;
             padding: .4em .8em; margin: .5em 0; white-space: pre-wrap; }
.msg-ok { color: #215a00; background: #f0fff0; border-left: 4px solid #2c7a00;
          padding: .4em .8em; margin: .5em 0; }
.msg-warn { color: #6b4b00; background: #fffbea; border-left: 4px solid #c89400;
            padding: .4em .8em; margin: .5em 0; }
table.tbl { border-collapse: collapse; margin: .5em 0 1em; font-size: .92em; }
table.tbl th, table.tbl td { border-bottom: 1px solid #ddd; padding: .2em .6em; text-align: left; }
table.tbl td.num, table.tbl th.num { text-align: right; font-variant-numeric: tabular-nums; }
textarea#model_text { font-family: monospace; font-size: .9em; }
img.diagram { max-width: 100%; border: 1px solid #eee; margin: .5em 0; }
.maptable td { padding: 0 .5em; vertical-align: middle; }
.maptable .form-group, .maptable .shiny-input-container { margin: 0; }
.maptable input[type=text] { width: 8em; }
progress { width: 100%; height: 1.2em; }
"""


def _value(name: str, initial):
    """A reactive value with its name given: Shiny (1.8) otherwise infers it by inspecting the
    whole call stack, which costs an opened page tens of milliseconds per value while every
    other page waits."""
    try:
        return reactive.Value(initial, name=name)
    except TypeError:                          # a Shiny without the name argument
        return reactive.Value(initial)


def L(key: str):
    """A piece of page text that follows the language switch."""
    return ui.output_text(f"t_{key}", inline=True)


def _png(fig) -> str:
    """A matplotlib figure as an <img> data URI (the figure is closed)."""
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _msg(kind: str, message: str, id_: str | None = None):
    return ui.div(message, class_=f"msg-{kind}", id=id_)


def _html_table(df, **kw):
    from ..result import tables

    return ui.HTML(tables.to_html(df, **kw))


def _safe_name(name: str) -> str:
    base = os.path.basename(str(name)).strip() or "data"
    return re.sub(r"[^\w.\-]+", "_", base)[:120]


def _model_text(name: str) -> str:
    """The text of a bundled model chosen from the list (any other name: empty)."""
    from ..resources import model_path

    if name not in _bundled():                 # the choice comes from the browser: never a path
        return ""
    return model_path(name).read_text(encoding="utf-8")


def report_table(report) -> pd.DataFrame:
    """The data report as a two-column table (what the command line prints first)."""
    d = report.to_dict()
    rows = [("source", os.path.basename(str(d["source"]))), ("rows read", d["n_rows"]), ("rows used", d["n_used"])]
    for reason, n in d["dropped"].items():
        rows.append((f"rows dropped: {reason}", n))
    rows += [("missing-data rule", d["missing"]), ("missing-data patterns", d["n_patterns"]),
             ("answer scale", "–" if d["scale"] is None else f"{d['scale'][0]:g} … {d['scale'][1]:g}"),
             ("reverse-coded", ", ".join(d["reverse"]) or "–"),
             ("items", ", ".join(d["variables"]))]
    missing = {k: v for k, v in d["n_missing"].items() if v}
    rows.append(("missing answers", ", ".join(f"{k} {v}" for k, v in missing.items()) or "none"))
    for reason, per in d["recoded"].items():
        rows.append((f"recoded: {reason}", ", ".join(f"{k} {v}" for k, v in per.items())))
    for n in d["notes"]:
        rows.append(("note", n))
    return pd.DataFrame(rows, columns=["", "value"]).astype({"value": str})


class Worker:
    """One worker process (:mod:`semcluster.app.worker`), started ahead and given one job."""

    def __init__(self):
        env = dict(os.environ)
        src = str(Path(__file__).resolve().parents[2])
        env["PYTHONPATH"] = src + os.pathsep + env.get("PYTHONPATH", "")
        env.setdefault("OPENBLAS_NUM_THREADS", "1")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "semcluster.app.worker"], stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
            start_new_session=True)
        self.job: Path | None = None
        self.kind = ""
        self.uses: Path | None = None          # the upload folder the job reads

    def submit(self, job: Path, kind: str) -> None:
        self.job, self.kind = job, kind
        self.proc.stdin.write((str(job) + "\n").encode("utf-8"))
        self.proc.stdin.flush()
        self.proc.stdin.close()

    def status(self) -> dict:
        st = read_status(self.job)
        if st.get("state") in (None, "starting", "running") and self.proc.poll() is not None:
            st = {"state": "error", "message": f"the worker stopped (exit {self.proc.returncode})"}
        if self.kind == "report" and st.get("state") == "running":
            done = report_progress(self.job)
            if done:
                st.update(step=done[0], of=done[1])
        return st

    def stop(self) -> None:
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
            except (ProcessLookupError, PermissionError):
                self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)


def app_ui(request):
    models = {NONE: "(choose a model · 请选择模型)", **{m: m for m in _bundled()}}
    models[CUSTOM] = "(your own · 自定义)"
    step1 = ui.div(
        ui.h3(L("data_head")), ui.p(ui.output_text("t_data_help", inline=True)),
        ui.input_file("upload", L("upload"), accept=ACCEPT, width="420px"),
        ui.input_action_button("use_bundled", L("use_bundled"), class_="btn-secondary"),
        ui.input_select("sheet", L("sheet"), {"": "–"}, selected="", width="420px"),
        ui.h4(L("options_head")),
        ui.layout_columns(
            ui.input_text("missing_codes", L("missing_codes"), ""),
            ui.input_text("scale", L("scale"), ""),
            ui.input_select("out_of_scale", L("out_of_scale"), OUT_OF_SCALE,
                            selected="error"), col_widths=(4, 4, 4)),
        ui.layout_columns(
            ui.input_text("id_col", L("id_col"), ""),
            ui.input_text("group_col", L("group_col"), ""),
            ui.input_text("cluster_col", L("cluster_col"), ""), col_widths=(4, 4, 4)),
        ui.layout_columns(
            ui.input_select("missing", L("missing"), MISSING, selected="auto"),
            ui.input_text("ordered", L("ordered"), ""),
            ui.input_text("long_string", L("long_string"), ""), col_widths=(4, 4, 4)),
        ui.div(ui.input_checkbox("drop_careless", L("drop_careless"), False),
               ui.download_button("dl_careless", L("dl_careless"), class_="btn-sm"),
               class_="d-flex gap-3 align-items-center"),
        ui.output_ui("data_message"),
        ui.h4(L("file_head")), ui.output_ui("file_report"),
        ui.h4(L("match_head")), ui.output_ui("data_report"))
    step2 = ui.div(
        ui.h3(L("map_head")), ui.p(L("map_help")),
        ui.output_ui("map_table"),
        ui.div(ui.download_button("save_map", L("save_map")),
               ui.input_file("load_map", L("load_map"), accept=[".yaml", ".yml"],
                             width="320px"), class_="d-flex gap-3 align-items-end mt-2"),
        ui.output_ui("map_message"))
    step3 = ui.div(
        ui.h3(L("model_head")), ui.p(L("model_help")),
        ui.layout_columns(
            ui.input_select("model_name", L("model_name"), models, selected=NONE),
            ui.input_text("model_title", L("model_title"), ""), col_widths=(6, 6)),
        ui.input_text_area("model_text", L("model_text"), "", rows=18, width="100%"),
        ui.layout_columns(
            ui.input_file("labels_file", L("labels_file"), accept=[".yaml", ".yml"]),
            ui.input_file("hypotheses_file", L("hypotheses_file"), accept=[".yaml", ".yml"]),
            col_widths=(6, 6)),
        ui.output_ui("inputs_message"),
        ui.output_ui("model_message"), ui.output_ui("conceptual"))
    step4 = ui.div(
        ui.h3(L("fit_head")),
        ui.layout_columns(
            ui.input_select("estimator", L("estimator"), estimator_choices(), selected="ML"),
            ui.input_numeric("n_boot", L("n_boot"), 0, min=0, max=5000, step=100),
            col_widths=(6, 6)),
        ui.input_action_button("fit", L("fit"), class_="btn-primary"), " ",
        ui.input_action_button("cancel", L("cancel"), class_="btn-outline-danger"),
        ui.output_ui("fit_progress"))
    step5 = ui.div(
        ui.h3(L("results_head")), ui.output_ui("results"),
        ui.h4(L("downloads")),
        ui.div(ui.download_button("dl_estimates", L("dl_estimates")),
               ui.download_button("dl_json", L("dl_json")),
               ui.input_action_button("build_report", L("build_report")),
               ui.input_action_button("cancel_report", L("cancel_report"),
                                      class_="btn-outline-danger"),
               class_="d-flex gap-2 flex-wrap"),
        ui.output_ui("report_progress"))
    return ui.page_fluid(
        ui.head_content(ui.tags.title("semcluster app"), ui.tags.style(CSS)),
        ui.div(ui.h2(L("title")),
               ui.input_radio_buttons("lang", None, {"en": "English", "zh": "中文"},
                                      selected="en", inline=True), class_="top"),
        ui.p(L("intro")),
        ui.navset_tab(*[ui.nav_panel(t, body, value=v) for t, body, v in zip(
            STEP_TITLES, (step1, step2, step3, step4, step5),
            ("data", "items", "model", "fit", "results"))], id="steps"))


@functools.lru_cache(maxsize=1)
def _bundled() -> tuple[str, ...]:
    from ..resources import bundled_models

    names = bundled_models()
    return ("h1_h5",) + tuple(n for n in names if n != "h1_h5")


def make_server(max_upload_mb: float, pool: WorkerPool | None = None,
                root: Path | None = None):
    limit = int(max_upload_mb * 1024 * 1024)
    quota = 2 * limit               # uploads one session keeps on disk: the current file + a new one
    pool = pool or WorkerPool()

    def server(input, output, session):
        from ..errors import SemclusterError

        if not pool.open_session():
            n = pool.max_sessions
            ui.modal_show(ui.modal(text("busy_sessions", "en", n=n), ui.br(),
                                   text("busy_sessions", "zh", n=n), easy_close=False,
                                   footer=None))
            return
        session.on_ended(pool.close_session)
        folder = Path(tempfile.mkdtemp(prefix="session-", dir=root))

        def clean(message: str) -> str:
            """A one-line message without this session's temporary folder in it, its advice
            naming the page's controls (not the command line's flags)."""
            first = str(message).splitlines()[0] if str(message) else ""
            # an upload lives in <folder>/data/<n>/<name>: the page shows <name> only
            first = re.sub(re.escape(str(folder / "data") + os.sep) + r"\d+" +
                           re.escape(os.sep), "", first)
            first = first.replace(str(folder / "data") + os.sep, "").replace(str(folder), "")
            with reactive.isolate():
                lg = lang()
            return page_advice(first, lg)
        lang = _value("lang", "en")
        data_path = _value("data_path", None)       # Path, or "" for the bundled data
        data_cache = _value("data_cache", "")        # the parsed frame (pickle) of data_path
        reading = _value("reading", "")           # name of the file being read, if any
        columns = _value("columns", ())
        data_error = _value("data_error", "")
        data_info = _value("data_info", "")
        sheet_now = _value("sheet_now", None)         # the worksheet read (Excel)
        model_items = _value("model_items", ())        # the chosen model's observed items
        map_loaded = _value("map_loaded", None)      # DataDescription loaded from YAML
        map_error = _value("map_error", "")
        fit_job = _value("fit_job", None)         # Worker
        report_job = _value("report_job", None)
        fit_state = _value("fit_state", {})
        report_state = _value("report_state", {})
        fit_results = _value("fit_results", None)         # dict of what the fit job made
        jobs = {"n": 0, "uploads": 0}

        def cleanup():
            parse_task.cancel()
            prep_task.cancel()
            file_task.cancel()
            draw_task.cancel()
            for w in (fit_job._value, report_job._value):
                if w is not None:
                    w.stop()
            shutil.rmtree(folder, ignore_errors=True)

        session.on_ended(cleanup)

        # uploads over the limit are refused before a byte is sent (the browser states the
        # size); the ASGI guard in create_app stops a client that lies about it
        original = session._message_handlers.get("uploadInit")

        async def upload_init(file_infos):
            big = [fi for fi in file_infos if int(fi.get("size") or 0) > limit]
            if big:
                fi = big[0]
                msg = text("too_big", lang(), name=_safe_name(fi.get("name", "")),
                           size=int(fi["size"]) / 2**20, limit=f"{max_upload_mb:g}")
                data_error.set(msg)
                await reactive.flush()
                raise ValueError(msg)
            return await original[0](file_infos)

        if original is not None:
            session.set_message_handler("uploadInit", upload_init)

        # --- language ------------------------------------------------------------------
        @reactive.effect
        @reactive.event(input.lang)
        def _():
            lang.set(input.lang())

        def _text_output(key):
            def fn():
                return text(key, lang(), limit=f"{max_upload_mb:g}") if "{limit}" in \
                    TEXTS[key][0] else text(key, lang())
            fn.__name__ = f"t_{key}"
            render.text(fn)                    # registered under its name, t_<key>

        for key in TEXTS:
            if re.fullmatch(r"\w+", key):
                _text_output(key)

        # --- step 1: data ---------------------------------------------------------------
        # Files are read in the worker pool, never in the event loop: a large upload in one
        # session must not freeze the others (Shiny runs every session's reactive code under
        # one lock; an extended task runs outside it).
        @reactive.extended_task
        async def parse_task(path, cache, name, sheet=None):
            loop = asyncio.get_running_loop()
            r = await loop.run_in_executor(pool.executor("data"), parse_upload, str(path or ""),
                                           cache, limit, sheet)
            return {**r, "path": path, "cache": cache, "name": name}

        @reactive.extended_task
        async def file_task(cache, options, exclude):
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(pool.executor("data"), report_file, cache,
                                              options, exclude)

        @reactive.extended_task
        async def prep_task(cache, options, variables, latent):
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(pool.executor("data"), prepare_data, cache, options,
                                              variables, latent)

        def uploads_in_use() -> set:
            keep = set()
            for w in (fit_job._value, report_job._value):
                if w is not None and w.uses is not None and w.proc.poll() is None:
                    keep.add(w.uses)
            return keep

        def prune_uploads(*keep) -> None:
            """Remove upload folders that are neither current nor read by a running job."""
            base = folder / "data"
            if not base.exists():
                return
            path = data_path._value
            current = {Path(path).parent} if path else set()
            for d in base.iterdir():
                if d not in current and d not in keep and d not in uploads_in_use():
                    shutil.rmtree(d, ignore_errors=True)

        def set_data(path, name, sheet=None):
            cache = str((Path(path).parent if path else folder) / "data.pkl")
            if not path:
                (folder / "bundled").mkdir(exist_ok=True)
                cache = str(folder / "bundled" / "data.pkl")
            reading.set(name)
            parse_task.cancel()
            parse_task(path, cache, name, sheet)

        @reactive.effect
        def _parsed():
            if parse_task.status() not in ("success", "error"):
                return
            with reactive.isolate():
                reading.set("")
                lg = lang()
                if parse_task.status() == "error":
                    data_error.set(clean(parse_task.error()))
                    return
                r = parse_task.value()
                if "error" in r:
                    data_error.set(clean(r["error"]))
                    if r["path"]:
                        shutil.rmtree(Path(r["path"]).parent, ignore_errors=True)
                    return
                data_error.set("")
                data_path.set(r["path"])
                data_cache.set(r["cache"])
                columns.set(tuple(r["columns"]))
                sheets = r.get("sheets") or []
                sheet_now.set(r.get("sheet") or (sheets[0] if sheets else None))
                ui.update_select("sheet", choices={s: s for s in sheets} or {"": "–"},
                                 selected=sheet_now._value or "")
                data_info.set(text("loaded", lg, name=r["name"], rows=r["rows"],
                                   cols=r["cols"]))
                prune_uploads()

        @reactive.effect
        @reactive.event(input.upload)
        def _():
            files = input.upload()
            if not files:
                return
            f = files[0]
            src = Path(f["datapath"])
            size = src.stat().st_size if src.exists() else 0
            if size > limit:
                src.unlink(missing_ok=True)
                data_error.set(text("too_big", lang(), name=_safe_name(f["name"]),
                                    size=size / 2**20, limit=f"{max_upload_mb:g}"))
                return
            prune_uploads()
            # the uploads this session keeps (their parsed copies, bounded by the cell limit,
            # are not counted: a compact CSV's copy is several times its size)
            kept = sum(p.stat().st_size for p in (folder / "data").glob("*/*")
                       if p.name != "data.pkl") if (folder / "data").exists() else 0
            if kept + size > quota:
                src.unlink(missing_ok=True)
                data_error.set(text("quota", lang(), name=_safe_name(f["name"]),
                                    kept=kept / 2**20, quota=f"{quota / 2**20:g}"))
                return
            jobs["uploads"] += 1
            dest_dir = folder / "data" / str(jobs["uploads"])
            dest_dir.mkdir(parents=True)
            dest = dest_dir / _safe_name(f["name"])
            shutil.move(str(src), dest)
            set_data(dest, dest.name)

        @reactive.effect
        @reactive.event(input.use_bundled)
        def _():
            set_data("", "paper_synthetic.csv")

        @reactive.effect
        @reactive.event(input.sheet)
        def _():
            """Another worksheet of the workbook read: the file is read again."""
            want = input.sheet()
            path = data_path()
            if want and path and want != sheet_now._value:
                set_data(path, Path(path).name, want)

        @reactive.calc
        def file_options():
            """The options the file's own report needs (no model, no mapping)."""
            from .mapping import page_options

            o = page_options(controls())
            return {k: o[k] for k in ("missing_codes", "scale", "id", "long_string",
                                      "cluster")}

        @reactive.calc
        def controls() -> dict:
            """What the data-option controls of step 1 hold, as typed."""
            return {key: input[key]() for key in PAGE_OPTIONS}

        @reactive.calc
        def options_dict():
            """The data options as plain values (also what the worker gets)."""
            from .mapping import page_options

            cols = columns()
            items = mapping_items()
            revs = [items[c] for i, c in enumerate(cols)
                    if items.get(c) and bool(input[f"map_rev_{i}"]() if f"map_rev_{i}" in
                                             input else False)]
            return page_options(controls(), columns=items, reverse=revs, sheet=sheet_now())

        options_error = _value("options_error", "")

        @reactive.effect
        def _model_items():
            """The chosen model's items (a new value only when they change: editing a path
            of the model must not redraw the items table)."""
            spec = model_spec()
            model_items.set(() if isinstance(spec, Exception) else tuple(spec.observed))

        @reactive.effect
        def _file_report():
            """The file reported on its own, with or without a model (in the worker pool)."""
            if data_path() is None:
                return
            cache = data_cache()
            try:
                fo = file_options()
            except ValueError as exc:
                options_error.set(str(exc).splitlines()[0])
                return
            options_error.set("")
            exclude = [c for c in (fo["id"], fo["cluster"],
                                   input.group_col().strip() or None) if c]
            file_task.cancel()
            file_task(cache, fo, exclude)

        @reactive.effect
        def _prepare():
            """Prepare the data for the chosen model and options, in the worker pool; nothing
            is matched before a model is chosen (step 3)."""
            if data_path() is None:
                return
            cache = data_cache()
            spec = model_spec()
            if isinstance(spec, Exception):
                return
            try:
                opts = options_dict()
            except ValueError as exc:
                options_error.set(str(exc).splitlines()[0])
                return
            options_error.set("")
            prep_task.cancel()                 # a newer edit replaces a pending preparation
            prep_task(cache, opts, list(spec.observed), list(spec.latent))

        @reactive.calc
        def prepared():
            """(None, report, error message) for the chosen model; (None, None, "") while the
            worker prepares it or when no model is chosen.  A data error lists every problem
            the data path finds in the model's items (one a line)."""
            if data_path() is None:
                return None, None, ""
            if options_error():
                return None, None, options_error()
            if isinstance(model_spec(), Exception):
                return None, None, ""
            if prep_task.status() != "success":
                return None, None, ""
            r = prep_task.value()
            if "error" in r:
                problems = list(dict.fromkeys(clean(m) for m in r.get("problems") or []))
                if len(problems) > 1:
                    return None, None, "\n".join(
                        [text("problems", lang(), n=len(problems))]
                        + [f"{i}. {m}" for i, m in enumerate(problems, 1)])
                return None, None, clean(r["error"])
            return None, r["report"], ""

        @render.ui
        def data_message():
            if data_error():
                return _msg("error", data_error(), "data_error")
            if reading():
                return _msg("warn", text("reading", lang(), name=reading()), "data_reading")
            if data_path() is None:
                return _msg("warn", text("no_data", lang()))
            X, rep, err = prepared()
            out = [_msg("ok", data_info(), "data_ok")]
            if err:
                out.append(_msg("error", err, "data_error"))
            return ui.TagList(*out)

        @render.ui
        def file_report():
            if data_path() is None or reading():
                return None
            if file_task.status() == "error":
                return _msg("error", clean(file_task.error()), "file_error")
            if file_task.status() != "success":
                return None
            r = file_task.value()
            lg = lang()
            if "error" in r:
                return _msg("error", clean(r["error"]), "file_error")
            cols = pd.DataFrame([{
                "column": c["column"], "label": c["label"], "answers": c["answers"],
                "blank": c["blank"], "missing codes": c["codes"], "text": (
                    f"{c['text']} (e.g. {c['text_example']!r})" if c["text"] else "0"),
                "min": "–" if c["min"] is None else f"{c['min']:g}",
                "max": "–" if c["max"] is None else f"{c['max']:g}",
                "suspect values": ", ".join(f"{v:g}" for v in sorted(
                    set(c["suspect_codes"]) | set(c["far"]))) or "–",
                "outside the scale": c["outside_scale"]} for c in r["columns"]])
            if not cols["label"].astype(bool).any():
                cols = cols.drop(columns="label")
            cols = cols.rename(columns=lambda c: file_word(c, lg))
            summary = pd.DataFrame([(file_word(k, lg), file_word(str(v), lg))
                                    for k, v in r["summary"]],
                                   columns=["", file_word("value", lg)])
            parts = [ui.div(_html_table(summary), id="file_summary_table"),
                     ui.h5(text("file_columns", lg)),
                     ui.div(_html_table(cols), id="file_columns_table")]
            if r["careless_rule"]:
                parts.append(ui.p(ui.tags.b(text("careless_head", lg)), ": ",
                                  str(len(r["careless"])) if not r["careless_rule"]
                                  .startswith("not") else "–", " — ", r["careless_rule"]))
                if r["careless"]:
                    parts.append(ui.div(_html_table(pd.DataFrame(r["careless"]).rename(
                        columns=lambda c: file_word(c, lg))), id="file_careless_table"))
            if isinstance(model_spec(), Exception):
                parts.append(_msg("warn", text("no_model", lg), "no_model"))
            return ui.div(*parts, id="file_report_el")

        @render.ui
        def data_report():
            X, rep, err = prepared()
            if rep is None:
                return None
            return ui.div(_html_table(report_table(rep)), id="data_report_table")

        @render.download_button(filename="careless_respondents.csv")
        def dl_careless():
            """The respondents flagged as careless: the chosen model's items (the data report's
            list), else the file's numeric columns (its own report)."""
            X, rep, err = prepared()
            if rep is not None:
                yield rep.careless_table().to_csv(index=False)
                return
            if file_task.status() == "success" and "careless" in file_task.value():
                from ..data.survey import CARELESS_COLUMNS

                yield pd.DataFrame(file_task.value()["careless"],
                                   columns=[c for c in CARELESS_COLUMNS if c != "same_value"]
                                   ).to_csv(index=False)

        # --- step 2: mapping ------------------------------------------------------------
        @reactive.calc
        def suggestions():
            """Model items suggested for the file's columns: only the chosen model's (no
            model chosen, no suggestion)."""
            from .mapping import suggest_mapping

            return suggest_mapping(columns(), list(model_items()))

        @reactive.calc
        def mapping_items():
            sug = suggestions()
            out = {}
            for i, c in enumerate(columns()):
                key = f"map_item_{i}"
                v = input[key]() if key in input else sug.get(c, "")
                out[c] = (v or "").strip()
            return out

        @render.ui
        def map_table():
            cols = columns()
            if not cols:
                return _msg("warn", text("no_data", lang()))
            sug = suggestions()
            lg = lang()
            loaded = map_loaded()
            with reactive.isolate():           # typing in the model must not reset the table
                spec = model_spec()
            factor_of = {} if isinstance(spec, Exception) else {
                r.rhs: r.lhs for r in spec.partable.itertuples() if r.op == "=~"}
            rows = []
            for i, c in enumerate(cols):
                item = sug.get(c, "")
                rev = False
                if loaded is not None:
                    item = loaded.columns.get(c, item if item and item not in
                                              loaded.columns.values() else "")
                    rev = item in loaded.reverse
                construct = factor_of.get(item, "")
                rows.append(ui.tags.tr(
                    ui.tags.td(ui.tags.code(c)),
                    ui.tags.td(ui.input_text(f"map_item_{i}", None, item, width="9em")),
                    ui.tags.td(construct),
                    ui.tags.td(ui.input_checkbox(f"map_rev_{i}", None, rev))))
            head = ui.tags.tr(*[ui.tags.th(text(k, lg)) for k in
                                ("col_file", "col_item", "col_construct", "col_reverse")])
            return ui.tags.table(ui.tags.thead(head), ui.tags.tbody(*rows),
                                 class_="maptable", id="map_table_el")

        @render.download_button(filename="mapping.yaml")
        def save_map():
            from .mapping import mapping_document, to_yaml

            o = options_dict()
            yield to_yaml(mapping_document(o["map"]["columns"], o["map"].get("reverse", ()),
                                           o["scale"], o["missing_codes"], o["id"],
                                           o["ordered"], o["sheet"]))

        @reactive.effect
        @reactive.event(input.load_map)
        def _():
            from ..data.survey import data_description

            f = input.load_map()[0]
            if Path(f["datapath"]).stat().st_size > 1_000_000:
                map_error.set("a mapping file is a short YAML text; this one is over 1 MB")
                return
            try:
                desc = data_description(f["datapath"])
            except SemclusterError as exc:
                map_error.set(str(exc).replace(f["datapath"], f["name"]).splitlines()[0])
                return
            map_error.set("")
            if desc.scale:
                ui.update_text("scale", value=f"{desc.scale[0]:g} {desc.scale[1]:g}")
            if desc.missing_codes:
                ui.update_text("missing_codes", value=", ".join(map(str, desc.missing_codes)))
            if desc.id_column:
                ui.update_text("id_col", value=desc.id_column)
            if desc.ordered:
                ui.update_text("ordered", value=desc.ordered if desc.ordered == "all"
                               else ", ".join(desc.ordered))
            map_loaded.set(desc)

        @render.ui
        def map_message():
            if map_error():
                return _msg("error", map_error(), "map_error")
            return None

        # --- step 3: model --------------------------------------------------------------
        @reactive.effect
        @reactive.event(input.model_name)
        def _():
            name = input.model_name()
            if name != CUSTOM and name in _bundled():
                ui.update_text_area("model_text", value=_model_text(name))

        @reactive.calc
        def study_model() -> str:
            """The bundled model's name when the box holds its text unchanged, else "" (the
            study's labels apply to the study's models only)."""
            name = input.model_name()
            if name in _bundled() and (input.model_text() or "") == _model_text(name):
                return name
            return ""

        @reactive.calc
        def model_spec():
            from ..spec.parser import parse_model

            # the box holds model text and nothing else: a one-line path is never opened
            t = input.model_text() or ""
            name = (input.model_title() or "").strip() or (
                study_model() or "model")
            if not t.strip():
                from ..errors import ModelSyntaxError

                return ModelSyntaxError("the model is empty: no statements found",
                                        "<model>", 1, 1)
            try:
                return parse_model(t, source="<model>", name=name)
            except SemclusterError as exc:
                return exc

        @render.ui
        def model_message():
            spec = model_spec()
            lg = lang()
            if isinstance(spec, Exception):
                if not (input.model_text() or "").strip():
                    return _msg("warn", text("model_none", lg), "model_none")
                line = getattr(spec, "line", None)
                if line is not None:
                    m = text("model_error", lg, line=line, col=spec.column or "?",
                             msg=getattr(spec, "reason", str(spec)))
                else:
                    m = str(spec).splitlines()[0]
                return _msg("error", m, "model_error")
            return _msg("ok", text("model_ok", lg, nl=len(spec.latent), no=len(spec.observed),
                                   nf=spec.n_free), "model_ok")

        # the user's labels and hypotheses files: kept in the session folder, read by the
        # diagram (labels) and the report builder (both); a bad file is a one-line message
        side_files = _value("side_files", {})
        side_error = _value("side_error", "")

        def keep_side_file(kind: str, files) -> None:
            if not files:
                return
            f = files[0]
            src = Path(f["datapath"])
            if src.stat().st_size > 1_000_000:
                side_error.set(f"{_safe_name(f['name'])}: a {kind} file is a short YAML text; "
                               f"this one is over 1 MB")
                return
            dest = folder / "inputs" / f"{kind}.yaml"
            dest.parent.mkdir(exist_ok=True)
            shutil.copyfile(src, dest)
            if kind == "labels":
                try:
                    from ..data.labels import Labels
                except ImportError:
                    Labels = None
                if Labels is not None:
                    try:
                        Labels.from_yaml(dest)
                    except SemclusterError as exc:
                        side_error.set(str(exc).replace(str(dest), _safe_name(f["name"]))
                                       .splitlines()[0])
                        dest.unlink(missing_ok=True)
                        return
            side_error.set("")
            side_files.set({**side_files(), kind: (str(dest), _safe_name(f["name"]))})

        @reactive.effect
        @reactive.event(input.labels_file)
        def _():
            with reactive.isolate():
                keep_side_file("labels", input.labels_file())

        @reactive.effect
        @reactive.event(input.hypotheses_file)
        def _():
            with reactive.isolate():
                keep_side_file("hypotheses", input.hypotheses_file())

        @render.ui
        def inputs_message():
            if side_error():
                return _msg("error", side_error(), "inputs_error")
            kept = side_files()
            if not kept:
                return None
            return ui.TagList(*[_msg("ok", text("file_kept", lang(), name=name))
                                for _, name in kept.values()])

        # the diagram is drawn in the pool (half a second of matplotlib per edit would hold
        # every other page's reactive code); a newer edit replaces a drawing not yet begun
        @reactive.extended_task
        async def draw_task(model_text, name, lg, study, labels=None):
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(pool.executor("draw"), conceptual_png,
                                              model_text, name, lg, study, labels)

        @reactive.effect
        def _draw():
            spec = model_spec()
            if isinstance(spec, Exception):
                return
            lg = lang()
            with reactive.isolate():
                t = input.model_text() or ""
                study = bool(study_model())
            # the caption names the user's model (its title, else the labels file's), and a
            # user's model is drawn with its own names: the study's dictionary is for the
            # study only
            name = (input.model_title() or "").strip()
            labels = side_files().get("labels", (None,))[0]
            draw_task.cancel()
            draw_task(t, name, lg, study, labels)

        @render.ui
        def conceptual():
            spec = model_spec()
            if isinstance(spec, Exception):
                return None
            r = draw_task.result()
            if "error" in r:
                return _msg("warn", r["error"])
            return ui.img(src=r["png"], class_="diagram", id="conceptual_img")

        # --- step 4: fit ------------------------------------------------------------------
        def new_job(kind: str, extra: dict) -> Worker | None:
            """Start a job in a worker of the pool; None when the pool is at its limit."""
            w = pool.take_worker(Worker)
            if w is None:
                return None
            jobs["n"] += 1
            job = folder / f"job{jobs['n']}"
            job.mkdir()
            path = data_path()
            spec = {"kind": kind, "data": str(path) if path else None,
                    "data_cache": data_cache() if kind == "fit" else "",
                    "options": options_dict(), **extra}
            (job / "job.json").write_text(json.dumps(spec), encoding="utf-8")
            w.uses = Path(path).parent if path else None
            w.submit(job, kind)
            return w

        @reactive.effect
        @reactive.event(input.fit)
        def _():
            lg = lang()
            if data_path() is None:
                fit_state.set({"state": "error", "message": text("need_data", lg)})
                return
            spec = model_spec()
            if isinstance(spec, Exception):
                fit_state.set({"state": "error", "message": text("need_model", lg)})
                return
            X, rep, err = prepared()
            if err:
                fit_state.set({"state": "error", "message": err})
                return
            old = fit_job()
            if old is not None:
                old.stop()
            try:
                n_boot = max(0, int(input.n_boot() or 0))
            except (TypeError, ValueError):
                n_boot = 0
            w = new_job("fit", {"model": input.model_text(), "model_name": spec.name,
                                "estimator": input.estimator(), "n_boot": n_boot,
                                "study": study_model()})
            if w is None:
                fit_job.set(None)
                fit_state.set({"state": "error", "message": text("busy_jobs", lg,
                                                                 n=pool.max_jobs)})
                return
            fit_job.set(w)
            fit_state.set({"state": "starting"})

        @reactive.effect
        @reactive.event(input.cancel)
        def _():
            w = fit_job()
            if w is not None and fit_state().get("state") in ("starting", "running"):
                w.stop()
                fit_state.set({"state": "cancelled"})
                fit_job.set(None)

        @reactive.effect
        def _poll_fit():
            w = fit_job()
            if w is None:
                return
            with reactive.isolate():
                if fit_state().get("state") not in ("starting", "running"):
                    return
            reactive.invalidate_later(0.4)
            st = w.status()
            with reactive.isolate():
                if st != fit_state():
                    fit_state.set(st)
            if st.get("state") == "done":
                fit_results.set(load_results(w.job, st))
                ui.update_navset("steps", selected="results")

        @render.ui
        def fit_progress():
            return progress_ui(fit_state(), "fit_done", "fit_status")

        def progress_ui(st, done_key, id_):
            lg = lang()
            state = st.get("state")
            if not state:
                return None
            if state == "starting":
                return ui.div(ui.tags.progress(), _msg("warn", text("starting", lg)), id=id_)
            if state == "running":
                return ui.div(ui.tags.progress(value=st.get("step", 0), max=st.get("of", 1)),
                              _msg("warn", text("running", lg, message=st.get("message", ""),
                                                step=st.get("step", 0), of=st.get("of", 1))),
                              id=id_)
            if state == "cancelled":
                return ui.div(_msg("warn", text("cancelled", lg)), id=id_)
            if state == "error":
                return ui.div(_msg("error", clean(st.get("message", ""))), id=id_)
            out = [_msg("ok", text(done_key, lg))]
            for w in st.get("warnings", ()):
                out.append(_msg("warn", w))
            return ui.div(*out, id=id_)

        def load_results(job: Path, st: dict) -> dict:
            from ..result.result import SEMResult

            r = {"job": job, "result": SEMResult.from_json(
                (job / "result.json").read_text(encoding="utf-8")), "warnings":
                st.get("warnings", []), "study": json.loads(
                    (job / "job.json").read_text(encoding="utf-8")).get("study", "")}
            for name in ("reliability", "fornell_larcker", "bootstrap"):
                p = job / f"{name}.csv"
                if p.exists():
                    r[name] = pd.read_csv(p)
            if (job / "comparison.json").exists():
                from ..study.regression_vs_sem import Comparison

                r["comparison"] = Comparison.from_json(
                    (job / "comparison.json").read_text(encoding="utf-8"))
            return r

        # --- step 5: results --------------------------------------------------------------
        @render.ui
        def results():
            from ..output import diagrams as general
            from ..output.report import fit_table
            from ..study import diagrams as study

            r = fit_results()
            # the study's labels for the study's model only; a user's model keeps its names
            diagrams = study if r is not None and r.get("study") else general
            kw = {}
            if diagrams is general and side_files().get("labels"):
                from .worker import user_labels

                try:
                    lab = user_labels(side_files()["labels"][0])
                except SemclusterError:
                    lab = None
                if lab is not None:
                    kw["labels"] = lab
            lg = lang()
            if r is None:
                return _msg("warn", text("no_results", lg))
            res = r["result"]
            parts = [ui.h4(text("fit_indices", lg)),
                     ui.div(_html_table(fit_table(res.fit_measures, [
                         k for k in FIT_KEYS if k in res.fit_measures.index])), id="fit_table")]
            paths = res.paths()
            cols = [c for c in ("group", "lhs", "op", "rhs", "label", "est", "se", "pvalue",
                                "std_all")
                    if c in paths.columns]
            parts += [ui.h4(text("paths", lg)), ui.div(_html_table(paths[cols]), id="paths_table")]
            parts.append(ui.h4(text("hypotheses", lg)))
            c = r.get("comparison")
            if c is not None:
                t = c.table
                h = pd.DataFrame({
                    text("hypothesis", lg): list(t.index),
                    text("path", lg): list(t[("path", "")]),
                    "std. β": list(t[("sem_data", "beta")]),
                    "p": list(t[("sem_data", "p")]),
                    text("verdict", lg): [text(v, lg) if v in TEXTS else v
                                          for v in t[("sem_data", "verdict")]]})
                parts.append(ui.div(_html_table(h), id="hypotheses_table"))
            else:
                parts.append(_msg("warn", text("no_hypotheses", lg)))
            try:
                parts += [ui.h4(text("tested", lg)),
                          ui.img(src=_png(diagrams.tested_diagram(res, lang=lg, **kw)),
                                 class_="diagram", id="tested_img")]
                if res.loadings() is not None and len(res.loadings()):
                    parts += [ui.h4(text("measurement", lg)),
                              ui.img(src=_png(diagrams.measurement_diagram(res, lang=lg,
                                                                           **kw)),
                                     class_="diagram", id="measurement_img")]
            except SemclusterError as exc:
                parts.append(_msg("warn", str(exc).splitlines()[0]))
            if "reliability" in r:
                parts += [ui.h4(text("reliability", lg)), _html_table(r["reliability"])]
            if "fornell_larcker" in r:
                parts += [ui.h4(text("discriminant", lg)), _html_table(r["fornell_larcker"])]
            if "bootstrap" in r:
                b = r["bootstrap"]
                parts += [ui.h4(text("bootstrap", lg)), _html_table(b)]
            if c is not None:
                parts += [ui.h4(text("compare", lg)),
                          ui.img(src=_png(diagrams.compare_diagram(c, lang=lg)),
                                 class_="diagram", id="compare_img"),
                          ui.tags.ul(*[ui.tags.li(e) for e in c.explanation])]
            return ui.TagList(*parts)

        @render.download_button(filename="estimates.csv")
        def dl_estimates():
            from ..result import tables

            r = fit_results()
            if r is not None:
                yield tables.to_csv(r["result"].to_frame())

        @render.download_button(filename="result.json")
        def dl_json():
            r = fit_results()
            if r is not None:
                yield r["result"].to_json()

        @reactive.effect
        @reactive.event(input.build_report)
        def _():
            lg = lang()
            if data_path() is None:
                report_state.set({"state": "error", "message": text("need_data", lg)})
                return
            spec = model_spec()
            if isinstance(spec, Exception):
                report_state.set({"state": "error", "message": text("need_model", lg)})
                return
            X, rep, err = prepared()
            if err:
                report_state.set({"state": "error", "message": err})
                return
            old = report_job()
            if old is not None:
                old.stop()
            try:
                n_boot = int(input.n_boot() or 0) or 200
            except (TypeError, ValueError):
                n_boot = 200
            # the report of the model on the page: the study's report for the study's model
            # unchanged, else the report builder on this model and the items table
            w = new_job("report", {"lang": lg, "n_boot": n_boot, "power_reps": 50,
                                   "model": input.model_text(), "model_name": spec.name,
                                   "study": study_model(),
                                   **{k: v[0] for k, v in side_files().items()}})
            if w is None:
                report_job.set(None)
                report_state.set({"state": "error", "message": text("busy_jobs", lg,
                                                                    n=pool.max_jobs)})
                return
            report_job.set(w)
            report_state.set({"state": "starting"})

        @reactive.effect
        @reactive.event(input.cancel_report)
        def _():
            w = report_job()
            if w is not None and report_state().get("state") in ("starting", "running"):
                w.stop()
                report_state.set({"state": "cancelled"})
                report_job.set(None)

        @reactive.effect
        def _poll_report():
            w = report_job()
            if w is None:
                return
            with reactive.isolate():
                if report_state().get("state") not in ("starting", "running"):
                    return
            reactive.invalidate_later(0.5)
            st = w.status()
            with reactive.isolate():
                if st != report_state():
                    report_state.set(st)

        @render.ui
        def report_progress():
            st = report_state()
            out = progress_ui(st, "report_done", "report_status")
            if st.get("state") == "done":
                return ui.TagList(out, ui.download_button("dl_report", L("dl_report"),
                                                          class_="btn-success"))
            return out

        @render.download_button(filename="semcluster_report.zip")
        def dl_report():
            w = report_job()
            if w is not None and (w.job / "semcluster_report.zip").exists():
                return str(w.job / "semcluster_report.zip")

    return server


class UploadLimit:
    """ASGI guard: a POST to a session's upload URL may carry at most ``limit`` bytes."""

    def __init__(self, app, limit: int):
        self.app, self.limit = app, limit

    async def __call__(self, scope, receive, send):
        if scope.get("type") != "http" or scope.get("method") != "POST" or \
                "/upload/" not in scope.get("path", ""):
            return await self.app(scope, receive, send)
        length = dict(scope.get("headers") or []).get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.limit:
            return await self._refuse(send)
        seen = 0

        async def counted():
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.limit:
                raise RuntimeError("upload over the size limit")
            return message

        return await self.app(scope, counted, send)

    @staticmethod
    async def _refuse(send):
        body = b"upload refused: over the size limit"
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"text/plain"),
                                (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})


def create_app(*, max_upload_mb: float = 20, host: str = "127.0.0.1", port: int | None = None,
               pool: WorkerPool | None = None, root: Path | None = None):
    """The ASGI application: Shiny, behind the upload-size guard and the Host/Origin guard.

    ``host``/``port`` are the address the server listens on: only requests naming it are
    served (with ``port=None``, the loopback names on any port).
    """
    app = App(app_ui, make_server(max_upload_mb, pool, root))
    guarded = UploadLimit(app, int(max_upload_mb * 1024 * 1024))
    return HostOriginGuard(guarded, allowed_hosts(host, port) if port else None)


def serve(host: str = "127.0.0.1", port: int | None = None, *, open_browser: bool = True,
          max_upload_mb: float = 20, max_jobs: int = 2, max_sessions: int = 8) -> None:
    """Serve the app until interrupted.

    The socket is bound first (a busy port raises :class:`~semcluster.errors.OptionError`
    before anything is printed); folders left by a server that was killed are removed; this
    server's sessions live in one folder of its own, removed when it stops.
    """
    import logging
    import threading
    import webbrowser

    import uvicorn

    sock = bind(host, port)
    port = sock.getsockname()[1]
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger = logging.getLogger("semcluster.app")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    for old in remove_stale_folders():
        logger.info("semcluster app: removed %s (left by a server that is no longer running)",
                    old)
    root = server_folder()
    # Shiny keeps an upload in its own temporary folder until the page takes it: put that
    # folder inside this server's, so that a killed server leaves nothing outside it
    tempfile.tempdir = str(root)
    pool = WorkerPool(max_jobs=max_jobs, max_sessions=max_sessions)
    pool.warm()
    from ..spec import parser as _spec
    from ..result import tables as _tables  # noqa: F401  (not in the first page's time)
    import gc

    gc.collect()
    gc.freeze()      # the imported modules' objects are never garbage: later full collections,
    #                  which stop every page at once, need not walk them
    shown = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    url = f"http://{'[' + shown + ']' if ':' in shown else shown}:{port}/"
    def cleanup():
        pool.shutdown()
        shutil.rmtree(root, ignore_errors=True)

    class Server(uvicorn.Server):
        # uvicorn re-raises SIGTERM/SIGINT once it has shut down, which ends the process at
        # once: the workers and this server's folder are cleaned up before that
        async def shutdown(self, sockets=None):
            try:
                await super().shutdown(sockets=sockets)
            finally:
                cleanup()

    try:
        app = create_app(max_upload_mb=max_upload_mb, host=host, port=port, pool=pool,
                         root=root)
        config = uvicorn.Config(app, log_level="warning", ws_max_size=16 * 1024 * 1024)
        server = Server(config)
        print(f"semcluster app: {url}  (Ctrl+C stops it)", flush=True)
        if open_browser:
            threading.Timer(1.0, lambda: webbrowser.open(url)).start()
        server.run(sockets=[sock])
    finally:
        cleanup()
        sock.close()
