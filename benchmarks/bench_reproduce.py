"""Time `semcluster reproduce` with its default settings (1000 bootstrap resamples, 5 N x 200
power replications, all cores), median of repeated runs, against a single h1_h5 fit measured in
the same run as the baseline unit.

Run: python benchmarks/bench_reproduce.py [repeats]
"""
from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path


def main():
    repeats = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    import semcluster
    from semcluster.study.report import reproduce_report

    t = time.perf_counter()
    semcluster.fit("h1_h5")
    one_fit = time.perf_counter() - t
    ts = []
    for i in range(repeats):
        with tempfile.TemporaryDirectory() as d:
            t = time.perf_counter()
            reproduce_report(None, Path(d) / "report", progress=False)
            ts.append(time.perf_counter() - t)
    med = statistics.median(ts)
    print(f"semcluster reproduce (defaults, 2 cores): median {med:.1f} s over {repeats} runs "
          f"({', '.join(f'{x:.1f}' for x in ts)}); one h1_h5 fit {one_fit * 1e3:.0f} ms "
          f"(first call, imports included)")


if __name__ == "__main__":
    main()
