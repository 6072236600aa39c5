"""Reading lavaan model syntax into a parameter table.

The parser works in stages (text → statements → terms → parameter table) and every error names
the file, line and column.  Where lavaan and semopy read the same text differently, lavaan's
meaning is the one implemented here (e.g. ``NA*x1`` frees a loading); the parameter table is then
rendered to semopy syntax in which every parameter is spelled out, so that semopy's own defaults
never change the model.

The parameter table is the one data structure (as lavaan's): ``ModelSpec.partable`` holds the
covariance-structure rows, the user's intercepts (``y ~ 1``: op ``"~1"``, rhs ``""``), the
``a == b`` rows and the ``:=`` rows; a ``c(...)`` modifier is the row's ``group_values``.
:func:`group_table` makes the table of G groups (one block per group, lavaan's defaults per
group, ``group.equal``/``group.partial``, labels and ``==`` resolved into the ``free``
numbers) from which the multi-group and mean-structure fits of :mod:`semcluster.estimation.groups`
are built.

Supported (lavaan 0.6 semantics):

========  ==============================  ===========================================
operator  meaning                          example
========  ==============================  ===========================================
``=~``    is measured by                   ``CA =~ ca1 + ca2 + 0.8*ca3 + NA*ca4``
``~``     is regressed on                  ``IN ~ h1*CA + h2*PA``
``~~``    (co)variance                     ``ca1 ~~ ca2``, ``CA ~~ 1*CA``
``~ 1``   intercept or latent mean         ``x1 ~ 1``, ``x1 ~ i1*1``, ``f ~ 0*1``
``:=``    defined parameter                ``ind := a*b``
``==``    equality of two labels           ``a == b``, ``a == b; c == b`` (all three)
========  ==============================  ===========================================

Two-level models: ``level: 1`` (or ``within``) and ``level: 2`` (or ``between``) lines open
lavaan's level blocks; each level is read as a model of its own (defaults per level) and the
parameter table stacks them with a ``level`` (and ``block``) column (``ModelSpec.levels``;
fitted by :mod:`semcluster.estimation.twolevel`).

Modifiers before ``*``: a number (fixed value), ``NA`` (free), a label (``a``), ``label("a")``,
``equal("a")``, ``start(0.5)`` or ``0.5?`` (start value), ``c(a1, a2)``/``c(1, NA)`` (one label,
value or NA per group); several may be chained
(``a*start(0.5)*x1``).  Comments start with ``#`` or ``!``.  A statement may run over several
lines: a line without an operator, or a line after one ending in ``+`` or ``*``, continues the
statement before it.  Statements may also be separated by ``;``.

Defaults added as lavaan's ``sem()``/``cfa()`` add them: the first loading of each factor fixed
to 1 (unless that first term has a fixed value or is freed with ``NA``),
free (residual) variances of every variable that is not an exogenous observed covariate,
covariances among exogenous latent variables, and covariances among the residuals of pure
outcome variables.  Exogenous observed covariates are treated as fixed (``fixed.x = TRUE``).
"""
from __future__ import annotations

import ast
import math
import re
from dataclasses import dataclass
from functools import cached_property, lru_cache
from itertools import combinations
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import InputTypeError, ModelSpecError, ModelSyntaxError, OptionError
from ..numerics import n_moments

# Operators, longest first so that "=~" is not read as "=" or "~".
OPERATORS = ("=~", "~~", "~*~", "<~", ":=", "==", "~", "<", ">", "|")
SUPPORTED_OPERATORS = ("=~", "~", "~~", ":=", "==")
#: The rows of the covariance structure (RAM's A and P matrices).
STRUCTURE_OPS = ("=~", "~", "~~")
UNSUPPORTED = {
    "~*~": "scale factors (~*~) are for categorical models, which this model syntax does not take",
    "<~": "formative indicators (<~) are not supported; write the composite as a latent "
          "variable with reflective indicators, or compute it as an observed score",
    "<": "inequality constraints (<) are not supported (semopy cannot report correct "
         "statistics for bounded parameters)",
    ">": "inequality constraints (>) are not supported (semopy cannot report correct "
         "statistics for bounded parameters)",
    "|": "thresholds (|) are not written in the model; declare ordinal items with "
         "estimator='WLSMV' instead",
}
NAME_RE = re.compile(r"[A-Za-z_.][A-Za-z0-9_.]*\Z")
NUMBER_RE = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\Z")
RESERVED = {"NA"}
# A block line of lavaan's syntax: 'level: 1', 'level: within', 'group: a' (not ':=').
BLOCK_RE = re.compile(r"(level|group|class)\s*:(?!=)\s*(.*)\Z", re.IGNORECASE)
#: The level names lavaan's two-level syntax takes, and the level number each means.
LEVEL_NAMES = {"1": 1, "within": 1, "2": 2, "between": 2}
# Model files larger than this are refused before they are read: a model of 1,000 factors with
# 5 indicators each is about 60 KB, so a bigger file is almost surely not a model (a data file
# given as MODEL, a log) and reading it statement by statement would take minutes.
MAX_MODEL_BYTES = 1_000_000


def _check_size(size: int, source: str) -> None:
    if size > MAX_MODEL_BYTES:
        raise ModelSyntaxError(
            f"the model is {size / 1e6:.1f} MB; models over {MAX_MODEL_BYTES // 1_000_000} MB "
            f"are refused (a 1000-factor model is about 60 KB): is this a model file?",
            source)


# --------------------------------------------------------------------------------------------
# stage 1: text -> statements (with positions)
# --------------------------------------------------------------------------------------------
@dataclass
class _Chunk:
    """A piece of source text with the (line, column) of every character."""

    text: str
    pos: list  # list of (line, col), one per character

    def __add__(self, other: "_Chunk") -> "_Chunk":
        return _Chunk(self.text + other.text, self.pos + other.pos)

    def at(self, i: int) -> tuple[int, int]:
        if not self.pos:
            return (1, 1)
        i = min(max(i, 0), len(self.pos) - 1)
        return self.pos[i]

    def strip(self) -> "_Chunk":
        s = self.text
        a = len(s) - len(s.lstrip())
        b = len(s.rstrip())
        return _Chunk(s[a:b], self.pos[a:b])

    def slice(self, a: int, b: int) -> "_Chunk":
        return _Chunk(self.text[a:b], self.pos[a:b])


def _strip_comment(line: str) -> str:
    """Remove a # or ! comment, leaving quoted text alone."""
    quote = None
    for i, ch in enumerate(line):
        if quote:
            if ch == quote:
                quote = None
        elif ch in "\"'":
            quote = ch
        elif ch in "#!":
            return line[:i]
    return line


def _top_level(s: str):
    """Positions and characters outside parentheses and quotes."""
    depth = 0
    quote = None
    for i, ch in enumerate(s):
        if quote:
            if ch == quote:
                quote = None
        elif ch in "\"'":
            quote = ch
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif depth == 0:
            yield i, ch


def _find_operator(s: str) -> tuple[int, str] | None:
    """Position and text of the first operator outside parentheses and quotes."""
    for i, _ in _top_level(s):
        for op in OPERATORS:
            if s.startswith(op, i):
                return i, op
    return None


def _join(chunks: list[_Chunk]) -> _Chunk:
    """One statement from its continuation lines (joined once: no quadratic re-copying)."""
    if len(chunks) == 1:
        return chunks[0]
    text, pos = [], []
    for k, c in enumerate(chunks):
        if k:
            text.append(" ")
            pos.append(c.at(0))
        text.append(c.text)
        pos.extend(c.pos)
    return _Chunk("".join(text), pos)


