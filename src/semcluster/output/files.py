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
  (:func:`os.replace`); a failed run leaves the old file, or nothing.  A folder of outputs is
  atomic as a whole: it is built beside the old one and swapped in (:meth:`OutputFolder.commit`),
  so a full disk, a kill or Ctrl-C leaves the old report or the new one, never a mixture.
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

import errno
import hashlib
import io
import json
import os
import re
import shutil
import stat
import sys
import tempfile
import threading
from pathlib import Path
from typing import Callable, Iterable

from ..errors import OutputPathError

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

    def _check_target(self, path: Path, shown=None, *, probe: bool = True) -> None:
        """Checks of one output file, run up front and again just before the rename
        (``probe=False``: not whether its folder can be written, for a report built beside
        it)."""
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
        if probe:
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
        self._generation = None                       # of the report being written

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

    def check(self, names: Iterable[str] = (), *, probe: bool = True) -> dict[str, list[str]]:
        """Validate the folder (and the given file names in it); return what semcluster owns.
        ``probe=False`` leaves out the test that a file can be created in it (nothing is then
        written in the folder: the check before the swap of a report built beside it)."""
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
        if probe:
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
            self._check_name(name, owned, probe=probe)
        return owned

    def _check_name(self, name: str, owned, *, probe: bool = True) -> None:
        f = self.path / name
        for parent in reversed(Path(name).parents[:-1]):
            d = self.path / parent
            if os.path.islink(d) or (os.path.lexists(d) and not d.is_dir()):
                raise OutputPathError(f"{d} is in the way (not a plain folder); move it away or "
                                      f"choose another output folder")
        if os.path.lexists(f) and name not in owned:
            raise OutputPathError(f"{f} exists and was not written by semcluster; move it away "
                                  f"or choose another output folder (nothing was written)")
        self.owner._check_target(f, probe=probe)

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
        """Write the gathered files as one report: all of them, or none.

        The new report is built in a hidden sibling folder (:func:`_stage_name`): every new
        file, the new manifest, and hard links to everything in the folder that is not
        semcluster's (the user's notes, data, sub-folders; a copy where a hard link cannot be
        made).  The sibling is then swapped with the folder in one step (Linux
        ``renameat2(RENAME_EXCHANGE)``; elsewhere two renames, repaired by the next run if
        interrupted between them), and the old report is removed file by file, deleting only
        what semcluster wrote or what is safely in the new folder.  A full disk, a kill or
        Ctrl-C before the swap leaves the old report as it was; after it, the new one.

        Where no sibling can be made (the parent folder is not writable, the folder is a mount
        point or the working folder of this process), or a file of the user's in the folder can
        be neither linked nor copied into it, the files are written one by one, each
        atomically, as before (without the whole-or-nothing guarantee).  Folders of the new
        report get the mode (and, for root, the owner) of the folders they replace.
        """
        owned = self.check(self._files, probe=False)
        try:
            _recover_leftovers(self.path)
        except OSError:                   # a parent folder that cannot be listed: nothing to do
            pass
        stage = self._make_stage()
        if stage is None:
            return self._commit_in_place(self.check(self._files))
        try:
            self._fill_stage(stage, owned)
            self.check(self._files, probe=False)      # again, just before the swap
            old = _swap(stage, self.path)
        except _CannotCarry:
            # a file of the user's that can be neither linked nor copied (not readable):
            # it cannot come along, so the report is written in place, file by file
            shutil.rmtree(stage, ignore_errors=True)
            return self._commit_in_place(self.check(self._files))
        except BaseException as exc:                  # the old report is untouched
            if self._generation is not None and _generation(self.path) == self._generation:
                # interrupted (Ctrl-C) right after the swap: the new report is in place and
                # the old one is in ``stage``
                _clear_old(stage, self.path, owned)
                raise
            shutil.rmtree(stage, ignore_errors=True)
            if isinstance(exc, OSError):
                raise OutputPathError(f"{self.path}: cannot write the report "
                                      f"({exc.strerror or exc}); the earlier report, if any, "
                                      f"is unchanged") from None
            if isinstance(exc, OutputPathError):
                raise OutputPathError(f"{exc}; the earlier report, if any, is "
                                      f"unchanged") from None
            raise
        try:
            _clear_old(old, self.path, owned)
        except OSError as exc:                        # the new report is in place
            import warnings

            from ..errors import SemclusterWarning

            warnings.warn(f"{old}: the earlier report could not be removed completely "
                          f"({exc.strerror or exc}); remove it by hand", SemclusterWarning,
                          stacklevel=2)
        return self.path

    def _make_stage(self) -> Path | None:
        p = Path(os.path.abspath(self.path))
        parent = p.parent
        if os.path.lexists(p) and (os.path.ismount(p) or _holds_cwd(p)):
            return None
        _mkdirs(parent)
        try:
            stage = Path(tempfile.mkdtemp(prefix=_stage_name(p, "new"), dir=parent))
        except OSError:
            return None
        if p.is_dir():
            _same_owner_and_mode(stage, os.stat(p))
        else:
            os.chmod(stage, 0o777 & ~current_umask())
        return stage

    def _fill_stage(self, stage: Path, owned: dict) -> None:
        """The new report in ``stage``: manifest first (so that an interrupted stage is known
        to be semcluster's), the new files, then what is not semcluster's, carried over."""
        new = {name: hashlib.sha256(data).hexdigest() for name, data in self._files.items()}
        self._generation = _generation(self.path) + 1
        _write_manifest_file(stage, {n: [h] for n, h in new.items()}, self._generation)
        for name, data in self._files.items():
            f = stage / name
            _mkdirs(f.parent)
            _write_staged(f, data)
        if os.path.isdir(self.path):
            self._carry(self.path, stage, Path("."), owned, new)

    def _carry(self, src: Path, dst: Path, rel: Path, owned: dict, new: dict) -> bool:
        """Link what is not semcluster's from ``src`` into ``dst``; True if anything was."""
        carried = False
        entries = sorted(os.scandir(src), key=lambda e: e.name)
        for e in entries:
            r = (rel / e.name).as_posix()
            s, d = Path(e.path), dst / e.name
            if r == MANIFEST or r in new:
                continue
            if e.is_symlink():
                if not os.path.lexists(d):
                    os.symlink(os.readlink(s), d)
                carried = True
            elif e.is_dir():
                made = not os.path.lexists(d)
                if made:
                    os.mkdir(d)
                if self._carry(s, d, rel / e.name, owned, new) or not any(os.scandir(s)):
                    _same_owner_and_mode(d, e.stat(follow_symlinks=False))
                    carried = True
                elif made:
                    os.rmdir(d)                     # held only stale files of ours
            elif e.is_file():
                hashes = owned.get(r)
                if hashes and "*" not in hashes and _sha256(s) in hashes and \
                        self.owner._input_named_by(s) is None:
                    continue                        # an earlier run's file, not written again
                try:
                    os.link(s, d)
                except OSError:
                    try:
                        shutil.copy2(s, d)
                    except OSError:
                        raise _CannotCarry(s) from None
                carried = True
            else:
                raise OutputPathError(f"{s} is not a file, folder or link; semcluster cannot "
                                      f"carry it into the new report. Move it away or choose "
                                      f"another output folder (nothing was written)")
        return carried

    def _commit_in_place(self, owned) -> Path:
        """File by file (each atomic): for a folder that cannot be swapped as a whole."""
        new = {name: hashlib.sha256(data).hexdigest() for name, data in self._files.items()}
        _mkdirs(self.path)
        # the manifest first lists old and new content, so that a run that stops half-way
        # leaves a folder a rerun still recognises as its own
        during = {k: list(v) for k, v in owned.items()}
        for name, h in new.items():
            during[name] = [*during.get(name, []), h]
        gen = _generation(self.path) + 1
        self._write_manifest(during, gen)
        for name, data in self._files.items():
            f = self.path / name
            _mkdirs(f.parent)
            self._check_name(name, during)            # just before the rename
            _atomic_write(f, lambda tmp, data=data: _write_staged(Path(tmp), data))
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
        self._write_manifest({n: [h] for n, h in new.items()}, gen)
        return self.path

    def _remove_empty_parents(self, f: Path) -> None:
        for d in f.relative_to(self.path).parents[:-1]:
            try:
                (self.path / d).rmdir()               # only if empty
            except OSError:
                break

    def _write_manifest(self, files: dict, generation: int) -> None:
        _atomic_write(self.path / MANIFEST,
                      lambda tmp: Path(tmp).write_text(_manifest_text(files, generation)))


