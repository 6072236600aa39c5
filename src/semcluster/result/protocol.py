"""What every semcluster result can do: print, tabulate, serialise, travel.

Every result class (:class:`~semcluster.result.result.SEMResult`, ``BootstrapResult``,
``PowerResult``, ``MeasurementReport``, ``InvarianceResult``, ``ModelComparison``, the
regression-vs-SEM ``Comparison`` and ``RegressionResult``) derives from :class:`ResultProtocol`
and so has

``summary() -> str``   a plain-text report,
``to_frame()``         its main tidy table (a DataFrame),
``to_dict()``          a JSON-ready dict meant for reading (NaN as ``None``),
``to_json()``          ``to_dict()`` as JSON text, plus, under the key ``"semcluster"``, the
                       complete state, so that
``from_json(text)``    gives back an equal object (``==`` compares every table and number).

Results are also picklable, deep-copyable and storable with ``joblib.dump``: what a worker
process or a cache needs.

The complete state is written in a small JSON dialect: plain JSON for strings, finite numbers,
lists and string-keyed dicts; ``{"__sc__": kind, ...}`` objects for what JSON lacks (non-finite
floats, tuples, numpy arrays, pandas objects with their dtypes, semcluster dataclasses).
Floats are written with ``repr`` precision, so a round trip is exact.
"""
from __future__ import annotations

import dataclasses
import importlib
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import DataError, InputTypeError

#: Version of the state layout written by :meth:`ResultProtocol.to_json`.
FORMAT = 1
_TAG = "__sc__"


class ReadOnlyDict(dict):
    """A dict that refuses changes (a picklable stand-in for ``types.MappingProxyType``)."""

    def _refuse(self, *args, **kwargs):
        raise TypeError("this mapping is read-only (results are immutable)")

    __setitem__ = __delitem__ = clear = pop = popitem = setdefault = update = _refuse
    __ior__ = _refuse

    def __reduce__(self):
        return (type(self), (dict(self),))

    def __copy__(self):
        return self

    def __deepcopy__(self, memo):
        import copy

        return type(self)(copy.deepcopy(dict(self), memo))

    def __repr__(self):
        return f"ReadOnlyDict({dict.__repr__(self)})"


# ---------------------------------------------------------------------------------------------
# the codec
# ---------------------------------------------------------------------------------------------
def _float(v: float):
    v = float(v)
    if math.isfinite(v):
        return v
    return {_TAG: "float", "v": "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf")}


def _dtype(dtype) -> object:
    if isinstance(dtype, pd.StringDtype):
        return {"string": dtype.storage, "na": "nan" if dtype.na_value is not pd.NA else "NA"}
    return str(dtype)


def _make_dtype(code):
    if isinstance(code, dict):
        return pd.StringDtype(code["string"], na_value=np.nan if code["na"] == "nan" else pd.NA)
    return code


def _numbers(arr: np.ndarray) -> list:
    """Numeric values as a JSON list (fast path: only non-finite floats need a tag)."""
    out = arr.tolist()
    if arr.dtype.kind == "f" and not np.isfinite(arr).all():
        out = [v if math.isfinite(v) else _float(v) for v in out]
    return out


def _column(values, dtype) -> dict:
    if isinstance(dtype, np.dtype) and dtype.kind in "fiub":
        return {"dtype": str(dtype), "values": _numbers(np.asarray(values))}
    return {"dtype": _dtype(dtype), "values": [encode(v) for v in values]}


def _numpy_kind(dtype) -> str:
    try:
        return np.dtype(dtype).kind if isinstance(dtype, str) else ""
    except TypeError:
        return ""


def _make_column(enc: dict, index=None, name=None) -> pd.Series:
    dtype = _make_dtype(enc["dtype"])
    if _numpy_kind(dtype) in ("f", "i", "u", "b"):
        values = [decode(v) if isinstance(v, dict) else v for v in enc["values"]]
        return pd.Series(np.array(values, dtype=dtype), index=index, name=name)
    values = [decode(v) for v in enc["values"]]
    if dtype == "object":
        return pd.Series(values, index=index, name=name, dtype=object)
    return pd.Series(values, index=index, name=name).astype(dtype)