def _statements(text: str, source: str):
    """Statements of ``text``, yielded one by one as soon as each is complete.

    A generator, so that an error on line 4 of a long file is reported after reading line 4
    (plus the continuation lines of its statement), not after splitting the whole file.
    """
    pending: list[_Chunk] = []
    for ln, raw in enumerate(text.splitlines(), start=1):
        line = _strip_comment(raw)
        # split on ';' outside quotes
        start = 0
        quote = None
        parts = []
        for i, ch in enumerate(line):
            if quote:
                if ch == quote:
                    quote = None
            elif ch in "\"'":
                quote = ch
            elif ch == ";":
                parts.append((start, line[start:i]))
                start = i + 1
        parts.append((start, line[start:]))
        for col0, part in parts:
            stripped = part.strip()
            if not stripped:
                continue
            lead = len(part) - len(part.lstrip())
            first = col0 + lead + 1
            chunk = _Chunk(stripped, [(ln, first + k) for k in range(len(stripped))])
            if BLOCK_RE.match(chunk.text):
                # 'level: 1' / 'group: a' opens a block: it ends the statement before it
                if pending:
                    yield _join(pending)
                    pending = []
                yield chunk
                continue
            has_op = _find_operator(chunk.text) is not None
            continues = bool(pending) and (
                not has_op
                or pending[-1].text.endswith(("+", "*"))
                or chunk.text.startswith("+"))
            if continues:
                pending.append(chunk)
            elif not has_op:
                raise ModelSyntaxError(f"'{chunk.text}' is not a statement: no operator "
                                       f"(=~, ~, ~~, :=) found", source, ln, first)
            else:
                if pending:
                    yield _join(pending)
                pending = [chunk]
    if pending:
        yield _join(pending)


# --------------------------------------------------------------------------------------------
# stage 2: statements -> terms
# --------------------------------------------------------------------------------------------
@dataclass
class Term:
    """One right-hand-side term with its modifiers."""

    var: str
    fixed: float | None = None
    free: bool = False          # explicitly freed with NA
    label: str | None = None
    start: float | None = None
    line: int = 0
    column: int = 0
    groups: tuple | None = None  # c(...): one (fixed, label, na) per group


def _group_element(text: str, mod: "_Chunk", source: str) -> tuple:
    """One element of a c(...) modifier: (fixed value, label, NA-freed)."""
    t = text.strip()
    if t == "NA":
        return (None, None, True)
    val = _parse_number(t)
    if val is not None:
        if not math.isfinite(val):
            _err(f"fixed value '{t}' in c(...) is not a finite number", mod, source)
        return (val, None, False)
    name = t.strip("\"'")
    if NAME_RE.match(name) and name not in RESERVED:
        return (None, name, False)
    _err(f"cannot read '{t}' in c(...): each element is a number, NA or a label", mod, source)


def _split_top(chunk: _Chunk, sep: str) -> list[_Chunk]:
    """Split on a separator character outside parentheses/quotes."""
    out = []
    start = 0
    for i, ch in _top_level(chunk.text):
        if ch == sep:
            out.append(chunk.slice(start, i))
            start = i + 1
    out.append(chunk.slice(start, len(chunk.text)))
    return out


def _err(msg: str, chunk: _Chunk, source: str, i: int = 0):
    line, col = chunk.at(i)
    raise ModelSyntaxError(msg, source, line, col)


def _parse_number(s: str) -> float | None:
    s = s.strip()
    if NUMBER_RE.match(s):
        return float(s)
    return None


def _apply_modifier(term: Term, mod: _Chunk, source: str) -> None:
    s = mod.text.strip()
    if not s:
        _err("empty modifier before '*'", mod, source)
    if s.endswith("?"):
        val = _parse_number(s[:-1])
        if val is None or not math.isfinite(val):
            _err(f"start value '{s}' is not a finite number", mod, source)
        term.start = val
        return
    val = _parse_number(s)
    if val is not None:
        if not math.isfinite(val):
            _err(f"fixed value '{s}' is too large to be a number (overflows to infinity)",
                 mod, source)
        term.fixed = val
        return
    if s == "NA":
        term.free = True
        return
    m = re.fullmatch(r"(start|label|equal|c)\s*\((.*)\)", s, re.S)
    if m:
        fn, arg = m.group(1), m.group(2).strip()
        if fn == "start":
            val = _parse_number(arg)
            if val is None or not math.isfinite(val):
                _err(f"start() needs a finite number, got '{arg}'", mod, source)
            term.start = val
            return
        if fn in ("label", "equal"):
            name = arg.strip("\"'")
            if not NAME_RE.match(name):
                _err(f"{fn}() needs a quoted name, got '{arg}'", mod, source)
            term.label = name
            return
        if not arg:
            _err("c() is empty: give one value or label per group", mod, source)
        # lavaan: one element per group (fixed value, NA or label); checked against the
        # number of groups when the model is fitted with group=
        term.groups = tuple(_group_element(e, mod, source) for e in arg.split(","))
        return
    if re.fullmatch(r"[A-Za-z_]\w*\s*\(.*\)", s, re.S):
        _err(f"unknown modifier function '{s.split('(')[0]}' (use start(), label(), equal())",
             mod, source)
    if NAME_RE.match(s):
        if s in RESERVED:
            _err(f"'{s}' cannot be used as a label", mod, source)
        term.label = s
        return
    _err(f"cannot read modifier '{s}' (expected a number, NA, a label or start(...))",
         mod, source)


def _parse_terms(rhs: _Chunk, source: str, op: str) -> list[Term]:
    terms = []
    parts = _split_top(rhs, "+")
    offset = 0
    for k, part in enumerate(parts):
        p = part.strip()
        if not p.text:
            # point at the '+' that has nothing before it, or at the trailing '+'
            at = offset + len(part.text) if k < len(parts) - 1 else offset - 1
            _err("missing term: two '+' in a row, or '+' at the start or end of the statement",
                 rhs, source, at)
        offset += len(part.text) + 1
        factors = _split_top(p, "*")
        last = factors[-1]
        q = last.text.find("?")
        if q >= 0:                      # lavaan's start-value shorthand: 0.5?x
            factors = factors[:-1] + [last.slice(0, q + 1), last.slice(q + 1, len(last.text))]
        var = factors[-1].strip()
        line, col = var.at(0) if var.pos else p.at(0)
        if not var.text:
            _err("a term ends in '*' without a variable name", p, source, len(p.text) - 1)
        if var.text == "1" and op == "~":
            term = Term(var="1", line=line, column=col)     # an intercept: lhs ~ 1
            for mod in factors[:-1]:
                _apply_modifier(term, mod, source)
            terms.append(term)
            continue
        if _parse_number(var.text) is not None:
            _err(f"'{var.text}' is a number where a variable name is expected "
                 f"(write the value as a modifier: {var.text}*x)", var, source)
        if not NAME_RE.match(var.text):
            gap = re.search(r"\s+", var.text)
            if gap:
                _err(f"unexpected '{var.text[gap.end():].split()[0]}' after '{var.text[:gap.start()]}'"
                     f": a missing '+' or operator?", var, source, gap.end())
            _err(f"'{var.text}' is not a valid variable name", var, source)
        term = Term(var=var.text, line=line, column=col)
        for mod in factors[:-1]:
            _apply_modifier(term, mod, source)
        if term.free and term.fixed is not None:
            _err("a term cannot be both fixed and NA (free)", p, source)
        terms.append(term)
    return terms


