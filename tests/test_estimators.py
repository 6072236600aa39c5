"""MLR, FIML and WLSMV against lavaan 0.6.14.

Reference numbers: tests/fixtures/estimators/*.json, written by
tests/fixtures/estimators/make_fixtures.R (the lavaan calls are recorded in each JSON's "call").
Every comparison goes through lavaan_reference.compare, whose docstring gives the tolerances and
the largest differences measured.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from lavaan_reference import ESTIMATOR_FIXTURES as FIX
from lavaan_reference import HS_MODEL, compare
from lavaan_reference import load_estimator_fixture as load_fixture

from semcluster.data.survey import load_data, prepare_data
from semcluster.resources import data_path
from semcluster.spec.parser import read_model


@pytest.fixture(scope="module")
def hs_spec():
    return read_model(HS_MODEL)


# ---------------------------------------------------------------------------------------------
# MLR
# ---------------------------------------------------------------------------------------------
def test_mlr_hs39_matches_lavaan(hs_spec):
    from semcluster.estimation import mlr

    df = load_data(data_path("holzinger_swineford_1939.csv"))
    X, rep = prepare_data(df, hs_spec.observed)
    res = mlr.fit(hs_spec, X, report=rep)
    ref = load_fixture("hs39_mlr")
    assert ref["options"]["se"] == "robust.huber.white"
    worst = compare(res, ref)
    assert res.estimator == "MLR"
    assert worst["rows"] >= 21
    assert res.converged and res.admissible


def test_mlr_differs_from_ml_where_lavaan_says_so(hs_spec):
    """The comparison above has teeth: the ML standard error of speed =~ x9 is more than 2 %
    away from lavaan's MLR one, so an estimator that returned ML SEs would fail it."""
    from semcluster.fitting import fit as ml_fit

    ref = {(r["lhs"], r["op"], r["rhs"]): r for r in load_fixture("hs39_mlr")["estimates"]}
    ml = ml_fit(hs_spec, load_data(data_path("holzinger_swineford_1939.csv")))
    se_ml = ml.parameter("speed", "=~", "x9")["se"]
    se_mlr = ref[("speed", "=~", "x9")]["se"]
    assert abs(se_ml - se_mlr) / se_mlr > 0.2


def test_mlr_refuses_missing_answers(hs_spec):
    from semcluster.errors import EstimationError
    from semcluster.estimation import mlr

    df = pd.read_csv(FIX / "hs39_missing.csv")
    X, _ = prepare_data(df, hs_spec.observed, missing="fiml")
    with pytest.raises(EstimationError, match="complete data"):
        mlr.fit(hs_spec, X)


def test_robust_fiml_hs39_matches_lavaan(hs_spec):
    """lavaan cfa(..., missing = "ml", estimator = "MLR"): sandwich SEs from casewise FIML
    scores, Yuan-Bentler scaling with the saturated model's observed information at EM."""
    from semcluster.estimation import fiml

    X, rep = prepare_data(load_data(FIX / "hs39_missing.csv"), hs_spec.observed,
                          missing="fiml")
    res = fiml.fit(hs_spec, X, report=rep, robust=True)
    ref = load_fixture("hs39_fiml_mlr")
    assert ref["options"]["se"] == "robust.huber.white" and ref["options"]["missing"] == "ml"
    worst = compare(res, ref)
    assert worst["rows"] >= 30 and res.estimator == "MLR"
    # the robust SEs are not the FIML ones (x9's loading: 0.203 vs 0.185), beyond tolerance
    plain = load_fixture("hs39_fiml")["estimates"]
    se_plain = next(r["se"] for r in plain if (r["lhs"], r["op"], r["rhs"]) ==
                    ("speed", "=~", "x9"))
    assert abs(res.parameter("speed", "=~", "x9")["se"] - se_plain) / se_plain > 0.05


def test_mlr_sandwich_equals_ml_se_for_normal_data():
    """With multivariate-normal data the sandwich and the model-based SEs agree (up to MC
    error), and the Yuan-Bentler scaling factor is near 1: a check that does not depend on
    lavaan."""
    from semcluster.estimation import mlr
    from semcluster.fitting import fit as ml_fit

    rng = np.random.default_rng(11)
    n = 4000
    f = rng.standard_normal((n, 1))
    lam = np.array([1.0, 0.8, 0.7, 0.6])
    X = pd.DataFrame(f @ lam[None, :] + rng.standard_normal((n, 4)) * 0.6,
                     columns=["a", "b", "c", "d"])
    spec = read_model("F =~ a + b + c + d")
    Xp, rep = prepare_data(X, spec.observed)
    rob = mlr.fit(spec, Xp, report=rep)
    ml = ml_fit(spec, X)
    free = rob.estimates["free"] > 0
    ratio = rob.estimates.loc[free, "se"].to_numpy() / ml.estimates.loc[free, "se"].to_numpy()
    assert np.all(np.abs(ratio - 1) < 0.1), ratio
    assert abs(rob.fit_measures["chisq_scaling_factor"] - 1) < 0.15


