"""Modification indices of a GLS fit are refused, not computed with the ML score test.

The score test in semcluster.measures.modindices uses the ML information and gradient.  At GLS
estimates that is not lavaan's GLS modification index: on HS39's three-factor CFA lavaan 0.6.14
gives x7 ~~ x8 the largest index (23.42, ``modindices(cfa(HS, estimator = "GLS"))``), while the
ML formula at the GLS estimates ranked x7 ~~ x9 first (46.9).  Wrong numbers are worse than none,
so a GLS fit is refused in one line; the same model fitted by ML gives its indices.
"""
from __future__ import annotations

import pandas as pd
import pytest

import semcluster
from semcluster.errors import OptionError
from semcluster.resources import data_path

HS = "visual =~ x1 + x2 + x3\ntextual =~ x4 + x5 + x6\nspeed =~ x7 + x8 + x9"


@pytest.fixture(scope="module")
def hs():
    return pd.read_csv(data_path("holzinger_swineford_1939.csv"))


@pytest.mark.parametrize("group", [None, "school"])
def test_modification_indices_of_a_gls_fit_are_refused_in_one_line(hs, group):
    res = semcluster.fit(HS, hs, estimator="GLS", group=group)
    with pytest.raises(OptionError) as e:
        res.modindices()
    assert "GLS" in str(e.value) and "\n" not in str(e.value)


@pytest.mark.parametrize("group", [None, "school"])
def test_the_same_model_fitted_by_ml_gives_its_modification_indices(hs, group):
    mi = semcluster.fit(HS, hs, group=group).modindices()
    assert len(mi) > 0 and (mi["mi"] >= 0).all()