# ---------------------------------------------------------------------------------------------
# a report folder swapped as a whole
# ---------------------------------------------------------------------------------------------
def _holds_cwd(folder: Path) -> bool:
    """Whether this process works in ``folder`` or below it (swapping the folder would leave
    it, and the shell that started it, in the removed old folder)."""
    try:
        cwd = Path(os.path.realpath(os.getcwd()))
    except OSError:
        return False
    real = Path(os.path.realpath(folder))
    return cwd == real or real in cwd.parents


class _CannotCarry(Exception):
    """A file of the user's in a report folder that cannot be linked or copied."""


def _same_owner_and_mode(path: Path, st: os.stat_result) -> None:
    """Give a folder of the new report the mode (and, where allowed, the owner) of the folder
    it replaces."""
    os.chmod(path, st.st_mode & 0o7777)
    if hasattr(os, "chown") and hasattr(os, "geteuid") and os.geteuid() == 0:
        try:
            os.chown(path, st.st_uid, st.st_gid)
        except OSError:  # pragma: no cover - e.g. a file system without owners
            pass


def _manifest_text(files: dict, generation: int) -> str:
    return json.dumps({"written_by": "semcluster", "generation": generation,
                       "files": dict(sorted(files.items()))}, indent=1) + "\n"


def _write_manifest_file(folder: Path, files: dict, generation: int) -> None:
    """The manifest of a staging folder: complete or absent (written, then renamed)."""
    tmp = folder / (MANIFEST + ".tmp")
    _write_staged(tmp, _manifest_text(files, generation).encode("utf-8"))
    os.replace(tmp, folder / MANIFEST)