# ---------------------------------------------------------------------------------------------
# FIML
# ---------------------------------------------------------------------------------------------
def test_fiml_hs39_matches_lavaan(hs_spec):
    from semcluster.estimation import fiml

    df = load_data(FIX / "hs39_missing.csv")
    X, rep = prepare_data(df, hs_spec.observed, missing="fiml")
    assert rep.n_used == 301 and sum(rep.n_missing.values()) == 9 * 30
    res = fiml.fit(hs_spec, X, report=rep)
    ref = load_fixture("hs39_fiml")
    assert ref["options"]["missing"] == "ml"
    worst = compare(res, ref)
    assert worst["rows"] >= 30          # 21 model rows + 9 intercepts
    assert res.converged


def test_fiml_equals_ml_on_complete_data(hs_spec):
    """On complete data FIML is ML: same estimates and chi-square as the ML fit."""
    from semcluster.estimation import fiml
    from semcluster.fitting import fit as ml_fit

    df = load_data(data_path("holzinger_swineford_1939.csv"))
    X, rep = prepare_data(df, hs_spec.observed, missing="fiml")
    res = fiml.fit(hs_spec, X, report=rep)
    ml = ml_fit(hs_spec, df)
    a = res.estimates[res.estimates.op != "~1"].set_index(["lhs", "op", "rhs"])["est"]
    b = ml.estimates.set_index(["lhs", "op", "rhs"])["est"]
    np.testing.assert_allclose(a.loc[b.index].to_numpy(), b.to_numpy(), atol=1e-5)
    assert res.fit_measures["chisq"] == pytest.approx(ml.fit_measures["chisq"], rel=1e-5)
    ints = res.estimates[res.estimates.op == "~1"].set_index("lhs")["est"]
    np.testing.assert_allclose(ints.loc[hs_spec.observed].to_numpy(),
                               X.mean().to_numpy(), atol=1e-6)


def test_em_saturated_moments_complete_data():
    from semcluster.estimation.fiml import MissingPatterns

    rng = np.random.default_rng(3)
    X = rng.standard_normal((50, 3))
    mu, S, ll, ok, _ = MissingPatterns(X).em()
    assert ok
    np.testing.assert_allclose(mu, X.mean(0), atol=1e-10)
    np.testing.assert_allclose(S, np.cov(X, rowvar=False, ddof=0), atol=1e-10)


def test_fiml_objective_derivatives_equal_numerical_ones():
    """The FIML gradient, the analytic observed information (Newton steps, SEs) and the pattern
    inverses (Σ_oo⁻¹ swept out of Σ⁻¹) equal their numerical / direct counterparts, for a
    model with latent and observed regressions and a residual covariance, away from the
    optimum."""
    from semcluster.estimation._structure import CovarianceStructure, numerical_jacobian
    from semcluster.estimation.fiml import FIMLObjective, MissingPatterns

    rng = np.random.default_rng(5)
    n = 300
    f1 = rng.standard_normal(n)
    f2 = 0.6 * f1 + 0.8 * rng.standard_normal(n)
    e = rng.standard_normal((n, 7)) * 0.6
    a, b, c = f1 + e[:, 0], 0.8 * f1 + e[:, 1], 0.7 * f1 + e[:, 2]
    d, g, h = f2 + e[:, 3], 0.9 * f2 + e[:, 4], 0.6 * f2 + e[:, 5]
    y = 0.5 * f2 + 0.3 * a + e[:, 6]
    X = np.column_stack([a, b, c, d, g, h, y])
    X[rng.random(X.shape) < 0.12] = np.nan
    X = X[~np.isnan(X).all(axis=1)]
    spec = read_model("F1 =~ a + b + c\nF2 =~ d + g + h\nF2 ~ F1\ny ~ F2 + a\nb ~~ d")
    cols = {k: i for i, k in enumerate("abcdghy")}
    Xs = X[:, [cols[v] for v in spec.observed]]
    pats = MissingPatterns(Xs)
    K, logdet = pats._inverses(pats.em()[1])
    K2, logdet2 = pats._inverses_direct(pats.em()[1])
    np.testing.assert_allclose(K, K2, atol=1e-12)
    np.testing.assert_allclose(logdet, logdet2, atol=1e-12)
    core = CovarianceStructure(spec)
    obj = FIMLObjective(core, pats)
    mu = np.nanmean(Xs, axis=0)
    z = np.concatenate([core.start_values(pats.em()[1]) + 0.05, mu + 0.1])
    gn = numerical_jacobian(lambda t: np.array([obj.loglik(t)]), z, rel_step=1e-6)[0]
    np.testing.assert_allclose(obj.gradient(z), gn, atol=1e-5 * np.abs(gn).max())
    Hn = numerical_jacobian(obj.gradient, z, rel_step=1e-6)
    np.testing.assert_allclose(obj.observed_information(z), -(Hn + Hn.T) / 2,
                               atol=1e-7 * np.abs(Hn).max())

    # the expected information from the same pass equals the stand-alone one
    H, g, expected = obj.observed_information(z, with_gradient=True, expected=True)
    np.testing.assert_allclose(expected(), obj.expected_information(z), rtol=1e-12, atol=1e-10)


