"""Reading survey data and checking it against a model before anything is fitted.

One way through the data: :func:`load_data` reads a file (CSV, TSV, Excel, SPSS, Stata) or takes a
DataFrame, without changing a value; it may rename columns to the model's item names through a
column mapping.  :func:`prepare_data` selects the model's variables, turns declared missing codes
into missing values, checks every answer against the declared answer scale, reverse-codes the
declared items, applies the missing-data rule and returns the numeric matrix that is fitted together
with a :class:`DataReport` that says how many rows were used and why any were not.

Nothing here writes to the user's files.  Every problem the user can fix is a
:class:`~semcluster.errors.DataError` (the CLI turns it into exit code 2) when the analysis cannot
go on, or a :class:`~semcluster.errors.SemclusterWarning` (also recorded in the report) when it can.
"""
from __future__ import annotations

import csv
import io
import re
import warnings
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from typing import Iterable, Mapping

import numpy as np
import pandas as pd

from ..errors import DataError, InputTypeError, OptionError, SemclusterWarning
from ..resources import data_path

DEFAULT_DATA = "paper_synthetic.csv"

#: Missing-data rules understood by :func:`prepare_data`.
MISSING_RULES = ("listwise", "pairwise", "fiml", "auto")

#: lavaan's spellings of ``missing =`` and the rule each means here.  ``ml.x`` (exogenous
#: covariates modelled too) equals ``ml`` for every model FIML accepts: it refuses models with
#: exogenous observed covariates.
MISSING_ALIASES = {"ml": "fiml", "ml.x": "fiml", "direct": "fiml", "fiml": "fiml",
                   "listwise": "listwise", "pairwise": "pairwise",
                   "available.cases": "pairwise", "auto": "auto"}

#: lavaan's rules semcluster does not implement, with what to use instead.
_MISSING_NOT_IMPLEMENTED = ("two.stage", "robust.two.stage", "doubly.robust")


def missing_rule(missing) -> str:
    """The rule (``listwise``, ``pairwise``, ``fiml`` or ``auto``) meant by ``missing``.

    Accepts lavaan's spellings, in any case: ``"ml"``, ``"ml.x"``, ``"direct"`` and ``"fiml"``
    mean full-information ML; ``"available.cases"`` and ``"pairwise"`` pairwise; ``"listwise"``.

    Raises
    ------
    OptionError
        An unknown rule (the message lists the known ones).
    InputTypeError
        Not a string.
    """
    if not isinstance(missing, str):
        raise InputTypeError(f"missing must be a string such as 'ml', 'listwise' or 'pairwise', "
                             f"not {type(missing).__name__} {missing!r}")
    key = missing.strip().lower()
    if key in MISSING_ALIASES:
        return MISSING_ALIASES[key]
    if key in _MISSING_NOT_IMPLEMENTED:
        raise OptionError(f"missing='{missing}' (lavaan's {key}) is not implemented; use "
                          f"missing='ml' (FIML) or 'listwise'")
    raise OptionError(f"missing='{missing}' is not known; use one of "
                      f"{', '.join(MISSING_ALIASES)}")


#: Rules that fit complete data exactly as ``listwise`` does (nothing dropped, same estimates),
#: so that ``auto`` may become one of them before the data are read (see resolve_missing).
_SAME_AS_LISTWISE_WHEN_COMPLETE = ("listwise", "pairwise")


def resolve_missing(rule, any_missing, when_missing: str = "fiml", *,
                    prepared: str | None = None) -> str:
    """The missing-data rule a fit applies: the one place where ``"auto"`` is resolved.

    ``auto`` is ``when_missing`` when any answer is missing and ``listwise`` (nothing to drop)
    when none is; every other rule is returned as it is (lavaan's spellings resolved by
    :func:`missing_rule`).  ``when_missing`` is the estimator's rule for missing answers, its
    registry entry's ``auto_missing`` (:data:`semcluster.estimation.registry.ESTIMATORS`: FIML for ML
    and MLR, pairwise for WLSMV); the data step, which knows no estimator, uses FIML.

    Parameters
    ----------
    rule : str
        ``auto``, ``listwise``, ``pairwise``, ``fiml`` or a lavaan spelling.
    any_missing : bool or None
        Whether any answer of the data is missing.  ``None``: not known yet (the data are
        read later); ``auto`` then becomes ``when_missing`` only when that rule fits complete
        data as listwise does (pairwise), and otherwise stays ``auto`` for the data step.
    when_missing : str
        What ``auto`` means when answers are missing.
    prepared : str, optional
        The rule a frame was prepared under (:func:`prepare_data` records it); ``auto`` keeps
        it, so a prepared frame is read again under the same rule.
    """
    rule = missing_rule(rule)
    if rule != "auto":
        return rule
    if prepared:
        return prepared
    if any_missing is None:
        return when_missing if when_missing in _SAME_AS_LISTWISE_WHEN_COMPLETE else rule
    return when_missing if any_missing else "listwise"

#: Keys of a data-description (``--map``) YAML file besides the column mapping itself.
DESCRIPTION_KEYS = ("columns", "reverse", "scale", "missing_codes", "id", "ordered", "sheet",
                    "cluster")

# Encodings tried, in order, for text files.  Chinese survey exports from Excel/SPSS are often
# GB18030; latin-1 is deliberately absent because it never fails and would garble names silently.
_TEXT_ENCODINGS = ("utf-8-sig", "gb18030")

_ATTR = "semcluster"  # key of DataFrame.attrs where load_data leaves what it learned


# ----------------------------------------------------------------------------------------------
# data description (column mapping, reverse-coded items, scale, missing codes)
# ----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class DataDescription:
    """How a user's survey file relates to the model's items.

    Parameters
    ----------
    columns : dict
        ``{name in the file: name in the model}``.
    reverse : tuple of str
        Model item names whose answers are reverse-coded (``min + max - x``) before fitting.
    scale : tuple (min, max) or None
        The declared answer scale, e.g. ``(1, 7)`` for a 7-point Likert item.
    missing_codes : tuple
        Values that mean "no answer" (e.g. ``-99``, ``9``, ``"."``); turned into missing values.
    id_column : str or None
        A respondent identifier, checked for duplicates and never fitted.
    ordered : tuple of str
        Items to be treated as ordinal (``estimator="WLSMV"``).
    sheet : str, int or None
        Worksheet of an Excel file.
    cluster : str or None
        The cluster column (industrial park, region ...), as ``--cluster``; never fitted.
    """

    columns: dict = field(default_factory=dict)
    reverse: tuple = ()
    scale: tuple | None = None
    missing_codes: tuple = ()
    id_column: str | None = None
    ordered: tuple = ()
    sheet: str | int | None = None
    cluster: str | None = None

    def to_dict(self) -> dict:
        return {"columns": dict(self.columns), "reverse": list(self.reverse),
                "scale": None if self.scale is None else list(self.scale),
                "missing_codes": list(self.missing_codes), "id": self.id_column,
                "ordered": list(self.ordered), "sheet": self.sheet, "cluster": self.cluster}


def _check_scale(scale, where: str) -> tuple | None:
    if scale is None:
        return None
    try:
        lo, hi = (float(v) for v in scale)
    except (TypeError, ValueError):
        raise DataError(f"{where}: scale must be two numbers [min, max], e.g. [1, 7]; "
                        f"got {scale!r}") from None
    if not (np.isfinite(lo) and np.isfinite(hi) and lo < hi):
        raise DataError(f"{where}: scale [{lo:g}, {hi:g}] is not a range min < max")
    return (lo, hi)


def _str_list(value, key: str, where: str) -> tuple:
    if value is None:
        return ()
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
        raise DataError(f"{where}: '{key}' must be a list of item names; got {value!r}")
    return tuple(value)


def data_description(spec: Mapping | str | Path | DataDescription | None = None, *,
                     where: str = "mapping") -> DataDescription:
    """Build a :class:`DataDescription` from a dict, a YAML file or ``None``.

    A mapping whose values are all strings and that has none of the description keys is read as a
    bare column mapping ``{file name: model name}``.  Otherwise the keys are those of
    :data:`DESCRIPTION_KEYS`::

        columns:            # name in the file: name in the model
          Q1: ca1
          Q2: ca2
        reverse: [ca3]      # reverse-coded items (model names)
        scale: [1, 7]       # 7-point Likert
        missing_codes: [-99, 9]
        id: respondent
        cluster: park       # cluster column (--cluster wins over it)

    Raises
    ------
    DataError
        The file cannot be read or an entry has the wrong form.
    """
    if spec is None:
        return DataDescription()
    if isinstance(spec, DataDescription):
        return spec
    if isinstance(spec, (str, Path)):
        where = str(spec)
        raw = _read_yaml(Path(spec))
    else:
        raw = spec
    if raw is None:
        return DataDescription()
    if not isinstance(raw, Mapping):
        raise DataError(f"{where}: a column mapping must be a dictionary "
                        f"(file name: model name); got {type(raw).__name__}")
    keys = {str(k) for k in raw}
    if not keys & set(DESCRIPTION_KEYS):
        raw = {"columns": raw}
    unknown = sorted(str(k) for k in raw if k not in DESCRIPTION_KEYS)
    if unknown:
        raise DataError(f"{where}: unknown key(s) {', '.join(unknown)}; "
                        f"allowed: {', '.join(DESCRIPTION_KEYS)}")
    cols = raw.get("columns") or {}
    if not isinstance(cols, Mapping):
        raise DataError(f"{where}: 'columns' must map file column names to model names")
    columns = {}
    for k, v in cols.items():
        if not isinstance(v, str) or not str(v).strip():
            raise DataError(f"{where}: column '{k}' must map to a model item name; got {v!r}")
        columns[str(k)] = v.strip()
    targets = pd.Series(list(columns.values()), dtype=object)
    dup = sorted(set(targets[targets.duplicated()]))
    if dup:
        raise DataError(f"{where}: several file columns map to the same model name "
                        f"{', '.join(dup)}; each model item needs exactly one column")
    codes = raw.get("missing_codes") or ()
    if not isinstance(codes, (list, tuple)):
        codes = [codes]
    for c in codes:
        if not isinstance(c, (int, float, str)) or isinstance(c, bool):
            raise DataError(f"{where}: missing code {c!r} must be a number or a string")
    codes = split_codes(codes)
    for c in codes:
        if not isinstance(c, (int, float, str)) or isinstance(c, bool):
            raise DataError(f"{where}: missing code {c!r} must be a number or a string")
    id_col = raw.get("id")
    if id_col is not None and not isinstance(id_col, (str, int)):
        raise DataError(f"{where}: 'id' must be a column name; got {id_col!r}")
    cluster = raw.get("cluster")
    if cluster is not None and (not isinstance(cluster, (str, int)) or isinstance(cluster, bool)
                                or not str(cluster).strip()):
        raise DataError(f"{where}: 'cluster' must be a column name; got {cluster!r}")
    if cluster is not None and id_col is not None and str(cluster) == str(id_col):
        raise DataError(f"{where}: 'cluster' and 'id' name the same column ('{cluster}'); "
                        f"every firm would be its own cluster")
    sheet = raw.get("sheet")
    if sheet is not None and not isinstance(sheet, (str, int)):
        raise DataError(f"{where}: 'sheet' must be a worksheet name or number; got {sheet!r}")
    return DataDescription(columns=columns,
                           reverse=_str_list(raw.get("reverse"), "reverse", where),
                           scale=_check_scale(raw.get("scale"), where),
                           missing_codes=tuple(codes),
                           id_column=None if id_col is None else str(id_col),
                           ordered=_str_list(raw.get("ordered"), "ordered", where),
                           sheet=sheet, cluster=None if cluster is None else str(cluster).strip())


