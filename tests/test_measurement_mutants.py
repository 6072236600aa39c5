"""Reliability and validity figures held tightly to psych/semTools and to hand cases (found by
mutation testing, docs/mutation.md).

The functions are called directly (no EFA, no parallel analysis), on the HS39 items with the
psych/semTools fixture values, and on small stand-in fitted results whose figures can be worked
out by hand: ω and AVE with the *observed* denominators (semTools), CR with the *model-implied*
one (Jöreskog), ``ave_std`` = mean of squared *standardized* loadings (Fornell-Larcker).
"""
from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from semcluster.analysis.measurement import (
    _items_of,
    construct_reliability,
    cronbach_alpha,
    fornell_larcker,
    htmt,
    item_statistics,
    latent_correlations,
)
from semcluster.spec.parser import read_model

ROOT = Path(__file__).parent.parent
REF = json.loads((ROOT / "tests" / "fixtures" / "measurement" / "hs39.json").read_text())
LAV = json.loads((ROOT / "tests" / "fixtures" / "lavaan" / "hs39_cfa.json").read_text())
HS = pd.read_csv(ROOT / "src" / "semcluster" / "resources" / "data" / "holzinger_swineford_1939.csv")
ITEMS = {f: REF["scales"][f]["items"] for f in REF["factors"]}
TOL = 1e-9


# ---------------------------------------------------------------------------------------------
# from the items alone, against psych / semTools
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("f", REF["factors"])
def test_alpha_and_feldt_interval_equal_psych(f):
    sc = REF["scales"][f]
    a = cronbach_alpha(HS[sc["items"]])
    assert a["alpha"] == pytest.approx(sc["raw_alpha"], abs=TOL)
    assert a["std_alpha"] == pytest.approx(sc["std_alpha"], abs=TOL)
    assert a["alpha_ci_lower"] == pytest.approx(sc["alpha_ci_lower"], abs=TOL)
    assert a["alpha_ci_upper"] == pytest.approx(sc["alpha_ci_upper"], abs=TOL)
    assert (a["n"], a["n_items"]) == (301, 3)


def test_alpha_hand_case_with_a_90_percent_interval():
    """Two items, N = 4: x = (1, 2, 3, 4), y = (1, 3, 2, 4).  var x = var y = 5/3,
    cov = 4/3, sum of C = 6, alpha = 2 (1 - (10/3)/6) = 8/9; r = 0.8 so standardized alpha
    = 2(0.8)/(1 + 0.8) = 8/9; mean inter-item r = 0.8.  Feldt: 1 - (1 - alpha) F with
    (3, 3) df at 0.95 and 0.05 for a 90 % interval.  A row with a missing answer is dropped."""
    X = pd.DataFrame({"x": [1, 2, 3, 4, np.nan], "y": [1, 3, 2, 4, 5]})
    a = cronbach_alpha(X, ci=0.90)
    assert a["alpha"] == pytest.approx(8 / 9, abs=1e-12)
    assert a["std_alpha"] == pytest.approx(8 / 9, abs=1e-12)
    assert a["mean_inter_item_r"] == pytest.approx(0.8, abs=1e-12)
    assert a["n"] == 4
    assert a["alpha_ci_lower"] == pytest.approx(1 - (1 / 9) * stats.f.ppf(0.95, 3, 3),
                                                abs=1e-12)
    assert a["alpha_ci_upper"] == pytest.approx(1 - (1 / 9) * stats.f.ppf(0.05, 3, 3),
                                                abs=1e-12)


def test_item_statistics_equal_psych():
    t = item_statistics(HS, ITEMS, scale=None).set_index("item")
    for f in REF["factors"]:
        sc = REF["scales"][f]
        it = t.loc[sc["items"]]
        assert (it.construct == f).all()
        for col in ("r_drop", "alpha_if_deleted", "mean", "sd", "skew", "kurtosis"):
            np.testing.assert_allclose(it[col], sc[col], atol=TOL, err_msg=col)
        assert (it.n == 301).all()
        assert it.floor_pct.isna().all()


