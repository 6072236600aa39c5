"""``semcluster invariance MODEL --data FILE --group COLUMN [--json OUT]``"""
from __future__ import annotations

from ._common import add_data_argument, write_text_atomic


def add_parser(sub):
    p = sub.add_parser("invariance", help="measurement invariance across groups",
                       description="Configural, metric, scalar and strict multi-group models "
                                   "by a grouping column, with chi-square difference tests and "
                                   "ΔCFI/ΔRMSEA verdicts (Chen 2007).")
    p.add_argument("model", metavar="MODEL")
    add_data_argument(p)
    p.add_argument("--group", required=True, metavar="COLUMN")
    p.add_argument("--json", metavar="OUT")
    p.set_defaults(func=run)


def run(args) -> int:
    import json

    from .. import tables
    from ..invariance import measurement_invariance

    r = measurement_invariance(args.model, args.data, group=args.group)
    print(f"groups: " + ", ".join(f"{g} (N = {n})" for g, n in r.nobs.items()))
    print(tables.to_text(r.table, label="model"))
    print()
    print(tables.to_text(r.comparisons))
    if args.json:
        js = {"groups": r.nobs, "fit": r.table.reset_index().to_dict("records"),
              "comparisons": r.comparisons.to_dict("records")}
        write_text_atomic(args.json, json.dumps(js, indent=2, default=float) + "\n",
                          protect=(args.data,))
    return 0