def test_fiml_intercepts_and_their_jacobian_equal_differences():
    """The intercepts ν_y = B_yy⁻¹(μ_y − B_yx μ_x) of a FIML solution and their analytic
    Jacobians (raw and divided by the model SD) equal central differences of the same formula
    written with the matrix inverse, in a model where an item and a factor regress on
    exogenous covariates and one item on another (so B_yy ≠ I and B_yx ≠ 0)."""
    from semcluster.estimation._structure import CovarianceStructure, numerical_jacobian
    from semcluster.estimation.fiml import FIMLSolution, _intercepts

    spec = read_model("F1 =~ a + b + c\nF1 ~ x1\nc ~ x2\nb ~ a")
    core = CovarianceStructure(spec)
    obs = list(spec.observed)
    fx = [obs.index(v) for v in spec.fixed_x]
    core.ram.set_fixed_x(np.array([[1.0, 0.3], [0.3, 1.2]]))
    ys = [j for j in range(len(obs)) if j not in fx]
    rng = np.random.default_rng(3)
    x = rng.uniform(0.2, 0.6, core.q)
    x[core.is_variance] = rng.uniform(0.8, 1.2, core.is_variance.sum())
    nu_free = rng.normal(size=len(ys))
    mu = np.zeros(len(obs))
    mu[ys] = nu_free
    mu[fx] = [0.4, -0.2]
    sol = FIMLSolution(x=x, nu=nu_free, vcov=np.eye(1), vcov_ok=True, loglik=0.0,
                       loglik_h1=0.0, loglik_baseline=0.0, mu_h1=mu, sigma_h1=np.eye(len(obs)),
                       converged=True, h1_converged=True, message="", iterations=0, mu=mu,
                       fixed_x_idx=tuple(fx))
    q = core.q
    m = core.m
    oy, ox = core.obs_ix[ys], core.obs_ix[fx]

    def direct(z):
        A = core.matrices(z[:q])[0]
        B = np.linalg.inv(np.eye(m) - A)
        return np.linalg.solve(B[np.ix_(oy, oy)], z[q:] - B[np.ix_(oy, ox)] @ mu[fx])

    def direct_std(z):
        return direct(z) / np.sqrt(np.diag(core.sigma(z[:q]))[ys])

    z = np.concatenate([x, nu_free])
    nu, J_nu, J_std, sd = _intercepts(core, sol, ys, fx)
    np.testing.assert_allclose(nu, direct(z), rtol=1e-12)
    assert not np.allclose(nu, nu_free)          # the covariates and b ~ a move them
    np.testing.assert_allclose(J_nu, numerical_jacobian(direct, z, rel_step=1e-6), atol=1e-8)
    np.testing.assert_allclose(J_std, numerical_jacobian(direct_std, z, rel_step=1e-6),
                               atol=1e-8)


# ---------------------------------------------------------------------------------------------
# polychoric correlations and WLSMV
# ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def hs_ordinal():
    return pd.read_csv(FIX / "hs39_ordinal.csv")


def test_bivariate_normal_cdf_against_known_values():
    """Φ2 at points with closed forms: P(X≤0, Y≤0) = 1/4 + asin(ρ)/(2π) (Sheppard 1899), and
    independence / perfect correlation limits."""
    from scipy.stats import norm

    from semcluster.estimation.polychoric import bvn_cdf

    for r in (-0.95, -0.6, -0.2, 0.0, 0.3, 0.8, 0.93, 0.99):
        assert bvn_cdf(0.0, 0.0, r) == pytest.approx(0.25 + np.arcsin(r) / (2 * np.pi),
                                                     abs=1e-14)
    h, k = np.array([-1.3, 0.2, 1.7]), np.array([0.4, -0.9, 2.2])
    np.testing.assert_allclose(bvn_cdf(h, k, 0.0), norm.cdf(h) * norm.cdf(k), atol=1e-14)
    np.testing.assert_allclose(bvn_cdf(h, k, 0.999999), norm.cdf(np.minimum(h, k)), atol=1e-3)
    assert bvn_cdf(np.inf, 0.5, 0.4) == pytest.approx(norm.cdf(0.5), abs=1e-15)
    assert bvn_cdf(-np.inf, 0.5, 0.4) == 0.0


