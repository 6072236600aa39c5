"""``semcluster report MODEL --data FILE [data options] [--group COL] [--hypotheses FILE]
[--labels FILE] [--lang en|zh] [--format html,md,docx] [--style apa|three-line] --out DIR``"""
from __future__ import annotations

from . import _arguments as A
from ._common import (add_data_options, add_labels_option, data_options_from_args,
                      print_data_report)


def _formats(text: str) -> tuple:
    import argparse

    from ..output.report import FORMATS

    got = tuple(dict.fromkeys(f.strip().lower() for f in text.split(",") if f.strip()))
    bad = [f for f in got if f not in FORMATS]
    if bad or not got:
        raise argparse.ArgumentTypeError(f"'{text}': give one or more of {', '.join(FORMATS)}, "
                                         f"comma-separated")
    return got


def add_parser(sub):
    p = sub.add_parser(
        "report", help="a report for your own model and survey: one folder",
        description="Fit MODEL to your survey once and write a report whose sections follow "
                    "what the model holds: data, common-method bias, measurement (loadings, "
                    "alpha/omega/CR/AVE, Fornell-Larcker, HTMT), model fit with conventional "
                    "cut-offs, structural paths, R2, hypotheses, ':=' effects with bootstrap "
                    "intervals, groups (invariance, path differences) and diagrams; report.html, "
                    "report.md (and report.docx), tables (CSV), figures and results.json.")
    p.add_argument("model", metavar="MODEL", help="model file (.lav) or bundled model name")
    add_data_options(p)
    p.add_argument("--group", metavar="COLUMN",
                   help="compare the groups of COLUMN (invariance, per-group paths)")
    p.add_argument("--hypotheses", metavar="FILE",
                   help="YAML: hypotheses: {H1: {path: X -> Y, sign: '+', text: ...}} or "
                        "{label: a, ...}; default: the model's labelled paths")
    add_labels_option(p)
    p.add_argument("--lang", choices=("en", "zh"), default="en")
    p.add_argument("--format", type=_formats, default=("html", "md"), metavar="LIST",
                   help="html, md, docx, comma-separated (html,md)")
    p.add_argument("--style", choices=("apa", "three-line"), default="apa",
                   help="table style: APA 7 (default) or three-line")
    p.add_argument("--n-boot", type=A.n_boot, default=1000,
                   help="bootstrap resamples of the ':=' effects, 10-100000 (1000)")
    p.add_argument("--seed", type=A.seed, default=20231124, help="0 to 2^32-1")
    p.add_argument("--jobs", type=A.jobs, default=-1, help="worker processes (-1: all cores)")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder")
    p.set_defaults(func=run)


def run(args) -> int:
    import time

    from ..output.files import OutputFiles
    from ..output.report import build_report

    t = time.perf_counter()
    inputs = [args.model, args.data, args.map, args.hypotheses, args.labels]
    # a bad --out is refused before anything is read (build_report checks again)
    OutputFiles(inputs=inputs).folder(args.out)
    out = build_report(args.model, args.data, out=args.out,
                       options=data_options_from_args(args), group=args.group,
                       hypotheses=args.hypotheses, labels=args.labels, lang=args.lang,
                       formats=args.format, style=args.style, n_boot=args.n_boot,
                       seed=args.seed, n_jobs=args.jobs, extra_inputs=(args.map,),
                       on_data_report=print_data_report)
    names = ", ".join(f"report.{f}" for f in args.format)
    print(f"wrote {out}/{names}, results.json, tables/, figures/ in "
          f"{time.perf_counter() - t:.1f} s")
    return 0
