"""Every file semcluster writes goes through here.

Rules, the same for every command and for the report:

* **Inputs are never written over.**  An output that names an input of the run (the model
  file, the data file, the mapping file, the published tables ...) is refused, however it is
  spelled: paths are compared after resolving symbolic links and with :func:`os.path.samefile`
  (hard links, case-insensitive file systems).
* **Checked before the slow work, and again just before the rename.**  :meth:`OutputFiles.file`
  and :meth:`OutputFiles.folder` validate an output place at once (a folder where a file is
  wanted, a symbolic link, a device, a place that cannot be written); the checks are repeated
  right before the new file replaces the old one.
* **Atomic.**  Each file is written to a temporary name in its own folder and renamed into place
  (:func:`os.replace`); a failed run leaves the old file, or nothing.
* **The umask is respected**: files are created ``0666 & ~umask``, folders ``0777 & ~umask``
  (as ``open()`` and ``mkdir`` would), not the ``0600``/``0700`` of :mod:`tempfile`.
* **Nothing semcluster did not write is deleted.**  A folder of outputs (``reproduce --out``,
  ``measure --out``) carries a manifest, :data:`MANIFEST`, naming every file semcluster wrote
  there with its SHA-256.  A rerun replaces and removes only files listed there whose content
  is still what semcluster wrote; anything else in the folder is the user's and is kept (or, if
  it is in the way, the run stops before writing anything).
* **Safe text.**  :func:`csv_text` neutralizes spreadsheet formulas (text cells starting with
  ``= + - @``, tab or carriage return get a leading ``'``, as OWASP recommends; numbers are left
  alone); :func:`md_code` puts a name in a Markdown code span that no backtick or HTML in the
  name can break out of.

Errors are :class:`semcluster.errors.OutputPathError`: one line, exit code 2 in the CLI.

>>> out = OutputFiles(inputs=["model.lav", "survey.csv"])          # doctest: +SKIP
>>> target = out.file("results.json")     # checked now, before fitting  # doctest: +SKIP
>>> out.write_text(target, text)          # checked again, then renamed  # doctest: +SKIP
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import re
import stat
import tempfile
import threading
from pathlib import Path
from typing import Callable, Iterable

from .errors import OutputPathError

MANIFEST = ".semcluster-manifest.json"
LEGACY_MARKER = ".semcluster-report"        # report folders written before the manifest existed

_UMASK_LOCK = threading.Lock()


# ---------------------------------------------------------------------------------------------
# small pieces
# ---------------------------------------------------------------------------------------------
def current_umask() -> int:
    """The process umask: from ``/proc/self/status`` where Linux gives it, else by setting and
    restoring it (two system calls, under a lock)."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    with _UMASK_LOCK:
        mask = os.umask(0o022)
        os.umask(mask)
    return mask


def _file_mode() -> int:
    return 0o666 & ~current_umask()


def _is_same(a: Path, b: Path) -> bool:
    try:
        if os.path.realpath(a) == os.path.realpath(b):
            return True
        return os.path.exists(a) and os.path.exists(b) and os.path.samefile(a, b)
    except OSError:
        return False


def _sha256(path: Path) -> str | None:
    try:
        with open(path, "rb") as fh:
            return hashlib.sha256(fh.read()).hexdigest()
    except OSError:
        return None


def _nearest_existing(path: Path) -> Path:
    p = Path(os.path.abspath(path))
    while not os.path.lexists(p):
        p = p.parent
    return p


def _check_writable_dir(path: Path, shown: Path) -> None:
    """``path`` (or its nearest existing ancestor) is a folder in which a file can be created."""
    base = _nearest_existing(path)
    if not base.is_dir():
        raise OutputPathError(f"{shown}: cannot write here, {base} is a file, not a folder")
    if not os.access(base, os.W_OK | os.X_OK):
        raise OutputPathError(f"{shown}: cannot write in {base} (permission denied); choose "
                              f"another place")
    # os.access says yes to root even on read-only file systems: try it
    try:
        fd, probe = tempfile.mkstemp(prefix=".semcluster-probe.", dir=base)
    except OSError as exc:
        raise OutputPathError(f"{shown}: cannot write in {base} "
                              f"({exc.strerror or exc}); choose another place") from None
    os.close(fd)
    os.unlink(probe)


