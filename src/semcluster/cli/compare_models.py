"""``semcluster compare-models MODEL... [--data FILE]``"""
from __future__ import annotations

from ._common import add_data_options, observed_of, read_data


def add_parser(sub):
    p = sub.add_parser("compare-models", help="fit competing models and test nested ones",
                       description="Fit several models to the same data: fit indices, AIC/BIC, "
                                   "ΔCFI, and chi-square difference tests of nested pairs "
                                   "(Satorra-Bentler scaled for MLR).")
    p.add_argument("models", nargs="*", metavar="MODEL",
                   default=["h1_h5", "revised", "second_order", "one_factor"])
    add_data_options(p)
    from ..estimation.registry import ESTIMATORS

    p.add_argument("--estimator", choices=tuple(ESTIMATORS), default="ML", type=str.upper,
                   help="; ".join(f"{e.name}: {e.description}, nested test {e.nested_test}"
                                  for e in ESTIMATORS.values()))
    p.add_argument("--csv", metavar="OUT")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..result import tables
    from ..analysis.model_comparison import compare_models
    from ..output.files import OutputFiles
    from ..study import nested_models

    outputs = OutputFiles(inputs=[*args.models, args.data, args.map])
    csv_out = outputs.file(args.csv) if args.csv else None

    X, _ = read_data(args, observed_of(*args.models))
    comparison = compare_models(args.models, X, estimator=args.estimator,
                                nested=nested_models(args.models))
    table, tests = comparison.table, comparison.tests
    print(tables.to_text(table, label="model"))
    if len(tests):
        print("\nNested model tests:")
        print(tables.to_text(tests))
    if csv_out:
        outputs.write_csv(csv_out, table.reset_index())
    return 0
