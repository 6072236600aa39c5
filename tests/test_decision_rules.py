"""Verdicts on hypotheses and on measurement invariance, and the admissibility flag, each tested
on both sides of its threshold (and at it), with sign and direction cases.

Rules and their sources:

* hypothesis verdict (report table ``h1_h5_verdicts``, regression-vs-SEM table): "supported"
  iff the standardized path has the sign the hypothesis states AND its two-sided p < .05 — the
  paper's criterion (Table 4, p < .05) and the usual significance test of a path (Kline 2016,
  *Principles and Practice of SEM*, 4th ed., ch. 8);
* invariance, likelihood-ratio test: the constrained level "holds" iff the chi-square
  difference test has p >= .05 (lavTestLRT; Cheung & Rensvold 2002);
* invariance, fit indices: not supported iff ΔCFI <= -.010 or ΔRMSEA >= .015 (Chen 2007,
  *Structural Equation Modeling* 14, 464-504; Cheung & Rensvold 2002 for ΔCFI);
* admissibility: a negative variance (Heywood case), a standardized covariance beyond ±1 or a
  latent covariance matrix that is not positive definite make a solution inadmissible
  (Bollen 1989, ch. 7; Kline 2016, ch. 9; lavaan's lav_object_post_check gives the same
  warnings).

Expected verdicts are written in the tables below from the rule, not from semcluster's output;
the Holzinger-Swineford row takes lavaan's chi-square differences, CFI and RMSEA from
``tests/fixtures/models/hs39_invariance.json`` (made by ``tests/fixtures/models/make_fixtures.R``).
"""
from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import semcluster
from semcluster import study
from semcluster.analysis.invariance import fit_index_verdict, lrt_verdict
from semcluster.output.report import FIT_KEYS, hypothesis_verdict
from semcluster.study.report import _structural_section
from semcluster.study.regression_vs_sem import _verdict as compare_verdict

FIX = Path(__file__).parent / "fixtures" / "models"

# ---------------------------------------------------------------------------------------------
# hypothesis verdicts
# ---------------------------------------------------------------------------------------------
# (standardized beta, two-sided p, expected sign, verdict)
HYPOTHESIS_ROWS = [
    (0.30, 0.049, "+", "supported"),            # just below .05
    (0.30, 0.050, "+", "not supported"),        # at .05: p < .05 is required
    (0.30, 0.051, "+", "not supported"),        # just above .05
    (0.30, 0.080, "+", "not supported"),        # would pass at .10
    (0.30, 0.600, "+", "not supported"),        # right sign, not significant
    (-0.30, 0.001, "+", "not supported"),       # significant, wrong sign
    (-0.30, 0.600, "+", "not supported"),       # wrong sign, not significant
    (0.001, 0.049, "+", "supported"),           # a small positive beta counts if significant
    (0.0, 0.001, "+", "not supported"),         # zero has no sign
    (-0.30, 0.049, "-", "supported"),           # a hypothesis of a negative effect
    (0.30, 0.001, "-", "not supported"),
    (-0.30, 0.051, "-", "not supported"),
]


@pytest.mark.parametrize("beta, p, sign, expected", HYPOTHESIS_ROWS)
def test_hypothesis_verdict_needs_the_stated_sign_and_p_below_05(beta, p, sign, expected):
    assert hypothesis_verdict(beta, p, sign) == expected


@pytest.mark.parametrize("beta, p", [(np.nan, 0.01), (0.3, np.nan), (None, 0.01)])
def test_hypothesis_without_estimate_or_p_is_not_tested(beta, p):
    assert hypothesis_verdict(beta, p) == "not tested"


@pytest.mark.parametrize("beta, p, alpha, expected", [
    (0.3, 0.009, 0.01, "supported"), (0.3, 0.011, 0.01, "not supported"),
    (0.3, 0.099, 0.10, "supported"), (0.3, 0.101, 0.10, "not supported")])
