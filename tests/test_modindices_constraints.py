"""Modification indices with equality constraints, and lavaan's refusal when the information
matrix of the fitted model is singular.

Reference: ``tests/fixtures/modindices_constraints/make_fixtures.R`` (lavaan 0.6.14) on the
Holzinger & Swineford (1939) data:

* ``groups``: two schools, a loading label shared by both groups (``c(a, a)*x2``) and an
  ``==`` row tying the second school's x6 loading to it; ``single``: one group, two loadings
  tied by ``a == b``.  lavaan keeps the tied parameters apart and inverts the information
  bordered by the constraints; semcluster gives them one number and inverts the smaller
  information -- the same score test (see ``modindices._inverse_of_fitted_information``).
  mi, epc and sepc.all of every row lavaan lists.
* ``singular``: a three-item factor whose residuals all covary (not identified).  lavaan
  fits it without standard errors and its ``modindices()`` stops ("could not compute
  modification indices; information matrix is singular"), in one group and in two.  Its
  standardized residuals are still given (a generalized inverse there, as lavaan's).

Tolerances.  At lavaan's estimates (the fixture carries them) the score test agrees within
1e-6 relative (1e-9 absolute near 0).  At semcluster's own estimates, as
tests/test_group_methods.py: mi 1e-3, epc and sepc.all 1e-4 absolute (the two optimizers stop
at slightly different points).
"""
from __future__ import annotations

import dataclasses
import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import semcluster
from semcluster.errors import EstimationError
from semcluster.measures.modindices import SINGULAR_INFORMATION, modification_indices, residuals

FIX = Path(__file__).parent / "fixtures"
REF = json.loads((FIX / "modindices_constraints" / "lavaan.json").read_text())
HS_CSV = Path(semcluster.__file__).parent / "resources" / "data" / "holzinger_swineford_1939.csv"
HS = pd.read_csv(HS_CSV)
CFA = "visual =~ x1 + x2 + x3\ntextual =~ x4 + x5 + x6\nspeed =~ x7 + x8 + x9"


def _fit(case):
    ref = REF[case]
    return semcluster.fit(ref["model"], HS, **({"group": ref["group"]} if ref["group"] else {}))


@pytest.fixture(scope="module")
def fits():
    return {case: _fit(case) for case in ("groups", "single")}


def _singular_fit(group=None):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return semcluster.fit(REF["singular"]["model"], HS, **({"group": group} if group else {}))


def _at_lavaan_estimates(res, case):
    """The fit with every estimate replaced by lavaan's (matched by lhs, op, rhs, group; the
    tied parameters have one number here and equal values in lavaan)."""
    lav = pd.DataFrame(REF[case]["estimates"])
    on = ["lhs", "op", "rhs"] + (["group"] if "group" in res.estimates else [])
    e = res.estimates[on + ["free"]]
    m = e.merge(lav[on + ["est"]], on=on, how="left")
    assert m.est.notna().all()
    x = np.zeros(int(m.free.max()))
    x[m.free[m.free > 0] - 1] = m.est[m.free > 0]
    # lavaan's tied estimates are equal, so each number is set by any of its rows
    for k, rows in m[m.free > 0].groupby("free"):
        np.testing.assert_allclose(rows.est, rows.est.iloc[0], rtol=1e-10)
    info = dict(res.info)
    info["x"] = x[:len(info["x"])]
    est = res.estimates.copy()
    est["est"] = m.est.to_numpy()
    return dataclasses.replace(res, info=info, estimates=est)


def _merged(res, case):
    ours = modification_indices(res, sort=False)
    lav = pd.DataFrame(REF[case]["modindices"])
    on = ["lhs", "op", "rhs"] + (["group"] if "group" in lav else [])
    m = lav.merge(ours, on=on, how="outer", indicator=True, suffixes=("_lav", ""))
    # the same candidate rows as lavaan lists
    assert (m._merge == "both").all(), m[m._merge != "both"][on + ["_merge"]]
    assert len(m) == len(lav) > 50
    return m


@pytest.mark.parametrize("case", ["groups", "single"])
def test_fit_with_equality_constraints_is_lavaans(fits, case):
    fm = fits[case].fit_measures
    assert fm["df"] == REF[case]["df"]
    assert fm["chisq"] == pytest.approx(REF[case]["chisq"], rel=1e-6)


