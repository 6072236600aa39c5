"""Bootstrap of grouped fits and of one-group fits with a mean structure, as lavaan's
``sem(..., group = , se = "bootstrap")`` and ``bootstrapLavaan(type = "bollen.stine")``.

Reference: lavaan 0.6-14, tests/fixtures/bootstrap/hs_groups_lavaan_bootstrap.json, made by
tests/fixtures/bootstrap/make_group_fixture.R (1000 draws per part):
* ``school``: two groups of the Holzinger-Swineford data (Pasteur 156, Grant-White 145 rows),
  one labelled path per group and ``d := b1 - b2``; percentile, bias-corrected (bca.simple) and
  normal intervals, and the std.all percentile ends from bootstrapLavaan draws;
* ``bollen_stine``: every draw's chi-square of the same model, data transformed per group;
* ``fiml_groups``: three age groups (109 / 110 / 82) with answers missing, missing = "ml";
* ``means``: one group with intercepts (``x1 ~ 1``).

lavaan's draws and ours come from different random number generators, so every interval end
is compared within a few Monte Carlo standard errors (the rule of
tests/test_bootstrap_fiml.py: 4 SEs of the difference of two independent estimates of the same
quantile, the SE from the order statistic's binomial spread turned into value units on our
own draws).  There both sides have 1000 draws (4·√2·SE); here ours have fewer, and an
estimate's Monte Carlo SE scales as 1/√R, so the SE of the difference is
SE_ours·sqrt(1 + R_ours/R_lavaan).  Each comparison is also shown to fail for a wrong answer:
rows resampled across groups, intervals of the wrong level, no Bollen-Stine transformation.
"""
from __future__ import annotations

import contextlib
import importlib
import json
import os
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import semcluster
from semcluster.analysis.bootstrap import (_bca, _GroupReplicator, _normal_interval, _percentile,
                                  bollen_stine_groups, bootstrap)
from semcluster.data.survey import data_path

FIX = Path(__file__).parent / "fixtures" / "bootstrap"
MATRIX = Path(__file__).parent / "fixtures" / "matrix"
REF = json.loads((FIX / "hs_groups_lavaan_bootstrap.json").read_text())
HS = pd.read_csv(data_path("holzinger_swineford_1939.csv"))
SCHOOL = REF["school"]["model"]
FIML2 = REF["fiml_groups"]["model"]
MEANS = REF["means"]["model"]
R_LAV = 1000
bootmod = importlib.import_module("semcluster.analysis.bootstrap")    # the module, not the function


def _end_mc_se(d, level, extra_rank_var=0.0):
    """Monte Carlo SE of the bootstrap quantile at ``level`` from the R draws ``d``.

    The rule of tests/test_bootstrap_fiml.py: the order statistic that estimates the quantile
    wanders with the binomial spread of the number of draws below it, sqrt(R·level·(1 −
    level)) ranks (plus ``extra_rank_var`` ranks² where the level itself is estimated), turned
    into value units on our own draws.  There (R = 1000) the conversion is the spacing of the
    draws that many ranks either side; with our 100-300 draws that spacing rests on a handful
    of tail draws and a chance clump of them shrinks it several-fold (0.004 where the normal
    theory gives 0.019 for one 97.5 % end of 200 draws), so the conversion here is the
    Maritz-Jarrett (1978) estimate of the same standard error: the SD of the order statistics
    weighted by the beta distribution of the quantile's rank, W_i = I_{i/R}(m − 1, R − m) −
    I_{(i−1)/R}(m − 1, R − m), m = ⌊level·R + 0.5⌋ (Wilcox, Introduction to Robust Estimation,
    §3.5), which uses all the draws near the quantile."""
    x = np.sort(np.asarray(d, dtype=float))
    R = len(x)
    m = min(max(int(np.floor(level * R + 0.5)), 2), R - 1)
    W = np.diff(stats.beta.cdf(np.arange(R + 1) / R, m - 1, R - m))
    centre = W @ x
    se = np.sqrt(W @ (x - centre) ** 2)
    return se * np.sqrt(1 + extra_rank_var / (R * level * (1 - level)))


def _tol(se_ours, r_ours, r_lavaan):
    """4 Monte Carlo SEs of (ours − lavaan's), two independent estimates whose SEs scale as
    1/√R: SE_ours·sqrt(1 + R_ours/R_lavaan)."""
    return 4 * se_ours * np.sqrt(1 + r_ours / r_lavaan)


