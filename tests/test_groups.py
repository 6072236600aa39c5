"""Multi-group models (group=, group.equal, group.partial, c() modifiers) and mean structures
(y ~ 1, meanstructure=True) against lavaan 0.6.14.

Fixtures and the R script that writes them: tests/fixtures/models/make_groups.R
(groups_<case>.json: parameterEstimates(standardized = TRUE) with the group column,
fitMeasures, lavInspect r2). Every case goes through tests/lavaan_reference.compare (rows
matched within their group): estimates 1e-4, std.lv/std.all 1e-4, SEs 2e-4 relative, χ² 1e-6
relative, npar/df exact, CFI/TLI/RMSEA/SRMR/p 1e-5, logL/AIC/BIC 1e-4; R² per group 5e-5; MLR
cases also the scaled χ² and scaling factors (1e-6 relative), scaled and robust CFI/TLI/RMSEA
(1e-5); FIML cases (missing = "ml", answers deleted at fixed rows) the same, robust
CFI/TLI/RMSEA from the FIML-corrected statistics included.  Every fitMeasures() name:
tests/test_group_fit_measures.py.

Largest differences measured 2026-12-01 over the twenty cases: estimates 7.6e-6,
std.lv/std.all 6.1e-6, R² 4.9e-6, SEs 1.9e-5 relative (MLR; 7.0e-6 for ML), χ² 8.9e-11
relative (ML), scaled χ² and scaling factor 4.4e-7 relative (MLR with fixed.x covariates),
indices 1.3e-7, logL 1.1e-8.
"""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from lavaan_reference import compare

import semcluster
from semcluster.cli import main
from semcluster.errors import DataError, ModelSpecError, OptionError
from semcluster.analysis.invariance import measurement_invariance
from semcluster.resources import data_path
from semcluster.result.result import SEMResult

FIX = Path(__file__).parent / "fixtures" / "models"
HS = "visual =~ x1 + x2 + x3\ntextual =~ x4 + x5 + x6\nspeed =~ x7 + x8 + x9"
CASES = ("school_configural", "school_metric", "school_scalar", "school_partial",
         "school_strict_lv", "sex_sem_classes", "sex_c_modifiers", "sex_c_modifiers_equal",
         "sex_defined", "school_fixed_x", "single_fixed_x", "single_intercept",
         "single_meanstructure", "school_metric_mlr", "school_partial_mlr",
         "school_fixed_x_mlr", "single_intercept_mlr", "school_metric_fiml",
         "single_intercept_fiml", "school_metric_fiml_mlr")
NOT_COMPUTED: dict = {}          # every measure lavaan gives is computed


def load(name):
    return json.loads((FIX / f"groups_{name}.json").read_text())


@pytest.fixture(scope="module")
def hs():
    return pd.read_csv(data_path("holzinger_swineford_1939.csv"))


def fit_case(ref, hs):
    data = hs.copy()
    for v, rows in (ref.get("na_rows0") or {}).items():    # answers deleted as in the R script
        data.loc[rows, v] = float("nan")
    return semcluster.fit(ref["model"], data, group=ref.get("group"),
                          group_equal=ref.get("group_equal") or None,
                          group_partial=ref.get("group_partial"),
                          meanstructure=ref.get("meanstructure"), estimator=ref["estimator"])


@pytest.mark.parametrize("name", CASES)
def test_matches_lavaan(name, hs):
    ref = load(name)
    res = fit_case(ref, hs)
    assert isinstance(res, SEMResult) and res.converged
    assert "Number of model parameters" in res.summary(standardized=True)
    ag = compare(res, ref, not_computed=NOT_COMPUTED.get(name, ()))
    assert ag.rows == len(ref["estimates"]) >= 36          # every lavaan row, ~1 and := too
    for k in ("npar", "df", "chisq", "cfi", "tli", "rmsea", "srmr"):
        assert k in ag.fit, k
    r2_ref = ref["r2_by_group"]
    r2_ref = list(r2_ref.values()) if isinstance(r2_ref, dict) else r2_ref
    assert len(res.moments) == len(r2_ref)
    for m, r2g in zip(res.moments, r2_ref):
        gname, ours = m.label, m.r2
        assert set(ours.index) == set(r2g) and len(r2g) >= 9
        for v, val in r2g.items():
            assert ours[v] == pytest.approx(val, abs=5e-5), (gname, v)
    assert res.missing == ("fiml" if ref.get("missing") == "ml" else "listwise")
    if ref["estimator"] == "MLR":
        assert "chisq_scaled" in ag.fit and "chisq_scaling_factor" in ag.fit
        assert ("rmsea_robust" in ag.fit) == (name not in NOT_COMPUTED)
    if ref.get("group"):
        assert list(res.groups) == list(ref["groups"])       # lavaan's order
        assert set(res.estimates.group) - {0} == {1, 2}         # 0: := rows, as lavaan
        assert res.group_nobs == dict(zip(ref["groups"], ref["nobs"]))
        assert res.nobs == sum(ref["nobs"])
    else:
        assert "group" not in res.estimates.columns          # as lavaan's single group