def _read_yaml(path: Path):
    import yaml

    if not path.is_file():
        raise DataError(f"{path}: no such mapping file")
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError:
        raise DataError(f"{path}: the mapping file is not UTF-8 text") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        pos = f":{mark.line + 1}:{mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise DataError(f"{path}{pos}: not valid YAML ({problem})") from None


# ----------------------------------------------------------------------------------------------
# reading files
# ----------------------------------------------------------------------------------------------

def load_data(path: str | Path | pd.DataFrame | None = None, *,
              mapping: Mapping | str | Path | DataDescription | None = None,
              sheet: str | int | None = None) -> pd.DataFrame:
    """Read a data set without changing any value.

    Parameters
    ----------
    path : str, Path, DataFrame or None
        ``.csv``/``.txt`` (delimiter detected: comma, semicolon, tab), ``.tsv``,
        ``.xlsx``/``.xlsm``,
        SPSS ``.sav``/``.zsav``/``.por`` or Stata ``.dta`` file; or a DataFrame (copied).  ``None``
        gives the bundled synthetic study data (``paper_synthetic.csv``).
    mapping : dict, path of a YAML file, DataDescription or None
        Column mapping ``{name in the file: name in the model}`` or a full data description (see
        :func:`data_description`); columns are renamed and the description is kept for
        :func:`prepare_data`.
    sheet : str or int, optional
        Worksheet of an Excel file (default: the first, or the mapping's ``sheet``).

    Returns
    -------
    DataFrame
        The data as read.  ``df.attrs["semcluster"]`` records the source, the first file line
        holding data, SPSS value labels and declared missing values (which are *not* yet applied:
        :func:`prepare_data` turns them into missing values and counts them), and the description.

    Raises
    ------
    DataError
        No such file, unreadable file, unsupported type, or a mapping that does not fit the file.
    """
    if not (path is None or isinstance(path, (str, pd.DataFrame)) or isinstance(path, PathLike)):
        hint = (" (make it a DataFrame with the items as named columns: "
                "pandas.DataFrame(data, columns=[...]))"
                if isinstance(path, (np.ndarray, list, tuple, dict)) else "")
        raise InputTypeError(f"data must be a pandas DataFrame or the path of a csv/xlsx/sav/dta "
                             f"file, not {type(path).__module__}.{type(path).__qualname__}"
                             f"{hint}".replace("builtins.", ""))
    desc = data_description(mapping)
    if isinstance(path, pd.DataFrame):
        df = path.copy()
        info = dict(df.attrs.get(_ATTR, {})) or {"source": "<DataFrame>", "first_line": 1,
                                                 "line_label": "row"}
    else:
        if path is None:
            path = data_path(DEFAULT_DATA)
        df, info = _read_file(Path(path), sheet if sheet is not None else desc.sheet)
    df = _normalise_columns(df, info["source"])
    df = _apply_column_mapping(df, desc, info["source"],
                               _sheet_hint(info.get("sheet_names") or [], info.get("sheet")))
    for key in ("declared_missing", "value_labels", "column_labels"):
        # SPSS metadata follows its column to the model's name
        if key in info and desc.columns:
            info[key] = {desc.columns.get(k, k): v for k, v in info[key].items()}
    if mapping is not None or "description" not in info:
        # a DataFrame that load_data made keeps its description unless a new one is given
        info["description"] = desc.to_dict()
    # Keep only plain python objects in attrs: pandas deep-copies attrs on many operations.
    df.attrs = {_ATTR: info}
    return df


def _read_file(p: Path, sheet) -> tuple[pd.DataFrame, dict]:
    if p.is_dir():
        raise DataError(f"{p}: is a directory, not a data file")
    if not p.is_file():
        raise DataError(f"{p}: no such data file")
    suffix = p.suffix.lower()
    info = {"source": str(p), "first_line": 2, "line_label": "line"}
    if p.stat().st_size == 0:
        raise DataError(f"{p}: the file is empty")
    if suffix in (".csv", ".txt", ".tsv", ".dat", ""):
        df = _read_text(p, tab=suffix == ".tsv")
        read = df.attrs.pop("_read")
        info.update(lines=read.pop("lines"), read=read)
        return df, info
    if suffix in (".xlsx", ".xlsm"):
        df, more = _read_excel(p, sheet)
        return df, dict(info, line_label="spreadsheet row", **more)
    if suffix == ".xls":
        raise DataError(f"{p}: old Excel .xls files are not supported; save it as .xlsx or .csv")
    if suffix in (".sav", ".zsav", ".por", ".dta"):
        return _read_stat(p, suffix)
    raise DataError(f"{p}: unsupported file type '{suffix}'; use .csv, .tsv, .xlsx, .sav or .dta")


#: Strings read as a missing answer in text files (pandas' defaults, which R and SPSS exports use).
NA_STRINGS = frozenset({"", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan",
                        "1.#IND", "1.#QNAN", "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a",
                        "nan", "null"})

_DELIMITERS = (",", ";", "\t", "|")
_DECIMAL_COMMA = re.compile(r"^[+-]?\d+,\d+$")
_DECIMAL_POINT = re.compile(r"^[+-]?\d*\.\d+$")


def _decode(p: Path) -> tuple[str, str]:
    """Text of a file and its encoding: BOMs first (UTF-16/32, UTF-8), then UTF-8, GB18030."""
    raw = p.read_bytes()
    enc = None
    if raw.startswith((b"\xff\xfe\x00\x00", b"\x00\x00\xfe\xff")):
        enc = "utf-32"
    elif raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        enc = "utf-16"
    else:
        head = raw[:4096]
        if len(head) >= 4 and head.count(0) >= len(head) // 2 - 2:
            # UTF-16 without a byte-order mark: every other byte of ASCII text is zero
            if head[1::2].count(0) >= len(head[1::2]) * 0.9:
                enc = "utf-16-le"
            elif head[0::2].count(0) >= len(head[0::2]) * 0.9:
                enc = "utf-16-be"
    if enc is not None:
        try:
            return raw.decode(enc), enc
        except UnicodeDecodeError:
            raise DataError(f"{p}: starts like {enc.upper()} text but cannot be decoded as it; "
                            f"save the file as UTF-8") from None
    if b"\x00" in raw[:4096]:
        raise DataError(f"{p}: looks like a binary file, not text; CSV, Excel (.xlsx) and SPSS "
                        f"(.sav) files are read by their extension")
    for enc in _TEXT_ENCODINGS:
        try:
            return raw.decode(enc), enc
        except UnicodeDecodeError:
            continue
    raise DataError(f"{p}: text encoding not recognised (tried UTF-8, UTF-16 and GB18030); "
                    f"save the file as UTF-8")


def _records(text: str, sep: str):
    """(line number, fields) of every non-blank record, quotes respected."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=sep, skipinitialspace=True)
    try:
        for row in reader:
            if row and any(f.strip() for f in row) or (row and len(row) > 1):
                yield reader.line_num, row
    except csv.Error as exc:
        raise DataError(f"line {reader.line_num}: {exc}") from None


def _detect_delimiter(text: str) -> str:
    """The delimiter that gives the header's number of fields on most of the first lines."""
    best, best_score = ",", (-1, 0)
    for sep in _DELIMITERS:
        try:
            rows = []
            for _, r in _records(text, sep):
                if not rows and r[0].lstrip().startswith("#"):
                    continue
                rows.append(len(r))
                if len(rows) >= 51:
                    break
        except DataError:
            continue
        if not rows or rows[0] < 2:
            continue
        score = (sum(n == rows[0] for n in rows[1:]), rows[0])
        if score > best_score:
            best, best_score = sep, score
    return best


def _read_text(p: Path, tab: bool) -> pd.DataFrame:
    """Read a delimited text file with every field in its column, or stop.

    pandas, given one more field on a data row than in the header, silently takes the first
    column as the row index and shifts every value one column; and ``comment="#"`` cuts an
    unquoted ``unit#4`` and the rest of its row.  So the file is split by the ``csv`` module,
    every record is checked against the header's number of fields, and only then are the
    columns converted to numbers.  Lines starting with ``#`` before the header are comments.
    """
    text, enc = _decode(p)
    if not text.strip():
        raise DataError(f"{p}: the file holds no data")
    sep = "\t" if tab else _detect_delimiter(text)
    header, header_line, rows, lines, trimmed = None, 0, [], [], 0
    try:
        for num, fields in _records(text, sep):
            if header is None:
                if fields[0].lstrip().startswith("#"):
                    continue
                header, header_line = [f.strip() for f in fields], num
                n_named = max((i + 1 for i, h in enumerate(header) if h), default=0)
                # a header ending in the delimiter gives an empty last name: kept, checked below
                continue
            if len(fields) > len(header) and not any(f.strip() for f in fields[len(header):]):
                fields = fields[:len(header)]      # a line ending in extra delimiters
                trimmed += 1
            if n_named <= len(fields) < len(header):
                fields = fields + [""] * (len(header) - len(fields))   # header ends in delimiters
            if len(fields) != len(header):
                what = "more" if len(fields) > len(header) else "fewer"
                hint = (f"a '{sep}' inside an unquoted value (a decimal comma such as 1,5, or "
                        f"free text)? quote such values or use another delimiter"
                        if what == "more" else "a missing delimiter? every row needs one field "
                                               "per column, empty for a missing answer")
                raise DataError(f"{p}: line {num} has {len(fields)} fields but the header has "
                                f"{len(header)} ({what} fields: {hint}); the file cannot be read "
                                f"safely as a table, nothing was fitted")
            rows.append(fields)
            lines.append(num)
    except DataError as exc:
        if str(exc).startswith("line "):
            raise DataError(f"{p}: {exc}; the file cannot be read as a table (check quotes)") \
                from None
        raise
    if header is None:
        raise DataError(f"{p}: the file holds no data")
    if len(header) < 2 and sep != ",":
        raise DataError(f"{p}: only one column found; check the delimiter")
    decimal = "."
    if sep != ",":
        cells = [f.strip() for r in rows[:500] for f in r]
        if any(_DECIMAL_COMMA.match(c) for c in cells) and \
                not any(_DECIMAL_POINT.match(c) for c in cells):
            decimal = ","
    df = pd.DataFrame(rows, columns=range(len(header)), dtype=object)
    cols = {}
    for j in range(len(header)):
        cols[j] = _text_column(df[j], decimal)
    df = pd.DataFrame(cols)
    df.columns = header
    df.attrs = {"_read": {"delimiter": sep, "decimal": decimal, "encoding": enc,
                          "header_line": header_line, "lines": lines,
                          "trimmed": trimmed}}
    return df


def _text_column(col: pd.Series, decimal: str) -> pd.Series:
    """Numbers where every non-missing field is a number, else the text (stripped)."""
    text = col.map(lambda x: x.strip() if isinstance(x, str) else x)
    text = text.map(lambda x: np.nan if (x is None or (isinstance(x, str) and x in NA_STRINGS))
                    else x)
    probe = text
    if decimal == ",":
        probe = text.map(lambda x: x.replace(",", ".") if isinstance(x, str) and
                         _DECIMAL_COMMA.match(x) else x)
    num = pd.to_numeric(probe, errors="coerce")
    if (num.notna() | text.isna()).all():
        if text.isna().all():
            return pd.Series(np.nan, index=col.index, dtype=float)
        num = pd.to_numeric(probe)
        return num
    return text