def test_hypothesis_verdict_at_another_alpha(beta, p, alpha, expected):
    assert hypothesis_verdict(beta, p, "+", alpha) == expected


@pytest.mark.parametrize("beta, p, sign, expected",
                         [r for r in HYPOTHESIS_ROWS if r[2] == "+"])
def test_regression_vs_sem_verdict_uses_the_same_rule(beta, p, sign, expected):
    assert compare_verdict(beta, p, 0.05) == expected


class _FakeResult:
    """What the report's structural section reads from a fit: paths, fit measures, R²."""

    def __init__(self, paths):
        self.paths = paths
        self.fit_measures = pd.Series({k: 1.0 for k in FIT_KEYS})
        self.r2 = pd.Series({"IN": 0.5})
        self.converged = self.admissible = True

    def parameter(self, lhs, op, rhs):
        beta, p = self.paths[rhs]
        return pd.Series({"lhs": lhs, "op": op, "rhs": rhs, "est": beta, "se": 0.1,
                          "pvalue": p, "std_all": beta, "se_std_all": 0.1})


def test_report_verdict_column_reads_sign_and_p():
    hyp = study.hypotheses()
    assert set(hyp["sign"]) == {"+"}       # the paper states five positive effects
    # one row per case: supported; p just above .05; significant but negative; positive but
    # far from significant; supported with a tiny p
    cases = [((0.25, 0.049), "supported"), ((0.25, 0.051), "not supported"),
             ((-0.25, 0.001), "not supported"), ((0.25, 0.30), "not supported"),
             ((0.40, 1e-6), "supported")]
    paths = {r["from"]: c for (_, r), (c, _) in zip(hyp.iterrows(), cases)}
    section, results = _structural_section(_FakeResult(paths))
    name, _, table = section.tables[0]
    assert name == "h1_h5_verdicts"
    assert list(table["verdict"]) == [v for _, v in cases]
    assert [r["verdict"] for r in results["structural"]["hypotheses"]] == [v for _, v in cases]
    assert list(table["p"]) == [c[1] for c, _ in cases]


def test_report_verdict_without_a_p_value_says_not_tested():
    hyp = study.hypotheses()
    paths = {r["from"]: (0.25, 0.01) for _, r in hyp.iterrows()}
    first = hyp.iloc[0]["from"]
    paths[first] = (0.25, np.nan)            # no standard error, no p
    section, _ = _structural_section(_FakeResult(paths))
    verdicts = list(section.tables[0][2]["verdict"])
    assert verdicts == ["not tested"] + ["supported"] * (len(hyp) - 1)


# ---------------------------------------------------------------------------------------------
# invariance verdicts
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("p, expected", [
    (0.2244, "holds"), (0.0501, "holds"), (0.05, "holds"),          # p >= .05 holds
    (0.0499, "rejected"), (0.0427, "rejected"), (0.011, "rejected"), (0.009, "rejected"),
    (4.4e-7, "rejected"), (np.nan, "not tested")])
def test_invariance_lrt_holds_iff_p_at_least_05(p, expected):
    assert lrt_verdict(p) == expected


# (ΔCFI, ΔRMSEA, holds?)
FIT_INDEX_ROWS = [
    (-0.009, 0.014, True),       # both changes inside the limits
    (-0.0101, 0.014, False),     # CFI drops just past .010
    (-0.010, 0.000, False),      # at the ΔCFI limit: a drop of .010 flags non-invariance
    (-0.009, 0.015, False),      # at the ΔRMSEA limit
    (-0.009, 0.0151, False),
    (-0.020, -0.010, False),     # CFI drops, RMSEA improves: CFI alone decides
    (0.010, 0.030, False),       # CFI improves, RMSEA worsens: RMSEA alone decides
    (0.005, -0.010, True),       # both improve
    (-0.020, 0.030, False),      # both worsen
    (np.nan, 0.0, False),        # a change that cannot be computed supports nothing
    (0.0, np.nan, False),
]


