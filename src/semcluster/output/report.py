"""The main job: one folder that reproduces and extends the study.

``build_report`` runs every analysis once, in the order a paper reports an SEM, and writes a
self-contained folder: ``report.html`` (figures embedded, opens offline), ``report.md``, every
table as CSV (``tables/``), every figure as PNG and SVG (``figures/``) and ``results.json``.
With a user's data file, the sections that need the paper's published tables are left out and
say so.  Files are written through :mod:`semcluster.output.files`: the whole report is built
in a hidden sibling folder and swapped in at the end (a failure or a kill leaves the earlier
report whole, or the new one), the folder's manifest naming what semcluster wrote, nothing
else in the folder touched.
"""
from __future__ import annotations

import base64
import html
import io
import json
import platform
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..result import tables
from ..result.document import Column, Document, Figure, Paragraph, Table
from ..result.document import Section
from ..errors import OptionError
from .files import OutputFiles, OutputFolder


def _md_table(df: pd.DataFrame) -> str:
    return tables.to_markdown(df)


def _html_table(df: pd.DataFrame) -> str:
    return tables.to_html(df)


FIT_LABELS = {
    "chisq": "χ² (model test)", "df": "degrees of freedom", "pvalue": "p-value (χ²)",
    "cfi": "CFI", "tli": "TLI", "rmsea": "RMSEA", "rmsea_ci_lower": "RMSEA 90 % CI lower",
    "rmsea_ci_upper": "RMSEA 90 % CI upper", "srmr": "SRMR", "aic": "AIC", "bic": "BIC",
}


def fit_table(fm: pd.Series, keys) -> pd.DataFrame:
    """Fit measures as a labelled long table: lavaan's name, what it is, its value."""
    return pd.DataFrame({"measure": list(keys),
                         "description": [FIT_LABELS.get(k, k) for k in keys],
                         "estimate": pd.Series([int(fm[k]) if tables.is_count_name(k) and
                                                float(fm[k]).is_integer() else float(fm[k])
                                                for k in keys], dtype=object)})


#: The fit measures of the CFA and the structural model in the report and results.json.
FIT_KEYS = ["chisq", "df", "pvalue", "cfi", "tli", "rmsea", "rmsea_ci_lower", "rmsea_ci_upper",
            "srmr", "aic", "bic"]


def _output_folder(data, out: Path, extra_inputs) -> OutputFolder:
    """The report folder, checked: nothing the user gave (data file, mapping file) is in it."""
    src = data if isinstance(data, (str, Path)) else (
        data.attrs.get("semcluster", {}).get("source") if isinstance(data, pd.DataFrame) else None)
    return OutputFiles(inputs=[src, *extra_inputs]).folder(out)


def hypothesis_verdict(std_beta, pvalue, sign: str = "+", alpha: float = .05) -> str:
    """The verdict on one directional hypothesis about a path.

    ``"supported"`` when the standardized coefficient has the sign the hypothesis states
    (``"+"`` or ``"-"``) **and** its two-sided p is below ``alpha`` (.05: the paper's Table 4
    criterion and the conventional significance test of a path, e.g. Kline 2016, ch. 8);
    ``"not supported"`` otherwise (a significant path of the wrong sign included); ``"not
    tested"`` when the coefficient or its p is missing (no standard error).
    """
    if std_beta is None or pvalue is None or pd.isna(std_beta) or pd.isna(pvalue):
        return "not tested"
    right_sign = std_beta < 0 if sign == "-" else std_beta > 0
    return "supported" if (right_sign and pvalue < alpha) else "not supported"


# ================================================================================================
# The report for any model and survey
# ================================================================================================
#: Conventional cut-offs of the global fit measures and where they come from.  A verdict is
#: printed beside each ("meets" / "does not meet"), by :func:`fit_cutoff_verdict`.
FIT_CUTOFFS = {
    "cfi": (">=", 0.95, "Hu & Bentler (1999): CFI ≥ .95"),
    "tli": (">=", 0.95, "Hu & Bentler (1999): TLI ≥ .95"),
    "rmsea": ("<=", 0.06, "Hu & Bentler (1999): RMSEA ≤ .06"),
    "srmr": ("<=", 0.08, "Hu & Bentler (1999): SRMR ≤ .08"),
}

#: The fit measures of the user's model in the report, in order.
REPORT_FIT_KEYS = ["chisq", "df", "pvalue", "cfi", "tli", "rmsea", "rmsea_ci_lower",
                   "rmsea_ci_upper", "srmr", "aic", "bic"]

_T = {  # the report's words in English and Chinese
    "data": ("Data", "数据"), "method_bias": ("Common-method bias", "共同方法偏差"),
    "measurement": ("Measurement model", "测量模型"), "fit": ("Model fit", "模型拟合"),
    "paths": ("Structural paths", "结构路径"), "r2": ("Explained variance (R²)", "解释方差（R²）"),
    "hypotheses": ("Hypotheses", "假设检验"), "effects": ("Defined effects (:=)", "定义效应（:=）"),
    "groups": ("Groups", "多组比较"), "diagrams": ("Diagrams", "路径图"),
    "warnings": ("Warnings", "警告"), "software": ("Software and settings", "软件与设置"),
    "construct": ("Construct", "构念"), "item": ("Item", "题项"), "group": ("Group", "组别"),
    "outcome": ("Outcome", "结果变量"), "predictor": ("Predictor", "预测变量"),
    "label": ("Label", "标签"), "verdict": ("Verdict", "结论"), "measure": ("Measure", "指标"),
    "value": ("Value", "数值"), "count": ("Count", "数量"), "observed": ("Observed", "观测值"),
    "model": ("Model", "模型"), "cutoff": ("Cut-off", "标准"), "source": ("Source", "来源"),
    "hypothesis": ("Hypothesis", "假设"), "path": ("Path", "路径"), "sign": ("Sign", "方向"),
    "text": ("Statement", "内容"), "effect": ("Effect", "效应"), "expression": ("Definition", "定义"),
    "what": ("What", "项目"), "supported": ("supported", "支持"),
    "not supported": ("not supported", "不支持"), "not tested": ("not tested", "未检验"),
    "meets": ("meets", "达到"), "does not meet": ("does not meet", "未达到"),
    "passes": ("passes", "通过"), "fails": ("fails", "未通过"),
}


def _t(key: str, lang: str) -> str:
    en, zh = _T.get(key, (key, key))
    return zh if lang == "zh" else en


def fit_cutoff_verdict(measure: str, value) -> str | None:
    """``"meets"`` / ``"does not meet"`` for a fit measure with a conventional cut-off
    (:data:`FIT_CUTOFFS`; the cut-off itself meets it), None for other measures or no value."""
    if measure not in FIT_CUTOFFS or value is None or pd.isna(value):
        return None
    op, limit, _ = FIT_CUTOFFS[measure]
    ok = value >= limit if op == ">=" else value <= limit
    return "meets" if ok else "does not meet"


@dataclass
class Hypothesis:
    """One directional hypothesis: a path (``lhs ~ rhs``) or a labelled/defined parameter."""
    id: str
    lhs: str
    op: str
    rhs: str
    label: str = ""
    sign: str = "+"
    text: str = ""

    @property
    def path(self) -> str:
        return f"{self.rhs} → {self.lhs}" if self.op == "~" else \
            (self.label or self.lhs)


