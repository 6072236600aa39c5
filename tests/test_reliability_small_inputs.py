"""Smaller silent inputs: rows in no group, a covariance matrix with an item in other units,
``nobs`` too large or fractional, complex numbers as answers."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from semcluster import fit
from semcluster.cli import main
from semcluster.errors import DataError, InputTypeError, OptionError
from semcluster.resources import data_path
from semcluster.spec.parser import read_model

ITEMS = read_model("cfa").observed


@pytest.fixture
def raw():
    return pd.read_csv(data_path("paper_synthetic.csv"))


# -- rows with an empty group label ---------------------------------------------------------------
def test_rows_with_an_empty_group_label_are_reported_as_left_out(raw, tmp_path, capsys):
    df = raw.copy()
    df.loc[df.index[:10], "firm_type"] = np.nan       # an empty cell in the CSV
    path = tmp_path / "groups.csv"
    df.to_csv(path, index=False)
    assert main(["fit", "cfa", "--data", str(path), "--group", "firm_type"]) == 0
    out = capsys.readouterr().out
    assert f"rows read: {len(df)}; rows used: {len(df) - 10}" in out
    assert "not used: 10 row(s): empty group label in 'firm_type'" in out


def test_invariance_warns_of_rows_in_no_group(raw, tmp_path, capsys):
    df = raw.copy()
    df.loc[df.index[:10], "firm_type"] = np.nan
    path = tmp_path / "groups.csv"
    df.to_csv(path, index=False)
    with pytest.warns(UserWarning, match="10 row.s. with an empty 'firm_type' label are in "
                                         "no group"):
        assert main(["invariance", "cfa", "--data", str(path), "--group", "firm_type"]) == 0


def test_a_blank_text_group_label_is_left_out_too(raw):
    df = raw.copy()
    df.loc[df.index[:4], "firm_type"] = "  "
    with pytest.warns(UserWarning, match="4 row"):
        res = fit("cfa", df, group="firm_type")
    assert "  " not in res.groups and res.nobs == len(df) - 4
    assert res.data_report.dropped == {"empty group label in 'firm_type' (in no group)": 4}


def test_every_row_in_a_group_drops_nothing(raw):
    res = fit("cfa", raw, group="firm_type")
    assert res.data_report.dropped == {} and res.nobs == len(raw)


# -- a covariance matrix with one item in other units ---------------------------------------------
def test_an_item_in_other_units_is_not_a_singular_covariance_matrix(raw):
    """ML's chi-square does not depend on the units of the items (the ML discrepancy is
    invariant under S -> D S D for a diagonal D; lavaan gives the same chi-square for rescaled
    items), so ca1 x 10^6 must fit with the chi-square of the original matrix."""
    S = raw[ITEMS].cov()
    D = np.ones(len(ITEMS))
    D[0] = 1e6
    scaled = S * np.outer(D, D)
    a = fit("cfa", cov=S, nobs=len(raw))
    b = fit("cfa", cov=scaled, nobs=len(raw))
    assert b.fit_measures["chisq"] == pytest.approx(a.fit_measures["chisq"], rel=1e-6)
    assert b.fit_measures["df"] == a.fit_measures["df"]


@pytest.mark.parametrize("factor", [1e2, 1e6])
def test_an_item_in_other_units_keeps_its_standard_errors(raw, factor):
    """Rescaling an item is a change of units of the parameters: every z = est / se is the
    same (a mathematical invariance of ML, as in lavaan).  The information matrix was called
    singular ('not identified', no standard errors) for x 100, and the fit did not converge
    for x 10^6."""
    S = raw[ITEMS].cov()
    D = np.ones(len(ITEMS))
    D[0] = factor
    a = fit("cfa", cov=S, nobs=len(raw))
    b = fit("cfa", cov=S * np.outer(D, D), nobs=len(raw))
    assert b.converged and not any("singular" in w for w in b.warnings)
    za, zb = a.estimates["z"].to_numpy(float), b.estimates["z"].to_numpy(float)
    assert np.array_equal(np.isnan(za), np.isnan(zb))
    np.testing.assert_allclose(zb[~np.isnan(zb)], za[~np.isnan(za)], rtol=1e-6)


@pytest.mark.parametrize("factor", [1.0, 1e2])
def test_an_empirically_unidentified_model_is_still_called_singular(raw, factor):
    """The other side: two factors of two indicators each, with no covariance between the
    blocks in the data, leave the loadings undetermined (empirical under-identification):
    singular in any units."""
    S = raw[["ca1", "ca2", "pa1", "pa2"]].cov()
    S.loc[["ca1", "ca2"], ["pa1", "pa2"]] = 0.0
    S.loc[["pa1", "pa2"], ["ca1", "ca2"]] = 0.0
    D = np.array([factor, 1, 1, 1])
    res = fit("CA =~ ca1 + ca2\nPA =~ pa1 + pa2\n", cov=S * np.outer(D, D), nobs=len(raw))
    assert any("singular" in w for w in res.warnings)


def test_a_truly_singular_covariance_matrix_is_still_refused(raw):
    df = raw[ITEMS].copy()
    df["ca2"] = 1e6 * df["ca1"]                       # ca2 is ca1 in other units
    with pytest.raises(DataError, match="singular|not positive definite"):
        fit("cfa", cov=df.cov(), nobs=len(df))


# -- nobs ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("nobs, error", [(10 ** 30, OptionError), (10 ** 9 + 1, OptionError),
                                         (100.7, InputTypeError), (1, OptionError),
                                         ("160", InputTypeError)])
def test_nobs_must_be_a_whole_number_within_bounds(raw, nobs, error):
    with pytest.raises(error, match="nobs"):
        fit("cfa", cov=raw[ITEMS].cov(), nobs=nobs)


@pytest.mark.parametrize("nobs", [160, 160.0, np.int64(160), 10 ** 9])
def test_nobs_as_a_whole_number_is_accepted(raw, nobs):
    res = fit("cfa", cov=raw[ITEMS].cov(), nobs=nobs)
    assert np.isfinite(res.fit_measures["chisq"])


# -- complex numbers -----------------------------------------------------------------------------
def test_a_complex_column_is_refused(raw):
    df = raw.copy()
    df["ca1"] = df["ca1"] + 0.5j
    with pytest.raises(DataError, match="'ca1' holds complex numbers"):
        fit("cfa", df)


def test_complex_values_in_a_text_column_are_refused(raw):
    df = raw.copy().astype({"ca1": object})
    df.loc[df.index[3], "ca1"] = complex(4, 1)
    with pytest.raises(DataError, match="'ca1' holds complex numbers"):
        fit("cfa", df)


def test_a_multi_group_fit_with_an_item_in_other_units_keeps_its_standard_errors(raw):
    """The same invariance for a multi-group fit on raw data (ca1 x 100): z values as for the
    original units; the information matrix was called singular."""
    scaled = raw.copy()
    scaled["ca1"] = scaled["ca1"] * 100
    a = fit("cfa", raw, group="firm_type")
    b = fit("cfa", scaled, group="firm_type")
    assert not any("singular" in w for w in b.warnings)
    za, zb = a.estimates["z"].to_numpy(float), b.estimates["z"].to_numpy(float)
    assert np.array_equal(np.isnan(za), np.isnan(zb))
    np.testing.assert_allclose(zb[~np.isnan(zb)], za[~np.isnan(za)], rtol=1e-5)
