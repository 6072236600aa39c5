"""``semcluster fit``: output, JSON contract, and clean failures on bad input."""
from __future__ import annotations

import hashlib
import json
import subprocess
import sys

import pytest

from lavaan_reference import load
from semcluster.cli import main
from semcluster.resources import data_path

HS = str(data_path("holzinger_swineford_1939.csv"))
HS_MODEL = "visual =~ x1 + x2 + x3\ntextual =~ x4 + x5 + x6\nspeed =~ x7 + x8 + x9\n"
JSON_KEYS = {"converged", "admissible", "warnings", "nobs", "fit_measures", "estimates", "r2"}
FIT_KEYS = {"npar", "chisq", "df", "pvalue", "baseline_chisq", "baseline_df", "cfi", "tli",
            "rmsea", "rmsea_ci_lower", "rmsea_ci_upper", "rmsea_pvalue", "srmr", "gfi", "agfi",
            "nfi", "logl", "unrestricted_logl", "aic", "bic", "bic2"}
EST_KEYS = {"lhs", "op", "rhs", "label", "est", "se", "z", "pvalue", "ci_lower", "ci_upper",
            "std_all"}


def sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_fit_hs39_json_matches_lavaan(tmp_path, capsys):
    model = tmp_path / "hs.lav"
    model.write_text(HS_MODEL)
    out = tmp_path / "res.json"
    assert main(["fit", str(model), "--data", HS, "--json", str(out), "--standardized"]) == 0
    text = capsys.readouterr().out
    assert "Latent Variables:" in text and "R-Square:" in text and "RMSEA" in text
    d = json.loads(out.read_text())
    assert JSON_KEYS <= set(d)
    assert FIT_KEYS <= set(d["fit_measures"])
    assert all(EST_KEYS <= set(e) for e in d["estimates"])
    ref = load("hs39_cfa")["fit_measures"]
    tol = {"chisq": 1e-3 * ref["chisq"], "logl": 0.01, "unrestricted_logl": 0.01, "aic": 0.01,
           "bic": 0.01, "bic2": 0.01, "rmsea_ci_lower": 2e-3, "rmsea_ci_upper": 2e-3,
           "baseline_chisq": 1e-3 * ref["baseline_chisq"]}
    for k in FIT_KEYS:
        assert d["fit_measures"][k] == pytest.approx(ref[k], abs=tol.get(k, 1e-3)), k


BAD_MODELS = {
    "unknown_variable.lav": ("visual =~ x1 + x2 + nosuch\n", "nosuch"),
    "bad_operator.lav": ("visual =~ x1 + x2 + x3\nvisual <- x4\n", "bad_operator.lav:2:"),
    "unbalanced.lav": ("visual =~ x1 + x2 + x3\nspeed =~ x7 + (x8 + x9\n", "unbalanced.lav:2:"),
    "dangling_plus.lav": ("visual =~ x1 + x2 +\n", "dangling_plus.lav:1:"),
}


@pytest.mark.parametrize("name", list(BAD_MODELS))
def test_bad_model_file_exit_2_one_line(tmp_path, capsys, name):
    text, where = BAD_MODELS[name]
    model = tmp_path / name
    model.write_text(text)
    before = sha(model)
    assert main(["fit", str(model), "--data", HS]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("semcluster: error:")
    assert where in err
    assert sha(model) == before


def test_missing_column_exit_2(tmp_path, capsys):
    data = tmp_path / "d.csv"
    data.write_text("x1,x2\n1,2\n3,4\n2,2\n")
    model = tmp_path / "m.lav"
    model.write_text(HS_MODEL)
    assert main(["fit", str(model), "--data", str(data)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "x3" in err


def test_json_never_overwrites_input(tmp_path, capsys):
    model = tmp_path / "m.lav"
    model.write_text(HS_MODEL)
    before = sha(model)
    assert main(["fit", str(model), "--data", HS, "--json", str(model)]) == 2
    assert sha(model) == before


def test_real_entry_point_no_traceback(tmp_path):
    """The installed console script: exit code 2 and no traceback for a broken model."""
    model = tmp_path / "m.lav"
    model.write_text("visual =~ x1 + x2 + x3\nvisual ~ ~ x4\n")
    p = subprocess.run([sys.executable, "-m", "semcluster", "fit", str(model), "--data", HS],
                       capture_output=True, text=True)
    assert p.returncode == 2
    assert "Traceback" not in p.stderr and str(model) in p.stderr


def test_help_lists_fit():
    p = subprocess.run([sys.executable, "-m", "semcluster", "--help"], capture_output=True,
                       text=True)
    assert p.returncode == 0 and "fit" in p.stdout


def test_fit_that_does_not_converge_exits_3(monkeypatch, capsys):
    """A non-converged fit is neither success (0) nor bad input (2): exit status 3, with one
    message that says it did not converge and nothing that says it did."""
    import functools

    from semcluster.cli import EXIT_NOT_CONVERGED
    from semcluster.estimation.engine import MLEngine

    original = MLEngine.fit
    monkeypatch.setattr(MLEngine, "fit", functools.partialmethod(
        original, max_scoring=1, max_slsqp=1, max_quasi_newton=1))
    assert main(["fit", "h1_h5"]) == EXIT_NOT_CONVERGED == 3
    captured = capsys.readouterr()
    assert "did not converge" in captured.err
    text = (captured.out + captured.err).lower()
    assert "terminated successfully" not in text and "converged (max" not in text