def _read_excel(p: Path, sheet) -> tuple[pd.DataFrame, dict]:
    try:
        import openpyxl  # noqa: F401
    except ImportError:  # pragma: no cover - declared dependency
        raise DataError(f"{p}: reading Excel files needs the openpyxl package "
                        f"(pip install openpyxl)") from None
    try:
        book = pd.ExcelFile(p, engine="openpyxl")
        names = list(book.sheet_names)
    except Exception as exc:  # openpyxl raises zipfile/xml errors for damaged files
        raise DataError(f"{p}: cannot be read as an Excel workbook "
                        f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''});"
                        f" is the file damaged or not really .xlsx?") from None
    want = 0 if sheet is None else sheet
    if isinstance(want, str) and want not in names:
        if want.strip().lstrip("-").isdigit():
            want = int(want)
        else:
            raise DataError(f"{p}: no worksheet {sheet!r} (Worksheet named {sheet!r} not found; "
                            f"sheets: {', '.join(names)})")
    if isinstance(want, int) and not 0 <= want < len(names):
        raise DataError(f"{p}: no worksheet number {want} (sheets, numbered from 0: "
                        f"{', '.join(names)})")
    try:
        raw = pd.read_excel(book, sheet_name=want, header=None)
    except Exception as exc:  # noqa: BLE001
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DataError(f"{p}: cannot be read as an Excel workbook ({msg})") from None
    finally:
        book.close()
    chosen = names[want] if isinstance(want, int) else want
    raw = raw.dropna(how="all")
    info = {"sheet": chosen, "sheet_names": names}
    if raw.empty:
        raise DataError(f"{p}: worksheet '{chosen}' is empty" + _sheet_hint(names, chosen))
    rows = list(raw.index)
    head = raw.iloc[0]
    header = ["" if pd.isna(h) else (str(int(h)) if isinstance(h, float) and h.is_integer()
                                      else str(h)) for h in head]
    body = raw.iloc[1:].reset_index(drop=True)
    body.columns = range(body.shape[1])
    body = body.infer_objects()
    body.columns = header
    # spreadsheet row numbers (1-based) of the data rows, for messages
    info["lines"] = [int(r) + 1 for r in rows[1:]]
    return body, info


def _sheet_hint(names, chosen) -> str:
    others = [n for n in names if n != chosen]
    if not others:
        return ""
    return (f"; this is worksheet '{chosen}', the workbook also has {', '.join(repr(n) for n in others)}"
            f": choose one with --sheet NAME (sheet: in the --map file)")


#: Seconds allowed for reading an SPSS/Stata file before it is declared unreadable.
STAT_READ_TIMEOUT = 120.0


def _stat_worker(path: str, suffix: str, conn) -> None:
    """Read an SPSS/Stata file in a child process and send (ok, payload) back."""
    import faulthandler

    # a crash here is expected on damaged files and reported by the parent; an inherited
    # fault handler (pytest enables one) would only dump a C-level traceback to stderr
    faulthandler.disable()
    try:
        import pyreadstat

        reader = {".sav": pyreadstat.read_sav, ".zsav": pyreadstat.read_sav,
                  ".por": pyreadstat.read_por, ".dta": pyreadstat.read_dta}[suffix]
        kwargs = {"user_missing": True} if suffix in (".sav", ".zsav", ".dta") else {}
        df, meta = reader(path, **kwargs)
        ranges = {}
        for col, rs in (getattr(meta, "missing_ranges", None) or {}).items():
            ranges[col] = [[_plain(r["lo"]), _plain(r["hi"])] for r in rs]
        for col, vals in (getattr(meta, "missing_user_values", None) or {}).items():
            ranges.setdefault(col, []).extend([[_plain(v), _plain(v)] for v in vals])
        labels = {col: {_plain(k): str(v) for k, v in lab.items()}
                  for col, lab in (getattr(meta, "variable_value_labels", None) or {}).items()}
        col_labels = dict(zip(meta.column_names, meta.column_labels or []))
        conn.send((True, (df, ranges, labels, col_labels)))
    except BaseException as exc:  # noqa: BLE001 - everything goes back as a message
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        try:
            conn.send((False, msg))
        except Exception:  # noqa: BLE001
            pass
    finally:
        conn.close()


def _read_stat(p: Path, suffix: str) -> tuple[pd.DataFrame, dict]:
    """Read SPSS/Stata with pyreadstat in a child process.

    The ReadStat C library can crash the interpreter (segmentation fault) or loop on a damaged
    file; our fuzz tests found both.  A child process turns either into a DataError.
    """
    import multiprocessing as mp

    try:
        import pyreadstat  # noqa: F401  (fail early, in this process, if it is missing)
    except ImportError:  # pragma: no cover - declared dependency
        raise DataError(f"{p}: reading SPSS/Stata files needs pyreadstat "
                        f"(pip install pyreadstat)") from None
    kind = suffix[1:].upper()
    import sys

    # fork is fast and safe on Linux; elsewhere (macOS system frameworks) spawn is the safe one
    ctx = mp.get_context("fork" if sys.platform.startswith("linux") else "spawn")
    recv, send = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_stat_worker, args=(str(p), suffix, send), daemon=True)
    proc.start()
    send.close()
    result = None
    try:
        if recv.poll(STAT_READ_TIMEOUT):
            result = recv.recv()
    except (EOFError, OSError):
        result = None
    finally:
        recv.close()
        if result is None and proc.is_alive():
            proc.kill()
        proc.join(10)
    if result is None:
        if proc.exitcode is not None and proc.exitcode < 0:
            raise DataError(f"{p}: the {kind} reader crashed on this file (signal "
                            f"{-proc.exitcode}); the file is damaged: export it again")
        raise DataError(f"{p}: reading the {kind} file did not finish within "
                        f"{STAT_READ_TIMEOUT:g} s; the file is probably damaged")
    ok, payload = result
    if not ok:
        raise DataError(f"{p}: cannot be read as a {kind} file ({payload})")
    df, ranges, labels, col_labels = payload
    info = {"source": str(p), "first_line": 1, "line_label": "case",
            "declared_missing": ranges, "value_labels": labels, "column_labels": col_labels}
    return df, info


def _plain(v):
    if isinstance(v, (np.floating, float)):
        return float(v)
    if isinstance(v, (np.integer, int)):
        return int(v)
    return str(v)


def _normalise_columns(df: pd.DataFrame, source: str) -> pd.DataFrame:
    names = [str(c).strip() for c in df.columns]
    unnamed = [i + 1 for i, c in enumerate(df.columns)
               if str(c).startswith("Unnamed:") or not str(c).strip()]
    if unnamed:
        # an empty trailing column from a line ending in a delimiter is harmless if it is empty
        empty = [i for i in unnamed if df.iloc[:, i - 1].isna().all()]
        if set(empty) != set(unnamed):
            raise DataError(f"{source}: column(s) {', '.join(map(str, unnamed))} have no name in "
                            f"the header row; give every column a name")
        keep = [j for j in range(df.shape[1]) if j + 1 not in empty]
        df = df.iloc[:, keep]
        names = [names[j] for j in keep]
    s = pd.Series(names, dtype=object)
    # files are read with their header as written (no "x.1" renaming), so a repeat is real
    dup = sorted(set(s[s.duplicated()]))
    if dup:
        raise DataError(f"{source}: column name(s) {', '.join(dup)} appear more than once in the "
                        f"header; every column needs its own name")
    df = df.copy()
    df.columns = names
    return df


def _apply_column_mapping(df: pd.DataFrame, desc: DataDescription, source: str,
                          hint: str = "") -> pd.DataFrame:
    if not desc.columns:
        return df
    absent = [k for k in desc.columns if k not in df.columns]
    if absent:
        raise DataError(f"{source}: the mapping names column(s) {', '.join(absent)} that are not "
                        f"in the data (columns present: {_preview(df.columns)}){hint}")
    clash = [v for k, v in desc.columns.items()
             if v in df.columns and v not in desc.columns and v != k]
    if clash:
        raise DataError(f"{source}: mapping a column to {', '.join(clash)} would clash with an "
                        f"existing column of that name; map or rename that column too")
    return df.rename(columns=desc.columns)


def _preview(cols, n: int = 12) -> str:
    cols = [str(c) for c in cols]
    return ", ".join(cols[:n]) + (" ..." if len(cols) > n else "")


# ----------------------------------------------------------------------------------------------
# the data report
# ----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class DataReport:
    """What happened to the rows and columns on the way to the fit.

    Attributes
    ----------
    source : str
        File name or ``"<DataFrame>"``.
    n_rows : int
        Rows in the data as read.
    n_used : int
        Rows that enter the fit.
    dropped : dict
        ``{reason: number of rows}`` for every row not used.
    notes : tuple of str
        Everything else the user should know (warnings included).
    missing : str
        The missing-data rule applied (``listwise``, ``pairwise`` or ``fiml``).
    n_missing : dict
        ``{variable: missing answers among the rows used}``.
    n_patterns : int
        Distinct patterns of answered/missing items among the rows used.
    recoded : dict
        ``{reason: {variable: number of values changed}}`` (declared missing codes, reverse
        coding, out-of-scale values set missing on request).
    reverse : tuple of str
        Items reverse-coded.
    scale : tuple or None
        Answer scale checked against.
    pairwise_nobs : DataFrame or None
        With ``missing="pairwise"``: number of rows answering both items of each pair.
    warnings : tuple of str
        The warnings issued (also in ``notes``).
    careless : tuple of dict
        The respondents flagged by the careless-answer checks (:func:`careless_answers`), one
        record each (``id``, ``row``, ``answered``, ``long_string``, ``straight_lining``,
        ``same_value``, ``flagged_by``); :meth:`careless_table` gives them as a DataFrame.
    careless_rule : str
        The rule applied (empty when the checks did not run).
    careless_dropped : bool
        Whether the flagged respondents were dropped (``drop_careless``).
    """

    source: str
    n_rows: int
    n_used: int
    dropped: dict = field(default_factory=dict)
    notes: tuple = ()
    missing: str = "listwise"
    n_missing: dict = field(default_factory=dict)
    n_patterns: int = 1
    recoded: dict = field(default_factory=dict)
    reverse: tuple = ()
    scale: tuple | None = None
    variables: tuple = ()
    pairwise_nobs: pd.DataFrame | None = None
    warnings: tuple = ()
    ordered: tuple = ()
    clusters: object = None          # semcluster.data.clusters.ClusterSummary with --cluster
    careless: tuple = ()
    careless_rule: str = ""
    careless_dropped: bool = False

    def careless_table(self) -> pd.DataFrame:
        """The flagged respondents, one row each, in file order (empty frame when none)."""
        return pd.DataFrame(list(self.careless), columns=list(CARELESS_COLUMNS))

    def to_dict(self) -> dict:
        return {"source": self.source, "n_rows": self.n_rows, "n_used": self.n_used,
                "dropped": dict(self.dropped), "notes": list(self.notes),
                "missing": self.missing, "n_missing": dict(self.n_missing),
                "n_patterns": self.n_patterns,
                "recoded": {k: dict(v) for k, v in self.recoded.items()},
                "reverse": list(self.reverse),
                "scale": None if self.scale is None else list(self.scale),
                "variables": list(self.variables), "warnings": list(self.warnings),
                "ordered": list(self.ordered),
                "careless": [dict(r) for r in self.careless],
                "careless_rule": self.careless_rule,
                "careless_dropped": self.careless_dropped,
                **({"clusters": self.clusters.to_dict()} if self.clusters is not None else {})}

    def with_note(self, note: str) -> "DataReport":
        """A copy with one more note (e.g. the estimator chosen for ordinal items)."""
        from dataclasses import replace

        return replace(self, notes=self.notes + (note,))

    def __str__(self) -> str:
        lines = [f"data: {self.source}",
                 f"rows read: {self.n_rows}; rows used: {self.n_used} (missing data: "
                 f"{self.missing})"]
        for reason, n in self.dropped.items():
            lines.append(f"  not used: {n} row(s): {reason}")
        if self.missing in ("fiml", "pairwise"):
            total = sum(self.n_missing.values())
            lines.append(f"  missing answers kept: {total} in {self.n_patterns} pattern(s)")
        for reason, per in self.recoded.items():
            lines.append(f"  {reason}: {sum(per.values())} value(s) "
                         f"({', '.join(f'{k} {v}' for k, v in per.items())})")
        if self.scale is not None:
            lines.append(f"  answer scale: {self.scale[0]:g} to {self.scale[1]:g}")
        if self.ordered:
            lines.append(f"  ordinal items: {', '.join(self.ordered)}")
        if self.clusters is not None:
            lines.extend(self.clusters.lines())
        for n in self.notes:
            lines.append(f"  note: {n}")
        return "\n".join(lines)


