"""Convergence corpus: semcluster's optimizer against lavaan on 33 hard and easy data sets.

The data sets (tests/fixtures/convergence/data, made by make_data.py there) are simulated from
the study model models/h1_h5.lav: regular ones, near-Heywood ones (one item with a loading of
.97-.99, often pushed beyond 1 so that the ML optimum has a negative residual variance),
collinear ones (exogenous latent correlations .85-.95), with and without 5-10 % of answers
missing at random.  Each was fitted by lavaan 0.6.14 (make_fixtures.R there):

    sem(model, data, estimator = "ML")                    # complete data
    sem(model, data, estimator = "ML", missing = "ml")    # FIML when answers are blank

For every set where lavaan converged, semcluster must converge too, reach lavaan's χ² within
0.1 % (relative) and agree with lavaan's ``lavInspect(fit, "post.check")`` on admissibility.
Fit times (the issue's criterion: no fit above 10 × the corpus median) are measured in
benchmarks/bench_convergence.py against lavaan in the same run, not here: timed unit tests
fail on a busy machine for reasons that are not the code's.

``python tests/test_convergence_corpus.py`` prints the whole comparison table and the median.
"""
from __future__ import annotations

import functools
import json
import time
from pathlib import Path

import pandas as pd
import pytest

import semcluster

ROOT = Path(__file__).resolve().parents[1]
HERE = Path(__file__).resolve().parent / "fixtures" / "convergence"
MODEL = ROOT / "models" / "h1_h5.lav"
SETS = sorted(p.stem for p in (HERE / "data").glob("*.csv"))
CHISQ_RTOL = 1e-3          # 0.1 % relative

# FIML sets that do not reach lavaan's optimum are listed here and reported as expected
# failures without running them. Empty since FIML takes Newton steps on the analytic observed
# information and restarts from the simple start values when the path from the ML start runs
# along a ridge: both_n150_s33_m08 and heywood_lo_n120_s19_m07 (once 0.4-0.5 % above lavaan's
# chi-square after 500 Fisher-scoring steps) now reach it to 1e-10.
FIML_STALLS: set = set()


def _cases():
    for s in SETS:
        if s in FIML_STALLS:
            yield pytest.param(s, marks=pytest.mark.xfail(
                run=False, strict=True, reason="FIML stalls short of lavaan's inadmissible "
                                               "optimum (open: one estimation core)"))
        else:
            yield s


def lavaan(name: str) -> dict:
    return json.loads((HERE / "lavaan" / f"{name}.json").read_text())


@functools.lru_cache(maxsize=None)
def _warm_up() -> None:
    # imports and first-call costs (semopy, scipy) must not count as one set's fit time
    semcluster.fit(str(MODEL), pd.read_csv(HERE / "data" / "regular_n160_s3.csv"))


@functools.lru_cache(maxsize=None)
def semcluster_fit(name: str) -> dict:
    """Fit one set once per test session; time it with perf_counter."""
    _warm_up()
    data = pd.read_csv(HERE / "data" / f"{name}.csv")
    has_missing = bool(data.isna().to_numpy().any())
    kwargs = {"missing": "fiml"} if has_missing else {}
    t0 = time.perf_counter()
    try:
        res = semcluster.fit(str(MODEL), data, **kwargs)
        error = None
    except Exception as exc:                      # reported, and the set's test fails
        res, error = None, f"{type(exc).__name__}: {exc}"
    seconds = time.perf_counter() - t0
    out = {"seconds": seconds, "error": error, "missing": "fiml" if has_missing else "default"}
    if res is not None:
        out.update(converged=bool(res.converged), admissible=bool(res.admissible),
                   chisq=float(res.fit_measures["chisq"]),
                   optimizer=str(res.info.get("optimizer", "")),
                   warnings=list(res.warnings))
    return out


def test_corpus_size():
    assert len(SETS) >= 30
    assert all((HERE / "lavaan" / f"{s}.json").exists() for s in SETS)


@pytest.mark.parametrize("name", list(_cases()))
def test_agrees_with_lavaan(name):
    ref = lavaan(name)
    got = semcluster_fit(name)
    assert got["error"] is None, f"{name}: semcluster.fit raised {got['error']}"
    if not ref["converged"]:
        pytest.skip(f"{name}: lavaan did not converge ({ref['iterations']} iterations); "
                    f"nothing to compare")
    assert got["converged"], (f"{name}: lavaan converged (χ² {ref['chisq']:.4f}) but semcluster "
                              f"did not: optimizer says {got['optimizer']!r}")
    rel = abs(got["chisq"] - ref["chisq"]) / ref["chisq"]
    assert rel <= CHISQ_RTOL, (f"{name}: χ² {got['chisq']:.4f} vs lavaan {ref['chisq']:.4f} "
                               f"(relative difference {rel:.2e})")
    assert got["admissible"] == ref["admissible"], (
        f"{name}: semcluster admissible={got['admissible']} but lavaan post.check="
        f"{ref['admissible']} (lavaan negative variances {ref['negative_variances']}; "
        f"semcluster warnings {got['warnings']})")


def table() -> pd.DataFrame:
    rows = []
    for name in SETS:
        ref, got = lavaan(name), semcluster_fit(name)
        rows.append({
            "set": name, "missing": got["missing"],
            "lavaan_chisq": ref["chisq"], "semcluster_chisq": got.get("chisq"),
            "lavaan_conv": ref["converged"], "semcluster_conv": got.get("converged"),
            "lavaan_adm": ref["admissible"], "semcluster_adm": got.get("admissible"),
            "lavaan_neg": ",".join(ref["negative_variances"]) or "",
            "seconds": round(got["seconds"], 3),
            "optimizer": got.get("optimizer") or got["error"]})
    return pd.DataFrame(rows)


if __name__ == "__main__":
    pd.set_option("display.width", 250)
    pd.set_option("display.max_colwidth", 60)
    t = table()
    print(t.to_string(index=False))
    print(f"median fit time {t.seconds.median():.3f} s; max {t.seconds.max():.3f} s")
