"""FIML bootstrap (missing answers) of the study's h1_h5 model: 1,000 draws, N = 300, 23 items,
6 % of answers missing, 2 processes; lavaan's in the same run; and the complete-data ML
bootstrap, before and after the change, for comparison.

Run: python benchmarks/bench_bootstrap_fiml.py [n_boot] [lavaan draws] [baseline src dir]
- data: ``simulate_items(300, seed=2026)`` (the population model of the 23 items), each answer
  blanked with probability 6 % (numpy, seed 2027; a row left without any answer gets one
  back), written to a temporary CSV that semcluster and lavaan both read;
- semcluster: ``bootstrap(h1_h5, data, n_boot, n_jobs=2)`` with percentile intervals only
  (``bca=False``: what lavaan's ``se = "bootstrap"`` computes) and again with BCa (adds one
  FIML refit per respondent for the jackknife); BLAS pinned to one thread (threadpoolctl
  here, in the workers too);
- lavaan 0.6: ``sem(missing = "ml", se = "bootstrap", bootstrap = k, parallel = "multicore",
  ncpus = 2)`` timed inside R with OPENBLAS_NUM_THREADS=1.  lavaan needs about 30 minutes for
  1,000 draws here, so it runs k draws (default 50) and its time is scaled linearly to
  n_boot (a bootstrap's time is linear in its draws; the output says so);
- complete-data ML bootstrap of h1_h5 on the bundled data (N = 160, 1,000 draws, 2
  processes, percentile only; and CPU seconds of one process): this code, and the code in
  ``baseline src dir`` (e.g. the source before the change) in a subprocess, to show it did
  not get slower.
"""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time

import numpy as np
from threadpoolctl import threadpool_limits
from _rscript import run_r  # benchmarks/_rscript.py (the script's folder)

COMPLETE_ML = """
import sys, time
from threadpoolctl import threadpool_limits
from semcluster.analysis.bootstrap import bootstrap
n = int(sys.argv[1])
with threadpool_limits(1):
    bootstrap("h1_h5", n_boot=20, n_jobs=2, bca=False)          # warm-up (workers, imports)
    t = time.perf_counter()
    bootstrap("h1_h5", n_boot=n, n_jobs=2, bca=False)
    wall = time.perf_counter() - t
    k = max(n // 3, 10)
    c = time.process_time()
    bootstrap("h1_h5", n_boot=k, n_jobs=1, bca=False)
    print(wall, (time.process_time() - c) * n / k)
"""


def make_data(n=300, share=0.06, seed=2026):
    from semcluster.study.synthetic import simulate_items

    df = simulate_items(n, seed).astype(float)
    rng = np.random.default_rng(seed + 1)
    miss = rng.random(df.shape) < share
    empty = miss.all(axis=1)
    miss[empty, rng.integers(0, df.shape[1], empty.sum())] = False
    return df.mask(miss)


def lavaan_run(csv, model_file, k):
    script = f"""
suppressPackageStartupMessages(library(lavaan))
d <- read.csv("{csv}")
m <- paste(readLines("{model_file}"), collapse = "\\n")
st <- system.time(f <- sem(m, data = d, missing = "ml", se = "bootstrap", bootstrap = {k},
                           parallel = "multicore", ncpus = 2, iseed = 1))
cpu <- sum(st[c("user.self", "sys.self", "user.child", "sys.child")], na.rm = TRUE)
cat("RESULT", st[["elapsed"]], nrow(lavInspect(f, "boot")), cpu, "\\n")
"""
    out = run_r(script, timeout=7200)
    try:
        line = [s for s in (out or "").splitlines() if s.startswith("RESULT ")][-1]
        t, ok, cpu = line.split()[1:4]
        return float(t), int(ok), float(cpu)
    except (ValueError, IndexError):
        return None


def complete_ml_seconds(n_boot, src=None):
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1",
               MKL_NUM_THREADS="1")
    if src:
        env["PYTHONPATH"] = src
    out = subprocess.run([sys.executable, "-c", COMPLETE_ML, str(n_boot)], capture_output=True,
                         text=True, env=env, check=False)
    if out.returncode != 0:
        print(out.stderr[-1500:], file=sys.stderr)
        return None
    wall, cpu = out.stdout.split()[-2:]
    return float(wall), float(cpu)