# --------------------------------------------------------------------------------------------
# stage 3: terms -> parameter table
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ModelSpec:
    """A parsed, checked model.

    Attributes
    ----------
    partable : DataFrame
        The model's one parameter table, one row per parameter or constraint (lavaan's
        columns ``id lhs op rhs user label free``, then ``fixed start line column na_freed
        group_values``): the covariance-structure rows (``=~ ~ ~~``, user rows then lavaan's
        defaults), the user's intercepts (op ``"~1"``, rhs ``""``), the ``a == b`` rows (op
        ``"=="``, lhs and rhs the labels) and the ``:=`` rows.  ``free`` is a 1-based
        parameter number (0 for fixed rows, ``==`` and ``:=``): rows sharing a label, or
        whose labels ``==`` ties, share it.  The ``=~ ~ ~~`` rows hold 1..``n_free``; the
        intercepts are numbered after them.  ``group_values`` is None, or for a ``c(...)``
        modifier one ``(fixed value, label, NA-freed)`` per group; ``fixed``/``na_freed`` then
        hold what all groups share.  A two-level model adds lavaan's ``block`` and ``level``
        columns.  The table of G groups is :func:`group_table`.
    name, source, text
        Model name (file stem), file path or ``"<string>"``, and the model text.
    """

    partable: pd.DataFrame
    name: str
    source: str
    text: str
    # a two-level model (lavaan's 'level: 1' / 'level: 2' blocks): one ModelSpec per level,
    # within first; the partable then stacks them with lavaan's ``level`` (and ``block``)
    # column and numbers the parameters on through both levels
    levels: tuple = ()
    # exogenous observed covariates whose variances, covariances (and means) are free
    # parameters, as lavaan's fixed.x = FALSE (see :func:`free_covariates`)
    free_x: tuple = ()

    @property
    def is_twolevel(self) -> bool:
        return bool(self.levels)

    @property
    def has_group_modifiers(self) -> bool:
        """Whether a row carries a ``c(...)`` modifier (one value per group)."""
        pt = self.partable
        return "group_values" in pt and any(v is not None for v in pt["group_values"])

    @property
    def has_means(self) -> bool:
        """Whether the model writes intercepts or means (``y ~ 1`` rows)."""
        return bool((self.partable.op == "~1").any())

    @cached_property
    def latent(self) -> list[str]:
        pt = self.partable
        return list(dict.fromkeys(pt.loc[pt.op == "=~", "lhs"]))

    @cached_property
    def observed(self) -> list[str]:
        """Observed variables, indicators first (lavaan's ordering: as they appear)."""
        pt = self.partable[self.partable.op.isin(["=~", "~", "~~"])]
        lat = set(self.latent)
        names: dict = {}
        for lhs, op, rhs in zip(pt.lhs.tolist(), pt.op.tolist(),
                                pt.rhs.tolist()):
            for v in ((rhs,) if op == "=~" else (lhs, rhs)):
                if v not in lat:
                    names.setdefault(v, None)
        # lavaan orders indicators before other observed variables
        ind = [v for v in dict.fromkeys(pt.loc[pt.op == "=~", "rhs"]) if v not in lat]
        ind_set = set(ind)
        return ind + [v for v in names if v not in ind_set]

    @cached_property
    def endogenous(self) -> list[str]:
        pt = self.partable
        lhs_reg = set(pt.loc[pt.op == "~", "lhs"])
        ind = set(pt.loc[pt.op == "=~", "rhs"])
        return [v for v in self.latent + self.observed if v in lhs_reg or v in ind]

    @cached_property
    def exogenous(self) -> list[str]:
        endo = set(self.endogenous)
        return [v for v in self.latent + self.observed if v not in endo]

    @cached_property
    def fixed_x(self) -> list[str]:
        """Exogenous observed covariates, held at their sample (co)variances (fixed.x); none
        when their moments are free (:func:`free_covariates`)."""
        if self.free_x:
            return []
        lat = set(self.latent)
        return [v for v in self.exogenous if v not in lat]

    @cached_property
    def n_free(self) -> int:
        """Parameters of the covariance structure (the ``=~ ~ ~~`` rows): what a
        single-group fit without a mean structure estimates."""
        pt = self.partable
        free = pt.loc[pt.op.isin(STRUCTURE_OPS), "free"]
        return int(free.max()) if len(free) else 0

    @cached_property
    def defined(self) -> pd.DataFrame:
        return self.partable[self.partable.op == ":="]

    def labels(self) -> list[str]:
        return [x for x in self.partable["label"] if x]

    def to_semopy(self) -> str:
        """The model as semopy syntax, every parameter spelled out.

        Free parameters carry the name ``_pN`` (N = parameter number), so semopy never adds its
        own marker loading and parameters sharing a label stay equal.
        """
        lines = []
        pt = self.partable
        for op in ("=~", "~", "~~"):
            rows = pt[pt.op == op]
            for lhs, grp in rows.groupby("lhs", sort=False):
                terms = []
                for _, r in grp.iterrows():
                    if r["free"] == 0:
                        mod = repr(float(r["fixed"]))
                    else:
                        mod = semopy_name(r["free"])
                    terms.append(f"{mod}*{r.rhs}")
                lines.append(f"{lhs} {op} {' + '.join(terms)}")
        return "\n".join(lines) + "\n"


def free_covariates(spec: ModelSpec) -> ModelSpec:
    """The model with its exogenous observed covariates as ordinary observed variables, as
    lavaan's ``fixed.x = FALSE`` (its default for GLS, WLS and ULS): their variances and
    covariances become free parameters (rows ``x1 ~~ x1``, ``x1 ~~ x2``, ... after the other
    model rows, numbered on from the last free parameter; a mean structure then frees their
    means too).  The covariates are remembered in ``free_x`` (for the baseline model, whose
    covariances among them stay free, as lavaan's).  A model without covariates is returned
    as it is."""
    from dataclasses import replace

    xs = list(spec.fixed_x)
    if not xs:
        return spec
    pt = spec.partable
    n = spec.n_free
    rows = []
    for k, a in enumerate(xs):
        for b in xs[k:]:
            n += 1
            rows.append(dict(lhs=a, op="~~", rhs=b, user=0, label="", free=n, fixed=np.nan,
                             start=np.nan, line=0, column=0, na_freed=False, group_values=None))
    # the new rows follow the (co)variance rows; the rows numbered after them (intercepts
    # ``~1``, numbered after the structural rows) move up by as many numbers
    structure = pt[pt.op.isin(STRUCTURE_OPS)]
    rest = pt[~pt.op.isin(STRUCTURE_OPS)].copy()
    shift = rest["free"] > spec.n_free
    rest.loc[shift, "free"] = rest.loc[shift, "free"] + len(rows)
    new = pd.concat([structure, pd.DataFrame(rows, columns=pt.columns), rest],
                    ignore_index=True)
    new["id"] = np.arange(1, len(new) + 1)
    new["free"] = new["free"].astype(int)
    return replace(spec, partable=new, free_x=tuple(xs))


def semopy_name(free: int) -> str:
    """Name under which semopy knows free parameter number ``free`` (shared labels share it)."""
    return f"_p{int(free)}"


def read_model(model: "str | Path | ModelSpec", *, name: str | None = None) -> ModelSpec:
    """Read a model: a bundled model name, a path to a lavaan-syntax file, or model text.

    Parameters
    ----------
    model : str, Path, ModelSpec or semopy.Model
        ``"h1_h5"`` (bundled), ``"models/my.lav"`` or the text itself (anything containing an
        operator such as ``=~`` or ``~`` is taken as text); a ``semopy.Model`` is read from its
        description text (lavaan's defaults apply, as for any text).

    Raises
    ------
    ModelSyntaxError
        With file, line and column, for text that cannot be read.
    ModelSpecError
        For a model that reads but cannot be identified as written.
    """
    if isinstance(model, ModelSpec):
        return model
    from .semopy_bridge import is_semopy_model, model_text

    if is_semopy_model(model):
        return parse_model(model_text(model), source="<semopy.Model>",
                           name=name or "semopy_model")
    if not isinstance(model, (str, Path)):
        raise InputTypeError(f"model must be a bundled model name, the path of a .lav file, "
                             f"lavaan model text or a ModelSpec, not {type(model).__name__}"
                             + (" (write the model as lavaan text)" if isinstance(
                                 model, (dict, list, tuple)) else ""))
    if isinstance(model, str) and not model.strip():
        raise ModelSyntaxError("the model is empty: no statements found", "<string>", 1, 1)
    from ..resources import model_path

    if isinstance(model, Path) or (isinstance(model, str) and "~" not in model
                                   and "\n" not in model and ":=" not in model):
        path = model_path(model)
        try:
            _check_size(Path(path).stat().st_size, str(path))
        except OSError:
            pass                # unreadable: read_text below gives the error
        try:
            text = Path(path).read_text(encoding="utf-8")
        except UnicodeDecodeError:
            raise ModelSyntaxError("the file is not UTF-8 text", str(path), 1, 1) from None
        return parse_model(text, source=str(path), name=name or Path(path).stem)
    return parse_model(str(model), source="<string>", name=name or "model")