@pytest.mark.parametrize("dcfi, drmsea, holds", FIT_INDEX_ROWS)
def test_invariance_fit_index_verdict_needs_both_cfi_and_rmsea_within_chen_limits(
        dcfi, drmsea, holds):
    v = fit_index_verdict("metric", dcfi, drmsea)
    assert v == ("metric invariance holds" if holds else "metric invariance not supported")


@pytest.mark.parametrize("dcfi, drmsea, holds", [
    (-0.004, 0.009, True), (-0.006, 0.009, False), (-0.004, 0.011, False)])
def test_invariance_fit_index_verdict_with_other_limits(dcfi, drmsea, holds):
    v = fit_index_verdict("scalar", dcfi, drmsea, cfi_limit=-0.005, rmsea_limit=0.010)
    assert v.endswith("holds") is holds


@pytest.fixture(scope="module")
def hs39_by_school():
    from semcluster.resources import data_path

    hs = pd.read_csv(data_path("holzinger_swineford_1939.csv"))
    model = ("visual =~ x1 + x2 + x3\ntextual =~ x4 + x5 + x6\n"
             "speed =~ x7 + x8 + x9")
    return semcluster.measurement_invariance(model, hs, group="school")


def _lavaan_invariance_verdicts():
    """The LRT and ΔCFI/ΔRMSEA verdicts of metric, scalar and strict, by the rules above, on
    lavaan's fit of Holzinger-Swineford by school."""
    ref = json.loads((FIX / "hs39_invariance.json").read_text())
    levels = ["configural", "metric", "scalar", "strict"]
    expected_lrt, expected_fit = [], []
    for i in range(1, 4):
        a, b = ref["fit"][levels[i - 1]], ref["fit"][levels[i]]
        p = ref["lrt"]["pvalue"][i]
        expected_lrt.append("holds" if p >= 0.05 else "rejected")
        ok = (b["cfi"] - a["cfi"] > -0.010) and (b["rmsea"] - a["rmsea"] < 0.015)
        expected_fit.append(f"{levels[i]} invariance " + ("holds" if ok else "not supported"))
    return expected_lrt, expected_fit


def test_invariance_verdicts_on_holzinger_swineford_by_school(hs39_by_school):
    """lavaan's fit of the four levels by school: metric holds on both criteria; scalar is
    rejected by the LRT and by ΔCFI (-.039) although ΔRMSEA (+.0145) is just inside .015;
    strict is rejected by the LRT at p = .043 (it would hold at .01) but holds on the fit
    indices (ΔCFI -.0095, just inside -.010)."""
    expected_lrt, expected_fit = _lavaan_invariance_verdicts()
    assert expected_lrt == ["holds", "rejected", "rejected"]
    assert expected_fit == ["metric invariance holds", "scalar invariance not supported",
                            "strict invariance holds"]
    comp = hs39_by_school.comparisons
    assert list(comp["lrt_verdict"]) == expected_lrt
    assert list(comp["fit_index_verdict"]) == expected_fit
    text = hs39_by_school.summary()
    assert "p 0.0427 (rejected)" in text and "strict invariance holds" in text


def test_invariance_cli_prints_and_writes_the_verdicts(hs39_by_school, monkeypatch, tmp_path,
                                                      capsys):
    """The verdict columns through the CLI's table and JSON (the fit itself is the fixture's,
    made with the same arguments, so the test does not fit the four levels twice)."""
    import semcluster.analysis.invariance as inv
    from semcluster.cli import main
    from semcluster.resources import data_path

    calls = []

    def same_fit(model, data, *, group, group_partial=None):
        calls.append((group, len(data), group_partial))
        return hs39_by_school

    monkeypatch.setattr(inv, "measurement_invariance", same_fit)

    model = tmp_path / "hs.lav"
    model.write_text("visual =~ x1 + x2 + x3\ntextual =~ x4 + x5 + x6\nspeed =~ x7 + x8 + x9\n")
    out = tmp_path / "inv.json"
    rc = main(["invariance", str(model), "--data", str(data_path("holzinger_swineford_1939.csv")),
               "--group", "school", "--json", str(out)])
    assert rc == 0 and calls == [("school", 301, None)]
    expected_lrt, expected_fit = _lavaan_invariance_verdicts()
    comps = json.loads(out.read_text())["comparisons"]
    assert [c["lrt_verdict"] for c in comps] == expected_lrt
    assert [c["fit_index_verdict"] for c in comps] == expected_fit
    printed = capsys.readouterr().out
    for v in expected_fit:
        assert v in printed


