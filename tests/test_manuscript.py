"""Word manuscripts and rounded tables written from a report document.

The .docx files are read back with python-docx (tables, captions, headers, cells, embedded
figures, the East Asian font attribute, the table rules) and, where LibreOffice is installed
(Debian ``libreoffice-writer``, ``poppler-utils``, ``fonts-noto-cjk``: ``.ci/run`` installs
them), converted to PDF and their first page rendered to PNG.  Expected cell texts are computed
here from the raw numbers with Python's own rounding, independently of the writer.
"""
from __future__ import annotations

import csv
import io
import shutil
import subprocess
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from semcluster.output import manuscript as M
from semcluster.result.document import Column, Document, Figure, Paragraph, Section, Table
from semcluster.errors import OptionError, OutputPathError

docx = pytest.importorskip("docx")
W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"


# ---------------------------------------------------------------------------------------------
# format_cell: both sides of every rule
# ---------------------------------------------------------------------------------------------
BOUNDED = Column("r", "r", "bounded", 2)
NUMBER = Column("x", "x", "number", 2)
P = Column("p", "p", "p")
COUNT = Column("n", "N", "count")
TEXT = Column("t", "t", "text")


@pytest.mark.parametrize("value, column, apa, three_line", [
    (0.049, BOUNDED, ".05", "0.05"),
    (-0.5, BOUNDED, "−.50", "−0.50"),
    (1.0, BOUNDED, "1.00", "1.00"),               # a bounded 1 keeps its digit
    (-0.001, BOUNDED, ".00", "0.00"),             # no "−.00"
    (1.5, NUMBER, "1.50", "1.50"),
    (0.5, NUMBER, "0.50", "0.50"),                # a number keeps its leading zero
    (-12.345, NUMBER, "−12.35", "−12.35"),
    (0.0004, P, "< .001", "< 0.001"),
    (0.001, P, ".001", "0.001"),                  # .001 itself is not below .001
    (0.05, P, ".050", "0.050"),
    (0.9995, P, "> .999", "> 0.999"),
    (160.0, COUNT, "160", "160"),
    (np.int64(23), COUNT, "23", "23"),
    (215.5, COUNT, "215.50", "215.50"),           # a scaled df is not rounded to a whole
    (np.nan, NUMBER, "–", "–"),
    (None, P, "–", "–"),
    (pd.NA, COUNT, "–", "–"),
    ("nan", TEXT, "–", "–"),
    ("CA → IN", TEXT, "CA → IN", "CA → IN"),
    (True, TEXT, "yes", "yes"),
])
def test_format_cell_rules(value, column, apa, three_line):
    assert M.format_cell(value, column, "apa") == apa
    assert M.format_cell(value, column, "three-line") == three_line


def test_format_cell_refuses_an_unknown_style():
    with pytest.raises(OptionError, match="apa or three-line"):
        M.format_cell(0.5, NUMBER, "mla")


# ---------------------------------------------------------------------------------------------
# a sample document
# ---------------------------------------------------------------------------------------------
FIT = pd.DataFrame({"model": ["One factor", "Traits", "Traits + method"],
                    "chisq": [397.2331, 234.18546, 194.40189], "df": [230, 215, 192],
                    "pvalue": [0.00004, 0.17594, 0.43812],
                    "cfi": [0.78127, 0.974919, 0.99712], "rmsea": [0.06741, 0.02362, np.nan]})
FIT_COLS = [Column("model", "Model", "text"), Column("chisq", "χ²", "number", 2),
            Column("df", "df", "count"), Column("pvalue", "p", "p"),
            Column("cfi", "CFI", "bounded", 3), Column("rmsea", "RMSEA", "bounded", 3)]
LOAD = pd.DataFrame({"item": ["ca1", "ca2", "ca3"], "std": [0.6004, -0.0512, 0.75],
                     "se": [0.071, np.nan, 0.0649], "p": [1.7e-27, np.nan, 0.0312]})


