"""Helpers shared by the sub-commands (argument conventions, safe output)."""
from __future__ import annotations



#: The data options every data-taking command accepts (``--help`` shows them alike).
DATA_OPTIONS = ("--data", "--map", "--sheet", "--id", "--missing", "--missing-codes", "--scale",
                "--out-of-scale", "--reverse", "--ordered", "--long-string", "--drop-careless",
                "--careless-csv", "--cluster")


def add_data_options(p, required: bool = False):
    """Add the data options to a sub-command: the same flags, defaults and help everywhere."""
    g = p.add_argument_group(
        "data options", "how your survey file is read; the same for every command, and "
                        "described in the data report printed first")
    g.add_argument("--data", metavar="FILE", required=required,
                   help="data file: CSV/TSV/TXT (delimiter, decimal mark and encoding "
                        "detected), XLSX, SPSS SAV or Stata DTA; default: the bundled "
                        "synthetic study data")
    g.add_argument("--map", metavar="FILE",
                   help="YAML column mapping {file column: model item} or data description "
                        "(columns, reverse, scale, missing_codes, id, ordered, sheet)")
    g.add_argument("--sheet", metavar="NAME|N", help="worksheet of an Excel file (default: "
                                                       "the first)")
    g.add_argument("--id", metavar="COLUMN", help="respondent-id column (checked for "
                                                   "duplicates, never fitted)")
    g.add_argument("--missing", choices=("auto", "listwise", "fiml", "pairwise", "ml", "ml.x",
                                         "direct", "available.cases"),
                   default="auto", type=str.lower,
                   help="missing-data rule, the same for every command: auto (default) = FIML "
                        "when any answer is missing (pairwise for WLSMV), else listwise; "
                        "lavaan's ml, ml.x, direct mean fiml, available.cases means pairwise")
    g.add_argument("--missing-codes", metavar="CODE[,CODE]", action="append",
                   help="values meaning 'no answer', e.g. --missing-codes -99 (repeat the flag, "
                        "or --missing-codes=-99,99 or '98;99')")
    g.add_argument("--scale", nargs=2, type=float, metavar=("MIN", "MAX"),
                   help="answer scale, e.g. 1 7 (default: from SPSS value labels, else none)")
    g.add_argument("--out-of-scale", choices=("error", "missing"), default="error",
                   help="an answer outside the scale, or an undeclared code such as -99: "
                        "error (default) or set missing with a warning")
    g.add_argument("--reverse", metavar="ITEM,...", help="reverse-coded items (min + max - x; "
                                                         "needs a scale)")
    g.add_argument("--ordered", metavar="all|ITEM,...",
                   help="ordinal items (fitted by WLSMV, as lavaan does)")
    g.add_argument("--long-string", metavar="N", type=_long_string,
                   help="careless answers: flag a respondent with N or more identical raw "
                        "answers in a row (before reverse coding), or the same raw answer to "
                        "all of at least N answered items (default: half the items, Curran "
                        "2016, for models of 10 or more items)")
    g.add_argument("--drop-careless", action="store_true",
                   help="drop the respondents flagged as careless before the analysis (the "
                        "data report gives their number)")
    g.add_argument("--careless-csv", metavar="FILE",
                   help="write the respondents flagged as careless (id, else row number; "
                        "long string; straight-lining) to this .csv file")
    g.add_argument("--cluster", metavar="COLUMN",
                   help="cluster column (firms in parks, regions ...; never fitted): the data "
                        "report gives cluster sizes, ICC(1) and design effects; fit with "
                        "--estimator MLR gives cluster-robust SEs and test (lavaan's cluster=)")
    return g


def _long_string(text: str) -> int:
    import argparse

    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a whole number") from None
    if n < 2:
        raise argparse.ArgumentTypeError(f"{n}: give at least 2 (a run of one identical answer "
                                         f"is every answer)")
    return n


def add_data_argument(p, required=False):
    """Older name of :func:`add_data_options`."""
    return add_data_options(p, required=required)


def data_options_from_args(args):
    """The :class:`semcluster.data.survey.DataOptions` given on the command line."""
    from ..data.survey import DataOptions

    codes = []
    from ..data.survey import split_codes

    # the one reading of a code list (split on , and ;, numbers written as text as numbers)
    codes += list(split_codes([str(t) for t in getattr(args, "missing_codes", None) or []]))
    ordered = getattr(args, "ordered", None)
    if ordered and ordered.strip() != "all":
        ordered = tuple(o.strip() for o in ordered.split(",") if o.strip())
    elif ordered:
        ordered = "all"
    sheet = getattr(args, "sheet", None)
    from ..data.survey import missing_rule

    return DataOptions(map=getattr(args, "map", None),
                       missing=missing_rule(getattr(args, "missing", "auto")),
                       missing_codes=tuple(codes), scale=getattr(args, "scale", None),
                       reverse=getattr(args, "reverse", None) or (), ordered=ordered or None,
                       id=getattr(args, "id", None), sheet=sheet,
                       out_of_scale=getattr(args, "out_of_scale", "error"),
                       long_string=getattr(args, "long_string", None),
                       drop_careless=bool(getattr(args, "drop_careless", False)),
                       cluster=getattr(args, "cluster", None))


