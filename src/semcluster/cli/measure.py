"""``semcluster measure [MODEL] [--data FILE]``: reliability and validity tables."""
from __future__ import annotations

from . import _arguments as A
from ._common import (add_data_options, add_labels_option, data_options_given, observed_of,
                      read_data)


def add_parser(sub):
    p = sub.add_parser(
        "measure", help="reliability, convergent and discriminant validity, EFA checks",
        description="Cronbach's alpha with CI, omega, CR, AVE, item statistics, "
                    "Fornell-Larcker, HTMT/HTMT2, latent correlations with CIs, KMO, "
                    "Bartlett, parallel analysis and an oblique EFA, each flagged against "
                    "its usual threshold (with the source named).")
    p.add_argument("model", nargs="?", default="cfa",
                   help="measurement model (default: the bundled six-factor cfa)")
    add_data_options(p)
    add_labels_option(p)
    p.add_argument("--out", metavar="DIR", help="write every table as CSV plus measurement.json")
    p.add_argument("--alpha-available", action="store_true",
                   help="also give each scale's alpha on its available cases (the rows that "
                        "answered every item of the scale, SPSS's per-scale listwise)")
    p.add_argument("--parallel-iter", type=A.iterations, default=200,
                   help="random data sets for parallel analysis, 10-100000 (200)")
    p.add_argument("--group", metavar="COLUMN",
                   help="fit the model in every group of COLUMN and give every table per "
                        "group (as semTools on a multigroup lavaan fit)")
    p.add_argument("--htmt-ci", action="store_true",
                   help="bootstrap HTMT and HTMT2 (Henseler et al. 2015's HTMT inference): "
                        "discriminant validity holds when the upper end of the one-sided 95%% "
                        "percentile interval is below .85 (strict) / .90 (liberal)")
    p.add_argument("--n-boot", type=A.n_boot, default=2000,
                   help="resamples for --htmt-ci, 10-100000 (2000)")
    p.add_argument("--seed", type=A.seed, default=20231124,
                   help="seed of the --htmt-ci resamples, 0 to 2^32-1")
    p.add_argument("--jobs", type=A.jobs, default=1,
                   help="worker processes for --htmt-ci (-1: all cores; 1)")
    p.set_defaults(func=run)


def _p_text(p) -> str:
    from ..result.tables import format_pvalue

    f = format_pvalue(p)
    return f if f.startswith(("<", ">")) else f"= {f}"


