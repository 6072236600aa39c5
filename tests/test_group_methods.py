"""Methods of fits with groups or a mean structure (one result type, SEMResult): predict,
modindices, residuals, admissible, spec, to_semopy, and the Wald interval rule.

References: lavaan 0.6.14 lavPredict (regression, Bartlett; rows by lavInspect "case.idx"),
modindices and resid (raw, normalized) per group, written to
tests/fixtures/models/group_methods.json by tests/fixtures/models/make_group_methods.R.
Tolerances: factor scores 1e-4 (the estimate tolerance), MI 1e-3 absolute (as the one-group
test in test_model_analysis.py), EPC and standardized EPC 1e-4, raw residuals 1e-5,
normalized residuals 1e-4.
"""
from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import semcluster
from semcluster.errors import DataError, OptionError
from semcluster.resources import data_path
from semcluster.result.result import SEMResult

REF = json.loads((Path(__file__).parent / "fixtures" / "models" / "group_methods.json")
                 .read_text())
HS = REF["model"]


@pytest.fixture(scope="module")
def hs():
    return pd.read_csv(data_path("holzinger_swineford_1939.csv"))


@pytest.fixture(scope="module")
def fits(hs):
    gaps = hs.copy()
    for v, rows in REF["na_rows0"].items():
        gaps.loc[rows, v] = np.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return {
            "school_metric": semcluster.fit(HS, hs, group="school", group_equal="loadings"),
            "school_scalar_mlr": semcluster.fit(HS, hs, group="school",
                                                group_equal="loadings,intercepts",
                                                estimator="MLR"),
            "single_cfa_meanstructure": semcluster.fit(HS, hs, meanstructure=True),
            "school_metric_fiml": semcluster.fit(HS, gaps, group="school",
                                                 group_equal="loadings", missing="fiml"),
            "school_metric_listwise": semcluster.fit(HS, gaps, group="school",
                                                     group_equal="loadings",
                                                     missing="listwise")}


@pytest.mark.parametrize("name", list(REF)[3:])
@pytest.mark.parametrize("method", ["regression", "bartlett"])
def test_grouped_predict_matches_lavpredict_on_the_rows_the_fit_used(fits, name, method):
    res = fits[name]
    assert isinstance(res, SEMResult)
    scores = res.predict(method)
    ref = REF[name][method]
    rows = [r for blk in ref for r in blk["rows0"]]
    assert sorted(scores.index) == sorted(rows)         # lavaan's rows, no more, no fewer
    for blk in ref:
        want = pd.DataFrame(blk["scores"])
        got = scores.loc[blk["rows0"], list(want.columns)].to_numpy()
        np.testing.assert_allclose(got, want.to_numpy(), atol=1e-4)


def test_listwise_group_fit_scores_only_complete_rows(fits):
    """The fit dropped 67 rows with a missing answer: predict() scores the 234 it used, as
    lavaan's lavPredict, and a frame given with data= is scored row for row."""
    res = fits["school_metric_listwise"]
    assert len(res.predict()) == res.nobs == 234
    hs = pd.read_csv(data_path("holzinger_swineford_1939.csv"))
    full = res.predict(data=hs)
    assert len(full) == 301 and full.notna().all().all()
    assert np.allclose(full.loc[res.predict().index], res.predict())


def test_grouped_predict_needs_the_group_column(fits, hs):
    with pytest.raises(DataError, match="grouping column 'school'"):
        fits["school_metric"].predict(data=hs.drop(columns="school"))
    with pytest.raises(DataError, match="does not have"):
        fits["school_metric"].predict(data=hs.assign(school="Elsewhere"))


@pytest.mark.parametrize("name", ["school_metric", "school_scalar_mlr",
                                  "single_cfa_meanstructure", "school_metric_listwise",
                                  "school_metric_fiml"])
def test_grouped_modindices_match_lavaan_per_group(fits, name):
    res = fits[name]
    mi = res.modindices(sort=False)
    grouped = bool(res.groups)
    assert ("group" in mi.columns) == grouped

    def key(d):
        return (d["lhs"], d["op"], d["rhs"], d.get("group", 1) if grouped else 1)
    ours = {key(d): d for d in mi.to_dict("records")}
    ref = {key(d): d for d in REF[name]["modindices"]}
    assert set(ours) == set(ref)                         # the same candidates, per group
    for k, r in ref.items():
        assert ours[k]["mi"] == pytest.approx(r["mi"], abs=1e-3), k
        assert ours[k]["epc"] == pytest.approx(r["epc"], abs=1e-4), k
        assert ours[k]["sepc_all"] == pytest.approx(r["sepc_all"], abs=1e-4), k
    top = res.modindices()
    assert top.mi.is_monotonic_decreasing and len(res.modindices(minimum=10)) < len(top)


