"""Modification indices of FIML fits (missing answers kept), as lavaan's ``modindices()`` on a
``missing = "ml"`` fit: the score test with the gradient of the incomplete-data
log-likelihood and its expected information per missing-data pattern.

Reference: ``tests/fixtures/modindices_fiml/make_fixtures.R`` (lavaan 0.6.14) on the MAR
survey of ``tests/fixtures/measurement_missing`` (one group, a misfitting two-factor model) and
the three-group survey of ``tests/fixtures/measurement_groups`` (two groups with MAR missing
answers, one complete; free and with loadings equal across groups): mi, epc and sepc.all of
every row lavaan lists.

Tolerances.  At lavaan's own estimates (the fixture carries them; semcluster's fit is given
those values) every row agrees within 1e-4 relative (1e-8 absolute for values near 0); the
largest difference seen is 2.6e-12 relative (mi, equal loadings): this checks the score test
itself.  At semcluster's estimates the two optimizers stop at slightly
different points (lavaan's default stop leaves gradients of ~1e-6 and refuses a tighter one),
and the MI of a candidate with almost no misfit moves with those digits (an MI of 9e-6 by
0.4 %, of 0.16 by 0.05 %; epc and sepc.all at most 0.2 %); there the check is 1e-3 relative
plus 1e-4 absolute.
"""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from semcluster.fitting import fit
from semcluster.measures.modindices import modification_indices

FIX = Path(__file__).parent / "fixtures"
REF = json.loads((FIX / "modindices_fiml" / "lavaan.json").read_text())
DATA = {"one_group": pd.read_csv(FIX / "measurement_missing" / "survey_mar.csv"),
        "groups": pd.read_csv(FIX / "measurement_groups" / "survey_groups.csv")}


def _fit(case):
    ref = REF[case]
    data = DATA["one_group" if case == "one_group" else "groups"]
    kw = {}
    if "group" in ref:
        kw["group"] = ref["group"]
    if "group_equal" in ref:
        kw["group_equal"] = ref["group_equal"]
    return fit(ref["model"], data, **kw)


@pytest.fixture(scope="module")
def fits():
    return {case: _fit(case) for case in ("one_group", "groups", "equal_loadings")}


def _at_lavaan_estimates(res, case):
    """The fit with every estimate replaced by lavaan's (matched by lhs, op, rhs, group)."""
    lav = pd.DataFrame(REF[case]["estimates"])
    on = ["lhs", "op", "rhs"] + (["group"] if "group" in res.estimates else [])
    e = res.estimates.drop(columns=[c for c in res.estimates if c not in on + ["free", "est"]])
    m = e.merge(lav[on + ["est"]], on=on, how="left", suffixes=("", "_lav"))
    assert m.est_lav.notna().all()
    x_all = np.zeros(int(m.free.max()))
    x_all[m.free[m.free > 0] - 1] = m.est_lav[m.free > 0]
    info = dict(res.info)
    k = len(info["x"])
    info["x"] = x_all[:k]
    if "nu" in info and k < len(x_all):
        info["nu"] = x_all[k:]
    est = res.estimates.copy()
    est["est"] = m.est_lav.to_numpy()
    return dataclasses.replace(res, info=info, estimates=est, data=res._data)


def _compare(res, case, rel, absolute):
    ours = modification_indices(res, sort=False)
    lav = pd.DataFrame(REF[case]["modindices"])
    on = ["lhs", "op", "rhs"] + (["group"] if "group" in lav else [])
    m = lav.merge(ours, on=on, how="outer", indicator=True, suffixes=("_lav", ""))
    # the same candidate rows as lavaan lists (lavaan leaves out the unidentified ones)
    assert (m._merge == "both").all(), m[m._merge != "both"][on + ["_merge"]]
    assert len(m) == len(lav) > 30
    for a, b in (("mi_lav", "mi"), ("epc_lav", "epc"), ("sepc.all", "sepc_all")):
        np.testing.assert_allclose(m[b], m[a], rtol=rel, atol=absolute, err_msg=f"{case} {b}")


@pytest.mark.parametrize("case", ["one_group", "groups", "equal_loadings"])
def test_fiml_modification_indices_equal_lavaans_at_its_estimates(fits, case):
    res = fits[case]
    assert res.missing == "fiml" and REF[case]["converged"]
    _compare(_at_lavaan_estimates(res, case), case, 1e-4, 1e-8)


@pytest.mark.parametrize("case", ["one_group", "groups", "equal_loadings"])
def test_fiml_modification_indices_of_the_own_fit_agree_within_optimizer_error(fits, case):
    _compare(fits[case], case, 1e-3, 1e-4)


def test_fiml_modification_indices_put_the_misplaced_loading_first(fits):
    """sb1 is an item of the second factor put on the first: freeing F2 =~ sb1 is the largest
    MI, as lavaan finds (101.4; the complete-data formula on the EM matrix gave 115.8)."""
    lav = {(d["lhs"], d["op"], d["rhs"]): d["mi"] for d in REF["one_group"]["modindices"]}
    ours = modification_indices(fits["one_group"]).set_index(["lhs", "op", "rhs"]).mi
    big = ("F2", "=~", "sb1")
    assert max(lav, key=lav.get) == big
    assert ours.index[0] == big and ours.is_monotonic_decreasing
    assert ours[big] == pytest.approx(lav[big], rel=1e-3)


def test_fiml_modification_indices_need_the_rows_of_the_fit(fits):
    from semcluster.errors import OptionError

    res = fits["one_group"]
    bare = dataclasses.replace(res, data=None)
    with pytest.raises(OptionError, match="rows it was fitted to"):
        modification_indices(bare)
