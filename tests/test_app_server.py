"""``semcluster app`` as a local server: what it refuses and what it never does.

Most tests drive a real server (``python -m semcluster app`` in a subprocess) over its websocket
with the small Shiny-protocol client in tests/app_client.py, no browser: the model box never
opens a path (a marker in a temporary file must never reach the page), a foreign ``Origin`` or
``Host`` is refused while the server's own address is served, an upload is read outside the
event loop, a session keeps one upload on disk, the number of pages is capped, and the session
folders of a server killed with ``kill -9`` are removed by the next start.  The worker's
limits (rows/cells, an .xlsx that expands past its ceiling) are tested on both sides directly.
"""
from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

import pytest

pytest.importorskip("shiny", reason="the app extra is not installed (pip install '.[app]')")
websockets = pytest.importorskip("websockets")

sys.path.insert(0, str(Path(__file__).resolve().parent))
from app_client import Session, free_port, initial_inputs, start_server, stop_server  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
CSV = ROOT / "src" / "semcluster" / "resources" / "data" / "paper_synthetic.csv"
MARKER = "MARKER-7f3a91-not-for-the-page"


def _model(name="h1_h5") -> str:
    from semcluster.resources import model_path

    return model_path(name).read_text(encoding="utf-8")


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 120))


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """A server on a free port, its temporary folders under a TMPDIR of its own."""
    tmp = tmp_path_factory.mktemp("app_tmp")
    port = free_port()
    log = tmp_path_factory.mktemp("app_log") / "server.log"
    proc = start_server(port, log, "--max-upload-mb", "1", env=dict(os.environ, TMPDIR=str(tmp)))
    yield port, proc, log, tmp
    stop_server(proc)


def _get(port, path="/", headers=None, method="GET", data=None):
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers=headers or {},
                                 method=method, data=data)
    try:
        with urllib.request.urlopen(req, timeout=20) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


# --- the model box --------------------------------------------------------------------------

def test_model_box_holding_a_file_path_never_shows_the_file(server, tmp_path):
    port = server[0]
    secret = tmp_path / "secret.txt"
    secret.write_text(f"{MARKER} line one of a private file\ntoken=abc\n", encoding="utf-8")

    async def go():
        s = await Session(port).open(initial_inputs(_model()))
        await s.wait_for(lambda s: "model_ok" in s.outputs.get("model_message", ""),
                         what="the bundled model read")
        await s.update(**{"use_bundled:shiny.action": 1})
        await s.wait_for(lambda s: "data_ok" in s.outputs.get("data_message", ""),
                         what="the bundled data")
        for text in (str(secret), os.path.relpath(secret, "/"),
                     "../" * 12 + str(secret).lstrip("/")):
            await s.update(model_text=text)
            # the error for this text: it quotes the text typed (or, on a server that opens
            # paths, the file's first line)
            await s.wait_for(lambda s: "model_error" in s.outputs.get("model_message", "")
                             and (text[-20:] in s.outputs["model_message"]
                                  or MARKER in s.outputs["model_message"]),
                             what="the error for the path text")
        await s.update(**{"fit:shiny.action": 1})     # a fit of it is refused too
        await s.wait_for(lambda s: "fit_status" in s.outputs.get("fit_progress", ""),
                         what="the fit refused")
        await s.close()
        return s

    s = run(go())
    # the page said the text is not a model, and nowhere quoted the file
    assert "is not a statement" in s.outputs["model_message"]
    assert "The model has an error" in s.outputs["fit_progress"]
    assert MARKER not in s.text()


def test_worker_parses_model_text_and_never_opens_a_path(tmp_path):
    from semcluster.app.worker import run_fit
    from semcluster.errors import ModelSyntaxError

    secret = tmp_path / "secret.lav"
    secret.write_text(f"{MARKER} =~ a + b\n", encoding="utf-8")
    with pytest.raises(ModelSyntaxError) as exc:
        run_fit(tmp_path, {"model": str(secret), "options": {}, "data": None, "compare": False})
    assert MARKER not in str(exc.value) and "not a statement" in str(exc.value)