def main():
    n_boot = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    k_lav = int(sys.argv[2]) if len(sys.argv) > 2 else 50
    baseline = sys.argv[3] if len(sys.argv) > 3 else None
    import pandas as pd

    from semcluster.analysis.bootstrap import bootstrap
    from semcluster.resources import model_path

    load0 = os.getloadavg()[0]
    df = make_data()
    model = str(model_path("h1_h5"))
    with tempfile.TemporaryDirectory() as tmp:
        csv = os.path.join(tmp, "fiml_boot.csv")
        df.to_csv(csv, index=False, na_rep="NA")
        data = pd.read_csv(csv)
        with threadpool_limits(1):
            bootstrap(model, data, n_boot=20, n_jobs=2, bca=False)      # warm-up
            t = time.perf_counter()
            perc = bootstrap(model, data, n_boot=n_boot, n_jobs=2, bca=False)
            t_perc = time.perf_counter() - t
            t = time.perf_counter()
            withbca = bootstrap(model, data, n_boot=n_boot, n_jobs=2, bca=True)
            t_bca = time.perf_counter() - t
            # CPU seconds (this process alone, n_jobs=1, a fifth of the draws, scaled): a
            # figure the other programs on a busy machine do not inflate as they do wall time
            k_cpu = max(n_boot // 5, 10)
            c = time.process_time()
            bootstrap(model, data, n_boot=k_cpu, n_jobs=1, bca=False)
            cpu_perc = (time.process_time() - c) * n_boot / k_cpu
        lav = lavaan_run(csv, model, k_lav)
    before = complete_ml_seconds(n_boot, baseline) if baseline else None
    after = complete_ml_seconds(n_boot)

    load1 = os.getloadavg()[0]
    blank = data.isna().to_numpy()
    print(f"FIML bootstrap of h1_h5: N = {len(data)}, 23 items, {blank.mean():.1%} of answers "
          f"missing ({int((~blank.any(axis=1)).sum())} complete rows), {n_boot} draws, "
          f"2 processes, BLAS 1 thread; {os.cpu_count()} cores, load average "
          f"{load0:.1f} at the start and {load1:.1f} at the end (wall times grow with it)")
    print(f"  semcluster, percentile (as lavaan's se='bootstrap'): {t_perc:7.1f} s  "
          f"(used {perc.n_used}, failed {perc.n_failed}, inadmissible "
          f"{perc.n_inadmissible})")
    print(f"  semcluster, percentile + BCa (jackknife: {len(data)} more FIML refits): "
          f"{t_bca:7.1f} s  (replicates {withbca.info['seconds']['replicates']:.1f} s, "
          f"jackknife {withbca.info['seconds']['jackknife']:.1f} s)")
    if lav is None:
        print("  lavaan: Rscript with lavaan not available or failed; not measured")
    else:
        t_lav, ok, cpu_lav = lav
        scaled = t_lav * n_boot / k_lav
        cpu_scaled = cpu_lav * n_boot / k_lav
        print(f"  lavaan 0.6 sem(missing='ml', se='bootstrap', bootstrap={k_lav}, 2 cores): "
              f"{t_lav:.1f} s for {k_lav} draws ({ok} successful) -> {scaled:.0f} s for "
              f"{n_boot} draws (scaled linearly: bootstrap time is linear in the draws)")
        print(f"  semcluster / lavaan, wall time (percentile): {t_perc / scaled:.4f}   "
              f"(target <= 0.02)")
        print(f"  CPU seconds for {n_boot} draws: semcluster {cpu_perc:.1f} (1 process, "
              f"{max(n_boot // 5, 10)} draws scaled), lavaan {cpu_scaled:.0f} (its R "
              f"processes, {k_lav} draws scaled); ratio {cpu_perc / cpu_scaled:.4f}")
    print(f"complete-data ML bootstrap of h1_h5 (bundled data, N = 160, {n_boot} draws, "
          f"2 processes, percentile):")
    def show(label, v):
        print(f"  {label}: {v[0]:.2f} s wall (2 processes); {v[1]:.2f} CPU seconds (1 process, "
              f"a third of the draws, scaled)" if v is not None else f"  {label}: failed")

    show("this code", after)
    if baseline:
        show(f"before (code in {baseline})", before)
    else:
        print("  before: not measured (pass the old code's src directory as 3rd argument)")


if __name__ == "__main__":
    main()