def _mkdirs(path: Path) -> list[Path]:
    """Create ``path`` and missing parents with mode ``0777 & ~umask``; return those created."""
    made = []
    for p in reversed([path, *path.parents]):
        if not os.path.lexists(p):
            try:
                os.mkdir(p)            # mode 0777, the umask applies
            except FileExistsError:
                continue
            except OSError as exc:
                raise OutputPathError(f"{p}: cannot make the folder "
                                      f"({exc.strerror or exc})") from None
            made.append(p)
    return made


def _atomic_write(path: Path, write: Callable[[str], None]) -> None:
    """Write through ``write(tmp_name)`` to a temporary name beside ``path``, set the mode the
    umask asks for, and rename it over ``path``.  A failure of the system (disk full, the folder
    gone) is an :class:`OutputPathError` naming the file; the old file is left as it was."""
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise OutputPathError(f"{path}: cannot write ({exc.strerror or exc})") from None
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, _file_mode())
        os.replace(tmp, path)
    except OSError as exc:
        raise OutputPathError(f"{path}: cannot write ({exc.strerror or exc}); the earlier "
                              f"file, if any, is unchanged") from None
    finally:
        if os.path.lexists(tmp):
            os.unlink(tmp)


# ---------------------------------------------------------------------------------------------
# safe text
# ---------------------------------------------------------------------------------------------
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
# lavaan's operators (the ``op`` column of every estimates table) and a lone sign carry no
# formula a spreadsheet could run; they are written as they are so tables read back unchanged
_INERT = frozenset({"=~", "~~", "~", ":=", "==", "~*~", "<~", "~1", "-", "+", "="})
_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$|^[+-]?(inf|nan)$", re.I)


def neutralize_cell(value):
    """A text cell a spreadsheet would run as a formula, made inert with a leading ``'``.

    Numbers, text that reads as a number (``-0.25``) and lavaan's operators (``=~``) are
    returned unchanged.

    >>> neutralize_cell("=HYPERLINK(\\"x\\")"), neutralize_cell("-0.25"), neutralize_cell(-3)
    ('\\'=HYPERLINK("x")', '-0.25', -3)
    """
    if isinstance(value, str) and value.startswith(_FORMULA_START) and \
            value not in _INERT and not _NUMBER.match(value.strip()):
        return "'" + value
    return value


def csv_safe(df):
    """A copy of a DataFrame whose text cells, column names and index labels cannot act as
    spreadsheet formulas (see :func:`neutralize_cell`)."""
    import pandas as pd

    out = df.copy()
    for col in out.columns:
        if not (pd.api.types.is_numeric_dtype(out[col]) or
                pd.api.types.is_bool_dtype(out[col])):
            out[col] = out[col].map(neutralize_cell)

    def names(ix):
        if isinstance(ix, pd.MultiIndex):
            return pd.MultiIndex.from_tuples([tuple(neutralize_cell(v) for v in t) for t in ix],
                                             names=[neutralize_cell(n) for n in ix.names])
        if pd.api.types.is_numeric_dtype(ix):
            return ix
        return pd.Index([neutralize_cell(v) for v in ix], name=neutralize_cell(ix.name))

    out.columns = names(out.columns)
    out.index = names(out.index)
    return out


def csv_text(df, *, index: bool = False) -> str:
    """CSV text of a DataFrame with formula-like text neutralized (:func:`csv_safe`)."""
    return csv_safe(df).to_csv(index=index)


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def md_code(name) -> str:
    """``name`` as a Markdown code span that its own backticks, HTML or line breaks cannot end.

    >>> md_code("my`data.csv"), md_code("<b>x</b>")
    ('`` my`data.csv ``', '`<b>x</b>`')
    """
    text = _CONTROL.sub("\N{REPLACEMENT CHARACTER}", str(name))
    runs = [len(m) for m in re.findall(r"`+", text)]
    fence = "`" * (max(runs, default=0) + 1)
    pad = " " if text.startswith("`") or text.endswith("`") or runs else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def md_text(text) -> str:
    """Text for a Markdown table cell or paragraph: no raw HTML tag, no table break."""
    text = _CONTROL.sub(" ", str(text)).replace("|", "/")
    return re.sub(r"<(?=[A-Za-z/!?])", "&lt;", text)