def read_hypotheses(source, spec) -> list[Hypothesis]:
    """Hypotheses from a YAML file or dict ``{hypotheses: {H1: {path: "X -> Y" | label: a,
    sign: "+" | "-", text: ...}}}``; with ``source`` None, one per labelled structural path of
    the model (id = label, sign ``+``).  A path or label that is not in the model is an error
    naming it."""
    from ..errors import ModelSpecError as ModelError

    pt = spec.partable
    if source is None:
        rows = pt[(pt.op == "~") & (pt.label.astype(str) != "")]
        seen, out = set(), []
        for r in rows.itertuples():
            if r.label not in seen:
                seen.add(r.label)
                out.append(Hypothesis(str(r.label), r.lhs, "~", r.rhs, label=str(r.label)))
        return out
    where = str(source)
    if isinstance(source, (str, Path)):
        import yaml

        try:
            obj = yaml.safe_load(Path(source).read_text(encoding="utf-8"))
        except OSError as exc:
            raise OptionError(f"{where}: cannot read the hypotheses file ({exc.strerror})") \
                from None
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            at = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
            raise OptionError(f"{where}: not valid YAML{at}") from None
    else:
        obj, where = source, "hypotheses"
    hyps = obj.get("hypotheses") if isinstance(obj, dict) else None
    if not isinstance(hyps, dict) or not hyps:
        raise OptionError(f"{where}: expected 'hypotheses:' with one entry per hypothesis, e.g. "
                          f"H1: {{path: X -> Y, sign: '+'}}")
    labels = set(pt.label.astype(str)) - {""}
    defined = set(pt.loc[pt.op == ":=", "lhs"])
    out = []
    for hid, h in hyps.items():
        if not isinstance(h, dict):
            raise OptionError(f"{where}: {hid} needs 'path' or 'label' (and 'sign', 'text')")
        sign = str(h.get("sign", "+")).strip()
        if sign not in ("+", "-"):
            raise OptionError(f"{where}: {hid}: sign must be '+' or '-', not {sign!r}")
        text = str(h.get("text", "") or "")
        if "label" in h:
            lab = str(h["label"])
            if lab in defined:
                out.append(Hypothesis(str(hid), lab, ":=", "", label=lab, sign=sign, text=text))
                continue
            if lab not in labels:
                raise ModelError(f"{where}: {hid}: no parameter labelled '{lab}' in the model "
                                 f"(labels: {', '.join(sorted(labels | defined)) or 'none'})")
            r = pt[pt.label.astype(str) == lab].iloc[0]
            out.append(Hypothesis(str(hid), r.lhs, r.op, r.rhs, label=lab, sign=sign,
                                  text=text))
        elif "path" in h:
            p = str(h["path"])
            if "->" in p:
                rhs, lhs = (s.strip() for s in p.split("->", 1))
            elif "~" in p:
                lhs, rhs = (s.strip() for s in p.split("~", 1))
            else:
                raise OptionError(f"{where}: {hid}: path {p!r} should read 'X -> Y' or 'Y ~ X'")
            hit = pt[(pt.op == "~") & (pt.lhs == lhs) & (pt.rhs == rhs)]
            if hit.empty:
                raise ModelError(f"{where}: {hid}: the model has no path {rhs} -> {lhs}")
            out.append(Hypothesis(str(hid), lhs, "~", rhs, label=str(hit.iloc[0].label or ""),
                                  sign=sign, text=text))
        else:
            raise OptionError(f"{where}: {hid} needs 'path' or 'label'")
    return out


def _resolve_labels(labels, X: pd.DataFrame):
    """The :class:`semcluster.data.labels.Labels` of a report: ``labels`` (a Labels, a YAML path or
    a dict in the YAML's shape), then the SPSS/Stata variable and value labels the data carry.
    The study's dictionary is never used here: a construct of the user's called ``KS`` keeps
    the user's label (or its name)."""
    from ..data.labels import Labels, read_labels

    frame_labels = Labels.from_frame(X) if isinstance(X, pd.DataFrame) else None
    if isinstance(labels, Labels):
        return labels.merged(frame_labels)
    if isinstance(labels, dict):
        lab = Labels(constructs=labels.get("constructs") or {}, items=labels.get("items") or {},
                     groups=labels.get("groups") or {}, title_text=labels.get("title"))
        return lab.merged(frame_labels)
    return read_labels(labels, frame=X if isinstance(X, pd.DataFrame) else None)


@dataclass
class _Run:
    """Everything the section functions of one report read (fitted once) and write."""
    spec: object
    X: pd.DataFrame
    data_report: object
    res: object                       # the user's model fitted (with groups when asked)
    labels: object                    # semcluster.data.labels.Labels
    lang: str
    group: str | None
    hypotheses: list
    n_boot: int
    seed: int
    n_jobs: int
    options: object
    results: dict = field(default_factory=dict)
    notes: list = field(default_factory=list)
    pooled: object = None             # one-group fit of a grouped model (measurement tables)

    def t(self, key):
        return _t(key, self.lang)

    def name(self, v):
        """A variable's label: an item's for an observed variable, else a construct's."""
        if v in self.spec.observed:
            return self.labels.item(v, self.lang)
        return self.labels.construct(v, self.lang)

    def group_name(self, g):
        return self.labels.group(self.group, g, self.lang) if self.group else str(g)

    def title(self, default: str) -> str:
        return self.labels.title(self.lang) or default


