"""Labels for a study: what constructs, items and group values are called in en and zh.

A :class:`Labels` object answers "what is ``KS`` called in Chinese?" for every table, summary
and diagram.  Its sources, in order of precedence:

1. a labels YAML the user writes (``--labels FILE``, :meth:`Labels.from_yaml`)::

       title: {en: Knowledge sharing in industrial parks, zh: 产业园区的知识共享}
       constructs:
         KS: {en: Knowledge sharing, zh: 知识共享}
         IN: Innovation                # one text for both languages
       items:
         Q1_1: {en: We share reports, zh: 我们分享报告}
       groups:
         ownership:                    # the grouping column
           1: {en: State-owned, zh: 国有}
           2: {en: Private, zh: 民营}

2. the labels an SPSS/Stata file carries (:meth:`Labels.from_frame` on a frame read by
   :func:`semcluster.data.survey.read_survey`): variable labels become item labels, value labels
   become group labels; a label with Chinese characters is taken as the zh label, any other as
   the en label;
3. the study's own dictionary (:func:`semcluster.study.study_labels`; this module never
   imports the study): only for the study's models and
   ``semcluster reproduce``, never for a user's model whose construct happens to be called
   ``KS``.

A name without a label in the language asked for falls back to the other language, then to
the code itself.

>>> lab = Labels(constructs={"KS": {"en": "Knowledge sharing", "zh": "知识共享"}})
>>> lab.construct("KS", "zh"), lab.construct("KS", "en"), lab.construct("IN", "zh")
('知识共享', 'Knowledge sharing', 'IN')
"""
from __future__ import annotations

import functools
import math
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import OptionError, SemclusterError, SemclusterWarning

LANGS = ("en", "zh")
_HAN = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")


class LabelsError(SemclusterError, ValueError):
    """A labels file that cannot be read (not YAML, or not the labels format)."""


def _check_lang(lang: str) -> str:
    if lang not in LANGS:
        raise OptionError(f"lang must be 'en' or 'zh', not '{lang}'")
    return lang


def value_key(value) -> str:
    """One spelling of a group value: ``1``, ``1.0``, ``"1"`` and ``" 1 "`` are all ``"1"``
    (an SPSS code read as a float, a YAML key read as an int, a group label read as text)."""
    if isinstance(value, bool):
        return str(value).lower()
    text = str(value).strip()
    try:
        v = float(text)
    except ValueError:
        return text
    if math.isfinite(v) and v == int(v):
        return str(int(v))
    return repr(v) if math.isfinite(v) else text


def _language_of(text: str) -> str:
    return "zh" if _HAN.search(text) else "en"


def _pair(value, where: str) -> dict:
    """A label as {lang: text}: a dict with en/zh keys, or one text for both languages."""
    if value is None:
        return {}
    if isinstance(value, dict):
        bad = [str(k) for k in value if str(k) not in LANGS]
        if bad:
            raise LabelsError(f"{where}: languages are 'en' and 'zh', not "
                              f"{', '.join(repr(b) for b in bad)}")
        out = {}
        for k, v in value.items():
            if v is None or isinstance(v, (dict, list)):
                raise LabelsError(f"{where}.{k}: a label is a text, not "
                                  f"{'nothing' if v is None else type(v).__name__}")
            out[str(k)] = str(v).strip()
        return {k: v for k, v in out.items() if v}
    if isinstance(value, list):
        raise LabelsError(f"{where}: a label is a text or {{en: ..., zh: ...}}, not a list")
    text = str(value).strip()
    return {"en": text, "zh": text} if text else {}


def _pick(pair: dict, lang: str) -> str | None:
    """The text in ``lang``, else in the other language, else None."""
    if not pair:
        return None
    other = "zh" if lang == "en" else "en"
    return pair.get(lang) or pair.get(other)