def test_item_statistics_floor_ceiling_and_two_item_scale():
    """Items on 1..3: x = (1, 2, 2, 3) has 25 % at the floor and 25 % at the ceiling,
    y = (1, 1, 1, 3) 75 % and 25 %; a scale of two items has no alpha-if-deleted (one item
    left); r_drop is the correlation with the other item."""
    X = pd.DataFrame({"x": [1, 2, 2, 3], "y": [1, 1, 1, 3]})
    t = item_statistics(X, {"F": ["x", "y"]}, scale=(1, 3)).set_index("item")
    assert t.loc["x", "floor_pct"] == 25.0
    assert t.loc["x", "ceiling_pct"] == 25.0
    assert t.loc["y", "floor_pct"] == 75.0
    assert np.isnan(t.loc["x", "alpha_if_deleted"])
    assert t.loc["x", "r_drop"] == pytest.approx(np.corrcoef([1, 2, 2, 3], [1, 1, 1, 3])[0, 1])


@pytest.mark.parametrize("which", ["htmt", "htmt2"])
def test_htmt_equals_semtools(which):
    f = REF["factors"]
    H = htmt(HS, ITEMS, htmt2=(which == "htmt2"))
    np.testing.assert_allclose(H.loc[f, f].to_numpy(float), np.array(REF[which]), atol=TOL)


def test_htmt_uses_absolute_correlations():
    """Reverse-keyed item: negating an item changes no |r|, so HTMT is unchanged."""
    X = HS.copy()
    X["x2"] = -X["x2"]
    f = REF["factors"]
    np.testing.assert_allclose(htmt(X, ITEMS).loc[f, f].to_numpy(float), np.array(REF["htmt"]),
                               atol=TOL)


# ---------------------------------------------------------------------------------------------
# from a fitted CFA: stand-ins built from lavaan's estimates and from hand numbers
# ---------------------------------------------------------------------------------------------
def _result_from(spec, rows, latent_cov, sample_cov):
    est = pd.DataFrame(rows, columns=["lhs", "op", "rhs", "est", "std_all", "se_std_all"])
    return SimpleNamespace(spec=spec, estimates=est, latent_cov=latent_cov,
                           sample_cov=sample_cov)


def _hs39_result():
    """lavaan's hs39 CFA (its est and std.all), its Psi, and S with the N divisor."""
    spec = read_model("visual =~ x1 + x2 + x3\ntextual =~ x4 + x5 + x6\n"
                      "speed =~ x7 + x8 + x9\n")
    rows = [(r["lhs"], r["op"], r["rhs"], r["est"], r["std_all"], r.get("se_std_all"))
            for r in LAV["estimates"]]
    lat = ["visual", "textual", "speed"]
    e = {(r[0], r[2]): r[3] for r in rows if r[1] == "~~"}
    psi = pd.DataFrame([[e.get((a, b), e.get((b, a))) for b in lat] for a in lat],
                       index=lat, columns=lat)
    obs = [f"x{i}" for i in range(1, 10)]
    S = HS[obs].cov(ddof=0)
    return _result_from(spec, rows, psi, S)


def test_omega_and_ave_equal_semtools():
    rel = construct_reliability(_hs39_result())
    for f in REF["factors"]:
        assert rel.loc[f, "omega"] == pytest.approx(REF["omega"][f], abs=1e-8)
        assert rel.loc[f, "ave"] == pytest.approx(REF["ave"][f], abs=1e-8)
        assert rel.loc[f, "n_items"] == 3


