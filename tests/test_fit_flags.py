"""Numerical trouble is flagged in plain words, never passed off as a valid result."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import semcluster
from semcluster import DataError, ModelSpecError


def cov_df(values, names):
    return pd.DataFrame(np.array(values, dtype=float), index=names, columns=names)


def test_heywood_case_is_reported_as_inadmissible():
    # One factor, three indicators, just identified: lambda1^2 = r12*r13/r23 = 1.2 (a
    # textbook Heywood case), so theta1 = 1 - 1.2 = -0.2 at the ML solution (df = 0, exact fit).
    names = ["a", "b", "c"]
    S = cov_df([[1, .8, .6], [.8, 1, .4], [.6, .4, 1]], names)
    res = semcluster.fit("f =~ a + b + c", cov=S, nobs=200, cov_rescale=False)
    theta_a = res.parameter("a", "~~", "a").est
    assert theta_a == pytest.approx(-0.2, abs=1e-6)
    assert res.converged and not res.admissible
    assert any("Heywood" in w and "a (" in w for w in res.warnings)


def test_cov_input_equals_raw_data_fit():
    rng = np.random.default_rng(7)
    X = rng.normal(size=(120, 4)) @ np.array([[1, .5, .4, .3], [0, 1, .2, .1],
                                                [0, 0, 1, .3], [0, 0, 0, 1]])
    df = pd.DataFrame(X, columns=["a", "b", "c", "d"])
    raw = semcluster.fit("f =~ a + b + c + d", df)
    S = df.cov()                                  # unbiased, as a paper would print it
    summ = semcluster.fit("f =~ a + b + c + d", cov=S, nobs=120)
    np.testing.assert_allclose(summ.estimates.est, raw.estimates.est, rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(summ.estimates.se, raw.estimates.se, rtol=1e-7, atol=1e-9)
    for k in ("chisq", "cfi", "tli", "rmsea", "srmr", "aic", "bic"):
        assert summ.fit_measures[k] == pytest.approx(raw.fit_measures[k], rel=1e-7, abs=1e-9), k


def test_two_indicator_rule_rejects_before_fitting():
    with pytest.raises(ModelSpecError, match="two indicators and no relation"):
        semcluster.read_model("f =~ a + b\ng =~ c + d + e\nf ~~ 0*g")
    semcluster.read_model("f =~ a + b\ng =~ c + d + e")        # covarying: identified


def test_unidentified_model_is_flagged_after_fitting():
    # all three residual covariances of f's indicators: f's block has 9 parameters for 6
    # moments, though the model as a whole has df = 5 > 0; only the singular information
    # matrix shows it
    rng = np.random.default_rng(2)
    F = rng.normal(size=(300, 2)) @ np.array([[1, .4], [0, .9]])
    X = np.column_stack([F[:, [0]] * [1, .8, .7], F[:, [1]] * [1, .9, .6]])
    X = X + rng.normal(scale=.6, size=X.shape)
    df = pd.DataFrame(X, columns=list("abcdeh"))
    res = semcluster.fit("f =~ a + b + c\ng =~ d + e + h\na ~~ b\na ~~ c\nb ~~ c", df)
    assert not res.admissible
    assert any("not identified" in w for w in res.warnings)
    assert res.estimates.loc[res.estimates.free > 0, "se"].isna().all()


def test_fitting_leaves_logging_alone():
    """semopy logs through the root logger; a fit must not configure logging or print."""
    import logging

    root = logging.getLogger()
    before = (list(root.handlers), root.level)
    S = cov_df([[1, .5, .4], [.5, 1, .3], [.4, .3, 1]], ["a", "b", "c"])
    semcluster.fit("f =~ NA*a + b + c\nf ~~ 1*f", cov=S, nobs=100)   # "No fixed loadings"
    assert (list(root.handlers), root.level) == before


def test_std_lv_model_with_all_loadings_free():
    """Factor scaled by its variance (no marker): semopy's start-value search loops forever on
    such a model; the engine gives it a marker for start values only."""
    S = cov_df([[1, .5, .4], [.5, 1, .3], [.4, .3, 1]], ["a", "b", "c"])
    res = semcluster.fit("f =~ NA*a + b + c\nf ~~ 1*f", cov=S, nobs=100, cov_rescale=False)
    # one factor, three indicators: lambda_a^2 = r_ab r_ac / r_bc (exact fit, df = 0)
    assert res.parameter("f", "=~", "a").est == pytest.approx(np.sqrt(.5 * .4 / .3), abs=1e-6)


def test_singular_sample_covariance():
    rng = np.random.default_rng(3)
    df = pd.DataFrame(rng.normal(size=(50, 3)), columns=["a", "b", "c"])
    df["d"] = df.a + df.b          # a linear combination: singular S
    with pytest.raises(DataError, match="singular"):
        semcluster.fit("f =~ a + b + c + d", df)


def test_too_few_rows():
    df = pd.DataFrame(np.random.default_rng(0).normal(size=(3, 4)), columns=list("abcd"))
    with pytest.raises(DataError, match="rows"):
        semcluster.fit("f =~ a + b + c + d", df)


def test_non_positive_definite_cov_input():
    S = cov_df([[1, .9, .9], [.9, 1, -.9], [.9, -.9, 1]], ["a", "b", "c"])
    with pytest.raises(DataError, match="positive definite"):
        semcluster.fit("f =~ a + b + c", cov=S, nobs=100)


def test_defined_parameters_that_divide_by_zero_are_flagged(recwarn):
    """a/(b-b), a/0: no number, no SE, a warning in the result; nothing on stderr from numpy
    (it used to give est null, 'admissible: yes', no warning and dozens of numpy warnings)."""
    import numpy as np

    import semcluster
    from semcluster.resources import data_path

    m = ("visual =~ x1 + a*x2 + b*x3\ntextual =~ x4 + x5 + x6\n"
         "r := a/(b-b)\ns := a/0\nt := exp(a*1000)\n")
    res = semcluster.fit(m, data_path("holzinger_swineford_1939.csv"))
    d = res.defined().set_index("lhs")
    assert np.isnan(d.loc["r", "est"]) and np.isnan(d.loc["s", "est"])
    assert np.isnan(d.loc["r", "se"]) and np.isnan(d.loc["t", "se"])
    text = " ".join(res.warnings)
    assert "r := a/(b-b) is not a finite number" in text and "s := a/0" in text
    assert "t := exp(a*1000): its standard error overflows" in text
    assert not [w for w in recwarn if issubclass(w.category, RuntimeWarning)]


def test_latent_variable_named_like_a_data_column_is_refused():
    """``ca1 =~ ca2 + ca3 + ca4`` on data that has a ca1 column: lavaan refuses the clash;
    so do we (the observed ca1 would otherwise be silently ignored)."""
    from semcluster.errors import DataError

    with pytest.raises(DataError, match="latent variable.*ca1.*name of a data column"):
        semcluster.fit("ca1 =~ ca2 + ca3 + ca4")