def parse_model(text: str, *, source: str = "<string>", name: str = "model") -> ModelSpec:
    """Parse lavaan model text into a :class:`ModelSpec` (see the module docstring).

    A model is parsed once: the same text (with the same source and name) returns the same
    frozen :class:`ModelSpec` from a small cache, so a loop of ``fit(model, data)`` calls pays
    for the parse only on the first.
    """
    return _parse_cached(str(text), str(source), str(name))


@lru_cache(maxsize=64)
def _parse_cached(text: str, source: str, name: str) -> ModelSpec:
    return _parse(text, source=source, name=name)


def _parse(text: str, *, source: str = "<string>", name: str = "model") -> ModelSpec:
    if "\x00" in text:
        raise ModelSyntaxError("the model text contains a NUL byte (is it a binary file?)",
                               source, 1, 1)
    _check_size(len(text), source)
    rows: list[dict] = []
    means: list[dict] = []
    group_mods: list = []
    equalities: list[tuple] = []
    n_statements = 0
    levels: list = []       # (level number, its rows, its means, line, column)
    for st in _statements(text, source):
        block = BLOCK_RE.match(st.text)
        if block:
            rows, means = _open_level(block, st, source, levels, rows, means, n_statements,
                                      group_mods, equalities)
            continue
        n_statements += 1
        i, op = _find_operator(st.text)
        lhs = st.slice(0, i).strip()
        rhs = st.slice(i + len(op), len(st.text)).strip()
        if op in UNSUPPORTED:
            _err(UNSUPPORTED[op], st, source, i)
        if not lhs.text:
            _err(f"nothing on the left of '{op}'", st, source, i)
        if not rhs.text:
            _err(f"nothing on the right of '{op}'", st, source, i)
        if op == ":=":
            if not NAME_RE.match(lhs.text):
                _err(f"'{lhs.text}' is not a valid name for a defined parameter", lhs, source)
            _check_expression(rhs, source)
            rows.append(dict(lhs=lhs.text, op=op, rhs=rhs.text, label=lhs.text, fixed=np.nan,
                             start=np.nan, user=1, free_flag=False, line=lhs.at(0)[0],
                             column=lhs.at(0)[1]))
            continue
        if op == "==":
            a, b = lhs.text, rhs.text
            for side, c in ((a, lhs), (b, rhs)):
                if not NAME_RE.match(side):
                    _err("only equality of two labels ('a == b') is supported", c, source)
            equalities.append((a, b, lhs.at(0)))
            continue
        lhs_names = []
        for part in _split_top(lhs, "+"):
            p = part.strip()
            if not NAME_RE.match(p.text):
                _err(f"'{p.text}' is not a valid variable name", p if p.pos else lhs, source)
            lhs_names.append(p.text)
        terms = _parse_terms(rhs, source, op)
        for lname in lhs_names:
            for t in terms:
                if t.var == "1":
                    if any(m["lhs"] == lname for m in means):
                        _err(f"'{lname} ~ 1' is specified twice", rhs, source)
                    means.append(dict(lhs=lname, fixed=t.fixed, label=t.label or "",
                                      na=t.free, groups=t.groups, line=t.line,
                                      column=t.column, start=t.start))
                    continue
                if op == "=~" and t.var == lname:
                    _err(f"'{lname}' cannot be an indicator of itself", rhs, source)
                if op == "~" and t.var == lname:
                    _err(f"'{lname}' cannot be regressed on itself", rhs, source)
                fixed, na = t.fixed, t.free
                if t.groups:
                    # the single-group table keeps what all groups share: a value fixed in
                    # every group, or free when any group frees it with NA
                    vals = {g[0] for g in t.groups}
                    if len(vals) == 1 and None not in vals:
                        fixed = vals.pop()
                    na = na or any(g[2] for g in t.groups)
                    group_mods.append((lname, op, t.var))
                rows.append(dict(lhs=lname, op=op, rhs=t.var, label=t.label or "",
                                 fixed=fixed if fixed is not None else np.nan,
                                 start=t.start if t.start is not None else np.nan,
                                 user=1, free_flag=na, line=t.line, column=t.column,
                                 groups=t.groups))
    if not n_statements:
        raise ModelSyntaxError("the model is empty: no statements found", source, 1, 1)
    if levels:
        return _build_levels(levels, rows, means, text=text, source=source, name=name)
    if not rows and means:
        raise ModelSyntaxError("the model has only intercepts ('~ 1'); add the model's "
                               "relations", source, means[0]["line"], means[0]["column"])
    return _build(rows, equalities, text=text, source=source, name=name, means=means)


def _open_level(block, st, source, levels, rows, means, n_statements, group_mods,
                equalities):
    """A ``level:`` line: close the level before it and start a new one (checked: a known
    level, in order, not twice, nothing before the first)."""
    kind, value = block.group(1).lower(), block.group(2).strip()
    line, col = st.at(0)
    if kind != "level":
        raise ModelSyntaxError(f"'{kind}:' blocks in the model are not supported; "
                               + ("give the grouping column with group= (--group)"
                                  if kind == "group" else "latent classes are not built"),
                               source, line, col)
    number = LEVEL_NAMES.get(value.lower())
    vcol = st.at(block.start(2))[1]
    if number is None:
        raise ModelSyntaxError(f"'level: {value}' is not a level: two-level models have "
                               f"'level: 1' (or 'within') and 'level: 2' (or 'between')",
                               source, line, vcol)
    if not levels and n_statements:
        raise ModelSyntaxError("statements before the first 'level:' line: in a two-level "
                               "model every statement belongs to a level", source, line, col)
    if levels and levels[-1][0] == number:
        raise ModelSyntaxError(f"level {number} is opened twice", source, line, col)
    if levels and number < levels[-1][0]:
        raise ModelSyntaxError("'level: 1' (within) comes before 'level: 2' (between), as "
                               "lavaan reads them", source, line, col)
    if group_mods:
        raise ModelSyntaxError("c(...) modifiers (one value per group) are not supported in "
                               "two-level models", source, line, col)
    if equalities:
        raise ModelSyntaxError("'==' constraints are not built for two-level models yet",
                               source, line, col)
    if levels:
        levels[-1][1:3] = [rows, means]
        if not rows:
            ln, cl = levels[-1][3:5]
            raise ModelSyntaxError(f"level {levels[-1][0]} has no statements", source, ln, cl)
    levels.append([number, [], [], line, col])
    return [], []


def _build_levels(levels, rows, means, *, text: str, source: str, name: str) -> "ModelSpec":
    """The parameter table of a two-level model: each level's rows built as a model of its
    own (lavaan's defaults apply per level), then stacked with a ``level`` (and ``block``)
    column, parameters numbered on through both levels."""
    levels[-1][1:3] = [rows, means]
    number, last_rows, _, ln, cl = levels[-1]
    if not last_rows:
        raise ModelSyntaxError(f"level {number} has no statements", source, ln, cl)
    if len(levels) < 2:
        raise ModelSyntaxError(f"a two-level model needs both 'level: 1' and 'level: 2' "
                               f"blocks; only level {number} is given", source, ln, cl)
    specs, tables, offset, seen_labels = [], [], 0, {}
    for number, lrows, lmeans, ln, cl in levels:
        for r in lrows:
            if r.get("groups"):
                raise ModelSyntaxError("c(...) modifiers (one value per group) are not "
                                       "supported in two-level models", source, r["line"],
                                       r["column"])
            if r["op"] == ":=":
                raise ModelSyntaxError("':=' definitions are not built for two-level models "
                                       "yet", source, r["line"], r["column"])
            if r["label"]:
                if r["label"] in seen_labels and seen_labels[r["label"]] != number:
                    raise ModelSyntaxError(f"label '{r['label']}' is used at both levels "
                                           f"(equality across levels is not built yet)",
                                           source, r["line"], r["column"])
                seen_labels[r["label"]] = number
        if lmeans:
            m = lmeans[0]
            raise ModelSyntaxError("intercepts ('~ 1') are not built for two-level models "
                                   "yet (lavaan's default means are added)", source,
                                   m["line"], m["column"])
        sp = _build(lrows, [], text=text, source=source, name=f"{name} (level {number})")
        pt = sp.partable.copy()
        pt["free"] = np.where(pt["free"] > 0, pt["free"] + offset, 0)
        offset = int(pt["free"].max() or offset)
        pt.insert(4, "block", number)
        pt.insert(5, "level", number)
        specs.append(sp)
        tables.append(pt)
    pt = pd.concat(tables, ignore_index=True)
    pt["id"] = np.arange(1, len(pt) + 1)
    return ModelSpec(partable=pt, name=name, source=source, text=text,
                     levels=tuple(specs))


