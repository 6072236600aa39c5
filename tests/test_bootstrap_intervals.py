"""Bootstrap interval code on draws whose intervals can be worked out by hand (found by
mutation testing, docs/mutation.md).

The refits are replaced by fixed draws (``run_replicates``, ``_Replicator``, ``_labels`` and
``_jackknife`` are swapped for stand-ins), so what is tested is only the arithmetic after the
replicates: percentile interval, bootstrap SE, p-value, BCa, Bollen-Stine p, the counts.

Hand rules used below:

* interval ends are quantiles of the draws taken as R's ``boot`` package takes them
  (``norm.inter``: order statistic (R + 1) q, interpolated on the normal-quantile scale), written
  out independently below as :func:`boot_norm_inter` (never semcluster's own ``_norm_inter``);
  for the draws ``a + k`` (k = 0..99) the 95 % interval is about (a + 1.5327, a + 97.4673), the
  90 % one about (a + 4.0392, a + 94.9608);
* their SD (ddof 1) is sqrt(100 * 101 / 12);
* p = min(1, 2 min(share <= 0, share >= 0));
* BCa (Efron & Tibshirani 1993, eq. 14.10-14.15; the same as scipy.stats.bootstrap's
  ``_bca_interval``): z0 = Phi^-1(share of draws below the estimate, ties counted half),
  a = sum (mean - jack_i)^3 / (6 [sum (mean - jack_i)^2]^1.5), the ends are the draws'
  ``norm.inter`` quantiles at Phi(z0 + (z0 + z)/(1 - a (z0 + z))), z = Phi^-1(0.025),
  Phi^-1(0.975) (boot's ``bca.ci``).
"""
from __future__ import annotations

import importlib
import math
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from scipy import stats

bs = importlib.import_module("semcluster.analysis.bootstrap")   # the package exports a function of that name
_bca = bs._bca

K = np.arange(100.0)


def boot_norm_inter(t, alpha):
    """Quantiles ``alpha`` of the draws ``t`` by R's ``boot:::norm.inter`` (boot, file
    R/bootfuns.q; Davison & Hinkley 1997, eq. 5.8), written out from its definition:

    * non-finite draws are dropped, R = number left, t(1) <= ... <= t(R) the order statistics;
    * rk = (R + 1) alpha, k = trunc(rk);
    * k == rk (whole):          t(k);
    * k == 0 / k == R:          t(1) / t(R)  (extreme order statistics as end points);
    * otherwise:                t(k) + (qnorm(alpha) - qnorm(k/(R+1)))
                                       / (qnorm((k+1)/(R+1)) - qnorm(k/(R+1))) * (t(k+1) - t(k)).

    The test oracle for the interval ends; it deliberately does not call semcluster.
    """
    t = np.sort(np.asarray(t, dtype=float)[np.isfinite(t)])
    R = len(t)

    def order_stat(j):                  # 1-based, as in R
        return t[j - 1]

    out = []
    for a in np.atleast_1d(np.asarray(alpha, dtype=float)):
        rk = (R + 1) * a
        k = math.trunc(rk)
        if k == 0:
            out.append(order_stat(1))
        elif k == R:
            out.append(order_stat(R))
        elif k == rk:
            out.append(order_stat(k))
        else:
            z = stats.norm.ppf(a)
            zk = stats.norm.ppf(k / (R + 1))
            zk1 = stats.norm.ppf((k + 1) / (R + 1))
            out.append(order_stat(k) + (z - zk) / (zk1 - zk) * (order_stat(k + 1) - order_stat(k)))
    return tuple(out)


def perc(t, ci):
    """boot's percentile interval (``perc.ci``): norm.inter at (1 -+ ci)/2."""
    return boot_norm_inter(t, [(1 - ci) / 2, (1 + ci) / 2])


def test_the_oracle_on_hand_cases():
    """boot_norm_inter itself, on cases worked out by hand from the definition."""
    t = np.arange(1.0, 100.0)                     # R = 99: t(j) = j
    assert boot_norm_inter(t, [0.05, 0.5]) == (5.0, 50.0)       # rk = 5, 50: whole
    assert boot_norm_inter(t, [0.001, 0.999]) == (1.0, 99.0)    # k = 0, k = R
    # R = 100, alpha = 0.025: rk = 2.525, between t(2) and t(3) on the normal scale
    w = ((stats.norm.ppf(0.025) - stats.norm.ppf(2 / 101))
         / (stats.norm.ppf(3 / 101) - stats.norm.ppf(2 / 101)))
    assert 0 < w < 1
    assert boot_norm_inter(K, 0.025)[0] == pytest.approx(1 + w, abs=1e-14)
    # unsorted input, NaN dropped
    assert boot_norm_inter(np.r_[np.nan, K[::-1]], 0.025) == boot_norm_inter(K, 0.025)


