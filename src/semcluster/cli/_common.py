"""Helpers shared by the sub-commands (argument conventions, safe output)."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path


def add_data_argument(p, required=False):
    p.add_argument("--data", metavar="FILE", required=required,
                   help="data file (CSV, XLSX or SAV); default: the bundled synthetic study data")


def write_text_atomic(path: str | Path, text: str, *, protect: tuple = ()) -> Path:
    """Write text to a temporary name beside ``path`` and rename it into place.

    ``protect`` lists input files that must never be overwritten (the user's data or model).
    """
    from ..errors import SemclusterError

    path = Path(path)
    for q in protect:
        if q is not None and Path(q).exists() and path.exists() and \
                path.resolve() == Path(q).resolve():
            raise SemclusterError(f"{path}: refusing to overwrite an input file; choose another "
                                  f"output name")
    if path.parent and not path.parent.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent or ".")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path
