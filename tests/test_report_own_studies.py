"""``semcluster report`` on the corpus of own studies (tests/fixtures/own_studies, made by its
committed script from stated population models): six surveys of different shapes, each in en
and zh.  Every number printed in the report's tables is parsed back from ``report.md`` and
compared, at the precision printed, with what the single-purpose commands give on the same
files: ``semcluster fit --json`` (loadings, paths, R², fit measures, defined effects, the
hypotheses' β and p), ``semcluster measure --out`` (α, ω, CR, AVE, Fornell–Larcker, HTMT) and
``semcluster bootstrap --json`` (the intervals of the ``:=`` effects).  semcluster is compared
with itself here: these tests check that the report carries the analyses' numbers unchanged
and labelled, not the analyses (which have their lavaan references elsewhere).

The bootstrap uses 200 resamples (the same seed in the report and in ``bootstrap``) to keep
the test fast; ``SEMCLUSTER_SLOW_TESTS=1`` runs every study in both languages, otherwise the
zh run is done for the studies whose labels are Chinese in the data (spss_zh) and one more.
"""
from __future__ import annotations

import json
import math
import os
import re
from pathlib import Path

import pytest
import yaml

from semcluster.cli import main

HERE = Path(__file__).parent / "fixtures" / "own_studies"
STUDIES = {s["name"]: s for s in yaml.safe_load((HERE / "studies.yaml").read_text())["studies"]}
SLOW = os.environ.get("SEMCLUSTER_SLOW_TESTS") == "1"
N_BOOT = "200"
SEED = "777"
FAST_ZH = {"spss_zh", "mediation"}


def data_args(s) -> list:
    args = [str(HERE / s["model"]), "--data", str(HERE / s["data"])]
    extra = list(s.get("args", []))
    if "--map" in extra:
        i = extra.index("--map")
        extra[i + 1] = str(HERE / extra[i + 1])
    return args + extra


def report_argv(s, lang, out) -> list:
    argv = ["report", *data_args(s), "--lang", lang, "--n-boot", N_BOOT, "--seed", SEED,
            "--jobs", "1", "--format", "html,md,docx", "--out", str(out)]
    for key, opt in (("group", "--group"), ("hypotheses", "--hypotheses"),
                     ("labels", "--labels")):
        if s.get(key):
            argv += [opt, s[key] if key == "group" else str(HERE / s[key])]
    return argv


# -- reading the report back ---------------------------------------------------------------------
def md_tables(text: str) -> dict:
    """{key: (headers, [row cells])} of every table of report.md (marked <!-- table: key -->)."""
    out = {}
    lines = text.splitlines()
    for i, line in enumerate(lines):
        m = re.match(r"<!-- table: (\S+) -->", line)
        if not m:
            continue
        j = i + 1
        while not lines[j].startswith("|"):
            j += 1
        head = [c.strip() for c in lines[j].strip("|").split(" | ")]
        rows = []
        j += 2
        while j < len(lines) and lines[j].startswith("|"):
            rows.append([c.strip() for c in lines[j][2:-2].split(" | ")])
            j += 1
        out[m.group(1)] = (head, rows)
    return out


def printed_equals(cell: str, value) -> bool:
    """A printed cell shows ``value`` at the precision printed (APA: ".812" is 0.812)."""
    missing = value is None or (isinstance(value, float) and math.isnan(value))
    if cell in ("–", "—"):
        return missing
    if missing:
        return False
    if cell.startswith("<"):
        return float(value) < float(cell.lstrip("< ").replace(" ", ""))
    if cell.startswith(">"):
        return float(value) > float(cell.lstrip("> ").replace(" ", ""))
    text = cell.replace("−", "-")
    number = float(text)
    decimals = len(text.split(".")[1]) if "." in text else 0
    return abs(number - float(value)) <= 0.5 * 10 ** -decimals + 1e-9


def column(table, header):
    head, rows = table
    k = head.index(header)
    return [r[k] for r in rows]


def check_column(table, header, values, what):
    cells = column(table, header)
    assert len(cells) == len(values), (what, header, len(cells), len(values))
    bad = [(c, v) for c, v in zip(cells, values) if not printed_equals(c, v)]
    assert not bad, (what, header, bad[:5])


