"""Every kind of diagram, in English and Chinese, on models of every common shape, checked as a
drawing: shapes never overlap, arrows join the right two shapes and pass around all others,
texts never overlap each other nor sit on a shape, printed numbers equal the estimates (with a
true minus sign), exactly the non-significant paths are dashed, and every character of every
text has a glyph in the font matplotlib actually uses (an empty-box fallback fails).

The whole module runs with matplotlib's font list cut down to the fonts matplotlib itself ships:
the Chinese labels must come from the font bundled with semcluster, not from the system."""
from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import semcluster
from semcluster import SemclusterWarning
from semcluster.output.diagrams import (
    BUNDLED_CJK_FILE,
    MINUS,
    format_coef,
    format_number,
    parse_number,
    structure,
)
# the study's models, drawn with the study's construct names
from semcluster.study.diagrams import (
    compare_diagram,
    conceptual_diagram,
    measurement_diagram,
)
from semcluster.study.diagrams import (
    tested_diagram as draw_tested,  # a test_* name pytest collects
)
from semcluster.resources import data_path

MODELS = {
    # the study's models, bundled
    "h1_h5": None, "cfa": None, "second_order": None, "mediation_ks": None,
    # a user's simple mediation (the case that used to stack two ellipses)
    "mediation": "CA =~ ca1 + ca2 + ca3 + ca4\nKS =~ ks1 + ks2 + ks3 + ks4\n"
                 "IN =~ in1 + in2 + in3 + in4\nKS ~ a*CA\nIN ~ b*KS + c*CA\n",
    # a chain CA -> PA -> KS with two outcomes IN and LO
    "chain": "CA =~ ca1 + ca2 + ca3 + ca4\nPA =~ pa1 + pa2 + pa3 + pa4\n"
             "KS =~ ks1 + ks2 + ks3 + ks4\nIN =~ in1 + in2 + in3 + in4\nLO =~ lo1 + lo2 + lo3\n"
             "PA ~ CA\nKS ~ PA\nIN ~ KS\nLO ~ KS + CA\n",
    # MIMIC: observed covariates -> latent factors (Holzinger-Swineford)
    "mimic": "visual =~ x1 + x2 + x3\ntextual =~ x4 + x5 + x6\n"
             "visual ~ ageyr + sex\ntextual ~ ageyr + sex\n",
    # a predicted second-order factor: its first-order factors stand right of it
    "second_order_predicted": "g =~ visual + textual\nvisual =~ x1 + x2 + x3\n"
                              "textual =~ x4 + x5 + x6\nspeed =~ x7 + x8 + x9\ng ~ speed\n",
    # path analysis on observed variables only
    "path_analysis": "x4 ~ x1 + x2\nx5 ~ x4 + x1\n",
}
HS39 = {"mimic", "second_order_predicted", "path_analysis"}
LANGS = ("en", "zh")


@pytest.fixture(scope="module", autouse=True)
def no_system_fonts():
    """matplotlib as on a machine with no font installed: only its own fonts (DejaVu...) and
    whatever semcluster registers itself."""
    from matplotlib import font_manager as fm

    saved = list(fm.fontManager.ttflist)
    mpl_dir = str(Path(fm.__file__).parent / "mpl-data")
    fm.fontManager.ttflist = [f for f in saved if f.fname.startswith(mpl_dir)]
    fm.fontManager._findfont_cached.cache_clear()
    yield
    fm.fontManager.ttflist = saved
    fm.fontManager._findfont_cached.cache_clear()


@pytest.fixture(scope="module")
def model_files(tmp_path_factory):
    d = tmp_path_factory.mktemp("models")
    out = {}
    for name, text in MODELS.items():
        if text is None:
            out[name] = name
        else:
            (d / f"{name}.lav").write_text(text, encoding="utf-8")
            out[name] = str(d / f"{name}.lav")
    return out


_FITS = {}


def fitted(name, model_files):
    if name not in _FITS:
        import warnings

        data = (pd.read_csv(data_path("holzinger_swineford_1939.csv")) if name in HS39
                else None)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SemclusterWarning)   # sex has two values
            _FITS[name] = semcluster.fit(model_files[name], data)
    return _FITS[name]


# ---------------------------------------------------------------------------------------------
# checks on a drawn figure
# ---------------------------------------------------------------------------------------------
def _boxes_overlap(a, b):
    return not (a[2] <= b[0] or b[2] <= a[0] or a[3] <= b[1] or b[3] <= a[1])


def check_geometry(layout):
    shapes = layout.shapes
    for a, b in itertools.combinations(shapes.values(), 2):
        assert not _boxes_overlap(a.bbox(), b.bbox()), (a.name, b.name)
    for arr in layout.arrows:
        assert shapes[arr.source].contains(*arr.start) == pytest.approx(1, abs=1e-9)
        assert shapes[arr.target].contains(*arr.end) == pytest.approx(1, abs=1e-9)
        np.testing.assert_allclose(arr.path[0], arr.start, atol=1e-9)
        np.testing.assert_allclose(arr.path[-1], arr.end, atol=1e-9)
        assert arr.artist.get_connectionstyle().rad == pytest.approx(arr.rad)
        if arr.kind == "covariance":
            continue
        inner = arr.path[2:-2]
        for s in shapes.values():
            if s.name not in (arr.source, arr.target):
                assert (s.measure(inner) > 1).all(), f"{arr.source}->{arr.target} crosses {s.name}"


