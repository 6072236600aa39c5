"""The parameter table of G groups (semcluster.spec.parser.group_table) against lavaan's own.

Reference: lavaan 0.6.14's ``parTable(sem(model, data, group =, group.equal =,
group.partial =, meanstructure =, do.fit = FALSE))`` for 14 models, written by
tests/fixtures/partable/make_partables.R into tests/fixtures/partable/partables.json, and
``fitMeasures()`` of the fitted model with chained ``==`` rows.

What is compared, row by row (lhs op rhs group): that the same rows exist, who wrote them
(``user``), which are the fixed.x rows (``exo``), which are fixed and at what value
(``ustart``; for the fixed.x rows lavaan's ``start``, the group's sample moment), the user's
labels, the user's ``==`` rows, and the partition of the free rows into parameters.  lavaan
0.6 gives every free row its own number and ties rows with ``==`` rows on their plabels
(``.p3. == .p28.``) or by a shared label; semcluster gives the rows of one parameter one
number.  So the classes are compared, not the numbers.
"""
from __future__ import annotations

import json
import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import semcluster
from semcluster.errors import ModelSpecError, OptionError
from semcluster.estimation.groups import group_moments
from semcluster.resources import data_path
from semcluster.spec.parser import group_table, parse_model

HERE = Path(__file__).parent / "fixtures" / "partable"
REF = json.loads((HERE / "partables.json").read_text(encoding="utf-8"))
CASES = REF["cases"]
DATA = {"matrix": Path(__file__).parent / "fixtures" / "matrix" / "hs39_matrix.csv",
        "hs": data_path("holzinger_swineford_1939.csv")}
PLABEL = re.compile(r"\.p\d+\.\Z")


def _lavaan(name: str) -> pd.DataFrame:
    t = pd.DataFrame(CASES[name]["partable"])
    t["label"] = t["label"].fillna("")
    return t


def _key(lhs, op, rhs, group):
    if op == "~~":                       # a covariance is the same row either way round
        lhs, rhs = sorted((lhs, rhs))
    return (lhs, op, rhs, int(group))


def _semcluster(name: str, *, group_partial=None) -> pd.DataFrame:
    case = CASES[name]
    spec = parse_model(case["model"])
    df = pd.read_csv(DATA[case["data"]])
    moments, labels = group_moments(df, spec.observed, case["group"])
    if case["group"] is not None:
        assert labels == case["groups"]          # groups in lavaan's order (first appearance)
    partial = case["group_partial"] if group_partial is None else group_partial
    return group_table(spec, labels, case["group_equal"], partial, fixed_x_moments=moments)


def _rows(t: pd.DataFrame) -> dict:
    rows = t[t.group > 0]
    out = {_key(*k): r for k, r in zip(zip(rows.lhs, rows.op, rows.rhs, rows.group),
                                       rows.itertuples())}
    assert len(out) == len(rows), "a row is in the table twice"
    return out


def _lavaan_classes(t: pd.DataFrame) -> set:
    """Free rows of lavaan's table grouped into parameters: rows sharing a label, and rows
    tied by '==' rows (either side a plabel or a label)."""
    free = t[(t.group > 0) & (t["free"] > 0)]
    parent = {i: i for i in free.id}

    def find(i):
        while parent[i] != i:
            i = parent[i]
        return i

    def union(a, b):
        parent[find(a)] = find(b)
    by_name: dict = {}
    for i, lab, plab in zip(free.id, free.label, free.plabel):
        by_name.setdefault(plab, []).append(i)
        if lab:
            by_name.setdefault(lab, []).append(i)
    for ids in by_name.values():
        for i in ids[1:]:
            union(ids[0], i)
    for lhs, rhs in zip(t.loc[t.op == "==", "lhs"], t.loc[t.op == "==", "rhs"]):
        a, b = by_name.get(lhs, []), by_name.get(rhs, [])
        assert a and b, f"'{lhs} == {rhs}' names no free row"
        union(a[0], b[0])
    key_of = {i: _key(lhs, op, rhs, g) for i, lhs, op, rhs, g in
              zip(free.id, free.lhs, free.op, free.rhs, free.group)}
    classes: dict = {}
    for i in free.id:
        classes.setdefault(find(i), set()).add(key_of[i])
    return {frozenset(c) for c in classes.values()}


def _semcluster_classes(t: pd.DataFrame) -> set:
    free = t[(t.group > 0) & (t["free"] > 0)]
    classes: dict = {}
    for lhs, op, rhs, g, k in zip(free.lhs, free.op, free.rhs, free.group, free["free"]):
        classes.setdefault(k, set()).add(_key(lhs, op, rhs, g))
    return {frozenset(c) for c in classes.values()}


