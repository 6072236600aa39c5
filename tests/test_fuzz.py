"""Property-based tests: random text at the model parser, random damage at data files.

Every case must end in a :class:`~semcluster.errors.SemclusterError` or a valid result, never in
another exception, and the input file must be byte-identical afterwards.  The example counts are
kept small for CI (``FUZZ_EXAMPLES`` raises them for a longer local campaign, e.g.
``FUZZ_EXAMPLES=3000 pytest tests/test_fuzz.py -s``); a tally is printed with ``-s``.
"""
from __future__ import annotations

import hashlib
import os
import warnings
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from semcluster.errors import SemclusterError

CORPUS = Path(__file__).parent / "bad_inputs"
GOOD_MODEL = (CORPUS / "models" / "good.lav").read_text()
N = int(os.environ.get("FUZZ_EXAMPLES", "150"))
SETTINGS = dict(deadline=None, database=None, derandomize=os.environ.get("FUZZ_RANDOM") is None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
TALLY: Counter = Counter()


def _outcome(kind: str, exc: BaseException | None = None) -> None:
    TALLY["tried"] += 1
    TALLY[kind] += 1


def _check_result(res, n_rows: int) -> None:
    """What any result must satisfy, whatever the damage: no silent nonsense.

    A result is either flagged (not converged or not admissible, with a warning saying so) or
    it is a proper solution: npar equal to the number of free parameters listed, finite
    estimates, χ² ≥ 0, positive finite SEs for every free parameter, an implied covariance
    matrix that is symmetric positive definite, and R² in [0, 1].
    """
    import numpy as np

    assert 2 <= res.nobs <= n_rows
    fm = res.fit_measures
    free = res.estimates[res.estimates["free"] > 0]
    assert int(fm["npar"]) == free["free"].nunique()
    if not (res.converged and res.admissible):
        assert res.warnings, "a flagged result must say why"
        return
    assert np.isfinite(res.estimates["est"]).all()
    assert fm["chisq"] >= -1e-8 and np.isfinite(fm["chisq"])
    se = free["se"].to_numpy(float)
    assert np.all(np.isfinite(se) & (se > 0)), "free parameter without a usable SE"
    S = res.implied_cov.to_numpy()
    np.testing.assert_allclose(S, S.T, atol=1e-10 * max(1.0, np.abs(S).max()))
    assert np.linalg.eigvalsh(S).min() > 0
    r2 = res.r2.to_numpy(float)
    assert np.all((r2 >= -1e-10) & (r2 <= 1 + 1e-10))


# ---------------------------------------------------------------------------------------------
# model text
# ---------------------------------------------------------------------------------------------
TOKENS = ["F1", "F2", "q1", "q2", "q3", "q4", "q5", "q6", "a", "b", "NA", "start(0.5)",
          "label('x')", "equal('a')", "0.5", "-1", "1e3", "=~", "~", "~~", ":=", "==", "<~", "|",
          "~*~", "<", ">", "*", "+", "-", "(", ")", "^", "?", ";", "\n", "\n\n", " ", "\t", "#",
          "!", "'", '"', "t1", "c(1,2)", "exp(a)", "中文", "ＦＡ", "\x00", "\r\n", "1*", "NA*"]


def _model_fuzz_check(text: str) -> None:
    from semcluster.spec.parser import parse_model, read_model

    for reader in (read_model, lambda t: parse_model(t)):
        try:
            spec = reader(text)
        except SemclusterError:
            _outcome("clean_error")
            continue
        _outcome("parsed")
        # a parsed model must be internally consistent
        pt = spec.partable
        assert set(pt.columns) >= {"lhs", "op", "rhs", "free", "fixed", "label"}
        # the covariance-structure rows hold 1..n_free; intercepts ('~1') are numbered on
        structure = pt[pt.op.isin(["=~", "~", "~~"])]
        assert int(structure["free"].max() or 0) == spec.n_free
        numbers = sorted(set(pt.loc[pt["free"] > 0, "free"]))
        assert numbers == list(range(1, len(numbers) + 1))


@settings(max_examples=N, **SETTINGS)
@given(st.text(max_size=200))
def test_parser_random_text(text):
    _model_fuzz_check(text)


@settings(max_examples=N, **SETTINGS)
@given(st.lists(st.sampled_from(TOKENS), max_size=40))
def test_parser_token_soup(tokens):
    _model_fuzz_check("".join(tokens))


@settings(max_examples=N, **SETTINGS)
@given(st.data())
def test_parser_mutated_model(data):
    text = GOOD_MODEL
    for _ in range(data.draw(st.integers(1, 4))):
        op = data.draw(st.sampled_from(["insert", "delete", "replace", "swap_lines"]))
        i = data.draw(st.integers(0, max(len(text) - 1, 0)))
        if op == "insert":
            text = text[:i] + data.draw(st.sampled_from(TOKENS + ["x", "="])) + text[i:]
        elif op == "delete":
            j = data.draw(st.integers(i, min(len(text), i + 6)))
            text = text[:i] + text[j:]
        elif op == "replace" and text:
            text = text[:i] + data.draw(st.characters()) + text[i + 1:]
        else:
            lines = text.splitlines()
            if len(lines) > 1:
                lines[0], lines[-1] = lines[-1], lines[0]
            text = "\n".join(lines)
    _model_fuzz_check(text)


def test_mutated_models_that_parse_also_fit():
    """Parsed mutations of the good model go on to a fit: error or result, nothing else."""
    from semcluster.data.survey import load_data
    from semcluster.fitting import fit
    from semcluster.spec.parser import read_model

    df = load_data(CORPUS / "data" / "good.csv")
    variants = [GOOD_MODEL.replace("q3", "q1"),                 # q1 twice in one factor
                GOOD_MODEL + "F1 ~~ 0*F2\n",
                GOOD_MODEL + "q1 ~~ q4\n",
                GOOD_MODEL.replace("F2 =~", "F2 =~ F1 +"),
                GOOD_MODEL + "F2 ~ F1\nF1 ~ F2\n",                # non-recursive
                GOOD_MODEL + "q1 ~~ -1*q1\n",
                GOOD_MODEL.replace("q4", "NA*q4") + "F2 ~~ 1*F2\n",
                GOOD_MODEL + "F1 ~~ 100*F1\n",
                "F1 =~ q1 + q2 + q3 + q4 + q5 + q6\nF2 =~ q1 + q2 + q3 + q4 + q5 + q6\n"]
    for text in variants:
        try:
            res = fit(read_model(text), df)
            _outcome("result")
            _check_result(res, len(df))
        except SemclusterError:
            _outcome("clean_error")


# ---------------------------------------------------------------------------------------------
# damaged data files
# ---------------------------------------------------------------------------------------------
SOURCES = {"csv": CORPUS / "data" / "good.csv", "xlsx": CORPUS / "data" / "good.xlsx",
           "sav": CORPUS / "data" / "survey_labels.sav"}
MAPPINGS = {"sav": CORPUS / "data" / "survey_map.yaml"}


def _damage(raw: bytes, data) -> bytes:
    out = bytearray(raw)
    for _ in range(data.draw(st.integers(1, 5))):
        op = data.draw(st.sampled_from(["flip", "truncate", "insert", "delete", "text_cell",
                                        "duplicate"]))
        i = data.draw(st.integers(0, max(len(out) - 1, 0)))
        if op == "flip" and out:
            out[i] = data.draw(st.integers(0, 255))
        elif op == "truncate":
            out = out[:i]
        elif op == "insert":
            out[i:i] = data.draw(st.binary(min_size=1, max_size=20))
        elif op == "delete":
            j = data.draw(st.integers(i, min(len(out), i + 50)))
            del out[i:j]
        elif op == "text_cell":
            out[i:i] = data.draw(st.sampled_from(
                [b"NA", b"", b",", b";", b"\n", b"abc", b"-99", b"8", b"1e400", b"\"", b"\xff\xfe",
                 b"nan", b"inf", b"3,5", b"\x00"]))
        elif op == "duplicate" and out:
            j = data.draw(st.integers(i, min(len(out), i + 200)))
            out[j:j] = out[i:j]
    return bytes(out)


ESTIMATOR_CHOICES = [("ML", "listwise"), ("ML", "fiml"), ("MLR", "listwise"), ("MLR", "fiml"),
                     ("WLSMV", "listwise"), ("WLSMV", "pairwise")]


def _run_data(path: Path, mapping, choice) -> None:
    """Load, check and fit: plain ML through semcluster.fit, the others through
    semcluster.estimation.registry.estimate (WLSMV with every item ordinal)."""
    from semcluster.data.survey import load_data, prepare_data
    from semcluster.estimation.registry import estimate
    from semcluster.fitting import fit
    from semcluster.spec.parser import read_model

    estimator, missing = choice
    spec = read_model(GOOD_MODEL)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            df = load_data(path, mapping=mapping)
            if (estimator, missing) == ("ML", "listwise"):
                res = fit(spec, df)
            else:
                ordered = spec.observed if estimator == "WLSMV" else None
                X, rep = prepare_data(df, spec.observed, missing=missing, ordered=ordered)
                res = estimate(spec, X, rep, estimator=estimator, ordered=ordered)
            _check_result(res, len(df))
            _outcome("result")
        except SemclusterError:
            _outcome("clean_error")


@pytest.mark.parametrize("kind", list(SOURCES))
def test_damaged_data_files(kind, tmp_path):
    src = SOURCES[kind]
    raw = src.read_bytes()
    digest = hashlib.sha256(raw).hexdigest()

    @settings(max_examples=max(20, N // 3), **SETTINGS)
    @given(st.data())
    def check(data):
        damaged = _damage(raw, data)
        path = tmp_path / f"damaged{src.suffix}"
        path.write_bytes(damaged)
        before = hashlib.sha256(damaged).hexdigest()
        _run_data(path, MAPPINGS.get(kind), data.draw(st.sampled_from(ESTIMATOR_CHOICES)))
        assert hashlib.sha256(path.read_bytes()).hexdigest() == before

    check()
    assert hashlib.sha256(src.read_bytes()).hexdigest() == digest


@settings(max_examples=max(20, N // 3), **SETTINGS)
@given(data=st.data())
def test_random_cell_values(tmp_path_factory, data):
    """Cell-level damage to the CSV: random values in random cells (text, huge, negative,
    blank), exercising the numeric, scale and covariance checks rather than the reader."""
    import pandas as pd

    df = pd.read_csv(SOURCES["csv"]).astype(object)
    for _ in range(data.draw(st.integers(1, 8))):
        r = data.draw(st.integers(0, len(df) - 1))
        c = data.draw(st.sampled_from(list(df.columns)))
        df.loc[r, c] = data.draw(st.one_of(
            st.sampled_from(["", "NA", "x", "8", "-1", "1e308", "4.5", "七", " 3 ", "inf"]),
            st.integers(-10, 20), st.floats(allow_nan=True, allow_infinity=True)))
    if data.draw(st.booleans()):
        col = data.draw(st.sampled_from(["q1", "q2", "q3", "q4", "q5", "q6"]))
        df[col] = data.draw(st.sampled_from([4, None, "a"]))
    path = tmp_path_factory.mktemp("cells") / "cells.csv"
    df.to_csv(path, index=False)
    before = path.read_bytes()
    _run_data(path, None, data.draw(st.sampled_from(ESTIMATOR_CHOICES)))
    assert path.read_bytes() == before


#: the tests that feed TALLY; the tally is judged once all of them have run, in any order
FUZZ_TESTS = {"test_parser_random_text", "test_parser_token_soup", "test_parser_mutated_model",
              "test_mutated_models_that_parse_also_fit", "test_damaged_data_files",
              "test_random_cell_values"}


@pytest.fixture(scope="module", autouse=True)
def tally_of_all_fuzz_cases(request):
    """After the module's last test, whatever the order (pytest-randomly shuffles it): how many
    fuzz cases ran and how they ended (unhandled: always 0 — any other exception fails the test
    that raised it).  The fuzzing must reach both ends: inputs that are refused and inputs that
    parse and fit, or it tests too little.  Judged only when every fuzz test was selected."""
    yield
    selected = {getattr(item, "originalname", item.name) for item in request.session.items
                if item.module is request.module}
    if not FUZZ_TESTS <= selected or request.session.testsfailed:
        return
    print(f"\nfuzz: {TALLY['tried']} cases tried, {TALLY['clean_error']} clean errors, "
          f"{TALLY['parsed'] + TALLY['result']} valid results, 0 unhandled exceptions")
    assert TALLY["clean_error"] > 0.05 * TALLY["tried"]
    assert TALLY["parsed"] > 0.05 * TALLY["tried"]       # the parser accepted some mutations
    assert TALLY["result"] > 0                           # damaged data that still fit