# ----------------------------------------------------------------------------------------------
# checking and preparing
# ----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class DataOptions:
    """How to read a user's survey: the same options for every command and for the library.

    Every field but ``long_string`` and ``drop_careless`` may also be given in the ``map`` YAML
    file (a data description); a value given here wins over the file's.

    Parameters
    ----------
    map : dict, path of a YAML file, DataDescription or None
        Column mapping ``{name in the file: name in the model}`` or a full data description
        (see :func:`data_description`).
    missing : {"auto", "listwise", "pairwise", "fiml"}
        The missing-data rule; ``auto`` is FIML when any answer is missing (pairwise for
        WLSMV), else listwise (nothing to drop).  Every command applies the same rule and the
        data report says which.
    missing_codes : tuple
        Values meaning "no answer" (``-99``, ``99``, ``"."``), set missing before anything else.
    scale : (min, max) or None
        Declared answer scale; answers outside it are an error (see ``out_of_scale``).
    reverse : tuple of str
        Reverse-coded items (``min + max - x``; needs a scale).
    ordered : tuple of str, "all" or None
        Ordinal items (fitted by WLSMV).
    id : str or None
        Respondent-id column (checked for duplicates, never fitted).
    sheet : str, int or None
        Worksheet of an Excel file.
    out_of_scale : {"error", "missing"}
        An answer outside the scale (or an undeclared code such as -99): stop, or set missing
        with a warning.
    long_string : int or None
        Careless-answer threshold *T* (see :func:`careless_answers`): a respondent whose
        longest run of identical consecutive raw answers is at least *T*, or who gave the same
        raw answer to every answered item (at least *T* of them), is flagged.  ``None``
        (default): half the model's items rounded up (Curran 2016), checked only for models of
        at least 10 items; a number given here is applied to any model.
    drop_careless : bool
        Drop the flagged respondents before the analysis (default ``False``: they are listed
        in the data report and kept).
    cluster : str or None
        Cluster column (industrial park, region ...): never an item, kept beside the items;
        the data report gives the clusters' sizes and per item ICC(1) and design effect
        (:mod:`semcluster.data.clusters`), and ``fit`` gives cluster-robust MLR results.  When
        ``None``, the ``cluster:`` key of the ``map`` description (if any) is used.
    """

    map: object = None
    missing: str = "auto"
    missing_codes: tuple = ()
    scale: tuple | None = None
    reverse: tuple = ()
    ordered: object = None
    id: str | None = None
    sheet: object = None
    out_of_scale: str = "error"
    long_string: int | None = None
    drop_careless: bool = False
    cluster: str | None = None

    def __post_init__(self):
        if self.missing not in MISSING_RULES:
            raise DataError(f"missing='{self.missing}' is not known; use one of "
                            f"{', '.join(MISSING_RULES)}")
        if self.out_of_scale not in ("error", "missing"):
            raise DataError(f"out_of_scale='{self.out_of_scale}' is not known; use 'error' or "
                            f"'missing'")
        object.__setattr__(self, "missing_codes", split_codes(self.missing_codes))
        object.__setattr__(self, "reverse", _names(self.reverse))
        if self.ordered is not None and self.ordered != "all":
            object.__setattr__(self, "ordered", _names(self.ordered))
        if self.scale is not None:
            object.__setattr__(self, "scale", _check_scale(self.scale, "scale"))
        object.__setattr__(self, "long_string", _check_long_string(self.long_string))
        if not isinstance(self.drop_careless, (bool, np.bool_)):
            raise OptionError(f"drop_careless={self.drop_careless!r}: give True or False")
        object.__setattr__(self, "drop_careless", bool(self.drop_careless))
        if self.cluster is None and self.map is not None:
            # the description's cluster: key, read like its id:; --cluster / cluster= wins.
            # A description that cannot be read is reported by the data reader, with the
            # file and the data (the one place that reads it for the analysis).
            try:
                desc = data_description(self.map)
            except DataError:
                desc = None
            if desc is not None and desc.cluster is not None:
                object.__setattr__(self, "cluster", desc.cluster)

    def to_dict(self) -> dict:
        m = self.map
        return {"map": m if m is None or isinstance(m, (str, dict)) else str(m),
                "missing": self.missing, "missing_codes": list(self.missing_codes),
                "scale": None if self.scale is None else list(self.scale),
                "reverse": list(self.reverse),
                "ordered": self.ordered if self.ordered in (None, "all") else list(self.ordered),
                "id": self.id, "sheet": self.sheet, "out_of_scale": self.out_of_scale,
                "long_string": self.long_string, "drop_careless": self.drop_careless,
                "cluster": self.cluster}



def _names(value) -> tuple:
    if value is None:
        return ()
    if isinstance(value, str):
        return tuple(v.strip() for v in value.split(",") if v.strip())
    return tuple(str(v) for v in value)


def read_survey(data=None, options: DataOptions | None = None, *, variables=None, keep=(),
                n_free: int | None = None, warn: bool = True,
                latent=()) -> tuple[pd.DataFrame, DataReport]:
    """The one data path: read a survey file (or DataFrame) and prepare the model's items.

    Steps, each a named function of this module: read (:func:`load_data`: CSV/TSV with the
    delimiter, decimal mark and encoding detected, Excel, SPSS, Stata) → map (column mapping)
    → codes (declared missing codes and SPSS user-missing values) → numbers → scale (declared,
    or from SPSS value labels; undeclared codes such as -99 stop the analysis) → careless
    answers (on the raw answers: :func:`careless_answers`) → reverse →
    missing-data rule → checks → :class:`DataReport`.

    Parameters
    ----------
    data : path, DataFrame or None
        ``None`` is the bundled synthetic study data.  A frame this function returned is
        taken as already prepared (it is not recoded again).
    options : DataOptions, optional
    variables : list of str, optional
        The model's observed variables (default: every numeric column except the id).
    keep : list of str
        Further columns carried along unchecked (e.g. a grouping column).
    latent : list of str
        The model's latent variables: a data column with a latent variable's name is an error
        (lavaan refuses it too: the model would silently ignore the observed column).

    Returns
    -------
    (DataFrame, DataReport)

    Examples
    --------
    >>> X, report = read_survey("my_survey.csv", DataOptions(missing_codes=(-99,)),
    ...                         variables=["ca1", "ca2", "ca3"])      # doctest: +SKIP
    >>> print(report)                                                 # doctest: +SKIP
    """
    opts = options if options is not None else DataOptions()
    prepared = isinstance(data, pd.DataFrame) and data.attrs.get(_ATTR, {}).get("prepared")
    if prepared:
        df = load_data(data)
    else:
        df = load_data(data, mapping=opts.map, sheet=opts.sheet)
    clash = [v for v in latent if v in df.columns]
    if clash:
        raise DataError(f"{df.attrs.get(_ATTR, {}).get('source', 'data')}: latent variable(s) "
                        f"{', '.join(clash)} have the name of a data column; rename the latent "
                        f"variable in the model (lavaan refuses this too)")
    if variables is None:
        desc = df.attrs[_ATTR].get("description", {}) or {}
        idc = opts.id or desc.get("id")
        variables = [c for c in df.columns if c != idc and c not in keep and
                     c != opts.cluster and pd.api.types.is_numeric_dtype(df[c])]
    variables = list(variables)
    if opts.cluster is not None:
        keep = _cluster_keep(df, opts, variables, keep)
    ordered = opts.ordered
    if ordered == "all":
        ordered = tuple(variables)
    source = "bundled synthetic study data" if data is None else None
    X, report = prepare_data(df, variables, source=source, missing=opts.missing,
                             scale=opts.scale, reverse=opts.reverse or None,
                             missing_codes=opts.missing_codes or None, id_column=opts.id,
                             ordered=ordered, out_of_scale=opts.out_of_scale, n_free=n_free,
                             warn=warn, keep=keep, long_string=opts.long_string,
                             drop_careless=opts.drop_careless)
    if opts.cluster is not None:
        X, report = _cluster_report(X, report, opts.cluster, variables, warn)
    return X, report


def _cluster_keep(df, opts, variables, keep) -> tuple:
    """The cluster column checked (present; not an item, the id or a kept/group column) and
    added to the columns kept beside the items."""
    from .clusters import check_cluster_column

    source = df.attrs.get(_ATTR, {}).get("source", "data")
    if opts.cluster in set(keep):
        raise DataError(f"{source}: cluster and group column are the same ('{opts.cluster}'); "
                        f"groups are compared, clusters are sampled units: give different "
                        f"columns (--cluster, --group)")
    check_cluster_column(df, opts.cluster, variables, source=source, id_column=opts.id)
    return tuple(keep) + (opts.cluster,)


def _cluster_report(X, report, column, variables, warn):
    """The clusters of the rows used (sizes, ICC(1), design effects) added to the report;
    a warning where a design effect makes a single-level analysis doubtful."""
    from dataclasses import replace as _replace

    from .clusters import cluster_summary

    summary = cluster_summary(X, column, variables, source=report.source)
    msg = summary.warning()
    report = _replace(report, clusters=summary)
    if msg:
        report = _replace(report, notes=report.notes + (msg,),
                          warnings=report.warnings + (msg,))
        if warn:
            warnings.warn(f"{report.source}: {msg}", SemclusterWarning, stacklevel=3)
    info = dict(X.attrs.get(_ATTR, {}))
    info.update(cluster=column, report=report.to_dict())
    X.attrs = {_ATTR: info}
    return X, report


def require_complete(X: pd.DataFrame, report: DataReport | None, what: str) -> None:
    """Stop when ``what`` (an analysis on complete rows only) gets data with missing answers.

    Every command applies the same missing-data rule; an analysis that cannot use incomplete
    rows says so instead of dropping them behind the user's back.
    """
    rule = report.missing if report is not None else \
        X.attrs.get(_ATTR, {}).get("missing", "listwise")
    cols = [c for c in X.columns if pd.api.types.is_numeric_dtype(X[c])]
    n = int(X[cols].isna().any(axis=1).sum())
    if n:
        raise DataError(f"{what} uses complete answers only, but {n} row(s) have missing answers "
                        f"(missing-data rule: {rule}); pass --missing listwise "
                        f"(missing='listwise') to drop those rows, as the data report will say")