def test_bundled_model_choice_accepts_only_listed_names(tmp_path):
    from semcluster.app.page import _model_text

    secret = tmp_path / "x.lav"
    secret.write_text(MARKER, encoding="utf-8")
    assert "=~" in _model_text("h1_h5")
    assert _model_text(str(secret)) == "" and _model_text("../../etc/passwd") == ""


# --- Host and Origin ------------------------------------------------------------------------

def test_websocket_with_foreign_origin_is_refused(server):
    port, _, log, _ = server

    async def go():
        with pytest.raises(websockets.InvalidStatus) as exc:
            await websockets.connect(f"ws://127.0.0.1:{port}/websocket/",
                                     origin="http://evil.example", open_timeout=20)
        return exc.value.response.status_code

    assert run(go()) == 403
    time.sleep(0.3)
    assert "refused websocket /websocket/" in log.read_text()
    assert "evil.example" in log.read_text()


def test_websocket_with_foreign_host_is_refused(server):
    port = server[0]

    async def go():
        with pytest.raises(websockets.InvalidStatus) as exc:
            await Session(port, host=f"attacker.example:{port}",
                          origin=f"http://attacker.example:{port}").open({})
        return exc.value.response.status_code

    assert run(go()) == 403


def test_http_request_with_foreign_host_is_refused(server):
    port, _, log, _ = server
    status, body = _get(port, headers={"Host": "attacker.example"})
    assert status == 403 and b"semcluster" not in body
    status, _ = _get(port, headers={"Host": f"attacker.example:{port}"})
    assert status == 403
    assert "attacker.example" in log.read_text()


def test_http_post_with_foreign_origin_is_refused(server):
    port = server[0]
    status, _ = _get(port, "/session/x/upload/y", method="POST", data=b"a,b\n1,2\n",
                     headers={"Origin": "http://evil.example"})
    assert status == 403


def test_the_servers_own_address_is_served(server):
    port = server[0]
    for host in (f"127.0.0.1:{port}", f"localhost:{port}"):
        status, body = _get(port, headers={"Host": host})
        assert status == 200 and b"semcluster" in body, host
    status, _ = _get(port, headers={"Host": f"127.0.0.1:{port + 1}"})   # another port: no
    assert status == 403

    async def go():
        s = await Session(port, origin=f"http://localhost:{port}").open(
            initial_inputs(_model()))
        await s.wait_for(lambda s: "model_ok" in s.outputs.get("model_message", ""))
        await s.close()
        return s

    assert run(go()).session_id


@pytest.mark.parametrize("hosts,host,origin,served", [
    ("bound", "127.0.0.1:8050", None, True),
    ("bound", "localhost:8050", "http://localhost:8050", True),
    ("bound", "[::1]:8050", "http://[::1]:8050", True),
    ("bound", "127.0.0.1:8051", None, False),                  # the same name, another port
    ("bound", "127.0.0.1:8050", "http://127.0.0.1:8051", False),
    ("bound", "127.0.0.1:8050", "null", False),                # a sandboxed or file:// page
    ("bound", "", None, False),                                # no Host at all
    ("any-port", "localhost:1234", "http://127.0.0.1:1234", True),
    ("any-port", "127.0.0.1", None, True),
    ("any-port", "localhost.evil.example:1234", None, False),
    ("any-port", "127.0.0.1:1234", "https://evil.example", False),
])
def test_host_origin_guard_decides_each_request(hosts, host, origin, served):
    """The middleware alone (no server): a bound server (127.0.0.1:8050) and create_app
    without a port (the loopback names on any port)."""
    from semcluster.app.server import HostOriginGuard, allowed_hosts

    seen = []

    async def app(scope, receive, send):
        seen.append(scope["path"])

    sent = []

    async def send(message):
        sent.append(message)

    async def receive():
        return {"type": "websocket.connect"}

    guard = HostOriginGuard(app, allowed_hosts("127.0.0.1", 8050) if hosts == "bound" else None)
    headers = [(b"host", host.encode())] if host else []
    if origin:
        headers.append((b"origin", origin.encode()))
    for kind in ("http", "websocket"):
        seen.clear()
        sent.clear()
        asyncio.run(guard({"type": kind, "path": "/websocket/", "method": "GET",
                           "headers": headers, "client": ("127.0.0.1", 1)}, receive, send))
        assert bool(seen) == served, kind
        if not served:
            assert sent[0].get("status") == 403 if kind == "http" else \
                sent[0]["type"] == "websocket.close"