# ---------------------------------------------------------------------------------------------
# admissibility (Heywood cases, correlations beyond ±1)
# ---------------------------------------------------------------------------------------------
def _cov(values, names):
    return pd.DataFrame(np.array(values, dtype=float), index=names, columns=names)


# One factor, three indicators (just identified): the ML loading of a is
# lambda_a^2 = r_ab * r_ac / r_bc, so theta_a = 1 - r_ab r_ac / r_bc (standardized items).
@pytest.mark.parametrize("r_ab, r_ac, r_bc", [
    (0.8, 0.6, 0.40),         # lambda^2 = 1.20: theta = -0.20
    (0.8, 0.6, 0.47),         # 1.021: theta = -0.021
    (0.8, 0.6, 0.49),         # 0.980: theta = +0.020
    (0.8, 0.6, 0.60),         # 0.80
    (-0.8, -0.6, 0.40),       # negative loadings: the same negative variance
])
def test_negative_residual_variance_makes_the_solution_inadmissible(r_ab, r_ac, r_bc):
    theta = 1 - r_ab * r_ac / r_bc
    S = _cov([[1, r_ab, r_ac], [r_ab, 1, r_bc], [r_ac, r_bc, 1]], ["a", "b", "c"])
    res = semcluster.fit("f =~ a + b + c", cov=S, nobs=200, cov_rescale=False)
    assert res.parameter("a", "~~", "a").est == pytest.approx(theta, abs=1e-5)
    assert res.converged
    assert res.admissible is (theta >= 0)
    assert any("Heywood" in w for w in res.warnings) is (theta < 0)
    assert ("The solution is NOT admissible" in res.summary()) is (theta < 0)     # printed


# Two factors, two standardized indicators each, every within-factor correlation .5 and every
# cross correlation c: the ML factor correlation is c / .5 (exact fit).
@pytest.mark.parametrize("c", [0.40, 0.45, 0.49, 0.51, 0.55, -0.45, -0.55])
def test_factor_correlation_beyond_one_makes_the_solution_inadmissible(c):
    phi = c / 0.5
    names = ["a1", "a2", "b1", "b2"]
    S = _cov([[1, .5, c, c], [.5, 1, c, c], [c, c, 1, .5], [c, c, .5, 1]], names)
    res = semcluster.fit("A =~ a1 + a2\nB =~ b1 + b2", cov=S, nobs=300, cov_rescale=False)
    assert res.parameter("A", "~~", "B").std_all == pytest.approx(phi, abs=1e-4)
    assert res.admissible is (abs(phi) <= 1)
    assert any("standardized covariance beyond ±1" in w for w in res.warnings) is (abs(phi) > 1)
    assert any("latent variables is not positive definite" in w
               for w in res.warnings) is (abs(phi) > 1)


# (entered, beta, printed p bound, alpha, verdict): the paper prints bounds ("p < .01", stars)
@pytest.mark.parametrize("entered, beta, bound, alpha, expected", [
    (True, 0.20, 0.01, 0.05, "supported"),
    (True, 0.20, 0.05, 0.05, "supported"),        # "p < .05": p is below .05
    (True, 0.20, 0.10, 0.05, "not supported"),    # "p < .10" says nothing at .05
    (True, -0.20, 0.01, 0.05, "not supported"),   # wrong sign
    (False, 0.20, 0.01, 0.05, "not supported"),   # not in the stepwise model
    (True, 0.20, np.nan, 0.05, "supported"),      # entered: p < PIN = .05
    (True, 0.20, np.nan, 0.01, "not supported"),  # ... which says nothing at .01
    (True, 0.20, 0.01, 0.01, "supported"),
])
def test_published_verdict_reads_the_printed_p_bound(entered, beta, bound, alpha, expected):
    from semcluster.study.regression_vs_sem import _published_verdict

    assert _published_verdict(entered, beta, bound, alpha) == expected