def test_polychoric_thresholds_and_gamma_match_lavaan(hs_ordinal):
    from semcluster.estimation.polychoric import polychoric

    ref = load_fixture("hs39_wlsmv")
    pc = polychoric(hs_ordinal[ref["items"]])
    np.testing.assert_allclose(pc.correlation.to_numpy(), np.array(ref["polychoric"]),
                               atol=1e-6)
    th = pd.Series(ref["thresholds"])
    np.testing.assert_allclose(pc.thresholds.loc[th.index].to_numpy(), th.to_numpy(), atol=1e-8)
    G = np.array(ref["nacov"])
    np.testing.assert_allclose(pc.gamma, G, rtol=1e-5, atol=1e-7 * np.abs(G).max())


def test_polychoric_is_not_pearson(hs_ordinal):
    """The failure semopy had: polychoric correlations must differ from Pearson's on coarse
    categories (they correct for the attenuation of coarse scoring)."""
    from semcluster.estimation.polychoric import polychoric

    items = ["x7", "x8", "x9"]              # three categories each
    pc = polychoric(hs_ordinal[items], gamma=False).correlation.to_numpy()
    pearson = hs_ordinal[items].corr().to_numpy()
    off = ~np.eye(3, dtype=bool)
    assert np.all(np.abs(pc[off]) > np.abs(pearson[off]) + 0.02)


def test_polychoric_recovers_a_known_correlation():
    """Simulated cut-normal data with ρ = 0.6: the estimate is within 3 SE of the truth
    (independent of lavaan)."""
    from semcluster.estimation.polychoric import polychoric

    rng = np.random.default_rng(5)
    n = 3000
    z = rng.multivariate_normal([0, 0], [[1, 0.6], [0.6, 1]], size=n)
    cuts = [-1.0, -0.2, 0.5, 1.3]
    df = pd.DataFrame({"a": np.digitize(z[:, 0], cuts), "b": np.digitize(z[:, 1], cuts[1:])})
    pc = polychoric(df)
    se = np.sqrt(pc.gamma[-1, -1] / n)
    assert abs(pc.correlation.loc["a", "b"] - 0.6) < 3 * se
    np.testing.assert_allclose(pc.thresholds.loc[["a|t1", "a|t2", "a|t3", "a|t4"]].to_numpy(),
                               cuts, atol=0.1)


def test_wlsmv_hs39_ordinal_matches_lavaan(hs_spec, hs_ordinal):
    from semcluster.estimation import wlsmv

    X, rep = prepare_data(hs_ordinal, hs_spec.observed, ordered=hs_spec.observed, warn=False)
    res = wlsmv.fit(hs_spec, X, report=rep)
    ref = load_fixture("hs39_wlsmv")
    assert ref["options"]["test"] == "scaled.shifted"
    worst = compare(res, ref)
    assert worst["rows"] == 51          # 24 model rows + 27 thresholds
    assert res.estimator == "WLSMV" and res.converged and res.admissible
    # residual variances of ordinal items are not free (delta parameterization)
    rv = res.estimates[(res.estimates.op == "~~") & (res.estimates.lhs == "x1")
                       & (res.estimates.rhs == "x1")].iloc[0]
    assert rv["se"] == 0 and rv["free"] == 0
    np.testing.assert_allclose(np.diag(res.implied_cov.to_numpy()), 1.0, atol=1e-12)


def test_wlsmv_refuses_what_it_does_not_do(hs_spec, hs_ordinal):
    from semcluster.errors import EstimationError
    from semcluster.estimation import wlsmv

    X = hs_ordinal[hs_spec.observed].astype(float)
    # (a mix of ordinal and continuous items is fitted now: tests/test_wlsmv_variants.py)
    with pytest.raises(EstimationError, match="at least one ordinal item"):
        wlsmv.fit(hs_spec, X, ordered=[])
    Xm = X.copy()
    Xm.iloc[0, 0] = np.nan
    with pytest.raises(EstimationError, match="complete answers"):
        wlsmv.fit(hs_spec, Xm)
    spec = read_model(HS_MODEL + "x1 ~~ 0.3*x1\n")
    with pytest.raises(EstimationError, match="fixes the residual variance"):
        wlsmv.fit(spec, X)


def test_wlsmv_defined_parameter_matches_lavaan(hs_ordinal):
    from semcluster.estimation import wlsmv

    spec = read_model("visual =~ x1 + a*x2 + x3\ntextual =~ x4 + b*x5 + x6\n"
                      "speed =~ x7 + x8 + x9\nd := a - b")
    res = wlsmv.fit(spec, hs_ordinal)
    ref = load_fixture("hs39_wlsmv_defined")
    worst = compare(res, ref)
    assert worst["rows"] == 52
    d = res.defined().iloc[0]
    assert d["se"] > 0 and np.isfinite(d["std_all"])


