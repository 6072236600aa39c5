"""The main job: one folder that reproduces and extends the study.

``build_report`` runs every analysis once, in the order a paper reports an SEM, and writes a
self-contained folder: ``report.html`` (figures embedded, opens offline), ``report.md``, every
table as CSV (``tables/``), every figure as PNG and SVG (``figures/``) and ``results.json``.
With a user's data file, the sections that need the paper's published tables are left out and
say so.  Files are written through :mod:`semcluster.output_files`: each atomically, the
folder's manifest naming what semcluster wrote, nothing else in the folder touched.
"""
from __future__ import annotations

import base64
import html
import io
import json
import platform
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from . import tables
from .output_files import OutputFiles, OutputFolder, md_code


@dataclass
class Section:
    key: str
    title: str
    paragraphs: list = field(default_factory=list)
    tables: list = field(default_factory=list)      # (name, caption, DataFrame)
    figures: list = field(default_factory=list)     # (name, caption, Figure)


def _md_table(df: pd.DataFrame) -> str:
    return tables.to_markdown(df)


def _html_table(df: pd.DataFrame) -> str:
    return tables.to_html(df)


FIT_LABELS = {
    "chisq": "χ² (model test)", "df": "degrees of freedom", "pvalue": "p-value (χ²)",
    "cfi": "CFI", "tli": "TLI", "rmsea": "RMSEA", "rmsea_ci_lower": "RMSEA 90 % CI lower",
    "rmsea_ci_upper": "RMSEA 90 % CI upper", "srmr": "SRMR", "aic": "AIC", "bic": "BIC",
}


def fit_table(fm: pd.Series, keys) -> pd.DataFrame:
    """Fit measures as a labelled long table: lavaan's name, what it is, its value."""
    return pd.DataFrame({"measure": list(keys),
                         "description": [FIT_LABELS.get(k, k) for k in keys],
                         "estimate": pd.Series([int(fm[k]) if tables.is_count_name(k) and
                                                float(fm[k]).is_integer() else float(fm[k])
                                                for k in keys], dtype=object)})


#: The report's sections in order; each is one step of the progress bar.
STEPS = ("data", "measurement", "cfa", "structural", "compare", "audit", "bootstrap", "power",
         "figures", "software")

#: The fit measures of the CFA and the structural model in the report and results.json.
FIT_KEYS = ["chisq", "df", "pvalue", "cfi", "tli", "rmsea", "rmsea_ci_lower", "rmsea_ci_upper",
            "srmr", "aic", "bic"]


def build_report(data=None, out="report", *, lang: str = "en", n_boot: int = 1000,
                 power_reps: int = 200, power_grid=(100, 160, 250, 400, 600), n_jobs: int = -1,
                 seed: int = 20231124, progress: bool = True, options=None,
                 extra_inputs=()) -> Path:
    """Run the whole study and write the report folder (see the module docstring).

    ``data`` is read with ``options`` (:class:`semcluster.data.DataOptions`) by
    :func:`semcluster.data.read_survey`, the same data path as every command.
    ``extra_inputs`` are further files of the run (a mapping file) that the report must never
    overwrite.

    Each section is one step: a ``_*_section`` function turns the analyses into a
    :class:`Section` and the section's entries of ``results.json``; :func:`_write` writes them.
    """
    from tqdm.auto import tqdm

    from . import __version__
    from .bootstrap import bootstrap
    from .data import read_survey
    from .fit import fit
    from .spec import read_model
    from .study.power import power_analysis
    from .study.regression_vs_sem import compare_methods

    out = Path(out)
    # the output folder is checked now, before the slow work, and again when it is written
    folder = _output_folder(data, out, extra_inputs)
    published = data is None
    t_start = time.perf_counter()
    bar = tqdm(total=len(STEPS), desc="semcluster reproduce", unit="section",
               disable=not progress)
    sections: list[Section] = []
    results: dict = {"semcluster_version": __version__,
                     "seeds": {"bootstrap": seed, "power": seed + 1},
                     "settings": {"n_boot": n_boot, "power_reps": power_reps,
                                  "power_grid": list(power_grid), "lang": lang}}

    def done(section: Section, entries: dict):
        sections.append(section)
        results.update(entries)
        bar.set_postfix_str(section.key)
        bar.update(1)

    h1 = read_model("h1_h5")
    X, rep = read_survey(data, options, variables=h1.observed)
    done(*_data_section(X, rep, published))
    cfa_res = fit("cfa", X)
    done(*_measurement_section(X, cfa_res, published))
    done(*_cfa_section(cfa_res))
    res = fit(h1, X)
    done(*_structural_section(res))
    comp = compare_methods(X, sem_result=res)
    done(*_compare_section(comp, published))
    done(*_audit_section(published))
    boot = bootstrap(h1, X, n_boot=n_boot, seed=seed, n_jobs=n_jobs, bca=True, result=res)
    done(*_bootstrap_section(boot, n_boot, seed))
    pw = power_analysis(h1, n_grid=power_grid, reps=power_reps, seed=seed + 1, n_jobs=n_jobs,
                        n_truth=100_000)
    done(*_power_section(pw, power_reps, power_grid, seed + 1))
    done(*_figures_section(h1, res, comp, lang))
    done(*_software_section(seed, t_start))
    bar.close()
    return _write(folder, sections, results, published)


