"""The cluster column named in the data description (``--map FILE`` with a ``cluster:`` key),
read like its ``id:``: the same checks as ``--cluster``, and ``--cluster`` / ``cluster=`` wins
over the file."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from semcluster.cli import main
from semcluster.data.survey import DataOptions, data_description, read_survey
from semcluster.errors import DataError

HERE = Path(__file__).parent / "fixtures" / "cluster"
ITEMS = ["ca1", "ca2", "ca3", "ca4"]


@pytest.fixture
def folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    df = pd.read_csv(HERE / "study_clustered.csv")
    df["school"] = np.arange(len(df)) % 3
    df.to_csv(tmp_path / "clustered.csv", index=False)
    (tmp_path / "park.yaml").write_text("cluster: park\n")
    (tmp_path / "school.yaml").write_text("cluster: school\n")
    (tmp_path / "parc.yaml").write_text("cluster: parc\n")
    (tmp_path / "item.yaml").write_text("cluster: ca1\n")
    return tmp_path


def test_description_cluster_key_is_read_like_id():
    d = data_description({"id": "firm", "cluster": "park"})
    assert d.cluster == "park" and d.id_column == "firm"
    assert d.to_dict()["cluster"] == "park"
    assert data_description({"id": "firm"}).cluster is None


@pytest.mark.parametrize("raw, words", [
    ({"cluster": ["park", "region"]}, "'cluster' must be a column name"),
    ({"cluster": True}, "'cluster' must be a column name"),
    ({"cluster": "  "}, "'cluster' must be a column name"),
    ({"cluster": "firm", "id": "firm"}, "'cluster' and 'id' name the same column"),
])
def test_description_cluster_key_of_the_wrong_form_is_refused(raw, words):
    with pytest.raises(DataError, match=words):
        data_description(raw)


def test_map_file_cluster_gives_the_same_clusters_as_the_flag(folder):
    _, by_file = read_survey("clustered.csv", DataOptions(map="park.yaml"), variables=ITEMS)
    _, by_flag = read_survey("clustered.csv", DataOptions(cluster="park"), variables=ITEMS)
    assert by_file.clusters is not None
    assert by_file.clusters.to_dict() == by_flag.clusters.to_dict()
    assert by_file.clusters.n_clusters == 30


def test_cluster_flag_wins_over_the_map_file(folder):
    opts = DataOptions(map="park.yaml", cluster="school")
    assert opts.cluster == "school"
    _, report = read_survey("clustered.csv", opts, variables=ITEMS)
    assert report.clusters.column == "school" and report.clusters.n_clusters == 3


def test_cli_fit_takes_the_cluster_from_the_map_file(folder, capsys):
    assert main(["fit", "h1_h5", "--data", "clustered.csv", "--map", "park.yaml",
                 "--json", "out.json"]) == 0
    out = capsys.readouterr().out
    assert "clusters ('park'): 30" in out and "cluster-robust standard errors" in out
    saved = json.loads((folder / "out.json").read_text())
    ref = json.loads((HERE / "study_cluster_ml.json").read_text())     # lavaan 0.6.14
    assert saved["fit_measures"]["chisq_scaled"] == pytest.approx(
        ref["fit_measures"]["chisq_scaled"], rel=1e-6)


def test_cli_cluster_flag_wins_over_the_map_file(folder, capsys):
    assert main(["fit", "cfa", "--data", "clustered.csv", "--map", "parc.yaml",
                 "--cluster", "park"]) == 0          # parc (not in the data) is overridden
    assert "clusters ('park'): 30" in capsys.readouterr().out


@pytest.mark.parametrize("argv, words", [
    (["fit", "h1_h5", "--map", "school.yaml", "--group", "school"],
     "cluster and group column are the same ('school')"),
    (["invariance", "cfa", "--map", "school.yaml", "--group", "school"],
     "cluster and group column are the same ('school')"),
    (["fit", "h1_h5", "--map", "parc.yaml"], "cluster column 'parc' is not in the data"),
    (["fit", "h1_h5", "--map", "item.yaml"], "cluster column 'ca1' is a model item"),
    (["fit", "h1_h5", "--map", "park.yaml", "--id", "park"], "cluster and id column"),
])
def test_map_file_cluster_conflicts_are_one_line_and_write_nothing(folder, capsys, argv,
                                                                    words):
    inputs = {p: p.read_bytes() for p in folder.iterdir()}
    assert main([*argv, "--data", "clustered.csv", "--json", "out.json"]) == 2
    err = capsys.readouterr().err
    assert words in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    assert not (folder / "out.json").exists()
    assert {p: p.read_bytes() for p in folder.iterdir()} == inputs
