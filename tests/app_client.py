"""A small client of the Shiny websocket protocol, to drive ``semcluster app`` without a browser.

It speaks what Shiny's own JavaScript speaks (shiny/session/_session.py): the server sends
``{"config": …}``; the client sends ``{"method": "init", "data": {inputs}}``, then ``update``
messages for input changes and ``uploadInit``/``uploadEnd`` around an HTTP POST for a file;
the server answers with ``{"values": {output: {"html": …}}, "errors": {…}}`` messages.  Used by
tests/test_app_server.py and benchmarks/bench_app_load.py.  Needs the ``websockets`` package
(installed with ``uvicorn[standard]``; listed in the ``test`` extra).
"""
from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import websockets

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(port: int, log: Path, *args: str, env: dict | None = None,
                 timeout: float = 60) -> subprocess.Popen:
    """``python -m semcluster app --no-browser --port PORT ARGS`` until it answers ``GET /``."""
    env = dict(os.environ if env is None else env, OPENBLAS_NUM_THREADS="1",
               OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    with open(log, "w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "semcluster", "app", "--no-browser",
                                 "--port", str(port), *args],
                                stdout=out, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.time() + timeout
    while True:
        try:
            urllib.request.urlopen(url, timeout=2).read()
            return proc
        except OSError:
            if proc.poll() is not None or time.time() > deadline:
                proc.kill()
                raise RuntimeError("the app did not start: " + log.read_text())
            time.sleep(0.3)


def stop_server(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


#: Outputs a page shows: Shiny renders an output only while the client reports it visible
#: (``.clientdata_output_<id>_hidden``), as a browser does for the outputs of the open tab.
VISIBLE = ("data_message", "data_report", "file_report", "model_message", "conceptual",
           "fit_progress", "results", "report_progress", "map_message")


def initial_inputs(model_text: str, visible=VISIBLE) -> dict:
    """The inputs a freshly loaded page sends (what the browser's init message holds)."""
    return {**{f".clientdata_output_{o}_hidden": False for o in visible},
            "lang": "en", "model_name": "h1_h5", "model_text": model_text,
            "missing_codes": "", "scale": "", "id_col": "", "estimator": "ML",
            "model_title": "", "sheet": "", "out_of_scale": "error", "group_col": "",
            "cluster_col": "", "ordered": "", "long_string": "", "drop_careless": False,
            "missing": "auto", "n_boot": 0, "steps": "data",
            "use_bundled:shiny.action": 0, "fit:shiny.action": 0,
            "cancel:shiny.action": 0, "build_report:shiny.action": 0,
            "cancel_report:shiny.action": 0}


class Session:
    """One page session over a websocket: every received message is kept in ``received``."""

    def __init__(self, port: int, *, origin: str | None = None, host: str | None = None,
                 keep: bool = True):
        self.port = port
        self.keep = keep                          # keep every message (``received``, ``text``)
        self.base = f"http://127.0.0.1:{port}/"
        self.origin = f"http://127.0.0.1:{port}" if origin is None else origin
        self.host = host
        self.ws = None
        self.received: list[dict] = []
        self.outputs: dict[str, str] = {}         # output id -> latest html / value as text
        self.errors: dict[str, str] = {}
        self._tag = 0
        self._responses: dict[int, dict] = {}
        self._reader = None
        self._changed = asyncio.Event()
        self.session_id = None

    async def open(self, inputs: dict) -> "Session":
        kw = {}
        uri = f"ws://127.0.0.1:{self.port}/websocket/"
        if self.host:        # another name (e.g. a rebinding DNS name) for this server
            uri = f"ws://{self.host}/websocket/"
            kw["sock"] = socket.create_connection(("127.0.0.1", self.port))
        # no keepalive pings (a browser's Shiny client sends none): a server that stalls is
        # measured, not disconnected
        self.ws = await websockets.connect(uri, origin=self.origin, max_size=64 * 2**20,
                                           open_timeout=30, ping_interval=None, **kw)
        config = json.loads(await self.ws.recv())
        self.received.append(config)
        self.session_id = config["config"]["sessionId"]
        self._reader = asyncio.create_task(self._read())
        await self.ws.send(json.dumps({"method": "init", "data": inputs}))
        return self

    async def _read(self):
        try:
            async for raw in self.ws:
                m = json.loads(raw)
                if self.keep:
                    self.received.append(m)
                if "response" in m:
                    self._responses[m["response"]["tag"]] = m["response"]
                for k, v in (m.get("values") or {}).items():
                    self.outputs[k] = v.get("html", "") if isinstance(v, dict) else str(v)
                    self.errors.pop(k, None)
                for k, v in (m.get("errors") or {}).items():
                    self.errors[k] = v.get("message", "") if isinstance(v, dict) else str(v)
                self._changed.set()
        except websockets.ConnectionClosed:
            pass

    async def update(self, **inputs) -> None:
        await self.ws.send(json.dumps({"method": "update", "data": inputs}))

    async def wait_for(self, cond, timeout: float = 30.0, what: str = "the page"):
        """Wait until ``cond(self)`` is true; returns its value."""
        deadline = time.monotonic() + timeout
        while True:
            value = cond(self)
            if value:
                return value
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"waited {timeout} s for {what}; outputs: "
                                   f"{ {k: v[:200] for k, v in self.outputs.items()} }")
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), min(left, 0.5))
            except asyncio.TimeoutError:
                pass

    async def call(self, method: str, *args, timeout: float = 30.0):
        self._tag += 1
        tag = self._tag
        await self.ws.send(json.dumps({"method": method, "args": list(args), "tag": tag}))
        r = await self.wait_for(lambda s: s._responses.get(tag), timeout, f"{method} answer")
        if "error" in r:
            raise RuntimeError(r["error"])
        return r.get("value")

    async def upload(self, path: Path, input_id: str = "upload", name: str | None = None):
        """Upload a file as the browser does: uploadInit, POST the bytes, uploadEnd."""
        size = Path(path).stat().st_size
        info = await self.call("uploadInit", [{"name": name or Path(path).name,
                                               "size": size, "type": ""}])
        # the bytes go from a separate process, as from a browser: a thread of this client
        # would compete with the other sessions' message handling for the interpreter
        post = ("import sys, urllib.request\n"
                "data = open(sys.argv[2], 'rb').read()\n"
                "req = urllib.request.Request(sys.argv[1], data=data, method='POST', headers={"
                "'Content-Type': 'application/octet-stream', 'Origin': sys.argv[3]})\n"
                "urllib.request.urlopen(req, timeout=300).read()\n")
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-c", post, self.base + info["uploadUrl"], str(path),
            self.origin.rstrip("/"))
        if await proc.wait() != 0:
            raise RuntimeError(f"the upload POST of {path} failed")
        await self.call("uploadEnd", info["jobId"], input_id)

    def text(self) -> str:
        """Everything the server sent this session, as one string."""
        return "\n".join(json.dumps(m, ensure_ascii=False) for m in self.received)

    async def close(self):
        if self.ws is not None:
            await self.ws.close()
        if self._reader is not None:
            try:
                await asyncio.wait_for(self._reader, 5)
            except (asyncio.TimeoutError, asyncio.CancelledError):
                pass