def _output_folder(data, out: Path, extra_inputs) -> OutputFolder:
    """The report folder, checked: nothing the user gave (data file, mapping file) is in it."""
    src = data if isinstance(data, (str, Path)) else (
        data.attrs.get("semcluster", {}).get("source") if isinstance(data, pd.DataFrame) else None)
    return OutputFiles(inputs=[src, *extra_inputs]).folder(out)


def _data_section(X: pd.DataFrame, rep, published: bool):
    """1. Data and provenance: where the data came from, rows used, the missing-data rule."""
    s = Section("data", "1. Data and provenance")
    if published:
        s.paragraphs += [
            "The item-level data are **synthetic**: the paper published only summary tables. "
            "`paper_synthetic.csv` has 160 respondents × 23 seven-point items generated so "
            "that its composite means, SDs, correlations and Cronbach's alphas equal the "
            "paper's Tables 2–3 at their printed precision wherever arithmetic allows (29 of "
            "33 figures; the means of PA, MR, KS and LO cannot be reached by any 160 complete "
            "integer answers — GRIM). Everything estimated from items below is therefore an "
            "illustration of what the published tables imply, not the study's own result.",
        ]
        from .study.synthetic import calibration_report

        cal = calibration_report(X)
        s.tables.append(("calibration", "Published vs synthetic figures (Tables 2–3)",
                         cal[["table", "figure", "published", "synthetic_rounded", "match",
                              "note"]]))
    else:
        s.paragraphs.append(f"Data file: {md_code(rep.source)}.")
    s.paragraphs.append(f"Rows read: {rep.n_rows}; rows used: {rep.n_used}"
                        + (f"; dropped: {rep.dropped}" if rep.dropped else "")
                        + f"; missing-data rule: {rep.missing} (the same for every analysis).")
    if rep.recoded or rep.notes:
        s.paragraphs.append("Data report:\n\n```\n" + str(rep) + "\n```")
    return s, {"data": {"source": "synthetic (paper_synthetic.csv)" if published else rep.source,
                        "rows_read": rep.n_rows, "rows_used": rep.n_used,
                        "missing": rep.missing, "report": rep.to_dict()}}


def _measurement_section(X: pd.DataFrame, cfa_res, published: bool):
    """2. Measurement quality: reliability, Fornell–Larcker, HTMT, threshold checks."""
    from . import study
    from .measurement import flags_table, measurement_report

    mrep = measurement_report("cfa", X, result=cfa_res, parallel_iter=100, scale=(1, 7))
    s = Section("measurement", "2. Measurement quality")
    rel = mrep.reliability.copy()
    if published:
        rel.insert(0, "alpha_published", study.reliability()["alpha"])
    s.tables.append(("reliability", "Reliability per construct: Cronbach's α (95 % CI, "
                     "Feldt), ω, CR, AVE", rel[[c for c in ["alpha_published", "alpha",
                                                           "alpha_ci_lower", "alpha_ci_upper",
                                                           "omega", "cr", "ave_std"]
                                                if c in rel.columns]]))
    s.tables.append(("fornell_larcker", "Fornell–Larcker: √AVE on the diagonal, latent "
                     "correlations off it; passes = √AVE above every correlation",
                     mrep.fornell_larcker.rename_axis("construct")))
    s.tables.append(("htmt", "HTMT (Henseler et al. 2015)",
                     mrep.htmt.rename_axis("construct")))
    fails = mrep.flags[~mrep.flags.passes]
    s.paragraphs.append(f"{len(fails)} of {len(mrep.flags)} threshold checks fail "
                        f"(thresholds and their sources in the flags table); KMO = "
                        f"{mrep.sphericity['kmo']:.3f}; parallel analysis suggests "
                        f"{mrep.parallel['n_factors']} factor(s).")
    s.tables.append(("measurement_flags", "Threshold checks (HTMT: strict .85 and liberal "
                     ".90 thresholds)", flags_table(mrep.flags)))
    return s, {"measurement": {"reliability": rel.reset_index().to_dict("records"),
                               "kmo": mrep.sphericity["kmo"],
                               "parallel_factors": mrep.parallel["n_factors"]}}


