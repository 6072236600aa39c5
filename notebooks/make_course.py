"""Write the course "Regression vs SEM" in English and Chinese from this one file.

Run from the repository root:

    python notebooks/make_course.py            # write notebooks/en/*.ipynb and notebooks/zh/*.ipynb
                                                # and execute them (outputs are stored)
    python notebooks/make_course.py --no-execute   # write the cells only

Every markdown cell is written below as an (English, Chinese) pair, side by side.  Code is
written once; a string ``{{English||中文}}`` inside code is replaced by the side of the language
being written (plot labels, table headers, sentences printed with computed figures).  So the two
editions have the same code and the same figures, and differ only in their words.

The executed notebooks carry, in their metadata, a SHA-256 of their cell sources: the tests
check that the stored outputs were made from the code as it is now (tests/test_notebooks.py).
"""
from __future__ import annotations

import argparse
import hashlib
import os
import re
import sys
import time
from pathlib import Path

import nbformat as nbf

HERE = Path(__file__).resolve().parent
LANGS = ("en", "zh")
_SWITCH = re.compile(r"\{\{(.*?)\|\|(.*?)\}\}", re.DOTALL)


# --------------------------------------------------------------------------------------------
# cell builders: md(en, zh) is one markdown cell in two languages; code(src) one code cell


class Md:
    def __init__(self, en: str, zh: str):
        self.text = {"en": en.strip(), "zh": zh.strip()}

    def cell(self, lang):
        return nbf.v4.new_markdown_cell(self.text[lang])


class Code:
    def __init__(self, src: str, tag: str | None = None):
        self.src = src.strip()
        self.tag = tag

    def cell(self, lang):
        side = 1 if lang == "en" else 2
        c = nbf.v4.new_code_cell(_SWITCH.sub(lambda m: m.group(side), self.src))
        if self.tag:
            c.metadata["tags"] = [self.tag]
        return c


md, code = Md, Code


def details(en_q, en_a, zh_q, zh_a, n):
    """An exercise: the question, and its solution folded away."""
    return Md(f"**Exercise {n}.** {en_q.strip()}\n\n<details><summary>Solution</summary>\n\n"
              f"{en_a.strip()}\n\n</details>",
              f"**练习 {n}.** {zh_q.strip()}\n\n<details><summary>参考答案</summary>\n\n"
              f"{zh_a.strip()}\n\n</details>")


SETUP = Code("""
import os
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")   # small problems: one BLAS thread is fastest
import warnings
import numpy as np
import pandas as pd
import matplotlib
import matplotlib.pyplot as plt
from IPython.display import Image, Markdown, display
import io
import semcluster
from semcluster import study
from semcluster.output.diagrams import cjk_font

LANG = "{{en||zh}}"
NAMES = study.construct_labels(LANG)               # CA -> {{cluster awareness||集群意识}}, ...
plt.rcParams["figure.dpi"] = 80
if LANG == "zh":                                     # the Chinese font bundled with semcluster
    plt.rcParams["font.family"] = [cjk_font(), "DejaVu Sans"]
    plt.rcParams["axes.unicode_minus"] = False
pd.set_option("display.precision", 3)


def show(fig):
    # put a matplotlib figure in the notebook as a PNG (semcluster's diagrams are Figures)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=80, bbox_inches="tight")
    plt.close(fig)
    display(Image(buf.getvalue()))
""")


# --------------------------------------------------------------------------------------------
# 01: the paper's analysis re-run

NB01 = [
    md("""
# 1 — The published analysis, re-run

**Learning goals.** After this session (about 25 minutes) you can

* say what a *composite score* is and what the paper's regression (Table 4) did with them;
* recompute an OLS regression from a published correlation table alone;
* run SPSS-style stepwise selection and see which predictors it enters, and why;
* use an arithmetic audit to tell which published figures are consistent with each other.

The study asked whether five features of an industrial cluster — cluster awareness (CA),
publicity activities (PA), moral responsibility (MR), knowledge sharing (KS) and long-term
orientation (LO) — raise the innovation (IN) of its firms (hypotheses H1–H5). 160 managers
answered 23 seven-point items. The item-level answers were not published; the item data used
here are **synthetic**, made to reproduce the paper's Tables 2–3.
""", """
# 1 — 重做论文的分析

**学习目标。** 学完本节（约 25 分钟）后，你能够

* 说明什么是*合成分数*（题项均值），以及论文的回归（表 4）如何使用它们；
* 仅凭发表的相关矩阵重新计算 OLS 回归；
* 运行 SPSS 式的逐步回归，看它选入哪些预测变量以及原因；
* 用算术核查判断哪些发表的数字彼此一致。

该研究检验产业集群的五个特征——集群意识（CA）、宣传活动（PA）、道德责任（MR）、知识共享（KS）
和长期导向（LO）——是否提升集群企业创新（IN）（假设 H1–H5）。160 名管理者回答了 23 个七点量表题项。
论文没有公开题项层面的原始数据；这里使用的题项数据是**合成数据**，按论文表 2–3 生成。
"""),
    SETUP,
    md("""
## 1. The constructs and the published correlations (Table 2)

A *composite score* is the mean of a construct's items for one respondent. The paper's Table 2
gives the means, SDs and correlations of the six composites; everything in a regression of
composites follows from that table.
""", """
## 1. 构念与发表的相关矩阵（表 2）

*合成分数*是某个构念各题项在一名被试上的平均值。论文表 2 给出了六个合成分数的均值、标准差和相关系数；
基于合成分数的回归，其结果完全由这张表决定。
"""),
    code("""
cons = study.constructs()[["en", "zh", "items"]]
R = study.correlations()
display(cons)
R.rename(index=NAMES, columns=NAMES).round(3)
"""),
    md("""
## 2. The regression as published (Table 4) and as Table 2 implies it

The paper reports standardized coefficients (β) of a stepwise regression. With all five
predictors entered, OLS from the correlations gives β = R<sub>xx</sub><sup>−1</sup> r<sub>xy</sub>.
""", """
## 2. 发表的回归（表 4）与表 2 所蕴含的回归

论文报告的是逐步回归的标准化系数（β）。把五个预测变量全部纳入时，由相关矩阵可得
β = R<sub>xx</sub><sup>−1</sup> r<sub>xy</sub>。
"""),
    code("""
from semcluster.analysis.regression import ols_from_correlations, stepwise_from_correlations
preds = list(study.PREDICTORS)
pub = study.regression()
full = ols_from_correlations(R, "IN", preds, study.N)
side = pd.DataFrame({"{{published β (Table 4)||发表的 β（表 4）}}": pub["beta"],
                     "{{OLS β from Table 2||由表 2 计算的 OLS β}}": full.coefficients["beta"]})
side.index = [f"{c} {NAMES[c]}" for c in side.index]
side.round(3)
"""),
    code("""
b_pub, b_ols = pub.loc["MR", "beta"], full.coefficients.loc["MR", "beta"]
display(Markdown(
    f"{{The paper prints β(MR) = **{b_pub:.3f}**; the correlations it publishes give **{b_ols:.3f}** "
    f"with all five predictors in the model (R² = {full.r2:.3f}).||"
    f"论文给出的 β(MR) = **{b_pub:.3f}**；用论文自己发表的相关系数、五个预测变量全部纳入时，"
    f"得到的是 **{b_ols:.3f}**（R² = {full.r2:.3f}）。}}"))
"""),
    md("""
## 3. Stepwise selection

SPSS's stepwise method enters, one at a time, the predictor with the smallest p-value below
PIN = .05, and removes any whose p rises above POUT = .10. Run on Table 2:
""", """
## 3. 逐步回归

SPSS 的逐步法每次选入 p 值最小且低于 PIN = .05 的预测变量，并移除 p 值升到 POUT = .10 以上的变量。
在表 2 上运行：
"""),
    code("""
step = stepwise_from_correlations(R, "IN", preds, study.N)
entered = list(step.coefficients.index)
display(pd.DataFrame(step.steps, columns=["{{action||操作}}", "{{predictor||预测变量}}", "p"]))
display(Markdown(f"{{Stepwise on Table 2 enters: **{', '.join(entered)}**. The paper reports: "
                 f"**{', '.join(pub.index[pub['entered']])}**.||"
                 f"在表 2 上逐步回归选入：**{'、'.join(entered)}**；论文报告的是："
                 f"**{'、'.join(pub.index[pub['entered']])}**。}}"))
step.excluded.round(3)
"""),
    md("""
## 4. What the published tables allow: an arithmetic audit

Rounded published numbers constrain each other: a β, an R², an F and a t must all be
reachable from the same correlations (within their rounding), a mean of integer answers must be
reachable by 160 people (the GRIM test). The audit checks each and gives a verdict.
""", """
## 4. 发表的表格能说明什么：算术核查

四舍五入后的发表数字彼此制约：β、R²、F 和 t 必须能由同一组相关系数（在舍入误差内）得到；
整数答案的均值必须能由 160 人得到（GRIM 检验）。核查逐项检验并给出结论。
"""),
    code("""
from semcluster.study.audit import audit
a = audit()
counts = a["verdict"].value_counts()
display(Markdown(f"{{{len(a)} checks: ||共 {len(a)} 项检查：}}" + ", ".join(
    f"{k} {v}" for k, v in counts.items())))
a[a.verdict == "inconsistent"][["check", "item", "published", "recomputed"]].head(10)
"""),
    md("""
## Summary

* A composite regression is fully determined by the composites' correlation table.
* The published β for MR cannot be obtained from the published correlations, and stepwise
  selection on them enters a different set of predictors than the paper reports.
* Before re-analysing a paper, audit it: rounded figures still constrain each other.
""", """
## 小结

* 合成分数回归完全由合成分数的相关矩阵决定。
* 发表的 MR 的 β 无法由发表的相关系数得到；在这些相关系数上做逐步回归，选入的变量也与论文不同。
* 重新分析一篇论文之前先做核查：四舍五入后的数字之间仍然相互制约。
"""),
    details("Make stepwise stricter: `stepwise_from_correlations(R, \"IN\", preds, study.N, "
            "p_enter=0.01, p_remove=0.02)`. Which predictors enter now?",
            "Run the call and look at `.coefficients.index`; a stricter PIN can only stop "
            "entries earlier, so the set is the first steps of the default run (or a subset).",
            "把逐步回归变严格：`stepwise_from_correlations(R, \"IN\", preds, study.N, "
            "p_enter=0.01, p_remove=0.02)`。现在选入哪些预测变量？",
            "运行并查看 `.coefficients.index`；更严格的 PIN 只会让选入更早停止，所以结果是默认运行的前几步"
            "（或其子集）。", 1),
    details("Compute composites from the bundled item data (`semcluster.data.survey.load_data()`, "
            "`semcluster.analysis.regression.composite_scores`) and fit OLS with `ols_from_data`. Are the "
            "βs close to the Table 2 ones?",
            "```python\nfrom semcluster.data.survey import load_data\nfrom semcluster.analysis.regression import "
            "composite_scores, ols_from_data\nitems_of = {c: study.item_names(c) for c in "
            "study.CONSTRUCTS}\ncomp = composite_scores(load_data(), items_of)\n"
            "ols_from_data(comp, \"IN\", preds).coefficients\n```\nThe synthetic sample was "
            "made to match Table 2, so they agree to about the second decimal.",
            "用内置题项数据计算合成分数（`semcluster.data.survey.load_data()`、"
            "`semcluster.analysis.regression.composite_scores`），再用 `ols_from_data` 做 OLS。β 与表 2 的结果接近吗？",
            "```python\nfrom semcluster.data.survey import load_data\nfrom semcluster.analysis.regression import "
            "composite_scores, ols_from_data\nitems_of = {c: study.item_names(c) for c in "
            "study.CONSTRUCTS}\ncomp = composite_scores(load_data(), items_of)\n"
            "ols_from_data(comp, \"IN\", preds).coefficients\n```\n合成数据按表 2 生成，"
            "所以两者大约在小数点后第二位一致。", 2),
    details("Which kinds of check does the audit run? (`a.check.unique()`) Pick one inconsistent "
            "row and explain its verdict in a sentence.",
            "The `detail` column explains each verdict, e.g. a published β outside the range "
            "that any rounding of Table 2 allows.",
            "核查包括哪几类检查？（`a.check.unique()`）任选一条“inconsistent”的结果，用一句话解释。",
            "`detail` 列解释了每个结论，例如某个发表的 β 落在表 2 任何舍入都无法达到的范围之外。", 3),
]


