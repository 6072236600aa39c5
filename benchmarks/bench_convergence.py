"""Fit times over the convergence corpus (tests/fixtures/convergence), against lavaan.

Run: python benchmarks/bench_convergence.py [repeats]
Every one of the 33 simulated data sets of the study model is fitted by semcluster (ML on
complete data, FIML where answers are missing; median of ``repeats`` fits, BLAS pinned to one
thread) and, where Rscript with lavaan is installed, by lavaan 0.6 in the same run
(``sem(model, data)`` / ``sem(..., missing = "ml")``, timed inside R, median of the same number
of fits). Printed: each set's time, its ratio to the corpus median (the issue's criterion: no
fit above 10 × the median), whether lavaan and semcluster converged, and semcluster / lavaan.
The agreement of the fits themselves is tested in tests/test_convergence_corpus.py.
"""
from __future__ import annotations

import os
import statistics
import sys
import time
import warnings
from pathlib import Path

from threadpoolctl import threadpool_limits
from _rscript import run_r  # benchmarks/_rscript.py (the script's folder)

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "tests" / "fixtures" / "convergence"
MODEL = ROOT / "models" / "h1_h5.lav"


def lavaan_times(names, repeats):
    files = ", ".join(f'"{CORPUS / "data" / (n + ".csv")}"' for n in names)
    script = f"""
suppressPackageStartupMessages(library(lavaan))
m <- paste(readLines("{MODEL}"), collapse = "\\n")
for (f in c({files})) {{
  d <- read.csv(f)
  miss <- if (anyNA(d)) "ml" else "listwise"
  one <- function() suppressWarnings(sem(m, data = d, missing = miss))
  invisible(one())
  ts <- replicate({repeats}, system.time(one())[["elapsed"]])
  cat(basename(f), median(ts), "\\n")
}}
"""
    out = run_r(script, timeout=3600)
    if out is None:
        return None
    try:
        times = {}
        for line in out.splitlines():
            name, t = line.split()
            times[name.removesuffix(".csv")] = float(t)
        return times
    except ValueError:
        return None


def main():
    repeats = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    import json

    import pandas as pd

    import semcluster
    from semcluster.errors import SemclusterWarning

    names = sorted(p.stem for p in (CORPUS / "data").glob("*.csv"))
    rows = []
    with threadpool_limits(1), warnings.catch_warnings():
        warnings.simplefilter("ignore", SemclusterWarning)
        semcluster.fit("h1_h5", pd.read_csv(CORPUS / "data" / f"{names[0]}.csv"))   # warm-up
        for name in names:
            data = pd.read_csv(CORPUS / "data" / f"{name}.csv")
            ts = []
            for _ in range(repeats):
                t = time.perf_counter()
                res = semcluster.fit("h1_h5", data)
                ts.append(time.perf_counter() - t)
            lav = json.loads((CORPUS / "lavaan" / f"{name}.json").read_text())
            rows.append({"set": name, "missing": "fiml" if data.isna().to_numpy().any()
                         else "none", "seconds": statistics.median(ts),
                         "converged": res.converged, "lavaan_converged": lav["converged"]})
    lav_t = lavaan_times(names, repeats)
    table = pd.DataFrame(rows).set_index("set")
    median = table.seconds.median()
    table["x_median"] = table.seconds / median
    if lav_t:
        table["lavaan_s"] = pd.Series(lav_t)
        table["ratio"] = table.seconds / table.lavaan_s
    print(f"convergence corpus: {len(table)} sets, median of {repeats} fits each, BLAS 1 "
          f"thread, load average {os.getloadavg()[0]:.1f}")
    print(table.to_string(float_format=lambda v: f"{v:.3f}"))
    print(f"\nmedian fit {median:.3f} s; largest {table.x_median.max():.1f} x the median "
          f"({table.x_median.idxmax()}); criterion: <= 10 x")
    both = table[table.lavaan_converged]
    print(f"sets where lavaan converges: largest {both.x_median.max():.1f} x the median")
    slow = table[table.x_median > 10]
    for name, r in slow.iterrows():
        print(f"  above 10 x: {name} ({r.seconds:.3f} s; lavaan converged: "
              f"{r.lavaan_converged}, semcluster converged: {r.converged})")
    if lav_t:
        print(f"semcluster / lavaan: median {table.ratio.median():.2f}, ML sets "
              f"{table[table.missing == 'none'].ratio.median():.2f}, FIML sets "
              f"{table[table.missing == 'fiml'].ratio.median():.2f}")


if __name__ == "__main__":
    main()