def _cfa_section(cfa_res):
    """3. Confirmatory factor analysis: fit and loadings of the six-factor CFA."""
    s = Section("cfa", "3. Confirmatory factor analysis")
    s.tables.append(("cfa_fit", "Fit of the six-factor CFA (ML)",
                     fit_table(cfa_res.fit_measures, FIT_KEYS)))
    s.tables.append(("cfa_loadings", "Loadings (est, SE, z, p; fixed markers have no SE) and "
                     "standardized loadings (std_all)",
                     cfa_res.loadings()[["lhs", "rhs", "est", "se", "z", "pvalue", "std_all"]]
                     .rename(columns={"lhs": "factor", "rhs": "item"})))
    return s, {"cfa": {k: float(cfa_res.fit_measures[k]) for k in FIT_KEYS}}


def hypothesis_verdict(std_beta, pvalue, sign: str = "+", alpha: float = .05) -> str:
    """The verdict on one directional hypothesis about a path.

    ``"supported"`` when the standardized coefficient has the sign the hypothesis states
    (``"+"`` or ``"-"``) **and** its two-sided p is below ``alpha`` (.05: the paper's Table 4
    criterion and the conventional significance test of a path, e.g. Kline 2016, ch. 8);
    ``"not supported"`` otherwise (a significant path of the wrong sign included); ``"not
    tested"`` when the coefficient or its p is missing (no standard error).
    """
    if std_beta is None or pvalue is None or pd.isna(std_beta) or pd.isna(pvalue):
        return "not tested"
    right_sign = std_beta < 0 if sign == "-" else std_beta > 0
    return "supported" if (right_sign and pvalue < alpha) else "not supported"


def _structural_section(res):
    """4. Structural model: fit and the verdict on each of H1–H5."""
    from . import study

    s = Section("structural", "4. Structural model: H1–H5 as latent paths")
    hyp = study.hypotheses()
    rows = []
    for h, r in hyp.iterrows():
        p = res.parameter(r["to"], "~", r["from"])
        rows.append({"hypothesis": h, "path": f"{r['from']} → {r['to']}",
                     "std_beta": p.std_all, "se": p.se_std_all, "est": p.est,
                     "p": p.pvalue,
                     "verdict": hypothesis_verdict(p.std_all, p.pvalue, r.get("sign", "+"))})
    verdict = pd.DataFrame(rows)
    fm = res.fit_measures
    s.paragraphs.append(
        f"χ²({int(fm['df'])}) = {fm['chisq']:.2f}, p = {fm['pvalue']:.3f}; CFI = {fm['cfi']:.3f}, "
        f"TLI = {fm['tli']:.3f}, RMSEA = {fm['rmsea']:.3f} [{fm['rmsea_ci_lower']:.3f}, "
        f"{fm['rmsea_ci_upper']:.3f}], SRMR = {fm['srmr']:.3f}; R²(IN) = {res.r2['IN']:.3f}. "
        f"Converged: {res.converged}; admissible: {res.admissible}.")
    s.tables.append(("h1_h5_verdicts", "H1–H5: standardized latent paths (verdict at α = .05, "
                     "positive sign)", verdict))
    return s, {"structural": {"fit": {k: float(fm[k]) for k in FIT_KEYS},
                              "hypotheses": verdict.to_dict("records")}}


