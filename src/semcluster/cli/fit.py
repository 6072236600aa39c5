"""``semcluster fit MODEL --data FILE [--json OUT] [--standardized]``"""
from __future__ import annotations

from ._common import add_data_argument, write_text_atomic


def add_parser(sub):
    p = sub.add_parser(
        "fit", help="fit a lavaan-syntax model by ML and print a lavaan-like summary",
        description="Fit MODEL (a .lav file or a bundled model name such as h1_h5) by maximum "
                    "likelihood and print fit measures, loadings, regressions, (co)variances "
                    "and R-square.")
    p.add_argument("model", metavar="MODEL", help="model file or bundled model name")
    add_data_argument(p)
    p.add_argument("--json", metavar="OUT", help="also write the results as JSON to OUT")
    p.add_argument("--standardized", action="store_true",
                   help="show the standardized solution (std.lv, std.all) in the summary")
    p.add_argument("--estimator", choices=("ML", "MLR", "WLSMV"), default="ML",
                   type=str.upper, help="ML (default), MLR (robust), WLSMV (ordinal items)")
    p.add_argument("--missing", choices=("auto", "listwise", "fiml", "pairwise", "ml", "ml.x",
                                         "direct", "available.cases"),
                   default="auto", type=str.lower,
                   help="missing answers: auto = FIML for ML/MLR when any are missing, "
                        "pairwise for WLSMV; lavaan's ml, ml.x, direct mean fiml, "
                        "available.cases means pairwise")
    p.add_argument("--ordered", metavar="all|ITEM,...",
                   help="ordinal items for WLSMV (default: all)")
    p.add_argument("--map", metavar="FILE", help="YAML column mapping / data description")
    p.add_argument("--scale", nargs=2, type=float, metavar=("MIN", "MAX"),
                   help="answer scale, e.g. 1 7 (answers outside it are an error)")
    p.add_argument("--reverse", metavar="ITEM,...", help="reverse-coded items (min + max - x)")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..fit import fit

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
    if args.json:
        write_text_atomic(args.json, res.to_json() + "\n", protect=(args.data, args.model))
        print(f"\nwrote {args.json}")
    return 0
