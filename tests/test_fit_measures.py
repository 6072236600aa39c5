"""Every fit measure lavaan's ``fitMeasures(fit)`` reports, for every estimator semcluster has.

Reference: tests/fixtures/estimators/fit_measures.json (written by make_fit_measures.R with
lavaan 0.6.14): per case the names in lavaan's order and their values.  For each case
semcluster must report the same names in the same order (lavaan's ``.`` written ``_``), NaN
where lavaan gives NA, and every value within 1e-5 absolute, or 1e-6 relative for the
χ²-type statistics (statistics, scaling factors, fmin, log-likelihoods and information
criteria, and the measures proportional to 1/X² or X²/N: Hoelter's CN and the ECVI).
"""
from __future__ import annotations

import json
import math
import warnings
from pathlib import Path

import pandas as pd
import pytest

from semcluster import fit
from semcluster.measures.fitmeasures import baseline_comparisons, lavaan_measure_names

ROOT = Path(__file__).parent.parent
FIX = ROOT / "tests" / "fixtures" / "estimators"
REF = json.loads((FIX / "fit_measures.json").read_text())["cases"]
HS = "visual =~ x1 + x2 + x3\ntextual =~ x4 + x5 + x6\nspeed =~ x7 + x8 + x9\n"


def _hs():
    return pd.read_csv(ROOT / "src" / "semcluster" / "resources" / "data" / "holzinger_swineford_1939.csv")


def _study():
    return pd.read_csv(ROOT / "src" / "semcluster" / "resources" / "data" / "paper_synthetic.csv")


CASES = {
    "hs39_ml": lambda: fit(HS, _hs()),
    "hs39_mlr": lambda: fit(HS, _hs(), estimator="MLR"),
    "hs39_gls": lambda: fit(HS, _hs(), estimator="GLS"),
    "hs39_fiml": lambda: fit(HS, pd.read_csv(FIX / "hs39_missing.csv"), missing="fiml"),
    "hs39_fiml_mlr": lambda: fit(HS, pd.read_csv(FIX / "hs39_missing.csv"), missing="fiml",
                                 estimator="MLR"),
    "hs39_wlsmv": lambda: fit(HS, pd.read_csv(FIX / "hs39_ordinal.csv"), estimator="WLSMV"),
    "study_ml": lambda: fit("h1_h5", _study()),
    "study_mlr": lambda: fit("h1_h5", _study(), estimator="MLR"),
    "study_gls": lambda: fit("h1_h5", _study(), estimator="GLS"),
    "study_fiml": lambda: fit("h1_h5", pd.read_csv(FIX / "study_missing.csv"), missing="fiml"),
    "study_fiml_mlr": lambda: fit("h1_h5", pd.read_csv(FIX / "study_missing.csv"),
                                  missing="fiml", estimator="MLR"),
    "study_wlsmv": lambda: fit("h1_h5", _study(), estimator="WLSMV"),
}

RELATIVE = ("chisq", "scaling_factor", "fmin", "logl", "aic", "bic", "cn_", "ecvi")


def relative(name: str) -> bool:
    return any(k in name for k in RELATIVE)


@pytest.fixture(scope="module", params=list(CASES))
def case(request):
    with warnings.catch_warnings():      # sparse categories of the study's ordinal items
        warnings.simplefilter("ignore")
        fm = CASES[request.param]().fit_measures
    return request.param, fm, REF[request.param]


def test_the_fixture_covers_every_case():
    assert set(REF) == set(CASES)


def test_names_and_order_equal_lavaan(case):
    _, fm, ref = case
    assert list(fm.index) == ref["names"]


def test_values_equal_lavaan(case):
    _, fm, ref = case
    bad = {}
    for k, v in ref["fit_measures"].items():
        ours = float(fm[k])
        if v is None:
            if not math.isnan(ours):
                bad[k] = (ours, "NA")
            continue
        if relative(k):
            ok = ours == pytest.approx(v, rel=1e-6, abs=1e-12)
        else:
            ok = ours == pytest.approx(v, abs=1e-5)
        if not ok:
            bad[k] = (ours, v)
    assert not bad, bad


@pytest.mark.parametrize("flags, n", [
    ({}, 46),                                                                    # ML
    ({"scaled": True, "robust": True, "yuan_bentler": True}, 78),                # MLR
    ({"likelihood": False}, 40),                                                 # GLS
    ({"robust": True}, 55),                                                      # FIML
    ({"likelihood": False, "scaled": True, "robust": True, "categorical": True}, 70),  # WLSMV
])
def test_name_lists_have_lavaans_lengths(flags, n):
    names = lavaan_measure_names(**flags)
    assert len(names) == len(set(names)) == n


def test_baseline_comparisons_hand_case():
    """X2 = 20, df = 10, X2_B = 110, df_B = 15: NNFI = TLI = (110/15 - 2)/(110/15 - 1);
    RFI = (110/15 - 2)/(110/15); NFI = 90/110; PNFI = 10/15 · 90/110; IFI = 90/(110 - 10);
    RNI = CFI = 1 - 10/95."""
    r = baseline_comparisons(20.0, 10, 110.0, 15)
    b = 110 / 15
    expect = {"cfi": 1 - 10 / 95, "tli": (b - 2) / (b - 1), "nnfi": (b - 2) / (b - 1),
              "rfi": (b - 2) / b, "nfi": 90 / 110, "pnfi": 10 / 15 * 90 / 110, "ifi": 0.9,
              "rni": 1 - 10 / 95}
    assert r == pytest.approx(expect, abs=1e-12)
    # the robust family corrects df by c (CFI, TLI, NNFI, RNI only)
    rob = baseline_comparisons(20.0, 10, 110.0, 15, suffix="_robust", c=1.2, c_null=1.1)
    assert set(rob) == {"cfi_robust", "tli_robust", "nnfi_robust", "rni_robust"}
    assert rob["rni_robust"] == pytest.approx(1 - 8 / (110 - 16.5), abs=1e-12)
    assert rob["cfi_robust"] == pytest.approx(1 - 8 / (110 - 16.5), abs=1e-12)