# ---------------------------------------------------------------------------------------------
# _bca on its own
# ---------------------------------------------------------------------------------------------
def test_bca_is_the_percentile_interval_without_bias_or_skew():
    """Estimate 49.5 in the middle of 0..99 (z0 = Phi^-1(0.5) = 0), symmetric jackknife
    (a = 0): BCa = percentile (about (1.5327, 97.4673))."""
    lo, hi = _bca(49.5, K, np.array([-1.0, 0.0, 1.0]), 0.95)
    assert (lo, hi) == pytest.approx(perc(K, 0.95), abs=1e-12)


def test_bca_90_percent():
    lo, hi = _bca(49.5, K, np.array([-1.0, 0.0, 1.0]), 0.90)
    assert (lo, hi) == pytest.approx(perc(K, 0.90), abs=1e-12)
    assert perc(K, 0.90)[0] > perc(K, 0.95)[0] and perc(K, 0.90)[1] < perc(K, 0.95)[1]


def test_bca_bias_correction_counts_ties_half():
    """Estimate 84 among 0..99: 84 draws below, 1 equal: share 84.5/100, z0 = Phi^-1(0.845);
    a = 0 (jackknife constant: no spread, a is set to 0)."""
    z0 = stats.norm.ppf(0.845)
    q = stats.norm.cdf(2 * z0 + stats.norm.ppf([0.025, 0.975]))
    lo, hi = _bca(84.0, K, np.array([2.0, 2.0, 2.0, 2.0]), 0.95)
    assert (lo, hi) == pytest.approx(boot_norm_inter(K, q), abs=1e-9)
    # counting the tie fully (85/100) or not at all (84/100) moves the lower end (the upper
    # one is the largest draw, 99, in all three cases: (R + 1) q > R)
    assert hi == 99.0
    for share in (0.84, 0.85):
        z0 = stats.norm.ppf(share)
        other = boot_norm_inter(K, stats.norm.cdf(2 * z0 + stats.norm.ppf(0.025)))
        assert abs(lo - other[0]) > 1e-3


def test_bca_acceleration_sign():
    """Jackknife (0, 0, 0, 3) and a NaN (a failed leave-one-out refit, dropped): mean 0.75,
    mean - jack = (0.75, 0.75, 0.75, -2.25): sum of cubes 3(0.421875) - 11.390625 = -10.125,
    sum of squares 6.75, a = -10.125 / (6 * 6.75^1.5) = -0.096225; z0 = 0 (estimate 49.5).
    The ends are the norm.inter quantiles at Phi(z/(1 - a z))."""
    a = -10.125 / (6 * 6.75 ** 1.5)
    assert a == pytest.approx(-0.0962250, abs=1e-7)
    z = stats.norm.ppf([0.025, 0.975])
    expected = boot_norm_inter(K, stats.norm.cdf(z / (1 - a * z)))
    lo, hi = _bca(49.5, K, np.array([0.0, 0.0, 0.0, 3.0, np.nan]), 0.95)
    assert (lo, hi) == pytest.approx(expected, abs=1e-9)
    # a < 0 moves both ends down relative to the percentile interval
    p_lo, p_hi = perc(K, 0.95)
    assert lo < p_lo - 0.1 and hi < p_hi - 0.1


def test_bca_with_bias_and_acceleration_together():
    """Estimate 84 (z0 = Phi^-1(0.845)) and the jackknife above (a = -0.096225)."""
    a = -10.125 / (6 * 6.75 ** 1.5)
    z0 = stats.norm.ppf(0.845)
    z = stats.norm.ppf([0.025, 0.975])
    expected = boot_norm_inter(K, stats.norm.cdf(z0 + (z0 + z) / (1 - a * (z0 + z))))
    lo, hi = _bca(84.0, K, np.array([0.0, 0.0, 0.0, 3.0]), 0.95)
    assert (lo, hi) == pytest.approx(expected, abs=1e-9)


