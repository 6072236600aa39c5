"""Regenerate the diagrams under docs/figures/ from the bundled model and data.

Run from the repository root:  python docs/make_figures.py
"""
from __future__ import annotations

from pathlib import Path

import semcluster
from semcluster.diagrams import save_figure
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
    for name, fig in figures.items():
        print("wrote", save_figure(fig, OUT / name))


if __name__ == "__main__":
    main()
