"""Simulation study of the Bollen–Stine bootstrap test with missing answers (FIML).

For each condition {MCAR, MAR} × {true model, misspecified model}, ``--sets`` data sets of
N = 300 are drawn; each is fitted by FIML and tested twice: the naive ML likelihood-ratio test
(χ² against its χ²(df) distribution, lavaan's ``test = "standard"``) and semcluster's
Bollen–Stine bootstrap with missing answers (``bootstrap(kind="bollen-stine")``, B draws).
The script reports each test's rejection rate at α = .05 with its exact (Clopper–Pearson)
binomial 95 % interval.

Population (both conditions): two correlated factors (φ = .4), three items each, loadings
.8/.7/.6, unit item variances, multivariate normal.  "misspecified": in the population item
x4 also loads .3 on F1 (a cross-loading) that the fitted model ``F1 =~ x1 + x2 + x3;
F2 =~ x4 + x5 + x6`` leaves out (population discrepancy: λ ≈ 11.7 for N = 300 with complete
data, df = 8).  x1 is always answered; each of x2…x6 is blanked
- MCAR: with probability .144 per answer (12 % of all answers);
- MAR: with probability .288·rank(x1)/N, rising with the respondent's x1 (also 12 % on
  average).

Every data set has its own seed (child of ``numpy.random.SeedSequence(SEED)``), and so does its
bootstrap, so the rows of the CSV do not depend on the number of worker processes.  BLAS is
pinned to one thread; data sets run in ``--jobs`` joblib processes.  Results are appended to
the CSV batch by batch (a run that is stopped keeps what it finished; ``--resume`` skips the
rows already there).

Run::

    OPENBLAS_NUM_THREADS=1 python benchmarks/sim_bollen_stine_missing.py \
        --sets 200 --boot 100 --jobs 2 --csv benchmarks/sim_bollen_stine_missing.csv
    python benchmarks/sim_bollen_stine_missing.py --summary benchmarks/sim_bollen_stine_missing.csv
"""
from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

SEED = 20261206
N = 300
MODEL = "F1 =~ x1 + x2 + x3\nF2 =~ x4 + x5 + x6"
COLS = [f"x{i}" for i in range(1, 7)]
CONDITIONS = [("MCAR", "true"), ("MAR", "true"), ("MCAR", "misspecified"),
              ("MAR", "misspecified")]
RATE = 0.144                          # per answer of x2..x6: 12 % of all answers


def population(misspecified: bool) -> np.ndarray:
    L = np.zeros((6, 2))
    L[:3, 0] = [0.8, 0.7, 0.6]
    L[3:, 1] = [0.8, 0.7, 0.6]
    if misspecified:
        L[3, 0] = 0.3
    Phi = np.array([[1.0, 0.4], [0.4, 1.0]])
    common = L @ Phi @ L.T
    return common + np.diag(1.0 - np.diag(common))


def draw(mechanism: str, misspecified: bool, rng: np.random.Generator) -> pd.DataFrame:
    X = rng.multivariate_normal(np.zeros(6), population(misspecified), size=N)
    if mechanism == "MCAR":
        prob = np.full(N, RATE)
    else:                               # MAR: depends on the always-answered x1
        rank = np.argsort(np.argsort(X[:, 0])) + 1
        prob = 2 * RATE * rank / N
    blank = rng.random((N, 5)) < prob[:, None]
    X[:, 1:][blank] = np.nan
    return pd.DataFrame(X, columns=COLS)


def one_set(cond: int, rep: int, n_boot: int, seed_seq) -> dict:
    from threadpoolctl import threadpool_limits

    import semcluster
    from semcluster.analysis.bootstrap import bootstrap

    mechanism, model = CONDITIONS[cond]
    data_seq, boot_seq = seed_seq.spawn(2)
    df = draw(mechanism, model == "misspecified", np.random.default_rng(data_seq))
    boot_seed = int(boot_seq.generate_state(1)[0])
    t0 = time.perf_counter()
    row = {"mechanism": mechanism, "model": model, "set": rep, "n": N,
           "missing_share": float(df[COLS].isna().to_numpy().mean()), "boot_seed": boot_seed}
    with threadpool_limits(1):
        try:
            full = semcluster.fit(MODEL, df, missing="fiml")
            fm = full.fit_measures
            row.update(chisq=float(fm["chisq"]), df=int(fm["df"]),
                       naive_p=float(fm["pvalue"]))
            b = bootstrap(MODEL, df, n_boot=n_boot, kind="bollen-stine", seed=boot_seed,
                          n_jobs=1, bca=False, result=full)
            row.update(bs_p=float(b.bollen_stine_pvalue), n_boot=n_boot,
                       failed=b.n_failed, chisq_failed=b.info["chisq_failed"],
                       error="")
        except Exception as e:          # recorded, not hidden: the summary counts them
            row.update(error=f"{type(e).__name__}: {e}"[:200])
    row["seconds"] = time.perf_counter() - t0
    return row