def _columns(df: pd.DataFrame) -> list:
    dtypes = list(df.dtypes)
    if dtypes and all(d == dtypes[0] for d in dtypes) and isinstance(dtypes[0], np.dtype) \
            and dtypes[0].kind in "fiub":
        block = df.to_numpy()          # one numeric block: no per-column Series
        return [{"dtype": str(dtypes[0]), "values": _numbers(block[:, j])}
                for j in range(block.shape[1])]
    return [_column(df.iloc[:, j], dtypes[j]) for j in range(df.shape[1])]


def _index(ix: pd.Index) -> dict:
    if isinstance(ix, pd.RangeIndex):
        return {_TAG: "range", "start": ix.start, "stop": ix.stop, "step": ix.step,
                "name": encode(ix.name)}
    if isinstance(ix, pd.MultiIndex):
        return {_TAG: "multiindex", "tuples": [encode(tuple(t)) for t in ix],
                "names": [encode(n) for n in ix.names]}
    return {_TAG: "index", "name": encode(ix.name), **_column(ix, ix.dtype)}


def _make_index(enc: dict) -> pd.Index:
    kind = enc[_TAG]
    if kind == "range":
        return pd.RangeIndex(enc["start"], enc["stop"], enc["step"], name=decode(enc["name"]))
    if kind == "multiindex":
        tuples = [decode(t) for t in enc["tuples"]]
        return pd.MultiIndex.from_tuples(tuples, names=[decode(n) for n in enc["names"]])
    col = _make_column(enc)
    return pd.Index(col.array if enc["dtype"] != "object" else list(col), dtype=col.dtype,
                    name=decode(enc["name"]))


def encode(obj):
    """A JSON-ready encoding of ``obj`` that :func:`decode` turns back into an equal object."""
    if obj is None or isinstance(obj, (bool, str)):
        return obj
    if isinstance(obj, (np.bool_,)):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        return _float(obj)
    if obj is pd.NA:
        return {_TAG: "NA"}
    if isinstance(obj, tuple):
        return {_TAG: "tuple", "items": [encode(v) for v in obj]}
    if isinstance(obj, list):
        return [encode(v) for v in obj]
    if isinstance(obj, dict):
        if all(isinstance(k, str) for k in obj) and _TAG not in obj:
            out = {k: encode(v) for k, v in obj.items()}
            if isinstance(obj, ReadOnlyDict):
                return {_TAG: "readonly", "items": out}
            return out
        return {_TAG: "dict", "items": [[encode(k), encode(v)] for k, v in obj.items()],
                "readonly": isinstance(obj, ReadOnlyDict)}
    if isinstance(obj, np.ndarray):
        flat = obj.ravel()
        data = _numbers(flat) if obj.dtype.kind in "fiub" else [encode(v) for v in
                                                                   flat.tolist()]
        return {_TAG: "ndarray", "dtype": str(obj.dtype), "shape": list(obj.shape),
                "data": data}
    if isinstance(obj, pd.DataFrame):
        return {_TAG: "frame", "index": _index(obj.index), "columns": _index(obj.columns),
                "data": _columns(obj),
                "attrs": encode(dict(obj.attrs))}
    if isinstance(obj, pd.Series):
        return {_TAG: "series", "index": _index(obj.index), "name": encode(obj.name),
                "attrs": encode(dict(obj.attrs)), **_column(obj, obj.dtype)}
    if isinstance(obj, pd.Index):
        return _index(obj)
    if isinstance(obj, Path):
        return {_TAG: "path", "v": str(obj)}
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        cls = type(obj)
        if not cls.__module__.startswith("semcluster."):
            raise InputTypeError(f"cannot serialise {cls.__qualname__}: not a semcluster class")
        return {_TAG: "dataclass", "class": f"{cls.__module__}:{cls.__qualname__}",
                "fields": {f.name: encode(getattr(obj, f.name))
                           for f in dataclasses.fields(obj)}}
    raise InputTypeError(f"cannot serialise a {type(obj).__module__}.{type(obj).__qualname__} "
                         f"in a result")


