"""``semcluster compare``: the published regression, OLS and latent SEM side by side."""
from __future__ import annotations

from . import _arguments as A
from ._common import (add_data_options, data_options_given, observed_of, read_data)


def add_parser(sub):
    p = sub.add_parser(
        "compare", help="regression vs SEM for H1-H5, side by side, with an explanation",
        description="One row per hypothesis H1-H5, one column group per method: Table 4 as "
                    "printed, OLS and stepwise OLS from Table 2, OLS on composites of the item "
                    "data, the latent SEM h1_h5 on the same data, and the reliability-corrected "
                    "single-indicator model of Tables 2-3.")
    add_data_options(p)
    p.add_argument("--alpha", type=A.probability, default=0.05, help="significance level (0.05)")
    p.add_argument("--csv", metavar="OUT", help="write the table (long form) as CSV")
    p.add_argument("--json", metavar="OUT", help="write table, R2 and explanation as JSON")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..result import tables
    from ..study.regression_vs_sem import METHODS, compare_methods
    from ..errors import SemclusterError
    from ..output.files import OutputFiles

    outputs = OutputFiles(inputs=[args.data, args.map])
    csv_out = outputs.file(args.csv) if args.csv else None
    json_out = outputs.file(args.json) if args.json else None

    if not 0 < args.alpha < 1:
        raise SemclusterError("--alpha must be between 0 and 1")
    X, _ = read_data(args, observed_of("h1_h5"))
    c = compare_methods(X if data_options_given(args) else None, alpha=args.alpha)
    print(f"H1-H5 by method (standardized beta, SE, p; verdict at alpha = {args.alpha}); "
          f"item data: {c.data_source}\n")
    for m, title in METHODS.items():
        t = c.table[m].copy()
        t.insert(0, "path", c.table[("path", "")])
        t.columns = [str(x) for x in t.columns]
        t.columns.name = None
        print(f"{m}: {title}   R2 = {tables.format_number(c.r2[m])}")
        print(tables.to_text(t, label="hypothesis", indent=2))
        print()
    print("Why they differ:")
    for s in c.explanation:
        print(f"- {s}")
    if csv_out:
        outputs.write_csv(csv_out, c.long())
    if json_out:
        outputs.write_json(json_out, c.to_dict(), ensure_ascii=False)
    return 0
