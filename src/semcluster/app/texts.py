"""The page's words in English and Chinese (the language switch changes every one of them)."""
from __future__ import annotations

TEXTS = {
    "title": ("semcluster — the study workflow", "semcluster — 研究流程"),
    "intro": ("Six steps from a survey file to a report. Everything stays on this computer: "
              "files go to a temporary folder of this session, deleted when the page is closed.",
              "从调查数据到研究报告的六个步骤。所有内容都留在本机：文件保存在本次会话的临时文件夹中，"
              "关闭页面后删除。"),
    "data_head": ("Step 1 — Data", "第 1 步 — 数据"),
    "data_help": ("Upload a CSV, TSV, Excel (XLSX), SPSS (SAV) or Stata (DTA) file of at most "
                  "{limit} MB, or use the bundled study data (synthetic, N = 160).",
                  "上传 CSV、TSV、Excel (XLSX)、SPSS (SAV) 或 Stata (DTA) 文件（不超过 {limit} MB），"
                  "或使用内置的研究数据（合成数据，N = 160）。"),
    "upload": ("Survey file", "调查数据文件"),
    "use_bundled": ("Use the bundled study data", "使用内置研究数据"),
    "missing_codes": ("Missing-value codes (e.g. -99, 99)", "缺失值代码（如 -99, 99）"),
    "scale": ("Answer scale (e.g. 1 7)", "量表范围（如 1 7）"),
    "id_col": ("Respondent-id column", "被试编号列"),
    "data_report": ("Data report", "数据报告"),
    "no_data": ("No data yet: upload a file or use the bundled study data.",
                "尚无数据：请上传文件或使用内置研究数据。"),
    "map_head": ("Step 2 — Items → constructs", "第 2 步 — 题项 → 构念"),
    "map_help": ("Each column of your file, the model item it measures (pre-filled from names "
                 "such as ca1, CA_1, Q_ca1) and whether it is reverse-coded (needs an answer "
                 "scale). Save the mapping as the YAML file the command line reads "
                 "(semcluster fit --map FILE).",
                 "文件中的每一列、它对应的模型题项（根据 ca1、CA_1、Q_ca1 等列名自动填写）以及是否反向计分"
                 "（需要量表范围）。映射可保存为命令行读取的 YAML 文件（semcluster fit --map FILE）。"),
    "col_file": ("column in the file", "文件中的列"),
    "col_item": ("model item", "模型题项"),
    "col_reverse": ("reverse-coded", "反向计分"),
    "col_construct": ("construct", "构念"),
    "save_map": ("Save mapping (YAML)", "保存映射（YAML）"),
    "load_map": ("Load mapping (YAML)", "载入映射（YAML）"),
    "model_head": ("Step 3 — Model", "第 3 步 — 模型"),
    "model_help": ("Choose a bundled model or write your own in lavaan syntax "
                   "(=~ measured by, ~ regressed on, ~~ covaries with). The text is only "
                   "parsed, never run.",
                   "选择内置模型，或用 lavaan 语法编写自己的模型（=~ 测量，~ 回归，~~ 协方差）。"
                   "模型文本只被解析，不会被执行。"),
    "model_name": ("Bundled model", "内置模型"),
    "model_text": ("Model (lavaan syntax)", "模型（lavaan 语法）"),
    "model_ok": ("Model read: {nl} latent variables, {no} observed items, {nf} free parameters.",
                 "模型读取成功：{nl} 个潜变量，{no} 个观测题项，{nf} 个自由参数。"),
    "model_error": ("Line {line}, column {col}: {msg}", "第 {line} 行，第 {col} 列：{msg}"),
    "fit_head": ("Step 4 — Fit", "第 4 步 — 拟合"),
    "estimator": ("Estimator", "估计方法"),
    "missing": ("Missing-data rule", "缺失数据处理"),
    "n_boot": ("Bootstrap draws (0 = none)", "Bootstrap 次数（0 = 不做）"),
    "fit": ("Fit the model", "拟合模型"),
    "cancel": ("Cancel", "取消"),
    "cancel_report": ("Cancel", "取消"),
    "running": ("Working: {message} (step {step} of {of})", "正在进行：{message}（第 {step} / {of} 步）"),
    "starting": ("Starting…", "正在启动…"),
    "cancelled": ("Cancelled.", "已取消。"),
    "fit_done": ("Fitted. See step 5.", "拟合完成，请看第 5 步。"),
    "need_data": ("Load data first (step 1).", "请先载入数据（第 1 步）。"),
    "need_model": ("The model has an error (step 3).", "模型有错误（第 3 步）。"),
    "results_head": ("Step 5 — Results", "第 5 步 — 结果"),
    "no_results": ("No results yet: fit a model in step 4.", "尚无结果：请在第 4 步拟合模型。"),
    "fit_indices": ("Fit indices", "拟合指标"),
    "paths": ("Structural paths (std. = standardized)", "结构路径（std. = 标准化系数）"),
    "hypotheses": ("Hypotheses H1–H5", "假设 H1–H5"),
    "no_hypotheses": ("The model does not label paths h1…h5, so H1–H5 are not judged.",
                      "模型没有标注 h1…h5 路径，因此不检验 H1–H5。"),
    "tested": ("Tested model", "检验模型"),
    "measurement": ("Measurement model", "测量模型"),
    "reliability": ("Reliability and convergent validity", "信度与聚合效度"),
    "discriminant": ("Discriminant validity (Fornell–Larcker: √AVE on the diagonal)",
                     "区分效度（Fornell–Larcker：对角线为 √AVE）"),
    "compare": ("Regression vs SEM", "回归与结构方程模型对比"),
    "bootstrap": ("Bootstrap intervals", "Bootstrap 置信区间"),
    "downloads": ("Downloads", "下载"),
    "dl_estimates": ("Estimates (CSV)", "参数估计（CSV）"),
    "dl_json": ("Result (JSON)", "结果（JSON）"),
    "build_report": ("Build the report (ZIP)", "生成报告（ZIP）"),
    "dl_report": ("Download the report (ZIP)", "下载报告（ZIP）"),
    "report_done": ("The report is ready.", "报告已生成。"),
    "warnings": ("Warnings", "警告"),
    "supported": ("supported", "支持"),
    "not supported": ("not supported", "不支持"),
    "not tested": ("not tested", "未检验"),
    "hypothesis": ("hypothesis", "假设"),
    "path": ("path", "路径"),
    "verdict": ("verdict", "结论"),
    "too_big": ("{name} is {size:.1f} MB; the limit is {limit} MB. Nothing was read.",
                "{name} 大小为 {size:.1f} MB，超过 {limit} MB 的上限，未读取。"),
    "reading": ("Reading {name}…", "正在读取 {name}…"),
    "quota": ("{name}: this session already keeps {kept:.1f} MB of uploads; the limit is "
              "{quota} MB. Nothing was read.",
              "{name}：本次会话已保存 {kept:.1f} MB 上传文件，上限为 {quota} MB，未读取。"),
    "busy_jobs": ("The server is already running {n} fits or reports (its limit); try again "
                  "when one has finished.",
                  "服务器已在运行 {n} 个拟合或报告任务（上限），请在其中一个完成后再试。"),
    "busy_sessions": ("The app is already open in {n} pages (its limit). Close one of them and "
                      "reload this page.",
                      "本应用已在 {n} 个页面中打开（上限）。请关闭其中一个后重新载入本页。"),
    "loaded": ("{name}: {rows} rows, {cols} columns.", "{name}：{rows} 行，{cols} 列。"),
    "sheet": ("Worksheet (Excel)", "工作表（Excel）"),
    "out_of_scale": ("Answers outside the scale", "超出量表范围的回答"),
    "oos_error": ("stop with an error", "报错并停止"),
    "oos_missing": ("set them missing", "设为缺失"),
    "group_col": ("Group column (compare groups)", "分组列（多组比较）"),
    "cluster_col": ("Cluster column (e.g. firms in parks)", "聚类列（如园区中的企业）"),
    "ordered": ("Ordinal items (all, or items separated by commas)",
                "有序题项（all，或用逗号分隔的题项）"),
    "long_string": ("Careless answers: long-string threshold (empty = half the items)",
                    "不认真作答：长串阈值（空 = 题项数的一半）"),
    "drop_careless": ("Drop respondents flagged as careless", "剔除被标记为不认真作答的被试"),
    "dl_careless": ("Careless respondents (CSV)", "不认真作答的被试（CSV）"),
    "options_head": ("How the file is read", "数据读取方式"),
    "file_head": ("What the file holds", "文件内容"),
    "file_columns": ("Columns", "各列"),
    "careless_head": ("Respondents flagged as careless", "被标记为不认真作答的被试"),
    "match_head": ("The model's items in this file", "模型题项与本文件"),
    "no_model": ("No model chosen yet: the file is reported on its own. Choose or write a model "
                 "in step 3 to match its items to these columns.",
                 "尚未选择模型：以上仅报告文件本身。请在第 3 步选择或编写模型，以便将其题项与各列匹配。"),
    "model_none": ("Choose a bundled model or write your own below.",
                   "请选择内置模型，或在下方编写自己的模型。"),
    "model_title": ("Model title (the diagram's caption)", "模型名称（图题）"),
    "problems": ("{n} problem(s) in the data for this model:", "数据中有 {n} 个问题（针对本模型）："),
    "labels_file": ("Labels (YAML: title, constructs, items, groups; en and zh)",
                    "标签（YAML：标题、构念、题项、分组；中英文）"),
    "hypotheses_file": ("Hypotheses (YAML: label or path → expected sign, text)",
                        "假设（YAML：路径标签 → 预期方向、说明）"),
    "file_kept": ("{name} will be used for the diagram and the report.",
                  "{name} 将用于模型图和报告。"),
}