def _free_rows(rows):
    """lavaan's rows with a bootstrap spread: free parameters (SE > 0) and ``:=`` rows (lavaan
    0.6-14 gives their percentile ends but no SE, and no normal ends)."""
    return [r for r in rows if "ci_lower" in r and (r["op"] == ":=" or r.get("se", 0) > 0)]


def _key(r):
    return (r["lhs"], r["op"], r["rhs"] if r["op"] != ":=" else "", int(r["group"]))


def _our_row(b, r, what="est"):
    t = b.table
    sel = (t.lhs == r["lhs"]) & (t.op == r["op"]) & (t.what == what)
    if r["op"] != ":=":
        sel &= (t.rhs == r["rhs"]) & (t.group == int(r["group"]))
    out = t[sel]
    assert len(out) == 1, _key(r)
    return out.iloc[0], b.draws.iloc[:, out.index[0]].dropna().to_numpy()


def _percentile_misses(ours, rows, *, what="est", ci=0.95, r_lavaan=R_LAV):
    """lavaan rows whose 2.5 % / 97.5 % ends differ from the percentile ends of ``ours``
    (draws per row: ``ours(r)`` -> (estimate, draws)) by more than the tolerance; ends taken at
    level ``ci`` from our draws (0.95 is right; another level is a wrong answer)."""
    misses = []
    for r in rows:
        est, d = ours(r)
        lo, hi = _percentile(d, ci)
        for level, mine, theirs in ((0.025, lo, r["ci_lower"]), (0.975, hi, r["ci_upper"])):
            tol = _tol(_end_mc_se(d, level), len(d), r_lavaan)
            if not abs(mine - theirs) < tol:
                misses.append((_key(r), level, mine, theirs, tol))
    return misses


@pytest.fixture(scope="module")
def school():
    """Our 300-draw bootstrap of the two-group model (lavaan: 1000)."""
    return bootstrap(SCHOOL, HS, group="school", n_boot=300, seed=20261206, n_jobs=2,
                     bca=False)


def _from(b, what="est"):
    def ours(r):
        row, d = _our_row(b, r, what)
        return row.est, d
    return ours


# ---------------------------------------------------------------------------------------------
# two groups, ML, against lavaan
# ---------------------------------------------------------------------------------------------
def test_group_bootstrap_percentile_ends_agree_with_lavaan_within_monte_carlo_error(school):
    """Every free parameter of both groups (loadings, the labelled paths, variances, intercepts)
    and d := b1 - b2: the same estimates as lavaan's, percentile ends within tolerance."""
    rows = _free_rows(REF["school"]["perc"])
    assert len(rows) == 2 * 19 + 1     # a group: 4 loadings, b, 8 variances, 6 intercepts
    assert {int(r["group"]) for r in rows} == {0, 1, 2}
    for r in rows:
        row, _ = _our_row(school, r)
        assert row.est == pytest.approx(r["est"], abs=1e-4), _key(r)
    assert _percentile_misses(_from(school), rows) == []
    assert school.n_used + school.n_failed == 300 and school.n_used >= 280
    assert school.info["group_nobs"] == [156, 145]


def test_group_bootstrap_at_a_wrong_level_fails_the_same_comparison(school):
    """The comparison sees an interval of the wrong level: our draws' 70 % ends (each end
    about 0.9 SD of the draws inside the 95 % one) miss lavaan's 95 % ends for most
    parameters (35 of 39 here).  What it cannot see: with 300 of our draws the tolerance of one
    end is about 0.7 SD of the draws (4 Monte Carlo SEs), so a 90 % interval (0.3 SD inside)
    passes for nearly every parameter (1 of 39 missed here); 80 % is the edge (20 of 39)."""
    rows = _free_rows(REF["school"]["perc"])
    misses = _percentile_misses(_from(school), rows, ci=0.70)
    assert len({m[0] for m in misses}) > len(rows) / 2
    assert len({m[0] for m in _percentile_misses(_from(school), rows, ci=0.90)}) < len(rows) / 2


