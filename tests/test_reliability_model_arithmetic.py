"""Model arithmetic is bounded: a ':=' expression cannot make fit or scores run for ever.

``d := a + 0*9^9^9`` once made ``fit`` and ``scores`` compute a 370-million-digit integer.  Now
the expression is checked when the model is read (allowed nodes, depth, size, finite numbers,
no power of a power, a number as exponent at most 1000 in size) and evaluated with floats
only, so an overflow is NaN at once.  Each limit is tested on both sides.
"""
from __future__ import annotations

import math
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from semcluster.errors import ModelSpecError, ModelSyntaxError
from semcluster.spec.parser import (MAX_EXPRESSION_DEPTH, MAX_LITERAL_EXPONENT, compile_expression,
                             parse_model)
from semcluster.model.standardized import compile_definitions, evaluate_definitions

BASE = "CA =~ ca1 + a*ca2 + b*ca3 + ca4\nPA =~ pa1 + pa2 + pa3 + pa4\n"


def _model(definition: str):
    return parse_model(BASE + definition + "\n")


def _value(expr: str, **env) -> float:
    return float(evaluate_definitions(["d"], [compile_expression(expr)], env)[0])


def test_a_power_tower_is_refused_with_its_line_and_column():
    with pytest.raises(ModelSyntaxError, match="power of a power") as e:
        _model("d := a + 0*9^9^9")
    assert e.value.line == 3
    assert e.value.column == len("d := a + 0*9^") + 1       # the exponent 9^9


def test_the_cli_refuses_a_power_tower_at_once(tmp_path):
    m = tmp_path / "m.lav"
    m.write_text(BASE + "d := a + 0*9^9^9\n")
    p = subprocess.run([sys.executable, "-m", "semcluster", "fit", str(m)], capture_output=True,
                       text=True, timeout=120,
                       env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    assert p.returncode == 2 and "Traceback" not in p.stderr
    assert len(p.stderr.strip().splitlines()) == 1 and "m.lav:3:" in p.stderr


def test_a_definitions_table_built_without_the_parser_is_checked_too():
    defined = pd.DataFrame({"lhs": ["d"], "rhs": ["a + 0*9^9^9"]})
    with pytest.raises(ModelSpecError, match="power of a power"):
        compile_definitions(defined)


@pytest.mark.parametrize("exponent, ok", [(MAX_LITERAL_EXPONENT, True),
                                          (-MAX_LITERAL_EXPONENT, True),
                                          (MAX_LITERAL_EXPONENT + 1, False),
                                          (-(MAX_LITERAL_EXPONENT + 1), False),
                                          (1e9, False)])
def test_a_number_as_exponent_is_bounded(exponent, ok):
    text = f"d := a^{exponent:g}" if exponent >= 0 else f"d := a^({exponent:g})"
    if ok:
        _model(text)
    else:
        with pytest.raises(ModelSyntaxError, match="exponent .* too large"):
            _model(text)


def _nested(depth: int) -> str:
    return "(" * depth + "a" + " + 1)" * depth


def test_nesting_is_bounded():
    # each '(... + 1)' is one BinOp level below the Expression root
    _model("d := " + _nested(MAX_EXPRESSION_DEPTH - 1))
    with pytest.raises(ModelSyntaxError, match="nested more than"):
        _model("d := " + _nested(MAX_EXPRESSION_DEPTH + 1))


def test_a_literal_too_large_for_a_float_is_refused():
    _model("d := a * 1e300")
    with pytest.raises(ModelSyntaxError, match="too large"):
        _model("d := a * 1e400")
    with pytest.raises(ModelSyntaxError, match="too large"):
        _model("d := a * " + "9" * 400)          # an exact integer a float cannot hold
    with pytest.raises(ModelSyntaxError) as e:
        _model("d := a * " + "9" * 5000)         # beyond Python's digit limit
    assert len(str(e.value)) < 200               # the message does not echo 5000 digits


@pytest.mark.parametrize("literal", ["0x10", "1_000", "0b1", "1e5j"])
def test_only_plain_decimal_numbers_are_read(literal):
    with pytest.raises(ModelSyntaxError):
        _model(f"d := a * {literal}")


def test_ordinary_definitions_still_read_and_evaluate():
    for text in ("a*b", "a^2", "sqrt(abs(a)) + exp(b) - log(2)", "(a + b)^0.5", "a^-1",
                 "a/b", "-a^2"):
        _model(f"d := {text}")
    a, b = 0.7, 1.3
    # the values Python's float arithmetic gives (lavaan evaluates the same formulas in R)
    assert _value("a*b", a=a, b=b) == a * b
    assert _value("a^2", a=a) == a ** 2
    assert _value("(a + b)^0.5", a=a, b=b) == (a + b) ** 0.5
    assert _value("-a^2", a=a) == -(a ** 2)              # as in R: unary minus binds looser
    assert _value("a/b + 3/2", a=a, b=b) == a / b + 1.5


def test_large_powers_overflow_to_nan_at_once_instead_of_running():
    assert math.isclose(_value("2^1000"), 2.0 ** 1000)
    assert np.isnan(_value("10^400"))                    # a float overflow: no exact integer
    assert np.isnan(_value("(a*10)^1000 * 10^1000", a=1.0))


@pytest.mark.parametrize("text", ["__import__('os')", "a.real", "[a]", "a if b else 1",
                                  "a < b", "exp(x=a)", "'text'", "True + a"])
def test_anything_but_arithmetic_is_refused(text):
    with pytest.raises(ModelSyntaxError):
        _model(f"d := {text}")


def test_a_fit_with_a_power_tower_free_model_still_gives_the_product():
    """The bounded evaluator gives the product of two labelled loadings as before."""
    from semcluster import fit

    res = fit(BASE + "d := a*b\n")
    est = res.estimates.set_index(["lhs", "op", "rhs"])["est"]
    assert math.isclose(est[("d", ":=", "a*b")],
                        est[("CA", "=~", "ca2")] * est[("CA", "=~", "ca3")], rel_tol=1e-12)
