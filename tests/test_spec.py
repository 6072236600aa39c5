"""The lavaan-syntax reader: what each statement becomes, and where errors point."""
from __future__ import annotations

import json

import numpy as np
import pytest

from semcluster import ModelSpecError, ModelSyntaxError, read_model
from semcluster.resources import bundled_models, data_path


def rows(spec, op=None):
    pt = spec.partable
    if op:
        pt = pt[pt.op == op]
    return {(r.lhs, r.op, r.rhs): (r.free, None if np.isnan(r.fixed) else r.fixed, r.label,
                                   None if np.isnan(r.start) else r.start)
            for r in pt.itertuples()}


# text -> {(lhs, op, rhs): (free>0, fixed, label, start)} for the rows named (lavaan semantics)
CASES = {
    "f =~ x1 + x2 + x3": {
        ("f", "=~", "x1"): (False, 1.0, "", None),
        ("f", "=~", "x2"): (True, None, "", None),
        ("f", "~~", "f"): (True, None, "", None),
        ("x1", "~~", "x1"): (True, None, "", None)},
    # NA frees the first loading (semopy would read NA as a label and fix x2 instead)
    "f =~ NA*x1 + x2 + x3\nf ~~ 1*f": {
        ("f", "=~", "x1"): (True, None, "", None),
        ("f", "=~", "x2"): (True, None, "", None),
        ("f", "~~", "f"): (False, 1.0, "", None)},
    # a label alone does not free the marker loading; a fixed value elsewhere does not either
    "f =~ a*x1 + 0.7*x2 + x3": {
        ("f", "=~", "x1"): (False, 1.0, "a", None),
        ("f", "=~", "x2"): (False, 0.7, "", None),
        ("f", "=~", "x3"): (True, None, "", None)},
    "f =~ x1 + start(0.5)*x2 + 0.8?x3 + label(\"q\")*x4": {
        ("f", "=~", "x2"): (True, None, "", 0.5),
        ("f", "=~", "x3"): (True, None, "", 0.8),
        ("f", "=~", "x4"): (True, None, "q", None)},
    "y ~ b1*x1 + x2\ny ~~ e*y": {
        ("y", "~", "x1"): (True, None, "b1", None),
        ("y", "~~", "y"): (True, None, "e", None)},
    # multi-line statement: continuation after '+' and a line without an operator
    "f =~ x1 +\n  x2\n  + x3 # comment\n g =~ x4 + x5 + x6 ! other comment": {
        ("f", "=~", "x3"): (True, None, "", None),
        ("g", "=~", "x6"): (True, None, "", None)},
    "f =~ x1 + x2 + x3; g =~ x4 + x5 + x6; f ~~ 0*g": {
        ("f", "~~", "g"): (False, 0.0, "", None)},
    "y1 + y2 ~ x": {
        ("y1", "~", "x"): (True, None, "", None),
        ("y2", "~", "x"): (True, None, "", None),
        ("y1", "~~", "y2"): (True, None, "", None)},   # auto.cov.y
    "f =~ x1 + x2 + x3\ng =~ x4 + x5 + x6": {
        ("f", "~~", "g"): (True, None, "", None)},     # exogenous latents covary
    "f =~ x1 + x2 + x3 + 1e-1*x4 + -0.5*x5": {
        ("f", "=~", "x4"): (False, 0.1, "", None),
        ("f", "=~", "x5"): (False, -0.5, "", None)},
}


@pytest.mark.parametrize("text", list(CASES), ids=range(len(CASES)))
def test_statements_become_lavaan_parameters(text):
    got = rows(read_model(text))
    for key, (free, fixed, label, start) in CASES[text].items():
        assert key in got, f"{key} missing"
        g_free, g_fixed, g_label, g_start = got[key]
        assert (g_free > 0) == free, key
        assert g_fixed == fixed, key
        assert g_label == label, key
        assert g_start == start, key


def test_shared_label_is_one_parameter():
    spec = read_model("f =~ x1 + a*x2 + a*x3")
    pt = spec.partable
    frees = pt[(pt.op == "=~") & pt.rhs.isin(["x2", "x3"])]["free"].tolist()
    assert frees[0] == frees[1] > 0
    assert spec.n_free == 1 + 3 + 1   # one loading, three residual variances, factor variance


def test_equality_constraint_joins_labels():
    spec = read_model("f =~ x1 + a*x2 + b*x3\na == b")
    pt = spec.partable
    load = pt[pt.op == "=~"].set_index("rhs")["free"]
    assert load["x2"] == load["x3"] > 0


def test_fixed_x_covariates_are_not_parameters():
    spec = read_model("y ~ x1 + x2")
    assert spec.fixed_x == ["x1", "x2"]
    assert spec.n_free == 3          # two slopes, one residual variance (lavaan npar = 3)