@pytest.mark.parametrize("name", ["school_metric", "single_cfa_meanstructure",
                                  "school_metric_listwise"])
@pytest.mark.parametrize("kind", ["raw", "normalized"])
def test_grouped_residuals_match_lavaan(fits, name, kind):
    res = fits[name]
    out = res.residuals(kind)
    ref = REF[name][f"residuals_{kind}"]
    ref = list(ref.values()) if isinstance(ref, dict) else ref       # by group label in R
    assert list(out) == [m.label for m in res.moments] and len(out) == len(ref)
    # raw residuals differ from lavaan's as the estimates do (~1e-6); normalized ones are
    # those differences times √N_g/sd (~12 here): held to the estimate tolerance, 1e-4
    tol = 1e-5 if kind == "raw" else 1e-4
    for (lab, r), want in zip(out.items(), ref):
        np.testing.assert_allclose(r["cov"].to_numpy(), np.array(want["cov"], dtype=float),
                                   atol=tol)
        np.testing.assert_allclose(r["mean"].to_numpy(), np.array(want["mean"], dtype=float),
                                   atol=tol)
    with pytest.raises(OptionError, match="standardized residuals"):
        res.residuals("standardized")


def test_grouped_results_have_spec_and_refuse_semopy_clearly(fits):
    for name in ("school_metric", "single_cfa_meanstructure"):
        res = fits[name]
        assert res.spec.latent == ["visual", "textual", "speed"]
        with pytest.raises(OptionError, match="semopy") as info:
            res.to_semopy()
        assert "\n" not in str(info.value)


def test_grouped_admissible_flags_a_negative_variance_in_one_group(hs):
    ok = semcluster.fit(HS, hs, group="school")
    assert ok.admissible and not any("Heywood" in w for w in ok.warnings)
    bad = semcluster.fit(HS + "\nx1 ~~ c(NA, -0.05)*x1", hs, group="school")
    assert not bad.admissible
    assert any("Heywood" in w and "x1 (group 2)" in w for w in bad.warnings)


def test_grouped_wald_interval_is_missing_where_the_standard_error_is(hs, monkeypatch):
    """The single-group rule: a free parameter without a standard error (singular information)
    has no interval (lavaan's NA), a fixed one the interval [value, value]; the information
    is made singular here by replacing its inverse with the estimator's NaN answer."""
    import semcluster.estimation.groups as mgmod

    def singular(mg, x, data, warnings_):
        warnings_.append("the information matrix is singular")
        return np.full((mg.npar, mg.npar), np.nan), np.full(mg.npar, np.nan)
    monkeypatch.setattr(mgmod, "_expected_vcov", singular)
    res = semcluster.fit(HS, hs, group="school")
    monkeypatch.undo()
    assert not res.admissible
    e = res.estimates
    free = e[e["free"] > 0]
    assert free.se.isna().all() and free.ci_lower.isna().all() and free.ci_upper.isna().all()
    fixed = e[(e["free"] == 0) & (e.op != ":=")]
    assert len(fixed) and (fixed.ci_lower == fixed.est).all()
    good = semcluster.fit(HS, hs, group="school").estimates
    f = good[good["free"] > 0]
    assert (f.se > 0).all() and np.allclose(f.ci_upper - f.ci_lower, 2 * 1.959964 * f.se,
                                            rtol=1e-6)


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_two_group_diagrams_render_per_group_from_the_fit_and_its_json(fits, tmp_path, lang):
    """A multi-group fit is drawn per group, side by side, or one group (group= / --group), from
    the result and from its --json (tested and measurement diagrams); an unknown group is
    refused in one line that names the groups."""
    from semcluster.cli import main
    from semcluster.output.diagrams import measurement_diagram, tested_diagram
    from semcluster.errors import SemclusterError

    res = fits["school_metric"]
    for draw in (tested_diagram, measurement_diagram):
        one = draw(res, lang=lang, group="Grant-White")
        assert one.axes
        both = draw(res, lang=lang)                      # every group, side by side
        assert len(both.subfigs) == 2 and all(sub.axes for sub in both.subfigs)
        assert both.get_size_inches()[0] > 1.5 * one.get_size_inches()[0]
        titles = [t.get_text() for sub in both.subfigs for ax in sub.axes for t in ax.texts]
        assert "Pasteur" in titles and "Grant-White" in titles
        with pytest.raises(SemclusterError, match="Pasteur, Grant-White") as info:
            draw(res, lang=lang, group="Elsewhere")
        assert "\n" not in str(info.value)
    js = tmp_path / "two.json"
    js.write_text(res.to_json(), encoding="utf-8")
    for kind in ("tested", "measurement"):
        out = tmp_path / f"{kind}_{lang}.png"
        assert main(["diagram", str(js), "--kind", kind, "--group", "Pasteur", "--lang", lang,
                     "--out", str(out)]) == 0
        assert out.stat().st_size > 1000
    both = tmp_path / f"both_{lang}.svg"
    assert main(["diagram", str(js), "--lang", lang, "--out", str(both)]) == 0
    assert both.read_bytes()[:5] == b"<?xml"
    assert main(["diagram", str(js), "--group", "Elsewhere",
                 "--out", str(tmp_path / "none.png")]) == 2
    one_group = tmp_path / "one.json"
    one_group.write_text(fits["single_cfa_meanstructure"].to_json(), encoding="utf-8")
    assert main(["diagram", str(one_group), "--group", "Pasteur",
                 "--out", str(tmp_path / "none.png")]) == 2