def test_bca_needs_ten_draws_and_an_estimate_inside_them():
    assert all(np.isnan(_bca(4.5, np.arange(9.0), np.array([-1.0, 1.0]), 0.95)))
    assert all(np.isfinite(_bca(4.5, np.arange(10.0), np.array([-1.0, 1.0]), 0.95)))
    assert all(np.isnan(_bca(np.nan, K, np.array([-1.0, 1.0]), 0.95)))
    # every draw above / below the estimate: z0 would be -inf / +inf
    assert all(np.isnan(_bca(-1.0, K, np.array([-1.0, 1.0]), 0.95)))
    assert all(np.isnan(_bca(100.0, K, np.array([-1.0, 1.0]), 0.95)))
    # NaN draws (failed replicates) are dropped: nine finite draws are too few
    d = np.r_[np.arange(9.0), np.nan, np.nan]
    assert all(np.isnan(_bca(4.5, d, np.array([-1.0, 1.0]), 0.95)))


def test_bca_estimate_on_the_lowest_draw():
    """Estimate 0 among 0..99: share = 0.5/100 (the tie counted half), still inside (0, 1).
    Both adjusted levels (about 6e-13 and 7e-4) give (R + 1) q < 1, so norm.inter takes the
    smallest draw for both ends: (0, 0)."""
    z0 = stats.norm.ppf(0.005)
    q = stats.norm.cdf(2 * z0 + stats.norm.ppf([0.025, 0.975]))
    assert np.all(101 * q < 1)
    lo, hi = _bca(0.0, K, np.array([1.0, 1.0]), 0.95)
    assert (lo, hi) == pytest.approx(boot_norm_inter(K, q), abs=1e-12)
    assert (lo, hi) == (0.0, 0.0)


# ---------------------------------------------------------------------------------------------
# the table built from the draws
# ---------------------------------------------------------------------------------------------
LABELS = [("y", "~", "a", "", "est", 1),      # 0: draws 0..99
          ("y", "~", "b", "", "est", 2),      # 1: draws -99..0
          ("y", "~", "c", "", "est", 3),      # 2: 40 x -1, 20 x 0, 40 x 1
          ("y", "r2", "y", "", "r2", 0),      # 3: R2, no p-value
          ("y", "~", "d", "", "std_all", 4),  # 4: constant: no interval
          ("y", "~", "e", "", "est", 5),      # 5: 1 + k 1e-4 (small spread)
          ("y", "~", "f", "", "est", 6)]      # 6: only two finite draws, 0 and 1
THETA = np.array([49.5, -49.5, 0.0, 0.5, 2.0, 1.00495, 0.5])


def _draw(k):
    two = {0: 0.0, 1: 1.0}.get(k, np.nan)
    c = -1.0 if k < 40 else (0.0 if k < 60 else 1.0)
    return np.array([k, -k, c, k / 100, 2.0, 1 + k * 1e-4, two], dtype=float)


def _outcomes():
    """100 admissible replicates (chi-square 1..100), 3 inadmissible ones (all draws and the
    chi-square 1e6) and 2 failed ones."""
    out = [(_draw(k), True, float(k + 1)) for k in range(100)]
    out += [(np.full(7, 1e6), False, 1e6)] * 3
    out += [(None, False, np.nan)] * 2
    return out


JACK = np.tile(np.array([[-1.0], [0.0], [1.0]]), (1, 7))     # symmetric: a = 0


@pytest.fixture
def fake(monkeypatch):
    state = {"labels": LABELS, "theta": THETA, "outcomes": _outcomes}

    class Rep:
        def __init__(self, spec, X, x_hat):
            pass

        def quantities(self, x):
            return state["theta"]

    calls = {"jackknife": 0}

    X_SENT, XHAT_SENT = np.zeros((1, 1)), np.zeros(1)

    def jackknife(rep, X, x_hat):
        # the jackknife refits the original rows from the full-sample estimates
        assert isinstance(rep, Rep) and X is X_SENT and x_hat is XHAT_SENT
        calls["jackknife"] += 1
        return JACK

    monkeypatch.setattr(bs, "_Replicator", Rep)
    monkeypatch.setattr(bs, "_labels", lambda rep: state["labels"])
    monkeypatch.setattr(bs, "run_replicates", lambda *a, **k: state["outcomes"]())
    monkeypatch.setattr(bs, "_jackknife", jackknife)

    def run(**kw):
        args = {"n_boot": 105, "kind": "nonparametric", "seed": 1, "ci": 0.95, "bca": True,
                    "exclude_inadmissible": True, "n_jobs": 1, "backend": "joblib", "scheduler": None,
                    "progress": False}
        args.update(kw)
        spec = SimpleNamespace(observed=["a"], name="fake")
        return bs._bootstrap(spec, pd.DataFrame({"a": [0.0]}), X_SENT, None, XHAT_SENT,
                             91.0, **args)

    run.calls = calls
    run.state = state
    return run


