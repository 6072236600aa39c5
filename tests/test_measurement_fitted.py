"""Measurement quality on the model the user fitted, with missing answers kept.

References: ``tests/fixtures/measurement_missing/make_fixtures.R`` (lavaan 0.6.14, semTools
0.5.6, psych 2.2.9) on a simulated 300-respondent survey (three scales of four 7-point items,
6 % of answers missing at random: the higher the always-answered sa1, the more skipped):
``compRelSEM``, ``AVE``, ``htmt(htmt2 = TRUE/FALSE)`` and ``lavInspect(fit, "cor.lv")`` on a
FIML fit (``missing = "ml"``) and on a WLSMV fit (ordered items, ``missing = "pairwise"``), α of
the EM (h1) matrix (``compRelSEM(tau.eq = TRUE)``) and ``psych::alpha`` per scale on its
available cases.

Tolerances: quantities from the FIML/EM estimates are compared at 2e-6, because lavaan's
optimizer (nlminb, its default stopping rule) and semcluster's stop at slightly different
points: the largest difference seen is 1.0e-6 (a latent correlation).  WLSMV quantities (both
sides solve the same estimating equations more tightly) and available-case α (closed form)
are compared at 1e-6.  The two-group FIML fit (150 respondents per group) is compared at 1e-5:
the largest difference seen is 6.6e-6 (ω of SB in group a); lavaan reports convergence at its
default stop and refuses a tighter one (nlminb then warns), so the reference itself is not
known more closely.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from semcluster.analysis import measurement
from semcluster.fitting import fit

HERE = Path(__file__).parent / "fixtures" / "measurement_missing"
REF = json.loads((HERE / "semtools.json").read_text())
CSV = HERE / "survey_mar.csv"
MODEL = ("SA =~ sa1 + sa2 + sa3 + sa4\nSB =~ sb1 + sb2 + sb3 + sb4\n"
         "SC =~ sc1 + sc2 + sc3 + sc4\n")
FIML_TOL = 2e-6
GROUPED_TOL = 1e-5
TOL = 1e-6


def _vec(d):
    return pd.Series(d, dtype=float)


def _mat(name, block):
    f = REF[name]["factors"]
    return pd.DataFrame(np.array(REF[name][block]), index=f, columns=f)


@pytest.fixture(scope="module")
def data():
    return pd.read_csv(CSV)


@pytest.fixture(scope="module")
def fiml_report(data):
    return measurement.measurement_report(MODEL, data, parallel_iter=10, alpha_available=True)


@pytest.fixture(scope="module")
def wlsmv_report(data):
    res = fit(MODEL, data, estimator="WLSMV")
    return measurement.measurement_report(MODEL, data, parallel_iter=10, result=res)


def test_the_fixture_survey_has_missing_answers(data):
    """The reference data really is incomplete (else the tests below prove nothing)."""
    assert int(data.isna().any(axis=1).sum()) == REF["n_incomplete"] > 100
    assert 5 < REF["pct_missing"] < 7
    assert REF["fiml"]["converged"] and REF["wlsmv"]["converged"]
    assert REF["grouped_fiml"]["converged"]


def test_report_on_missing_answers_fits_by_fiml_instead_of_refusing(fiml_report):
    rel = fiml_report.reliability
    assert (rel.basis == "EM covariance (FIML)").all()
    assert "FIML" in fiml_report.bases["alpha"] and "ML" in fiml_report.bases["omega_cr_ave"]
    assert "fiml" in fiml_report.bases["omega_cr_ave"]


@pytest.mark.parametrize("column, ref", [("omega", "omega"), ("cr", "cr"), ("ave", "ave")])
def test_omega_cr_ave_of_the_fiml_fit_equal_semtools(fiml_report, column, ref):
    got = fiml_report.reliability[column]
    want = _vec(REF["fiml"][ref])
    assert np.abs(got[want.index] - want).max() < FIML_TOL


def test_mlr_fit_gives_the_same_reliabilities_as_ml(data):
    """MLR changes standard errors and the test, not the estimates: ω, CR and AVE of an MLR
    FIML fit equal semTools' on the ML FIML fit."""
    res = fit(MODEL, data, estimator="MLR")
    assert res.missing == "fiml"
    rel = measurement.fitted_reliability(res)
    for col in ("omega", "cr", "ave"):
        want = _vec(REF["fiml"][col])
        assert np.abs(rel[col][want.index] - want).max() < FIML_TOL


