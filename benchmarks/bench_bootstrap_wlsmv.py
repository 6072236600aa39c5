"""Speed of the WLSMV bootstrap (ordinal items): seconds per replicate and for the BCa
jackknife on HS39 cut into 3-5 categories (N = 301, 9 items), one process, BLAS pinned to one
thread.  Run from the repository root:  python benchmarks/bench_bootstrap_wlsmv.py"""
import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import time  # noqa: E402

from semcluster.analysis.bootstrap import bootstrap  # noqa: E402

MODEL = "visual =~ x1 + x2 + x3\ntextual =~ x4 + x5 + x6\nspeed =~ x7 + x8 + x9\n"
CSV = "tests/fixtures/estimators/hs39_ordinal.csv"

if __name__ == "__main__":
    for n_boot, bca in ((100, False), (20, True)):
        t0 = time.perf_counter()
        b = bootstrap(MODEL, CSV, n_boot=n_boot, seed=1, n_jobs=1, bca=bca, estimator="WLSMV")
        wall = time.perf_counter() - t0
        s = b.info["seconds"]
        print(f"n_boot={n_boot} bca={bca}: {wall:.1f} s wall; replicates {s['replicates']:.1f} s "
              f"({s['replicates'] / n_boot:.3f} s each), jackknife {s['jackknife']:.1f} s; "
              f"{b.n_used} used, {b.n_failed} failed")