@pytest.mark.parametrize("case", ["groups", "single"])
def test_modification_indices_with_equality_constraints_equal_lavaans_at_its_estimates(
        fits, case):
    m = _merged(_at_lavaan_estimates(fits[case], case), case)
    for a, b in (("mi_lav", "mi"), ("epc_lav", "epc"), ("sepc.all", "sepc_all")):
        np.testing.assert_allclose(m[b], m[a], rtol=1e-6, atol=1e-9, err_msg=f"{case} {b}")


@pytest.mark.parametrize("case", ["groups", "single"])
def test_modification_indices_with_equality_constraints_of_the_own_fit_agree(fits, case):
    m = _merged(fits[case], case)
    np.testing.assert_allclose(m.mi, m.mi_lav, rtol=0, atol=1e-3)
    np.testing.assert_allclose(m.epc, m.epc_lav, rtol=0, atol=1e-4)
    np.testing.assert_allclose(m.sepc_all, m["sepc.all"], rtol=0, atol=1e-4)


@pytest.mark.parametrize("group", [None, "school"])
def test_modification_indices_refuse_a_singular_information_as_lavaan_does(group):
    ref = REF["singular"]["two_groups" if group else "one_group"]
    assert "information matrix is singular" in ref["refusal"] and not ref["has_se"]
    res = _singular_fit(group)
    assert not res.admissible
    with pytest.raises(EstimationError, match="information matrix of the fitted model is "
                                              "singular") as err:
        modification_indices(res)
    assert "\n" not in str(err.value)


def test_modification_indices_of_a_badly_scaled_identified_model_are_given():
    """The other side of the singularity rule: an item recorded x 600 makes the information's
    smallest eigenvalue below 1e-10 of its largest, yet the model is identified (judged in
    units free of the parameters' scales, as standard errors are).  A modification index
    does not depend on an item's units, nor does a fully standardized EPC, so they equal the
    unscaled fit's, every candidate kept (modindices.NO_SCORE_TEST is a ratio).  Here
    semcluster departs from lavaan on purpose: lavaan's absolute NA rule drops the 10
    candidates of x2 (the fixture lists them) that it gives for x2 in its own units."""
    from semcluster.model import ModelCore

    ref = REF["badly_scaled"]
    assert ref["model"].strip() == CFA and (ref["item"], ref["factor"]) == ("x2", 600)
    assert ref["rows_plain"] == 54 and ref["rows"] == 44
    assert all("x2" in (d["lhs"], d["rhs"]) for d in ref["dropped"])
    plain = modification_indices(semcluster.fit(CFA, HS), sort=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")           # the "rescale x2" advice
        res = semcluster.fit(CFA, HS.assign(x2=HS.x2 * 600))
    cs = ModelCore(res.spec, fixed_x_cov=res.sample_cov)
    Sigma, D = cs.jacobian(np.asarray(res.info["x"], dtype=float))
    SD = np.linalg.inv(Sigma) @ D
    q = D.shape[0]
    ev = np.linalg.eigvalsh(SD.reshape(q, -1) @ SD.transpose(0, 2, 1).reshape(q, -1).T)
    assert ev.min() < 1e-10 * ev.max()            # below the raw ratio: judged scaled
    scaled = modification_indices(res, sort=False)
    assert len(scaled) == len(plain) == 54
    np.testing.assert_allclose(scaled.mi, plain.mi, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(scaled.sepc_all, plain.sepc_all, rtol=1e-5, atol=1e-6)


def test_standardized_residuals_of_a_singular_model_are_lavaans():
    """Only the score test needs the inverse of the model's information; the standardized
    residuals project with a generalized inverse, as lavaan's (lav_residuals_acov, use.ginv),
    and the projection is the same for any.  Cells whose residual variance is ~0 are NaN
    here (lavaan prints 0)."""
    ref = REF["singular"]["one_group"]
    res = _singular_fit()
    assert res.fit_measures["chisq"] == pytest.approx(ref["chisq"], rel=1e-6)
    ours = residuals(res, "standardized").to_numpy()
    lav = np.array(ref["standardized_residuals"])
    finite = np.isfinite(ours)
    assert finite.sum() == 24      # all but the saturated x1-x3 block and the diagonal
    np.testing.assert_allclose(ours[finite], lav[finite], rtol=0, atol=1e-4)
    np.testing.assert_allclose(lav[~finite], 0, atol=1e-6)


def test_cli_modindices_refuses_a_singular_model_in_one_line(tmp_path, capsys):
    from semcluster.cli import main

    model = tmp_path / "singular.lav"
    model.write_text(REF["singular"]["model"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        code = main(["modindices", str(model), "--data", str(HS_CSV)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert [e for e in err if SINGULAR_INFORMATION in e], err
    assert not any("Traceback" in e for e in err)
