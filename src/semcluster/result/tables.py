"""One table layer: a tidy DataFrame rendered as console text, Markdown, HTML or CSV.

Every table semcluster shows a reader goes through here, so that all of them follow the same
rules:

* **Row labels are kept.**  A labelled index (a construct, a fit measure, a package) becomes the
  first column; an unnamed one is named (``label=`` or ``"name"``).  A bare ``RangeIndex`` is
  dropped.  Two-level column headers are joined with ``_``.
* **Missing figures are blank** (CSV) or an en dash ``–`` (text, Markdown, HTML) — never ``NaN``.
* **p-values** (columns named ``p``, ``pvalue``, ``*_pvalue``, ``p_*``; or rows whose label names
  a p-value in a long two-column table) are printed APA style: ``< .001``, ``> .999``, otherwise
  three decimals without the leading zero (``.042``).
* **Counts** (integer columns, and float columns named like counts — ``n``, ``df``, ``npar``,
  ``n_*`` … — whose values are all whole numbers) are printed as integers: ``160``, not
  ``160.000``.
* **Fixed parameters have no standard error**: in a table with ``se`` and ``z``/``pvalue``, a row
  whose ``se`` is 0 and whose test statistic is missing is a fixed parameter; its ``se`` (and
  ``z``/``pvalue``) are left blank.
* Other numbers: three decimals; booleans ``yes``/``no``.

CSV keeps full precision (it is for machines); only the labelling, the blank-for-missing and the
fixed-parameter rules apply there.

Examples
--------
>>> import pandas as pd
>>> from semcluster import tables
>>> t = pd.Series({"chisq": 85.3055217, "df": 24.0, "pvalue": 8.5e-09}).to_frame("estimate")
>>> print(tables.to_text(t, label="measure"))
measure  estimate
-------  --------
chisq      85.306
df             24
pvalue     < .001
"""
from __future__ import annotations

import html as _html
import math
import re

import numpy as np
import pandas as pd

MISSING = "–"

_P_NAME = re.compile(r"^(p|pvalue|p_value|pval|p\.value|pvalue_.*|.*_pvalue|.*_p|p_.*)$",
                     re.IGNORECASE)
_COUNT_NAME = re.compile(
    r"^(n|nobs|ntotal|npar|df|k|count|reps|replicates|rows|items|.*_df|df_.*|n_.*|.*_n|"
    r"bartlett_df|iterations|n_factors|component)$", re.IGNORECASE)


def is_pvalue_name(name) -> bool:
    """Whether a column (or a row label) names a p-value."""
    return bool(_P_NAME.match(str(name)))


def is_count_name(name) -> bool:
    return bool(_COUNT_NAME.match(str(name)))


# -- tidying -------------------------------------------------------------------------------------
def tidy(data, *, label: str | None = None) -> pd.DataFrame:
    """The table with its row labels as columns, flat column names and fixed SEs blanked.

    Parameters
    ----------
    data : DataFrame or Series
        A Series becomes a one-column frame named after the Series (``"estimate"`` if unnamed).
    label : str, optional
        Name for an unnamed index (default ``"name"``).  Ignored for a default RangeIndex,
        which carries no information and is dropped.
    """
    if isinstance(data, pd.Series):
        data = data.to_frame(data.name if data.name is not None else "estimate")
    df = data.copy()
    if isinstance(df.columns, pd.MultiIndex):
        df.columns = ["_".join(str(x) for x in c if str(x)) for c in df.columns]
    else:
        df.columns = [str(c) for c in df.columns]
    idx = df.index
    # an unnamed integer index is pandas' row numbering (perhaps of a filtered table), not a
    # label: dropped
    plain_range = (idx.name is None and not isinstance(idx, pd.MultiIndex)
                   and pd.api.types.is_integer_dtype(idx))
    if not plain_range:
        if isinstance(idx, pd.MultiIndex):
            idx = idx.set_names([n if n is not None else (label if i == 0 and label else
                                                          f"level_{i}")
                                 for i, n in enumerate(idx.names)])
        elif idx.name is None:
            idx = idx.rename(label or "name")
        df.index = idx
        df = df.reset_index()
    else:
        df = df.reset_index(drop=True)
    _blank_fixed(df)
    _count_rows_as_integers(df)
    for c in df.columns:
        s = df[c]
        if pd.api.types.is_float_dtype(s) and is_count_name(c):
            v = s.dropna()
            if len(v) and np.all(np.isfinite(v)) and np.all(v == np.round(v)):
                df[c] = s.round().astype("Int64")
    return df