def _compare_section(comp, published: bool):
    """5. Regression vs SEM: β, SE, p and R² by method (user data: the data's methods only)."""
    from .study.regression_vs_sem import METHODS

    s = Section("compare", "5. Regression vs SEM")
    table = comp.long()
    r2 = comp.r2
    if not published:
        keep = ["ols_data", "sem_data"]
        table = table[table.method.isin(keep)].reset_index(drop=True)
        r2 = r2[keep]
        s.paragraphs.append("Columns from the paper's published tables are left out: they "
                            "belong to the paper's data, not to this file.")
    s.tables.append(("regression_vs_sem", "Standardized β, SE, p and verdict by hypothesis "
                     "and method: " + "; ".join(f"{k} = {v}" for k, v in METHODS.items()
                                                if k in set(table.method)), table))
    s.tables.append(("r2_by_method", "R² of IN by method",
                     pd.DataFrame({"method": list(r2.index),
                                   "description": [METHODS[m] for m in r2.index],
                                   "r2": r2.to_numpy(dtype=float)})))
    if published:
        s.paragraphs += list(comp.explanation)
    return s, {"compare": comp.to_dict()}


def _audit_section(published: bool):
    """6. Audit of the published tables (left out with a user's data)."""
    s = Section("audit", "6. Audit of the published tables")
    if not published:
        s.paragraphs.append("Left out: the audit checks the paper's published tables.")
        return s, {}
    from .study.audit import audit

    a = audit()
    counts = a.verdict.value_counts().to_dict()
    s.paragraphs.append(f"{counts.get('inconsistent', 0)} of {len(a)} checks are "
                        f"inconsistent (rounding taken into account).")
    s.tables.append(("audit", "Consistency checks", a[["check", "item", "published",
                                                      "recomputed", "recomputed_low",
                                                      "recomputed_high", "difference",
                                                      "verdict", "detail"]]))
    return s, {"audit": counts}


def _bootstrap_section(b, n_boot: int, seed: int):
    """7. Bootstrap confidence intervals of the structural paths."""
    s = Section("bootstrap", f"7. Bootstrap confidence intervals ({n_boot} resamples)")
    bt = b.table[(b.table.op == "~")][["lhs", "op", "rhs", "label", "what", "est", "se",
                                        "ci_lower", "ci_upper", "bca_lower", "bca_upper",
                                        "pvalue"]]
    s.paragraphs.append(f"Case resampling, seed {seed}: {b.n_used} of {b.n_boot} replicates "
                        f"used, {b.n_failed} failed to converge, {b.n_inadmissible} "
                        f"inadmissible (kept). Percentile and BCa 95 % intervals.")
    s.tables.append(("bootstrap_paths", "Bootstrap intervals of the structural paths", bt))
    return s, {"bootstrap": b.counts()}


def _power_section(pw, power_reps: int, power_grid, seed: int):
    """8. Power for a follow-up study: power curves and the smallest N per path."""
    from .diagrams import power_curve

    s = Section("power", "8. Power for a follow-up study")
    s.paragraphs.append(
        f"Monte Carlo, {power_reps} replications per N from the population calibrated to the "
        f"paper's Tables 2–3 (seed {seed}). Smallest N reaching power .80 (correct sign): "
        + "; ".join(f"{k}: {v if v is not None else f'> {max(power_grid)}'}"
                    for k, v in pw.smallest_n.items()) + ".")
    s.tables.append(("power", "Power, convergence, bias and coverage by N",
                     pw.table[["n", "path", "label", "true", "power", "converged", "bias",
                               "coverage"]]))
    s.figures.append(("power_curve", "Power curves", power_curve(pw)))
    return s, {"power": {k: v for k, v in pw.smallest_n.items()}}


def _figures_section(h1, res, comp, lang: str):
    """9. Figures: the conceptual and tested models, the measurement model, regression vs SEM."""
    from .study.diagrams import (compare_diagram, conceptual_diagram, measurement_diagram,
                                 tested_diagram)

    s = Section("figures", "9. Figures")
    s.figures += [("figure1_conceptual", "Figure 1: conceptual model",
                   conceptual_diagram(h1, lang=lang)),
                  ("figure2_tested", "Figure 2: the tested model (latent paths)",
                   tested_diagram(res, lang=lang, covariances=True)),
                  ("measurement", "Measurement model", measurement_diagram(res, lang=lang)),
                  ("regression_vs_sem", "Composite regression vs latent SEM",
                   compare_diagram(comp, lang=lang))]
    return s, {}


