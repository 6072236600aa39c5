"""``semcluster power [MODEL] --n 100 160 250 ...``"""
from __future__ import annotations

from . import _arguments as A
from ._common import add_data_options, data_options_given, observed_of, read_data


def add_parser(sub):
    p = sub.add_parser(
        "power", help="Monte Carlo power of the structural paths over a grid of N",
        description="Draw data sets from the population calibrated to the paper (or scaled "
                    "effects), refit the model, and report power, convergence, bias and CI "
                    "coverage per path and N, and the smallest N reaching the target power.")
    p.add_argument("model", nargs="?", default="h1_h5")
    p.add_argument("--n", type=A.sample_size, nargs="+", default=None,
                   help="sample sizes, each 2-1000000 (100 160 250 400 600; with --clusters "
                        "and --cluster-size: their product)")
    p.add_argument("--reps", type=A.reps, default=500, help="replications per N, 10-100000")
    p.add_argument("--alpha", type=A.probability, default=0.05, help="between 0 and 1")
    p.add_argument("--target", type=A.probability, default=0.80, help="between 0 and 1")
    p.add_argument("--effect-scale", type=A.positive_float, default=1.0,
                   help="multiply the outcome's latent correlations (effect sizes)")
    p.add_argument("--seed", type=A.seed, default=20140101, help="0 to 2^32-1")
    p.add_argument("--jobs", type=A.jobs, default=-1, help="worker processes (-1: all cores)")
    p.add_argument("--scheduler", metavar="ADDRESS", help="Dask scheduler address")
    from .simulate import add_design_options

    add_design_options(p, "power")
    add_data_options(p)
    p.add_argument("--csv", metavar="OUT")
    p.add_argument("--plot", metavar="FILE", help="power curve (.png/.svg/.pdf)")
    p.set_defaults(func=run)


def run(args) -> int:
    import sys

    from ..result import tables
    from ..output.files import OutputFiles
    from ..study.power import power_analysis

    outputs = OutputFiles(inputs=[args.model, args.data, args.map])
    csv_out = outputs.file(args.csv) if args.csv else None
    plot_out = outputs.file(args.plot, suffixes=(".png", ".svg", ".pdf")) if args.plot else None

    from .simulate import designs

    clusters, missing = designs(args)
    data = None
    if data_options_given(args):
        data, _ = read_data(args, observed_of(args.model))
    r = power_analysis(args.model, data=data, n_grid=args.n, reps=args.reps, alpha=args.alpha,
                       target=args.target, seed=args.seed, effect_scale=args.effect_scale,
                       n_jobs=args.jobs, backend="dask" if args.scheduler else "joblib",
                       scheduler=args.scheduler, progress=sys.stderr.isatty(),
                       clusters=clusters, missing=missing)
    print(tables.to_text(r.table))
    for key in ("clusters", "analysis", "missing", "estimator"):
        if key in r.info:
            print(f"{key}: {r.info[key]}")
    if r.naive is not None:
        print("\nnaive analysis (firms taken as independent, ML standard errors) for contrast:")
        print(tables.to_text(r.naive[["n", "path", "power", "rejection", "coverage"]]))
    print(f"\nsmallest N with power >= {r.target} (correct sign, p < {r.alpha}):")
    for path, n in r.smallest_n.items():
        print(f"  {path}: {n if n is not None else 'not reached in the grid'}")
    if csv_out:
        outputs.write_csv(csv_out, r.table)
    if plot_out:
        from ..output.diagrams import power_curve

        outputs.save_figure(plot_out, power_curve(r))
        print(f"wrote {args.plot}")
    return 0
