"""Reading survey data and checking it against a model before anything is fitted.

One way through the data: :func:`load_data` reads a file (or takes a DataFrame) without changing
it; :func:`prepare_data` selects the model's variables, checks them and returns the numeric
matrix that is fitted, together with a :class:`DataReport` that says how many rows were used and
why any were not.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import DataError
from .resources import data_path

DEFAULT_DATA = "paper_synthetic.csv"


def load_data(path: str | Path | pd.DataFrame | None = None) -> pd.DataFrame:
    """Read a data set.

    Parameters
    ----------
    path : str, Path, DataFrame or None
        A CSV file, or a DataFrame (returned as a copy).  ``None`` gives the bundled synthetic
        study data (``paper_synthetic.csv``).
    """
    if isinstance(path, pd.DataFrame):
        return path.copy()
    if path is None:
        path = data_path(DEFAULT_DATA)
    p = Path(path)
    if not p.is_file():
        raise DataError(f"{p}: no such data file")
    suffix = p.suffix.lower()
    try:
        if suffix in (".csv", ".txt", ""):
            return pd.read_csv(p, comment="#")
        if suffix == ".tsv":
            return pd.read_csv(p, sep="\t", comment="#")
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as exc:
        raise DataError(f"{p}: cannot be read as a table ({str(exc).splitlines()[0]})") from None
    raise DataError(f"{p}: unsupported file type '{suffix}' (use .csv)")


@dataclass(frozen=True)
class DataReport:
    """What happened to the rows and columns on the way to the fit."""

    source: str
    n_rows: int
    n_used: int
    dropped: dict = field(default_factory=dict)  # reason -> number of rows
    notes: tuple = ()

    def to_dict(self) -> dict:
        return {"source": self.source, "n_rows": self.n_rows, "n_used": self.n_used,
                "dropped": dict(self.dropped), "notes": list(self.notes)}


def prepare_data(df: pd.DataFrame, variables: list[str], *, source: str = "<data>",
                 missing: str = "listwise") -> tuple[pd.DataFrame, DataReport]:
    """Select and check the model's variables.

    Raises :class:`DataError` for a missing column, a non-numeric answer, a constant item or too
    few rows.  With ``missing="listwise"`` rows with any missing answer are dropped (and counted in
    the report).
    """
    absent = [v for v in variables if v not in df.columns]
    if absent:
        raise DataError(f"{source}: column(s) {', '.join(absent)} used by the model are not in the "
                        f"data (columns present: {', '.join(map(str, df.columns[:12]))}"
                        f"{' ...' if len(df.columns) > 12 else ''})")
    sub = df[variables]
    for v in variables:
        col = sub[v]
        if not (pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col)):
            coerced = pd.to_numeric(col, errors="coerce")
            bad = col[coerced.isna() & col.notna()]
            if len(bad):
                row = bad.index[0]
                raise DataError(f"{source}: column '{v}' has a non-numeric value {bad.iloc[0]!r} "
                                f"(row {row}); recode it or mark it missing")
    sub = sub.apply(pd.to_numeric, errors="coerce").astype(float)
    n_rows = len(sub)
    dropped = {}
    if missing == "listwise":
        keep = sub.notna().all(axis=1)
        if (~keep).any():
            dropped["missing answer (listwise deletion)"] = int((~keep).sum())
        sub = sub[keep]
    else:
        raise DataError(f"missing='{missing}' is not supported here; use 'listwise'")
    if len(sub) < 2:
        raise DataError(f"{source}: only {len(sub)} usable row(s); a model needs far more")
    sd = sub.std(ddof=0)
    const = [v for v in variables if not np.isfinite(sd[v]) or sd[v] == 0]
    if const:
        raise DataError(f"{source}: column(s) {', '.join(const)} have the same value in every "
                        f"used row; a constant item carries no information: drop it from the model")
    report = DataReport(source=source, n_rows=n_rows, n_used=len(sub), dropped=dropped)
    return sub, report