def test_wlsmv_pairwise_matches_lavaan(hs_spec):
    """lavaan missing = "pairwise": thresholds from each item's answers, polychorics from
    pairwise-complete rows, zero scores for missing answers in Γ."""
    from semcluster.estimation.registry import estimate
    from semcluster.estimation.polychoric import polychoric

    ref = load_fixture("hs39_wlsmv_pairwise")
    df = pd.read_csv(FIX / "hs39_ordinal_missing.csv")
    X, rep = prepare_data(df, hs_spec.observed, ordered=hs_spec.observed, missing="pairwise",
                          warn=False)
    assert rep.n_used == 301 and sum(rep.n_missing.values()) == 9 * 15
    pc = polychoric(X, missing="pairwise")
    np.testing.assert_allclose(pc.correlation.to_numpy(), np.array(ref["polychoric"]),
                               atol=1e-6)
    G = np.array(ref["nacov"])
    np.testing.assert_allclose(pc.gamma, G, rtol=1e-5, atol=1e-6 * np.abs(G).max())
    res = estimate(hs_spec, X, rep, estimator="WLSMV")
    worst = compare(res, ref)
    assert worst["rows"] == 51 and res.converged


# ---------------------------------------------------------------------------------------------
# numerical trouble: flagged results, never a crash or a silent wrong answer
# ---------------------------------------------------------------------------------------------
def _data_with_covariance(S, n, seed=0):
    """Rows whose N-divisor sample covariance is exactly S."""
    rng = np.random.default_rng(seed)
    Z = rng.standard_normal((n, S.shape[0]))
    Z -= Z.mean(axis=0)
    L0 = np.linalg.cholesky(Z.T @ Z / n)
    Z = Z @ np.linalg.inv(L0).T
    return Z @ np.linalg.cholesky(S).T


HEYWOOD_S = np.array([[1, .8, .6], [.8, 1, .4], [.6, .4, 1]])   # λ_a² = .8·.6/.4 = 1.2


def test_heywood_case_flagged_by_mlr_and_fiml():
    from semcluster.estimation import fiml, mlr

    X = pd.DataFrame(_data_with_covariance(HEYWOOD_S, 200), columns=list("abc"))
    spec = read_model("f =~ a + b + c")
    res = mlr.fit(spec, X)
    assert res.parameter("a", "~~", "a").est == pytest.approx(-0.2, abs=1e-5)
    assert res.converged and not res.admissible
    assert any("Heywood" in w for w in res.warnings)
    Xm = X.copy()
    Xm.iloc[:10, 2] = np.nan
    res = fiml.fit(spec, prepare_data(Xm, list("abc"), missing="fiml", warn=False)[0])
    assert res.parameter("a", "~~", "a").est < 0
    assert not res.admissible and any("Heywood" in w for w in res.warnings)


def test_heywood_case_flagged_by_wlsmv():
    from semcluster.estimation import wlsmv

    Z = _data_with_covariance(HEYWOOD_S, 1000, seed=3)
    X = pd.DataFrame(np.digitize(Z, [-1.2, -0.4, 0.3, 1.0]), columns=list("abc"))
    res = wlsmv.fit(read_model("f =~ a + b + c"), X)
    assert res.parameter("a", "~~", "a").est < 0
    assert not res.admissible and any("Heywood" in w for w in res.warnings)


UNIDENTIFIED = "f =~ a + b + c\ng =~ d + e + h\na ~~ b\na ~~ c\nb ~~ c"


def _two_factor_data(seed=2, n=300):
    rng = np.random.default_rng(seed)
    F = rng.normal(size=(n, 2)) @ np.array([[1, .4], [0, .9]])
    X = np.column_stack([F[:, [0]] * [1, .8, .7], F[:, [1]] * [1, .9, .6]])
    return pd.DataFrame(X + rng.normal(scale=.6, size=X.shape), columns=list("abcdeh"))


@pytest.mark.parametrize("which", ["mlr", "fiml", "wlsmv"])
def test_unidentified_model_flagged(which):
    from semcluster.estimation import fiml, mlr, wlsmv

    df = _two_factor_data()
    spec = read_model(UNIDENTIFIED)
    if which == "mlr":
        res = mlr.fit(spec, df)
    elif which == "fiml":
        dm = df.copy()
        dm.iloc[:20, 0] = np.nan
        res = fiml.fit(spec, prepare_data(dm, spec.observed, missing="fiml", warn=False)[0])
    else:
        res = wlsmv.fit(spec, pd.DataFrame(np.digitize(df, [-1, 0, 1]), columns=df.columns))
    assert not res.admissible
    # the pre-fit check names the parameters that trade off (f's variance, the residual
    # (co)variances of its indicators)
    assert res.warnings[0].startswith("the model is not identified: 1 of its")
    assert "a ~~ b" in res.warnings[0]
    free = res.estimates[res.estimates.free > 0]
    assert free.se.isna().all()
    # no standard error, so no interval (lavaan: NA), not a zero-width one at the estimate
    assert free[["z", "pvalue", "ci_lower", "ci_upper"]].isna().all().all()



