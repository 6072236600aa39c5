"""Path diagrams: the paper's Figures 1–2 done properly, and full measurement diagrams.

networkx holds each diagram's graph (nodes = variables, edges = paths/loadings) and places its
layers (``multipartite_layout``); matplotlib draws it.  No Graphviz binary is needed.  Drawing
never fits anything: the functions take a model (conceptual diagram) or a fitted result.

Every figure carries a record of what was drawn in ``fig.semcluster_layout`` — shapes with their
centres and sizes, arrows with their end points, kind, value and line style, and the text
artists — so tests can check that arrows join the right shapes, nothing overlaps and every
printed number equals the fitted one.

>>> from semcluster.diagrams import conceptual_diagram
>>> fig = conceptual_diagram("h1_h5")            # doctest: +SKIP
"""
from __future__ import annotations

import json
import math
import os
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import OptionError, SemclusterError, SemclusterWarning

GREY = "#9a9a9a"
INK = "#1a1a1a"
FILL_LATENT = "#eef3fb"
FILL_ITEM = "#ffffff"
STAR_LEVELS = ((0.001, "***"), (0.01, "**"), (0.05, "*"))


# ---------------------------------------------------------------------------------------------
# labels and fonts
# ---------------------------------------------------------------------------------------------
def _study_names(lang: str) -> dict:
    from . import study

    c = study.constructs()
    col = "zh" if lang == "zh" else "en"
    return {code: str(c.loc[code, col]) for code in c.index}


def cjk_font() -> str | None:
    """Name of an installed font that has Chinese glyphs, or None."""
    from matplotlib import font_manager
    from matplotlib.ft2font import FT2Font

    preferred = ("Noto Sans CJK", "Noto Serif CJK", "Source Han", "WenQuanYi", "Droid Sans "
                 "Fallback", "SimHei", "Microsoft YaHei", "PingFang", "AR PL")
    candidates = sorted(font_manager.fontManager.ttflist,
                        key=lambda f: not any(p in f.name for p in preferred))
    for f in candidates:
        try:
            if FT2Font(f.fname).get_char_index(ord("集")):
                return f.name
        except Exception:  # noqa: BLE001 - unreadable font files are skipped
            continue
    return None


def _resolve_lang(lang: str) -> tuple[str, str | None]:
    if lang not in ("en", "zh"):
        raise OptionError(f"--lang must be 'en' or 'zh', not '{lang}'")
    if lang == "en":
        return "en", None
    font = cjk_font()
    if font is None:
        warnings.warn("no font with Chinese characters is installed (Debian: apt-get install "
                      "fonts-noto-cjk); drawing the labels in English", SemclusterWarning,
                      stacklevel=3)
        return "en", None
    return "zh", font


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


def format_coef(value: float, p: float | None = None) -> str:
    """How a coefficient is printed on an arrow: two decimals, stars from p."""
    txt = f"{value:.2f}"
    if txt == "-0.00":
        txt = "0.00"
    return txt + (stars(p) if p is not None else "")


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


