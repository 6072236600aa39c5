"""ICC(1), design effects and the design-effect warning (semcluster.data.clusters).

References (tests/fixtures/cluster/make_cluster_fixtures.R): R's one-way ANOVA (``aov`` mean
squares, n0 for unbalanced clusters) on the simulated clustered study survey and on lavaan's
Demo.twolevel; lme4's REML random-intercept ratio τ²/(τ² + σ²) on Demo.twolevel's balanced
clusters, where it equals the ANOVA estimator (an independent estimator of the same number).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from semcluster.data.clusters import (DEFF_LIMIT, ClusterSummary, cluster_summary, design_effect,
                                   icc1)

HERE = Path(__file__).parent / "fixtures" / "cluster"
REF = json.loads((HERE / "icc.json").read_text())


def test_icc1_matches_r_anova_on_unbalanced_clusters():
    df = pd.read_csv(HERE / "study_clustered.csv")
    for item, ref in REF["study_clustered"].items():
        assert icc1(df[item], df["park"]) == pytest.approx(ref["icc1"], abs=1e-10), item


def test_icc1_matches_r_anova_on_lavaan_demo_data():
    df = pd.read_csv(HERE / "demo_twolevel.csv")
    for item, ref in REF["demo_twolevel"].items():
        assert icc1(df[item], df["cluster"]) == pytest.approx(ref["icc1"], abs=1e-10), item


def test_icc1_equals_lme4_reml_on_balanced_clusters():
    df = pd.read_csv(HERE / "demo_balanced.csv")
    for item, ref in REF["demo_balanced"].items():
        assert icc1(df[item], df["cluster"]) == pytest.approx(ref["icc_reml"], abs=1e-7), item


def test_icc1_drops_missing_answers_and_is_near_zero_without_clustering():
    rng = np.random.default_rng(1)
    y = rng.normal(size=2000)
    cl = np.repeat(np.arange(100), 20)
    assert abs(icc1(y, cl)) < 0.05
    y2 = y.copy()
    y2[:3] = np.nan
    assert icc1(y2, cl) == pytest.approx(icc1(y[3:], cl[3:]), abs=1e-14)


def test_design_effect_is_kish_formula_with_mean_cluster_size():
    df = pd.read_csv(HERE / "study_clustered.csv")
    summary = cluster_summary(df, "park", ["ca1", "in4"])
    sizes = REF["sizes"]
    m = sum(sizes.values()) / len(sizes)
    assert summary.n_clusters == 30 and summary.sizes == sizes
    for item in ("ca1", "in4"):
        assert summary.deff[item] == pytest.approx(
            1 + (m - 1) * REF["study_clustered"][item]["icc1"], rel=1e-10)
    lo, med, hi = summary.size_range
    assert (lo, med, hi) == (min(sizes.values()), float(np.median(list(sizes.values()))),
                             max(sizes.values()))


@pytest.mark.parametrize("deff, warned", [(DEFF_LIMIT - 0.01, False), (DEFF_LIMIT + 0.01, True)])
def test_design_effect_warning_on_both_sides_of_the_limit(deff, warned):
    s = ClusterSummary(column="park", n_clusters=3, sizes={"a": 5, "b": 6, "c": 7},
                       icc={"ca1": 0.1}, deff={"ca1": deff})
    msg = s.warning()
    assert (msg is not None) == warned
    if warned:
        assert "Muthén & Satorra 1995" in msg and "ca1" in msg


def test_clustered_survey_warns_and_shuffled_clusters_do_not():
    df = pd.read_csv(HERE / "study_clustered.csv")
    items = ["ca1", "ca2", "pa1"]
    assert cluster_summary(df, "park", items).warning() is not None   # ICC ~ 0.2, m ~ 30
    shuffled = df.assign(park=np.random.default_rng(3).permutation(df["park"].to_numpy()))
    s = cluster_summary(shuffled, "park", items)
    assert s.warning() is None and max(s.deff.values()) < DEFF_LIMIT


def test_design_effect_helper():
    assert design_effect(0.0, 30) == 1.0
    assert design_effect(0.1, 11) == pytest.approx(2.0)
