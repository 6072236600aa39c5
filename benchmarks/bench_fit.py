"""Time fits against lavaan in the same run: the study model, a refit, a large CFA.

Run: python benchmarks/bench_fit.py [repeats]
Prints medians of repeated runs (BLAS pinned to one thread) of

1. ``semcluster.fit("h1_h5", data)``, the full result (parse, data checks, fit, SEs,
   standardized solution with SEs, fit measures), N = 160;
2. a refit of the already-built model on new data (``semcluster.Refitter(res).fit(d)``: the
   object a user loops over), on bootstrap resamples of the same data;
3. an 8-factor, 40-item CFA on N = 500 (simulated, seed 1), full result;

and in the same run the baselines: plain semopy (``Model(desc).fit(data)``, its defaults) and,
where Rscript with lavaan is installed, lavaan's ``sem()``/``cfa()`` on the same CSV files (timed
inside R, median of the same number of fits).
"""
from __future__ import annotations

import os
import shutil
import statistics
import sys
import tempfile
import time

import numpy as np
from threadpoolctl import threadpool_limits
from _rscript import run_r  # benchmarks/_rscript.py (the script's folder)


def median_time(fn, repeats):
    fn()                                   # warm-up (imports, caches)
    ts = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t)
    return statistics.median(ts)


def lavaan_time(csv, model_text, repeats, call="sem"):
    """Median seconds of lavaan's sem()/cfa() on a CSV, timed inside R (None without R)."""
    with tempfile.NamedTemporaryFile("w", suffix=".lav", delete=False) as fh:
        fh.write(model_text)
        model_file = fh.name
    script = f"""
suppressPackageStartupMessages(library(lavaan))
d <- read.csv("{csv}")
m <- paste(readLines("{model_file}"), collapse = "\\n")
invisible({call}(m, data = d))
ts <- replicate({repeats}, system.time({call}(m, data = d))[["elapsed"]])
cat(median(ts), "\\n")
"""
    try:
        out = run_r(script)
        return float(out.split()[-1]) if out else None
    except (ValueError, IndexError):
        return None
    finally:
        os.unlink(model_file)


def big_cfa(n=500, factors=8, items=5, seed=1):
    """Data and lavaan text of a CFA with ``factors`` correlated factors of ``items`` items."""
    import pandas as pd

    rng = np.random.default_rng(seed)
    phi = np.full((factors, factors), 0.3) + 0.7 * np.eye(factors)
    eta = rng.multivariate_normal(np.zeros(factors), phi, size=n)
    cols, lines = {}, []
    for f in range(factors):
        names = [f"y{f + 1}_{i + 1}" for i in range(items)]
        lam = rng.uniform(0.5, 0.9, items)
        for name, l_ in zip(names, lam):
            cols[name] = l_ * eta[:, f] + rng.normal(0, np.sqrt(1 - l_ ** 2), n)
        lines.append(f"F{f + 1} =~ " + " + ".join(names))
    return pd.DataFrame(cols), "\n".join(lines) + "\n"


def main():
    repeats = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    import pandas as pd
    import semopy

    import semcluster
    from semcluster.resources import data_path, model_path
    from semcluster.spec.parser import read_model

    csv = data_path("paper_synthetic.csv")
    data = pd.read_csv(csv)
    spec = read_model("h1_h5")
    h1_h5_text = open(model_path("h1_h5"), encoding="utf-8").read()
    big_data, big_text = big_cfa()
    tmp = tempfile.mkdtemp()
    big_csv = os.path.join(tmp, "cfa8.csv")
    big_data.to_csv(big_csv, index=False)
    resamples = [data.sample(len(data), replace=True, random_state=k).reset_index(drop=True)
                 for k in range(repeats + 1)]

    with threadpool_limits(1):
        full = median_time(lambda: semcluster.fit("h1_h5", data), repeats)
        refitter = semcluster.Refitter(semcluster.fit("h1_h5", data))
        it = iter(resamples)
        refit = median_time(lambda: refitter.fit(next(it)), repeats)
        big = median_time(lambda: semcluster.fit(big_text, big_data), repeats)
        plain = median_time(lambda: semopy.Model(spec.to_semopy()).fit(data[spec.observed]),
                            repeats)
    lav = lavaan_time(csv, h1_h5_text, repeats)
    lav_big = lavaan_time(big_csv, big_text, repeats, call="cfa")
    shutil.rmtree(tmp, ignore_errors=True)
    print(f"median of {repeats} runs, BLAS pinned to 1 thread; load average "
          f"{os.getloadavg()[0]:.1f}")
    rows = [("h1_h5 full result, N=160 (61 parameters)", full, lav, 0.5),
            ("h1_h5 refit of the built model on new data", refit, lav, 0.2),
            ("8-factor 40-item CFA, N=500, full result", big, lav_big, 0.5)]
    print(f"  {'':46s} {'semcluster':>11s} {'lavaan':>9s} {'ratio':>6s} target")
    for label, t, base, target in rows:
        if base is None:
            print(f"  {label:46s} {t * 1e3:9.1f}ms {'n/a':>9s}")
        else:
            print(f"  {label:46s} {t * 1e3:9.1f}ms {base * 1e3:7.1f}ms {t / base:6.2f} "
                  f"<= {target}")
    print(f"  plain semopy Model(desc).fit(data), h1_h5 (stops short of lavaan): "
          f"{plain * 1e3:.1f} ms")


if __name__ == "__main__":
    main()
