"""std.lv, std.all, R² and standardized defined parameters held tightly to lavaan (found by
mutation testing, docs/mutation.md).

The standardization is evaluated at *lavaan's own estimates* (the fixtures' ``est`` column put
into the free-parameter vector), so it must reproduce lavaan's ``std.lv``/``std.all``/R² to the
fixtures' precision -- no optimiser error to absorb.  Cases cover: a CFA with marker loadings,
the same with unit factor variances, residual covariances between observed variables
(political democracy: lavaan divides by residual SDs), latent regressions and a second-order
factor (the study models), a fixed-x covariate and a defined parameter.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from semcluster.spec.parser import read_model
from semcluster.model.standardized import RAM, Definitions, standardized

ROOT = Path(__file__).parent.parent
LAV = ROOT / "tests" / "fixtures" / "lavaan"
CASES = json.loads((LAV / "cases.json").read_text())
NAMES = ["hs39_cfa", "hs39_std_lv", "political_democracy", "hs39_path_fixedx", "study_cfa",
         "study_h1_h5", "study_second_order", "study_revised"]


def _key(lhs, op, rhs):
    return (min(lhs, rhs), op, max(lhs, rhs)) if op == "~~" else (lhs, op, rhs)


def _setup(name):
    case = CASES[name]
    model = case["model"]
    spec = read_model(ROOT / model if model.endswith(".lav") else model)
    ref = json.loads((LAV / f"{name}.json").read_text())
    lav = {_key(r["lhs"], r["op"], r["rhs"]): r for r in ref["estimates"]}
    fx_cov = None
    if spec.fixed_x:
        X = pd.read_csv(ROOT / case["data"], comment="#")[spec.fixed_x]
        fx_cov = X.cov(ddof=0)                  # lavaan's fixed-x moments: N divisor
    ram = RAM(spec, fixed_x_cov=fx_cov)
    x = np.zeros(int(ram.rows.free.max()))
    for r in ram.rows.itertuples():
        if r.free > 0:
            x[r.free - 1] = lav[_key(r.lhs, r.op, r.rhs)]["est"]
    return spec, ram, x, lav, ref


@pytest.fixture(scope="module", params=NAMES)
def case(request):
    spec, ram, x, lav, ref = _setup(request.param)
    return spec, ram, x, lav, ref, standardized(ram, x, spec)


def test_std_all_equals_lavaan(case):
    _spec, ram, _x, lav, _ref, (_std_lv, std_all, _r2) = case
    for k, r in enumerate(ram.rows.itertuples()):
        want = lav[_key(r.lhs, r.op, r.rhs)]["std_all"]
        assert std_all[k] == pytest.approx(want, abs=1e-7), (r.lhs, r.op, r.rhs)


def test_std_lv_equals_lavaan(case):
    _spec, ram, _x, lav, _ref, (std_lv, _std_all, _r2) = case
    for k, r in enumerate(ram.rows.itertuples()):
        want = lav[_key(r.lhs, r.op, r.rhs)].get("std_lv")
        if want is None:
            continue
        assert std_lv[k] == pytest.approx(want, abs=1e-7), (r.lhs, r.op, r.rhs)


def test_r2_equals_lavaan(case):
    _spec, _ram, _x, _lav, ref, (_std_lv, _std_all, r2) = case
    assert set(r2) == set(ref["r2"])
    for v, want in ref["r2"].items():
        assert r2[v] == pytest.approx(want, abs=1e-7), v


def test_unstandardized_values_are_the_estimates(case):
    _spec, ram, x, lav, _ref, _ = case
    vals = ram.values(x)
    for k, r in enumerate(ram.rows.itertuples()):
        assert vals[k] == pytest.approx(lav[_key(r.lhs, r.op, r.rhs)]["est"], abs=1e-12)


def test_total_covariance_of_the_observed_equals_lavaans_implied_moments(case):
    """The observed block of (I - A)^-1 P (I - A)^-T at lavaan's estimates reproduces lavaan's
    chi-square: N F_ML(S, Sigma) (S with the N divisor)."""
    spec, ram, x, _lav, ref, _ = case
    from semcluster.measures.fitmeasures import ml_discrepancy

    data = pd.read_csv(ROOT / CASES[ref_name(ref)]["data"], comment="#")[spec.observed]
    S = data.cov(ddof=0).to_numpy()
    ix = [ram.ix[v] for v in spec.observed]
    Sigma = ram.total_cov(x)[np.ix_(ix, ix)]
    chisq = ref["nobs"] * ml_discrepancy(S, Sigma)
    assert chisq == pytest.approx(ref["fit_measures"]["chisq"], rel=1e-6, abs=1e-6)


def ref_name(ref):
    return next(n for n in NAMES if json.loads((LAV / f"{n}.json").read_text()) == ref)


def test_defined_parameter_raw_and_standardized_equal_lavaan():
    spec, ram, x, lav, _ref = _setup("hs39_path_fixedx")
    d = Definitions(ram, spec)
    assert len(d) == 1
    want = lav[("ind", ":=", "a*b2")]
    assert d.values(x)[0] == pytest.approx(want["est"], abs=1e-10)
    assert d.standardized(x, "all")[0] == pytest.approx(want["std_all"], abs=1e-7)
    assert d.standardized(x, "lv")[0] == pytest.approx(want["std_lv"], abs=1e-7)
    std = standardized(ram, x, spec)
    assert d.standardized(x, "all", std=std)[0] == pytest.approx(want["std_all"], abs=1e-7)


def test_defined_parameters_chain_and_use_functions():
    """Hand case: y ~ 2*x + a*x2 with a = 3: ind := a^2 = 9; e := exp(ind) + sqrt(4) +
    abs(-1) + log(1) = exp(9) + 3 (a later definition may use an earlier one)."""
    spec = read_model("y ~ 2*x + a*x2\nind := a^2\ne := exp(ind) + sqrt(4) + abs(-1) + log(1)\n")
    ram = RAM(spec, fixed_x_cov=pd.DataFrame(np.eye(2), index=["x", "x2"],
                                             columns=["x", "x2"]))
    d = Definitions(ram, spec)
    x = np.zeros(int(ram.rows.free.max()))
    free = {r.label: r.free for r in ram.rows.itertuples() if r.label}
    x[free["a"] - 1] = 3.0
    vals = d.values(x)
    assert vals[0] == pytest.approx(9.0, abs=1e-12)
    assert vals[1] == pytest.approx(np.exp(9.0) + 3, rel=1e-12)
    assert d.names == ["ind", "e"]


def test_covariance_between_latents_std_lv_uses_their_sds():
    """Hand case (std.lv of a covariance): two factors with variances 4 and 9 and covariance
    3: std.lv = std.all = 3/sqrt(4*9) = 0.5 (both sides latent); the variances themselves
    become 1."""
    spec = read_model("f =~ x1 + x2\ng =~ x3 + x4\nf ~~ g\n")
    ram = RAM(spec)
    x = np.zeros(int(ram.rows.free.max()))
    for r in ram.rows.itertuples():
        if r.free > 0:
            x[r.free - 1] = {("f", "~~", "f"): 4.0, ("g", "~~", "g"): 9.0,
                             ("f", "~~", "g"): 3.0}.get((r.lhs, r.op, r.rhs), 1.0)
    std_lv, std_all, _ = standardized(ram, x, spec)
    rows = list(ram.rows.itertuples())
    k = next(i for i, r in enumerate(rows) if (r.lhs, r.op, r.rhs) == ("f", "~~", "g"))
    assert std_lv[k] == pytest.approx(0.5, abs=1e-12)
    assert std_all[k] == pytest.approx(0.5, abs=1e-12)
    kf = next(i for i, r in enumerate(rows) if (r.lhs, r.op, r.rhs) == ("f", "~~", "f"))
    assert std_lv[kf] == pytest.approx(1.0, abs=1e-12)
    # loadings (all 1, marker and free): std.lv = 1 * sd(f) = 2 for f's items
    k1 = next(i for i, r in enumerate(rows) if (r.lhs, r.op, r.rhs) == ("f", "=~", "x2"))
    assert std_lv[k1] == pytest.approx(2.0, abs=1e-12)


def test_ram_without_covariate_moments():
    """RAM(spec) without fixed-x moments (as invariance.py and wlsmv.py build it): the
    covariate's variance stays 0 in P; with them it is the given sample variance."""
    spec = read_model("y ~ x\n")
    ram = RAM(spec)
    assert ram.P0[ram.ix["x"], ram.ix["x"]] == 0.0
    with_cov = RAM(spec, fixed_x_cov=pd.DataFrame([[2.5]], index=["x"], columns=["x"]))
    assert with_cov.P0[with_cov.ix["x"], with_cov.ix["x"]] == 2.5