class _Steps:
    """State shared by the named preparation steps: messages, notes and recodings."""

    def __init__(self, df, source, info, warn):
        self.df, self.source, self.info, self.warn = df, source, info, warn
        self.notes: list[str] = []
        self.issued: list[str] = []
        self.recoded: dict[str, dict[str, int]] = {}
        self.line0 = int(info.get("first_line", 1))
        self.line_label = info.get("line_label", "row")
        lines = info.get("lines")
        self.lines = lines if lines is not None and len(lines) == len(df) else None

    def where(self, idx) -> str:
        try:
            pos = self.df.index.get_loc(idx)
        except (KeyError, TypeError):
            return f"row {idx!r}"
        if isinstance(pos, (int, np.integer)):
            if self.lines is not None:
                return f"{self.line_label} {self.lines[int(pos)]}"
            return f"{self.line_label} {int(pos) + self.line0}"
        return f"row {idx!r}"

    def note_warning(self, msg: str) -> None:
        self.issued.append(msg)
        self.notes.append(msg)
        if self.warn:
            warnings.warn(f"{self.source}: {msg}", SemclusterWarning, stacklevel=4)


def _fmt_code(v) -> str:
    return f"{v:g}" if isinstance(v, (int, float, np.integer, np.floating)) else repr(v)


def prepare_data(df: pd.DataFrame, variables: list[str], *, source: str | None = None,
                 missing: str = "listwise", scale: Iterable[float] | None = None,
                 reverse: Iterable[str] | None = None, missing_codes: Iterable | None = None,
                 id_column: str | None = None, ordered: Iterable[str] | None = None,
                 out_of_scale: str = "error", n_free: int | None = None,
                 warn: bool = True, keep: Iterable[str] = (), long_string: int | None = None,
                 drop_careless: bool = False) -> tuple[pd.DataFrame, DataReport]:
    """Select, check and prepare the model's variables.

    Steps, in order, each a function of this module: :func:`_step_options` (the options,
    given or from the data description); :func:`_step_columns` (every model
    variable must be a column); :func:`_step_codes` (declared missing codes, the SPSS file's and
    ``missing_codes``, become missing); :func:`_step_numbers` (every remaining answer numeric
    and finite, no undeclared code such as -99, no absurd value); :func:`_step_scale` (answers on
    the declared ``scale``, whole numbers for ordinal items); :func:`_step_careless` (long
    strings and straight-lining on the raw answers, see :func:`careless_answers`; the flagged
    respondents dropped with ``drop_careless``); :func:`_step_reverse`
    (``min + max - x``); :func:`_step_missing_rule`; :func:`_step_checks` (enough rows, no
    constant item, comparable variances, categories of ordinal items, duplicates, a
    positive-definite sample covariance matrix); :func:`_step_read_notes` (how the file was
    read); :func:`_step_attach` (kept columns, and the report recorded on the frame).

    Parameters
    ----------
    df : DataFrame
        Data as returned by :func:`load_data` (or any DataFrame).
    variables : list of str
        Observed variables of the model, in model order.
    source : str, optional
        Name used in messages (default: the file the data came from).
    missing : {"listwise", "pairwise", "fiml", "auto"}
        ``listwise`` drops every row with a missing answer; ``pairwise`` and ``fiml`` keep rows
        with at least one answer (missing answers stay ``NaN``); ``auto`` is ``fiml`` when any
        answer is missing and ``listwise`` (nothing to drop) otherwise.
    scale : (min, max), optional
        Declared answer scale (default: from the data description, else from SPSS value labels
        of the answers that are not declared missing, when every item has the same labelled
        range, else no scale check).
    reverse : list of str, optional
        Reverse-coded items (needs a scale).
    missing_codes : list, optional
        Values meaning "no answer" (in addition to declared SPSS missing values).
    id_column : str, optional
        Respondent id, checked for duplicates.
    ordered : list of str, optional
        Items treated as ordinal: whole numbers with at least two observed categories.
    out_of_scale : {"error", "missing"}
        What to do with an answer outside the scale, or an undeclared missing-data code when
        no scale is declared: stop (default), or set it missing with a warning.
    n_free : int, optional
        Number of free parameters of the model, for the sample-size check.
    warn : bool
        Issue :class:`SemclusterWarning` for problems that do not stop the analysis (they are
        always recorded in the report).
    keep : list of str
        Further columns returned alongside, unchecked (e.g. a grouping column).
    long_string : int, optional
        Careless-answer threshold (see :func:`careless_answers`; default: half the items,
        for models of at least 10 items).
    drop_careless : bool
        Drop the respondents flagged as careless before the missing-data rule.

    Returns
    -------
    (DataFrame, DataReport)
        Float columns in the order of ``variables`` (then ``keep``); the index is the original
        row index.

    Raises
    ------
    DataError
        For every problem after which no trustworthy fit is possible.
    """
    info = dict(df.attrs.get(_ATTR, {})) if isinstance(df, pd.DataFrame) else {}
    if not isinstance(df, pd.DataFrame):
        raise InputTypeError(f"data must be a pandas DataFrame or a file path; got "
                             f"{type(df).__name__}")
    opt = _step_options(info, variables, source=source, missing=missing, scale=scale,
                        reverse=reverse, missing_codes=missing_codes, id_column=id_column,
                        ordered=ordered, out_of_scale=out_of_scale, keep=keep)
    # a prepared frame was checked (and its warnings issued) when it was prepared
    df = df.copy(deep=False)
    df.attrs = {}        # pandas deep-copies attrs on every operation: read them once, above
    st = _Steps(df, opt.source, info, warn and not opt.prepared)
    st.notes += list(opt.notes)
    _step_columns(st, opt.variables, opt.reverse, opt.ordered, opt.id_column, opt.keep)
    n_rows = int(df.shape[0])
    values = _step_codes(st, df.loc[:, opt.variables], opt.codes)
    sub = _step_numbers(st, values, opt.variables, opt.scale, out_of_scale)
    sub, scale = _step_scale(st, sub, opt.variables, opt.scale, out_of_scale, opt.ordered,
                             opt.codes)
    # careless answers are judged on the raw answers: before reverse coding
    sub, careless = _step_careless(st, df, sub, opt, long_string, drop_careless)
    sub = _step_reverse(st, sub, opt.reverse, scale)
    # ``auto`` on a prepared frame keeps the rule chosen when the frame was prepared
    sub, missing, dropped, n_missing, n_patterns = _step_missing_rule(
        st, sub, opt.variables, opt.missing,
        prepared=info.get("missing") if opt.prepared else None)
    if careless["dropped"]:
        dropped = {careless["dropped_reason"]: careless["dropped"], **dropped}
    pair_n = _step_checks(st, df, sub, opt.variables, missing, dropped, n_rows, n_free,
                          opt.ordered, scale, opt.id_column)
    _step_read_notes(st, info)
    report = DataReport(source=opt.source, n_rows=n_rows, n_used=int(sub.shape[0]),
                        dropped=dropped, notes=tuple(st.notes), missing=missing,
                        n_missing=n_missing, n_patterns=n_patterns, recoded=st.recoded,
                        reverse=tuple(opt.reverse), scale=scale,
                        variables=tuple(opt.variables), pairwise_nobs=pair_n,
                        warnings=tuple(st.issued), ordered=tuple(opt.ordered),
                        careless=careless["records"], careless_rule=careless["rule"],
                        careless_dropped=bool(careless["dropped"]) or bool(
                            opt.prepared and (info.get("report") or {}).get("careless_dropped")))
    return _step_attach(st, df, sub, opt, report), report


@dataclass(frozen=True)
class _Options:
    """prepare_data's options after the frame's own description has filled the gaps."""

    source: str
    variables: list
    keep: list
    missing: str
    reverse: tuple
    ordered: tuple
    codes: tuple
    id_column: str | None
    scale: tuple | None
    prepared: bool
    notes: tuple = ()


def _unique(names, what: str, notes: list) -> tuple:
    """``names`` without repeats, in first-seen order; a repeat is noted (reverse-coding an
    item twice would undo it while the report says it was reversed)."""
    names = tuple(str(n) for n in names)
    seen = tuple(dict.fromkeys(names))
    if len(seen) < len(names):
        twice = sorted({n for n in names if names.count(n) > 1})
        notes.append(f"{what} item(s) {', '.join(twice)} listed more than once; "
                     f"taken once")
    return seen


def split_codes(value) -> tuple:
    """Missing-data codes from a list or a text such as ``"98;99"`` or ``"-99, 99"``: text
    is split on ``,`` and ``;``, and a number written as text becomes that number.

    >>> split_codes("98;99"), split_codes(["-99", ".", 9.5])
    ((98, 99), (-99, '.', 9.5))
    """
    if value is None:
        return ()
    if isinstance(value, (str, int, float)) and not isinstance(value, bool):
        value = [value]
    out = []
    for v in value:
        if isinstance(v, str):
            out += [_code_value(t) for t in re.split(r"[,;]", v) if t.strip()]
        else:
            out.append(v)
    return tuple(out)


def _code_value(text: str):
    t = text.strip()
    try:
        f = float(t)
    except ValueError:
        return t
    if not np.isfinite(f):
        return t
    return int(f) if f.is_integer() and "." not in t and "e" not in t.lower() else f


def _step_options(info, variables, *, source, missing, scale, reverse, missing_codes,
                  id_column, ordered, out_of_scale, keep) -> _Options:
    """(0) the options: given ones, else the data description's; a frame prepared before keeps
    its codes, scale and reverse coding applied (applying reverse coding twice would undo
    it)."""
    if source in (None, "<DataFrame>", "<data>") and info.get("source"):
        source = info["source"]     # a DataFrame read by load_data keeps its file name
    source = source or "<data>"
    desc = info.get("description", {}) or {}
    prepared = bool(info.get("prepared"))
    missing = missing_rule(missing)
    if out_of_scale not in ("error", "missing"):
        raise OptionError(f"out_of_scale='{out_of_scale}' is not known; use 'error' or 'missing'")
    variables = [str(v) for v in variables]
    keep = [str(k) for k in keep if str(k) not in variables]
    if not variables:
        raise DataError(f"{source}: the model uses no observed variables")
    dupv = sorted({v for v in variables if variables.count(v) > 1})
    if dupv:
        raise DataError(f"variable(s) {', '.join(dupv)} listed twice")
    notes: list = []
    reverse = _unique(reverse if reverse is not None else (desc.get("reverse") or ()),
                      "reverse-coded", notes)
    ordered = _unique(ordered if ordered is not None else (desc.get("ordered") or ()),
                      "ordered", notes)
    codes = split_codes(missing_codes if missing_codes is not None else
                        desc.get("missing_codes"))
    codes = tuple(dict.fromkeys(codes))
    id_column = id_column if id_column is not None else desc.get("id")
    scale = _check_scale(scale if scale is not None else desc.get("scale"), "scale")
    if prepared:
        reverse, codes = (), ()
        scale = scale if scale is not None else (tuple(info["scale"]) if info.get("scale")
                                                 else None)
    return _Options(source=source, variables=variables, keep=keep, missing=missing,
                    reverse=reverse, ordered=ordered, codes=codes, id_column=id_column,
                    scale=scale, prepared=prepared, notes=tuple(notes))


