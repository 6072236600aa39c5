"""Bootstrap of grouped and mean-structure fits: seconds per draw, and lavaan's for the same
fits read from the fixture tests/fixtures/bootstrap/hs_groups_lavaan_bootstrap.json (timed by
make_group_fixture.R on one core, 1000 draws each).

Run: python benchmarks/bench_bootstrap_groups.py [n_boot] [jobs]
- two groups, ML (Holzinger-Swineford by school, 6 items, a path per group and d := b1 - b2);
- three groups, FIML (hs39_matrix_missing.csv by age group, 6 items, 94 blanks);
- one group with intercepts (hs39_matrix.csv, 9 items, ``x1 ~ 1``);
each ``bootstrap(..., n_boot, n_jobs=jobs, bca=False)`` with BLAS pinned to one thread.
Every draw is refitted by ``semcluster.fit`` (the full grouped fit, its standard errors and
fit measures included), which is the cost per draw.
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pandas as pd
from threadpoolctl import threadpool_limits

from semcluster.analysis.bootstrap import bootstrap
from semcluster.data.survey import data_path

ROOT = Path(__file__).resolve().parents[1]
FIX = ROOT / "tests" / "fixtures"


def main() -> None:
    n_boot = int(sys.argv[1]) if len(sys.argv) > 1 else 100
    jobs = int(sys.argv[2]) if len(sys.argv) > 2 else 1
    ref = json.loads((FIX / "bootstrap" / "hs_groups_lavaan_bootstrap.json").read_text())
    hs = pd.read_csv(data_path("holzinger_swineford_1939.csv"))
    cases = [("two groups, ML", ref["school"], hs, "school"),
             ("three groups, FIML", ref["fiml_groups"],
              pd.read_csv(FIX / "matrix" / "hs39_matrix_missing.csv"), "agegrp"),
             ("one group, intercepts", ref["means"],
              pd.read_csv(FIX / "matrix" / "hs39_matrix.csv"), None)]
    print(f"{n_boot} draws, {jobs} process(es), percentile intervals only")
    with threadpool_limits(1):
        for name, part, data, group in cases:
            t = time.perf_counter()
            b = bootstrap(part["model"], data, group=group, n_boot=n_boot, n_jobs=jobs,
                          bca=False, seed=1)
            s = time.perf_counter() - t
            lav = part["seconds_1_core"] / 1000
            print(f"{name:24s} semcluster {s / n_boot * 1000:7.1f} ms/draw "
                  f"({b.n_used} used)   lavaan 0.6 {lav * 1000:7.1f} ms/draw (1 core)")


if __name__ == "__main__":
    main()
