"""Time fits with groups or a mean structure (one result type, SEMResult) beside lavaan.

Run: python benchmarks/bench_groups.py [repeats]
Data: Holzinger-Swineford 1939 (bundled), the three-factor CFA. Cases: two groups by school
(ML, loadings equal; MLR, loadings and intercepts equal) and one group with
meanstructure = TRUE. Prints the median wall time of ``semcluster.fit`` (BLAS pinned to one
thread; the whole call: data, optimisation, result with every fitMeasures() name, standardized
solution and its standard errors) and, where Rscript with lavaan is installed, the median of
lavaan's ``sem(...)`` plus ``fitMeasures()`` and ``standardizedSolution()`` on the same data
(timed inside R, OPENBLAS_NUM_THREADS=1), with the χ² of both.
"""
from __future__ import annotations

import json
import statistics
import sys
import time
import warnings

from threadpoolctl import threadpool_limits
from _rscript import run_r  # benchmarks/_rscript.py (the script's folder)

HS = "visual =~ x1 + x2 + x3\ntextual =~ x4 + x5 + x6\nspeed =~ x7 + x8 + x9"
CASES = {
    "two groups, ML, loadings equal": (dict(group="school", group_equal="loadings"),
                                       'group = "school", group.equal = "loadings"'),
    "two groups, MLR, loadings+intercepts": (
        dict(group="school", group_equal="loadings,intercepts", estimator="MLR"),
        'group = "school", group.equal = c("loadings", "intercepts"), estimator = "MLR"'),
    "one group, meanstructure": (dict(meanstructure=True), "meanstructure = TRUE"),
}


def median_time(fn, repeats):
    out = fn()                                 # warm-up (imports, caches)
    ts = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t)
    return statistics.median(ts), out


def lavaan_times(csv, repeats):
    calls = "\n".join(
        f'r[["{name}"]] <- {{f <- sem(m, data = d, {args}); '
        f'ts <- replicate({repeats}, system.time({{g <- sem(m, data = d, {args}); '
        f'fitMeasures(g); standardizedSolution(g)}})[["elapsed"]]); '
        f'list(t = median(ts), chisq = unname(fitMeasures(f, "chisq")))}}'
        for name, (_, args) in CASES.items())
    script = f"""
suppressPackageStartupMessages(library(lavaan))
d <- read.csv("{csv}")
m <- "{HS.replace(chr(10), '; ')}"
r <- list()
{calls}
cat("JSON", jsonlite::toJSON(r, digits = NA, auto_unbox = TRUE), "\\n")
"""
    out = run_r(script)
    if out is None:
        return None
    line = [x for x in out.splitlines() if x.startswith("JSON ")]
    return json.loads(line[-1][5:]) if line else None


def main():
    import pandas as pd

    import semcluster
    from semcluster.resources import data_path

    repeats = int(sys.argv[1]) if len(sys.argv) > 1 else 7
    csv = str(data_path("holzinger_swineford_1939.csv"))
    hs = pd.read_csv(csv)
    lav = lavaan_times(csv, repeats) or {}
    print(f"{'case':40s} {'semcluster':>11s} {'lavaan':>9s} {'ratio':>6s}  chisq (ours / lavaan)")
    with threadpool_limits(1), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name, (kw, _) in CASES.items():
            t, res = median_time(lambda: semcluster.fit(HS, hs, **kw), repeats)
            ref = lav.get(name)
            lt = f"{ref['t'] * 1000:7.0f}ms" if ref else "      n/a"
            ratio = f"{t / ref['t']:6.2f}" if ref and ref["t"] > 0 else "   n/a"
            chis = (f"{res.fit_measures['chisq']:.6f} / {ref['chisq']:.6f}" if ref else
                    f"{res.fit_measures['chisq']:.6f}")
            print(f"{name:40s} {t * 1000:9.0f}ms {lt} {ratio}  {chis}")


if __name__ == "__main__":
    main()
