"""Bootstrap inference for HTMT and HTMT2 with missing answers (Henseler, Ringle & Sarstedt
2015: discriminant validity holds when the upper end of the one-sided 95 % percentile interval
is below .85, or .90 liberally).

Reference: ``tests/fixtures/htmt_bootstrap/make_fixtures.R``: ``boot::boot`` resamples the
respondents of the MAR survey of ``tests/fixtures/measurement_missing`` (rows with their missing
answers) 2,000 times and ``semTools::htmt`` recomputes HTMT and HTMT2 from ``lavCor(missing =
"ml")`` (the EM correlations) in every draw; the fixture holds the 5th and 95th percentiles and
their Monte Carlo standard errors, sqrt(q(1 − q)/B)/f(x_q) with f a kernel density of the draws.

Tolerance: semcluster's 1,000 draws and R's 2,000 are independent samples of the same bootstrap
distribution, so their percentiles differ by Monte Carlo error alone, with standard error
sqrt(se_R² + se_py²), se_py = se_R·sqrt(2000/1000) (the same density); each end is checked
within 4 of those standard errors (about 0.02 here; a correct implementation fails one of the
12 checks with probability below 0.1 %, and the draws are seeded, so a run is repeatable).  The
point estimates are compared at 1e-6 (EM convergence of lavCor and of semcluster).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from semcluster.analysis import measurement
from semcluster.errors import OptionError

FIX = Path(__file__).parent / "fixtures"
REF = json.loads((FIX / "htmt_bootstrap" / "semtools_boot.json").read_text())
CSV = FIX / "measurement_missing" / "survey_mar.csv"
ITEMS = {f: [f"s{f[1].lower()}{i}" for i in range(1, 5)] for f in ("SA", "SB", "SC")}
B = 1000


@pytest.fixture(scope="module")
def data():
    return pd.read_csv(CSV)


@pytest.fixture(scope="module")
def boot(data):
    return measurement.htmt_bootstrap(data, ITEMS, n_boot=B, seed=20261208)


def test_the_reference_resamples_incomplete_rows(data):
    assert data.isna().any(axis=1).sum() > 100 and REF["n_boot"] == 2000
    assert "EM" in REF["resampling"]


def test_table_has_each_pair_and_kind_once(boot):
    assert list(boot.kind) == ["HTMT"] * 3 + ["HTMT2"] * 3
    assert list(zip(boot.construct_a, boot.construct_b))[:3] == [("SB", "SA"), ("SC", "SA"),
                                                                 ("SC", "SB")]
    assert (boot.n_boot == B).all()
    assert (boot.ci_lower < boot.estimate).all() and (boot.estimate < boot.ci_upper).all()


@pytest.mark.parametrize("kind", ["HTMT", "HTMT2"])
def test_percentile_ends_agree_with_boot_and_semtools_within_monte_carlo_error(boot, kind):
    for r in boot[boot.kind == kind].itertuples():
        ref = REF[kind.lower()][f"{r.construct_a}-{r.construct_b}"]
        assert r.estimate == pytest.approx(ref["estimate"], abs=1e-6)
        for end, q, se in (("ci_lower", "q05", "mc_se_q05"), ("ci_upper", "q95", "mc_se_q95")):
            tol = 4 * ref[se] * np.sqrt(1 + 2000 / B)
            assert abs(getattr(r, end) - ref[q]) < tol, (kind, r.construct_a, r.construct_b,
                                                         end, getattr(r, end), ref[q], tol)


def test_point_estimates_equal_the_measurement_reports_htmt(boot, data):
    """The bootstrap's estimate column is the report's HTMT/HTMT2 (same EM correlations)."""
    S = measurement.em_covariance(data, [i for its in ITEMS.values() for i in its])
    for kind, h in (("HTMT", measurement.htmt_of_matrix(S, ITEMS)),
                    ("HTMT2", measurement.htmt_of_matrix(S, ITEMS, htmt2=True))):
        for r in boot[boot.kind == kind].itertuples():
            assert r.estimate == pytest.approx(h.loc[r.construct_a, r.construct_b], abs=1e-9)


def test_verdict_is_the_upper_end_below_the_threshold_on_both_sides(data):
    """passes_* says ci_upper < threshold: thresholds just above and just below each upper end
    flip the verdict (the same seed gives the same draws)."""
    kw = dict(n_boot=50, seed=3)
    base = measurement.htmt_bootstrap(data, ITEMS, **kw)
    hi = float(base.ci_upper.iloc[0])
    above = measurement.htmt_bootstrap(data, ITEMS, thresholds={"htmt_strict": hi + 1e-9,
                                                                "htmt_liberal": hi + 1e-9},
                                       **kw)
    below = measurement.htmt_bootstrap(data, ITEMS, thresholds={"htmt_strict": hi - 1e-9,
                                                                "htmt_liberal": hi},
                                       **kw)
    assert above.passes_strict.iloc[0] and above.passes_liberal.iloc[0]
    assert not below.passes_strict.iloc[0]
    assert not below.passes_liberal.iloc[0]          # at the threshold is not below it
    assert (base.threshold_strict == 0.85).all() and (base.threshold_liberal == 0.90).all()
    assert base.passes_strict.all()                   # the fixture's scales are distinct


def test_two_scales_of_one_construct_fail_the_check():
    """Two scales of (almost) the same factor: the HTMT's upper end is above .90, so both
    checks fail; a distinct third scale passes."""
    rng = np.random.default_rng(11)
    n = 250
    eta = rng.standard_normal(n)
    other = 0.3 * eta + np.sqrt(1 - 0.09) * rng.standard_normal(n)
    cols = {}
    for name, f in (("a", eta), ("b", eta), ("c", other)):
        for i in range(3):
            cols[f"{name}{i}"] = 0.8 * f + 0.6 * rng.standard_normal(n)
    df = pd.DataFrame(cols)
    df.iloc[::9, 1] = np.nan                         # missing answers: EM per draw
    items = {k: [f"{k.lower()}{i}" for i in range(3)] for k in ("A", "B", "C")}
    b = measurement.htmt_bootstrap(df, items, n_boot=200, seed=5).set_index(
        ["kind", "construct_a", "construct_b"])
    ab = b.loc[("HTMT", "B", "A")]
    assert ab.ci_upper > 0.90 and not ab.passes_strict and not ab.passes_liberal
    ca = b.loc[("HTMT", "C", "A")]
    assert ca.ci_upper < 0.85 and ca.passes_strict and ca.passes_liberal


def test_draws_do_not_depend_on_the_number_of_workers(data):
    one = measurement.htmt_bootstrap(data, ITEMS, n_boot=20, seed=9, n_jobs=1)
    two = measurement.htmt_bootstrap(data, ITEMS, n_boot=20, seed=9, n_jobs=2)
    pd.testing.assert_frame_equal(one, two)
    other = measurement.htmt_bootstrap(data, ITEMS, n_boot=20, seed=10, n_jobs=1)
    assert not np.allclose(one.ci_upper, other.ci_upper)


def test_pairwise_correlations_are_recomputed_per_draw(data):
    """missing='pairwise' (a WLSMV fit's rule): the estimate is the HTMT of the pairwise
    correlations, which differs from the EM one on these incomplete data."""
    allitems = [i for its in ITEMS.values() for i in its]
    pw = measurement.htmt_bootstrap(data, ITEMS, n_boot=20, seed=1, missing="pairwise")
    want = measurement.htmt_of_matrix(data[allitems].corr(), ITEMS)
    em = measurement.htmt_bootstrap(data, ITEMS, n_boot=20, seed=1)
    assert pw.estimate.iloc[0] == pytest.approx(want.loc["SB", "SA"], abs=1e-12)
    assert abs(pw.estimate.iloc[0] - em.estimate.iloc[0]) > 1e-4


@pytest.mark.parametrize("kw, match", [({"missing": "listwise"}, "missing must be"),
                                       ({"n_boot": 3}, "n_boot"),
                                       ({"level": 1.5}, "level")])
def test_bad_options_are_refused_in_one_line(data, kw, match):
    with pytest.raises(Exception, match=match) as info:
        measurement.htmt_bootstrap(data, ITEMS, **kw)
    assert "\n" not in str(info.value)


def test_one_construct_is_refused(data):
    with pytest.raises(OptionError, match="two constructs"):
        measurement.htmt_bootstrap(data, {"SA": ITEMS["SA"]}, n_boot=10)


def test_measure_command_prints_the_htmt_inference(tmp_path, capsys):
    from semcluster.cli import main

    model = tmp_path / "scales.lav"
    model.write_text("".join(f"{f} =~ {' + '.join(its)}\n" for f, its in ITEMS.items()))
    out = tmp_path / "out"
    rc = main(["measure", str(model), "--data", str(CSV), "--parallel-iter", "10",
               "--htmt-ci", "--n-boot", "30", "--seed", "4", "--jobs", "1", "--out", str(out)])
    printed = capsys.readouterr().out
    assert rc == 0 and "HTMT inference" in printed and "30 resamples" in printed
    table = pd.read_csv(out / "htmt_bootstrap.csv")
    lib = measurement.htmt_bootstrap(pd.read_csv(CSV), ITEMS, n_boot=30, seed=4)
    np.testing.assert_allclose(table.ci_upper, lib.ci_upper, rtol=1e-12)