def build_report(model=None, data=None, *, out=None, options=None, group=None, hypotheses=None,
                 labels=None, lang: str = "en", formats=("html", "md"), style: str = "apa",
                 n_boot: int = 1000, seed: int = 20231124, n_jobs: int = -1,
                 progress: bool = False, extra_inputs=(), on_data_report=None,
                 document=None) -> Path:
    """Fit ``model`` to ``data`` once and write its report folder ``out``.

    The sections are chosen from what the model holds: data (always), common-method bias
    (when :mod:`semcluster.analysis.method_bias` is installed), measurement (factors with items), model
    fit, structural paths and R² (``~`` paths), hypotheses (``hypotheses`` YAML, else the
    labelled paths), ``:=`` effects with percentile and BCa bootstrap intervals (``n_boot``
    resamples, ``seed``), groups (``group`` column: invariance sequence, per-group paths and
    their differences), diagrams, then the warnings of the run and the software.  ``formats``:
    any of html, md, docx; ``style``: apa or three-line (tables in docx/html/md).  Nothing the
    user gave is overwritten; the folder is swapped in whole at the end.
    ``on_data_report``: called with the :class:`semcluster.data.survey.DataReport` once the data are
    read (the CLI prints it there).  Warnings of the run (:class:`SemclusterWarning`) are issued
    once each after the build and listed in the report's last section.

    ``document`` (the study's report, :func:`semcluster.study.report.reproduce_report`): a
    function ``document(run, t0, progress) -> (Document, results)`` that builds the document
    in place of the sections chosen from the model; the same reading, fit, warnings and writers.
    """
    import warnings

    from .. import __version__
    from ..data.survey import read_survey
    from ..errors import SemclusterWarning
    from ..fitting import fit
    from ..spec.parser import read_model

    if lang not in ("en", "zh"):
        raise OptionError(f"lang must be en or zh, not {lang!r}")
    if style not in ("apa", "three-line"):
        raise OptionError(f"style must be apa or three-line, not {style!r}")
    formats = tuple(formats)
    bad = [f for f in formats if f not in FORMATS]
    if bad or not formats:
        raise OptionError(f"format must be one or more of {', '.join(FORMATS)}, not "
                          f"{', '.join(bad) or 'nothing'}")
    folder = _output_folder(data, Path(out), [model if isinstance(model, (str, Path))
                                              and Path(model).is_file() else None,
                                              hypotheses if isinstance(hypotheses, (str, Path))
                                              else None,
                                              labels if isinstance(labels, (str, Path)) else None,
                                              *extra_inputs])
    t0 = time.perf_counter()
    caught: list[str] = []
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always", SemclusterWarning)
        spec = read_model(model)
        hyps = read_hypotheses(hypotheses, spec)
        X, drep = read_survey(data, options, variables=spec.observed,
                              keep=[group] if group else ())
        if on_data_report is not None:
            on_data_report(drep)
        cluster = getattr(options, "cluster", None)
        res = fit(spec, X, group=group, cluster=cluster)
        lab = _resolve_labels(labels, X)
        if isinstance(labels, (str, Path)):        # a typo in the labels file: one warning
            from ..data.labels import Labels

            values = sorted(set(X[group].dropna())) if group else None
            Labels.from_yaml(labels).warn_unknown(list(spec.latent) + list(spec.observed),
                                                  group, values)
        run = _Run(spec, X, drep, res, lab, lang, group, hyps, n_boot, seed, n_jobs, options)
        if group and _items_of_model(spec):
            run.pooled = fit(measurement_model(spec), X.drop(columns=[group]))
        if document is not None:
            doc, study_results = document(run, t0, progress)
        else:
            title = run.title(("报告：" if lang == "zh" else "Report: ") + spec.name)
            doc = Document(title, lang=lang)
            for make in (TWOLEVEL_SECTIONS if spec.is_twolevel else SECTIONS):
                sec = make(run)
                if sec is not None:
                    doc.sections.append(sec)
        for w in rec:
            if issubclass(w.category, SemclusterWarning):
                caught.append(str(w.message).splitlines()[0])
            else:
                warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    doc.warnings = distinct_warnings(caught)
    for msg in doc.warnings:                       # shown once each (the CLI prints one line)
        warnings.warn(msg, SemclusterWarning, stacklevel=2)
    if doc.warnings:
        doc.sections.append(Section("warnings", run.t("warnings"),
                                    [Paragraph(w, kind="warning") for w in doc.warnings]))
    if document is not None:
        results = {**study_results, "warnings": doc.warnings}
        return write_document(folder, doc, results, formats=formats, style=style)
    doc.sections.append(_settings_section(run, t0))
    results = {"semcluster_version": __version__, "model": spec.name, "lang": lang,
               "settings": {"n_boot": n_boot, "seed": seed, "group": group, "style": style,
                            "formats": list(formats)},
               "fit": res.to_dict(), **run.results, "warnings": doc.warnings}
    return write_document(folder, doc, results, formats=formats, style=style, rounded=True)


def distinct_warnings(messages) -> list[str]:
    """Each warning once, in order: a repeat, or a message that is the start of a longer one
    given too (the same warning from two analyses, one with a hint added), is left out."""
    out: list[str] = []
    for m in dict.fromkeys(messages):
        if any(o.startswith(m) for o in messages if o != m):
            continue
        out.append(m)
    return out


def _data_section(run: _Run) -> Section:
    """Rows read and used, the missing-data rule and patterns, recoded codes, careless answers."""
    r, lang = run.data_report, run.lang
    s = Section("data", run.t("data"))
    zh = lang == "zh"
    source = Path(str(r.source)).name or str(r.source)     # the file's name, not its folders
    rows = [("rows read" if not zh else "读入行数", r.n_rows),
            ("rows used" if not zh else "使用行数", r.n_used)]
    rows += [((f"not used: {k}" if not zh else f"未使用：{k}"), v) for k, v in r.dropped.items()]
    rows.append(("missing answers kept" if not zh else "保留的缺失回答",
                 int(sum(r.n_missing.values()))))
    rows.append(("missing-data patterns" if not zh else "缺失模式数", r.n_patterns))
    for reason, per in r.recoded.items():
        rows.append(((f"recoded: {reason}" if not zh else f"重新编码：{reason}"),
                     int(sum(per.values()))))
    rows.append(("flagged as careless" if not zh else "疑似随意作答", len(r.careless)))
    frame = pd.DataFrame(rows, columns=["what", "value"])
    s.add(Paragraph((f"数据文件：{source}；缺失数据处理：{r.missing}。" if zh else
                     f"Data file: {source}; missing-data rule: {r.missing} (the same for every "
                     f"analysis).")
                    + ("" if r.scale is None else
                       (f" 量表范围：{r.scale[0]:g}–{r.scale[1]:g}。" if zh else
                        f" Answer scale {r.scale[0]:g} to {r.scale[1]:g}."))))
    s.add(Table("data_summary", "数据概况" if zh else "Rows, missing answers and recoded values",
                frame, [Column("what", run.t("what"), "text"),
                        Column("value", run.t("count"), "count")],
                note=(r.careless_rule or "")))
    if any(r.n_missing.values()):
        miss = pd.DataFrame({"item": [run.name(v) for v in r.n_missing],
                             "missing": list(r.n_missing.values()),
                             "share": [v / max(r.n_used, 1) for v in r.n_missing.values()]})
        miss = miss[miss.missing > 0].reset_index(drop=True)
        s.add(Table("missing_by_item", "各题项缺失" if zh else "Missing answers by item", miss,
                    [Column("item", run.t("item"), "text"),
                     Column("missing", "缺失数" if zh else "missing", "count"),
                     Column("share", "比例" if zh else "share", "bounded", 3)]))
    for n in r.notes:
        s.add(Paragraph(n, kind="note"))
    run.results["data"] = r.to_dict()
    return s


def _method_bias_section(run: _Run) -> Section | None:
    """Harman's single factor, a one-factor CFA and an unmeasured latent method factor against
    the model's measurement part (:func:`semcluster.analysis.method_bias.method_factor_check`), with its
    findings, tables and caveats; needs factors with items."""
    from ..errors import SemclusterError
    from ..analysis.method_bias import method_factor_check

    if not _items_of_model(run.spec):
        return None
    data = run.X.drop(columns=[run.group]) if run.group else run.X
    # with groups: the measurement part (method_bias fits one group; the labels of a grouped
    # model's paths, c(a1, a2), belong to the groups)
    model = measurement_model(run.spec) if run.group else run.spec
    try:
        m = method_factor_check(model, data)
    except SemclusterError as exc:          # e.g. a model the method factor cannot be added to
        s = Section("method_bias", run.t("method_bias"))
        s.add(Paragraph(("Not run: " if run.lang != "zh" else "未运行：")
                        + str(exc).splitlines()[0], kind="warning"))
        return s
    run.results["method_bias"] = m.to_dict()
    sec = m.section(run.lang)
    names = set(run.spec.latent) | set(run.spec.observed)
    for t in sec.blocks:                      # the factors and items by their labels
        if isinstance(t, Table):
            t.frame = t.frame.copy()
            for c in t.frame.columns:
                if not pd.api.types.is_numeric_dtype(t.frame[c]):
                    t.frame[c] = [run.name(v) if isinstance(v, str) and v in names else v
                                  for v in t.frame[c]]
    return sec


def measurement_model(spec):
    """The model's measurement part alone (its ``=~`` lines, labels and modifiers left out):
    the CFA whose loadings and reliabilities a grouped report gives for all groups together."""
    from ..spec.parser import parse_model

    pt = spec.partable
    rows = pt[pt.op == "=~"]
    lines = [f"{f} =~ " + " + ".join(dict.fromkeys(rows.loc[rows.lhs == f, "rhs"]))
             for f in dict.fromkeys(rows.lhs)]
    return parse_model("\n".join(lines) + "\n", name=f"{spec.name} (measurement part)")


