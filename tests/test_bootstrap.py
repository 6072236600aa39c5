"""Bootstrap: agreement with lavaan's bootstrap (within Monte Carlo error), reproducibility
across processes and a Dask cluster, fast refits equal to full ones, counts reported."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import semcluster
from semcluster.analysis.bootstrap import _Replicator, bootstrap
from semcluster.resources import data_path

FIX = Path(__file__).parent / "fixtures" / "bootstrap"


def _quantile_mcse(d, q, n_rep=300, seed=0):
    """Monte Carlo SE of a sample quantile, by resampling the bootstrap draws."""
    rng = np.random.default_rng(seed)
    return np.std([np.quantile(rng.choice(d, len(d)), q) for _ in range(n_rep)], ddof=1)


def test_percentile_cis_match_lavaan_within_mc_error(boot1000):
    """lavaan 0.6.14 sem(se = "bootstrap", bootstrap = 1000), percentile CIs (R script beside
    the fixture). Two independent 1000-draw bootstraps: their CI ends differ by Monte Carlo
    error; we allow 4·√2 MC standard errors (estimated from our own draws)."""
    ref = json.loads((FIX / "h1_h5_lavaan_bootstrap.json").read_text())
    lav = {(r["lhs"], r["rhs"]): r for r in ref["estimates"] if r["op"] == "~"}
    t = boot1000.table
    for (lhs, rhs), r in lav.items():
        row = t[(t.lhs == lhs) & (t.op == "~") & (t.rhs == rhs) & (t.what == "est")].iloc[0]
        col = f"{lhs}~{rhs}:est"
        d = boot1000.draws[col].dropna().to_numpy()
        for q, ours, theirs in ((0.025, row.ci_lower, r["ci_lower"]),
                                (0.975, row.ci_upper, r["ci_upper"])):
            tol = 4 * np.sqrt(2) * _quantile_mcse(d, q)
            assert abs(ours - theirs) < tol, (lhs, rhs, q, ours, theirs, tol)
        assert row.est == pytest.approx(r["est"], abs=1e-4)


def test_counts_are_reported(boot1000):
    b = boot1000
    assert b.n_used + b.n_failed == b.n_boot
    assert b.draws.shape[0] == 1000
    assert b.draws.isna().all(axis=1).sum() == b.n_failed
    assert 0 <= b.n_inadmissible < b.n_used


def test_same_seed_same_numbers_on_1_and_2_processes():
    a = bootstrap("h1_h5", n_boot=40, n_jobs=1, bca=False, seed=7)
    b = bootstrap("h1_h5", n_boot=40, n_jobs=2, bca=False, seed=7)
    np.testing.assert_allclose(a.draws.to_numpy(), b.draws.to_numpy(), rtol=1e-9, atol=1e-12,
                               equal_nan=True)
    c = bootstrap("h1_h5", n_boot=40, n_jobs=1, bca=False, seed=8)
    assert not np.allclose(a.draws.to_numpy(), c.draws.to_numpy(), equal_nan=True)


def test_dask_local_cluster_gives_the_same_numbers():
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        d = bootstrap("h1_h5", n_boot=30, backend="dask", scheduler=client, bca=False, seed=3)
    a = bootstrap("h1_h5", n_boot=30, n_jobs=1, bca=False, seed=3)
    np.testing.assert_allclose(a.draws.to_numpy(), d.draws.to_numpy(), rtol=1e-9, atol=1e-12,
                               equal_nan=True)


def test_fast_refits_equal_full_engine_fits():
    """Every converged fast refit is within the foundation's tolerance of a full fit."""
    from semcluster.estimation.engine import MLEngine
    from semcluster.spec.parser import read_model

    spec = read_model("h1_h5")
    data = pd.read_csv(data_path("paper_synthetic.csv"))
    X = data[spec.observed].to_numpy(float)
    full = semcluster.fit(spec, data)
    rep = _Replicator(spec, X, full.info["x"])
    eng = MLEngine(spec)
    eng.load(full.sample_cov, 160)
    children = np.random.SeedSequence(99).spawn(25)
    checked = 0
    for c in children:
        S = rep.covariance(X, c)
        fast = rep.refitter.refit(S, 160, gtol=rep.gtol)
        if not fast.converged:
            continue
        eng.set_moments(S, 160)
        ref = eng.fit(x0=fast.x, skip_slsqp=True, gtol=1e-10, max_scoring=3000)
        if not ref.converged:
            continue
        rel = np.abs(fast.x - ref.x) / np.maximum(1, np.abs(ref.x))
        assert rel.max() < 1e-3
        checked += 1
    assert checked >= 20


def test_bca_and_defined_parameters():
    model = ("CA =~ ca1 + ca2 + ca3 + ca4\nKS =~ ks1 + ks2 + ks3 + ks4\n"
             "IN =~ in1 + in2 + in3 + in4\nKS ~ a*CA\nIN ~ b*KS + c*CA\nind := a*b\n")
    b = bootstrap(model, n_boot=60, n_jobs=1, seed=5)
    t = b.table
    ind = t[(t.op == ":=") & (t.what == "est")].iloc[0]
    assert ind.ci_lower < ind.est < ind.ci_upper
    assert np.isfinite(ind.bca_lower) and np.isfinite(ind.bca_upper)
    r2 = t[t.op == "r2"]
    assert set(r2.lhs) >= {"KS", "IN"}


def test_bollen_stine_pvalue_near_uniform_for_a_true_model():
    """Data generated from the model itself: the Bollen-Stine p-value is not tiny."""
    rng = np.random.default_rng(11)
    f = rng.standard_normal((300, 1))
    X = f @ np.array([[0.8, 0.7, 0.6, 0.5]]) + rng.standard_normal((300, 4)) * 0.6
    df = pd.DataFrame(X, columns=["a", "b", "c", "d"])
    b = bootstrap("f =~ a + b + c + d", df, n_boot=99, kind="bollen-stine", seed=2, bca=False)
    assert b.bollen_stine_pvalue > 0.01
    assert b.kind == "bollen-stine"
