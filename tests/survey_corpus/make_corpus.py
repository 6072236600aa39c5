"""Write the own-survey corpus: realistic survey files made from the bundled study data.

Run from anywhere: ``python tests/survey_corpus/make_corpus.py``.  Every file is derived from
``src/semcluster/resources/data/paper_synthetic.csv`` (160 respondents, items ca1 ... in4) the way a
researcher's own export would differ from it: renamed columns with a mapping YAML, missing-data
codes, SPSS files with value labels and user-missing values, reverse-coded items, Excel with
Chinese headers and several sheets, European CSV, UTF-16, a UTF-8 BOM, stray delimiters, ``#``
in text cells.  ``cases.yaml`` says, for each file, the data options to pass and what every
command must do: give the same result as the reference file (the clean data, or the clean data
with the same answers missing) or stop with exit code 2 and a one-line message containing
``match``.
"""
from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

HERE = Path(__file__).resolve().parent
FILES = HERE / "files"
SOURCE = HERE.parents[1] / "src" / "semcluster" / "resources" / "data" / "paper_synthetic.csv"

CASES: list[dict] = []
#: a file that declares its answer scale is compared with the reference read with that scale
#: (the measurement tables then show floor and ceiling percentages)
SCALE = ["--scale", "1", "7"]


def case(name, data, *, args=(), expect="same", reference="clean.csv", ref_args=(),
         match=None, note=""):
    c = {"name": name, "data": data, "args": list(args), "expect": expect, "note": note}
    if expect == "same":
        c["reference"] = reference
        c["ref_args"] = list(ref_args)
    else:
        c["match"] = match
    CASES.append(c)


def write(name: str, content) -> None:
    path = FILES / name
    if isinstance(content, str):
        content = content.encode("utf-8")
    path.write_bytes(content)


def to_csv(df: pd.DataFrame, sep=",", decimal=".") -> str:
    buf = io.StringIO()
    df.to_csv(buf, index=False, sep=sep, decimal=decimal, lineterminator="\n")
    return buf.getvalue()