def _items_of_model(spec) -> list:
    pt = spec.partable
    obs = set(spec.observed)
    return [v for v in pt.loc[pt.op == "=~", "rhs"] if v in obs]


def _free_only(e: pd.DataFrame, col: str) -> np.ndarray:
    """A column of the estimates with fixed parameters (``free`` 0) blank: a fixed marker
    loading has no SE and no p."""
    v = e[col].to_numpy(float).copy()
    if "free" in e.columns:
        v[e["free"].to_numpy() == 0] = np.nan
    return v


def _labelled(text: str, run: "_Run", names) -> str:
    """A check's name ("AVE KS", "HTMT AC-KS") with the constructs' labels for their codes."""
    import re

    return re.sub(r"[A-Za-z_][A-Za-z0-9_.]*",
                  lambda m: run.name(m.group(0)) if m.group(0) in names else m.group(0), text)


def _limit_text(v) -> str:
    return "" if v is None or pd.isna(v) else f"{float(v):.2f}".replace("0.", ".", 1)


def _measurement_fit(run: _Run):
    return run.pooled if run.pooled is not None else run.res


def _loadings_section(run: _Run, s: Section, res) -> None:
    e = res.loadings()
    frame = pd.DataFrame({
        "factor": [run.name(v) for v in e.lhs], "item": [run.name(v) for v in e.rhs],
        "est": e.est.to_numpy(float), "se": _free_only(e, "se"),
        "pvalue": _free_only(e, "pvalue"), "std_all": e.std_all.to_numpy(float)})
    s.add(Table("loadings", "因子载荷" if run.lang == "zh" else
                "Factor loadings: estimate, SE, p and standardized loading", frame,
                [Column("factor", run.t("construct"), "text"),
                 Column("item", run.t("item"), "text"),
                 Column("est", "B", "number", 3), Column("se", "SE", "number", 3),
                 Column("pvalue", "p", "p"), Column("std_all", "β", "bounded", 3)],
                note=("Fixed marker loadings have no SE or p (—)." if run.lang != "zh" else
                      "固定为 1 的标定载荷无标准误与 p 值（—）。")))


def _measurement_section(run: _Run) -> Section | None:
    """Loadings, α/ω/CR/AVE, Fornell–Larcker and HTMT with thresholds and their sources."""
    from ..analysis.measurement import THRESHOLDS, measurement_report

    items = _items_of_model(run.spec)
    if not items:
        return None
    res = _measurement_fit(run)
    s = Section("measurement", run.t("measurement"))
    if run.pooled is not None:
        s.add(Paragraph("Measurement tables from the model's measurement part (its =~ lines) "
                        "fitted to all groups together; the groups are compared in the Groups "
                        "section."
                        if run.lang != "zh" else "测量指标基于全部样本（单组）拟合；各组比较见“多组比较”。",
                        kind="note"))
    _loadings_section(run, s, res)
    data = run.X.drop(columns=[run.group]) if run.group else run.X
    scale = run.data_report.scale if run.data_report.scale is not None else (1, 7)
    mrep = measurement_report(res.spec, data, result=res, parallel_iter=50, scale=scale,
                              seed=run.seed)
    rel = mrep.reliability
    cons = list(rel.index)
    frame = pd.DataFrame({"construct": [run.name(c) for c in cons],
                          "alpha": rel["alpha"].to_numpy(float),
                          "omega": rel["omega"].to_numpy(float),
                          "cr": rel["cr"].to_numpy(float),
                          "ave": rel["ave_std"].to_numpy(float)})
    th = mrep.thresholds
    s.add(Table("reliability", "信度与聚合效度" if run.lang == "zh" else
                "Reliability and convergent validity: Cronbach's α, ω, CR, AVE", frame,
                [Column("construct", run.t("construct"), "text"),
                 Column("alpha", "α", "bounded", 2), Column("omega", "ω", "bounded", 2),
                 Column("cr", "CR", "bounded", 2), Column("ave", "AVE", "bounded", 2)],
                note=f"{THRESHOLDS['alpha'][1]}; {THRESHOLDS['omega'][1]}; "
                     f"{THRESHOLDS['cr'][1]}; {THRESHOLDS['ave'][1]}. "
                     + "; ".join(f"{k}: {v}" for k, v in mrep.bases.items()
                                 if k in ("alpha", "omega_cr_ave"))))
    fl = mrep.fornell_larcker
    flc = [c for c in fl.columns if c in cons]
    frame = fl[flc].copy()
    frame.insert(0, "construct", [run.name(c) for c in fl.index])
    s.add(Table("fornell_larcker", "Fornell–Larcker 判别效度" if run.lang == "zh" else
                "Fornell–Larcker: √AVE on the diagonal, latent correlations off it", frame,
                [Column("construct", run.t("construct"), "text")] +
                [Column(c, run.name(c), "bounded", 2) for c in flc],
                note=THRESHOLDS["fornell_larcker"][1]))
    h = mrep.htmt
    frame = h.copy()
    frame.insert(0, "construct", [run.name(c) for c in h.index])
    s.add(Table("htmt", "HTMT 判别效度" if run.lang == "zh" else
                "Heterotrait–monotrait ratios (HTMT)", frame.reset_index(drop=True),
                [Column("construct", run.t("construct"), "text")] +
                [Column(c, run.name(c), "number", 2) for c in h.columns],
                note=f"{THRESHOLDS['htmt_strict'][1]}; {THRESHOLDS['htmt_liberal'][1]}."))
    flags = mrep.flags
    fails = flags[~flags.passes]
    frame = pd.DataFrame({"figure": [_labelled(f, run, set(cons)) for f in flags.figure],
                          "value": flags.value.to_numpy(float),
                          "threshold": [_limit_text(v) for v in flags.threshold],
                          "verdict": [run.t("passes" if p else "fails") for p in flags.passes],
                          "source": list(flags.source)})
    s.add(Table("measurement_checks", "测量指标阈值检验" if run.lang == "zh" else
                "Threshold checks of the measurement model", frame,
                [Column("figure", run.t("measure"), "text"),
                 Column("value", run.t("observed"), "number", 3),
                 Column("threshold", run.t("cutoff"), "text"),
                 Column("verdict", run.t("verdict"), "text"),
                 Column("source", run.t("source"), "text")]))
    s.add(Paragraph(f"{len(fails)} of {len(flags)} checks fail." if run.lang != "zh" else
                    f"{len(flags)} 项检验中 {len(fails)} 项未通过。"))
    run.results["measurement"] = {
        "reliability": mrep.tables()["reliability"].to_dict("records"),
        "thresholds": {k: {"value": th[k], "source": THRESHOLDS[k][1]} for k in th},
        "checks_failed": int(len(fails)), "checks": int(len(flags))}
    return s