def decode(enc):
    """Inverse of :func:`encode`."""
    if isinstance(enc, list):
        return [decode(v) for v in enc]
    if not isinstance(enc, dict):
        return enc
    kind = enc.get(_TAG)
    if kind is None:
        return {k: decode(v) for k, v in enc.items()}
    if kind == "float":
        return float(enc["v"])
    if kind == "NA":
        return pd.NA
    if kind == "tuple":
        return tuple(decode(v) for v in enc["items"])
    if kind == "readonly":
        return ReadOnlyDict({k: decode(v) for k, v in enc["items"].items()})
    if kind == "dict":
        d = {decode(k): decode(v) for k, v in enc["items"]}
        return ReadOnlyDict(d) if enc.get("readonly") else d
    if kind == "ndarray":
        data = [decode(v) for v in enc["data"]]
        return np.array(data, dtype=enc["dtype"]).reshape(enc["shape"])
    if kind == "frame":
        index = _make_index(enc["index"])
        columns = _make_index(enc["columns"])
        cols = [_make_column(c, index=index) for c in enc["data"]]
        df = pd.DataFrame(dict(enumerate(cols)), index=index)
        df.columns = columns
        df.attrs.update(decode(enc["attrs"]))
        return df
    if kind == "series":
        s = _make_column(enc, index=_make_index(enc["index"]), name=decode(enc["name"]))
        s.attrs.update(decode(enc["attrs"]))
        return s
    if kind in ("range", "multiindex", "index"):
        return _make_index(enc)
    if kind == "path":
        return Path(enc["v"])
    if kind == "dataclass":
        module, _, qualname = enc["class"].partition(":")
        if not module.startswith("semcluster."):
            raise DataError(f"refusing to load class {enc['class']}: not a semcluster class")
        try:
            cls = importlib.import_module(module)
            for part in qualname.split("."):
                cls = getattr(cls, part)
        except (ImportError, AttributeError):
            # e.g. multigroup.GroupResult, which SEMResult replaced: refit to get the result
            raise DataError(f"this JSON holds a {qualname}, which this semcluster no longer "
                            f"has; fit the model again to get its result") from None
        fields = {k: decode(v) for k, v in enc["fields"].items()}
        init = {f.name for f in dataclasses.fields(cls) if f.init}
        obj = cls(**{k: v for k, v in fields.items() if k in init})
        for k, v in fields.items():
            if k not in init:
                object.__setattr__(obj, k, v)
        return obj
    raise DataError(f"unknown object kind '{kind}' in a semcluster result JSON")


def records(df: pd.DataFrame) -> list:
    """Rows of ``df`` as JSON-ready dicts (NaN and missing values as ``None``)."""
    return [{str(k): clean(v) for k, v in row.items()} for row in df.to_dict(orient="records")]