def test_resampling_rows_across_groups_fails_the_same_comparison():
    """The wrong bootstrap of a grouped fit: rows drawn from all 301 respondents into the
    groups' places (group sizes kept, membership lost), refitted by the same grouped model.
    Its percentile ends miss lavaan's (the intercepts of both schools become the pooled
    means, the school difference of the path is pulled to 0) for many parameters, while the
    right draws (test above) miss none."""
    spec = semcluster.spec.parser.read_model(SCHOOL)
    cols = spec.observed
    order = np.r_[np.flatnonzero(HS.school == "Pasteur"), np.flatnonzero(HS.school != "Pasteur")]
    slots = HS.school.to_numpy()[order]
    X = HS[cols].to_numpy(float)
    draws = {}
    keys = [_key(r) for r in _free_rows(REF["school"]["perc"])]
    rng = np.random.default_rng(77)
    for _ in range(100):
        idx = rng.integers(0, len(X), len(X))
        df = pd.DataFrame(X[idx], columns=cols).assign(school=slots)
        with _quiet():
            res = semcluster.fit(spec, df, group="school")
        e = res.estimates
        for k in keys:
            lhs, op, rhs, g = k
            sel = (e.lhs == lhs) & (e.op == op) & ((e.rhs == rhs) & (e.group == g)
                                                    if op != ":=" else True)
            draws.setdefault(k, []).append(float(e[sel].est.iloc[0]))
    rows = _free_rows(REF["school"]["perc"])
    misses = _percentile_misses(lambda r: (r["est"], np.array(draws[_key(r)])), rows)
    missed = {m[0] for m in misses}
    assert len(missed) >= 6, misses
    assert ("x5", "~1", "", 1) in missed and ("x5", "~1", "", 2) in missed


