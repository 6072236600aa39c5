"""Word manuscripts and rounded tables from a :class:`semcluster.result.document.Document`.

Writers that walk the report's document model:

* :func:`write_docx` / :func:`docx_bytes` — a Word file with real tables, in one of two styles:

  ``apa``          APA 7 (Publication Manual, 7th ed., §7.8–7.21): "Table N" in bold, the
                   title in italics on the next line, horizontal rules only (above and below
                   the header, below the last row), "*Note.*" under the table; figures with
                   "Figure N" in bold and the title in italics above.  No leading zero for
                   values that cannot exceed 1 (``bounded`` columns) and for p, p as
                   ``< .001``.
  ``three-line``   the three-line table (三线表) of Chinese journals: thick rules above and
                   below the table, a thin rule under the header, table number and title
                   centred above ("表 1 …" in a zh document), figure number and title centred
                   below the figure ("图 1 …").  Numbers keep their leading zero (0.05,
                   p < 0.001), as these journals print them.

  Figures are embedded as PNG at 300 dpi.  East Asian text gets its own font (``w:eastAsia`` in
  the styles' ``w:rFonts``: SimSun/宋体 for the body, SimHei/黑体 for headings), Latin text and
  numbers Times New Roman, so that Word shows 中文 with a Chinese font and digits in the Latin one.

* :func:`format_cell` — the one rule for a printed cell, shared by every writer.
* :func:`write_tables` / :func:`table_files` — a rounded, labelled CSV per table and one XLSX
  workbook with a sheet per table (named by its number).

Every file goes through :mod:`semcluster.output.files` (inputs never overwritten, atomic
writes, a folder's manifest).
"""
from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np
import pandas as pd

from ..result.document import Column, Document, Figure, Paragraph, Section, Table
from ..errors import OptionError
from .files import OutputFiles, OutputFolder, csv_text, figure_bytes, xlsx_bytes

__all__ = ["format_cell", "columns_of", "write_docx", "docx_bytes", "write_tables",
           "table_files", "rounded_frame", "STYLES", "MISSING"]

STYLES = ("apa", "three-line")
MISSING = "–"          # an en dash: a fixed parameter's SE, a cell with no value
MINUS = "−"            # U+2212, the typographic minus sign
FIGURE_DPI = 300

_WORDS = {"en": {"table": "Table", "figure": "Figure", "note": "Note.", "warnings": "Warnings"},
          "zh": {"table": "表", "figure": "图", "note": "注：", "warnings": "警告"}}
LATIN_FONT = "Times New Roman"
EAST_ASIA_FONT = "SimSun"          # 宋体
EAST_ASIA_HEADING_FONT = "SimHei"  # 黑体


# ---------------------------------------------------------------------------------------------
# cells
# ---------------------------------------------------------------------------------------------
def _missing(value) -> bool:
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    if isinstance(value, (float, np.floating)):
        return math.isnan(float(value))
    if isinstance(value, str):
        return value.strip() == "" or value.strip().lower() in ("nan", "none", "<na>")
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def _fixed(x: float, decimals: int) -> str:
    text = f"{x:.{decimals}f}"
    if text.startswith("-") and float(text) == 0:      # -0.00 is 0.00
        text = text[1:]
    return text


def _signed(text: str) -> str:
    return MINUS + text[1:] if text.startswith("-") else text


def _drop_zero(text: str) -> str:
    """0.05 -> .05, -0.50 -> -.50 (1.00 stays)."""
    if text.startswith("0."):
        return text[1:]
    if text.startswith("-0."):
        return "-" + text[2:]
    return text


