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
    p.set_defaults(func=run)


def _p_text(p) -> str:
    from ..tables import format_pvalue

    f = format_pvalue(p)
    return f if f.startswith(("<", ">")) else f"= {f}"


def run(args) -> int:
    from pathlib import Path

    from .. import tables
    from ..measurement import THRESHOLDS, flags_table, measurement_report
    from ..output_files import OutputFiles

    outputs = OutputFiles(inputs=[args.model, args.data, args.map, args.labels])
    folder = outputs.folder(args.out) if args.out else None
    from ._common import labels_from_args, warn_unknown_labels

    labels = labels_from_args(args)          # a bad labels file stops before the analysis

    X, drep = read_data(args, observed_of(args.model))
    scale = drep.scale if drep.scale is not None else (
        None if data_options_given(args) else (1, 7))
    rep = measurement_report(args.model, X, parallel_iter=args.parallel_iter, scale=scale,
                             alpha_available=args.alpha_available)
    src = ("the bundled SYNTHETIC sample (made to reproduce the paper's Tables 2-3; omega, CR "
           "and AVE are what those tables imply, not the study's own)") if args.data is None \
        else args.data
    print(f"Measurement quality of '{args.model}' on {src}\n")
    t = rep.tables()

    if labels:
        from ..spec import read_model

        warn_unknown_labels(args, read_model(args.model).observed
                            + read_model(args.model).latent)

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
    if folder:
        out = Path(args.out)
        for name, t in rep.tables().items():
            folder.add_csv(f"{name}.csv", t)
        js = {name: t.astype(object).where(t.notna(), None).to_dict(orient="records")
              for name, t in rep.tables().items()}
        js["sphericity"] = rep.sphericity
        js["parallel_n_factors"] = rep.parallel["n_factors"]
        js["thresholds"] = {k: {"value": rep.thresholds[k], "source": THRESHOLDS[k][1]}
                            for k in rep.thresholds}
        js["data"] = src
        js["bases"] = rep.bases
        folder.add_json("measurement.json", js, default=float, ensure_ascii=False)
        folder.commit()
        print(f"\nwrote {len(js)} tables to {out}")
    return 0
