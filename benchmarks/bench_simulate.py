"""Time the generation of the matched N = 160 sample (issue 3) and of plain draws.

Run: python benchmarks/bench_simulate.py [repeats]
Prints the median of repeated runs; BLAS pinned to one thread. Baseline in the same run: a plain
population draw of the same size (what matching adds on top).
"""
from __future__ import annotations

import statistics
import sys
import time

from threadpoolctl import threadpool_limits


def median_time(fn, repeats):
    ts = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t)
    return statistics.median(ts), ts


def main():
    repeats = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    from semcluster.study.synthetic import paper_synthetic, population_model, simulate_items

    with threadpool_limits(1):
        pop = population_model()
        base, _ = median_time(lambda: simulate_items(160, 1, pop), repeats)
        match, ts = median_time(lambda: paper_synthetic(20131101), repeats)
    print(f"plain draw, N=160:            median {base * 1e3:8.2f} ms  ({repeats} runs)")
    print(f"matched sample (shipped CSV): median {match:8.2f} s   ({repeats} runs: "
          + ", ".join(f"{t:.2f}" for t in ts) + ")")
    print(f"matching costs {match / base:,.0f}x a plain draw")


if __name__ == "__main__":
    main()