def sample(lang="en"):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3))
    ax.plot(range(1, 8), [5.9, 1.8, 1.4, 1.3, 1.1, 1.0, 0.9], "o-")
    zh = lang == "zh"
    doc = Document(title="共同方法偏差检验" if zh else "Common-method bias", lang=lang)
    s1 = doc_section = Section("fit", "模型比较" if zh else "Model comparison")
    s1.add(Paragraph("三个模型的拟合。" if zh else "The fit of three models."))
    s1.add(Table("fit", "模型拟合" if zh else "Fit of the models", FIT.copy(), FIT_COLS,
                 note="ML estimates."))
    sub = Section("loadings", "载荷" if zh else "Loadings")
    sub.add(Table("loadings", "标准化载荷" if zh else "Standardized loadings", LOAD.copy(),
                  None, note=""))
    sub.add(Paragraph("A caveat.", kind="note"))
    doc_section.add(sub)
    s2 = Section("scree", "碎石图" if zh else "Scree plot")
    s2.add(Figure("scree", "特征值" if zh else "Eigenvalues of the items", fig,
                  note="Unrotated principal components."))
    s2.add(Paragraph("something was odd", kind="warning"))
    doc.sections += [s1, s2]
    doc.warnings = ["3 answers out of scale were set missing", "ULMC: several optima"]
    return doc


def _tables_with_captions(d):
    """(caption lines, table) pairs: the paragraphs just before each table in the body."""
    body = d.element.body
    out, paras = [], []
    tables = iter(d.tables)
    for el in body.iterchildren():
        if el.tag == W + "p":
            paras.append("".join(t.text or "" for t in el.iter(W + "t")))
        elif el.tag == W + "tbl":
            out.append(([p for p in paras if p][-2:], next(tables)))
            paras = []
    return out


def _text(d):
    return [p.text for p in d.paragraphs]


@pytest.fixture(scope="module")
def apa_docx(tmp_path_factory):
    path = tmp_path_factory.mktemp("apa") / "report.docx"
    M.write_docx(sample("en"), path, style="apa")
    return path


@pytest.fixture(scope="module")
def zh_docx(tmp_path_factory):
    path = tmp_path_factory.mktemp("zh") / "报告.docx"
    M.write_docx(sample("zh"), path, style="three-line")
    return path


def test_apa_docx_has_numbered_tables_with_title_headers_and_rounded_cells(apa_docx):
    d = docx.Document(str(apa_docx))
    pairs = _tables_with_captions(d)
    assert len(pairs) == len(d.tables) == 2
    (cap1, t1), (cap2, t2) = pairs
    assert cap1 == ["Table 1", "Fit of the models"]
    assert cap2 == ["Table 2", "Standardized loadings"]
    assert [c.text for c in t1.rows[0].cells] == ["Model", "χ²", "df", "p", "CFI", "RMSEA"]
    for i, r in enumerate(FIT.itertuples(), 1):
        cells = [c.text for c in t1.rows[i].cells]
        assert cells[0] == r.model
        assert float(cells[1]) == round(r.chisq, 2)
        assert cells[2] == str(r.df)
        p = r.pvalue
        assert cells[3] == ("< .001" if p < .001 else f"{p:.3f}"[1:])
        assert float("0" + cells[4]) == round(r.cfi, 3) and not cells[4].startswith("0")
        assert cells[5] == ("–" if np.isnan(r.rmsea) else f"{r.rmsea:.3f}"[1:])
    # a table without declared columns: every column of the frame, kinds from the values
    assert [c.text for c in t2.rows[0].cells] == ["item", "std", "se", "p"]
    assert [c.text for c in t2.rows[2].cells] == ["ca2", "−0.05", "–", "–"]
    assert [c.text for c in t2.rows[1].cells] == ["ca1", "0.60", "0.07", "< .001"]
    text = _text(d)
    assert any(t.startswith("Note.") and "ML estimates." in t for t in text)
    assert "nan" not in " ".join(text + [c.text for t in d.tables for r in t.rows
                                         for c in r.cells]).lower()


def test_apa_caption_runs_are_bold_number_and_italic_title(apa_docx):
    d = docx.Document(str(apa_docx))
    paras = {p.text: p for p in d.paragraphs}
    assert all(r.bold for r in paras["Table 1"].runs)
    assert all(r.italic for r in paras["Fit of the models"].runs)
    assert all(r.bold for r in paras["Figure 1"].runs)
    assert all(r.italic for r in paras["Eigenvalues of the items"].runs)
    note = next(p for p in d.paragraphs if p.text.startswith("Note."))
    assert note.runs[0].text == "Note." and note.runs[0].italic