def format_cell(value, column: Column, style: str = "apa") -> str:
    """A cell as printed in a manuscript table.

    Rules (``style`` ``apa`` or ``three-line``):

    * no value (None, NaN, empty text, "nan") -> an en dash ``–``; booleans -> yes/no;
    * ``text``: as it is;
    * ``number``: ``column.decimals`` places, a minus sign (−) for negatives;
    * ``bounded`` (cannot exceed 1 in absolute value): as ``number``, and in APA style without
      the leading zero (−.50, .05, 1.00);
    * ``p``: ``< .001`` below .001, ``> .999`` above .999, else three decimals, without the
      leading zero in APA style (``.050``); the three-line style keeps it (``0.050``,
      ``< 0.001``);
    * ``count``: a whole number (``160``); a count that is not whole (a scaled df) keeps
      ``decimals`` places.
    """
    if style not in STYLES:
        raise OptionError(f"table style '{style}' is not known; use apa or three-line")
    if _missing(value):
        return MISSING
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    kind = column.kind
    if kind == "text" or isinstance(value, str):
        return str(value)
    try:
        x = float(value)
    except (TypeError, ValueError):
        return str(value)
    if math.isinf(x):
        return "∞" if x > 0 else MINUS + "∞"
    apa = style == "apa"
    if kind == "p":
        if x < 0.001:
            return "< .001" if apa else "< 0.001"
        if x > 0.999:
            return "> .999" if apa else "> 0.999"
        text = _fixed(x, 3)
        return _drop_zero(text) if apa else text
    if kind == "count":
        if x == round(x):
            return _signed(str(int(round(x))))
        return _signed(_fixed(x, column.decimals))
    text = _fixed(x, column.decimals)
    if kind == "bounded" and apa:
        text = _drop_zero(text)
    return _signed(text)


def columns_of(table: Table) -> list[Column]:
    """The printed columns of a table: its own, or every column of its frame with the kind
    read from the values and the name (p-values, counts, numbers, text)."""
    if table.columns is not None:
        missing = [c.name for c in table.columns if c.name not in table.frame.columns]
        if missing:
            raise OptionError(f"table '{table.key}': column(s) {', '.join(missing)} are not in "
                              f"its frame")
        return list(table.columns)
    from ..result.tables import is_count_name, is_pvalue_name

    out = []
    for name in table.frame.columns:
        s = table.frame[name]
        if not (pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s)):
            kind = "text"
        elif is_pvalue_name(name):
            kind = "p"
        elif pd.api.types.is_integer_dtype(s) or is_count_name(name):
            kind = "count"
        else:
            kind = "number"
        out.append(Column(str(name), None, kind, 2))
    return out


def rounded_frame(table: Table, *, style: str = "apa") -> pd.DataFrame:
    """The table for a spreadsheet: headers are the column titles, numbers rounded to their
    column's decimals (and kept numbers, so that a spreadsheet can compute with them), counts
    whole, p-values to three decimals with ``< .001`` as text, no value an empty cell."""
    cols = columns_of(table)
    out = {}
    for c in cols:
        vals = []
        for v in table.frame[c.name].tolist():
            if _missing(v):
                vals.append(None)
            elif c.kind == "text" or isinstance(v, (str, bool, np.bool_)):
                vals.append(v if not isinstance(v, (bool, np.bool_)) else
                            ("yes" if v else "no"))
            elif c.kind == "p":
                x = float(v)
                vals.append(format_cell(x, c, style) if x < 0.001 or x > 0.999
                            else round(x, 3))
            elif c.kind == "count" and float(v) == round(float(v)):
                vals.append(int(round(float(v))))
            else:
                vals.append(round(float(v), c.decimals))
        out[c.title] = vals
    frame = pd.DataFrame(out)
    if len(set(frame.columns)) != len(cols):
        frame.columns = [c.title if [d.title for d in cols].count(c.title) == 1 else
                         f"{c.title} ({c.name})" for c in cols]
    return frame


# ---------------------------------------------------------------------------------------------
# tables as CSV / XLSX
# ---------------------------------------------------------------------------------------------
def _sheet_name(table: Table, i: int, lang: str) -> str:
    n = table.number if table.number is not None else i
    return f"{_WORDS.get(lang, _WORDS['en'])['table']} {n}"[:31]


def table_files(doc: Document, formats=("csv", "xlsx"), *, prefix: str = "tables/") -> dict:
    """The rounded tables as files: ``{prefix}{key}.csv`` per table and one workbook
    ``{prefix}tables.xlsx`` with a sheet per table, named "Table N" ("表 N")."""
    bad = [f for f in formats if f not in ("csv", "xlsx")]
    if bad:
        raise OptionError(f"table format(s) {', '.join(bad)} not known; use csv, xlsx")
    tables = doc.tables()
    if any(t.number is None for t in tables):
        doc.number_items()
    keys = [t.key for t in tables]
    dup = sorted({k for k in keys if keys.count(k) > 1})
    if dup:
        raise OptionError(f"two tables share the key(s) {', '.join(dup)}: each table needs its "
                          f"own file name")
    files: dict = {}
    if "csv" in formats:
        for t in tables:
            files[f"{prefix}{t.key}.csv"] = csv_text(rounded_frame(t)).encode("utf-8-sig")
    if "xlsx" in formats and tables:
        files[f"{prefix}tables.xlsx"] = _workbook(doc, tables)
    return files


