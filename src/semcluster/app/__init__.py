"""``semcluster app``: the whole study workflow in a local web page (Shiny for Python).

For researchers who do not program: data → items → model → fit → results → report, in English
or Chinese, on this computer only.  The page is a thin layer over the library (data path,
parser, fit, tables, diagrams, comparison, report); the heavy work runs in a worker process
(:mod:`semcluster.app.worker`) so that it can show progress and be cancelled.

Needs the ``app`` extra: ``pip install 'semcluster[app]'``.
"""
from __future__ import annotations

#: Largest upload accepted, in MB (``semcluster app --max-upload-mb``).
MAX_UPLOAD_MB = 20


def create_app(*, max_upload_mb: float = MAX_UPLOAD_MB):
    """The ASGI application (Shiny), with uploads over ``max_upload_mb`` refused."""
    from .page import create_app as _create

    return _create(max_upload_mb=max_upload_mb)


def serve(host: str = "127.0.0.1", port: int | None = None, *, open_browser: bool = True,
          max_upload_mb: float = MAX_UPLOAD_MB, max_jobs: int = 2,
          max_sessions: int = 8) -> None:
    """Serve the app until interrupted (see :mod:`semcluster.app.page`)."""
    from .page import serve as _serve

    _serve(host=host, port=port, open_browser=open_browser, max_upload_mb=max_upload_mb,
           max_jobs=max_jobs, max_sessions=max_sessions)


__all__ = ["MAX_UPLOAD_MB", "create_app", "serve"]
