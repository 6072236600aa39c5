"""Fit measures held tightly to lavaan and to hand-derived cases (found by mutation testing,
docs/mutation.md).

The fit measures are functions of S (N-divisor sample covariance), Sigma-hat, N and the
parameter count only.  Here Sigma-hat is built by hand from *lavaan's own estimates* in the
fixtures (Lambda Psi Lambda' + Theta, written out below, no semcluster code), so every figure
must equal lavaan's to the fixtures' precision -- much tighter than the end-to-end agreement
tests, whose tolerance has to absorb the optimiser.  This catches N vs N - 1 slips, the
90 % RMSEA interval, the fixed-x moment counts, AGFI's moment count, BIC2's (N + 2)/24.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from semcluster.measures.fitmeasures import (
    baseline_sigma,
    cfi,
    fit_measures,
    incremental_indices,
    loglik,
    ml_discrepancy,
    rmsea_interval,
    tli,
)

ROOT = Path(__file__).parent.parent
LAV = ROOT / "tests" / "fixtures" / "lavaan"
HS = ROOT / "src" / "semcluster" / "resources" / "data" / "holzinger_swineford_1939.csv"

# tolerances: the fixtures carry 15 significant digits of lavaan's estimates; the RMSEA
# interval is a root of lavaan's uniroot (tolerance about 1e-9 on lambda)
TIGHT = 1e-7


def _est(ref):
    return {(r["lhs"], r["op"], r["rhs"]): r["est"] for r in ref["estimates"]}


def _cov_n(cols):
    X = pd.read_csv(HS)[cols].to_numpy(float)
    Xc = X - X.mean(axis=0)
    return Xc.T @ Xc / len(X)          # N divisor, as lavaan's sample statistics


def hs39_cfa():
    """Sigma = Lambda Psi Lambda' + Theta with lavaan's estimates (three-factor CFA)."""
    ref = json.loads((LAV / "hs39_cfa.json").read_text())
    e = _est(ref)
    obs = [f"x{i}" for i in range(1, 10)]
    lat = ["visual", "textual", "speed"]
    L = np.zeros((9, 3))
    for k, f in enumerate(lat):
        for i in range(3 * k, 3 * k + 3):
            L[i, k] = e[(f, "=~", obs[i])]
    Psi = np.array([[e.get((a, "~~", b), e.get((b, "~~", a))) for b in lat] for a in lat])
    Theta = np.diag([e[(v, "~~", v)] for v in obs])
    return _cov_n(obs), L @ Psi @ L.T + Theta, ref


def hs39_fixedx():
    """visual =~ x1 + b2*x2 + 0.7*x3; x9 ~ a*visual + c*x7 (x7 fixed-x, uncorrelated with
    visual as lavaan has no visual ~~ x7 row).  Variables in order x1 x2 x3 x9 x7:
    x = Lambda xi + e, x9 = a xi + c x7 + e9, var(x7) = its sample variance."""
    ref = json.loads((LAV / "hs39_path_fixedx.json").read_text())
    e = _est(ref)
    S = _cov_n(["x1", "x2", "x3", "x9", "x7"])
    lam = np.array([1.0, e[("visual", "=~", "x2")], 0.7, e[("x9", "~", "visual")], 0.0])
    beta = np.array([0, 0, 0, e[("x9", "~", "x7")], 1.0])      # loading on x7 itself
    psi = e[("visual", "~~", "visual")]
    vx7 = S[4, 4]
    theta = np.diag([e[("x1", "~~", "x1")], e[("x2", "~~", "x2")], e[("x3", "~~", "x3")],
                     e[("x9", "~~", "x9")], 0.0])
    Sigma = psi * np.outer(lam, lam) + vx7 * np.outer(beta, beta) + theta
    return S, Sigma, ref


@pytest.fixture(scope="module", params=["hs39_cfa", "hs39_fixedx"])
def case(request):
    if request.param == "hs39_cfa":
        S, Sigma, ref = hs39_cfa()
        fm = fit_measures(S, Sigma, ref["nobs"], ref["fit_measures"]["npar"])
    else:
        S, Sigma, ref = hs39_fixedx()
        fm = fit_measures(S, Sigma, ref["nobs"], ref["fit_measures"]["npar"], fixed_x_idx=[4])
    return fm, ref["fit_measures"]


@pytest.mark.parametrize("name", ["npar", "df", "baseline_df", "ntotal"])
def test_counts_equal_lavaan(case, name):
    fm, lav = case
    assert fm[name] == lav[name]


@pytest.mark.parametrize("name", ["chisq", "baseline_chisq", "logl", "unrestricted_logl",
                                  "aic", "bic", "bic2"])
def test_statistics_equal_lavaan_at_its_estimates(case, name):
    fm, lav = case
    assert fm[name] == pytest.approx(lav[name], rel=TIGHT, abs=1e-6)


@pytest.mark.parametrize("name", ["pvalue", "cfi", "tli", "nfi", "rmsea", "rmsea_pvalue",
                                  "srmr", "gfi", "agfi"])
def test_indices_equal_lavaan_at_its_estimates(case, name):
    fm, lav = case
    assert fm[name] == pytest.approx(lav[name], abs=1e-7)


@pytest.mark.parametrize("name", ["rmsea_ci_lower", "rmsea_ci_upper"])
def test_rmsea_90_percent_interval_equals_lavaan(case, name):
    fm, lav = case
    assert fm[name] == pytest.approx(lav[name], abs=1e-6)


def test_baseline_pvalue_is_the_chi_square_tail(case):
    """Not in the fixtures: P(chi2_df_b > X2_b), by definition."""
    fm, lav = case
    assert fm["baseline_pvalue"] == pytest.approx(
        stats.chi2.sf(lav["baseline_chisq"], lav["baseline_df"]), rel=1e-6, abs=1e-300)


# ---------------------------------------------------------------------------------------------
# hand-derived cases
# ---------------------------------------------------------------------------------------------
def test_incremental_indices_hand_case():
    """X2 = 20, df = 10, X2_B = 110, df_B = 10, N = 100:
    CFI = 1 - (20-10)/(110-10) = 0.9; TLI = (11 - 2)/(11 - 1) = 0.9; NFI = 90/110;
    RMSEA = sqrt(20/(100*10) - 1/100) = sqrt(0.01) = 0.1 (lavaan divides by N, not N - 1)."""
    r = incremental_indices(20.0, 10, 110.0, 10, 100)
    assert r["cfi"] == pytest.approx(0.9, abs=1e-12)
    assert r["tli"] == pytest.approx(0.9, abs=1e-12)
    assert r["nfi"] == pytest.approx(90 / 110, abs=1e-12)
    assert r["rmsea"] == pytest.approx(0.1, abs=1e-12)
    # close-fit p: P(chi2_10(lambda = N df 0.05^2 = 2.5) > 20)
    assert r["rmsea_pvalue"] == pytest.approx(stats.ncx2.sf(20, 10, 2.5), rel=1e-10)


def test_incremental_indices_when_the_model_fits_better_than_its_df():
    """X2 < df: the non-centrality max(X2 - df, 0) is 0, so CFI = 1 and RMSEA = 0;
    TLI may exceed 1: (110/10 - 5/10)/(110/10 - 1) = 10.5/10."""
    r = incremental_indices(5.0, 10, 110.0, 10, 100)
    assert r["cfi"] == 1.0
    assert r["rmsea"] == 0.0
    assert r["tli"] == pytest.approx(1.05, abs=1e-12)


def test_incremental_indices_when_even_the_baseline_fits():
    """X2_B < df_B and X2 < df: both non-centralities are 0, CFI = 1 by lavaan's rule."""
    r = incremental_indices(5.0, 10, 8.0, 10, 100)
    assert r["cfi"] == 1.0


