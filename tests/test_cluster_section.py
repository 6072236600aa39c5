"""The report's section on clustered data (``semcluster.output.cluster_section``): its tables hold the
numbers of the fits themselves (``fit(...)`` single-level ML, cluster-robust MLR, two-level ML),
the ICC table those of the data report (ICC(1) checked against R in test_cluster_icc.py), and
the design-effect flag is set on one side of its limit (2, Muthén & Satorra 1995) only."""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import semcluster
from semcluster.output.cluster_section import TEXT, cluster_section, section_from_results
from semcluster.data.clusters import DEFF_LIMIT, ClusterSummary
from semcluster.result.document import Document, Paragraph, Section, Table
from semcluster.errors import OptionError

HERE = Path(__file__).parent / "fixtures"
STUDY = HERE / "cluster" / "study_clustered.csv"
TWOLEVEL_MODEL = HERE / "twolevel" / "study.lav"
MODEL = """
CA =~ ca1 + ca2 + ca3 + ca4
IN =~ in1 + in2 + in3 + in4
IN ~ CA
"""


def _tables(sec: Section) -> dict:
    return {t.key: t for t in Document("x", sections=[sec]).tables()}


def _paragraphs(sec: Section) -> list:
    return [b for _, b in Document("x", sections=[sec]).walk() if isinstance(b, Paragraph)]


@pytest.fixture(scope="module")
def single():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sec = cluster_section(MODEL, str(STUDY), cluster="park")
        naive = semcluster.fit(MODEL, pd.read_csv(STUDY))
        robust = semcluster.fit(MODEL, str(STUDY), cluster="park", estimator="MLR")
    return sec, naive, robust


def test_section_compares_naive_and_cluster_robust_paths_with_the_fits_numbers(single):
    sec, naive, robust = single
    t = _tables(sec)["cluster_se"].frame
    a, b = naive.paths(), robust.paths()
    assert list(t.path) == list(a.lhs + " ~ " + a.rhs)
    np.testing.assert_allclose(t.est, b.est, rtol=1e-10)
    np.testing.assert_allclose(t.est_ml, a.est, rtol=1e-7)       # ML estimates either way
    np.testing.assert_allclose(t.se_ml, a.se, rtol=1e-7)
    np.testing.assert_allclose(t.se_robust, b.se, rtol=1e-10)
    np.testing.assert_allclose(t.se_ratio, b.se.to_numpy() / a.se.to_numpy(), rtol=1e-7)
    np.testing.assert_allclose(t.p_ml, a.pvalue, rtol=1e-6)
    np.testing.assert_allclose(t.p_robust, b.pvalue, rtol=1e-10)
    assert (t.se_robust > t.se_ml).all()       # ICCs near .2 in 30 parks: clustering costs


def test_section_cluster_summary_and_icc_are_the_data_reports(single):
    sec, _, robust = single
    summary = robust.data_report.clusters
    t = _tables(sec)
    sizes = t["cluster_sizes"].frame.iloc[0]
    raw = pd.read_csv(STUDY)["park"].value_counts()
    assert sizes["clusters"] == raw.size == 30 and sizes["firms"] == raw.sum()
    assert (sizes["min"], sizes["median"], sizes["max"]) == (raw.min(), raw.median(), raw.max())
    icc = t["cluster_icc"].frame.set_index("item")
    assert list(icc.index) == list(summary.icc)
    np.testing.assert_allclose(icc.icc, [summary.icc[k] for k in icc.index], rtol=1e-12)
    m = raw.mean()
    np.testing.assert_allclose(icc.deff, 1 + (m - 1) * icc.icc, rtol=1e-12)   # Kish's formula
    assert "Muthén & Satorra 1995" in t["cluster_icc"].note


def test_section_chisq_line_is_the_fits(single):
    sec, naive, robust = single
    text = " ".join(p.text for p in _paragraphs(sec))
    assert f"{naive.fit_measures['chisq']:.2f} on {naive.fit_measures['df']:.0f} df" in text
    assert f"{robust.fit_measures['chisq_scaled']:.2f}" in text


