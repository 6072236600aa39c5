"""Time one fit of the study's h1_h5 model on the bundled data (N = 160, 23 items, 61 params).

Run: python benchmarks/bench_fit.py [repeats]
Prints medians of repeated runs, BLAS pinned to one thread, and in the same run the baselines:
plain semopy (Model(desc).fit(data), its defaults) and, where Rscript with lavaan is installed,
lavaan's sem() on the same CSV (timed inside R, median of the same number of fits).
"""
from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

from threadpoolctl import threadpool_limits


def median_time(fn, repeats):
    fn()                                   # warm-up (imports, caches)
    ts = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t)
    return statistics.median(ts)


def lavaan_time(csv, model_file, repeats):
    if not shutil.which("Rscript"):
        return None
    script = f"""
suppressPackageStartupMessages(library(lavaan))
d <- read.csv("{csv}")
m <- paste(readLines("{model_file}"), collapse = "\\n")
invisible(sem(m, data = d))
ts <- replicate({repeats}, system.time(sem(m, data = d))[["elapsed"]])
cat(median(ts), "\\n")
"""
    with tempfile.NamedTemporaryFile("w", suffix=".R", delete=False) as fh:
        fh.write(script)
    try:
        env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
        out = subprocess.run(["Rscript", fh.name], capture_output=True, text=True, env=env,
                             timeout=600)
        return float(out.stdout.split()[-1]) if out.returncode == 0 else None
    except (subprocess.SubprocessError, ValueError, IndexError):
        return None
    finally:
        os.unlink(fh.name)


def main():
    repeats = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    import pandas as pd
    import semopy

    import semcluster
    from semcluster.engine import MLEngine
    from semcluster.data import sample_covariance
    from semcluster.resources import data_path, model_path
    from semcluster.spec import read_model

    csv = data_path("paper_synthetic.csv")
    data = pd.read_csv(csv)
    spec = read_model("h1_h5")
    S = sample_covariance(data[spec.observed])

    def engine_only():
        e = MLEngine(spec)
        e.load(S, len(data), data)
        e.fit()

    def semopy_plain():
        semopy.Model(spec.to_semopy()).fit(data[spec.observed])

    with threadpool_limits(1):
        full = median_time(lambda: semcluster.fit("h1_h5", data), repeats)
        eng = median_time(engine_only, repeats)
        plain = median_time(semopy_plain, repeats)
    lav = lavaan_time(csv, model_path("h1_h5"), repeats)
    print(f"h1_h5 on N=160 (23 items, {spec.n_free} free parameters), median of {repeats} runs")
    print(f"  semcluster.fit (parse, checks, fit, SEs, std. solution + SEs, fit measures): "
          f"{full * 1e3:7.1f} ms")
    print(f"  semcluster engine only (build + SLSQP + Fisher scoring):                     "
          f"{eng * 1e3:7.1f} ms")
    print(f"  plain semopy Model(desc).fit(data), its defaults (stops short of lavaan):    "
          f"{plain * 1e3:7.1f} ms")
    if lav is not None:
        print(f"  lavaan 0.6 sem() with default settings (timed in R):                       "
              f"{lav * 1e3:7.1f} ms")
        print(f"  ratio semcluster.fit / lavaan: {full / lav:.2f}")
    else:
        print("  lavaan: Rscript with lavaan not available, not measured")


if __name__ == "__main__":
    main()