# --------------------------------------------------------------------------------------------
# 02: measurement error and attenuation

NB02 = [
    md("""
# 2 — Measurement error: why composite regression is biased and a latent model is not

**Learning goals.** After this session (about 35 minutes) you can

* state the classical attenuation formulas for one predictor: the slope of composites is the
  true slope × the reliability of X, their correlation the true correlation × √(rel<sub>X</sub>·rel<sub>Y</sub>);
* run a simulation with a known true path and read bias, standard error and 95 % coverage;
* explain why a latent-variable model (SEM) recovers the true path when items are unreliable.

We know the truth because we make the data: a predictor ξ and an outcome η with true slope
β = 0.5, each measured by four parallel items whose error is chosen so that the item mean has
a given reliability (for parallel items this is also the population Cronbach's α).
""", """
# 2 — 测量误差：为什么合成分数回归有偏而潜变量模型无偏

**学习目标。** 学完本节（约 35 分钟）后，你能够

* 写出单个预测变量时的经典衰减公式：合成分数的斜率 = 真实斜率 × X 的信度；
  相关系数 = 真实相关 × √(信度<sub>X</sub>·信度<sub>Y</sub>)；
* 运行一个已知真实路径的模拟，读懂偏差、标准误和 95 % 覆盖率；
* 解释为什么在题项不可靠时，潜变量模型（SEM）仍能找回真实路径。

数据由我们自己生成，所以真值已知：预测变量 ξ 与结果变量 η 之间的真实斜率 β = 0.5，
各由四个平行题项测量，题项误差的大小使题项均值达到指定的信度（对平行题项，它也就是总体的 Cronbach's α）。
"""),
    SETUP,
    md("""
## 1. The simulation

Each replication draws N respondents, scores the two composites (item means), regresses one on
the other by OLS, and fits the latent model `X =~ x1..x4; Y =~ y1..y4; Y ~ X` (first loading
fixed to 1, so the latent slope is on the true-score scale, like β). Refits use
`semcluster.Refitter`, which refits one model to many data sets quickly.
""", """
## 1. 模拟设计

每次重复抽取 N 名被试，计算两个合成分数（题项均值），用 OLS 做回归，并拟合潜变量模型
`X =~ x1..x4; Y =~ y1..y4; Y ~ X`（第一个载荷固定为 1，因此潜变量斜率与 β 处于同一真分数尺度）。
重复拟合使用 `semcluster.Refitter`，它能快速地把同一个模型拟合到许多数据集上。
"""),
    code('''
import numpy as np
import pandas as pd
import semcluster

ITEMS = [f"x{j}" for j in range(1, 5)] + [f"y{j}" for j in range(1, 5)]
LATENT_MODEL = "X =~ x1 + x2 + x3 + x4\\nY =~ y1 + y2 + y3 + y4\\nY ~ X\\n"


def cronbach_alpha(items):
    k = items.shape[1]
    return k / (k - 1) * (1 - items.var(axis=0, ddof=1).sum() / items.sum(axis=1).var(ddof=1))


def simulate_attenuation(rel_x, rel_y=None, *, beta=0.5, n=200, reps=200, latent=True, seed=1):
    """One predictor, one outcome, four parallel items each; one row per replication.

    True scores: xi ~ N(0, 1) and eta = beta * xi + zeta with Var(zeta) = 1 - beta**2, so the
    true slope and the true correlation are both beta.  Item j of X is xi + e_j with
    Var(e_j) = 4 * (1 / rel_x - 1): the item mean then has reliability rel_x (Y likewise).
    """
    rel_y = rel_x if rel_y is None else rel_y
    rng = np.random.default_rng(seed)
    sd_ex, sd_ey = np.sqrt(4 * (1 / rel_x - 1)), np.sqrt(4 * (1 / rel_y - 1))
    refitter, rows = None, []
    for rep in range(reps):
        xi = rng.standard_normal(n)
        eta = beta * xi + np.sqrt(1 - beta ** 2) * rng.standard_normal(n)
        X = xi[:, None] + sd_ex * rng.standard_normal((n, 4))
        Y = eta[:, None] + sd_ey * rng.standard_normal((n, 4))
        xc, yc = X.mean(axis=1), Y.mean(axis=1)                  # composite scores
        C = np.cov(xc, yc)
        b = C[0, 1] / C[0, 0]                                     # OLS slope of yc on xc
        resid = (yc - yc.mean()) - b * (xc - xc.mean())
        se = np.sqrt(resid @ resid / (n - 2) / ((n - 1) * C[0, 0]))
        row = {"composite": b, "composite_se": se,
               "composite_r": C[0, 1] / np.sqrt(C[0, 0] * C[1, 1]),
               "alpha_x": cronbach_alpha(X)}
        if latent:
            data = np.column_stack([X, Y])
            if refitter is None:                 # one full fit; then quick refits
                refitter = semcluster.Refitter(
                    semcluster.fit(LATENT_MODEL, pd.DataFrame(data, columns=ITEMS)))
                assert refitter.observed == ITEMS
            f = refitter.fit(data)
            row.update(latent=f.estimates["Y~X"], latent_se=f.se["Y~X"],
                       latent_converged=f.converged)
        rows.append(row)
    return pd.DataFrame(rows)


def summarize(sim, beta=0.5):
    """Mean estimate, bias, its Monte Carlo SE, empirical SD, mean SE and 95 % CI coverage."""
    out = {}
    for m in ("composite", "latent"):
        if m not in sim:
            continue
        ok = sim["latent_converged"].astype(bool) if m == "latent" else np.ones(len(sim), bool)
        est, se = sim.loc[ok, m], sim.loc[ok, m + "_se"]
        out[m] = {"mean": est.mean(), "bias": est.mean() - beta,
                  "mc_se": est.std(ddof=1) / np.sqrt(len(est)), "sd": est.std(ddof=1),
                  "mean_se": se.mean(), "coverage": float(np.mean(np.abs(est - beta) <= 1.96 * se)),
                  "reps": int(ok.sum())}
    return pd.DataFrame(out).T
''', tag="attenuation-simulation"),
    md("""
## 2. Four reliabilities

200 replications of N = 200 at each reliability .6, .7, .8, .9 (the same for X and Y).
""", """
## 2. 四种信度水平

信度分别为 .6、.7、.8、.9（X 与 Y 相同），每种情况重复 200 次，每次 N = 200。
"""),
    code("""
BETA = 0.5
RELS = (0.6, 0.7, 0.8, 0.9)
sims = {rel: simulate_attenuation(rel, beta=BETA, seed=int(rel * 100)) for rel in RELS}
rows = []
for rel, sim in sims.items():
    s = summarize(sim, BETA)
    for method, r in s.iterrows():
        rows.append({"{{reliability||信度}}": rel, "{{mean α||α 均值}}": sim["alpha_x"].mean(),
                     "{{method||方法}}": {"composite": "{{composite OLS||合成分数 OLS}}",
                                         "latent": "{{latent SEM||潜变量 SEM}}"}[method],
                     "{{mean estimate||估计均值}}": r["mean"], "{{bias||偏差}}": r["bias"],
                     "{{MC SE of bias||偏差的蒙特卡洛标准误}}": r["mc_se"],
                     "{{empirical SD||经验标准差}}": r["sd"], "{{mean SE||平均标准误}}": r["mean_se"],
                     "{{95% coverage||95% 覆盖率}}": r["coverage"],
                     "{{replications||重复次数}}": int(r["reps"])})
table = pd.DataFrame(rows)
table.round(3)
"""),
    code("""
fig, ax = plt.subplots(figsize=(6.4, 4))
comp_mean = [summarize(sims[r], BETA).loc["composite", "mean"] for r in RELS]
lat_mean = [summarize(sims[r], BETA).loc["latent", "mean"] for r in RELS]
ax.plot(RELS, lat_mean, "o-", label="{{latent SEM||潜变量 SEM}}")
ax.plot(RELS, comp_mean, "s-", label="{{composite OLS||合成分数 OLS}}")
ax.plot(RELS, [BETA * r for r in RELS], "k:", label="{{formula: β × reliability||公式：β × 信度}}")
ax.axhline(BETA, color="grey", lw=0.8, label="{{true slope β||真实斜率 β}}")
ax.set_xlabel("{{reliability of the composites||合成分数的信度}}")
ax.set_ylabel("{{mean estimated slope||斜率估计的均值}}")
ax.set_title("{{Attenuation: 200 replications, N = 200||衰减：重复 200 次，N = 200}}")
ax.legend()
show(fig)
"""),
    code("""
s7 = summarize(sims[0.7], BETA)
display(Markdown(
    f"{{At reliability .7 the composite slope averages **{s7.loc['composite', 'mean']:.3f}** "
    f"(the formula β × rel gives {BETA * 0.7:.3f}) and its 95 % interval covers the true "
    f"β = {BETA} in **{100 * s7.loc['composite', 'coverage']:.0f} %** of replications; the latent "
    f"slope averages **{s7.loc['latent', 'mean']:.3f}** with coverage "
    f"**{100 * s7.loc['latent', 'coverage']:.0f} %**, at the price of a larger SE "
    f"({s7.loc['latent', 'mean_se']:.3f} vs {s7.loc['composite', 'mean_se']:.3f}).||"
    f"信度为 .7 时，合成分数斜率的均值为 **{s7.loc['composite', 'mean']:.3f}**"
    f"（公式 β × 信度 给出 {BETA * 0.7:.3f}），其 95 % 置信区间只在 "
    f"**{100 * s7.loc['composite', 'coverage']:.0f} %** 的重复中覆盖真实值 β = {BETA}；"
    f"潜变量斜率的均值为 **{s7.loc['latent', 'mean']:.3f}**，覆盖率 "
    f"**{100 * s7.loc['latent', 'coverage']:.0f} %**，代价是标准误更大"
    f"（{s7.loc['latent', 'mean_se']:.3f} 对 {s7.loc['composite', 'mean_se']:.3f}）。}}"))
"""),
    md("""
## 3. The correlation, and why the formula holds

The composite X̄ = ξ + ē has variance 1 + Var(ē) and reliability rel<sub>X</sub> = 1 / (1 + Var(ē)).
The covariance of the composites is that of the true scores (errors are independent), so the OLS
slope Cov/Var(X̄) = β·rel<sub>X</sub>; dividing the covariance by both SDs gives the correlation
β·√(rel<sub>X</sub>·rel<sub>Y</sub>). Here with unequal reliabilities, rel<sub>X</sub> = .6 and rel<sub>Y</sub> = .9:
""", """
## 3. 相关系数，以及公式为什么成立

合成分数 X̄ = ξ + ē 的方差为 1 + Var(ē)，信度 rel<sub>X</sub> = 1 / (1 + Var(ē))。
由于误差相互独立，两个合成分数的协方差等于真分数的协方差，所以 OLS 斜率 Cov/Var(X̄) = β·rel<sub>X</sub>；
协方差除以两个标准差，得到相关系数 β·√(rel<sub>X</sub>·rel<sub>Y</sub>)。下面取不相等的信度 rel<sub>X</sub> = .6、rel<sub>Y</sub> = .9：
"""),
    code("""
uneq = simulate_attenuation(0.6, 0.9, beta=BETA, reps=1000, latent=False, seed=5)
r_mean = uneq["composite_r"].mean()
r_mcse = uneq["composite_r"].std(ddof=1) / np.sqrt(len(uneq))
b_mean = uneq["composite"].mean()
b_mcse = uneq["composite"].std(ddof=1) / np.sqrt(len(uneq))
display(Markdown(
    f"{{Slope: simulated **{b_mean:.3f}** (Monte Carlo SE {b_mcse:.3f}), formula β·rel<sub>X</sub> = "
    f"{BETA * 0.6:.3f}. Correlation: simulated **{r_mean:.3f}** (MC SE {r_mcse:.3f}), formula "
    f"β·√(rel<sub>X</sub>·rel<sub>Y</sub>) = {BETA * np.sqrt(0.6 * 0.9):.3f}. The slope depends on the "
    f"reliability of X only; the correlation on both.||"
    f"斜率：模拟值 **{b_mean:.3f}**（蒙特卡洛标准误 {b_mcse:.3f}），公式 β·rel<sub>X</sub> = {BETA * 0.6:.3f}。"
    f"相关：模拟值 **{r_mean:.3f}**（蒙特卡洛标准误 {r_mcse:.3f}），公式 β·√(rel<sub>X</sub>·rel<sub>Y</sub>) = "
    f"{BETA * np.sqrt(0.6 * 0.9):.3f}。斜率只取决于 X 的信度；相关系数取决于两者。}}"))
"""),
    md("""
## Summary

* With one predictor, composite OLS estimates β × rel<sub>X</sub>, not β: the lower the
  reliability, the stronger the bias, and its confidence interval misses the truth more often
  than 5 % of the time — more often the larger N.
* The latent model separates true-score variance from item error: here its bias is within about
  two Monte Carlo SEs of zero; its standard errors are larger and its coverage is far closer to
  95 % (see the table).
* With several correlated predictors the bias of composite regression can go in either
  direction — the paper's case (notebook 5).
""", """
## 小结

* 只有一个预测变量时，合成分数 OLS 估计的是 β × rel<sub>X</sub> 而不是 β：信度越低，偏差越大；
  其置信区间错过真值的比例远高于 5 %——样本越大越严重。
* 潜变量模型把真分数方差与题项误差分开：这里它的偏差与零的距离在约两个蒙特卡洛标准误之内；
  它的标准误更大，覆盖率则更接近 95 %（见上表）。
* 当有多个相关的预测变量时，合成分数回归的偏差方向可正可负——这正是论文的情形（第 5 讲）。
"""),
    details("Run `summarize(simulate_attenuation(0.7, n=800, reps=100), 0.5)`. What happens to "
            "the composite's coverage when N grows, and why?",
            "The bias stays at about 0.5 × 0.7 − 0.5 = −0.15 while the SE shrinks like "
            "1/√N, so the interval, centred in the wrong place, covers the truth less and less "
            "often. More data do not cure measurement error.",
            "运行 `summarize(simulate_attenuation(0.7, n=800, reps=100), 0.5)`。样本量增大时，"
            "合成分数的覆盖率如何变化？为什么？",
            "偏差仍约为 0.5 × 0.7 − 0.5 = −0.15，而标准误按 1/√N 缩小，中心位置错误的区间覆盖真值的比例越来越低。"
            "更多的数据治不了测量误差。", 1),
    details("Correct the composite slope by hand: divide it by the sample α of X "
            "(`sims[0.7].composite / sims[0.7].alpha_x`). Is the mean close to 0.5?",
            "Yes, approximately: this is the classical disattenuation (Spearman's correction), "
            "exact for parallel items in large samples. With several predictors it is no longer "
            "a simple division, which is why a latent model is used.",
            "手动校正合成分数斜率：除以 X 的样本 α（`sims[0.7].composite / sims[0.7].alpha_x`）。"
            "均值接近 0.5 吗？",
            "大致接近：这就是经典的去衰减校正（Spearman 校正），对平行题项在大样本下是精确的。"
            "有多个预测变量时它不再是简单的除法，这就是要用潜变量模型的原因。", 2),
    details("Make the items fewer but better: what reliability does the item mean reach with 4 "
            "items of error variance 1? Use Var(ē) = 1/4.",
            "rel = 1 / (1 + 1/4) = 0.8; the composite slope is then about 0.4.",
            "题项少而精：4 个误差方差为 1 的题项，其均值的信度是多少？利用 Var(ē) = 1/4。",
            "信度 = 1 / (1 + 1/4) = 0.8；此时合成分数斜率约为 0.4。", 3),
]


