"""``semcluster bootstrap MODEL [--data FILE] ...``"""
from __future__ import annotations

from ._common import add_data_argument, write_text_atomic


def add_parser(sub):
    p = sub.add_parser(
        "bootstrap", help="bootstrap CIs (percentile, BCa) and p-values, in parallel",
        description="Case-resampling or Bollen-Stine bootstrap of a model: percentile and BCa "
                    "intervals for every parameter, standardized parameter, R2 and defined "
                    "parameter; counts of failed and inadmissible replicates.")
    p.add_argument("model", metavar="MODEL")
    add_data_argument(p)
    p.add_argument("--n-boot", type=int, default=1000)
    p.add_argument("--kind", choices=("nonparametric", "bollen-stine"), default="nonparametric")
    p.add_argument("--seed", type=int, default=20231124)
    p.add_argument("--jobs", type=int, default=-1, help="worker processes (-1: all cores)")
    p.add_argument("--scheduler", metavar="ADDRESS",
                   help="run on a Dask cluster at ADDRESS (needs the [distributed] extra)")
    p.add_argument("--exclude-inadmissible", action="store_true")
    p.add_argument("--no-bca", action="store_true", help="skip BCa (saves N jackknife refits)")
    p.add_argument("--csv", metavar="OUT", help="write the interval table as CSV")
    p.add_argument("--json", metavar="OUT", help="write intervals and counts as JSON")
    p.set_defaults(func=run)


def run(args) -> int:
    import json
    import sys

    import pandas as pd

    from ..bootstrap import bootstrap

    b = bootstrap(args.model, args.data, n_boot=args.n_boot, kind=args.kind, seed=args.seed,
                  n_jobs=args.jobs, backend="dask" if args.scheduler else "joblib",
                  scheduler=args.scheduler, exclude_inadmissible=args.exclude_inadmissible,
                  bca=not args.no_bca, progress=sys.stderr.isatty())
    s = b.counts()
    print(f"{s['kind']} bootstrap of '{args.model}': {s['n_boot']} replicates, {s['used']} used, "
          f"{s['failed']} failed (no convergence), {s['inadmissible']} inadmissible "
          f"({'excluded' if args.exclude_inadmissible else 'kept'}); seed {s['seed']}")
    if b.bollen_stine_pvalue is not None:
        print(f"Bollen-Stine p-value of the model test: {b.bollen_stine_pvalue:.4f} "
              f"(chi-square {b.chisq:.3f})")
    t = b.table
    show = t[t.op.isin(["~", ":=", "r2"]) | ((t.op == "=~") & (t.what == "std_all"))]
    with pd.option_context("display.width", 160, "display.max_rows", 500,
                           "display.float_format", lambda v: f"{v:.3f}"):
        print(show.drop(columns=[]).to_string(index=False))
    protect = (args.data,)
    if args.csv:
        write_text_atomic(args.csv, t.to_csv(index=False), protect=protect)
    if args.json:
        js = {"summary": s, "table": t.astype(object).where(t.notna(), None).to_dict("records")}
        write_text_atomic(args.json, json.dumps(js, indent=2) + "\n", protect=protect)
    return 0