def _hand_result():
    """f =~ a + b + c (loadings 1, 2, 1), psi = 1, theta = (1, 1, 2), residual covariance
    a ~~ b = 0.5; std.all loadings given as (0.6, 0.8, 0.5).  S: variances (3, 6, 4),
    covariances all 1 except a-b = 2.
    Sum of loadings 4: common = 16.  CR = 16 / (16 + 4 + 2 * 0.5) = 16/21.
    omega = 16 / sum(S) = 16 / (13 + 2 * (2 + 1 + 1)) = 16/21... S sums to 13 + 8 = 21 as well,
    so use c ~ others = 1.5 instead: sum(S) = 13 + 2 (2 + 1.5 + 1.5) = 23, omega = 16/23.
    AVE (semTools, observed) = (1 + 4 + 1) * 1 / (3 + 6 + 4) = 6/13.
    ave_std = mean(0.36, 0.64, 0.25) = 1.25/3."""
    spec = read_model("f =~ a + b + c\n")     # items only; a ~~ b is in the estimates
    rows = [("f", "=~", "a", 1.0, 0.6, 0.0), ("f", "=~", "b", 2.0, 0.8, 0.0),
            ("f", "=~", "c", 1.0, 0.5, 0.0), ("a", "~~", "a", 1.0, 0.0, 0.0),
            ("b", "~~", "b", 1.0, 0.0, 0.0), ("c", "~~", "c", 2.0, 0.0, 0.0),
            ("a", "~~", "b", 0.5, 0.0, 0.0), ("f", "~~", "f", 1.0, 1.0, 0.0)]
    S = pd.DataFrame([[3.0, 2.0, 1.5], [2.0, 6.0, 1.5], [1.5, 1.5, 4.0]],
                     index=list("abc"), columns=list("abc"))
    return _result_from(spec, rows, pd.DataFrame([[1.0]], index=["f"], columns=["f"]), S)


def test_reliability_hand_case():
    rel = construct_reliability(_hand_result())
    assert rel.loc["f", "cr"] == pytest.approx(16 / 21, abs=1e-12)
    assert rel.loc["f", "omega"] == pytest.approx(16 / 23, abs=1e-12)
    assert rel.loc["f", "ave"] == pytest.approx(6 / 13, abs=1e-12)
    assert rel.loc["f", "ave_std"] == pytest.approx(1.25 / 3, abs=1e-12)


def test_reliability_scales_with_the_factor_variance():
    """psi = 4 instead of 1: common = 16 * 4 = 64; CR = 64/(64 + 5), AVE = 24/13."""
    r = _hand_result()
    r.latent_cov = pd.DataFrame([[4.0]], index=["f"], columns=["f"])
    rel = construct_reliability(r)
    assert rel.loc["f", "cr"] == pytest.approx(64 / 69, abs=1e-12)
    assert rel.loc["f", "ave"] == pytest.approx(24 / 13, abs=1e-12)


def _two_factor_result(r_fg=0.5, se=0.1):
    spec = read_model("f =~ a + b\ng =~ c + d\n")
    rows = [("f", "=~", "a", 1.0, 0.6, 0), ("f", "=~", "b", 1.0, 0.6, 0),
            ("g", "=~", "c", 1.0, 0.4, 0), ("g", "=~", "d", 1.0, 0.4, 0),
            ("f", "~~", "g", 3.0, r_fg, se), ("f", "~~", "f", 4.0, 1.0, 0),
            ("g", "~~", "g", 9.0, 1.0, 0)] + [(v, "~~", v, 1.0, 0.5, 0) for v in "abcd"]
    lc = pd.DataFrame([[4.0, 3.0], [3.0, 9.0]], index=["f", "g"], columns=["f", "g"])
    S = pd.DataFrame(np.eye(4) * 5, index=list("abcd"), columns=list("abcd"))
    return _result_from(spec, rows, lc, S)


def test_latent_correlations_and_95_percent_interval():
    """r = 0.5, SE 0.1: 0.5 -/+ 1.959964 * 0.1."""
    t = latent_correlations(_two_factor_result())
    assert len(t) == 1
    r = t.iloc[0]
    assert (r.lhs, r.rhs, r.r, r.se) == ("f", "g", 0.5, 0.1)
    assert list(t.columns) == ["lhs", "rhs", "r", "se", "ci_lower", "ci_upper"]
    assert r.ci_lower == pytest.approx(0.5 - 0.1959964, abs=1e-7)
    assert r.ci_upper == pytest.approx(0.5 + 0.1959964, abs=1e-7)


def test_fornell_larcker_hand_case():
    """Latent covariance 3 with variances 4 and 9: r = 3/6 = 0.5.  ave_std: f 0.36 (sqrt 0.6,
    passes), g 0.16 (sqrt 0.4 < 0.5, fails)."""
    res = _two_factor_result()
    M = fornell_larcker(res)
    assert M.loc["f", "f"] == pytest.approx(0.6, abs=1e-12)
    assert M.loc["g", "g"] == pytest.approx(0.4, abs=1e-12)
    assert M.loc["f", "g"] == pytest.approx(0.5, abs=1e-12)
    assert M.loc["g", "f"] == pytest.approx(0.5, abs=1e-12)
    assert bool(M.loc["f", "passes"]) is True
    assert bool(M.loc["g", "passes"]) is False


