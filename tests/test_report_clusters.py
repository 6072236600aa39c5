"""The report of clustered firms: the cluster column reaches the report's fit and its
clustered-data section, and a two-level model gets a report (not a traceback).

The numbers are checked against ``semcluster.fit`` on the same file (itself checked against
lavaan's ``cluster=`` and two-level fits in tests/test_cluster_robust.py and
tests/test_twolevel.py), read back from ``results.json`` and ``report.md``.
"""
from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest

import semcluster
from semcluster.data.survey import DataOptions
from semcluster.output.report import build_report

FIX = Path(__file__).parent / "fixtures"
DATA = FIX / "cluster" / "study_clustered.csv"
TWOLEVEL = FIX / "twolevel" / "study.lav"
SMALL = "CA =~ ca1 + ca2 + ca3 + ca4\nIN =~ in1 + in2 + in3 + in4\nIN ~ CA\n"


def _report(tmp_path, model, cluster, lang="en"):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = build_report(model, DATA, out=tmp_path / f"rep_{lang}",
                           options=DataOptions(cluster=cluster), lang=lang, n_boot=20,
                           n_jobs=1, formats=("md",))
    return out, (out / "report.md").read_text(encoding="utf-8")


def test_report_with_a_cluster_column_fits_cluster_robust_and_has_the_clusters_section(
        tmp_path):
    out, md = _report(tmp_path, SMALL, "park")
    assert "## Firms in clusters" in md
    res = json.loads((out / "results.json").read_text())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = semcluster.fit(SMALL, DATA, cluster="park")
    est = {(r["lhs"], r["op"], r["rhs"]): r for r in res["fit"]["estimates"]}
    row = est[("IN", "~", "CA")]
    want = ref.estimates.set_index(["lhs", "op", "rhs"]).loc[("IN", "~", "CA")]
    assert row["se"] == pytest.approx(float(want["se"]), rel=1e-9)
    # the cluster-robust SE differs from the naive one on these clustered firms
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        naive = semcluster.fit(SMALL, DATA)
    se_naive = float(naive.estimates.set_index(["lhs", "op", "rhs"]).loc[("IN", "~", "CA"),
                                                                       "se"])
    assert abs(row["se"] / se_naive - 1) > 0.05


def test_report_without_a_cluster_column_has_no_clusters_section(tmp_path):
    _, md = _report(tmp_path, SMALL, None)
    assert "Firms in clusters" not in md


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_two_level_model_gets_its_report_with_both_levels_and_the_scope_said(tmp_path, lang):
    out, md = _report(tmp_path, TWOLEVEL, "park", lang)
    res = json.loads((out / "results.json").read_text())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = semcluster.fit(TWOLEVEL, DATA, cluster="park")
    assert res["fit"]["fit_measures"]["chisq"] == pytest.approx(
        float(ref.fit_measures["chisq"]), rel=1e-9)
    if lang == "en":
        assert "Level 1" in md and "Level 2" in md
        assert "not built for two-level models yet" in md
    else:
        assert "水平 1" in md and "水平 2" in md and "尚未对两水平模型实现" in md
