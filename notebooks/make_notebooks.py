"""Write the three teaching notebooks (run: python notebooks/make_notebooks.py).

The notebooks are generated from the cells below so that their code stays reviewable as a
Python file; the test suite executes them with nbclient.
"""
from pathlib import Path

import nbformat as nbf

HERE = Path(__file__).parent


def md(s):
    return nbf.v4.new_markdown_cell(s.strip())


def code(s):
    return nbf.v4.new_code_cell(s.strip())


NB1 = [
    md("""
# 01 — From the published regression to latent paths

The paper tested H1–H5 (do cluster awareness CA, publicity PA, moral responsibility MR,
knowledge sharing KS and long-term orientation LO raise innovation IN?) with a **stepwise
regression on composite scores**. Here we redo it step by step and see why a latent SEM tells a
different story. The item-level data are **synthetic** (made to reproduce the paper's Tables 2–3).
"""),
    code("""
import semcluster
from semcluster import study
study.correlations()
"""),
    md("## 1. The regression as published (Table 4) and as Table 2 implies it"),
    code("""
from semcluster.regression import ols_from_correlations, stepwise_from_correlations
R = study.correlations()
print(study.regression())
full = ols_from_correlations(R, "IN", list(study.PREDICTORS), study.N)
step = stepwise_from_correlations(R, "IN", list(study.PREDICTORS), study.N)
full.coefficients.round(3), step.coefficients.round(3), step.excluded.round(3)
"""),
    md("""
The published βs (MR .342!) are not what the published correlations give (MR .044), and SPSS's
stepwise procedure on Table 2 enters CA, LO and KS, not CA, MR and KS. The audit checks this by
arithmetic:
"""),
    code("""
from semcluster.study.audit import audit
a = audit()
a[a.verdict == "inconsistent"][["check", "item", "published", "recomputed"]].head(12)
"""),
    md("## 2. Measurement error: composites vs latent variables"),
    code("""
res = semcluster.fit("h1_h5")          # 23 items, six latent variables
print(res.fit_measures[["chisq", "df", "cfi", "tli", "rmsea", "srmr"]].round(3))
res.paths()[["lhs", "rhs", "label", "std_all", "se_std_all", "pvalue"]].round(3)
"""),
    md("## 3. All methods side by side, and why they differ"),
    code("""
from semcluster.study.regression_vs_sem import compare_methods
comp = compare_methods()
print("\\n".join(comp.explanation))
comp.long().pivot(index="hypothesis", columns="method", values="beta").round(3)
"""),
    code("""
from semcluster.study.diagrams import compare_diagram
compare_diagram(comp)
"""),
]

NB2 = [
    md("""
# 02 — Testing H1–H5 as a methodologist would

CFA and validity first, then the structural model, bootstrap intervals, invariance across firm
types, model comparison and the power of a follow-up study. Data: the bundled **synthetic**
sample. Small resampling settings keep this notebook fast; use larger ones for real work.
"""),
    code("""
import semcluster
from semcluster.measurement import measurement_report
m = measurement_report("cfa", parallel_iter=50)
m.reliability.round(3)
"""),
    code("m.htmt.round(3)"),
    code("""
res = semcluster.fit("h1_h5")
print(res.summary())
"""),
    code("""
from semcluster.bootstrap import bootstrap
b = bootstrap("h1_h5", n_boot=100, n_jobs=1, bca=False, result=res)
print(b.summary())
b.paths().round(3)
"""),
    code("""
from semcluster.invariance import measurement_invariance
inv = measurement_invariance("cfa", group="firm_type")
inv.comparisons
"""),
    code("""
from semcluster import study
from semcluster.model_comparison import compare_models
models = ["h1_h5", "revised", "second_order"]
table, tests, _ = compare_models(models, nested=study.nested_models(models))  # the study's nesting
table[["chisq", "df", "cfi", "rmsea", "aic", "bic"]].round(3), tests
"""),
    code("""
from semcluster.study.power import power_analysis
pw = power_analysis("h1_h5", n_grid=(160, 400), reps=20, n_truth=50_000)
pw.table[["n", "label", "true", "power", "converged"]].round(3)
"""),
]

NB3 = [
    md("""
# 03 — Your own survey

Bring a CSV, Excel or SPSS file. Map your column names to the model's item codes, declare the
answer scale and reverse-coded items, and semcluster checks the data before it fits anything.
Here we make a small example file with the problems real surveys have.
"""),
    code("""
import numpy as np, pandas as pd, semcluster, tempfile, os
from semcluster.data import load_data, prepare_data
df = load_data()                                   # the bundled synthetic sample
mine = df.rename(columns={"ca1": "Q1", "ca2": "Q2"}).copy()
mine.loc[3, "pa2"] = np.nan                         # a skipped answer
mine["pa4"] = 8 - mine["pa4"]                       # stored reverse-coded
path = os.path.join(tempfile.mkdtemp(), "my_survey.csv")
mine.to_csv(path, index=False)
"""),
    code("""
mapping = {"columns": {"Q1": "ca1", "Q2": "ca2"}, "reverse": ["pa4"], "scale": [1, 7]}
res = semcluster.fit("h1_h5", path, mapping=mapping)     # FIML for the skipped answer
print(res.data_report)
res.paths()[["lhs", "rhs", "std_all", "pvalue"]].round(3)
"""),
    md("Bad input is stopped with a message that says where and what to do:"),
    code("""
bad = mine.copy(); bad.loc[5, "lo1"] = 9               # outside the 1-7 scale
bad.to_csv(path, index=False)
try:
    semcluster.fit("h1_h5", path, mapping=mapping)
except semcluster.SemclusterError as e:
    print("error:", e)
"""),
]


def main():
    for name, cells in (("01_regression_vs_sem", NB1), ("02_testing_h1_h5", NB2),
                        ("03_your_own_survey", NB3)):
        nb = nbf.v4.new_notebook()
        nb.cells = cells
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                     "language": "python"}
        nbf.write(nb, HERE / f"{name}.ipynb")
        print("wrote", name)


if __name__ == "__main__":
    main()