def test_cfi_denominator_takes_the_larger_non_centrality():
    """X2 - df = 30 > X2_B - df_B = 20 (a model worse than the baseline): CFI = 1 - 30/30 = 0."""
    r = incremental_indices(40.0, 10, 30.0, 10, 100)
    assert r["cfi"] == pytest.approx(0.0, abs=1e-12)


def test_saturated_model_indices():
    """df = 0 (saturated): RMSEA and its interval 0, TLI 1, close-fit p undefined;
    NFI = (X2_B - 0)/X2_B = 1."""
    r = incremental_indices(0.0, 0, 50.0, 6, 100)
    assert (r["rmsea"], r["rmsea_ci_lower"], r["rmsea_ci_upper"]) == (0.0, 0.0, 0.0)
    assert r["tli"] == 1.0
    assert np.isnan(r["rmsea_pvalue"])
    assert r["nfi"] == 1.0
    assert r["cfi"] == 1.0


def test_tli_and_nfi_without_a_baseline():
    """df_B = 0 and X2_B = 0 (one variable): NFI has no denominator (NaN); TLI's t2 =
    (X2_B - df_B)·df = 0, for which lavaan's lav_fit_tli returns 1 (it was NaN here before
    every measure was checked against lavaan's own functions)."""
    r = incremental_indices(3.0, 2, 0.0, 0, 100)
    assert r["tli"] == 1.0
    assert np.isnan(r["nfi"])