def _step_read_notes(st: _Steps, info) -> None:
    """(8) how the file was read, first among the notes where it was not plain UTF-8 CSV."""
    read = info.get("read") or {}
    if read.get("delimiter") not in (None, ",") or read.get("decimal") == "," or \
            read.get("encoding") not in (None, "utf-8-sig"):
        delim = {"\t": "tab", ",": "comma", ";": "semicolon", "|": "bar"}.get(
            read.get("delimiter"), repr(read.get("delimiter")))
        st.notes.insert(0, f"read as {read.get('encoding', 'utf-8').upper()} text, "
                           f"{delim}-delimited, decimal mark '{read.get('decimal', '.')}'")
    if read.get("trimmed"):
        st.notes.insert(0, f"{read['trimmed']} line(s) end in empty extra field(s) (a trailing "
                           f"delimiter); the empty fields were ignored")
    if info.get("sheet") is not None and len(info.get("sheet_names") or []) > 1:
        st.notes.insert(0, f"worksheet '{info['sheet']}' of {len(info['sheet_names'])} "
                           f"({', '.join(info['sheet_names'])})")


def _step_attach(st: _Steps, df, sub, opt: _Options, report: DataReport) -> pd.DataFrame:
    """(9) the kept columns joined, and what later steps need recorded on the frame: source
    lines of the rows, the rule and scale used, the report."""
    if opt.keep:
        sub = sub.join(df.loc[sub.index, opt.keep])
    lines = None
    if st.lines is not None:
        pos = df.index.get_indexer(sub.index)
        lines = [int(st.lines[i]) if i >= 0 else None for i in pos]
    sub.attrs = {_ATTR: {"source": opt.source, "first_line": st.line0,
                         "line_label": st.line_label, "lines": lines, "prepared": True,
                         "missing": report.missing, "ordered": list(opt.ordered),
                         "scale": None if report.scale is None else list(report.scale),
                         "report": report.to_dict()}}
    return sub


def _step_columns(st: _Steps, variables, reverse, ordered, id_column, keep) -> None:
    """(1) every model variable, id and kept column must be in the data."""
    df = st.df
    absent = [v for v in variables if v not in df.columns]
    if absent:
        raise DataError(f"{st.source}: column(s) {', '.join(absent)} used by the model are not in "
                        f"the data (columns present: {_preview(df.columns)}); map your column "
                        f"names to the model's with a column mapping (--map)"
                        + _sheet_hint(st.info.get("sheet_names") or [], st.info.get("sheet")))
    for r in reverse:
        if r not in variables:
            raise DataError(f"reverse-coded item '{r}' is not a variable of the model "
                            f"({_preview(variables)})")
    for o in ordered:
        if o not in variables:
            raise DataError(f"ordered item '{o}' is not a variable of the model "
                            f"({_preview(variables)})")
    if id_column is not None and id_column not in df.columns:
        raise DataError(f"{st.source}: id column '{id_column}' is not in the data (--id)")
    if id_column is not None and id_column in variables:
        raise DataError(f"{st.source}: the id column '{id_column}' is an item of the model; an "
                        f"id is never fitted. Name the respondent-id column (--id, or id: in "
                        f"the --map file), or leave it out")
    for k in keep:
        if k not in df.columns:
            raise DataError(f"{st.source}: column '{k}' is not in the data (columns present: "
                            f"{_preview(df.columns)})")
    if df.shape[0] == 0:
        raise DataError(f"{st.source}: the data have no rows")


def _step_codes(st: _Steps, sub: pd.DataFrame, codes) -> dict:
    """(2) declared missing codes (SPSS user-missing values and ``missing_codes``) → missing."""
    declared = st.info.get("declared_missing", {}) or {}
    values = {}
    unmatched = dict.fromkeys(codes)
    for v in sub.columns:
        col = sub[v]
        if not codes and not declared.get(v):
            values[v] = col          # nothing declared for this column: nothing to look for
            continue
        hit = pd.Series(False, index=col.index)
        num = pd.to_numeric(col, errors="coerce")
        text = col.astype(str).str.strip()
        for lo, hi in declared.get(v, []):
            if isinstance(lo, str) or isinstance(hi, str):
                hit |= text.eq(str(lo).strip())
            else:
                hit |= (num >= lo) & (num <= hi)
        for c in codes:
            if isinstance(c, str):
                this = text.eq(c.strip())
                try:
                    this |= num.eq(float(c))
                except ValueError:
                    pass
            else:
                this = num.eq(float(c)) | text.eq(str(c))
            this &= col.notna()
            if this.any():
                unmatched.pop(c, None)
            hit |= this
        hit &= col.notna()
        if hit.any():
            st.recoded.setdefault("declared missing code set missing", {})[v] = int(hit.sum())
            col = col.where(~hit)
        values[v] = col
    if unmatched:
        st.notes.append(f"declared missing code(s) {', '.join(_fmt_code(c) for c in unmatched)} "
                        f"match no answer of the model's items (codes are split on ',' and "
                        f"';'; check the spelling)")
    return values


_CODE_DIGITS = re.compile(r"^(9+|8+|9+8|9+7)$")


def _undeclared_codes(col: pd.Series) -> list:
    """Values that look like missing-data codes (-99, -9, 99, 999, 98 ...) beyond the answers."""
    vals = np.asarray(col, dtype=float)
    vals = vals[~np.isnan(vals)]
    if len(vals) < 3:
        return []
    uniq = np.unique(vals)
    whole = uniq[np.isfinite(uniq) & (uniq == np.floor(uniq))]     # only whole numbers
    cand = [u for u in whole if u < 0 or _CODE_DIGITS.match(str(int(u)))]
    if not cand:
        return []
    others = vals[~np.isin(vals, cand)]
    if len(others) < max(3, len(vals) // 2):
        return []
    lo, hi = float(others.min()), float(others.max())
    return [u for u in cand if (u < 0 <= lo) or (u >= 8 and u >= hi + 2)]


def _step_numbers(st: _Steps, values: dict, variables, scale, out_of_scale) -> pd.DataFrame:
    """(3) answers must be numeric and finite; undeclared codes and absurd values stop."""
    source, where = st.source, st.where
    num_cols = {}
    for v in variables:
        col = values[v]
        if pd.api.types.is_bool_dtype(col):
            raise DataError(f"{source}: column '{v}' holds true/false values, not answers on a "
                            f"scale; recode it as numbers")
        cplx = pd.api.types.is_complex_dtype(col) or (
            col.dtype == object and col.map(lambda x: isinstance(x, complex)).any())
        if cplx:
            first = next(x for x in col if isinstance(x, (complex, np.complexfloating)))
            raise DataError(f"{source}: column '{v}' holds complex numbers (e.g. {first!r}); "
                            f"answers must be real numbers (the imaginary part would be lost)")
        if pd.api.types.is_numeric_dtype(col):
            num = col.to_numpy(dtype=float, na_value=np.nan)
        else:
            text = col.astype("object")
            stripped = text.map(lambda x: x.strip() if isinstance(x, str) else x)
            stripped = stripped.map(lambda x: np.nan if isinstance(x, str) and x == "" else x)
            num = pd.to_numeric(stripped, errors="coerce").astype(float)
            bad = stripped[num.isna() & stripped.notna()]
            if len(bad):
                val = bad.iloc[0]
                hint = ""
                as_point = pd.to_numeric(pd.Series([str(val).replace(",", ".")]),
                                         errors="coerce")
                if isinstance(val, str) and "," in val and as_point.notna()[0]:
                    hint = " (decimal comma? use a point)"
                raise DataError(f"{source}: column '{v}' has a non-numeric value {val!r} at "
                                f"{where(bad.index[0])}{hint} ({len(bad)} such value(s)); recode "
                                f"it, or declare it a missing code (--missing-codes {val})")
            num = num.to_numpy()
        inf_mask = np.isinf(num)
        if inf_mask.any():
            raise DataError(f"{source}: column '{v}' has an infinite value at "
                            f"{where(col.index[np.flatnonzero(inf_mask)[0]])}; fix or remove it")
        num_cols[v] = num
    index = values[variables[0]].index
    sub = pd.DataFrame(np.column_stack([num_cols[v] for v in variables]), index=index,
                       columns=list(variables))

    # undeclared missing-data codes: with no declared scale, -99 among answers 1-7 would be
    # fitted as an answer; it is an error until declared
    if scale is None:
        for v in variables:
            found = _undeclared_codes(num_cols[v])
            if not found:
                continue
            hit = sub[v].isin(found)
            first = hit[hit].index[0]
            others = sub[v][~hit].dropna()
            code = _fmt_code(found[0])
            if out_of_scale == "missing":
                sub[v] = sub[v].mask(hit)
                st.recoded.setdefault("answer outside the scale set missing", {})[v] = \
                    int(hit.sum())
                st.note_warning(f"column '{v}': {int(hit.sum())} value(s) "
                                f"{', '.join(map(_fmt_code, found))} outside its other answers "
                                f"set missing (--out-of-scale missing)")
                continue
            raise DataError(f"{source}: column '{v}' has the value {code} at {where(first)} "
                            f"({int(hit.sum())} such value(s)), outside the range "
                            f"{others.min():g}-{others.max():g} of its other answers: an "
                            f"undeclared missing-data code? declare it missing (--missing-codes "
                            f"{code}) or declare the scale (--scale MIN MAX) and set answers "
                            f"outside it missing (--out-of-scale missing)")

    # extreme values: a typing error (44 for 4, 1e78) wrecks every moment; judged against
    # the item's robust spread (1.4826 × median absolute deviation, or the mean absolute
    # deviation when most answers are equal)
    arr = sub.to_numpy(dtype=float)
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)       # all-NaN columns
        med_all = np.nanmedian(arr, axis=0)
        dev_all = np.abs(arr - med_all)
        mad_all = 1.4826 * np.nanmedian(dev_all, axis=0)
        maxdev_all = np.nanmax(dev_all, axis=0)
    for c, v in enumerate(variables):
        # quick exit (most items): no answer more than 20 spreads from the median
        if mad_all[c] > 0 and not maxdev_all[c] / mad_all[c] > 20:
            continue
        col = sub[v].dropna()
        if len(col) < 3:
            continue
        med = float(med_all[c])
        dev = (col - med).abs()
        spread = float(mad_all[c]) or float(dev.mean())
        if not spread > 0:
            continue
        ratio = dev / spread
        worst = ratio.idxmax()
        if ratio[worst] > 1e6:
            raise DataError(f"{source}: column '{v}' has the value {col[worst]:.6g} at "
                            f"{where(worst)}, {ratio[worst]:.3g} times the spread of the other "
                            f"answers; no covariance can be computed reliably: fix the value or "
                            f"declare it missing (--missing-codes {col[worst]:g})")
        far = ratio[ratio > 20]
        if len(far) and col.nunique() > 2:     # a rare answer of a binary item is no typo
            st.note_warning(f"column '{v}' has {len(far)} value(s) far outside the other answers "
                            f"(first: {col[far.index[0]]:g} at {where(far.index[0])}; median "
                            f"{med:g}); a typing error?")
    return sub