# --------------------------------------------------------------------------------------------
# 03: stepwise selection

NB03 = [
    md("""
# 3 — Stepwise selection: what its p-values and its chosen set do not tell you

**Learning goals.** After this session (about 30 minutes) you can

* explain why the predictors a stepwise procedure selects change from sample to sample when
  predictors are correlated, as the paper's are (Table 2, notebook 1);
* show by simulation that the coefficients of selected predictors are biased away from zero and
  that their p-values are conditional on having been selected;
* compare the type I error of "stepwise found a model" with the F test of the all-predictors model.
""", """
# 3 — 逐步回归：它的 p 值和选出的变量集合不能告诉你什么

**学习目标。** 学完本节（约 30 分钟）后，你能够

* 解释当预测变量相关时（如论文表 2 所示，见第 1 讲），逐步回归选出的变量为何随样本而变化；
* 用模拟说明：被选中的预测变量的系数偏离零（高估），其 p 值是以“被选中”为条件的；
* 比较“逐步回归找到了模型”的第一类错误率与全变量模型 F 检验的第一类错误率。
"""),
    SETUP,
    md("""
## 1. A fast stepwise, checked against semcluster's

Simulations need thousands of selections, so we write the SPSS rule (enter the smallest p below
PIN = .05, remove any p above POUT = .10) in a few lines of numpy, and check on 20 samples that
it selects what `semcluster.analysis.regression.stepwise_from_correlations` selects.
""", """
## 1. 一个快速的逐步回归，并与 semcluster 的实现核对

模拟需要成千上万次变量选择，所以我们用几行 numpy 写出 SPSS 的规则（选入 p 最小且低于 PIN = .05 的变量，
移除 p 高于 POUT = .10 的变量），并在 20 个样本上核对它与 `semcluster.analysis.regression.stepwise_from_correlations`
选出的变量相同。
"""),
    code("""
from scipy import stats
from semcluster.analysis.regression import ols_from_correlations, stepwise_from_correlations


def ols_t(R, cols, n):
    # standardized OLS coefficients of y (last row/column of R) on cols, their t and df
    inv = np.linalg.inv(R[np.ix_(cols, cols)])
    b = inv @ R[cols, -1]
    df = n - len(cols) - 1
    return b, b / np.sqrt((1 - R[cols, -1] @ b) / df * np.diag(inv)), df


def pvalue(t, df):
    return 2 * stats.t.sf(abs(t), df)


def stepwise(R, n, p_enter=0.05, p_remove=0.10):
    chosen = []
    for _ in range(50):
        rest = [j for j in range(R.shape[0] - 1) if j not in chosen]
        if not rest:
            break
        t_in = [abs(ols_t(R, chosen + [j], n)[1][-1]) for j in rest]   # same df: max |t| = min p
        best = int(np.argmax(t_in))
        if pvalue(t_in[best], n - len(chosen) - 2) >= p_enter:
            break
        chosen.append(rest[best])
        _, t, df = ols_t(R, chosen, n)
        worst = int(np.argmin(np.abs(t)))
        if pvalue(t[worst], df) > p_remove:
            chosen.pop(worst)
    return sorted(chosen)


def overall_f_p(R, n):
    # p-value of the F test of the model with every predictor
    k = R.shape[0] - 1
    b, _, df = ols_t(R, list(range(k)), n)
    r2 = R[:k, -1] @ b
    return stats.f.sf(r2 / k / ((1 - r2) / df), k, df)


def draw(n, betas, rho, rng):
    # n cases of p predictors with equal correlations rho, y = X @ betas + error, Var(y) = 1
    p = len(betas)
    S = np.full((p, p), rho) + (1 - rho) * np.eye(p)
    b = np.asarray(betas, float)
    X = rng.standard_normal((n, p)) @ np.linalg.cholesky(S).T
    y = X @ b + np.sqrt(1 - b @ S @ b) * rng.standard_normal(n)
    return np.corrcoef(np.column_stack([X, y]), rowvar=False)


NAMES6 = [f"x{j}" for j in range(1, 7)]
rng = np.random.default_rng(11)
agree = agree_f = 0
for _ in range(20):
    R = draw(160, (0.3, 0.2, 0, 0, 0, 0), 0.5, rng)
    Rdf = pd.DataFrame(R, index=NAMES6 + ["y"], columns=NAMES6 + ["y"])
    ref = sorted(NAMES6.index(v) for v in stepwise_from_correlations(Rdf, "y", NAMES6, 160).coefficients.index)
    agree += ref == stepwise(R, 160)
    agree_f += bool(np.isclose(overall_f_p(R, 160),
                               ols_from_correlations(Rdf, "y", NAMES6, 160).F_pvalue))
display(Markdown(f"{{The numpy stepwise selects the same set as semcluster's in **{agree} of 20** samples, "
                 f"and gives the same overall F p-value in **{agree_f} of 20**.||"
                 f"numpy 版逐步回归与 semcluster 的实现在 **20 个样本中有 {agree} 个**选出相同的变量集合，"
                 f"**{agree_f} 个**给出相同的整体 F 检验 p 值。}}"))
"""),
    md("""
## 2. Two true predictors among six

x1 (β = .3) and x2 (β = .2) matter; x3–x6 do not; all six correlate .5 with each other; N = 160
as in the paper; 1000 samples.
""", """
## 2. 六个预测变量中有两个真实效应

x1（β = .3）和 x2（β = .2）有效应，x3–x6 没有；六个变量两两相关 .5；与论文一样 N = 160；共 1000 个样本。
"""),
    code("""
BETAS = (0.3, 0.2, 0, 0, 0, 0)
N, REPS = 160, 1000
rng = np.random.default_rng(2024)
sel = np.zeros((REPS, 6), bool)
b_sel = np.full((REPS, 6), np.nan)
b_full, p_full = np.zeros((REPS, 6)), np.zeros((REPS, 6))
exact = 0
for r in range(REPS):
    R = draw(N, BETAS, 0.5, rng)
    chosen = stepwise(R, N)
    sel[r, chosen] = True
    if chosen:
        b_sel[r, chosen] = ols_t(R, chosen, N)[0]
    b, t, df = ols_t(R, list(range(6)), N)
    b_full[r], p_full[r] = b, pvalue(t, df)
    exact += chosen == [0, 1]
summary = pd.DataFrame({
    "{{true β||真实 β}}": BETAS,
    "{{selected by stepwise||被逐步回归选中}}": sel.mean(axis=0),
    "{{mean β when selected||被选中时 β 的均值}}": np.nanmean(b_sel, axis=0),
    "{{all-predictors model: mean β||全变量模型：β 均值}}": b_full.mean(axis=0),
    "{{all-predictors model: p < .05||全变量模型：p < .05 的比例}}": (p_full < 0.05).mean(axis=0),
}, index=NAMES6)
summary.round(3)
"""),
    code("""
fig, ax = plt.subplots(figsize=(6.4, 3.6))
ax.bar(NAMES6, sel.mean(axis=0), color=["C0", "C0"] + ["C7"] * 4)
ax.set_ylabel("{{share of samples selected||被选中的样本比例}}")
ax.set_title("{{Stepwise: how often each predictor is selected (N = 160)||逐步回归：各预测变量被选中的频率（N = 160）}}")
ax.set_ylim(0, 1)
show(fig)
display(Markdown(
    f"{{Stepwise selects exactly the true set (x1 and x2) in only **{100 * exact / REPS:.0f} %** of samples. "
    f"When x2 is selected its mean β is **{np.nanmean(b_sel[:, 1]):.3f}** against a true .2 — the "
    f"samples where x2 looked weak were the ones that left it out.||"
    f"逐步回归恰好选出真实集合（x1 与 x2）的样本只占 **{100 * exact / REPS:.0f} %**。x2 被选中时，其 β 的均值为 "
    f"**{np.nanmean(b_sel[:, 1]):.3f}**，而真值是 .2——x2 显得较弱的那些样本恰好把它排除在外了。}}"))
"""),
    md("""
## 3. No true predictor at all: the type I error

Now every β is 0. The all-predictors model's overall F test rejects in about 5 % of samples, as
it should. Stepwise "finds" a model whenever any predictor enters — and every predictor it
enters had p < .05 when it entered.
""", """
## 3. 完全没有真实效应：第一类错误

现在所有 β 都为 0。全变量模型的整体 F 检验应当只在约 5 % 的样本中拒绝原假设。
而只要有任何一个变量被选入，逐步回归就“找到”一个模型——而且每个被选入的变量在选入时 p 值都低于 .05。
"""),
    code("""
rng = np.random.default_rng(99)
found, f_reject = 0, 0
for r in range(REPS):
    R = draw(N, (0,) * 6, 0.5, rng)
    found += bool(stepwise(R, N))
    f_reject += overall_f_p(R, N) < 0.05
display(Markdown(
    f"{{Under the null, stepwise ends with at least one 'significant' predictor in "
    f"**{100 * found / REPS:.1f} %** of {REPS} samples; the all-predictors F test rejects in "
    f"**{100 * f_reject / REPS:.1f} %** (nominal 5 %).||"
    f"在原假设成立时，逐步回归在 {REPS} 个样本中的 **{100 * found / REPS:.1f} %** 最终至少保留一个“显著”的变量；"
    f"全变量模型的 F 检验的拒绝率为 **{100 * f_reject / REPS:.1f} %**（名义水平 5 %）。}}"))
"""),
    md("""
## Summary

* With correlated predictors, the set stepwise selects is unstable; the paper's choice of CA, MR
  and KS is one draw of a noisy process.
* Selected coefficients are biased away from zero, and their p-values ignore the search that
  picked them.
* Report the all-predictors model (or, better, the latent model with all paths) and its
  confidence intervals, and state the hypotheses before looking.
""", """
## 小结

* 预测变量相关时，逐步回归选出的集合不稳定；论文选出 CA、MR 和 KS 只是一次噪声很大的抽样结果。
* 被选中的系数偏离零（被高估），其 p 值忽略了挑选它们的搜索过程。
* 应报告全变量模型（更好的是包含所有路径的潜变量模型）及其置信区间，并在看数据之前陈述假设。
"""),
    details("Raise N to 600 (`N = 600`, rerun section 2). How do the selection frequencies of x2 "
            "and of x3–x6 change?",
            "x2 is selected far more often (more power), while each null predictor is still "
            "selected at roughly the same low rate: larger samples help find true effects but "
            "do not stop stepwise from admitting noise.",
            "把 N 提高到 600（`N = 600`，重新运行第 2 节）。x2 和 x3–x6 的被选频率如何变化？",
            "x2 被选中的频率大大提高（功效更高），而每个无效变量被选中的比例仍大致一样低：大样本有助于发现真实效应，"
            "但不能阻止逐步回归选入噪声。", 1),
    details("Set the correlation of the predictors to 0 (`draw(N, BETAS, 0.0, rng)`). Is the "
            "selected set more stable?",
            "Somewhat: the true set is selected more often. With uncorrelated predictors each "
            "one's p-value depends less on which others are in, so the order of entry matters "
            "less; correlated predictors, as in surveys, make stepwise least stable. Null "
            "predictors are still admitted now and then.",
            "把预测变量之间的相关设为 0（`draw(N, BETAS, 0.0, rng)`）。选出的集合更稳定吗？",
            "有所改善：真实集合被选中的频率更高。预测变量不相关时，每个变量的 p 值较少取决于其他变量是否在模型中，"
            "进入顺序就不那么重要；而像调查数据那样相关的预测变量，使逐步回归最不稳定。无效变量仍会偶尔被选入。", 2),
]


