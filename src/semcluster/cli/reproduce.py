"""``semcluster reproduce [--data FILE] [--out DIR] [--lang en|zh]``: the main job."""
from __future__ import annotations

from . import _arguments as A
from ._common import add_data_options, data_options_given, observed_of, read_data


def add_parser(sub):
    p = sub.add_parser(
        "reproduce", help="reproduce and extend the study: one report folder",
        description="Run every analysis (data provenance, measurement quality, CFA, H1-H5 as "
                    "latent paths, regression vs SEM, audit of the published tables, "
                    "bootstrap, power, figures) and write report.html, report.md, tables "
                    "(CSV), figures (PNG/SVG) and results.json to one folder.")
    add_data_options(p)
    p.add_argument("--out", default="report", metavar="DIR", help="output folder (report)")
    p.add_argument("--lang", choices=("en", "zh"), default="en")
    p.add_argument("--n-boot", type=A.n_boot, default=1000,
                   help="bootstrap resamples, 10-100000 (1000)")
    p.add_argument("--power-reps", type=A.reps, default=200,
                   help="replications per N, 10-100000 (200)")
    p.add_argument("--jobs", type=A.jobs, default=-1, help="worker processes (-1: all cores)")
    p.set_defaults(func=run)


def run(args) -> int:
    import sys
    import time

    from ..output.files import OutputFiles
    from ..study.report import reproduce_report

    t = time.perf_counter()
    # a bad --out is refused before the data are read (reproduce_report checks again)
    OutputFiles(inputs=[args.data, args.map]).folder(args.out)
    X, _ = read_data(args, observed_of("h1_h5"))
    out = reproduce_report(X if data_options_given(args) else None, args.out, lang=args.lang,
                       n_boot=args.n_boot, power_reps=args.power_reps, n_jobs=args.jobs,
                       progress=sys.stderr.isatty(), extra_inputs=(args.data, args.map))
    print(f"wrote {out}/report.html, report.md, results.json, tables/, figures/ "
          f"in {time.perf_counter() - t:.1f} s")
    return 0