def _workbook(doc: Document, tables: list) -> bytes:
    import openpyxl
    from openpyxl.styles import Font

    from .files import csv_safe

    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    for i, t in enumerate(tables, 1):
        ws = wb.create_sheet(_sheet_name(t, i, doc.lang))
        ws.append([f"{_WORDS.get(doc.lang, _WORDS['en'])['table']} {t.number}"])
        ws.append([t.title])
        ws["A1"].font = Font(bold=True)
        ws["A2"].font = Font(italic=True)
        frame = csv_safe(rounded_frame(t))
        ws.append(list(frame.columns))
        for c in ws[3]:
            c.font = Font(bold=True)
        for row in frame.itertuples(index=False):
            ws.append([None if _missing(v) else v for v in row])
        if t.note:
            ws.append([])
            ws.append([f"{_WORDS.get(doc.lang, _WORDS['en'])['note']} {t.note}"])
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def write_tables(doc: Document, folder, formats=("csv", "xlsx"), *, inputs=()) -> list[str]:
    """Write the rounded tables into ``folder``: a path (written as a semcluster output folder,
    see :class:`semcluster.output.files.OutputFolder`; ``inputs`` are never overwritten) or an
    :class:`OutputFolder` being gathered (the files are added; its owner commits them).
    Returns the file names."""
    files = table_files(doc, formats, prefix="")
    if isinstance(folder, OutputFolder):
        return [folder.add_bytes(name, data) for name, data in files.items()]
    out = OutputFiles(inputs=inputs).folder(folder)
    names = [out.add_bytes(name, data) for name, data in files.items()]
    out.commit()
    return names


# ---------------------------------------------------------------------------------------------
# Word
# ---------------------------------------------------------------------------------------------
def _set_fonts(style, latin: str, east_asia: str, size=None, bold=None) -> None:
    from docx.oxml.ns import qn
    from docx.shared import Pt

    style.font.name = latin
    if size is not None:
        style.font.size = Pt(size)
    if bold is not None:
        style.font.bold = bold
    _rfonts(style.element.get_or_add_rPr(), latin, east_asia)


def _set_lang(doc_docx, lang: str) -> None:
    """Proofing language of the whole document (en-US, or zh-CN for East Asian text)."""
    from docx.oxml.ns import qn

    styles = doc_docx.styles.element
    rpr = styles.find(qn("w:docDefaults")).find(qn("w:rPrDefault")).find(qn("w:rPr"))
    el = rpr.find(qn("w:lang"))
    if el is None:
        el = rpr.makeelement(qn("w:lang"), {})
        rpr.append(el)
    el.set(qn("w:val"), "en-US")
    el.set(qn("w:eastAsia"), "zh-CN")
    _rfonts(rpr, LATIN_FONT, EAST_ASIA_FONT)


def _rfonts(rpr, latin: str, east_asia: str) -> None:
    """A run-properties element's fonts: ``latin`` for Latin and complex script,
    ``east_asia`` for East Asian text (``w:eastAsia``); theme fonts that would override them
    are removed."""
    from docx.oxml.ns import qn

    fonts = rpr.find(qn("w:rFonts"))
    if fonts is None:
        fonts = rpr.makeelement(qn("w:rFonts"), {})
        rpr.insert(0, fonts)
    for attr in ("w:ascii", "w:hAnsi", "w:cs"):
        fonts.set(qn(attr), latin)
    fonts.set(qn("w:eastAsia"), east_asia)
    for theme in ("w:asciiTheme", "w:hAnsiTheme", "w:eastAsiaTheme", "w:cstheme"):
        if fonts.get(qn(theme)) is not None:
            del fonts.attrib[qn(theme)]


def _no_paragraph_border(style) -> None:
    """python-docx's Title style draws a blue rule under the title: not in a manuscript."""
    from docx.oxml.ns import qn

    ppr = style.element.find(qn("w:pPr"))
    if ppr is not None:
        for el in ppr.findall(qn("w:pBdr")):
            ppr.remove(el)