def test_rmsea_interval_solves_its_defining_equations():
    """lambda_L: P(chi2_df(lambda_L) <= X2) = 0.95, lambda_U: = 0.05 (a 90 % interval),
    RMSEA = sqrt(lambda/(N df)).  Checked by plugging the ends back into scipy's ncx2."""
    X2, df, n = 85.3055217699727, 24, 301
    lo, hi = rmsea_interval(X2, df, n)
    lam_l, lam_u = lo ** 2 * n * df, hi ** 2 * n * df
    assert stats.ncx2.cdf(X2, df, lam_l) == pytest.approx(0.95, abs=1e-9)
    assert stats.ncx2.cdf(X2, df, lam_u) == pytest.approx(0.05, abs=1e-9)
    lo95, hi95 = rmsea_interval(X2, df, n, level=0.95)
    assert stats.ncx2.cdf(X2, df, lo95 ** 2 * n * df) == pytest.approx(0.975, abs=1e-9)
    assert stats.ncx2.cdf(X2, df, hi95 ** 2 * n * df) == pytest.approx(0.025, abs=1e-9)


def test_rmsea_interval_for_a_large_statistic():
    """X2 = 2000 on 10 df: the upper root lies far beyond max(X2, 1), so the bracket must be
    widened; both ends still solve their equations."""
    lo, hi = rmsea_interval(2000.0, 10, 200)
    assert stats.ncx2.cdf(2000.0, 10, lo ** 2 * 200 * 10) == pytest.approx(0.95, abs=1e-9)
    assert stats.ncx2.cdf(2000.0, 10, hi ** 2 * 200 * 10) == pytest.approx(0.05, abs=1e-9)


def test_rmsea_interval_with_a_statistic_below_one():
    """X2 = 0.5 on 1 df: P(chi2_1 <= 0.5) = 0.52 < 0.95, so lambda_L = 0; the upper end
    solves P(chi2_1(lambda) <= 0.5) = 0.05 with a bracket starting at max(X2, 1) = 1."""
    lo, hi = rmsea_interval(0.5, 1, 100)
    assert lo == 0.0
    assert stats.ncx2.cdf(0.5, 1, hi ** 2 * 100) == pytest.approx(0.05, abs=1e-9)


def test_rmsea_interval_upper_end_zero_for_a_tiny_statistic():
    """X2 = 0.001 on 5 df: even lambda = 0 gives P(chi2_5 <= X2) far below 0.05: both 0."""
    assert rmsea_interval(0.001, 5, 100) == (0.0, 0.0)


def test_rmsea_interval_undefined():
    assert all(np.isnan(rmsea_interval(10.0, 0, 100)))
    assert all(np.isnan(rmsea_interval(np.inf, 3, 100)))


def test_discrepancy_of_a_non_positive_definite_sigma_is_infinite():
    S = np.eye(2)
    assert ml_discrepancy(S, np.zeros((2, 2))) == np.inf          # singular: sign 0
    assert ml_discrepancy(S, np.diag([1.0, -1.0])) == np.inf      # indefinite: sign -1


def test_discrepancy_and_loglik_hand_case():
    """S = diag(2, 3), Sigma = I (p = 2): F = log 1 + 5 - log 6 - 2 = 3 - log 6;
    logL(N = 10) = -5 (2 log 2pi + 0 + 5)."""
    S = np.diag([2.0, 3.0])
    assert ml_discrepancy(S, np.eye(2)) == pytest.approx(3 - np.log(6), abs=1e-12)
    assert loglik(S, np.eye(2), 10) == pytest.approx(-5 * (2 * np.log(2 * np.pi) + 5),
                                                     abs=1e-10)


def test_baseline_sigma_keeps_the_fixed_x_block():
    S = np.array([[4.0, 1.0, 0.5], [1.0, 3.0, 0.2], [0.5, 0.2, 2.0]])
    np.testing.assert_array_equal(baseline_sigma(S, []), np.diag([4.0, 3.0, 2.0]))
    B = baseline_sigma(S, [1, 2])
    np.testing.assert_array_equal(B, [[4.0, 0, 0], [0, 3.0, 0.2], [0, 0.2, 2.0]])
    np.testing.assert_array_equal(S[0], [4.0, 1.0, 0.5])           # input left alone