def _step_scale(st: _Steps, sub, variables, scale, out_of_scale, ordered, codes):
    """(4) answers on the declared scale (or the SPSS labels' scale); ordinal items whole."""
    source, where = st.source, st.where
    if scale is None:
        scale = _scale_from_labels(st.info.get("value_labels", {}) or {}, variables,
                                   st.info.get("declared_missing", {}) or {}, codes)
        if scale is not None:
            st.notes.append(f"answer scale {scale[0]:g} to {scale[1]:g} taken from the value "
                            f"labels (labels of declared missing values left out)")
    if scale is not None:
        lo, hi = scale
        out = (sub < lo) | (sub > hi)
        if out.to_numpy().any():
            per = {v: int(out[v].sum()) for v in variables if out[v].any()}
            first_v = next(iter(per))
            first_i = out.index[out[first_v].to_numpy()][0]
            val = sub.at[first_i, first_v]
            example = f"'{first_v}' = {val:g} at {where(first_i)}"
            detail = ", ".join(f"{k} {n}" for k, n in per.items())
            if out_of_scale == "error":
                raise DataError(f"{source}: column '{first_v}' has the value {val:g} at "
                                f"{where(first_i)}, outside the scale {lo:g}-{hi:g} "
                                f"({sum(per.values())} such answer(s): {detail}); fix them, "
                                f"declare the code missing (--missing-codes {val:g}), or set "
                                f"answers outside the scale missing (--out-of-scale missing)")
            sub = sub.mask(out)
            st.recoded["answer outside the scale set missing"] = per
            st.note_warning(f"{sum(per.values())} answer(s) outside the scale {lo:g}-{hi:g} set "
                            f"missing (first: {example}; per item: {detail})")
    for v in ordered:
        col = sub[v].dropna()
        frac = col[np.abs(col - np.round(col)) > 1e-9]
        if len(frac):
            raise DataError(f"{source}: ordinal item '{v}' has a non-integer answer "
                            f"{frac.iloc[0]:g} at {where(frac.index[0])}; ordinal items take "
                            f"whole-number categories")
    return sub, scale


def _step_reverse(st: _Steps, sub, reverse, scale):
    """(5) reverse-coded items become ``min + max - x``."""
    if not reverse:
        return sub
    if scale is None:
        raise DataError(f"reverse-coded items ({', '.join(reverse)}) need a declared answer "
                        f"scale (--scale 1 7, or scale: [1, 7] in the --map file) to be recoded "
                        f"as min + max - x")
    lo, hi = scale
    per = {}
    sub = sub.copy()
    for v in reverse:
        per[v] = int(sub[v].notna().sum())
        sub[v] = lo + hi - sub[v]
    st.recoded["reverse-coded (min + max - x)"] = per
    return sub


# ----------------------------------------------------------------------------------------------
# careless answers: long strings and straight-lining on the raw answers
# ----------------------------------------------------------------------------------------------

#: The default careless-answer checks run only for models with at least this many items: with
#: fewer, attentive respondents often give the same answer to a short, homogeneous scale.
CARELESS_MIN_ITEMS = 10

#: Columns of :meth:`DataReport.careless_table` (and of the CLI's ``--careless-csv`` file).
CARELESS_COLUMNS = ("respondent", "row", "answered", "long_string", "straight_lining",
                    "same_value", "flagged_by")

#: How many flagged respondents the data report names before "...".
CARELESS_SHOWN = 5


def _check_long_string(value):
    """``None`` or a whole number of at least 2 (a run of one answer is every answer)."""
    if value is None:
        return None
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer, float,
                                                                     np.floating)):
        raise OptionError(f"long_string={value!r}: give a whole number of items (at least 2)")
    if not float(value).is_integer() or value < 2:
        raise OptionError(f"long_string={value!r}: give a whole number of items, at least 2 (a "
                          f"run of one identical answer is every answer)")
    return int(value)


def long_string(answers) -> pd.Series:
    """Longest run of identical consecutive answers of each row (the long-string index).

    The definition of R's ``careless::longstring`` (Johnson 2005; Meade & Craig 2012): each
    row is run-length encoded in column order, as base R's ``rle()`` does, and the longest run
    is the index.  ``rle()`` compares neighbours with ``!=``, so a missing answer is a run of
    its own: it ends the run before it and counts 1 (a row without answers has index 1).  The
    ``careless`` package is not installable here; the tests derive their expectations by hand
    on small frames from this definition.

    Parameters
    ----------
    answers : DataFrame or 2-D array
        One row per respondent, the items in the order the questionnaire showed them.

    Returns
    -------
    Series of int (the frame's index).
    """
    index = answers.index if isinstance(answers, pd.DataFrame) else None
    x = np.asarray(answers, dtype=float)
    if x.ndim != 2:
        raise InputTypeError("long_string() needs a table: one row per respondent")
    n, p = x.shape
    best = np.ones(n, dtype=int) if p else np.zeros(n, dtype=int)
    run = best.copy()
    for j in range(1, p):
        same = x[:, j] == x[:, j - 1]             # NaN == anything is False: a run ends
        run = np.where(same, run + 1, 1)
        best = np.maximum(best, run)
    return pd.Series(best, index=index, name="long_string")