def _software_section(seed: int, t_start: float):
    """10. Software and seeds: package versions, the seeds and the run time."""
    import importlib.metadata as md

    vers = {}
    for pkg in ("semcluster", "semopy", "numpy", "scipy", "pandas", "matplotlib", "networkx",
                "factor_analyzer", "scikit-learn", "joblib"):
        try:
            vers[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            vers[pkg] = "not installed"
    vers["python"] = platform.python_version()
    s = Section("software", "10. Software and seeds")
    s.tables.append(("software", "Versions",
                     pd.DataFrame({"package": list(vers), "version": list(vers.values())})))
    s.paragraphs.append(f"Seeds: bootstrap {seed}, power {seed + 1}, synthetic data 20131101. "
                        f"Run time {time.perf_counter() - t_start:.1f} s.")
    return s, {"software": vers}


def _png_b64(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    return base64.b64encode(buf.getvalue()).decode()


CSS = """body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;max-width:1100px;
margin:2em auto;padding:0 1em;color:#1a1a1a;line-height:1.45}
h1{font-size:1.7em}h2{border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:2em}
table.tbl{border-collapse:collapse;font-size:.82em;margin:.6em 0 1.4em}
table.tbl th,table.tbl td{padding:.22em .55em;border-bottom:1px solid #e6e6e6;text-align:left;
white-space:nowrap}table.tbl td:last-child{white-space:normal}
table.tbl th{background:#f4f6fa}table.tbl .num{text-align:right}figure{margin:1em 0}figure img{max-width:100%;
border:1px solid #eee}figcaption{font-size:.9em;color:#444}.note{background:#fff8e1;
padding:.6em 1em;border-left:4px solid #f0b400}nav a{margin-right:.8em}"""


def _write(folder: OutputFolder, sections, results, published) -> Path:
    md = ["# semcluster: the cluster knowledge innovation platform study, reproduced and "
          "extended", ""]
    if published:
        md.append("> Item-level results use **synthetic** data calibrated to the paper's "
                  "published tables.")
        md.append("")
    body = []
    nav = " ".join(f'<a href="#{s.key}">{html.escape(s.title)}</a>' for s in sections)
    for s in sections:
        md += [f"## {s.title}", ""]
        body.append(f'<h2 id="{s.key}">{html.escape(s.title)}</h2>')
        for ptxt in s.paragraphs:
            md += [ptxt, ""]
            body.append(f"<p>{html.escape(ptxt).replace('**', '')}</p>")
        for name, cap, df in s.tables:
            folder.add_csv(f"tables/{name}.csv", tables.tidy(df), index=False)
            md += [f"**{cap}** (`tables/{name}.csv`)", "", _md_table(df), ""]
            body.append(f"<p><b>{html.escape(cap)}</b></p>{_html_table(df)}")
        for name, cap, fig in s.figures:
            folder.add_figure(f"figures/{name}.png", fig, dpi=150)
            folder.add_figure(f"figures/{name}.svg", fig)
            md += [f"![{cap}](figures/{name}.png)", "", f"*{cap}*", ""]
            body.append(f'<figure><img alt="{html.escape(cap)}" '
                        f'src="data:image/png;base64,{_png_b64(fig)}">'
                        f"<figcaption>{html.escape(cap)}</figcaption></figure>")
    note = ('<p class="note">Item-level results use <b>synthetic</b> data calibrated to the '
            "paper's published tables.</p>") if published else ""
    page = (f"<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>semcluster report</title><style>{CSS}</style></head><body>"
            f"<h1>semcluster: the cluster knowledge innovation platform study</h1>{note}"
            f"<nav>{nav}</nav>{''.join(body)}</body></html>")
    folder.add_text("report.html", page)
    folder.add_text("report.md", "\n".join(md) + "\n")
    folder.add_text("results.json", json.dumps(results, indent=2, default=_json_default,
                                               ensure_ascii=False) + "\n")
    return folder.commit()


def _json_default(o):
    if isinstance(o, (np.floating,)):
        return None if not np.isfinite(o) else float(o)
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.bool_,)):
        return bool(o)
    if isinstance(o, float) and not np.isfinite(o):
        return None
    return str(o)