def _fit_section(run: _Run) -> Section:
    """Global fit (one row, as a paper prints it) and the conventional cut-offs with their
    sources and a verdict for each."""
    fm = run.res.fit_measures
    keys = [k for k in REPORT_FIT_KEYS if k in fm]
    frame = pd.DataFrame([{"model": run.title(run.spec.name),
                           **{k: float(fm[k]) for k in keys}}])
    kinds = {"chisq": ("χ²", "number", 2), "df": ("df", "count", 0), "pvalue": ("p", "p", 3),
             "cfi": ("CFI", "bounded", 3), "tli": ("TLI", "number", 3),
             "rmsea": ("RMSEA", "bounded", 3), "rmsea_ci_lower": ("RMSEA 90% CI lower",
                                                                  "bounded", 3),
             "rmsea_ci_upper": ("RMSEA 90% CI upper", "bounded", 3),
             "srmr": ("SRMR", "bounded", 3), "aic": ("AIC", "number", 1),
             "bic": ("BIC", "number", 1)}
    s = Section("fit", run.t("fit"))
    s.add(Table("fit", ("模型拟合指标" if run.lang == "zh" else "Fit of the model")
                + f" ({run.res.estimator_label}, N = {run.res.nobs})", frame,
                [Column("model", run.t("model"), "text")]
                + [Column(k, *kinds[k]) for k in keys]))
    rows = []
    for k, (op, limit, source) in FIT_CUTOFFS.items():
        if k not in fm:
            continue
        v = fit_cutoff_verdict(k, fm[k])
        rows.append({"measure": kinds[k][0], "value": float(fm[k]),
                     "cutoff": f"{'≥' if op == '>=' else '≤'} {_limit_text(limit)}",
                     "verdict": "" if v is None else run.t(v), "source": source.split(":")[0]})
    s.add(Table("fit_cutoffs", "拟合指标与常用标准" if run.lang == "zh" else
                "Fit measures against conventional cut-offs", pd.DataFrame(rows),
                [Column("measure", run.t("measure"), "text"),
                 Column("value", run.t("observed"), "number", 3),
                 Column("cutoff", run.t("cutoff"), "text"),
                 Column("verdict", run.t("verdict"), "text"),
                 Column("source", run.t("source"), "text")],
                note="Cut-offs are conventions, not tests (Hu & Bentler 1999; Marsh, Hau & Wen "
                     "2004 warn against reading them as golden rules)." if run.lang != "zh" else
                     "标准为惯例而非检验（Hu & Bentler 1999；Marsh, Hau & Wen 2004）。"))
    s.add(Paragraph(f"Converged: {run.res.converged}; admissible: {run.res.admissible}."
                    if run.lang != "zh" else
                    f"收敛：{'是' if run.res.converged else '否'}；解可接受："
                    f"{'是' if run.res.admissible else '否'}。"))
    return s


def _group_col(run: _Run, e: pd.DataFrame) -> list:
    if "group" not in e.columns or not run.res.groups:
        return []
    return [run.group_name(run.res.groups[int(g) - 1]) for g in e.group]


def _paths_section(run: _Run) -> Section | None:
    """Structural paths (per group with groups) and R²."""
    e = run.res.paths()
    if e.empty:
        return None
    s = Section("paths", run.t("paths"))
    frame = pd.DataFrame({"outcome": [run.name(v) for v in e.lhs],
                          "predictor": [run.name(v) for v in e.rhs],
                          "label": [str(v) if isinstance(v, str) else "" for v in e.label],
                          "est": e.est.to_numpy(float), "se": _free_only(e, "se"),
                          "pvalue": _free_only(e, "pvalue"),
                          "std_all": e.std_all.to_numpy(float)})
    cols = [Column("outcome", run.t("outcome"), "text"),
            Column("predictor", run.t("predictor"), "text"),
            Column("label", run.t("label"), "text"),
            Column("est", "B", "number", 3), Column("se", "SE", "number", 3),
            Column("pvalue", "p", "p"), Column("std_all", "β", "number", 3)]
    g = _group_col(run, e)
    if g:
        frame.insert(0, "group", g)
        cols.insert(0, Column("group", run.t("group"), "text"))
    s.add(Table("paths", "结构路径系数" if run.lang == "zh" else
                "Structural paths: unstandardized (B, SE, p) and standardized (β)", frame, cols))
    r2 = run.res.r2
    if len(r2):
        if isinstance(r2.index, pd.MultiIndex):
            r2f = pd.DataFrame({"group": [run.group_name(a) for a, _ in r2.index],
                                "variable": [run.name(b) for _, b in r2.index],
                                "r2": r2.to_numpy(float)})
            rc = [Column("group", run.t("group"), "text")]
        else:
            r2f = pd.DataFrame({"variable": [run.name(v) for v in r2.index],
                                "r2": r2.to_numpy(float)})
            rc = []
        keep = [v for v in r2f.index if r2f.variable[v] in
                {run.name(x) for x in set(e.lhs)}]
        r2f = r2f.loc[keep].reset_index(drop=True)
        s.add(Table("r2", run.t("r2"), r2f,
                    rc + [Column("variable", run.t("outcome"), "text"),
                          Column("r2", "R²", "bounded", 3)]))
    return s


def _hypotheses_section(run: _Run) -> Section | None:
    """The verdict on each hypothesis by :func:`hypothesis_verdict` (per group with groups)."""
    if not run.hypotheses:
        return None
    e = run.res.estimates
    rows = []
    groups = list(run.res.groups) or [None]
    for h in run.hypotheses:
        for gi, g in enumerate(groups, 1):
            if h.op == ":=":
                hit = e[(e.op == ":=") & (e.lhs == h.lhs)]
            else:
                hit = e[(e.lhs == h.lhs) & (e.op == h.op) & (e.rhs == h.rhs)]
                if g is not None and "group" in e.columns:
                    hit = hit[hit.group == gi]
            p = hit.iloc[0] if len(hit) else None
            beta = None if p is None else p.std_all
            pv = None if p is None else p.pvalue
            path = (f"{run.name(h.rhs)} → {run.name(h.lhs)}" if h.op == "~" else
                    f"{h.lhs} := {p.rhs}" if h.op == ":=" and p is not None else
                    (h.label or h.lhs))
            rows.append({"group": "" if g is None or h.op == ":=" else run.group_name(g),
                         "id": h.id,
                         "text": h.text, "path": path, "sign": h.sign,
                         "std_all": np.nan if beta is None else float(beta),
                         "pvalue": np.nan if pv is None else float(pv),
                         "verdict": run.t(hypothesis_verdict(beta, pv, h.sign)),
                         "verdict_en": hypothesis_verdict(beta, pv, h.sign)})
            if h.op == ":=":
                break                           # a defined parameter is one for all groups
    frame = pd.DataFrame(rows)
    cols = [Column("id", run.t("hypothesis"), "text"), Column("text", run.t("text"), "text"),
            Column("path", run.t("path"), "text"), Column("sign", run.t("sign"), "text"),
            Column("std_all", "β", "number", 3), Column("pvalue", "p", "p"),
            Column("verdict", run.t("verdict"), "text")]
    if run.res.groups:
        cols.insert(1, Column("group", run.t("group"), "text"))
    s = Section("hypotheses", run.t("hypotheses"))
    s.add(Table("hypotheses", "假设检验结果" if run.lang == "zh" else "Hypotheses and verdicts",
                frame, cols,
                note=("Rule (report.hypothesis_verdict): supported when the standardized "
                      "coefficient has the stated sign and its two-sided p < .05 (Kline 2016, "
                      "ch. 8); not supported otherwise; not tested without a p-value."
                      if run.lang != "zh" else
                      "规则（report.hypothesis_verdict）：标准化系数方向与假设一致且双侧 p < .05 "
                      "时为支持，否则不支持；无 p 值时为未检验。")))
    run.results["hypotheses"] = frame.drop(columns=["verdict"]).rename(
        columns={"verdict_en": "verdict"}).to_dict("records")
    return s