@pytest.mark.parametrize("which", ["mlr", "wlsmv"])
def test_no_standardized_se_without_vcov(which):
    """One rule in the one result builder: without a vcov the SE of every standardized value
    is unknown (NaN), fixed parameters' (marker loadings, WLSMV's dependent residual
    variances) too, as lavaan's NA."""
    from semcluster.estimation import mlr, wlsmv

    df = _two_factor_data()
    spec = read_model(UNIDENTIFIED)
    res = (mlr.fit(spec, df) if which == "mlr" else
           wlsmv.fit(spec, pd.DataFrame(np.digitize(df, [-1, 0, 1]), columns=df.columns)))
    model_rows = res.estimates[res.estimates.op.isin(["=~", "~", "~~"])]
    assert (model_rows.free == 0).any() and model_rows.se_std_all.isna().all()


def test_wlsmv_non_finite_defined_parameter_is_flagged(hs_ordinal):
    """WLSMV's defined parameters are the shared builder's: one that divides by zero has no
    estimate (NaN, not inf) and a warning, as with ML."""
    from semcluster.estimation import wlsmv

    spec = read_model("visual =~ x1 + a*x2 + x3\ntextual =~ x4 + b*x5 + x6\n"
                      "speed =~ x7 + x8 + x9\nd := a - b\nz := a/(b-b)")
    res = wlsmv.fit(spec, hs_ordinal)
    d = res.defined().set_index("lhs")
    assert np.isfinite(d.loc["d", "est"]) and d.loc["d", "se"] > 0
    assert d.loc[["z"], ["est", "se", "std_all"]].isna().all(axis=None)
    assert any(w.startswith("defined parameter z := a/(b-b) is not a finite number")
               for w in res.warnings)

def test_identification_check_before_fitting():
    from semcluster.estimation.identification import check_identification

    assert check_identification(read_model(HS_MODEL)).identified
    from semcluster.estimation.wlsmv import OrdinalModel

    spec = read_model("h1_h5")
    ordinal = OrdinalModel(spec, list(spec.observed))
    assert check_identification(spec, jacobian=ordinal.jacobian, keep=ordinal.keep).identified
    bad = check_identification(read_model(UNIDENTIFIED))
    assert not bad.identified and bad.n_free - bad.rank == 1
    assert {"a ~~ b", "a ~~ c", "b ~~ c"} <= set(bad.involved)
    assert not {"g ~~ g", "g =~ e", "g =~ h"} & set(bad.involved)     # g's block is fine


def test_fiml_non_convergence_is_flagged(hs_spec):
    from semcluster.estimation import fiml

    X, _ = prepare_data(load_data(FIX / "hs39_missing.csv"), hs_spec.observed, missing="fiml")
    res = fiml.fit(hs_spec, X, max_iter=1)
    assert not res.converged
    assert any("did not converge" in w for w in res.warnings)


def test_estimate_dispatch(hs_spec):
    from semcluster.errors import EstimationError
    from semcluster.estimation.registry import estimate

    df = load_data(FIX / "hs39_missing.csv")
    X, rep = prepare_data(df, hs_spec.observed, missing="auto")
    assert rep.missing == "fiml"
    res = estimate(hs_spec, X, rep)                       # FIML from the report's rule
    assert res.info["missing"] == "fiml"
    assert estimate(hs_spec, X, rep, estimator="MLR").estimator == "MLR"      # robust FIML
    with pytest.raises(EstimationError, match="WLSMV with missing='fiml' is not implemented; "
                                              "use missing='listwise' or missing='pairwise'"):
        estimate(hs_spec, X, rep, estimator="WLSMV")
    with pytest.raises(EstimationError, match="ML with missing='pairwise' is not implemented"):
        estimate(hs_spec, X, rep, missing="pairwise")
    Xl, repl = prepare_data(df, hs_spec.observed, missing="listwise")
    assert estimate(hs_spec, Xl, repl, estimator="mlr").estimator == "MLR"
    assert estimate(hs_spec, Xl, repl).estimator == "ML" and len(Xl) == repl.n_used
    with pytest.raises(ValueError, match="not available; use one of ML, MLR, WLSMV, GLS"):
        estimate(hs_spec, Xl, repl, estimator="ULS")      # an OptionError


