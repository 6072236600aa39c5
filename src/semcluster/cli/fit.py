"""``semcluster fit MODEL --data FILE [--json OUT] [--standardized]``"""
from __future__ import annotations

from ._common import add_data_options, data_options_from_args, print_data_report


def add_parser(sub):
    p = sub.add_parser(
        "fit", help="fit a lavaan-syntax model by ML and print a lavaan-like summary",
        description="Fit MODEL (a .lav file or a bundled model name such as h1_h5) by maximum "
                    "likelihood and print fit measures, loadings, regressions, (co)variances "
                    "and R-square.",
        epilog="Exit status: 0 fitted (check the summary for inadmissible solutions), 2 bad "
               "input (model, data or options), 3 the optimizer did not converge.")
    p.add_argument("model", metavar="MODEL", help="model file or bundled model name")
    add_data_options(p)
    p.add_argument("--json", metavar="OUT", help="also write the results as JSON to OUT")
    p.add_argument("--standardized", action="store_true",
                   help="show the standardized solution (std.lv, std.all) in the summary")
    from ..estimators import ESTIMATORS

    p.add_argument("--estimator", choices=tuple(ESTIMATORS), default=None, type=str.upper,
                   help="; ".join(f"{e.name}: {e.description}" for e in ESTIMATORS.values())
                   + " (ML is the default; WLSMV when --ordered is given)")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..fit import fit
    from ..output_files import OutputFiles

    outputs = OutputFiles(inputs=[args.model, args.data, args.map])
    json_out = outputs.file(args.json) if args.json else None

    res = fit(args.model, args.data, estimator=args.estimator,
              options=data_options_from_args(args))
    if res.data_report is not None:
        print_data_report(res.data_report)
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