def test_percentile_interval_se_and_pvalue(fake):
    t = fake().table
    r = t.iloc[0]
    assert (r.ci_lower, r.ci_upper) == pytest.approx(perc(K, 0.95), abs=1e-12)
    assert r.se == pytest.approx(np.sqrt(100 * 101 / 12), rel=1e-12)
    assert r.pvalue == pytest.approx(2 * 1 / 100, abs=1e-12)       # one draw <= 0
    assert r.est == 49.5
    assert (r.bca_lower, r.bca_upper) == pytest.approx(perc(K, 0.95), abs=1e-12)
    assert (r.lhs, r.op, r.rhs, r.label, r.what) == ("y", "~", "a", "", "est")


def test_pvalue_when_the_draws_lie_below_zero(fake):
    r = fake().table.iloc[1]
    assert (r.ci_lower, r.ci_upper) == pytest.approx(perc(-K, 0.95), abs=1e-12)
    assert r.ci_upper < 0
    assert r.pvalue == pytest.approx(2 * 1 / 100, abs=1e-12)       # one draw >= 0


def test_pvalue_is_capped_at_one(fake):
    """share <= 0 = share >= 0 = 0.6: 2 * 0.6 = 1.2, reported as 1."""
    assert fake().table.iloc[2].pvalue == 1.0


def test_r2_has_an_interval_but_no_pvalue(fake):
    r = fake().table.iloc[3]
    assert np.isnan(r.pvalue)
    assert (r.ci_lower, r.ci_upper) == pytest.approx(perc(K / 100, 0.95), abs=1e-12)


def test_constant_quantity_has_no_interval(fake):
    r = fake().table.iloc[4]
    assert all(np.isnan([r.se, r.ci_lower, r.ci_upper, r.pvalue, r.bca_lower, r.bca_upper]))
    assert r.est == 2.0


def test_a_small_spread_still_gets_an_interval(fake):
    r = fake().table.iloc[5]
    assert (r.ci_lower, r.ci_upper) == pytest.approx(perc(1 + K * 1e-4, 0.95), abs=1e-12)
    assert 1.0001 < r.ci_lower < r.ci_upper < 1.0099


def test_two_finite_draws_give_an_interval_but_no_bca(fake):
    """Draws (0, 1): R = 2, (R + 1) q = 0.075 and 2.925, so norm.inter takes the extreme
    draws, (0, 1); SD sqrt(0.5); BCa needs 10 draws."""
    r = fake().table.iloc[6]
    assert (r.ci_lower, r.ci_upper) == pytest.approx(perc([0.0, 1.0], 0.95), abs=1e-12)
    assert (r.ci_lower, r.ci_upper) == (0.0, 1.0)
    assert r.se == pytest.approx(np.sqrt(0.5), rel=1e-12)
    assert np.isnan(r.bca_lower) and np.isnan(r.bca_upper)


def test_90_percent_intervals(fake):
    r = fake(ci=0.90).table.iloc[0]
    assert (r.ci_lower, r.ci_upper) == pytest.approx(perc(K, 0.90), abs=1e-12)
    assert (r.bca_lower, r.bca_upper) == pytest.approx(perc(K, 0.90), abs=1e-12)


def test_counts_and_inadmissible_draws_kept_by_default(fake):
    b = fake(exclude_inadmissible=False)
    assert (b.n_boot, b.n_failed, b.n_inadmissible, b.n_used) == (105, 2, 3, 103)
    # 103 draws of which one (0) is <= 0
    assert b.table.iloc[0].pvalue == pytest.approx(2 / 103, abs=1e-12)
    assert b.draws.shape == (105, 7)
    assert list(b.draws.columns[:2]) == ["y~a:est", "y~b:est"]
    assert b.draws.isna().all(axis=1).sum() == 2
    e = fake()
    assert (e.n_failed, e.n_inadmissible, e.n_used) == (2, 3, 100)


