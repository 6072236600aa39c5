"""Path diagrams: the paper's Figures 1–2 done properly, and full measurement diagrams.

networkx holds each diagram's graph (nodes = variables, edges = paths/loadings) and places its
layers (``multipartite_layout``); matplotlib draws it.  No Graphviz binary is needed.  Drawing
never fits anything: the functions take a model (conceptual diagram) or a fitted result.

Every figure carries a record of what was drawn in ``fig.semcluster_layout`` — shapes with their
centres and sizes, arrows with their end points, kind, value and line style, and the text
artists — so tests can check that arrows join the right shapes, nothing overlaps and every
printed number equals the fitted one.

>>> from semcluster.output.diagrams import conceptual_diagram
>>> fig = conceptual_diagram("h1_h5")            # doctest: +SKIP
"""
from __future__ import annotations

import itertools
import json
import math
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import OptionError, SemclusterError, SemclusterWarning

GREY = "#9a9a9a"
INK = "#1a1a1a"
FILL_LATENT = "#eef3fb"
FILL_ITEM = "#ffffff"
STAR_LEVELS = ((0.001, "***"), (0.01, "**"), (0.05, "*"))


MINUS = "\u2212"                      # a true minus sign: "-0.25" on a dashed arrow reads as a dash
FONT_DIR = Path(__file__).resolve().parents[1] / "resources" / "fonts"
BUNDLED_CJK_FILE = FONT_DIR / "SemclusterSansCJKsc-Regular.otf"
BUNDLED_CJK_FAMILY = "Semcluster Sans CJK SC"
LATIN_FAMILY = "DejaVu Sans"          # ships with matplotlib: Latin, Greek, χ², −, ≥
UNIT = 0.85                           # inches per diagram unit: text and shapes keep their ratio


# ---------------------------------------------------------------------------------------------
# labels and fonts
# ---------------------------------------------------------------------------------------------
def _labels(labels, lang: str) -> dict:
    """The node labels of a diagram: ``labels`` is None (every variable keeps its own name), a
    dict name -> label, or a function of the language drawn (``en``/``zh``, after the fallback
    to English when no Chinese font is found) returning such a dict, e.g.
    :func:`semcluster.study.construct_labels`.  A variable without a label keeps its name."""
    if labels is None:
        return {}
    return dict(labels(lang) if callable(labels) else labels)


def _diagram_labels(labels, lang: str, group_column=None) -> dict:
    """Everything a diagram prints for the user's names: ``names`` (structural nodes),
    ``items`` (the items of a measurement diagram), ``title`` and ``groups`` (group value ->
    label).  ``labels`` is None, a dict or a function of the language (node names only), or a
    :class:`semcluster.data.labels.Labels` (constructs, items, groups and title).  With a Labels
    in ``zh``, names that have only an English label are named in a warning: the diagram would
    mix two languages."""
    if labels is None:
        return {"names": {}, "items": {}, "title": None, "groups": {}}
    if hasattr(labels, "for_diagram"):
        return labels.for_diagram(lang, group_column)
    return {"names": _labels(labels, lang), "items": {}, "title": None, "groups": {}}


def _warn_mixed(labels, lang: str, drawn) -> None:
    """In a zh diagram, name the drawn variables whose label exists in English only: the
    diagram would mix two languages."""
    if lang != "zh" or not hasattr(labels, "has_language"):
        return
    mixed = [n for n in drawn if (n in labels.constructs or n in labels.items)
             and not labels.has_language(n, "zh")]
    if mixed:
        warnings.warn(f"no zh label for {', '.join(mixed)} ({labels.source}): drawn with the en "
                      f"label, so the diagram mixes two languages; add zh labels",
                      SemclusterWarning, stacklevel=3)


#: an item label longer than this (display width, a Chinese character counts 2) stays its code
#: in a diagram: a question text does not fit a box; tables print it in full
ITEM_LABEL_WIDTH = 24


def _item_label(items: dict, it: str) -> str:
    import unicodedata

    text = items.get(it)
    if not text:
        return it
    width = sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)
    return text if width <= ITEM_LABEL_WIDTH and "\n" not in text else it


def _group_title(dl: dict, group) -> str:
    """A group's name in a diagram: its value label, else the value (``1.0`` as ``1``)."""
    from ..data.labels import value_key

    return dl["groups"].get(value_key(group)) or value_key(group)


def bundled_cjk_font() -> str | None:
    """Register the Chinese font shipped with semcluster (an OFL subset of Noto Sans CJK SC,
    see ``semcluster/resources/fonts/OFL.txt``) with matplotlib's font manager; its family name, or None
    if the file is missing or unreadable."""
    from matplotlib import font_manager

    if any(f.name == BUNDLED_CJK_FAMILY for f in font_manager.fontManager.ttflist):
        return BUNDLED_CJK_FAMILY
    if not BUNDLED_CJK_FILE.is_file():
        return None
    try:
        font_manager.fontManager.addfont(str(BUNDLED_CJK_FILE))
    except Exception:  # noqa: BLE001 - a damaged install falls back to the system fonts
        return None
    return BUNDLED_CJK_FAMILY


def _font_file(family: str) -> str | None:
    """The file matplotlib actually uses for *family* (None if it would substitute another)."""
    from matplotlib import font_manager

    prop = font_manager.FontProperties(family=[family])    # a list: never a fontconfig pattern
    try:
        path = font_manager.findfont(prop, fallback_to_default=False)
    except (ValueError, RuntimeError):
        return None
    names = {f.name for f in font_manager.fontManager.ttflist if f.fname == path}
    return path if family in names else None


def _has_chars(path: str, chars: str) -> bool:
    from matplotlib.ft2font import FT2Font

    try:
        font = FT2Font(path)
    except Exception:  # noqa: BLE001 - unreadable font files have no glyphs
        return False
    return all(font.get_char_index(ord(c)) for c in chars)


def cjk_font() -> str | None:
    """Family name of a font with Chinese glyphs: the bundled one, else an installed one that
    matplotlib resolves to a file really holding the glyphs (a family that resolves to a
    substitute would draw empty boxes), else None."""
    from matplotlib import font_manager

    font = bundled_cjk_font()
    if font is not None:
        return font
    preferred = ("Noto Sans CJK", "Noto Serif CJK", "Source Han", "WenQuanYi",
                 "Droid Sans Fallback", "SimHei", "Microsoft YaHei", "PingFang", "AR PL")
    names = sorted({f.name for f in font_manager.fontManager.ttflist},
                   key=lambda n: (not any(p in n for p in preferred), n))
    for name in names:
        if "Last Resort" in name:        # matplotlib's own: a box showing the code range
            continue
        path = _font_file(name)
        if path and _has_chars(path, "集群意识宣传活动道德责任知识共享长期导向企业创新"):
            return name
    return None


def _resolve_lang(lang: str) -> tuple[str, list]:
    """(language actually drawn, font families in fallback order)."""
    if lang not in ("en", "zh"):
        raise OptionError(f"--lang must be 'en' or 'zh', not '{lang}'")
    cjk = cjk_font()
    if lang == "en":
        return "en", [LATIN_FAMILY] + ([cjk] if cjk else [])
    if cjk is None:
        warnings.warn("no font with Chinese characters was found (the font bundled with "
                      "semcluster is missing; Debian: apt-get install fonts-noto-cjk); drawing "
                      "the labels in English", SemclusterWarning, stacklevel=3)
        return "en", [LATIN_FAMILY]
    return "zh", [cjk, LATIN_FAMILY]


def _check_glyphs(texts, families) -> None:
    """Warn, naming the characters, if no font in *families* has a glyph for them (matplotlib
    would draw an empty box)."""
    from matplotlib import font_manager
    from matplotlib.ft2font import FT2Font

    fonts = []
    for fam in families:
        path = font_manager.findfont(font_manager.FontProperties(family=[fam]))
        try:
            fonts.append(FT2Font(path))
        except Exception:  # noqa: BLE001
            continue
    missing = []
    for t in texts:
        for ch in t.get_text():
            if ch.isspace() or ch in missing:
                continue
            if not any(f.get_char_index(ord(ch)) for f in fonts):
                missing.append(ch)
    if missing:
        warnings.warn(f"no available font ({', '.join(families)}) has a glyph for "
                      f"{' '.join(repr(c) for c in missing)}: these characters are drawn as "
                      f"empty boxes; rename the variables or install a font that has them",
                      SemclusterWarning, stacklevel=3)