# --------------------------------------------------------------------------------------------
# 04: CFA and validity

NB04 = [
    md("""
# 4 — Measurement first: CFA, α vs ω, AVE and HTMT

**Learning goals.** After this session (about 30 minutes) you can

* fit the confirmatory factor model (CFA) of the six constructs and read its loadings;
* tell Cronbach's α from McDonald's ω and composite reliability (CR), and say when they differ;
* check convergent validity (AVE ≥ .50) and discriminant validity (Fornell–Larcker, HTMT) and
  say what each threshold means — and that a threshold is a convention, not a test.
""", """
# 4 — 先看测量：CFA、α 与 ω、AVE 和 HTMT

**学习目标。** 学完本节（约 30 分钟）后，你能够

* 拟合六个构念的验证性因子模型（CFA）并解读其载荷；
* 区分 Cronbach's α、McDonald's ω 与组合信度（CR），并说明它们何时不同；
* 检查聚合效度（AVE ≥ .50）与区分效度（Fornell–Larcker、HTMT），说明每个阈值的含义——
  阈值只是惯例，而不是统计检验。
"""),
    SETUP,
    code("""
from semcluster.analysis.measurement import measurement_report
cfa = semcluster.fit("cfa")
m = measurement_report("cfa", result=cfa, parallel_iter=20)
fm = cfa.fit_measures
display(Markdown(f"CFA: χ² = {fm['chisq']:.2f}, df = {fm['df']:.0f}, CFI = {fm['cfi']:.3f}, "
                 f"RMSEA = {fm['rmsea']:.3f}, SRMR = {fm['srmr']:.3f}"))
rel = m.reliability[["alpha", "omega", "cr", "ave_std"]].rename(
    index=lambda c: f"{c} {NAMES.get(c, c)}",
    columns={"alpha": "α", "omega": "ω", "cr": "CR", "ave_std": "AVE"})
rel.round(3)
"""),
    md("""
## 1. α and ω

α assumes every item measures the construct equally well (tau-equivalence). ω weighs items by
their loadings; when loadings differ, α is at most ω (for uncorrelated errors). The item data
here are synthetic, built from parallel-like items, so the two are close:
""", """
## 1. α 与 ω

α 假定每个题项对构念的测量同样好（tau 等价）。ω 按载荷对题项加权；当载荷不同时（误差不相关的情况下），
α 不超过 ω。这里的题项数据是合成的，题项接近平行，所以两者很接近：
"""),
    code("""
gap = (m.reliability["omega"] - m.reliability["alpha"])
display(Markdown(f"{{ω − α ranges from {gap.min():+.3f} to {gap.max():+.3f} across the six constructs.||"
                 f"六个构念的 ω − α 介于 {gap.min():+.3f} 与 {gap.max():+.3f} 之间。}}"))
"""),
    md("""
## 2. Discriminant validity: HTMT

HTMT is the mean correlation of items across two constructs divided by the geometric mean of
the mean correlations within each. Values near 1 say the two sets of items do not measure
different things. Conventional limits: .85 (strict) and .90 (liberal), Henseler, Ringle &
Sarstedt (2015).
""", """
## 2. 区分效度：HTMT

HTMT 是两个构念之间题项相关的均值，除以各构念内部题项相关均值的几何平均。接近 1 说明两组题项测的不是不同的东西。
常用界限：.85（严格）与 .90（宽松），见 Henseler, Ringle & Sarstedt (2015)。
"""),
    code("""
h = m.htmt.rename(index=NAMES, columns=NAMES)
display(h.round(3))
flags = m.flags
display(Markdown(f"{{{int(flags.passes.sum())} of {len(flags)} threshold checks pass.||"
                 f"{len(flags)} 项阈值检查中有 {int(flags.passes.sum())} 项通过。}}"))
flags[~flags.passes][["figure", "value", "threshold"]].round(3)
"""),
    code("""
from semcluster.study.diagrams import measurement_diagram
show(measurement_diagram(cfa, lang=LANG))
"""),
    md("""
## Summary

* Check the measurement model before testing paths: a structural path between constructs that
  are not measured well, or not distinct, says little.
* α, ω and CR estimate the reliability of a composite; AVE the average share of item variance
  the construct explains; HTMT and Fornell–Larcker whether two constructs are distinct.
* Thresholds (.70, .50, .85) are conventions from the cited sources; report the values.
""", """
## 小结

* 检验路径之前先检查测量模型：如果构念测得不好或彼此不可区分，它们之间的结构路径说明不了什么。
* α、ω 和 CR 估计合成分数的信度；AVE 是构念解释的题项方差的平均比例；HTMT 与 Fornell–Larcker 判断两个构念是否可区分。
* 阈值（.70、.50、.85）是所引文献中的惯例；应报告具体数值。
"""),
    details("Compute α of CA by hand from the item data: "
            "k/(k−1)·(1 − Σ item variances / variance of the sum).",
            "```python\nfrom semcluster.data.survey import load_data\nX = load_data()[study.item_names('CA')]\n"
            "k = X.shape[1]\nk / (k - 1) * (1 - X.var().sum() / X.sum(axis=1).var())\n```\n"
            "It equals `m.reliability.loc['CA', 'alpha']`.",
            "用题项数据手动计算 CA 的 α：k/(k−1)·(1 − 各题项方差之和 / 总分方差)。",
            "```python\nfrom semcluster.data.survey import load_data\nX = load_data()[study.item_names('CA')]\n"
            "k = X.shape[1]\nk / (k - 1) * (1 - X.var().sum() / X.sum(axis=1).var())\n```\n"
            "结果等于 `m.reliability.loc['CA', 'alpha']`。", 1),
    details("Rerun the report with a stricter HTMT limit: `measurement_report(\"cfa\", result=cfa, "
            "parallel_iter=20, thresholds={\"htmt_strict\": 0.5})`. Which pairs fail now?",
            "Every pair whose HTMT is at least .5 fails the strict check; the values did not "
            "change, only the convention. This is why a report should show values, not only "
            "pass/fail.",
            "用更严格的 HTMT 界限重新生成报告：`measurement_report(\"cfa\", result=cfa, "
            "parallel_iter=20, thresholds={\"htmt_strict\": 0.5})`。现在哪些构念对不通过？",
            "HTMT 不低于 .5 的构念对都不能通过严格检查；数值本身没有变化，变的只是惯例。"
            "所以报告应给出数值，而不只是通过/不通过。", 2),
]


