"""Time GLS fits: one group, mean structure and three groups, with and without exogenous
covariates (the GLS cells of tests/test_estimator_matrix.py, lavaan 0.6.14 references there).

Run: python benchmarks/bench_gls.py [repeats]
Prints, per cell, the median wall time of the whole ``semcluster.fit`` call (BLAS pinned to
one thread), whether it converged, npar and χ².  A cell the installed semcluster refuses
prints its message instead (e.g. the covariate cells before GLS freed the covariates'
moments).  ``gls_groups3_covariates`` does not converge (nor does lavaan's fit): its time is
that of giving up.
"""
from __future__ import annotations

import statistics
import sys
import time
import warnings
from pathlib import Path

import pandas as pd
from threadpoolctl import threadpool_limits

import semcluster
from semcluster.errors import SemclusterError

FIX = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "matrix"
CFA = "visual =~ x1 + x2 + x3\ntextual =~ x4 + x5 + x6\nspeed =~ x7 + x8 + x9"
COV = CFA + "\nvisual ~ female + agemo\ntextual ~ female\nspeed ~ visual + agemo"
STRUCTURES = {"one": {}, "means": {"meanstructure": True}, "groups3": {"group": "agegrp"}}


def main(repeats: int = 3) -> None:
    data = pd.read_csv(FIX / "hs39_matrix.csv")
    print(f"semcluster {semcluster.__version__} from {Path(semcluster.__file__).parent}")
    print(f"{'cell':28s} {'median s':>9s}  converged  npar     chisq")
    for s, kw in STRUCTURES.items():
        for cv, model in (("none", CFA), ("covariates", COV)):
            name = f"gls_{s}_{cv}"

            def run():
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    return semcluster.fit(model, data, estimator="GLS", **kw)

            try:
                res = run()
            except SemclusterError as e:
                print(f"{name:28s} refused: {str(e)[:70]}")
                continue
            ts = []
            for _ in range(repeats):
                t = time.perf_counter()
                run()
                ts.append(time.perf_counter() - t)
            fm = res.fit_measures
            print(f"{name:28s} {statistics.median(ts):9.3f}  {str(res.converged):9s} "
                  f"{int(fm['npar']):5d} {fm['chisq']:9.3f}")


if __name__ == "__main__":
    with threadpool_limits(1):
        main(int(sys.argv[1]) if len(sys.argv) > 1 else 3)
