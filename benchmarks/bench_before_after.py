"""Before and after a change: the same fits timed on two revisions of semcluster, in one run.

Run: python benchmarks/bench_before_after.py REV [rounds] [repeats]
     (REV: the earlier git revision, e.g. a commit before a reorganisation)

The earlier revision is checked out in a temporary git worktree; each round starts one fresh
Python process per revision (alternating, so both see the same load on a shared machine),
imports semcluster from that revision's ``src`` (``PYTHONPATH``), warms up, and times each case
``repeats`` times with BLAS pinned to one thread (threadpoolctl).  Printed per case: the median
over rounds of each round's median, for both revisions, and the ratio after/before.  Only the
public API (``semcluster.fit``, ``semcluster.bootstrap``) is called, so the same code runs on
both revisions; model files and data are read from each revision's own tree.
"""
from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# one process: time every case on the semcluster found first on sys.path
CHILD = r'''
import json, statistics, sys, time, warnings
from pathlib import Path
import numpy as np, pandas as pd
from threadpoolctl import threadpool_limits
import semcluster
tree, repeats = Path(sys.argv[1]), int(sys.argv[2])
assert Path(semcluster.__file__).resolve().is_relative_to(tree.resolve()), semcluster.__file__
def bundled(name):
    for sub in ("resources/data", "data"):
        p = tree / "src" / "semcluster" / sub / name
        if p.is_file():
            return p
h1 = str(tree / "models" / "h1_h5.lav")
cfa = str(tree / "models" / "cfa.lav")
X = pd.read_csv(bundled("paper_synthetic.csv"))
hs = pd.read_csv(bundled("holzinger_swineford_1939.csv"))
HS = "visual =~ x1 + x2 + x3\ntextual =~ x4 + x5 + x6\nspeed =~ x7 + x8 + x9"
items = [c for c in X.columns if c[:2].isalpha() and c[-1].isdigit()]
Xm = X.copy()
rng = np.random.default_rng(1)
for c in items:
    Xm.loc[rng.random(len(Xm)) < .05, c] = np.nan
CASES = {
    "ML, h1_h5 (N = 160)": lambda: semcluster.fit(h1, X),
    "MLR, h1_h5": lambda: semcluster.fit(h1, X, estimator="MLR"),
    "GLS, h1_h5": lambda: semcluster.fit(h1, X, estimator="GLS"),
    "FIML, h1_h5, 5 % missing": lambda: semcluster.fit(h1, Xm, missing="ml"),
    "WLSMV, cfa, ordered items": lambda: semcluster.fit(cfa, X, estimator="WLSMV",
                                                        ordered=items),
    "ML, HS39 two groups, loadings equal": lambda: semcluster.fit(
        HS, hs, group="school", group_equal="loadings"),
    "MLR, HS39 one group, meanstructure": lambda: semcluster.fit(HS, hs, estimator="MLR",
                                                                 meanstructure=True),
    "bootstrap, h1_h5, 200 draws, 1 process": lambda: semcluster.bootstrap(
        h1, X, n_boot=200, seed=1, n_jobs=1),
}
out = {}
with threadpool_limits(1), warnings.catch_warnings():
    warnings.simplefilter("ignore")
    for name, fn in CASES.items():
        fn()
        ts = []
        slow = "bootstrap" in name or "WLSMV" in name          # seconds per call
        for _ in range(max(1, repeats // 5) if slow else repeats):
            t = time.perf_counter(); fn(); ts.append(time.perf_counter() - t)
        out[name] = statistics.median(ts)
print("JSON" + json.dumps(out))
'''


def run(tree: Path, repeats: int) -> dict:
    env = {**os.environ, "PYTHONPATH": str(tree / "src"), "OPENBLAS_NUM_THREADS": "1",
           "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    p = subprocess.run([sys.executable, "-c", CHILD, str(tree), str(repeats)], env=env,
                       capture_output=True, text=True, check=True, cwd=tree)
    line = [ln for ln in p.stdout.splitlines() if ln.startswith("JSON")][-1]
    return json.loads(line[4:])


def main(rev: str, rounds: int = 5, repeats: int = 15) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        old = Path(tmp) / "before"
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", "-q", str(old),
                        rev], check=True)
        try:
            times = {"before": [], "after": []}
            for r in range(rounds):
                for label, tree in (("before", old), ("after", ROOT))[:: 1 if r % 2 == 0 else -1]:
                    times[label].append(run(tree, repeats))
                print(f"round {r + 1}/{rounds} done", file=sys.stderr)
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(old)],
                           check=False)
    head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                          capture_output=True, text=True).stdout.strip()
    print(f"before = {rev}, after = {head} (working tree); {rounds} rounds x {repeats} repeats, "
          f"median of round medians, BLAS 1 thread")
    print(f"{'case':<42} {'before ms':>10} {'after ms':>10} {'after/before':>13}")
    for case in times["before"][0]:
        b = statistics.median(t[case] for t in times["before"]) * 1e3
        a = statistics.median(t[case] for t in times["after"]) * 1e3
        print(f"{case:<42} {b:>10.1f} {a:>10.1f} {a / b:>13.2f}")
    print("Round-to-round spread of one revision is the noise to compare a ratio with: "
          + "; ".join(f"{case.split(',')[0]} {min(t[case] for t in times['after']) * 1e3:.0f}–"
                      f"{max(t[case] for t in times['after']) * 1e3:.0f} ms after"
                      for case in list(times["after"][0])[:3]))


if __name__ == "__main__":
    args = sys.argv[1:]
    if not args:
        sys.exit(__doc__)
    main(args[0], *(int(a) for a in args[1:3]))