def test_saturated_model_fit_measures():
    """Sigma = S, npar = p(p+1)/2: chi2 = 0, df = 0, p-value undefined, AGFI 1, GFI 1,
    SRMR 0, logL = unrestricted logL."""
    S, _, ref = hs39_cfa()
    fm = fit_measures(S, S, 301, 45)
    assert fm["df"] == 0 and fm["chisq"] == pytest.approx(0, abs=1e-9)
    assert np.isnan(fm["pvalue"])
    assert fm["agfi"] == 1.0 and fm["gfi"] == pytest.approx(1.0, abs=1e-12)
    assert fm["srmr"] == pytest.approx(0, abs=1e-12)
    assert fm["logl"] == pytest.approx(ref["fit_measures"]["unrestricted_logl"], rel=1e-9)


def test_rmsea_interval_with_a_lower_root_below_one():
    """X2 = 4.5 on 1 df: P(chi2_1 <= 4.5) = 0.966 > 0.95, so lambda_L > 0, and it is small
    (about 0.18): the non-central branch must be used for every lambda > 0 and the bracket must
    start at lambda = 0."""
    lo, _hi = rmsea_interval(4.5, 1, 100)
    lam = lo ** 2 * 100
    assert 0.1 < lam < 0.3
    assert stats.ncx2.cdf(4.5, 1, lam) == pytest.approx(0.95, abs=1e-9)


def test_cfi_with_non_centralities_below_one():
    """X2 - df = 0.5, X2_B - df_B = 0.8: CFI = 1 - 0.5/0.8 = 0.375 (the 0 in the denominator's
    max only matters when both are negative)."""
    r = incremental_indices(10.5, 10, 10.8, 10, 100)
    assert r["cfi"] == pytest.approx(0.375, abs=1e-12)


def test_one_degree_of_freedom_models():
    """df = 1: TLI = (110/10 - 3/1)/(110/10 - 1) = 0.8, RMSEA = sqrt(3/100 - 1/100);
    df_B = 1: TLI = (21/1 - 4/2)/(21/1 - 1) = 0.95."""
    r = incremental_indices(3.0, 1, 110.0, 10, 100)
    assert r["tli"] == pytest.approx(0.8, abs=1e-12)
    assert r["rmsea"] == pytest.approx(np.sqrt(0.02), abs=1e-12)
    assert r["rmsea_pvalue"] == pytest.approx(stats.ncx2.sf(3.0, 1, 100 * 0.0025), rel=1e-10)
    assert incremental_indices(4.0, 2, 21.0, 1, 100)["tli"] == pytest.approx(0.95, abs=1e-12)


def test_nfi_with_a_small_baseline_statistic():
    """X2_B = 0.5, X2 = 0.25: NFI = (0.5 - 0.25)/0.5 = 0.5."""
    assert incremental_indices(0.25, 1, 0.5, 3, 100)["nfi"] == pytest.approx(0.5, abs=1e-12)


def test_two_variable_model_baseline():
    """Two variables with correlation 0.5, N = 100, saturated (npar 3): the baseline has
    df_B = 3 - 2 = 1 and X2_B = N (log|B| + tr(S B^-1) - log|S| - p) = -100 log(0.75);
    its p-value is P(chi2_1 > X2_B).  With one variable df_B = 0 and there is no p-value."""
    S = np.array([[1.0, 0.5], [0.5, 1.0]])
    fm = fit_measures(S, S, 100, 3)
    assert fm["baseline_df"] == 1
    assert fm["baseline_chisq"] == pytest.approx(-100 * np.log(0.75), rel=1e-12)
    assert fm["baseline_pvalue"] == pytest.approx(stats.chi2.sf(-100 * np.log(0.75), 1),
                                                  rel=1e-9)
    one = fit_measures(np.array([[2.0]]), np.array([[2.0]]), 100, 1)
    assert one["baseline_df"] == 0 and np.isnan(one["baseline_pvalue"])