def _wrap(label: str, width: int = 18) -> str:
    import textwrap

    return "\n".join(textwrap.wrap(label, width)) if " " in label else label


def stars(p: float) -> str:
    if p is None or not np.isfinite(p):
        return ""
    for level, s in STAR_LEVELS:
        if p < level:
            return s
    return ""


def format_number(value: float, decimals: int = 2) -> str:
    """A number as printed in a diagram: fixed decimals, a true minus sign (U+2212), never
    "−0.00"."""
    if value is None or not np.isfinite(value):
        return "n/a"
    txt = f"{value:.{decimals}f}"
    if float(txt) == 0:
        txt = txt.lstrip("-")
    return txt.replace("-", MINUS)


def format_coef(value: float, p: float | None = None) -> str:
    """How a coefficient is printed on an arrow: two decimals, a true minus sign, stars from p."""
    return format_number(value) + (stars(p) if p is not None else "")


def parse_number(text: str) -> float:
    """Inverse of :func:`format_coef` (stars dropped, U+2212 read as minus)."""
    return float(text.rstrip("*").replace(MINUS, "-"))


# ---------------------------------------------------------------------------------------------
# result access (a SEMResult, or the JSON written by `semcluster fit --json`)
# ---------------------------------------------------------------------------------------------
@dataclass
class ResultView:
    """What the diagrams need from a fit."""

    estimates: pd.DataFrame
    fit_measures: pd.Series
    r2: pd.Series
    nobs: int
    estimator: str = "ML"
    name: str = "model"

    @property
    def latent(self) -> list[str]:
        e = self.estimates
        return list(dict.fromkeys(e.loc[e.op == "=~", "lhs"]))


def _one_group(groups, group, where: str) -> int:
    """The position of ``group`` among a multi-group fit's ``groups`` (a clear error when it
    is missing or unknown: a diagram draws one group's estimates)."""
    groups = [str(g) for g in groups]
    if group is None:
        raise SemclusterError(f"{where} has {len(groups)} groups ({', '.join(groups)}): a "
                              f"diagram draws one group; choose it (group='{groups[0]}', "
                              f"--group {groups[0]})")
    if str(group) not in groups:
        raise SemclusterError(f"group '{group}' is not one of the fit's groups "
                              f"({', '.join(groups)})")
    return groups.index(str(group))