#: headers set in italics in APA style (statistical symbols, APA 7 §6.45)
ITALIC_SYMBOLS = frozenset({"p", "df", "N", "n", "M", "SD", "SE", "z", "t", "r", "F", "b",
                            "β", "R²", "χ²", "Δχ²", "Δdf", "p (Δχ²)"})


def _border(cell, edge: str, size: int) -> None:
    """A single rule of ``size`` eighths of a point on one edge of a cell (0: none)."""
    from docx.oxml.ns import qn

    tc_pr = cell._tc.get_or_add_tcPr()
    borders = tc_pr.find(qn("w:tcBorders"))
    if borders is None:
        borders = tc_pr.makeelement(qn("w:tcBorders"), {})
        tc_pr.append(borders)
    el = borders.find(qn(f"w:{edge}"))
    if el is None:
        el = borders.makeelement(qn(f"w:{edge}"), {})
        borders.append(el)
    if size:
        el.set(qn("w:val"), "single")
        el.set(qn("w:sz"), str(size))
        el.set(qn("w:space"), "0")
        el.set(qn("w:color"), "000000")
    else:
        el.set(qn("w:val"), "nil")


def _no_table_borders(table) -> None:
    from docx.oxml.ns import qn

    tbl_pr = table._tbl.tblPr
    borders = tbl_pr.find(qn("w:tblBorders"))
    if borders is None:
        borders = tbl_pr.makeelement(qn("w:tblBorders"), {})
        # the schema's order (Word refuses a file with tblBorders after tblLook)
        later = [tbl_pr.find(qn(f"w:{n}")) for n in ("shd", "tblLayout", "tblCellMar",
                                                       "tblLook", "tblCaption",
                                                       "tblDescription")]
        later = [el for el in later if el is not None]
        if later:
            later[0].addprevious(borders)
        else:
            tbl_pr.append(borders)
    for edge in ("top", "left", "bottom", "right", "insideH", "insideV"):
        el = borders.find(qn(f"w:{edge}"))
        if el is None:
            el = borders.makeelement(qn(f"w:{edge}"), {})
            borders.append(el)
        el.set(qn("w:val"), "nil")


#: rule widths in eighths of a point: (top, under the header, bottom)
RULES = {"apa": (8, 8, 8), "three-line": (12, 6, 12)}


def _paragraph(doc_docx, text: str = "", *, bold=False, italic=False, align=None,
               size=None, space_after=None, keep_with_next=False):
    from docx.shared import Pt

    p = doc_docx.add_paragraph()
    if text:
        r = p.add_run(text)
        r.bold, r.italic = bold, italic
        if size:
            r.font.size = Pt(size)
    if align is not None:
        p.alignment = align
    if space_after is not None:
        p.paragraph_format.space_after = Pt(space_after)
    if keep_with_next:
        p.paragraph_format.keep_with_next = True
    return p


def _add_table(d, t: Table, style: str, words: dict) -> None:
    from docx.enum.table import WD_TABLE_ALIGNMENT
    from docx.enum.text import WD_ALIGN_PARAGRAPH
    from docx.shared import Pt

    cols = columns_of(t)
    center = WD_ALIGN_PARAGRAPH.CENTER
    if style == "apa":
        _paragraph(d, f"{words['table']} {t.number}", bold=True, space_after=0,
                   keep_with_next=True)
        _paragraph(d, t.title, italic=True, space_after=6, keep_with_next=True)
    else:
        p = _paragraph(d, align=center, space_after=6, keep_with_next=True)
        r = p.add_run(f"{words['table']} {t.number} {t.title}")
        r.bold = True
    table = d.add_table(rows=1 + len(t.frame), cols=len(cols))
    table.alignment = WD_TABLE_ALIGNMENT.CENTER
    _no_table_borders(table)
    sec = d.sections[-1]
    width = (sec.page_width - sec.left_margin - sec.right_margin) / 914400   # EMU -> inches
    need = _needs(cols, t, style)
    size = _table_font_size(need, style, width)
    top, header, bottom = RULES[style]
    for j, c in enumerate(cols):
        cell = table.cell(0, j)
        cell.text = ""
        run = cell.paragraphs[0].add_run(c.title)
        run.font.size = Pt(size)
        if style == "three-line":
            run.bold = True
        elif c.title in ITALIC_SYMBOLS:
            run.italic = True
        cell.paragraphs[0].alignment = center if c.kind != "text" or j else None
        _border(cell, "top", top)
        _border(cell, "bottom", header)
    n = len(t.frame)
    for i, row in enumerate(t.frame.itertuples(index=False), 1):
        values = dict(zip(t.frame.columns, row))
        for j, c in enumerate(cols):
            cell = table.cell(i, j)
            run = cell.paragraphs[0].add_run(format_cell(values[c.name], c, style))
            run.font.size = Pt(size)
            if c.kind != "text":
                cell.paragraphs[0].alignment = center
            if i == n:
                _border(cell, "bottom", bottom)
    if n == 0:
        for j in range(len(cols)):
            _border(table.cell(0, j), "bottom", bottom)
    _column_widths(table, need, size, width)
    _repeat_header(table.rows[0])
    for row in table.rows:
        for cell in row.cells:
            for p in cell.paragraphs:
                p.paragraph_format.space_after = Pt(0)
                p.paragraph_format.space_before = Pt(0)
    if t.note:
        p = _paragraph(d, space_after=12)
        r = p.add_run(words["note"])
        r.italic = style == "apa"
        r.font.size = Pt(size)
        r = p.add_run(("" if words is _WORDS["zh"] else " ") + t.note)
        r.font.size = Pt(size)
    else:
        _paragraph(d, space_after=6)