def test_gfi_agfi_hand_case_with_one_df():
    """S = [[1, .5], [.5, 1]], Sigma = I (the independence model: npar 2, df 1).
    A = Sigma^-1 S = S; GFI = 1 - tr((A - I)^2)/tr(A^2) = 1 - 0.5/2.5 = 0.8;
    AGFI = 1 - (p(p+1)/2 / df)(1 - GFI) = 1 - 3 * 0.2 = 0.4."""
    S = np.array([[1.0, 0.5], [0.5, 1.0]])
    fm = fit_measures(S, np.eye(2), 100, 2)
    assert fm["df"] == 1
    # X2 = N F = 100 (0 + 2 - log 0.75 - 2) = -100 log 0.75 on 1 df
    assert fm["pvalue"] == pytest.approx(stats.chi2.sf(-100 * np.log(0.75), 1), rel=1e-9)
    assert fm["gfi"] == pytest.approx(0.8, abs=1e-12)
    assert fm["agfi"] == pytest.approx(0.4, abs=1e-12)


def test_two_fixed_x_covariates():
    """y with two correlated fixed-x covariates (positions 1, 2), y uncorrelated with them:
    S = [[1, 0, 0], [0, 1, .5], [0, .5, 1]], Sigma = S, npar 2.  Moments: 6 - 3 (the
    covariates' own 3) = 3, df = 1; the baseline keeps the covariates' block, so B = S and
    X2_B = 0 on df_B = 3 - 1 = 2."""
    S = np.array([[1.0, 0, 0], [0, 1.0, 0.5], [0, 0.5, 1.0]])
    fm = fit_measures(S, S, 100, 2, fixed_x_idx=[1, 2])
    assert (fm["df"], fm["baseline_df"]) == (1, 2)
    assert fm["baseline_chisq"] == pytest.approx(0.0, abs=1e-10)
    assert fm["pvalue"] == pytest.approx(1.0, abs=1e-12)        # X2 = 0 on 1 df


RMSEA_EDGES = json.loads((Path(__file__).parent / "fixtures" / "references" /
                          "rmsea_ci_edges.json").read_text())["cases"]


@pytest.mark.parametrize("case", RMSEA_EDGES, ids=lambda c: f"X2={c['X2']},df={c['df']},"
                                                           f"N={c['N']},c={c['c.hat']}")
def test_rmsea_interval_edges_equal_lavaan(case):
    """lavaan's lav_fit_rmsea_ci at the edges of its root search
    (tests/fixtures/references/rmsea_ci_edges.R): an upper root beyond the bracket
    max(N, 4 X2) gives 0 (X2 = 2, df = 1, N = 5) and inside it the root (N = 12); a statistic
    just above / below the 5 % point of the central chi-square (df = 10: 4.0 / 3.9) gives a
    small upper end / 0; non-centralities below 1; a scaled c.hat.  To lavaan's uniroot
    tolerance (2e-6)."""
    from semcluster.measures.fitmeasures import rmsea_interval

    lo, hi = rmsea_interval(case["X2"], case["df"], case["N"], c_hat=case["c.hat"])
    assert lo == pytest.approx(case["lower"], abs=2e-6)
    assert hi == pytest.approx(case["upper"], abs=2e-6)


@pytest.mark.parametrize("args", [(np.inf, 5, 100, 1.0), (np.nan, 5, 100, 1.0),
                                  (10.0, np.inf, 100, 1.0), (10.0, 5, 100, np.inf),
                                  (10.0, 5, 100, np.nan), (10.0, 0, 100, 1.0)])
def test_rmsea_interval_of_a_non_finite_input_or_no_df_is_nan(args):
    from semcluster.measures.fitmeasures import rmsea_interval

    X2, df, n, c = args
    lo, hi = rmsea_interval(X2, df, n, c_hat=c)
    assert np.isnan(lo) and np.isnan(hi)


@pytest.mark.parametrize("lam", [0.0, 0.3, 1.0, 4.0])
def test_noncentral_cdf_equals_scipy_for_small_and_zero_noncentrality(lam):
    """The cdf the RMSEA interval inverts: scipy's ncx2 for lambda > 0 (also below 1), the
    central chi-square at lambda = 0."""
    from scipy import stats

    from semcluster.measures.fitmeasures import _ncx2_cdf

    for x, df in ((2.0, 1), (7.5, 4)):
        want = stats.chi2.cdf(x, df) if lam == 0 else stats.ncx2.cdf(x, df, lam)
        assert _ncx2_cdf(x, df, lam) == pytest.approx(want, rel=1e-10)


@pytest.mark.parametrize("e, want", [(1.2e-8, (1.0, np.nan, np.nan, np.nan)),
                                     (2e-8, (0.0, 1.0, 2.5e8, 1.0))])