def as_view(result, group=None) -> ResultView:
    """A SEMResult, a dict from its JSON, or a path to such a JSON file.  A fit with several
    groups is drawn one group at a time: ``group`` names it (a label of ``result.groups``)."""
    if isinstance(result, ResultView):
        return result
    if isinstance(result, (str, Path)):
        p = Path(result)
        try:
            result = json.loads(p.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise SemclusterError(f"{p}: not a result JSON written by 'semcluster fit --json' "
                                  f"({exc})") from None
    if group is not None and not _groups_of(result):
        raise SemclusterError(f"group '{group}' asked for, but this result has one group "
                              f"(a multi-group result comes from fit(..., group=COLUMN))")
    if isinstance(result, dict):
        if result.get("groups"):
            gi = _one_group(result["groups"], group, "this result")
            label = str(result["groups"][gi])
            est = pd.DataFrame(result["estimates"])
            est = est[est["group"] == gi + 1].drop(columns="group")
            return ResultView(estimates=est.reset_index(drop=True),
                              fit_measures=pd.Series(result["fit_measures"], dtype=float),
                              r2=pd.Series((result.get("r2") or {}).get(label, {}),
                                           dtype=float),
                              nobs=int((result.get("group_nobs") or {}).get(label,
                                                                            result["nobs"])),
                              estimator=result.get("estimator", "ML"),
                              name=f"{result.get('model', 'model')} [{label}]")
        try:
            est = pd.DataFrame(result["estimates"])
            return ResultView(estimates=est, fit_measures=pd.Series(result["fit_measures"],
                                                                   dtype=float),
                              r2=pd.Series(result.get("r2", {}), dtype=float),
                              nobs=int(result["nobs"]), estimator=result.get("estimator", "ML"),
                              name=result.get("model", "model"))
        except (KeyError, TypeError, ValueError) as exc:
            raise SemclusterError(f"result JSON lacks a field the diagram needs ({exc})") from None
    if getattr(result, "groups", ()):
        gi = _one_group(result.groups, group, "this fit")
        e = result.estimates
        m = result.moments[gi]
        return ResultView(estimates=e[e.group == gi + 1].drop(columns="group")
                          .reset_index(drop=True), fit_measures=result.fit_measures,
                          r2=m.r2, nobs=int(m.nobs), estimator=result.estimator,
                          name=f"{result.spec.name} [{m.label}]")
    return ResultView(estimates=result.estimates, fit_measures=result.fit_measures,
                      r2=result.r2, nobs=result.nobs, estimator=result.estimator,
                      name=result.spec.name)


# ---------------------------------------------------------------------------------------------
# geometry
# ---------------------------------------------------------------------------------------------
@dataclass
class Shape:
    name: str
    kind: str            # "ellipse" or "rect"
    x: float
    y: float
    w: float
    h: float

    def boundary_point(self, tx: float, ty: float) -> tuple[float, float]:
        """Where the ray from the centre toward (tx, ty) leaves the shape."""
        dx, dy = tx - self.x, ty - self.y
        if dx == 0 and dy == 0:
            return self.x, self.y
        if self.kind == "ellipse":
            s = 1 / math.sqrt((dx / (self.w / 2)) ** 2 + (dy / (self.h / 2)) ** 2)
        else:
            sx = (self.w / 2) / abs(dx) if dx else math.inf
            sy = (self.h / 2) / abs(dy) if dy else math.inf
            s = min(sx, sy)
        return self.x + s * dx, self.y + s * dy

    def contains(self, px: float, py: float, tol: float = 1e-9) -> float:
        """Boundary measure: < 1 inside, 1 on the boundary, > 1 outside."""
        dx, dy = px - self.x, py - self.y
        if self.kind == "ellipse":
            return math.sqrt((dx / (self.w / 2)) ** 2 + (dy / (self.h / 2)) ** 2)
        return max(abs(dx) / (self.w / 2), abs(dy) / (self.h / 2))

    def measure(self, pts: np.ndarray) -> np.ndarray:
        """:meth:`contains` for an (n, 2) array of points."""
        dx = (pts[:, 0] - self.x) / (self.w / 2)
        dy = (pts[:, 1] - self.y) / (self.h / 2)
        if self.kind == "ellipse":
            return np.sqrt(dx ** 2 + dy ** 2)
        return np.maximum(np.abs(dx), np.abs(dy))

    def bbox(self):
        return (self.x - self.w / 2, self.y - self.h / 2, self.x + self.w / 2,
                self.y + self.h / 2)


@dataclass
class Arrow:
    source: str
    target: str
    kind: str                     # "path", "hypothesis", "loading", "covariance"
    start: tuple
    end: tuple
    label: str = ""
    value: float | None = None
    pvalue: float | None = None
    dashed: bool = False
    color: str = INK
    artist: object = None
    text_artist: object = None
    rad: float = 0.0
    path: np.ndarray | None = None     # points along the drawn curve, start to end


@dataclass
class Layout:
    shapes: dict = field(default_factory=dict)
    arrows: list = field(default_factory=list)
    texts: list = field(default_factory=list)     # matplotlib Text artists
    caption: object = None                         # the caption's Text artist, if any


def _curve(start, end, rad: float, n: int = 60) -> np.ndarray:
    """matplotlib's ``arc3`` connection (a quadratic Bézier whose control point lies off the
    chord's midpoint by rad × the chord, turned clockwise) sampled at n points; with equal axis
    scales the curve is the same in data and display units."""
    p0, p2 = np.asarray(start, float), np.asarray(end, float)
    d = p2 - p0
    c = (p0 + p2) / 2 + rad * np.array([d[1], -d[0]])
    t = np.linspace(0, 1, n)[:, None]
    return (1 - t) ** 2 * p0 + 2 * (1 - t) * t * c + t ** 2 * p2


def _ends(A: Shape, B: Shape, rad: float):
    """Start and end on the two boundaries; for a curve, toward its control point so that the
    curve leaves each shape outward."""
    start, end = A.boundary_point(B.x, B.y), B.boundary_point(A.x, A.y)
    for _ in range(3 if rad else 0):
        p0, p2 = np.asarray(start), np.asarray(end)
        d = p2 - p0
        c = (p0 + p2) / 2 + rad * np.array([d[1], -d[0]])
        start, end = A.boundary_point(*c), B.boundary_point(*c)
    return start, end


def _crossings(pts: np.ndarray, shapes, skip) -> int:
    """How many shapes (other than *skip*) the sampled curve enters."""
    inner = pts[2:-2]
    return sum(bool((s.measure(inner) <= 1.04).any()) for s in shapes if s.name not in skip)


# ---------------------------------------------------------------------------------------------
# the model's structure, from a parsed model or from a result's estimates
# ---------------------------------------------------------------------------------------------
@dataclass
class Structure:
    """What a diagram draws: structural nodes (latent factors, and observed variables that take
    part in regressions), the items of each factor, loadings between structural nodes
    (second-order factors), and regressions (lhs ~ rhs)."""

    latent: list
    observed: list                 # observed variables in the structural part (rectangles)
    items: dict                    # factor -> its observed indicators
    higher: list                   # (factor, structural node it loads on)
    regressions: list              # (lhs, rhs, label)
    rows: pd.DataFrame             # the parameter rows (lhs op rhs label [std_all pvalue])

    @property
    def nodes(self) -> list:
        return list(dict.fromkeys(self.latent + self.observed))

    @property
    def endogenous(self) -> set:
        return {lhs for lhs, _, _ in self.regressions} | {v for _, v in self.higher}


def structure(model) -> Structure:
    """The :class:`Structure` of a ``ModelSpec`` (its parameter table) or a result."""
    if hasattr(model, "partable"):
        rows = model.partable
    else:
        rows = as_view(model).estimates
    rows = rows.copy()
    rows["label"] = rows["label"].fillna("").astype(str) if "label" in rows else ""
    load = rows[rows.op == "=~"]
    reg = rows[rows.op == "~"]
    latent = list(dict.fromkeys(load.lhs))
    in_reg = list(dict.fromkeys(list(reg.rhs) + list(reg.lhs)))
    observed = [v for v in in_reg if v not in latent]
    struct = set(latent) | set(observed)
    items = {f: [v for v in load.loc[load.lhs == f, "rhs"] if v not in struct] for f in latent}
    higher = [(r.lhs, r.rhs) for r in load.itertuples() if r.rhs in struct]
    regressions = [(r.lhs, r.rhs, r.label) for r in reg.itertuples()]
    return Structure(latent, observed, items, higher, regressions, rows)


def _layers(st: Structure) -> dict:
    """Column of each structural node: exogenous nodes left, mediators in the middle, final
    outcomes in the last column.  A second-order factor's first-order factors stand outside it:
    left of an exogenous one, right of one that is predicted."""
    import networkx as nx

    g = nx.DiGraph()
    g.add_nodes_from(st.nodes)
    predicted = {lhs for lhs, _, _ in st.regressions}
    for lhs, rhs, _ in st.regressions:
        if lhs != rhs:
            g.add_edge(rhs, lhs)
    for f, v in st.higher:
        g.add_edge(f, v) if f in predicted else g.add_edge(v, f)
    while True:                        # non-recursive models: drop a back edge per cycle
        try:
            cyc = nx.find_cycle(g)
        except nx.NetworkXNoCycle:
            break
        g.remove_edge(*cyc[-1][:2])
    layer = {}
    for n in nx.topological_sort(g):
        layer[n] = max((layer[p] + 1 for p in g.predecessors(n)), default=0)
    last = max(layer.values(), default=0)
    for n in g:
        if g.in_degree(n) and not g.out_degree(n):
            layer[n] = last
    return layer, g


# ---------------------------------------------------------------------------------------------
# the scene: shapes placed in data units, arrows routed around shapes, then drawn
# ---------------------------------------------------------------------------------------------
_MEASURE = {}


def _text_size(s: str, fontsize: float, families) -> tuple[float, float]:
    """Width and height of a text in diagram units (Agg extents at 72 dpi)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    key = (s, fontsize, tuple(families))
    if key not in _MEASURE:
        if "fig" not in _MEASURE:
            fig = Figure(figsize=(4, 4), dpi=72)
            FigureCanvasAgg(fig)
            _MEASURE["fig"] = fig
        fig = _MEASURE["fig"]
        t = fig.text(0, 0, s, fontsize=fontsize, family=list(families), parse_math=False)
        bb = t.get_window_extent(fig.canvas.get_renderer())
        t.remove()
        _MEASURE[key] = (bb.width / 72 / UNIT, bb.height / 72 / UNIT)
    return _MEASURE[key]


@dataclass
class _Node:
    name: str
    kind: str
    label: str
    fontsize: float
    w: float
    h: float
    fill: str = FILL_LATENT
    x: float = 0.0
    y: float = 0.0


@dataclass
class _Edge:
    source: str
    target: str
    kind: str
    label: str = ""
    value: float | None = None
    pvalue: float | None = None
    dashed: bool = False
    color: str = INK
    double: bool = False
    fontsize: float = 9
    rad: float | None = None          # None: routed around shapes
    label_t: tuple = (0.5, 0.42, 0.58, 0.34, 0.66, 0.27, 0.73, 0.2, 0.8)


@dataclass
class _Note:
    x: float
    y: float
    text: str
    fontsize: float
    color: str = INK
    attrs: dict = field(default_factory=dict)
    ha: str = "center"


class _Scene:
    """Shapes, arrows and free texts in diagram units; :meth:`draw` renders it."""

    def __init__(self, families):
        self.families = list(families)
        self.nodes: dict[str, _Node] = {}
        self.edges: list[_Edge] = []
        self.notes: list[_Note] = []

    # -- shapes -------------------------------------------------------------------------------
    def node(self, name, kind, label, fontsize=10, fill=FILL_LATENT, min_w=None, min_h=None):
        tw, th = _text_size(label, fontsize, self.families)
        if kind == "ellipse":
            w, h = max(min_w or 2.3, 1.42 * tw + 0.35), max(min_h or 0.95, 1.42 * th + 0.2)
        else:
            w, h = max(min_w or 0.9, tw + 0.3), max(min_h or 0.42, th + 0.16)
        self.nodes[name] = _Node(name, kind, label, fontsize, w, h, fill)
        return self.nodes[name]

    def shape_objs(self, names=None):
        return [Shape(n.name, n.kind, n.x, n.y, n.w, n.h) for n in self.nodes.values()
                if names is None or n.name in names]

    # -- routing -------------------------------------------------------------------------------
    def route(self, edge: _Edge, shapes):
        A, B = shapes[edge.source], shapes[edge.target]
        others = [s for s in shapes.values() if s.name not in (edge.source, edge.target)]
        cands = ((edge.rad,) if edge.rad is not None else
                 (0.0, 0.1, -0.1, 0.2, -0.2, 0.3, -0.3, 0.42, -0.42, 0.55, -0.55, 0.7, -0.7))
        best = None
        for rad in cands:
            start, end = _ends(A, B, rad)
            pts = _curve(start, end, rad)
            n = _crossings(pts, others, ()) if edge.kind != "covariance" else 0
            if best is None or n < best[0]:
                best = (n, rad, start, end, pts)
            if n == 0:
                break
        return best[1:]

    def extent(self, routes):
        xs, ys = [], []
        for n in self.nodes.values():
            xs += [n.x - n.w / 2, n.x + n.w / 2]
            ys += [n.y - n.h / 2, n.y + n.h / 2]
        for _, _, _, pts in routes:
            xs += list(pts[:, 0])
            ys += list(pts[:, 1])
        for t in self.notes:
            w, h = _text_size(t.text, t.fontsize, self.families)
            x0 = t.x - w / 2 if t.ha == "center" else (t.x if t.ha == "left" else t.x - w)
            xs += [x0, x0 + w]
            ys += [t.y - h / 2, t.y + h / 2]
        return min(xs), max(xs), min(ys), max(ys)

    # -- drawing -------------------------------------------------------------------------------
    def draw(self, ax=None, *, caption=None, title=None, fig=None, margin=0.35):
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
        from matplotlib.patches import Ellipse, FancyArrowPatch, Rectangle

        shapes = {s.name: s for s in self.shape_objs()}
        routes = [self.route(e, shapes) for e in self.edges]
        x0, x1, y0, y1 = self.extent(routes)
        x0, x1, y0, y1 = x0 - margin, x1 + margin, y0 - margin, y1 + margin
        title_h = 0.0
        if title:
            title_h = _text_size(title, 11, self.families)[1] + 0.3
            y1 += title_h
        cap_h = 0.0
        if caption:
            cw, ch = _text_size(caption, 8.5, self.families)
            cap_h = ch + 0.35
            if cw + 0.4 > x1 - x0:          # the figure is at least as wide as its caption
                grow = (cw + 0.4 - (x1 - x0)) / 2
                x0, x1 = x0 - grow, x1 + grow
        W, H = (x1 - x0) * UNIT, (y1 - y0 + cap_h) * UNIT
        if ax is None:
            if fig is None:
                fig = Figure(figsize=(W, H))
                FigureCanvasAgg(fig)          # no pyplot: nothing global is touched
            ax = fig.add_axes([0, cap_h / (y1 - y0 + cap_h), 1, (y1 - y0) / (y1 - y0 + cap_h)])
        fig = ax.figure
        ax.set_axis_off()
        ax.set_xlim(x0, x1)
        ax.set_ylim(y0, y1)
        ax.set_aspect("equal")
        layout = Layout()
        fam = self.families

        def text(x, y, s, **kw):
            kw.setdefault("ha", "center")
            kw.setdefault("va", "center")
            t = ax.text(x, y, s, family=fam, parse_math=False, **kw)
            layout.texts.append(t)
            return t

        for n in self.nodes.values():
            if n.kind == "ellipse":
                p = Ellipse((n.x, n.y), n.w, n.h, facecolor=n.fill, edgecolor=INK, lw=1.2,
                            zorder=2)
            else:
                p = Rectangle((n.x - n.w / 2, n.y - n.h / 2), n.w, n.h, facecolor=n.fill,
                              edgecolor=INK, lw=1.0, zorder=2)
            ax.add_patch(p)
            layout.shapes[n.name] = shapes[n.name]
            text(n.x, n.y, n.label, fontsize=n.fontsize, zorder=3)
        for note in self.notes:
            t = text(note.x, note.y, note.text, fontsize=note.fontsize, color=note.color,
                     zorder=3, ha=note.ha)
            for k, v in note.attrs.items():
                setattr(t, k, v)
        if title:
            text((x0 + x1) / 2, y1 - title_h / 2 - 0.05, title, fontsize=11)
        if caption:
            t = fig.text(0.5, (cap_h / 2) / (y1 - y0 + cap_h) if ax.get_position().y0 > 0
                         else 0.02, caption, ha="center", va="center", fontsize=8.5,
                         family=fam, parse_math=False)
            layout.texts.append(t)
            layout.caption = t
        for e, (rad, start, end, pts) in zip(self.edges, routes):
            patch = FancyArrowPatch(start, end, arrowstyle="<|-|>" if e.double else "-|>",
                                    mutation_scale=12, connectionstyle=f"arc3,rad={rad}",
                                    shrinkA=0, shrinkB=0, color=e.color, lw=1.3,
                                    linestyle="--" if e.dashed else "-", zorder=1)
            ax.add_patch(patch)
            layout.arrows.append(Arrow(e.source, e.target, e.kind, start, end, e.label, e.value,
                                       e.pvalue, e.dashed, e.color, patch, rad=rad, path=pts))
        self._place_labels(ax, layout, text)
        _check_glyphs(layout.texts, fam)
        fig.semcluster_layout = layout
        return fig, layout

    def _place_labels(self, ax, layout, text):
        """Each arrow's label at the first point along its curve where it overlaps no text, no
        shape and (if possible) no other arrow; loadings first, they have the least room."""
        renderer = ax.figure.canvas.get_renderer()
        to_px = ax.transData.transform
        boxes = [t.get_window_extent(renderer) for t in layout.texts if t.get_text().strip()]
        shape_px = []
        for s in layout.shapes.values():
            (a, b), (c, d) = to_px([(s.bbox()[0], s.bbox()[1]), (s.bbox()[2], s.bbox()[3])])
            shape_px.append((s.name, a, b, c, d))
        paths_px = [(arr, to_px(arr.path)) for arr in layout.arrows]
        order = sorted(range(len(self.edges)), key=lambda i: self.edges[i].kind != "loading")
        for i in order:
            e, arr = self.edges[i], layout.arrows[i]
            if not e.label:
                continue
            n = len(arr.path) - 1
            best = None
            probe = ax.text(0, 0, e.label, fontsize=e.fontsize, ha="center", va="center",
                            family=self.families, parse_math=False)
            size = probe.get_window_extent(renderer)
            probe.remove()
            px_per_unit = abs(to_px([(1, 0)])[0][0] - to_px([(0, 0)])[0][0])
            lw, lh = size.width / px_per_unit, size.height / px_per_unit
            # structural paths: the label beside the line, so that a minus sign is never read
            # as one more dash of a dashed arrow; loadings (short, crowded): on the line
            sides = (1, -1, 0) if e.kind in ("path", "hypothesis") else (0,)
            own_px = to_px(arr.path)
            for t, side in itertools.product(e.label_t, sides):
                i = round(t * n)
                x, y = arr.path[i]
                if side:
                    tx, ty = arr.path[min(i + 1, n)] - arr.path[max(i - 1, 0)]
                    nx_, ny_ = -ty, tx
                    norm = math.hypot(nx_, ny_) or 1.0
                    nx_, ny_ = nx_ / norm, ny_ / norm
                    if ny_ < 0 or (ny_ == 0 and nx_ > 0):      # +1: above (or left of) the line
                        nx_, ny_ = -nx_, -ny_
                    off = side * (abs(nx_) * lw / 2 + abs(ny_) * lh / 2 + 0.1)
                    x, y = x + off * nx_, y + off * ny_
                probe = ax.text(x, y, e.label, fontsize=e.fontsize, ha="center", va="center",
                                family=self.families, parse_math=False)
                bb = probe.get_window_extent(renderer).expanded(1.12, 1.25)
                probe.remove()
                cost = 100 * sum(bb.overlaps(b) for b in boxes)
                cost += 100 * sum(not (bb.x1 < a or c < bb.x0 or bb.y1 < b or d < bb.y0)
                                  for _, a, b, c, d in shape_px)
                cost += sum(bool(((p[:, 0] > bb.x0) & (p[:, 0] < bb.x1) & (p[:, 1] > bb.y0)
                                  & (p[:, 1] < bb.y1)).any())
                            for other, p in paths_px if other is not arr)
                # a label beside its line must be nearer to it than to any other line
                c = np.array([(bb.x0 + bb.x1) / 2, (bb.y0 + bb.y1) / 2])
                d_own = np.hypot(*(own_px - c).T).min()
                if any(np.hypot(*(p - c).T).min() < d_own for other, p in paths_px
                       if other is not arr):
                    cost += 10
                if best is None or cost < best[0]:
                    best = (cost, x, y)
                if cost == 0:
                    break
            _, x, y = best
            arr.text_artist = text(x, y, e.label, fontsize=e.fontsize, color=e.color,
                                   zorder=4, bbox={"boxstyle": "round,pad=0.28", "fc": "white",
                                                       "ec": "none"})
            boxes.append(arr.text_artist.get_window_extent(renderer))


# ---------------------------------------------------------------------------------------------
# layered layout (networkx): exogenous left, mediators middle, outcomes right
# ---------------------------------------------------------------------------------------------
ITEM_STEP = 0.6          # vertical distance between stacked items
ITEM_GAP_X = 0.18        # horizontal gap between items in a row
COL_GAP = 3.0            # free space between two columns of structural nodes
ITEM_COL_GAP = 1.7       # free space between a factor and its column of items
BLOCK_GAP = 0.55         # vertical space between two nodes (with their items) in a column


def _rank_positions(cols) -> dict:
    """Column and centred rank of every node (columns are centred on one line)."""
    return {n: (k, (len(col) - 1) / 2 - i) for k, col in enumerate(cols)
            for i, n in enumerate(col)}


def _cross(p1, p2, q1, q2) -> bool:
    def orient(a, b, c):
        v = (b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0])
        return (v > 1e-12) - (v < -1e-12)
    return (orient(p1, p2, q1) * orient(p1, p2, q2) < 0
            and orient(q1, q2, p1) * orient(q1, q2, p2) < 0)


def layer_crossings(cols, edges) -> int:
    """Pairs of edges that cross when every column is drawn as its order (straight lines
    between centred ranks; edges sharing a node never count)."""
    pos = _rank_positions(cols)
    segs = [(pos[a], pos[b], a, b) for a, b in edges if a in pos and b in pos and a != b]
    n = 0
    for (p1, p2, a1, b1), (q1, q2, a2, b2) in itertools.combinations(segs, 2):
        if a1 in (a2, b2) or b1 in (a2, b2):
            continue
        n += _cross(p1, p2, q1, q2)
    return n


def order_layers(cols, edges, sweeps: int = 8) -> list:
    """An order of the nodes within each column with as few crossings as the search finds:
    barycentre sweeps (down and up, each node at the mean centred rank of its neighbours in
    the other columns), then swaps of neighbours in a column while a swap removes a crossing.
    The order given is kept unless another has strictly fewer crossings."""
    cols = [list(c) for c in cols]
    best, best_n = [list(c) for c in cols], layer_crossings(cols, edges)
    if best_n == 0 or len(cols) < 2:
        return best
    nbrs: dict = {}
    for a, b in edges:
        nbrs.setdefault(a, []).append(b)
        nbrs.setdefault(b, []).append(a)
    cur = [list(c) for c in cols]
    for sweep in range(sweeps):
        ks = range(1, len(cur)) if sweep % 2 == 0 else range(len(cur) - 2, -1, -1)
        for k in ks:
            pos = _rank_positions(cur)

            def key(n, k=k, pos=pos):
                ys = [pos[m][1] for m in nbrs.get(n, ()) if m in pos and pos[m][0] != k]
                return (-np.mean(ys) if ys else -pos[n][1], cur[k].index(n))
            cur[k] = sorted(cur[k], key=key)
        n = layer_crossings(cur, edges)
        if n < best_n:
            best, best_n = [list(c) for c in cur], n
        if best_n == 0:
            return best
    cur = [list(c) for c in best]
    improved = True
    while improved and best_n:
        improved = False
        for k, col in enumerate(cur):
            for i in range(len(col) - 1):
                col[i], col[i + 1] = col[i + 1], col[i]
                n = layer_crossings(cur, edges)
                if n < best_n:
                    best, best_n, improved = [list(c) for c in cur], n, True
                else:
                    col[i], col[i + 1] = col[i + 1], col[i]
    return best


def _layout(scene: _Scene, st: Structure, *, items: bool, error_text: dict | None = None):
    """Place the scene's structural nodes (and, with *items*, every factor's items) so that no
    two shapes overlap: columns from :func:`_layers`, order within a column by the barycentre of
    the predecessors, items beside factors in the first and last column and in a row above or
    below a factor in a middle column; middle columns slide up or down so that arrows which
    skip them pass beside their shapes."""
    layer, g = _layers(st)
    order = {n: i for i, n in enumerate(st.nodes)}
    last = max(layer.values(), default=0)
    cols = [[n for n in st.nodes if layer[n] == k] for k in range(last + 1)]
    pos_rank = {n: i / max(len(cols[0]), 1) for i, n in enumerate(cols[0])}
    for k in range(1, last + 1):
        def bary(n):
            ps = [pos_rank[p] for p in g.predecessors(n) if p in pos_rank]
            ps += [pos_rank[s] for s in g.successors(n) if s in pos_rank]
            return (np.mean(ps) if ps else 0.5, order[n])
        cols[k].sort(key=bary)
        pos_rank.update({n: i / max(len(cols[k]), 1) for i, n in enumerate(cols[k])})
    cols = order_layers(cols, list(g.edges()))

    side = {}                       # factor -> "left" | "right" | "above" | "below"
    if items:
        for k, col in enumerate(cols):
            for n in col:
                if st.items.get(n):
                    side[n] = "left" if k == 0 else ("right" if k == last else "below")
    item_w = {}
    for f in side:
        for it in st.items[f]:
            item_w[it] = scene.nodes[it].w

    def block(n):
        node = scene.nodes[n]
        if n not in side:
            return node.w, node.h
        its = st.items[n]
        if side[n] in ("left", "right"):
            return node.w, max(node.h, len(its) * ITEM_STEP)
        row_w = sum(item_w[i] for i in its) + ITEM_GAP_X * (len(its) - 1)
        ih = max(scene.nodes[i].h for i in its)
        return max(node.w, row_w), node.h + 0.9 + ih

    # x of each column: item columns outside, gaps wide enough for labels
    col_w = [max((block(n)[0] for n in col), default=1.0) for col in cols]
    xs, x = [], 0.0
    for k, w in enumerate(col_w):
        x = x + (col_w[k - 1] / 2 + COL_GAP + w / 2 if k else 0.0)
        xs.append(x)
    max_item_w = max(item_w.values(), default=0.9)

    def place_column(k, shift=0.0, flip=False):
        col = cols[k]
        hs = [block(n)[1] for n in col]
        total = sum(hs) + BLOCK_GAP * (len(col) - 1)
        y = total / 2 + shift
        for n, h in zip(col, hs):
            node = scene.nodes[n]
            node.x = xs[k]
            top = y
            s = side.get(n)
            if s in ("below", "above") and flip:
                s = "above" if s == "below" else "below"
                side[n] = s
            if s in ("left", "right"):
                its = st.items[n]
                ys = [top - (h - len(its) * ITEM_STEP) / 2 - (i + 0.5) * ITEM_STEP
                      for i in range(len(its))]
                node.y = float(np.mean(ys))
                xi = (xs[k] - node.w / 2 - ITEM_COL_GAP - max_item_w / 2 if s == "left"
                      else xs[k] + node.w / 2 + ITEM_COL_GAP + max_item_w / 2)
                for it, iy in zip(its, ys):
                    scene.nodes[it].x, scene.nodes[it].y = xi, iy
            elif s in ("above", "below"):
                its = st.items[n]
                ih = max(scene.nodes[i].h for i in its)
                row_w = sum(item_w[i] for i in its) + ITEM_GAP_X * (len(its) - 1)
                if s == "below":
                    node.y = top - node.h / 2
                    iy = top - h + ih / 2
                else:
                    node.y = top - h + node.h / 2
                    iy = top - ih / 2
                xi = xs[k] - row_w / 2
                for it in its:
                    scene.nodes[it].x, scene.nodes[it].y = xi + item_w[it] / 2, iy
                    xi += item_w[it] + ITEM_GAP_X
            else:
                node.y = top - h / 2
            y -= h + BLOCK_GAP

    for k in range(len(cols)):
        place_column(k)
    first_side = dict(side)

    edges = [e for e in scene.edges if e.kind != "covariance"
             and e.source in scene.nodes and e.target in scene.nodes]
    names = list(scene.nodes)
    index = {n: i for i, n in enumerate(names)}
    own = np.zeros((len(edges), len(names)), bool)
    for i, e in enumerate(edges):
        own[i, index[e.source]] = own[i, index[e.target]] = True
    is_ellipse = np.array([scene.nodes[n].kind == "ellipse" for n in names])
    t = np.linspace(0.05, 0.95, 30)[None, :, None]

    def crossings():
        # straight centre-to-centre segments against every shape at once, the shapes grown by
        # a margin: an arrow that skips a column should pass it with room for its label
        nodes = [scene.nodes[n] for n in names]
        cx = np.array([n.x for n in nodes])
        cy = np.array([n.y for n in nodes])
        hw = np.array([n.w for n in nodes]) / 2 + 0.4
        hh = np.array([n.h for n in nodes]) / 2 + 0.3
        a = np.array([[scene.nodes[e.source].x, scene.nodes[e.source].y] for e in edges])
        b = np.array([[scene.nodes[e.target].x, scene.nodes[e.target].y] for e in edges])
        if not len(edges):
            return 0
        pts = a[:, None, :] + t * (b - a)[:, None, :]                  # (edges, t, 2)
        dx = (pts[..., 0:1] - cx) / hw                                 # (edges, t, shapes)
        dy = (pts[..., 1:2] - cy) / hh
        m = np.where(is_ellipse, np.sqrt(dx ** 2 + dy ** 2), np.maximum(abs(dx), abs(dy)))
        hit = (m <= 1).any(axis=1) & ~own
        return 100 * int(hit.sum()) + arrow_crossings(a, b)

    ends = np.array([[index[e.source], index[e.target]] for e in edges]).reshape(-1, 2)
    share = ((ends[:, None, 0] == ends[None, :, 0]) | (ends[:, None, 0] == ends[None, :, 1])
             | (ends[:, None, 1] == ends[None, :, 0]) | (ends[:, None, 1] == ends[None, :, 1]))

    def arrow_crossings(a, b):
        # pairs of straight centre-to-centre arrows that cross, a loading arrow included (its
        # label would sit on the other arrow); a crossing costs less than an arrow through a
        # shape, which would hide a name
        if len(edges) < 2:
            return 0

        def orient(p, q, r):
            return np.sign((q[..., 0] - p[..., 0]) * (r[..., 1] - p[..., 1])
                           - (q[..., 1] - p[..., 1]) * (r[..., 0] - p[..., 0]))
        A, B = a[:, None, :], b[:, None, :]
        C, D = a[None, :, :], b[None, :, :]
        x = ((orient(A, B, C) * orient(A, B, D) < 0) & (orient(C, D, A) * orient(C, D, B) < 0)
             & ~share)
        return int(np.triu(x, 1).sum())

    def arrange() -> int:
        """Place every column in its current order, then slide the middle columns so that
        arrows skipping them pass beside them; the cost of the result (arrows through
        shapes, then crossings)."""
        side.clear()
        side.update(first_side)
        for k in range(len(cols)):
            place_column(k)
        if last >= 2 and crossings():
            for _ in range(2):
                for k in range(1, last):
                    best = None
                    for flip in ((False, True) if any(n in side for n in cols[k]) else (False,)):
                        for shift in np.arange(0, 12.01, 0.5):
                            for sgn in ((1, -1) if shift else (1,)):
                                saved = dict(side)
                                place_column(k, sgn * shift, flip)
                                c = crossings()
                                if best is None or c < best[0]:
                                    best = (c, sgn * shift, flip)
                                side.clear()
                                side.update(saved)
                                if c == 0:
                                    break
                            if best[0] == 0:
                                break
                        if best[0] == 0:
                            break
                    place_column(k, best[1], best[2])
        return crossings()

    cost = arrange()
    # crossings the ranks did not show (a slid column, a long arrow): swap neighbours within a
    # column while the drawn layout gets cheaper (structural diagrams of small models: each
    # try re-slides; a measurement diagram's item rows make a try too slow, it keeps the order
    # of the sweeps)
    if cost and not items and len(st.nodes) <= 14:
        tries = 0
        improved = True
        while improved and cost and tries < 60:
            improved = False
            for col in cols:
                for i in range(len(col) - 1):
                    col[i], col[i + 1] = col[i + 1], col[i]
                    tries += 1
                    c = arrange()
                    if c < cost:
                        cost, improved = c, True
                    else:
                        col[i], col[i + 1] = col[i + 1], col[i]
        arrange()
    # error variances beside the items, outward
    if error_text:
        for f, s in side.items():
            for it in st.items[f]:
                if it not in error_text:
                    continue
                node = scene.nodes[it]
                txt, attrs = error_text[it]
                w, h = _text_size(txt, 7.5, scene.families)
                if s == "left":
                    x, y = node.x - node.w / 2 - 0.12 - w / 2, node.y
                elif s == "right":
                    x, y = node.x + node.w / 2 + 0.12 + w / 2, node.y
                elif s == "above":
                    x, y = node.x, node.y + node.h / 2 + 0.1 + h / 2
                else:
                    x, y = node.x, node.y - node.h / 2 - 0.1 - h / 2
                scene.notes.append(_Note(x, y, txt, 7.5, "#555555", attrs))
    return layer, cols


def _structural_nodes(scene: _Scene, st: Structure, names: dict, r2=None, wrap=18):
    """One shape per structural node: ellipses for factors, rectangles for observed variables;
    R² of endogenous nodes inside them."""
    endo = st.endogenous
    for n in st.nodes:
        label = _wrap(names.get(n, n), wrap)
        if r2 is not None and n in endo and n in r2.index and np.isfinite(r2[n]):
            label += f"\nR² = {format_number(r2[n])}"
        if n in st.latent:
            scene.node(n, "ellipse", label, 10, FILL_LATENT)
        else:
            scene.node(n, "rect", label, 10, FILL_ITEM, min_w=1.2, min_h=0.6)


def _hypothesis(label: str) -> str:
    import re

    return label.upper() if re.fullmatch(r"[hH]\d+[a-z]?", label) else label


def _estimate_row(rows, lhs, op, rhs):
    hit = rows[(rows.lhs == lhs) & (rows.op == op) & (rows.rhs == rhs)]
    return hit.iloc[0] if len(hit) else None


def _is_ns(p, alpha):
    return p is not None and np.isfinite(p) and not (p < alpha)


def _value_edges(scene, st, alpha, hide_ns, fontsize=9):
    """Structural paths and second-order loadings with their standardized estimates."""
    for lhs, rhs, _ in st.regressions:
        r = _estimate_row(st.rows, lhs, "~", rhs)
        if r is None or rhs not in scene.nodes or lhs not in scene.nodes:
            continue
        p = float(r.pvalue) if r.pvalue is not None else np.nan
        ns = _is_ns(p, alpha)
        if ns and hide_ns:
            continue
        scene.edges.append(_Edge(rhs, lhs, "path", format_coef(r.std_all, p),
                                 float(r.std_all), p, ns, GREY if ns else INK,
                                 fontsize=fontsize,
                                 label_t=(0.42, 0.5, 0.34, 0.58, 0.27, 0.66, 0.2, 0.73, 0.8)))
    for f, v in st.higher:
        r = _estimate_row(st.rows, f, "=~", v)
        p = float(r.pvalue) if r is not None and r.pvalue is not None else np.nan
        ns = _is_ns(p, alpha)
        scene.edges.append(_Edge(f, v, "loading", format_coef(r.std_all, p), float(r.std_all),
                                 p, ns, GREY if ns else INK, fontsize=fontsize))


def _covariance_edges(scene, st, col0):
    e = st.rows
    cov = e[(e.op == "~~") & (e.lhs != e.rhs) & e.lhs.isin(col0) & e.rhs.isin(col0)]
    for r in cov.itertuples():
        a, b = sorted([r.lhs, r.rhs], key=lambda v: col0.index(v))
        if col0.index(b) - col0.index(a) != 1:
            continue           # adjacent pairs only: more would not stay readable
        scene.edges.append(_Edge(a, b, "covariance", format_coef(r.std_all), float(r.std_all),
                                 float(r.pvalue) if r.pvalue is not None else None,
                                 color="#4a6fa5", double=True, fontsize=8, rad=0.6,
                                 label_t=(0.5,)))


# ---------------------------------------------------------------------------------------------
# Figure 1: conceptual
# ---------------------------------------------------------------------------------------------
def conceptual_diagram(model, *, lang: str = "en", labels=None, title: str | None = None):
    """The conceptual model (the paper's Figure 1): every construct as an ellipse (observed
    covariates as rectangles), exogenous left, mediators middle, outcomes right, one arrow per
    path labelled with its label (``h1`` → ``H1``); second-order factors joined to their
    first-order factors.  ``labels``: the variables' names in the drawing (a
    :class:`semcluster.data.labels.Labels`, a dict, or a function of the language; default: their
    own names).  The caption names ``title``, else the labels' title, else nothing (never the
    file the model was read from)."""
    from ..spec.parser import read_model

    spec = read_model(model)
    lang, fam = _resolve_lang(lang)
    dl = _diagram_labels(labels, lang)
    names = dl["names"]
    st = structure(spec)
    _warn_mixed(labels, lang, st.nodes)
    scene = _Scene(fam)
    _structural_nodes(scene, st, names)
    for lhs, rhs, lab in st.regressions:
        scene.edges.append(_Edge(rhs, lhs, "hypothesis", _hypothesis(lab) if lab else "",
                                 label_t=(0.45, 0.55, 0.35, 0.65, 0.27, 0.73)))
    for f, v in st.higher:
        scene.edges.append(_Edge(f, v, "loading"))
    _layout(scene, st, items=False)
    head = "概念模型" if lang == "zh" else "Conceptual model"
    name = title or dl["title"]
    fig, _ = scene.draw(caption=f"{head}: {name}" if name else head)
    return fig


# ---------------------------------------------------------------------------------------------
# Figure 2: tested model
# ---------------------------------------------------------------------------------------------
def _caption(view: ResultView, lang="en") -> str:
    fm = view.fit_measures

    def f(k, d=3):
        return format_number(fm.get(k, np.nan), d)

    df = fm.get("df", np.nan)
    df = str(int(df)) if df is not None and np.isfinite(df) else "n/a"
    fit = (f"N = {view.nobs}, {view.estimator}; χ²({df}) = {f('chisq', 2)}, CFI = {f('cfi')}, "
           f"TLI = {f('tli')}, RMSEA = {f('rmsea')} [{f('rmsea_ci_lower')}, "
           f"{f('rmsea_ci_upper')}], SRMR = {f('srmr')}.")
    if lang == "zh":
        return fit + "\n标准化路径系数；* p < .05，** p < .01，*** p < .001；灰色虚线：p ≥ .05。"
    return fit + "\nStandardized paths; * p < .05, ** p < .01, *** p < .001; dashed grey: p ≥ .05."


def _tested_scene(view, fam, lang, alpha, hide_ns, covariances, dl):
    """The tested model's scene; ``dl``: the labels from :func:`_diagram_labels`."""
    names = dl["names"]
    st = structure(view)
    scene = _Scene(fam)
    _structural_nodes(scene, st, names, r2=view.r2)
    _value_edges(scene, st, alpha, hide_ns)
    _, cols = _layout(scene, st, items=False)
    if covariances and cols:
        _covariance_edges(scene, st, cols[0])
    return scene


