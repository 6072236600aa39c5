"""``semcluster method-bias MODEL --data FILE [data options] [--estimator E] [--lang en|zh]
[--json OUT]``: Harman's single-factor test, a one-factor CFA and an unmeasured latent method
factor (ULMC) against the model's measurement part."""
from __future__ import annotations

from ._common import add_data_options, data_options_from_args, read_data


def add_parser(sub):
    p = sub.add_parser(
        "method-bias", help="common-method bias: Harman's test, one-factor CFA, method factor",
        description="Harman's single-factor test (unrotated principal components), a "
                    "one-factor CFA and the model's measurement part with an unmeasured latent "
                    "method factor on every item (ULMC), each against its rule of thumb with "
                    "the source named, and the caveats.")
    p.add_argument("model", metavar="MODEL",
                   help="model file or bundled model name (its factors and items are used)")
    add_data_options(p)
    p.add_argument("--estimator", choices=("ML", "MLR", "GLS", "WLSMV"), default=None,
                   type=str.upper, help="estimator of the three models (ML; WLSMV when "
                                        "--ordered is given)")
    p.add_argument("--lang", choices=("en", "zh"), default="en",
                   help="language of the tables (en)")
    p.add_argument("--json", metavar="OUT", help="also write the results as JSON to OUT")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..analysis.method_bias import _all_items, measurement_part, method_factor_check
    from ..output.files import OutputFiles

    outputs = OutputFiles(inputs=[args.model, args.data, args.map])
    json_out = outputs.file(args.json) if args.json else None
    _, factors = measurement_part(args.model)
    X, _ = read_data(args, _all_items(factors))
    res = method_factor_check(args.model, X, estimator=args.estimator,
                              options=data_options_from_args(args))
    print(res.summary(lang=args.lang))
    if json_out:
        outputs.write_json(json_out, res.to_dict(), ensure_ascii=False)
        print(f"wrote {args.json}")
    return 0
