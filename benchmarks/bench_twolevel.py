"""Time a two-level ML fit (lavaan's ``level: 1`` / ``level: 2`` with ``cluster =``) against
lavaan in the same run.

Run: python benchmarks/bench_twolevel.py [repeats]
Data: drawn here with a fixed seed: 40 clusters of 10-40 firms (unbalanced, about 1,000 firms),
the shape of lavaan's Demo.twolevel model (three items with a within factor regressed on three
within-only covariates; a between factor on two cluster-level covariates). Prints the median
time of repeated semcluster fits (BLAS pinned to one thread with threadpoolctl) and of
lavaan's ``sem(model, data, cluster = "cluster")`` timed inside R (system.time around the fit
only, OPENBLAS_NUM_THREADS=1), the ratio (target ≤ 0.5), and χ² and logL of both.
"""
from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits
from _rscript import run_r  # benchmarks/_rscript.py (the script's folder)

ROOT = Path(__file__).resolve().parent.parent
MODEL = ROOT / "tests" / "fixtures" / "twolevel" / "demo.lav"


def draw(seed: int = 20261206, clusters: int = 40):
    """Two-level data of the Demo.twolevel shape (loadings 1, .8, .7 at both levels; within
    slopes .5, .4, .2; between slopes .2, .1; between factor variance 0.5)."""
    import pandas as pd

    rng = np.random.default_rng(seed)
    sizes = rng.integers(10, 41, size=clusters)
    lam = np.array([1.0, 0.8, 0.7])
    rows = []
    for c, n in enumerate(sizes, start=1):
        w = rng.normal(size=2)
        fb = 0.2 * w[0] + 0.1 * w[1] + rng.normal(scale=np.sqrt(0.5))
        ub = lam * fb + rng.normal(scale=np.sqrt(0.1), size=3)
        x = rng.normal(size=(n, 3))
        fw = x @ np.array([0.5, 0.4, 0.2]) + rng.normal(scale=np.sqrt(0.6), size=n)
        y = ub + np.outer(fw, lam) + rng.normal(size=(n, 3))
        for i in range(n):
            rows.append(dict(y1=y[i, 0], y2=y[i, 1], y3=y[i, 2], x1=x[i, 0], x2=x[i, 1],
                             x3=x[i, 2], w1=w[0], w2=w[1], cluster=c))
    return pd.DataFrame(rows)


def median_time(fn, repeats):
    out = fn()                             # warm-up (imports, caches)
    ts = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t)
    return statistics.median(ts), out


def lavaan_run(csv, repeats):
    script = f"""
suppressPackageStartupMessages(library(lavaan))
d <- read.csv("{csv}")
m <- paste(readLines("{MODEL}"), collapse = "\\n")
run <- function() sem(m, data = d, cluster = "cluster")
f <- suppressWarnings(run())
ts <- replicate({repeats}, system.time(suppressWarnings(run()))[["elapsed"]])
cat("JSON", jsonlite::toJSON(list(t = median(ts), chisq = unname(fitMeasures(f, "chisq")),
    logl = unname(fitMeasures(f, "logl"))), digits = NA, auto_unbox = TRUE), "\\n")
"""
    out = run_r(script, timeout=3600)
    try:
        line = [s for s in (out or "").splitlines() if s.startswith("JSON ")][-1]
        return json.loads(line[5:])
    except (ValueError, IndexError):
        return None


def main():
    repeats = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    import semcluster

    warnings.simplefilter("ignore")
    data = draw()
    with tempfile.TemporaryDirectory() as tmp:
        csv = Path(tmp) / "twolevel.csv"
        data.to_csv(csv, index=False)
        with threadpool_limits(1):
            t, res = median_time(lambda: semcluster.fit(MODEL, data, cluster="cluster"),
                                 repeats)
        lav = lavaan_run(csv, repeats)
    print(f"two-level ML, Demo.twolevel model: N = {len(data)} firms in "
          f"{data.cluster.nunique()} clusters ({repeats} repeats, median)")
    fm = res.fit_measures
    print(f"  semcluster  {t:8.3f} s   chisq {fm['chisq']:.6f}   logl {fm['logl']:.6f}")
    if lav is None:
        print("  lavaan      not run (Rscript with lavaan missing)")
    else:
        print(f"  lavaan      {lav['t']:8.3f} s   chisq {lav['chisq']:.6f}   "
              f"logl {lav['logl']:.6f}")
        print(f"  semcluster / lavaan time: {t / lav['t']:.2f} (target <= 0.5)")


if __name__ == "__main__":
    main()
