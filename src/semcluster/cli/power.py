"""``semcluster power [MODEL] --n 100 160 250 ...``"""
from __future__ import annotations

from ._common import add_data_options, data_options_given, observed_of, read_data, write_text_atomic


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

    import pandas as pd

    from ..power import power_analysis

    data = None
    if data_options_given(args):
        data, _ = read_data(args, observed_of(args.model))
    r = power_analysis(args.model, data=data, n_grid=args.n, reps=args.reps, alpha=args.alpha,
                       target=args.target, seed=args.seed, effect_scale=args.effect_scale,
                       n_jobs=args.jobs, backend="dask" if args.scheduler else "joblib",
                       scheduler=args.scheduler, progress=sys.stderr.isatty())
    with pd.option_context("display.width", 160, "display.max_rows", 500,
                           "display.float_format", lambda v: f"{v:.3f}"):
        print(r.table.to_string(index=False))
    print(f"\nsmallest N with power >= {r.target} (correct sign, p < {r.alpha}):")
    for path, n in r.smallest_n.items():
        print(f"  {path}: {n if n is not None else 'not reached in the grid'}")
    if args.csv:
        write_text_atomic(args.csv, r.table.to_csv(index=False))
    if args.plot:
        from ..diagrams import power_curve, save_figure

        save_figure(power_curve(r), args.plot)
        print(f"wrote {args.plot}")
    return 0