def _effects_section(run: _Run) -> Section | None:
    """``:=`` effects with bootstrap percentile and BCa intervals."""
    d = run.res.defined()
    if d.empty:
        return None
    s = Section("effects", run.t("effects"))
    from ..analysis.bootstrap import bootstrap

    try:
        b = bootstrap(run.spec, run.X.drop(columns=[run.group]) if run.group and
                      not run.res.groups else run.X, n_boot=run.n_boot, seed=run.seed,
                      n_jobs=run.n_jobs, bca=True, result=run.res,
                      options=None)
    except Exception as exc:
        from ..errors import SemclusterError

        if not isinstance(exc, SemclusterError):
            raise
        s.add(Paragraph(f"Bootstrap not run: {str(exc).splitlines()[0]}", kind="warning"))
        b = None
    expr = {r.lhs: str(r.rhs) for r in d.itertuples()}
    frame = pd.DataFrame({"effect": list(d.lhs), "expression": [expr[v] for v in d.lhs],
                          "est": d.est.to_numpy(float), "se": d.se.to_numpy(float),
                          "pvalue": d.pvalue.to_numpy(float),
                          "std_all": d.std_all.to_numpy(float)})
    cols = [Column("effect", run.t("effect"), "text"),
            Column("expression", run.t("expression"), "text"),
            Column("est", "B", "number", 3), Column("se", "SE (delta)", "number", 3),
            Column("pvalue", "p", "p"), Column("std_all", "β", "number", 3)]
    if b is not None:
        bt = b.table[(b.table.op == ":=") & (b.table.what == "est")].set_index("lhs")
        for c in ("ci_lower", "ci_upper", "bca_lower", "bca_upper"):
            frame[c] = [float(bt.loc[v, c]) if v in bt.index else np.nan for v in d.lhs]
        cols += [Column("ci_lower", "95% CI lower (percentile)", "number", 3),
                 Column("ci_upper", "95% CI upper (percentile)", "number", 3),
                 Column("bca_lower", "95% CI lower (BCa)", "number", 3),
                 Column("bca_upper", "95% CI upper (BCa)", "number", 3)]
        s.add(Paragraph(
            f"Case-resampling bootstrap, {b.n_boot} resamples (seed {b.seed}): {b.n_used} used, "
            f"{b.n_failed} failed to converge, {b.n_inadmissible} inadmissible (kept). An "
            f"effect whose interval excludes 0 differs from 0 at the 5 % level."
            if run.lang != "zh" else
            f"个案重抽样自助法，{b.n_boot} 次（种子 {b.seed}）：有效 {b.n_used} 次，未收敛 "
            f"{b.n_failed} 次，不可接受解 {b.n_inadmissible} 次（保留）。"))
        run.results["bootstrap"] = {**b.counts(), "table": b.table[b.table.op == ":="]
                                    .to_dict("records")}
    s.add(Table("effects", "定义效应及自助法置信区间" if run.lang == "zh" else
                "Defined effects with bootstrap confidence intervals", frame, cols))
    return s


_LEVELS_ZH = {"configural": "形态", "metric": "弱（度量）", "scalar": "强（截距）",
              "strict": "严格"}


def _invariance_text(text, lang: str) -> str:
    """An invariance level or verdict in the report's language."""
    text = str(text)
    if lang != "zh":
        return text
    words = {"holds": "成立", "rejected": "拒绝", "not tested": "未检验"}
    if text in words:
        return words[text]
    if text in _LEVELS_ZH:
        return _LEVELS_ZH[text] + "不变"
    for level, zh in _LEVELS_ZH.items():
        if text.startswith(level + " invariance"):
            return zh + ("不变性成立" if text.endswith("holds") else "不变性不成立")
    return text


def path_difference_z(b1, se1, b2, se2) -> tuple[float, float]:
    """z and two-sided p of the difference of one path between two independent groups:
    z = (b1 − b2) / √(SE1² + SE2²) (Clogg, Petkova & Haritou 1995; Paternoster et al. 1998)."""
    from scipy import stats

    if any(v is None or pd.isna(v) for v in (b1, se1, b2, se2)) or se1 ** 2 + se2 ** 2 <= 0:
        return float("nan"), float("nan")
    z = (b1 - b2) / float(np.sqrt(se1 ** 2 + se2 ** 2))
    return float(z), float(2 * stats.norm.sf(abs(z)))


def _groups_section(run: _Run) -> Section | None:
    """Invariance sequence, and the differences of each structural path between groups."""
    if not run.group or not run.res.groups:
        return None
    from ..errors import SemclusterError
    from ..analysis.invariance import measurement_invariance

    s = Section("groups", run.t("groups"))
    nobs = run.res.group_nobs
    s.add(Paragraph(("Groups: " if run.lang != "zh" else "组别：") + "; ".join(
        f"{run.group_name(g)} (N = {n})" for g, n in nobs.items())))
    if _items_of_model(run.spec):
        try:
            inv = measurement_invariance(run.spec, run.X, group=run.group)
            t = inv.table.reset_index()
            lvl = t.columns[0]
            frame = pd.DataFrame({"level": list(t[lvl])})
            for c in ("chisq", "df", "cfi", "rmsea", "srmr"):
                if c in t:
                    frame[c] = t[c].to_numpy(float)
            comp = inv.comparisons.set_index("comparison")
            frame["comparison"] = [next((k for k in comp.index if k.startswith(str(v) + " ")),
                                        "") for v in frame.level]
            for c in ("chisq_diff", "df_diff", "pvalue", "delta_cfi", "delta_rmsea"):
                frame[c] = [float(comp.loc[k, c]) if k else np.nan for k in frame.comparison]
            frame["lrt"] = [_invariance_text(comp.loc[k, "lrt_verdict"], run.lang) if k
                            else "" for k in frame.comparison]
            frame["verdict"] = [_invariance_text(comp.loc[k, "fit_index_verdict"], run.lang)
                                if k else "" for k in frame.comparison]
            frame["level"] = [_invariance_text(v, run.lang) for v in frame.level]
            s.add(Table("invariance", "测量不变性检验" if run.lang == "zh" else
                        "Measurement invariance across the groups", frame,
                        [Column("level", "model" if run.lang != "zh" else "模型", "text"),
                         Column("chisq", "χ²", "number", 2), Column("df", "df", "count"),
                         Column("cfi", "CFI", "bounded", 3),
                         Column("rmsea", "RMSEA", "bounded", 3),
                         Column("chisq_diff", "Δχ²", "number", 2),
                         Column("df_diff", "Δdf", "count"), Column("pvalue", "p", "p"),
                         Column("delta_cfi", "ΔCFI", "number", 3),
                         Column("delta_rmsea", "ΔRMSEA", "number", 3),
                         Column("lrt", "χ² test" if run.lang != "zh" else "χ² 检验", "text"),
                         Column("verdict", "ΔCFI/ΔRMSEA", "text")],
                        note="Each level against the one before: χ² difference test, and "
                             "ΔCFI > −.010 with ΔRMSEA < .015 (Chen 2007)." if run.lang != "zh"
                        else "每一层与前一层比较：χ² 差异检验；ΔCFI > −.010 且 ΔRMSEA < .015 "
                             "时不变性成立（Chen 2007）。"))
            run.results["invariance"] = inv.to_dict()
        except SemclusterError as exc:
            s.add(Paragraph(f"Invariance not tested: {str(exc).splitlines()[0]}",
                            kind="warning"))
    e = run.res.paths()
    groups = list(run.res.groups)
    rows = []
    for (lhs, rhs), part in e.groupby(["lhs", "rhs"], sort=False):
        by = {int(r.group): r for r in part.itertuples()}
        for i in range(len(groups)):
            for j in range(i + 1, len(groups)):
                a, b = by.get(i + 1), by.get(j + 1)
                if a is None or b is None:
                    continue
                same = isinstance(a.label, str) and a.label and a.label == b.label
                z, p = (np.nan, np.nan) if same else path_difference_z(a.est, a.se, b.est, b.se)
                rows.append({"path": f"{run.name(rhs)} → {run.name(lhs)}",
                             "groups": f"{run.group_name(groups[i])} − "
                                       f"{run.group_name(groups[j])}",
                             "diff": float(a.est - b.est), "z": z, "pvalue": p,
                             "note": (("held equal (shared label)" if run.lang != "zh" else
                                       "各组相等（共用标签）") if same else "")})
    if rows:
        s.add(Table("path_differences", "路径系数的组间差异" if run.lang == "zh" else
                    "Differences of the structural paths between groups (unstandardized)",
                    pd.DataFrame(rows),
                    [Column("path", run.t("path"), "text"),
                     Column("groups", run.t("group"), "text"),
                     Column("diff", "ΔB", "number", 3), Column("z", "z", "number", 2),
                     Column("pvalue", "p", "p"),
                     Column("note", "说明" if run.lang == "zh" else "note", "text")],
                    note="z = (B1 − B2) / √(SE1² + SE2²) for independent groups (Clogg, Petkova "
                         "& Haritou 1995). A path labelled once is held equal across groups "
                         "(lavaan's rule): give it one label per group, c(a1, a2), to compare."
                    if run.lang != "zh" else
                    "独立组间比较：z = (B1 − B2) / √(SE1² + SE2²)（Clogg, Petkova & Haritou "
                    "1995）。只写一个标签的路径在各组间相等（lavaan 规则）；要比较请为每组各写一个"
                    "标签，如 c(a1, a2)。"))
    return s