def _rules(table):
    """Per row: (top, bottom) border sizes of the first cell (None: no rule)."""
    out = []
    for row in table.rows:
        b = row.cells[0]._tc.tcPr.find(W + "tcBorders")
        sizes = []
        for edge in ("top", "bottom"):
            el = None if b is None else b.find(W + edge)
            sizes.append(int(el.get(W + "sz")) if el is not None and
                         el.get(W + "val") == "single" else None)
        out.append(tuple(sizes))
    return out


def test_apa_tables_have_horizontal_rules_only(apa_docx):
    t = docx.Document(str(apa_docx)).tables[0]
    rules = _rules(t)
    assert rules[0] == (8, 8)                   # above and below the header
    assert rules[-1] == (None, 8)               # below the last row
    assert all(r == (None, None) for r in rules[1:-1])
    tbl = t._tbl.tblPr.find(W + "tblBorders")
    assert {el.get(W + "val") for el in tbl} == {"nil"}     # no grid, no vertical rules


def test_three_line_tables_have_thick_outer_and_thin_header_rules(zh_docx):
    d = docx.Document(str(zh_docx))
    rules = _rules(d.tables[0])
    assert rules[0] == (12, 6) and rules[-1] == (None, 12)
    assert all(r == (None, None) for r in rules[1:-1])
    pairs = _tables_with_captions(d)
    assert pairs[0][0][-1] == "表 1 模型拟合"
    cap = next(p for p in d.paragraphs if p.text == "表 1 模型拟合")
    assert cap.alignment == 1                    # centred
    # three-line style keeps the leading zero
    cells = [c.text for c in d.tables[0].rows[2].cells]
    assert cells[3] == "0.176" and cells[4] == "0.975"
    assert any(p.text == "图 1 特征值" and p.alignment == 1 for p in d.paragraphs)
    assert any(p.text.startswith("注：") for p in d.paragraphs)


def test_figures_are_embedded_at_300_dpi(apa_docx):
    from PIL import Image

    d = docx.Document(str(apa_docx))
    assert len(d.inline_shapes) == 1
    with zipfile.ZipFile(apa_docx) as z:
        pngs = [n for n in z.namelist() if n.startswith("word/media/")]
        assert len(pngs) == 1
        img = Image.open(io.BytesIO(z.read(pngs[0])))
    assert img.info["dpi"][0] == pytest.approx(300, abs=1)
    # 5 inches wide at 300 dpi (bbox_inches="tight" trims some margin)
    assert img.size[0] > 4 * 300


def test_zh_document_sets_east_asian_fonts(zh_docx):
    d = docx.Document(str(zh_docx))
    for name, font in (("Normal", "SimSun"), ("Heading 1", "SimHei"), ("Title", "SimHei")):
        fonts = d.styles[name].element.rPr.find(W + "rFonts")
        assert fonts.get(W + "eastAsia") == font
        assert fonts.get(W + "ascii") == "Times New Roman"
    defaults = d.styles.element.find(W + "docDefaults").find(W + "rPrDefault").find(W + "rPr")
    assert defaults.find(W + "rFonts").get(W + "eastAsia") == "SimSun"
    assert defaults.find(W + "lang").get(W + "eastAsia") == "zh-CN"


def test_headings_paragraphs_and_warnings_in_reading_order(apa_docx):
    d = docx.Document(str(apa_docx))
    heads = [(p.style.name, p.text) for p in d.paragraphs if p.style.name.startswith(
        ("Heading", "Title"))]
    assert heads == [("Title", "Common-method bias"), ("Heading 1", "Model comparison"),
                     ("Heading 2", "Loadings"), ("Heading 1", "Scree plot"),
                     ("Heading 1", "Warnings")]
    bullets = [p.text for p in d.paragraphs if p.style.name == "List Bullet"]
    assert bullets == ["3 answers out of scale were set missing", "ULMC: several optima"]
    caveat = next(p for p in d.paragraphs if p.text == "A caveat.")
    assert caveat.runs[0].italic
    assert any(p.text == "Warning: something was odd" for p in d.paragraphs)


