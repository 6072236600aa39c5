"""Monte Carlo power run: a 5-point N grid x 500 replications of h1_h5 from the population
calibrated to the paper, 2 processes, against naive semopy refits measured in the same run.

Run: python benchmarks/bench_power.py [reps]
"""
from __future__ import annotations

import sys
import time

from threadpoolctl import threadpool_limits


def main():
    reps = int(sys.argv[1]) if len(sys.argv) > 1 else 500
    import numpy as np
    import semopy

    from semcluster.spec.parser import read_model
    from semcluster.study.power import power_analysis
    from semcluster.study.synthetic import scaled_population, simulate_items

    grid = (100, 160, 250, 400, 600)
    t = time.perf_counter()
    r = power_analysis("h1_h5", n_grid=grid, reps=reps, n_jobs=2)
    el = time.perf_counter() - t
    fits = reps * len(grid)
    spec = read_model("h1_h5")
    pop = scaled_population()
    k = 50
    rng = np.random.default_rng(1)
    with threadpool_limits(1):
        t = time.perf_counter()
        for i in range(k):
            n = grid[i % len(grid)]
            semopy.Model(spec.to_semopy()).fit(simulate_items(n, rng, pop)[spec.observed])
        naive = (time.perf_counter() - t) / k * fits
    print(f"power run: {len(grid)} N x {reps} replications = {fits} fits")
    print(f"  semcluster, 2 processes: {el:7.2f} s ({fits / el:6.1f} fits/s, incl. data "
          f"generation and SEs)")
    print(f"  naive semopy (new Model per data set, 1 process, {k} timed, scaled): "
          f"{naive:7.2f} s; ratio {naive / el:.1f}x")
    print(r.smallest_n.to_string())


if __name__ == "__main__":
    main()