# -- the runs ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Each study through report (en, and zh where asked), fit --json (with and without the
    group), measure --out and bootstrap --json; the outputs by study and language."""
    base = tmp_path_factory.mktemp("own")
    got = {}
    for name, s in STUDIES.items():
        d = base / name
        d.mkdir()
        r = {}
        langs = ["en", "zh"] if (SLOW or name in FAST_ZH) else ["en"]
        for lang in langs:
            assert main(report_argv(s, lang, d / f"report_{lang}")) == 0, (name, lang)
            r[lang] = d / f"report_{lang}"
        fit_args = data_args(s) + (["--group", s["group"]] if s.get("group") else [])
        assert main(["fit", *fit_args, "--json", str(d / "fit.json")]) == 0
        r["fit"] = json.loads((d / "fit.json").read_text())
        measured = s["model"]
        if s.get("group"):
            # the report's measurement tables are the model's =~ lines on all groups together
            text = (HERE / s["model"]).read_text()
            cfa = "\n".join(line for line in text.splitlines() if "=~" in line) + "\n"
            (d / "cfa.lav").write_text(cfa)
            measured = str(d / "cfa.lav")
            m_args = [measured] + data_args(s)[1:]
            assert main(["fit", *m_args, "--json", str(d / "cfa.json")]) == 0
            r["cfa"] = json.loads((d / "cfa.json").read_text())
        else:
            m_args = data_args(s)
            r["cfa"] = r["fit"]
        assert main(["measure", *m_args, "--parallel-iter", "10", "--out",
                     str(d / "measure")]) == 0
        r["measure"] = json.loads((d / "measure" / "measurement.json").read_text())
        has_defined = any(e["op"] == ":=" for e in r["fit"]["estimates"])
        if has_defined and not s.get("group"):
            assert main(["bootstrap", *data_args(s), "--n-boot", N_BOOT, "--seed", SEED,
                         "--jobs", "1", "--json", str(d / "boot.json")]) == 0
            r["boot"] = json.loads((d / "boot.json").read_text())
        got[name] = r
    return got


def labels_of(s):
    return yaml.safe_load((HERE / s["labels"]).read_text(encoding="utf-8")) if s.get("labels") \
        else {}


def name_in(s, lang):
    lab = labels_of(s).get("constructs", {})

    def name(code):
        e = lab.get(code)
        return e[lang] if e else code
    return name


def cases():
    for name in STUDIES:
        for lang in ("en", "zh"):
            if lang == "zh" and not (SLOW or name in FAST_ZH):
                continue
            yield pytest.param(name, lang, id=f"{name}-{lang}")


@pytest.mark.parametrize("name, lang", list(cases()))
def test_report_numbers_equal_the_commands_on_the_same_data(runs, name, lang):
    s, r = STUDIES[name], runs[name]
    folder = r[lang]
    md = (folder / "report.md").read_text(encoding="utf-8")
    t = md_tables(md)
    nm = name_in(s, lang)
    B, SE, P, BETA = "B", "SE", "p", "β"

    # loadings: the fit of the model (the measurement part on all groups, with groups)
    load = [e for e in r["cfa"]["estimates"] if e["op"] == "=~"]
    assert column(t["loadings"], t["loadings"][0][0]) == [nm(e["lhs"]) for e in load]
    for h, k in ((B, "est"), (P, "pvalue"), (BETA, "std_all")):
        check_column(t["loadings"], h, [e[k] for e in load], "loadings")
    check_column(t["loadings"], SE, [e["se"] if e["pvalue"] is not None else None for e in load], "loadings")

    # reliability, Fornell-Larcker, HTMT: semcluster measure
    rel = {row["construct"]: row for row in r["measure"]["reliability"]}
    order = list(rel)
    for h, k in (("α", "alpha"), ("ω", "omega"), ("CR", "cr"), ("AVE", "ave_std")):
        check_column(t["reliability"], h, [rel[c][k] for c in order], "reliability")
    for key in ("fornell_larcker", "htmt"):
        m = {row["construct"]: row for row in r["measure"][key]}
        for c in order:
            check_column(t[key], nm(c), [m[x][c] for x in order], key)

    # fit measures: fit --json
    fm = r["fit"]["fit_measures"]
    for h, k in (("χ²", "chisq"), ("df", "df"), ("p", "pvalue"), ("CFI", "cfi"),
                 ("TLI", "tli"), ("RMSEA", "rmsea"), ("SRMR", "srmr"), ("AIC", "aic"),
                 ("BIC", "bic")):
        check_column(t["fit"], h, [fm[k]], "fit")

    paths = [e for e in r["fit"]["estimates"] if e["op"] == "~"]
    if paths:
        for h, k in ((B, "est"), (SE, "se"), (P, "pvalue"), (BETA, "std_all")):
            check_column(t["paths"], h, [e[k] for e in paths], "paths")
        head = t["paths"][0]
        outcome = head[1] if s.get("group") else head[0]
        assert column(t["paths"], outcome) == [nm(e["lhs"]) for e in paths]
        r2 = r["fit"]["r2"]
        outs = list(dict.fromkeys(e["lhs"] for e in paths))
        want = ([r2[g][v] for g in r["fit"]["groups"] for v in outs] if s.get("group")
                else [r2[v] for v in outs])
        check_column(t["r2"], "R²", want, "r2")
    else:
        assert "paths" not in t and "hypotheses" not in t

    if s.get("hypotheses"):
        hyp = yaml.safe_load((HERE / s["hypotheses"]).read_text(encoding="utf-8"))["hypotheses"]
        est = r["fit"]["estimates"]
        want_b, want_p = [], []
        n_groups = len(r["fit"].get("groups") or [None])
        for hid, h in hyp.items():
            if "path" in h:
                x, y = (v.strip() for v in h["path"].split("->"))
                rows = [e for e in est if e["op"] == "~" and e["lhs"] == y and e["rhs"] == x]
            else:
                rows = [e for e in est if e["label"] == h["label"] or
                        (e["op"] == ":=" and e["lhs"] == h["label"])][:1]
                rows = rows if rows[0]["op"] == ":=" else rows[:1] * n_groups
            want_b += [e["std_all"] for e in rows]
            want_p += [e["pvalue"] for e in rows]
        check_column(t["hypotheses"], BETA, want_b, "hypotheses")
        check_column(t["hypotheses"], P, want_p, "hypotheses")
        from semcluster.output.report import _t, hypothesis_verdict

        verdicts = [_t(hypothesis_verdict(b, p), lang) for b, p in zip(want_b, want_p)]
        assert column(t["hypotheses"], t["hypotheses"][0][-1]) == verdicts

    defined = [e for e in r["fit"]["estimates"] if e["op"] == ":="]
    if defined:
        check_column(t["effects"], B, [e["est"] for e in defined], "effects")
        check_column(t["effects"], BETA, [e["std_all"] for e in defined], "effects")
        if "boot" in r:
            bt = {e["lhs"]: e for e in r["boot"]["table"] if e["op"] == ":=" and
                  e["what"] == "est"}
            for h, k in (("95% CI lower (percentile)", "ci_lower"),
                         ("95% CI upper (percentile)", "ci_upper"),
                         ("95% CI lower (BCa)", "bca_lower"), ("95% CI upper (BCa)", "bca_upper")):
                check_column(t["effects"], h, [bt[e["lhs"]][k] for e in defined], "bootstrap")


@pytest.mark.parametrize("name, lang", list(cases()))
def test_report_has_labels_and_no_nan_or_raw_codes(runs, name, lang):
    s = STUDIES[name]
    folder = runs[name][lang]
    md = (folder / "report.md").read_text(encoding="utf-8")
    page = (folder / "report.html").read_text(encoding="utf-8")
    for text in (md, re.sub(r"base64,[A-Za-z0-9+/=]+", "", page)):   # not in the PNG data
        assert not re.search(r"\bnan\b", text, re.I), name
    lab = labels_of(s)
    codes = set(lab.get("constructs", {}))
    values = {str(k) for g in lab.get("groups", {}).values() for k in g}
    group_labels = {e[lang] for g in lab.get("groups", {}).values() for e in g.values()}
    tables = md_tables(md)
    from test_tables import check_table     # the rules every table a reader sees keeps

    for key, (head, rows) in tables.items():
        if not key.startswith("method_bias"):   # method_bias's own tables (header "Index")
            check_table(f"{name} {lang} {key}", head, rows)
        for h in head:
            assert h not in codes, (key, h)
        for row in rows:
            for cell in row:
                assert cell not in codes, (key, cell)
        group_head = "组别" if lang == "zh" else "Group"
        if group_head in head and key != "path_differences":
            cells = set(column((head, rows), group_head)) - {"–"}
            assert cells and cells <= group_labels and not cells & values, (key, cells)
    title = lab.get("title", {}).get(lang)
    if title:
        assert md.startswith(f"# {title}\n")
    # the html shows the same tables and embeds every figure
    assert page.count('<table class="tbl"') == len(tables)
    figures = list((folder / "figures").glob("*.png"))
    assert figures and page.count('src="data:image/png;base64,') == len(figures)
    if lang == "zh":
        assert "## 测量模型" in md and "Measurement model" not in md


def test_grouped_studies_compare_their_paths_between_groups(runs):
    """Paths labelled once per group (c(a1, a2)) get a z test of their difference; the z is
    (B1 − B2) / √(SE1² + SE2²) of the per-group estimates of fit --json."""
    r = runs["spss_zh"]
    t = md_tables((r["en"] / "report.md").read_text(encoding="utf-8"))["path_differences"]
    est = [e for e in r["fit"]["estimates"] if e["op"] == "~"]
    g1 = [e for e in est if e["group"] == 1]
    g2 = [e for e in est if e["group"] == 2]
    z = [(a["est"] - b["est"]) / math.sqrt(a["se"] ** 2 + b["se"] ** 2) for a, b in zip(g1, g2)]
    check_column(t, "z", z, "path differences")
    assert column(t, "Group") == ["State-owned − Private"] * len(z)


def test_invariance_table_equals_the_invariance_command(runs, tmp_path):
    """The report's invariance table (the measurement part by ownership) equals semcluster
    invariance --json on the same file and model."""
    s = STUDIES["spss_zh"]
    cfa = tmp_path / "cfa.lav"
    cfa.write_text("\n".join(line for line in (HERE / s["model"]).read_text().splitlines()
                             if "=~" in line) + "\n")
    assert main(["invariance", str(cfa), "--data", str(HERE / s["data"]), "--group", "own",
                 "--json", str(tmp_path / "inv.json")]) == 0
    inv = json.loads((tmp_path / "inv.json").read_text())
    t = md_tables((runs["spss_zh"]["en"] / "report.md").read_text(encoding="utf-8"))
    t = t["invariance"]
    for h, k in (("χ²", "chisq"), ("df", "df"), ("CFI", "cfi"), ("RMSEA", "rmsea")):
        check_column(t, h, [row[k] for row in inv["fit"]], "invariance")
    comp = inv["comparisons"]
    for h, k in (("Δχ²", "chisq_diff"), ("Δdf", "df_diff"), ("p", "pvalue"),
                 ("ΔCFI", "delta_cfi"), ("ΔRMSEA", "delta_rmsea")):
        check_column(t, h, [None] + [c[k] for c in comp], "invariance")
    assert column(t, "ΔCFI/ΔRMSEA")[1:] == [c["fit_index_verdict"] for c in comp]
    assert column(t, "χ² test")[1:] == [c["lrt_verdict"] for c in comp]


def test_a_study_without_paths_has_no_path_sections(runs):
    md = (runs["cfa_only"]["en"] / "report.md").read_text(encoding="utf-8")
    assert "## Structural paths" not in md and "## Hypotheses" not in md
    assert "## Measurement model" in md and "## Model fit" in md


@pytest.mark.parametrize("name, lang", list(cases()))
def test_word_document_holds_the_same_tables_and_the_figures(runs, name, lang):
    """report.docx (python-docx): one Word table per report table, each with the caption's
    number and title, the same header and the same printed cells as report.md (whose numbers
    the test above compares with the commands), and every figure embedded."""
    import docx

    folder = runs[name][lang]
    md_t = md_tables((folder / "report.md").read_text(encoding="utf-8"))
    d = docx.Document(str(folder / "report.docx"))
    assert len(d.tables) == len(md_t)
    for wt, (key, (head, rows)) in zip(d.tables, md_t.items()):
        cells = [[c.text.strip() for c in r.cells] for r in wt.rows]
        assert cells[0] == head, key
        assert cells[1:] == rows, key
    text = "\n".join(p.text for p in d.paragraphs)
    word = "表" if lang == "zh" else "Table"
    for k in range(1, len(md_t) + 1):
        assert f"{word} {k}" in text
    figures = list((folder / "figures").glob("*.png"))
    assert len(d.inline_shapes) == len(figures)
