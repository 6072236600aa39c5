"""Labels for the user's study: a labels YAML, SPSS variable and value labels, and the study's
dictionary (for the study's own models only), used by the diagrams, the fit summary and the
measurement tables, in en and zh."""
from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from semcluster import SemclusterWarning
from semcluster.output import diagrams as d
from semcluster.cli import main
from semcluster.data.labels import Labels, LabelsError, value_key

MODEL = ("PI =~ pi1 + pi2 + pi3\nKS =~ ks1 + ks2 + ks3\nTR =~ tr1 + tr2 + tr3\n"
         "KS ~ PI\nTR ~ KS + PI\n")
LABELS = """\
title: {en: Knowledge sharing in parks, zh: 园区知识共享}
constructs:
  PI: {en: Park infrastructure, zh: 园区基础设施}
  KS: {en: Knowledge sharing, zh: 知识共享}
  TR: {en: Technological renewal, zh: 技术更新}
items:
  pi1: {en: Roads, zh: 道路}
groups:
  own:
    1: {en: State-owned, zh: 国有}
    2: {en: Private, zh: 民营}
    3: {en: Foreign, zh: 外资}
"""


def _survey(n=300, groups=2, seed=1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    pi = rng.standard_normal(n)
    ks = 0.5 * pi + 0.8 * rng.standard_normal(n)
    tr = 0.4 * ks + 0.2 * pi + 0.8 * rng.standard_normal(n)
    cols = {}
    for f, v in (("pi", pi), ("ks", ks), ("tr", tr)):
        for i in (1, 2, 3):
            cols[f"{f}{i}"] = np.clip(np.round(4 + 0.9 * v + 0.7 * rng.standard_normal(n)), 1, 7)
    cols["own"] = (np.arange(n) % groups + 1).astype(float)
    return pd.DataFrame(cols)


@pytest.fixture
def study(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("sem.lav").write_text(MODEL, encoding="utf-8")
    Path("labels.yaml").write_text(LABELS, encoding="utf-8")
    _survey().to_csv("survey.csv", index=False)
    _survey(n=450, groups=3).to_csv("survey3.csv", index=False)
    return tmp_path


# ---------------------------------------------------------------------------------------------
# the Labels object
# ---------------------------------------------------------------------------------------------
def test_labels_yaml_gives_each_language_and_falls_back(study):
    lab = Labels.from_yaml("labels.yaml")
    assert lab.construct("KS", "zh") == "知识共享"
    assert lab.construct("KS", "en") == "Knowledge sharing"
    assert lab.item("pi1", "zh") == "道路" and lab.item("pi2", "zh") == "pi2"
    assert lab.group("own", 1.0, "zh") == "国有" and lab.group("own", "2", "en") == "Private"
    assert lab.group("own", 9, "en") == "9"                    # no label: the value, no ".0"
    assert lab.title("zh") == "园区知识共享"
    only_en = Labels(constructs={"A": {"en": "Alpha"}, "B": "Beta"})
    assert only_en.construct("A", "zh") == "Alpha"            # the other language
    assert only_en.construct("B", "zh") == "Beta" and only_en.construct("C", "zh") == "C"
    assert Labels().title("en") is None


def test_value_spellings_are_one_value():
    assert value_key(1) == value_key(1.0) == value_key("1") == value_key(" 1.0 ") == "1"
    assert value_key(1.5) == "1.5" and value_key("east") == "east"


def test_construct_codes_that_yaml_reads_as_booleans_stay_codes(tmp_path):
    p = tmp_path / "l.yaml"
    p.write_text("constructs:\n  NO: {en: Network openness}\n  ON: Organisational norms\n",
                 encoding="utf-8")
    lab = Labels.from_yaml(p)
    assert lab.construct("NO") == "Network openness"
    assert lab.construct("ON") == "Organisational norms"


@pytest.mark.parametrize("text, where, what", [
    ("constructs:\n  KS: {en: Knowledge\n", ":3:", "not valid YAML"),
    ("constructs:\n  KS: [a, b]\n", "constructs.KS", "not a list"),
    ("constructs:\n  KS: {fr: Partage}\n", "constructs.KS", "'fr'"),
    ("construct:\n  KS: x\n", "unknown key", "construct"),
    ("- KS\n", "labels file is a mapping", "list"),
    ("groups:\n  own: State-owned\n", "groups.own", "map each value"),
])
def test_bad_labels_file_is_one_clear_error(tmp_path, text, where, what):
    p = tmp_path / "l.yaml"
    p.write_text(text, encoding="utf-8")
    with pytest.raises(LabelsError) as info:
        Labels.from_yaml(p)
    msg = str(info.value)
    assert where in msg and what in msg and "\n" not in msg


def test_bad_labels_file_exits_2_in_one_line(study, capsys):
    Path("bad.yaml").write_text("constructs:\n  KS: {en: x\n", encoding="utf-8")
    for argv in (["fit", "sem.lav", "--data", "survey.csv", "--labels", "bad.yaml"],
                 ["diagram", "sem.lav", "--kind", "conceptual", "--labels", "bad.yaml",
                  "--out", "c.png"],
                 ["measure", "sem.lav", "--data", "survey.csv", "--labels", "bad.yaml"]):
        assert main(argv) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and "bad.yaml:3:" in err, err
    assert not Path("c.png").exists()


def test_a_label_for_a_name_not_in_the_model_is_named_in_a_warning(study):
    Path("typo.yaml").write_text("constructs:\n  KS: Knowledge sharing\n  KZ: typo\n"
                                 "groups:\n  own:\n    1: State\n    7: nobody\n",
                                 encoding="utf-8")
    with pytest.warns(SemclusterWarning, match=r"KZ, own=7"):
        main(["fit", "sem.lav", "--data", "survey.csv", "--group", "own", "--labels",
              "typo.yaml"])
    with warnings.catch_warnings():                  # every name known: no warning
        warnings.simplefilter("error", SemclusterWarning)
        assert Labels.from_yaml("labels.yaml").unknown(
            ["PI", "KS", "TR", "pi1"], "own", [1, 2, 3]) == []


def test_spss_variable_and_value_labels_become_item_and_group_labels(study, capsys):
    pyreadstat = pytest.importorskip("pyreadstat")
    X = _survey()
    pyreadstat.write_sav(X, "survey.sav",
                         column_labels={"pi1": "道路质量", "ks1": "We share reports"},
                         variable_value_labels={"own": {1.0: "国有", 2.0: "民营"}})
    from semcluster.data.survey import load_data

    lab = Labels.from_frame(load_data("survey.sav"))
    assert lab.item("pi1", "zh") == "道路质量" and lab.item("ks1", "en") == "We share reports"
    assert lab.group("own", "1.0", "zh") == "国有"
    # the CLI uses them: group headers in the summary, group titles in the diagram
    assert main(["fit", "sem.lav", "--data", "survey.sav", "--group", "own",
                 "--json", "g.json"]) == 0
    out = capsys.readouterr().out
    assert "Group 1 [1.0: 国有]:" in out and "Group 2 [2.0: 民营]:" in out
    fig = d.tested_diagram("g.json", lang="zh", labels=lab)
    titles = {t.get_text() for lay in fig.semcluster_layout for t in lay.texts}
    assert {"国有", "民营"} <= titles and not {"1.0", "2.0"} & titles


# ---------------------------------------------------------------------------------------------
# diagrams
# ---------------------------------------------------------------------------------------------
def _texts(fig):
    lays = fig.semcluster_layout
    lays = lays if isinstance(lays, list) else [lays]
    return [t.get_text() for lay in lays for t in lay.texts]


def test_a_users_ks_is_not_the_studys_knowledge_sharing(study):
    """From the CLI a zh diagram of the user's model keeps her codes (or her labels): the
    study's dictionary names the study's bundled models only."""
    import matplotlib.figure

    drawn = []
    real = matplotlib.figure.Figure.savefig

    def keep(fig, *a, **k):
        drawn.append(fig)
        return real(fig, *a, **k)

    from unittest import mock

    with mock.patch.object(matplotlib.figure.Figure, "savefig", keep):
        assert main(["diagram", "sem.lav", "--kind", "conceptual", "--lang", "zh",
                     "--out", "c.png"]) == 0
        assert main(["diagram", "sem.lav", "--kind", "conceptual", "--lang", "zh",
                     "--labels", "labels.yaml", "--out", "c2.png"]) == 0
        assert main(["diagram", "h1_h5", "--kind", "conceptual", "--lang", "zh",
                     "--out", "c3.png"]) == 0
    own, labelled, paper = (_texts(f) for f in drawn)
    assert "KS" in own and "知识共享" not in own
    assert {"知识共享", "园区基础设施", "技术更新"} <= set(labelled)
    assert "知识共享" in paper and "集群意识" in paper


def test_the_conceptual_caption_names_the_title_never_the_file(study):
    plain = _texts(d.conceptual_diagram("sem.lav"))
    assert "Conceptual model" in plain and not any("sem" in t for t in plain)
    lab = Labels.from_yaml("labels.yaml")
    assert "概念模型: 园区知识共享" in _texts(d.conceptual_diagram("sem.lav", lang="zh",
                                                                labels=lab))
    assert "Conceptual model: My model" in _texts(d.conceptual_diagram("sem.lav",
                                                                       title="My model"))


def test_labels_reach_every_text_of_the_measurement_diagram(study):
    import semcluster

    cfa = "\n".join(MODEL.splitlines()[:3]) + "\n"          # factor correlations: a table
    res = semcluster.fit(cfa, "survey.csv")
    lab = Labels.from_yaml("labels.yaml")
    for lang, names in (("en", ("Park infrastructure", "Knowledge sharing",
                                "Technological renewal")),
                        ("zh", ("园区基础设施", "知识共享", "技术更新"))):
        fig = d.measurement_diagram(res, lang=lang, labels=lab)
        lay = fig.semcluster_layout
        assert [t for t in lay.texts if hasattr(t, "semcluster_table")]
        texts = [t.get_text() for t in lay.texts]
        # the correlation table's row and column heads are the labels, not the codes
        for code, name in zip(("PI", "KS", "TR"), names):
            assert name in texts and code not in texts
        assert ("道路" if lang == "zh" else "Roads") in texts and "pi1" not in texts


@pytest.mark.filterwarnings("ignore:.*own=3.*:UserWarning")     # two groups of three labelled
@pytest.mark.parametrize("lang, heads", [("en", ["State-owned", "Private"]),
                                         ("zh", ["国有", "民营"])])
@pytest.mark.parametrize("kind", ["tested", "measurement"])
def test_grouped_json_draws_every_group_side_by_side_with_value_labels(study, lang, heads,
                                                                       kind):
    import matplotlib.figure
    from unittest import mock

    assert main(["fit", "sem.lav", "--data", "survey.csv", "--group", "own", "--json",
                 "g.json"]) == 0
    drawn = []
    real = matplotlib.figure.Figure.savefig
    with mock.patch.object(matplotlib.figure.Figure, "savefig",
                           lambda fig, *a, **k: (drawn.append(fig), real(fig, *a, **k))[1]):
        assert main(["diagram", "g.json", "--kind", kind, "--lang", lang, "--labels",
                     "labels.yaml", "--out", f"{kind}.png"]) == 0
    texts = _texts(drawn[0])
    assert len(drawn[0].semcluster_layout) == 2
    assert all(h in texts for h in heads) and "1.0" not in texts and "1" not in texts
    other = {"en": "知识共享", "zh": "Knowledge sharing"}[lang]
    assert other not in texts                          # one language per diagram


def test_three_groups_side_by_side(study):
    import semcluster

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SemclusterWarning)
        res = semcluster.fit("sem.lav", "survey3.csv", group="own")
    lab = Labels.from_yaml("labels.yaml")
    for draw in (d.tested_diagram, d.measurement_diagram):
        fig = draw(res, lang="zh", labels=lab)
        assert len(fig.semcluster_layout) == 3
        texts = _texts(fig)
        assert {"国有", "民营", "外资"} <= set(texts)


# ---------------------------------------------------------------------------------------------
# fit summary and measurement tables
# ---------------------------------------------------------------------------------------------
def test_fit_summary_and_measure_tables_print_labels(study, capsys):
    assert main(["fit", "sem.lav", "--data", "survey.csv", "--labels", "labels.yaml"]) == 0
    out = capsys.readouterr().out
    assert "  KS =~  (Knowledge sharing)" in out and "  TR ~  (Technological renewal)" in out
    assert main(["fit", "sem.lav", "--data", "survey.csv"]) == 0
    assert "(Knowledge sharing)" not in capsys.readouterr().out
    assert main(["measure", "sem.lav", "--data", "survey.csv", "--labels", "labels.yaml",
                 "--parallel-iter", "10", "--out", "m"]) == 0
    out = capsys.readouterr().out
    assert "Park infrastructure" in out and "Technological renewal" in out
    # the files written keep the codes (raw tables)
    rel = pd.read_csv("m/reliability.csv")
    assert list(rel.construct) == ["PI", "KS", "TR"]
    assert json.loads(Path("m/measurement.json").read_text())["reliability"][0]["construct"] \
        == "PI"


# ---------------------------------------------------------------------------------------------
# one language per diagram; item labels that fit a box
# ---------------------------------------------------------------------------------------------
def test_a_zh_diagram_names_constructs_with_english_only_labels(study):
    half = Labels(constructs={"PI": {"en": "Park infrastructure", "zh": "园区基础设施"},
                              "KS": {"en": "Knowledge sharing"}})
    with pytest.warns(SemclusterWarning, match=r"no zh label for KS \("):
        d.conceptual_diagram("sem.lav", lang="zh", labels=half)
    full = Labels.from_yaml("labels.yaml")
    with warnings.catch_warnings():
        warnings.simplefilter("error", SemclusterWarning)
        d.conceptual_diagram("sem.lav", lang="zh", labels=full)        # every label in zh
        d.conceptual_diagram("sem.lav", lang="en", labels=half)        # every label in en


def test_item_labels_up_to_the_box_width_replace_the_code(study):
    import semcluster
    from semcluster.output.diagrams import ITEM_LABEL_WIDTH

    res = semcluster.fit("\n".join(MODEL.splitlines()[:3]) + "\n", "survey.csv")
    fits = "x" * ITEM_LABEL_WIDTH                                  # just fits
    too_long = "x" * (ITEM_LABEL_WIDTH + 1)
    zh_fits = "题" * (ITEM_LABEL_WIDTH // 2)                        # 2 columns per character
    zh_long = "题" * (ITEM_LABEL_WIDTH // 2 + 1)
    lab = Labels(items={"pi1": fits, "pi2": too_long, "ks1": zh_fits, "ks2": zh_long})
    texts = _texts(d.measurement_diagram(res, lang="zh", labels=lab))
    assert fits in texts and "pi1" not in texts
    assert too_long not in texts and "pi2" in texts
    assert zh_fits in texts and "ks1" not in texts
    assert zh_long not in texts and "ks2" in texts


def test_group_is_chosen_by_its_value_label_too(study):
    import matplotlib.figure
    from unittest import mock

    assert main(["fit", "sem.lav", "--data", "survey.csv", "--group", "own", "--json",
                 "g.json"]) == 0
    drawn = []
    real = matplotlib.figure.Figure.savefig
    with mock.patch.object(matplotlib.figure.Figure, "savefig",
                           lambda fig, *a, **k: (drawn.append(fig), real(fig, *a, **k))[1]):
        for group in ("民营", "2.0", "Private"):
            assert main(["diagram", "g.json", "--group", group, "--labels", "labels.yaml",
                         "--out", "one.png"]) == 0
    r2 = {tuple(sorted(t.get_text() for t in f.semcluster_layout.texts if "R²" in t.get_text()))
          for f in drawn}
    assert len(drawn) == 3 and len(r2) == 1      # the same group, however it was named
    assert main(["diagram", "g.json", "--group", "Foreign", "--labels", "labels.yaml",
                 "--out", "none.png"]) == 2       # a label of no group in this result