def run(args):
    from joblib import Parallel, delayed

    seqs = np.random.SeedSequence(SEED).spawn(len(CONDITIONS))
    per_cond = [s.spawn(args.sets) for s in seqs]
    # interleave the conditions so that a stopped run has all four about equally far
    tasks = [(c, r) for r in range(args.sets) for c in range(len(CONDITIONS))]
    done = set()
    if args.resume and os.path.exists(args.csv):
        old = pd.read_csv(args.csv)
        done = {(CONDITIONS.index((m, k)), int(s))
                for m, k, s in zip(old.mechanism, old.model, old.set)}
    tasks = [t for t in tasks if t not in done]
    batch = max(args.jobs * 4, 4)
    with Parallel(n_jobs=args.jobs) as par:
        for start in range(0, len(tasks), batch):
            t0 = time.perf_counter()
            rows = par(delayed(one_set)(c, r, args.boot, per_cond[c][r])
                       for c, r in tasks[start:start + batch])
            out = pd.DataFrame(rows)
            header = not os.path.exists(args.csv)
            out.to_csv(args.csv, mode="a", header=header, index=False)
            print(f"{start + len(rows)}/{len(tasks)} sets, batch {time.perf_counter() - t0:.1f}"
                  f" s", flush=True)


def summary(path: str, alpha: float = 0.05) -> str:
    from scipy import stats

    d = pd.read_csv(path)
    d["error"] = d["error"].astype(object).where(d["error"].notna(), "")
    lines = ["| missingness | fitted model | data sets | mean share missing | test | rejected "
             "at .05 | rate | 95 % CI (Clopper–Pearson) |",
             "|---|---|---:|---:|---|---:|---:|---|"]
    for mech, model in CONDITIONS:
        g = d[(d.mechanism == mech) & (d.model == model)]
        ok = g[g.error == ""]
        for test, col in (("naive ML χ²", "naive_p"), ("Bollen–Stine (FIML)", "bs_p")):
            k = int((ok[col] < alpha).sum())
            n = len(ok)
            if n == 0:
                continue
            ci = stats.binomtest(k, n).proportion_ci(0.95, method="exact")
            lines.append(f"| {mech} | {model} | {n} | {ok.missing_share.mean():.3f} | {test} "
                         f"| {k} | {k / n:.3f} | [{ci.low:.3f}, {ci.high:.3f}] |")
    err = d[d.error != ""]
    fails = d.get("failed", pd.Series(dtype=float))
    lines.append("")
    lines.append(f"Data sets with an error (left out above): {len(err)}; bootstrap replicates "
                 f"failed (no convergence): {int(np.nansum(fails))} of "
                 f"{int(np.nansum(d.get('n_boot', pd.Series(dtype=float))))}; saturated EM "
                 f"not converged: {int(np.nansum(d.get('chisq_failed', pd.Series(dtype=float))))}"
                 f"; seconds per data set: median {d.seconds.median():.2f}.")
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sets", type=int, default=200, help="data sets per condition")
    ap.add_argument("--boot", type=int, default=100, help="bootstrap draws per data set")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--csv", default=os.path.join(os.path.dirname(__file__),
                                                  "sim_bollen_stine_missing.csv"))
    ap.add_argument("--resume", action="store_true")
    ap.add_argument("--summary", metavar="CSV", help="only print the table of a finished run")
    args = ap.parse_args()
    if args.summary:
        print(summary(args.summary))
        return
    t0 = time.perf_counter()
    run(args)
    print(f"wall time {time.perf_counter() - t0:.0f} s")
    print(summary(args.csv))


if __name__ == "__main__":
    main()