def test_incremental_indices_at_the_zero_tolerance_equal_lavaan(e, want):
    """lavaan tests "is zero" with all.equal (1.5e-8): on either side of it CFI is 1 or
    1 - t1/t2, RNI, IFI and NFI NaN or their value (lavaan 0.6.14's lav_fit_cfi / rni / ifi /
    nfi, tests/fixtures/references/incremental_tolerance.R)."""
    from semcluster.measures.fitmeasures import ifi, nfi, rni

    got = (cfi(10 + e, 10, 10 + e, 10), rni(10, 10, 10 + e, 10), ifi(5, 10, 10 + e, 10),
           nfi(0, 0, e, 3))
    for g, w in zip(got, want):
        if np.isnan(w):
            assert np.isnan(g)
        else:
            assert g == pytest.approx(w, rel=1e-6, abs=1e-9)


@pytest.mark.parametrize("pos", range(6))
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_an_incremental_index_of_a_non_finite_input_is_nan(pos, bad):
    """Any non-finite statistic, df or scaling factor gives NaN for every index (semcluster's
    guard: a failed fit's statistic is not a fit; lavaan itself returns 1 for some, e.g. CFI
    with X2 = -Inf or df = Inf)."""
    from semcluster.measures.fitmeasures import ifi, nfi, pnfi, rfi, rni

    good = [30.0, 10.0, 300.0, 15.0, 1.2, 1.1]
    args = good.copy()
    args[pos] = bad
    for f in (cfi, tli, rni):
        assert np.isnan(f(*args)), (f.__name__, pos, bad)
    if pos < 4:
        for f in (nfi, pnfi, rfi, ifi):
            assert np.isnan(f(*args[:4])), (f.__name__, pos, bad)


INCREMENTAL_REF = json.loads((Path(__file__).parent / "fixtures" / "references" /
                              "incremental_indices.json").read_text())["cases"]


@pytest.mark.parametrize("case", INCREMENTAL_REF, ids=lambda c: f"X2={c['X2']},c={c['c']}")
def test_incremental_indices_equal_lavaan(case):
    """Every incremental index from given statistics equals lavaan 0.6.14's lav_fit_* function
    (tests/fixtures/references/incremental_indices.R): a good fit, X2 below df, a model worse
    than its baseline, robust (c, c_null) versions of CFI, TLI and RNI, and small or zero
    baseline statistics and df (NA there: NaN here)."""
    from semcluster.measures.fitmeasures import ifi, nfi, pnfi, rfi, rni

    a = (case["X2"], case["df"], case["X2.null"], case["df.null"])
    c = (case["c"], case["c.null"])
    for name, f, args in (("cfi", cfi, a + c), ("tli", tli, a + c), ("rni", rni, a + c),
                          ("nfi", nfi, a), ("pnfi", pnfi, a), ("rfi", rfi, a), ("ifi", ifi, a)):
        if case[name] is None:                   # lavaan's NA
            assert np.isnan(f(*args)), name
        else:
            assert f(*args) == pytest.approx(case[name], abs=1e-12), name


RMSEA_P = json.loads((Path(__file__).parent / "fixtures" / "references" /
                      "rmsea_pvalues.json").read_text())["cases"]


@pytest.mark.parametrize("case", RMSEA_P, ids=lambda c: f"G={c['G']},c={c['c']},df={c['df']}")
def test_rmsea_pvalues_equal_lavaan(case):
    """Close-fit (RMSEA <= .05) and not-close-fit (RMSEA >= .08) p-values for one and two
    groups and a scaled c.hat, equal to lavaan 0.6.14's lav_fit_rmsea_closefit /
    notclosefit (tests/fixtures/references/rmsea_pvalues.R)."""
    from semcluster.measures.fitmeasures import rmsea_closefit, rmsea_notclosefit

    a = (case["X2"], case["df"], case["N"], case["c"])
    assert rmsea_closefit(*a, groups=case["G"]) == pytest.approx(case["close"], rel=1e-9)
    assert rmsea_notclosefit(*a, groups=case["G"]) == pytest.approx(case["notclose"], rel=1e-9)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_rmsea_family_of_a_non_finite_input_is_nan(bad):
    """RMSEA, its interval and both p-values are NaN when X2, df or c is not finite (and the
    p-values and interval also at df = 0)."""
    from semcluster.measures.fitmeasures import rmsea_closefit, rmsea_notclosefit, rmsea_value

    for pos in range(3):
        args = [30.0, 10.0, 1.2]
        args[pos] = bad
        X2, df, c = args
        assert np.isnan(rmsea_value(X2, df, 200, c)), (pos, bad)
        assert np.isnan(rmsea_closefit(X2, df, 200, c)), (pos, bad)
        assert np.isnan(rmsea_notclosefit(X2, df, 200, c)), (pos, bad)
        assert all(np.isnan(rmsea_interval(X2, df, 200, c_hat=c))), (pos, bad)
    assert np.isnan(rmsea_closefit(3.0, 0, 200)) and np.isnan(rmsea_notclosefit(3.0, 0, 200))


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nfi_of_a_saturated_model_with_a_non_finite_baseline_is_nan(bad):
    """df = 0 gives NFI 1, but only for a finite baseline statistic."""
    from semcluster.measures.fitmeasures import nfi

    assert nfi(0.0, 0, 300.0, 15) == 1.0
    assert np.isnan(nfi(0.0, 0, bad, 15))