@contextlib.contextmanager
def _quiet():
    """Warnings off (a label shared by the groups, written once, warns on every fit)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def test_group_bootstrap_normal_ends_agree_with_lavaan(school):
    """lavaan's boot.ci.type = "norm": θ̂ − bias ± z·SE_boot.  Our ends from the same formula
    (columns norm_lower / norm_upper).  Monte Carlo SE of an end 2θ̂ − mean ± z·sd from R
    draws: sd/√R for the mean plus z·sd·sqrt((kurtosis − 1)/(4R)) for the SD (added, not
    combined in quadrature: a bound whatever their correlation); tolerance 4 SEs of the
    difference, as for the percentile ends.  lavaan's SE divides by R, ours by R − 1: a
    relative difference of 5e-4, far inside the tolerance."""
    rows = _free_rows(REF["school"]["norm"])
    # where a few extreme draws dominate the SD (lavaan's bootstrap SE over twice the SD its
    # own percentile interval implies), no Monte Carlo tolerance of a mean and an SD holds:
    # Pasteur's Heywood-prone x1 residual and visual variance (lavaan's SE 3.97 for a
    # percentile interval of -1.75 to 0.87).  Their percentile ends are compared above.
    perc = {_key(r): r for r in REF["school"]["perc"]}
    heavy = {_key(r) for r in rows
             if r["se"] > 2 * (perc[_key(r)]["ci_upper"] - perc[_key(r)]["ci_lower"]) / 3.92}
    assert heavy == {("x1", "~~", "x1", 1), ("visual", "~~", "visual", 1)}
    rows = [r for r in rows if _key(r) not in heavy]
    z = stats.norm.ppf(0.975)
    for r in rows:
        row, d = _our_row(school, r)
        R = len(d)
        sd = d.std(ddof=1)
        k = stats.kurtosis(d, fisher=False)
        se = sd / np.sqrt(R) + z * sd * np.sqrt((k - 1) / (4 * R))
        tol = _tol(se, R, R_LAV)
        for mine, theirs in ((row.norm_lower, r["ci_lower"]), (row.norm_upper, r["ci_upper"])):
            assert abs(mine - theirs) < tol, (_key(r), mine, theirs, tol)
        # the table's columns are the formula on the draws
        lo, hi = _normal_interval(row.est, d, 0.95)
        assert (row.norm_lower, row.norm_upper) == pytest.approx((lo, hi), rel=1e-12)


def test_group_bootstrap_bias_corrected_ends_agree_with_lavaan_bca_simple(school):
    """lavaan's "bca.simple" (bias correction, no acceleration) against ours with acceleration
    0, with the extra spread of the estimated level as in tests/test_bootstrap_fiml.py."""
    for r in _free_rows(REF["school"]["bca_simple"]):
        row, d = _our_row(school, r)
        lo, hi = _bca(row.est, d, np.zeros(3), 0.95)
        R = len(d)
        p = np.mean(d < row.est)
        z0 = stats.norm.ppf(p)
        se_z0 = np.sqrt(p * (1 - p) / R) / stats.norm.pdf(z0)
        for za, mine, theirs in ((-1.959964, lo, r["ci_lower"]), (1.959964, hi, r["ci_upper"])):
            level = stats.norm.cdf(2 * z0 + za)
            extra = (R * 2 * stats.norm.pdf(2 * z0 + za) * se_z0) ** 2
            tol = _tol(_end_mc_se(d, level, extra), R, R_LAV)
            assert abs(mine - theirs) < tol, (_key(r), za, mine, theirs, tol)


def test_group_bootstrap_std_all_ends_agree_with_lavaan(school):
    """std.all of every parameter with a spread (loadings, paths, covariances, residual
    variances, intercepts, d) against boot's percentile ends of lavaan's bootstrapLavaan
    draws of standardizedSolution()."""
    ref = REF["school"]["std_all"]
    rows = [r for r in ref["table"] if r["se"] > 1e-8]
    assert len(rows) > 30
    for r in rows:
        row, _ = _our_row(school, r, "std_all")
        assert row.est == pytest.approx(r["est_std"], abs=1e-4), _key(r)
    assert _percentile_misses(_from(school, "std_all"), rows,
                              r_lavaan=ref["n_boot_successful"]) == []


# ---------------------------------------------------------------------------------------------
# Bollen-Stine
# ---------------------------------------------------------------------------------------------
def _pvalue_gap(p_ours, r_ours):
    ref = REF["bollen_stine"]
    p_lav, r_lav = ref["pvalue_plus_one"], ref["n_boot_successful"]
    p = (p_ours * r_ours + p_lav * r_lav) / (r_ours + r_lav)
    tol = 4 * np.sqrt(p * (1 - p) * (1 / r_ours + 1 / r_lav))
    return abs(p_ours - p_lav), tol


def test_group_bollen_stine_pvalue_agrees_with_lavaan_within_monte_carlo_error():
    """bootstrapLavaan(type = "bollen.stine") transforms each group to its own model-implied
    moments; the p-value (share of draws with χ² ≥ the observed, +1 in numerator and
    denominator) is a binomial share: tolerance 4 SEs of the difference of two independent
    shares."""
    ref = REF["bollen_stine"]
    b = bootstrap(SCHOOL, HS, group="school", kind="bollen-stine", n_boot=300, seed=11,
                  n_jobs=2, bca=False)
    assert b.chisq == pytest.approx(ref["chisq"], rel=1e-6)
    assert 0.01 < ref["pvalue_plus_one"] < 0.5       # a p-value with room on both sides
    gap, tol = _pvalue_gap(b.bollen_stine_pvalue, b.n_used)
    assert gap < tol, (b.bollen_stine_pvalue, ref["pvalue_plus_one"], tol)


def test_bollen_stine_without_the_transformation_fails_the_same_comparison(monkeypatch):
    """Forgetting the transformation (resampling the raw groups) gives the p-value of a
    bootstrap around the misfitting data, far above lavaan's."""
    monkeypatch.setattr(bootmod, "bollen_stine_groups", lambda X, *a, **k: X)
    b = bootstrap(SCHOOL, HS, group="school", kind="bollen-stine", n_boot=100, seed=11,
                  n_jobs=2, bca=False)
    gap, tol = _pvalue_gap(b.bollen_stine_pvalue, b.n_used)
    assert gap > tol, (b.bollen_stine_pvalue, tol)


def _moments(Z, cols):
    mu = Z.mean(axis=0)
    C = Z - mu
    return mu, C.T @ C / len(Z)


