"""Regenerate the diagrams under docs/figures/ from the bundled model and data.

Run from the repository root:  python docs/make_figures.py
"""
from __future__ import annotations

from pathlib import Path

import semcluster
from semcluster.output.diagrams import measurement_diagram as measurement_diagram_general
from semcluster.output.diagrams import save_figure
from semcluster.study.diagrams import (compare_diagram, conceptual_diagram, measurement_diagram,
                                       tested_diagram)

OUT = Path(__file__).resolve().parent / "figures"


def main() -> None:
    res = semcluster.fit("h1_h5")
    figures = {
        "figure1_conceptual.png": conceptual_diagram("h1_h5"),
        "figure2_tested.png": tested_diagram(res, covariances=True),
        "measurement_h1_h5.png": measurement_diagram(res),
        "regression_vs_sem.png": compare_diagram(semcluster.compare_methods()),
        "figure1_conceptual_zh.png": conceptual_diagram("h1_h5", lang="zh"),
        "diagram_tested_zh.png": tested_diagram(res, lang="zh", covariances=True),
        "diagram_measurement_zh.png": measurement_diagram(res, lang="zh"),
    }
    # labels for a user's study (docs/labels.md): Holzinger & Swineford's two schools, drawn
    # side by side in Chinese, constructs, items and groups by their labels
    import pandas as pd

    from semcluster.data.labels import Labels
    from semcluster.resources import data_path

    hs = pd.read_csv(data_path("holzinger_swineford_1939.csv"))
    grouped = semcluster.fit("visual =~ x1 + x2 + x3\ntextual =~ x4 + x5 + x6\n"
                             "speed =~ x7 + x8 + x9\n", hs, group="school")
    labels = Labels(constructs={"visual": {"en": "Visual", "zh": "视觉"},
                                "textual": {"en": "Textual", "zh": "文字"},
                                "speed": {"en": "Speed", "zh": "速度"}},
                    items={"x1": {"en": "Visual perception", "zh": "视知觉"},
                           "x4": {"en": "Paragraph comprehension", "zh": "段落理解"}},
                    groups={"school": {"Pasteur": {"en": "Pasteur School", "zh": "巴斯德学校"},
                                       "Grant-White": {"en": "Grant-White School",
                                                       "zh": "格兰特-怀特学校"}}})
    figures["labels_two_groups_zh.png"] = measurement_diagram_general(grouped, lang="zh",
                                                                       labels=labels)
    for name, fig in figures.items():
        print("wrote", save_figure(fig, OUT / name))


if __name__ == "__main__":
    main()