def test_label_written_once_warns_as_lavaan(hs):
    from semcluster.errors import SemclusterWarning

    ref = load("school_configural")
    with pytest.warns(SemclusterWarning, match=r"label\(s\) a name one parameter in every group"):
        res = fit_case(ref, hs)
    assert res.fit_measures["npar"] == ref["fit_measures"]["npar"]


def test_mean_structure_keeps_chisq_and_df_of_the_covariance_model(hs):
    """Free intercepts add p parameters and p moments: χ² and df as without means (lavaan)."""
    ref = load("single_intercept")
    plain = semcluster.fit(HS, hs)
    assert plain.fit_measures["df"] == ref["fit_measures"]["df"]
    assert plain.fit_measures["npar"] + 9 == ref["fit_measures"]["npar"]
    assert plain.fit_measures["chisq"] == pytest.approx(ref["fit_measures"]["chisq"],
                                                        rel=1e-6)
    ms = semcluster.fit(HS, hs, meanstructure=True)
    assert ms.fit_measures["npar"] == ref["fit_measures"]["npar"]
    assert ms.fit_measures["chisq"] == pytest.approx(ref["fit_measures"]["chisq"], rel=1e-6)


def test_invariance_sequence_and_lrt_match_lavaan(hs):
    """fit(group_equal=...) and measurement_invariance are one implementation: both give
    lavaan's χ², df and lavTestLRT differences."""
    lrt = json.loads((FIX / "groups_school_lrt.json").read_text())
    names = ("school_configural", "school_metric", "school_scalar")
    refs = [load(n) for n in names]
    with pytest.warns(UserWarning, match="one parameter in every group"):
        inv = measurement_invariance(refs[0]["model"], hs, group="school",
                                     levels=("configural", "metric", "scalar"))
    fits = [fit_case(r, hs) for r in refs]
    for level, r, f in zip(("configural", "metric", "scalar"), refs, fits):
        t = inv.table.loc[level]
        assert (t.npar, t.df) == (r["fit_measures"]["npar"], r["fit_measures"]["df"])
        assert t.chisq == pytest.approx(f.fit_measures["chisq"], rel=1e-9)
    assert len(lrt["chisq_diff"]) == 3
    for i in (1, 2):
        d = fits[i].fit_measures["chisq"] - fits[i - 1].fit_measures["chisq"]
        assert d == pytest.approx(lrt["chisq_diff"][i], rel=1e-6)
        assert fits[i].fit_measures["df"] - fits[i - 1].fit_measures["df"] == lrt["df_diff"][i]
        row = inv.comparisons.iloc[i - 1]
        assert row.chisq_diff == pytest.approx(lrt["chisq_diff"][i], rel=1e-6)
        assert row.pvalue == pytest.approx(lrt["pvalue"][i], abs=1e-6)


def test_invariance_with_group_partial_matches_lavaan(hs):
    ref = load("school_partial")
    inv = measurement_invariance(HS, hs, group="school", levels=("scalar",),
                                 group_partial=ref["group_partial"])
    t = inv.table.loc["scalar"]
    assert (t.npar, t.df) == (ref["fit_measures"]["npar"], ref["fit_measures"]["df"])
    assert t.chisq == pytest.approx(ref["fit_measures"]["chisq"], rel=1e-6)
    assert t.srmr == pytest.approx(ref["fit_measures"]["srmr"], abs=1e-5)


def test_invariance_with_missing_answers_uses_fiml_as_lavaan(hs):
    ref = load("school_metric_fiml")
    gaps = fit_case(ref, hs)
    data = hs.copy()
    for v, rows in ref["na_rows0"].items():
        data.loc[rows, v] = float("nan")
    inv = measurement_invariance(HS, data, group="school", levels=("configural", "metric"))
    t = inv.table.loc["metric"]
    assert gaps.missing == "fiml"
    assert (t.npar, t.df) == (ref["fit_measures"]["npar"], ref["fit_measures"]["df"])
    for k in ("chisq", "logl"):
        assert t[k] == pytest.approx(ref["fit_measures"][k], rel=1e-6), k
    assert inv.estimates["metric"].se.max() > 0


def test_summary_per_group_and_json_round_trip(hs):
    res = semcluster.fit(HS, hs, group="school", group_equal=["loadings"])
    text = res.summary()
    assert "Group 1 [Pasteur]:" in text and "Group 2 [Grant-White]:" in text
    assert text.count("Intercepts:") == 2 and "Equal across groups: loadings" in text
    assert res.summary(standardized=False).count("Std.all") == 0
    assert text.count("Std.all") >= 8                               # every block, both groups
    assert SEMResult.from_json(res.to_json()) == res