# --- uploads --------------------------------------------------------------------------------

def test_upload_is_read_in_a_worker_while_the_page_says_so(server, tmp_path):
    """The upload is answered at once with "Reading …" (the file is read by the worker pool,
    not by the event loop) and the result follows in a later message."""
    port = server[0]
    f = tmp_path / "survey.csv"
    f.write_bytes(CSV.read_bytes())

    async def go():
        s = await Session(port).open(initial_inputs(_model()))
        await s.wait_for(lambda s: "data_message" in s.outputs)
        await s.upload(f)
        await s.wait_for(lambda s: "data_ok" in s.outputs.get("data_message", ""),
                         what="the upload read")
        await s.wait_for(lambda s: "data_report_table" in s.outputs.get("data_report", ""),
                         what="the data report")
        await s.close()
        return s

    s = run(go())
    seen = [m["values"]["data_message"]["html"] for m in s.received
            if "data_message" in (m.get("values") or {})]
    reading = [i for i, h in enumerate(seen) if "data_reading" in h and "survey.csv" in h]
    loaded = [i for i, h in enumerate(seen) if "data_ok" in h]
    assert reading and loaded and reading[0] < loaded[0], seen
    assert "160 rows" in seen[loaded[0]]


def test_a_session_keeps_only_its_current_upload(server, tmp_path):
    port, _, _, tmp = server
    names = [f"upload_{i}_kept.csv" for i in range(3)]

    async def go():
        s = await Session(port).open(initial_inputs(_model()))
        for i, n in enumerate(names):
            f = tmp_path / n
            f.write_bytes(CSV.read_bytes())
            await s.upload(f)
            await s.wait_for(lambda s: n in s.outputs.get("data_message", "") and
                             "data_ok" in s.outputs["data_message"], what=f"upload {i}")
        on_disk = sorted(p.name for p in tmp.rglob("upload_*_kept.csv"))
        await s.close()
        return on_disk

    assert run(go()) == [names[-1]]


def test_upload_quota_counts_files_a_running_fit_still_reads(server, tmp_path):
    """Limit 1 MB, so a session keeps at most 2 MB of uploads.  A file a running fit reads is
    kept beside the current one; a third upload then exceeds the quota and is refused, and is
    accepted once the fit is cancelled (the file it read is removed)."""
    import pandas as pd

    port = server[0]
    src = pd.read_csv(CSV)
    files = []
    for name in ("first.csv", "second.csv", "third.csv"):
        f = tmp_path / name
        pd.concat([src] * 80, ignore_index=True).to_csv(f, index=False)
        files.append(f)
    size = files[0].stat().st_size
    assert 0.6 * 2**20 < size < 2**20              # two fit the 2 MB quota, three do not

    def data(s):
        return s.outputs.get("data_message", "")

    async def go():
        s = await Session(port).open({**initial_inputs(_model()), "n_boot": 5000})
        await s.upload(files[0])
        await s.wait_for(lambda s: "first.csv" in data(s) and "data_ok" in data(s))
        await s.update(**{"fit:shiny.action": 1})  # reads first.csv for a while
        await s.wait_for(lambda s: "Starting" in s.outputs.get("fit_progress", "") or
                         "Working" in s.outputs.get("fit_progress", ""))
        await s.upload(files[1])
        await s.wait_for(lambda s: "second.csv" in data(s) and "data_ok" in data(s))
        await s.upload(files[2])
        await s.wait_for(lambda s: "third.csv" in data(s), what="the third upload's answer")
        refused = data(s)
        await s.update(**{"cancel:shiny.action": 1})
        await s.wait_for(lambda s: "Cancelled" in s.outputs.get("fit_progress", ""))
        await s.upload(files[2])
        await s.wait_for(lambda s: "third.csv" in data(s) and "data_ok" in data(s),
                         what="the third upload after the cancel")
        await s.close()
        return refused

    refused = run(go())
    assert "already keeps" in refused and "the limit is 2 MB" in refused, refused