def test_bollen_stine_transform_gives_each_group_its_model_implied_moments():
    """After the transformation every group's sample means and covariances (divisor N) are
    its own model-implied ones, and the grouped model fits the transformed data exactly."""
    full = semcluster.fit(SCHOOL, HS, group="school")
    spec = full.spec
    X = HS[spec.observed].to_numpy(float)
    blocks = [np.flatnonzero(HS.school.to_numpy() == m.label) for m in full.moments]
    Z = bollen_stine_groups(X, blocks, full.moments, spec.observed)
    for rows, m in zip(blocks, full.moments):
        mu, S = _moments(Z[rows], spec.observed)
        np.testing.assert_allclose(S, m.implied_cov.loc[spec.observed, spec.observed],
                                   atol=1e-10)
        np.testing.assert_allclose(mu, m.implied_mean[spec.observed], atol=1e-10)
        # the groups' implied covariances differ: one transform for all would be wrong
    assert not np.allclose(full.moments[0].implied_cov, full.moments[1].implied_cov, atol=1e-2)
    refit = semcluster.fit(spec, pd.DataFrame(Z, columns=spec.observed).assign(
        school=HS.school.to_numpy()), group="school")
    assert refit.fit_measures["chisq"] < 1e-6
    assert full.fit_measures["chisq"] > 20


def test_bollen_stine_transform_with_missing_answers_fits_exactly_by_fiml():
    """With blanks each group is transformed per missing-data pattern (Enders 2002, as the
    one-group FIML Bollen-Stine): the grouped FIML fit of the transformed data has χ² ≈ 0."""
    d = pd.read_csv(MATRIX / "hs39_matrix_missing.csv")
    full = semcluster.fit(FIML2, d, group="agegrp")
    spec = full.spec
    X = d[spec.observed].to_numpy(float)
    blocks = [np.flatnonzero(d.agegrp.to_numpy() == m.label) for m in full.moments]
    Z = bollen_stine_groups(X, blocks, full.moments, spec.observed, missing=True)
    assert np.array_equal(np.isnan(Z), np.isnan(X))
    refit = semcluster.fit(spec, pd.DataFrame(Z, columns=spec.observed).assign(
        agegrp=d.agegrp.to_numpy()), group="agegrp", missing="fiml")
    assert refit.fit_measures["chisq"] < 1e-5 < 20 < full.fit_measures["chisq"]


# ---------------------------------------------------------------------------------------------
# FIML with groups; one group with intercepts
# ---------------------------------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.skipif(os.environ.get("SEMCLUSTER_SLOW_TESTS") != "1",
                    reason="about 2 minutes of refits; SEMCLUSTER_SLOW_TESTS=1 runs it")
@pytest.mark.xfail(strict=True, reason=(
    "grouped FIML refits still fail on some resamples: 15 of these 100 draws (35 % before "
    "estimation.groups.fit_fiml took Newton steps with halving and a second start; lavaan "
    "converged on all 1000), so the hard draws are missing and the percentile ends of 5 of "
    "the 57 parameters (x1~1 in age12 first) lie outside the Monte Carlo tolerance"))
def test_fiml_group_bootstrap_percentile_ends_agree_with_lavaan():
    """Three groups with blanks (missing = "ml"): respondents resampled within their group
    with their blanks, every replicate refitted by grouped FIML.  100 of our draws (a FIML
    refit of three groups takes about a second), so the tolerance is wider than above."""
    d = pd.read_csv(MATRIX / "hs39_matrix_missing.csv")
    b = bootstrap(FIML2, d, group="agegrp", n_boot=100, seed=3, n_jobs=2, bca=False)
    assert b.info["missing"] == "fiml" and b.info["group_nobs"] == [110, 109, 82]
    rows = _free_rows(REF["fiml_groups"]["perc"])
    assert len(rows) == 3 * 19
    for r in rows:
        row, _ = _our_row(b, r)
        assert row.est == pytest.approx(r["est"], abs=1e-3), _key(r)
    assert _percentile_misses(_from(b), rows) == []


def test_one_group_bootstrap_with_intercepts_agrees_with_lavaan():
    """``x1 ~ 1`` gives the model lavaan's mean structure: every intercept is bootstrapped
    with the loadings and variances."""
    d = pd.read_csv(MATRIX / "hs39_matrix.csv")
    b = bootstrap(MEANS, d, n_boot=200, seed=5, n_jobs=2, bca=False)
    rows = _free_rows(REF["means"]["perc"])
    assert sum(r["op"] == "~1" for r in rows) == 9
    assert set(b.table.group) == {1}
    for r in rows:
        row, _ = _our_row(b, r)
        assert row.est == pytest.approx(r["est"], abs=1e-4), _key(r)
    assert _percentile_misses(_from(b), rows) == []