def _text_length(text: str) -> float:
    """Printed length of a text in 'Latin characters' (an East Asian character counts 2)."""
    return sum(2.0 if ord(ch) > 0x2E80 else 1.35 if ch.isupper() else 1.0 for ch in text)


def _needs(cols, t: Table, style: str) -> list[float]:
    need = []
    for c in cols:
        cells = [format_cell(v, c, style) for v in t.frame[c.name].tolist()]
        words = [w for w in c.title.split()] or [c.title]
        longest_cell = max([_text_length(x) for x in cells] or [0.0])
        header = max(_text_length(w) for w in words) * (1.15 if style == "three-line" else 1)
        if c.kind == "text":             # long text may wrap, but not below 12 characters
            longest_cell = min(longest_cell, max(12.0, 0.5 * longest_cell))
        need.append(max(longest_cell, header, _text_length(c.title) / 2) + 1.0)
    return need


CELL_PAD = 0.16                           # inches of cell margins (left + right)


def _char_width(size: float) -> float:
    return 0.0075 * size                  # inches per average Latin character


def _table_font_size(need: list[float], style: str, width: float) -> float:
    """10 pt (APA) or 10.5 pt (五号, three-line); 9 pt when the table would not fit."""
    size = 10.0 if style == "apa" else 10.5
    if sum(n * _char_width(size) + CELL_PAD for n in need) > width:
        size = 9.0
    return size


def _column_widths(table, need: list[float], size: float, width: float) -> None:
    """Widths from the content: each column as wide as its longest cell (a header may wrap at
    its spaces, so its longest word counts), scaled to the text width when too wide."""
    from docx.shared import Inches

    char, pad = _char_width(size), CELL_PAD
    widths = [n * char + pad for n in need]
    total = sum(widths)
    if total > width:                     # shrink the text, not the margins
        text = sum(n * char for n in need)
        room = width - pad * len(need)
        widths = [n * char * room / text + pad for n in need]
    table.autofit = False
    from docx.oxml.ns import qn

    grid = table._tbl.tblGrid.findall(qn("w:gridCol"))
    for j, w in enumerate(widths):
        grid[j].set(qn("w:w"), str(int(round(w * 1440))))      # twentieths of a point
        for cell in table.columns[j].cells:
            cell.width = Inches(w)


def _repeat_header(row) -> None:
    """The header row repeats on every page a long table runs over."""
    from docx.oxml.ns import qn

    tr_pr = row._tr.get_or_add_trPr()
    el = tr_pr.makeelement(qn("w:tblHeader"), {})
    el.set(qn("w:val"), "true")
    tr_pr.append(el)