def test_rfi_of_zero_over_zero_is_nan_without_a_warning():
    """X2 = X2_null = 0: t1 = t2 = 0 and RFI is 0/0 = NaN, as in R (lavaan's NaN), with no
    numpy warning on the console."""
    import warnings

    from semcluster.measures.fitmeasures import rfi

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert np.isnan(rfi(0.0, 5, 0.0, 15))


@pytest.mark.parametrize("case", RMSEA_P, ids=lambda c: f"G={c['G']},c={c['c']},df={c['df']}")
def test_rmsea_family_with_groups_equals_lavaan(case):
    """rmsea_measures with G groups and a scaling c: RMSEA times sqrt(G), its interval, and
    the p-values, all equal to lavaan 0.6.14 (lav_fit_rmsea / _ci / _closefit / _notclosefit,
    tests/fixtures/references/rmsea_pvalues.R; the interval to uniroot's tolerance)."""
    from semcluster.measures.fitmeasures import rmsea_measures

    out = rmsea_measures(case["X2"], case["df"], case["N"], c=case["c"], c_test=case["c"],
                         groups=case["G"])
    assert out["rmsea"] == pytest.approx(case["rmsea"], rel=1e-9)
    lo, hi = case["ci"]
    assert out["rmsea_ci_lower"] == pytest.approx(lo, abs=2e-6)
    assert out["rmsea_ci_upper"] == pytest.approx(hi, abs=2e-6)
    assert out["rmsea_pvalue"] == pytest.approx(case["close"], rel=1e-9)
    assert out["rmsea_notclose_pvalue"] == pytest.approx(case["notclose"], rel=1e-9)


def test_rmsea_measures_report_the_level_and_the_rmsea_values_tested():
    """lavaan's fitMeasures() reports rmsea.ci.level = 0.90, rmsea.close.h0 = 0.05 and
    rmsea.notclose.h0 = 0.08 beside the standard RMSEA family (not beside the _scaled or
    _robust ones)."""
    from semcluster.measures.fitmeasures import rmsea_measures

    out = rmsea_measures(30.0, 10, 200)
    assert (out["rmsea_ci_level"], out["rmsea_close_h0"], out["rmsea_notclose_h0"]) == \
        (0.90, 0.05, 0.08)
    assert not any(k.startswith("rmsea_ci_level") or k.endswith("_h0")
                   for k in rmsea_measures(30.0, 10, 200, suffix="_scaled"))


CHISQ_REF = json.loads((Path(__file__).parent / "fixtures" / "references" /
                        "chisq_family.json").read_text())["cases"]


@pytest.mark.parametrize("case", CHISQ_REF, ids=lambda c: f"X2={c['X2']},df={c['df']}")
def test_chisq_measures_equal_lavaan(case):
    """p-values, Hoelter's critical N (.05, .01), MFI and ECVI from given statistics equal
    lavaan 0.6.14's pchisq / lav_fit_cn / lav_fit_mfi / lav_fit_ecvi
    (tests/fixtures/references/chisq_family.R; NA there, NaN here); fmin is lavaan's
    optim$fx = X2 / (2 ntotal): 30 / (2 * 200) = 0.075 with ntotal = N, and with ntotal given
    it divides by that instead."""
    from semcluster.measures.fitmeasures import chisq_measures

    import warnings

    with warnings.catch_warnings():          # X2 = 0: Hoelter's N is Inf, without a warning
        warnings.simplefilter("error")
        out = chisq_measures(case["X2"], case["df"], case["X2.null"], case["df.null"],
                             case["N"], case["npar"])
    for k in ("pvalue", "baseline_pvalue", "cn_05", "cn_01", "mfi", "ecvi"):
        if case[k] is None:
            assert np.isnan(out[k]), k
        elif isinstance(case[k], str):
            assert out[k] == float(case[k]), k
        else:
            assert out[k] == pytest.approx(case[k], rel=1e-9), k
    assert (out["chisq"], out["df"], out["baseline_chisq"], out["baseline_df"]) == \
        (case["X2"], case["df"], case["X2.null"], case["df.null"])
    assert out["fmin"] == pytest.approx(case["X2"] / (2 * case["N"]), rel=1e-12)
    other = chisq_measures(case["X2"], case["df"], case["X2.null"], case["df.null"],
                           case["N"], case["npar"], ntotal=case["N"] + 7)
    assert other["fmin"] == pytest.approx(case["X2"] / (2 * (case["N"] + 7)), rel=1e-12)