@pytest.mark.parametrize("column", ["omega", "cr", "ave"])
def test_wlsmv_fit_gives_semtools_ordinal_omega_cr_ave(wlsmv_report, column):
    """Ordinal items: compRelSEM's default ord.scale = TRUE (Green & Yang's ω on the response
    scale, thresholds and polychoric matrix) and AVE over unit variances."""
    rel = wlsmv_report.reliability
    assert (rel.basis == "polychoric (WLSMV), response scale").all()
    want = _vec(REF["wlsmv"][column])
    assert np.abs(rel[column][want.index] - want).max() < TOL


def test_ordinal_omega_differs_from_the_linear_formula(wlsmv_report):
    """Guard that the categorical formula is the one used: the linear (Σλ)²ψ/1ᵀR1 on the same
    polychoric estimates is a different number (by more than the tolerance)."""
    res_omega = wlsmv_report.reliability.omega
    lin = {}
    for f in ("SA", "SB", "SC"):
        lam = np.array([REF["wlsmv"]["std_loadings"][f"s{f[1].lower()}{i}"] for i in range(1, 5)])
        lin[f] = lam.sum() ** 2 / (lam.sum() ** 2 + (1 - lam ** 2).sum())
    assert min(abs(res_omega[f] - lin[f]) for f in lin) > 1e-3


@pytest.mark.parametrize("name, block, attr, tol", [
    ("fiml", "htmt", "htmt", FIML_TOL), ("fiml", "htmt2", "htmt2", FIML_TOL),
    ("wlsmv", "htmt", "htmt", TOL), ("wlsmv", "htmt2", "htmt2", TOL)])
def test_htmt_and_htmt2_equal_semtools_on_em_or_polychoric_correlations(
        fiml_report, wlsmv_report, name, block, attr, tol):
    rep = fiml_report if name == "fiml" else wlsmv_report
    want = _mat(name, block)
    got = getattr(rep, attr).loc[want.index, want.columns]
    assert np.abs(got.to_numpy() - want.to_numpy()).max() < tol


def test_htmt_and_htmt2_are_both_reported_and_told_apart(fiml_report):
    assert "arithmetic" in fiml_report.bases["htmt"] and "geometric" in fiml_report.bases["htmt"]
    assert "EM correlations" in fiml_report.bases["htmt"]
    # the two means differ on these data, so a mix-up would show
    assert (fiml_report.htmt - fiml_report.htmt2).abs().to_numpy().max() > 0.01


@pytest.mark.parametrize("name", ["fiml", "wlsmv"])
def test_fornell_larcker_reads_the_fitted_latent_correlations(fiml_report, wlsmv_report, name):
    rep = fiml_report if name == "fiml" else wlsmv_report
    want = _mat(name, "cor_lv")
    f = list(want.index)
    got = rep.fornell_larcker.loc[f, f].to_numpy()
    off = ~np.eye(len(f), dtype=bool)
    assert np.abs(got[off] - want.to_numpy()[off]).max() < (FIML_TOL if name == "fiml" else TOL)
    std = REF[name]["std_loadings"]
    for fac, its in measurement._items_of(rep_spec()).items():
        ave_std = np.mean([std[i] ** 2 for i in its])
        assert abs(rep.fornell_larcker.loc[fac, fac] - np.sqrt(ave_std)) < FIML_TOL


def rep_spec():
    from semcluster.spec.parser import read_model

    return read_model(MODEL)


def test_alpha_with_missing_answers_is_from_the_em_matrix_and_labelled(fiml_report):
    rel = fiml_report.reliability
    want = _vec(REF["fiml"]["alpha_h1"])
    assert np.abs(rel.alpha[want.index] - want).max() < FIML_TOL
    assert (rel.alpha_basis == "EM covariance").all()
    # no Feldt interval for the EM alpha (it assumes complete rows)
    assert rel.alpha_ci_lower.isna().all()


def test_available_case_alpha_equals_psych_per_scale(fiml_report):
    rel = fiml_report.reliability
    for f, ref in REF["alpha_available_cases"].items():
        assert abs(rel.loc[f, "alpha_available"] - ref["alpha"]) < TOL
        assert rel.loc[f, "n_available"] == ref["n"]
    assert "per-scale listwise" in fiml_report.bases["alpha_available"]