def _summary(deff: dict) -> ClusterSummary:
    m = 11.0
    return ClusterSummary("park", 10, {f"p{i}": 11 for i in range(10)},
                          icc={k: (v - 1) / (m - 1) for k, v in deff.items()}, deff=deff)


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_design_effect_flag_on_both_sides_of_the_limit(lang):
    below, above = DEFF_LIMIT - 1e-9, DEFF_LIMIT + 1e-9
    sec = section_from_results(_summary({"a": below, "b": DEFF_LIMIT, "c": above}), lang=lang)
    icc = _tables(sec)["cluster_icc"].frame.set_index("item")
    assert list(icc.deff_above_limit) == [False, False, True]
    assert list(icc.flag) == [TEXT[lang]["no"], TEXT[lang]["no"], TEXT[lang]["yes"]]
    warn = [p for p in _paragraphs(sec) if p.kind == "warning"]
    assert len(warn) == 1 and "(c)" in warn[0].text

    sec = section_from_results(_summary({"a": below, "b": DEFF_LIMIT}), lang=lang)
    assert not _tables(sec)["cluster_icc"].frame.deff_above_limit.any()
    assert not [p for p in _paragraphs(sec) if p.kind == "warning"]
    assert any(p.kind == "note" and "1995" in p.text for p in _paragraphs(sec))


def test_no_warning_when_the_cluster_column_does_not_cluster_the_answers():
    # firms dealt round-robin into 3 "clusters": ICC near 0, design effects near 1
    df = pd.read_csv(STUDY).assign(deal=lambda d: np.arange(len(d)) % 3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sec = cluster_section(MODEL, df, cluster="deal")
    icc = _tables(sec)["cluster_icc"].frame
    assert (icc.deff < DEFF_LIMIT).all() and not icc.deff_above_limit.any()
    assert not [p for p in _paragraphs(sec) if p.kind == "warning"]


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_section_titles_in_both_languages(lang):
    sec = section_from_results(_summary({"a": 1.5}), lang=lang)
    assert sec.title == TEXT[lang]["title"]
    assert _tables(sec)["cluster_sizes"].title == TEXT[lang]["sizes"]
    assert TEXT["en"].keys() == TEXT["zh"].keys()


def test_section_takes_the_cluster_from_the_options_map(tmp_path):
    (tmp_path / "map.yaml").write_text("cluster: park\n")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sec = cluster_section(MODEL, str(STUDY),
                              options=semcluster.DataOptions(map=str(tmp_path / "map.yaml")))
    assert _tables(sec)["cluster_sizes"].frame.iloc[0]["column"] == "park"


def test_section_refuses_without_a_cluster_or_with_an_unknown_language():
    with pytest.raises(OptionError, match="needs a cluster column"):
        cluster_section(MODEL, str(STUDY))
    with pytest.raises(OptionError, match="lang="):
        section_from_results(_summary({"a": 1.5}), lang="fr")


def test_two_level_section_holds_each_levels_results():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sec = cluster_section(TWOLEVEL_MODEL, str(STUDY), cluster="park", lang="zh")
        res = semcluster.fit(TWOLEVEL_MODEL, str(STUDY), cluster="park")
    t = _tables(sec)
    assert "cluster_se" not in t
    sub = [b for b in sec.blocks if isinstance(b, Section)]
    assert [s.title for s in sub] == [TEXT["zh"]["twolevel"]]
    e = res.estimates
    for level in (1, 2):
        got = t[f"twolevel_level{level}"].frame
        want = e[(e.level.astype(int) == level) & e.op.isin(["=~", "~", "~~"])]
        assert len(got) == len(want) > 0
        np.testing.assert_allclose(got.est, want.est, rtol=1e-12)
        np.testing.assert_allclose(got.se, want.se, rtol=1e-12, equal_nan=True)
    assert ("INb", "~", "CAb") in set(zip(t["twolevel_level2"].frame.lhs,
                                          t["twolevel_level2"].frame.op,
                                          t["twolevel_level2"].frame.rhs))
    fm = t["twolevel_fit"].frame.set_index("measure").value
    for k in ("chisq", "df", "srmr_within", "srmr_between"):
        assert fm[k] == pytest.approx(float(res.fit_measures[k]), rel=1e-12)


def test_section_from_prepared_rows_equals_the_section_from_the_file(single):
    # the report builder holds the rows read_survey prepared (cluster column kept): the same
    # section comes out of them, nothing recoded twice
    sec, _, _ = single
    opts = semcluster.DataOptions(cluster="park")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        X, _ = semcluster.read_survey(str(STUDY), opts, variables=["ca1", "ca2", "ca3", "ca4",
                                                                    "in1", "in2", "in3", "in4"])
        again = cluster_section(MODEL, X, options=opts)
    for key, t in _tables(sec).items():
        pd.testing.assert_frame_equal(_tables(again)[key].frame, t.frame, rtol=1e-10)
