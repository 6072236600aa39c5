"""Speed of multi-group WLSMV (lavaan's group= with ordered=): the configural fit and the fit
with equal loadings and thresholds, beside the one-group fit of the same data, on the
estimator-matrix data (HS39 cut at the tertiles, 9 items, 3 age groups of 110, 109 and 82),
one process, BLAS pinned to one thread; best of 3 after a warm-up.
Run from the repository root:  python benchmarks/bench_wlsmv_groups.py"""
import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import time  # noqa: E402
import warnings  # noqa: E402

import pandas as pd  # noqa: E402

import semcluster  # noqa: E402

MODEL = "visual =~ x1 + x2 + x3\ntextual =~ x4 + x5 + x6\nspeed =~ x7 + x8 + x9\n"
CSV = "tests/fixtures/matrix/hs39_matrix_ordinal.csv"
CASES = {"one group": {},
         "3 groups, configural": {"group": "agegrp"},
         "3 groups, loadings + thresholds equal": {"group": "agegrp",
                                                   "group_equal": ["loadings", "thresholds"]}}

if __name__ == "__main__":
    data = pd.read_csv(CSV)
    warnings.simplefilter("ignore")
    for name, kw in CASES.items():
        semcluster.fit(MODEL, data, ordered="all", **kw)
        times = []
        for _ in range(3):
            t0 = time.perf_counter()
            res = semcluster.fit(MODEL, data, ordered="all", **kw)
            times.append(time.perf_counter() - t0)
        print(f"{name}: {min(times):.2f} s (npar {int(res.fit_measures['npar'])}, "
              f"chisq_scaled {res.fit_measures['chisq_scaled']:.3f})")
