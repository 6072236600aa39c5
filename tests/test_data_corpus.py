"""The bad-input corpus (tests/bad_inputs/, described by cases.yaml): every malformed data,
mapping and model file ends in the SemclusterError its case names (or, where fitting can go on,
in a result), never in another exception; the CLI exits with code 2 and a one-line message; and
no input file is changed.
"""
from __future__ import annotations

import hashlib
import warnings
from pathlib import Path

import pytest
import yaml

import semcluster.errors as errors
from semcluster.cli import main
from semcluster.errors import SemclusterError, SemclusterWarning

CORPUS = Path(__file__).parent / "bad_inputs"
CASES = yaml.safe_load((CORPUS / "cases.yaml").read_text(encoding="utf-8"))


def _digest_all() -> dict:
    return {str(p): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(CORPUS.rglob("*")) if p.is_file()}


def run_case(c: dict):
    """Model + data (+ mapping) through the library, as `semcluster fit` would run them.

    Returns ("result", SEMResult, warnings) or ("error", exception, warnings).
    """
    from semcluster.data.survey import load_data, prepare_data
    from semcluster.fitting import fit
    from semcluster.spec.parser import read_model

    model = str(CORPUS / c["model"])
    data = CORPUS / c["data"]
    mapping = CORPUS / c["mapping"] if c.get("mapping") else None
    missing = c.get("missing", "listwise")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", SemclusterWarning)
        try:
            spec = read_model(model)
            df = load_data(data, mapping=mapping)
            if missing == "fiml":
                from semcluster.estimation import fiml

                X, report = prepare_data(df, spec.observed, missing="fiml")
                res = fiml.fit(spec, X, report=report)
            else:
                res = fit(spec, df, missing=missing)
            out = ("result", res)
        except SemclusterError as exc:
            out = ("error", exc)
    msgs = [str(w.message) for w in caught if issubclass(w.category, SemclusterWarning)]
    return out + (msgs,)


def test_corpus_is_large_enough():
    files = [p for p in CORPUS.rglob("*") if p.is_file() and p.suffix not in (".py", ".yaml")
             or p.parent.name == "data" and p.suffix == ".yaml"]
    malformed = [c for c in CASES if c["expect"] == "error"]
    assert len(malformed) >= 30
    assert len(files) >= 30


@pytest.fixture(scope="module")
def outcomes():
    before = _digest_all()
    results = {c["name"]: run_case(c) for c in CASES}
    after = _digest_all()
    return results, before, after


@pytest.mark.parametrize("c", CASES, ids=[c["name"] for c in CASES])
def test_case(c, outcomes):
    results, _, _ = outcomes
    kind, value, msgs = results[c["name"]]
    if c["expect"] == "error":
        assert kind == "error", f"expected {c['error']}, got a result"
        expected = getattr(errors, c["error"])
        assert isinstance(value, expected), f"{type(value).__name__}: {value}"
        text = str(value)
        assert "\n" not in text, "error messages are one line"
        if c.get("match"):
            assert c["match"] in text, text
    else:
        assert kind == "result", f"expected a result, got {type(value).__name__}: {value}"
        assert value.nobs > 0
        if c.get("warning"):
            assert any(c["warning"] in m for m in msgs), msgs


def test_inputs_unchanged(outcomes):
    _, before, after = outcomes
    assert before == after


def test_counts(outcomes):
    """The tally the issue asks for: cases tried, clean errors, unhandled exceptions (0: any
    other exception fails the `outcomes` fixture), and agreement with cases.yaml."""
    results, _, _ = outcomes
    n_err = sum(1 for k, *_ in results.values() if k == "error")
    n_res = sum(1 for k, *_ in results.values() if k == "result")
    print(f"\ncorpus: {len(results)} cases, {n_err} clean errors, {n_res} results, "
          f"0 unhandled exceptions")
    assert n_err == sum(1 for c in CASES if c["expect"] == "error")
    assert n_res == sum(1 for c in CASES if c["expect"] == "result")


CLI_CASES = [c for c in CASES if not c.get("mapping") and c.get("missing", "listwise") ==
             "listwise"]


@pytest.mark.parametrize("c", CLI_CASES, ids=[c["name"] for c in CLI_CASES])
def test_cli_exit_code(c, capsys):
    code = main(["fit", str(CORPUS / c["model"]), "--data", str(CORPUS / c["data"]),
                 "--missing", c.get("missing", "listwise")])
    err = capsys.readouterr().err
    if c["expect"] == "error":
        assert code == 2
        lines = [ln for ln in err.splitlines() if ln.startswith("semcluster: error:")]
        assert len(lines) == 1 and "Traceback" not in err
    else:
        assert code == 0
