"""``semcluster simulate`` and ``semcluster calibrate``: synthetic survey data."""
from __future__ import annotations

from . import _arguments as A


def add_parser(sub):
    p = sub.add_parser(
        "simulate", help="draw a synthetic survey from the population calibrated to the paper",
        description="Draw N respondents' answers (integers 1-7, items ca1..in4) from the "
                    "population model calibrated to the paper's Tables 2-3; with "
                    "--match-published, adjust the sample until its composite means, SDs, "
                    "correlations and alphas equal the published ones wherever arithmetic "
                    "allows (N = 160 reproduces the bundled paper_synthetic.csv for the "
                    "default seed).")
    p.add_argument("--n", type=A.sample_size, default=160,
                   help="number of respondents, 2-1000000 (160)")
    p.add_argument("--seed", type=A.seed, default=20131101,
                   help="random seed, 0 to 2^32-1 (20131101)")
    p.add_argument("--out", required=True, metavar="FILE", help="CSV file to write")
    p.add_argument("--match-published", action="store_true",
                   help="adjust the sample to reproduce the published Tables 2-3")
    p.add_argument("--report", action="store_true",
                   help="print the calibration report (published vs synthetic figures)")
    p.set_defaults(func=run)

    c = sub.add_parser(
        "calibrate", help="compare a data set's Table 2-3 figures with the published ones",
        description="For every figure of the paper's Tables 2 and 3 (composite means, SDs, "
                    "correlations, Cronbach's alpha), print the published value, the value in "
                    "the data, and whether they match at the printed precision.")
    from ._common import add_data_options

    add_data_options(c)
    c.add_argument("--csv", metavar="OUT", help="also write the report as CSV")
    c.set_defaults(func=run_calibrate)


def _print_report(rep) -> None:

    from .. import tables

    print(tables.to_text(rep[["table", "figure", "published", "synthetic_rounded", "match"]]
                         .rename(columns={"synthetic_rounded": "data"})))
    bad = rep[~rep.match]
    print(f"\n{int(rep.match.sum())} of {len(rep)} figures match at printed precision; "
          f"{int((~rep.reachable).sum())} cannot be reached by any complete integer data:")
    for _, r in bad.iterrows():
        print(f"  {r.figure}: {r.note or 'reachable, but not matched in this data'}")


def run(args) -> int:
    from ..errors import SemclusterError
    from ..output_files import OutputFiles
    from ..study.synthetic import (calibration_report, match_published, paper_synthetic,
                                   simulate_items)

    outputs = OutputFiles()
    out = outputs.file(args.out)

    if args.n < 2:
        raise SemclusterError("--n must be at least 2")
    if args.match_published:
        if args.n == 160:
            df, info = paper_synthetic(args.seed)
        else:
            df, info = match_published(args.seed, n=args.n)
    else:
        df, info = simulate_items(args.n, args.seed), {"seed": args.seed}
    outputs.write_csv(out, df)
    print(f"wrote {args.out}: {len(df)} respondents, seed {args.seed}")
    if args.report or args.match_published:
        _print_report(calibration_report(df))
    return 0


def run_calibrate(args) -> int:
    from .. import study
    from ..output_files import OutputFiles
    from ..study.synthetic import calibration_report
    from ._common import read_data

    outputs = OutputFiles(inputs=[args.data, getattr(args, "map", None)])
    csv_out = outputs.file(args.csv) if args.csv else None

    X, _ = read_data(args, study.item_names())
    rep = calibration_report(X)
    _print_report(rep)
    if csv_out:
        outputs.write_csv(csv_out, rep)
    return 0
