"""1000-replicate bootstrap of h1_h5 on the bundled data (N = 160): 1 vs 2 processes, against
naive semopy refits and lavaan, all measured in this run.

Run: python benchmarks/bench_bootstrap.py [n_boot] [repeats]
- semcluster: bootstrap(..., bca=False) (percentile intervals, as lavaan's default), median of
  `repeats` runs, BLAS pinned to one thread in every process;
- naive semopy: a new semopy.Model(desc).fit(resample) per replicate, 100 replicates, scaled;
- lavaan: sem(se = "bootstrap", bootstrap = n_boot, parallel = "multicore", ncpus = 2) if R is
  installed (timed inside R).
"""
from __future__ import annotations

import statistics
import sys
import time

from threadpoolctl import threadpool_limits
from _rscript import run_r  # benchmarks/_rscript.py (the script's folder)


def lavaan_seconds(n_boot):
    from semcluster.resources import data_path, model_path

    script = f"""
suppressPackageStartupMessages(library(lavaan))
d <- read.csv("{data_path('paper_synthetic.csv')}")
m <- paste(readLines("{model_path('h1_h5')}"), collapse = "\\n")
set.seed(1)
t <- system.time(sem(m, data = d, se = "bootstrap", bootstrap = {n_boot},
                     parallel = "multicore", ncpus = 2))[["elapsed"]]
cat(t, "\\n")
"""
    out = run_r(script)
    try:
        return float(out.split()[-1]) if out else None
    except (ValueError, IndexError):
        return None


def main():
    n_boot = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    repeats = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    import numpy as np
    import pandas as pd
    import semopy

    from semcluster.analysis.bootstrap import bootstrap
    from semcluster.resources import data_path
    from semcluster.spec.parser import read_model

    times = {}
    last = {}
    for jobs in (1, 2):
        ts = []
        for _ in range(repeats):
            t = time.perf_counter()
            last[jobs] = bootstrap("h1_h5", n_boot=n_boot, n_jobs=jobs, bca=False)
            ts.append(time.perf_counter() - t)
        times[jobs] = statistics.median(ts)
    spec = read_model("h1_h5")
    data = pd.read_csv(data_path("paper_synthetic.csv"))[spec.observed]
    desc = spec.to_semopy()
    rng = np.random.default_rng(1)
    k = 100
    with threadpool_limits(1):
        t = time.perf_counter()
        for _ in range(k):
            idx = rng.integers(0, len(data), len(data))
            semopy.Model(desc).fit(data.iloc[idx].reset_index(drop=True))
        naive = (time.perf_counter() - t) / k * n_boot
    lav = lavaan_seconds(n_boot)
    b = last[2]
    print(f"bootstrap of h1_h5, N = 160, {n_boot} replicates (median of {repeats} runs)")
    print(f"  semcluster, 1 process : {times[1]:7.2f} s  ({n_boot / times[1]:6.1f} fits/s)")
    print(f"  semcluster, 2 processes: {times[2]:7.2f} s  ({n_boot / times[2]:6.1f} fits/s); "
          f"speed-up {times[1] / times[2]:.2f}")
    print(f"    replicates used {b.n_used}, failed {b.n_failed}, inadmissible "
          f"{b.n_inadmissible}")
    print(f"  naive semopy loop (new Model per replicate, 1 process, {k} timed, scaled): "
          f"{naive:7.2f} s; ratio to semcluster 2 processes {naive / times[2]:.1f}x")
    if lav is not None:
        print(f"  lavaan 0.6 se='bootstrap', 2 cores: {lav:7.2f} s; semcluster 2 processes / "
              f"lavaan = {times[2] / lav:.2f}")
    else:
        print("  lavaan: not measured (no Rscript)")


if __name__ == "__main__":
    main()