def test_chisq_measures_pass_the_groups_on():
    """With G = 2 the RMSEA of chisq_measures is lavaan's multi-group one (X2 = 30, df = 10,
    N = 200: sqrt(G) x sqrt(30/(200 x 10) - 1/200) = 0.1414, lav_fit_rmsea, rmsea_pvalues.R)."""
    from semcluster.measures.fitmeasures import chisq_measures

    case = next(c for c in RMSEA_P if c["G"] == 2 and c["c"] == 1)
    out = chisq_measures(case["X2"], case["df"], 300.0, 15, case["N"], 11, groups=2)
    assert out["rmsea"] == pytest.approx(case["rmsea"], rel=1e-9)
    assert out["rmsea_pvalue"] == pytest.approx(case["close"], rel=1e-9)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_rmsea_measures_of_a_saturated_model_need_a_finite_statistic(bad):
    """df = 0: the interval is (0, 0) (lavaan) only for a finite statistic and scaling;
    otherwise NaN."""
    from semcluster.measures.fitmeasures import rmsea_measures

    ok = rmsea_measures(0.0, 0, 200)
    assert (ok["rmsea_ci_lower"], ok["rmsea_ci_upper"]) == (0.0, 0.0)
    for kw in ({"X2_test": bad}, {"c_test": bad}):
        out = rmsea_measures(0.0, 0, 200, **kw)
        assert np.isnan(out["rmsea_ci_lower"]) and np.isnan(out["rmsea_ci_upper"]), kw
    out = rmsea_measures(0.0, -np.inf, 200)
    assert np.isnan(out["rmsea_ci_lower"])


@pytest.mark.parametrize("pos", range(3))
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_gfi_family_of_a_non_finite_input_is_nan(pos, bad):
    from semcluster.measures.fitmeasures import gfi_measures

    args = [0.95, 21, 8]
    assert gfi_measures(*args)["agfi"] == pytest.approx(1 - 21 / 8 * 0.05, abs=1e-12)
    args[pos] = bad
    out = gfi_measures(*args)
    assert set(out) == {"gfi", "agfi", "pgfi"}
    assert all(np.isnan(v) for v in out.values()), (pos, bad, out)


def test_pgfi_is_df_over_moments_times_gfi():
    """lavaan's lav_fit_pgfi: PGFI = (df / nel) GFI, NA without moments; AGFI =
    1 - (nel / df)(1 - GFI), 1 at df = 0.  GFI .95, 21 moments, 8 df: PGFI = 8/21 x .95."""
    from semcluster.measures.fitmeasures import gfi_measures

    out = gfi_measures(0.95, 21, 8)
    assert out == pytest.approx({"gfi": 0.95, "agfi": 1 - 21 / 8 * 0.05,
                                 "pgfi": 8 / 21 * 0.95}, abs=1e-12)
    none = gfi_measures(0.95, 0, 0)
    assert none["agfi"] == 1.0 and np.isnan(none["pgfi"])


def test_hoelter_n_of_a_perfect_one_df_fit_is_infinite():
    """X2 = 0 with df = 1: lavaan's lav_fit_cn is qchisq(1 - alpha, df) / (X2 / N) + 1 = Inf
    (R divides by zero to Inf; the df = 5 case of chisq_family.R shows it); only df = 0 with
    X2 = 0 is NaN."""
    from semcluster.measures.fitmeasures import chisq_measures

    out = chisq_measures(0.0, 1, 40.0, 3, 120, 5)
    assert out["cn_05"] == np.inf and out["cn_01"] == np.inf
