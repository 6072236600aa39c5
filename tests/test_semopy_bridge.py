"""semopy in and out: ``fit(semopy.Model(desc), data)`` and ``res.to_semopy()``.

References: the fit of the model text itself (checked against lavaan in
test_agreement_lavaan.py), and semopy's own computation of Σ and F_ML on the handed-back model.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import semcluster
from semcluster.errors import InputTypeError
from semcluster.resources import data_path

HS = ("visual =~ x1 + x2 + x3\n"
      "textual =~ x4 + x5 + x6\n"
      "speed =~ x7 + x8 + x9\n")


@pytest.fixture(scope="module")
def hs():
    return pd.read_csv(data_path("holzinger_swineford_1939.csv"))


def test_fit_accepts_a_semopy_model(hs):
    import semopy

    from_text = semcluster.fit(HS, hs)
    from_semopy = semcluster.fit(semopy.Model(HS), hs)
    assert from_semopy.spec.source == "<semopy.Model>"
    np.testing.assert_allclose(from_semopy.estimates.est, from_text.estimates.est, atol=1e-12)
    np.testing.assert_allclose(from_semopy.estimates.se, from_text.estimates.se, atol=1e-12)
    assert from_semopy.fit_measures["chisq"] == pytest.approx(from_text.fit_measures["chisq"],
                                                              rel=1e-12)


def test_to_semopy_carries_the_estimates(hs):
    res = semcluster.fit(HS, hs)
    model = res.to_semopy()
    import semopy

    assert isinstance(model, semopy.Model)
    # semopy's own Σ(θ) at the handed-back parameters equals semcluster's implied covariance
    sigma, _ = model.calc_sigma()
    obs = list(model.vars["observed"])
    np.testing.assert_allclose(sigma, res.implied_cov.loc[obs, obs].to_numpy(), atol=1e-10)
    # and semopy's ML discrepancy there is semcluster's chi-square / N
    assert model.obj_mlw(model.param_vals) == pytest.approx(
        res.fit_measures["chisq"] / res.nobs, rel=1e-8)
    # inspect() lists the same loading estimates
    ins = model.inspect()
    x2 = ins[(ins.lval == "x2") & (ins.rval == "visual")]["Estimate"].iloc[0]
    est = res.estimates
    assert x2 == pytest.approx(est[(est.lhs == "visual") & (est.rhs == "x2")].est.iloc[0],
                               abs=1e-12)


def test_semopy_subclass_is_refused_clearly():
    import semopy

    with pytest.raises(InputTypeError, match="ModelMeans is not supported"):
        semcluster.fit(semopy.ModelMeans(HS), None)
