"""The app's worker process: runs one fit or report job away from the web server.

A worker is started (and imports the estimation code) before it is needed, then waits for one
line on stdin naming a job folder inside the session's temporary folder.  It reads
``job.json`` there, runs the job through the library and writes what it made into the same
folder, with ``status.json`` saying how far it got.  Cancelling a job ends this process (the
server then starts a fresh one), which is why the work does not run in a thread of the server.
"""
from __future__ import annotations

import json
import os
import re
import sys
import traceback
from pathlib import Path


def end_with_parent(parent: int, every: float = 1.0) -> None:
    """End this process when ``parent`` (the server) is gone, e.g. after ``kill -9``.

    A daemon thread compares ``os.getppid()`` with the server's pid; a worker whose server died
    would otherwise live on holding memory and the session's files.
    """
    import threading
    import time

    def watch():
        while True:
            if os.getppid() != parent:
                os._exit(0)
            time.sleep(every)

    threading.Thread(target=watch, name="end-with-parent", daemon=True).start()


def warm_up(kind: str) -> None:
    """Make a pool worker's imports before its first task (see WorkerPool.warm)."""
    from ..data import survey as data  # noqa: F401

    if kind == "draw":
        import matplotlib

        matplotlib.use("Agg")
        from ..study import diagrams  # noqa: F401


def write_status(job: Path, **status) -> None:
    """Replace ``status.json`` atomically (the server polls it)."""
    tmp = job / "status.json.tmp"
    tmp.write_text(json.dumps(status), encoding="utf-8")
    os.replace(tmp, job / "status.json")