# ---------------------------------------------------------------------------------------------
# the writer
# ---------------------------------------------------------------------------------------------
class OutputFiles:
    """The outputs of one run, kept apart from its inputs.

    Parameters
    ----------
    inputs : iterable of str or Path or None
        Files the run reads (model, data, mapping, published tables, a result JSON).  ``None``
        and names that are not files (a bundled model's name) are skipped.
    """

    def __init__(self, inputs: Iterable = ()):
        self.inputs = [Path(str(p)) for p in inputs if p is not None and str(p) != ""]
        self._targets: list[Path] = []

    # -- checks -------------------------------------------------------------------------------
    def _input_named_by(self, path: Path) -> Path | None:
        for q in self.inputs:
            if os.path.lexists(q) and _is_same(path, q):
                return q
        return None

    def _check_target(self, path: Path, shown=None) -> None:
        """Checks of one output file, run up front and again just before the rename."""
        shown = shown or path
        q = self._input_named_by(path)
        if q is not None:
            same = "" if str(q) == str(shown) else f" (it is {q})"
            raise OutputPathError(f"{shown} is an input of this run{same}; refusing to "
                                  f"overwrite it, choose another output name")
        if os.path.islink(path):
            raise OutputPathError(f"{shown} is a symbolic link; semcluster does not write "
                                  f"through links, give the real path")
        if os.path.isdir(path):
            raise OutputPathError(f"{shown} is a folder; give a file name")
        if os.path.lexists(path) and not stat.S_ISREG(os.stat(path).st_mode):
            raise OutputPathError(f"{shown} is not a regular file; give a file name")
        _check_writable_dir(path.parent, shown)

    def file(self, path, *, suffixes: tuple[str, ...] | None = None) -> Path:
        """Validate an output file now (before the work that fills it) and reserve it."""
        if path is None or str(path) == "":
            raise OutputPathError("empty output file name")
        p = Path(str(path))
        if suffixes and p.suffix.lower() not in suffixes:
            raise OutputPathError(f"{p}: use a file name ending in {', '.join(suffixes)}")
        self._check_target(p)
        for t in self._targets:
            if _is_same(p, t):
                raise OutputPathError(f"{p} is named for two outputs of this run; give each its "
                                      f"own name")
        self._targets.append(p)
        return p

    def folder(self, path) -> "OutputFolder":
        """Validate an output folder now and return the writer of its files."""
        f = OutputFolder(path, self)
        f.check()
        return f

    # -- writing ------------------------------------------------------------------------------
    def _write(self, path, write: Callable[[str], None]) -> Path:
        p = Path(str(path))
        self._check_target(p)                    # again: things change during a long run
        _mkdirs(p.parent)
        self._check_target(p)
        _atomic_write(p, write)
        return p

    def write_bytes(self, path, data: bytes) -> Path:
        def w(tmp):
            with open(tmp, "wb") as fh:
                fh.write(data)
        return self._write(path, w)

    def write_text(self, path, text: str) -> Path:
        return self.write_bytes(path, text.encode("utf-8"))

    def write_json(self, path, obj, **kw) -> Path:
        kw.setdefault("indent", 2)
        return self.write_text(path, json.dumps(obj, **kw) + "\n")

    def write_csv(self, path, df, *, index: bool = False) -> Path:
        return self.write_text(path, csv_text(df, index=index))

    def write_xlsx(self, path, df, *, index: bool = False, sheet: str = "Sheet1") -> Path:
        """An Excel workbook of one table (formula-like text neutralized, as for CSV)."""
        return self.write_bytes(path, xlsx_bytes(df, index=index, sheet=sheet))

    def save_figure(self, path, fig, *, dpi: int = 150) -> Path:
        fmt = Path(str(path)).suffix.lower().lstrip(".")
        if fmt not in ("png", "svg", "pdf"):
            raise OutputPathError(f"{path}: use a .png, .svg or .pdf file name")
        return self.write_bytes(path, figure_bytes(fig, fmt, dpi=dpi))


