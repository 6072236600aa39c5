"""Time the course notebooks: each notebook in each language executed once (a fresh kernel
each, BLAS pinned to one thread, as the test suite runs them), and the docs build that renders
their stored outputs.  The figures go in docs/teaching.md.

Run: python benchmarks/bench_course.py
"""
from __future__ import annotations

import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "notebooks"))


def main():
    for k in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[k] = "1"
    import make_course

    total = cpu_total = 0.0
    per = {}
    for name in make_course.COURSE:
        for lang in make_course.LANGS:
            nb = make_course.build(name, lang)
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            with tempfile.TemporaryDirectory() as d:
                secs = make_course.execute(nb, cwd=d)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)   # the kernel, once reaped
            cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
            per[(name, lang)] = secs
            total += secs
            cpu_total += cpu
            print(f"{lang} {name}: {secs:.1f} s wall, {cpu:.1f} s CPU (kernel)", flush=True)
    print(f"all {len(per)} notebooks: {total:.0f} s wall, {cpu_total:.0f} s CPU; slowest "
          f"{max(per.values()):.1f} s wall ({max(per, key=per.get)})")
    with tempfile.TemporaryDirectory() as d:
        t = time.perf_counter()
        r = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir",
                            d], cwd=ROOT, capture_output=True, text=True)
        print(f"mkdocs build --strict (notebooks not executed): {time.perf_counter() - t:.1f} s"
              f"{'' if r.returncode == 0 else ' FAILED'}")
    print(f"machine: {os.cpu_count()} cores; load average {os.getloadavg()[0]:.1f} (wall times "
          f"stretch with the load; CPU times do not)")


if __name__ == "__main__":
    main()