def test_write_docx_never_overwrites_an_input_and_wants_docx(tmp_path):
    data = tmp_path / "survey.docx"
    data.write_bytes(b"the user's file")
    with pytest.raises(OutputPathError, match="input of this run"):
        M.write_docx(sample(), data, inputs=[data])
    assert data.read_bytes() == b"the user's file"
    with pytest.raises(OutputPathError, match=".docx"):
        M.write_docx(sample(), tmp_path / "report.doc")
    with pytest.raises(OptionError, match="apa or three-line"):
        M.write_docx(sample(), tmp_path / "r.docx", style="chicago")


# ---------------------------------------------------------------------------------------------
# CSV / XLSX
# ---------------------------------------------------------------------------------------------
def test_tables_as_rounded_labelled_csv_and_one_workbook(tmp_path):
    openpyxl = pytest.importorskip("openpyxl")
    names = M.write_tables(sample(), tmp_path / "tables")
    assert sorted(names) == ["fit.csv", "loadings.csv", "tables.xlsx"]
    rows = list(csv.reader(io.StringIO((tmp_path / "tables" / "fit.csv")
                                       .read_text(encoding="utf-8-sig"))))
    assert rows[0] == ["Model", "χ²", "df", "p", "CFI", "RMSEA"]
    assert rows[1] == ["One factor", "397.23", "230", "< .001", "0.781", "0.067"]
    assert rows[3][-1] == ""                      # no value: an empty cell, never "nan"
    wb = openpyxl.load_workbook(tmp_path / "tables" / "tables.xlsx")
    assert wb.sheetnames == ["Table 1", "Table 2"]
    ws = wb["Table 1"]
    assert ws["A1"].value == "Table 1" and ws["A2"].value == "Fit of the models"
    assert [c.value for c in ws[3]] == ["Model", "χ²", "df", "p", "CFI", "RMSEA"]
    assert ws["B4"].value == pytest.approx(397.23) and ws["C4"].value == 230
    assert ws["D5"].value == pytest.approx(0.176) and ws["D4"].value == "< .001"


def test_zh_workbook_sheets_are_named_by_table_number(tmp_path):
    openpyxl = pytest.importorskip("openpyxl")
    M.write_tables(sample("zh"), tmp_path / "t", formats=("xlsx",))
    assert openpyxl.load_workbook(tmp_path / "t" / "tables.xlsx").sheetnames == ["表 1", "表 2"]
    assert sorted(p.name for p in (tmp_path / "t").iterdir()
                  if not p.name.startswith(".")) == ["tables.xlsx"]


def test_write_tables_keeps_a_users_file_in_the_folder(tmp_path):
    folder = tmp_path / "out"
    folder.mkdir()
    (folder / "fit.csv").write_text("mine")
    with pytest.raises(OutputPathError, match="not written by semcluster"):
        M.write_tables(sample(), folder)
    assert (folder / "fit.csv").read_text() == "mine"


def test_two_tables_with_one_key_are_refused():
    doc = sample()
    doc.sections[1].add(Table("fit", "again", FIT.copy(), FIT_COLS))
    with pytest.raises(OptionError, match="share the key"):
        M.table_files(doc)


# ---------------------------------------------------------------------------------------------
# LibreOffice
# ---------------------------------------------------------------------------------------------
def _render(docx_path: Path, out: Path) -> Path:
    soffice = shutil.which("soffice") or shutil.which("libreoffice")
    if not soffice or not shutil.which("pdftoppm"):
        pytest.skip("LibreOffice (libreoffice-writer) and pdftoppm (poppler-utils) are not "
                    "installed; .ci/run installs them")
    subprocess.run([soffice, "--headless", f"-env:UserInstallation=file://{out}/lo-profile",
                    "--convert-to", "pdf", "--outdir", str(out), str(docx_path)],
                   check=True, capture_output=True, timeout=300)
    pdf = out / (docx_path.stem + ".pdf")
    assert pdf.exists() and pdf.stat().st_size > 1000
    text = subprocess.run(["pdftotext", "-f", "1", "-l", "1", str(pdf), "-"],
                          capture_output=True, text=True).stdout \
        if shutil.which("pdftotext") else None
    subprocess.run(["pdftoppm", "-png", "-r", "50", "-f", "1", "-l", "1", "-singlefile",
                    str(pdf), str(out / "page1")], check=True, timeout=120)
    return out / "page1.png", text