# ---------------------------------------------------------------------------------------------
# what a replicate is
# ---------------------------------------------------------------------------------------------
def test_replicate_refits_the_rows_drawn_within_each_group():
    """Replicate i draws, from child i of SeedSequence(seed), each group's rows from that
    group only (in the full fit's group order, group sizes kept), and its draws equal
    semcluster.fit of exactly those rows."""
    b = bootstrap(SCHOOL, HS, group="school", n_boot=10, seed=41, n_jobs=1, bca=False)
    spec = semcluster.spec.parser.read_model(SCHOOL)
    children = np.random.SeedSequence(41).spawn(10)[:3]
    blocks = [np.flatnonzero(HS.school.to_numpy() == g) for g in ("Pasteur", "Grant-White")]
    for i, child in enumerate(children):
        rng = np.random.default_rng(child)
        idx = np.concatenate([bl[rng.integers(0, len(bl), len(bl))] for bl in blocks])
        sub = HS.iloc[idx][spec.observed + ["school"]].reset_index(drop=True)
        assert list(sub.school.value_counts()[["Pasteur", "Grant-White"]]) == [156, 145]
        with _quiet():
            ref = semcluster.fit(spec, sub, group="school")
        e = ref.estimates
        for col, (lhs, op, rhs, g) in (("textual~visual:est", ("textual", "~", "visual", 1)),
                                       ("textual~visual.g2:est", ("textual", "~", "visual", 2)),
                                       ("x5~1.g2:est", ("x5", "~1", "", 2))):
            want = e[(e.lhs == lhs) & (e.op == op) & (e.rhs == rhs) & (e.group == g)].est
            assert b.draws[col].iloc[i] == pytest.approx(float(want.iloc[0]), abs=1e-6)
        assert b.draws["d:=b1 - b2:est"].iloc[i] == pytest.approx(
            float(e[e.op == ":="].est.iloc[0]), abs=1e-6)


def test_leave_one_out_refit_drops_the_row_from_its_own_group():
    """The jackknife of BCa: leaving row i out refits the other 300 rows, groups in order."""
    full = semcluster.fit(SCHOOL, HS, group="school")
    X = HS[full.spec.observed].to_numpy(float)
    rep = _GroupReplicator(full.spec, X, HS.school.to_numpy(object), full,
                           {"group": "school", "estimator": "ML", "missing": "listwise"})
    i = 200                                   # a Grant-White row
    q = rep.leave_out(X, i)
    with _quiet():
        ref = semcluster.fit(full.spec, HS.drop(index=i), group="school")
    np.testing.assert_allclose(q, rep.from_result(ref), rtol=1e-6, atol=1e-8)
    assert ref.group_nobs == {"Pasteur": 156, "Grant-White": 144}


def test_mlr_group_bootstrap_draws_are_the_ml_draws():
    """MLR's estimates are ML's, so its bootstrap draws are the same (as lavaan's)."""
    a = bootstrap(SCHOOL, HS, group="school", n_boot=10, seed=8, n_jobs=1, bca=False)
    b = bootstrap(SCHOOL, HS, group="school", n_boot=10, seed=8, n_jobs=1, bca=False,
                  estimator="MLR")
    np.testing.assert_allclose(a.draws.to_numpy(), b.draws.to_numpy(), rtol=1e-6, atol=1e-8)


def test_grouped_fit_given_as_result_is_bootstrapped_with_its_constraints():
    """A fit with group_equal = "loadings" handed over as result=: the group column and the
    equality constraints come from it, so every draw has equal loadings in both groups."""
    with _quiet():
        res = semcluster.fit(FIML2, HS, group="school", group_equal="loadings")
    b = bootstrap(FIML2, HS, result=res, n_boot=10, seed=2, n_jobs=1, bca=False)
    assert b.info["group"] == "school"
    np.testing.assert_allclose(b.draws["visual=~x2:est"], b.draws["visual=~x2.g2:est"],
                               rtol=1e-8)
    free = semcluster.fit(FIML2, HS, group="school")
    c = bootstrap(FIML2, HS, result=free, n_boot=10, seed=2, n_jobs=1, bca=False)
    assert not np.allclose(c.draws["visual=~x2:est"], c.draws["visual=~x2.g2:est"])


