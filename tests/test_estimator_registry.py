"""The estimator registry (semcluster.estimation.registry.ESTIMATORS) is what the summary, the CLI, the
app, fit() and compare_models read; results are built once by the result builder (never
patched); one information inverse with one singularity rule gives every standard error.

Reference behaviour: lavaan 0.6.14's summary prints ``Estimator ML`` for MLR, ``DWLS`` for
WLSMV and ``GLS`` for GLS, and ``lavTestLRT`` tests nested models by the plain difference (ML,
GLS), Satorra-Bentler 2001 (MLR) and Satorra 2000 (WLSMV); an unidentified model has a
singular information matrix and lavaan gives no standard errors (NA).
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from lavaan_reference import ESTIMATOR_FIXTURES as FIX
from lavaan_reference import HS_MODEL

import semcluster
from semcluster.estimation.registry import ESTIMATORS, Estimator, registered
from semcluster.resources import data_path

SRC = Path(__file__).parent.parent / "src" / "semcluster"
HS = data_path("holzinger_swineford_1939.csv")
# a regression and a covariance between the same two factors: only their sum is identified,
# so the information matrix is singular
UNIDENTIFIED = ("visual =~ x1 + x2 + x3\ntextual =~ x4 + x5 + x6\ntextual ~ visual\n"
                "textual ~~ visual\n")


def _estimator_line(summary: str) -> str:
    line = next(s for s in summary.splitlines() if s.strip().startswith("Estimator"))
    return line.split()[-1]


# -- a toy estimator: one function here (the "module") and one registry line ---------------
def _fit_toy(spec, X, *, report=None, estimator=None):
    """Normal-theory ML under another name and label (the plumbing is what is tested)."""
    from semcluster.data.survey import sample_covariance
    from semcluster.estimation.ml import fit_moments

    return fit_moments(spec, sample_covariance(X), len(X), report=report, estimator=estimator,
                       data=X)


TOY = Estimator("TOY", "a toy estimator for the registry test", {"listwise": _fit_toy},
                auto_missing="listwise", label="TOYLABEL", nested_test="difference")


def _choices(parser, command):
    sub = next(a for a in parser._actions if a.dest == "command")
    return tuple(next(a for a in sub.choices[command]._actions
                      if a.dest == "estimator").choices)


def _nested_pair(tmp_path):
    full, restricted = tmp_path / "full.lav", tmp_path / "restricted.lav"
    full.write_text(HS_MODEL)
    restricted.write_text(HS_MODEL + "visual ~~ 0*textual\n")
    return [str(full), str(restricted)]


def test_a_registered_toy_estimator_reaches_cli_app_summary_and_comparison(tmp_path):
    from semcluster.cli import build_parser

    assert "TOY" not in ESTIMATORS
    with registered(TOY):
        parser = build_parser()
        for command in ("fit", "compare-models", "scores"):
            assert "TOY" in _choices(parser, command), command
        res = semcluster.fit(HS_MODEL, HS, estimator="toy")
        assert res.estimator == "TOY"
        assert _estimator_line(res.summary()) == "TOYLABEL"
        # the kept rows: predict() needs no data= (the builder was given them once)
        assert len(res.predict()) == res.nobs
        cmp = semcluster.compare_models(_nested_pair(tmp_path), semcluster.load_data(HS),
                                        estimator="TOY")
        assert list(cmp.tests["test"]) == ["chi-square difference"]     # the entry's test
        try:
            from semcluster.app.page import estimator_choices
        except ImportError:                                   # the app extra not installed
            estimator_choices = None
        if estimator_choices is not None:
            assert "TOY" in estimator_choices()
    assert "TOY" not in ESTIMATORS                            # restored after the block
    assert "TOY" not in _choices(build_parser(), "fit")


def test_registered_refuses_what_is_not_an_estimator_entry():
    from semcluster.errors import InputTypeError, OptionError

    with pytest.raises(InputTypeError, match="takes an Estimator"):
        with registered("TOY"):
            pass
    with pytest.raises(OptionError, match="unknown feature"):
        Estimator("BAD", "", {}, supports={"multilevel"})
    with pytest.raises(OptionError, match="nested test"):
        Estimator("BAD", "", {}, nested_test="wald")


def test_app_and_compare_models_offer_every_registered_estimator():
    """The app offered ML/MLR/WLSMV (no GLS) and compare-models ML/MLR only."""
    from semcluster.cli import build_parser

    assert _choices(build_parser(), "compare-models") == tuple(ESTIMATORS)
    page = pytest.importorskip("semcluster.app.page")
    assert page.estimator_choices() == list(ESTIMATORS)


@pytest.mark.parametrize("estimator,label", [("ML", "ML"), ("MLR", "ML"), ("GLS", "GLS")])
def test_summary_prints_lavaans_estimator_label(estimator, label):
    """lavaan prints 'Estimator GLS' for a GLS fit (semcluster printed ML), ML for MLR."""
    res = semcluster.fit(HS_MODEL, HS, estimator=estimator)
    assert _estimator_line(res.summary()) == label == ESTIMATORS[estimator].label


def test_summary_prints_dwls_for_wlsmv_and_sandwich_rows_for_fiml_mlr():
    res = semcluster.fit(HS_MODEL, FIX / "hs39_ordinal.csv", estimator="WLSMV")
    text = res.summary()
    assert _estimator_line(text) == "DWLS"
    assert re.search(r"Standard errors\s+Robust\.sem", text)
    rob = semcluster.fit(HS_MODEL, FIX / "hs39_missing.csv", estimator="MLR", missing="fiml")
    text = rob.summary()
    assert _estimator_line(text) == "ML"
    assert re.search(r"Standard errors\s+Sandwich", text)
    plain = semcluster.fit(HS_MODEL, FIX / "hs39_missing.csv", estimator="ML", missing="fiml")
    assert re.search(r"Standard errors\s+Standard", plain.summary())


def test_nested_test_is_the_estimators_registry_entry(tmp_path):
    from semcluster.analysis.model_comparison import nested_test

    assert {k: nested_test(k) for k in ESTIMATORS} == {
        "ML": "lrt", "MLR": "sb2001", "WLSMV": "satorra.2000", "GLS": "difference"}
    assert nested_test("NOT-REGISTERED") == "difference"
    data = semcluster.load_data(HS)
    for est, kind in (("ML", "chi-square difference (likelihood ratio)"),
                      ("GLS", "chi-square difference"),
                      ("MLR", "Satorra-Bentler (2001) scaled difference")):
        cmp = semcluster.compare_models(_nested_pair(tmp_path), data, estimator=est)
        assert list(cmp.tests["test"]) == [kind], est


# -- results built once ------------------------------------------------------------------------
def test_no_result_is_patched_after_it_is_built():
    """Estimators hand everything to the builder: no dataclasses.replace(res, ...) and no
    object.__setattr__(res, ...) anywhere in the package."""
    hits = []
    for path in SRC.rglob("*.py"):
        for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if re.search(r"replace\(res\b|object\.__setattr__\(res\b", line):
                hits.append(f"{path.relative_to(SRC)}:{i}")
    assert hits == []


def test_identification_and_robust_warnings_are_in_the_built_result():
    """An unidentified model: the identification message first, inadmissible, for every
    estimator (it was added by patching the result afterwards)."""
    for est in ("MLR", "GLS"):
        res = semcluster.fit(UNIDENTIFIED, HS, estimator=est)
        assert not res.admissible
        assert res.warnings[0].startswith("the model is not identified"), est


# -- one information inverse ---------------------------------------------------------------------
def test_information_inverse_singularity_rule_on_both_sides_of_its_threshold():
    from semcluster.numerics import SINGULAR_RATIO, invert_information

    # judged in units free of the parameters' scales: [[1, r], [r, 1]] has eigenvalue ratio
    # (1 - r) / (1 + r) with a unit diagonal already, so it sits on either side of the rule
    for ratio, ok in ((SINGULAR_RATIO * 10, True), (SINGULAR_RATIO / 10, False)):
        r = (1 - ratio) / (1 + ratio)
        M = np.array([[1.0, r], [r, 1.0]]) * np.outer([1.0, 30.0], [1.0, 30.0])
        inv, good = invert_information(M)
        assert good is ok
        if ok:
            np.testing.assert_allclose(inv @ M, np.eye(2), atol=1e-3)
        else:
            assert np.isnan(inv).all()
    assert invert_information(np.array([[1.0, np.nan], [np.nan, 1.0]]))[1] is False
    assert invert_information(-np.eye(2))[1] is False               # not positive definite
    # only badly scaled (an item measured x 10^6): tiny information, not singular
    inv, good = invert_information(np.diag([1.0, 0.5, 1e-14]))
    assert good and inv[2, 2] == pytest.approx(1e14)




@pytest.mark.parametrize("case", ["ML", "MLR", "GLS", "FIML", "FIML+MLR", "WLSMV",
                                  "groups ML", "groups MLR"])
def test_singular_information_gives_nan_standard_errors_everywhere(case):
    """A regression and a covariance between the same two factors: the information is singular, and every free parameter's standard error is NaN (lavaan: NA),
    whatever the estimator."""
    kw = {}
    data = HS
    if case.startswith("FIML"):
        data, kw = FIX / "hs39_missing.csv", {"missing": "fiml"}
    if case == "WLSMV":
        data = FIX / "hs39_ordinal.csv"
    if case.startswith("groups"):
        kw = {"group": "school"}
    est = {"FIML": "ML", "FIML+MLR": "MLR", "groups ML": "ML", "groups MLR": "MLR"}.get(case,
                                                                                        case)
    res = semcluster.fit(UNIDENTIFIED, data, estimator=est, **kw)
    free = res.estimates[(res.estimates["free"] > 0)]
    assert len(free) > 0
    assert free["se"].isna().all(), case
    assert not res.admissible