def xlsx_bytes(df, *, index: bool = False, sheet: str = "Sheet1") -> bytes:
    """The bytes of an .xlsx workbook holding ``df`` (:func:`csv_safe` applied)."""
    try:
        import openpyxl  # noqa: F401
    except ImportError:  # pragma: no cover - declared dependency
        raise OutputPathError("writing .xlsx files needs the openpyxl package (pip install "
                              "openpyxl); or write .csv") from None
    buf = io.BytesIO()
    csv_safe(df).to_excel(buf, index=index, sheet_name=sheet, engine="openpyxl")
    return buf.getvalue()


def figure_bytes(fig, fmt: str, *, dpi: int = 150) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format=fmt, dpi=dpi, bbox_inches="tight")
    return buf.getvalue()


class OutputFolder:
    """A folder of outputs with a manifest of what semcluster wrote there.

    Files are gathered in memory (:meth:`add_text`, :meth:`add_csv`, :meth:`add_figure` ...)
    and written by :meth:`commit`, which checks the folder again, writes every file atomically,
    records it in :data:`MANIFEST`, and removes files of an earlier run that this run did not
    write again, but only those listed in the manifest and unchanged since.

    A folder is accepted if it does not exist, is empty, or holds a manifest (or the marker of
    an older semcluster report).  Anything else in it is the user's and is never touched.
    """

    def __init__(self, path, owner: OutputFiles):
        if path is None or str(path) == "":
            raise OutputPathError("empty output folder name")
        self.path = Path(str(path))
        self.owner = owner
        self._files: dict[str, bytes] = {}

    # -- the folder as it is ------------------------------------------------------------------
    def _manifest(self) -> dict | None:
        m = self.path / MANIFEST
        if not os.path.lexists(m):
            return None
        try:
            data = json.loads(m.read_text(encoding="utf-8"))
            files = data["files"]
            assert isinstance(files, dict)
            return {str(k): list(v) for k, v in files.items()}
        except (OSError, ValueError, KeyError, TypeError, AssertionError):
            raise OutputPathError(f"{m} is damaged; semcluster cannot tell which files it "
                                  f"wrote there. Choose another folder") from None

    def _owned(self) -> dict[str, list[str]] | None:
        """Files semcluster may replace: ``{relative name: accepted SHA-256s}``; ``None`` for a
        folder that is not semcluster's."""
        p = self.path
        if not os.path.lexists(p):
            return {}
        m = self._manifest()
        if m is not None:
            return m
        if (p / LEGACY_MARKER).is_file():
            return {LEGACY_MARKER: ["*"], "report.html": ["*"], "report.md": ["*"],
                    "results.json": ["*"], **{f"{sub}/{f.name}": ["*"]
                                              for sub in ("tables", "figures")
                                              if (p / sub).is_dir() and not (p / sub).is_symlink()
                                              for f in (p / sub).iterdir()
                                              if f.suffix in (".csv", ".png", ".svg")}}
        if any(p.iterdir()):
            return None
        return {}

    def check(self, names: Iterable[str] = ()) -> dict[str, list[str]]:
        """Validate the folder (and the given file names in it); return what semcluster owns."""
        p = self.path
        shown = p
        if os.path.islink(p):
            raise OutputPathError(f"{shown} is a symbolic link; semcluster does not write "
                                  f"through links, give the real folder")
        q = self.owner._input_named_by(p)
        if q is not None:
            raise OutputPathError(f"{shown}: refusing to write over an input of this run ({q}); "
                                  f"choose another output folder")
        if os.path.lexists(p) and not p.is_dir():
            raise OutputPathError(f"{shown} exists and is not a folder; choose another output "
                                  f"folder")
        _check_writable_dir(p, shown)
        owned = self._owned()
        if owned is None:
            raise OutputPathError(f"{shown} exists, is not empty and was not written by "
                                  f"semcluster (no {MANIFEST}); choose a new or empty folder "
                                  f"(nothing was written)")
        for name, hashes in owned.items():
            f = p / name
            if "*" in hashes or not os.path.lexists(f):
                continue
            if os.path.islink(f) or not f.is_file() or _sha256(f) not in hashes:
                raise OutputPathError(f"{f} was changed after semcluster wrote it; move it "
                                      f"away or choose another output folder (nothing was "
                                      f"written)")
        for name in names:
            self._check_name(name, owned)
        return owned

    def _check_name(self, name: str, owned) -> None:
        f = self.path / name
        for parent in reversed(Path(name).parents[:-1]):
            d = self.path / parent
            if os.path.islink(d) or (os.path.lexists(d) and not d.is_dir()):
                raise OutputPathError(f"{d} is in the way (not a plain folder); move it away or "
                                      f"choose another output folder")
        if os.path.lexists(f) and name not in owned:
            raise OutputPathError(f"{f} exists and was not written by semcluster; move it away "
                                  f"or choose another output folder (nothing was written)")
        self.owner._check_target(f)

    # -- gathering ----------------------------------------------------------------------------
    def _add(self, name: str, data: bytes) -> str:
        name = Path(name).as_posix()
        if name.startswith("/") or ".." in Path(name).parts or name == MANIFEST:
            raise ValueError(f"bad output name inside a folder: {name!r}")
        if name in self._files:
            raise ValueError(f"{name} is written twice")
        self._files[name] = data
        return name

    def add_bytes(self, name: str, data: bytes) -> str:
        return self._add(name, data)

    def add_text(self, name: str, text: str) -> str:
        return self._add(name, text.encode("utf-8"))

    def add_json(self, name: str, obj, **kw) -> str:
        kw.setdefault("indent", 2)
        return self.add_text(name, json.dumps(obj, **kw) + "\n")

    def add_csv(self, name: str, df, *, index: bool = False) -> str:
        return self.add_text(name, csv_text(df, index=index))

    def add_figure(self, name: str, fig, *, dpi: int = 150) -> str:
        fmt = Path(name).suffix.lower().lstrip(".")
        return self._add(name, figure_bytes(fig, fmt, dpi=dpi))

    # -- writing ------------------------------------------------------------------------------
    def commit(self) -> Path:
        """Check again, write every gathered file, update the manifest, remove stale files."""
        owned = self.check(self._files)
        new = {name: hashlib.sha256(data).hexdigest() for name, data in self._files.items()}
        _mkdirs(self.path)
        # the manifest first lists old and new content, so that a run that stops half-way
        # leaves a folder a rerun still recognises as its own
        during = {k: list(v) for k, v in owned.items()}
        for name, h in new.items():
            during[name] = [*during.get(name, []), h]
        self._write_manifest(during)
        for name, data in self._files.items():
            f = self.path / name
            _mkdirs(f.parent)
            self._check_name(name, during)            # just before the rename
            _atomic_write(f, lambda tmp, data=data: Path(tmp).write_bytes(data))
        for name, hashes in owned.items():
            if name in new or "*" in hashes:       # an older report's files: never removed
                continue
            f = self.path / name
            if not os.path.lexists(f):
                continue
            current = None if os.path.islink(f) or not f.is_file() else _sha256(f)
            if current is None or self.owner._input_named_by(f) is not None or \
                    ("*" not in hashes and current not in hashes):
                continue                              # not ours any more: leave it alone
            os.unlink(f)
            self._remove_empty_parents(f)
        self._write_manifest({n: [h] for n, h in new.items()})
        return self.path

    def _remove_empty_parents(self, f: Path) -> None:
        for d in f.relative_to(self.path).parents[:-1]:
            try:
                (self.path / d).rmdir()               # only if empty
            except OSError:
                break

    def _write_manifest(self, files: dict) -> None:
        text = json.dumps({"written_by": "semcluster", "files": dict(sorted(files.items()))},
                          indent=1) + "\n"
        _atomic_write(self.path / MANIFEST, lambda tmp: Path(tmp).write_text(text))