@pytest.mark.parametrize("lang, style", [("en", "apa"), ("zh", "three-line")])
def test_libreoffice_renders_the_first_page(tmp_path, lang, style):
    from PIL import Image

    path = tmp_path / f"sample_{lang}.docx"
    M.write_docx(sample(lang), path, style=style)
    png, text = _render(path, tmp_path)
    img = np.asarray(Image.open(png).convert("L"), dtype=float)
    assert img.shape[0] > img.shape[1]              # a portrait page
    assert (img < 128).mean() > 0.005               # ink on it: text, rules, the figure
    if text is not None:
        want = ["Table 1", "Fit of the models", "397.23", "< .001"] if lang == "en" else \
            ["表 1 模型拟合", "397.23", "< 0.001"]
        flat = " ".join(text.split())
        for w in want:
            assert w in flat, (w, flat[:400])


def _grid_inches(table):
    return [int(g.get(W + "w")) / 1440 for g in table._tbl.tblGrid.findall(W + "gridCol")]


def _text_width(d):
    s = d.sections[-1]
    return (s.page_width - s.left_margin - s.right_margin) / 914400


@pytest.mark.parametrize("n_cols, size", [(4, 10.0), (14, 9.0)])
def test_tables_fit_the_text_width_and_shrink_to_9pt_only_when_wide(tmp_path, n_cols, size):
    frame = pd.DataFrame({f"column {k}": [123.456789, -0.5] for k in range(n_cols)})
    cols = [Column(c, c.upper(), "number", 3) for c in frame.columns]
    doc = Document("wide", sections=[Section("s", "S", [Table("t", "T", frame, cols)])])
    path = M.write_docx(doc, tmp_path / "w.docx")
    d = docx.Document(str(path))
    t = d.tables[0]
    assert sum(_grid_inches(t)) <= _text_width(d) + 1e-6
    sizes = {r.font.size.pt for row in t.rows for c in row.cells for p in c.paragraphs
             for r in p.runs if r.text}
    assert sizes == {size}
    # the widest cell decides a column's width: a long label gets more room than a number
    frame2 = pd.DataFrame({"label": ["a rather long construct label"], "x": [0.5]})
    doc2 = Document("w", sections=[Section("s", "S", [Table("t", "T", frame2, [
        Column("label", "Label", "text"), Column("x", "x", "bounded", 2)])])])
    g = _grid_inches(docx.Document(str(M.write_docx(doc2, tmp_path / "w2.docx"))).tables[0])
    assert g[0] > 2 * g[1]


TBL_PR_ORDER = ["tblStyle", "tblpPr", "tblOverlap", "bidiVisual", "tblStyleRowBandSize",
                "tblStyleColBandSize", "tblW", "jc", "tblCellSpacing", "tblInd", "tblBorders",
                "shd", "tblLayout", "tblCellMar", "tblLook"]
TC_PR_ORDER = ["cnfStyle", "tcW", "gridSpan", "hMerge", "vMerge", "tcBorders", "shd", "noWrap",
               "tcMar", "textDirection", "tcFitText", "vAlign", "hideMark"]


def test_table_properties_follow_the_schema_order_word_requires(apa_docx):
    """Word (unlike LibreOffice) refuses a file whose property elements are out of the
    WordprocessingML schema's order."""
    for t in docx.Document(str(apa_docx)).tables:
        names = [el.tag.replace(W, "") for el in t._tbl.tblPr]
        assert names == sorted(names, key=TBL_PR_ORDER.index)
        assert "tblBorders" in names and "tblLayout" in names
        for row in t.rows:
            for cell in row.cells:
                names = [el.tag.replace(W, "") for el in cell._tc.tcPr]
                assert names == sorted(names, key=TC_PR_ORDER.index)
