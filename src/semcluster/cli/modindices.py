"""``semcluster modindices MODEL [--data FILE] [--json OUT]``"""
from __future__ import annotations

from . import _arguments as A
from ._common import add_data_options, data_options_from_args, print_data_report


def add_parser(sub):
    p = sub.add_parser("modindices", help="modification indices and residual diagnostics",
                       description="Modification indices with expected parameter change "
                                   "(raw and standardized), sorted, and the largest "
                                   "normalized residual covariances.")
    p.add_argument("model", metavar="MODEL")
    add_data_options(p)
    p.add_argument("--top", type=A.rows, default=20, help="rows to show, at least 1 (20)")
    p.add_argument("--json", metavar="OUT")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..result import tables
    from ..fitting import fit
    from ..measures.modindices import largest_residuals, modification_indices
    from ..output.files import OutputFiles

    outputs = OutputFiles(inputs=[args.model, args.data, args.map])
    json_out = outputs.file(args.json) if args.json else None

    res = fit(args.model, args.data, options=data_options_from_args(args))
    print_data_report(res.data_report)
    mi = modification_indices(res)
    resid = largest_residuals(res, "normalized", k=args.top)
    if res.missing == "fiml":
        print("Score tests of the FIML fit: gradient and expected information of the answers "
              "given, per missing-data pattern (lavaan's modindices() on missing = 'ml').")
    print(tables.to_text(mi.head(args.top)))
    print("\nLargest normalized residual covariances:")
    print(tables.to_text(resid))
    if json_out:
        js = {"modindices": mi.to_dict("records"), "residuals": resid.to_dict("records")}
        outputs.write_json(json_out, js)
    return 0
