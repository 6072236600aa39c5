"""Time a FIML fit (missing answers) of the study's h1_h5 model: N = 2000, 5 % of answers
missing completely at random.

Run: python benchmarks/bench_fiml.py [repeats] [n] [missing share]
Data: ``simulate_items(n, seed=2026)`` (the population model of the 23 items), then each
answer blanked with probability 5 % (numpy, seed 2027; a row left without any answer gets one
back), written to a temporary CSV that both semcluster and lavaan read. For scale, an ML fit
of the same N rows before blanking is timed too.
Prints medians of repeated runs with BLAS pinned to one thread (threadpoolctl here,
OPENBLAS_NUM_THREADS=1 for R) and, in the same run where Rscript with lavaan is installed,
lavaan's ``sem(model, data, missing = "ml")`` on the same CSV (timed inside R, median of the
same number of fits), with the χ² and the largest differences of the estimates.
"""
from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import time

import numpy as np
from threadpoolctl import threadpool_limits
from _rscript import run_r  # benchmarks/_rscript.py (the script's folder)


def median_time(fn, repeats):
    out = fn()                             # warm-up (imports, caches)
    ts = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t)
    return statistics.median(ts), out


def make_data(n, share, seed=2026):
    from semcluster.study.synthetic import simulate_items

    df = simulate_items(n, seed).astype(float)
    rng = np.random.default_rng(seed + 1)
    miss = rng.random(df.shape) < share
    empty = miss.all(axis=1)
    miss[empty, rng.integers(0, df.shape[1], empty.sum())] = False
    return df.mask(miss), df


def lavaan_run(csv, model_file, repeats):
    """(median seconds, χ², estimates {lhs op rhs: est}) from lavaan, or None."""
    script = f"""
suppressPackageStartupMessages(library(lavaan))
d <- read.csv("{csv}")
m <- paste(readLines("{model_file}"), collapse = "\\n")
f <- sem(m, data = d, missing = "ml")
ts <- replicate({repeats}, system.time(sem(m, data = d, missing = "ml"))[["elapsed"]])
pe <- parameterEstimates(f)
cat("JSON", jsonlite::toJSON(list(t = median(ts), chisq = unname(fitMeasures(f, "chisq")),
    iterations = lavInspect(f, "iterations"),
    key = paste(pe$lhs, pe$op, pe$rhs), est = pe$est, se = pe$se), digits = NA, auto_unbox = TRUE), "\\n")
"""
    out = run_r(script, timeout=3600)
    try:
        line = [s for s in (out or "").splitlines() if s.startswith("JSON ")][-1]
        return json.loads(line[5:])
    except (ValueError, IndexError):
        return None


def main():
    repeats = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 2000
    share = float(sys.argv[3]) if len(sys.argv) > 3 else 0.05
    import pandas as pd

    import semcluster
    from semcluster.resources import model_path

    df, full = make_data(n, share)
    with tempfile.TemporaryDirectory() as tmp:
        csv = os.path.join(tmp, "fiml.csv")
        df.to_csv(csv, index=False, na_rep="NA")
        data = pd.read_csv(csv)
        model = str(model_path("h1_h5"))
        with threadpool_limits(1):
            t_fiml, res = median_time(lambda: semcluster.fit(model, data, missing="fiml"),
                                      repeats)
            t_ml, _ = median_time(lambda: semcluster.fit(model, full), repeats)
        lav = lavaan_run(csv, model, repeats)
    n_pat = len(np.unique(data.isna().to_numpy(), axis=0))
    print(f"h1_h5 FIML on N={n}, {share:.0%} of answers missing at random "
          f"({data.isna().to_numpy().mean():.2%} blank, {n_pat} patterns, "
          f"{int(data.notna().all(axis=1).sum())} complete rows), median of {repeats} runs")
    print(f"  semcluster.fit(missing='fiml') (EM, start, FIML, SEs, robust fit indices): "
          f"{t_fiml * 1e3:8.1f} ms  [{res.info.get('optimizer')}; "
          f"{res.info.get('iterations')} iterations]")
    print(f"  semcluster.fit (ML) on the same N={n} before blanking, for scale:           "
          f"{t_ml * 1e3:8.1f} ms")
    chisq = float(res.fit_measures["chisq"])
    if lav is None:
        print("  lavaan: Rscript with lavaan not available, not measured")
        print(f"  semcluster chi-square {chisq:.6f}")
        return
    print(f"  lavaan 0.6 sem(missing = 'ml') (timed in R, {lav['iterations']} iterations):"
          f"        {lav['t'] * 1e3:8.1f} ms")
    print(f"  ratio semcluster / lavaan: {t_fiml / lav['t']:.3f}")
    est = res.estimates
    ours = {f"{r.lhs} {r.op} {r.rhs}": (r.est, r.se) for r in est.itertuples()}
    d_est, d_se = 0.0, 0.0
    for k, e, s in zip(lav["key"], lav["est"], lav["se"]):
        if k in ours and e is not None:
            d_est = max(d_est, abs(ours[k][0] - e))
            if s and s > 0:
                d_se = max(d_se, abs(ours[k][1] - s) / s)
    print(f"  chi-square: semcluster {chisq:.6f}, lavaan {lav['chisq']:.6f} "
          f"(relative difference {abs(chisq - lav['chisq']) / lav['chisq']:.1e})")
    print(f"  largest |difference| of an estimate {d_est:.1e}; of a SE (relative) {d_se:.1e}")


if __name__ == "__main__":
    main()
