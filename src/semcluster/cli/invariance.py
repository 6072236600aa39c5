"""``semcluster invariance MODEL --data FILE --group COLUMN [--json OUT]``"""
from __future__ import annotations

from ._common import add_data_options, observed_of, read_data, write_text_atomic


def add_parser(sub):
    p = sub.add_parser("invariance", help="measurement invariance across groups",
                       description="Configural, metric, scalar and strict multi-group models "
                                   "by a grouping column, with chi-square difference tests and "
                                   "ΔCFI/ΔRMSEA verdicts (Chen 2007).")
    p.add_argument("model", metavar="MODEL")
    add_data_options(p)
    p.add_argument("--group", required=True, metavar="COLUMN")
    p.add_argument("--json", metavar="OUT")
    p.set_defaults(func=run)


def run(args) -> int:
    import json

    import pandas as pd

    from ..invariance import measurement_invariance

    X, _ = read_data(args, observed_of(args.model), keep=[args.group])
    r = measurement_invariance(args.model, X, group=args.group)
    print(f"groups: " + ", ".join(f"{g} (N = {n})" for g, n in r.nobs.items()))
    with pd.option_context("display.width", 160, "display.float_format",
                           lambda v: f"{v:.3f}"):
        print(r.table.to_string())
        print()
        print(r.comparisons.to_string(index=False))
    if args.json:
        js = {"groups": r.nobs, "fit": r.table.reset_index().to_dict("records"),
              "comparisons": r.comparisons.to_dict("records")}
        write_text_atomic(args.json, json.dumps(js, indent=2, default=float) + "\n",
                          protect=(args.data,))
    return 0