def test_defined_parameter_is_kept():
    spec = read_model("m ~ a*x\ny ~ b*m + x\nind := a*b\ntot := ind + b")
    d = spec.defined
    assert list(d.lhs) == ["ind", "tot"]


# text -> (line, column, fragment of message)
ERRORS = {
    "f =~ x1 + x2\ng =! x3": (2, 1, "missing '+' or operator"),   # '!' starts a comment
    "f =~ x1 + + x2": (1, 11, "missing term"),
    "f =~ x1 + x2\n  x3": (2, 3, "missing '+'"),
    "f =~ x1 + x2 +": (1, 14, "missing term"),
    "f =~ x1 + 2x2": (1, 11, "not a valid variable name"),
    "y ~ x\nz ~ 1": (2, 5, "not otherwise in the model"),      # an intercept-only variable
    "f <~ x1 + x2": (1, 3, "formative"),
    "f =~ x1 + x2\ny ~ foo(2)*x1": (2, 5, "unknown modifier"),
    "f =~ x1 + x2\nf =~ x2": (2, 6, "specified twice"),
    "ind := a*b\ny ~ x": (1, 1, "not a label"),
    "y ~ x\nz := x + ": (2, 6, "cannot read the expression"),
    "f =~ c(1,)*x1 + x2": (1, 6, "in c(...)"),
    "y ~ y": (1, 5, "regressed on itself"),
    "": (1, 1, "empty"),
    "   # only a comment\n": (1, 1, "empty"),
    "y ~ x\nx ~~ 2*x": (2, 8, "fixed.x"),
    "x1 ~~ a*x2 + a*x3\nx1 ~~ 0.5*x4 + a*x5": None,   # legal: shared label on covariances
}


@pytest.mark.parametrize("text", [t for t, v in ERRORS.items() if v], ids=range(16))
def test_syntax_errors_name_line_and_column(text):
    line, col, fragment = ERRORS[text]
    with pytest.raises(ModelSyntaxError) as info:
        read_model(text)
    err = info.value
    assert (err.line, err.column) == (line, col), str(err)
    assert fragment in str(err)
    assert str(err).startswith(f"<string>:{line}:{col}:")


def test_error_names_the_file(tmp_path):
    p = tmp_path / "bad.lav"
    p.write_text("CA =~ ca1 + ca2\nIN ~ CA +\n")
    with pytest.raises(ModelSyntaxError) as info:
        read_model(p)
    assert str(info.value).startswith(f"{p}:2:")


def test_scale_not_set_is_caught_before_fitting():
    with pytest.raises(ModelSpecError, match="scale of latent variable 'f'"):
        read_model("f =~ NA*x1 + x2 + x3")


def test_too_many_parameters_is_caught():
    with pytest.raises(ModelSpecError, match="df = -"):
        read_model("f =~ x1 + x2\ng =~ x1 + x2\nx1 ~~ x2")


def test_bundled_models_match_the_study():
    """Every bundled model uses exactly the study's items, each on its own construct."""
    study = json.loads(data_path("study.json").read_text(encoding="utf-8"))
    items = {c["code"]: c["items"] for c in study["constructs"]}
    assert set(bundled_models()) >= {"cfa", "h1_h5", "revised", "second_order"}
    for name in ("cfa", "h1_h5", "revised", "second_order"):
        spec = read_model(name)
        assert sorted(spec.observed) == sorted(i for v in items.values() for i in v), name
        pt = spec.partable
        for code, its in items.items():
            assert list(pt.loc[(pt.op == "=~") & (pt.lhs == code), "rhs"]) == its, (name, code)
    h = read_model("h1_h5").partable
    paths = h[h.op == "~"]
    hyp = {x["label"]: (x["from"], x["to"]) for x in study["hypotheses"]}
    assert {r.label: (r.rhs, r.lhs) for r in paths.itertuples()} == hyp
    r = read_model("revised").partable
    assert sorted(r.loc[r.op == "~", "rhs"]) == ["CA", "KS", "MR"]
    s = read_model("second_order")
    assert "PF" in s.latent and s.exogenous == ["PF"]


@pytest.mark.parametrize("term", ["1e400*x2", "-1e400*x2", "start(1e999)*x2", "1e999?x2"])
def test_overflowing_numbers_are_refused(term):
    """A fixed or start value that overflows to infinity is a syntax error with its place,
    not a free parameter (it used to be fitted as free and reported admissible)."""
    from semcluster.errors import ModelSyntaxError
    from semcluster.spec.parser import read_model

    with pytest.raises(ModelSyntaxError, match=r"<string>:1:16: .*(too large|finite)"):
        read_model(f"visual =~ x1 + {term} + x3")
