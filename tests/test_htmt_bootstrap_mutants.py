"""Fast checks of the HTMT bootstrap's arithmetic (the mutation-test subset of
``htmt_bootstrap`` and its helpers; the Monte Carlo comparison with R is in
test_htmt_bootstrap.py).

* point estimates: every pair, HTMT and HTMT2, equal semTools' ``htmt(missing = "ml")`` on the
  MAR survey (``tests/fixtures/measurement_missing/semtools.json``; 2e-6, lavCor's EM stop);
* the draws: rebuilt here from the documented rule (``SeedSequence(seed).spawn(n_boot)``, one
  ``default_rng(child).integers(0, N, N)`` row draw each, EM correlations of the drawn rows,
  HTMT by the semTools-checked :func:`htmt_of_matrix`) and their percentiles taken with
  ``numpy.quantile``: the table's ends equal them (1e-9);
* the verdict on both sides of each threshold, strict and liberal apart.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from semcluster.analysis import measurement
from semcluster.errors import OptionError

FIX = Path(__file__).parent / "fixtures" / "measurement_missing"
REF = json.loads((FIX / "semtools.json").read_text())
ITEMS = {f: [f"s{f[1].lower()}{i}" for i in range(1, 5)] for f in ("SA", "SB", "SC")}
ALL = [i for its in ITEMS.values() for i in its]
PAIRS = [("SB", "SA"), ("SC", "SA"), ("SC", "SB")]


@pytest.fixture(scope="module")
def data():
    return pd.read_csv(FIX / "survey_mar.csv")


def _ref(kind):
    f = REF["fiml"]["factors"]
    return pd.DataFrame(np.array(REF["fiml"][kind]), index=f, columns=f)


def _by_hand(data, n_boot, seed, level, complete=False, skip=()):
    """The percentile ends of the documented draws (``complete``: plain/pairwise Pearson
    correlations; ``skip``: draws left out, by position)."""
    X = data[ALL].to_numpy(dtype=float)
    n = len(X)
    rows = {"HTMT": [], "HTMT2": []}
    for k, child in enumerate(np.random.SeedSequence(seed).spawn(n_boot)):
        d = pd.DataFrame(X[np.random.default_rng(child).integers(0, n, n)], columns=ALL)
        if k in skip:
            continue
        R = d.corr() if complete else measurement.em_covariance(d, ALL)
        for kind, h2 in (("HTMT", False), ("HTMT2", True)):
            H = measurement.htmt_of_matrix(R, ITEMS, htmt2=h2)
            rows[kind].append([H.loc[a, b] for a, b in PAIRS])
    return {k: np.quantile(np.array(v), [1 - level, level], axis=0) for k, v in rows.items()}


def test_table_layout(data):
    b = measurement.htmt_bootstrap(data, ITEMS, n_boot=10, seed=1)
    assert list(b.columns) == ["construct_a", "construct_b", "kind", "estimate", "ci_lower",
                               "ci_upper", "n_boot", "threshold_strict", "passes_strict",
                               "threshold_liberal", "passes_liberal"]
    assert list(b.kind) == ["HTMT"] * 3 + ["HTMT2"] * 3
    assert list(zip(b.construct_a, b.construct_b)) == PAIRS * 2
    assert (b.n_boot == 10).all()
    assert (b.threshold_strict == 0.85).all() and (b.threshold_liberal == 0.90).all()


def test_estimates_equal_semtools_on_the_em_correlations(data):
    b = measurement.htmt_bootstrap(data, ITEMS, n_boot=10, seed=1)
    for kind, ref in (("HTMT", _ref("htmt")), ("HTMT2", _ref("htmt2"))):
        got = b[b.kind == kind]
        for r in got.itertuples():
            assert abs(r.estimate - ref.loc[r.construct_a, r.construct_b]) < 2e-6


@pytest.mark.parametrize("level", [0.95, 0.90])
def test_percentile_ends_are_those_of_the_documented_draws(data, level):
    b = measurement.htmt_bootstrap(data, ITEMS, n_boot=12, seed=4, level=level)
    want = _by_hand(data, 12, 4, level)
    for kind in ("HTMT", "HTMT2"):
        got = b[b.kind == kind]
        np.testing.assert_allclose(got.ci_lower, want[kind][0], rtol=0, atol=1e-9)
        np.testing.assert_allclose(got.ci_upper, want[kind][1], rtol=0, atol=1e-9)


def test_complete_rows_use_the_plain_correlations(data):
    full = data.dropna().reset_index(drop=True)
    b = measurement.htmt_bootstrap(full, ITEMS, n_boot=10, seed=2)
    want = measurement.htmt_of_matrix(full[ALL].corr(), ITEMS)
    want2 = measurement.htmt_of_matrix(full[ALL].corr(), ITEMS, htmt2=True)
    for r in b.itertuples():
        w = want if r.kind == "HTMT" else want2
        assert abs(r.estimate - w.loc[r.construct_a, r.construct_b]) < 1e-12
    hand = _by_hand(full, 10, 2, 0.95, complete=True)
    np.testing.assert_allclose(b[b.kind == "HTMT"].ci_upper, hand["HTMT"][1], atol=1e-12)
    np.testing.assert_allclose(b[b.kind == "HTMT2"].ci_lower, hand["HTMT2"][0], atol=1e-12)


def test_pairwise_rule_uses_pairwise_correlations_in_every_draw(data):
    b = measurement.htmt_bootstrap(data, ITEMS, n_boot=10, seed=2, missing="pairwise")
    want = measurement.htmt_of_matrix(data[ALL].corr(), ITEMS, htmt2=True)
    for r in b[b.kind == "HTMT2"].itertuples():
        assert abs(r.estimate - want.loc[r.construct_a, r.construct_b]) < 1e-12
    hand = _by_hand(data, 10, 2, 0.95, complete=True)       # pandas corr: pairwise rows
    for kind in ("HTMT", "HTMT2"):
        got = b[b.kind == kind]
        np.testing.assert_allclose(got.ci_lower, hand[kind][0], atol=1e-12)
        np.testing.assert_allclose(got.ci_upper, hand[kind][1], atol=1e-12)


def test_a_failed_draw_is_left_out_and_counted(data, monkeypatch):
    """A draw whose correlations cannot be computed counts as failed: ``n_boot`` is the
    number of draws used and the ends are those of the others."""
    real = measurement._correlations
    calls = []

    def failing(X, method):
        calls.append(1)
        if len(calls) in (3, 6):          # call 1 is the full sample; draws 2 and 5 fail
            raise np.linalg.LinAlgError("planted failure")
        return real(X, method)

    monkeypatch.setattr(measurement, "_correlations", failing)
    b = measurement.htmt_bootstrap(data, ITEMS, n_boot=10, seed=7)
    monkeypatch.setattr(measurement, "_correlations", real)
    assert (b.n_boot == 8).all() and len(calls) == 11
    hand = _by_hand(data, 10, 7, 0.95, skip=(1, 4))
    for kind in ("HTMT", "HTMT2"):
        got = b[b.kind == kind]
        np.testing.assert_allclose(got.ci_lower, hand[kind][0], atol=1e-9)
        np.testing.assert_allclose(got.ci_upper, hand[kind][1], atol=1e-9)


def test_rows_without_any_answer_are_left_out(data):
    """A respondent who answered nothing adds nothing (EM uses rows with an answer)."""
    blank = pd.concat([data, pd.DataFrame(np.nan, index=range(5), columns=data.columns)],
                      ignore_index=True)
    a = measurement.htmt_bootstrap(data, ITEMS, n_boot=10, seed=3)
    b = measurement.htmt_bootstrap(blank, ITEMS, n_boot=10, seed=3)
    pd.testing.assert_frame_equal(a, b)


@pytest.mark.parametrize("which", ["htmt_strict", "htmt_liberal"])
def test_each_verdict_flips_at_its_own_threshold(data, which):
    base = measurement.htmt_bootstrap(data, ITEMS, n_boot=10, seed=6)
    hi = float(base.ci_upper.iloc[2])
    col = "passes_strict" if which == "htmt_strict" else "passes_liberal"
    other = "passes_liberal" if which == "htmt_strict" else "passes_strict"
    above = measurement.htmt_bootstrap(data, ITEMS, n_boot=10, seed=6,
                                       thresholds={which: hi + 1e-12})
    at = measurement.htmt_bootstrap(data, ITEMS, n_boot=10, seed=6, thresholds={which: hi})
    assert above[col].iloc[2] and not at[col].iloc[2]
    assert above[other].iloc[2] and at[other].iloc[2]        # the other check is untouched
    assert at[f"threshold_{which.split('_')[1]}"].iloc[2] == hi


def test_refusals(data):
    with pytest.raises(OptionError, match="missing must be"):
        measurement.htmt_bootstrap(data, ITEMS, n_boot=10, missing="ml")
    with pytest.raises(OptionError, match="two constructs"):
        measurement.htmt_bootstrap(data, {"SA": ITEMS["SA"]}, n_boot=10)


def test_no_usable_draw_gives_no_interval_and_no_pass(data, monkeypatch):
    real = measurement._correlations
    calls = []

    def only_the_full_sample(X, method):
        calls.append(1)
        if len(calls) > 1:
            raise np.linalg.LinAlgError("planted failure")
        return real(X, method)

    monkeypatch.setattr(measurement, "_correlations", only_the_full_sample)
    b = measurement.htmt_bootstrap(data, ITEMS, n_boot=10, seed=7)
    assert (b.n_boot == 0).all() and b.ci_lower.isna().all() and b.ci_upper.isna().all()
    assert not b.passes_strict.any() and not b.passes_liberal.any()
    assert b.estimate.notna().all()


@pytest.mark.parametrize("jobs, progress", [(1, False), (3, True)])
def test_workers_and_progress_bar_are_passed_to_the_replicate_runner(data, monkeypatch, jobs,
                                                                     progress):
    """--jobs and the progress bar reach the runner (the draws themselves do not depend on
    them: each has its own seed), and the bar is named."""
    import semcluster.analysis.parallel as par

    seen = {}
    real = par.run_replicates

    def recorder(fn, common, seeds, **kw):
        seen.update(kw, n_seeds=len(seeds))
        return real(fn, common, seeds, n_jobs=1)

    monkeypatch.setattr(par, "run_replicates", recorder)
    measurement.htmt_bootstrap(data, ITEMS, n_boot=10, seed=1, n_jobs=jobs, progress=progress)
    assert seen == {"n_jobs": jobs, "progress": progress, "desc": "HTMT bootstrap",
                    "n_seeds": 10}
