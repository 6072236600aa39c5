"""``semcluster modindices MODEL [--data FILE] [--json OUT]``"""
from __future__ import annotations

from ._common import add_data_options, data_options_from_args, print_data_report, write_text_atomic


def add_parser(sub):
    p = sub.add_parser("modindices", help="modification indices and residual diagnostics",
                       description="Modification indices with expected parameter change "
                                   "(raw and standardized), sorted, and the largest "
                                   "normalized residual covariances.")
    p.add_argument("model", metavar="MODEL")
    add_data_options(p)
    p.add_argument("--top", type=int, default=20, help="rows to show (20)")
    p.add_argument("--json", metavar="OUT")
    p.set_defaults(func=run)


def run(args) -> int:
    import json

    import pandas as pd

    from ..fit import fit
    from ..modindices import largest_residuals, modification_indices

    res = fit(args.model, args.data, options=data_options_from_args(args))
    print_data_report(res.data_report)
    mi = modification_indices(res)
    resid = largest_residuals(res, "normalized", k=args.top)
    with pd.option_context("display.width", 160, "display.float_format",
                           lambda v: f"{v:.3f}"):
        print(mi.head(args.top).to_string(index=False))
        print("\nLargest normalized residual covariances:")
        print(resid.to_string(index=False))
    if args.json:
        js = {"modindices": mi.to_dict("records"), "residuals": resid.to_dict("records")}
        write_text_atomic(args.json, json.dumps(js, indent=2) + "\n", protect=(args.data,))
    return 0