def data_options_given(args) -> bool:
    """Whether any data option differs from its default (the bundled data is then not 'as
    published')."""
    from ..data.survey import DataOptions

    return (args.data is not None or data_options_from_args(args) != DataOptions()
            or bool(getattr(args, "careless_csv", None)))


#: ``--careless-csv`` of the running command: (guard, path), set by :func:`guard_careless_csv`
_CARELESS_CSV: list = []


def guard_careless_csv(args) -> None:
    """Check ``--careless-csv`` before any work: never over a file the command reads (any
    file named on its command line) nor over another output; remembered for
    :func:`print_data_report`, which writes it."""
    import os
    from pathlib import Path

    from ..errors import OutputPathError
    from ..output.files import OutputFiles

    _CARELESS_CSV.clear()
    path = getattr(args, "careless_csv", None)
    if not path:
        return
    named = []
    for key, value in vars(args).items():
        if key == "careless_csv" or callable(value):
            continue
        for v in value if isinstance(value, (list, tuple)) else [value]:
            if isinstance(v, (str, os.PathLike)) and str(v):
                named.append(v)
    guard = OutputFiles(inputs=named)
    target = guard.file(path, suffixes=(".csv",))
    for v in named:          # an output of the command not written yet has no file to compare
        if os.path.abspath(str(v)) == os.path.abspath(str(target)):
            raise OutputPathError(f"{target} is named for two outputs of this run; give each "
                                  f"its own name")
    _CARELESS_CSV.append((guard, Path(str(target))))


def print_data_report(report) -> None:
    """The data report, printed first by every data-taking command (and, with
    ``--careless-csv``, the respondents flagged as careless written)."""
    print(str(report))
    if _CARELESS_CSV and getattr(report, "careless_rule", None) is not None:
        guard, path = _CARELESS_CSV[0]
        guard.write_csv(path, report.careless_table())
        why = "" if report.careless_rule else (
            f"; the checks did not run: fewer than 10 items, give --long-string N")
        print(f"wrote {path} ({len(report.careless)} respondent(s) flagged as careless{why})")
    print()


def read_data(args, variables, *, keep=(), n_free=None):
    """Read ``--data`` with the data options for ``variables``; print the data report.

    Returns the prepared frame (which every library function takes as data without recoding
    it again) and the :class:`semcluster.data.survey.DataReport`.
    """
    from ..data.survey import read_survey

    X, report = read_survey(args.data, data_options_from_args(args), variables=variables,
                            keep=keep, n_free=n_free)
    print_data_report(report)
    return X, report


def add_labels_option(p):
    """``--labels FILE``: the same option and help on every command that prints or draws
    names (diagram, fit, measure, report)."""
    p.add_argument("--labels", metavar="FILE",
                   help="labels YAML: construct, item and group-value names in en and zh and a "
                        "title (format: docs/labels.md); the variable and value labels of an "
                        "SPSS/Stata --data file are used too")


#: data files whose variable and value labels become item and group labels
_LABELLED_SUFFIXES = (".sav", ".zsav", ".por", ".dta")


def is_study_model(source) -> bool:
    """Whether ``source`` names one of the study's bundled models (not a file of the user's
    that happens to have the same name): only then does the study's dictionary label it."""
    from pathlib import Path

    from ..resources import bundled_models

    return (isinstance(source, str) and source in bundled_models()
            and not Path(source).exists())


def labels_from_args(args, *, study: bool = False):
    """The :class:`semcluster.data.labels.Labels` of a run: ``--labels`` (if given), then the
    labels of an SPSS/Stata ``--data`` file, then (``study``: the study's own models only) the
    study's dictionary."""
    from pathlib import Path

    from ..data.labels import read_labels

    frame = None
    data = getattr(args, "data", None)
    if (data and Path(str(data)).suffix.lower() in _LABELLED_SUFFIXES
            and Path(str(data)).is_file()):
        from ..data.survey import load_data
        from ..errors import SemclusterError

        try:
            frame = load_data(data, mapping=getattr(args, "map", None),
                              sheet=getattr(args, "sheet", None))
        except SemclusterError:
            frame = None        # the data reader of the command reports what is wrong

    labels = read_labels(getattr(args, "labels", None), frame=frame)
    if study:
        from ..study import study_labels

        labels = labels.merged(study_labels())
    return labels


def warn_unknown_labels(args, names, group_column=None, group_values=None) -> list:
    """One warning naming the labels of ``--labels`` for names the model does not have."""
    if not getattr(args, "labels", None):
        return []
    from ..data.labels import Labels

    return Labels.from_yaml(args.labels).warn_unknown(names, group_column, group_values)


def observed_of(*models) -> list:
    """Observed variables of the models, in order of first appearance."""
    from ..spec.parser import read_model

    seen: list = []
    for m in models:
        for v in read_model(m).observed:
            if v not in seen:
                seen.append(v)
    return seen