_ALLOWED_FUNCS = {"exp", "log", "sqrt", "abs"}


#: Bounds of a ``:=`` expression: deep nesting, huge trees and power towers (``9^9^9``, whose
#: value has hundreds of millions of digits) are refused when the model is read.
MAX_EXPRESSION_DEPTH = 32
MAX_EXPRESSION_NODES = 500
MAX_LITERAL_EXPONENT = 1000


MAX_LITERAL_LENGTH = 40
_PLAIN_NUMBER = re.compile(r"(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


def _short(text: str, n: int = 60) -> str:
    return text if len(text) <= n else text[:n - 3] + "..."


def _python_expression(text: str) -> tuple[str, list[int]]:
    """lavaan's ``^`` as Python's ``**``, with the position in ``text`` of every character."""
    out, pos = [], []
    for i, ch in enumerate(text):
        if ch == "^":
            out.append("**")
            pos += [i, i]
        else:
            out.append(ch)
            pos.append(i)
    return "".join(out), pos


def _constant_value(node):
    """The number a constant exponent stands for (``2``, ``-3``, ``+0.5``), else None."""
    sign = 1
    while isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        sign = -sign if isinstance(node.op, ast.USub) else sign
        node = node.operand
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)):
        return sign * node.value
    return None


def expression_problem(text: str) -> tuple[str, int] | None:
    """What makes ``text`` (the right side of ``:=``) unfit to evaluate, with the offset in
    ``text`` where it is; ``None`` when it is a bounded arithmetic expression of labels.

    Allowed: numbers, names, ``+ - * / ^``, unary signs and ``exp log sqrt abs``; at most
    :data:`MAX_EXPRESSION_DEPTH` levels and :data:`MAX_EXPRESSION_NODES` parts; finite
    numbers; a power's exponent holds no further power, and a number as exponent is at most
    :data:`MAX_LITERAL_EXPONENT` in size.
    """
    expr, pos = _python_expression(text)

    def at(node) -> int:
        c = getattr(node, "col_offset", 0) or 0
        return pos[c] if 0 <= c < len(pos) else 0

    try:
        tree = ast.parse(expr, mode="eval")
    except (SyntaxError, ValueError, MemoryError, RecursionError) as exc:
        off = getattr(exc, "offset", None) or 1
        return (f"cannot read the expression '{_short(text)}'",
                pos[min(max(off - 1, 0), len(pos) - 1)] if pos else 0)
    nodes = 0
    stack = [(tree, 0)]
    while stack:
        node, depth = stack.pop()
        nodes += 1
        if depth > MAX_EXPRESSION_DEPTH:
            return (f"the expression is nested more than {MAX_EXPRESSION_DEPTH} levels deep; "
                    f"write it in steps with further ':=' lines", at(node))
        if nodes > MAX_EXPRESSION_NODES:
            return (f"the expression has more than {MAX_EXPRESSION_NODES} parts; write it in "
                    f"steps with further ':=' lines", 0)
        ok = isinstance(node, (ast.Expression, ast.BinOp, ast.UnaryOp, ast.Name, ast.Load,
                               ast.Constant, ast.Add, ast.Sub, ast.Mult, ast.Div, ast.Pow,
                               ast.USub, ast.UAdd, ast.Call))
        if isinstance(node, ast.Constant) and (not isinstance(node.value, (int, float)) or
                                               isinstance(node.value, bool)):
            ok = False
        if isinstance(node, ast.Call) and not (isinstance(node.func, ast.Name)
                                               and node.func.id in _ALLOWED_FUNCS
                                               and not node.keywords):
            ok = False
        if not ok:
            return f"'{_short(text)}' is not an arithmetic expression of labels", at(node)
        if isinstance(node, ast.Constant):
            lit = ast.get_source_segment(expr, node) or ""
            if not _PLAIN_NUMBER.fullmatch(lit):
                return f"'{_short(lit)}' is not a plain decimal number", at(node)
            try:
                big = len(lit) > MAX_LITERAL_LENGTH or not math.isfinite(float(node.value))
            except OverflowError:
                big = True
            if big:
                return "the number at this place is too large for an expression", at(node)
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Pow):
            if any(isinstance(n, ast.BinOp) and isinstance(n.op, ast.Pow)
                   for n in ast.walk(node.right)):
                return ("a power of a power ('a^b^c') is refused: its value can have "
                        "millions of digits; write the exponent as one number or label",
                        at(node.right))
            e = _constant_value(node.right)
            if e is not None and abs(e) > MAX_LITERAL_EXPONENT:
                return (f"the exponent {e:g} is too large (at most {MAX_LITERAL_EXPONENT} in "
                        f"size)", at(node.right))
        stack += [(c, depth + isinstance(c, ast.expr)) for c in ast.iter_child_nodes(node)]
    return None


def _check_expression(rhs: _Chunk, source: str) -> None:
    problem = expression_problem(rhs.text)
    if problem is not None:
        _err(problem[0], rhs, source, problem[1])


class _FloatConstants(ast.NodeTransformer):
    def visit_Constant(self, node):
        if isinstance(node.value, int) and not isinstance(node.value, bool):
            return ast.copy_location(ast.Constant(float(node.value)), node)
        return node


def compile_expression(text: str, where: str = "':=' expression"):
    """Code of a ``:=`` expression for :func:`eval`, checked by :func:`expression_problem`
    and with every number a float, so that no step can become a huge exact integer (floats
    overflow to an error at once instead)."""
    problem = expression_problem(text)
    if problem is not None:
        raise ModelSpecError(f"{where} '{_short(text)}': {problem[0]} (at character "
                             f"{problem[1] + 1})")
    tree = _FloatConstants().visit(ast.parse(_python_expression(text)[0], mode="eval"))
    return compile(ast.fix_missing_locations(tree), "<:=>", "eval")


def expression_names(expr: str) -> list[str]:
    """Labels used by a ``:=`` expression."""
    tree = ast.parse(expr.replace("^", "**"), mode="eval")
    return [n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and n.id not in _ALLOWED_FUNCS]