#: The words of the file's own report (step 1) in Chinese: row names and column headers.
FILE_WORDS_ZH = {
    "rows": "行数", "columns": "列数", "numeric answer columns": "数值作答列",
    "answers missing (blank)": "缺失作答（空白）", "missing-value codes found": "缺失值代码",
    "answer scale": "量表范围", "answers outside the scale": "超出量表范围的作答",
    "careless respondents": "不认真作答的被试", "column": "列", "label": "标签",
    "answers": "作答数", "blank": "空白", "missing codes": "缺失值代码", "text": "文本",
    "min": "最小值", "max": "最大值", "suspect values": "可疑数值",
    "outside the scale": "超出量表", "value": "值", "not declared": "未声明",
    "respondent": "被试", "row": "行", "answered": "作答题数", "long_string": "最长相同串",
    "straight_lining": "全部相同", "flagged_by": "标记依据",
}


def file_word(word: str, lang: str) -> str:
    """A word of the file report in the page's language."""
    return FILE_WORDS_ZH.get(word, word) if lang == "zh" else word


#: Every data option of the command line (cli._common.add_data_options, and --group) and the
#: page's control for it: (input or output id, step, (its short name in en, zh)).  Advice in a
#: message names the control, never the flag (see :func:`page_advice`).
CONTROLS = {
    "--data": ("upload", 1, ("Survey file", "调查数据文件")),
    "--map": ("map_table", 2, ("items table", "题项表")),
    "--sheet": ("sheet", 1, ("Worksheet", "工作表")),
    "--id": ("id_col", 1, ("Respondent-id column", "被试编号列")),
    "--missing": ("missing", 1, ("Missing-data rule", "缺失数据处理")),
    "--missing-codes": ("missing_codes", 1, ("Missing-value codes", "缺失值代码")),
    "--scale": ("scale", 1, ("Answer scale", "量表范围")),
    "--out-of-scale": ("out_of_scale", 1, ("Answers outside the scale", "超出量表范围的回答")),
    "--reverse": ("map_table", 2, ("reverse-coded ticks of the items table",
                                   "题项表中的“反向计分”")),
    "--ordered": ("ordered", 1, ("Ordinal items", "有序题项")),
    "--long-string": ("long_string", 1, ("Long-string threshold", "长串阈值")),
    "--drop-careless": ("drop_careless", 1, ("Drop respondents flagged as careless",
                                             "剔除被标记为不认真作答的被试")),
    "--careless-csv": ("dl_careless", 1, ("Careless respondents (CSV)",
                                          "不认真作答的被试（CSV）")),
    "--cluster": ("cluster_col", 1, ("Cluster column", "聚类列")),
    "--group": ("group_col", 1, ("Group column", "分组列")),
}