def test_fornell_larcker_uses_the_absolute_correlation():
    """Covariance -3: |r| = 0.5 still exceeds sqrt(0.16) = 0.4, so g fails; f passes."""
    res = _two_factor_result()
    res.latent_cov = pd.DataFrame([[4.0, -3.0], [-3.0, 9.0]], index=["f", "g"],
                                  columns=["f", "g"])
    M = fornell_larcker(res)
    assert M.loc["f", "g"] == pytest.approx(-0.5, abs=1e-12)
    assert bool(M.loc["f", "passes"]) is True
    assert bool(M.loc["g", "passes"]) is False


def test_items_of_a_second_order_model_are_its_observed_indicators():
    spec = read_model("f =~ a + b + c\ng =~ d + e + h\nk =~ i + j + l\nh2 =~ f + g + k\n")
    assert _items_of(spec) == {"f": ["a", "b", "c"], "g": ["d", "e", "h"],
                               "k": ["i", "j", "l"]}


def test_reliability_ignores_other_factors_and_paths_between_items():
    """The hand case plus (1) a cross-loading g =~ c (0.7) and g's own items d, e, and (2) a
    regression c ~ a (0.3) between two items: f's figures are the hand case's (CR 16/21,
    omega 16/23, AVE 6/13) -- g's loading on c is not f's, and a path is not a residual
    covariance."""
    r = _hand_result()
    extra = pd.DataFrame([("g", "=~", "c", 0.7, 0.3, 0.0), ("g", "=~", "d", 1.0, 0.5, 0.0),
                          ("g", "=~", "e", 1.0, 0.5, 0.0), ("c", "~", "a", 0.3, 0.1, 0.0)],
                         columns=r.estimates.columns)
    r.estimates = pd.concat([r.estimates, extra], ignore_index=True)
    rel = construct_reliability(r, {"f": ["a", "b", "c"]})
    assert rel.loc["f", "cr"] == pytest.approx(16 / 21, abs=1e-12)
    assert rel.loc["f", "omega"] == pytest.approx(16 / 23, abs=1e-12)
    assert rel.loc["f", "ave"] == pytest.approx(6 / 13, abs=1e-12)
    assert rel.loc["f", "ave_std"] == pytest.approx(1.25 / 3, abs=1e-12)


def test_fornell_larcker_uses_the_reliability_it_is_given():
    """A reliability table passed in (as measurement_report does) is used as it is:
    ave_std 0.49 and 0.25 give sqrt 0.7 and 0.5 on the diagonal."""
    rel = pd.DataFrame({"ave_std": [0.49, 0.25]}, index=["f", "g"])
    M = fornell_larcker(_two_factor_result(), rel)
    assert M.loc["f", "f"] == pytest.approx(0.7, abs=1e-12)
    assert M.loc["g", "g"] == pytest.approx(0.5, abs=1e-12)
    # a tie (sqrt(AVE) = |r| = 0.5) does not pass: the criterion is strictly greater
    assert bool(M.loc["g", "passes"]) is False


@pytest.mark.parametrize("fn", ["construct_reliability", "latent_correlations",
                                "fornell_larcker"])
def test_reliability_and_validity_refuse_a_fit_with_groups_or_means(fn):
    """They read one group's covariance matrices: a fit whose moments are per group (groups
    or a mean structure) is refused with a one-line OptionError before anything is read."""
    from types import SimpleNamespace

    from semcluster.analysis import measurement
    from semcluster.errors import OptionError

    fake = SimpleNamespace(moments=("g1", "g2"))
    # fornell_larcker given a reliability table: its own guard is the only one on that path
    rel = pd.DataFrame({"ave_std": [0.6]}, index=["f"])
    args = (fake, rel) if fn == "fornell_larcker" else (fake,)
    with pytest.raises(OptionError, match="one-group fit"):
        getattr(measurement, fn)(*args)
