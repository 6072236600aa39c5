"""The table layer and every table a reader sees: report.md, report.html, tables/*.csv, and the
console output of ``compare`` and ``measure``.

A table fails when a row has no label (an empty first cell, or only numbers in the row), when a
cell reads NaN, or when a column is named only ``value``.
"""
from __future__ import annotations

import re
from html.parser import HTMLParser

import numpy as np
import pandas as pd
import pytest

from semcluster.result import tables
from semcluster.cli import main
from semcluster.study.report import reproduce_report

NUMBER = re.compile(r"^[-−+]?(\d+(\.\d*)?|\.\d+)$|^[<>] ?\.\d+$|^[–-]$|^$")


def _is_number(cell: str) -> bool:
    return bool(NUMBER.match(cell.strip()))


def check_table(name: str, header: list, rows: list) -> None:
    assert header and header[0].strip(), f"{name}: first column has no name"
    assert not any(h.strip().lower() == "value" for h in header), \
        f"{name}: a column named only 'value': {header}"
    assert not any(re.match(r"^(unnamed: ?\d+|index|level_\d+|0)$", h.strip(), re.I)
                   for h in header), f"{name}: {header}"
    for r in rows:
        assert len(r) == len(header), f"{name}: ragged row {r}"
        assert r[0].strip() not in ("", "–"), f"{name}: unlabelled row {r}"
        assert not all(_is_number(c) for c in r), f"{name}: a row of bare numbers {r}"
        for c in r:
            assert c.strip().lower() not in ("nan", "<na>", "none", "nat"), f"{name}: {r}"
            assert not re.search(r"\bnan\b", c, re.I), f"{name}: {r}"


# -- the table layer ---------------------------------------------------------------------------
def test_layer_rules():
    df = pd.DataFrame({"est": [1.0, 0.5], "se": [0.0, 0.1], "z": [np.nan, 5.0],
                       "pvalue": [np.nan, 2e-7], "n": [160.0, 160.0], "ok": [True, False]},
                      index=["x1", "x2"])
    t = tables.formatted(df, label="item")
    assert list(t.columns) == ["item", "est", "se", "z", "pvalue", "n", "ok"]
    assert list(t.iloc[0]) == ["x1", "1.000", "–", "–", "–", "160", "yes"]
    assert list(t.iloc[1]) == ["x2", "0.500", "0.100", "5.000", "< .001", "160", "no"]
    assert tables.format_pvalue(0.0421) == ".042" and tables.format_pvalue(1.0) == "> .999"
    csv = tables.to_csv(df, label="item").splitlines()
    assert csv[0] == "item,est,se,z,pvalue,n,ok" and csv[1] == "x1,1.0,,,,160,True"
    md = tables.to_markdown(df).splitlines()
    assert md[0].startswith("| name |") and "NaN" not in "".join(md)
    assert "&lt; .001" in tables.to_html(df)
    # an unnamed integer index is row numbering, not a label; a Series keeps its name
    assert list(tables.tidy(pd.DataFrame({"a": [1.0]}, index=[23])).columns) == ["a"]
    s = pd.Series({"chisq": 85.3, "df": 24.0}, name="estimate")
    assert tables.to_csv(s, label="measure").splitlines() == [
        "measure,estimate", "chisq,85.3", "df,24"]


# -- the report ----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def report(tmp_path_factory):
    out = tmp_path_factory.mktemp("tables") / "report"
    reproduce_report(None, out, progress=False)          # the defaults, as `semcluster reproduce`
    return out


def md_tables(text: str):
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        if lines[i].startswith("|") and i + 1 < len(lines) and \
                re.match(r"^\|(\s*:?-+:?\s*\|)+$", lines[i + 1]):
            block = [lines[i]]
            j = i + 2
            while j < len(lines) and lines[j].startswith("|"):
                block.append(lines[j])
                j += 1

            def cells(ln):
                return [c.strip() for c in re.split(r"(?<!\\)\|", ln.strip())[1:-1]]
            yield cells(block[0]), [cells(b) for b in block[1:]]
            i = j
        else:
            i += 1