def read_status(job: Path) -> dict:
    try:
        return json.loads((job / "status.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {"state": "starting", "step": 0, "of": 1, "message": ""}


def data_options(d: dict):
    """A :class:`semcluster.data.survey.DataOptions` from the job's plain dictionary."""
    from ..data.survey import DataOptions

    ordered = d.get("ordered") or None
    if ordered is not None and ordered != "all":
        ordered = tuple(ordered)
    return DataOptions(map=d.get("map") or None, missing=d.get("missing", "auto"),
                       missing_codes=tuple(d.get("missing_codes", ())),
                       scale=tuple(d["scale"]) if d.get("scale") else None,
                       reverse=tuple(d.get("reverse") or ()), ordered=ordered,
                       id=d.get("id") or None, sheet=d.get("sheet") or None,
                       out_of_scale=d.get("out_of_scale") or "error",
                       long_string=d.get("long_string") or None,
                       drop_careless=bool(d.get("drop_careless", False)),
                       cluster=d.get("cluster") or None)


#: Limits on an uploaded data set (the page's ``--max-upload-mb`` bounds the file itself).
MAX_ROWS = 500_000
MAX_CELLS = 10_000_000
#: An .xlsx file is a zip archive: the XML inside may be at most this many times the upload
#: limit (and at least 50 MB) before openpyxl is allowed to read it (a "zip bomb" expands
#: ~1000-fold).
XLSX_EXPANSION = 10


def _first_line(exc) -> str:
    s = str(exc)
    return s.splitlines()[0] if s else type(exc).__name__


def parse_upload(path: str, cache: str, max_bytes: int, sheet=None) -> dict:
    """Read an uploaded data file in a worker process (never in the server's event loop).

    Checks an Excel file's total uncompressed size before it is opened, then the rows and cells
    read; keeps the frame as a pickle at ``cache`` for :func:`prepare_data`.  Returns
    ``{"columns", "rows", "cols"}`` or ``{"error": one line}``.
    """
    import zipfile

    import pandas as pd

    from ..data.survey import load_data
    from ..errors import SemclusterError

    name = Path(path).name if path else "paper_synthetic.csv"
    try:
        if path and Path(path).suffix.lower() in (".xlsx", ".xlsm"):
            ceiling = max(50 * 2**20, XLSX_EXPANSION * max_bytes)
            try:
                with zipfile.ZipFile(path) as z:
                    inflated = sum(i.file_size for i in z.infolist())
            except (zipfile.BadZipFile, OSError):
                inflated = 0                     # not a zip: load_data says what is wrong
            if inflated > ceiling:
                return {"error": f"{name}: the workbook expands to {inflated / 2**20:.0f} MB "
                                 f"when unpacked; the limit is {ceiling / 2**20:.0f} MB. "
                                 f"Nothing was read."}
        df = load_data(path or None, sheet=sheet if sheet not in (None, "") else None)
    except SemclusterError as exc:
        return {"error": _first_line(exc)}
    except Exception as exc:  # a damaged file can fail anywhere in a reader library
        return {"error": f"{name}: cannot be read ({type(exc).__name__})"}
    if len(df) > MAX_ROWS or df.size > MAX_CELLS:
        return {"error": f"{name}: {len(df)} rows × {df.shape[1]} columns is more than the "
                         f"app reads ({MAX_ROWS} rows, {MAX_CELLS} cells); use the command "
                         f"line for a data set this large."}
    pd.to_pickle(df, cache)
    info = df.attrs.get("semcluster", {})
    return {"columns": [str(c) for c in df.columns], "rows": len(df), "cols": df.shape[1],
            "sheets": [str(n) for n in info.get("sheet_names") or []],
            "sheet": None if info.get("sheet") is None else str(info.get("sheet"))}


def _is_number(v) -> bool:
    try:
        float(v)
        return True
    except (TypeError, ValueError):
        return False


def _far_values(vals) -> list:
    """Answers more than 20 robust spreads from the column's median: the data path's rule for
    a typing error (1.4826 × median absolute deviation, or the mean absolute deviation when most
    answers are equal; not for a column of two values)."""
    import numpy as np

    if len(vals) < 3 or vals.nunique() <= 2:
        return []
    med = float(np.median(vals))
    dev = (vals - med).abs()
    spread = 1.4826 * float(np.median(dev)) or float(dev.mean())
    if not spread > 0:
        return []
    return sorted({float(v) for v in vals[dev / spread > 20]})


def file_report(cache: str, options: dict, exclude=()) -> dict:
    """What the uploaded file holds, read on its own: no model is needed (worker process).

    Per column: its SPSS label, the answers given, blanks, declared missing codes found,
    non-numeric entries, the range of the numeric answers, values that look like undeclared
    missing-data codes (-99, 99 ... beyond the other answers, the data path's rule) and
    answers outside the answer scale.  The scale is the one given, else the one the SPSS value
    labels state.  Careless answers (:func:`semcluster.data.survey.careless_answers`, the data path's
    rule) are judged on the numeric columns other than ``exclude`` (id, group, cluster).
    Returns ``{"summary": [(what, value)], "columns": [dict], "careless": [dict],
    "careless_rule": str, "item_columns": [str]}`` or ``{"error": one line}``.
    """
    import numpy as np
    import pandas as pd

    from ..data import survey as D
    from ..errors import SemclusterError

    try:
        opts = data_options({k: v for k, v in options.items() if k != "map"})
        df = pd.read_pickle(cache)
    except SemclusterError as exc:
        return {"error": _first_line(exc)}
    info = df.attrs.get("semcluster", {}) or {}
    labels = info.get("column_labels", {}) or {}
    declared = info.get("declared_missing", {}) or {}
    codes = tuple(opts.missing_codes)
    exclude = {str(c) for c in exclude if c}
    cols, numeric = [], {}
    for c in df.columns:
        col = df[c]
        blank = col.isna() | col.map(lambda x: isinstance(x, str) and not x.strip())
        text = col.astype(str).str.strip()
        num = pd.to_numeric(col.where(~blank), errors="coerce")
        hit = pd.Series(False, index=col.index)
        for code in codes:
            hit |= text.eq(str(code).strip()) | (num.eq(float(code)) if _is_number(code)
                                                  else False)
        for lo, hi in declared.get(c, []):
            if isinstance(lo, str) or isinstance(hi, str):
                hit |= text.eq(str(lo).strip())
            else:
                hit |= (num >= lo) & (num <= hi)
        hit &= ~blank
        given = ~blank & ~hit
        bad = given & num.isna()
        values = num.where(given & ~bad)
        row = {"column": str(c), "label": str(labels.get(c, "") or ""),
               "answers": int(given.sum()), "blank": int(blank.sum()),
               "codes": int(hit.sum()), "text": int(bad.sum()),
               "text_example": str(col[bad].iloc[0]) if bad.any() else "",
               "min": None, "max": None, "suspect_codes": [], "far": [], "outside_scale": 0}
        if given.any() and bad.sum() < max(1, given.sum()) / 2:
            vals = values.dropna()
            if len(vals):
                row["min"], row["max"] = float(vals.min()), float(vals.max())
                row["suspect_codes"] = [float(u) for u in D._undeclared_codes(vals)]
                row["far"] = _far_values(vals)
            if str(c) not in exclude:
                numeric[str(c)] = values.astype(float)
        cols.append(row)
    items = list(numeric)
    scale, scale_from = opts.scale, "given"
    if scale is None and items:
        scale = D._scale_from_labels(info.get("value_labels", {}) or {}, items, declared, codes)
        scale_from = "SPSS value labels"
    if scale is not None:
        lo, hi = scale
        for row in cols:
            if row["column"] in numeric:
                v = numeric[row["column"]]
                row["outside_scale"] = int(((v < lo) | (v > hi)).sum())
    careless, rule = [], ""
    p = len(items)
    if items and (opts.long_string is not None or p >= D.CARELESS_MIN_ITEMS):
        answers = pd.DataFrame(numeric)
        if scale is not None:
            answers = answers.mask((answers < scale[0]) | (answers > scale[1]))
        flags = D.careless_answers(answers, opts.long_string)
        t = opts.long_string or max(2, -(-p // 2))
        why = "the threshold given" if opts.long_string else "half the items, Curran 2016"
        rule = (f"at least {t} identical answers in a row, or one answer to all of at least "
                f"{t} answered items ({why})")
        line0 = int(info.get("first_line", 1))
        ids = df[opts.id] if opts.id and opts.id in df.columns else None
        for i in np.flatnonzero(flags["flagged"].to_numpy()):
            careless.append({"respondent": D._plain(ids.iat[i]) if ids is not None
                             else int(i) + line0, "row": int(i) + line0,
                             "answered": int(flags["answered"].iat[i]),
                             "long_string": int(flags["long_string"].iat[i]),
                             "straight_lining": bool(flags["straight_lining"].iat[i]),
                             "flagged_by": str(flags["flagged_by"].iat[i])})
    elif items:
        rule = (f"not judged: {p} numeric column(s), fewer than {D.CARELESS_MIN_ITEMS}; give a "
                f"long-string threshold to judge them")
    summary = [("rows", len(df)), ("columns", df.shape[1]),
               ("numeric answer columns", p),
               ("answers missing (blank)", sum(r["blank"] for r in cols)),
               ("missing-value codes found", sum(r["codes"] for r in cols)),
               ("answer scale", "not declared" if scale is None
                else f"{scale[0]:g} … {scale[1]:g} ({scale_from})"),
               ("answers outside the scale", sum(r["outside_scale"] for r in cols)),
               ("careless respondents", len(careless) if rule and not rule.startswith("not")
                else "–")]
    return {"summary": summary, "columns": cols, "careless": careless,
            "careless_rule": rule, "item_columns": items,
            "sheet": info.get("sheet"), "sheets": [str(n) for n in info.get("sheet_names") or []]}


def prepare_data(cache: str, options: dict, variables: list[str], latent: list[str]) -> dict:
    """The data report for the current model and options, in a worker process.

    Returns ``{"report": DataReport}`` or ``{"error": one line}``.
    """
    import pandas as pd

    from ..data.survey import read_survey
    from ..errors import SemclusterError

    keep = [options["group"]] if options.get("group") else []
    try:
        df = pd.read_pickle(cache) if cache else None
        _, rep = read_survey(df, data_options(options), variables=variables, warn=False,
                             latent=latent, keep=keep)
    except SemclusterError as exc:
        return {"error": _first_line(exc),
                "problems": data_problems(df, options, variables, latent, keep, exc)}
    except (ValueError, TypeError) as exc:
        return {"error": _first_line(exc)}
    return {"report": rep}


def data_problems(df, options: dict, variables: list[str], latent=(), keep=(),
                  first=None) -> list[str]:
    """Every problem the data path finds in the model's items, not only the first.

    :func:`semcluster.data.survey.read_survey` stops at the first problem.  Each item present in the
    data is then read again on its own (reverse coding and ordinal items left out, which
    concern the model as a whole), and every message that names its column is kept; the
    message of the whole read comes first.  Messages are the data path's own, one line each.
    """
    from ..data.survey import load_data, read_survey
    from ..errors import SemclusterError

    out = [_first_line(first)] if first is not None else []
    if df is None:
        return out
    opts = dict(options, reverse=(), ordered=None)
    if isinstance(opts.get("map"), dict):
        opts["map"] = {k: v for k, v in opts["map"].items() if k != "reverse"}
    try:
        columns = set(load_data(df, mapping=opts.get("map") or None).columns)
    except SemclusterError:
        return out
    for v in variables:
        if v not in columns or any(re.search(rf"(?<![\w.]){re.escape(v)}(?![\w.])",
                                             re.sub(r"\(columns present:[^)]*\)", "", m))
                                   for m in out):
            continue          # absent (the whole read lists them all) or already named
        try:
            read_survey(df, data_options(opts), variables=[v], warn=False, latent=latent,
                        keep=keep)
        except SemclusterError as exc:
            msg = _first_line(exc)
            if f"'{v}'" in msg and msg not in out:
                out.append(msg)
        except (ValueError, TypeError):
            continue
    return out


def user_labels(path: str | None):
    """The user's labels YAML read by :class:`semcluster.data.labels.Labels` (None without a file,
    or where this version has no labels module)."""
    if not path:
        return None
    try:
        from ..data.labels import Labels
    except ImportError:
        return None
    return Labels.from_yaml(path)


def conceptual_figure(model_text: str, title: str, lang: str, study: bool = False,
                      labels: str | None = None):
    """The model's conceptual diagram (a matplotlib figure).

    ``title`` (the page's model title; may be empty) names the model in the caption, else the
    labels' title.  Only a bundled study model (``study``) is drawn with the study's labels; a
    user's model keeps its own names (a construct the user called ``KS`` is not the paper's
    "knowledge sharing"), or takes them, and its title, from the user's labels YAML
    (``labels``).
    """
    import matplotlib

    matplotlib.use("Agg")
    from ..output.diagrams import conceptual_diagram
    from ..spec.parser import parse_model

    spec = parse_model(model_text, source="<model>", name=title or "model")
    if study:
        from ..study.paper import study_labels

        lab = study_labels()
    else:
        lab = user_labels(labels)
    return conceptual_diagram(spec, lang=lang, labels=lab, title=title or None)


def conceptual_png(model_text: str, title: str, lang: str, study: bool = False,
                   labels: str | None = None) -> dict:
    """:func:`conceptual_figure` as a PNG data URI, drawn in a worker process.

    Returns ``{"png": "data:image/png;base64,…"}`` or ``{"error": one line}``.
    """
    import base64
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..errors import SemclusterError

    try:
        fig = conceptual_figure(model_text, title, lang, study, labels)
    except SemclusterError as exc:
        return {"error": _first_line(exc)}
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return {"png": "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")}


def has_hypotheses(spec) -> bool:
    """Whether the model labels the study's five paths h1..h5 (then H1-H5 can be judged)."""
    labels = set(spec.partable["label"].astype(str))
    return {"h1", "h2", "h3", "h4", "h5"} <= labels


def run_fit(job: Path, spec: dict) -> None:
    from ..analysis import measurement
    from ..result import tables
    from ..data.survey import read_survey
    from ..fitting import fit
    from ..spec.parser import parse_model

    n_boot = int(spec.get("n_boot") or 0)
    compare = spec.get("compare", True)
    steps = ["data", "fit"] + (["bootstrap"] if n_boot else []) + ["reliability"] + (
        ["compare"] if compare else [])
    step = iter(range(1, len(steps) + 1))

    def status(name):
        write_status(job, state="running", step=next(step), of=len(steps), message=name)

    status("data")
    # model text is only ever parsed as text: a one-line path is not opened
    model = parse_model(spec["model"], source="<model>", name=spec.get("model_name") or "model")
    options = data_options(spec["options"])
    data = spec.get("data")
    if spec.get("data_cache"):
        import pandas as pd

        data = pd.read_pickle(spec["data_cache"])
    group = (spec.get("options") or {}).get("group") or None
    X, report = read_survey(data, options, variables=model.observed,
                            keep=[group] if group else (), latent=model.latent)
    status("fit")
    res = fit(model, X, estimator=spec.get("estimator") or None, group=group)
    (job / "result.json").write_text(res.to_json(), encoding="utf-8")
    if n_boot:
        status("bootstrap")
        from ..analysis.bootstrap import bootstrap

        b = bootstrap(model, X, n_boot=n_boot, result=res, n_jobs=1)
        (job / "bootstrap.csv").write_text(tables.to_csv(b.table), encoding="utf-8")
    status("reliability")
    try:
        rel = measurement.construct_reliability(res)
        (job / "reliability.csv").write_text(rel.reset_index().to_csv(index=False),
                                             encoding="utf-8")
        fl = measurement.fornell_larcker(res, rel)
        (job / "fornell_larcker.csv").write_text(fl.reset_index().to_csv(index=False),
                                                 encoding="utf-8")
    except Exception as exc:  # a model without factors has no reliability to report
        (job / "reliability.txt").write_text(str(exc).splitlines()[0], encoding="utf-8")
    if compare:
        status("compare")
        from ..study.regression_vs_sem import compare_methods

        if has_hypotheses(model) and not group:
            c = compare_methods(X, sem_result=res)
            (job / "comparison.json").write_text(c.to_json(), encoding="utf-8")


def report_call(spec: dict):
    """The report builder's call for a job: ``(args, kwargs)``.

    The study's model, unchanged (``spec["study"]`` is ``"h1_h5"``), gets the study's report
    (what ``semcluster reproduce`` writes); any other model — the user's own, or another
    bundled one — gets :func:`semcluster.output.report.build_report` on that model, with the page's
    data options (the items table as the column mapping), group column and language.  The
    model text is parsed, never opened as a path.
    """
    import inspect

    from ..errors import OptionError
    from ..output.report import build_report
    from ..spec.parser import parse_model

    options = data_options(spec["options"])
    lang = spec.get("lang", "en")
    n_boot = int(spec.get("n_boot") or 200)
    out = Path(spec["job"]) / "report"
    if spec.get("study") == "h1_h5":
        return (spec.get("data"), out), dict(
            lang=lang, n_boot=n_boot, power_reps=int(spec.get("power_reps", 50)),
            power_grid=(100, 160, 250, 400), n_jobs=1, progress=True, options=options)
    if "model" not in inspect.signature(build_report).parameters:
        raise OptionError("this version of semcluster writes the report for the study's model "
                          "only (h1_h5); choose it in step 3, or use a newer version")
    model = parse_model(spec["model"], source="<model>",
                        name=spec.get("model_name") or "model")
    formats = ["html", "md"]
    try:
        import docx  # noqa: F401

        from ..output import manuscript  # noqa: F401
        formats.append("docx")
    except ImportError:
        pass
    extra = {k: spec[k] for k in ("labels", "hypotheses") if spec.get(k)}
    return (model, spec.get("data")), dict(
        out=out, options=options, group=(spec["options"].get("group") or None), lang=lang,
        formats=tuple(formats), n_boot=n_boot, n_jobs=1, progress=True, **extra)


def run_report(job: Path, spec: dict) -> None:
    import shutil

    from ..output.report import build_report
    from ..study.report import reproduce_report

    write_status(job, state="running", step=0, of=10, message="report")
    args, kwargs = report_call({**spec, "job": str(job)})
    # the study's model gets the study's report (report_call gives it (data, out) and its settings)
    (reproduce_report if "out" not in kwargs else build_report)(*args, **kwargs)
    # the archive under a temporary name, renamed when complete: a worker killed while zipping
    # leaves no truncated semcluster_report.zip for the download button to offer
    part = shutil.make_archive(str(job / ".semcluster_report.partial"), "zip", root_dir=job,
                               base_dir="report")
    os.replace(part, job / "semcluster_report.zip")


def report_progress(job: Path) -> tuple[int, int] | None:
    """Sections done, from the report's own progress bar (its text goes to ``stderr.txt``)."""
    try:
        text = (job / "stderr.txt").read_text(encoding="utf-8", errors="replace")[-4000:]
    except OSError:
        return None
    found = re.findall(r"(\d+)/(\d+) \[", text)
    return (int(found[-1][0]), int(found[-1][1])) if found else None


def main() -> int:
    end_with_parent(os.getppid())
    # warm up: the imports are most of a first fit's time
    from .. import fitting as _fit
    from ..analysis import measurement as _m  # noqa: F401
    from ..study import regression_vs_sem as _compare  # noqa: F401
    from ..errors import SemclusterError

    line = sys.stdin.readline().strip()
    if not line:
        return 0
    job = Path(line)
    spec = json.loads((job / "job.json").read_text(encoding="utf-8"))
    err = open(job / "stderr.txt", "w", encoding="utf-8", buffering=1)
    sys.stderr = err
    try:
        import warnings

        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            (run_report if spec["kind"] == "report" else run_fit)(job, spec)
        notes = sorted({str(w.message).splitlines()[0] for w in caught
                        if "semcluster" in type(w.message).__module__})
        write_status(job, state="done", step=1, of=1, message="done", warnings=notes)
    except SemclusterError as exc:
        write_status(job, state="error", step=0, of=1, message=str(exc).splitlines()[0])
    except Exception as exc:  # the page must say something, whatever went wrong
        traceback.print_exc(file=err)
        write_status(job, state="error", step=0, of=1,
                     message=f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
