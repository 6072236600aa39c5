"""``semcluster compare-models MODEL... [--data FILE]``"""
from __future__ import annotations

from ._common import add_data_argument, write_text_atomic


def add_parser(sub):
    p = sub.add_parser("compare-models", help="fit competing models and test nested ones",
                       description="Fit several models to the same data: fit indices, AIC/BIC, "
                                   "ΔCFI, and chi-square difference tests of nested pairs "
                                   "(Satorra-Bentler scaled for MLR).")
    p.add_argument("models", nargs="*", metavar="MODEL",
                   default=["h1_h5", "revised", "second_order", "one_factor"])
    add_data_argument(p)
    p.add_argument("--estimator", choices=("ML", "MLR"), default="ML", type=str.upper)
    p.add_argument("--csv", metavar="OUT")
    p.set_defaults(func=run)


def run(args) -> int:
    import pandas as pd

    from ..comparison import compare_models

    comparison = compare_models(args.models, args.data, estimator=args.estimator)
    table, tests = comparison.table, comparison.tests
    with pd.option_context("display.width", 160, "display.float_format",
                           lambda v: f"{v:.3f}"):
        print(table.to_string())
        if len(tests):
            print("\nNested model tests:")
            print(tests.to_string(index=False))
    if args.csv:
        write_text_atomic(args.csv, table.reset_index().to_csv(index=False),
                          protect=(args.data,))
    return 0