def check_texts(fig, layout):
    """No two texts overlap; no arrow label sits on a shape."""
    renderer = fig.canvas.get_renderer()
    texts = [t for t in layout.texts if t.get_text().strip()]
    boxes = [t.get_window_extent(renderer) for t in texts]
    for (t1, b1), (t2, b2) in itertools.combinations(zip(texts, boxes), 2):
        assert not b1.overlaps(b2), (t1.get_text(), t2.get_text())
    ax = layout.arrows[0].artist.axes if layout.arrows else None
    for arr in layout.arrows:
        if arr.text_artist is None:
            continue
        bb = arr.text_artist.get_window_extent(renderer)
        for s in layout.shapes.values():
            (x0, y0), (x1, y1) = ax.transData.transform([s.bbox()[:2], s.bbox()[2:]])
            assert bb.x1 < x0 or x1 < bb.x0 or bb.y1 < y0 or y1 < bb.y0, \
                (arr.label, s.name)


_CMAPS = {}


def check_glyphs(layout, lang):
    """Every character of every text has a glyph in the font matplotlib uses for that text."""
    from fontTools.ttLib import TTFont
    from matplotlib import font_manager

    for t in layout.texts:
        path = font_manager.findfont(t.get_fontproperties())
        if path not in _CMAPS:
            _CMAPS[path] = set(TTFont(path, fontNumber=0).getBestCmap())
        missing = {c for c in t.get_text() if not c.isspace() and ord(c) not in _CMAPS[path]}
        assert not missing, (t.get_text(), path, missing)
        if lang == "zh":
            assert Path(path) == BUNDLED_CJK_FILE


def check_numbers(layout, st, alpha=0.05):
    """Arrows are exactly the model's paths and loadings, labelled with their estimates."""
    rows = st.rows

    def row(lhs, op, rhs):
        return rows[(rows.lhs == lhs) & (rows.op == op) & (rows.rhs == rhs)].iloc[0]

    paths = {(a.source, a.target): a for a in layout.arrows if a.kind == "path"}
    assert set(paths) == {(rhs, lhs) for lhs, rhs, _ in st.regressions}
    for (src, dst), a in paths.items():
        r = row(dst, "~", src)
        assert a.label == format_coef(r.std_all, r.pvalue)
        assert a.text_artist.get_text() == a.label
        assert parse_number(a.label) == pytest.approx(round(r.std_all, 2), abs=1e-9)
        assert "-" not in a.label and (MINUS in a.label) == (round(r.std_all, 2) < 0)
        ns = r.pvalue >= alpha
        assert a.dashed == ns and (a.artist.get_linestyle() == "--") == ns
    loads = {(a.source, a.target): a for a in layout.arrows if a.kind == "loading"}
    for (f, v), a in loads.items():
        r = row(f, "=~", v)
        assert parse_number(a.label) == pytest.approx(round(r.std_all, 2), abs=1e-9)
        assert "-" not in a.text_artist.get_text()
    for f, v in st.higher:
        assert (f, v) in loads
    # every printed number anywhere uses U+2212, never a hyphen-minus
    for t in layout.texts:
        s = t.get_text()
        assert not any(s[i] == "-" and s[i + 1:i + 2].isdigit() for i in range(len(s))), s