def _build(rows: list[dict], equalities: list, *, text: str, source: str,
           name: str, means=()) -> ModelSpec:
    params = [r for r in rows if r["op"] != ":="]
    defined = [r for r in rows if r["op"] == ":="]
    if not params:
        raise ModelSyntaxError("the model has no parameters (only ':=' definitions)", source,
                               defined[0]["line"] if defined else 1, 1)
    latent = list(dict.fromkeys(r["lhs"] for r in params if r["op"] == "=~"))
    lat = set(latent)

    # duplicates (a ~~ b and b ~~ a are the same parameter)
    seen = {}
    for r in params:
        key = (r["lhs"], r["op"], r["rhs"])
        if r["op"] == "~~":
            key = (min(r["lhs"], r["rhs"]), "~~", max(r["lhs"], r["rhs"]))
        if key in seen:
            raise ModelSyntaxError(f"'{r['lhs']} {r['op']} {r['rhs']}' is specified twice "
                                   f"(first at line {seen[key]})", source, r["line"], r["column"])
        seen[key] = r["line"]

    # regressions between latent variables and their own indicators are fine; a latent
    # variable regressed on an indicator of itself is not identified in general: leave to fit.
    reg_lhs = {r["lhs"] for r in params if r["op"] == "~"}
    reg_rhs = {r["rhs"] for r in params if r["op"] == "~"}
    indicators = {r["rhs"] for r in params if r["op"] == "=~"}
    all_vars = list(dict.fromkeys(
        [v for r in params for v in ((r["lhs"], r["rhs"]))]))
    endo = {v for v in all_vars if v in reg_lhs or v in indicators}
    exo_lat = [v for v in latent if v not in endo]
    observed = [v for v in all_vars if v not in lat]
    fixed_x_set = {v for v in observed if v not in endo}

    # lavaan (auto.fix.first): the first indicator's loading is fixed to 1 unless that term
    # itself carries a fixed value or NA; a label alone does not free it, and a fixed value on
    # another indicator does not stop it (checked against lavaan 0.6.14).
    out = [dict(r) for r in params]
    first_of = {}
    for r in out:
        if r["op"] == "=~":
            first_of.setdefault(r["lhs"], r)
    for f in latent:
        first = first_of[f]
        if not first["free_flag"] and not np.isfinite(first["fixed"]):
            first["fixed"] = 1.0

    covs = {frozenset((r["lhs"], r["rhs"])) for r in out if r["op"] == "~~"}

    def has_cov(a, b):
        return frozenset((a, b)) in covs

    extra = []
    for v in list(latent) + observed:
        if v in fixed_x_set:
            continue
        if not has_cov(v, v):
            extra.append(dict(lhs=v, op="~~", rhs=v, label="", fixed=np.nan, start=np.nan,
                              user=0, free_flag=False, line=0, column=0))
    for a, b in combinations(exo_lat, 2):
        if not has_cov(a, b):
            extra.append(dict(lhs=a, op="~~", rhs=b, label="", fixed=np.nan, start=np.nan,
                              user=0, free_flag=False, line=0, column=0))
    # pure outcomes (regressed on something, predict nothing, not indicators): residuals covary
    pure_y = [v for v in all_vars if v in reg_lhs and v not in reg_rhs and v not in indicators]
    for a, b in combinations(pure_y, 2):
        if not has_cov(a, b):
            extra.append(dict(lhs=a, op="~~", rhs=b, label="", fixed=np.nan, start=np.nan,
                              user=0, free_flag=False, line=0, column=0))
    out += extra

    # explicit (co)variances involving fixed-x covariates make them model variables in lavaan
    # too, but semopy always holds exogenous observed covariates at their sample values.
    for r in out:
        if r["op"] == "~~" and r["user"] and (r["lhs"] in fixed_x_set and r["rhs"] in fixed_x_set):
            raise ModelSyntaxError(
                f"'{r['lhs']} ~~ {r['rhs']}': (co)variances of exogenous observed covariates are "
                f"held at their sample values (lavaan's fixed.x = TRUE) and cannot be "
                f"specified", source, r["line"], r["column"])

    # parameter numbers; shared labels (and 'a == b', however chained) share a number
    group_mods = [r["groups"] for r in out if r.get("groups")]
    group_labels = {e[1] for els in group_mods for e in els if e[1]}
    group_labels |= {e[1] for m in means for e in (m["groups"] or ()) if e[1]}
    known = {r["label"] for r in out if r["label"]} | group_labels
    known |= {m["label"] for m in means if m["label"]}
    for a, b, (ln, col) in equalities:
        for x in (a, b):
            if x not in known:
                raise ModelSyntaxError(f"'{x}' in '{a} == {b}' is not a label of the model",
                                       source, ln, col)
    same = label_classes((a, b) for a, b, _ in equalities)
    free_no: dict = {}
    n = _number_rows(out, same, free_no, 0)
    # a label on a fixed parameter that is also used on a free one is contradictory
    fixed_labels = {r["label"] for r in out if r["free"] == 0 and r["label"]}
    for r in out:
        if r["free"] and r["label"] in fixed_labels:
            raise ModelSyntaxError(f"label '{r['label']}' is used for a fixed and a free "
                                   f"parameter", source, r["line"], r["column"])

    labels = {r["label"] for r in out if r["label"]} | known     # c() and ~1 labels too
    var_set = set(all_vars)
    for m in means:
        if m["lhs"] not in var_set:
            raise ModelSyntaxError(f"'{m['lhs']} ~ 1': '{m['lhs']}' is not otherwise in the "
                                   f"model (an intercept-only variable is not supported)",
                                   source, m["line"], m["column"])
        if m["lhs"] in fixed_x_set:
            raise ModelSyntaxError(f"'{m['lhs']} ~ 1': means of exogenous observed covariates "
                                   f"(fixed.x) are not supported", source, m["line"],
                                   m["column"])
        for lab in [m["label"]] + [e[1] for e in (m["groups"] or ()) if e[1]]:
            if lab and lab in var_set:
                raise ModelSyntaxError(f"label '{lab}' is also a variable name; use another "
                                       f"label", source, m["line"], m["column"])
    for els in group_mods:
        for e in els:
            if e[1] and e[1] in var_set:
                raise ModelSyntaxError(f"label '{e[1]}' is also a variable name; use another "
                                       f"label", source, 0, 0)
    for r in out:
        if r["label"] and r["label"] in var_set:
            raise ModelSyntaxError(f"label '{r['label']}' is also a variable name; use another "
                                   f"label", source, r["line"], r["column"])
    defined_names = set()
    for d in defined:
        if d["lhs"] in labels or d["lhs"] in var_set or d["lhs"] in defined_names:
            raise ModelSyntaxError(f"defined parameter '{d['lhs']}' reuses an existing name",
                                   source, d["line"], d["column"])
        for nm in expression_names(d["rhs"]):
            if nm not in labels and nm not in defined_names:
                raise ModelSyntaxError(f"'{nm}' in '{d['lhs']} := {d['rhs']}' is not a label of "
                                       f"the model (label a parameter first, e.g. 'y ~ a*x')",
                                       source, d["line"], d["column"])
        defined_names.add(d["lhs"])
        d["free"] = 0

    # intercept rows ('y ~ 1', lavaan's op "~1" with an empty rhs), numbered after the
    # covariance-structure rows so that those keep 1..n_free; c(...) kept per row as for the
    # rows above: the single-group columns hold what every group shares
    mean_out = []
    for m in means:
        fixed, na = m["fixed"], m["na"]
        if m["groups"]:
            vals = {e[0] for e in m["groups"]}
            if len(vals) == 1 and None not in vals:
                fixed = vals.pop()
            na = na or any(e[2] for e in m["groups"])
        mean_out.append(dict(lhs=m["lhs"], op="~1", rhs="", label=m["label"],
                             fixed=np.nan if fixed is None else float(fixed),
                             start=np.nan if m.get("start") is None else float(m["start"]),
                             user=1, free_flag=bool(na), line=m["line"], column=m["column"],
                             groups=m["groups"]))
    _number_rows(mean_out, same, free_no, n)
    # 'a == b' rows (lavaan's: lhs and rhs the labels); their labels already share a number
    eq_out = [dict(lhs=a, op="==", rhs=b, label="", fixed=np.nan, start=np.nan, user=1,
                   free_flag=False, line=ln, column=col, free=0)
              for a, b, (ln, col) in equalities]
    out = out + mean_out + eq_out + list(defined)

    pt = pd.DataFrame(out)
    pt.insert(0, "id", np.arange(1, len(pt) + 1))
    pt["group_values"] = [r.get("groups") or None for r in out]
    pt = pt[["id", "lhs", "op", "rhs", "user", "label", "free", "fixed", "start", "line",
             "column", "free_flag", "group_values"]].rename(columns={"free_flag": "na_freed"})
    pt["free"] = pt["free"].astype(int)
    pt["na_freed"] = pt["na_freed"].astype(bool)
    spec = ModelSpec(partable=pt, name=name, source=source, text=text)
    _check_identification(spec)
    return spec


def label_classes(pairs) -> dict:
    """Labels made one parameter by ``a == b`` rows: each label of ``pairs`` mapped to one
    representative of its class (union-find, so that ``a == b; c == b`` ties all three)."""
    parent: dict = {}

    def find(x):
        while parent.get(x, x) != x:
            x = parent[x]
        return x
    for a, b in pairs:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[rb] = ra
    return {x: find(x) for x in parent}


