"""``semcluster invariance MODEL --data FILE --group COLUMN [--group-partial PARAMS]
[--json OUT]``"""
from __future__ import annotations

from ._common import add_data_options, observed_of, read_data


def add_parser(sub):
    p = sub.add_parser("invariance", help="measurement invariance across groups",
                       description="Configural, metric, scalar and strict multi-group models "
                                   "by a grouping column, with chi-square difference tests and "
                                   "ΔCFI/ΔRMSEA verdicts (Chen 2007).")
    p.add_argument("model", metavar="MODEL")
    add_data_options(p)
    p.add_argument("--group", required=True, metavar="COLUMN")
    from . import _arguments

    p.add_argument("--group-partial", metavar="PARAMS", type=_arguments.group_partial,
                   default=(), help="parameters freed again in every level (lavaan's "
                                    "group.partial), e.g. \"visual=~x2,x3~1\"")
    p.add_argument("--json", metavar="OUT")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..result import tables
    from ..analysis.invariance import measurement_invariance
    from ..output.files import OutputFiles

    outputs = OutputFiles(inputs=[args.model, args.data, args.map])
    json_out = outputs.file(args.json) if args.json else None

    X, _ = read_data(args, observed_of(args.model), keep=[args.group])
    r = measurement_invariance(args.model, X, group=args.group,
                               group_partial=args.group_partial or None)
    print("groups: " + ", ".join(f"{g} (N = {n})" for g, n in r.nobs.items()))
    print(tables.to_text(r.table, label="model"))
    print()
    print(tables.to_text(r.comparisons))
    if json_out:
        js = {"groups": r.nobs, "fit": r.table.reset_index().to_dict("records"),
              "comparisons": r.comparisons.to_dict("records")}
        outputs.write_json(json_out, js, default=float)
    return 0
