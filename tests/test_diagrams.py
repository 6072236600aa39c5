"""Diagrams are checked as drawings: which shapes each arrow joins, what is printed on it, line
styles, and that no two shapes or texts overlap (text extents from the Agg renderer)."""
from __future__ import annotations

import itertools
import warnings

import pytest

import semcluster
from semcluster import SemclusterWarning, study
from semcluster.cli import main
from semcluster.output.diagrams import (
    MINUS,
    format_coef,
    format_number,
    parse_number,
    save_figure,
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


@pytest.fixture(scope="module")
def res():
    return semcluster.fit("h1_h5")


def _boxes_overlap(a, b, pad=0.0):
    return not (a[2] <= b[0] + pad or b[2] <= a[0] + pad or a[3] <= b[1] + pad or
                b[3] <= a[1] + pad)


def check_geometry(layout):
    """Arrows start/end on their shapes' boundaries and pass through no other shape;
    shapes do not overlap each other."""
    shapes = layout.shapes
    for a, b in itertools.combinations(shapes.values(), 2):
        assert not _boxes_overlap(a.bbox(), b.bbox()), (a.name, b.name)
    for arr in layout.arrows:
        assert shapes[arr.source].contains(*arr.start) == pytest.approx(1, abs=1e-9)
        assert shapes[arr.target].contains(*arr.end) == pytest.approx(1, abs=1e-9)
        if arr.kind == "covariance":
            continue
        for x, y in arr.path[2:-2]:          # the drawn curve (straight or arc3)
            for s in shapes.values():
                if s.name not in (arr.source, arr.target):
                    assert s.contains(x, y) > 1, f"{arr.source}->{arr.target} crosses {s.name}"


def check_no_text_overlap(fig, layout):
    renderer = fig.canvas.get_renderer()
    texts = [t for t in layout.texts if t.get_text().strip()]
    boxes = [t.get_window_extent(renderer) for t in texts]
    for (t1, b1), (t2, b2) in itertools.combinations(zip(texts, boxes), 2):
        assert not b1.overlaps(b2), (t1.get_text(), t2.get_text())


def test_conceptual_is_figure_1():
    fig = conceptual_diagram("h1_h5")
    lay = fig.semcluster_layout
    assert set(lay.shapes) == set(study.CONSTRUCTS)
    assert all(s.kind == "ellipse" for s in lay.shapes.values())
    got = {(a.source, a.target): a.label for a in lay.arrows}
    hyp = study.hypotheses()
    assert got == {(r["from"], r["to"]): h for h, r in hyp.iterrows()}
    # predictors left of the outcome, in the model's order top to bottom
    xs = {n: s.x for n, s in lay.shapes.items()}
    assert all(xs[p] < xs["IN"] for p in study.PREDICTORS)
    ys = [lay.shapes[p].y for p in study.PREDICTORS]
    assert ys == sorted(ys, reverse=True)
    check_geometry(lay)
    check_no_text_overlap(fig, lay)


def test_tested_diagram_prints_the_fit(res):
    fig = draw_tested(res, covariances=True)
    lay = fig.semcluster_layout
    paths = [a for a in lay.arrows if a.kind == "path"]
    assert len(paths) == 5
    for a in paths:
        row = res.parameter(a.target, "~", a.source)
        assert a.label == format_coef(row.std_all, row.pvalue)
        assert a.text_artist.get_text() == a.label
        assert parse_number(a.label) == round(row.std_all, 2)
        ns = row.pvalue >= 0.05
        assert a.dashed == ns
        assert (a.artist.get_linestyle() == "--") == ns
    covs = [a for a in lay.arrows if a.kind == "covariance"]
    assert len(covs) == 4
    r2_texts = [t.get_text() for t in lay.texts if "R²" in t.get_text() and "\n" in t.get_text()]
    assert any(f"R² = {format_number(res.r2['IN'])}" in t for t in r2_texts)
    caption = lay.caption.get_text()
    fm = res.fit_measures
    for piece in (f"N = {res.nobs}", f"χ²({int(fm['df'])}) = {fm['chisq']:.2f}",
                  f"CFI = {fm['cfi']:.3f}", f"TLI = {fm['tli']:.3f}",
                  f"RMSEA = {fm['rmsea']:.3f} [{fm['rmsea_ci_lower']:.3f}, "
                  f"{fm['rmsea_ci_upper']:.3f}]", f"SRMR = {fm['srmr']:.3f}"):
        assert piece in caption
    check_geometry(lay)
    check_no_text_overlap(fig, lay)


def test_hide_non_significant_paths(res):
    lay = draw_tested(res, hide_ns=True).semcluster_layout
    shown = {(a.source, a.target) for a in lay.arrows if a.kind == "path"}
    sig = {(r.rhs, r.lhs) for r in res.paths().itertuples() if r.pvalue < 0.05}
    assert shown == sig


def test_significant_paths_are_solid():
    """On HS39 with a latent regression, significant paths are drawn solid with stars."""
    import pandas as pd

    from semcluster.resources import data_path
    hs = pd.read_csv(data_path("holzinger_swineford_1939.csv"))
    r = semcluster.fit("visual =~ x1 + x2 + x3\ntextual =~ x4 + x5 + x6\n"
                       "speed =~ x7 + x8 + x9\nspeed ~ visual + textual", hs)
    lay = draw_tested(r).semcluster_layout
    arrows = {a.source: a for a in lay.arrows if a.kind == "path"}
    assert not arrows["visual"].dashed and arrows["visual"].label.endswith("***")
    assert arrows["textual"].dashed == (r.parameter("speed", "~", "textual").pvalue >= .05)


def test_measurement_diagram_23_items(res):
    fig = measurement_diagram(res)
    lay = fig.semcluster_layout
    loads = [a for a in lay.arrows if a.kind == "loading"]
    assert len(loads) == 23
    assert all(lay.shapes[a.target].kind == "rect" for a in loads)
    for a in loads:
        row = res.parameter(a.source, "=~", a.target)
        assert a.label == format_number(row.std_all)
    ev = [t for t in lay.texts if hasattr(t, "semcluster_item")]
    assert len(ev) == 23
    for t in ev:
        assert t.get_text() == format_number(
            res.parameter(t.semcluster_item, '~~', t.semcluster_item).std_all)
    table = next(t for t in lay.texts if hasattr(t, "semcluster_table"))
    cells = {t.semcluster_cell: t.get_text() for t in lay.texts if hasattr(t, "semcluster_cell")}
    assert len(cells) == len(table.semcluster_table) == 10
    for (a, b), v in table.semcluster_table.items():
        assert cells.get((a, b), cells.get((b, a))) == format_number(v)
    check_geometry(lay)
    check_no_text_overlap(fig, lay)


def test_compare_diagram_two_panels():
    from semcluster.study.regression_vs_sem import compare_methods

    comp = compare_methods()
    fig = compare_diagram(comp)
    left, right = fig.semcluster_layout
    for lay, method in ((left, "ols_data"), (right, "sem_data")):
        for a in (x for x in lay.arrows if x.kind == "path"):
            h = next(h for h, r in comp.table.iterrows() if r[("path", "")] == f"{a.source} -> IN")
            assert a.label == format_coef(comp.table.loc[h, (method, "beta")],
                                          comp.table.loc[h, (method, "p")])
        check_geometry(lay)


def test_minus_sign():
    """A negative coefficient is printed with U+2212 (a hyphen on a dashed arrow reads as a
    dash), and a value that rounds to zero has no sign."""
    assert format_coef(-0.254, 0.2) == f"{MINUS}0.25"
    assert format_coef(-0.254, 0.002) == f"{MINUS}0.25**"
    assert format_coef(-0.001) == "0.00"
    assert format_number(-1.5, 1) == f"{MINUS}1.5"
    assert parse_number(f"{MINUS}0.25***") == -0.25


def test_chinese_labels_or_clear_fallback(monkeypatch):
    import semcluster.output.diagrams as d

    assert d.cjk_font() == d.BUNDLED_CJK_FAMILY         # the bundled font comes first
    lay = conceptual_diagram("h1_h5", lang="zh").semcluster_layout
    assert any("集群意识" in t.get_text() for t in lay.texts)
    monkeypatch.setattr(d, "cjk_font", lambda: None)
    with pytest.warns(SemclusterWarning, match="no font with Chinese characters"):
        lay = conceptual_diagram("h1_h5", lang="zh").semcluster_layout
    assert any(t.get_text() == "cluster awareness" for t in lay.texts)


@pytest.mark.parametrize("suffix,magic", [(".png", b"\x89PNG"), (".svg", b"<?xml"),
                                          (".pdf", b"%PDF")])
def test_formats(tmp_path, suffix, magic):
    p = save_figure(conceptual_diagram("h1_h5"), tmp_path / f"f{suffix}")
    assert p.read_bytes()[:5].startswith(magic)


def test_diagram_cli(tmp_path, res):
    out = tmp_path / "fig2.svg"
    assert main(["diagram", "h1_h5", "--kind", "tested", "--out", str(out)]) == 0
    assert out.read_bytes()[:5] == b"<?xml"
    js = tmp_path / "r.json"
    js.write_text(res.to_json())
    out2 = tmp_path / "fig2b.png"
    assert main(["diagram", str(js), "--kind", "tested", "--out", str(out2)]) == 0
    assert out2.stat().st_size > 1000
    with pytest.raises(SystemExit) as e:         # argparse rejects an unknown kind
        main(["diagram", "h1_h5", "--kind", "nonsense", "--out", str(out)])
    assert e.value.code == 2
    assert main(["diagram", "h1_h5", "--out", str(tmp_path / "x.jpg")]) == 2


@pytest.mark.parametrize("kind", ["conceptual", "tested", "measurement", "compare"])
def test_diagram_cli_zh(tmp_path, kind):
    """Every kind in Chinese from the command line (measurement used to crash: 'Got both
    family and fontfamily')."""
    out = tmp_path / f"{kind}.png"
    with warnings.catch_warnings():
        warnings.simplefilter("error", SemclusterWarning)
        assert main(["diagram", "h1_h5", "--kind", kind, "--lang", "zh", "--out", str(out)]) == 0
    assert out.read_bytes()[:4] == b"\x89PNG"


def test_diagram_out_respects_umask(tmp_path):
    import os

    old = os.umask(0o022)
    try:
        out = tmp_path / "f.png"
        assert main(["diagram", "h1_h5", "--kind", "conceptual", "--out", str(out)]) == 0
    finally:
        os.umask(old)
    assert out.stat().st_mode & 0o777 == 0o644