def _number_rows(rows: list, same: dict, free_no: dict, n: int) -> int:
    """Give each row its parameter number ``free`` (0 when fixed; rows whose labels are one
    class of ``same`` share one), continuing from ``n``; returns the last number given."""
    for r in rows:
        if math.isfinite(r["fixed"]):
            r["free"] = 0
            continue
        lab = same.get(r["label"], r["label"]) if r["label"] else ""
        if lab and lab in free_no:
            r["free"] = free_no[lab]
            continue
        n += 1
        r["free"] = n
        if lab:
            free_no[lab] = n
    return n


def _check_identification(spec: ModelSpec) -> None:
    """Checks that catch unidentified models before semopy is asked (it may hang on them).

    One pass over the parameter table builds per-variable indexes, so the checks take time
    linear in the size of the model (a 1000-factor model must not take minutes to read).
    """
    pt = spec.partable
    lat = set(spec.latent)
    loads: dict = {}        # factor -> [(rhs, free, line, column)]
    var_free: dict = {}     # variable -> [free numbers of its (residual) variance rows]
    linked: set = set()     # latent variables with a non-zero relation to another latent
    cols = [pt[c].tolist() for c in ("lhs", "op", "rhs", "free")]
    cols += [pt["fixed"].fillna(0).tolist(), pt.line.tolist(), pt.column.tolist()]
    for lhs, op, rhs, free, fx, line, col in zip(*cols):
        if op == "=~":
            loads.setdefault(lhs, []).append((rhs, free, line, col))
        elif op == "~~" and lhs == rhs:
            var_free.setdefault(lhs, []).append(free)
        if lhs in lat and rhs in lat and lhs != rhs and (
                op == "~" or (op == "~~" and (free > 0 or fx != 0))):
            linked.update((lhs, rhs))
    for f in spec.latent:
        ld = loads[f]
        var = var_free.get(f, [])
        scale_set = any(fr == 0 for _, fr, _, _ in ld) or (var and all(v == 0 for v in var))
        rhs0, _, line0, col0 = ld[0]
        if not scale_set:
            raise ModelSpecError(
                f"{spec.source}:{line0}:{col0}: the scale of latent variable '{f}' is not "
                f"set: fix one loading (e.g. 1*{rhs0}) or its variance ('{f} ~~ 1*{f}')")
        n_ind = len(ld)
        if n_ind == 1 and all(fr == 0 for _, fr, _, _ in ld):
            rv = var_free.get(rhs0, [])
            if rv and all(v > 0 for v in rv) and var and all(v > 0 for v in var):
                raise ModelSpecError(
                    f"{spec.source}:{line0}:{col0}: latent variable '{f}' has a single "
                    f"indicator with free error variance: not identified; fix the error "
                    f"variance (e.g. '{rhs0} ~~ 0.3*{rhs0}', from the item's reliability)")
        if n_ind == 2 and not all(fr == 0 for _, fr, _, _ in ld) and \
                not any(v == 0 for v in var):
            # two-indicator rule (Bollen 1989, p. 244): identified only through a non-zero
            # relation with another latent variable
            if f not in linked:
                raise ModelSpecError(
                    f"{spec.source}:{line0}:{col0}: latent variable '{f}' has two "
                    f"indicators and no relation to another latent variable: not identified; "
                    f"add indicators, let it covary with another factor, or constrain its "
                    f"loadings to be equal")
    p = len(spec.observed)
    nx = len(spec.fixed_x)
    ndat = n_moments(p, n_fixed_x=nx)
    if spec.n_free > ndat:
        raise ModelSpecError(
            f"{spec.source}: the model has {spec.n_free} free parameters but only {ndat} "
            f"variances and covariances to fit (df = {ndat - spec.n_free} < 0): not identified")


# --------------------------------------------------------------------------------------------
# the parameter table of G groups (lavaan's parTable() of a multi-group or mean-structure fit)
# --------------------------------------------------------------------------------------------
#: lavaan's ``group.equal`` classes.
GROUP_EQUAL = ("loadings", "intercepts", "means", "thresholds", "residuals",
               "residual.covariances", "lv.variances", "lv.covariances", "regressions")
#: The columns of :func:`group_table`, as lavaan's ``parTable()``.
GROUP_TABLE_COLUMNS = ("id", "lhs", "op", "rhs", "user", "block", "group", "level", "free",
                       "ustart", "exo", "label", "plabel", "start")


def group_equal_classes(group_equal) -> tuple:
    """Check ``group_equal`` (a list of lavaan classes, or a comma-separated string)."""
    if group_equal is None:
        return ()
    if isinstance(group_equal, str):
        group_equal = [g for g in group_equal.replace(" ", "").split(",") if g]
    out = []
    for g in group_equal:
        if not isinstance(g, str) or g not in GROUP_EQUAL:
            raise OptionError(f"unknown group.equal class {g!r}; use any of "
                              f"{', '.join(GROUP_EQUAL)}")
        out.append(g)
    return tuple(dict.fromkeys(out))


def group_partial_entries(group_partial) -> tuple:
    """Parse ``group_partial`` entries such as ``"visual=~x2"`` or ``"x3 ~ 1"`` into
    (lhs, op, rhs) with op ``"~1"`` and rhs ``""`` for intercepts."""
    if group_partial is None:
        return ()
    if isinstance(group_partial, str):
        group_partial = [g for g in group_partial.split(",") if g.strip()]
    out = []
    for e in group_partial:
        if isinstance(e, tuple) and len(e) == 3 and all(isinstance(t, str) for t in e):
            out.append(e)            # already parsed
            continue
        if not isinstance(e, str):
            raise OptionError(f"group.partial entries are parameters such as 'visual=~x2' or "
                              f"'x3~1', not {e!r}")
        t = "".join(e.split())
        for op in ("=~", "~~", "~"):
            if op in t:
                lhs, rhs = t.split(op, 1)
                break
        else:
            raise OptionError(f"group.partial entry '{e}' is not a parameter (write it as "
                              f"'visual=~x2', 'x1~~x2', 'y~x' or 'x3~1')")
        if op == "~" and rhs == "1":
            op, rhs = "~1", ""
        if not lhs or (not rhs and op != "~1"):
            raise OptionError(f"group.partial entry '{e}' is not a parameter (write it as "
                              f"'visual=~x2', 'x1~~x2', 'y~x' or 'x3~1')")
        out.append((lhs, op, rhs))
    return tuple(dict.fromkeys(out))      # a parameter freed twice is freed once


def group_equal_class(lhs: str, op: str, rhs: str, latent) -> str:
    """lavaan's ``group.equal`` class of a row (``latent``: the latent variables): loadings
    (=~), regressions (~), intercepts (~1 of an observed variable), means (~1 of a latent
    one), residuals and residual.covariances (~~ of observed variables: a variance, a
    covariance), lv.variances and lv.covariances; thresholds has no rows in a continuous
    model."""
    if op == "=~":
        return "loadings"
    if op == "~":
        return "regressions"
    if op == "~1":
        return "means" if lhs in latent else "intercepts"
    if lhs in latent:
        return "lv.variances" if lhs == rhs else "lv.covariances"
    return "residuals" if lhs == rhs else "residual.covariances"