def test_ram_cells_of_each_row():
    """Where each row goes (read by the FIML/WLSMV structure and invariance code): loadings
    f =~ x and regressions y ~ x in A at (x, f) / (y, x), (co)variances in P."""
    spec = read_model("f =~ a + b + c\ny ~ f\n")
    ram = RAM(spec)
    for r, kind, (i, j) in zip(ram.rows.itertuples(), ram.kind, ram.pos):
        if r.op == "=~":
            assert (kind, i, j) == ("A", ram.ix[r.rhs], ram.ix[r.lhs])
        elif r.op == "~":
            assert (kind, i, j) == ("A", ram.ix[r.lhs], ram.ix[r.rhs])
        else:
            assert (kind, i, j) == ("P", ram.ix[r.lhs], ram.ix[r.rhs])
    assert ram.spec is spec
    assert list(ram.rows.index) == list(range(len(ram.rows)))


def test_labelled_marker_loading_enters_definitions_at_its_fixed_value():
    """lavaan fixes the first loading at 1 even when it carries a label: with
    ``f =~ a*x1 + x2 + x3``, ``y ~ b*f`` and b = 0.4, ``ind := a*b + 1`` is 1 * 0.4 + 1."""
    spec = read_model("f =~ a*x1 + x2 + x3\ny ~ b*f\nind := a*b + 1\n")
    ram = RAM(spec)
    d = Definitions(ram, spec)
    x = np.full(int(ram.rows.free.max()), 3.0)   # no free parameter equal to the fixed 1
    x[d.label_free["b"] - 1] = 0.4
    assert "a" not in d.label_free and d.label_fixed == {"a": 1.0}
    assert d.values(x)[0] == pytest.approx(1.4, abs=1e-12)