def test_normal_interval_of_draws_symmetric_about_the_estimate():
    """No bias: θ̂ ± z·sd; a bias b moves both ends by −b (boot's norm.ci)."""
    d = np.array([-2.0, -1.0, 0.0, 1.0, 2.0]) + 3.0
    sd = np.sqrt(2.5)
    z = stats.norm.ppf(0.95)
    assert _normal_interval(3.0, d, 0.90) == pytest.approx((3.0 - z * sd, 3.0 + z * sd))
    assert _normal_interval(2.5, d, 0.90) == pytest.approx((2.0 - z * sd, 2.0 + z * sd))
    assert np.isnan(_normal_interval(1.0, np.ones(5), 0.9)).all()


# ---------------------------------------------------------------------------------------------
# errors and the command line
# ---------------------------------------------------------------------------------------------
def test_unknown_grouping_column_is_a_one_line_error():
    from semcluster.errors import SemclusterError

    with pytest.raises(SemclusterError) as info:
        bootstrap(SCHOOL, HS, group="district", n_boot=10)
    assert "district" in str(info.value) and "\n" not in str(info.value)


def test_cli_bootstrap_with_group_writes_the_group_column(tmp_path, capsys):
    from semcluster.cli import main

    data = tmp_path / "hs.csv"
    HS.to_csv(data, index=False)
    model = tmp_path / "school.lav"
    model.write_text(SCHOOL)
    out = tmp_path / "boot.json"
    code = main(["bootstrap", str(model), "--data", str(data), "--group", "school",
                 "--n-boot", "10", "--seed", "4", "--jobs", "1", "--no-bca", "--json",
                 str(out)])
    assert code == 0
    text = capsys.readouterr().out
    assert "groups of 'school' (group 1, 2, ... in the table): Pasteur 156, Grant-White 145" \
        in text
    table = pd.DataFrame(json.loads(out.read_text())["table"])
    assert set(table.group) == {0, 1, 2}
    lib = bootstrap(SCHOOL, HS, group="school", n_boot=10, seed=4, n_jobs=1, bca=False)
    np.testing.assert_allclose(table.ci_lower.astype(float), lib.table.ci_lower, rtol=1e-9,
                               equal_nan=True)
    assert main(["bootstrap", str(model), "--data", str(data), "--group", "district",
                 "--n-boot", "10", "--jobs", "1"]) == 2
    err = capsys.readouterr().err
    assert "district" in err and "Traceback" not in err


def test_report_effects_section_bootstraps_a_grouped_fit():
    """The report's ``:=`` section routes a grouped fit through the same function: the
    difference of the two schools' paths gets percentile and BCa ends (it used to print
    "Bootstrap not run")."""
    from semcluster.data.labels import Labels
    from semcluster.output.report import _effects_section, _Run

    small = pd.concat([HS[HS.school == "Pasteur"].head(40), HS[HS.school != "Pasteur"].head(40)])
    X = small[["x1", "x2", "x3", "x4", "x5", "x6", "school"]].reset_index(drop=True)
    with _quiet():
        res = semcluster.fit(SCHOOL, X, group="school")
    run = _Run(res.spec, X, res.data_report, res, Labels(), "en", "school", [], n_boot=20,
               seed=3, n_jobs=1, options=None)
    section = _effects_section(run)
    text = repr(section)
    assert "Bootstrap not run" not in text
    rows = [r for r in run.results["bootstrap"]["table"] if r["what"] == "est"]
    assert [r["lhs"] for r in rows] == ["d"] and rows[0]["group"] == 0
    assert rows[0]["ci_lower"] < rows[0]["est"] < rows[0]["ci_upper"]
    assert np.isfinite(rows[0]["bca_lower"]) and np.isfinite(rows[0]["bca_upper"])


def test_summary_of_a_grouped_bootstrap_names_the_group_of_each_row():
    b = bootstrap(SCHOOL, HS, group="school", n_boot=10, seed=6, n_jobs=1, bca=False)
    lines = b.summary().splitlines()
    header = lines[1].split()
    assert header[:4] == ["lhs", "op", "rhs", "group"]
    paths = [line.split() for line in lines[2:] if line.split()[1:2] == ["~"]]
    assert [p[3] for p in paths] == ["1", "2", "1", "2"]       # est, then std_all