def as_view(result) -> ResultView:
    """A SEMResult, a dict from its JSON, or a path to such a JSON file."""
    if isinstance(result, ResultView):
        return result
    if isinstance(result, (str, Path)):
        p = Path(result)
        try:
            result = json.loads(p.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise SemclusterError(f"{p}: not a result JSON written by 'semcluster fit --json' "
                                  f"({exc})") from None
    if isinstance(result, dict):
        try:
            est = pd.DataFrame(result["estimates"])
            return ResultView(estimates=est, fit_measures=pd.Series(result["fit_measures"],
                                                                   dtype=float),
                              r2=pd.Series(result.get("r2", {}), dtype=float),
                              nobs=int(result["nobs"]), estimator=result.get("estimator", "ML"),
                              name=result.get("model", "model"))
        except (KeyError, TypeError, ValueError) as exc:
            raise SemclusterError(f"result JSON lacks a field the diagram needs ({exc})") from None
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


@dataclass
class Layout:
    shapes: dict = field(default_factory=dict)
    arrows: list = field(default_factory=list)
    texts: list = field(default_factory=list)     # matplotlib Text artists


class _Canvas:
    """A matplotlib axis in data units with the drawing primitives and their record."""

    def __init__(self, width, height, font=None, ax=None, fig=None):
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        self.font = font
        if ax is None:
            fig = Figure(figsize=(width, height))
            FigureCanvasAgg(fig)          # no pyplot: nothing global is touched
            ax = fig.add_axes([0, 0.08, 1, 0.92])
        self.fig = fig
        self.ax = ax
        ax.set_axis_off()
        self.layout = Layout()

    def text(self, x, y, s, **kw):
        kw.setdefault("ha", "center")
        kw.setdefault("va", "center")
        kw.setdefault("fontsize", 10)
        if self.font:
            kw.setdefault("fontfamily", [self.font, "DejaVu Sans"])
        t = self.ax.text(x, y, s, **kw)
        self.layout.texts.append(t)
        return t

    def shape(self, name, kind, x, y, w, h, label, fill, fontsize=10):
        from matplotlib.patches import Ellipse, Rectangle

        if kind == "ellipse":
            p = Ellipse((x, y), w, h, facecolor=fill, edgecolor=INK, lw=1.2, zorder=2)
        else:
            p = Rectangle((x - w / 2, y - h / 2), w, h, facecolor=fill, edgecolor=INK, lw=1.0,
                          zorder=2)
        self.ax.add_patch(p)
        s = Shape(name, kind, x, y, w, h)
        self.layout.shapes[name] = s
        self.text(x, y, label, fontsize=fontsize, zorder=3)
        return s

    def arrow(self, a: str, b: str, kind: str, *, label="", value=None, pvalue=None,
              dashed=False, color=INK, rad=0.0, label_at=0.5, double=False, fontsize=9):
        from matplotlib.patches import FancyArrowPatch

        A = self.layout.shapes[a]
        B = self.layout.shapes[b]
        start = A.boundary_point(B.x, B.y)
        end = B.boundary_point(A.x, A.y)
        style = "<|-|>" if double else "-|>"
        patch = FancyArrowPatch(start, end, arrowstyle=style, mutation_scale=12,
                                connectionstyle=f"arc3,rad={rad}", shrinkA=0, shrinkB=0,
                                color=color, lw=1.3, linestyle="--" if dashed else "-",
                                zorder=1)
        self.ax.add_patch(patch)
        arr = Arrow(a, b, kind, start, end, label, value, pvalue, dashed, color, patch)
        if label:
            mx = start[0] + label_at * (end[0] - start[0])
            my = start[1] + label_at * (end[1] - start[1])
            if rad:
                # the arc's midpoint lies off the chord by rad * half the chord length
                dx, dy = end[0] - start[0], end[1] - start[1]
                mx, my = mx + rad * dy / 2, my - rad * dx / 2
            arr.text_artist = self.text(mx, my, label, fontsize=fontsize, color=color,
                                        zorder=4, bbox=dict(boxstyle="round,pad=0.15",
                                                            fc="white", ec="none"))
        self.layout.arrows.append(arr)
        return arr

    def finish(self, xlim, ylim, caption=None):
        self.ax.set_xlim(*xlim)
        self.ax.set_ylim(*ylim)
        self.ax.set_aspect("equal")
        if caption:
            kw = {"fontfamily": [self.font, "DejaVu Sans"]} if self.font else {}
            t = self.fig.text(0.5, 0.035, caption, ha="center", va="center", fontsize=8.5,
                              **kw)
            self.layout.texts.append(t)
        self.fig.semcluster_layout = self.layout
        return self.fig


def _column(names, x, top, step):
    return {n: (x, top - i * step) for i, n in enumerate(names)}


def _structure(spec_or_view):
    """(predictors, outcome, paths[(from, to, label)]) of a model with one latent outcome."""
    if hasattr(spec_or_view, "partable"):
        pt = spec_or_view.partable
        reg = pt[pt.op == "~"]
        latent = spec_or_view.latent
    else:
        reg = spec_or_view.estimates[spec_or_view.estimates.op == "~"]
        latent = spec_or_view.latent
    outcomes = list(dict.fromkeys(reg.lhs))
    preds = [v for v in latent if v not in outcomes]
    preds = [v for v in preds if v in set(reg.rhs)] or preds
    return preds, outcomes, reg


def _graph(preds, outcomes, reg):
    import networkx as nx

    g = nx.DiGraph()
    for v in preds:
        g.add_node(v, layer=0)
    for v in outcomes:
        g.add_node(v, layer=1)
    for r in reg.itertuples():
        if r.rhs in g and r.lhs in g:
            g.add_edge(r.rhs, r.lhs, label=r.label if isinstance(r.label, str) else "")
    return g


def _positions(g, width, height):
    """networkx layered layout, scaled to the canvas; layer 0 left, layer 1 right."""
    import networkx as nx

    pos = nx.multipartite_layout(g, subset_key="layer", align="vertical", scale=1.0)
    # keep the model's order from top to bottom within each layer
    out = {}
    for layer in (0, 1):
        nodes = [n for n, d in g.nodes(data=True) if d["layer"] == layer]
        ys = sorted((pos[n][1] for n in nodes), reverse=True)
        for n, y in zip(nodes, ys):
            out[n] = pos[n]
            out[n] = (pos[n][0], y)
    xs = [p[0] for p in out.values()]
    ys = [p[1] for p in out.values()]
    x0, x1 = min(xs), max(xs)
    y0, y1 = min(ys), max(ys)
    sx = width / (x1 - x0) if x1 > x0 else 1
    sy = height / (y1 - y0) if y1 > y0 else 1
    return {n: ((p[0] - x0) * sx, (p[1] - (y0 + y1) / 2) * sy) for n, p in out.items()}


# ---------------------------------------------------------------------------------------------
# Figure 1: conceptual
# ---------------------------------------------------------------------------------------------
def conceptual_diagram(model="h1_h5", *, lang: str = "en"):
    """The conceptual model (the paper's Figure 1): predictors on the left, one arrow each to
    the outcome, labelled with its hypothesis (the path label ``h1`` → ``H1``)."""
    from .spec import read_model

    spec = read_model(model)
    lang, font = _resolve_lang(lang)
    names = _study_names(lang)
    preds, outcomes, reg = _structure(spec)
    g = _graph(preds, outcomes, reg)
    pos = _positions(g, width=6.0, height=1.6 * (len(preds) - 1))
    cv = _Canvas(8.5, 1.3 * len(preds) + 1.5, font)
    for n, (x, y) in pos.items():
        cv.shape(n, "ellipse", x, y, 2.6, 1.0, _wrap(names.get(n, n)), FILL_LATENT)
    for a, b, d in g.edges(data=True):
        lab = d.get("label") or ""
        cv.arrow(a, b, "hypothesis", label=lab.upper() if lab else "", label_at=0.45)
    ys = [p[1] for p in pos.values()]
    title = "概念模型" if lang == "zh" else "Conceptual model"
    fig = cv.finish((-1.6, 7.6), (min(ys) - 0.9, max(ys) + 0.9),
                    caption=f"{title}: {spec.name}")
    return fig


# ---------------------------------------------------------------------------------------------
# Figure 2: tested model
# ---------------------------------------------------------------------------------------------
def _caption(view: ResultView, lang="en") -> str:
    fm = view.fit_measures

    def f(k, d=3):
        v = fm.get(k, np.nan)
        return "n/a" if v is None or not np.isfinite(v) else f"{v:.{d}f}"

    return (f"N = {view.nobs}, {view.estimator}; χ²({int(fm.get('df', 0))}) = {f('chisq', 2)}, "
            f"CFI = {f('cfi')}, TLI = {f('tli')}, RMSEA = {f('rmsea')} "
            f"[{f('rmsea_ci_lower')}, {f('rmsea_ci_upper')}], SRMR = {f('srmr')}.\n"
            f"Standardized paths; * p < .05, ** p < .01, *** p < .001; dashed grey: p ≥ .05.")


def tested_diagram(result, *, lang: str = "en", alpha: float = 0.05, hide_ns: bool = False,
                   covariances: bool = False, ax=None, title: str | None = None,
                   caption: bool = True):
    """The tested structural model (the paper's Figure 2, done better).

    Standardized path coefficients with stars on the arrows; paths with p ≥ ``alpha`` dashed and
    grey (or left out with ``hide_ns``); R² inside the outcome; optional curved double arrows for
    the predictors' correlations; a caption with N, estimator and fit measures.
    """
    view = as_view(result)
    lang, font = _resolve_lang(lang)
    names = _study_names(lang)
    preds, outcomes, reg = _structure(view)
    g = _graph(preds, outcomes, reg)
    pos = _positions(g, width=6.0, height=1.6 * (max(len(preds), 2) - 1))
    cv = _Canvas(8.5, 1.3 * len(preds) + 1.8, font, ax=ax, fig=ax.figure if ax else None)
    e = view.estimates
    for n, (x, y) in pos.items():
        label = _wrap(names.get(n, n))
        if n in outcomes and n in view.r2.index:
            label += f"\nR² = {view.r2[n]:.2f}"
        cv.shape(n, "ellipse", x, y, 2.6, 1.0 if n not in outcomes else 1.3, label,
                 FILL_LATENT)
    for r in reg.itertuples():
        if r.rhs not in pos or r.lhs not in pos:
            continue
        ns = not (r.pvalue < alpha)
        if ns and hide_ns:
            continue
        cv.arrow(r.rhs, r.lhs, "path", label=format_coef(r.std_all, r.pvalue),
                 value=float(r.std_all), pvalue=float(r.pvalue), dashed=ns,
                 color=GREY if ns else INK, label_at=0.42)
    if covariances:
        cov = e[(e.op == "~~") & (e.lhs != e.rhs) & e.lhs.isin(preds) & e.rhs.isin(preds)]
        for r in cov.itertuples():
            a, b = sorted([r.lhs, r.rhs], key=lambda v: preds.index(v))
            if preds.index(b) - preds.index(a) != 1:
                continue       # adjacent pairs only: more would not stay readable
            cv.arrow(a, b, "covariance", label=format_coef(r.std_all), value=float(r.std_all),
                     pvalue=float(r.pvalue) if r.pvalue is not None else None, rad=0.6,
                     double=True, color="#4a6fa5", fontsize=8)
    ys = [p[1] for p in pos.values()]
    x0 = -2.6 if covariances else -1.6
    fig = cv.finish((x0, 7.6), (min(ys) - 1.0, max(ys) + 1.0),
                    caption=_caption(view, lang) if caption else None)
    if title:
        cv.ax.set_title(title, fontsize=11)
    return fig


# ---------------------------------------------------------------------------------------------
# full measurement diagram
# ---------------------------------------------------------------------------------------------
def measurement_diagram(result, *, lang: str = "en", alpha: float = 0.05):
    """Items as rectangles beside their factor, standardized loadings on the arrows,
    standardized error variances beside the items, structural paths between factors and the
    factor correlations in a side table."""
    view = as_view(result)
    lang, font = _resolve_lang(lang)
    names = _study_names(lang)
    e = view.estimates
    load = e[e.op == "=~"]
    factors = list(dict.fromkeys(load.lhs))
    preds, outcomes, reg = _structure(view)
    left = [f for f in factors if f not in outcomes]
    right = [f for f in factors if f in outcomes]
    items_of = {f: list(load.loc[load.lhs == f, "rhs"]) for f in factors}
    step = 0.62                                   # vertical distance between items
    gap = 0.45                                    # between item blocks
    heights = {f: max(len(items_of[f]), 2) * step + gap for f in factors}
    total_left = sum(heights[f] for f in left)
    total_right = sum(heights[f] for f in right) if right else 0
    H = max(total_left, total_right)
    cv = _Canvas(11, H * 0.85 + 2.0, font)
    x_item_l, x_fac_l, x_fac_r, x_item_r = 1.2, 4.4, 9.6, 12.8
    resid = e[(e.op == "~~") & (e.lhs == e.rhs)].set_index("lhs")

    def place(fs, x_item, x_fac, total, side):
        y = total / 2
        for f in fs:
            block = heights[f]
            top = y - gap / 2
            its = items_of[f]
            ys = [top - (i + 0.5) * step for i in range(len(its))]
            fy = float(np.mean(ys))
            label = _wrap(names.get(f, f), 16)
            if f in view.r2.index and f in outcomes:
                label += f"\nR² = {view.r2[f]:.2f}"
            cv.shape(f, "ellipse", x_fac, fy, 2.4, 1.0 if f not in outcomes else 1.2, label,
                     FILL_LATENT, fontsize=9.5)
            for it, iy in zip(its, ys):
                cv.shape(it, "rect", x_item, iy, 1.0, 0.44, it, FILL_ITEM, fontsize=9)
                r = load[(load.lhs == f) & (load.rhs == it)].iloc[0]
                cv.arrow(f, it, "loading", label=f"{r.std_all:.2f}", value=float(r.std_all),
                         pvalue=r.pvalue, label_at=0.5, fontsize=8)
                if it in resid.index:
                    ev = resid.loc[it, "std_all"]
                    ex = x_item - 0.95 if side == "left" else x_item + 0.95
                    t = cv.text(ex, iy, f"{ev:.2f}", fontsize=7.5, color="#555555")
                    t.semcluster_value = float(ev)
                    t.semcluster_item = it
            y -= block

    place(left, x_item_l, x_fac_l, total_left, "left")
    place(right, x_item_r, x_fac_r, total_right, "right")
    for r in reg.itertuples():
        if r.rhs in cv.layout.shapes and r.lhs in cv.layout.shapes:
            ns = not (r.pvalue < alpha)
            cv.arrow(r.rhs, r.lhs, "path", label=format_coef(r.std_all, r.pvalue),
                     value=float(r.std_all), pvalue=float(r.pvalue), dashed=ns,
                     color=GREY if ns else INK, label_at=0.35, fontsize=8.5)
    # factor correlations as a table (arcs for 10+ pairs would not stay readable)
    cov = e[(e.op == "~~") & (e.lhs != e.rhs) & e.lhs.isin(factors) & e.rhs.isin(factors)]
    if len(cov):
        fs = [f for f in factors if f in set(cov.lhs) | set(cov.rhs)]
        lines = ["factor correlations" if lang == "en" else "因子相关"]
        lines.append("      " + " ".join(f"{f:>5}" for f in fs[:-1]))
        for i, a in enumerate(fs[1:], start=1):
            cells = []
            for b in fs[:i]:
                hit = cov[((cov.lhs == a) & (cov.rhs == b)) | ((cov.lhs == b) & (cov.rhs == a))]
                cells.append(f"{hit.std_all.iloc[0]:5.2f}" if len(hit) else "    -")
            lines.append(f"{a:>5} " + " ".join(cells))
        t = cv.text(9.6, -H / 2 + 0.2, "\n".join(lines), fontsize=7.5, family="monospace",
                    va="bottom", ha="center", multialignment="left")
        t.semcluster_table = {(a, b): float(r.std_all) for a, b, r in
                              ((r.lhs, r.rhs, r) for r in cov.itertuples())}
    cap = ("Standardized solution: loadings on the arrows, error variances beside the items.\n"
           + _caption(view, lang))
    return cv.finish((-0.2, 14.2), (-H / 2 - 0.3, H / 2 + 0.3), caption=cap)


# ---------------------------------------------------------------------------------------------
# regression vs SEM
# ---------------------------------------------------------------------------------------------
def compare_diagram(comparison=None, *, left: str = "ols_data", right: str = "sem_data",
                    lang: str = "en", alpha: float = 0.05):
    """Two panels with the same layout: composite-regression βs (left) and latent-SEM βs
    (right), from a :class:`semcluster.compare.Comparison` (default: computed for the paper)."""
    from matplotlib.figure import Figure

    from .compare import METHODS, compare_methods

    comp = comparison if comparison is not None else compare_methods(alpha=alpha)
    lang, font = _resolve_lang(lang)
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    fig = Figure(figsize=(15, 8))
    FigureCanvasAgg(fig)
    layouts = []
    for i, method in enumerate((left, right)):
        ax = fig.add_axes([0.01 + i * 0.5, 0.1, 0.48, 0.85])
        t = comp.table
        est = []
        for h, row in t.iterrows():
            frm, to = row[("path", "")].split(" -> ")
            est.append({"lhs": to, "op": "~", "rhs": frm, "label": h.lower(),
                        "std_all": row[(method, "beta")], "pvalue": row[(method, "p")],
                        "est": row[(method, "beta")]})
        for frm in [r["rhs"] for r in est]:
            est.append({"lhs": frm, "op": "=~", "rhs": frm.lower(), "label": "",
                        "std_all": np.nan, "pvalue": np.nan, "est": np.nan})
        est.append({"lhs": "IN", "op": "=~", "rhs": "in", "label": "", "std_all": np.nan,
                    "pvalue": np.nan, "est": np.nan})
        view = ResultView(estimates=pd.DataFrame(est), fit_measures=pd.Series(dtype=float),
                          r2=pd.Series({"IN": comp.r2[method]}), nobs=0)
        sub = tested_diagram(view, lang=lang, alpha=alpha, ax=ax, caption=False,
                             title=METHODS[method])
        layouts.append(sub.semcluster_layout)
    fig.text(0.5, 0.04, "Standardized βs; * p < .05, ** p < .01, *** p < .001; dashed grey: "
             "p ≥ .05. Left: composite (item-mean) regression; right: latent SEM on the same "
             "data.", ha="center", fontsize=9)
    fig.semcluster_layout = layouts
    return fig


# ---------------------------------------------------------------------------------------------
# output
# ---------------------------------------------------------------------------------------------
def save_figure(fig, path: str | Path, *, dpi: int = 150) -> Path:
    """Write PNG, SVG or PDF (by suffix) to a temporary name, then rename into place."""
    path = Path(path)
    fmt = path.suffix.lower().lstrip(".")
    if fmt not in ("png", "svg", "pdf"):
        raise OptionError(f"{path}: use a .png, .svg or .pdf file name")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=path.suffix, dir=path.parent)
    os.close(fd)
    try:
        fig.savefig(tmp, format=fmt, dpi=dpi, bbox_inches="tight")
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def power_curve(power_result, *, target: float | None = None):
    """Power against N for every path of a :class:`semcluster.power.PowerResult`, with
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
