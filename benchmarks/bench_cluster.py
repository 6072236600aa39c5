"""Time a cluster-robust fit (lavaan's ``cluster =``) of the study's h1_h5 model against
lavaan in the same run.

Run: python benchmarks/bench_cluster.py [repeats]
Data: the simulated clustered survey of tests/fixtures/cluster/ (892 firms in 30 parks of
6-60; make_cluster_fixtures.R), complete and with 5 % of answers missing.  For each of
MLR (complete rows) and robust FIML (missing answers), prints the median time of repeated
semcluster fits (BLAS pinned to one thread with threadpoolctl) and of lavaan's
``sem(model, data, cluster = "park", estimator = "MLR"[, missing = "ml"])`` timed inside R
(OPENBLAS_NUM_THREADS=1), the ratio, and the scaled χ² of both.
"""
from __future__ import annotations

import json
import statistics
import sys
import time
import warnings
from pathlib import Path

from threadpoolctl import threadpool_limits
from _rscript import run_r  # benchmarks/_rscript.py (the script's folder)

ROOT = Path(__file__).resolve().parent.parent
FIX = ROOT / "tests" / "fixtures" / "cluster"


def median_time(fn, repeats):
    out = fn()                             # warm-up (imports, caches)
    ts = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t)
    return statistics.median(ts), out


def lavaan_run(csv, model_file, repeats, missing):
    extra = ', missing = "ml"' if missing else ""
    script = f"""
suppressPackageStartupMessages(library(lavaan))
d <- read.csv("{csv}")
m <- paste(readLines("{model_file}"), collapse = "\\n")
run <- function() sem(m, data = d, cluster = "park", estimator = "MLR"{extra})
f <- suppressWarnings(run())
ts <- replicate({repeats}, system.time(suppressWarnings(run()))[["elapsed"]])
cat("JSON", jsonlite::toJSON(list(t = median(ts),
    chisq_scaled = unname(fitMeasures(f, "chisq.scaled"))), digits = NA, auto_unbox = TRUE), "\\n")
"""
    out = run_r(script, timeout=3600)
    try:
        line = [s for s in (out or "").splitlines() if s.startswith("JSON ")][-1]
        return json.loads(line[5:])
    except (ValueError, IndexError):
        return None


def main():
    repeats = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    import pandas as pd

    import semcluster
    from semcluster.resources import model_path

    warnings.simplefilter("ignore")
    model_file = model_path("h1_h5")
    for label, csv, missing in (("MLR, complete", "study_clustered.csv", False),
                                ("robust FIML, 5 % missing", "study_clustered_missing.csv",
                                 True)):
        data = pd.read_csv(FIX / csv)
        with threadpool_limits(1):
            t, res = median_time(lambda: semcluster.fit("h1_h5", data, cluster="park",
                                                        estimator="MLR"), repeats)
        lav = lavaan_run(FIX / csv, model_file, repeats, missing)
        print(f"{label}: N = {len(data)}, 30 clusters")
        print(f"  semcluster  {t:8.2f} s   chisq.scaled {res.fit_measures['chisq_scaled']:.6f}")
        if lav is None:
            print("  lavaan      not run (Rscript with lavaan missing)")
        else:
            print(f"  lavaan      {lav['t']:8.2f} s   chisq.scaled {lav['chisq_scaled']:.6f}")
            print(f"  semcluster / lavaan time: {t / lav['t']:.2f}")


if __name__ == "__main__":
    main()