def tested_diagram(result, *, lang: str = "en", alpha: float = 0.05, hide_ns: bool = False,
                   covariances: bool = False, ax=None, title: str | None = None,
                   caption: bool = True, labels=None, group=None, _fig=None):
    """The tested structural model (the paper's Figure 2, done better).

    Standardized path coefficients with stars on the arrows; paths with p ≥ ``alpha`` dashed and
    grey (or left out with ``hide_ns``); R² inside every predicted construct; optional curved
    double arrows for the correlations of adjacent exogenous constructs; a caption with N,
    estimator and fit measures.  Any model: mediators sit between their predictors and
    outcomes, second-order factors outside their first-order ones, observed covariates are
    rectangles.  ``labels``: the variables' names in the drawing (a
    :class:`semcluster.data.labels.Labels`, a dict, or a function of the language; default: their
    own names).  ``group``: the group to draw of a multi-group fit (default: every group, side
    by side, each titled by its value label when the labels have one).
    """
    groups = _groups_of(result)
    if groups and group is None and ax is None:
        lang_drawn, _ = _resolve_lang(lang)
        dl = _diagram_labels(labels, lang_drawn, _group_column_of(result))
        _warn_mixed(labels, lang_drawn, structure(as_view(result, groups[0])).nodes)

        def one(g, fig):
            gt = _group_title(dl, g)
            with warnings.catch_warnings():       # warned once above, not once per group
                warnings.simplefilter("ignore", SemclusterWarning)
                return tested_diagram(result, lang=lang, alpha=alpha, hide_ns=hide_ns,
                                      covariances=covariances,
                                      title=f"{title} — {gt}" if title else gt,
                                      caption=caption, labels=labels, group=g, _fig=fig)
        return _side_by_side(one, groups)
    view = as_view(result, group)
    lang, fam = _resolve_lang(lang)
    dl = _diagram_labels(labels, lang)
    _warn_mixed(labels, lang, structure(view).nodes)
    scene = _tested_scene(view, fam, lang, alpha, hide_ns, covariances, dl)
    fig, _ = scene.draw(ax=ax, caption=_caption(view, lang) if caption else None, title=title,
                        fig=_fig)
    return fig


