"""WLSMV variants against lavaan 0.6.14: the theta parameterization (with and without
exogenous covariates) and a mix of ordered and continuous indicators.

Reference numbers: tests/fixtures/estimators/*.json from
tests/fixtures/estimators/make_covariates.R; comparisons through lavaan_reference.compare.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from lavaan_reference import ESTIMATOR_FIXTURES as FIX
from lavaan_reference import HS_MODEL, TOLERANCES, compare
from lavaan_reference import load_estimator_fixture as load_fixture

from semcluster.estimation.registry import estimate
from semcluster.spec.parser import read_model

MIMIC = HS_MODEL + "visual + textual ~ ageyr + female\n"
ITEMS = [f"x{i}" for i in range(1, 10)]


@pytest.fixture(scope="module")
def hs_ordinal():
    return pd.read_csv(FIX / "hs39_ordinal.csv")


# ---------------------------------------------------------------------------------------------
# theta parameterization
# ---------------------------------------------------------------------------------------------
def test_theta_parameterization_matches_lavaan(hs_ordinal):
    spec = read_model(HS_MODEL)
    res = estimate(spec, hs_ordinal[ITEMS].astype(float), estimator="WLSMV",
                   parameterization="theta")
    ref = load_fixture("hs39_wlsmv_theta")
    assert ref["options"]["parameterization"] == "theta"
    ag = compare(res, ref)
    assert ag.rows == 51
    assert res.info["parameterization"] == "theta"
    # the items' residual variances are fixed at 1, not free
    rv = res.estimates[(res.estimates.op == "~~") & (res.estimates.lhs == "x5")
                       & (res.estimates.rhs == "x5")].iloc[0]
    assert rv["est"] == 1.0 and rv["se"] == 0 and rv["free"] == 0


def test_theta_and_delta_are_the_same_model(hs_ordinal):
    spec = read_model(HS_MODEL)
    X = hs_ordinal[ITEMS].astype(float)
    d = estimate(spec, X, estimator="WLSMV")
    t = estimate(spec, X, estimator="WLSMV", parameterization="theta")
    for k in ("chisq", "chisq_scaled", "cfi_scaled", "rmsea_robust", "srmr"):
        assert t.fit_measures[k] == pytest.approx(d.fit_measures[k], rel=1e-7)
    np.testing.assert_allclose(t.estimates.std_all, d.estimates.std_all, atol=1e-7)


def test_theta_with_covariates_matches_lavaan():
    """With covariates lavaan's optimizer stops before its implied thresholds reach the sample
    ones (lavaan's own residuals x4|t3: -1.664003 implied vs -1.664202 sample); ours reproduce
    them exactly (the thresholds are saturated), so four thresholds differ by up to 2.2e-4
    (tolerance 1e-4). Everything else is held to the usual tolerances."""
    spec = read_model(MIMIC)
    d = pd.read_csv(FIX / "hs39_mimic_ordinal.csv")
    res = estimate(spec, d[spec.observed].astype(float), estimator="WLSMV", ordered=ITEMS,
                   parameterization="theta")
    ag = compare(res, load_fixture("hs39_mimic_wlsmv_theta"), check=False)
    assert ag.rows == 53
    other = [f for f in ag.failures if " | t" not in f]
    assert not other, other
    assert ag.worst["est"] < 2.5e-4 and ag.worst["se"] < TOLERANCES["se"].limit


def test_theta_refuses_equality_constraints(hs_ordinal):
    from semcluster.errors import EstimationError

    spec = read_model("visual =~ x1 + a*x2 + a*x3\ntextual =~ x4 + x5 + x6\n"
                      "speed =~ x7 + x8 + x9\n")
    with pytest.raises(EstimationError, match="theta.*equality constraints"):
        estimate(spec, hs_ordinal[ITEMS].astype(float), estimator="WLSMV",
                 parameterization="theta")
    with pytest.raises(EstimationError, match="WLSMV"):
        estimate(spec, hs_ordinal[ITEMS].astype(float), estimator="ML",
                 parameterization="theta")


# ---------------------------------------------------------------------------------------------
# a mix of ordinal (x1-x6) and continuous (x7-x9) items
# ---------------------------------------------------------------------------------------------
ORDERED = [f"x{i}" for i in range(1, 7)]


@pytest.fixture(scope="module")
def hs_mixed():
    return pd.read_csv(FIX / "hs39_mixed.csv")


def test_mixed_first_stage_matches_lavaan(hs_mixed):
    """Thresholds, means, polychoric/polyserial/Pearson (co)variances and Γ (up to lavaan's
    sign convention for the means, which it stores as thresholds)."""
    from semcluster.estimation.polychoric import mixed_correlations

    mc = mixed_correlations(hs_mixed[ITEMS], ORDERED)
    ref = load_fixture("hs39_mixed_wlsmv")
    np.testing.assert_allclose(mc.cov.to_numpy(), np.array(ref["sample_cov"]), atol=1e-7)
    G = np.array(ref["nacov"])
    np.testing.assert_allclose(np.abs(mc.gamma), np.abs(G), atol=1e-6 * np.abs(G).max())


@pytest.mark.parametrize("parameterization", ["delta", "theta"])
def test_mixed_ordinal_continuous_matches_lavaan(hs_mixed, parameterization):
    import semcluster

    res = semcluster.fit(HS_MODEL, hs_mixed, ordered=ORDERED, estimator="WLSMV") \
        if parameterization == "delta" else \
        estimate(read_model(HS_MODEL), hs_mixed[ITEMS].astype(float), estimator="WLSMV",
                 ordered=ORDERED, parameterization="theta")
    ref = load_fixture("hs39_mixed_wlsmv" + ("_theta" if parameterization == "theta" else ""))
    ag = compare(res, ref)
    assert ag.rows == 48           # 24 model rows, 21 thresholds, 3 means of continuous items
    fm = res.fit_measures
    assert fm["npar"] == 39 and fm["df"] == 24
    means = res.estimates[res.estimates.op == "~1"]
    assert list(means.lhs) == ["x7", "x8", "x9"]
    # continuous items keep their metric: free residual variances with SEs
    rv = res.estimates[(res.estimates.op == "~~") & (res.estimates.lhs == "x9")
                       & (res.estimates.rhs == "x9")].iloc[0]
    assert rv["free"] > 0 and rv["se"] > 0


def test_mixed_refusals(hs_mixed):
    from semcluster.errors import EstimationError
    from semcluster.estimation import wlsmv

    X = hs_mixed[ITEMS].astype(float)
    Xm = X.copy()
    Xm.iloc[0, 7] = np.nan
    with pytest.raises(EstimationError, match="continuous items.*complete data only"):
        wlsmv.fit(read_model(HS_MODEL), Xm, ordered=ORDERED, missing="pairwise")
    d = pd.read_csv(FIX / "hs39_mimic_ordinal.csv")
    with pytest.raises(EstimationError, match="continuous items.*covariates.*not implemented"):
        wlsmv.fit(read_model(MIMIC), d[read_model(MIMIC).observed].astype(float),
                  ordered=ORDERED)
    with pytest.raises(EstimationError, match="at least one ordinal item"):
        wlsmv.fit(read_model(HS_MODEL), X, ordered=[])


def test_theta_refuses_fixed_values_that_change_meaning(hs_ordinal):
    from semcluster.errors import EstimationError

    spec = read_model(HS_MODEL + "visual ~~ 0.3*textual\n")
    with pytest.raises(EstimationError, match="theta.*visual ~~ 0.3\\*textual"):
        estimate(spec, hs_ordinal[ITEMS].astype(float), estimator="WLSMV",
                 parameterization="theta")


def test_theta_through_fit_and_the_cli(hs_ordinal, tmp_path):
    """fit(..., parameterization="theta") and `semcluster fit --parameterization theta` give
    lavaan's theta solution (the fixture of test_theta_parameterization_matches_lavaan)."""
    import json
    import subprocess
    import sys

    import semcluster
    from semcluster.errors import OptionError

    ref = load_fixture("hs39_wlsmv_theta")
    res = semcluster.fit(HS_MODEL, hs_ordinal[ITEMS], ordered="all", parameterization="theta")
    assert res.info["parameterization"] == "theta"
    compare(res, ref)
    csv = tmp_path / "ordinal.csv"
    hs_ordinal[ITEMS].to_csv(csv, index=False)
    model = tmp_path / "hs.lav"
    model.write_text(HS_MODEL)
    out = tmp_path / "fit.json"
    done = subprocess.run([sys.executable, "-m", "semcluster", "fit", str(model), "--data",
                           str(csv), "--ordered", "all", "--parameterization", "theta",
                           "--json", str(out)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    est = {(r["lhs"], r["op"], r["rhs"]): r["est"] for r in json.loads(out.read_text())["estimates"]}
    x2 = res.estimates[(res.estimates.lhs == "visual") & (res.estimates.rhs == "x2")].est.iloc[0]
    assert est[("visual", "=~", "x2")] == pytest.approx(x2, abs=1e-10)
    with pytest.raises(OptionError, match="applies to WLSMV"):
        semcluster.fit(HS_MODEL, hs_ordinal[ITEMS], estimator="ML", parameterization="theta")
    with pytest.raises(OptionError, match="'delta' or 'theta'"):
        semcluster.fit(HS_MODEL, hs_ordinal[ITEMS], ordered="all", parameterization="beta")
