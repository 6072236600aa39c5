"""``semcluster fit MODEL --data FILE [--json OUT] [--standardized] [--group COL
[--group-equal CLASSES] [--group-partial PARAMS]] [--meanstructure]``"""
from __future__ import annotations

from ._common import (add_data_options, add_labels_option, data_options_from_args,
                      print_data_report)


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
    add_labels_option(p)
    p.add_argument("--standardized", action="store_true",
                   help="show the standardized solution (std.lv, std.all) in the summary")
    from ..estimation.registry import ESTIMATORS

    p.add_argument("--estimator", choices=tuple(ESTIMATORS), default=None, type=str.upper,
                   help="; ".join(f"{e.name}: {e.description}" for e in ESTIMATORS.values())
                   + " (ML is the default; WLSMV when --ordered is given)")
    from . import _arguments

    p.add_argument("--group", metavar="COLUMN",
                   help="fit the model in every group of COLUMN (lavaan's group=): mean "
                        "structure, labels written once shared across groups, c(a1, a2) one "
                        "per group")
    p.add_argument("--group-equal", metavar="CLASSES", type=_arguments.group_equal,
                   default=(), help="parameters held equal across groups (lavaan's "
                                    "group.equal), comma-separated: loadings, intercepts, means, "
                                    "thresholds, residuals, residual.covariances, lv.variances, "
                                    "lv.covariances, regressions")
    p.add_argument("--group-partial", metavar="PARAMS", type=_arguments.group_partial,
                   default=(), help="parameters freed again (lavaan's group.partial), e.g. "
                                    "\"visual=~x2,x3~1\"")
    p.add_argument("--parameterization", choices=("delta", "theta"), default=None,
                   help="WLSMV: delta (default; latent responses of unit variance) or theta "
                        "(residual variances of the latent responses fixed at 1), as lavaan's "
                        "parameterization=")
    p.add_argument("--meanstructure", action="store_true",
                   help="estimate intercepts and latent means (implied by --group and by "
                        "'y ~ 1' in the model)")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..fitting import fit
    from ..output.files import OutputFiles

    outputs = OutputFiles(inputs=[args.model, args.data, args.map, args.labels])
    json_out = outputs.file(args.json) if args.json else None
    from ._common import labels_from_args, warn_unknown_labels

    labels = labels_from_args(args)          # a bad labels file stops before the fit

    from ..errors import OptionError

    if (args.group_equal or args.group_partial) and not args.group:
        raise OptionError("--group-equal and --group-partial need --group COLUMN")
    res = fit(args.model, args.data, estimator=args.estimator,
              options=data_options_from_args(args), group=args.group,
              group_equal=args.group_equal or None, group_partial=args.group_partial or None,
              meanstructure=True if args.meanstructure else None,
              parameterization=args.parameterization)
    if getattr(res, "data_report", None) is not None:
        print_data_report(res.data_report)
    text = res.summary(standardized=args.standardized)
    if labels:
        warn_unknown_labels(args, set(res.estimates.lhs) | set(res.estimates.rhs),
                            args.group, res.groups)
        text = labels.annotate_summary(text, args.group)
    print(text, end="")
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