# ---------------------------------------------------------------------------------------------
# the grid: model shapes x kinds x languages
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("name", list(MODELS))
def test_conceptual(name, lang, model_files):
    from semcluster.spec.parser import read_model

    fig = conceptual_diagram(model_files[name], lang=lang)
    lay = fig.semcluster_layout
    st = structure(read_model(model_files[name]))
    assert set(lay.shapes) == set(st.nodes)
    for n in st.nodes:
        assert lay.shapes[n].kind == ("ellipse" if n in st.latent else "rect")
    got = {(a.source, a.target) for a in lay.arrows if a.kind == "hypothesis"}
    assert got == {(rhs, lhs) for lhs, rhs, _ in st.regressions}
    labels = {(a.source, a.target): a.label for a in lay.arrows if a.kind == "hypothesis"}
    for lhs, rhs, lab in st.regressions:
        assert labels[(rhs, lhs)] == (lab.upper() if lab.startswith("h") else lab)
    check_layers(lay, st)
    check_geometry(lay)
    check_texts(fig, lay)
    check_glyphs(lay, lang)


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("name", list(MODELS))
def test_tested(name, lang, model_files):
    res = fitted(name, model_files)
    fig = draw_tested(res, lang=lang, covariances=True)
    lay = fig.semcluster_layout
    st = structure(res)
    assert set(lay.shapes) == set(st.nodes)
    check_numbers(lay, st)
    for n in st.endogenous:
        assert any(t.get_text().endswith(f"R² = {format_number(res.r2[n])}")
                   for t in lay.texts), n
    check_layers(lay, st)
    check_geometry(lay)
    check_texts(fig, lay)
    check_glyphs(lay, lang)


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("name", list(MODELS))
def test_measurement(name, lang, model_files):
    res = fitted(name, model_files)
    fig = measurement_diagram(res, lang=lang)
    lay = fig.semcluster_layout
    st = structure(res)
    items = {it for its in st.items.values() for it in its}
    assert set(lay.shapes) == set(st.nodes) | items
    loads = [a for a in lay.arrows if a.kind == "loading" and a.target in items]
    assert len(loads) == len(items)
    assert all(lay.shapes[a.target].kind == "rect" for a in loads)
    # each item beside its own factor: nearer to it than to any other factor
    for a in loads:
        it, f = lay.shapes[a.target], lay.shapes[a.source]
        d = np.hypot(it.x - f.x, it.y - f.y)
        for g in st.latent:
            if g != a.source:
                assert d < np.hypot(it.x - lay.shapes[g].x, it.y - lay.shapes[g].y), (it.name, g)
    ev = [t for t in lay.texts if hasattr(t, "semcluster_item")]
    assert {t.semcluster_item for t in ev} == items
    for t in ev:
        r = res.parameter(t.semcluster_item, "~~", t.semcluster_item)
        assert t.get_text() == format_number(r.std_all)
    table = [t for t in lay.texts if hasattr(t, "semcluster_table")]
    cells = {t.semcluster_cell: t.get_text() for t in lay.texts if hasattr(t, "semcluster_cell")}
    if table:
        for (a, b), v in table[0].semcluster_table.items():
            assert cells.get((a, b), cells.get((b, a))) == format_number(v)
    check_numbers(lay, st)
    check_layers(lay, st)
    check_geometry(lay)
    check_texts(fig, lay)
    check_glyphs(lay, lang)


def check_layers(layout, st):
    """Predictors left of what they predict (unless both sit in one column of a non-recursive
    model); a second-order factor outside its first-order ones."""
    x = {n: s.x for n, s in layout.shapes.items()}
    for lhs, rhs, _ in st.regressions:
        assert x[rhs] < x[lhs], (rhs, lhs)
    predicted = {lhs for lhs, _, _ in st.regressions}
    for f, v in st.higher:
        assert (x[v] > x[f]) if f in predicted else (x[v] < x[f]), (f, v)


@pytest.mark.parametrize("lang", LANGS)
def test_compare(lang):
    from semcluster.study.regression_vs_sem import compare_methods

    comp = compare_methods()
    fig = compare_diagram(comp, lang=lang)
    left, right = fig.semcluster_layout
    for lay, method in ((left, "ols_data"), (right, "sem_data")):
        paths = [x for x in lay.arrows if x.kind == "path"]
        assert len(paths) == len(comp.table)
        for a in paths:
            h = next(h for h, r in comp.table.iterrows() if r[("path", "")] == f"{a.source} -> IN")
            assert a.label == format_coef(comp.table.loc[h, (method, "beta")],
                                          comp.table.loc[h, (method, "p")])
            assert a.dashed == (comp.table.loc[h, (method, "p")] >= 0.05)
        check_geometry(lay)
        check_texts(fig, lay)
        check_glyphs(lay, lang)
    assert [s.x for s in left.shapes.values()] == [s.x for s in right.shapes.values()]


# ---------------------------------------------------------------------------------------------
# fonts
# ---------------------------------------------------------------------------------------------
def test_bundled_font_is_small_and_licensed():
    assert BUNDLED_CJK_FILE.stat().st_size < 4e6
    lic = (BUNDLED_CJK_FILE.parent / "OFL.txt").read_text(encoding="utf-8")
    assert "SIL OPEN FONT LICENSE Version 1.1" in lic


def test_no_font_with_glyphs_warns(monkeypatch):
    """No bundled font and no system CJK font: a clear warning, English labels, no boxes."""
    from matplotlib import font_manager as fm

    import semcluster.output.diagrams as d

    monkeypatch.setattr(d, "bundled_cjk_font", lambda: None)
    monkeypatch.setattr(fm.fontManager, "ttflist", [f for f in fm.fontManager.ttflist
                                                    if f.name != d.BUNDLED_CJK_FAMILY])
    fm.fontManager._findfont_cached.cache_clear()
    with pytest.warns(SemclusterWarning, match="no font with Chinese characters"):
        lay = conceptual_diagram("h1_h5", lang="zh").semcluster_layout
    assert any(t.get_text() == "cluster awareness" for t in lay.texts)
    check_glyphs(lay, "en")


@pytest.mark.filterwarnings("ignore:Glyph .* missing from font:UserWarning")
def test_missing_glyph_is_named(monkeypatch):
    """A character no font has (here a Han character outside GB 2312's common set is fine, but
    a Tangut one is not) is named in a warning instead of silently drawn as a box."""
    from semcluster.study import construct_labels

    with pytest.warns(SemclusterWarning, match="empty boxes"):
        conceptual_diagram("h1_h5", lang="en", labels=lambda lang: dict(
            construct_labels(lang), CA="\U00017000 awareness"))