def _write_staged(path: Path, data: bytes) -> None:
    """One file of a report being built (in the staging folder, or a temporary name)."""
    path.write_bytes(data)
    os.chmod(path, _file_mode())


def _generation(folder: Path) -> int:
    """The manifest's count of reports written in ``folder`` (0: none, or unreadable)."""
    try:
        g = json.loads((Path(folder) / MANIFEST).read_text(encoding="utf-8")).get(
            "generation", 0)
        return g if isinstance(g, int) else 0
    except (OSError, ValueError, AttributeError):
        return 0


def _stage_name(folder: Path, kind: str) -> str:
    """Prefix of the hidden sibling of ``folder`` holding a new (``kind="new"``) or an old
    (``"old"``) report; the process id tells a live run from an interrupted one."""
    return f".{folder.name}.semcluster-{kind}-{os.getpid()}-"


_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def _exchange(a: Path, b: Path) -> bool:
    """Swap two folders in one step (Linux ``renameat2``); False where that is not available."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        fn = libc.renameat2
    except (OSError, AttributeError):
        return False
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    if fn(_AT_FDCWD, os.fsencode(str(a)), _AT_FDCWD, os.fsencode(str(b)),
          _RENAME_EXCHANGE) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.EPERM):
        return False                         # the file system cannot exchange: two renames
    raise OSError(err, os.strerror(err), str(b))


def _swap(stage: Path, target: Path) -> Path:
    """Put ``stage`` at ``target``; return where the old folder now is (maybe nowhere)."""
    if not os.path.lexists(target):
        os.rename(stage, target)
        return stage
    if _exchange(stage, target):
        return stage
    # two renames; an interruption between them is repaired by _recover_leftovers
    aside = Path(tempfile.mktemp(prefix=_stage_name(target, "old"), dir=target.parent))
    os.rename(target, aside)
    try:
        os.rename(stage, target)
    except BaseException:
        os.rename(aside, target)
        raise
    return aside


def _clear_old(old: Path, live: Path, owned: dict | None = None) -> None:
    """Remove an old report folder ``old`` that has been replaced by ``live``: only files
    semcluster wrote (its manifest says so, with their content) and files that ``live`` holds
    too (the same file, or the same content).  Anything else (a file the user made during the
    swap) is moved into ``live`` if the name is free there; what remains stays in ``old``, and
    a warning names it."""
    if not os.path.lexists(old):
        return
    ours = {}
    try:
        ours = json.loads((old / MANIFEST).read_text(encoding="utf-8"))["files"]
    except (OSError, ValueError, KeyError, TypeError):
        pass
    # what the run knew to be semcluster's (an older report's files, "*": any content)
    ours = {**(owned or {}), **ours}
    for dirpath, dirnames, filenames in os.walk(old, topdown=False):
        d = Path(dirpath)
        # the manifest last: it is what tells an interrupted clearing what was semcluster's
        names = sorted(filenames + [n for n in dirnames if os.path.islink(d / n)],
                       key=lambda n: n == MANIFEST)
        for name in names:
            f = d / name
            rel = f.relative_to(old).as_posix()
            twin = live / rel
            if os.path.islink(f):
                safe = os.path.islink(twin) and os.readlink(twin) == os.readlink(f)
            else:
                h = _sha256(f)
                safe = rel == MANIFEST or h in (ours.get(rel) or ()) or \
                    "*" in (ours.get(rel) or ()) or \
                    (os.path.lexists(twin) and not os.path.islink(twin) and
                     (_is_same(f, twin) or (twin.is_file() and _sha256(twin) == h)))
            if safe:
                os.unlink(f)
            elif not os.path.lexists(twin):
                _mkdirs(twin.parent)
                os.rename(f, twin)
        for name in dirnames:
            if not os.path.islink(d / name):
                try:
                    os.rmdir(d / name)
                except OSError:
                    pass
    try:
        os.rmdir(old)
    except OSError:
        import warnings

        from ..errors import SemclusterWarning

        warnings.warn(f"{old}: files that were in {live} during the swap and clash with the "
                      f"new report are kept here", SemclusterWarning, stacklevel=3)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    return True


def _recover_leftovers(target: Path) -> None:
    """Tidy up after a run on ``target`` that was killed while writing: a staging folder that
    was never swapped in is removed; an old report that was swapped out is cleared
    (:func:`_clear_old`); a folder left aside between two renames goes back in place."""
    target = Path(os.path.abspath(target))
    parent = target.parent
    if not parent.is_dir():
        return
    pat = re.compile(re.escape(f".{target.name}.semcluster-") + r"(new|old)-(\d+)-")
    found = []
    for e in os.scandir(parent):
        m = pat.match(e.name)
        if m and e.is_dir(follow_symlinks=False) and not _pid_alive(int(m.group(2))):
            found.append((m.group(1), Path(e.path)))
    if not found:
        return
    gen = _generation(target)
    if not os.path.lexists(target):
        news = sorted((p for k, p in found if k == "new"), key=_generation)
        olds = [p for k, p in found if k == "old"]
        if olds:                                # killed between the two renames
            if news and _generation(news[-1]) > _generation(olds[0]):
                os.rename(news[-1], target)
            else:
                os.rename(olds[0], target)
            gen = _generation(target)
            found = [(k, p) for k, p in found if os.path.lexists(p)]
    for kind, p in found:
        # a staging folder gets its manifest first (written, then renamed), so one that was
        # never swapped in has a manifest newer than the folder's, or nothing else yet
        never_swapped = kind == "new" and (
            (os.path.lexists(p / MANIFEST) and _generation(p) > gen) or
            set(os.listdir(p)) <= {MANIFEST + ".tmp"})
        if never_swapped:
            shutil.rmtree(p, ignore_errors=True)
        elif os.path.lexists(target):
            _clear_old(p, target)
