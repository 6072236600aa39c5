"""Bootstrap of a WLSMV fit of ordinal items: respondents resampled, every replicate refitted
by WLSMV (thresholds, polychoric correlations and DWLS weights recomputed per draw).

Reference: lavaan 0.6 ``cfa(HS model, data = hs39_ordinal.csv, ordered = x1..x9,
estimator = "DWLS", se = "bootstrap", bootstrap = 500)`` (lavaan refuses ``estimator = "WLSMV"``
with ``se = "bootstrap"``; DWLS has WLSMV's estimates) and the analytic robust WLSMV SEs of the
same model; script and output: tests/fixtures/bootstrap/make_wlsmv_fixture.R and
hs39_wlsmv_lavaan_bootstrap.json.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from semcluster.analysis.bootstrap import bootstrap
from semcluster.data.survey import DataOptions
from semcluster.errors import OptionError, SemclusterWarning

FIX = Path(__file__).parent / "fixtures"
CSV = FIX / "estimators" / "hs39_ordinal.csv"
MODEL = "visual =~ x1 + x2 + x3\ntextual =~ x4 + x5 + x6\nspeed =~ x7 + x8 + x9\n"
N_BOOT = 300
SEED = 20261206


@pytest.fixture(scope="module")
def lavaan_ref():
    return json.loads((FIX / "bootstrap" / "hs39_wlsmv_lavaan_bootstrap.json").read_text())


@pytest.fixture(scope="module")
def boot():
    return bootstrap(MODEL, CSV, n_boot=N_BOOT, seed=SEED, n_jobs=1, bca=False,
                     estimator="WLSMV")


def _free_rows(ref, part):
    """lavaan's rows with a bootstrap SE (free parameters): loadings, thresholds, factor
    (co)variances."""
    t = pd.DataFrame(ref[part])
    return t[t.se > 0]


def _quantile_se(draws, q):
    """Monte Carlo SE of the q-quantile of R bootstrap draws: √(q(1 − q)/R) / f(x_q), with the
    density f taken as normal with the draws' SD, f(x_q) = φ(Φ⁻¹(q))/SD (the order-statistic
    spread is no use here: thresholds are Φ⁻¹ of counts/N, a grid, so neighbouring order
    statistics tie).  For skewed draws (the x9 loading) the SD is inflated by the long tail,
    which makes the tolerance wider, not narrower."""
    d = draws[np.isfinite(draws)]
    return np.std(d) * np.sqrt(q * (1 - q) / len(d)) / stats.norm.pdf(stats.norm.ppf(q))


def _est_rows(boot):
    """(lhs, op, rhs) -> position of the ``est`` row in the table (= column of draws)."""
    t = boot.table.reset_index(drop=True)
    return {(r.lhs, r.op, r.rhs): j for j, r in enumerate(t.itertuples()) if r.what == "est"}


def test_wlsmv_bootstrap_percentile_ends_match_lavaan_within_monte_carlo_error(boot,
                                                                                lavaan_ref):
    # Tolerance: the two ends are independent Monte Carlo estimates of the same quantile
    # (different random draws), semcluster's from R = 300 draws and lavaan's from 500; the SE
    # of their difference is _quantile_se(R = 300) · √(1 + 300/500).  Each end may differ by 4
    # such SEs (over 78 ends a false failure has probability < 0.5 %), and the root mean square
    # of the 78 standardized differences must stay below 1.5 (it is about 1 when the two
    # bootstraps agree; a systematic shift of half an SE in every end would fail it).
    ref = _free_rows(lavaan_ref, "perc")
    pos = _est_rows(boot)
    t = boot.table.reset_index(drop=True)
    zs = []
    for r in ref.itertuples():
        j = pos[(r.lhs, r.op, r.rhs)]
        assert t.est[j] == pytest.approx(r.est, abs=1e-4)       # the same full-sample fit
        d = boot.draws.iloc[:, j].to_numpy()
        for q, ours, theirs in ((0.025, t.ci_lower[j], r.ci_lower),
                                (0.975, t.ci_upper[j], r.ci_upper)):
            se = _quantile_se(d, q) * np.sqrt(1 + N_BOOT / 500)
            zs.append((ours - theirs) / se)
            assert abs(ours - theirs) <= 4 * se, (r.lhs, r.op, r.rhs, q, ours, theirs, se)
    assert np.sqrt(np.mean(np.square(zs))) < 1.5, zs
    # 6 loadings, 9 + 12 + 6 thresholds, 6 factor (co)variances
    assert len(ref) == 39
    assert boot.n_failed == 0 and boot.info["n_empty_category"] == 0
    assert boot.n_used == N_BOOT


def test_wlsmv_bootstrap_se_of_thresholds_near_the_robust_analytic_se(boot, lavaan_ref):
    # thresholds are near-normal statistics: their bootstrap SE should be within 12 % of the
    # robust (sandwich) WLSMV SE lavaan reports (lavaan's own bootstrap: ratios 0.98–1.08).
    # The weakly determined loadings (speed: x9, lavaan's bootstrap SE twice the analytic)
    # are not compared: their bootstrap distribution is skewed.
    ana = _free_rows(lavaan_ref, "analytic")
    pos = _est_rows(boot)
    t = boot.table.reset_index(drop=True)
    th = ana[ana.op == "|"]
    ratios = np.array([t.se[pos[(r.lhs, r.op, r.rhs)]] / r.se for r in th.itertuples()])
    assert len(ratios) == 27
    assert np.all(np.abs(ratios - 1) < 0.12), ratios
    # the other side: the SE of a loading with a skewed distribution is not near its
    # analytic SE (the check can fail)
    x9 = ana[(ana.op == "=~") & (ana.rhs == "x9")].iloc[0]
    assert t.se[pos[("speed", "=~", "x9")]] / x9.se > 1.3


def test_draws_missing_a_category_are_counted_and_left_out():
    # one respondent alone in a new top category of x1: a draw leaves that respondent out
    # with probability (1 − 1/N)^N ≈ e⁻¹; such draws are left out and counted.  The expected
    # count is found from the documented draws (child i of SeedSequence(seed): N integers).
    d = pd.read_csv(CSV).iloc[:150].copy()
    d.loc[0, "x1"] = 5
    n_boot, seed = 12, 7
    expected = sum(
        0 not in np.random.default_rng(c).integers(0, len(d), len(d))
        for c in np.random.SeedSequence(seed).spawn(n_boot))
    assert 0 < expected < n_boot
    b = bootstrap(MODEL, d, n_boot=n_boot, seed=seed, n_jobs=1, bca=False,
                  estimator="WLSMV")
    assert b.info["n_empty_category"] == expected
    assert b.n_failed >= expected
    assert b.n_used == n_boot - b.n_failed
    assert b.draws.dropna(how="all").shape[0] == b.n_used


def test_ordered_option_selects_the_wlsmv_bootstrap():
    d = pd.read_csv(CSV)
    b = bootstrap(MODEL, d, n_boot=10, seed=3, n_jobs=1, bca=False,
                  options=DataOptions(ordered="all"))
    assert b.info["estimator"] == "WLSMV"
    assert (b.table.op == "|").any()
    with pytest.warns(SemclusterWarning, match="treating it as continuous"):
        ml = bootstrap(MODEL, d, n_boot=10, seed=3, n_jobs=1, bca=False)
    assert "estimator" not in ml.info and not (ml.table.op == "|").any()


def test_a_wlsmv_fit_given_as_result_is_bootstrapped_by_wlsmv():
    import semcluster

    d = pd.read_csv(CSV)
    res = semcluster.fit(MODEL, d, ordered="all")
    b = bootstrap(MODEL, d, n_boot=10, seed=3, n_jobs=1, bca=False, result=res)
    assert b.info["estimator"] == "WLSMV"
    t = b.table[(b.table.what == "est") & (b.table.op == "|")]
    np.testing.assert_allclose(t.est.to_numpy(),
                               res.estimates.loc[res.estimates.op == "|", "est"].to_numpy())


def test_wlsmv_bootstrap_refuses_bollen_stine_in_one_line():
    with pytest.raises(OptionError, match="Bollen-Stine .* not available for WLSMV") as e:
        bootstrap(MODEL, CSV, n_boot=10, kind="bollen-stine", estimator="WLSMV")
    assert "\n" not in str(e.value)


def test_wlsmv_bootstrap_with_pairwise_blanks_keeps_every_respondent():
    d = pd.read_csv(FIX / "estimators" / "hs39_ordinal_missing.csv")
    b = bootstrap(MODEL, d, n_boot=10, seed=5, n_jobs=1, bca=False, estimator="WLSMV")
    assert b.info["missing"] == "pairwise" and b.info["nobs"] == len(d) == 301
    assert b.n_used == 10


def test_wlsmv_bootstrap_is_the_same_in_one_or_two_processes():
    d = pd.read_csv(CSV)
    one = bootstrap(MODEL, d, n_boot=10, seed=11, n_jobs=1, bca=False, estimator="WLSMV")
    two = bootstrap(MODEL, d, n_boot=10, seed=11, n_jobs=2, bca=False, estimator="WLSMV")
    np.testing.assert_allclose(one.draws.to_numpy(), two.draws.to_numpy(), rtol=1e-8,
                               atol=1e-10)


def test_a_bootstrap_with_no_usable_draw_is_an_error_not_empty_intervals():
    """Twelve items whose top category has one answer each: a draw keeps all twelve with
    probability (1 - (1 - 1/120)^120)^12 = 0.4 %, so (with this seed) none of the 10 draws is
    usable, and the bootstrap says why instead of returning intervals of nothing."""
    from semcluster.errors import EstimationError

    rng = np.random.default_rng(5)
    n, k = 120, 12
    f = rng.normal(size=n)
    d = pd.DataFrame({f"y{i}": np.digitize(f + rng.normal(size=n), [-0.5, 0.5]) + 1
                      for i in range(1, k + 1)})
    for i in range(k):
        d.loc[i, f"y{i + 1}"] = 4           # one answer in category 4 of each item
    model = "F =~ " + " + ".join(d.columns)
    with pytest.raises(EstimationError, match="no bootstrap draw could be used"):
        bootstrap(model, d, n_boot=10, estimator="WLSMV", seed=1,
                  options=DataOptions(ordered="all"), bca=False)
