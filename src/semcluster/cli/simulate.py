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
    p.add_argument("--n", type=A.sample_size, default=None,
                   help="number of respondents, 2-1000000 (160; with --clusters and "
                        "--cluster-size: their product)")
    p.add_argument("--seed", type=A.seed, default=20131101,
                   help="random seed, 0 to 2^32-1 (20131101)")
    p.add_argument("--out", required=True, metavar="FILE", help="CSV file to write")
    p.add_argument("--match-published", action="store_true",
                   help="adjust the sample to reproduce the published Tables 2-3")
    p.add_argument("--report", action="store_true",
                   help="print the calibration report (published vs synthetic figures)")
    add_design_options(p, "simulate")
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


# --- clustered firms and missing answers (shared with ``semcluster power``) -------------------
def _design_type(check, label):
    import argparse

    from ..errors import SemclusterError

    def parse(text: str):
        try:
            return check(text)
        except SemclusterError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
        except ValueError:
            raise argparse.ArgumentTypeError(f"'{text}' is not a number") from None
    parse.__name__ = label
    return parse


def _clusters(text):
    from .. import arguments

    return arguments.integer("the number of clusters", A._number(text, "whole number"), 2,
                             arguments.MAX_N)


def _cluster_size(text):
    from ..analysis.simulate import parse_cluster_size

    return parse_cluster_size(text.strip())


def _icc(text):
    from .. import arguments

    return arguments.real("the ICC", A._number(text, "number"), 0.0, 1.0, open_lo=False)


def _rate(text):
    from .. import arguments

    return arguments.real("the missing rate", A._number(text, "number"), 0.0, 1.0,
                          open_lo=False)


def add_design_options(p, command: str) -> None:
    """--clusters, --cluster-size, --icc, --missing-rate, --missing-mechanism."""
    g = p.add_argument_group(
        "clustered firms and missing answers",
        "firms drawn in clusters with intraclass correlation R (within-cluster covariance "
        "(1-R) x the population's, between-cluster R x it; docs/clusters.md), and answers "
        "removed completely at random (mcar) or by the MAR rule (the first item always "
        "answered, firms high on it skip more)")
    g.add_argument("--clusters", type=_design_type(_clusters, "number of clusters"),
                   metavar="K", help="number of clusters, at least 2")
    g.add_argument("--cluster-size", type=_design_type(_cluster_size, "cluster size"),
                   metavar="M|LO-HI",
                   help="firms per cluster (at least 2), or a range like 5-60 for unbalanced "
                        "clusters (sizes drawn uniformly)")
    g.add_argument("--icc", type=_design_type(_icc, "ICC"), metavar="R",
                   help="intraclass correlation of the latent responses, 0 <= R < 1 (needed "
                        "with --clusters / --cluster-size)")
    g.add_argument("--missing-rate", type=_design_type(_rate, "missing rate"), metavar="R",
                   default=0.0, help="expected share of answers missing, 0 <= R < 1 (0)")
    g.add_argument("--missing-mechanism", choices=["mcar", "mar"], default=None,
                   help="how answers go missing: mcar (default) or mar (by the rule above)")


def designs(args):
    """(ClusterDesign or None, MissingDesign or None) from the options, checked together."""
    from ..errors import OptionError
    from ..analysis.simulate import ClusterDesign, MissingDesign

    clustered = args.clusters is not None or args.cluster_size is not None
    if clustered and args.icc is None:
        raise OptionError("--clusters / --cluster-size need --icc R (the intraclass "
                          "correlation, 0 <= R < 1)")
    if args.icc is not None and not clustered:
        raise OptionError("--icc needs --clusters K and/or --cluster-size M")
    clusters = (ClusterDesign(args.icc, clusters=args.clusters, size=args.cluster_size)
                if clustered else None)
    if args.missing_mechanism is not None and not args.missing_rate:
        raise OptionError("--missing-mechanism needs --missing-rate R above 0")
    missing = (MissingDesign(args.missing_rate, args.missing_mechanism or "mcar")
               if args.missing_rate else None)
    return clusters, missing


def _print_report(rep) -> None:

    from ..result import tables

    print(tables.to_text(rep[["table", "figure", "published", "synthetic_rounded", "match"]]
                         .rename(columns={"synthetic_rounded": "data"})))
    bad = rep[~rep.match]
    print(f"\n{int(rep.match.sum())} of {len(rep)} figures match at printed precision; "
          f"{int((~rep.reachable).sum())} cannot be reached by any complete integer data:")
    for _, r in bad.iterrows():
        print(f"  {r.figure}: {r.note or 'reachable, but not matched in this data'}")


def run(args) -> int:
    from ..errors import SemclusterError
    from ..output.files import OutputFiles
    from ..study.synthetic import (calibration_report, match_published, paper_synthetic,
                                   simulate_items)

    outputs = OutputFiles()
    out = outputs.file(args.out)

    clusters, missing = designs(args)
    n = args.n
    if clusters is not None and clusters.fixes_n:
        if n is not None:
            raise SemclusterError("--clusters and --cluster-size make the sample size; do not "
                                  "give --n as well")
    elif n is None:
        n = 160
    if n is not None and n < 2:
        raise SemclusterError("--n must be at least 2")
    if args.match_published and (clusters is not None or missing is not None):
        raise SemclusterError("--match-published reproduces the paper's complete, "
                              "unclustered sample; it does not take --clusters or "
                              "--missing-rate")
    if args.match_published:
        if n == 160:
            df, info = paper_synthetic(args.seed)
        else:
            df, info = match_published(args.seed, n=n)
    elif clusters is not None or missing is not None:
        if clusters is not None and n is not None:
            clusters.sizes(n, __import__("numpy").random.default_rng(0))   # refuse early
        df = simulate_items(n, args.seed, clusters=clusters, missing=missing)
    else:
        df, info = simulate_items(n, args.seed), {"seed": args.seed}
    outputs.write_csv(out, df)
    print(f"wrote {args.out}: {len(df)} respondents, seed {args.seed}")
    if clusters is not None:
        sizes = df["cluster"].value_counts()
        print(f"  {clusters.describe()}: {len(sizes)} clusters of {sizes.min()}-{sizes.max()} "
              f"firms (column 'cluster')")
    if missing is not None:
        items = [c for c in df.columns if c != "cluster"]
        print(f"  missing answers ({missing.mechanism.upper()}, rate {missing.rate:g}): "
              f"{df[items].isna().to_numpy().mean():.3f} of all answers")
    if args.report or args.match_published:
        if missing is not None:
            print("(no calibration report: the published tables are of complete answers)")
        else:
            _print_report(calibration_report(df[[c for c in df.columns if c != "cluster"]]))
    return 0


def run_calibrate(args) -> int:
    from .. import study
    from ..output.files import OutputFiles
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