def test_defined_parameters_are_evaluated_without_python_builtins():
    """Only exp/log/sqrt/abs are available to a ``:=`` expression (the parser checks the
    text; the evaluator is the second fence): a builtin such as len is not."""
    spec = read_model("f =~ x1 + x2 + x3\nd := 1 + 1\n")
    ram = RAM(spec)
    d = Definitions(ram, spec)
    d.code = [compile("len([1])", "<:=>", "eval")]
    with pytest.raises(NameError):
        d.values(np.ones(int(ram.rows.free.max())))


# ---- delta-method standard errors of std.all (std_all_jacobian, std_all_jacobian_numeric) ----
# Reference: lavaan 0.6's standardizedSolution() SEs and the vcov they are made from
# (lavInspect(fit, "vcov")), written by tests/fixtures/lavaan/make_std_se.R into std_se.json.
# se(std.all) = sqrt(diag(J V J')) with J = d std.all / d theta at lavaan's estimates.
STD_SE = json.loads((LAV / "std_se.json").read_text())["cases"]


def _setup_se(name):
    case = STD_SE[name]
    model = case["model"]
    spec = read_model(ROOT / model if model.endswith(".lav") else model)
    fx_cov = None
    if spec.fixed_x:
        X = pd.read_csv(ROOT / case["data"], comment="#")[spec.fixed_x]
        fx_cov = X.cov(ddof=0)                  # lavaan's fixed-x moments: N divisor
    ram = RAM(spec, fixed_x_cov=fx_cov)
    lav = {_key(r["lhs"], r["op"], r["rhs"]): r for r in case["rows"]}
    V_lav = np.array(case["vcov"], dtype=float)
    q = int(ram.rows.free.max())
    x = np.zeros(q)
    lav_index = np.zeros(q, dtype=int)          # one lavaan free index per semcluster parameter
    for r in ram.rows.itertuples():
        if r.free > 0:
            row = lav[_key(r.lhs, r.op, r.rhs)]
            x[r.free - 1] = row["est"]
            lav_index[r.free - 1] = row["free"]  # shared labels: lavaan's copies are equal
    assert (lav_index > 0).all()
    V = V_lav[np.ix_(lav_index - 1, lav_index - 1)]
    want = np.array([lav[_key(r.lhs, r.op, r.rhs)]["se_std_all"] for r in ram.rows.itertuples()],
                    dtype=float)
    return ram, x, V, want


def _delta_se(J, V):
    return np.sqrt(np.clip(np.einsum("ij,jk,ik->i", J, V, J), 0, None))


