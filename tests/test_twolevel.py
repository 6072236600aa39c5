"""Two-level SEM: lavaan's ``level:`` syntax, two-level ML against lavaan 0.6.14, and what is
refused.

Reference numbers: ``tests/fixtures/twolevel/*.json``, written by
``tests/fixtures/twolevel/make_twolevel_fixtures.R`` (lavaan 0.6.14). lavaan's default fit of
Demo.twolevel stops nlminb slightly short of the maximum (between intercepts 1e-4 off) and its
unrestricted (h1) model is an EM run stopped at tol 1e-4; the fixtures' ``optimum`` block holds
lavaan's own fit restarted from its solution and lavaan's fit of the saturated two-level model
written out, which reach the maximum. Estimates, SEs (observed information), std.all and the h1
log-likelihood are compared with that block; logL and the χ²-based indices with lavaan's default
fit.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import semcluster
from semcluster.errors import DataError, ModelSyntaxError, OptionError
from semcluster.spec.parser import parse_model

HERE = Path(__file__).parent / "fixtures"
TWO = HERE / "twolevel"
CASES = {
    "demo": (TWO / "demo.lav", HERE / "cluster" / "demo_twolevel.csv", "cluster"),
    "study": (TWO / "study.lav", HERE / "cluster" / "study_clustered.csv", "park"),
}
LEVEL = {"within": 1, "between": 2, 1: 1, 2: 2, "1": 1, "2": 2}


@pytest.fixture(scope="module", params=sorted(CASES))
def case(request):
    model, csv, cluster = CASES[request.param]
    with pytest.warns(Warning):        # the data report's design-effect warning
        res = semcluster.fit(model, pd.read_csv(csv), cluster=cluster)
    ref = json.loads((TWO / f"{request.param}_ml.json").read_text())
    return request.param, res, ref


def _merged(res, table):
    ref = pd.DataFrame(table)
    ref["level"] = ref["level"].map(LEVEL)
    mine = res.estimates.assign(level=res.estimates["level"].astype(int))
    m = ref.merge(mine, on=["lhs", "op", "rhs", "level"], how="outer", suffixes=("_ref", ""),
                  indicator=True)
    assert (m["_merge"] == "both").all(), m[m["_merge"] != "both"][["lhs", "op", "rhs", "level"]]
    return m


# -- syntax --------------------------------------------------------------------------------------
@pytest.mark.parametrize("first, second", [("1", "2"), ("within", "between"),
                                           ("Within", "BETWEEN"), ("1", "between")])
def test_level_lines_give_every_row_its_level(first, second):
    spec = parse_model(f"level: {first}\n f =~ y1 + y2 + y3\nlevel: {second}\n"
                       f" g =~ y1 + y2 + y3\n")
    pt = spec.partable
    assert spec.is_twolevel
    assert set(pt.loc[pt.lhs == "f", "level"]) == {1}
    assert set(pt.loc[pt.lhs == "g", "level"]) == {2}
    # the defaults are added per level: a residual variance of y1 at each level
    assert sorted(pt.loc[(pt.lhs == "y1") & (pt.op == "~~"), "level"]) == [1, 2]
    # parameters are numbered on through both levels, the marker loading fixed at each
    free = pt.loc[pt.free > 0, "free"]
    assert sorted(free) == list(range(1, len(free) + 1))
    assert (pt.loc[(pt.op == "=~") & (pt.rhs == "y1"), "free"] == 0).all()


def test_a_model_without_levels_has_no_level_column():
    spec = parse_model("f =~ y1 + y2 + y3")
    assert not spec.is_twolevel and "level" not in spec.partable.columns


@pytest.mark.parametrize("text, line, col, words", [
    ("level: 3\n f =~ a + b + c\n", 1, 8, "'level: 3' is not a level"),
    ("level: 1\n f =~ a + b + c\nlevel: school\n g =~ a + b + c\n", 3, 8, "not a level"),
    ("f =~ a + b + c\nlevel: 1\n g =~ a + b + c\nlevel: 2\n h =~ a + b + c\n", 2, 1,
     "statements before the first"),
    ("level: 1\n f =~ a + b + c\n", 1, 1, "needs both"),
    ("level: 2\n f =~ a + b + c\nlevel: 1\n g =~ a + b + c\n", 3, 1, "comes before"),
    ("level: 1\nlevel: 2\n f =~ a + b + c\n", 1, 1, "level 1 has no statements"),
    ("level: 1\n f =~ a + b + c\nlevel: 1\n g =~ a + b + c\n", 3, 1, "opened twice"),
    ("group: 1\n f =~ a + b + c\n", 1, 1, "group="),
    ("level: 1\n f =~ a + b + c\n a ~ 1\nlevel: 2\n g =~ a + b + c\n", 3, 6, "intercepts"),
    ("level: 1\n f =~ a + x*b + c\nlevel: 2\n g =~ a + x*b + c\n", 4, 13, "both levels"),
    ("level: 1\n f =~ a + x*b + c\n d := x^2\nlevel: 2\n g =~ a + b + c\n", 3, 2, ":="),
])
def test_bad_level_blocks_are_refused_with_line_and_column(text, line, col, words):
    with pytest.raises(ModelSyntaxError) as e:
        parse_model(text)
    msg = str(e.value)
    assert f"<string>:{line}:{col}:" in msg, msg
    assert words in msg, msg
    assert "\n" not in msg


# -- agreement with lavaan --------------------------------------------------------------------
def test_every_parameter_and_std_all_agree_with_lavaan_at_the_optimum(case):
    _, res, ref = case
    m = _merged(res, ref["optimum"]["estimates"])
    np.testing.assert_allclose(m["est"], m["est_ref"], atol=1e-4, rtol=0)
    np.testing.assert_allclose(m["std_all"], m["std_all_ref"], atol=1e-4, rtol=0)


def test_standard_errors_agree_with_lavaans_observed_information(case):
    _, res, ref = case
    m = _merged(res, ref["optimum"]["estimates"])
    free = m[m["free"] > 0]
    assert len(free) == ref["npar"]      # (the refit frees the fixed.x rows; not compared)
    np.testing.assert_allclose(free["se"], free["se_ref"], rtol=2e-4, atol=0)
    # fixed rows (markers, fixed.x covariates, within intercepts) have no standard error
    assert (m.loc[m["free"] == 0, "se"] == 0).all()


def test_loglikelihoods_and_chisquare_agree_with_lavaan(case):
    _, res, ref = case
    fm, opt = res.fit_measures, ref["optimum"]
    lav = ref["fit_measures"]
    # lavaan's default logL is 1.5e-6 below the maximum: well inside 1e-6 relative
    assert fm["logl"] == pytest.approx(lav["logl"], rel=1e-6, abs=0)
    assert fm["unrestricted_logl"] == pytest.approx(opt["unrestricted_logl"], rel=1e-6, abs=0)
    chisq = 2 * (opt["unrestricted_logl"] - lav["logl"])
    assert fm["chisq"] == pytest.approx(chisq, rel=1e-6, abs=0)
    for k in ("npar", "df", "baseline_df", "ntotal"):
        assert fm[k] == lav[k], k
    for k in ("aic", "bic", "bic2", "fmin"):
        assert fm[k] == pytest.approx(lav[k], rel=1e-6, abs=0), k
    assert fm["baseline_chisq"] == pytest.approx(lav["baseline_chisq"], rel=1e-6, abs=0)


def test_fit_indices_agree_with_lavaan(case):
    _, res, ref = case
    fm, lav = res.fit_measures, ref["fit_measures"]
    # the p-value of lavaan's chi-square at the h1 maximum (its default h1 is an EM run
    # stopped at 1e-4: chi-square 1.3e-4 off on Demo.twolevel, p 1.2e-5 off)
    chisq = 2 * (ref["optimum"]["unrestricted_logl"] - lav["logl"])
    assert fm["pvalue"] == pytest.approx(stats.chi2.sf(chisq, lav["df"]), abs=1e-5)
    for k in ("cfi", "tli", "nnfi", "rfi", "nfi", "pnfi", "ifi", "rni", "rmsea",
              "rmsea_ci_lower", "rmsea_ci_upper", "rmsea_pvalue", "rmsea_notclose_pvalue"):
        assert fm[k] == pytest.approx(lav[k], abs=1e-5), k
    opt = ref["optimum"]
    assert fm["srmr_within"] == pytest.approx(opt["srmr_within"], abs=1e-5)
    assert fm["srmr_between"] == pytest.approx(opt["srmr_between"], abs=1e-5)
    assert fm["srmr"] == pytest.approx(opt["srmr_within"] + opt["srmr_between"], abs=1e-5)


def test_fit_measures_are_lavaans_names_in_lavaans_order(case):
    _, res, ref = case
    names = [k for k in ref["fit_measures"]]
    assert list(res.fit_measures.index) == names


def test_a_negative_between_variance_is_flagged_and_a_clean_fit_is_not(case):
    name, res, _ = case
    if name == "study":            # lavaan warns too: "some estimated ov variances are negative"
        assert not res.admissible
        assert any("ca2 (level 2)" in w for w in res.warnings)
    else:
        assert res.admissible and not res.warnings


def test_the_result_keeps_both_levels_moments(case):
    _, res, ref = case
    within, between = res.moments
    assert (within.label, between.label) == ("within", "between")
    assert between.nobs == ref["nclusters"] and within.nobs == ref["nobs"]
    assert res.info["information"] == "observed"


# -- refused ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def demo():
    return pd.read_csv(CASES["demo"][1])


@pytest.mark.parametrize("kwargs, words", [
    (dict(estimator="WLSMV"), "lavaan 0.6.14 fits them by ML only"),
    (dict(estimator="GLS"), "lavaan 0.6.14 fits them by ML only"),
    (dict(group="g"), "with groups"),
    (dict(missing="fiml"), "not built yet"),
])
def test_what_two_level_fitting_does_not_do_is_refused_in_one_line(demo, kwargs, words):
    d = demo.assign(g=np.arange(len(demo)) % 2)
    with pytest.raises(OptionError) as e:
        semcluster.fit(CASES["demo"][0], d, cluster="cluster", **kwargs)
    assert words in str(e.value) and "\n" not in str(e.value)


def test_a_level_model_without_a_cluster_column_is_refused(demo):
    with pytest.raises(OptionError, match="cluster="):
        semcluster.fit(CASES["demo"][0], demo)


def test_a_between_variable_that_varies_within_clusters_is_refused(demo):
    d = demo.assign(w1=demo["w1"] + np.arange(len(demo)) * 1e-3)
    with pytest.raises(DataError, match="w1 vary within clusters"), pytest.warns(Warning):
        semcluster.fit(CASES["demo"][0], d, cluster="cluster")


def test_a_covariate_at_both_levels_is_refused(demo):
    model = "level: 1\n fw =~ y1 + y2 + y3\n fw ~ x1\nlevel: 2\n fb =~ y1 + y2 + y3\n fb ~ x1\n"
    with pytest.raises(OptionError, match="x1 at both levels"), pytest.warns(Warning):
        semcluster.fit(model, demo, cluster="cluster")


# -- the command line ---------------------------------------------------------------------------
def test_cli_fit_prints_the_two_level_summary_with_level_blocks(tmp_path, monkeypatch, capsys):
    from semcluster.cli import main

    monkeypatch.chdir(tmp_path)
    model, csv, cluster = CASES["demo"]
    with pytest.warns(Warning):
        code = main(["fit", str(model), "--data", str(csv), "--cluster", cluster,
                     "--json", "out.json"])
    out = capsys.readouterr().out
    assert code == 0
    assert out.index("Level 1 [within]:") < out.index("Level 2 [cluster]:")
    assert "SRMR (within covariance matrix)" in out and "Information                                 Observed" in out
    saved = json.loads((tmp_path / "out.json").read_text())
    assert saved["fit_measures"]["df"] == 10


@pytest.mark.parametrize("extra, words", [
    (["--estimator", "WLSMV"], "ML only"),
    ([], "cluster="),
])
def test_cli_refusals_exit_2_with_one_line_and_write_nothing(tmp_path, monkeypatch, capsys,
                                                            extra, words):
    from semcluster.cli import main

    monkeypatch.chdir(tmp_path)
    model, csv, cluster = CASES["demo"]
    args = ["fit", str(model), "--data", str(csv), "--json", "out.json"] + extra
    if extra:
        args += ["--cluster", cluster]
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert words in err and len(err.splitlines()) == 1, err
    assert not (tmp_path / "out.json").exists()


def test_cluster_score_rows_add_up_to_the_gradient(demo):
    """The per-cluster derivatives (the rows a cluster-robust sandwich would use) sum to the
    analytic gradient, and that gradient agrees with central differences of −2 log L."""
    from semcluster.estimation import twolevel as T

    spec = parse_model((TWO / "demo.lav").read_text())
    codes, _ = pd.factorize(demo["cluster"])
    lay = T._Layout(spec.levels[0].observed, spec.levels[1].observed)
    X = demo[spec.observed]
    model = T.TwoLevelModel(spec, T.ClusterData(X, codes, lay.y, lay.z), X, codes)
    x = model.start(X, codes) * 0.9 + 0.01       # away from the optimum: a real gradient
    f, g = model.value_gradient(x)
    np.testing.assert_allclose(model.cluster_gradients(x).sum(axis=0), g, rtol=1e-9,
                               atol=1e-8 * np.abs(g).max())
    num = np.array([(model.value_gradient(x + h)[0] - model.value_gradient(x - h)[0]) / 2e-6
                    for h in np.eye(len(x)) * 1e-6])
    np.testing.assert_allclose(g, num, rtol=1e-4, atol=1e-3)


# -- MLR ------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def robust_case():
    model, csv, cluster = CASES["study"]
    with pytest.warns(Warning):
        res = semcluster.fit(model, pd.read_csv(csv), cluster=cluster, estimator="MLR")
    ref = json.loads((TWO / "study_mlr.json").read_text())
    return res, ref


def test_mlr_scaling_factor_and_scaled_chisquare_agree_with_lavaans_traces(robust_case):
    """c = [tr(A1⁻¹B1) − tr(A0⁻¹B0)]/df from lavaan's own observed and first-order information
    matrices at the optimum (the fixture's traces), and the scaled statistic χ²/c."""
    res, ref = robust_case
    fm, tr = res.fit_measures, ref["optimum"]["traces"]
    lav = ref["fit_measures"]
    c = (tr["trace_h1"] - tr["trace_h0"]) / lav["df"]
    chisq = 2 * (ref["optimum"]["unrestricted_logl"] - lav["logl"])
    assert fm["chisq_scaling_factor"] == pytest.approx(c, rel=1e-5)
    assert fm["chisq_scaled"] == pytest.approx(chisq / c, rel=1e-5)
    assert fm["scaling_factor_h0"] == pytest.approx(tr["trace_h0"] / lav["npar"], rel=1e-5)
    assert list(fm.index) == list(lav)           # lavaan's MLR names, in its order
    for k in ("cfi_robust", "tli_robust", "rmsea_robust", "cfi_scaled", "tli_scaled"):
        assert fm[k] == pytest.approx(lav[k], abs=1e-4), k


def test_mlr_robust_standard_errors_agree_with_lavaan(robust_case):
    res, ref = robust_case
    m = _merged(res, ref["optimum"]["estimates"])
    free = m[m["free"] > 0]
    np.testing.assert_allclose(free["est"], free["est_ref"], atol=1e-4, rtol=0)
    np.testing.assert_allclose(free["se"], free["se_ref"], rtol=2e-4)
    assert res.info["se"] == "robust.huber.white" and res.info["test"] == "yuan.bentler.mplus"


def test_mlr_with_covariates_is_refused_in_one_line(demo):
    with pytest.raises(OptionError, match="MLR with exogenous covariates") as e, \
            pytest.warns(Warning):
        semcluster.fit(CASES["demo"][0], demo, cluster="cluster", estimator="MLR")
    assert "\n" not in str(e.value)


def test_r_square_per_level_agrees_with_lavaan(case):
    _, res, ref = case
    for mine, (label, lav) in zip(res.moments, ref["optimum"]["r2"].items()):
        assert set(mine.r2.index) == set(lav), label
        for v, value in lav.items():
            if value is None:                  # lavaan's NA: a negative residual variance
                assert np.isnan(mine.r2[v]), (label, v)
            else:
                assert mine.r2[v] == pytest.approx(value, abs=1e-4), (label, v)
