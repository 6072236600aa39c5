"""The study's report (``semcluster reproduce``): the paper's model H1–H5 on the study's data.

The same reading, fit, warnings and writers as any report (:func:`semcluster.output.report.build_report`),
with the study's sections: provenance and calibration of the synthetic data, measurement quality
against the published reliabilities, the CFA, H1–H5 as latent paths with the verdict rule
(:func:`semcluster.output.report.hypothesis_verdict`), regression vs SEM, the audit of the published
tables, bootstrap intervals, power for a follow-up study, the figures and the software.  Each
section is one function returning a :class:`StudySection` and its entries of ``results.json``.
"""
from __future__ import annotations

import platform
import time
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from ..result import tables
from ..result.document import Document, Figure, Paragraph, Section, Table
from ..output.files import md_code
from ..output.report import FIT_KEYS, build_report, fit_table, hypothesis_verdict


@dataclass
class StudySection:
    """A section of the study's report as the study's functions build it (paragraphs, then
    tables ``(key, caption, frame)``, then figures ``(key, caption, Figure)``); turned into a
    :class:`semcluster.result.document.Section` by :func:`_study_document`."""
    key: str
    title: str
    paragraphs: list = field(default_factory=list)
    tables: list = field(default_factory=list)      # (name, caption, DataFrame)
    figures: list = field(default_factory=list)     # (name, caption, Figure)


#: The report's sections in order; each is one step of the progress bar.
STEPS = ("data", "measurement", "cfa", "structural", "compare", "audit", "bootstrap", "power",
         "figures", "software")


def _study_report(data=None, out="report", *, lang: str = "en", n_boot: int = 1000,
                 power_reps: int = 200, power_grid=(100, 160, 250, 400, 600), n_jobs: int = -1,
                 seed: int = 20231124, progress: bool = True, options=None,
                 extra_inputs=()) -> Path:
    """Run the whole study and write the report folder (see the module docstring).

    ``data`` is read with ``options`` (:class:`semcluster.data.survey.DataOptions`) by
    :func:`semcluster.data.survey.read_survey`, the same data path as every command.
    ``extra_inputs`` are further files of the run (a mapping file) that the report must never
    overwrite.

    Each section is one step: a ``_*_section`` function turns the analyses into a
    :class:`StudySection` and the section's entries of ``results.json``; the report's writers
    (:func:`write_document`) write them.
    """
    settings = {"power_reps": power_reps, "power_grid": tuple(power_grid),
                "published": data is None}
    return build_report("h1_h5", data, out=out, options=options, lang=lang, n_boot=n_boot,
                        seed=seed, n_jobs=n_jobs, progress=progress, extra_inputs=extra_inputs,
                        document=lambda run, t0, show: _study_steps(run, settings, t0, show))


def _study_steps(run, settings: dict, t_start: float, progress: bool):
    """The study's sections on the report's fitted model (``run.res`` is H1–H5 fitted once):
    provenance and calibration, measurement quality, CFA, H1–H5, regression vs SEM, audit,
    bootstrap, power, figures, software.  Returns (document, results)."""
    from tqdm.auto import tqdm

    from .. import __version__
    from ..analysis.bootstrap import bootstrap
    from ..fitting import fit
    from .power import power_analysis
    from .regression_vs_sem import compare_methods

    X, rep, res, seed, n_boot = run.X, run.data_report, run.res, run.seed, run.n_boot
    published = settings["published"]
    power_reps, power_grid = settings["power_reps"], settings["power_grid"]
    bar = tqdm(total=len(STEPS), desc="semcluster reproduce", unit="section",
               disable=not progress)
    sections: list[StudySection] = []
    results: dict = {"semcluster_version": __version__,
                     "seeds": {"bootstrap": seed, "power": seed + 1},
                     "settings": {"n_boot": n_boot, "power_reps": power_reps,
                                  "power_grid": list(power_grid), "lang": run.lang}}

    def done(section: StudySection, entries: dict):
        sections.append(section)
        results.update(entries)
        bar.set_postfix_str(section.key)
        bar.update(1)

    h1 = run.spec
    done(*_study_data_section(X, rep, published))
    cfa_res = fit("cfa", X)
    done(*_study_measurement_section(X, cfa_res, published))
    done(*_cfa_section(cfa_res))
    done(*_structural_section(res))
    comp = compare_methods(X, sem_result=res)
    done(*_compare_section(comp, published))
    done(*_audit_section(published))
    boot = bootstrap(h1, X, n_boot=n_boot, seed=seed, n_jobs=run.n_jobs, bca=True, result=res)
    done(*_bootstrap_section(boot, n_boot, seed))
    pw = power_analysis(h1, n_grid=power_grid, reps=power_reps, seed=seed + 1,
                        n_jobs=run.n_jobs, n_truth=100_000)
    done(*_power_section(pw, power_reps, power_grid, seed + 1))
    done(*_figures_section(h1, res, comp, run.lang))
    done(*_software_section(seed, t_start))
    bar.close()
    return _study_document(sections, published, run.lang), results