def test_auto_missing_rule_is_the_registry_entry():
    """missing='auto' means the estimator's registry entry (auto_missing) when answers are
    missing and listwise on complete data; semcluster.data.survey.resolve_missing is the one function
    that resolves it, for the data step and for fit()."""
    from semcluster import fit
    from semcluster.data.survey import resolve_missing
    from semcluster.errors import EstimationError
    from semcluster.estimation.registry import ESTIMATORS

    assert {k: e.auto_missing for k, e in ESTIMATORS.items()} == {
        "ML": "fiml", "MLR": "fiml", "WLSMV": "pairwise", "GLS": "fiml"}
    for e in ESTIMATORS.values():
        assert resolve_missing("auto", True, e.auto_missing) == e.auto_missing
        assert resolve_missing("auto", False, e.auto_missing) == "listwise"
        assert resolve_missing("listwise", True, e.auto_missing) == "listwise"
        assert resolve_missing("ML", False, e.auto_missing) == "fiml"     # lavaan's spelling
    assert resolve_missing("auto", True) == "fiml"                        # the data step's
    assert resolve_missing("auto", False, prepared="pairwise") == "pairwise"
    # before the data are read only a rule that fits complete data as listwise does is chosen
    assert resolve_missing("auto", None, "pairwise") == "pairwise"
    assert resolve_missing("auto", None, "fiml") == "auto"

    gaps = load_data(FIX / "hs39_ordinal_missing.csv")
    for name, e in ESTIMATORS.items():
        if e.auto_missing in e.missing:
            assert fit(HS_MODEL, gaps, estimator=name).data_report.missing == e.auto_missing
        else:       # GLS: complete rows only
            with pytest.raises(EstimationError, match=f"{name} with missing='{e.auto_missing}'"):
                fit(HS_MODEL, gaps, estimator=name)
    complete = load_data(FIX / "hs39_ordinal.csv")
    for name in ("ML", "MLR", "GLS"):
        assert fit(HS_MODEL, complete, estimator=name).data_report.missing == "listwise"
    # WLSMV's rule is chosen before the data are read: pairwise, which on complete data drops
    # nothing and estimates what listwise does
    assert fit(HS_MODEL, complete, estimator="WLSMV").data_report.missing == "pairwise"


def test_estimate_auto_reads_the_registry(hs_spec):
    """estimate(..., missing='auto') fits by the registry's auto_missing when answers are
    missing (WLSMV: pairwise, as fit()) and listwise on complete data."""
    from semcluster.errors import EstimationError
    from semcluster.estimation.registry import ESTIMATORS, estimate

    X, rep = prepare_data(load_data(FIX / "hs39_ordinal_missing.csv"), hs_spec.observed,
                          missing="pairwise")
    for name, e in ESTIMATORS.items():
        if e.auto_missing not in e.missing:       # GLS: complete rows only
            with pytest.raises(EstimationError, match=f"{name} with missing='fiml'"):
                estimate(hs_spec, X, rep, estimator=name, missing="auto")
            continue
        auto = estimate(hs_spec, X, rep, estimator=name, missing="auto")
        same = estimate(hs_spec, X, rep, estimator=name, missing=e.auto_missing)
        assert auto.fit_measures["chisq"] == same.fit_measures["chisq"]
    Xc, repc = prepare_data(load_data(FIX / "hs39_ordinal.csv"), hs_spec.observed)
    for name in ESTIMATORS:
        auto = estimate(hs_spec, Xc, repc, estimator=name, missing="auto")
        listwise = estimate(hs_spec, Xc, repc, estimator=name, missing="listwise")
        assert auto.info.get("missing") == listwise.info.get("missing")
        assert auto.fit_measures["chisq"] == listwise.fit_measures["chisq"]


def test_saturated_information_equals_numerical_hessian():
    """The analytic observed information of the incomplete-data saturated model equals the
    numerical Hessian of its analytic gradient (at and away from the EM optimum)."""
    from semcluster.estimation._structure import numerical_jacobian, vech_indices
    from semcluster.estimation.fiml import MissingPatterns

    df = pd.read_csv(FIX / "hs39_missing.csv")[[f"x{i}" for i in range(1, 10)]]
    pats = MissingPatterns(df.to_numpy(float))
    mu, S, _, ok, _ = pats.em()
    assert ok
    r, c = vech_indices(9)
    for m_, S_ in ((mu, S), (mu + 0.05, S + 0.1 * np.eye(9))):
        H = numerical_jacobian(pats.saturated_gradient, np.concatenate([m_, S_[r, c]]),
                               rel_step=1e-6)
        np.testing.assert_allclose(pats.saturated_information(S_, m_), -(H + H.T) / 2,
                                   atol=1e-6 * np.abs(H).max())
    # at the EM optimum the gradient vanishes
    g = pats.saturated_gradient(np.concatenate([mu, S[r, c]]))
    assert np.max(np.abs(g)) < 1e-4          # total over 301 rows


# ---------------------------------------------------------------------------------------------
# the study's model on the bundled synthetic data (23 seven-point items, N = 160)
# ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def study():
    return read_model("h1_h5"), load_data(data_path("paper_synthetic.csv"))


def test_study_mlr_matches_lavaan(study):
    from semcluster.estimation import mlr

    spec, df = study
    X, rep = prepare_data(df, spec.observed, warn=False)
    res = mlr.fit(spec, X, report=rep)
    worst = compare(res, load_fixture("study_mlr"))
    assert worst["rows"] >= 60 and res.converged