@pytest.mark.parametrize("name", list(STD_SE))
def test_std_all_standard_errors_from_the_analytic_jacobian_equal_lavaan(name):
    """Every row's se(std.all) -- loadings (marker ones too), paths, variances, residual
    covariances, a shared label, a fixed-x covariate -- equals lavaan's standardizedSolution()
    SE to 1e-7 (relative 1e-6) when the Jacobian is the analytic one."""
    from semcluster.model.standardized import std_all_jacobian

    ram, x, V, want = _setup_se(name)
    J = std_all_jacobian(ram, x)
    assert J.shape == (len(ram.rows), len(x))
    got = _delta_se(J, V)
    known = np.isfinite(want)
    assert known.sum() >= len(want) - 2          # lavaan leaves only fixed-x rows without SE
    for k, r in enumerate(ram.rows.itertuples()):
        if known[k]:
            assert got[k] == pytest.approx(want[k], rel=1e-6, abs=1e-7), (r.lhs, r.op, r.rhs)


@pytest.mark.parametrize("name", list(STD_SE))
def test_std_all_standard_errors_from_central_differences_equal_lavaan(name):
    """The central-difference Jacobian (the check on the analytic one) gives the same SEs to
    1e-6: a wrong step, sign or pairing of the +h / -h evaluations would not."""
    from semcluster.model.standardized import std_all_jacobian_numeric

    ram, x, V, want = _setup_se(name)
    J = std_all_jacobian_numeric(ram, x)
    assert J.shape == (len(ram.rows), len(x))
    got = _delta_se(J, V)
    known = np.isfinite(want)
    np.testing.assert_allclose(got[known], want[known], rtol=1e-5, atol=1e-6)


def test_std_all_jacobian_of_a_single_loading_by_hand():
    """Hand case: f =~ x1 + x2 + x3 with loadings (1, l, m), var(f) = phi, residuals t1..t3.
    std.all of x2's loading is s = l sqrt(phi) / sqrt(l^2 phi + t2), so
    ds/dl = sqrt(phi) t2 / (l^2 phi + t2)^(3/2), ds/dt2 = -l sqrt(phi) / (2 (l^2 phi + t2)^(3/2))
    and ds/dphi = l t2 / (2 sqrt(phi) (l^2 phi + t2)^(3/2)); at l = 2, phi = 0.5, t2 = 1:
    var(x2) = 3.  It does not depend on x1's or x3's parameters."""
    from semcluster.model.standardized import std_all_jacobian

    spec = read_model("f =~ x1 + x2 + x3\n")
    ram = RAM(spec)
    x = np.zeros(int(ram.rows.free.max()))
    rows = list(ram.rows.itertuples())
    values = {("f", "=~", "x2"): 2.0, ("f", "~~", "f"): 0.5, ("x2", "~~", "x2"): 1.0,
              ("x1", "~~", "x1"): 0.7, ("f", "=~", "x3"): 1.5, ("x3", "~~", "x3"): 0.4}
    for r in rows:
        if r.free > 0:
            x[r.free - 1] = values[(r.lhs, r.op, r.rhs)]
    J = std_all_jacobian(ram, x)
    k = next(i for i, r in enumerate(rows) if (r.lhs, r.op, r.rhs) == ("f", "=~", "x2"))
    col = {(r.lhs, r.op, r.rhs): r.free - 1 for r in rows if r.free > 0}
    l, phi, t2 = 2.0, 0.5, 1.0
    v = l * l * phi + t2
    assert J[k, col[("f", "=~", "x2")]] == pytest.approx(np.sqrt(phi) * t2 / v ** 1.5, rel=1e-12)
    assert J[k, col[("x2", "~~", "x2")]] == pytest.approx(-l * np.sqrt(phi) / (2 * v ** 1.5),
                                                          rel=1e-12)
    assert J[k, col[("f", "~~", "f")]] == pytest.approx(l * t2 / (2 * np.sqrt(phi) * v ** 1.5),
                                                        rel=1e-12)
    for other in [("x1", "~~", "x1"), ("f", "=~", "x3"), ("x3", "~~", "x3")]:
        assert J[k, col[other]] == 0.0


def test_r2_is_undefined_unless_the_total_variance_is_positive():
    """R² = 1 - ψ/σ² needs σ² > 0.  Hand case y ~ b*x with var(x) = 1: σ²(y) = b² + ψ.
    b = 1, ψ = 1: σ² = 2, R² = 0.5; an inadmissible ψ = -1 gives σ² = 0 exactly and
    ψ = -2 gives σ² = -1: R² is NaN for both (not 1 - (-1)/0 nor 1 - (-2)/(-1) = -1)."""
    spec = read_model("y ~ x\n")
    ram = RAM(spec, fixed_x_cov=pd.DataFrame([[1.0]], index=["x"], columns=["x"]))
    col = {(r.lhs, r.op, r.rhs): r.free - 1 for r in ram.rows.itertuples() if r.free > 0}

    def r2(psi):
        x = np.zeros(len(col))
        x[col[("y", "~", "x")]] = 1.0
        x[col[("y", "~~", "y")]] = psi
        with np.errstate(divide="ignore", invalid="ignore"):
            return standardized(ram, x, spec)[2]["y"]

    assert r2(1.0) == pytest.approx(0.5, abs=1e-12)
    assert np.isnan(r2(-1.0))
    assert np.isnan(r2(-2.0))


