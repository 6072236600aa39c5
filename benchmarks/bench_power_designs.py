"""Monte Carlo power of h1_h5 for clustered and incomplete designs: seconds per replicate of
the plain run (ML refits), clusters (ML refit + cluster-robust sandwich), missing answers
(FIML) and both (robust FIML with the clustered meat), one process, N = 250.

Run: python benchmarks/bench_power_designs.py [reps]
"""
from __future__ import annotations

import os
import sys
import time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")


def main():
    reps = int(sys.argv[1]) if len(sys.argv) > 1 else 50
    from semcluster.analysis.simulate import ClusterDesign, MissingDesign
    from semcluster.study.power import power_analysis

    designs = {
        "plain (ML)": {},
        "clusters of 10, ICC 0.1": dict(clusters=ClusterDesign(0.1, size=10)),
        "6 % missing, MAR (FIML)": dict(missing=MissingDesign(0.06, "mar")),
        "both (robust FIML)": dict(clusters=ClusterDesign(0.1, size=10),
                                   missing=MissingDesign(0.06, "mar")),
    }
    print(f"h1_h5, N = 250, {reps} replications, 1 process, wall clock (incl. the population "
          f"fit to 20,000 draws)")
    for name, kw in designs.items():
        power_analysis("h1_h5", n_grid=(250,), reps=10, n_truth=20_000, **kw)   # warm-up
        t = time.perf_counter()
        r = power_analysis("h1_h5", n_grid=(250,), reps=reps, n_truth=20_000, **kw)
        el = time.perf_counter() - t
        conv = r.table.converged.iloc[0]
        print(f"  {name:<26} {1000 * el / reps:7.1f} ms per replicate (converged {conv:.2f})")


if __name__ == "__main__":
    main()
