"""The report's section on clustered data (firms in industrial parks, regions, platforms).

:func:`cluster_section` fits what the section shows and returns a
:class:`semcluster.result.document.Section`; :func:`section_from_results` builds the same section from
results already fitted (the report builder's road when it has them). The section holds

* the cluster summary: the cluster column, number of clusters, firms, cluster sizes (min,
  median, max, mean) of the rows used;
* per item ICC(1) and design effect 1 + (m̄ − 1)·ICC (:mod:`semcluster.data.clusters`) with the
  warning rule (design effect above :data:`semcluster.data.clusters.DEFF_LIMIT` = 2, Muthén &
  Satorra 1995), each item flagged, and the warning paragraph when any item is;
* for a single-level model: the model fitted by ML treating the firms as independent beside the
  cluster-robust MLR fit (lavaan's ``sem(..., cluster =, estimator = "MLR")``): estimate, naive
  and cluster-robust SE, their ratio and both p-values per path, and both χ² tests;
* for a model with ``level:`` blocks: the two-level ML results (lavaan's two-level
  ``sem(..., cluster =)``), one sub-section per level, with the fit measures (SRMR within and
  between).

Every number in the tables is taken from the results as they are (no rounding here: the
document's writers round). Titles and notes in English or Chinese (``lang``).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..data.clusters import DEFF_LIMIT, ClusterSummary
from ..result.document import Column, Paragraph, Section, Table
from ..errors import OptionError

__all__ = ["cluster_section", "section_from_results", "TEXT"]

#: Titles, headers and notes of the section, per language.
TEXT = {
    "en": {
        "title": "Firms in clusters",
        "sizes": "Clusters and their sizes",
        "icc": "Intraclass correlation ICC(1) and design effect per item",
        "compare": "Paths: firms treated as independent (ML) vs cluster-robust (MLR)",
        "twolevel": "Two-level model",
        "level1": "Level 1 (within clusters)",
        "level2": "Level 2 (between clusters)",
        "fit2": "Fit of the two-level model",
        "column": "Cluster column", "clusters": "Clusters", "firms": "Firms",
        "min": "Min size", "median": "Median size", "max": "Max size", "mean": "Mean size",
        "item": "Item", "deff": "Design effect", "flag": "Above 2",
        "path": "Path", "est": "Estimate", "se_ml": "SE (ML)", "se_rob": "SE (cluster-robust)",
        "ratio": "SE ratio", "p_ml": "p (ML)", "p_rob": "p (cluster-robust)",
        "param": "Parameter", "se": "SE", "p": "p", "std": "Std. all",
        "measure": "Measure", "value": "Value", "yes": "yes", "no": "no",
        "icc_note": ("ICC(1): one-way ANOVA estimator for unbalanced clusters; design effect "
                     "1 + (m̄ − 1)·ICC(1) with m̄ the mean cluster size (Kish 1965). Rule: a "
                     "design effect above {limit:g} makes a single-level analysis doubtful "
                     "(Muthén & Satorra 1995)."),
        "no_flag": ("No item's design effect exceeds {limit:g} (Muthén & Satorra 1995): by "
                    "this rule a single-level analysis is not in doubt."),
        "compare_note": ("Same ML estimates; the cluster-robust SEs come from a sandwich whose "
                         "meat sums the firms' scores within each cluster (lavaan's cluster = "
                         "with MLR). SE ratio = cluster-robust SE / ML SE."),
        "chisq": ("χ² treating the firms as independent: {chisq:.2f} on {df:.0f} df; "
                  "Yuan–Bentler scaled χ² with clusters: {scaled:.2f} (scaling factor "
                  "{factor:.3f})."),
        "twolevel_note": ("Two-level ML as lavaan's sem(..., cluster =) with level: blocks; "
                          "observed-information standard errors."),
    },
    "zh": {
        "title": "集群中的企业",
        "sizes": "集群及其规模",
        "icc": "各题项的组内相关系数 ICC(1) 与设计效应",
        "compare": "路径：视企业为独立（ML）与聚类稳健（MLR）",
        "twolevel": "两水平模型",
        "level1": "水平 1（集群内）",
        "level2": "水平 2（集群间）",
        "fit2": "两水平模型的拟合",
        "column": "聚类列", "clusters": "集群数", "firms": "企业数",
        "min": "最小规模", "median": "规模中位数", "max": "最大规模", "mean": "平均规模",
        "item": "题项", "deff": "设计效应", "flag": "大于 2",
        "path": "路径", "est": "估计值", "se_ml": "SE（ML）", "se_rob": "SE（聚类稳健）",
        "ratio": "SE 之比", "p_ml": "p（ML）", "p_rob": "p（聚类稳健）",
        "param": "参数", "se": "SE", "p": "p", "std": "完全标准化",
        "measure": "指标", "value": "数值", "yes": "是", "no": "否",
        "icc_note": ("ICC(1)：非平衡集群的单因素方差分析估计；设计效应 1 + (m̄ − 1)·ICC(1)，"
                     "m̄ 为平均集群规模（Kish 1965）。规则：设计效应大于 {limit:g} 时单层分析"
                     "值得怀疑（Muthén & Satorra 1995）。"),
        "no_flag": ("没有题项的设计效应大于 {limit:g}（Muthén & Satorra 1995）：按此规则，"
                    "单层分析没有疑问。"),
        "compare_note": ("ML 估计值相同；聚类稳健 SE 来自三明治估计，其中间部分先在每个集群内"
                         "对企业的得分求和（lavaan 的 cluster =，MLR）。SE 之比 = 聚类稳健 SE / "
                         "ML SE。"),
        "chisq": ("视企业为独立的 χ²：{chisq:.2f}，自由度 {df:.0f}；考虑集群的 Yuan–Bentler "
                  "校正 χ²：{scaled:.2f}（校正因子 {factor:.3f}）。"),
        "twolevel_note": ("两水平 ML，与 lavaan 含 level: 块的 sem(..., cluster =) 相同；"
                          "标准误基于观测信息矩阵。"),
    },
}

_MEASURES = ("chisq", "df", "pvalue", "cfi", "tli", "rmsea", "srmr_within", "srmr_between",
             "logl")


def _text(lang: str) -> dict:
    if lang not in TEXT:
        raise OptionError(f"lang='{lang}' is not known; use 'en' or 'zh'")
    return TEXT[lang]


def cluster_section(model, data=None, *, cluster: str | None = None, options=None,
                    lang: str = "en") -> Section:
    """The clustered-data section for ``model`` fitted to ``data`` with its cluster column.

    A single-level model is fitted twice: ML on the prepared rows without the cluster column
    (firms treated as independent) and cluster-robust MLR (``fit(..., cluster=,
    estimator="MLR")``). A model with ``level:`` blocks is fitted by two-level ML.

    Parameters
    ----------
    model : model name, file or text (as :func:`semcluster.fit`)
    data : path, DataFrame or None
    cluster : str, optional
        The cluster column; default ``options.cluster`` (``--cluster`` or the ``cluster:`` key of
        the ``--map`` description).
    options : semcluster.data.survey.DataOptions, optional
    lang : {"en", "zh"}

    Raises
    ------
    OptionError
        No cluster column, or an unknown ``lang``.
    """
    from dataclasses import replace

    from ..data.survey import DataOptions, read_survey
    from ..fitting import fit
    from ..spec.parser import read_model

    _text(lang)
    opts = options if options is not None else DataOptions()
    cluster = cluster if cluster is not None else opts.cluster
    if cluster is None:
        raise OptionError("the clustered-data section needs a cluster column (--cluster, or "
                          "cluster: in the --map file)")
    opts = replace(opts, cluster=cluster)
    spec = read_model(model)
    if spec.is_twolevel:
        two = fit(spec, data, options=opts)
        return section_from_results(two.data_report.clusters, twolevel=two, lang=lang)
    robust = fit(spec, data, options=opts, estimator="MLR")
    X, _ = read_survey(data, opts, variables=spec.observed, n_free=spec.n_free,
                       latent=spec.latent, warn=False)
    rows = X[list(spec.observed)]            # the same rows, prepared: not recoded again
    naive = fit(spec, rows, estimator="ML", missing=robust.missing)
    return section_from_results(robust.data_report.clusters, naive=naive, robust=robust,
                                lang=lang)


def section_from_results(summary: ClusterSummary, *, naive=None, robust=None, twolevel=None,
                         lang: str = "en") -> Section:
    """The section from a :class:`~semcluster.data.clusters.ClusterSummary` and fitted results:
    ``naive`` (single-level ML) with ``robust`` (``cluster=`` MLR), and/or ``twolevel`` (a
    model with ``level:`` blocks)."""
    t = _text(lang)
    sec = Section("clusters", t["title"])
    sec.add(Table("cluster_sizes", t["sizes"], sizes_frame(summary), columns=[
        Column("column", t["column"], "text"), Column("clusters", t["clusters"], "count"),
        Column("firms", t["firms"], "count"), Column("min", t["min"], "count"),
        Column("median", t["median"], "number", 1), Column("max", t["max"], "count"),
        Column("mean", t["mean"], "number", 1)]))
    icc = icc_frame(summary)
    icc["flag"] = np.where(icc["deff_above_limit"], t["yes"], t["no"])
    sec.add(Table("cluster_icc", t["icc"], icc, columns=[
        Column("item", t["item"], "text"), Column("icc", "ICC(1)", "bounded", 3),
        Column("deff", t["deff"], "number", 2), Column("flag", t["flag"], "text")],
        note=t["icc_note"].format(limit=DEFF_LIMIT)))
    warning = summary.warning()
    sec.add(Paragraph(warning, "warning") if warning else
            Paragraph(t["no_flag"].format(limit=DEFF_LIMIT), "note"))
    if (naive is None) != (robust is None):
        raise OptionError("the single-level comparison needs both fits: naive ML and "
                          "cluster-robust MLR")
    if naive is not None:
        sec.add(Table("cluster_se", t["compare"], comparison_frame(naive, robust), columns=[
            Column("path", t["path"], "text"), Column("est", t["est"], "number", 3),
            Column("se_ml", t["se_ml"], "number", 3), Column("se_robust", t["se_rob"],
                                                              "number", 3),
            Column("se_ratio", t["ratio"], "number", 2), Column("p_ml", t["p_ml"], "p"),
            Column("p_robust", t["p_rob"], "p")], note=t["compare_note"]))
        fn, fr = naive.fit_measures, robust.fit_measures
        sec.add(Paragraph(t["chisq"].format(chisq=fn["chisq"], df=fn["df"],
                                            scaled=fr["chisq_scaled"],
                                            factor=fr["chisq_scaling_factor"])))
    if twolevel is not None:
        sub = sec.add(Section("clusters_twolevel", t["twolevel"],
                              [Paragraph(t["twolevel_note"], "note")]))
        for level, key in ((1, "level1"), (2, "level2")):
            sub.add(Table(f"twolevel_level{level}", t[key], level_frame(twolevel, level),
                          columns=[Column("parameter", t["param"], "text"),
                                   Column("est", t["est"], "number", 3),
                                   Column("se", t["se"], "number", 3),
                                   Column("pvalue", t["p"], "p"),
                                   Column("std_all", t["std"], "bounded", 3)]))
        fm = twolevel.fit_measures
        fit2 = pd.DataFrame({"measure": [m for m in _MEASURES if m in fm.index],
                             "value": [float(fm[m]) for m in _MEASURES if m in fm.index]})
        sub.add(Table("twolevel_fit", t["fit2"], fit2, columns=[
            Column("measure", t["measure"], "text"), Column("value", t["value"], "number", 3)]))
    return sec


def sizes_frame(summary: ClusterSummary) -> pd.DataFrame:
    """One row: the cluster column, number of clusters and firms, sizes min/median/max/mean."""
    lo, med, hi = summary.size_range
    return pd.DataFrame([{"column": summary.column, "clusters": summary.n_clusters,
                          "firms": int(sum(summary.sizes.values())), "min": int(lo),
                          "median": med, "max": int(hi), "mean": summary.mean_size}])


def icc_frame(summary: ClusterSummary) -> pd.DataFrame:
    """Per item ICC(1), design effect and whether it exceeds the warning limit."""
    items = list(summary.icc)
    deff = np.array([summary.deff[k] for k in items], dtype=float)
    return pd.DataFrame({"item": items, "icc": [float(summary.icc[k]) for k in items],
                         "deff": deff,
                         "deff_above_limit": [k in summary.doubtful for k in items]})


def comparison_frame(naive, robust) -> pd.DataFrame:
    """Per structural path: estimate, naive ML SE, cluster-robust SE, their ratio, p-values."""
    a, b = naive.paths(), robust.paths()
    m = a.merge(b, on=["lhs", "op", "rhs"], suffixes=("_ml", "_robust"), validate="1:1")
    if len(m) != len(a) or len(m) != len(b):
        raise OptionError("the naive and cluster-robust fits are not of the same model")
    return pd.DataFrame({"path": (m.lhs + " ~ " + m.rhs).to_numpy(),
                         "est": m["est_robust"].to_numpy(), "est_ml": m["est_ml"].to_numpy(),
                         "se_ml": m["se_ml"].to_numpy(),
                         "se_robust": m["se_robust"].to_numpy(),
                         "se_ratio": (m["se_robust"] / m["se_ml"]).to_numpy(),
                         "p_ml": m["pvalue_ml"].to_numpy(),
                         "p_robust": m["pvalue_robust"].to_numpy()})


def level_frame(res, level: int) -> pd.DataFrame:
    """The free and fixed parameters of one level of a two-level result (no intercepts)."""
    e = res.estimates
    e = e[(e["level"].astype(int) == level) & e.op.isin(["=~", "~", "~~"])]
    return pd.DataFrame({"parameter": (e.lhs + " " + e.op + " " + e.rhs).to_numpy(),
                         "lhs": e.lhs.to_numpy(), "op": e.op.to_numpy(),
                         "rhs": e.rhs.to_numpy(), "est": e.est.to_numpy(),
                         "se": e.se.to_numpy(), "pvalue": e.pvalue.to_numpy(),
                         "std_all": e.std_all.to_numpy() if "std_all" in e else np.nan})
