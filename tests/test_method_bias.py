"""Common-method bias: Harman's single-factor test, the one-factor CFA and the unmeasured latent
method construct (ULMC), against R.

References: ``tests/fixtures/method_bias/make_fixtures.R`` (R 4.2, lavaan 0.6.14, psych 2.2.9;
the models written there by hand in lavaan syntax): ``prcomp(scale. = TRUE)`` and
``psych::principal(nfactors = 1, rotate = "none")`` for Harman's share; ``cfa()`` of the
one-factor, trait and ULMC models with ``fitMeasures``, ``parameterEstimates(standardized =
TRUE)`` and ``anova`` (the χ² difference), on a simulated 300-respondent survey with a method
effect on every item (complete; and with 6 % of answers missing completely at random, FIML) and
on the bundled study data.

Tolerances: χ² within 1e-4 relative, fit indices within 1e-4, estimates within 1e-3, SEs within
1 %, standardized loadings within 1e-3 (both optimizers stop at slightly different points).

On the study data the ULMC model has no single optimum: lavaan (no bounds) stops at χ² 189.94
with every trait variance negative and no standard errors (recorded in the fixture), lavaan with
``bounds = "standard"`` at 192.68 and with ``bounds = "pos.var"`` at 191.87 (checked by hand, not
in the fixture); semcluster stops at an admissible stationary point (χ² 194.40, gradient
< 1e-8).  The test checks what can be checked: semcluster's solution is admissible and not
below lavaan's χ², and lavaan's is inadmissible, which is the identification caveat the report
states.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from semcluster.analysis import method_bias as mb
from semcluster.result.document import Table
from semcluster.errors import DataError, OptionError

HERE = Path(__file__).parent / "fixtures" / "method_bias"
REF = json.loads((HERE / "lavaan.json").read_text())
SIM = HERE / "survey_cmv.csv"
SIM_MISSING = HERE / "survey_cmv_missing.csv"
SIM_MODEL = ("QA =~ qa1 + qa2 + qa3 + qa4\nQB =~ qb1 + qb2 + qb3 + qb4\n"
             "QC =~ qc1 + qc2 + qc3 + qc4\n")
# the user's model is structural: its measurement part is what the checks use
SIM_SEM = SIM_MODEL + "QC ~ QA + QB\n"
FIT_KEYS = ("chisq", "df", "pvalue", "cfi", "tli", "rmsea", "srmr", "npar")


@pytest.fixture(scope="module")
def sim():
    return mb.method_factor_check(SIM_SEM, pd.read_csv(SIM))


@pytest.fixture(scope="module")
def sim_fiml():
    return mb.method_factor_check(SIM_MODEL, pd.read_csv(SIM_MISSING), missing="fiml")


@pytest.fixture(scope="module")
def study():
    return mb.method_factor_check("h1_h5")


#: The project's tolerances (tests/lavaan_reference.py) for the one-factor and trait models,
#: ordinary CFAs; the method-factor (ULMC) model is held to looser ones: its likelihood is
#: nearly flat along the method factor (a trait/method trade-off), where lavaan's optimizer
#: stops early, so its estimates and SEs are compared at 1e-3 / 1 % and χ² at 1e-4.
TOL = {"one_factor": dict(chisq=1e-6, index=1e-5, est=1e-4, se=2e-4),
       "trait": dict(chisq=1e-6, index=1e-5, est=1e-4, se=2e-4),
       "ulmc": dict(chisq=1e-4, index=1e-4, est=1e-3, se=1e-2)}


def _check_fit(res, ref, key):
    r = ref[key]["fit"]
    got = res.fits.loc[key]
    tol = TOL[key]
    assert got["df"] == r["df"] and got["npar"] == r["npar"]
    assert got["chisq"] == pytest.approx(r["chisq"], rel=tol["chisq"])
    for k in ("cfi", "tli", "rmsea", "srmr", "pvalue"):
        assert got[k] == pytest.approx(r[k], abs=tol["index"]), (key, k)


def _ordered(e):
    """Covariances named in one order (lavaan writes ``CMV ~~ 0*QA`` as ``QA ~~ CMV``)."""
    e = e.copy()
    cov = e.op == "~~"
    a, b = e.loc[cov, "lhs"].copy(), e.loc[cov, "rhs"].copy()
    e.loc[cov, "lhs"] = np.where(a <= b, a, b)
    e.loc[cov, "rhs"] = np.where(a <= b, b, a)
    return e


def _check_estimates(result, ref, key):
    e = _ordered(result.estimates)
    r = _ordered(pd.DataFrame(ref[key]["estimates"]))
    m = r.merge(e, on=["lhs", "op", "rhs"], suffixes=("_ref", ""))
    assert len(m) == len(r), "every lavaan parameter is in semcluster's table"
    # the method factor (variance 1, all loadings free) is defined up to its sign
    meth = (m.lhs == "CMV") & (m.op == "=~")
    if meth.any() and np.sign(m.loc[meth, "est"].sum()) != np.sign(m.loc[meth, "est_ref"].sum()):
        m.loc[meth, ["est", "std_all"]] *= -1
    tol = TOL[key]
    assert np.allclose(m["est"], m["est_ref"], rtol=tol["est"], atol=tol["est"])
    free = m["se_ref"] > 0
    assert np.allclose(m.loc[free, "se"], m.loc[free, "se_ref"], rtol=tol["se"])
    assert np.allclose(m["std_all"], m["std_all_ref"], atol=tol["est"])


# ---------------------------------------------------------------------------------------------
# Harman
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("case, data, items", [
    ("simulated", SIM, SIM_MODEL),
    ("simulated_fiml", SIM_MISSING, SIM_MODEL),
    ("study", None, "cfa")])
def test_harman_share_and_eigenvalues_equal_prcomp_and_psych_principal(case, data, items):
    ref = REF[case]["harman"]
    h = mb.harman(pd.read_csv(data) if data else None, items)
    assert h.n == ref["n"]
    assert np.allclose(h.eigenvalues, ref["eigenvalues"], atol=1e-10)
    assert h.share == pytest.approx(ref["share_prcomp"], abs=1e-10)
    assert h.share == pytest.approx(ref["share_psych"], abs=1e-10)
    assert h.n_above_one == ref["n_above_one"]


def test_harman_leaves_incomplete_rows_out_and_says_how_many():
    d = pd.read_csv(SIM_MISSING)
    h = mb.harman(d, SIM_MODEL)
    assert h.n_dropped == len(d) - REF["simulated_fiml"]["harman"]["n"] > 0
    assert f"{h.n_dropped} row(s)" in h.table().note


@pytest.mark.parametrize("share, dominant", [(0.49, False), (0.50, False), (0.51, True)])
def test_harman_dominance_flag_on_both_sides_of_fifty_percent(share, dominant):
    p = 10
    first = share * p
    ev = np.array([first] + [(p - first) / (p - 1)] * (p - 1))
    h = mb.HarmanResult(items=tuple(f"x{i}" for i in range(p)), eigenvalues=ev, n=100)
    assert h.share == pytest.approx(share)
    assert h.dominant is dominant
    assert ("one factor dominates" in h.verdict()) is dominant
    assert ("单一因子占主导" in h.verdict("zh")) is dominant


@pytest.mark.parametrize("second, single", [(0.99, True), (1.01, False)])
def test_harman_single_factor_flag_on_both_sides_of_eigenvalue_one(second, single):
    ev = np.array([3.0, second, 0.5, 0.5])
    h = mb.HarmanResult(items=("a", "b", "c", "d"), eigenvalues=ev, n=50)
    assert h.n_above_one == (1 if single else 2)
    assert h.single_factor is single
    assert ("a single component" in h.verdict()) is single


def test_harman_refuses_a_missing_column_a_constant_item_and_a_single_item():
    d = pd.read_csv(SIM)
    with pytest.raises(DataError, match="qz9"):
        mb.harman(d, ["qa1", "qz9"])
    with pytest.raises(OptionError, match="at least two items"):
        mb.harman(d, ["qa1"])
    d2 = d.copy()
    d2["qa2"] = 4.0
    with pytest.raises(DataError, match="qa2"):
        mb.harman(d2, ["qa1", "qa2", "qa3"])


# ---------------------------------------------------------------------------------------------
# one-factor CFA and ULMC against lavaan
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("key", ["one_factor", "trait", "ulmc"])
def test_three_models_fit_as_lavaan_on_the_simulated_survey(sim, key):
    _check_fit(sim, REF["simulated"], key)
    _check_estimates(sim.results[key], REF["simulated"], key)


@pytest.mark.parametrize("key", ["one_factor", "trait", "ulmc"])
def test_three_models_fit_as_lavaan_with_fiml_on_missing_answers(sim_fiml, key):
    assert sim_fiml.missing == "fiml"
    _check_fit(sim_fiml, REF["simulated_fiml"], key)
    _check_estimates(sim_fiml.results[key], REF["simulated_fiml"], key)


@pytest.mark.parametrize("case", ["simulated", "simulated_fiml"])
def test_chisq_differences_equal_lavaan_anova(sim, sim_fiml, case):
    res = {"simulated": sim, "simulated_fiml": sim_fiml}[case]
    ref = REF[case]
    assert res.tests["one_factor"]["df_diff"] == ref["df_diff_one"]
    assert res.tests["one_factor"]["chisq_diff"] == pytest.approx(ref["chisq_diff_one"],
                                                                  rel=1e-4)
    assert res.tests["ulmc"]["df_diff"] == ref["df_diff_ulmc"]
    assert res.tests["ulmc"]["chisq_diff"] == pytest.approx(ref["chisq_diff_ulmc"], rel=1e-3)
    assert res.tests["ulmc"]["pvalue"] == pytest.approx(ref["p_ulmc"], abs=1e-4)


@pytest.mark.parametrize("key", ["one_factor", "trait"])
def test_one_factor_and_trait_models_fit_as_lavaan_on_the_study_data(study, key):
    _check_fit(study, REF["study"], key)
    _check_estimates(study.results[key], REF["study"], key)


def test_study_ulmc_is_admissible_where_lavaans_unbounded_optimum_is_not(study):
    ref = REF["study"]["ulmc"]
    e = pd.DataFrame(ref["estimates"])
    trait_var = e[(e.op == "~~") & (e.lhs == e.rhs) & e.lhs.isin(["CA", "PA", "MR", "KS",
                                                                     "LO", "IN"])]
    assert (trait_var["est"] < 0).all()            # lavaan: every trait variance negative
    assert study.ulmc_usable
    assert study.fits.at["ulmc", "df"] == ref["fit"]["df"]
    assert study.fits.at["ulmc", "chisq"] >= ref["fit"]["chisq"] - 1e-6
    assert study.bias_indicated is False


def test_deltas_are_the_changes_of_the_fit_indices(sim):
    f = sim.fits
    assert sim.deltas["cfi"] == pytest.approx(f.at["ulmc", "cfi"] - f.at["trait", "cfi"])
    assert sim.deltas["tli"] == pytest.approx(f.at["ulmc", "tli"] - f.at["trait", "tli"])
    assert sim.deltas["rmsea"] == pytest.approx(f.at["trait", "rmsea"] - f.at["ulmc", "rmsea"])
    assert sim.deltas["srmr"] == pytest.approx(f.at["trait", "srmr"] - f.at["ulmc", "srmr"])
    ref = REF["simulated"]
    assert sim.deltas["srmr"] == pytest.approx(ref["trait"]["fit"]["srmr"] -
                                               ref["ulmc"]["fit"]["srmr"], abs=1e-4)
    m = pd.DataFrame(ref["ulmc"]["estimates"])
    m = m[(m.lhs == "CMV") & (m.op == "=~")]
    assert sim.method_variance_share == pytest.approx(float(np.mean(m["std_all"] ** 2)),
                                                      abs=1e-3)


# ---------------------------------------------------------------------------------------------
# verdicts on both sides of every threshold
# ---------------------------------------------------------------------------------------------
def _with(res, deltas=None, usable=True):
    fits = res.fits.copy()
    fits.loc["ulmc", "admissible"] = usable
    return mb.MethodBiasResult(harman=res.harman, fits=fits, tests=res.tests,
                               deltas={**{k: 0.0 for k in ("cfi", "tli", "rmsea", "srmr")},
                                       **(deltas or {})},
                               loadings=res.loadings, estimator=res.estimator,
                               ulmc_starts=[dict(s) for s in res.ulmc_starts])


@pytest.mark.parametrize("index, below, above", [("cfi", 0.099, 0.101), ("tli", 0.099, 0.101),
                                                 ("rmsea", 0.049, 0.051),
                                                 ("srmr", 0.049, 0.051)])
def test_ulmc_verdict_on_both_sides_of_each_threshold(sim, index, below, above):
    lo, hi = _with(sim, {index: below}), _with(sim, {index: above})
    assert lo.delta_flags()[index] is False and lo.bias_indicated is False
    assert hi.delta_flags()[index] is True and hi.bias_indicated is True
    table = {t.key: t for t in hi.tables()}["method_bias_ulmc"]
    row = table.frame.set_index("index").loc["Δ" + index.upper()]
    assert row["verdict"] == "exceeds"
    assert "serious common-method bias is indicated" in table.note
    assert {t.key: t for t in lo.tables()}["method_bias_ulmc"].frame.set_index(
        "index").loc["Δ" + index.upper(), "verdict"] == "within"


def test_no_ulmc_verdict_without_an_admissible_method_factor_model(sim):
    res = _with(sim, {"cfi": 0.5}, usable=False)
    assert res.bias_indicated is None
    assert set(res.delta_flags().values()) == {None}
    t = {t.key: t for t in res.tables()}
    assert "no verdict" in t["method_bias_ulmc"].note
    assert "Admissible" in [c.title for c in t["method_bias_fit"].columns]


@pytest.mark.parametrize("p, worse", [(0.049, True), (0.051, False)])
def test_one_factor_worse_flag_on_both_sides_of_05(sim, p, worse):
    res = _with(sim)
    res.tests["one_factor"] = {**sim.tests["one_factor"], "pvalue": p}
    assert res.one_factor_worse is worse


# ---------------------------------------------------------------------------------------------
# models, tables, dict, bad input
# ---------------------------------------------------------------------------------------------
def test_measurement_part_of_a_second_order_model_correlates_the_first_order_factors():
    text, factors = mb.measurement_part("second_order")
    assert list(factors) == ["CA", "PA", "MR", "KS", "LO", "IN"]
    assert "PF" not in text and "~ pf" not in text
    assert text.count("~~") == 5       # one line per factor with the later ones


def test_measurement_part_keeps_a_freed_marker_and_its_fixed_variance():
    text, _ = mb.measurement_part("A =~ NA*a1 + a2 + a3\nB =~ b1 + b2 + b3\nA ~~ 1*A\n"
                                  "B ~ A\na1 ~~ b1\n")
    assert "A =~ NA*a1 + a2 + a3" in text
    assert "A ~~ 1*A" in text and "a1 ~~ b1" in text and "B ~ A" not in text


def test_method_factor_needs_two_traits():
    with pytest.raises(OptionError, match="at least two factors"):
        mb.method_factor_check("one_factor")


def test_method_factor_refuses_data_without_the_items():
    d = pd.read_csv(SIM).drop(columns=["qb2"])
    with pytest.raises(DataError, match="qb2"):
        mb.method_factor_check(SIM_MODEL, d)


def test_tables_have_kinds_headers_and_language(sim):
    en, zh = sim.tables("en"), sim.tables("zh")
    assert [t.key for t in en] == ["harman", "method_bias_fit", "method_bias_ulmc",
                                   "method_bias_loadings"]
    assert all(isinstance(t, Table) for t in en)
    for t in en:
        assert {c.name for c in t.columns} <= set(t.frame.columns)
    fit = {c.name: c.kind for c in en[1].columns}
    assert fit["pvalue"] == "p" and fit["df"] == "count" and fit["cfi"] == "bounded"
    assert fit["tli"] == "number"            # TLI can exceed 1
    assert zh[0].title.startswith("Harman 单因子检验")
    assert "模型" in [c.title for c in zh[1].columns]
    with pytest.raises(OptionError, match="language"):
        sim.tables("fr")


def test_to_dict_is_json_and_holds_the_raw_numbers(sim):
    d = json.loads(json.dumps(sim.to_dict()))
    assert d["fits"]["trait"]["chisq"] == sim.fits.at["trait", "chisq"]
    assert d["harman"]["share"] == sim.harman.share
    assert d["bias_indicated"] is sim.bias_indicated
    assert "CMV =~ NA*start(" in d["models"]["ulmc"] and "CMV ~~ 1*CMV" in d["models"]["ulmc"]
    assert len(d["ulmc_starts"]) == 1 + len(mb.ULMC_STARTS)


def test_ulmc_is_fitted_from_several_starts_and_keeps_the_lowest_admissible(sim):
    """On the simulated survey the default starts stop short (lavaan's optimum is reached
    from the other starts): the kept solution is the one lavaan finds."""
    starts = sim.ulmc_starts
    ok = [s["chisq"] for s in starts if s["converged"] and s["admissible"]]
    assert sim.fits.at["ulmc", "chisq"] == min(ok)
    assert sim.fits.at["ulmc", "chisq"] == pytest.approx(REF["simulated"]["ulmc"]["fit"]["chisq"],
                                                         rel=1e-4)


@pytest.mark.parametrize("chisqs, flagged", [((30.0, 30.005), False), ((30.0, 30.02), True)])
def test_local_optima_flag_on_both_sides_of_001(sim, chisqs, flagged):
    res = _with(sim)
    res.ulmc_starts[:] = [{"start": str(k), "chisq": c, "converged": True, "admissible": True}
                          for k, c in enumerate(chisqs)]
    assert res.local_optima is flagged
    note = {t.key: t for t in res.tables()}["method_bias_ulmc"].note
    assert ("under-identification; the admissible solution" in note) is flagged


def test_cli_prints_the_tables_and_writes_the_library_numbers(tmp_path, capsys, sim):
    from semcluster.cli import main

    model = tmp_path / "sem.lav"
    model.write_text(SIM_SEM)
    out = tmp_path / "mb.json"
    assert main(["method-bias", str(model), "--data", str(SIM), "--json", str(out)]) == 0
    text = capsys.readouterr().out
    assert "Harman's single-factor test" in text and "Change of fit" in text
    d = json.loads(out.read_text())
    assert d["fits"]["ulmc"]["chisq"] == pytest.approx(sim.fits.at["ulmc", "chisq"], rel=1e-9)
    assert d["harman"]["share"] == pytest.approx(sim.harman.share, rel=1e-12)


def test_cli_refuses_a_one_factor_model_in_one_line(capsys):
    from semcluster.cli import main

    assert main(["method-bias", "one_factor"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "at least two factors" in err


def test_a_negative_scaled_difference_is_reported_as_not_computable(monkeypatch):
    import semcluster.analysis.model_comparison as mc

    real = mc.chisq_difference

    def negative(restricted, full):
        t = real(restricted, full)
        return {**t, "chisq_diff": -5.0, "test": "Satorra-Bentler (2001) scaled difference"}

    monkeypatch.setattr(mc, "chisq_difference", negative)
    res = mb.method_factor_check(SIM_MODEL, pd.read_csv(SIM))
    for key in ("one_factor", "ulmc"):
        assert np.isnan(res.tests[key]["chisq_diff"]) and np.isnan(res.tests[key]["pvalue"])
        assert "not computable" in res.tests[key]["test"]
    assert res.one_factor_worse is None
    fit = {t.key: t for t in res.tables()}["method_bias_fit"]
    assert fit.frame["chisq_diff"].isna().all() and "not computable" in fit.note
    # a positive difference passes through unchanged
    monkeypatch.setattr(mc, "chisq_difference", real)
    ok = mb._difference(real, res.results["trait"], res.results["ulmc"])
    assert ok["chisq_diff"] > 0 and "not computable" not in ok["test"]


def test_mlr_uses_robust_indices_and_the_scaled_difference():
    res = mb.method_factor_check(SIM_MODEL, pd.read_csv(SIM), estimator="MLR")
    fm = res.results["trait"].fit_measures
    assert res.estimator == "MLR"
    assert res.fits.at["trait", "chisq"] == fm["chisq_scaled"]
    assert res.fits.at["trait", "cfi"] == fm["cfi_robust"]
    assert res.fits.at["trait", "rmsea"] == fm["rmsea_robust"]
    assert "Satorra-Bentler" in res.tests["ulmc"]["test"]


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_section_holds_the_findings_the_tables_and_the_caveats(sim, lang):
    from semcluster.result.document import Paragraph

    sec = sim.section(lang)
    tables = [b for b in sec.blocks if isinstance(b, Table)]
    assert [t.key for t in tables] == [t.key for t in sim.tables(lang)]
    notes = [b.text for b in sec.blocks if isinstance(b, Paragraph) and b.kind == "note"]
    assert notes == mb.CAVEATS[lang]
    first = sec.blocks[0].text
    assert f"{100 * sim.harman.share:.1f}" in first
    assert f"{sim.deltas['cfi']:.3f}" in first


@pytest.mark.parametrize("indicated, en, zh", [
    (True, "serious common-method bias is indicated", "提示存在严重的共同方法偏差"),
    (False, "no serious common-method bias is indicated", "未发现严重的共同方法偏差"),
    (None, "no verdict", "无法判断")])
def test_findings_text_follows_the_verdict(sim, indicated, en, zh):
    res = _with(sim, {"cfi": 0.2} if indicated else {}, usable=indicated is not None)
    assert res.bias_indicated is indicated
    assert en in res.text("en") and zh in res.text("zh")


def test_word_tables_of_the_checks_equal_the_json_numbers(sim, tmp_path):
    docx = pytest.importorskip("docx")
    from semcluster.output import manuscript
    from semcluster.result.document import Document

    doc = Document("CMB", sections=[sim.section("en")])
    path = manuscript.write_docx(doc, tmp_path / "cmb.docx", style="apa")
    d = json.loads(json.dumps(sim.to_dict()))
    tables = docx.Document(str(path)).tables
    assert len(tables) == 4
    fit = tables[1]
    head = [c.text for c in fit.rows[0].cells]
    for i, key in enumerate(("one_factor", "trait", "ulmc"), 1):
        row = dict(zip(head, (c.text for c in fit.rows[i].cells)))
        f = d["fits"][key]
        assert float(row["χ²"]) == round(f["chisq"], 2)
        assert int(row["df"]) == f["df"]
        assert float(row["SRMR"]) == round(f["srmr"], 3)
        assert float(row["TLI"].replace("−", "-")) == round(f["tli"], 3)
    harman_row = [c.text for c in tables[0].rows[1].cells]
    assert float(harman_row[3]) == round(100 * d["harman"]["share"], 1)
    load = tables[3]
    for i, r in enumerate(d["loadings"], 1):
        cells = [c.text.replace("−", "-") for c in load.rows[i].cells]
        assert cells[0] == r["item"] and float(cells[4]) == round(r["method"], 2)


@pytest.mark.parametrize("converged, admissible, computed", [
    (True, True, True), (False, True, False), (True, False, False)])
def test_difference_tests_need_converged_admissible_models(sim, converged, admissible,
                                                           computed):
    fits = sim.fits.copy()
    fits.loc["ulmc", "converged"] = converged
    fits.loc["ulmc", "admissible"] = admissible
    tests = mb._usable_tests(sim.tests, fits)
    assert bool(np.isfinite(tests["ulmc"]["chisq_diff"])) is computed
    assert ("not computed: the ulmc model" in tests["ulmc"]["test"]) is not computed
    assert np.isfinite(tests["one_factor"]["chisq_diff"])       # the other pair is untouched