def clean(v):
    """A JSON-ready scalar or container: NaN/inf -> None, numpy -> python, frames -> records."""
    if v is None or v is pd.NA:
        return None
    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    if isinstance(v, (int, np.integer)):
        return int(v)
    if isinstance(v, (float, np.floating)):
        v = float(v)
        return v if math.isfinite(v) else None
    if isinstance(v, pd.DataFrame):
        return records(v.reset_index() if not isinstance(v.index, pd.RangeIndex) else v)
    if isinstance(v, pd.Series):
        return {str(k): clean(x) for k, x in v.items()}
    if isinstance(v, np.ndarray):
        return [clean(x) for x in v.tolist()]
    if isinstance(v, dict):
        return {str(k): clean(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [clean(x) for x in v]
    if isinstance(v, Path):
        return str(v)
    return v if isinstance(v, str) else str(v)


# ---------------------------------------------------------------------------------------------
# the protocol
# ---------------------------------------------------------------------------------------------
class ResultProtocol:
    """Mixin of every semcluster result (a frozen dataclass); see the module docstring.

    Subclasses override :meth:`summary` and :meth:`to_frame`, and may override
    :meth:`to_dict`; serialisation, equality and pickling come from here.
    """

    __slots__ = ()

    # -- what a subclass provides -------------------------------------------------------------
    def summary(self) -> str:
        """A plain-text report of the result."""
        return f"{type(self).__name__}\n" + self.to_frame().to_string() + "\n"

    def to_frame(self) -> pd.DataFrame:
        """The result's main tidy table (a copy: changing it does not change the result)."""
        raise NotImplementedError

    def to_dict(self) -> dict:
        """JSON-ready dict for reading: tables as lists of records, NaN as ``None``."""
        return {f.name: clean(getattr(self, f.name)) for f in dataclasses.fields(self)}

    # -- serialisation ------------------------------------------------------------------------
    def _state(self) -> dict:
        return encode(self)

    def to_json(self, **kw) -> str:
        """JSON text of :meth:`to_dict`, with the complete state under ``"semcluster"``.

        Parameters
        ----------
        **kw
            Passed to :func:`json.dumps` (default ``indent=2``).

        Returns
        -------
        str
            Text that :meth:`from_json` turns back into an equal result.
        """
        from .. import __version__

        doc = dict(self.to_dict())
        doc["semcluster"] = {"type": type(self).__name__, "format": FORMAT,
                             "version": __version__, "state": self._state()}
        return json.dumps(doc, indent=kw.pop("indent", 2), ensure_ascii=False,
                          allow_nan=False, **kw)

    @classmethod
    def from_json(cls, text):
        """Rebuild a result from :meth:`to_json`'s text (or from a file holding it).

        Parameters
        ----------
        text : str, bytes or Path
            The JSON text, or the path of a file that holds it.

        Returns
        -------
        The result, equal (``==``) to the one written.

        Raises
        ------
        DataError
            Text that is not a semcluster result of this class.
        """
        source = "<string>"
        if isinstance(text, Path) or (isinstance(text, str) and not text.lstrip().startswith("{")
                                      and len(text) < 4096 and Path(text).is_file()):
            source = str(text)
            text = Path(text).read_text(encoding="utf-8")
        if isinstance(text, bytes):
            text = text.decode("utf-8")
        if not isinstance(text, str):
            raise InputTypeError(f"from_json needs JSON text or a file path, not "
                                 f"{type(text).__name__}")
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as exc:
            raise DataError(f"{source}:{exc.lineno}:{exc.colno}: not JSON ({exc.msg})") from None
        meta = doc.get("semcluster") if isinstance(doc, dict) else None
        if not isinstance(meta, dict) or "state" not in meta:
            raise DataError(f"{source}: no semcluster result state in this JSON (write it with "
                            f"the result's to_json())")
        if meta.get("format", FORMAT) > FORMAT:
            raise DataError(f"{source}: written by a newer semcluster (state format "
                            f"{meta['format']}); upgrade semcluster to read it")
        obj = decode(meta["state"])
        if not isinstance(obj, cls):
            raise DataError(f"{source}: holds a {type(obj).__name__}, not a {cls.__name__}")
        return obj

    # -- equality -----------------------------------------------------------------------------
    def __eq__(self, other):
        if type(other) is not type(self):
            return NotImplemented
        return self is other or self._state() == other._state()

    def __ne__(self, other):
        eq = self.__eq__(other)
        return eq if eq is NotImplemented else not eq

    __hash__ = None


def load_result(text):
    """Rebuild any semcluster result from the JSON its ``to_json()`` wrote.

    Parameters
    ----------
    text : str, bytes or Path
        JSON text or the path of a file holding it.
    """
    return ResultProtocol.from_json(text)