def test_one_group_tools_refuse_grouped_fits_in_one_line(fits, hs):
    """What reads one covariance matrix refuses a fit with groups or means clearly (it used to
    crash, or would treat the first group's numbers as the whole fit's)."""
    from semcluster import modification_indices, residuals
    from semcluster.errors import InputTypeError
    from semcluster.analysis.measurement import construct_reliability, fornell_larcker
    from semcluster.measures.modindices import largest_residuals
    from semcluster.estimation.refit import Refitter

    res = fits["school_metric"]
    for call, err in ((lambda: Refitter(res), InputTypeError),
                      (lambda: construct_reliability(res), OptionError),
                      (lambda: fornell_larcker(res), OptionError),
                      (lambda: largest_residuals(res, "raw"), OptionError)):
        with pytest.raises(err) as info:
            call()
        assert "\n" not in str(info.value) and ("group" in str(info.value))
    # the module-level functions give the per-group answers of the methods
    pd.testing.assert_frame_equal(modification_indices(res), res.modindices())
    assert list(residuals(res, "raw")) == list(res.groups)


def test_grouped_summary_prints_each_groups_test_statistic_as_lavaan(fits):
    """As lavaan's summary(): after the scaling factor, "Test statistic for each group:" with
    each group's contribution (standard and scaled); the contributions add up to χ²."""
    res = fits["school_scalar_mlr"]
    text = res.summary()
    by = res.info["chisq_by_group"]
    assert sum(by) == pytest.approx(res.fit_measures["chisq"], rel=1e-12)
    block = text.split("Test statistic for each group:")[1].splitlines()[1:3]
    c = res.fit_measures["chisq_scaling_factor"]
    for line, lab, v in zip(block, res.groups, by):
        assert line.split() == [lab, f"{v:.3f}", f"{v / c:.3f}"]
    assert text.index("Yuan-Bentler correction") < text.index("Test statistic for each group")
    assert "Test statistic for each group" not in fits["single_cfa_meanstructure"].summary()


def test_grouped_metric_mlr_group_statistics_match_lavaan(hs):
    """lavaan 0.6.14, sem(HS, hs, group = "school", group.equal = "loadings",
    estimator = "MLR"), summary(): Pasteur 68.825 (scaled 69.909), Grant-White 55.219
    (56.089), printed to three decimals."""
    res = semcluster.fit(HS, hs, group="school", group_equal="loadings", estimator="MLR")
    c = res.fit_measures["chisq_scaling_factor"]
    want = [(68.825, 69.909), (55.219, 56.089)]      # printed to 3 decimals: ±0.0005
    for v, (std, scaled) in zip(res.info["chisq_by_group"], want):
        assert v == pytest.approx(std, abs=5.01e-4)
        assert v / c == pytest.approx(scaled, abs=5.01e-4)


def test_json_of_the_removed_group_result_type_is_refused_in_one_line(fits):
    """A result saved by an older semcluster as multigroup.GroupResult (the type SEMResult
    replaced) cannot be rebuilt: a one-line DataError, not an AttributeError."""
    text = fits["school_metric"].to_json().replace(
        '"semcluster.result.result:SEMResult"', '"semcluster.estimation.groups:GroupResult"')
    assert "semcluster.estimation.groups:GroupResult" in text
    with pytest.raises(DataError, match="GroupResult") as info:
        SEMResult.from_json(text)
    assert "\n" not in str(info.value)