#: What may follow a flag in a message (its value, or the placeholder the CLI help uses).
_VALUE = {
    "--missing-codes": r"[^\s),;]+", "--scale": r"(?:MIN MAX|-?[\d.]+ -?[\d.]+)",
    "--out-of-scale": r"(?:missing|error)", "--missing": r"(?:auto|listwise|fiml|pairwise)",
    "--long-string": r"(?:N|\d+)", "--careless-csv": r"(?:FILE|[^\s),;]+\.csv)",
    "--map": r"(?:FILE)", "--id": r"(?:COLUMN)", "--cluster": r"(?:COLUMN)",
    "--group": r"(?:COLUMN)", "--ordered": r"(?:all)", "--sheet": r"(?:NAME|N)",
}

_VALUE_WORDS = {"missing": ("set them missing", "设为缺失"),
                "error": ("stop with an error", "报错并停止")}


def page_advice(message: str, lang: str = "en") -> str:
    """A data-path message with every command-line flag replaced by the page's control.

    ``--out-of-scale missing`` becomes ``"Answers outside the scale: set them missing"
    (step 1)``; ``--missing-codes -99`` becomes ``"Missing-value codes …" (step 1) = -99``.
    Python keyword hints (``missing='listwise'``) are dropped.
    """
    import re

    out = re.sub(r"\s*\((?:[a-z_]+=[^()]*)\)", "", str(message))
    step = "第 {} 步" if lang == "zh" else "step {}"
    for flag in sorted(CONTROLS, key=len, reverse=True):
        _id, n, names = CONTROLS[flag]
        pattern = re.escape(flag) + r"(?![\w-])" + (
            rf"(?:[ =]({_VALUE[flag]}))?" if flag in _VALUE else "")

        def repl(m, names=names, n=n, flag=flag):
            name = names[lang == "zh"]
            value = m.group(1) if m.groups() else None
            if value in (None, "MIN MAX", "N", "FILE", "COLUMN", "NAME"):
                return f"“{name}” ({step.format(n)})"
            if flag == "--out-of-scale" and value in _VALUE_WORDS:
                value = _VALUE_WORDS[value][lang == "zh"]
                return f"“{name}: {value}” ({step.format(n)})"
            return f"“{name}” ({step.format(n)}) = {value}"
        out = re.sub(pattern, repl, out)
    return out

STEP_TITLES = ("1 Data · 数据", "2 Items · 题项", "3 Model · 模型", "4 Fit · 拟合",
               "5 Results · 结果")


def text(key: str, lang: str, **values) -> str:
    en, zh = TEXTS[key]
    s = zh if lang == "zh" else en
    return s.format(**values) if values else s