def run(args) -> int:
    from pathlib import Path

    import pandas as pd

    from ..result import tables
    from ..analysis.measurement import (THRESHOLDS, GroupMeasurementReport, _items_of,
        flags_table, htmt_bootstrap, measurement_report)
    from ..output.files import OutputFiles
    from ..spec.parser import read_model

    outputs = OutputFiles(inputs=[args.model, args.data, args.map, args.labels])
    folder = outputs.folder(args.out) if args.out else None
    from ._common import labels_from_args, warn_unknown_labels

    labels = labels_from_args(args)          # a bad labels file stops before the analysis
    if labels:
        m = read_model(args.model)
        warn_unknown_labels(args, m.observed + m.latent)

    group = getattr(args, "group", None)
    X, drep = read_data(args, observed_of(args.model), keep=(group,) if group else ())
    scale = drep.scale if drep.scale is not None else (
        None if data_options_given(args) else (1, 7))
    rep = measurement_report(args.model, X, parallel_iter=args.parallel_iter, scale=scale,
                             alpha_available=args.alpha_available, group=group)
    src = ("the bundled SYNTHETIC sample (made to reproduce the paper's Tables 2-3; omega, CR "
           "and AVE are what those tables imply, not the study's own)") if args.data is None \
        else args.data
    print(f"Measurement quality of '{args.model}' on {src}\n")
    if isinstance(rep, GroupMeasurementReport):
        parts = [(f"Group {group} = {label}", r, X[X[group].astype(str) == label])
                 for label, r in rep.reports.items()]
    else:
        parts = [(None, rep, X)]
    boot = {}
    for title, r, rows in parts:
        if title:
            print(f"===== {title} ({len(rows)} rows) =====\n")
        _show(r, tables, labels)
        if getattr(args, "htmt_ci", False):
            missing = "pairwise" if r.bases.get("htmt", "").startswith("the fit's polychoric") \
                else "em"
            b = htmt_bootstrap(rows, _items_of(read_model(args.model)), n_boot=args.n_boot,
                               seed=args.seed, n_jobs=args.jobs, missing=missing,
                               progress=True)
            boot[title] = b
            how = ("EM; plain correlations where a draw has no blanks" if missing == "em"
                   else "pairwise")
            print(f"HTMT inference (Henseler et al. 2015): {args.n_boot} resamples of the "
                  f"respondents with their missing answers, correlations recomputed per draw "
                  f"({how}); one-sided 95% percentile interval [ci_lower, ci_upper]; passes "
                  f"when ci_upper < threshold:")
            print(tables.to_text(b, indent=2), "\n")
    if folder:
        out = Path(args.out)
        tabs = rep.tables()
        if boot:
            tabs["htmt_bootstrap"] = pd.concat(
                [b.assign(group=t.split(" = ", 1)[1]) if t else b for t, b in boot.items()],
                ignore_index=True)
        for name, t in tabs.items():
            folder.add_csv(f"{name}.csv", t)
        js = {name: t.astype(object).where(t.notna(), None).to_dict(orient="records")
              for name, t in tabs.items()}
        js["thresholds"] = {k: {"value": v, "source": THRESHOLDS[k][1]}
                            for k, v in parts[0][1].thresholds.items()}
        for title, r, _ in parts:
            key = title.split(" = ", 1)[1] if title else None
            extra = {"sphericity": r.sphericity, "parallel_n_factors": r.parallel["n_factors"],
                     "bases": r.bases}
            if key is None:
                js.update(extra)
            else:
                js.setdefault("groups", {})[key] = extra
        if group:
            js["group"] = group
        js["data"] = src
        folder.add_json("measurement.json", js, default=float, ensure_ascii=False)
        folder.commit()
        print(f"\nwrote {len(tabs)} tables to {out}")
    return 0


def _show(rep, tables, labels=None) -> None:
    """Every table of one (group's) measurement report."""
    from ..analysis.measurement import flags_table

    t = rep.tables()

    def show(title, name, **kw):
        # printed tables name constructs and items by their labels; the CSV and JSON
        # written with --out keep the codes
        print(title)
        table = labels.relabel_table(t[name]) if labels else t[name]
        print(tables.to_text(table, indent=2, **kw), "\n")

    show("Reliability per construct (alpha with Feldt 95% CI; omega = semTools compRelSEM; "
         "CR model-implied; AVE = semTools, ave_std = Fornell-Larcker):", "reliability")
    print("Computed from:")
    for name, text in rep.bases.items():
        print(f"  {name}: {text}")
    print()
    show("Fornell-Larcker (sqrt AVE on the diagonal):", "fornell_larcker")
    show("HTMT:", "htmt")
    show("HTMT2:", "htmt2")
    show("Latent correlations (95% CI):", "latent_correlations")
    show("Items:", "items")
    s = rep.sphericity
    print(f"KMO {s['kmo']:.3f}; Bartlett chi2({int(s['bartlett_df'])}) = "
          f"{s['bartlett_chisq']:.2f}, p {_p_text(s['bartlett_pvalue'])}; parallel analysis "
          f"suggests {rep.parallel['n_factors']} factor(s)\n")
    show(f"EFA ({rep.efa['method']}, {rep.efa['rotation']}), cross-loadings marked:",
         "efa_loadings")
    print("Flags (HTMT: strict .85 and liberal .90 thresholds):")
    print(tables.to_text(flags_table(rep.flags), indent=2), "\n")