# --------------------------------------------------------------------------------------------
# 05: H1-H5 as latent paths

NB05 = [
    md("""
# 5 — H1–H5 as latent paths: fit, intervals, groups and power

**Learning goals.** After this session (about 40 minutes) you can

* fit the structural model `h1_h5` and read its standardized paths and fit indices;
* put composite regression and the latent model side by side for the paper's hypotheses and
  explain the differences;
* get bootstrap intervals, check measurement invariance across firm types, and estimate the
  power of a follow-up study.
""", """
# 5 — 把 H1–H5 作为潜变量路径：拟合、区间、分组与功效

**学习目标。** 学完本节（约 40 分钟）后，你能够

* 拟合结构模型 `h1_h5`，解读其标准化路径和拟合指标；
* 把论文假设的合成分数回归与潜变量模型并排比较，并解释差异；
* 计算 bootstrap 置信区间，检验不同企业类型之间的测量不变性，并估计后续研究的统计功效。
"""),
    SETUP,
    code("""
res = semcluster.fit("h1_h5")
fm = res.fit_measures
display(Markdown(f"χ² = {fm['chisq']:.2f}, df = {fm['df']:.0f}, CFI = {fm['cfi']:.3f}, "
                 f"TLI = {fm['tli']:.3f}, RMSEA = {fm['rmsea']:.3f}, SRMR = {fm['srmr']:.3f}"))
paths = res.paths()[["lhs", "rhs", "label", "std_all", "se_std_all", "pvalue"]]
paths.assign(rhs=paths.rhs.map(NAMES)).round(3)
"""),
    code("""
from semcluster.study.diagrams import tested_diagram
show(tested_diagram(res, lang=LANG))
"""),
    md("""
## 1. Regression vs SEM for H1–H5

Standardized coefficients by method: the paper's Table 4, OLS and stepwise from Table 2, OLS on
the composites of the item data, and the latent model on the same items.
""", """
## 1. H1–H5：回归与 SEM 对比

各方法的标准化系数：论文表 4、由表 2 计算的 OLS 与逐步回归、题项数据合成分数上的 OLS，
以及同一批题项上的潜变量模型。
"""),
    code("""
from semcluster.study.regression_vs_sem import compare_methods
from semcluster.study.diagrams import compare_diagram
comp = compare_methods(sem_result=res)
wide = comp.long().pivot(index="hypothesis", columns="method", values="beta")
wide.round(3)
"""),
    code("""
ols, sem = wide["ols_data"], wide["sem_data"]
big = (sem - ols).abs().idxmax()
display(Markdown(f"{{The largest difference between composite OLS and latent SEM is for {big}: "
                 f"{ols[big]:.3f} vs {sem[big]:.3f}.||"
                 f"合成分数 OLS 与潜变量 SEM 差异最大的是 {big}：{ols[big]:.3f} 对 {sem[big]:.3f}。}}"))
show(compare_diagram(comp, lang=LANG))
"""),
    md("""
## 2. Bootstrap intervals

200 resamples here to stay fast (use 2000 or more for a paper).
""", """
## 2. Bootstrap 置信区间

为了运行快，这里只抽 200 次（论文中应使用 2000 次或更多）。
"""),
    code("""
from semcluster.analysis.bootstrap import bootstrap
b = bootstrap("h1_h5", n_boot=200, n_jobs=1, bca=False, result=res, seed=1)
bp = b.paths()[["lhs", "rhs", "label", "est", "ci_lower", "ci_upper"]]
bp.round(3)
"""),
    md("""
## 3. Groups: is the measurement the same across firm types?

Comparing paths between groups is meaningful only if the items measure the constructs the same
way in each group (metric and scalar invariance). Each step adds equality constraints and is
judged by the χ² difference and by ΔCFI > −.01 and ΔRMSEA < .015 (Chen, 2007).
""", """
## 3. 分组：不同企业类型的测量是否相同？

只有当题项在各组中以相同方式测量构念时（度量不变与标量不变），组间比较路径才有意义。
每一步都增加等值约束，并用 χ² 差异检验以及 ΔCFI > −.01、ΔRMSEA < .015（Chen, 2007）来判断。
"""),
    code("""
from semcluster.analysis.invariance import measurement_invariance
inv = measurement_invariance("cfa", group="firm_type")
display(Markdown(f"{{Groups: ||分组：}}" + ", ".join(f"{g} (N = {n})" for g, n in inv.nobs.items())))
inv.comparisons[["comparison", "chisq_diff", "df_diff", "pvalue", "delta_cfi", "delta_rmsea"]].round(4)
"""),
    md("""
## 4. Power of a follow-up study

How many respondents would a replication need to detect each path? Simulated from the paper's
population; 30 replications per size here (use 500 for a plan).
""", """
## 4. 后续研究的统计功效

重复研究需要多少被试才能检测到每条路径？以论文的总体为基础进行模拟；这里每个样本量只重复 30 次
（做研究计划时应使用 500 次）。
"""),
    code("""
from semcluster.study.power import power_analysis
pw = power_analysis("h1_h5", n_grid=(160, 400), reps=30, n_truth=50_000, seed=3)
pw.table[["n", "label", "true", "power", "power_mcse"]].round(3)
"""),
    md("""
## Summary

* The latent model tests H1–H5 on error-free constructs; with correlated predictors its paths
  can differ from composite OLS in size and even sign.
* Bootstrap intervals do not assume normal estimates; invariance must hold before groups are
  compared; power depends on the smallest path you care about.
""", """
## 小结

* 潜变量模型在去除测量误差的构念上检验 H1–H5；在预测变量相关时，其路径的大小甚至符号都可能与合成分数 OLS 不同。
* Bootstrap 区间不假定估计量服从正态分布；比较组别之前必须先满足测量不变性；统计功效取决于你关心的最小路径。
"""),
    details("Which hypotheses does the latent model support at α = .05, and which does composite "
            "OLS? Use `comp.long()` and its `verdict` column.",
            "`comp.long().pivot(index='hypothesis', columns='method', values='verdict')` puts "
            "the verdicts side by side; compare the `ols_data` and `sem_data` columns.",
            "在 α = .05 时潜变量模型支持哪些假设？合成分数 OLS 呢？使用 `comp.long()` 及其 `verdict` 列。",
            "`comp.long().pivot(index='hypothesis', columns='method', values='verdict')` 把结论并排列出；"
            "比较 `ols_data` 与 `sem_data` 两列。", 1),
    details("Read the power table: does the path with the largest true value (`true`) always "
            "have the highest power? Why not?",
            "No. Power depends on the size of a path relative to its standard error, not on its "
            "size alone: a predictor strongly correlated with the other predictors (PA, see the "
            "correlations in notebook 1) has a large SE in the latent model, so its path can have "
            "low power even with a moderate true value. With 30 replications the power figures "
            "are rough: `power_mcse` gives their Monte Carlo error.",
            "阅读功效表：真实值（`true`）最大的路径功效一定最高吗？为什么？",
            "不一定。功效取决于路径大小相对于其标准误的比值，而不仅仅是路径大小：与其他预测变量高度相关的变量"
            "（PA，见第 1 讲的相关矩阵）在潜变量模型中标准误很大，因此即使真实值中等，其路径的功效也可能很低。"
            "只重复 30 次时功效估计很粗略：`power_mcse` 给出其蒙特卡洛误差。", 2),
]


# --------------------------------------------------------------------------------------------
# 06: your own survey

