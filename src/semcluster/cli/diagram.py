"""``semcluster diagram MODEL|RESULT --kind ... --out FILE``"""
from __future__ import annotations

from . import _arguments as A
from ._common import add_data_options, data_options_from_args, print_data_report, read_data

KINDS = ("conceptual", "tested", "measurement", "compare")


def add_parser(sub):
    p = sub.add_parser(
        "diagram", help="draw a path diagram (PNG, SVG or PDF)",
        description="Draw the conceptual model (the paper's Figure 1), the tested model with "
                    "standardized paths and fit (Figure 2), the full measurement diagram, or "
                    "the regression-vs-SEM comparison. MODEL is a model file or bundled name "
                    "(fitted to --data for tested/measurement); RESULT is a JSON written by "
                    "'semcluster fit --json' (never refitted).")
    p.add_argument("source", metavar="MODEL|RESULT")
    p.add_argument("--kind", choices=KINDS, default="tested")
    p.add_argument("--out", required=True, metavar="FILE", help=".png, .svg or .pdf")
    add_data_options(p)
    p.add_argument("--lang", choices=("en", "zh"), default="en")
    p.add_argument("--group", metavar="LABEL",
                   help="the group to draw of a multi-group result (--json of fit --group); "
                        "default: every group side by side")
    p.add_argument("--alpha", type=A.probability, default=0.05, help="significance level (0.05)")
    p.add_argument("--hide-ns", action="store_true", help="leave out non-significant paths")
    p.add_argument("--covariances", action="store_true",
                   help="draw correlations between adjacent predictors (tested diagram)")
    p.set_defaults(func=run)


def run(args) -> int:
    from pathlib import Path

    from .. import diagrams as d
    from ..study import construct_labels
    from ..errors import SemclusterError
    from ..output_files import OutputFiles

    src = args.source
    outputs = OutputFiles(inputs=[src, args.data, getattr(args, "map", None)])
    out = outputs.file(args.out, suffixes=(".png", ".svg", ".pdf"))
    is_json = src.endswith(".json") and Path(src).is_file()
    from ._common import data_options_given

    if (is_json or args.kind == "conceptual") and data_options_given(args):
        # a result is drawn as it was fitted, the conceptual model has no data: a --data
        # (or another data option) here would be ignored without a word
        from ..errors import OptionError

        raise OptionError(f"--data and the data options are not used by "
                              f"{'a fitted RESULT' if is_json else 'the conceptual diagram'}; "
                              f"leave them out (give a MODEL to fit it to --data)")
    if args.kind == "conceptual":
        if is_json:
            raise SemclusterError("the conceptual diagram is drawn from a model, not a result")
        fig = d.conceptual_diagram(src, lang=args.lang, labels=construct_labels)
    elif args.kind == "compare":
        from ..study.regression_vs_sem import compare_methods

        from ._common import observed_of

        data = read_data(args, observed_of("h1_h5"))[0] if data_options_given(args) else None
        fig = d.compare_diagram(compare_methods(data, alpha=args.alpha), lang=args.lang,
                                alpha=args.alpha, labels=construct_labels)
    else:
        if is_json:
            result = src                 # read by the drawing (one group, or all side by side)
        else:
            from ..fit import fit

            result = fit(src, args.data, options=data_options_from_args(args))
            print_data_report(result.data_report)
        if args.kind == "tested":
            fig = d.tested_diagram(result, lang=args.lang, alpha=args.alpha,
                                   hide_ns=args.hide_ns, covariances=args.covariances,
                                   labels=construct_labels, group=args.group)
        else:
            fig = d.measurement_diagram(result, lang=args.lang, alpha=args.alpha,
                                        labels=construct_labels, group=args.group)
    outputs.save_figure(out, fig)
    print(f"wrote {args.out}")
    return 0
