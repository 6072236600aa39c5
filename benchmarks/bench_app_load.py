"""Load on ``semcluster app``: five pages at once, one of them uploading a large file.

Starts ``python -m semcluster app`` on a free port and opens five sessions over the Shiny
websocket protocol (tests/app_client.py, no browser); the upload starts 3 s after all five
pages are open (opening a page has its own cost, reported apart from it).  Session 0 uploads a ~15 MB CSV (300,000
respondents of the study's items); sessions 1-4 meanwhile edit their model every 0.3 s
(--pause; alternating two versions of h1_h5 that differ by one residual covariance, so every edit
changes the "Model read: … free parameters" line) and time each edit until the server sends
that line.  Prints the edit times (median, 90th percentile, max) while the upload is read and
prepared, and the upload's own times.  The brief's criterion: every edit answered within 2 s.

    OPENBLAS_NUM_THREADS=1 python benchmarks/bench_app_load.py [--rows 300000] [--edits 40]

Not a unit test: the numbers depend on the machine.  Set PYTHONPATH to another tree's src/
to measure that tree's server (e.g. the commit before the worker pool).
"""
from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from app_client import Session, free_port, initial_inputs, start_server, stop_server  # noqa: E402


def big_csv(path: Path, rows: int) -> None:
    """The study's columns (id, firm_type, 23 items) with answers 1-7 for ``rows`` people."""
    import numpy as np
    import pandas as pd

    src = pd.read_csv(ROOT / "src" / "semcluster" / "resources" / "data" / "paper_synthetic.csv")
    rng = np.random.default_rng(1)
    take = rng.integers(0, len(src), rows)
    df = src.iloc[take].reset_index(drop=True)
    df[src.columns[0]] = np.arange(1, rows + 1)
    df.to_csv(path, index=False)


def models():
    from semcluster.resources import model_path

    base = model_path("h1_h5").read_text(encoding="utf-8")
    return base, base + "\nca1 ~~ ca2\n"


async def editor(port: int, texts, n_edits: int, stop: asyncio.Event, times: list, during,
                 pause: float, ready: asyncio.Barrier):
    s = await Session(port, keep=False).open(initial_inputs(texts[0]))
    await s.wait_for(lambda s: "model_ok" in s.outputs.get("model_message", ""), 120)
    await ready.wait()
    k = 0
    while k < n_edits or not stop.is_set():
        k += 1
        text = texts[k % 2]
        want = "61 free" if k % 2 == 0 else "62 free"
        t0 = time.perf_counter()
        await s.update(model_text=text)
        await s.wait_for(lambda s: want in s.outputs.get("model_message", ""), 600,
                         "the model line")
        times.append((time.perf_counter() - t0, during(), t0))
        await asyncio.sleep(pause)
        if k > 10 * n_edits:
            break
    await s.close()


async def uploader(port: int, csv: Path, model: str, marks: dict, stop: asyncio.Event,
                   ready: asyncio.Barrier):
    s = await Session(port, keep=False).open(initial_inputs(model))
    await s.wait_for(lambda s: "model_ok" in s.outputs.get("model_message", ""), 120)
    await ready.wait()                             # all five pages are open
    await asyncio.sleep(3.0)                       # the editors are running
    marks["start"] = time.perf_counter()
    await s.upload(csv)
    marks["sent"] = time.perf_counter()
    try:
        await s.wait_for(lambda s: "data_ok" in s.outputs.get("data_message", "") or
                         "data_error" in s.outputs.get("data_message", ""), 300, "the upload")
        marks["read"] = time.perf_counter()
        marks["message"] = s.outputs["data_message"]
        await s.wait_for(lambda s: "data_report_table" in s.outputs.get("data_report", "") or
                         "data_error" in s.outputs.get("data_message", ""), 300, "the report")
    except TimeoutError:
        marks["message"] = "NOT READ within 300 s"
    marks["prepared"] = time.perf_counter()
    # a model edit in the uploading session itself (the data are prepared again)
    t0 = time.perf_counter()
    await s.update(model_text=model + "\nca1 ~~ ca2\n")
    await s.wait_for(lambda s: "62 free" in s.outputs.get("model_message", ""), 600)
    marks["own_edit"] = time.perf_counter() - t0
    stop.set()
    await s.close()


async def main_async(port: int, csv: Path, n_edits: int, pause: float):
    texts = models()
    marks: dict = {}
    stop = asyncio.Event()
    times: list = []
    ready = asyncio.Barrier(5)

    def during():
        return "start" in marks and "prepared" not in marks

    await asyncio.gather(uploader(port, csv, texts[0], marks, stop, ready),
                         *[editor(port, texts, n_edits, stop, times, during, pause, ready)
                           for _ in range(4)])
    return marks, times


def summary(xs) -> str:
    if not xs:
        return "none"
    xs = sorted(xs)
    p90 = xs[min(len(xs) - 1, int(0.9 * len(xs)))]
    return (f"n={len(xs)}  median {statistics.median(xs):.3f} s  p90 {p90:.3f} s  "
            f"max {xs[-1]:.3f} s")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=300_000)
    ap.add_argument("--edits", type=int, default=40, help="edits per editing session (at least)")
    ap.add_argument("--pause", type=float, default=0.3,
                    help="seconds between an edit's answer and the next edit (default 0.3)")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        csv = tmp / "large_survey.csv"
        big_csv(csv, a.rows)
        print(f"upload: {csv.name} {csv.stat().st_size / 2**20:.1f} MB, {a.rows} rows")
        port = free_port()
        proc = start_server(port, Path(os.environ.get("BENCH_APP_LOG", tmp / "server.log")),
                            env=dict(os.environ, TMPDIR=str(tmp)))
        try:
            marks, times = asyncio.run(main_async(port, csv, a.edits, a.pause))
        finally:
            stop_server(proc)
    before = [t for t, _, t0 in times if t0 < marks["start"]]
    busy = [t for t, d, _ in times if d]
    slow = [(round(t0 - marks["start"], 2), round(t, 2)) for t, _, t0 in times if t > 1.0]
    if slow:
        print("edits over 1 s (started s after the upload began, took s):", slow[:20])
    print(f"upload sent in {marks['sent'] - marks['start']:.2f} s; read "
          f"{marks.get('read', float('nan')) - marks['start']:.2f} s after the start; data report "
          f"{marks['prepared'] - marks['start']:.2f} s after the start")
    print(f"upload message: {marks['message'][:120]}")
    print(f"the uploading session's own model edit, data prepared again: "
          f"{marks['own_edit']:.3f} s")
    print(f"model edits of the 4 other sessions before the upload: {summary(before)}")
    print(f"model edits of the 4 other sessions while the upload was sent, read and prepared: "
          f"{summary(busy)}")
    print(f"all model edits of the 4 other sessions: {summary([t for t, _, _ in times])}")
    worst = max(busy) if busy else float("nan")
    print(f"criterion (every edit during the upload answered within 2 s): "
          f"{'met' if worst <= 2.0 else 'NOT met'} (max {worst:.3f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
