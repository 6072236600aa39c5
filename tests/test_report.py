"""The main job's report folder, with small settings (the full run is benchmarked instead)."""
from __future__ import annotations

import json

import pandas as pd
import pytest

from semcluster import SemclusterError
from semcluster.cli import main
from semcluster.study.report import reproduce_report
from semcluster.resources import data_path

SMALL = dict(n_boot=40, power_reps=15, power_grid=(160, 400), n_jobs=1, progress=False)


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    out = tmp_path_factory.mktemp("r") / "report"
    reproduce_report(None, out, **SMALL)
    return out


def test_folder_contents(report):
    for name in ("report.html", "report.md", "results.json"):
        assert (report / name).stat().st_size > 1000
    figs = {p.name for p in (report / "figures").iterdir()}
    for stem in ("figure1_conceptual", "figure2_tested", "measurement", "regression_vs_sem",
                 "power_curve"):
        assert f"{stem}.png" in figs and f"{stem}.svg" in figs
    tables = {p.stem for p in (report / "tables").iterdir()}
    assert {"calibration", "reliability", "h1_h5_verdicts", "regression_vs_sem", "audit",
            "bootstrap_paths", "power", "software"} <= tables


def test_sections_in_paper_order(report):
    html = (report / "report.html").read_text()
    order = ["Data and provenance", "Measurement quality", "Confirmatory factor analysis",
             "Structural model", "Regression vs SEM", "Audit of the published tables",
             "Bootstrap", "Power", "Figures", "Software and seeds"]
    pos = [html.index(t) for t in order]
    assert pos == sorted(pos)
    assert html.count('src="data:image/png;base64,') == 5        # self-contained
    assert "synthetic" in html


def test_results_json_equals_a_direct_fit(report):
    import semcluster

    js = json.loads((report / "results.json").read_text())
    res = semcluster.fit("h1_h5")
    assert js["structural"]["fit"]["chisq"] == pytest.approx(res.fit_measures["chisq"])
    h = {r["hypothesis"]: r for r in js["structural"]["hypotheses"]}
    assert h["H1"]["std_beta"] == pytest.approx(res.parameter("IN", "~", "CA").std_all)
    assert js["seeds"]["bootstrap"] and js["software"]["semopy"]
    t = pd.read_csv(report / "tables" / "h1_h5_verdicts.csv")
    assert list(t.hypothesis) == ["H1", "H2", "H3", "H4", "H5"]


def test_user_data_leaves_published_sections_out(tmp_path):
    src = tmp_path / "mine.csv"
    df = pd.read_csv(data_path("paper_synthetic.csv"))
    df.to_csv(src, index=False)
    before = src.read_bytes()
    out = reproduce_report(str(src), tmp_path / "rep", **SMALL)
    md = (out / "report.md").read_text()
    assert "Left out: the audit checks the paper's published tables." in md
    assert "Left out: the audit checks the paper&#x27;s published tables." in \
        (out / "report.html").read_text()
    assert not (out / "tables" / "audit.csv").exists()
    assert src.read_bytes() == before


def test_refuses_to_overwrite_a_foreign_folder(tmp_path):
    d = tmp_path / "mine"
    d.mkdir()
    (d / "thesis.docx").write_text("precious")
    with pytest.raises(SemclusterError, match="not written by semcluster"):
        reproduce_report(None, d, **SMALL)
    assert (d / "thesis.docx").read_text() == "precious"


def test_reproduce_cli(tmp_path, capsys):
    out = tmp_path / "r"
    assert main(["reproduce", "--out", str(out), "--n-boot", "20", "--power-reps", "10",
                 "--jobs", "1"]) == 0
    assert (out / "report.html").exists()