def test_fiml_jackknife_gets_the_replicator_the_data_and_the_run_options(fake, monkeypatch):
    """With missing answers the BCa jackknife is refitted by FIML in the workers: it gets the
    FIML replicator, the data and the caller's run options, and its values make the BCa ends
    (here the symmetric JACK: a = 0, the same ends as the complete-data path)."""
    seen = {}

    class FIMLRep:
        def __init__(self, spec, X, x_hat, mu, S):
            self.saturated_start = None

        def quantities(self, x):
            return fake.state["theta"]

    def jackknife_fiml(rep, X, **run):
        seen.update(rep=rep, X=X, run=run)
        return JACK

    monkeypatch.setattr(bs, "_FIMLReplicator", FIMLRep)
    monkeypatch.setattr(bs, "_implied_means", lambda spec, full, x_hat: np.zeros(1))
    monkeypatch.setattr(bs, "_jackknife_fiml", jackknife_fiml)
    cov = pd.DataFrame([[1.0]], index=["a"], columns=["a"])
    full = SimpleNamespace(sample_cov=cov, implied_cov=cov)
    X = np.zeros((1, 1))
    spec = SimpleNamespace(observed=["a"], name="fake")
    b = bs._bootstrap(spec, pd.DataFrame({"a": [0.0]}), X, full, np.zeros(1), np.nan,
                      n_boot=105, kind="nonparametric", seed=1, ci=0.95, bca=True,
                      exclude_inadmissible=True, n_jobs=2, backend="dask",
                      scheduler="tcp://scheduler:8786", progress=True, fiml=True)
    assert isinstance(seen["rep"], FIMLRep) and seen["X"] is X
    assert seen["run"] == {"n_jobs": 2, "backend": "dask", "scheduler": "tcp://scheduler:8786",
                           "progress": True, "desc": "jackknife fake"}
    ref = fake().table
    np.testing.assert_allclose(b.table.bca_lower, ref.bca_lower, equal_nan=True)
    assert b.table.bca_lower.notna().any() and b.info["missing"] == "fiml"
    assert fake.calls["jackknife"] == 1            # only the reference run's complete-data one


def test_no_bca_when_not_asked(fake):
    t = fake(bca=False).table
    assert t.bca_lower.isna().all() and t.bca_upper.isna().all()
    assert fake.calls["jackknife"] == 0


def test_bollen_stine_pvalue_and_no_bca(fake):
    """Chi-squares 1..100 against the observed 91: 10 are >= 91, p = (10 + 1)/(100 + 1)."""
    b = fake(kind="bollen-stine")
    assert b.bollen_stine_pvalue == pytest.approx(11 / 101, abs=1e-12)
    assert b.table.bca_lower.isna().all()
    assert fake.calls["jackknife"] == 0
    assert fake().bollen_stine_pvalue is None


def test_bollen_stine_pvalue_leaves_out_replicates_without_a_chisq(fake):
    """With missing answers a replicate's χ² is NaN where its saturated EM did not converge:
    such replicates (here the first five, χ² 1..5) keep their parameter draws but leave the
    p-value, p = (10 + 1)/(95 + 1), and are counted."""
    def outcomes():
        out = _outcomes()
        return [(q, a, np.nan) if k < 5 else (q, a, c) for k, (q, a, c) in enumerate(out)]

    fake.state["outcomes"] = outcomes
    b = fake(kind="bollen-stine")
    assert b.bollen_stine_pvalue == pytest.approx(11 / 96, abs=1e-12)
    assert b.info["chisq_failed"] == 5 and b.n_used == 100
    assert fake(kind="nonparametric").info["chisq_failed"] == 0