def _groups_of(result) -> tuple:
    """The group labels of a multi-group fit (a result, its JSON dict or file), else ()."""
    if isinstance(result, (str, Path)):
        try:
            result = json.loads(Path(result).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return ()
    if isinstance(result, dict):
        return tuple(str(g) for g in (result.get("groups") or ()))
    return tuple(getattr(result, "groups", ()) or ())


def _group_column_of(result):
    """The grouping column of a multi-group fit (a result, its JSON dict or file), else None."""
    if isinstance(result, (str, Path)):
        try:
            result = json.loads(Path(result).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
    if isinstance(result, dict):
        return result.get("group_column")
    return getattr(result, "group_column", None)


def _side_by_side(draw, groups):
    """One figure with every group's diagram side by side (each drawn as it would be alone,
    in a subfigure as wide as that drawing)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    sizes = [draw(g, None).get_size_inches() for g in groups]
    fig = Figure(figsize=(sum(w for w, _ in sizes), max(h for _, h in sizes)))
    FigureCanvasAgg(fig)
    subs = fig.subfigures(1, len(groups), width_ratios=[w for w, _ in sizes])
    for g, sub in zip(groups, np.atleast_1d(subs)):
        draw(g, sub)
    fig.semcluster_layout = [getattr(sub, "semcluster_layout", None)
                             for sub in np.atleast_1d(subs)]
    return fig


# ---------------------------------------------------------------------------------------------
# full measurement diagram
# ---------------------------------------------------------------------------------------------
def measurement_diagram(result, *, lang: str = "en", alpha: float = 0.05, labels=None,
                        group=None, _fig=None, _title=None):
    """Items as rectangles beside their factor (in a row above or below a factor that sits
    between others), standardized loadings on the arrows, standardized error variances beside
    the items, structural paths and second-order loadings between factors, and the factor
    correlations as a table under the diagram.  ``labels``: the names in the drawing, in the
    shapes and in the correlation table (a :class:`semcluster.data.labels.Labels`, which also
    names items and groups, a dict, or a function of the language; default: their own names).
    ``group``: the group to draw of a multi-group fit (default: every group, side by side,
    each titled by its value label when the labels have one)."""
    groups = _groups_of(result)
    if groups and group is None:
        lang_drawn, _ = _resolve_lang(lang)
        dl = _diagram_labels(labels, lang_drawn, _group_column_of(result))
        st = structure(as_view(result, groups[0]))
        _warn_mixed(labels, lang_drawn, st.nodes + [i for v in st.items.values() for i in v])

        def one(g, fig):
            with warnings.catch_warnings():       # warned once above, not once per group
                warnings.simplefilter("ignore", SemclusterWarning)
                return measurement_diagram(result, lang=lang, alpha=alpha, labels=labels,
                                           group=g, _fig=fig, _title=_group_title(dl, g))
        return _side_by_side(one, groups)
    view = as_view(result, group)
    lang, fam = _resolve_lang(lang)
    dl = _diagram_labels(labels, lang)
    names = dl["names"]
    st = structure(view)
    _warn_mixed(labels, lang, st.nodes + [i for v in st.items.values() for i in v])
    e = st.rows
    scene = _Scene(fam)
    _structural_nodes(scene, st, names, r2=view.r2, wrap=16)
    for f, its in st.items.items():
        for it in its:
            scene.node(it, "rect", _item_label(dl["items"], it), 9, FILL_ITEM)
    _value_edges(scene, st, alpha, False, fontsize=8.5)
    for f, its in st.items.items():
        for it in its:
            r = _estimate_row(e, f, "=~", it)
            scene.edges.append(_Edge(f, it, "loading", format_number(r.std_all),
                                     float(r.std_all), r.pvalue, fontsize=8,
                                     label_t=(0.55, 0.45, 0.65, 0.35, 0.72, 0.28)))
    resid = e[(e.op == "~~") & (e.lhs == e.rhs)].set_index("lhs")
    errors = {it: (format_number(resid.loc[it, "std_all"]),
                   {"semcluster_value": float(resid.loc[it, "std_all"]),
                    "semcluster_item": it})
              for its in st.items.values() for it in its if it in resid.index}
    _layout(scene, st, items=True, error_text=errors)
    # factor correlations: a grid of cells under the diagram (arcs for 10+ pairs would not
    # stay readable); one text per cell keeps the columns aligned in any font
    factors = st.latent
    cov = e[(e.op == "~~") & (e.lhs != e.rhs) & e.lhs.isin(factors) & e.rhs.isin(factors)]
    if len(cov):
        fs = [f for f in factors if f in set(cov.lhs) | set(cov.rhs)]
        xs = [n.x - n.w / 2 for n in scene.nodes.values()]
        ys = [n.y - n.h / 2 for n in scene.nodes.values()] + [t.y - 0.2 for t in scene.notes]
        shown = {f: names.get(f, f) for f in fs}
        cell_w = max(0.75, max(_text_size(shown[f], 8, fam)[0] for f in fs) + 0.25)
        cell_h = 0.36
        left = min(xs) + 0.6
        top = min(ys) - 0.7
        head = "factor correlations (standardized)" if lang == "en" else "因子相关（标准化）"
        table = {(r.lhs, r.rhs): float(r.std_all) for r in cov.itertuples()}
        scene.notes.append(_Note(left, top, head, 8.5, ha="left",
                                 attrs={"semcluster_table": table}))
        top -= 0.45
        for j, b in enumerate(fs[:-1]):
            scene.notes.append(_Note(left + (j + 1.5) * cell_w, top, shown[b], 8))
        for i, a in enumerate(fs[1:], start=1):
            y = top - i * cell_h
            scene.notes.append(_Note(left + 0.5 * cell_w, y, shown[a], 8))
            for j, b in enumerate(fs[:i]):
                v = table.get((a, b), table.get((b, a)))
                scene.notes.append(_Note(left + (j + 1.5) * cell_w, y,
                                         format_number(v) if v is not None else "–", 8,
                                         attrs={"semcluster_cell": (a, b)} if v is not None
                                         else {}))
    if lang == "zh":
        cap = "标准化解：箭头上为载荷，题项旁为误差方差。\n" + _caption(view, lang)
    else:
        cap = ("Standardized solution: loadings on the arrows, error variances beside the "
               "items.\n" + _caption(view, lang))
    fig, _ = scene.draw(caption=cap, fig=_fig, title=_title)
    return fig


# ---------------------------------------------------------------------------------------------
# regression vs SEM
# ---------------------------------------------------------------------------------------------
def compare_diagram(comparison, *, left: str = "ols_data", right: str = "sem_data",
                    lang: str = "en", alpha: float = 0.05, labels=None):
    """Two panels with the same layout: composite-regression βs (left) and latent-SEM βs
    (right), from a :class:`semcluster.study.regression_vs_sem.Comparison`
    (``semcluster.compare_methods()``); drawing never fits, so the comparison is computed by
    the caller.  ``labels``: the variables' names in the drawing (a dict, or a function of the
    language; default: their own names)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    comp = comparison
    lang, fam = _resolve_lang(lang)
    dl = _diagram_labels(labels, lang)
    scenes = []
    for method in (left, right):
        t = comp.table
        est = []
        outcomes = []
        for h, row in t.iterrows():
            frm, to = row[("path", "")].split(" -> ")
            outcomes.append(to)
            est.append({"lhs": to, "op": "~", "rhs": frm, "label": h.lower(),
                        "std_all": row[(method, "beta")], "pvalue": row[(method, "p")],
                        "est": row[(method, "beta")]})
        for v in dict.fromkeys([r["rhs"] for r in est] + outcomes):
            est.append({"lhs": v, "op": "=~", "rhs": v.lower(), "label": "",
                        "std_all": np.nan, "pvalue": np.nan, "est": np.nan})
        view = ResultView(estimates=pd.DataFrame(est), fit_measures=pd.Series(dtype=float),
                          r2=pd.Series({o: comp.r2[method] for o in set(outcomes)}), nobs=0)
        scenes.append((comp.method_title(method),
                       _tested_scene(view, fam, lang, alpha, False, False, dl)))
    shapes = [{s.name: s for s in sc.shape_objs()} for _, sc in scenes]
    exts = [sc.extent([sc.route(e, sh) for e in sc.edges]) for (_, sc), sh in zip(scenes, shapes)]
    w = max(x1 - x0 for x0, x1, _, _ in exts) + 0.7
    h = max(y1 - y0 for _, _, y0, y1 in exts) + 0.7 + 0.8
    cap_h = 0.9
    fig = Figure(figsize=(2 * w * UNIT, (h + cap_h) * UNIT))
    FigureCanvasAgg(fig)
    layouts = []
    for i, (title, sc) in enumerate(scenes):
        ax = fig.add_axes([i * 0.5, cap_h / (h + cap_h), 0.5, h / (h + cap_h)])
        _, lay = sc.draw(ax=ax, title=title)
        layouts.append(lay)
    if lang == "zh":
        cap = ("标准化 β；* p < .05，** p < .01，*** p < .001；灰色虚线：p ≥ .05。"
               "左：合成分数（题项均值）回归；右：同一数据的潜变量 SEM。")
    else:
        cap = ("Standardized βs; * p < .05, ** p < .01, *** p < .001; dashed grey: p ≥ .05. "
               "Left: composite (item-mean) regression; right: latent SEM on the same data.")
    t = fig.text(0.5, cap_h / 2 / (h + cap_h), cap, ha="center", va="center", fontsize=9,
                 family=fam, parse_math=False)
    for lay in layouts:
        lay.texts.append(t) if lay is layouts[0] else None
    fig.semcluster_layout = layouts
    return fig


# ---------------------------------------------------------------------------------------------
# output
# ---------------------------------------------------------------------------------------------
def save_figure(fig, path: str | Path, *, dpi: int = 150, inputs=()) -> Path:
    """Write PNG, SVG or PDF (by suffix) through :mod:`semcluster.output.files`: atomically,
    with the umask's mode, never over one of ``inputs``."""
    from .files import OutputFiles

    return OutputFiles(inputs).save_figure(path, fig, dpi=dpi)


def power_curve(power_result, *, target: float | None = None):
    """Power against N for every path of a :class:`semcluster.analysis.power.PowerResult`, with
    ±2 Monte Carlo SE bars and the target power as a dotted line."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    t = power_result.table
    target = power_result.target if target is None else target
    fig = Figure(figsize=(7, 4.5))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(111)
    for path, g in t.groupby("path", sort=False):
        lab = g["label"].iloc[0]
        name = f"{lab.upper()} ({path})" if isinstance(lab, str) and lab else path
        ax.errorbar(g.n, g.power, yerr=2 * g.power_mcse, marker="o", capsize=3, label=name)
    ax.axhline(target, ls=":", color=GREY, label=f"target {target:.2f}")
    ax.set_xlabel("sample size N")
    ax.set_ylabel(f"power (p < {power_result.alpha}, correct sign)")
    ax.set_ylim(-0.02, 1.02)
    ax.legend(fontsize=8, loc="upper left")
    ax.set_title(f"Monte Carlo power, {power_result.reps} replications per N")
    fig.tight_layout()
    return fig