NB06 = [
    md("""
# 6 — Your own survey: from an SPSS file to a report

**Learning goals.** After this session (about 25 minutes) you can

* read an SPSS (.sav), Excel or CSV file, map its columns to a model's items, and declare the
  answer scale, missing-value codes and reverse-coded items;
* read the data report semcluster writes before it fits anything, and understand its errors;
* build the full report (tables, diagrams, regression vs SEM) for your data.

We make an example SPSS file with the problems real survey files have: other column names, a
missing-value code (−99), a reverse-coded item.
""", """
# 6 — 你自己的调查：从 SPSS 文件到报告

**学习目标。** 学完本节（约 25 分钟）后，你能够

* 读取 SPSS（.sav）、Excel 或 CSV 文件，把列映射到模型题项，并声明量表范围、缺失值代码和反向计分题；
* 读懂 semcluster 在拟合之前生成的数据报告，理解它给出的错误信息；
* 为你的数据生成完整报告（表格、路径图、回归与 SEM 对比）。

我们先制作一个示例 SPSS 文件，带有真实调查文件常见的问题：列名不同、缺失值代码（−99）、反向计分题。
"""),
    SETUP,
    code("""
import tempfile
from pathlib import Path
import pyreadstat
from semcluster.data.survey import load_data, DataOptions

work = Path(tempfile.mkdtemp())
mine = load_data()
mine = mine.rename(columns={f"ca{j}": f"Q{j}" for j in range(1, 5)})   # other column names
mine["pa4"] = 8 - mine["pa4"]                                         # stored reverse-coded
mine.loc[[3, 17], "ks2"] = -99                                        # "no answer" code
sav = work / "my_survey.sav"
pyreadstat.write_sav(mine, str(sav))
display(Markdown(f"{{Wrote {sav.name}: {len(mine)} rows, {mine.shape[1]} columns.||"
                 f"已写出 {sav.name}：{len(mine)} 行，{mine.shape[1]} 列。}}"))
"""),
    code("""
opts = DataOptions(map={f"Q{j}": f"ca{j}" for j in range(1, 5)}, missing_codes=(-99,),
                   scale=(1, 7), reverse=("pa4",))
res = semcluster.fit("h1_h5", sav, options=opts)      # FIML for the two missing answers
print(res.data_report)
res.paths()[["lhs", "rhs", "label", "std_all", "pvalue"]].round(3)
"""),
    md("""
## 1. Bad input stops with a message

An answer outside the declared scale is an error that says where it is — never a silent fit.
""", """
## 1. 错误的输入会被拦下并给出说明

超出声明量表范围的答案会报错并指出位置——绝不会悄悄地照常拟合。
"""),
    code("""
bad = mine.copy()
bad.loc[5, "lo1"] = 9
bad_path = work / "bad.sav"
pyreadstat.write_sav(bad, str(bad_path))
try:
    semcluster.fit("h1_h5", bad_path, options=opts)
except semcluster.SemclusterError as e:
    print("{{error:||错误：}}", e)
"""),
    md("""
## 2. The report

`reproduce_report` runs the whole study on your data and writes a folder with `report.html`,
`report.md`, tables (CSV) and figures. Small resampling settings here; the defaults (1000
bootstrap draws, 200 power replications) are for real use. From the command line:
`semcluster reproduce --data my_survey.sav --map my_map.yaml --lang zh`.
The report's measurement tables (α, HTMT, EFA) need complete answers, so for the report the two
respondents with a missing answer are dropped (`missing="listwise"`); the data report says so.
""", """
## 2. 报告

`reproduce_report` 在你的数据上运行整个研究，生成一个包含 `report.html`、`report.md`、表格（CSV）和图的文件夹。
这里使用较小的重抽样设置；默认值（1000 次 bootstrap、200 次功效模拟）用于正式分析。命令行写法：
`semcluster reproduce --data my_survey.sav --map my_map.yaml --lang zh`。
报告中的测量表格（α、HTMT、EFA）需要完整的答案，因此生成报告时删除有缺失答案的两名被试
（`missing="listwise"`），数据报告会注明这一点。
"""),
    code("""
from semcluster.study.report import reproduce_report
from tqdm import TqdmWarning
warnings.filterwarnings("ignore", category=TqdmWarning)     # no progress bars in a notebook
report_opts = DataOptions(map=opts.map, missing_codes=(-99,), scale=(1, 7), reverse=("pa4",),
                          missing="listwise")
out = reproduce_report(sav, work / "report", options=report_opts, lang=LANG, n_boot=50, power_reps=10,
                   power_grid=(160,), n_jobs=1, progress=False)
files = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
display(Markdown(f"{{The report folder holds {len(files)} files, e.g.:||报告文件夹共有 {len(files)} 个文件，例如：}}\\n\\n"
                 + "\\n".join(f"* `{f}`" for f in files[:8])))
"""),
    md("""
## Summary

* Declare what your file means (column mapping, scale, missing codes, reverse-coded items);
  semcluster checks it and writes a data report before fitting.
* Missing answers are handled by FIML and the report says so; impossible answers stop the run.
* One call (or one command) gives the full report.
""", """
## 小结

* 声明文件的含义（列映射、量表、缺失值代码、反向计分题）；semcluster 在拟合前检查并生成数据报告。
* 缺失答案用 FIML 处理，报告会注明；不可能出现的答案会让运行停止。
* 一次调用（或一条命令）即可得到完整报告。
"""),
    details("Save the options as a YAML mapping file the command line reads. What does it "
            "need to contain?",
            "A `columns:` block (`Q1: ca1` … `Q4: ca4`), `missing_codes: [-99]`, "
            "`scale: [1, 7]` and `reverse: [pa4]` (the page \"Data and estimators\" of the "
            "docs shows the format; the app's \"Save mapping\" button writes one). The command "
            "line reads it with `semcluster fit h1_h5 --data my_survey.sav --map my_map.yaml`.",
            "把这些选项保存为命令行可读取的 YAML 映射文件。它需要包含哪些内容？",
            "`columns:` 列映射（`Q1: ca1` … `Q4: ca4`）、`missing_codes: [-99]`、`scale: [1, 7]` 和 "
            "`reverse: [pa4]`（格式见文档 “Data and estimators” 页；网页应用的“保存映射”按钮可生成该文件）。"
            "命令行用 `semcluster fit h1_h5 --data my_survey.sav --map my_map.yaml` 读取。", 1),
    details("Forget to declare `reverse=(\"pa4\",)` and refit. What happens to PA's loadings?",
            "pa4's loading turns negative (and PA's reliability drops): a reverse-coded item "
            "left as it is correlates negatively with its construct's other items.",
            "忘记声明 `reverse=(\"pa4\",)` 后重新拟合。PA 的载荷会怎样？",
            "pa4 的载荷变为负值（PA 的信度也随之下降）：未反向处理的反向计分题与同构念的其他题项负相关。", 2),
]


# --------------------------------------------------------------------------------------------
# 07: firms in clusters

