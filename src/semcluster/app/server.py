"""What makes ``semcluster app`` a local server done properly, apart from the page itself.

- :class:`HostOriginGuard`: an ASGI middleware around the Shiny app that serves only requests
  whose ``Host`` (and ``Origin``, when the client sends one) name the address the server was
  started on.  A web page on another site cannot open the app's websocket from the user's
  browser (foreign ``Origin``), and a DNS-rebinding name pointed at 127.0.0.1 is refused
  (foreign ``Host``).  Refusals are logged on the ``semcluster.app`` logger.
- :func:`bind`: the listening socket, made before anything is printed, so that a busy port is a
  one-line error (the CLI exits 2) and no URL is announced for a server that never ran.
- :func:`server_folder` / :func:`remove_stale_folders`: all session folders of one server live
  in one ``$TMPDIR/semcluster-app-<pid>-*`` folder with an owner file; a later start removes the
  folders whose owner is no longer running (a server killed with ``kill -9``).
- :class:`WorkerPool`: the one pool of worker processes: a ``ProcessPoolExecutor`` that reads
  uploads and prepares data away from the event loop, and a cap on fit/report jobs and sessions.
"""
from __future__ import annotations

import concurrent.futures
import ipaddress
import logging
import os
import shutil
import socket
import tempfile
import threading
from pathlib import Path

log = logging.getLogger("semcluster.app")

LOCAL_NAMES = ("127.0.0.1", "localhost", "[::1]")
WILDCARD = ("0.0.0.0", "::", "")
PREFIX = "semcluster-app-"
OWNER = "owner.txt"


def is_local(host: str) -> bool:
    """Whether ``host`` reaches this computer only (a loopback name or address)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _bracket(host: str) -> str:
    """An address as it appears in a URL (IPv6 in brackets)."""
    h = host.strip("[]")
    return f"[{h}]" if ":" in h else h


def allowed_hosts(host: str, port: int) -> frozenset[str]:
    """The ``Host`` values (``name:port``, lower case) a server bound to ``host`` answers to.

    A loopback address answers to every loopback name (127.0.0.1, localhost, [::1]); any other
    address to itself and the loopback names; a wildcard address (0.0.0.0, ::) in addition to this
    computer's host name and the addresses it resolves to.  On port 80 the bare name counts too.
    """
    names = set(LOCAL_NAMES)
    if host not in WILDCARD and not is_local(host):
        names.add(_bracket(host))
    if host in WILDCARD:
        try:
            hostname = socket.gethostname()
            names.add(hostname)
            names.update(_bracket(a[4][0]) for a in socket.getaddrinfo(hostname, None))
        except OSError:
            pass
    out = {f"{n.lower()}:{port}" for n in names}
    if port == 80:
        out |= {n.lower() for n in names}
    return frozenset(out)


class HostOriginGuard:
    """ASGI middleware: refuse requests whose ``Host`` or ``Origin`` is not this server.

    HTTP requests are answered ``403``; a websocket is closed before it is accepted (uvicorn
    answers the handshake with ``403``).  ``Origin`` is checked when present (browsers send it on
    every websocket and every POST); ``Host`` is always required.
    """

    def __init__(self, app, hosts: frozenset[str] | None):
        self.app, self.hosts = app, hosts       # None: the loopback names on any port

    def _ours(self, hostport: str) -> bool:
        if self.hosts is not None:
            return hostport in self.hosts
        # "name:port", "name", "[v6]:port" or "[v6]": split off a port only after the name
        if hostport.startswith("["):
            name, _, rest = hostport.partition("]")
            name, port = name + "]", rest[1:] if rest.startswith(":") else rest
        else:
            name, _, port = hostport.partition(":")
        return name in LOCAL_NAMES and (port == "" or port.isdigit())

    def refusal(self, scope) -> str | None:
        headers = {}
        for k, v in scope.get("headers") or ():
            headers.setdefault(k.decode("latin-1").lower(), v.decode("latin-1"))
        host = headers.get("host", "").strip().lower()
        if not self._ours(host):
            return f"Host {host or '(none)'!r}"
        origin = headers.get("origin")
        if origin is not None:
            o = origin.strip().lower().rstrip("/")
            if not (o.startswith("http://") and self._ours(o[len("http://"):])):
                return f"Origin {origin!r}"
        return None

    async def __call__(self, scope, receive, send):
        kind = scope.get("type")
        if kind not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        why = self.refusal(scope)
        if why is None:
            return await self.app(scope, receive, send)
        client = scope.get("client") or ("?", 0)
        log.warning("semcluster app: refused %s %s from %s: %s is not this server",
                    "websocket" if kind == "websocket" else scope.get("method", "GET"),
                    scope.get("path", ""), client[0], why)
        if kind == "websocket":
            message = await receive()              # websocket.connect
            if message.get("type") == "websocket.connect":
                await send({"type": "websocket.close", "code": 1008})
            return
        body = b"forbidden: this server answers only to the address it was started on\n"
        await send({"type": "http.response.start", "status": 403,
                    "headers": [(b"content-type", b"text/plain"),
                                (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})


def bind(host: str, port: int | None) -> socket.socket:
    """The listening socket on ``host``:``port`` (a free port when ``port`` is None).

    Raises :class:`semcluster.errors.OptionError` (one line) when the address is in use or
    cannot be bound.
    """
    from ..errors import OptionError

    family = socket.AF_INET6 if ":" in host.strip("[]") else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host.strip("[]"), port or 0))
        sock.listen(128)
    except OSError as exc:
        sock.close()
        what = f"port {port}" if port else "a free port"
        if exc.errno in (98, 48, 10048):           # EADDRINUSE (Linux, macOS, Windows)
            raise OptionError(f"--port {port}: the port is already in use on {host}; "
                              f"choose another port or leave --port out") from None
        raise OptionError(f"cannot listen on {host} ({what}): "
                          f"{exc.strerror or exc}") from None
    sock.set_inheritable(True)
    return sock


# --- session folders ------------------------------------------------------------------------

def _start_time(pid: int) -> str:
    """The process's start time from /proc (guards against a reused pid), '' where unknown."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return ""