def test_study_fiml_matches_lavaan(study):
    """5 % of every item's answers removed at random (make_fixtures.R, seed 7)."""
    from semcluster.estimation import fiml

    spec, _ = study
    X, rep = prepare_data(load_data(FIX / "study_missing.csv"), spec.observed, missing="fiml",
                          warn=False)
    assert rep.n_used == 160 and sum(rep.n_missing.values()) == 23 * 8
    res = fiml.fit(spec, X, report=rep)
    worst = compare(res, load_fixture("study_fiml"))
    assert worst["rows"] >= 90 and res.converged


def test_study_wlsmv_matches_lavaan(study):
    from semcluster.estimation import wlsmv
    from semcluster.estimation.polychoric import polychoric

    spec, df = study
    ref = load_fixture("study_wlsmv")
    X, rep = prepare_data(df, spec.observed, ordered=spec.observed, warn=False)
    pc = polychoric(X[ref["items"]])
    np.testing.assert_allclose(pc.correlation.to_numpy(), np.array(ref["polychoric"]),
                               atol=1e-6)
    G = np.array(ref["nacov"])
    np.testing.assert_allclose(pc.gamma, G, rtol=1e-5, atol=1e-6 * np.abs(G).max())
    res = wlsmv.fit(spec, X, report=rep)
    worst = compare(res, ref)
    assert worst["rows"] >= 200 and res.converged


# ---------------------------------------------------------------------------------------------
# GLS: the estimator added as one module (estimators/gls.py) and one registry line
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["hs39_gls", "study_gls"])
def test_gls_matches_lavaan(name):
    """lavaan cfa/sem(..., estimator = "GLS") (tests/fixtures/estimators/make_gls_fixture.R):
    estimates, SEs, std.all, χ², baseline, CFI/TLI/NFI, RMSEA and interval, SRMR."""
    from lavaan_reference import fit_estimator_case

    res = fit_estimator_case(name)
    ref = load_fixture(name)
    assert ref["options"]["estimator"] == "GLS"
    worst = compare(res, ref)
    assert res.estimator == "GLS" and res.converged
    assert worst["rows"] >= (24 if name.startswith("hs39") else 67)
    assert {"logl", "aic", "bic"}.isdisjoint(res.fit_measures.index)   # none for GLS


def test_gls_baseline_keeps_the_covariates_covariances_free_at_the_gls_minimum():
    """lavaan's baseline for GLS with exogenous covariates: every variance free, and the
    covariances among the covariates free (lavaan's independence model), all estimated by GLS
    (fixed.x = FALSE).  Checked from the definition: at the returned M the GLS criterion
    ½ tr{[(S − M)S⁻¹]²} has zero slope along every free cell (central differences; the
    criterion is quadratic, so they are exact up to rounding), every other off-diagonal cell
    is 0, and the covariates' block is not simply copied from S.  Without covariates it is
    diag(d) with (V∘V)d = diag(V) (Browne 1974), the formula used before."""
    from semcluster.estimation.gls import gls_baseline

    rng = np.random.default_rng(7)
    L = rng.normal(size=(6, 6))
    S = L @ L.T + 6 * np.eye(6)
    V = np.linalg.inv(S)

    def crit(M):
        E = (S - M) @ V
        return 0.5 * float(np.sum(E * E.T))

    xs = [3, 5]
    M = gls_baseline(S, xs)
    free = [(i, i) for i in range(6)] + [(3, 5)]
    h = 1e-4
    for i, j in free:
        E = np.zeros((6, 6))
        E[i, j] = E[j, i] = h
        assert abs(crit(M + E) - crit(M - E)) / (2 * h) < 1e-9 * crit(M)
    off = ~np.eye(6, dtype=bool)
    off[3, 5] = off[5, 3] = False
    assert np.all(M[off] == 0)
    assert M[3, 5] != pytest.approx(S[3, 5], rel=1e-3)
    assert np.allclose(np.diag(gls_baseline(S)), np.linalg.solve(V * V, np.diag(V)),
                       rtol=1e-12)


def test_estimator_registry_drives_fit_and_cli():
    """fit(), estimate(), the CLI's --estimator choices and the error message all read the one
    registry (semcluster.estimation.registry.ESTIMATORS)."""
    import semcluster
    from semcluster.cli import build_parser
    from semcluster.errors import SemclusterError
    from semcluster.estimation.registry import ESTIMATORS

    assert set(ESTIMATORS) == {"ML", "MLR", "WLSMV", "GLS"}
    sub = next(a for a in build_parser()._actions if a.dest == "command")
    est = next(a for a in sub.choices["fit"]._actions if a.dest == "estimator")
    assert tuple(est.choices) == tuple(ESTIMATORS)
    with pytest.raises(SemclusterError, match="ML, MLR, WLSMV, GLS"):
        semcluster.fit("h1_h5", estimator="ULS")
    assert semcluster.fit(HS_MODEL, data_path("holzinger_swineford_1939.csv"),
                          estimator="gls").estimator == "GLS"