# ---------------------------------------------------------------------------------------------
# power: a replicate detects a path; the smallest N reaching the target power
# ---------------------------------------------------------------------------------------------
Z05 = 1.959963984540054          # the two-sided .05 critical value of N(0, 1)


@pytest.mark.parametrize("est, se, truth, hit", [
    (Z05 * 1.001, 1.0, 0.3, True),      # p just below .05, right sign
    (Z05 * 0.999, 1.0, 0.3, False),     # p just above .05
    (-3.0, 1.0, 0.3, False),            # significant, wrong sign
    (-3.0, 1.0, -0.3, True),            # a negative true path
    (3.0, np.nan, 0.3, False),          # no standard error
])
def test_power_counts_significant_estimates_of_the_true_sign(est, se, truth, hit):
    from semcluster.analysis.power import detected

    assert 2 * stats.norm.sf(Z05) == pytest.approx(0.05, abs=1e-12)
    assert bool(detected([est], [se], truth, 0.05)[0]) is hit


def test_smallest_n_is_the_first_grid_point_at_or_above_the_target():
    from semcluster.analysis.power import smallest_n_reaching

    table = pd.DataFrame({"n": [100, 200, 300] * 3,
                          "path": ["a"] * 3 + ["b"] * 3 + ["c"] * 3,
                          "power": [0.79, 0.80, 0.95,      # reaches .80 exactly at 200
                                    0.50, 0.799, 0.7999,   # never reaches it
                                    0.85, 0.78, 0.90]})    # noise: the first N counts
    assert smallest_n_reaching(table, ["a", "b", "c"], 0.80) == {"a": 200, "b": None, "c": 100}


# ---------------------------------------------------------------------------------------------
# bootstrap: a replicate is inadmissible when any free variance is negative
# ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def replicator():
    from semcluster.analysis.bootstrap import _Replicator
    from semcluster.spec.parser import read_model

    rng = np.random.default_rng(12)
    f = rng.normal(size=(150, 1))
    X = f @ np.array([[0.8, 0.7, 0.6, 0.5]]) + rng.normal(scale=0.6, size=(150, 4))
    df = pd.DataFrame(X, columns=["a", "b", "c", "d"])
    model = "f =~ a + b + c + d\na ~~ b"
    res = semcluster.fit(model, df)
    return _Replicator(read_model(model), df.to_numpy(), res.info["x"])


@pytest.mark.parametrize("lhs, rhs, value, admissible", [
    ("a", "a", -1e-6, False),     # a residual variance just below zero
    ("a", "a", 0.0, True),        # zero is on the boundary, not beyond it
    ("a", "a", 1e-6, True),
    ("f", "f", -0.01, False),     # a negative latent variance
    ("a", "b", -0.30, True),      # a negative covariance is no Heywood case
])
def test_bootstrap_replicate_with_a_negative_variance_is_inadmissible(replicator, lhs, rhs,
                                                                       value, admissible):
    rows = replicator.ram.rows
    free = rows.loc[(rows.lhs == lhs) & (rows.op == "~~") & (rows.rhs == rhs), "free"]
    assert len(free) == 1 and free.iloc[0] > 0
    x = replicator.x_hat.copy()
    x[int(free.iloc[0]) - 1] = value
    _, adm, chisq = replicator.outcome(SimpleNamespace(x=x, fmin=0.01))
    assert adm is admissible
    assert chisq == pytest.approx(150 * 0.01)