def _xlsx_bomb(path: Path, inflated_mb: int) -> None:
    """A zip named .xlsx whose one member inflates to ``inflated_mb`` MB of zeros."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        with z.open("xl/worksheets/sheet1.xml", "w") as m:
            block = b"\0" * 2**20
            for _ in range(inflated_mb):
                m.write(block)


def test_xlsx_that_expands_past_the_ceiling_is_refused_before_reading(tmp_path, monkeypatch):
    import semcluster.data.survey
    from semcluster.app import worker

    calls = []
    real = semcluster.data.survey.load_data
    monkeypatch.setattr(semcluster.data.survey, "load_data", lambda *a, **k: calls.append(a) or
                        real(*a, **k))
    bomb = tmp_path / "bomb.xlsx"
    _xlsx_bomb(bomb, 60)                        # 60 MB inflated; ceiling max(50 MB, 10 x 1 MB)
    assert bomb.stat().st_size < 1_000_000
    r = worker.parse_upload(str(bomb), str(tmp_path / "c.pkl"), max_bytes=2**20)
    assert "expands to 60 MB" in r["error"] and "limit is 50 MB" in r["error"]
    assert calls == [] and not (tmp_path / "c.pkl").exists()
    # just under the ceiling: opened (and then refused by the reader as not a workbook)
    small = tmp_path / "small.xlsx"
    _xlsx_bomb(small, 40)
    r = worker.parse_upload(str(small), str(tmp_path / "c.pkl"), max_bytes=2**20)
    assert calls and "expands to" not in r["error"] and "cannot be read" in r["error"]
    # a real workbook is read
    import pandas as pd

    good = tmp_path / "good.xlsx"
    pd.DataFrame({"ca1": [1, 2, 3], "ca2": [3, 2, 1]}).to_excel(good, index=False)
    r = worker.parse_upload(str(good), str(tmp_path / "g.pkl"), max_bytes=2**20)
    assert r.get("rows") == 3 and r.get("columns") == ["ca1", "ca2"]


@pytest.mark.parametrize("max_rows,max_cells,ok", [
    (160, 10_000, True), (159, 10_000, False),       # 160 rows
    (1000, 4000, True), (1000, 3999, False),         # 160 x 25 = 4000 cells
])
def test_upload_row_and_cell_limits(tmp_path, monkeypatch, max_rows, max_cells, ok):
    from semcluster.app import worker

    monkeypatch.setattr(worker, "MAX_ROWS", max_rows)
    monkeypatch.setattr(worker, "MAX_CELLS", max_cells)
    r = worker.parse_upload(str(CSV), str(tmp_path / "c.pkl"), max_bytes=2**20)
    if ok:
        assert r["rows"] == 160 and r["cols"] == 25 and (tmp_path / "c.pkl").exists()
    else:
        assert "160 rows × 25 columns is more than the app reads" in r["error"]


# --- sessions, folders, the command line ----------------------------------------------------

def test_pages_over_the_session_limit_are_turned_away(tmp_path):
    port = free_port()
    proc = start_server(port, tmp_path / "log", "--max-sessions", "1",
                        env=dict(os.environ, TMPDIR=str(tmp_path)))

    async def go():
        first = await Session(port).open(initial_inputs(_model()))
        await first.wait_for(lambda s: "model_ok" in s.outputs.get("model_message", ""))
        second = await Session(port).open(initial_inputs(_model()))
        await second.wait_for(lambda s: "already open in 1 pages" in s.text(),
                              what="the limit message")
        assert "model_ok" not in second.text()
        await second.close()
        await first.close()
        await asyncio.sleep(1.0)                 # the server notices the closed page
        third = await Session(port).open(initial_inputs(_model()))
        await third.wait_for(lambda s: "model_ok" in s.outputs.get("model_message", ""),
                             what="a page after one was closed")
        await third.close()

    try:
        run(go())
    finally:
        stop_server(proc)


def test_fits_over_the_job_limit_are_refused_until_one_ends(tmp_path):
    port = free_port()
    proc = start_server(port, tmp_path / "log", "--max-jobs", "1",
                        env=dict(os.environ, TMPDIR=str(tmp_path)))

    def status(s):
        return s.outputs.get("fit_progress", "")

    async def go():
        a = await Session(port).open({**initial_inputs(_model()), "n_boot": 5000})
        b = await Session(port).open(initial_inputs(_model()))
        for s in (a, b):
            await s.update(**{"use_bundled:shiny.action": 1})
            await s.wait_for(lambda s: "data_ok" in s.outputs.get("data_message", ""))
        await a.update(**{"fit:shiny.action": 1})          # 5000 bootstrap draws: still busy
        await a.wait_for(lambda s: "Starting" in status(s) or "Working" in status(s),
                         what="the first fit running")
        await b.update(**{"fit:shiny.action": 1})
        await b.wait_for(lambda s: "already running 1 fits" in status(s),
                         what="the second fit refused")
        await a.update(**{"cancel:shiny.action": 1})
        await a.wait_for(lambda s: "Cancelled" in status(s), what="the cancel")
        await b.update(**{"fit:shiny.action": 2})
        await b.wait_for(lambda s: "fit_table" in s.outputs.get("results", ""), timeout=120,
                         what="the second fit, once the first ended")
        await a.close()
        await b.close()

    try:
        run(go())
    finally:
        stop_server(proc)


def test_killed_servers_session_folder_is_removed_at_next_start(tmp_path):
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    env = dict(os.environ, TMPDIR=str(tmp))
    # a folder owned by a running process (this test) must stay
    live = tmp / f"semcluster-app-{os.getpid()}-live"
    live.mkdir()
    (live / "owner.txt").write_text(f"{os.getpid()}\n")
    port = free_port()
    proc = start_server(port, tmp_path / "a.log", env=env)
    private = tmp_path / "private.csv"
    private.write_bytes(CSV.read_bytes())

    async def go():
        s = await Session(port).open(initial_inputs(_model()))
        await s.upload(private)
        await s.wait_for(lambda s: "data_ok" in s.outputs.get("data_message", ""))
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        await s.close()

    run(go())
    assert list(tmp.rglob("private.csv")), "the upload should be on disk after kill -9"
    port = free_port()
    proc2 = start_server(port, tmp_path / "b.log", env=env)
    try:
        assert not list(tmp.rglob("private.csv"))
        assert live.exists()
    finally:
        stop_server(proc2)


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "0", "-3"])
def test_max_upload_mb_must_be_finite_and_positive(value, capsys):
    from semcluster.cli import main

    assert main(["app", "--no-browser", f"--max-upload-mb={value}"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("semcluster: error: --max-upload-mb") and "\n" not in err
    assert "Traceback" not in err


def test_busy_port_is_a_one_line_error_without_url(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        r = subprocess.run([sys.executable, "-m", "semcluster", "app", "--no-browser",
                            "--port", str(port)], capture_output=True, text=True, timeout=60,
                           env=dict(os.environ, TMPDIR=str(tmp_path)))
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert r.stdout == ""                        # no URL announced for a server that never ran
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "already in use" in lines[0] and str(port) in lines[0], r.stderr
