"""The consistency audit, on made-up published tables whose consistency is known by
construction, and on the paper's own tables.

The consistent tables are computed exactly from a simulated integer-item data set and rounded
to 3 decimals, as a paper would print them; each altered table changes one figure by more than
its rounding allows.
"""
from __future__ import annotations

import copy
import json

import numpy as np
import pandas as pd
import pytest

from semcluster.study.audit import audit, load_published, paper_published
from semcluster.cli import main
from semcluster.analysis.regression import ols_from_correlations

N, K_ITEMS = 150, 3
LEVELS = {"***": 0.01, "**": 0.05, "*": 0.1}


def _stars(p):
    for s, lv in sorted(LEVELS.items(), key=lambda kv: kv[1]):
        if p < lv:
            return s
    return ""


@pytest.fixture(scope="module")
def consistent():
    rng = np.random.default_rng(42)
    f = rng.multivariate_normal(np.zeros(4), 0.4 * np.eye(4) + 0.6 * np.ones((4, 4)) * 0.5,
                                size=N)
    f[:, 3] = 0.5 * f[:, 0] + 0.3 * f[:, 1] + rng.normal(scale=0.8, size=N)
    names = ["A", "B", "C", "Y"]
    items = {v: np.clip(np.rint(4 + 1.2 * f[:, [i]] + rng.normal(size=(N, K_ITEMS))), 1, 7)
             for i, v in enumerate(names)}
    comp = pd.DataFrame({v: x.mean(axis=1) for v, x in items.items()})
    R = comp.corr()
    fit = ols_from_correlations(R, "Y", ["A", "B", "C"], N)
    alpha = {}
    for v, x in items.items():
        alpha[v] = round(K_ITEMS / (K_ITEMS - 1) *
                         (1 - x.var(axis=0, ddof=1).sum() / x.sum(axis=1).var(ddof=1)), 3)
    return {
        "n": N, "decimals": 3, "scale": [1, 7], "variables": names,
        "means": {v: round(comp[v].mean(), 3) for v in names},
        "sds": {v: round(comp[v].std(), 3) for v in names},
        "n_items": {v: K_ITEMS for v in names},
        "correlations": [[round(R.iloc[i, j], 3) for j in range(i)] for i in range(4)],
        "alpha": alpha,
        "regression": {
            "outcome": "Y",
            "beta": {p: round(fit.coefficients.loc[p, "beta"], 3) for p in "ABC"},
            "stars": {p: _stars(fit.coefficients.loc[p, "pvalue"]) for p in "ABC"},
            "star_levels": LEVELS,
            "F": round(fit.F, 3), "r2": round(fit.r2, 3), "adj_r2": round(fit.adj_r2, 3),
        },
    }


def verdicts(table):
    return {(r.check, r.item): r.verdict for r in table.itertuples()}


def test_consistent_tables_pass(consistent):
    t = audit(consistent)
    bad = t[t.verdict == "inconsistent"]
    # with k = 3 predictors the F/R²/adjusted-R² triple is consistent; for other k it need
    # not be, so those rows are informative only
    bad = bad[~bad.check.str.contains(r"\(k = [1245]\)")]
    assert bad.empty, bad[["check", "item", "detail"]].to_string()
    assert (t.verdict == "consistent").sum() >= 20


ALTERATIONS = {
    # (path into the dict, new value) -> (check, item) that must be flagged
    "beta": (("regression", "beta", "B"), lambda v: v + 0.05, ("standardized beta", "B")),
    "r2": (("regression", "r2"), lambda v: v + 0.02, ("r2 from correlations", "model")),
    "F": (("regression", "F"), lambda v: v * 1.1, ("F from correlations", "model")),
    "adj_r2": (("regression", "adj_r2"), lambda v: v - 0.01,
               ("adj_r2 from correlations", "model")),
    "mean": (("means", "A"), lambda v: v + 0.001, ("GRIM (mean of integer answers)", "A")),
    "sd": (("sds", "B"), lambda v: 3.5, ("SD possible for the mean on the scale", "B")),
    "alpha": (("alpha", "C"), lambda v: 1.2, ("alpha vs item count", "C")),
}


@pytest.mark.parametrize("name", list(ALTERATIONS))
def test_altered_figure_is_flagged(consistent, name):
    path, change, flagged = ALTERATIONS[name]
    pub = copy.deepcopy(consistent)
    d = pub
    for key in path[:-1]:
        d = d[key]
    d[path[-1]] = change(d[path[-1]])
    if name == "mean":
        # a mean of N*k = 450 integers moves in steps of 1/450 > 0.002: +0.001 leaves the grid
        from semcluster.analysis.simulate import grim_reachable
        assert not grim_reachable(pub["means"]["A"], N, K_ITEMS)[0]
    v = verdicts(audit(pub))
    assert v[flagged] == "inconsistent"
    assert verdicts(audit(consistent))[flagged] == "consistent"


def test_wrong_stars_are_flagged(consistent):
    pub = copy.deepcopy(consistent)
    p = "A"
    pub["regression"]["stars"][p] = "" if consistent["regression"]["stars"][p] else "***"
    assert verdicts(audit(pub))[("significance stars vs implied t", p)] == "inconsistent"


def test_non_positive_definite_matrix_is_flagged(consistent):
    pub = copy.deepcopy(consistent)
    pub["correlations"] = [[], [0.9], [0.9, -0.9], [0.1, 0.1, 0.1]]
    v = verdicts(audit(pub))
    assert v[("correlation matrix positive definite", "all")] == "inconsistent"


def test_paper_tables_findings():
    """On the paper: Table 4 cannot come from Table 2 (by arithmetic, not by expectation)."""
    t = audit(paper_published())
    v = verdicts(t)
    assert v[("correlation matrix positive definite", "all")] == "consistent"
    for p in ("CA", "MR", "KS"):
        assert v[("standardized beta", p)] == "inconsistent"
    assert v[("r2 from correlations", "model")] == "inconsistent"
    assert v[("F, R², adjusted R² agree for some k", "model")] == "inconsistent"
    assert v[("stepwise selection (PIN .05, POUT .10)", "entered set")] == "inconsistent"
    grim = {r.item: r.verdict for r in t.itertuples() if r.check.startswith("GRIM")}
    assert grim == {"CA": "consistent", "PA": "inconsistent", "MR": "inconsistent",
                    "KS": "inconsistent", "LO": "inconsistent", "IN": "consistent"}


def test_audit_cli_reads_user_file_and_writes_json(tmp_path, consistent, capsys):
    f = tmp_path / "pub.json"
    f.write_text(json.dumps(consistent))
    out = tmp_path / "audit.json"
    assert main(["audit", "--published", str(f), "--json", str(out)]) == 0
    recs = json.loads(out.read_text())
    assert {"check", "item", "published", "verdict"} <= set(recs[0])
    assert load_published(f)["n"] == N


def test_audit_cli_bad_file(tmp_path, capsys):
    f = tmp_path / "pub.yaml"
    f.write_text("n: [unclosed\n")
    assert main(["audit", "--published", str(f)]) == 2
    assert "cannot be read" in capsys.readouterr().err