class _Tables(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tables, self._cell, self._row, self._in = [], None, None, False

    def handle_starttag(self, tag, attrs):
        if tag == "table":
            self.tables.append([])
        elif tag == "tr":
            self._row = []
        elif tag in ("td", "th"):
            self._cell = ""

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._row is not None:
            self._row.append(self._cell)
            self._cell = None
        elif tag == "tr" and self._row is not None:
            self.tables[-1].append(self._row)
            self._row = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell += data


def test_every_markdown_table_is_labelled(report):
    found = list(md_tables((report / "report.md").read_text(encoding="utf-8")))
    assert len(found) >= 14
    for k, (header, rows) in enumerate(found):
        check_table(f"report.md table {k + 1} ({header[:3]})", header, rows)


def test_every_html_table_is_labelled(report):
    p = _Tables()
    p.feed((report / "report.html").read_text(encoding="utf-8"))
    assert len(p.tables) >= 14
    for k, t in enumerate(p.tables):
        check_table(f"report.html table {k + 1} ({t[0][:3]})", t[0], t[1:])


def test_every_csv_is_labelled(report):
    files = sorted((report / "tables").glob("*.csv"))
    assert len(files) >= 14
    for f in files:
        df = pd.read_csv(f, dtype=str, keep_default_na=False)
        rows = [list(r) for r in df.itertuples(index=False)]
        check_table(f.name, list(df.columns), rows)


def test_report_tables_say_what_they_hold(report):
    t = report / "tables"
    fit = pd.read_csv(t / "cfa_fit.csv")
    assert list(fit.columns[:2]) == ["measure", "description"]
    assert fit.set_index("measure").loc["df", "estimate"] == 215
    r2 = pd.read_csv(t / "r2_by_method.csv")
    assert list(r2.method) == ["published", "ols_table2", "stepwise_table2", "ols_data",
                               "sem_data", "si_table2"]
    assert pd.read_csv(t / "fornell_larcker.csv").construct.tolist()[0] == "CA"
    assert pd.read_csv(t / "htmt.csv").columns[0] == "construct"
    sw = pd.read_csv(t / "software.csv")
    assert {"semcluster", "semopy", "python"} <= set(sw.package)
    comp = pd.read_csv(t / "regression_vs_sem.csv")
    assert len(comp.columns) <= 8 and len(comp) == 30
    audit = pd.read_csv(t / "audit.csv")
    assert {"difference", "detail"} <= set(audit.columns)
    flags = pd.read_csv(t / "measurement_flags.csv")
    htmt = flags[flags.figure.str.startswith("HTMT")]
    assert htmt.figure.is_unique and len(htmt) == 15
    load = pd.read_csv(t / "cfa_loadings.csv")
    assert load.loc[load.est == 1.0, "se"].isna().all()       # fixed markers: no SE
    md = (report / "report.md").read_text(encoding="utf-8")
    assert "| CA | ca1 | 1.000 | – | – | – |" in md


def test_own_data_report_has_no_published_r2(tmp_path):
    from semcluster.resources import data_path

    src = tmp_path / "mine.csv"
    src.write_bytes(data_path("paper_synthetic.csv").read_bytes())
    out = reproduce_report(str(src), tmp_path / "rep", n_boot=20, power_reps=10,
                       power_grid=(160,), n_jobs=1, progress=False)
    r2 = pd.read_csv(out / "tables" / "r2_by_method.csv")
    assert list(r2.method) == ["ols_data", "sem_data"]
    comp = pd.read_csv(out / "tables" / "regression_vs_sem.csv")
    assert set(comp.method) == {"ols_data", "sem_data"}


# -- console -----------------------------------------------------------------------------------
def text_tables(out: str):
    """(header, rows) of every aligned table printed by tables.to_text."""
    lines = out.splitlines()
    for i, ln in enumerate(lines):
        if i and re.match(r"^\s*-+(  -+)*\s*$", ln) and lines[i - 1].strip():
            spans = [(m.start(), m.end()) for m in re.finditer(r"-+", ln)]

            def cut(s):
                # a cell runs from its dash run to the start of the next one
                return [s[a:(spans[k + 1][0] if k + 1 < len(spans) else None)].strip()
                        for k, (a, _) in enumerate(spans)]
            rows = []
            for r in lines[i + 1:]:
                if not r.strip():
                    break
                rows.append(cut(r))
            yield cut(lines[i - 1]), rows


def check_console(out: str, min_tables: int):
    assert not re.search(r"\bnan\b", out, re.I), "NaN printed"
    found = list(text_tables(out))
    assert len(found) >= min_tables
    for header, rows in found:
        check_table(f"console {header[:3]}", header, rows)
        for j, h in enumerate(header):
            col = [r[j] for r in rows]
            if tables.is_pvalue_name(h):
                assert not any(c in ("0.000", ".000") for c in col), (h, col)
            if h in ("n", "n_items", "df"):
                assert all(re.match(r"^\d+$", c) for c in col if c != "–"), (h, col)
    # no stray index-name lines (pandas prints the index name alone under the header)
    assert not re.search(r"^\s*(hypothesis|construct|stat)\s*$", out, re.M)


def test_compare_console(capsys):
    assert main(["compare"]) == 0
    out = capsys.readouterr().out
    check_console(out, 6)
    assert "< .001" in out


def test_measure_console(capsys):
    assert main(["measure", "--parallel-iter", "20"]) == 0
    out = capsys.readouterr().out
    check_console(out, 8)
    assert re.search(r"^\s*CA\s+0\.682\s+0\.593\s+0\.756\s+0\.683\s+160\s+complete rows\s+4\s",
                     out, re.M)
    assert "p < .001" in out