def _study_data_section(X: pd.DataFrame, rep, published: bool):
    """1. Data and provenance: where the data came from, rows used, the missing-data rule."""
    s = StudySection("data", "1. Data and provenance")
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
        from .synthetic import calibration_report

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


def _study_measurement_section(X: pd.DataFrame, cfa_res, published: bool):
    """2. Measurement quality: reliability, Fornell–Larcker, HTMT, threshold checks."""
    from .. import study
    from ..analysis.measurement import flags_table, measurement_report

    mrep = measurement_report("cfa", X, result=cfa_res, parallel_iter=100, scale=(1, 7))
    s = StudySection("measurement", "2. Measurement quality")
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
    s = StudySection("cfa", "3. Confirmatory factor analysis")
    s.tables.append(("cfa_fit", "Fit of the six-factor CFA (ML)",
                     fit_table(cfa_res.fit_measures, FIT_KEYS)))
    s.tables.append(("cfa_loadings", "Loadings (est, SE, z, p; fixed markers have no SE) and "
                     "standardized loadings (std_all)",
                     cfa_res.loadings()[["lhs", "rhs", "est", "se", "z", "pvalue", "std_all"]]
                     .rename(columns={"lhs": "factor", "rhs": "item"})))
    return s, {"cfa": {k: float(cfa_res.fit_measures[k]) for k in FIT_KEYS}}


def _structural_section(res):
    """4. Structural model: fit and the verdict on each of H1–H5."""
    from .. import study

    s = StudySection("structural", "4. Structural model: H1–H5 as latent paths")
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
    from .regression_vs_sem import METHODS

    s = StudySection("compare", "5. Regression vs SEM")
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
    s = StudySection("audit", "6. Audit of the published tables")
    if not published:
        s.paragraphs.append("Left out: the audit checks the paper's published tables.")
        return s, {}
    from .audit import audit

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
    s = StudySection("bootstrap", f"7. Bootstrap confidence intervals ({n_boot} resamples)")
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
    from ..output.diagrams import power_curve

    s = StudySection("power", "8. Power for a follow-up study")
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
    from .diagrams import (compare_diagram, conceptual_diagram, measurement_diagram,
                                 tested_diagram)

    s = StudySection("figures", "9. Figures")
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
    s = StudySection("software", "10. Software and seeds")
    s.tables.append(("software", "Versions",
                     pd.DataFrame({"package": list(vers), "version": list(vers.values())})))
    s.paragraphs.append(f"Seeds: bootstrap {seed}, power {seed + 1}, synthetic data 20131101. "
                        f"Run time {time.perf_counter() - t_start:.1f} s.")
    return s, {"software": vers}


def reproduce_report(data=None, out="report", *, lang: str = "en", n_boot: int = 1000,
                     power_reps: int = 200, power_grid=(100, 160, 250, 400, 600),
                     n_jobs: int = -1, seed: int = 20231124, progress: bool = True,
                     options=None, extra_inputs=()) -> Path:
    """The study's report (``semcluster reproduce``): see :func:`_study_report`."""
    return _study_report(data, out, lang=lang, n_boot=n_boot, power_reps=power_reps,
                         power_grid=power_grid, n_jobs=n_jobs, seed=seed, progress=progress,
                         options=options, extra_inputs=extra_inputs)


def _study_document(sections, published: bool, lang: str) -> Document:
    """The study's sections (the ``_*_section`` functions above) as a :class:`Document`."""
    doc = Document("semcluster: the cluster knowledge innovation platform study, reproduced "
                   "and extended", lang=lang)
    if published:
        doc.sections.append(Section("synthetic", "Synthetic data", [Paragraph(
            "Item-level results use **synthetic** data calibrated to the paper's published "
            "tables.", kind="note")]))
    for s in sections:
        sec = Section(s.key, s.title)
        for ptxt in s.paragraphs:
            sec.add(Paragraph(ptxt))
        for name, cap, df in s.tables:
            sec.add(Table(name, cap, tables.tidy(df)))   # a labelled index becomes a column
        for name, cap, fig in s.figures:
            sec.add(Figure(name, cap, fig))
        doc.sections.append(sec)
    return doc