def _count_rows_as_integers(df: pd.DataFrame) -> None:
    """In a long "label | value" table, whole-number values of rows labelled as counts
    (``df``, ``npar`` ...) become integers (the column turns to object dtype)."""
    if len(df.columns) < 2 or pd.api.types.is_numeric_dtype(df[df.columns[0]]):
        return
    rows = df[df.columns[0]].map(lambda v: isinstance(v, str) and is_count_name(v)).to_numpy()
    if not rows.any():
        return
    for c in df.columns[1:]:
        col = df[c]
        if not pd.api.types.is_float_dtype(col):
            continue
        vals = col.to_numpy()
        ok = rows & np.isfinite(vals) & (vals == np.round(np.nan_to_num(vals)))
        if ok.any():
            df[c] = pd.Series([int(round(v)) if k else v for v, k in zip(vals, ok)],
                              index=df.index, dtype=object)


def _blank_fixed(df: pd.DataFrame) -> None:
    """Fixed parameters (se == 0 with no test statistic) get a blank se."""
    if "se" not in df.columns or not pd.api.types.is_numeric_dtype(df["se"]):
        return
    stat = "z" if "z" in df.columns else ("pvalue" if "pvalue" in df.columns else None)
    if stat is None:
        return
    fixed = (df["se"].fillna(0) == 0) & df[stat].isna()
    if fixed.any():
        df["se"] = df["se"].astype(float)
        df.loc[fixed, "se"] = np.nan


# -- cell formatting ----------------------------------------------------------------------------
def format_pvalue(p) -> str:
    """APA style: ``< .001``, ``> .999``, otherwise three decimals without the leading zero."""
    if p is None or (isinstance(p, float) and not math.isfinite(p)) or pd.isna(p):
        return MISSING
    p = float(p)
    if p < 0.001:
        return "< .001"
    if p > 0.999:
        return "> .999"
    return f"{p:.3f}".lstrip("0") if p < 1 else f"{p:.3f}"


def format_number(v, *, digits: int = 3, kind: str = "number", missing: str = MISSING) -> str:
    """One cell.  ``kind``: ``number``, ``pvalue`` or ``count``."""
    if v is None or v is pd.NA or v is pd.NaT:
        return missing
    if isinstance(v, (bool, np.bool_)):
        return "yes" if v else "no"
    if isinstance(v, (int, np.integer)) and not isinstance(v, bool):
        return str(int(v)) if kind != "pvalue" else format_pvalue(float(v))
    if isinstance(v, (float, np.floating)):
        if not math.isfinite(float(v)):
            return missing if math.isnan(float(v)) else ("∞" if v > 0 else "−∞")
        if kind == "pvalue":
            return format_pvalue(float(v))
        if kind == "count" and float(v) == round(float(v)):
            return str(int(round(float(v))))
        return f"{float(v):.{digits}f}"
    if isinstance(v, str):
        return v if v.strip() and v.lower() != "nan" else missing
    try:
        if pd.isna(v):
            return missing
    except (TypeError, ValueError):
        pass
    return str(v)


def _column_kind(name, series: pd.Series) -> str:
    if is_pvalue_name(name):
        return "pvalue"
    if pd.api.types.is_integer_dtype(series) or (is_count_name(name)):
        return "count"
    return "number"


def formatted(data, *, label: str | None = None, digits: int = 3,
              missing: str = MISSING) -> pd.DataFrame:
    """The tidy table with every cell as display text (all columns of dtype object)."""
    df = tidy(data, label=label)
    out = pd.DataFrame(index=df.index)
    first = df.columns[0] if len(df.columns) else None
    # a long "label | value" table: the row label says what kind the value is
    row_kinds = None
    if first is not None and not pd.api.types.is_numeric_dtype(df[first]):
        row_kinds = df[first].map(lambda s: "pvalue" if is_pvalue_name(s) else
                                  ("count" if is_count_name(s) else None))
        if not row_kinds.notna().any():
            row_kinds = None
    for c in df.columns:
        kind = _column_kind(c, df[c])
        col = df[c]
        if row_kinds is not None and c != first and kind == "number" and _is_numeric(col):
            out[c] = [format_number(v, digits=digits, kind=rk or "number", missing=missing)
                      for v, rk in zip(col, row_kinds)]
        else:
            out[c] = [format_number(v, digits=digits, kind=kind, missing=missing) for v in col]
    return out