NB07 = [
    md("""
# 7 — Firms in clusters: single-level ML, cluster-robust standard errors, two-level SEM

**Learning goals.** After this session (about 35 minutes) you can

* say why firms sampled from a few industrial clusters are not independent observations;
* read the ICC(1) and the design effect of an item in the data report;
* fit the study model with and without the cluster variable and explain what changes (the
  standard errors and p-values) and what does not (the estimates);
* show by simulation that the naive analysis rejects a true null path far too often;
* fit a two-level model and read its within and between paths.

The study's firms belong to industrial clusters (parks, regions). Firms of one cluster share a
platform, a local government and a labour market, so their answers are alike. Here we draw a
**synthetic** clustered version of the study's population: 30 clusters of 5–60 firms, with
intraclass correlation 0.2 for every latent response.
""", """
# 7 — 集群中的企业：单层 ML、聚类稳健标准误与两水平结构方程模型

**学习目标。** 学完本节（约 35 分钟）后，你能够

* 说明为什么从少数几个产业集群中抽取的企业不是相互独立的观测；
* 读懂数据报告中题项的 ICC(1) 和设计效应；
* 分别在不考虑和考虑聚类变量的情况下拟合研究模型，并解释哪些结果改变（标准误和 p 值）、哪些不变（估计值）；
* 用模拟说明：朴素分析对一条真实为零的路径会过于频繁地拒绝原假设；
* 拟合两水平模型，并解读其集群内路径与集群间路径。

研究中的企业属于不同的产业集群（园区、地区）。同一集群的企业共享平台、地方政府和劳动力市场，因此它们的回答相似。
这里我们从研究总体中抽取一个**合成的**聚类版本：30 个集群，每个集群 5–60 家企业，每个潜在反应的组内相关系数均为 0.2。
"""),
    SETUP,
    md("""
## 1. A clustered sample, its ICCs and design effects

`ClusterDesign` splits each firm's latent response into a firm part and a cluster part: the
within-cluster covariance is (1 − ICC) times the population's, the between-cluster covariance
ICC times it (docs: "Firms in clusters"). ICC(1) is the share of an item's variance that lies
between clusters; the design effect 1 + (m̄ − 1)·ICC (Kish 1965), with m̄ the mean cluster size,
is how much clustering inflates the variance of a mean.
""", """
## 1. 一个聚类样本及其 ICC 与设计效应

`ClusterDesign` 把每家企业的潜在反应分成企业部分和集群部分：组内协方差是总体协方差的 (1 − ICC) 倍，
组间协方差是它的 ICC 倍（见文档“Firms in clusters”）。ICC(1) 是题项方差中位于集群之间的比例；
设计效应 1 + (m̄ − 1)·ICC（Kish 1965，m̄ 为平均集群规模）表示聚类使均值的方差放大了多少倍。
"""),
    code("""
from semcluster.analysis.simulate import ClusterDesign
from semcluster.data.clusters import cluster_summary
from semcluster.study.synthetic import simulate_items

design = ClusterDesign(0.2, clusters=30, size=(5, 60))     # ICC 0.2; 30 clusters of 5-60 firms
firms = simulate_items(None, 7, clusters=design)            # a column "cluster" names each firm's
items = [c for c in firms.columns if c != "cluster"]
summary = cluster_summary(firms, "cluster", items)
sizes = firms["cluster"].value_counts()
display(Markdown(f"{{{len(firms)} firms in {sizes.size} clusters of {sizes.min()} to "
                 f"{sizes.max()} firms (mean {sizes.mean():.1f}).||"
                 f"{len(firms)} 家企业，分属 {sizes.size} 个集群，每个集群 {sizes.min()} 至 "
                 f"{sizes.max()} 家（平均 {sizes.mean():.1f} 家）。}}"))
icc = pd.DataFrame({"ICC(1)": pd.Series(summary.icc, dtype=float),
                    "{{design effect||设计效应}}": pd.Series(summary.deff, dtype=float)})
icc.describe().loc[["mean", "min", "max"]].round(2)
"""),
    md("""
The answers' ICCs scatter around 0.2 (a little below it on average: cutting a latent response
into seven categories lowers its ICC slightly), and with 30 clusters one sample's ICCs vary
quite a lot. Every design effect is far above 2, the value above which Muthén & Satorra (1995)
found single-level analyses misleading; the data report warns about exactly this.
""", """
各题项回答的 ICC 分布在 0.2 附近（平均略低：把潜在反应切分成七个类别会使 ICC 稍稍降低），
而且只有 30 个集群时，一个样本中的 ICC 波动相当大。所有设计效应都远大于 2——Muthén 和 Satorra（1995）
发现设计效应超过 2 时单层分析会产生误导；数据报告正是对此给出警告。
"""),
    md("""
## 2. The same model, naive and cluster-robust

`fit` without the cluster column treats the 1,000-odd firms as independent (ML). With
`cluster="cluster"` and `estimator="MLR"` it keeps the same ML estimates but computes the
standard errors from a sandwich whose "meat" sums the firms' scores within each cluster
(lavaan's `cluster =`), and scales the χ² test alike.
""", """
## 2. 同一模型：朴素分析与聚类稳健分析

不给出聚类列时，`fit` 把这一千多家企业视为相互独立（ML）。给出 `cluster="cluster"` 和 `estimator="MLR"` 时，
估计值仍是同样的 ML 估计，但标准误由“三明治”公式计算，其中间部分先在每个集群内对企业的得分求和
（即 lavaan 的 `cluster =`），χ² 检验也相应地校正。
"""),
    code("""
with warnings.catch_warnings():
    warnings.simplefilter("ignore")              # the design-effect warning, discussed above
    naive = semcluster.fit("h1_h5", firms)
    robust = semcluster.fit("h1_h5", firms, cluster="cluster", estimator="MLR")
a, b = naive.paths(), robust.paths()
side = pd.DataFrame({
    "{{path||路径}}": (a.lhs + " <- " + a.rhs).to_numpy(),
    "{{estimate||估计值}}": a.est.to_numpy(),
    "{{same in MLR||MLR 中相同}}": np.isclose(a.est, b.est, rtol=1e-8),
    "SE ML": a.se.to_numpy(),
    "{{SE cluster-robust||聚类稳健 SE}}": b.se.to_numpy(),
    "{{SE ratio||SE 之比}}": (b.se / a.se).to_numpy(),
    "p ML": a.pvalue.to_numpy(),
    "{{p cluster-robust||聚类稳健 p}}": b.pvalue.to_numpy(),
})
side.round(3)
"""),
    code("""
fm_n, fm_r = naive.fit_measures, robust.fit_measures
display(Markdown(
    f"{{χ² (ML, firms independent): {fm_n['chisq']:.1f} on {fm_n['df']:.0f} df; "
    f"scaled χ² (cluster-robust): {fm_r['chisq_scaled']:.1f}, scaling factor "
    f"{fm_r['chisq_scaling_factor']:.2f}.||χ²（ML，视企业为独立）：{fm_n['chisq']:.1f}，"
    f"自由度 {fm_n['df']:.0f}；校正 χ²（聚类稳健）：{fm_r['chisq_scaled']:.1f}，校正因子 "
    f"{fm_r['chisq_scaling_factor']:.2f}。}}"))
"""),
    md("""
**What changes and why.** The estimates are identical: clustering does not bias the ML
estimates of a correctly specified model here, it makes them less precise than the naive
formula claims. Firms of one cluster carry partly the same information, so 1,000 clustered
firms are worth fewer independent ones; the cluster-robust SEs are larger (the ratio column),
the p-values larger, and a path that looked clearly significant may no longer be. The SE ratio
differs from path to path: a slope's design effect depends on how clustered both the
predictor and the residual are, not only on the items' ICC.
""", """
**哪些改变、为什么。** 估计值完全相同：在本例这种设定正确的模型中，聚类并不使 ML 估计产生偏差，
而是使它们不如朴素公式所声称的那样精确。同一集群的企业提供的信息部分重复，所以 1000 家聚类企业
相当于更少的独立企业；聚类稳健标准误更大（见“SE 之比”一列），p 值更大，原本看起来显著的路径可能不再显著。
各路径的 SE 之比不同：斜率的设计效应取决于预测变量和残差两者的聚类程度，而不仅仅是题项的 ICC。
"""),
    md("""
## 3. A null path: how often does each analysis reject it?

A small population in which x affects y only through m (the direct path y ← x is zero), drawn
in 40 clusters of 20 firms. `power_analysis` draws 1,000 data sets per ICC, fits each, and counts
how often the test of y ← x rejects at α = .05 — naively and cluster-robustly.
""", """
## 3. 一条为零的路径：两种分析各有多大比例拒绝它？

构造一个小总体：x 只通过 m 影响 y（直接路径 y ← x 为零），并按 40 个集群、每个集群 20 家企业抽样。
`power_analysis` 对每个 ICC 抽取 1000 个数据集，逐一拟合，统计 y ← x 的检验在 α = .05 下被拒绝的比例——
分别用朴素分析和聚类稳健分析。
"""),
    code("""
from semcluster.analysis.power import power_analysis


class Chain:
    # x -> m -> y; the direct path y <- x is zero; every variable has variance 1
    def __call__(self, n, rng):
        x = rng.standard_normal(n)
        m = 0.5 * x + np.sqrt(0.75) * rng.standard_normal(n)
        y = 0.5 * m + np.sqrt(0.75) * rng.standard_normal(n)
        return pd.DataFrame({"x": x, "m": m, "y": y})


REPS = 1000
rows = []
for rho in (0.0, 0.1, 0.3):
    r = power_analysis("m ~ x\\ny ~ m + x", population=Chain(), reps=REPS, n_truth=20_000,
                       seed=11, clusters=ClusterDesign(rho, clusters=40, size=20))
    naive_rate = r.naive.set_index("path").loc["y~x", "rejection"]
    robust_rate = r.table.set_index("path").loc["y~x", "rejection"]
    rows.append({"ICC": rho, "{{naive ML, % rejected||朴素 ML 拒绝比例 %}}": round(100 * naive_rate),
                 "{{cluster-robust, % rejected||聚类稳健拒绝比例 %}}": round(100 * robust_rate)})
mcse = 100 * np.sqrt(0.05 * 0.95 / REPS)
lo, hi = 5 - 3 * mcse, 5 + 3 * mcse                  # 3 Monte Carlo SEs around the nominal 5 %
inside = [lo <= row[k] <= hi for row in rows for k in list(row)[1:]]
display(Markdown(
    f"{{A test at α = .05 rejects a true null in 5 % of the draws, give or take {3 * mcse:.1f} "
    f"points (3 Monte Carlo SEs, {REPS} draws): {lo:.1f}–{hi:.1f} %. Inside that band: "
    f"{sum(inside)} of the {len(inside)} rates below.||"
    f"α = .05 的检验对真实为零的路径应在 5 % 的抽样中拒绝，上下浮动 {3 * mcse:.1f} 个百分点"
    f"（3 个蒙特卡洛标准误，{REPS} 次抽样）：{lo:.1f}–{hi:.1f} %。下表的比例中有 {sum(inside)} 个"
    f"（共 {len(inside)} 个）落在此范围内。}}"))
pd.DataFrame(rows)
"""),
    md("""
With ICC 0 both analyses reject the true null about as often as a test at α = .05 should
(within the band above). As the ICC grows the naive test rejects far more often — it finds
"effects" that are not there — while the cluster-robust test stays within the band (with few
clusters the sandwich is a little liberal; 40 are enough here). Power for a clustered follow-up study is therefore planned with the
cluster-robust analysis: `semcluster power --clusters K --cluster-size M --icc R` reports it,
with the naive analysis beside it for contrast.

Cluster-robust SEs correct the inference about the paths between firms; they do not say
anything about the clusters themselves. A two-level model does: section 4.
""", """
ICC 为 0 时，两种分析对真实为零的路径的拒绝比例都与 α = .05 的检验应有的比例相当（落在上面的范围内）。
随着 ICC 增大，朴素检验的拒绝比例急剧上升——它会“发现”并不存在的效应——而聚类稳健检验仍在该范围内
（集群很少时三明治估计会略显宽松；这里 40 个集群已经足够）。因此，为聚类的后续研究规划功效时应使用聚类稳健分析：
`semcluster power --clusters K --cluster-size M --icc R` 会报告它，并把朴素分析列在旁边作对照。

聚类稳健标准误修正的是关于企业之间路径的推断，但它对集群本身什么也没有说。两水平模型则可以：见第 4 节。
"""),
    md("""
## 4. A two-level model: the paths within and between clusters

The clustered draw above is a two-level population: every firm's answers are a firm part plus a
cluster part, and both parts follow the study's factor model. A two-level SEM (lavaan's
`level: 1` / `level: 2` blocks with `cluster =`) models the two parts separately: at level 1
(within) the covariances of the firms' deviations from their cluster's means, at level 2
(between) the covariances of the cluster means (random intercepts). Each level has its own
factors and its own path. We fit CA → IN (cluster awareness → innovation), whose eight items
make a small model: 17 parameters within, and at the between level the same 17 plus the
8 item means, each estimated from the clusters, not from the firms.
""", """
## 4. 两水平模型：集群内与集群间的路径

上面抽取的聚类数据来自一个两水平总体：每家企业的回答等于企业部分加集群部分，两部分都服从研究的因子模型。
两水平结构方程模型（lavaan 的 `level: 1` / `level: 2` 块配合 `cluster =`）分别为这两部分建模：
水平 1（集群内）是企业相对于其集群均值的离差的协方差，水平 2（集群间）是集群均值（随机截距）的协方差。
每个水平有自己的因子和自己的路径。我们拟合 CA → IN（集群意识 → 创新），八个题项构成一个小模型：
集群内 17 个参数；集群间同样 17 个参数另加 8 个题项均值，每个都由集群而不是由企业来估计。
"""),
    code("""
TWO_LEVEL = \"\"\"
level: within
    CA =~ ca1 + ca2 + ca3 + ca4
    IN =~ in1 + in2 + in3 + in4
    IN ~ CA
level: between
    CAb =~ ca1 + ca2 + ca3 + ca4
    INb =~ in1 + in2 + in3 + in4
    INb ~ CAb
\"\"\"
with warnings.catch_warnings():
    warnings.simplefilter("ignore")              # design-effect warning, as above
    two30 = semcluster.fit(TWO_LEVEL, firms, cluster="cluster")
problems = "; ".join(two30.warnings) or "{{none||无}}"
display(Markdown(
    f"{{The {sizes.size} clusters of section 1: converged {two30.converged}, admissible "
    f"{two30.admissible} (problems: {problems}).||第 1 节的 {sizes.size} 个集群：收敛 "
    f"{two30.converged}，解可接受 {two30.admissible}（问题：{problems}）。}}"))
"""),
    md("""
The between level has as many observations as there are clusters. With 30 clusters and 25
between-level parameters a variance can come out negative (a Heywood case), and the
between path is then not to be read. Two-level models need many clusters — commonly 50 to
100 or more. So we draw the same population in 100 clusters of 5–30 firms, and fit the model
three ways: single-level ML, cluster-robust MLR, and two-level ML.
""", """
集群间水平的观测数等于集群数。只有 30 个集群、却有 25 个集群间参数时，某个方差可能被估计为负值
（Heywood 情形），此时集群间路径不可解读。两水平模型需要较多的集群——通常为 50 到 100 个甚至更多。
因此我们从同一总体中抽取 100 个集群、每个集群 5–30 家企业，并用三种方式拟合：单层 ML、聚类稳健 MLR 和两水平 ML。
"""),
    code("""
SINGLE = "CA =~ ca1 + ca2 + ca3 + ca4\\nIN =~ in1 + in2 + in3 + in4\\nIN ~ CA"
firms100 = simulate_items(None, 7, clusters=ClusterDesign(0.2, clusters=100, size=(5, 30)))
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    one = semcluster.fit(SINGLE, firms100)
    rob = semcluster.fit(SINGLE, firms100, cluster="cluster", estimator="MLR")
    two = semcluster.fit(TWO_LEVEL, firms100, cluster="cluster")
display(Markdown(f"{{{len(firms100)} firms in {firms100.cluster.nunique()} clusters; two-level "
                 f"fit converged {two.converged}, admissible {two.admissible}.||"
                 f"{len(firms100)} 家企业，{firms100.cluster.nunique()} 个集群；两水平模型收敛 "
                 f"{two.converged}，解可接受 {two.admissible}。}}"))
rows = []
for what, res, lhs, rhs in (("{{single-level ML||单层 ML}}", one, "IN", "CA"),
                            ("{{cluster-robust MLR||聚类稳健 MLR}}", rob, "IN", "CA"),
                            ("{{two-level: within||两水平：集群内}}", two, "IN", "CA"),
                            ("{{two-level: between||两水平：集群间}}", two, "INb", "CAb")):
    p = res.paths().set_index(["lhs", "rhs"]).loc[(lhs, rhs)]
    rows.append({"{{fit||拟合}}": what, "{{path||路径}}": f"{lhs} <- {rhs}", "{{estimate||估计值}}": p.est,
                 "SE": p.se, "p": p.pvalue, "{{standardized||标准化}}": p.std_all})
pd.DataFrame(rows).round(3)
"""),
    code("""
from semcluster.data.clusters import cluster_summary

w, b = (m.implied_cov for m in two.moments)        # level 1 (within), level 2 (between)
s100 = cluster_summary(firms100, "cluster", list(w.index))
icc_two = pd.DataFrame({
    "{{ICC(1) of the answers||回答的 ICC(1)}}": pd.Series(s100.icc),
    "{{ICC implied by the two-level model||两水平模型隐含的 ICC}}":
        pd.Series(np.diag(b) / (np.diag(w) + np.diag(b)), index=w.index)})
fm = two.fit_measures
display(Markdown(
    f"{{Two-level fit: χ² = {fm['chisq']:.1f} on {fm['df']:.0f} df, CFI {fm['cfi']:.3f}, RMSEA "
    f"{fm['rmsea']:.3f}, SRMR within {fm['srmr_within']:.3f}, between {fm['srmr_between']:.3f}.||"
    f"两水平模型拟合：χ² = {fm['chisq']:.1f}，自由度 {fm['df']:.0f}，CFI {fm['cfi']:.3f}，RMSEA "
    f"{fm['rmsea']:.3f}，集群内 SRMR {fm['srmr_within']:.3f}，集群间 SRMR {fm['srmr_between']:.3f}。}}"))
icc_two.round(3)
"""),
    md("""
**What changes and why.**

* *Single-level ML and cluster-robust MLR* give the same estimate: one path for the total
  covariances, a mixture of the within and between relations weighted by how much of the
  variance lies at each level. Only the SE differs (section 2).
* *The two-level model* splits that mixture. The within path says: a firm more cluster-aware
  than the other firms of its cluster innovates more than they do. The between path says:
  clusters whose firms are on average more cluster-aware innovate more on average. They answer
  different questions and need not be equal (here the simulation draws the same structure at
  both levels, so their standardized values estimate nearly the same number: the latent
  responses have the same standardized structure at both levels, and cutting them into seven
  answers changes that a little).
* *The SEs*: the within path rests on all the firms, its SE is small; the between path
  rests on 100 clusters and 25 parameters, its SE is several times larger. That
  is the honest price of asking a question about clusters.
* *ICCs*: the model-implied ICC of an item, the share of its implied variance at level 2,
  follows the items' ICC(1) from the answers; where they differ, the between level's factor
  model does not reproduce that item's cluster-level variance exactly (SRMR between).
""", """
**哪些改变、为什么。**

* *单层 ML 与聚类稳健 MLR* 给出相同的估计值：它是总协方差上的一条路径，是集群内与集群间关系的混合，
  权重取决于方差在各水平上的比例。两者只有 SE 不同（第 2 节）。
* *两水平模型* 把这种混合拆开。集群内路径的含义是：一家企业的集群意识比同集群其他企业高，它的创新也比它们多。
  集群间路径的含义是：企业平均集群意识较高的集群，平均创新也较多。两者回答不同的问题，不必相等
  （这里的模拟在两个水平上使用同一结构，所以它们的标准化值估计的几乎是同一个数：潜在反应在两个水平上的标准化结构相同，切分成七级回答只使之略有改变）。
* *标准误*：集群内路径基于全部企业，SE 较小；集群间路径只基于 100 个集群和 25 个参数，SE 大好几倍。
  这是对集群本身提出问题所要付出的真实代价。
* *ICC*：题项的模型隐含 ICC（其隐含方差中位于水平 2 的比例）与根据回答计算的 ICC(1) 相近；
  两者不同之处，说明集群间水平的因子模型没有完全再现该题项的集群层面方差（见集群间 SRMR）。
"""),
    md("""
## Summary

* Firms in clusters answer alike; ICC(1) measures how much, the design effect what it does to
  the variance of a mean.
* Cluster-robust standard errors keep the ML estimates and widen the standard errors; the naive
  analysis understates them and rejects true null paths too often.
* Plan clustered studies with the cluster-robust analysis (`semcluster power --clusters ...`).
* A two-level model separates the paths within and between clusters; its between level has as
  many observations as clusters, so it needs many of them.
""", """
## 小结

* 同一集群的企业回答相似；ICC(1) 衡量相似的程度，设计效应衡量它使均值方差放大的倍数。
* 聚类稳健标准误保留 ML 估计值、放大标准误；朴素分析低估标准误，过于频繁地拒绝真实为零的路径。
* 用聚类稳健分析规划聚类研究（`semcluster power --clusters ...`）。
* 两水平模型把集群内与集群间的路径分开；其集群间水平的观测数等于集群数，因此需要较多的集群。
"""),
    details("Set the ICC of `design` to 0 and run the cells of sections 1 and 2 again. What "
            "happens to the SE ratios?",
            "They scatter around 1, some above and some below: without clustering the "
            "cluster-robust SE estimates the same quantity as the ML SE, only less precisely "
            "(it rests on 30 cluster sums).",
            "把 `design` 的 ICC 设为 0，重新运行第 1、2 节的代码。SE 之比会怎样？",
            "它们分布在 1 附近，有的大于 1，有的小于 1：没有聚类时，聚类稳健 SE 与 ML SE 估计的是同一个量，"
            "只是精度较低（它只基于 30 个集群的得分之和）。", 1),
    details("In section 3, which column would you use to plan the number of clusters of a "
            "follow-up study, and why?",
            "The cluster-robust one: its test keeps the 5 % error rate under a true null path, "
            "so its power is the real chance of detecting a true effect. The naive power is "
            "higher only because its standard errors are too small.",
            "在第 3 节中，你会用哪一列来规划后续研究所需的集群数？为什么？",
            "聚类稳健的那一列：在真实为零的路径下，它的检验保持 5 % 的错误率，所以它的功效才是检测到真实效应的真实概率。"
            "朴素分析的功效更高，仅仅是因为它的标准误太小。", 2),
]