def careless_answers(answers, threshold: int | None = None) -> pd.DataFrame:
    """Flag careless respondents by the long-string index and straight-lining.

    Rule: with threshold *T*, a respondent is flagged when

    * the long string (:func:`long_string`, the items in file order) is at least *T*, or
    * every answered item has the same value and at least *T* items are answered
      (straight-lining that missing answers split into shorter runs).

    *T* defaults to half the number of items, rounded up: Curran (2016, J. Exp. Soc. Psychol.
    66, 4-19) suggests, as a rule of thumb, treating a string of identical answers at least
    half the length of the scale as invalid.  Give the answers *before* reverse coding: a
    respondent who ticks the same box down the whole page, reversed items included, then
    shows one value throughout, while an attentive respondent who agrees with the items and
    disagrees with the reversed ones does not.

    Parameters
    ----------
    answers : DataFrame
        Raw answers (missing codes already missing), one row per respondent, items in file
        order.
    threshold : int, optional
        *T* (at least 2).

    Returns
    -------
    DataFrame
        Indexed like ``answers``: ``answered``, ``long_string``, ``straight_lining`` (bool),
        ``same_value`` (the one value of a straight-liner, else NaN), ``flagged`` (bool),
        ``flagged_by`` (``"straight-lining"``, ``"long string"`` or ``""``).
    """
    if not isinstance(answers, pd.DataFrame):
        answers = pd.DataFrame(np.asarray(answers, dtype=float))
    p = answers.shape[1]
    t = _check_long_string(threshold)
    if t is None:
        t = max(2, -(-p // 2))
    x = answers.to_numpy(dtype=float)
    answered = (~np.isnan(x)).sum(axis=1)
    ls = long_string(answers).to_numpy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)            # rows without answers
        lo, hi = np.nanmin(x, axis=1), np.nanmax(x, axis=1)
    straight = (answered >= t) & (lo == hi)
    by_run = ls >= t
    flagged = straight | by_run
    return pd.DataFrame({
        "answered": answered, "long_string": ls, "straight_lining": straight,
        "same_value": np.where(straight, lo, np.nan), "flagged": flagged,
        "flagged_by": np.where(straight, "straight-lining",
                               np.where(by_run, "long string", ""))},
        index=answers.index)


def _step_careless(st: _Steps, df, sub, opt: "_Options", threshold, drop):
    """(4b) careless answers on the raw answers (declared missing codes and answers set missing
    already missing; before reverse coding): flagged respondents recorded by id (else by row
    number) and, with ``drop``, dropped."""
    none = {"records": (), "rule": "", "dropped": 0, "dropped_reason": ""}
    p = len(opt.variables)
    if opt.prepared:
        # the raw answers are gone (reverse coding applied): keep what was found then
        before = st.info.get("report") or {}
        records = tuple(dict(r) for r in before.get("careless", ()))
        if drop and records and not before.get("careless_dropped"):
            raise OptionError(f"{st.source}: this frame was prepared keeping "
                              f"{len(records)} respondent(s) flagged as careless; read the "
                              f"file again with drop_careless=True to drop them")
        return sub, dict(none, records=records, rule=before.get("careless_rule", ""))
    if threshold is None and p < CARELESS_MIN_ITEMS:
        if drop:
            st.notes.append(f"careless-answer checks not run: the model has {p} items (fewer "
                            f"than {CARELESS_MIN_ITEMS}); give a long-string threshold to run "
                            f"them (--long-string N); no respondent dropped")
        return sub, none
    order = [c for c in df.columns if c in set(opt.variables)]      # questionnaire order
    flags = careless_answers(sub[order], threshold)
    t = _check_long_string(threshold) or max(2, -(-p // 2))
    why = "half the items, Curran 2016" if threshold is None else "threshold given"
    rule = (f"at least {t} identical raw answers in a row, or one raw answer to all of at "
            f"least {t} answered items ({why}), judged before reverse coding")
    hit = np.flatnonzero(flags["flagged"].to_numpy())
    if st.lines is not None:
        rows = [int(st.lines[i]) for i in hit]
    else:
        rows = [int(i) + st.line0 for i in hit]
    if opt.id_column is not None:
        ids = [_plain(v) for v in df[opt.id_column].iloc[hit]]
    else:
        ids = rows
    records = tuple(
        {"respondent": who, "row": row, "answered": int(flags["answered"].iat[i]),
         "long_string": int(flags["long_string"].iat[i]),
         "straight_lining": bool(flags["straight_lining"].iat[i]),
         "same_value": (_plain(flags["same_value"].iat[i])
                        if flags["straight_lining"].iat[i] else None),
         "flagged_by": str(flags["flagged_by"].iat[i])}
        for who, row, i in zip(ids, rows, hit))
    out = {"records": records, "rule": rule, "dropped": 0, "dropped_reason": ""}
    if not len(hit):
        return sub, out
    k = len(hit)
    n_straight = int(flags["straight_lining"].to_numpy()[hit].sum())
    label = "id" if opt.id_column is not None else f"{st.line_label}"
    shown = ", ".join(str(v) for v in ids[:CARELESS_SHOWN]) + (" ..." if k > CARELESS_SHOWN
                                                                 else "")
    what = (f"{k} respondent(s) flagged as careless ({n_straight} straight-lining): "
            f"{label} {shown}; rule: {rule}")
    if drop:
        out["dropped"] = k
        out["dropped_reason"] = "careless answers (--drop-careless)"
        st.notes.append(what + "; dropped")
        sub = sub[~flags["flagged"].to_numpy()]
    else:
        msg = what + "; list them with --careless-csv FILE, drop them with --drop-careless"
        # one raw answer to every item is a warning; a long string alone is a note in the data
        # report (a respondent may agree strongly with a run of similar items: screen, don't
        # drop unseen; Curran 2016), so that it does not warn on every command
        if n_straight:
            st.note_warning(msg)
        else:
            st.notes.append(msg)
    return sub, out


def _step_missing_rule(st: _Steps, sub, variables, missing, prepared=None):
    """(6) the missing-data rule (``auto`` by :func:`resolve_missing`): listwise drops
    incomplete rows; fiml/pairwise keep them."""
    miss_arr = sub.isna().to_numpy()
    missing = resolve_missing(missing, bool(miss_arr.any()), prepared=prepared)
    dropped: dict[str, int] = {}
    if missing == "listwise":
        keep = ~miss_arr.any(axis=1)
        if (~keep).any():
            dropped["missing answer(s) (listwise deletion)"] = int((~keep).sum())
    else:
        keep = ~miss_arr.all(axis=1)
        if (~keep).any():
            dropped["no answer to any model item"] = int((~keep).sum())
    if not keep.all():
        sub = sub[keep]
    miss_arr = miss_arr[keep]
    n_used = int(sub.shape[0])
    counts = miss_arr.sum(axis=0)
    n_missing = {v: int(counts[c]) for c, v in enumerate(variables) if counts[c]}
    n_patterns = (len(np.unique(miss_arr, axis=0)) if miss_arr.any() else 1) if n_used else 0
    if missing != "listwise" and n_missing:
        frac = sum(n_missing.values()) / max(1, n_used * len(variables))
        st.notes.append(f"{sum(n_missing.values())} missing answer(s) ({100 * frac:.1f} % of "
                        f"cells) kept for {missing}")
        never = [v for v in variables if n_missing.get(v, 0) == n_used]
        if never:
            raise DataError(f"{st.source}: item(s) {', '.join(never)} have no answer in any row")
    return sub, missing, dropped, n_missing, n_patterns


def _step_checks(st: _Steps, df, sub, variables, missing, dropped, n_rows, n_free, ordered,
                 scale, id_column):
    """(7) checks on the rows used; returns pairwise counts for ``missing="pairwise"``.

    Flags and their thresholds (tested either side in tests/test_verdicts_data_audit.py):
    variances more than 1000 times apart warn (lavaan's warning), more than 1e6 stop; fewer
    than 5 rows per observed variable warn (Bentler & Chou 1987: 5 or more cases per
    parameter); an ordinal item with more than 10 categories or a category answered once
    warns; a continuous item with 4 or fewer distinct values warns (Rhemtulla, Brosseau-Liard &
    Savalei 2012); with 10 or more items a repeated answer pattern warns (fewer: a note) and a
    respondent giving one answer to every item is flagged as straight-lining (long-string
    responding: Meade & Craig 2012; Curran 2016).
    """
    source, where, note_warning, notes = st.source, st.where, st.note_warning, st.notes
    n_used = int(sub.shape[0])
    observed = sub.notna()
    p = len(variables)
    if n_used < 2:
        why = f" ({'; '.join(f'{k}: {n}' for k, n in dropped.items())})" if dropped else ""
        raise DataError(f"{source}: only {n_used} usable row(s) of {n_rows}{why}; a model needs "
                        f"many more")
    with np.errstate(over="ignore", invalid="ignore"):
        sd = sub.std(ddof=0)
        huge = [v for v in variables if not np.isfinite(sd[v])]
    if huge:
        raise DataError(f"{source}: column(s) {', '.join(huge)} hold values too large to compute "
                        f"a variance (largest {np.nanmax(np.abs(sub[huge[0]])):.3g}); fix the "
                        f"value(s) or rescale the item")
    with np.errstate(invalid="ignore"):
        means = np.abs(np.nanmean(sub.to_numpy(dtype=float), axis=0))
    const = [v for v, s_, m_ in zip(variables, sd.to_numpy(), means)
             if s_ <= 1e-12 * max(1.0, m_)]
    if const:
        raise DataError(f"{source}: column(s) {', '.join(const)} have the same value in every "
                        f"used row; a constant item carries no information: drop it from the "
                        f"model")
    # items in very different units (one recorded x 10 000): lavaan warns above a variance
    # ratio of 1000; beyond 1e6 the optimiser cannot tell a poorly scaled model from an
    # unidentified one, so stop and name the item
    var = sd ** 2
    big, small = var.idxmax(), var.idxmin()
    ratio = float(var[big] / var[small])
    if p > 1 and ratio > 1e6:
        raise DataError(f"{source}: the variance of '{big}' (SD {sd[big]:.4g}) is "
                        f"{ratio:.3g} times that of '{small}' (SD {sd[small]:.4g}); is '{big}' "
                        f"recorded in other units? rescale it (divide by a power of ten) so "
                        f"that the items' variances are comparable")
    if p > 1 and ratio > 1000:
        note_warning(f"some observed variances are more than 1000 times larger than others "
                     f"('{big}' SD {sd[big]:.4g}, '{small}' SD {sd[small]:.4g}); rescaling "
                     f"'{big}' helps the fit converge (lavaan gives the same warning)")
    pair_n = None
    if missing == "pairwise":
        o = observed.to_numpy(dtype=float)
        pair_n = pd.DataFrame((o.T @ o).astype(int), index=variables, columns=variables)
        low = pair_n.where(~np.eye(p, dtype=bool)).stack()
        low = low[low < 3]
        if len(low):
            (a, b), n = next(iter(low.items()))
            raise DataError(f"{source}: items '{a}' and '{b}' are answered together in only "
                            f"{int(n)} row(s); no covariance can be estimated")
    if n_used <= p:
        what = "complete rows" if missing == "listwise" else "rows"
        raise DataError(f"{source}: {n_used} usable rows for {p} observed variables; the sample "
                        f"covariance matrix is singular (at least {p + 1} {what} needed, "
                        f"far more for a stable fit)")
    if n_free is not None and n_used < n_free:
        note_warning(f"only {n_used} rows for {n_free} free parameters; estimates and standard "
                     f"errors are unreliable")
    elif n_used < 5 * p:
        note_warning(f"only {n_used} rows for {p} observed variables; estimates and fit "
                     f"statistics may be unstable (rules of thumb ask for 5-10 rows per item)")
    sub_arr = sub.to_numpy(dtype=float)
    for c, v in enumerate(variables):
        col_arr = sub_arr[:, c]
        k = len(np.unique(col_arr[~np.isnan(col_arr)]))
        if v in ordered:
            if k < 2:  # pragma: no cover - caught as constant above
                raise DataError(f"{source}: ordinal item '{v}' has a single category")
            if k > 10:
                note_warning(f"ordinal item '{v}' has {k} categories; a polychoric model with "
                             f"this many thresholds is slow and rarely better than ML")
            counts = sub[v].value_counts()
            sparse = counts[counts < 2]
            if len(sparse):
                note_warning(f"ordinal item '{v}': category {sparse.index[0]:g} has a single "
                             f"answer; its threshold is poorly determined (merge categories?)")
            if scale is not None:
                unused = int(round(scale[1] - scale[0] + 1)) - k
                if unused > 0:
                    notes.append(f"ordinal item '{v}': {unused} scale point(s) never chosen; "
                                 f"thresholds are estimated for the {k} observed categories only")
        elif k <= 4:
            note_warning(f"item '{v}' has only {k} distinct values; treating it as continuous "
                         f"is questionable (declare it ordered and use estimator='WLSMV'), "
                         f"unless it is an exogenous covariate such as a 0/1 dummy, which "
                         f"enters as it is")
    if id_column is not None:
        ids = df.loc[sub.index, id_column]
        dup_ids = ids[ids.duplicated(keep=False) & ids.notna()]
        if len(dup_ids):
            shown = ", ".join(map(str, pd.unique(dup_ids)[:5]))
            note_warning(f"{dup_ids.nunique()} respondent id(s) occur more than once in "
                         f"'{id_column}' ({shown}); the same respondent may have been entered "
                         f"twice")
    # Identical answer patterns: with ten or more items a repeat by chance is very unlikely
    # (double data entry, or a respondent answering twice); with fewer items, and strongly
    # correlated Likert answers, chance repeats are common, so they are only noted.
    complete = ~np.isnan(sub_arr).any(axis=1)
    full = sub[complete]
    full_arr = sub_arr[complete]
    if len(full_arr):
        _, first_pos, inverse = np.unique(full_arr, axis=0, return_index=True,
                                          return_inverse=True)
        is_dup = first_pos[inverse.ravel()] != np.arange(len(full_arr))
    else:
        is_dup = np.zeros(0, dtype=bool)
    dup_rows = full[is_dup]
    if len(dup_rows):
        first = dup_rows.index[0]
        msg = (f"{len(dup_rows)} row(s) repeat an earlier row's answers to every model item "
               f"(first: {where(first)}); check for double data entry")
        if p >= 10:
            note_warning(msg)
        else:
            notes.append(msg + f" (with only {p} items such repeats also happen by chance)")
    _check_covariance(sub, missing, source, note_warning)
    return pair_n


def _scale_from_labels(labels: dict, variables: list[str], declared: dict | None = None,
                       codes=()) -> tuple | None:
    """The answer scale labelled in an SPSS file, leaving out labels of missing values."""
    declared = declared or {}
    num_codes = {float(c) for c in codes if isinstance(c, (int, float))}
    ranges = set()
    for v in variables:
        lab = labels.get(v)
        if not lab:
            return None
        keys = [k for k in lab if isinstance(k, (int, float))]
        miss = declared.get(v, [])
        keys = [k for k in keys if float(k) not in num_codes and not any(
            not isinstance(lo, str) and not isinstance(hi, str) and lo <= k <= hi
            for lo, hi in miss)]
        if len(keys) < 2:
            return None
        ranges.add((float(min(keys)), float(max(keys))))
    return ranges.pop() if len(ranges) == 1 else None


def _check_covariance(sub: pd.DataFrame, missing: str, source: str, note_warning) -> None:
    """Stop on a singular sample covariance matrix, naming the items that cause it."""
    if missing == "listwise":
        x = sub.to_numpy(dtype=float)
        s = np.cov(x, rowvar=False, ddof=0)
        if s.ndim == 0:
            return
    else:
        s = sub.cov(min_periods=2, ddof=0).to_numpy()
        if not np.isfinite(s).all():
            return
    sd = np.sqrt(np.diag(s))
    r = s / np.outer(sd, sd)
    ev = np.linalg.eigvalsh(r)
    if ev[0] > 1e-8:
        return
    cols = list(sub.columns)
    pairs = [(cols[i], cols[j]) for i in range(len(cols)) for j in range(i)
             if abs(r[i, j]) > 1 - 1e-8]
    if pairs:
        what = "items " + "; ".join(f"'{a}' and '{b}' are perfectly correlated"
                                    for a, b in pairs[:3])
    else:
        # the eigenvector of the zero eigenvalue names the linear combination
        w, vecs = np.linalg.eigh(r)
        vec = vecs[:, 0]
        involved = [cols[i] for i in np.argsort(-np.abs(vec)) if abs(vec[i]) > 0.05][:6]
        what = f"a linear combination of {', '.join(involved)} is constant"
    if missing == "listwise":
        raise DataError(f"{source}: the sample covariance matrix is singular: {what}; drop or "
                        f"merge the redundant item(s)")
    note_warning(f"the pairwise sample covariance matrix is not positive definite ({what}); "
                 f"summary statistics from it are unreliable")


# ----------------------------------------------------------------------------------------------
# summaries with missing data
# ----------------------------------------------------------------------------------------------

def sample_covariance(X: pd.DataFrame) -> pd.DataFrame:
    """N-divisor covariance matrix (lavaan's ML sample moments), labelled."""
    arr = X.to_numpy(dtype=float)
    arr = arr - arr.mean(axis=0)
    S = arr.T @ arr / arr.shape[0]
    return pd.DataFrame(S, index=X.columns, columns=X.columns)


def missing_patterns(df: pd.DataFrame) -> pd.DataFrame:
    """Distinct patterns of answered (1) and missing (0) items with their frequencies.

    Returns a DataFrame with one row per pattern (most frequent first), one 0/1 column per item
    and a column ``n``.
    """
    obs = df.notna().astype(int)
    pat = obs.value_counts(sort=True).rename("n").reset_index()
    return pat


def pairwise_moments(df: pd.DataFrame) -> tuple[pd.Series, pd.DataFrame, pd.DataFrame]:
    """Means, covariances and pair counts from all available answers (pairwise deletion).

    Each mean uses every row answering the item; each covariance every row answering both items
    (divisor n - 1 of that pair, as R's ``cov(use = "pairwise.complete.obs")``).  Meant for
    summary statistics; a model fitted to a pairwise matrix has no single sample size, so fitting
    with missing answers uses FIML instead.

    Returns
    -------
    (means, cov, nobs)
    """
    x = df.apply(pd.to_numeric, errors="coerce").astype(float)
    o = x.notna().to_numpy(dtype=float)
    nobs = pd.DataFrame((o.T @ o).astype(int), index=x.columns, columns=x.columns)
    return x.mean(), x.cov(min_periods=2), nobs