def _diagrams_section(run: _Run) -> Section:
    """The conceptual, tested and measurement diagrams (groups side by side)."""
    from . import diagrams
    from ..errors import SemclusterError

    s = Section("diagrams", run.t("diagrams"))
    names = {v: run.name(v) for v in list(run.spec.latent) + list(run.spec.observed)}
    zh = run.lang == "zh"
    todo = [("conceptual", "概念模型" if zh else "Conceptual model",
             lambda: diagrams.conceptual_diagram(run.spec, lang=run.lang, labels=names))]
    groups = list(run.res.groups)

    def tested():
        if not groups:
            return diagrams.tested_diagram(run.res, lang=run.lang, labels=names)
        # each group titled by its label (value labels, labels YAML), side by side
        return diagrams._side_by_side(lambda g, fig: diagrams.tested_diagram(
            run.res, lang=run.lang, labels=names, group=g, title=run.group_name(g), _fig=fig),
            groups)

    def measurement():
        if not groups:
            return diagrams.measurement_diagram(run.res, lang=run.lang, labels=names)
        return diagrams._side_by_side(lambda g, fig: diagrams.measurement_diagram(
            run.res, lang=run.lang, labels=names, group=g, _fig=fig,
            _title=run.group_name(g)), groups)

    if len(run.res.paths()):
        todo.append(("tested", "检验后的模型" if zh else "Tested model (standardized paths)",
                     tested))
    if _items_of_model(run.spec):
        todo.append(("measurement", "测量模型" if zh else "Measurement model", measurement))
    for key, title, draw in todo:
        try:
            s.add(Figure(key, title, draw()))
        except SemclusterError as exc:
            s.add(Paragraph(f"{title}: not drawn ({str(exc).splitlines()[0]})", kind="note"))
    return s


