"""``semcluster app [--port N] [--host H] [--no-browser]``: the study workflow in a web page."""
from __future__ import annotations

import math
import sys


def add_parser(sub):
    p = sub.add_parser(
        "app", help="the whole study workflow in a local web page (needs semcluster[app])",
        description="Serve a local web page for the whole workflow — data, items → constructs, "
                    "model, fit, results, report — in English or Chinese, for researchers who "
                    "do not program. Binds 127.0.0.1 (this computer only) unless --host says "
                    "otherwise. Needs the app extra: pip install 'semcluster[app]'.")
    p.add_argument("--port", type=int, default=None, help="port (default: a free one)")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to bind (default 127.0.0.1: this computer only)")
    p.add_argument("--no-browser", action="store_true", help="do not open a browser")
    p.add_argument("--max-upload-mb", type=float, default=20, metavar="MB",
                   help="largest data file accepted (default 20)")
    p.add_argument("--max-jobs", type=int, default=2, metavar="N",
                   help="fits and reports run at once, over all pages (default 2)")
    p.add_argument("--max-sessions", type=int, default=8, metavar="N",
                   help="pages served at once (default 8)")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..errors import OptionError

    try:
        import shiny  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError:
        raise OptionError("semcluster app needs Shiny for Python: "
                          "pip install 'semcluster[app]'") from None
    from ..app import serve
    from ..app.server import is_local

    if args.port is not None and not 0 < args.port < 65536:
        raise OptionError(f"--port {args.port}: a port is a number from 1 to 65535")
    if not math.isfinite(args.max_upload_mb) or args.max_upload_mb <= 0:
        raise OptionError(f"--max-upload-mb {args.max_upload_mb:g}: give a size in MB, "
                          f"a finite number above 0 (default 20)")
    for opt, n in (("--max-jobs", args.max_jobs), ("--max-sessions", args.max_sessions)):
        if not 0 < n <= 1000:
            raise OptionError(f"{opt} {n}: give a whole number from 1 to 1000")
    if not is_local(args.host):
        print(f"semcluster: warning: --host {args.host} makes the app reachable from other "
              f"computers on the network; anyone who can reach it can upload files and run "
              f"fits, and nothing is encrypted. Use it only on a network you trust.",
              file=sys.stderr, flush=True)
    serve(host=args.host, port=args.port, open_browser=not args.no_browser,
          max_upload_mb=args.max_upload_mb, max_jobs=args.max_jobs,
          max_sessions=args.max_sessions)
    return 0
