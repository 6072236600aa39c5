"""``semcluster diagram MODEL|RESULT --kind ... --out FILE``"""
from __future__ import annotations

from . import _arguments as A
from ._common import (add_data_options, add_labels_option, data_options_from_args,
                      print_data_report, read_data)

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
    add_labels_option(p)
    p.add_argument("--group", metavar="LABEL",
                   help="the group to draw of a multi-group result (--json of fit --group): "
                        "its value, or the value's label (--labels, SPSS value labels); "
                        "default: every group side by side, titled by their labels")
    p.add_argument("--alpha", type=A.probability, default=0.05, help="significance level (0.05)")
    p.add_argument("--hide-ns", action="store_true", help="leave out non-significant paths")
    p.add_argument("--covariances", action="store_true",
                   help="draw correlations between adjacent predictors (tested diagram)")
    p.set_defaults(func=run)


def run(args) -> int:
    from pathlib import Path

    from ..output import diagrams as d
    from ..errors import SemclusterError
    from ..output.files import OutputFiles
    from ._common import is_study_model, labels_from_args

    src = args.source
    outputs = OutputFiles(inputs=[src, args.data, getattr(args, "map", None),
                                  getattr(args, "labels", None)])
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
    # the study's dictionary names the study's own models only (a user's construct that
    # happens to be called KS keeps its name, or takes the label the user gives it)
    labels = labels_from_args(args, study=args.kind == "compare" or (
        not is_json and is_study_model(src)))
    if args.kind == "conceptual":
        if is_json:
            raise SemclusterError("the conceptual diagram is drawn from a model, not a result")
        _check_names(args, src)
        fig = d.conceptual_diagram(src, lang=args.lang, labels=labels)
    elif args.kind == "compare":
        from ..study.regression_vs_sem import compare_methods

        from ._common import observed_of

        data = read_data(args, observed_of("h1_h5"))[0] if data_options_given(args) else None
        fig = d.compare_diagram(compare_methods(data, alpha=args.alpha), lang=args.lang,
                                alpha=args.alpha, labels=labels)
    else:
        if is_json:
            result = src                 # read by the drawing (one group, or all side by side)
        else:
            from ..fitting import fit

            result = fit(src, args.data, options=data_options_from_args(args))
            print_data_report(result.data_report)
        _check_names(args, result)
        group = _group_value(labels, result, args.group)
        if args.kind == "tested":
            fig = d.tested_diagram(result, lang=args.lang, alpha=args.alpha,
                                   hide_ns=args.hide_ns, covariances=args.covariances,
                                   labels=labels, group=group)
        else:
            fig = d.measurement_diagram(result, lang=args.lang, alpha=args.alpha,
                                        labels=labels, group=group)
    outputs.save_figure(out, fig)
    print(f"wrote {args.out}")
    return 0


def _check_names(args, source) -> None:
    """Warn about labels in ``--labels`` for names the model does not have (a typo);
    ``source`` is a model or a result (object, or JSON file)."""
    if not getattr(args, "labels", None):
        return
    import json
    from pathlib import Path

    from ._common import warn_unknown_labels

    column = values = None
    if isinstance(source, str) and source.endswith(".json") and Path(source).is_file():
        view = json.loads(Path(source).read_text(encoding="utf-8"))
        rows = view.get("estimates", [])
        names = {r["lhs"] for r in rows} | {r["rhs"] for r in rows}
        column, values = view.get("group_column"), view.get("groups")
    elif hasattr(source, "estimates"):
        names = set(source.estimates.lhs) | set(source.estimates.rhs)
        column, values = source.group_column, source.groups
    else:
        from ..spec.parser import read_model

        table = read_model(source).partable
        names = set(table.lhs) | set(table.rhs)
    warn_unknown_labels(args, names, column, values)


def _group_value(labels, result, group):
    """``--group`` as a value of the grouping column; a value label (en or zh, e.g. "国有"
    for 1) names its value too."""
    if group is None or not labels:
        return group
    from ..output import diagrams as d

    values = d._groups_of(result)
    if str(group) in values:
        return group
    column = d._group_column_of(result)
    for v in values:
        if group in (labels.group(column, v, "en"), labels.group(column, v, "zh")):
            return v
    return group
