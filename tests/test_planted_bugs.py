"""The suite notices the bugs SEM code most often has.

Each case plants one small, realistic bug in a copy of the package (the source text is replaced
in a temporary folder; the checkout is never touched) and runs the tests that should notice it
in a child process: the run must fail. The list is the one of the issue "Tests that catch the
bugs that matter", where each of these was shown to pass the suite of the time unnoticed or
barely noticed.

If a planted line can no longer be found (the code moved), the case fails with that message:
point it at the new place rather than deleting it.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent
SRC = ROOT / "src" / "semcluster"

AGREE_HS = "tests/test_agreement_lavaan.py::test_case_matches_lavaan[hs39_cfa]"
AGREE_STUDY = "tests/test_agreement_lavaan.py::test_case_matches_lavaan[study_h1_h5]"

# (id, file under src/semcluster, text as it is, text with the bug, tests that must fail)
PLANTED = [
    ("ml_rmsea_n_minus_1", "measures/fitmeasures.py",
     "return float(np.sqrt(groups * max(X2 / n / df - c / n, 0.0))) if df > 0 else 0.0",
     "return float(np.sqrt(groups * max(X2 / (n - 1) / df - c / (n - 1), 0.0))) if df > 0 "
     "else 0.0",
     [AGREE_HS]),
    ("wlsmv_rmsea_n_not_n_minus_1", "estimation/wlsmv.py",
     "    n_ls = n - 1\n    values = chisq_measures(",
     "    n_ls = n\n    values = chisq_measures(",
     ["tests/test_estimators.py::test_wlsmv_hs39_ordinal_matches_lavaan"]),
    ("se_information_n_minus_1", "estimation/engine.py",
     "return self.n / 2 * H",
     "return (self.n - 1) / 2 * H",
     [AGREE_HS]),
    ("srmr_without_diagonal", "measures/fitmeasures.py",
     "    r, c = np.tril_indices(p)\n    v_obs",
     "    r, c = np.tril_indices(p, -1)\n    v_obs",
     [AGREE_HS]),
    ("std_all_covariance_sign", "model/standardized.py",
     "std_all[:, is_cov] = vals[:, is_cov] / np.sqrt(ri * rj)",
     "std_all[:, is_cov] = -vals[:, is_cov] / np.sqrt(ri * rj)",
     [AGREE_HS]),
    ("htmt_arithmetic_mean_denominator", "analysis/measurement.py",
     "het / np.sqrt(mono[a] * mono[b])",
     "het / ((mono[a] + mono[b]) / 2)",
     ["tests/test_measurement.py"]),
    ("chisq_n_minus_1", "measures/fitmeasures.py",
     "chisq = n * fmin",
     "chisq = (n - 1) * fmin",
     [AGREE_HS]),
    ("bca_acceleration_sign", "analysis/bootstrap.py",
     "return num / den if den > 0 else 0.0",
     "return -num / den if den > 0 else 0.0",
     ["tests/test_references_bootstrap.py"]),
    ("ave_std_from_raw_loadings", "analysis/measurement.py",
     '"ave_std": float((lam["std_all"] ** 2).mean())',
     '"ave_std": float((lam["est"] ** 2).mean())',
     ["tests/test_references_measurement.py"]),
    ("interval_90_labelled_95", "analysis/bootstrap.py",
     "return tuple(_norm_inter(draws, [(1 - ci) / 2, (1 + ci) / 2]))",
     "return tuple(_norm_inter(draws, [(1.05 - ci) / 2, (ci + 0.95) / 2]))",
     ["tests/test_references_bootstrap.py"]),
]


def _planted_copy(tmp: Path, rel: str, old: str, new: str) -> Path:
    """A copy of the package (with its bundled models) with one line changed."""
    dst = tmp / "src" / "semcluster"
    shutil.copytree(SRC, dst, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "models", dst / "models",
                    ignore=shutil.ignore_patterns("__pycache__"))
    target = dst / rel
    text = target.read_text()
    n = text.count(old)
    assert n == 1, f"planted-bug anchor found {n} times in {rel}: {old!r} (code moved?)"
    target.write_text(text.replace(old, new))
    return tmp / "src"


@pytest.mark.parametrize("name,rel,old,new,tests", PLANTED, ids=[p[0] for p in PLANTED])
def test_planted_bug_is_caught(tmp_path, name, rel, old, new, tests):
    for t in tests:
        assert (ROOT / t.split("::")[0]).exists(), f"{t} does not exist"
    src = _planted_copy(tmp_path, rel, old, new)
    env = dict(os.environ, PYTHONPATH=str(src) + os.pathsep + str(ROOT / "tests"),
               OPENBLAS_NUM_THREADS="1", PYTHONDONTWRITEBYTECODE="1")
    # sanity: the child process imports the planted copy, not the checkout
    where = subprocess.run([sys.executable, "-c", "import semcluster; print(semcluster.__file__)"],
                           env=env, capture_output=True, text=True, cwd=ROOT)
    assert where.stdout.strip().startswith(str(src)), where.stdout + where.stderr
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider",
                          *tests], env=env, capture_output=True, text=True, cwd=ROOT)
    assert run.returncode == 1, (f"planted bug {name} went unnoticed (pytest exit "
                                 f"{run.returncode}):\n{run.stdout[-2000:]}")
