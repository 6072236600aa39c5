"""``semcluster bootstrap MODEL [--data FILE] ...``"""
from __future__ import annotations

from . import _arguments as A
from ._common import add_data_options, observed_of, read_data


def add_parser(sub):
    p = sub.add_parser(
        "bootstrap", help="bootstrap CIs (percentile, BCa) and p-values, in parallel",
        description="Case-resampling or Bollen-Stine bootstrap of a model: percentile and BCa "
                    "intervals for every parameter, standardized parameter, R2 and defined "
                    "parameter; counts of failed and inadmissible replicates. With missing "
                    "answers (FIML, the default rule) respondents are resampled with their "
                    "blanks and every replicate is refitted by FIML, as lavaan's "
                    "se='bootstrap', missing='ml'. With --ordered items every replicate is refitted "
                    "by WLSMV (lavaan's DWLS/WLSMV se='bootstrap'). With --group (or intercepts "
                    "'~ 1' in the model, or --meanstructure) rows are resampled within each "
                    "group, group sizes kept, and the grouped model is refitted (lavaan's "
                    "group=, se='bootstrap'); Bollen-Stine transforms each group to its own "
                    "model-implied moments.")
    p.add_argument("model", metavar="MODEL")
    add_data_options(p)
    p.add_argument("--n-boot", type=A.n_boot, default=1000, help="resamples, 10-100000 (1000)")
    p.add_argument("--kind", choices=("nonparametric", "bollen-stine"), default="nonparametric")
    p.add_argument("--seed", type=A.seed, default=20231124, help="0 to 2^32-1")
    p.add_argument("--jobs", type=A.jobs, default=-1, help="worker processes (-1: all cores)")
    p.add_argument("--scheduler", metavar="ADDRESS",
                   help="run on a Dask cluster at ADDRESS (needs the [distributed] extra)")
    from . import _arguments

    p.add_argument("--group", metavar="COLUMN",
                   help="bootstrap the multi-group fit over the groups of COLUMN (lavaan's "
                        "group=): rows resampled within each group")
    p.add_argument("--group-equal", metavar="CLASSES", type=_arguments.group_equal,
                   default=(), help="parameters held equal across groups (lavaan's "
                                    "group.equal), as for fit")
    p.add_argument("--meanstructure", action="store_true",
                   help="one group with intercepts and latent means (implied by --group and "
                        "by 'y ~ 1' in the model)")
    p.add_argument("--exclude-inadmissible", action="store_true")
    p.add_argument("--no-bca", action="store_true", help="skip BCa (saves N jackknife refits)")
    p.add_argument("--csv", metavar="OUT", help="write the interval table as CSV")
    p.add_argument("--json", metavar="OUT", help="write intervals and counts as JSON")
    p.set_defaults(func=run)


def run(args) -> int:
    import sys

    from ..result import tables
    from ..analysis.bootstrap import bootstrap
    from ..output.files import OutputFiles

    outputs = OutputFiles(inputs=[args.model, args.data, args.map])
    csv_out = outputs.file(args.csv) if args.csv else None
    json_out = outputs.file(args.json) if args.json else None
    if getattr(args, "ordered", None) and args.missing == "auto":
        args.missing = "pairwise"       # ordinal items are bootstrapped by WLSMV (pairwise)
    if args.group_equal and not args.group:
        from ..errors import OptionError

        raise OptionError("--group-equal needs --group COLUMN")
    X, _ = read_data(args, observed_of(args.model), keep=[args.group] if args.group else ())
    grouped = {"group": args.group} if args.group else {}
    if args.group_equal:
        grouped["group_equal"] = args.group_equal
    if args.meanstructure:
        grouped["meanstructure"] = True
    b = bootstrap(args.model, X, n_boot=args.n_boot, kind=args.kind, seed=args.seed,
                  n_jobs=args.jobs, backend="dask" if args.scheduler else "joblib",
                  scheduler=args.scheduler, exclude_inadmissible=args.exclude_inadmissible,
                  bca=not args.no_bca, progress=sys.stderr.isatty(), **grouped)
    s = b.counts()
    print(f"{s['kind']} bootstrap of '{args.model}': {s['n_boot']} replicates, {s['used']} used, "
          f"{s['failed']} failed (no convergence), {s['inadmissible']} inadmissible "
          f"({'excluded' if args.exclude_inadmissible else 'kept'}); seed {s['seed']}")
    if b.info.get("missing") == "fiml" and args.kind == "bollen-stine":
        print(f"missing answers: all {b.info['nobs']} respondents' answers transformed per "
              f"missing-data pattern (Enders 2002) to the model's moments, resampled with "
              f"their blanks, every replicate refitted by FIML (model and saturated model)")
    elif b.info.get("estimator") == "WLSMV":
        print(f"ordinal items ({', '.join(b.info['ordered'])}): every replicate refitted by "
              f"WLSMV (thresholds, polychoric correlations and weights per draw; missing "
              f"'{b.info['missing']}'); {b.info['n_empty_category']} draw(s) missing a "
              f"category of an item left out (among the failed)")
    elif b.info.get("missing") == "fiml":
        print(f"missing answers: all {b.info['nobs']} respondents resampled with their blanks, "
              f"every replicate refitted by FIML (lavaan's se='bootstrap', missing='ml')")
    if b.info.get("group_labels") and args.group:
        sizes = ", ".join(f"{lab} {n}" for lab, n in zip(b.info["group_labels"],
                                                         b.info["group_nobs"]))
        print(f"groups of '{args.group}' (group 1, 2, ... in the table): {sizes}; rows "
              f"resampled within each group, group sizes kept")
    if b.bollen_stine_pvalue is not None:
        print(f"Bollen-Stine p-value of the model test: {b.bollen_stine_pvalue:.4f} "
              f"(chi-square {b.chisq:.3f})")
    t = b.table
    show = t[t.op.isin(["~", ":=", "r2"]) | ((t.op == "=~") & (t.what == "std_all"))]
    print(tables.to_text(show))
    if csv_out:
        outputs.write_csv(csv_out, t)
    if json_out:
        js = {"summary": s, "table": t.astype(object).where(t.notna(), None).to_dict("records")}
        outputs.write_json(json_out, js)
    return 0
