"""The model core (semcluster.model.ModelCore) against independent computations.

References: central finite differences of F_ML and of Σ(θ) (the analytic derivatives must agree
with them), the matrix inverse (I − A)⁻¹ (the nilpotent series must equal it), and the
expected information written out term by term, ½·tr(Σ⁻¹∂Σ_kΣ⁻¹∂Σ_l) from the Jacobian.
"""
from __future__ import annotations

import numpy as np
import pytest

from semcluster.data.survey import sample_covariance
from semcluster.model import ModelCore
from semcluster.resources import data_path
from semcluster.spec.parser import read_model

MODELS = {
    "h1_h5": "h1_h5",
    "second_order": "second_order",
    "political_democracy": (
        "ind60 =~ x1 + x2 + x3\n dem60 =~ y1 + a*y2 + b*y3 + c*y4\n"
        "dem65 =~ y5 + a*y6 + b*y7 + c*y8\n dem60 ~ ind60\n dem65 ~ ind60 + dem60\n"
        "y1 ~~ y5\n y2 ~~ y4 + y6\n y3 ~~ y7\n y4 ~~ y8\n y6 ~~ y8"),
    "nonrecursive": "y1 ~ y2 + x1\n y2 ~ y1 + x2\n y1 ~~ y2",
}


def _point(core, seed):
    """A point near a plausible solution: positive variances, moderate paths."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(0.1, 0.3, core.q)
    x[core.is_variance] = rng.uniform(1.0, 1.5, core.is_variance.sum())
    return x


def _S(core, seed):
    rng = np.random.default_rng(seed)
    p = core.p
    A = rng.normal(size=(3 * p, p))
    return A.T @ A / (3 * p) + np.eye(p)


@pytest.mark.parametrize("name", MODELS)
def test_derivatives_equal_finite_differences(name):
    core = ModelCore(read_model(MODELS[name]))
    x = _point(core, 1)
    S = _S(core, 2)
    core.set_fixed_x(S)          # exogenous covariates (x1, x2) held at their sample moments
    logdet = np.linalg.slogdet(S)[1]
    f, g = core.ml_value_gradient(x, S, logdet)
    assert np.isfinite(f)
    h = 1e-6
    num = np.array([(core.ml_discrepancy(x + h * e, S, logdet)
                     - core.ml_discrepancy(x - h * e, S, logdet)) / (2 * h)
                    for e in np.eye(core.q)])
    np.testing.assert_allclose(g, num, rtol=1e-5, atol=1e-7)
    g2, H = core.ml_derivatives(x, S)
    np.testing.assert_allclose(g2, g, rtol=1e-10, atol=1e-12)
    # Jacobian of Σ by finite differences, and the information written out from it
    Sigma, D = core.jacobian(x)
    Dnum = np.array([(core.sigma(x + h * e) - core.sigma(x - h * e)) / (2 * h)
                     for e in np.eye(core.q)])
    np.testing.assert_allclose(D, Dnum, rtol=1e-5, atol=1e-7)
    Si = np.linalg.inv(Sigma)
    H_ref = np.array([[np.trace(Si @ D[k] @ Si @ D[m]) for m in range(core.q)]
                      for k in range(core.q)])
    np.testing.assert_allclose(H, H_ref, rtol=1e-9, atol=1e-11)


@pytest.mark.parametrize("name", MODELS)
def test_total_covariance_equals_the_inverse_form(name):
    core = ModelCore(read_model(MODELS[name]))
    x = _point(core, 3)
    core.set_fixed_x(_S(core, 2))
    A, P, B, C = core.matrices(x)
    B_ref = np.linalg.inv(np.eye(core.m) - A)
    np.testing.assert_allclose(B, B_ref, atol=1e-12)
    np.testing.assert_allclose(C, B_ref @ P @ B_ref.T, atol=1e-12)
    assert (core._depth == 0) == (name == "nonrecursive")


def test_start_values_on_the_study_model():
    """Loadings: slope on the marker item; variances: half the item's; an exogenous factor:
    half its marker's variance; the endogenous factor's residual variance: 0.05."""
    import pandas as pd

    spec = read_model("h1_h5")
    core = ModelCore(spec)
    data = pd.read_csv(data_path("paper_synthetic.csv"))
    S = sample_covariance(data[spec.observed])
    x = core.start_values(S.to_numpy())
    pt = spec.partable
    row = pt[(pt.lhs == "CA") & (pt.rhs == "ca2")].iloc[0]
    assert x[row["free"] - 1] == pytest.approx(S.loc["ca2", "ca1"] / S.loc["ca1", "ca1"])
    row = pt[(pt.op == "~~") & (pt.lhs == "ca2") & (pt.rhs == "ca2")].iloc[0]
    assert x[row["free"] - 1] == pytest.approx(S.loc["ca2", "ca2"] / 2)
    row = pt[(pt.op == "~~") & (pt.lhs == "CA") & (pt.rhs == "CA")].iloc[0]
    assert x[row["free"] - 1] == pytest.approx(S.loc["ca1", "ca1"] / 2)
    row = pt[(pt.op == "~~") & (pt.lhs == "IN") & (pt.rhs == "IN")].iloc[0]
    assert x[row["free"] - 1] == 0.05


def test_the_core_is_built_once_per_model():
    spec = read_model("h1_h5")
    a, b = ModelCore.of(spec), ModelCore.of(spec)
    assert a is not b and a.incidence is b.incidence          # arrays shared, copies private
    a.set_fixed_x(np.eye(a.p))
    assert a.ram.P0 is not b.ram.P0


def test_refitter_equals_a_full_fit_on_new_data():
    """Refitter.fit on a new sample = semcluster.fit on it (estimates, SEs, χ²)."""
    import pandas as pd

    import semcluster

    data = pd.read_csv(data_path("paper_synthetic.csv"))
    res = semcluster.fit("h1_h5", data)
    refitter = semcluster.Refitter(res)
    other = data.sample(n=len(data), replace=True, random_state=4).reset_index(drop=True)
    full = semcluster.fit("h1_h5", other)
    quick = refitter.fit(other)
    assert quick.converged and full.converged
    free = full.estimates[full.estimates.free > 0].drop_duplicates("free")
    np.testing.assert_allclose(quick.estimates.to_numpy(), free.est.to_numpy(), atol=1e-5)
    np.testing.assert_allclose(quick.se.to_numpy(), free.se.to_numpy(), rtol=1e-4)
    assert quick.chisq == pytest.approx(full.fit_measures["chisq"], rel=1e-8)
    assert quick.df == full.fit_measures["df"]
    with pytest.raises(semcluster.DataError, match="complete numeric data"):
        refitter.fit(other.assign(ca1=np.nan))


@pytest.mark.parametrize("model", ["h1_h5", "second_order",
                                   "visual =~ x1 + a*x2 + a*x3\ntextual =~ x4 + x5 + x6\n"
                                   "x1 ~~ x4\ntextual ~ visual + x7"])
def test_std_all_jacobian_equals_central_differences(model):
    """The analytic ∂std.all/∂θ (delta-method SEs of the standardized solution) against
    central differences of the standardized solution itself."""
    import pandas as pd

    import semcluster
    from semcluster.model.standardized import std_all_jacobian, std_all_jacobian_numeric

    data = None if model in ("h1_h5", "second_order") else pd.read_csv(
        data_path("holzinger_swineford_1939.csv"))
    res = semcluster.fit(model, data)
    core = ModelCore.of(res.spec)
    core.set_fixed_x(res.sample_cov.loc[core.observed, core.observed].to_numpy())
    x = res.info["x"]
    analytic = std_all_jacobian(core.ram, x)
    numeric = std_all_jacobian_numeric(core.ram, x)
    np.testing.assert_allclose(analytic, numeric, atol=1e-8)


@pytest.mark.parametrize("name", MODELS)
def test_ml_hessian_equals_differences_of_the_gradient(name):
    """The analytic observed Hessian of F_ML against central differences of the analytic
    gradient (itself checked against differences of F above)."""
    core = ModelCore(read_model(MODELS[name]))
    x = _point(core, 5)
    S = _S(core, 6)
    core.set_fixed_x(S)
    H = core.ml_hessian(x, S)
    h = 1e-6
    num = np.array([(core.ml_derivatives(x + h * e, S, information=False)[0]
                     - core.ml_derivatives(x - h * e, S, information=False)[0]) / (2 * h)
                    for e in np.eye(core.q)])
    np.testing.assert_allclose(H, (num + num.T) / 2, rtol=1e-5, atol=1e-6)


def test_bfgs_finishes_where_the_objective_is_flat_to_rounding():
    """numerics.bfgs must reach a tight gradient tolerance on an objective whose value near the
    optimum is dominated by rounding (F = 1 + ½xᵀAx plus a few ulp of noise, as F_ML computed
    through log-determinants has): the last decreases are far below that noise. Reference: the
    exact minimiser x = 0 of the quadratic. Before the line search judged such steps by the
    gradient, each iteration halved the step down to 1e-10 (about 33 evaluations) and BFGS
    stopped "stuck" short of the tolerance."""
    from semcluster.numerics import bfgs

    rng = np.random.default_rng(4)
    M = rng.normal(size=(12, 12))
    A = M @ M.T + 12 * np.eye(12)
    calls = []

    def value_gradient(x):
        calls.append(1)
        noise = 1e-15 * np.sin(1e9 * x.sum())          # deterministic "rounding error"
        return 1.0 + 0.5 * x @ A @ x + noise, A @ x

    x0 = rng.normal(size=12) * 1e-3
    x, f, g, it, status = bfgs(value_gradient, x0, np.eye(12) / 12, gtol=1e-12, max_iter=200)
    assert status == "converged"
    assert np.max(np.abs(g)) < 1e-12 and np.max(np.abs(x)) < 1e-12
    assert len(calls) < 4 * it + 2         # no long halving sequences


def test_group_cores_equal_central_differences_of_their_moments():
    """The mean structure and the multi-group map (semcluster.model.GroupCore): on two groups
    with loadings and intercepts held equal (a label too), a latent regression and free latent
    means in the second group, ∂Σ_g/∂θ and ∂μ_g/∂θ on the GLOBAL parameter vector equal
    central differences of the core's own Σ_g(θ), μ_g(θ); the ML gradient with means equals
    differences of its value; the information is written out from the differenced
    derivatives, and the casewise scores sum to −N/2 times the gradient."""
    from semcluster.estimation.groups import MultiGroupModel

    spec = read_model("visual =~ x1 + a*x2 + x3\ntextual =~ x4 + x5 + x6\n"
                      "textual ~ visual")
    mg = MultiGroupModel(spec, ["g1", "g2"], group_equal=("loadings", "intercepts"))
    cores = mg.cores
    q = mg.npar
    # shared across groups: the 4 free loadings (paths) and the 6 intercepts; group 2 also
    # frees the 2 latent means
    assert len(np.intersect1d(cores[0].cell_k, cores[1].cell_k)) == 4
    assert len(np.intersect1d(cores[0].mean_k[~cores[0].mean_a],
                              cores[1].mean_k[~cores[1].mean_a])) == 6
    assert (~cores[1].mean_a).sum() == (~cores[0].mean_a).sum() + 2
    assert cores[1].cell_a.sum() > len(spec.latent)              # paths: loadings + regression
    rng = np.random.default_rng(7)
    x = rng.uniform(0.2, 0.6, q)
    variance = cores[0].is_variance | cores[1].is_variance
    x[variance] = rng.uniform(1.0, 1.5, variance.sum())
    h = 1e-6
    for g, core in enumerate(cores):
        assert core.q == q
        Sigma, mu, dS, dm = core.derivatives(x)
        S0, mu0 = core.moments(x)
        np.testing.assert_allclose(Sigma, S0, atol=1e-14)
        np.testing.assert_allclose(mu, mu0, atol=1e-14)
        plus = [core.moments(x + h * e) for e in np.eye(q)]
        minus = [core.moments(x - h * e) for e in np.eye(q)]
        dS_num = np.array([(a[0] - b[0]) / (2 * h) for a, b in zip(plus, minus)])
        dm_num = np.array([(a[1] - b[1]) / (2 * h) for a, b in zip(plus, minus)])
        np.testing.assert_allclose(dS, dS_num, rtol=1e-6, atol=1e-8)
        np.testing.assert_allclose(dm, dm_num, rtol=1e-6, atol=1e-8)
        # a parameter of the other group only leaves this group's moments alone
        others = np.setdiff1d(np.arange(q), np.union1d(core.cell_k, core.mean_k))
        assert len(others) and not np.any(dS_num[others]) and not np.any(dm_num[others])

        # ML with means at sample moments of simulated data
        X = rng.multivariate_normal(mu + 0.1, Sigma * 1.1, size=200)
        n = len(X)
        xbar = X.mean(axis=0)
        S = (X - xbar).T @ (X - xbar) / n
        logdet = np.linalg.slogdet(S)[1]
        f, grad = core.ml_mean_value_gradient(x, S, xbar, logdet)
        num = np.array([(core.ml_mean_value_gradient(x + h * e, S, xbar, logdet)[0]
                         - core.ml_mean_value_gradient(x - h * e, S, xbar, logdet)[0]) / (2 * h)
                        for e in np.eye(q)])
        np.testing.assert_allclose(grad, num, rtol=1e-5, atol=1e-7)
        Si = np.linalg.inv(Sigma)
        r = xbar - mu
        f_ref = (np.linalg.slogdet(Sigma)[1] + np.trace(S @ Si) - logdet - len(mu)
                 + r @ Si @ r)
        assert f == pytest.approx(f_ref, rel=1e-12)
        info_ref = np.array([[np.trace(Si @ dS_num[k] @ Si @ dS_num[l])
                              + 2 * dm_num[k] @ Si @ dm_num[l] for l in range(q)]
                             for k in range(q)])
        np.testing.assert_allclose(core.information(x), info_ref, rtol=1e-6, atol=1e-8)
        np.testing.assert_allclose(core.scores(x, X).sum(axis=0), -n / 2 * grad,
                                   rtol=1e-9, atol=1e-9)