def test_complete_answers_keep_the_complete_rows_alpha_and_its_label(data):
    """The other side of the label: without missing answers α is the complete rows' α with
    Feldt's interval, and it equals the EM-matrix α of the same rows (EM = sample moments)."""
    complete = data.dropna().reset_index(drop=True)
    rep = measurement.measurement_report(MODEL, complete, parallel_iter=10)
    rel = rep.reliability
    assert (rel.alpha_basis == "complete rows").all() and rel.alpha_ci_lower.notna().all()
    for f, its in measurement._items_of(rep_spec()).items():
        a = measurement.cronbach_alpha(complete[its])["alpha"]
        S = complete[its].cov()
        alt = measurement.alpha_of_matrix(S, its)["alpha"]
        assert abs(rel.loc[f, "alpha"] - a) < 1e-12 and abs(a - alt) < 1e-12


def test_exploratory_checks_say_they_use_the_complete_rows(fiml_report):
    n_complete = REF["n"] - REF["n_incomplete"]
    assert f"on the {n_complete} complete rows of {REF['n']}" in fiml_report.bases["exploratory"]
    assert fiml_report.sphericity["n"] == n_complete


@pytest.fixture(scope="module")
def grouped_fit(data):
    # the R script's groups: rows 1, 3, 5, ... are "a"
    d = data.assign(g=np.where(np.arange(len(data)) % 2 == 0, "a", "b"))
    return fit(MODEL, d, group="g")


@pytest.mark.parametrize("column", ["omega", "cr", "ave"])
def test_grouped_fiml_fit_gives_semtools_reliabilities_per_group(grouped_fit, column):
    rel = measurement.fitted_reliability(grouped_fit)
    assert grouped_fit.missing == "fiml"
    for row in REF["grouped_fiml"][column]:
        g = row.pop("group")
        want = _vec(row)
        assert np.abs(rel.loc[g, column][want.index] - want).max() < GROUPED_TOL


def test_grouped_fornell_larcker_reads_each_groups_latent_correlations(grouped_fit):
    rel = measurement.fitted_reliability(grouped_fit)
    fl = measurement.fitted_fornell_larcker(grouped_fit, rel)
    f = REF["fiml"]["factors"]
    off = ~np.eye(len(f), dtype=bool)
    for g in REF["grouped_fiml"]["groups"]:
        cl = REF["grouped_fiml"]["cor_lv"][g]
        got = fl.loc[g].loc[f, f].to_numpy(dtype=float)
        assert np.abs(got[off] - np.array(cl)[off]).max() < GROUPED_TOL
        assert np.allclose(np.diag(got), np.sqrt(rel.loc[g, "ave_std"][f]), atol=1e-15)


def test_measurement_report_refuses_a_grouped_fit_with_a_clear_message(data, grouped_fit):
    from semcluster.errors import OptionError

    with pytest.raises(OptionError, match="grouped fit"):
        measurement.measurement_report(MODEL, data, parallel_iter=10, result=grouped_fit)


def test_measure_command_on_missing_answers_exits_0_and_reports_fiml(tmp_path, capsys):
    from semcluster.cli import main

    model = tmp_path / "scales.lav"
    model.write_text(MODEL)
    out = tmp_path / "out"
    rc = main(["measure", str(model), "--data", str(CSV), "--parallel-iter", "10",
               "--alpha-available", "--out", str(out)])
    printed = capsys.readouterr().out
    assert rc == 0
    assert "missing data: fiml" in printed
    assert "EM (FIML) covariance" in printed
    rel = pd.read_csv(out / "reliability.csv").set_index("construct")
    for col in ("omega", "cr", "ave", "alpha"):
        want = _vec(REF["fiml"]["alpha_h1" if col == "alpha" else col])
        assert np.abs(rel[col][want.index] - want).max() < FIML_TOL
    for f, ref in REF["alpha_available_cases"].items():
        assert abs(rel.loc[f, "alpha_available"] - ref["alpha"]) < TOL
    h2 = pd.read_csv(out / "htmt2.csv").set_index("construct")
    want = _mat("fiml", "htmt2")
    assert np.abs(h2.loc[want.index, want.columns].to_numpy() - want.to_numpy()).max() \
        < FIML_TOL
    js = json.loads((out / "measurement.json").read_text())
    assert "FIML" in js["bases"]["alpha"]


def test_ordinal_omega_needs_the_delta_parameterization(data):
    """semTools reads ordinal ω in the delta parameterization; a theta fit is refused in one
    line (the delta fit of the same data is what the tests above compare)."""
    from semcluster.errors import OptionError

    theta = fit(MODEL, data, estimator="WLSMV", parameterization="theta")
    with pytest.raises(OptionError, match="delta parameterization") as info:
        measurement.fitted_reliability(theta)
    assert "\n" not in str(info.value)
