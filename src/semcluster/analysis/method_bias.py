"""Common-method bias: the checks reviewers of single-source surveys ask for.

Three checks, each with its rule of thumb, the source of that rule and its weakness:

**Harman's single-factor test** (:func:`harman`).  All items of the model go into one unrotated
principal-component analysis of their correlation matrix (what SPSS users run as "Analyze →
Dimension reduction → Factor, extraction: principal components, no rotation", and R's
``prcomp(scale. = TRUE)`` / ``psych::principal(nfactors = 1, rotate = "none")``).  The share of
the total variance taken by the first component is λ₁ / p (λ₁ the largest eigenvalue of the
p × p correlation matrix).  Podsakoff, MacKenzie, Lee & Podsakoff (2003, p. 889) describe the
test's assumption: with substantial method variance *either a single factor emerges, or one
general factor accounts for the majority of the covariance* among the measures; "the majority"
is read in the applied literature as a share above 50 %.  The same authors call the test
insensitive (a share below 50 % does not show that method variance is absent) and Podsakoff,
MacKenzie & Podsakoff (2012) advise against relying on it.  The number of eigenvalues above 1
(Kaiser's rule) is reported beside it: one such eigenvalue is the "single factor emerges" case.

**One-factor CFA** (:func:`method_factor_check`).  One factor behind every item against the
user's measurement model (the constructs as factors, freely correlated): the χ² difference of
the nested pair and CFI, TLI, RMSEA, SRMR of both.  A one-factor model that fits about as well
as the trait model means the constructs are not distinct, whatever the cause.

**Unmeasured latent method construct (ULMC)**.  The user's measurement model plus one method
factor loading on every item and uncorrelated with the traits (Williams, Cote & Buckley 1989;
Podsakoff et al. 2003, Table 4 and Figure 3A); its variance is fixed at 1 and all its loadings
are free.  It is compared with the trait model: Δχ² (nested: the method loadings set to zero)
and the changes of CFI, TLI (increase) and RMSEA, SRMR (decrease).  The rule of thumb of the
applied literature — mainly Chinese management and psychology journals, where it is often
attributed to Wen, Huang & Tang (温忠麟, 黄彬彬, 汤丹丹 2018, 心理科学 41(1), 204–210; that
attribution was not checked against the paper here) — reads a rise of CFI or TLI by more than
.10, or a fall of RMSEA or SRMR by more than .05, as a sign of serious method bias; it is a
convention, not a result of a simulation study.  Caveats, stated in every
report: the method factor is identified only with at least two traits and is often near
empirical under-identification (loadings that do not converge, negative variances); it takes up
any variance shared by all items, substantive variance too (a general factor behind the
constructs looks like method variance); and the Δχ² test rejects for small, unimportant method
effects in large samples.

Functions take a DataFrame (or a file) and return result objects with ``tables(lang=...)``
(:class:`semcluster.result.document.Table`, raw numbers with column kinds, for the report and the Word
writer) and ``to_dict()`` (JSON-ready, raw numbers).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..errors import DataError, OptionError
from ..result.protocol import ResultProtocol

__all__ = ["harman", "method_factor_check", "HarmanResult", "MethodBiasResult", "THRESHOLDS",
           "SOURCES", "CAVEATS", "measurement_part", "one_factor_text", "ulmc_text"]

_CONVENTION = ("convention of the applied literature, often attributed to Wen, Huang & Tang "
               "(2018)")

#: Rules of thumb: (value, source).
THRESHOLDS = {
    "harman_share": (0.50, "Podsakoff, MacKenzie, Lee & Podsakoff (2003, p. 889): one general "
                           "factor accounting for the majority of the covariance"),
    "eigenvalue": (1.0, "Kaiser (1960): components with eigenvalues above 1"),
    "delta_cfi": (0.10, _CONVENTION),
    "delta_tli": (0.10, _CONVENTION),
    "delta_rmsea": (0.05, _CONVENTION),
    "delta_srmr": (0.05, _CONVENTION),
}

SOURCES = {
    "podsakoff2003": "Podsakoff, P. M., MacKenzie, S. B., Lee, J.-Y., & Podsakoff, N. P. (2003). "
                     "Common method biases in behavioral research: A critical review of the "
                     "literature and recommended remedies. Journal of Applied Psychology, 88(5), "
                     "879-903.",
    "podsakoff2012": "Podsakoff, P. M., MacKenzie, S. B., & Podsakoff, N. P. (2012). Sources of "
                     "method bias in social science research and recommendations on how to "
                     "control it. Annual Review of Psychology, 63, 539-569.",
    "williams1989": "Williams, L. J., Cote, J. A., & Buckley, M. R. (1989). Lack of method "
                    "variance in self-reported affect and perceptions at work: Reality or "
                    "artifact? Journal of Applied Psychology, 74(3), 462-468.",
    "wen2018": "温忠麟, 黄彬彬, 汤丹丹 (2018). 问卷数据建模前传. 心理科学, 41(1), 204-210.",
}

CAVEATS = {
    "en": [
        "Harman's test is insensitive: a first component below 50 % does not show that method "
        "variance is absent (Podsakoff et al. 2003, 2012).",
        "The method factor takes up any variance shared by all items, substantive variance "
        "too; a general construct behind the traits looks like method variance.",
        "The method-factor model is identified only with two or more traits and is often close "
        "to empirical under-identification; check that it converged and is admissible.",
        "The chi-square difference rejects small, unimportant method effects in large samples; "
        "the changes of the fit indices are read against the .10/.05 convention, which is a "
        "rule of thumb, not a test.",
    ],
    "zh": [
        "Harman 单因子检验不敏感：第一个主成分解释的方差低于 50% 并不说明不存在共同方法变异"
        "（Podsakoff et al., 2003, 2012）。",
        "方法因子会吸收所有题目共有的变异，其中也包括实质性变异；构念背后的一般因子看起来就像方法变异。",
        "方法因子模型至少需要两个特质因子才能识别，且常接近经验性不可识别；请检查其是否收敛、解是否可接受。",
        "大样本中卡方差异检验对很小的方法效应也会显著；拟合指数变化按 .10/.05 的经验规则判断，这是经验法则而非检验。",
    ],
}

METHOD_FACTOR = "CMV"
#: start values of the method loadings, in item standard deviations, tried besides the default
ULMC_STARTS = (0.1, 0.5)

_HEADERS = {
    "en": {"n": "N", "items": "Items", "eigenvalue": "First eigenvalue",
           "share": "Variance explained (%)", "n_above_one": "Eigenvalues > 1",
           "verdict": "Verdict", "model": "Model", "chisq": "χ²", "df": "df", "pvalue": "p",
           "cfi": "CFI", "tli": "TLI", "rmsea": "RMSEA", "srmr": "SRMR",
           "chisq_diff": "Δχ²", "df_diff": "Δdf", "p_diff": "p (Δχ²)", "index": "Index",
           "delta": "Change", "threshold": "Threshold", "item": "Item", "trait": "Trait",
           "trait_only": "Trait loading (trait model)", "trait_ulmc": "Trait loading (with CMV)",
           "method": "Method loading", "method_share": "Method variance share",
           "compared": "Compared with", "converged": "Converged", "admissible": "Admissible"},
    "zh": {"n": "样本量", "items": "题目数", "eigenvalue": "第一特征值",
           "share": "解释方差 (%)", "n_above_one": "特征值 > 1 的个数", "verdict": "结论",
           "model": "模型", "chisq": "χ²", "df": "df", "pvalue": "p", "cfi": "CFI",
           "tli": "TLI", "rmsea": "RMSEA", "srmr": "SRMR", "chisq_diff": "Δχ²",
           "df_diff": "Δdf", "p_diff": "p (Δχ²)", "index": "指标", "delta": "变化",
           "threshold": "临界值", "item": "题目", "trait": "特质因子",
           "trait_only": "特质载荷（特质模型）", "trait_ulmc": "特质载荷（含方法因子）",
           "method": "方法因子载荷", "method_share": "方法变异占比", "compared": "比较对象",
           "converged": "收敛", "admissible": "解可接受"},
}

_WORDS = {
    "en": {"one_factor": "One-factor model", "trait": "Measurement model (traits)",
           "ulmc": "Traits + method factor (ULMC)", "yes": "yes", "no": "no",
           "dominates": "one factor dominates (> 50 %)",
           "not_dominant": "no single dominant factor (≤ 50 %)",
           "single": "a single component has an eigenvalue > 1",
           "exceeds": "exceeds", "within": "within", "n/a": "not available"},
    "zh": {"one_factor": "单因子模型", "trait": "测量模型（特质）",
           "ulmc": "特质 + 方法因子（ULMC）", "yes": "是", "no": "否",
           "dominates": "单一因子占主导（> 50%）", "not_dominant": "无单一主导因子（≤ 50%）",
           "single": "仅一个成分的特征值 > 1", "exceeds": "超过", "within": "未超过",
           "n/a": "不可用"},
}


def _lang(lang: str) -> str:
    if lang not in _HEADERS:
        raise OptionError(f"language '{lang}' is not available; use en or zh")
    return lang


# ---------------------------------------------------------------------------------------------
# Harman's single-factor test
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class HarmanResult(ResultProtocol):
    """Harman's single-factor test: the unrotated principal components of the items.

    ``share`` is the first component's share of the total variance (λ₁ / p of the correlation
    matrix, a proportion); ``eigenvalues`` all p eigenvalues, largest first; ``n`` the complete
    rows used (listwise, as SPSS's default); ``n_dropped`` the rows left out for a missing
    answer.
    """

    items: tuple
    eigenvalues: np.ndarray
    n: int
    n_dropped: int = 0
    threshold: float = THRESHOLDS["harman_share"][0]

    @property
    def share(self) -> float:
        return float(self.eigenvalues[0] / self.eigenvalues.sum())

    @property
    def n_above_one(self) -> int:
        return int(np.sum(self.eigenvalues > THRESHOLDS["eigenvalue"][0]))

    @property
    def dominant(self) -> bool:
        """Whether the first component takes more than the threshold (50 %) of the variance."""
        return bool(self.share > self.threshold)

    @property
    def single_factor(self) -> bool:
        """Whether only one eigenvalue exceeds 1 (a single factor 'emerges')."""
        return self.n_above_one == 1

    def to_frame(self) -> pd.DataFrame:
        """The eigenvalues of the unrotated components with their share of the variance."""
        ev = np.asarray(self.eigenvalues, dtype=float)
        return pd.DataFrame({"component": np.arange(1, len(ev) + 1), "eigenvalue": ev,
                             "share": ev / ev.sum()})

    def verdict(self, lang: str = "en") -> str:
        w = _WORDS[_lang(lang)]
        text = w["dominates"] if self.dominant else w["not_dominant"]
        if self.single_factor:
            text += ("; " if lang == "en" else "；") + w["single"]
        return text

    def table(self, lang: str = "en"):
        from ..result.document import Column, Table

        h = _HEADERS[_lang(lang)]
        frame = pd.DataFrame([{"n": self.n, "items": len(self.items),
                               "eigenvalue": float(self.eigenvalues[0]),
                               "share": 100.0 * self.share, "n_above_one": self.n_above_one,
                               "verdict": self.verdict(lang)}])
        cols = [Column("n", h["n"], "count"), Column("items", h["items"], "count"),
                Column("eigenvalue", h["eigenvalue"], "number", 2),
                Column("share", h["share"], "number", 1),
                Column("n_above_one", h["n_above_one"], "count"),
                Column("verdict", h["verdict"], "text")]
        if lang == "zh":
            title = "Harman 单因子检验（未旋转主成分分析）"
            note = ("第一个主成分解释的方差占总方差的比例（相关矩阵的 λ₁/p）。经验规则：超过 50% "
                    "表示存在严重的共同方法偏差（Podsakoff et al., 2003, p. 889）；该检验不敏感，"
                    "低于 50% 并不能排除共同方法偏差（Podsakoff et al., 2012）。")
        else:
            title = "Harman's single-factor test (unrotated principal components)"
            note = ("Share of the total variance of the first unrotated principal component "
                    "(λ₁/p of the correlation matrix). Rule of thumb: above 50 % indicates "
                    "serious common-method bias (Podsakoff et al., 2003, p. 889); the test is "
                    "insensitive, a share below 50 % does not rule method bias out (Podsakoff "
                    "et al., 2012).")
        if self.n_dropped:
            note += (f" {self.n_dropped} row(s) with a missing answer left out (listwise)."
                     if lang == "en" else f" 因缺失作答剔除 {self.n_dropped} 行（列删）。")
        return Table(key="harman", title=title, frame=frame, columns=cols, note=note)

    def tables(self, lang: str = "en") -> list:
        return [self.table(lang)]

    def to_dict(self) -> dict:
        return {"items": list(self.items), "n": self.n, "n_dropped": self.n_dropped,
                "eigenvalues": [float(v) for v in self.eigenvalues],
                "first_eigenvalue": float(self.eigenvalues[0]), "share": self.share,
                "n_above_one": self.n_above_one, "threshold": self.threshold,
                "dominant": self.dominant, "single_factor": self.single_factor,
                "source": THRESHOLDS["harman_share"][1]}


def _items_of(items) -> list[str]:
    """Item names from a list, or the indicators of a model (name, file, text, ModelSpec)."""
    from ..spec.parser import ModelSpec, read_model

    if isinstance(items, (list, tuple, pd.Index)):
        out = [str(i) for i in items]
    elif isinstance(items, (str, ModelSpec)) or hasattr(items, "__fspath__"):
        spec = read_model(items)
        lat = set(spec.latent)
        pt = spec.partable
        out = [v for v in dict.fromkeys(pt.loc[pt.op == "=~", "rhs"]) if v not in lat]
    else:
        raise OptionError(f"items must be a list of column names or a model; got "
                          f"{type(items).__name__}")
    if len(set(out)) != len(out):
        raise OptionError("an item is named twice in the list of items")
    if len(out) < 2:
        raise OptionError(f"Harman's test needs at least two items; got {len(out)}")
    return out


def _read(data, items, options=None):
    from ..data.survey import DataOptions, read_survey

    X, report = read_survey(data, options or DataOptions(), variables=items, warn=False)
    return X, report


def harman(data, items, *, options=None) -> HarmanResult:
    """Harman's single-factor test on ``items`` of ``data``.

    Parameters
    ----------
    data : DataFrame or path
        The survey (read by :func:`semcluster.data.survey.read_survey`; a frame it returned is used
        as it is).
    items : list of str, or a model
        The items; a model (bundled name, ``.lav`` file, text) gives its indicators.
    options : semcluster.data.survey.DataOptions, optional

    Returns
    -------
    HarmanResult
    """
    items = _items_of(items)
    X, _ = _read(data, items, options)
    Y = X[items].apply(pd.to_numeric, errors="coerce")
    complete = Y.dropna()
    n_dropped = len(Y) - len(complete)
    if len(complete) < 3:
        raise DataError(f"Harman's test needs at least 3 rows that answer every item; "
                        f"{len(complete)} do")
    sd = complete.std(ddof=1)
    flat = [c for c in items if not np.isfinite(sd[c]) or sd[c] == 0]
    if flat:
        raise DataError(f"item(s) {', '.join(flat)} have the same answer in every complete row "
                        f"(no variance): leave them out of Harman's test")
    R = np.corrcoef(complete.to_numpy(dtype=float), rowvar=False)
    ev = np.sort(np.linalg.eigvalsh(R))[::-1]
    return HarmanResult(items=tuple(items), eigenvalues=ev, n=len(complete),
                        n_dropped=int(n_dropped))


# ---------------------------------------------------------------------------------------------
# the models
# ---------------------------------------------------------------------------------------------
def _term(r) -> str:
    if r["free"] == 0 and pd.notna(r["fixed"]):
        mod = f"{float(r['fixed']):.17g}*"
    elif r.get("na_freed", False):
        mod = "NA*"
    else:
        mod = ""
    if r["label"]:
        mod += f"{r['label']}*"
    return f"{mod}{r['rhs']}"


def measurement_part(model) -> tuple[str, dict]:
    """The measurement model of ``model``: its first-order factors with their items (as
    written: fixed loadings, NA*, labels), every pair of factors freely correlated, and the
    residual covariances between items the model declares.  Second-order factors and
    structural paths are replaced by the free correlations (the saturated structural part).

    Returns (lavaan text, {factor: [items]}).
    """
    from ..spec.parser import read_model

    spec = read_model(model)
    lat = set(spec.latent)
    pt = spec.partable
    meas = pt[(pt.op == "=~") & ~pt.rhs.isin(lat) & (pt.user == 1)]
    factors: dict = {}
    lines = []
    for f, grp in meas.groupby("lhs", sort=False):
        factors[f] = list(grp.rhs)
        lines.append(f"{f} =~ " + " + ".join(_term(r) for _, r in grp.iterrows()))
    if not factors:
        raise OptionError(f"model '{spec.name}' has no factor measured by items; the "
                          f"method-bias checks need a measurement model")
    names = list(factors)
    for i, a in enumerate(names[:-1]):
        lines.append(f"{a} ~~ " + " + ".join(names[i + 1:]))
    items = {i for v in factors.values() for i in v}
    res = pt[(pt.op == "~~") & (pt.user == 1) & pt.lhs.isin(items) & pt.rhs.isin(items)
             & (pt.lhs != pt.rhs)]
    for _, r in res.iterrows():
        lines.append(f"{r.lhs} ~~ {_term(r)}")
    # a factor's variance the user fixed or labelled (its scale when the marker is freed)
    var = pt[(pt.op == "~~") & (pt.user == 1) & pt.lhs.isin(names) & (pt.lhs == pt.rhs)]
    for _, r in var.iterrows():
        lines.append(f"{r.lhs} ~~ {_term(r)}")
    return "\n".join(lines) + "\n", factors


def _all_items(factors: dict) -> list[str]:
    return list(dict.fromkeys(i for v in factors.values() for i in v))


def _free_name(base: str, taken) -> str:
    name, k = base, 1
    while name in taken:
        k += 1
        name = f"{base}{k}"
    return name


def one_factor_text(factors: dict, residual_lines: list[str] = ()) -> str:
    """One factor behind every item (marker: the first item's loading fixed at 1)."""
    g = _free_name("G", set(factors) | set(_all_items(factors)))
    return f"{g} =~ " + " + ".join(_all_items(factors)) + "\n" + \
        "".join(line + "\n" for line in residual_lines)


def ulmc_text(trait_text: str, factors: dict, method: str = METHOD_FACTOR,
              starts: dict | None = None) -> str:
    """The trait model plus a method factor on every item, variance 1, all loadings free,
    uncorrelated with every trait (``starts``: start values of the method loadings)."""
    items = _all_items(factors)

    def term(k, i):
        mod = "NA*" if k == 0 else ""
        if starts is not None:
            mod += f"start({starts[i]:.6g})*"
        return mod + i

    lines = [trait_text.rstrip("\n"),
             f"{method} =~ " + " + ".join(term(k, i) for k, i in enumerate(items)),
             f"{method} ~~ 1*{method}",
             f"{method} ~~ " + " + ".join(f"0*{f}" for f in factors)]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------------
# one-factor CFA and ULMC
# ---------------------------------------------------------------------------------------------
_INDEX = ("cfi", "tli", "rmsea", "srmr")


def _index(fm: pd.Series, name: str, estimator: str) -> float:
    """A fit index as reported for the estimator: ML/GLS the plain one; MLR the robust one
    (lavaan's ``.robust``), WLSMV the scaled one, where the fit has them."""
    if name != "srmr" and estimator != "ML" and estimator != "GLS":
        for suffix in ("_robust", "_scaled"):
            v = fm.get(name + suffix)
            if v is not None and np.isfinite(v):
                return float(v)
    return float(fm.get(name, np.nan))


def _chisq(fm: pd.Series, estimator: str) -> float:
    if estimator not in ("ML", "GLS") and np.isfinite(fm.get("chisq_scaled", np.nan)):
        return float(fm["chisq_scaled"])
    return float(fm["chisq"])


@dataclass(frozen=True, eq=False)
class MethodBiasResult(ResultProtocol):
    """One-factor CFA and ULMC against the user's measurement model (and Harman's test).

    Attributes
    ----------
    harman : HarmanResult
    fits : DataFrame
        One row per model (index ``one_factor``, ``trait``, ``ulmc``): ``npar chisq df pvalue
        cfi tli rmsea srmr converged admissible``.
    tests : dict
        ``one_factor``: χ² difference of the one-factor against the trait model;
        ``ulmc``: of the trait model against the ULMC model (``chisq_diff df_diff pvalue test``).
    deltas : dict
        ULMC minus trait model, signed so that an improvement is positive: ``cfi tli`` (rise),
        ``rmsea srmr`` (fall).
    loadings : DataFrame
        Per item: ``item trait trait_only trait_ulmc method`` (standardized loadings).
    results : dict
        The three :class:`~semcluster.result.result.SEMResult` (``one_factor``, ``trait``, ``ulmc``).
    texts : dict
        The lavaan text of each model (the ULMC model's with the start values of the solution
        kept).
    ulmc_starts : list of dict
        The ULMC model fitted from each start (``start chisq converged admissible``); the
        solution kept is the admissible one with the lowest χ².
    """

    def to_frame(self) -> pd.DataFrame:
        """The fit of the one-factor, trait and method-factor models (a copy)."""
        return self.fits.copy()

    @property
    def local_optima(self) -> bool:
        """Whether the ULMC fits from different starts ended at different χ² (by more than
        .01): the method-factor model is then close to empirical under-identification."""
        c = [s["chisq"] for s in self.ulmc_starts if s["converged"]]
        return bool(len(c) > 1 and max(c) - min(c) > 0.01)

    harman: HarmanResult
    fits: pd.DataFrame
    tests: dict
    deltas: dict
    loadings: pd.DataFrame
    results: dict = field(default_factory=dict)
    texts: dict = field(default_factory=dict)
    ulmc_starts: list = field(default_factory=list)
    estimator: str = "ML"
    missing: str = "listwise"

    # -- verdicts ------------------------------------------------------------------------------
    @property
    def ulmc_usable(self) -> bool:
        """Whether the method-factor model converged to an admissible solution."""
        r = self.fits.loc["ulmc"]
        return bool(r["converged"]) and bool(r["admissible"])

    def delta_flags(self) -> dict:
        """Per index: whether its change exceeds the convention (None when the ULMC model is
        not usable)."""
        out = {}
        for k in ("cfi", "tli", "rmsea", "srmr"):
            d = self.deltas.get(k, np.nan)
            out[k] = None if not self.ulmc_usable or not np.isfinite(d) else \
                bool(d > THRESHOLDS[f"delta_{k}"][0])
        return out

    @property
    def bias_indicated(self) -> bool | None:
        """ULMC verdict: any of ΔCFI, ΔTLI > .10 or ΔRMSEA, ΔSRMR > .05 (None: the method-factor
        model did not give a usable solution)."""
        flags = self.delta_flags()
        if any(v is None for v in flags.values()):
            return None
        return any(flags.values())

    @property
    def method_variance_share(self) -> float:
        """Mean squared standardized method loading: the average share of an item's variance
        the method factor takes (Williams et al. 1989 report this figure)."""
        m = self.loadings["method"].to_numpy(dtype=float)
        return float(np.nanmean(m ** 2))

    @property
    def one_factor_worse(self) -> bool | None:
        """Whether the one-factor model fits significantly worse than the trait model (p < .05
        for the χ² difference; None when the difference could not be computed)."""
        p = self.tests["one_factor"]["pvalue"]
        return None if not np.isfinite(p) else bool(p < 0.05)

    # -- output --------------------------------------------------------------------------------
    def tables(self, lang: str = "en") -> list:
        """Harman's test, the fit of the three models, the ULMC changes with their thresholds,
        and the loadings with and without the method factor (:class:`document.Table`)."""
        from ..result.document import Column, Table

        lang = _lang(lang)
        h, w = _HEADERS[lang], _WORDS[lang]
        out = [self.harman.table(lang)]
        rows = []
        for key in ("one_factor", "trait", "ulmc"):
            f = self.fits.loc[key]
            t = self.tests.get(key)
            rows.append({"model": w[key], "chisq": f["chisq"], "df": f["df"],
                         "pvalue": f["pvalue"], "cfi": f["cfi"], "tli": f["tli"],
                         "rmsea": f["rmsea"], "srmr": f["srmr"],
                         "compared": "" if t is None else w["trait"],
                         "chisq_diff": np.nan if t is None else t["chisq_diff"],
                         "df_diff": np.nan if t is None else t["df_diff"],
                         "p_diff": np.nan if t is None else t["pvalue"],
                         "converged": w["yes"] if f["converged"] else w["no"],
                         "admissible": w["yes"] if f["admissible"] else w["no"]})
        cols = [Column("model", h["model"], "text"), Column("chisq", h["chisq"], "number", 2),
                Column("df", h["df"], "count"), Column("pvalue", h["pvalue"], "p"),
                Column("cfi", h["cfi"], "bounded", 3), Column("tli", h["tli"], "number", 3),
                Column("rmsea", h["rmsea"], "bounded", 3),
                Column("srmr", h["srmr"], "bounded", 3),
                Column("chisq_diff", h["chisq_diff"], "number", 2),
                Column("df_diff", h["df_diff"], "count"), Column("p_diff", h["p_diff"], "p")]
        if not all(self.fits["converged"]) or not all(self.fits["admissible"]):
            cols += [Column("converged", h["converged"], "text"),
                     Column("admissible", h["admissible"], "text")]
        test_name = "; ".join(dict.fromkeys(t["test"] for t in self.tests.values()))
        if lang == "zh":
            title = "单因子模型、测量模型与含方法因子模型的拟合比较"
            note = (f"Δχ² 与测量模型比较（{test_name}）；估计方法 {self.estimator}，缺失数据 "
                    f"{self.missing}。单因子模型：所有题目负荷于一个因子；方法因子模型：在测量模型上"
                    f"加一个负荷于全部题目、与特质因子不相关的方法因子（Williams et al., 1989; "
                    f"Podsakoff et al., 2003）。")
        else:
            title = "Fit of the one-factor, measurement and method-factor models"
            note = (f"Δχ² against the measurement model ({test_name}); estimator "
                    f"{self.estimator}, missing data {self.missing}. One-factor model: every "
                    f"item on one factor; method-factor model: the measurement model plus a "
                    f"factor loading on every item, uncorrelated with the traits (Williams et "
                    f"al., 1989; Podsakoff et al., 2003).")
        out.append(Table(key="method_bias_fit", title=title, frame=pd.DataFrame(rows),
                         columns=cols, note=note))
        flags = self.delta_flags()
        drows = []
        for k in ("cfi", "tli", "rmsea", "srmr"):
            flag = flags[k]
            drows.append({"index": ("Δ" + k.upper()), "delta": self.deltas.get(k, np.nan),
                          "threshold": THRESHOLDS[f"delta_{k}"][0],
                          "verdict": w["n/a"] if flag is None else
                          (w["exceeds"] if flag else w["within"])})
        dcols = [Column("index", h["index"], "text"), Column("delta", h["delta"], "bounded", 3),
                 Column("threshold", h["threshold"], "bounded", 2),
                 Column("verdict", h["verdict"], "text")]
        share = self.method_variance_share
        if lang == "zh":
            title = "加入方法因子后拟合指数的变化"
            verdict = {None: "方法因子模型未得到可接受的解，无法判断。",
                       True: "至少一项变化超过经验临界值：提示存在严重的共同方法偏差。",
                       False: "各项变化均未超过经验临界值：未发现严重的共同方法偏差。"}
            note = (f"CFI、TLI 的提高量与 RMSEA、SRMR 的降低量（正值表示加入方法因子后拟合改善）。"
                    f"经验规则：ΔCFI 或 ΔTLI > .10，或 ΔRMSEA 或 ΔSRMR > .05 表示存在严重的共同方法偏差"
                    f"（应用研究中的惯例，常引自温忠麟, 黄彬彬, 汤丹丹, 2018）。{verdict[self.bias_indicated]}"
                    f"方法因子平均解释题目方差的 {100 * share:.1f}%。" + "".join(CAVEATS["zh"][1:]))
        else:
            title = "Change of fit when the method factor is added"
            verdict = {None: "The method-factor model gave no admissible solution: no verdict.",
                       True: "At least one change exceeds its threshold: serious common-method "
                             "bias is indicated.",
                       False: "No change exceeds its threshold: no serious common-method bias "
                              "is indicated."}
            note = (f"Rise of CFI and TLI, fall of RMSEA and SRMR (positive: the method factor "
                    f"improves the fit). Convention: ΔCFI or ΔTLI > .10, or ΔRMSEA or ΔSRMR > .05 "
                    f"indicates serious common-method bias (a convention of the applied literature, "
                    f"often attributed to Wen, Huang & Tang, 2018). "
                    f"{verdict[self.bias_indicated]} The method factor takes on average "
                    f"{100 * share:.1f} % of an item's variance. " + " ".join(CAVEATS["en"][1:]))
        if self.local_optima:
            chis = ", ".join(f"{s['chisq']:.2f}" for s in self.ulmc_starts if s["converged"])
            note += (f" 从不同初值拟合方法因子模型得到不同的 χ²（{chis}）：模型接近经验性不可识别，"
                     f"报告的是可接受解中 χ² 最小者。" if lang == "zh" else
                     f" Fitted from different starts, the method-factor model ended at different "
                     f"χ² ({chis}): it is close to empirical under-identification; the "
                     f"admissible solution with the lowest χ² is reported.")
        out.append(Table(key="method_bias_ulmc", title=title, frame=pd.DataFrame(drows),
                         columns=dcols, note=note))
        lcols = [Column("item", h["item"], "text"), Column("trait", h["trait"], "text"),
                 Column("trait_only", h["trait_only"], "number", 2),
                 Column("trait_ulmc", h["trait_ulmc"], "number", 2),
                 Column("method", h["method"], "number", 2)]
        title = ("Standardized loadings with and without the method factor" if lang == "en"
                 else "含与不含方法因子时的标准化载荷")
        note = ("Standardized (std.all) loadings; a trait loading that falls markedly when the "
                "method factor is added shares much of its variance with every other item."
                if lang == "en" else
                "标准化（std.all）载荷；加入方法因子后明显下降的特质载荷，其变异与所有其他题目共享的部分较多。")
        out.append(Table(key="method_bias_loadings", title=title, frame=self.loadings.copy(),
                         columns=lcols, note=note))
        return out

    def text(self, lang: str = "en") -> str:
        """The findings in two or three sentences, for the report's running text."""
        lang = _lang(lang)
        h, f = self.harman, self.fits
        one, trait, ulmc = (f.loc[k] for k in ("one_factor", "trait", "ulmc"))
        t1 = self.tests["one_factor"]
        verdict = self.bias_indicated
        if lang == "zh":
            out = [f"Harman 单因子检验：第一个未旋转主成分解释了 {100 * h.share:.1f}% 的方差"
                   f"（{'高于' if h.dominant else '不高于'} 50%），{h.n_above_one} 个特征值大于 1。"]
            diff = ("卡方差异无法计算" if not np.isfinite(t1["pvalue"]) else
                    f"Δχ²({t1['df_diff']}) = {t1['chisq_diff']:.2f}，"
                    f"p {'< .001' if t1['pvalue'] < .001 else '= ' + format(t1['pvalue'], '.3f')}")
            out.append(f"单因子模型（CFI = {one['cfi']:.3f}）与测量模型（CFI = {trait['cfi']:.3f}）"
                       f"相比：{diff}。")
            out.append({None: "加入方法因子的模型未得到可接受的解，无法判断。",
                        True: f"加入方法因子后 CFI 提高 {self.deltas['cfi']:.3f}、RMSEA 降低 "
                              f"{self.deltas['rmsea']:.3f}，超过经验临界值，提示存在严重的共同方法偏差。",
                        False: f"加入方法因子后 CFI 提高 {self.deltas['cfi']:.3f}、RMSEA 降低 "
                               f"{self.deltas['rmsea']:.3f}，均未超过经验临界值，未发现严重的共同方法偏差。"
                        }[verdict])
            return "".join(out)
        out = [f"Harman's test: the first unrotated principal component explains "
               f"{100 * h.share:.1f} % of the variance ({'above' if h.dominant else 'not above'} "
               f"50 %); {h.n_above_one} eigenvalue(s) exceed 1."]
        diff = ("the chi-square difference could not be computed" if not
                np.isfinite(t1["pvalue"]) else
                f"Δχ²({t1['df_diff']}) = {t1['chisq_diff']:.2f}, "
                f"p {'< .001' if t1['pvalue'] < .001 else '= ' + format(t1['pvalue'], '.3f')}")
        out.append(f"The one-factor model (CFI = {one['cfi']:.3f}) against the measurement "
                   f"model (CFI = {trait['cfi']:.3f}): {diff}.")
        out.append({None: "The method-factor model gave no admissible solution: no verdict.",
                    True: f"Adding a method factor raises CFI by {self.deltas['cfi']:.3f} and "
                          f"lowers RMSEA by {self.deltas['rmsea']:.3f}, beyond the .10/.05 "
                          f"convention: serious common-method bias is indicated.",
                    False: f"Adding a method factor raises CFI by {self.deltas['cfi']:.3f} and "
                           f"lowers RMSEA by {self.deltas['rmsea']:.3f}, within the .10/.05 "
                           f"convention: no serious common-method bias is indicated."}[verdict])
        return " ".join(out)

    def section(self, lang: str = "en"):
        """The checks as a report section: the findings, the four tables, the caveats."""
        from ..result.document import Paragraph, Section

        lang = _lang(lang)
        sec = Section("method_bias", "共同方法偏差" if lang == "zh" else "Common-method bias")
        sec.add(Paragraph(self.text(lang)))
        for t in self.tables(lang):
            sec.add(t)
        for c in CAVEATS[lang]:
            sec.add(Paragraph(c, kind="note"))
        return sec

    def to_dict(self) -> dict:
        from ..result.protocol import clean

        fits = {k: {c: (bool(v) if c in ("converged", "admissible") else float(v))
                    for c, v in row.items()} for k, row in self.fits.iterrows()}
        return clean({
            "estimator": self.estimator, "missing": self.missing,
            "harman": self.harman.to_dict(), "fits": fits,
            "tests": {k: dict(v) for k, v in self.tests.items()},
            "deltas": dict(self.deltas), "delta_flags": self.delta_flags(),
            "bias_indicated": self.bias_indicated, "ulmc_usable": self.ulmc_usable,
            "one_factor_worse": self.one_factor_worse,
            "ulmc_starts": list(self.ulmc_starts), "local_optima": self.local_optima,
            "method_variance_share": self.method_variance_share,
            "thresholds": {k: {"value": v, "source": s} for k, (v, s) in THRESHOLDS.items()},
            "loadings": self.loadings.astype(object).where(self.loadings.notna(), None)
            .to_dict(orient="records"),
            "models": dict(self.texts), "caveats": CAVEATS["en"],
        })

    def summary(self, lang: str = "en") -> str:
        from ..result import tables as T

        parts = []
        for t in self.tables(lang):
            frame = t.frame[[c.name for c in t.columns]].rename(
                columns={c.name: c.title for c in t.columns})
            parts.append(f"{t.title}\n{T.to_text(frame, indent=2)}\n  {t.note}\n")
        return "\n".join(parts)


def method_factor_check(model, data=None, *, estimator: str = "ML", missing: str | None = None,
                        options=None) -> MethodBiasResult:
    """Harman's test, a one-factor CFA and an unmeasured latent method factor (ULMC) against
    the measurement model of ``model`` (see the module text for the rules and caveats).

    Parameters
    ----------
    model : bundled name, ``.lav`` file, model text or ModelSpec
        The user's model; its first-order factors and their items make the measurement model
        (structural paths and second-order factors become free factor correlations).
    data : DataFrame, path or None
        The survey (None: the bundled synthetic study data).
    estimator : ML (default), MLR, GLS or WLSMV
    missing : auto, listwise, fiml, pairwise (lavaan spellings accepted)
        As for :func:`semcluster.fit` (FIML where answers are missing, by default).
    options : semcluster.data.survey.DataOptions, optional

    Returns
    -------
    MethodBiasResult
    """
    from dataclasses import replace

    from ..data.survey import DataOptions, missing_rule, read_survey
    from ..fitting import fit
    from .model_comparison import chisq_difference
    from ..spec.parser import parse_model, read_model

    spec = read_model(model)
    if spec.has_group_modifiers or spec.has_means:
        raise OptionError("the method-bias checks take a single-group model without a mean "
                          "structure")
    trait_text, factors = measurement_part(spec)
    if len(factors) < 2:
        raise OptionError(f"the method-factor model needs at least two factors (traits): with "
                          f"one, the trait and the method factor both load on every item and "
                          f"cannot be told apart; '{spec.name}' has {len(factors)}")
    items = _all_items(factors)
    opts = options if options is not None else DataOptions()
    if missing is not None:
        opts = replace(opts, missing=missing_rule(missing))
    X, report = read_survey(data, opts, variables=items, warn=False)
    pt = read_model(trait_text).partable
    res_lines = [f"{r.lhs} ~~ {_term(r)}" for _, r in pt[(pt.op == "~~") & (pt.user == 1) &
                                                        pt.lhs.isin(items) & pt.rhs.isin(items) &
                                                        (pt.lhs != pt.rhs)].iterrows()]
    method = _free_name(METHOD_FACTOR, set(factors) | set(items))
    texts = {"one_factor": one_factor_text(factors, res_lines), "trait": trait_text,
             "ulmc": ulmc_text(trait_text, factors, method)}
    results = {}
    for key, text in texts.items():
        if key != "ulmc":
            results[key] = fit(parse_model(text, name=key, source=f"<{key}>"), X,
                               estimator=estimator, missing=missing, options=opts)
    # the ULMC likelihood often has several local optima: fitted from the default starts and
    # from method loadings started at .1 and .5 item SD; the lowest chi-square of the
    # admissible solutions is kept (of the converged ones when none is admissible)
    sd = X[items].apply(pd.to_numeric, errors="coerce").std()
    tries = [ulmc_text(trait_text, factors, method)] + [
        ulmc_text(trait_text, factors, method, starts={i: c * float(sd[i]) for i in items})
        for c in ULMC_STARTS]
    fitted = [fit(parse_model(t, name="ulmc", source="<ulmc>"), X, estimator=estimator,
                  missing=missing, options=opts) for t in tries]
    ulmc_starts = [{"start": s, "chisq": float(r.fit_measures["chisq"]),
                    "converged": bool(r.converged), "admissible": bool(r.admissible)}
                   for s, r in zip(["default", *[f"{c:g} SD" for c in ULMC_STARTS]], fitted)]
    pool = [k for k, r in enumerate(fitted) if r.converged and r.admissible] or \
        [k for k, r in enumerate(fitted) if r.converged] or [0]
    best = min(pool, key=lambda k: fitted[k].fit_measures["chisq"])
    results["ulmc"] = fitted[best]
    texts["ulmc"] = tries[best]
    est_used = results["trait"].estimator
    rows = {}
    for key, r in results.items():
        fm = r.fit_measures
        rows[key] = {"npar": float(fm["npar"]), "chisq": _chisq(fm, est_used),
                     "df": float(fm["df"]),
                     "pvalue": float(fm.get("pvalue_scaled", fm["pvalue"])
                                     if est_used not in ("ML", "GLS") else fm["pvalue"]),
                     **{k: _index(fm, k, est_used) for k in _INDEX},
                     "converged": bool(r.converged), "admissible": bool(r.admissible)}
    fits = pd.DataFrame.from_dict(rows, orient="index")
    tests = {"one_factor": _difference(chisq_difference, results["one_factor"],
                                       results["trait"]),
             "ulmc": _difference(chisq_difference, results["trait"], results["ulmc"])}
    tests = _usable_tests(tests, fits)
    f = fits
    deltas = {"cfi": f.at["ulmc", "cfi"] - f.at["trait", "cfi"],
              "tli": f.at["ulmc", "tli"] - f.at["trait", "tli"],
              "rmsea": f.at["trait", "rmsea"] - f.at["ulmc", "rmsea"],
              "srmr": f.at["trait", "srmr"] - f.at["ulmc", "srmr"]}
    deltas = {k: float(v) for k, v in deltas.items()}
    loadings = _loadings(results["trait"], results["ulmc"], factors, method)
    h = harman(X, items)
    return MethodBiasResult(harman=h, fits=fits, tests=tests, deltas=deltas,
                            loadings=loadings, results=results, texts=texts,
                            ulmc_starts=ulmc_starts,
                            estimator=est_used,
                            missing=getattr(results["trait"], "missing", "listwise"))


def _usable_tests(tests: dict, fits: pd.DataFrame) -> dict:
    """A difference test involving a model that did not converge to an admissible solution is
    not a test: its χ² difference and p are left out, with the reason."""
    pairs = {"one_factor": ("one_factor", "trait"), "ulmc": ("trait", "ulmc")}
    out = {}
    for key, t in tests.items():
        t = dict(t)
        bad = [m for m in pairs[key] if not (fits.at[m, "converged"] and
                                              fits.at[m, "admissible"])]
        if bad:
            t["test"] += (f" not computed: the {' and '.join(bad)} model did not converge to "
                          f"an admissible solution")
            t["chisq_diff"], t["pvalue"] = float("nan"), float("nan")
        out[key] = t
    return out


def _difference(test, restricted, full) -> dict:
    """The nested test; a scaled difference that comes out negative (the Satorra-Bentler 2001
    correction can, when the two scaling factors nearly cancel) is not a χ² value: reported as
    not computable, with the reason, instead of a negative number."""
    t = dict(test(restricted, full))
    if not np.isfinite(t["chisq_diff"]) or t["chisq_diff"] < 0:
        t["test"] += (" not computable: the scaled difference is negative (Satorra & Bentler "
                      "2010 give a strictly positive version)")
        t["chisq_diff"], t["pvalue"] = float("nan"), float("nan")
    return t


def _loadings(trait, ulmc, factors: dict, method: str) -> pd.DataFrame:
    def std(res, lhs, rhs):
        e = res.estimates
        m = e[(e.op == "=~") & (e.lhs == lhs) & (e.rhs == rhs)]
        return float(m["std_all"].iloc[0]) if len(m) else np.nan

    rows = []
    for f, its in factors.items():
        for i in its:
            rows.append({"item": i, "trait": f, "trait_only": std(trait, f, i),
                         "trait_ulmc": std(ulmc, f, i), "method": std(ulmc, method, i)})
    out = pd.DataFrame(rows)
    # the method factor's sign is arbitrary (variance 1, every loading free): shown so that
    # its loadings sum to a positive number
    if out["method"].sum() < 0:
        out["method"] = -out["method"]
    return out