def test_bca_acceleration_does_not_depend_on_the_jackknife_scale():
    """a is a ratio of a cubic sum to a squared sum to the power 1.5, so jackknife values
    (0, 0, 0, 0.3) give the same a = -0.096225 as (0, 0, 0, 3), although the denominator
    6 (0.0675)^1.5 = 0.105 is below 1."""
    a = -10.125 / (6 * 6.75 ** 1.5)
    z = stats.norm.ppf([0.025, 0.975])
    expected = boot_norm_inter(K, stats.norm.cdf(z / (1 - a * z)))
    lo, hi = _bca(49.5, K, np.array([0.0, 0.0, 0.0, 0.3]), 0.95)
    assert (lo, hi) == pytest.approx(expected, abs=1e-9)
    assert (lo, hi) == _bca(49.5, K, np.array([0.0, 0.0, 0.0, 3.0]), 0.95)


def test_time_spent_is_reported(fake):
    """info["seconds"]: the time of the replicates and of the jackknife, each a few seconds
    at most here (stand-ins), never negative."""
    s = fake().info["seconds"]
    assert set(s) == {"replicates", "jackknife"}
    assert all(isinstance(v, float) and 0 <= v < 60 for v in s.values())


def test_all_quantities_constant(fake):
    """Every quantity fixed (no spread in any replicate): every interval column is NaN and
    numeric, not missing objects."""
    fake.state.update(labels=LABELS[4:5], theta=np.array([2.0]),
                      outcomes=lambda: [(np.array([2.0]), True, 1.0)] * 20)
    t = fake(n_boot=20).table
    for col in ("se", "ci_lower", "ci_upper", "pvalue", "bca_lower", "bca_upper"):
        assert t[col].dtype == float and t[col].isna().all(), col


def test_quantile_at_a_whole_order_statistic():
    """(R + 1)q a whole number inside the draws: boot takes that order statistic itself
    (R = 79, q = .025: the 2nd smallest draw), no interpolation."""
    from semcluster.analysis.bootstrap import _norm_inter

    t = np.arange(79, dtype=float) ** 1.5          # unequal gaps: interpolation would show
    got = _norm_inter(t, [0.025, 0.975])
    np.testing.assert_allclose(got, boot_norm_inter(t, [0.025, 0.975]), rtol=0, atol=1e-12)
    assert got[0] == t[1] and got[1] == t[77]


def test_quantile_between_the_first_two_draws_is_interpolated():
    """(R + 1)q between 1 and 2 (R = 20, q = .05: 1.05): interpolated between the smallest
    and the second smallest draw on the normal scale, not the smallest draw itself."""
    from semcluster.analysis.bootstrap import _norm_inter

    t = np.arange(20, dtype=float) ** 2
    got = _norm_inter(t, [0.05])[0]
    assert got == pytest.approx(boot_norm_inter(t, 0.05)[0], abs=1e-12)
    assert t[0] < got < t[1]


def test_draws_spread_by_at_most_1e12_have_no_interval():
    """A quantity whose finite draws span 1e-12 or less (a fixed parameter, or one no resample
    moves) gets no SE, interval or p: NaN.  Both sides of the limit: draws {1, 1 + 1e-12}
    (spread exactly 1e-12 in floating point) -> NaN; {1, 1 + 3e-12} -> the SE of two values,
    |a - b| / sqrt(2), and the percentile ends are the two draws."""
    lo_draws = np.array([0.0, 1e-12])
    assert np.ptp(lo_draws) == 1e-12
    row = bs._interval_row(0.0, lo_draws, None, 0.95, pvalue=True)
    assert all(np.isnan(row[k]) for k in ("se", "ci_lower", "ci_upper", "pvalue"))
    hi_draws = np.array([0.0, 3e-12])
    row = bs._interval_row(0.0, hi_draws, None, 0.95, pvalue=True)
    assert row["se"] == pytest.approx(3e-12 / math.sqrt(2), rel=1e-9)
    assert (row["ci_lower"], row["ci_upper"]) == (0.0, 3e-12)
    assert np.isnan(row["bca_lower"]) and np.isnan(row["bca_upper"])     # no jackknife


def test_interval_row_reports_a_pvalue_unless_told_not_to():
    """The p-value is on by default (every path, loading and covariance) and off only when the
    caller says so (R², which is never below zero): draws 1..9 and -1 give
    p = 2 min(1/10, 9/10) = 0.2."""
    d = np.array([-1.0, 1, 2, 3, 4, 5, 6, 7, 8, 9])
    assert bs._interval_row(0.0, d, None, 0.95)["pvalue"] == pytest.approx(0.2, abs=1e-12)
    assert np.isnan(bs._interval_row(0.0, d, None, 0.95, pvalue=False)["pvalue"])