def _alive(pid: int, start: str) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True                                 # someone else's live process
    now = _start_time(pid)
    return not (start and now and now != start)


def remove_stale_folders(tmpdir: str | None = None) -> list[Path]:
    """Remove this user's ``semcluster-app-*`` folders whose owning server is not running.

    A folder counts as stale when its ``owner.txt`` names a process that has ended (or a pid now
    used by a later process).  A folder without an owner file, or owned by another user, is left
    alone.  Returns the folders removed.
    """
    base = Path(tmpdir or tempfile.gettempdir())
    removed = []
    try:
        candidates = sorted(base.glob(PREFIX + "*"))
    except OSError:
        return removed
    for folder in candidates:
        try:
            if not folder.is_dir() or folder.is_symlink() or \
                    folder.stat().st_uid != os.getuid():
                continue
            pid_s, _, start = (folder / OWNER).read_text().strip().partition(" ")
            pid = int(pid_s)
        except (OSError, ValueError, AttributeError):
            continue
        if pid == os.getpid() or _alive(pid, start):
            continue
        shutil.rmtree(folder, ignore_errors=True)
        if not folder.exists():
            removed.append(folder)
    return removed


def server_folder(tmpdir: str | None = None) -> Path:
    """A new folder for this server's sessions, with an owner file naming this process."""
    pid = os.getpid()
    folder = Path(tempfile.mkdtemp(prefix=f"{PREFIX}{pid}-", dir=tmpdir))
    (folder / OWNER).write_text(f"{pid} {_start_time(pid)}\n")
    return folder


def folder_bytes(folder: Path) -> int:
    """Bytes held by the files under ``folder``."""
    total = 0
    for root, _dirs, files in os.walk(folder):
        for f in files:
            try:
                total += os.lstat(os.path.join(root, f)).st_size
            except OSError:
                pass
    return total


# --- the worker pool --------------------------------------------------------------------------

class WorkerPool:
    """The server's one pool of worker processes.

    Two single-process executors, started on first use, keep slow work out of the event loop
    (where Shiny runs every session's reactive code under one lock): ``executor("data")`` reads
    uploads and prepares data, ``executor("draw")`` draws the model's diagram as it is edited, so
    that a large upload never delays another page's drawing.  Fits and reports run as separate,
    cancellable processes (:class:`semcluster.app.page.Worker`): at most ``max_jobs`` at once,
    with one warm spare shared by all sessions.  At most ``max_sessions`` sessions are served.
    """

    KINDS = ("data", "draw")

    def __init__(self, *, max_jobs: int = 2, max_sessions: int = 8):
        self.max_jobs, self.max_sessions = max_jobs, max_sessions
        self._executors: dict[str, concurrent.futures.ProcessPoolExecutor] = {}
        self._lock = threading.Lock()
        self.sessions = 0
        self.jobs: set = set()
        self.spare = None

    def executor(self, kind: str) -> concurrent.futures.ProcessPoolExecutor:
        if kind not in self.KINDS:
            raise ValueError(kind)
        with self._lock:
            if kind not in self._executors:
                import multiprocessing

                from .worker import end_with_parent

                self._executors[kind] = concurrent.futures.ProcessPoolExecutor(
                    1, mp_context=multiprocessing.get_context("spawn"),
                    initializer=end_with_parent, initargs=(os.getpid(),))
            return self._executors[kind]

    def warm(self) -> None:
        """Start the executors' processes now (and their imports), not in the event loop.

        Starting a spawned process writes its preparation data through a pipe and can wait for
        the child to read it: seconds on a busy machine, during which no page would be served.
        """
        from .worker import warm_up

        for kind in self.KINDS:
            self.executor(kind).submit(warm_up, kind)

    def open_session(self) -> bool:
        with self._lock:
            if self.sessions >= self.max_sessions:
                return False
            self.sessions += 1
            return True

    def close_session(self) -> None:
        with self._lock:
            self.sessions = max(0, self.sessions - 1)

    def running_jobs(self) -> int:
        self.jobs = {w for w in self.jobs if w.proc.poll() is None}
        return len(self.jobs)

    def take_worker(self, factory):
        """A started worker for a new job, or None when ``max_jobs`` are already running."""
        if self.running_jobs() >= self.max_jobs:
            return None
        w = self.spare if self.spare is not None and self.spare.proc.poll() is None \
            else factory()
        self.spare = factory()                 # warm the next one while this one works
        self.jobs.add(w)
        return w

    def shutdown(self) -> None:
        for w in list(self.jobs) + ([self.spare] if self.spare is not None else []):
            w.stop()
        self.jobs.clear()
        self.spare = None
        for ex in self._executors.values():
            # a worker may be in the middle of a large file: end it rather than wait for it
            for p in list(getattr(ex, "_processes", {}).values()):
                p.terminate()
            ex.shutdown(wait=True, cancel_futures=True)
        self._executors.clear()