def _settings_section(run: _Run, t0: float) -> Section:
    import importlib.metadata as md

    vers = {}
    for pkg in ("semcluster", "numpy", "scipy", "pandas", "matplotlib"):
        try:
            vers[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            vers[pkg] = "not installed"
    vers["python"] = platform.python_version()
    s = Section("software", run.t("software"))
    s.add(Paragraph(f"Estimator {run.res.estimator_label}; bootstrap seed {run.seed}, "
                    f"{run.n_boot} resamples; run time {time.perf_counter() - t0:.1f} s; "
                    + ", ".join(f"{k} {v}" for k, v in vers.items()) + "."))
    run.results["software"] = vers
    return s


def _clusters_section(run: _Run) -> Section | None:
    """Firms in clusters (a cluster column given): sizes, ICC(1) and design effects, and the
    paths by naive ML beside cluster-robust MLR, or the two-level results per level."""
    if run.options is None or getattr(run.options, "cluster", None) is None:
        return None
    from .cluster_section import cluster_section

    return cluster_section(run.spec, run.X, options=run.options, lang=run.lang)


#: The sections of a report, in order; each returns a Section or None (nothing to report).
SECTIONS = (_data_section, _clusters_section, _method_bias_section, _measurement_section, _fit_section,
            _paths_section, _hypotheses_section, _effects_section, _groups_section,
            _diagrams_section)


def _twolevel_note_section(run: _Run) -> Section:
    """What the report of a two-level model leaves out, said in the report."""
    zh = run.lang == "zh"
    text = ("两水平模型的报告目前只给出数据、集群（各水平的估计）和模型拟合；测量质量表、假设检验表、"
            "效应和路径图尚未对两水平模型实现。" if zh else
            "For a two-level model this report gives the data, the clusters (the estimates per "
            "level) and the model fit; the measurement-quality tables, the hypotheses, the "
            ":= effects and the diagrams are not built for two-level models yet.")
    return Section("twolevel_scope", "报告范围" if zh else "Scope of this report",
                   [Paragraph(text, kind="note")])


#: The sections of a two-level model's report (``level:`` blocks).
TWOLEVEL_SECTIONS = (_data_section, _clusters_section, _fit_section, _twolevel_note_section)


def _png_b64(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    return base64.b64encode(buf.getvalue()).decode()


CSS = """body{font-family:system-ui,-apple-system,'Segoe UI','Noto Sans CJK SC',sans-serif;
max-width:1100px;margin:2em auto;padding:0 1em;color:#1a1a1a;line-height:1.45}
h1{font-size:1.7em}h2{border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:2em}
h3{margin-top:1.4em}
table.tbl{border-collapse:collapse;font-size:.82em;margin:.6em 0 1.4em}
table.tbl th,table.tbl td{padding:.22em .55em;border-bottom:1px solid #e6e6e6;text-align:left;
white-space:nowrap}table.tbl td:last-child{white-space:normal}
table.tbl th{background:#f4f6fa}table.tbl .num{text-align:right}figure{margin:1em 0}figure img{max-width:100%;
border:1px solid #eee}figcaption{font-size:.9em;color:#444}.note{background:#fff8e1;
padding:.6em 1em;border-left:4px solid #f0b400}.warning{background:#fdecea;padding:.6em 1em;
border-left:4px solid #d9534f}.tnote{font-size:.85em;color:#444;margin-top:-1em}
nav a{margin-right:.8em}
table.three-line{border-top:2px solid #000;border-bottom:2px solid #000}
table.three-line th{background:none;border-bottom:1px solid #000}
table.three-line td{border-bottom:none}"""


# -- cells ----------------------------------------------------------------------------------------
def format_cell(value, column: Column, style: str = "apa") -> str:
    """One printed cell: the manuscript's rule (:func:`semcluster.output.manuscript.format_cell`),
    shared by the html, Markdown and Word writers so that the formats cannot disagree."""
    from .manuscript import format_cell as rule

    return rule(value, column, style)


def _columns_of(t: Table) -> list[Column]:
    if t.columns is not None:
        return list(t.columns)
    out = []
    for name in t.frame.columns:
        col = t.frame[name]
        if tables.is_pvalue_name(name):
            kind = "p"
        elif tables.is_count_name(name):
            kind = "count"
        elif pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col):
            kind = "number"
        else:
            kind = "text"
        out.append(Column(str(name), kind=kind, decimals=3))
    return out


def printed_table(t: Table, style: str = "apa") -> pd.DataFrame:
    """The table as printed: headers and cells as strings (what html, md and docx show).
    A table without column kinds (the study's) is printed by the table layer
    (:func:`semcluster.result.tables.formatted`), as the study's report always was."""
    if t.columns is None:
        out = tables.formatted(t.frame)
        out.columns = [str(c) for c in out.columns]
        return out.reset_index(drop=True)
    cols = _columns_of(t)
    out = pd.DataFrame([[format_cell(v, c, style) for v in t.frame[c.name]] for c in cols],
                       index=range(len(cols))).T if len(t.frame) else \
        pd.DataFrame(columns=range(len(cols)))
    out.columns = [c.title for c in cols]
    return out.reset_index(drop=True)


def _caption(t, lang: str) -> str:
    word = ("表" if isinstance(t, Table) else "图") if lang == "zh" else \
        ("Table" if isinstance(t, Table) else "Figure")
    return f"{word} {t.number}" + ("  " if lang == "zh" else ". ") + t.title


def _md_cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def document_markdown(doc: Document, style: str = "apa") -> str:
    """The document as Markdown: a table is ``<!-- table: key -->``, its caption in bold, a
    pipe table of the printed cells and its note; a figure links ``figures/{key}.png``."""
    md = [f"# {doc.title}", ""]
    for depth, b in doc.walk():
        if isinstance(b, Section):
            md += ["#" * (depth + 1) + " " + b.title, ""]
        elif isinstance(b, Paragraph):
            md += [("> " if b.kind in ("note", "warning") else "") + b.text, ""]
        elif isinstance(b, Table):
            p = printed_table(b, style)
            md += [f"<!-- table: {b.key} -->", f"**{_caption(b, doc.lang)}**", "",
                   "| " + " | ".join(_md_cell(h) for h in p.columns) + " |",
                   "|" + "|".join("---" for _ in p.columns) + "|"]
            md += ["| " + " | ".join(_md_cell(c) for c in row) + " |"
                   for row in p.itertuples(index=False)]
            md += [""] + ([f"*{_note_word(doc.lang)}* {b.note}", ""] if b.note else [])
        elif isinstance(b, Figure):
            md += [f"![{_caption(b, doc.lang)}](figures/{b.key}.png)", "",
                   f"*{_caption(b, doc.lang)}*" + (f" {b.note}" if b.note else ""), ""]
    return "\n".join(md) + "\n"


def _note_word(lang: str) -> str:
    return "注：" if lang == "zh" else "Note."


def document_html(doc: Document, style: str = "apa") -> str:
    """The document as one self-contained HTML page (figures embedded as PNG)."""
    body, nav = [], []
    for depth, b in doc.walk():
        if isinstance(b, Section):
            h = min(depth + 1, 4)
            body.append(f'<h{h} id="{html.escape(b.key)}">{html.escape(b.title)}</h{h}>')
            if depth == 1:
                nav.append(f'<a href="#{html.escape(b.key)}">{html.escape(b.title)}</a>')
        elif isinstance(b, Paragraph):
            cls = f' class="{b.kind}"' if b.kind in ("note", "warning") else ""
            body.append(f"<p{cls}>{html.escape(b.text).replace('**', '')}</p>")
        elif isinstance(b, Table):
            p = printed_table(b, style)
            text = ([c.kind == "text" for c in b.columns] if b.columns is not None else
                    [not pd.api.types.is_numeric_dtype(col) for _, col in
                     tables.tidy(b.frame).items()])
            head = "".join(f"<th>{html.escape(h)}</th>" for h in p.columns)
            rows = "".join("<tr>" + "".join(
                f'<td{"" if is_text else " class=num"}>{html.escape(v)}</td>'
                for is_text, v in zip(text, row)) + "</tr>" for row in p.itertuples(index=False))
            body.append(f'<p id="table-{html.escape(b.key)}"><b>'
                        f'{html.escape(_caption(b, doc.lang))}</b></p>'
                        f'<table class="tbl{" three-line" if style == "three-line" else ""}" '
                        f'data-key="{html.escape(b.key)}"><thead><tr>{head}'
                        f'</tr></thead><tbody>{rows}</tbody></table>'
                        + (f'<p class="tnote"><i>{_note_word(doc.lang)}</i> '
                           f'{html.escape(b.note)}</p>' if b.note else ""))
        elif isinstance(b, Figure):
            cap = _caption(b, doc.lang)
            body.append(f'<figure><img alt="{html.escape(cap)}" '
                        f'src="data:image/png;base64,{_png_b64(b.figure)}">'
                        f"<figcaption>{html.escape(cap)}"
                        f"{(' ' + html.escape(b.note)) if b.note else ''}</figcaption></figure>")
    return (f'<!DOCTYPE html><html lang="{"zh-CN" if doc.lang == "zh" else "en"}"><head>'
            f'<meta charset="utf-8"><title>{html.escape(doc.title)}</title><style>{CSS}</style>'
            f"</head><body><h1>{html.escape(doc.title)}</h1><nav>{' '.join(nav)}</nav>"
            f"{''.join(body)}</body></html>")


FORMATS = ("html", "md", "docx")


def write_document(folder: OutputFolder, doc: Document, results: dict, *,
                   formats=("html", "md"), style: str = "apa", rounded: bool = False) -> Path:
    """Write a report folder from its document: ``report.html``/``report.md``/``report.docx``
    as asked, every table as CSV (``tables/{key}.csv``), every figure as PNG and SVG
    (``figures/``) and ``results.json``; committed atomically (see :mod:`output_files`).

    ``rounded``: the tables as the reader sees them, rounded and labelled
    (:func:`semcluster.output.manuscript.write_tables`: a CSV per table and ``tables/tables.xlsx``),
    their raw numbers in ``results.json`` under ``tables``; otherwise (the study's report) raw
    CSVs as before."""
    doc.number_items()
    if rounded:
        from .manuscript import table_files

        for name, data in table_files(doc, ("csv", "xlsx")).items():
            folder.add_bytes(name, data)
        results = {**results, "tables": {t.key: {"title": t.title, "number": t.number,
                                                 "rows": t.frame.astype(object).where(
                                                     t.frame.notna(), None).to_dict("records")}
                                         for t in doc.tables()}}
    else:
        for t in doc.tables():
            folder.add_csv(f"tables/{t.key}.csv", tables.tidy(t.frame), index=False)
    for f in doc.figures():
        folder.add_figure(f"figures/{f.key}.png", f.figure, dpi=150)
        folder.add_figure(f"figures/{f.key}.svg", f.figure)
    if "html" in formats:
        folder.add_text("report.html", document_html(doc, style))
    if "md" in formats:
        folder.add_text("report.md", document_markdown(doc, style))
    if "docx" in formats:
        folder.add_bytes("report.docx", _docx_bytes(doc, style))
    folder.add_text("results.json", json.dumps(results, indent=2, default=_json_default,
                                               ensure_ascii=False) + "\n")
    return folder.commit()


def _docx_bytes(doc: Document, style: str) -> bytes:
    """The Word document (:func:`semcluster.output.manuscript.docx_bytes`), added to the report
    folder through its atomic commit like every other file."""
    from .manuscript import docx_bytes

    return docx_bytes(doc, style=style)


def _json_default(o):
    if isinstance(o, (np.floating,)):
        return None if not np.isfinite(o) else float(o)
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.bool_,)):
        return bool(o)
    if isinstance(o, float) and not np.isfinite(o):
        return None
    return str(o)