def _is_numeric(col: pd.Series) -> bool:
    """Numbers (blanks allowed), not booleans: also an object column of mixed ints/floats."""
    if pd.api.types.is_bool_dtype(col):
        return False
    if pd.api.types.is_numeric_dtype(col):
        return True
    v = col.dropna()
    return len(v) > 0 and all(isinstance(x, (int, float, np.integer, np.floating))
                              and not isinstance(x, (bool, np.bool_)) for x in v)


def _numeric_columns(df: pd.DataFrame) -> set:
    t = tidy(df)
    return {c for c in t.columns if _is_numeric(t[c])}


# -- renderers -----------------------------------------------------------------------------------
def to_text(data, *, label: str | None = None, digits: int = 3, title: str | None = None,
            indent: int = 0, missing: str = MISSING) -> str:
    """Plain aligned text for the console: numbers right-aligned, text left-aligned."""
    f = formatted(data, label=label, digits=digits, missing=missing)
    num = _numeric_columns(data if not isinstance(data, pd.Series) else data.to_frame(
        data.name if data.name is not None else "estimate"))
    cols = list(f.columns)
    widths = [max([len(str(c))] + [len(v) for v in f[c]]) for c in cols]

    def cell(text, c, w):
        return text.rjust(w) if c in num else text.ljust(w)

    pad = " " * indent
    lines = []
    if title:
        lines.append(pad + title)
    lines.append(pad + "  ".join(cell(str(c), c, w) for c, w in zip(cols, widths)).rstrip())
    lines.append(pad + "  ".join("-" * w for w in widths))
    for i in range(len(f)):
        lines.append(pad + "  ".join(cell(f[c].iat[i], c, w)
                                     for c, w in zip(cols, widths)).rstrip())
    return "\n".join(lines)


def to_markdown(data, *, label: str | None = None, digits: int = 3,
                missing: str = MISSING) -> str:
    """A GitHub-flavoured Markdown table (numeric columns right-aligned)."""
    f = formatted(data, label=label, digits=digits, missing=missing)
    num = _numeric_columns(data if not isinstance(data, pd.Series) else data.to_frame(
        data.name if data.name is not None else "estimate"))

    def esc(s):    # no table break, no raw HTML tag (names come from users' files)
        s = str(s).replace("|", "\\|").replace("\n", " ").replace("\r", " ")
        return re.sub(r"<(?=[A-Za-z/!?])", "&lt;", s)

    cols = list(f.columns)
    lines = ["| " + " | ".join(esc(c) for c in cols) + " |",
             "|" + "|".join("---:" if c in num else "---" for c in cols) + "|"]
    for i in range(len(f)):
        lines.append("| " + " | ".join(esc(f[c].iat[i]) for c in cols) + " |")
    return "\n".join(lines)


def to_html(data, *, label: str | None = None, digits: int = 3, missing: str = MISSING,
            classes: str = "tbl") -> str:
    """An HTML ``<table>`` (escaped; numeric cells carry class ``num``)."""
    f = formatted(data, label=label, digits=digits, missing=missing)
    num = _numeric_columns(data if not isinstance(data, pd.Series) else data.to_frame(
        data.name if data.name is not None else "estimate"))
    cols = list(f.columns)
    e = _html.escape
    attr = {c: ' class="num"' if c in num else "" for c in cols}
    head = "".join(f"<th{attr[c]}>{e(str(c))}</th>" for c in cols)
    rows = []
    for i in range(len(f)):
        rows.append("<tr>" + "".join(
            f"<td{attr[c]}>{e(f[c].iat[i])}</td>" for c in cols)
            + "</tr>")
    return (f'<table class="{e(classes)}"><thead><tr>{head}</tr></thead><tbody>'
            + "".join(rows) + "</tbody></table>")


def to_csv(data, *, label: str | None = None) -> str:
    """CSV text: labels as columns, full precision, missing figures as empty cells."""
    return tidy(data, label=label).to_csv(index=False, na_rep="")
