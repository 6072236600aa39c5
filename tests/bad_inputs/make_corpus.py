"""Write the bad-input corpus: malformed data files, mappings and model files, and cases.yaml.

Run from the repository root:  python tests/bad_inputs/make_corpus.py
The files are committed; this script documents how each was made and can rebuild them.
Every case names the model, the data (and mapping), and what semcluster must do: stop with a
given SemclusterError subclass whose message contains a given fragment, or fit and return a
result (possibly with a given warning).
"""
from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

HERE = Path(__file__).parent
DATA = HERE / "data"
MODELS = HERE / "models"
ITEMS = ["q1", "q2", "q3", "q4", "q5", "q6"]
GOOD_MODEL = "F1 =~ q1 + q2 + q3\nF2 =~ q4 + q5 + q6\n"


def likert_sample(n: int = 120, seed: int = 7) -> pd.DataFrame:
    """Two correlated factors, three 7-point items each (cut normal scores)."""
    rng = np.random.default_rng(seed)
    f = rng.multivariate_normal([0, 0], [[1, 0.4], [0.4, 1]], size=n)
    lam = np.array([0.8, 0.7, 0.6])
    cols = {}
    for j, v in enumerate(ITEMS):
        y = lam[j % 3] * f[:, j // 3] + rng.standard_normal(n) * 0.6
        cols[v] = np.clip(np.round(4 + 1.3 * y), 1, 7).astype(int)
    df = pd.DataFrame(cols)
    df.insert(0, "id", np.arange(1, n + 1))
    return df


CASES: list[dict] = []


def case(name, *, data=None, model="models/good.lav", mapping=None, expect, error=None,
         match=None, warning=None, missing="listwise", note=""):
    c = {"name": name, "model": model, "data": data, "expect": expect, "note": note}
    if mapping:
        c["mapping"] = mapping
    if error:
        c["error"] = error
    if match:
        c["match"] = match
    if warning:
        c["warning"] = warning
    if missing != "listwise":
        c["missing"] = missing
    CASES.append(c)


def write(path: Path, content) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_bytes(content.encode("utf-8"))


def csv_text(df: pd.DataFrame, **kw) -> str:
    buf = io.StringIO()
    df.to_csv(buf, index=False, lineterminator="\n", **kw)
    return buf.getvalue()


def main() -> None:
    good = likert_sample()
    write(MODELS / "good.lav", "# two factors, three 7-point items each\n" + GOOD_MODEL)
    write(DATA / "good.csv", csv_text(good))
    case("good_csv", data="data/good.csv", expect="result", note="control: a clean file fits")

    # ---------------------------------------------------------------- data files (CSV/text)
    write(DATA / "empty.csv", b"")
    case("empty_file", data="data/empty.csv", expect="error", error="DataError", match="empty")

    write(DATA / "header_only.csv", "id,q1,q2,q3,q4,q5,q6\n")
    case("header_only", data="data/header_only.csv", expect="error", error="DataError",
         match="no rows")

    write(DATA / "missing_column.csv", csv_text(good.drop(columns="q6")))
    case("missing_model_column", data="data/missing_column.csv", expect="error",
         error="DataError", match="q6")

    d = good.astype(object).copy()
    d.loc[17, "q2"] = "agree"
    write(DATA / "non_numeric.csv", csv_text(d))
    case("non_numeric_answer", data="data/non_numeric.csv", expect="error", error="DataError",
         match="'agree'")

    d = good.astype(object).copy()
    d.loc[4, "q3"] = "4,5"
    write(DATA / "decimal_comma.csv", csv_text(d, sep=";"))
    case("decimal_comma", data="data/decimal_comma.csv", expect="result",
         note="semicolon-delimited with a decimal comma (European CSV): read as 4.5")

    d = good.copy()
    d.loc[9, "q4"] = 8
    write(DATA / "out_of_scale.csv", csv_text(d))
    write(DATA / "scale_1_7.yaml", "scale: [1, 7]\n")
    case("typed_8_on_7_point_scale", data="data/out_of_scale.csv", mapping="data/scale_1_7.yaml",
         expect="error", error="DataError", match="outside the scale")
    write(DATA / "scale_1_7_set_missing.yaml", "scale: [1, 7]\nmissing_codes: [8]\n")
    case("typed_8_declared_missing_code", data="data/out_of_scale.csv",
         mapping="data/scale_1_7_set_missing.yaml", expect="result",
         note="8 declared a missing code: row dropped listwise and counted")

    d = good.copy()
    d["q3"] = 4
    write(DATA / "constant_item.csv", csv_text(d))
    case("constant_item", data="data/constant_item.csv", expect="error", error="DataError",
         match="same value in every")

    d = good.copy()
    d.loc[30, "id"] = d.loc[29, "id"]
    write(DATA / "duplicate_ids.csv", csv_text(d))
    write(DATA / "id_column.yaml", "id: id\n")
    case("duplicate_ids", data="data/duplicate_ids.csv", mapping="data/id_column.yaml",
         expect="result", warning="occur more than once")

    wide = pd.concat([good, likert_sample(seed=8)[ITEMS].rename(
        columns={v: f"r{v[1:]}" for v in ITEMS})], axis=1)
    d = pd.concat([wide, wide.iloc[[5, 6, 7]]], ignore_index=True)
    write(DATA / "duplicate_rows.csv", csv_text(d))
    write(MODELS / "wide.lav", "F1 =~ q1 + q2 + q3\nF2 =~ q4 + q5 + q6\n"
                               "F3 =~ r1 + r2 + r3\nF4 =~ r4 + r5 + r6\n")
    case("duplicate_rows", data="data/duplicate_rows.csv", model="models/wide.lav",
         expect="result", warning="repeat an earlier row")

    text = csv_text(good).replace("id,q1,q2", "id,q1,q1", 1)
    write(DATA / "duplicate_header.csv", text)
    case("duplicate_header", data="data/duplicate_header.csv", expect="error",
         error="DataError", match="more than once")

    lines = csv_text(good).splitlines()
    lines[12] = lines[12] + ",3,5"
    write(DATA / "ragged_rows.csv", "\n".join(lines) + "\n")
    case("ragged_row", data="data/ragged_rows.csv", expect="error", error="DataError",
         match="cannot be read")

    write(DATA / "too_few_rows.csv", csv_text(good.head(4)))
    case("fewer_rows_than_items", data="data/too_few_rows.csv", expect="error",
         error="DataError", match="usable rows")

    d = good.copy().astype(float)
    d["q4"] = np.nan
    write(DATA / "empty_item.csv", csv_text(d))
    case("item_never_answered", data="data/empty_item.csv", expect="error", error="DataError",
         match="usable row")
    case("item_never_answered_fiml", data="data/empty_item.csv", missing="fiml", expect="error",
         error="DataError", match="no answer in any row")

    d = good.copy()
    d["q5"] = d["q4"]
    write(DATA / "identical_items.csv", csv_text(d))
    case("identical_items", data="data/identical_items.csv", expect="error", error="DataError",
         match="perfectly correlated")

    d = good.astype(object).copy()
    d.loc[3, "q1"] = "inf"
    write(DATA / "infinite.csv", csv_text(d))
    case("infinite_value", data="data/infinite.csv", expect="error", error="DataError",
         match="infinite")

    rng = np.random.default_rng(1)
    write(DATA / "binary_garbage.csv", bytes(rng.integers(0, 256, 3000, dtype=np.uint8)))
    case("binary_garbage", data="data/binary_garbage.csv", expect="error", error="DataError",
         match="binary")

    write(DATA / "utf16.csv", csv_text(good).encode("utf-16"))
    case("utf16_text", data="data/utf16.csv", expect="result",
         note="UTF-16 text (Excel's 'Unicode text') is read")

    d = good.copy()
    header = csv_text(d).splitlines()
    header[0] = "id,q1,q2,q3,q4,q5,"
    write(DATA / "unnamed_column.csv", "\n".join(header) + "\n")
    case("unnamed_column", data="data/unnamed_column.csv", expect="error", error="DataError",
         match="no name")

    write(DATA / "with_bom_and_tabs.csv", b"\xef\xbb\xbf" + csv_text(good, sep="\t").encode())
    case("bom_and_tabs", data="data/with_bom_and_tabs.csv", expect="result",
         note="UTF-8 BOM and tab delimiter are read correctly")

    d = good.copy().astype(object)
    d["q2"] = np.where(d["q2"].astype(int) > 3, "true", "false")
    write(DATA / "boolean_item.csv", csv_text(d))
    case("boolean_item", data="data/boolean_item.csv", expect="error", error="DataError")

    d = good.copy().astype(float)
    d.loc[0, "q1"] = 1e308
    write(DATA / "overflow.csv", csv_text(d))
    case("overflowing_value", data="data/overflow.csv", expect="error", error="DataError")

    d = good.copy().astype(float)
    rng = np.random.default_rng(5)
    mask = rng.random(d[ITEMS].shape) < 0.45
    arr = d[ITEMS].to_numpy().copy()
    arr[mask] = np.nan
    d[ITEMS] = arr
    write(DATA / "mostly_missing.csv", csv_text(d))
    case("listwise_leaves_too_few", data="data/mostly_missing.csv", expect="error",
         error="DataError", match="usable row")
    case("fiml_with_many_missing", data="data/mostly_missing.csv", missing="fiml",
         expect="result", note="the same file fits by FIML")

    write(DATA / "data.json", '{"q1": [1, 2, 3]}')
    case("unsupported_extension", data="data/data.json", expect="error", error="DataError",
         match="unsupported file type")

    write(DATA / "old_excel.xls", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 500)
    case("old_xls", data="data/old_excel.xls", expect="error", error="DataError", match=".xls")

    # ---------------------------------------------------------------- Excel
    buf = io.BytesIO()
    good.to_excel(buf, index=False, sheet_name="answers")
    xlsx = buf.getvalue()
    write(DATA / "good.xlsx", xlsx)
    case("good_xlsx", data="data/good.xlsx", expect="result")
    write(DATA / "truncated.xlsx", xlsx[: len(xlsx) // 2])
    case("truncated_xlsx", data="data/truncated.xlsx", expect="error", error="DataError",
         match="Excel")
    write(DATA / "csv_named_xlsx.xlsx", csv_text(good))
    case("csv_named_xlsx", data="data/csv_named_xlsx.xlsx", expect="error", error="DataError",
         match="Excel")
    write(DATA / "sheet_missing.yaml", "sheet: Sheet9\n")
    case("missing_worksheet", data="data/good.xlsx", mapping="data/sheet_missing.yaml",
         expect="error", error="DataError", match="Sheet9")
    zbuf = io.BytesIO()
    with zipfile.ZipFile(zbuf, "w") as z:
        z.writestr("hello.txt", "not a workbook")
    write(DATA / "zip_not_workbook.xlsx", zbuf.getvalue())
    case("zip_not_workbook", data="data/zip_not_workbook.xlsx", expect="error",
         error="DataError", match="Excel")

    # ---------------------------------------------------------------- SPSS
    import pyreadstat

    sav = good.rename(columns={v: v.upper() for v in ITEMS}).astype(float)
    sav.loc[[3, 11], "Q2"] = 9          # declared missing
    sav.loc[20, "Q5"] = 8               # declared missing
    labels = {v.upper(): {1.0: "strongly disagree", 4.0: "neutral", 7.0: "strongly agree",
                          8.0: "don't know", 9.0: "no answer"} for v in ITEMS}
    pyreadstat.write_sav(sav, str(DATA / "survey_labels.sav"), variable_value_labels=labels,
                         missing_ranges={v.upper(): [8, 9] for v in ITEMS})
    write(DATA / "survey_map.yaml",
          "# the survey's names -> the model's\ncolumns:\n" +
          "".join(f"  {v.upper()}: {v}\n" for v in ITEMS) + "scale: [1, 7]\n")
    case("spss_labels_declared_missing", data="data/survey_labels.sav",
         mapping="data/survey_map.yaml", missing="fiml", expect="result",
         note="8/9 declared missing in the .sav become missing answers (3) and are counted")
    raw = (DATA / "survey_labels.sav").read_bytes()
    write(DATA / "truncated.sav", raw[: len(raw) // 3])
    case("truncated_sav", data="data/truncated.sav", mapping="data/survey_map.yaml",
         expect="error", error="DataError", match="SAV")
    write(DATA / "text_named_sav.sav", "this is not an SPSS file\n")
    case("text_named_sav", data="data/text_named_sav.sav", expect="error", error="DataError",
         match="SAV")
    # kept as found by the fuzz campaign (not rebuilt here): a damaged .sav on which the
    # ReadStat C library crashes the interpreter with a segmentation fault
    assert (DATA / "readstat_segfault.sav").is_file()
    case("sav_that_crashes_readstat", data="data/readstat_segfault.sav",
         mapping="data/survey_map.yaml", expect="error", error="DataError", match="crashed")
    sv = good.copy().astype(object)
    sv["q3"] = np.where(sv["q3"].astype(int) > 4, "high", "low")
    pyreadstat.write_sav(sv, str(DATA / "string_item.sav"))
    case("spss_string_item", data="data/string_item.sav", expect="error", error="DataError",
         match="non-numeric")

    # ---------------------------------------------------------------- mappings
    write(DATA / "map_bad_yaml.yaml", "columns:\n  Q1: q1\n   Q2: [q2\n")
    case("mapping_not_yaml", data="data/survey_labels.sav", mapping="data/map_bad_yaml.yaml",
         expect="error", error="DataError", match="not valid YAML")
    write(DATA / "map_unknown_key.yaml", "colums:\n  Q1: q1\nscale: [1, 7]\n")
    case("mapping_unknown_key", data="data/survey_labels.sav",
         mapping="data/map_unknown_key.yaml", expect="error", error="DataError",
         match="unknown key")
    write(DATA / "map_duplicate_target.yaml", "Q1: q1\nQ2: q1\n")
    case("mapping_two_columns_one_item", data="data/survey_labels.sav",
         mapping="data/map_duplicate_target.yaml", expect="error", error="DataError",
         match="same model name")
    write(DATA / "map_absent_source.yaml", "columns:\n  Q1: q1\n  Q7: q6\n")
    case("mapping_names_absent_column", data="data/survey_labels.sav",
         mapping="data/map_absent_source.yaml", expect="error", error="DataError",
         match="Q7")
    write(DATA / "map_reverse_no_scale.yaml", "reverse: [q3]\n")
    case("reverse_without_scale", data="data/good.csv", mapping="data/map_reverse_no_scale.yaml",
         expect="error", error="DataError", match="scale")
    write(DATA / "map_reverse_unknown.yaml", "reverse: [q9]\nscale: [1, 7]\n")
    case("reverse_unknown_item", data="data/good.csv", mapping="data/map_reverse_unknown.yaml",
         expect="error", error="DataError", match="q9")
    write(DATA / "map_bad_scale.yaml", "scale: [7, 1]\n")
    case("scale_reversed", data="data/good.csv", mapping="data/map_bad_scale.yaml",
         expect="error", error="DataError", match="min < max")
    write(DATA / "map_list.yaml", "- q1\n- q2\n")
    case("mapping_is_a_list", data="data/good.csv", mapping="data/map_list.yaml",
         expect="error", error="DataError", match="dictionary")
    write(DATA / "map_reverse_ok.yaml", "reverse: [q3]\nscale: [1, 7]\n")
    case("reverse_coded_item", data="data/good.csv", mapping="data/map_reverse_ok.yaml",
         expect="result", note="q3 recoded 8 - x: its loading turns negative, no error")

    # ---------------------------------------------------------------- model files
    def model_case(name, text, *, error="ModelSyntaxError", match=None, expect="error",
                   encoding=None):
        path = MODELS / f"{name}.lav"
        write(path, text if encoding is None else text.encode(encoding))
        case(f"model_{name}", data="data/good.csv", model=f"models/{name}.lav", expect=expect,
             error=error if expect == "error" else None, match=match)

    model_case("empty", "", match="empty")
    model_case("only_comments", "# nothing here\n! nor here\n", match="empty")
    model_case("no_operator", "F1 q1 q2 q3\n")
    model_case("unknown_variable", "F1 =~ q1 + q2 + q9\n", error="DataError", match="q9")
    model_case("unbalanced_parenthesis", "F1 =~ q1 + start(0.5*q2 + q3\n")
    model_case("no_scale", "F1 =~ NA*q1 + q2 + q3\nF1 ~~ F1\n", error="ModelSpecError",
               match="scale")
    model_case("indicator_of_itself", "F1 =~ F1 + q2 + q3\n")
    model_case("formative", "F1 <~ q1 + q2 + q3\n", match="formative")
    model_case("nul_byte", "F1 =~ q1 + q2\x00 + q3\n", match="NUL")
    model_case("latin1", "# Fragebogen für Männer\nF1 =~ q1 + q2 + q3\n", encoding="latin-1",
               match="UTF-8")
    model_case("duplicate_parameter", "F1 =~ q1 + q2 + q3\nF1 =~ q2\n", match="twice")
    model_case("defined_unknown_label", "F1 =~ q1 + a*q2 + q3\nab := a*b\n", match="'b'")
    model_case("too_many_parameters",
               "F1 =~ q1 + q2 + q3\nq1 ~~ q2\nq1 ~~ q3\nq2 ~~ q3\n", error="ModelSpecError")
    model_case("thresholds_written", "F1 =~ q1 + q2 + q3\nq1 | t1 + t2\n", match="thresholds")
    model_case("fullwidth_operator", "F1 ＝~ q1 + q2 + q3\n")
    model_case("label_is_variable", "F1 =~ q1 + q2*q2 + q3\n", match="label")
    model_case("dangling_plus", "F1 =~ q1 + q2 +\n")
    model_case("single_indicator_free", "F1 =~ q1\n", error="ModelSpecError")

    (HERE / "cases.yaml").write_text(
        "# The bad-input corpus: what semcluster must do with each file (made by make_corpus.py).\n"
        "# expect: error -> a SemclusterError subclass `error` whose message contains `match`;\n"
        "# expect: result -> a fitted result (with `warning` among its warnings if given).\n"
        + yaml.safe_dump(CASES, sort_keys=False, allow_unicode=True), encoding="utf-8")
    print(f"{len(CASES)} cases, "
          f"{sum(1 for p in HERE.rglob('*') if p.is_file() and p.suffix not in ('.py',))} files")


if __name__ == "__main__":
    main()