@pytest.mark.parametrize("name", sorted(CASES))
def test_group_table_has_lavaans_rows_fixed_values_and_labels(name):
    lav, ours = _rows(_lavaan(name)), _rows(_semcluster(name))
    assert sorted(ours) == sorted(lav)
    for k, r in lav.items():
        o = ours[k]
        assert (o.user, o.exo) == (r.user, r.exo), k
        assert (o.free == 0) == (r.free == 0), k
        if r.free == 0 and not r.exo:
            assert o.ustart == r.ustart, k
        if r.exo:               # fixed.x: held at the group's sample moment
            assert o.ustart != o.ustart and r.ustart != r.ustart     # NaN in both
            np.testing.assert_allclose(o.start, r.start, rtol=1e-12, err_msg=str(k))
        assert o.label == ("" if PLABEL.match(r.label) else r.label), k


#: a case where semcluster reads group.partial differently on purpose (see the test below)
REVERSED = "partial_reversed_covariance"


@pytest.mark.parametrize("name", sorted(set(CASES) - {REVERSED}))
def test_group_table_ties_the_rows_lavaan_ties(name):
    lav_t, ours_t = _lavaan(name), _semcluster(name)
    assert _semcluster_classes(ours_t) == _lavaan_classes(lav_t)
    user_eq = lav_t[(lav_t.op == "==") & (lav_t.user == 1)]
    ours_eq = ours_t[ours_t.op == "=="]
    assert sorted(zip(ours_eq.lhs, ours_eq.rhs)) == sorted(zip(user_eq.lhs, user_eq.rhs))
    assert (ours_eq.user == 1).all() and (ours_eq.group == 0).all()


def test_group_partial_frees_the_rows_it_names_from_group_equal():
    """lavaan's equal_partial table has the visual=~x2 loading and the x3 intercept free in
    each group; with group.partial ignored the same call would tie them."""
    lav = _lavaan_classes(_lavaan("equal_partial"))
    with_partial = _semcluster_classes(_semcluster("equal_partial"))
    ignored = _semcluster_classes(_semcluster("equal_partial", group_partial=()))
    assert with_partial == lav
    assert ignored != lav
    assert ignored == _lavaan_classes(_lavaan("equal_loadings_intercepts"))
    x2 = [c for c in lav if ("visual", "=~", "x2", 1) in c][0]
    assert x2 == {("visual", "=~", "x2", 1)}
    x2_ignored = [c for c in ignored if ("visual", "=~", "x2", 1) in c][0]
    assert x2_ignored == {("visual", "=~", "x2", g) for g in (1, 2, 3)}


def test_group_partial_takes_a_covariance_written_either_way_round():
    """group.partial = "x4~~x1" frees the covariance the model writes as 'x1 ~~ x4' (a
    covariance has no direction).  lavaan 0.6.14 matches the entry literally and silently
    keeps the row equal across groups; this is the one place where the table differs from
    lavaan's, on purpose: every other class is lavaan's."""
    reversed_ = _semcluster_classes(_semcluster(REVERSED))
    assert reversed_ == _semcluster_classes(_semcluster(REVERSED, group_partial=["x1~~x4"]))
    cov = frozenset(("x1", "~~", "x4", g) for g in (1, 2, 3))
    lav = _lavaan_classes(_lavaan(REVERSED))
    assert cov in lav                                  # lavaan: still one parameter
    assert cov not in reversed_                        # semcluster: one per group
    assert reversed_ == (lav - {cov}) | {frozenset({k}) for k in cov}


def test_a_fixed_value_in_one_group_fixes_a_row_group_equal_ties():
    """c(1, NA, NA) on a loading: free in groups 2 and 3, unless group.equal = "loadings"
    ties it to group 1's fixed 1 (lavaan fixes it in all three then)."""
    for name, free_later in (("modifiers", True), ("modifiers_equal_loadings", False)):
        t = _semcluster(name)
        x6 = t[(t.lhs == "textual") & (t.rhs == "x6")].sort_values("group")
        assert list(x6["free"] > 0) == [False, free_later, free_later], name
        lav = _lavaan(name)
        lav_x6 = lav[(lav.lhs == "textual") & (lav.rhs == "x6")].sort_values("group")
        assert list(lav_x6["free"] > 0) == [False, free_later, free_later], name


CHAIN = REF["chain_model"]


