"""The study as data: constructs, items, hypotheses and the published Tables 2–4.

Everything here is read from ``semcluster/resources/data/study.json``, which transcribes the paper
(``shared/paper/seeds/000_94d29a0c6a01c0d2.txt``; summary in ``shared/paper/study.md``) with the
precision each figure was printed to.  Nothing here is computed: these are the published
numbers, the inputs of the audit, the calibration of the synthetic sample and the re-analysis
from summary statistics.

>>> from semcluster import study
>>> float(study.correlations().loc["IN", "MR"])
0.328
"""
from __future__ import annotations

import json
from functools import lru_cache

import numpy as np
import pandas as pd

from ..resources import data_path

N = 160
SCALE = (1, 7)
CONSTRUCTS = ("CA", "PA", "MR", "KS", "LO", "IN")
PREDICTORS = ("CA", "PA", "MR", "KS", "LO")
OUTCOME = "IN"


@lru_cache(maxsize=1)
def _study() -> dict:
    return json.loads(data_path("study.json").read_text(encoding="utf-8"))


def constructs() -> pd.DataFrame:
    """One row per construct: code, English and Chinese name, role, hypothesis, items."""
    df = pd.DataFrame(_study()["constructs"]).set_index("code")
    df["n_items"] = df["items"].map(len)
    return df


def items() -> pd.DataFrame:
    """Table 1: one row per item (``ca1`` … ``in4``) with its construct and zh/en wording."""
    return pd.DataFrame(_study()["items"]).set_index("item")


def item_names(construct: str | None = None) -> list[str]:
    """Item codes in questionnaire order, of one construct or of all."""
    it = items()
    if construct is not None:
        it = it[it.construct == construct]
    return list(it.index)


def hypotheses() -> pd.DataFrame:
    """H1–H5: id, path label in the model files (``h1``…), from, to, expected sign, wording."""
    return pd.DataFrame(_study()["hypotheses"]).set_index("id")


def _published() -> dict:
    return _study()["published"]


def descriptives() -> pd.DataFrame:
    """Table 2, first two columns: composite means and SDs as printed (3 decimals)."""
    t = _published()["table2"]
    df = pd.DataFrame({"mean": t["mean"], "sd": t["sd"]}, index=pd.Index(t["constructs"],
                                                                         name="construct"))
    df["decimals"] = t["decimals"]
    df["n_items"] = [_published()["table3"]["n_items"][c] for c in df.index]
    return df


def correlations() -> pd.DataFrame:
    """Table 2: the Pearson correlations of the composites, as a full symmetric matrix."""
    t = _published()["table2"]
    names = t["constructs"]
    R = np.eye(len(names))
    for i, row in enumerate(t["lower_triangle"]):
        for j, r in enumerate(row):
            R[i, j] = R[j, i] = r
    return pd.DataFrame(R, index=names, columns=names)


def covariances(unbiased: bool = True) -> pd.DataFrame:
    """Covariance matrix of the composites from Table 2 (correlations × SDs).

    SPSS prints SDs with divisor N − 1, so this is the unbiased covariance matrix, the
    ``sample.cov`` a lavaan user would type in.
    """
    R = correlations()
    sd = descriptives()["sd"].to_numpy()
    return R * np.outer(sd, sd)


def reliability() -> pd.DataFrame:
    """Table 3: Cronbach's α and number of items per construct (α printed to 3 decimals)."""
    t = _published()["table3"]
    return pd.DataFrame({"alpha": t["alpha"], "n_items": t["n_items"]}).rename_axis(
        "construct").loc[list(CONSTRUCTS)]


def regression() -> pd.DataFrame:
    """Table 4 as printed: standardized β per predictor, whether it entered, stars, p as stated.

    The table-level figures (F, R², adjusted R², N, number of predictors entered, the
    footnote's star levels) are in ``.attrs`` and in :func:`regression_summary`.
    """
    t = _published()["table4"]
    df = pd.DataFrame({"beta": t["beta"], "entered": t["entered"], "stars": t["stars"],
                       "p_text": t["p_text"]}).rename_axis("predictor").loc[list(PREDICTORS)]
    df.attrs.update(regression_summary())
    return df


def regression_summary() -> dict:
    """F, its stars, R², adjusted R², N, predictors entered, star levels of Table 4."""
    t = _published()["table4"]
    return {"outcome": t["outcome"], "F": t["F"], "F_stars": t["F_stars"], "r2": t["r2"],
            "adj_r2": t["adj_r2"], "n": _published()["n"],
            "n_predictors": int(sum(t["entered"].values())), "decimals": t["decimals"],
            "star_levels": dict(t["star_levels"])}


def published() -> dict:
    """Everything published, as tidy pandas objects in one dict."""
    return {"n": N, "scale": SCALE, "items": items(), "descriptives": descriptives(),
            "correlations": correlations(), "reliability": reliability(),
            "regression": regression(), "regression_summary": regression_summary(),
            "hypotheses": hypotheses()}


def construct_labels(lang: str = "en") -> dict:
    """Construct code -> its name in ``lang`` (``en``/``zh``): the labels the diagrams of the
    study's models give the latent variables ``CA`` … ``IN`` (pass as ``labels=``; any other
    variable keeps its own name)."""
    c = constructs()
    col = "zh" if lang == "zh" else "en"
    return {code: str(c.loc[code, col]) for code in c.index}


def study_labels():
    """The study's dictionary as a :class:`semcluster.data.labels.Labels`: the constructs ``CA``
    … ``IN`` and the paper's title, en and zh.  For the study's own models and
    ``semcluster reproduce`` only (a user's construct called ``KS`` is not the study's)."""
    from ..data.labels import Labels

    c = constructs()
    meta = _study()
    return Labels(constructs={code: {"en": str(c.loc[code, "en"]), "zh": str(c.loc[code, "zh"])}
                              for code in c.index},
                  title_text={"en": meta.get("title_en", ""), "zh": meta.get("title_zh", "")},
                  source="the study's dictionary")


# which bundled models of the study are nested in which: (restricted, full)
NESTED_MODELS = (("revised", "h1_h5"), ("second_order", "h1_h5"), ("one_factor", "cfa"),
                 ("one_factor", "h1_h5"))


def nested_models(models) -> list | None:
    """The study's nesting among ``models`` (names/paths/specs): the pairs of
    :data:`NESTED_MODELS` whose two models are both given by name, as ``nested=`` for
    :func:`semcluster.analysis.model_comparison.compare_models`; None when there is none (the general
    rule then pairs the models by df)."""
    from ..resources import bundled_models

    bundled = set(bundled_models())
    given = {m for m in models if isinstance(m, str) and m in bundled}
    pairs = [(a, b) for a, b in NESTED_MODELS if a in given and b in given]
    return pairs or None