# bad input: one-line errors of semcluster.errors classes ------------------------------------
def _one_line(info):
    assert "\n" not in str(info.value)
    return str(info.value)


def test_unknown_group_column(hs):
    with pytest.raises(DataError) as info:
        semcluster.fit(HS, hs, group="nosuch")
    assert "nosuch" in _one_line(info)


def test_group_with_too_few_rows(hs):
    small = hs.copy()
    small.loc[:4, "school"] = "tiny"
    with pytest.raises(DataError) as info:
        semcluster.fit(HS, small, group="school")
    assert "group 'tiny' has 5 rows for 9 variables" in _one_line(info)


def test_c_with_wrong_number_of_elements(hs):
    with pytest.raises(ModelSpecError) as info:
        semcluster.fit("visual =~ x1 + c(a, b, c)*x2 + x3\ntextual =~ x4 + x5 + x6",
                       hs, group="school")
    msg = _one_line(info)
    assert "3 element(s)" in msg and "2 group(s) (Pasteur, Grant-White)" in msg
    with pytest.raises(ModelSpecError) as info:
        semcluster.fit("visual =~ x1 + c(a, b)*x2 + x3\ntextual =~ x4 + x5 + x6", hs)
    assert "group=" in _one_line(info)


def test_unknown_group_equal_class(hs):
    with pytest.raises(OptionError) as info:
        semcluster.fit(HS, hs, group="school", group_equal=["loadings", "slopes"])
    msg = _one_line(info)
    assert "'slopes'" in msg and "residual.covariances" in msg


def test_group_partial_naming_no_parameter(hs):
    with pytest.raises(OptionError) as info:
        semcluster.fit(HS, hs, group="school", group_equal=["loadings"],
                       group_partial=["visual=~x4"])
    assert "visual=~x4" in _one_line(info) and "names no parameter" in str(info.value)
    with pytest.raises(OptionError) as info:
        semcluster.fit(HS, hs, group="school", group_partial=["visual x2"])
    _one_line(info)


def test_refusals_name_what_is_not_supported(hs):
    with pytest.raises(OptionError) as info:
        semcluster.fit(HS, hs, group="school", estimator="WLSMV")
    assert "WLSMV" in _one_line(info) and "ML, MLR and GLS only" in str(info.value)
    gaps = hs.assign(x1=hs.x1.where(hs.index % 7 != 0))
    listwise = semcluster.fit(HS, gaps, group="school", missing="listwise")
    assert listwise.missing == "listwise" and listwise.nobs == 301 - 43
    with pytest.raises(OptionError) as info:
        semcluster.fit(HS, hs, group="school", meanstructure=False)
    assert "meanstructure=False" in _one_line(info)
    from semcluster.errors import ModelSyntaxError

    with pytest.raises(ModelSyntaxError) as info:
        semcluster.fit("visual =~ x1 + x2 + x3\nx1 ~ ageyr\nageyr ~ 1", hs, group="school")
    assert "means of exogenous observed covariates (fixed.x)" in _one_line(info)


def test_cli_fit_with_groups(hs, tmp_path, capsys):
    model = tmp_path / "hs.lav"
    model.write_text(HS + "\n")
    out = tmp_path / "fit.json"
    data = str(data_path("holzinger_swineford_1939.csv"))
    ref = load("school_partial")
    assert main(["fit", str(model), "--data", data, "--group", "school",
                 "--group-equal", "loadings,intercepts", "--group-partial", "visual=~x2,x3~1",
                 "--json", str(out)]) == 0
    text = capsys.readouterr().out
    assert "Group 2 [Grant-White]:" in text
    js = json.loads(out.read_text())
    assert js["group_partial"] == ["visual=~x2", "x3~1"]
    assert js["fit_measures"]["npar"] == ref["fit_measures"]["npar"]
    assert js["fit_measures"]["chisq"] == pytest.approx(ref["fit_measures"]["chisq"], rel=1e-6)
    assert main(["fit", str(model), "--data", data, "--meanstructure"]) == 0
    assert "Intercepts:" in capsys.readouterr().out
    with pytest.raises(SystemExit) as info:          # argparse's one-line error, exit 2
        main(["fit", str(model), "--data", data, "--group", "school",
              "--group-equal", "loadings,slopes"])
    assert info.value.code == 2
    assert "unknown group.equal class 'slopes'" in capsys.readouterr().err
    assert main(["invariance", str(model), "--data", data, "--group", "school",
                 "--group-partial", "visual=~x2,x3~1"]) == 0
    assert main(["invariance", str(model), "--data", data, "--group", "school",
                 "--group-partial", "visual=~x99"]) == 2
    assert "names no parameter" in capsys.readouterr().err