def group_table(spec: ModelSpec, groups, group_equal=(), group_partial=(),
                fixed_x_moments=None) -> pd.DataFrame:
    """The parameter table of ``spec`` fitted in ``groups`` with a mean structure: lavaan's
    ``parTable(sem(..., group =, group.equal =, group.partial =))`` (one group: with
    ``meanstructure = TRUE``).

    One block per group, each with the model's rows and lavaan's defaults in that group:
    intercepts of the observed variables free, latent means fixed at 0 (freed in groups 2..G
    when ``group_equal`` has ``intercepts`` or ``thresholds`` but not ``means``), and for each
    exogenous observed covariate (fixed.x) its (co)variances and mean, ``exo = 1``, held at
    the group's sample moments (``fixed_x_moments``: per group (S_g, x̄_g, ...) in
    ``spec.observed`` order; without them those values are NaN).  ``c(...)`` modifiers give
    each group its value, label or NA.  Then the ``==`` rows and the ``:=`` rows (group 0).

    The ``free`` numbers say which rows are one parameter (lavaan's ``lav_partable_labels``):
    a user label names one parameter in every group (``==`` ties labels, however chained); a
    row of a ``group_equal`` class is one parameter in all groups unless ``group_partial``
    lists it; rows that are one parameter share a number, and if one of them is fixed, all
    are fixed at the first fixed value.  (lavaan 0.6 numbers every free row and adds ``==``
    rows on the ``plabel`` instead; the partition of rows into parameters is the same, as
    tests/test_parameter_table.py checks on lavaan's own tables.)

    Columns :data:`GROUP_TABLE_COLUMNS`: ``ustart`` the fixed value of a fixed row or the
    user's start value of a free one (NaN for the fixed.x rows, as lavaan); ``start`` the
    fixed value, the fixed.x moment or the user's start value (NaN: computed when fitted);
    ``label`` the user's label in that group; ``plabel`` ``.pN.`` with N the row's ``id``;
    ``level`` 1.
    """
    if spec.is_twolevel:
        raise ModelSpecError("a two-level model's table is spec.partable (its levels are the "
                             "blocks); groups are not built for two-level models")
    groups = [str(g) for g in groups]
    G = len(groups)
    if G < 1:
        raise OptionError("a parameter table needs at least one group")
    eq = set(group_equal_classes(group_equal))
    partial_entries = group_partial_entries(group_partial)
    pt = spec.partable
    lat = set(spec.latent)
    obs = list(spec.observed)
    fixed_x = list(spec.fixed_x)
    fx_set = set(fixed_x)
    cols = ("lhs", "op", "rhs", "free", "fixed", "label", "user", "group_values", "start")
    records = [dict(zip(cols, r)) for r in zip(*(pt[c].tolist() for c in cols))]
    rows_struct = [r for r in records if r["op"] in STRUCTURE_OPS]
    rows_mean = [r for r in records if r["op"] == "~1"]
    for r in rows_struct + rows_mean:
        els = r["group_values"]
        if els is not None and len(els) != G:
            lhs, op, rhs = r["lhs"], r["op"], r["rhs"]
            where = f"{lhs} {op} {rhs}".strip() if op != "~1" else f"{lhs} ~ 1"
            raise ModelSpecError(
                f"c(...) on '{where}' has {len(els)} element(s), but there "
                f"{'is' if G == 1 else 'are'} {G} group(s)"
                + (f" ({', '.join(groups)})" if G > 1 else " (c() needs group=)"))
    if fixed_x_moments is not None and len(fixed_x_moments) != G:
        raise ModelSpecError(f"fixed_x_moments has {len(fixed_x_moments)} group(s) for {G}")
    same = label_classes((r["lhs"], r["rhs"]) for r in records if r["op"] == "==")

    def start_of(v):
        return float(v) if np.isfinite(v) else float("nan")
    # the rows every group has: (lhs, op, rhs, fixed or None, label, user, c() values, start)
    base = [(r["lhs"], r["op"], r["rhs"], None if r["free"] > 0 else float(r["fixed"]),
             r["label"], int(r["user"]), r["group_values"], start_of(r["start"]))
            for r in rows_struct]
    user_means = {r["lhs"]: r for r in rows_mean}
    for v in [v for v in obs if v not in fx_set] + list(spec.latent):
        u = user_means.get(v)
        if u is not None:
            base.append((v, "~1", "", None if u["free"] > 0 else float(u["fixed"]),
                         u["label"], 1, u["group_values"], start_of(u["start"])))
        else:                   # lavaan: intercepts free, latent means fixed at 0
            base.append((v, "~1", "", None if v not in lat else 0.0, "", 0, None,
                         float("nan")))
    known = {(b[0], b[1], b[2]) for b in base}
    known |= {(b[2], b[1], b[0]) for b in base if b[1] == "~~"}
    for e in partial_entries:
        if e not in known:
            name = f"{e[0]}~1" if e[1] == "~1" else "".join(e)
            raise OptionError(f"group.partial entry '{name}' names no parameter of the model")
    partial = set(partial_entries) | {(c, b, a) for a, b, c in partial_entries if b == "~~"}
    free_lv_means = ("intercepts" in eq or "thresholds" in eq) and "means" not in eq

    rows = []       # dicts: lhs op rhs user group fixed label start key exo
    for g in range(G):
        for lhs, op, rhs, fixed, label, user, els, start in base:
            if op == "~1" and lhs in lat and not user and g > 0 and free_lv_means:
                fixed = None
            if els is not None:
                fx, lab, na = els[g]
                if fx is not None:
                    fixed, label = fx, ""
                elif na:
                    fixed, label = None, ""
                elif lab:
                    label = lab
            if label:
                key = ("label", same.get(label, label))
            elif (group_equal_class(lhs, op, rhs, lat) in eq
                  and (lhs, op, rhs) not in partial):
                key = ("row", lhs, op, rhs, 0)
            else:
                key = ("row", lhs, op, rhs, g)
            rows.append(dict(lhs=lhs, op=op, rhs=rhs, user=user, group=g + 1, fixed=fixed,
                             label=label, start=start, key=key, exo=0))
        # fixed.x (lavaan's default): the covariates' (co)variances and means are held at
        # the group's sample values; neither parameters nor data points
        for a_, xa in enumerate(fixed_x):
            ia = obs.index(xa)
            for xb in fixed_x[a_:]:
                ib = obs.index(xb)
                val = (float(fixed_x_moments[g][0][ia, ib]) if fixed_x_moments is not None
                       else float("nan"))
                rows.append(dict(lhs=xa, op="~~", rhs=xb, user=0, group=g + 1, fixed=val,
                                 label="", start=val, key=("x", xa, xb, g), exo=1))
            val = (float(fixed_x_moments[g][1][ia]) if fixed_x_moments is not None
                   else float("nan"))
            rows.append(dict(lhs=xa, op="~1", rhs="", user=0, group=g + 1, fixed=val,
                             label="", start=val, key=("xm", xa, g), exo=1))
    # rows that are one parameter: if one of them is fixed, all are (lavaan)
    first_fixed: dict = {}
    for r in rows:
        if r["fixed"] is not None:
            first_fixed.setdefault(r["key"], r["fixed"])
    numbers: dict = {}
    for r in rows:
        if r["key"] in first_fixed:
            r["fixed"] = first_fixed[r["key"]]
        elif r["key"] not in numbers:
            numbers[r["key"]] = len(numbers) + 1
    nan = float("nan")
    for r in rows:
        r["free"] = 0 if r["fixed"] is not None else numbers[r["key"]]
        r["ustart"] = nan if r["exo"] else (r["fixed"] if r["fixed"] is not None
                                            else r["start"])
        r["start"] = r["fixed"] if r["fixed"] is not None else r["start"]
        r["block"], r["level"] = r["group"], 1
    # then the '==' and ':=' rows, in no group (lavaan's group 0)
    rows += [dict(lhs=r["lhs"], op=r["op"], rhs=r["rhs"], user=int(r["user"]), block=0,
                  group=0, level=0, free=0, ustart=nan, exo=0, label=r["label"], start=nan)
             for r in records if r["op"] in ("==", ":=")]
    dtype = dict.fromkeys(("user", "block", "group", "level", "free", "exo"), int)
    dtype |= dict.fromkeys(("ustart", "start"), float)
    columns = {"id": np.arange(1, len(rows) + 1)}
    for c in GROUP_TABLE_COLUMNS[1:-2]:
        columns[c] = np.array([r[c] for r in rows], dtype=dtype.get(c, object))
    columns["plabel"] = [f".p{i}." if r["group"] else "" for i, r in enumerate(rows, 1)]
    columns["start"] = np.array([r["start"] for r in rows], dtype=float)
    return pd.DataFrame(columns)