def test_chained_equality_constraints_make_one_parameter_of_three_labels():
    """'a == b' and 'c == b': a, b and c are one parameter (lavaan's npar 19, df 26 on one
    group); the labels were tied pairwise before, so that 'c == b' undid 'a == b'."""
    spec = parse_model(CHAIN)
    pt = spec.partable
    numbers = {lab: int(pt.loc[pt.label == lab, "free"].iloc[0]) for lab in "abc"}
    assert len(set(numbers.values())) == 1
    ref = REF["fits"]["chain_one_group"]
    res = semcluster.fit(CHAIN, pd.read_csv(DATA["matrix"]))
    assert (res.fit_measures["npar"], res.fit_measures["df"]) == (ref["npar"], ref["df"])
    np.testing.assert_allclose(res.fit_measures["chisq"], ref["chisq"], rtol=1e-6)


def test_chained_equality_constraints_hold_in_every_group():
    ref = REF["fits"]["chain_groups"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")       # lavaan's shared-label warning, as there
        res = semcluster.fit(CHAIN, pd.read_csv(DATA["matrix"]), group="agegrp")
    assert (res.fit_measures["npar"], res.fit_measures["df"]) == (ref["npar"], ref["df"])
    np.testing.assert_allclose(res.fit_measures["chisq"], ref["chisq"], rtol=1e-6)


def test_the_spec_table_holds_intercepts_constraints_and_modifiers_as_rows():
    """The single-group table carries the user's '~1' rows (lavaan's op and empty rhs), the
    '==' rows and each c(...) modifier, with no side structure beside it; lavaan's user
    rows of the one-group table are the same rows."""
    spec = parse_model(CASES["intercept_labels"]["model"] + "\nb1 := i1 * 2")
    pt = spec.partable
    means = pt[pt.op == "~1"]
    assert list(means.lhs) == ["x1", "x4", "x7", "speed"]
    assert (means.rhs == "").all() and (means.user == 1).all()
    assert list(means.label) == ["i1", "", "", ""]
    assert means.set_index("lhs").loc["x7", "fixed"] == 5.0
    assert means.set_index("lhs").loc["x4", "group_values"] == (
        (None, "t1", False), (None, "t2", False), (None, "t2", False))
    assert pt.op.iloc[-1] == ":="
    structure = pt[pt.op.isin(["=~", "~", "~~"])]
    assert spec.n_free == structure["free"].max() < means["free"].max()
    assert spec.has_means and spec.has_group_modifiers
    assert not any(hasattr(spec, f) for f in ("mean_rows", "group_modifiers", "constraints"))

    one = parse_model(CASES["constraints_one_group"]["model"]).partable
    lav = _lavaan("constraints_one_group")
    lav_user = lav[(lav.user == 1) & (lav.op != "==")]
    ours_user = one[(one.user == 1) & one.op.isin(["=~", "~", "~~", "~1"])]
    assert sorted(zip(ours_user.lhs, ours_user.op, ours_user.rhs, ours_user.label)) == \
        sorted(zip(lav_user.lhs, lav_user.op, lav_user.rhs, lav_user.label))
    eq = one[one.op == "=="]
    assert list(zip(eq.lhs, eq.rhs)) == [("a", "b"), ("c", "b")]


def test_group_table_refuses_a_c_modifier_of_the_wrong_length_and_an_unknown_partial_row():
    spec = parse_model(CASES["modifiers"]["model"])
    with pytest.raises(ModelSpecError, match=r"c\(\.\.\.\) on 'visual =~ x2' has 3 "
                                             r"element\(s\), but there are 2 group\(s\)"):
        group_table(spec, ["a", "b"])
    with pytest.raises(OptionError, match="group.partial entry 'visual=~x9' names no "
                                          "parameter"):
        group_table(spec, ["a", "b", "c"], ["loadings"], ["visual=~x9"])
    two = parse_model("level: 1\nf =~ y1 + y2 + y3\nlevel: 2\nf =~ y1 + y2 + y3")
    with pytest.raises(ModelSpecError, match="two-level"):
        group_table(two, ["a", "b"])


def test_group_table_without_moments_leaves_the_fixed_x_values_unknown():
    spec = parse_model(CASES["covariates_groups"]["model"])
    t = group_table(spec, ["a", "b"])
    exo = t[t.exo == 1]
    assert len(exo) == 2 * 5          # female, agemo: 2 variances, 1 covariance, 2 means
    assert exo.start.isna().all() and (exo["free"] == 0).all()
