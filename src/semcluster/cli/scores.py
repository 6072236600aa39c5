"""``semcluster scores MODEL --data FILE --out FILE [--method regression|bartlett] [--se]``"""
from __future__ import annotations

from ._common import add_data_options, data_options_from_args, print_data_report


def add_parser(sub):
    p = sub.add_parser(
        "scores", help="factor scores of every respondent (lavaan's lavPredict) to CSV or xlsx",
        description="Fit MODEL (as `semcluster fit` does) and write the factor scores of the "
                    "latent variables, one row per data row in the order of the data file: "
                    "regression (Thurstone, lavaan's default) or Bartlett scores, as lavaan's "
                    "lavPredict() computes them. With FIML (rows with missing answers), each "
                    "row is scored from the items it answered.",
        epilog="Columns: row (the data row, counting from 1), the --id column if given, one "
               "column per latent variable, and with --se their standard errors (se_<name>). "
               "Rows left out of the fit (listwise deletion) have empty scores. Exit status: "
               "0 written, 2 bad input, 3 the fit did not converge (nothing written).")
    p.add_argument("model", metavar="MODEL", help="model file or bundled model name")
    add_data_options(p)
    p.add_argument("--out", metavar="FILE", required=True,
                   help="output file: .csv, or .xlsx for an Excel workbook (never one of the "
                        "input files)")
    p.add_argument("--method", choices=("regression", "bartlett"), default="regression",
                   type=str.lower,
                   help="regression (default; lavaan's 'regression', Thurstone) or bartlett")
    p.add_argument("--se", action="store_true",
                   help="also write the scores' standard errors (lavaan's se = 'standard')")
    from ..estimation.registry import ESTIMATORS

    p.add_argument("--estimator", choices=tuple(ESTIMATORS),
                   default=None, type=str.upper,
                   help="estimator of the fit (default ML); factor scores of ordinal items "
                        "(WLSMV) are not available")
    p.set_defaults(func=run)


def run(args) -> int:
    import sys
    from dataclasses import replace
    from pathlib import Path

    import pandas as pd

    from ..data.survey import load_data, read_survey
    from ..errors import OptionError
    from ..fitting import fit
    from ..output.files import OutputFiles
    from ..spec.parser import read_model

    suffix = Path(str(args.out)).suffix.lower()
    outputs = OutputFiles(inputs=[args.model, args.data, args.map])
    target = outputs.file(args.out)
    if suffix not in (".csv", ".xlsx"):
        raise OptionError(f"{args.out}: use a file name ending in .csv or .xlsx")
    spec = read_model(args.model)
    if not spec.latent:
        raise OptionError(f"model {spec.name} has no latent variables (no '=~' line): there are "
                          f"no factor scores to compute")
    from ..estimation.registry import ESTIMATORS

    if args.ordered or (args.estimator and "ordinal" in ESTIMATORS[args.estimator].supports):
        raise OptionError("factor scores for ordinal items (--ordered, WLSMV) are not "
                          "available: lavaan scores them over the thresholds (EBM/ML), which "
                          "semcluster does not have; leave out --ordered to treat the answers "
                          "as continuous")
    opts = data_options_from_args(args)
    X, report = read_survey(args.data, opts, variables=spec.observed, n_free=spec.n_free,
                            latent=spec.latent)
    print_data_report(report)
    # X is prepared (recoded once); the id column stays behind in the file
    res = fit(spec, X, estimator=args.estimator, options=replace(opts, id=None))
    if not res.converged:
        from . import EXIT_NOT_CONVERGED

        print(f"semcluster: the fit did not converge ({res.info.get('optimizer', '')}); no "
              f"scores written", file=sys.stderr)
        return EXIT_NOT_CONVERGED
    out = res.predict(method=args.method, se=args.se, data=X)
    scores, se = out if args.se else (out, None)

    raw = load_data(args.data, mapping=opts.map, sheet=opts.sheet)
    table = pd.DataFrame({"row": range(1, len(raw) + 1)}, index=raw.index)
    desc = raw.attrs.get("semcluster", {}).get("description") or {}
    id_column = opts.id or (desc.get("id") if isinstance(desc, dict) else None)
    if id_column and id_column in raw.columns:
        table[id_column] = raw[id_column]
    table = table.join(scores.reindex(raw.index))
    if se is not None:
        table = table.join(se.reindex(raw.index).add_prefix("se_"))
    table = table.reset_index(drop=True)

    if suffix == ".xlsx":
        outputs.write_xlsx(target, table, sheet="scores")
    else:
        outputs.write_csv(target, table)
    lv = list(scores.columns)
    scored = int(scores.notna().any(axis=1).sum())
    blank = len(raw) - scored
    print(f"wrote {args.out}: {args.method} scores of {', '.join(lv)} for {scored} of "
          f"{len(raw)} rows" + (f" ({blank} row(s) without scores: left out of the fit, see "
                                f"the data report)" if blank else ""))
    if not res.admissible:
        print("semcluster: warning: the solution is not admissible (see `semcluster fit`); "
              "the scores inherit its problems", file=sys.stderr)
    return 0