def _add_figure(d, f: Figure, style: str, words: dict) -> None:
    from docx.enum.text import WD_ALIGN_PARAGRAPH
    from docx.shared import Inches, Pt

    png = figure_bytes(f.figure, "png", dpi=FIGURE_DPI)
    center = WD_ALIGN_PARAGRAPH.CENTER
    width = min(6.0, _figure_width(f.figure))
    if style == "apa":
        _paragraph(d, f"{words['figure']} {f.number}", bold=True, space_after=0,
                   keep_with_next=True)
        _paragraph(d, f.title, italic=True, space_after=6, keep_with_next=True)
        p = _paragraph(d, align=center)
        p.add_run().add_picture(io.BytesIO(png), width=Inches(width))
    else:
        p = _paragraph(d, align=center, keep_with_next=True)
        p.add_run().add_picture(io.BytesIO(png), width=Inches(width))
        q = _paragraph(d, align=center, space_after=6)
        q.add_run(f"{words['figure']} {f.number} {f.title}").bold = True
    if f.note:
        p = _paragraph(d, space_after=12)
        r = p.add_run(words["note"])
        r.italic = style == "apa"
        r.font.size = Pt(10)
        p.add_run(("" if words is _WORDS["zh"] else " ") + f.note).font.size = Pt(10)


def _figure_width(fig) -> float:
    try:
        return float(fig.get_size_inches()[0])
    except (AttributeError, TypeError, IndexError):
        return 6.0


def docx_bytes(doc: Document, *, style: str = "apa") -> bytes:
    """The document as the bytes of a .docx file (see :func:`write_docx`)."""
    if style not in STYLES:
        raise OptionError(f"table style '{style}' is not known; use apa or three-line")
    try:
        import docx
    except ImportError:  # pragma: no cover - declared dependency
        raise OptionError("writing Word files needs the python-docx package (pip install "
                          "python-docx)") from None
    from docx.enum.text import WD_ALIGN_PARAGRAPH
    from docx.shared import Pt

    if any(t.number is None for t in doc.tables()) or \
            any(f.number is None for f in doc.figures()):
        doc.number_items()
    words = _WORDS["zh" if doc.lang == "zh" else "en"]
    d = docx.Document()
    _set_lang(d, doc.lang)
    body_size = 12 if style == "apa" else 10.5
    _set_fonts(d.styles["Normal"], LATIN_FONT, EAST_ASIA_FONT, size=body_size)
    for name in ("Title", "Heading 1", "Heading 2", "Heading 3"):
        st = d.styles[name]
        _set_fonts(st, LATIN_FONT, EAST_ASIA_HEADING_FONT, bold=True)
        st.font.color.rgb = None
    d.styles["Title"].font.size = Pt(16)
    d.styles["Heading 1"].font.size = Pt(14)
    d.styles["Heading 2"].font.size = Pt(12)
    d.styles["Heading 3"].font.size = Pt(12)
    d.core_properties.title = doc.title
    d.core_properties.language = "zh-CN" if doc.lang == "zh" else "en-US"
    title = d.add_paragraph(style="Title")
    title.add_run(doc.title)
    title.alignment = WD_ALIGN_PARAGRAPH.CENTER
    _no_paragraph_border(d.styles["Title"])
    for depth, block in doc.walk():
        if isinstance(block, Section):
            d.add_heading(block.title, level=min(depth, 3))
        elif isinstance(block, Table):
            _add_table(d, block, style, words)
        elif isinstance(block, Figure):
            _add_figure(d, block, style, words)
        elif isinstance(block, Paragraph):
            p = d.add_paragraph()
            if block.kind == "warning":
                p.add_run(("警告：" if doc.lang == "zh" else "Warning: ")).bold = True
            r = p.add_run(block.text)
            r.italic = block.kind == "note"
        else:
            raise OptionError(f"the document holds a {type(block).__name__}; a section holds "
                              f"paragraphs, tables, figures and sections")
    if doc.warnings:
        d.add_heading(words["warnings"], level=1)
        for w in doc.warnings:
            d.add_paragraph(str(w), style="List Bullet")
    buf = io.BytesIO()
    d.save(buf)
    return buf.getvalue()


def write_docx(doc: Document, path, *, style: str = "apa", inputs=(),
               outputs: OutputFiles | None = None) -> Path:
    """Write ``doc`` as a Word file: headings per section, paragraphs, real Word tables in the
    ``apa`` or ``three-line`` style (module text), figures at 300 dpi with their captions, and
    the run's warnings at the end.  ``inputs`` (or an ``outputs`` guard) name the files the run
    read, which are never overwritten.  Returns the path."""
    if style not in STYLES:
        raise OptionError(f"table style '{style}' is not known; use apa or three-line")
    guard = outputs if outputs is not None else OutputFiles(inputs=inputs)
    target = guard.file(path, suffixes=(".docx",))
    return guard.write_bytes(target, docx_bytes(doc, style=style))
