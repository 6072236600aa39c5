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
    from .. import data  # noqa: F401

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
    """A :class:`semcluster.data.DataOptions` from the job's plain dictionary."""
    from ..data import DataOptions

    return DataOptions(map=d.get("map") or None, missing=d.get("missing", "auto"),
                       missing_codes=tuple(d.get("missing_codes", ())),
                       scale=tuple(d["scale"]) if d.get("scale") else None,
                       id=d.get("id") or None)


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


def parse_upload(path: str, cache: str, max_bytes: int) -> dict:
    """Read an uploaded data file in a worker process (never in the server's event loop).

    Checks an Excel file's total uncompressed size before it is opened, then the rows and cells
    read; keeps the frame as a pickle at ``cache`` for :func:`prepare_data`.  Returns
    ``{"columns", "rows", "cols"}`` or ``{"error": one line}``.
    """
    import zipfile

    import pandas as pd

    from ..data import load_data
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
        df = load_data(path or None)
    except SemclusterError as exc:
        return {"error": _first_line(exc)}
    except Exception as exc:  # a damaged file can fail anywhere in a reader library
        return {"error": f"{name}: cannot be read ({type(exc).__name__})"}
    if len(df) > MAX_ROWS or df.size > MAX_CELLS:
        return {"error": f"{name}: {len(df)} rows × {df.shape[1]} columns is more than the "
                         f"app reads ({MAX_ROWS} rows, {MAX_CELLS} cells); use the command "
                         f"line for a data set this large."}
    pd.to_pickle(df, cache)
    return {"columns": [str(c) for c in df.columns], "rows": len(df), "cols": df.shape[1]}


def prepare_data(cache: str, options: dict, variables: list[str], latent: list[str]) -> dict:
    """The data report for the current model and options, in a worker process.

    Returns ``{"report": DataReport}`` or ``{"error": one line}``.
    """
    import pandas as pd

    from ..data import read_survey
    from ..errors import SemclusterError

    try:
        df = pd.read_pickle(cache) if cache else None
        _, rep = read_survey(df, data_options(options), variables=variables, warn=False,
                             latent=latent)
    except SemclusterError as exc:
        return {"error": _first_line(exc)}
    except (ValueError, TypeError) as exc:
        return {"error": _first_line(exc)}
    return {"report": rep}


def conceptual_png(model_text: str, name: str, lang: str) -> dict:
    """The model's conceptual diagram as a PNG data URI, drawn in a worker process.

    Returns ``{"png": "data:image/png;base64,…"}`` or ``{"error": one line}``.
    """
    import base64
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..errors import SemclusterError
    from ..spec import parse_model
    from ..study.diagrams import conceptual_diagram

    try:
        fig = conceptual_diagram(parse_model(model_text, source="<model>", name=name), lang=lang)
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
    from .. import measurement, tables
    from ..data import read_survey
    from ..fit import fit
    from ..spec import parse_model

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
    X, report = read_survey(data, options, variables=model.observed)
    status("fit")
    res = fit(model, X, estimator=spec.get("estimator") or None)
    (job / "result.json").write_text(res.to_json(), encoding="utf-8")
    if n_boot:
        status("bootstrap")
        from ..bootstrap import bootstrap

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

        if has_hypotheses(model):
            c = compare_methods(X, sem_result=res)
            (job / "comparison.json").write_text(c.to_json(), encoding="utf-8")


def run_report(job: Path, spec: dict) -> None:
    import shutil

    from ..report import build_report

    write_status(job, state="running", step=0, of=10, message="report")
    out = job / "report"
    build_report(spec.get("data"), out, lang=spec.get("lang", "en"),
                 n_boot=int(spec.get("n_boot") or 200), power_reps=int(spec.get("power_reps", 50)),
                 power_grid=(100, 160, 250, 400), n_jobs=1, progress=True,
                 options=data_options(spec["options"]))
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
    from .. import fit as _fit, measurement as _m  # noqa: F401
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
