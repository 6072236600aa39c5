"""The course notebooks (notebooks/en, notebooks/zh): generated from one source, executable,
and their stored outputs current.

The notebooks are committed with their outputs, so that a student opening one on a code host
or in the docs (mkdocs-jupyter renders the stored outputs, tests/test_docs.py) sees results.
Here each notebook in each language is executed once; its text outputs must match the stored
ones up to the rounding of the last printed digit, so stored outputs cannot go stale.
"""
from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

NB_DIR = Path(__file__).parent.parent / "notebooks"
sys.path.insert(0, str(NB_DIR))
import make_course  # noqa: E402

nbformat = pytest.importorskip("nbformat")

CASES = [(name, lang) for name in make_course.COURSE for lang in make_course.LANGS]
IDS = [f"{lang}-{name}" for name, lang in CASES]


def committed(name, lang):
    return nbformat.read(make_course.path_of(name, lang), as_version=4)


def test_the_course_is_seven_notebooks_in_english_and_in_chinese():
    assert len(make_course.COURSE) == 7
    for lang in ("en", "zh"):
        found = sorted(p.stem for p in (NB_DIR / lang).glob("*.ipynb"))
        assert found == sorted(make_course.COURSE), (lang, found)
    assert not list(NB_DIR.glob("*.ipynb")), "notebooks belong in notebooks/en and notebooks/zh"


@pytest.mark.parametrize("name,lang", CASES, ids=IDS)
def test_regenerating_the_course_gives_the_committed_cells(name, lang):
    fresh = make_course.build(name, lang)
    nb = committed(name, lang)
    def cells(n):
        return [(c.cell_type, c.source, c.metadata.get("tags")) for c in n.cells]
    assert cells(nb) == cells(fresh), f"run python notebooks/make_course.py {name}"
    assert nb.metadata["semcluster_course"] == fresh.metadata["semcluster_course"]


@pytest.mark.parametrize("name,lang", CASES, ids=IDS)
def test_stored_outputs_were_made_from_the_current_cells(name, lang):
    nb = committed(name, lang)
    # the digest is written with the cells and outputs; a hand edit of a cell breaks it
    assert nb.metadata["semcluster_course"]["source_sha256"] == make_course.source_digest(nb)
    unexecuted = [i for i, c in enumerate(nb.cells)
                  if c.cell_type == "code" and c.execution_count is None]
    assert not unexecuted, f"code cells {unexecuted} were not executed"
    assert sum(bool(c.get("outputs")) for c in nb.cells) >= 3


def _code_without_words(src: str) -> str:
    """Code with every string literal (labels, sentences; implicitly joined pieces as one)
    replaced by S, without comments and whitespace."""
    s = re.sub(r'"[^"\n]*"', "S", src)
    s = re.sub(r"#[^\n]*", "", s)
    s = re.sub(r"f?S(\s*f?S)*", "S", s)
    return re.sub(r"\s+", "", s)


def test_both_editions_run_the_same_code_and_differ_in_words():
    for name in make_course.COURSE:
        en, zh = committed(name, "en"), committed(name, "zh")
        assert [c.cell_type for c in en.cells] == [c.cell_type for c in zh.cells]
        for a, b in zip(en.cells, zh.cells):
            if a.cell_type == "code":
                assert _code_without_words(a.source) == _code_without_words(b.source), name
        zh_text = "".join(c.source for c in zh.cells if c.cell_type == "markdown")
        en_text = "".join(c.source for c in en.cells if c.cell_type == "markdown")
        assert re.search(r"[\u4e00-\u9fff]", zh_text) and not re.search(r"[\u4e00-\u9fff]",
                                                                         en_text)


def test_every_chinese_character_in_the_code_has_a_glyph_in_the_bundled_font():
    """Plot labels are strings in code cells: no tofu boxes in the Chinese figures."""
    from matplotlib.ft2font import FT2Font

    from semcluster.output.diagrams import BUNDLED_CJK_FILE

    font = FT2Font(str(BUNDLED_CJK_FILE))
    chars = {ch for name in make_course.COURSE for c in committed(name, "zh").cells
             if c.cell_type == "code" for ch in c.source if ord(ch) > 0x2000}
    assert chars
    missing = sorted(ch for ch in chars if not font.get_char_index(ord(ch)))
    assert not missing, missing


# ---- execution: once per notebook and language ---------------------------------------------

_NUM = re.compile(r"[-+−]?\d+(?:\.\d+)?(?:e[-+]?\d+)?")
_TMP = re.compile(r"(?:/[^\s'\"/]+)*/tmp[a-z0-9_]{8}/")   # a tempfile.mkdtemp() folder


def _texts(nb):
    """The text outputs of the code cells (images are only counted)."""
    out = []
    for i, c in enumerate(nb.cells):
        if c.cell_type != "code":
            continue
        for o in c.outputs:
            if o.output_type == "stream":
                out.append((i, o.name, o.text))
            elif o.output_type in ("display_data", "execute_result"):
                d = o.get("data", {})
                if "image/png" in d:
                    out.append((i, "image", ""))
                else:
                    key = "text/markdown" if "text/markdown" in d else "text/plain"
                    out.append((i, key, d.get(key, "")))
    return out


def _same_up_to_rounding(a: str, b: str) -> bool:
    """Equal text, and numbers equal within two units of their last printed decimal (one unit
    for whole numbers): a different CPU may round a figure or a near-tie differently."""
    a, b = _TMP.sub("<tmp>/", a), _TMP.sub("<tmp>/", b)
    if _NUM.sub("#", a) != _NUM.sub("#", b):
        return False
    for x, y in zip(_NUM.findall(a), _NUM.findall(b)):
        x, y = x.replace("−", "-"), y.replace("−", "-")
        dec = len(x.split("e")[0].partition(".")[2])
        units = 2 if dec else 1                  # a count or a whole percentage: one unit
        if abs(float(x) - float(y)) > units * 10 ** -dec + 1e-12 * abs(float(x)):
            return False
    return True


@pytest.mark.parametrize("name,lang", CASES, ids=IDS)
def test_notebook_executes_and_reproduces_its_stored_outputs(name, lang, tmp_path):
    pytest.importorskip("nbclient")
    nb = make_course.build(name, lang)
    make_course.execute(nb, cwd=str(tmp_path))
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs
              if o.output_type == "error"]
    assert not errors, errors[0].evalue if errors else ""
    new, old = _texts(nb), _texts(committed(name, lang))
    assert not [t for t in new if t[1] == "stderr" and "missing from" in t[2]], "missing glyph"
    assert [t[:2] for t in new] == [t[:2] for t in old]
    stale = [(i, x[:200], y[:200]) for (i, _, x), (_, _, y) in zip(new, old)
             if not _same_up_to_rounding(x, y)]
    assert not stale, f"stored outputs are stale; run python notebooks/make_course.py: {stale[:2]}"


def test_the_rounding_comparison_tells_a_changed_figure_from_a_rounding_flip():
    assert _same_up_to_rounding("mean 0.351 (x)", "mean 0.352 (x)")
    assert not _same_up_to_rounding("mean 0.351 (x)", "mean 0.361 (x)")
    assert not _same_up_to_rounding("mean 0.351 (x)", "median 0.351 (x)")
    assert _same_up_to_rounding("/tmp/tmpab12cd_3/my.sav: 2", "/var/T/tmpzz9xk2ab/my.sav: 2")
    assert not _same_up_to_rounding("/tmp/tmpab12cd_3/my.sav: 2", "/tmp/tmpab12cd_3/my.sav: 4")