def test_an_inadmissible_solution_is_standardized_without_numpy_warnings():
    """A zero or negative total variance (Heywood case) makes some standardized values inf or
    NaN; that is reported through the values (and the fit's admissibility flag), not by numpy
    RuntimeWarnings on the user's terminal.  y ~ 1*x, var(x) = 1: psi = -1 gives var(y) = 0
    (x/0: numpy's 'divide'), psi = -2 gives var(y) = -1 (sqrt of a negative: 'invalid');
    with warnings turned into errors both the values and the Jacobian are computed."""
    import warnings

    from semcluster.model.standardized import standardize_batch, std_all_jacobian

    spec = read_model("y ~ x\n")
    ram = RAM(spec, fixed_x_cov=pd.DataFrame([[1.0]], index=["x"], columns=["x"]))
    col = {(r.lhs, r.op, r.rhs): r.free - 1 for r in ram.rows.itertuples() if r.free > 0}
    rows = list(ram.rows.itertuples())
    k_path = next(i for i, r in enumerate(rows) if r.op == "~")
    for psi, want in ((-1.0, np.inf), (-2.0, np.nan)):
        x = np.zeros(len(col))
        x[col[("y", "~", "x")]] = 1.0
        x[col[("y", "~~", "y")]] = psi
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            _lv, sa, _var, _res = standardize_batch(ram, x[None, :])
            J = std_all_jacobian(ram, x)
        if np.isnan(want):
            assert np.isnan(sa[0, k_path])
        else:
            assert sa[0, k_path] == want
        assert not np.isfinite(J[k_path]).all()


def test_defined_parameters_divide_by_zero_to_nan_or_inf_quietly():
    """A ':=' expression that divides by zero gives inf (numpy floats: a free parameter at 0)
    or NaN (Python floats, e.g. a fixed label: the ZeroDivisionError is caught; likewise an
    OverflowError), never an exception or a numpy warning; a later definition using it
    follows (inf + 1 = inf, NaN + 1 = NaN)."""
    import warnings

    from semcluster.model.standardized import evaluate_definitions

    spec = read_model("f =~ x1 + b*x2 + x3\nr := 2/b\nq := r + 1\n")
    ram = RAM(spec)
    d = Definitions(ram, spec)
    x = np.full(int(ram.rows.free.max()), 0.5)
    x[d.label_free["b"] - 1] = 0.0
    codes = [compile("1 / c", "<:=>", "eval"), compile("r + 1", "<:=>", "eval"),
             compile("10.0 ** 400", "<:=>", "eval")]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        vals = d.values(x)
        out = evaluate_definitions(["r", "s", "t"], codes, {"c": 0.0})
    assert vals[0] == np.inf and vals[1] == np.inf
    assert np.isnan(out).all()


def test_central_difference_step_grows_with_the_parameter():
    """The step is 1e-6 x max(1, |theta|): for an item measured in large units (variances near
    1e8) a step of 1e-6 / |theta| would vanish below the parameter's rounding and give a zero
    derivative.  Hand case f =~ x1 + x2 + x3 with residual variances of 1e8: the central
    differences still equal the analytic Jacobian (to 1e-3 of its largest entry; a vanished
    step gives 0 where the analytic value is 0.7 of it)."""
    from semcluster.model.standardized import std_all_jacobian, std_all_jacobian_numeric

    spec = read_model("f =~ x1 + x2 + x3\n")
    ram = RAM(spec)
    x = np.zeros(int(ram.rows.free.max()))
    for r in ram.rows.itertuples():
        if r.free > 0:
            x[r.free - 1] = {"=~": 2000.0, "~~": 1e8}[r.op]
    analytic = std_all_jacobian(ram, x)
    numeric = std_all_jacobian_numeric(ram, x)
    scale = np.abs(analytic).max()
    assert scale > 0
    np.testing.assert_allclose(numeric, analytic, rtol=0, atol=1e-3 * scale)