COURSE = {
    "01_published_analysis": NB01,
    "02_measurement_error": NB02,
    "03_stepwise_selection": NB03,
    "04_cfa_and_validity": NB04,
    "05_h1_h5_latent_paths": NB05,
    "06_your_own_survey": NB06,
    "07_firms_in_clusters": NB07,
}


def source_digest(nb) -> str:
    """SHA-256 of a notebook's cell types and sources (what the stored outputs were made from)."""
    h = hashlib.sha256()
    for c in nb.cells:
        h.update(c.cell_type.encode() + b"\0" + c.source.encode() + b"\0")
    return h.hexdigest()


def build(name: str, lang: str):
    """The notebook ``name`` in ``lang``, without outputs."""
    nb = nbf.v4.new_notebook()
    nb.cells = [c.cell(lang) for c in COURSE[name]]
    for i, c in enumerate(nb.cells):
        c["id"] = f"{name[:2]}-{lang}-{i:02d}"        # stable ids: regeneration is reproducible
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    nb.metadata["semcluster_course"] = {"lang": lang, "source_sha256": source_digest(nb),
                                        "generator": "notebooks/make_course.py"}
    return nb


def path_of(name: str, lang: str) -> Path:
    return HERE / lang / f"{name}.ipynb"


def execute(nb, cwd: str | None = None, timeout: int = 300) -> float:
    """Execute ``nb`` in place (one BLAS thread); seconds taken."""
    import nbclient

    env_keys = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
    for k in env_keys:
        os.environ[k] = "1"
    t0 = time.perf_counter()
    nbclient.NotebookClient(nb, timeout=timeout, kernel_name="python3", record_timing=False,
                            resources={"metadata": {"path": cwd or str(HERE)}}).execute()
    return time.perf_counter() - t0


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--no-execute", action="store_true", help="write cells only, no outputs")
    ap.add_argument("names", nargs="*", help="notebooks to write (default: all)")
    args = ap.parse_args(argv)
    for name in args.names or COURSE:
        for lang in LANGS:
            nb = build(name, lang)
            secs = None if args.no_execute else execute(nb)
            path_of(name, lang).parent.mkdir(exist_ok=True)
            nbf.write(nb, path_of(name, lang))
            took = "" if secs is None else f" ({secs:.1f} s)"
            print(f"wrote {path_of(name, lang).relative_to(HERE.parent)}{took}")


if __name__ == "__main__":
    sys.exit(main())
