"""``semcluster fit MODEL --data FILE [--json OUT] [--standardized]``"""
from __future__ import annotations

from ._common import add_data_argument


def add_parser(sub):
    p = sub.add_parser(
        "fit", help="fit a lavaan-syntax model by ML and print a lavaan-like summary",
        description="Fit MODEL (a .lav file or a bundled model name such as h1_h5) by maximum "
                    "likelihood and print fit measures, loadings, regressions, (co)variances "
                    "and R-square.",
        epilog="Exit status: 0 fitted (check the summary for inadmissible solutions), 2 bad "
               "input (model, data or options), 3 the optimizer did not converge.")
    p.add_argument("model", metavar="MODEL", help="model file or bundled model name")
    add_data_argument(p)
    p.add_argument("--json", metavar="OUT", help="also write the results as JSON to OUT")
    p.add_argument("--standardized", action="store_true",
                   help="show the standardized solution (std.lv, std.all) in the summary")
    p.add_argument("--estimator", choices=("ML", "MLR", "WLSMV"), default="ML",
                   type=str.upper, help="ML (default), MLR (robust), WLSMV (ordinal items)")
    p.add_argument("--missing", choices=("auto", "listwise", "fiml", "pairwise"),
                   default="auto", help="missing answers: auto = FIML for ML/MLR when any are "
                                        "missing, pairwise for WLSMV")
    p.add_argument("--ordered", metavar="all|ITEM,...",
                   help="ordinal items for WLSMV (default: all)")
    p.add_argument("--map", metavar="FILE", help="YAML column mapping / data description")
    p.add_argument("--scale", nargs=2, type=float, metavar=("MIN", "MAX"),
                   help="answer scale, e.g. 1 7 (answers outside it are an error)")
    p.add_argument("--reverse", metavar="ITEM,...", help="reverse-coded items (min + max - x)")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..fit import fit
    from ..output_files import OutputFiles

    outputs = OutputFiles(inputs=[args.model, args.data, args.map])
    json_out = outputs.file(args.json) if args.json else None

    ordered = None
    if args.ordered:
        ordered = "all" if args.ordered == "all" else args.ordered.split(",")
    res = fit(args.model, args.data, estimator=args.estimator, missing=args.missing,
              ordered=ordered, mapping=args.map, scale=args.scale,
              reverse=args.reverse.split(",") if args.reverse else None)
    if res.data_report is not None:
        print(str(res.data_report))
        print()
    print(res.summary(standardized=args.standardized), end="")
    if json_out:
        outputs.write_text(json_out, res.to_json() + "\n")
        print(f"\nwrote {args.json}")
    if not res.converged:
        import sys

        from . import EXIT_NOT_CONVERGED

        print(f"semcluster: the fit did not converge ({res.info.get('optimizer', '')}); its "
              f"numbers are not estimates", file=sys.stderr)
        return EXIT_NOT_CONVERGED
    return 0