@dataclass
class Labels:
    """Construct, item and group-value labels and a title, each in en and zh.

    ``constructs`` and ``items``: ``{name: {"en": text, "zh": text}}``; ``groups``:
    ``{column: {value: {"en": ..., "zh": ...}}}`` (values in any spelling: ``1``, ``1.0``,
    ``"1"``); ``title``: ``{"en": ..., "zh": ...}``.  A plain text instead of a dict is the
    label in both languages.
    """

    constructs: dict = field(default_factory=dict)
    items: dict = field(default_factory=dict)
    groups: dict = field(default_factory=dict)
    title_text: dict = field(default_factory=dict)
    source: str = "<labels>"

    def __post_init__(self):
        w = self.source
        self.constructs = {str(k): _pair(v, f"{w}: constructs.{k}")
                           for k, v in (self.constructs or {}).items()}
        self.items = {str(k): _pair(v, f"{w}: items.{k}") for k, v in (self.items or {}).items()}
        groups = {}
        for col, vals in (self.groups or {}).items():
            if not isinstance(vals, dict):
                raise LabelsError(f"{w}: groups.{col} must map each value of the column to its "
                                  f"label (e.g. 1: {{en: State-owned, zh: 国有}})")
            groups[str(col)] = {value_key(v): _pair(t, f"{w}: groups.{col}.{v}")
                                for v, t in vals.items()}
        self.groups = groups
        self.title_text = _pair(self.title_text, f"{w}: title")

    # -- sources -------------------------------------------------------------------------------
    @classmethod
    def from_yaml(cls, path: str | Path) -> "Labels":
        """Read a labels YAML (format in the module docstring and docs/labels.md); errors give
        the file, line and column."""
        import yaml

        p = Path(path)
        if not p.is_file():
            raise LabelsError(f"{p}: no such labels file")
        try:
            text = p.read_bytes().decode("utf-8-sig")
        except UnicodeDecodeError:
            raise LabelsError(f"{p}: the labels file is not UTF-8 text") from None
        try:
            raw = yaml.load(text, Loader=_no_bool_loader())     # noqa: S506 - a SafeLoader
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            pos = f":{mark.line + 1}:{mark.column + 1}" if mark is not None else ""
            problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
            raise LabelsError(f"{p}{pos}: not valid YAML ({problem})") from None
        if raw is None:
            raw = {}
        if not isinstance(raw, dict):
            raise LabelsError(f"{p}: a labels file is a mapping with the keys title, "
                              f"constructs, items and groups; this one is a "
                              f"{type(raw).__name__}")
        unknown = [str(k) for k in raw if str(k) not in ("title", "constructs", "items",
                                                         "groups")]
        if unknown:
            raise LabelsError(f"{p}: unknown key(s) {', '.join(unknown)}; a labels file has "
                              f"title, constructs, items and groups")
        for key in ("constructs", "items", "groups"):
            if raw.get(key) is not None and not isinstance(raw[key], dict):
                raise LabelsError(f"{p}: '{key}' must map names to labels, not a "
                                  f"{type(raw[key]).__name__}")
        return cls(constructs=raw.get("constructs") or {}, items=raw.get("items") or {},
                   groups=raw.get("groups") or {}, title_text=raw.get("title"), source=str(p))

    @classmethod
    def from_frame(cls, frame) -> "Labels":
        """The labels an SPSS/Stata file carries, from a frame read by
        :func:`semcluster.data.survey.read_survey` or :func:`semcluster.data.survey.load_data`: variable
        labels as item labels, value labels as group labels (a text with Chinese characters is
        the zh label, any other the en label).  A frame without them gives empty labels."""
        info = (getattr(frame, "attrs", None) or {}).get("semcluster", {}) or {}
        items = {}
        for col, text in (info.get("column_labels") or {}).items():
            if text is not None and str(text).strip():
                items[str(col)] = {_language_of(str(text)): str(text).strip()}
        groups = {}
        for col, vals in (info.get("value_labels") or {}).items():
            groups[str(col)] = {v: {_language_of(str(t)): str(t).strip()}
                                for v, t in vals.items() if str(t).strip()}
        return cls(items=items, groups=groups, source=str(info.get("source", "<data>")))

    def merged(self, other: "Labels | None") -> "Labels":
        """These labels, with ``other``'s filling what these do not give (per name and
        language)."""
        if other is None:
            return self

        def join(a: dict, b: dict) -> dict:
            out = {k: dict(v) for k, v in b.items()}
            for k, v in a.items():
                out[k] = {**out.get(k, {}), **v}
            return out

        groups = {col: join(self.groups.get(col, {}), other.groups.get(col, {}))
                  for col in list(other.groups) + [c for c in self.groups
                                                   if c not in other.groups]}
        return Labels(constructs=join(self.constructs, other.constructs),
                      items=join(self.items, other.items), groups=groups,
                      title_text={**other.title_text, **self.title_text},
                      source=f"{self.source} + {other.source}")

    # -- look-ups ------------------------------------------------------------------------------
    def construct(self, name: str, lang: str = "en") -> str:
        """A construct's label in ``lang`` (else the other language, else ``name``)."""
        return _pick(self.constructs.get(str(name), {}), _check_lang(lang)) or str(name)

    def item(self, name: str, lang: str = "en") -> str:
        """An item's label in ``lang`` (else the other language, else ``name``)."""
        return _pick(self.items.get(str(name), {}), _check_lang(lang)) or str(name)

    def name(self, name: str, lang: str = "en") -> str:
        """Any variable: its construct label, else its item label, else ``name``."""
        _check_lang(lang)
        return (_pick(self.constructs.get(str(name), {}), lang)
                or _pick(self.items.get(str(name), {}), lang) or str(name))

    def group(self, column: str | None, value, lang: str = "en") -> str:
        """The label of ``value`` of the grouping ``column`` (``1``, ``1.0`` and ``"1"`` are
        one value), else the value as written without a trailing ``.0``."""
        _check_lang(lang)
        key = value_key(value)
        return _pick(self.groups.get(str(column), {}).get(key, {}), lang) or key

    def title(self, lang: str = "en") -> str | None:
        """The model's (or study's) title, or None when none is given."""
        return _pick(self.title_text, _check_lang(lang))

    def has_language(self, name: str, lang: str) -> bool:
        """Whether ``name`` has a label written in ``lang`` itself (not a fallback)."""
        return bool(self.constructs.get(name, {}).get(lang)
                    or self.items.get(name, {}).get(lang))

    def for_diagram(self, lang: str = "en", group_column: str | None = None) -> dict:
        """What a diagram needs: ``names`` (construct labels, then item labels, by name),
        ``items`` (item labels), ``title`` and ``groups`` (value -> label of
        ``group_column``)."""
        _check_lang(lang)
        names = {n: self.item(n, lang) for n in self.items}
        names.update({n: self.construct(n, lang) for n in self.constructs})
        groups = {v: _pick(t, lang) or v
                  for v, t in self.groups.get(str(group_column), {}).items()}
        return {"names": names, "items": {n: self.item(n, lang) for n in self.items},
                "title": self.title(lang), "groups": groups}

    # -- text and tables -----------------------------------------------------------------------
    def annotate_summary(self, text: str, group_column: str | None = None,
                         lang: str = "en") -> str:
        """A lavaan-like summary with labels: each factor's ``KS =~`` and each outcome's
        ``IN ~`` header line gets its construct label, each ``Group 1 [1.0]:`` line its value
        label; the aligned number columns stay as they are."""
        _check_lang(lang)
        out = []
        for line in text.split("\n"):
            m = re.fullmatch(r"(  )(\S+) (=~|~)", line)
            g = re.fullmatch(r"(Group \d+ \[)(.*)(\]:)", line)
            if m and self.construct(m.group(2), lang) != m.group(2):
                line = f"{line}  ({self.construct(m.group(2), lang)})"
            elif g and group_column is not None:
                lab = self.group(group_column, g.group(2), lang)
                if lab != value_key(g.group(2)):
                    line = f"{g.group(1)}{g.group(2)}: {lab}{g.group(3)}"
            out.append(line)
        return "\n".join(out)

    def relabel_table(self, table, lang: str = "en", columns=("construct", "factor", "item",
                                                               "variable", "lhs", "rhs")):
        """A copy of a table with labels for codes: in its index, its column names and the
        columns named in ``columns``.  For printing; raw tables keep the codes."""
        _check_lang(lang)
        t = table.copy()

        def lab(v):
            return self.name(v, lang) if isinstance(v, str) else v

        t.index = t.index.map(lab)
        if t.columns.nlevels == 1:
            t.columns = [lab(c) if c not in columns else c for c in t.columns]
        for c in columns:
            if c in t.columns:
                t[c] = t[c].map(lab)
        return t

    # -- checks --------------------------------------------------------------------------------
    def unknown(self, variables, group_column=None, group_values=None) -> list:
        """Names labelled here that the model does not have (``variables``: every variable of
        the model, latent and observed), and group values not in ``group_values``."""
        known = {str(v) for v in variables}
        out = [n for n in list(self.constructs) + list(self.items) if n not in known]
        if group_column is not None and group_values is not None:
            have = {value_key(v) for v in group_values}
            out += [f"{group_column}={v}" for v in self.groups.get(str(group_column), {})
                    if v not in have]
        return list(dict.fromkeys(out))

    def warn_unknown(self, variables, group_column=None, group_values=None) -> list:
        """:meth:`unknown`, with one warning naming them (a typo in the labels file shows)."""
        names = self.unknown(variables, group_column, group_values)
        if names:
            warnings.warn(f"{self.source}: label(s) for {', '.join(names)}, which the model "
                          f"(or its groups) does not have; check the spelling (names are "
                          f"case-sensitive)",
                          SemclusterWarning, stacklevel=3)
        return names

    def __bool__(self) -> bool:
        return bool(self.constructs or self.items or self.groups or self.title_text)


@functools.lru_cache(maxsize=1)
def _no_bool_loader():
    """A SafeLoader that keeps ``NO``, ``Y``, ``on`` ... as text: construct codes, not
    booleans (YAML 1.1 would read a construct called ``NO`` as false)."""
    import yaml

    class Loader(yaml.SafeLoader):
        pass

    Loader.yaml_implicit_resolvers = {
        k: [(tag, rx) for tag, rx in v if tag != "tag:yaml.org,2002:bool"]
        for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()}
    return Loader


def read_labels(path: str | Path | None = None, *, frame=None) -> Labels:
    """The labels of a run: the YAML at ``path`` (if given), then what ``frame``'s SPSS file
    carries.  (The study's dictionary, for the study's own models only, is
    :func:`semcluster.study.study_labels`; merge it with :meth:`Labels.merged`.)"""
    lab = Labels.from_yaml(path) if path else Labels()
    if frame is not None:
        lab = lab.merged(Labels.from_frame(frame))
    return lab
