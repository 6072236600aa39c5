"""The cluster column in the data path: ``--cluster COL`` / ``cluster=`` read beside the items,
the data report's cluster lines, and bad cluster columns refused with one clear line (exit 2,
nothing written, the input untouched)."""
from __future__ import annotations

import hashlib
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from semcluster.cli import main
from semcluster.data.survey import DataOptions, read_survey
from semcluster.errors import DataError

HERE = Path(__file__).parent / "fixtures" / "cluster"
ITEMS = ["ca1", "ca2", "ca3", "ca4"]


@pytest.fixture
def folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    df = pd.read_csv(HERE / "study_clustered.csv")
    df["school"] = np.arange(len(df)) % 2
    df.to_csv(tmp_path / "clustered.csv", index=False)
    bad = {
        "one_cluster": df.assign(park="park01"),
        "singletons": df.assign(park=[f"f{i}" for i in range(len(df))]),
        "no_id": df.assign(park=df["park"].where(np.arange(len(df)) % 50 != 7)),
    }
    for name, d in bad.items():
        d.to_csv(tmp_path / f"{name}.csv", index=False)
    return tmp_path


def test_read_survey_keeps_the_cluster_beside_the_items(folder):
    X, report = read_survey("clustered.csv", DataOptions(cluster="park"), variables=ITEMS)
    assert list(X.columns) == ITEMS + ["park"]
    assert report.clusters.n_clusters == 30
    assert "clusters ('park'): 30; firms per cluster: min 6, median 26" in str(report)
    assert "ICC(1) and design effect" in str(report)
    assert report.to_dict()["clusters"]["column"] == "park"


def test_cluster_column_is_never_an_item_when_items_are_not_named(folder):
    X, report = read_survey("clustered.csv", DataOptions(cluster="school"))
    assert "school" not in report.variables and "school" in X.columns


def test_cli_fit_with_cluster_gives_cluster_robust_results(folder, capsys):
    src = folder / "clustered.csv"
    before = hashlib.sha256(src.read_bytes()).hexdigest()
    assert main(["fit", "h1_h5", "--data", "clustered.csv", "--cluster", "park",
                 "--json", "out.json"]) == 0
    out = capsys.readouterr().out
    assert "clusters ('park'): 30" in out and "cluster-robust standard errors" in out
    assert re.search(r"Number of clusters \[park\] +30\n", out)       # lavaan's summary line
    saved = json.loads((folder / "out.json").read_text())
    ref = json.loads((HERE / "study_cluster_ml.json").read_text())     # lavaan's default
    assert saved["fit_measures"]["chisq_scaled"] == pytest.approx(
        ref["fit_measures"]["chisq_scaled"], rel=1e-6)
    assert hashlib.sha256(src.read_bytes()).hexdigest() == before


@pytest.mark.parametrize("argv, words", [
    (["--data", "one_cluster.csv", "--cluster", "park"], "single cluster"),
    (["--data", "singletons.csv", "--cluster", "park"], "one row only"),
    (["--data", "no_id.csv", "--cluster", "park"], "no cluster id"),
    (["--data", "clustered.csv", "--cluster", "school", "--group", "school"], "same"),
    (["--data", "clustered.csv", "--cluster", "ca1"], "is a model item"),
    (["--data", "clustered.csv", "--cluster", "parc"], "not in the data"),
    (["--data", "clustered.csv", "--cluster", "park", "--id", "park"], "id column"),
    (["--data", "clustered.csv", "--cluster", "park", "--estimator", "GLS"], "GLS"),
    (["--data", "clustered.csv", "--cluster", "park", "--estimator", "WLSMV"], "WLSMV"),
])
def test_bad_cluster_input_is_one_clear_line_and_writes_nothing(folder, capsys, argv, words):
    inputs = {p: p.read_bytes() for p in folder.glob("*.csv")}
    assert main(["fit", "h1_h5", *argv, "--json", "out.json"]) == 2
    err = capsys.readouterr().err
    assert words in err and "Traceback" not in err
    assert not (folder / "out.json").exists()
    assert {p: p.read_bytes() for p in folder.glob("*.csv")} == inputs


@pytest.mark.parametrize("name, words", [("one_cluster", "single cluster"),
                                         ("singletons", "one row only"),
                                         ("no_id", "no cluster id")])
def test_bad_cluster_column_refused_by_every_data_command(folder, name, words):
    with pytest.raises(DataError, match=words):
        read_survey(f"{name}.csv", DataOptions(cluster="park"), variables=ITEMS)


def test_invariance_refuses_cluster_equal_to_group(folder, capsys):
    assert main(["invariance", "cfa", "--data", "clustered.csv", "--group", "school",
                 "--cluster", "school"]) == 2
    assert "same" in capsys.readouterr().err
