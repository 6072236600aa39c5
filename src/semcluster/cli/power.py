"""``semcluster power [MODEL] --n 100 160 250 ...``"""
from __future__ import annotations

from ._common import add_data_options, data_options_given, observed_of, read_data


def add_parser(sub):
    p = sub.add_parser(
        "power", help="Monte Carlo power of the structural paths over a grid of N",
        description="Draw data sets from the population calibrated to the paper (or scaled "
                    "effects), refit the model, and report power, convergence, bias and CI "
                    "coverage per path and N, and the smallest N reaching the target power.")
    p.add_argument("model", nargs="?", default="h1_h5")
    p.add_argument("--n", type=int, nargs="+", default=[100, 160, 250, 400, 600],
                   help="sample sizes")
    p.add_argument("--reps", type=int, default=500, help="replications per N")
    p.add_argument("--alpha", type=float, default=0.05)
    p.add_argument("--target", type=float, default=0.80)
    p.add_argument("--effect-scale", type=float, default=1.0,
                   help="multiply the outcome's latent correlations (effect sizes)")
    p.add_argument("--seed", type=int, default=20140101)
    p.add_argument("--jobs", type=int, default=-1)
    p.add_argument("--scheduler", metavar="ADDRESS", help="Dask scheduler address")
    add_data_options(p)
    p.add_argument("--csv", metavar="OUT")
    p.add_argument("--plot", metavar="FILE", help="power curve (.png/.svg/.pdf)")
    p.set_defaults(func=run)


def run(args) -> int:
    import sys

    from .. import tables
    from ..output_files import OutputFiles
    from ..power import power_analysis

    outputs = OutputFiles(inputs=[args.model, args.data, args.map])
    csv_out = outputs.file(args.csv) if args.csv else None
    plot_out = outputs.file(args.plot, suffixes=(".png", ".svg", ".pdf")) if args.plot else None

    data = None
    if data_options_given(args):
        data, _ = read_data(args, observed_of(args.model))
    r = power_analysis(args.model, data=data, n_grid=args.n, reps=args.reps, alpha=args.alpha,
                       target=args.target, seed=args.seed, effect_scale=args.effect_scale,
                       n_jobs=args.jobs, backend="dask" if args.scheduler else "joblib",
                       scheduler=args.scheduler, progress=sys.stderr.isatty())
    print(tables.to_text(r.table))
    print(f"\nsmallest N with power >= {r.target} (correct sign, p < {r.alpha}):")
    for path, n in r.smallest_n.items():
        print(f"  {path}: {n if n is not None else 'not reached in the grid'}")
    if csv_out:
        outputs.write_csv(csv_out, r.table)
    if plot_out:
        from ..diagrams import power_curve

        outputs.save_figure(plot_out, power_curve(r))
        print(f"wrote {args.plot}")
    return 0