def main() -> None:
    FILES.mkdir(parents=True, exist_ok=True)
    for old in FILES.iterdir():
        old.unlink()
    base = pd.read_csv(SOURCE)
    items = [c for c in base.columns if c not in ("id", "firm_type")]
    rng = np.random.default_rng(20240601)
    clean = base.copy()
    clean["firm_size"] = np.where(np.arange(len(clean)) % 2 == 0, "small", "large")
    clean["comment"] = [f"answer {i}" for i in range(len(clean))]
    write("clean.csv", to_csv(clean))
    case("clean", "clean.csv", note="control: the clean file")

    # -- renamed columns + mapping ------------------------------------------------------------
    q = {v: f"Q{i + 1}" for i, v in enumerate(items)}
    ren = clean.rename(columns=q)
    write("renamed.csv", to_csv(ren))
    write("renamed_map.yaml", "columns:\n" + "".join(f"  {b}: {a}\n" for a, b in q.items()))
    case("renamed_with_map", "renamed.csv", args=["--map", "renamed_map.yaml"])
    case("renamed_without_map", "renamed.csv", expect="error", match="--map",
         note="the model's items are not in the file")

    # -- missing-data codes ---------------------------------------------------------------------
    cells = [(int(rng.integers(len(clean))), items[int(rng.integers(len(items)))])
             for _ in range(15)]
    cells = sorted(set(cells))
    ref = clean.copy().astype({c: float for c in items})
    for r, c in cells:
        ref.loc[r, c] = np.nan
    write("ref_missing.csv", to_csv(ref))
    m99 = clean.copy()
    for r, c in cells:
        m99.loc[r, c] = -99
    write("codes_m99.csv", to_csv(m99))
    case("codes_m99_declared", "codes_m99.csv", args=["--missing-codes", "-99"],
         reference="ref_missing.csv", note="-99 declared: FIML as the blanks of the reference")
    case("codes_m99_listwise", "codes_m99.csv", args=["--missing-codes=-99", "--missing",
                                                      "listwise"],
         reference="ref_missing.csv", ref_args=["--missing", "listwise"])
    case("codes_m99_undeclared", "codes_m99.csv", expect="error",
         match="-99.*--missing-codes -99",
         note="an undeclared -99 is an error naming column, value and flag")
    case("codes_m99_set_missing", "codes_m99.csv", args=["--out-of-scale", "missing"],
         reference="ref_missing.csv")
    mixed = clean.copy().astype(object)
    for k, (r, c) in enumerate(cells):
        mixed.loc[r, c] = 99 if k % 2 else ""
    write("codes_99_blank.csv", to_csv(mixed))
    case("codes_99_and_blank_declared", "codes_99_blank.csv", args=["--missing-codes", "99"],
         reference="ref_missing.csv")
    case("codes_99_undeclared", "codes_99_blank.csv", expect="error",
         match="99.*--missing-codes 99")
    typo = clean.copy()
    typo.loc[7, "pa2"] = 8
    write("typed_8.csv", to_csv(typo))
    case("typed_8_with_scale", "typed_8.csv", args=["--scale", "1", "7"], expect="error",
         match="'pa2' has the value 8.*--out-of-scale missing")
    ref8 = clean.copy().astype({"pa2": float})
    ref8.loc[7, "pa2"] = np.nan
    write("ref_typed_8.csv", to_csv(ref8))
    case("typed_8_set_missing", "typed_8.csv", args=["--scale", "1", "7", "--out-of-scale",
                                                     "missing"], reference="ref_typed_8.csv",
         ref_args=SCALE)

    # -- reverse-coded items --------------------------------------------------------------------
    rev = clean.copy()
    rev["ca3"] = 8 - rev["ca3"]
    rev["ks2"] = 8 - rev["ks2"]
    write("reversed.csv", to_csv(rev))
    case("reverse_coded", "reversed.csv", args=["--reverse", "ca3,ks2", "--scale", "1", "7"],
         ref_args=SCALE)
    write("reversed_map.yaml", "reverse: [ca3, ks2]\nscale: [1, 7]\n")
    case("reverse_coded_in_map", "reversed.csv", args=["--map", "reversed_map.yaml"],
         ref_args=SCALE)
    case("reverse_without_scale", "reversed.csv", args=["--reverse", "ca3"], expect="error",
         match="--scale")

    # -- SPSS ----------------------------------------------------------------------------------
    import pyreadstat

    sav = clean.drop(columns=["comment"]).rename(columns=q)
    for c in q.values():
        sav[c] = sav[c].astype(float)
    sav["Q3"] = 8 - sav["Q3"]                        # ca3 asked the other way round
    labels = {c: {1.0: "strongly disagree", 4.0: "neither", 7.0: "strongly agree",
                  -99.0: "no answer"} for c in q.values()}
    pyreadstat.write_sav(sav, str(FILES / "spss_labels.sav"), variable_value_labels=labels,
                         missing_ranges={c: [-99.0] for c in q.values()})
    write("spss_map.yaml", "columns:\n" + "".join(f"  {b}: {a}\n" for a, b in q.items())
          + "reverse: [ca3]\n")
    case("spss_labels_reverse", "spss_labels.sav", args=["--map", "spss_map.yaml"],
         ref_args=SCALE,
         note="scale 1-7 from the labels (the -99 'no answer' label is user-missing)")
    savm = sav.copy()
    for r, c in cells:
        savm.loc[r, q[c]] = -99.0
    pyreadstat.write_sav(savm, str(FILES / "spss_user_missing.sav"),
                         variable_value_labels=labels,
                         missing_ranges={c: [-99.0] for c in q.values()})
    case("spss_user_missing", "spss_user_missing.sav", args=["--map", "spss_map.yaml"],
         reference="ref_missing.csv", ref_args=SCALE,
         note="user-missing -99 become missing answers")

    # -- Excel ---------------------------------------------------------------------------------
    zh_names = ["集群意识", "宣传活动", "道德责任", "知识共享", "长期导向", "创新"]
    prefixes = ["ca", "pa", "mr", "ks", "lo", "in"]
    zh = {v: f"{zh_names[prefixes.index(v[:2])]}{v[2:]}" for v in items}
    book = clean.rename(columns=zh)
    readme = pd.DataFrame({"说明 Note": ["问卷数据 survey answers", "第二页是数据",
                                         "1 = 非常不同意 ... 7 = 非常同意"]})
    with pd.ExcelWriter(FILES / "chinese_sheets.xlsx", engine="openpyxl") as xw:
        readme.to_excel(xw, sheet_name="README", index=False)
        book.to_excel(xw, sheet_name="数据", index=False)
        pd.DataFrame({"code": [-99], "meaning": ["未回答"]}).to_excel(xw, sheet_name="codes",
                                                                      index=False)
    write("chinese_map.yaml", "columns:\n" + "".join(f"  {b}: {a}\n" for a, b in zh.items()))
    case("excel_chinese_sheet", "chinese_sheets.xlsx",
         args=["--map", "chinese_map.yaml", "--sheet", "数据"])
    write("chinese_map_sheet.yaml", "sheet: 数据\ncolumns:\n"
          + "".join(f"  {b}: {a}\n" for a, b in zh.items()))
    case("excel_chinese_sheet_in_map", "chinese_sheets.xlsx", args=["--map",
                                                                     "chinese_map_sheet.yaml"])
    case("excel_readme_first", "chinese_sheets.xlsx", args=["--map", "chinese_map.yaml"],
         expect="error", match="--sheet",
         note="first sheet is a README: the message lists the sheets and names --sheet")
    with pd.ExcelWriter(FILES / "plain.xlsx", engine="openpyxl") as xw:
        clean.to_excel(xw, sheet_name="data", index=False)
    case("excel_plain", "plain.xlsx")

    # -- text encodings and delimiters ------------------------------------------------------------
    eu = clean.copy()
    eu["weight"] = np.round(0.5 + rng.random(len(eu)), 2)
    write("european.csv", to_csv(eu, sep=";", decimal=","))
    case("european_semicolon_decimal_comma", "european.csv")
    eu2 = clean.copy().astype({c: float for c in items})
    eu2["ca1"] = eu2["ca1"] + 0.5                      # half points, written 5,5
    write("european_items.csv", to_csv(eu2, sep=";", decimal=","))
    write("ref_european_items.csv", to_csv(eu2))
    case("european_decimal_items", "european_items.csv", reference="ref_european_items.csv")
    write("utf16_tab.txt", to_csv(clean, sep="\t").encode("utf-16"))
    case("utf16_unicode_text", "utf16_tab.txt", note="Excel's 'Unicode text' export")
    write("utf16_comma.csv", to_csv(clean).encode("utf-16"))
    case("utf16_csv", "utf16_comma.csv")
    write("utf8_bom.csv", b"\xef\xbb\xbf" + to_csv(clean).encode("utf-8"))
    case("utf8_bom", "utf8_bom.csv")
    gb = clean.rename(columns=zh).copy()
    gb["comment"] = ["很好" if i % 3 else "一般" for i in range(len(gb))]
    write("gb18030.csv", to_csv(gb).encode("gb18030"))
    case("gb18030_chinese_header", "gb18030.csv", args=["--map", "chinese_map.yaml"])
    write("tabs.tsv", to_csv(clean, sep="\t"))
    case("tab_separated", "tabs.tsv")

    # -- stray delimiters and '#' ------------------------------------------------------------------
    lines = to_csv(clean).splitlines()
    cols = lines[0].split(",")
    j = cols.index("ca2")

    def with_row1(new_row: str) -> str:
        return "\n".join([lines[0], new_row] + lines[2:]) + "\n"

    f = lines[1].split(",")
    f[j] = f[j] + ",5"                                  # 6 -> "6,5": unquoted decimal comma
    write("stray_decimal_comma.csv", with_row1(",".join(f)))
    case("stray_decimal_comma_first_row", "stray_decimal_comma.csv", expect="error",
         match="line 2 has 28 fields but the header has 27")
    f = lines[1].split(",")
    f[-1] = "good platform, helpful staff"             # comma in free text, unquoted
    write("stray_text_comma.csv", with_row1(",".join(f)))
    case("stray_comma_in_text_first_row", "stray_text_comma.csv", expect="error",
         match="line 2 has 28 fields")
    write("stray_extra_field.csv", with_row1(lines[1] + ",7"))
    case("first_row_extra_field", "stray_extra_field.csv", expect="error",
         match="line 2 has 28 fields")
    write("trailing_comma_row1.csv", with_row1(lines[1] + ","))
    case("trailing_comma_first_row", "trailing_comma_row1.csv",
         note="an empty extra field is ignored (and said so)")
    write("trailing_comma_all.csv", "\n".join(ln + "," for ln in lines) + "\n")
    case("trailing_comma_every_line", "trailing_comma_all.csv")
    short = lines[5].rsplit(",", 1)[0]
    write("short_row.csv", "\n".join(lines[:5] + [short] + lines[6:]) + "\n")
    case("row_with_a_missing_field", "short_row.csv", expect="error",
         match="line 6 has 26 fields")
    hashy = clean.copy()
    hashy["comment"] = [f"unit#{i % 7}" for i in range(len(hashy))]
    write("hash_in_text.csv", to_csv(hashy))
    case("hash_in_text_cell", "hash_in_text.csv",
         note="'unit#4' is text, not the start of a comment")
    quoted = clean.copy()
    quoted["comment"] = [f"good, very good # {i}" for i in range(len(quoted))]
    buf = io.StringIO()
    quoted.to_csv(buf, index=False, quoting=csv.QUOTE_NONNUMERIC, lineterminator="\r\n")
    write("quoted_text_crlf.csv", buf.getvalue())
    case("quoted_text_crlf", "quoted_text_crlf.csv")
    write("commented_header.csv", "# exported 2024-05-01 from the survey tool\n"
          "# 1 = strongly disagree ... 7 = strongly agree\n" + to_csv(clean))
    case("comment_lines_before_header", "commented_header.csv")

    # -- header problems --------------------------------------------------------------------------
    dotted = clean.copy()
    dotted.insert(3, "ca1.1", dotted["ca1"].map(lambda v: 8 - v))
    write("dotted_name.csv", to_csv(dotted))
    case("column_named_like_pandas_duplicate", "dotted_name.csv",
         note="'ca1' and 'ca1.1' are two real columns, not a duplicate")
    dup = lines[0].replace("ca4", "ca3")
    write("duplicate_header.csv", "\n".join([dup] + lines[1:]) + "\n")
    case("real_duplicate_header", "duplicate_header.csv", expect="error",
         match="ca3 appear more than once")

    # -- units and ids ------------------------------------------------------------------------------
    units = clean.copy()
    units["ks2"] = units["ks2"] * 10000
    write("units_1e4.csv", to_csv(units))
    case("item_in_other_units", "units_1e4.csv", expect="error", match="'ks2'.*rescale")
    case("id_column", "clean.csv", args=["--id", "id"])

    (HERE / "cases.yaml").write_text(
        "# The own-survey corpus (written by make_corpus.py): files/<data> read with <args>\n"
        "# must give the reference's result (expect: same) or exit 2 (expect: error).\n"
        + yaml.safe_dump(CASES, allow_unicode=True, sort_keys=False), encoding="utf-8")
    print(f"wrote {len(list(FILES.iterdir()))} files and {len(CASES)} cases to {HERE}")


if __name__ == "__main__":
    main()
