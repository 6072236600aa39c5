"""``semcluster audit``: consistency audit of published tables."""
from __future__ import annotations


def add_parser(sub):
    p = sub.add_parser(
        "audit", help="check a published correlation table and regression for consistency",
        description="Recompute published regression figures (betas, R2, adjusted R2, F, "
                    "stars), GRIM means, SD bounds, positive definiteness and alpha "
                    "plausibility from the other published figures, allowing for rounding. "
                    "Default: the paper's Tables 2-4.")
    p.add_argument("--published", metavar="FILE",
                   help="YAML/JSON file of published figures (schema: semcluster.study.audit."
                        "paper_published()); default: the paper's own tables")
    p.add_argument("--json", metavar="OUT", help="also write the audit as JSON")
    p.add_argument("--csv", metavar="OUT", help="also write the audit as CSV")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..result import tables
    from ..study.audit import audit, load_published
    from ..output.files import OutputFiles

    outputs = OutputFiles(inputs=[args.published])
    json_out = outputs.file(args.json) if args.json else None
    csv_out = outputs.file(args.csv) if args.csv else None
    pub = load_published(args.published) if args.published else None
    t = audit(pub)
    show = t[["check", "item", "published", "recomputed_low", "recomputed_high", "difference",
              "verdict"]]
    print(tables.to_text(show, digits=4))
    counts = t.verdict.value_counts()
    print("\n" + ", ".join(f"{v}: {c}" for v, c in counts.items()))
    for _, r in t[t.verdict == "inconsistent"].iterrows():
        print(f"  inconsistent: {r.check} [{r['item']}] {r.detail}")
    if json_out:
        recs = t.astype(object).where(t.notna(), None).to_dict(orient="records")
        outputs.write_json(json_out, recs, ensure_ascii=False)
    if csv_out:
        outputs.write_csv(csv_out, t)
    return 0
