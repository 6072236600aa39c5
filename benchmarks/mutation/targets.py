"""What the mutation run mutates, and the source hashes that tie a report to the code it ran on.

Standard library only (``ast``, ``hashlib``), so the staleness test
(``tests/test_mutation_report.py``) can import it without mutmut.

A target is one module: ``functions`` names the functions whose bodies are mutated (top-level
``name`` or ``Class.method``; None: every function and method of the module), ``lines``
optionally restricts a function to the lines from a start marker (inclusive) to an end marker
(exclusive), each the start of a source line; ``args`` are extra pytest arguments of the subset
(e.g. ``-k`` to leave out a test that starts a subprocess, which would run unmutated code);
``about`` says what the test subset checks.  The *scope* of a function is the text of those
lines; its hash is what results.json records, and what a mutant's id is made from (the scope
text after the mutation), so an id names exactly one mutated text.
"""
from __future__ import annotations

import ast
import hashlib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

TARGETS = {
    # ---- numeric modules ----------------------------------------------------------------------
    "fitmeasures": {
        "module": "semcluster.measures.fitmeasures",
        "path": "src/semcluster/measures/fitmeasures.py",
        # the discrepancy, likelihood, chi-square, incremental, RMSEA and GFI families and the
        # assembly; not the name tables (lavaan_measure_names, in_lavaan_order) nor the
        # SRMR/residual family (residual_measures*, _rescale, _rms): all functions would be
        # 1,469 mutants, over 30 min in one process on the shared machine
        "functions": ["ml_discrepancy", "loglik", "baseline_sigma", "_gfi_vech", "_ncx2_cdf",
                      "rmsea_interval", "_finite", "_noncentral", "cfi", "tli", "rni", "nfi",
                      "pnfi", "rfi", "ifi", "baseline_comparisons", "rmsea_value",
                      "rmsea_closefit", "rmsea_notclosefit", "rmsea_measures",
                      "incremental_indices", "chisq_measures", "gfi_measures", "gfi_normal",
                      "fit_measures", "likelihood_measures"],
        # the robust (c, c_null) branches of cfi/tli/rmsea are exercised by _scaled's tests
        "tests": ["tests/test_fit_measures_mutants.py", "tests/test_scaled_mutants.py"],
        "about": "every fit measure at lavaan's own estimates (Σ̂ built by hand from the fixture) "
                 "equal to lavaan's to 1e-7 (HS39 CFA, fixed-x path model), and hand cases: RMSEA "
                 "with N, the 90 % interval by its defining equations, one-df models, small "
                 "non-centralities, AGFI's moment count.",
    },
    "_scaled": {
        "module": "semcluster.measures.scaled",
        "path": "src/semcluster/measures/scaled.py",
        "functions": None,
        "tests": ["tests/test_scaled_mutants.py"],
        "about": "scaled and robust measures from lavaan's inputs equal to lavaan's outputs (MLR, "
                 "FIML-MLR, WLSMV), hand cases for the Brosseau-Liard & Savalei corrections, and "
                 "lavaan's NA scaled RMSEA for a saturated MLR model.",
    },
    "standardized": {
        "module": "semcluster.model.standardized",
        "path": "src/semcluster/model/standardized.py",
        "functions": None,
        "tests": ["tests/test_standardized_mutants.py"],
        "about": "std.lv, std.all, R² and standardized defined parameters at lavaan's estimates "
                 "for eight models (1e-7), and the delta-method SEs of std.all from both Jacobians "
                 "against lavaan's standardizedSolution() SEs for five models.",
    },
    "bootstrap": {
        "module": "semcluster.analysis.bootstrap",
        "path": "src/semcluster/analysis/bootstrap.py",
        # the interval code: boot's quantile rule, percentile and BCa intervals, acceleration,
        # SE, p-values, Bollen-Stine p (in _bootstrap, only the lines after the refits)
        "functions": ["_norm_inter", "_percentile", "_pvalue", "_acceleration", "_bca",
                      "_interval_row", "_bootstrap"],
        "lines": {"_bootstrap": ("    use = ok & (", "    return BootstrapResult(")},
        "tests": ["tests/test_bootstrap_intervals.py"],
        "about": "percentile interval, SE, p-value, BCa (bias correction, acceleration sign, 90 % "
                 "level), Bollen-Stine p on draws whose answers are worked out by hand, against "
                 "boot's interval arithmetic.",
    },
    "measurement": {
        "module": "semcluster.analysis.measurement",
        "path": "src/semcluster/analysis/measurement.py",
        # reliability and validity; the EFA / KMO / parallel-analysis wrappers are not mutated
        "functions": ["_items_of", "cronbach_alpha", "item_statistics", "construct_reliability",
                      "latent_correlations", "fornell_larcker", "htmt"],
        "tests": ["tests/test_measurement_mutants.py"],
        "about": "α, Feldt interval, item statistics, HTMT/HTMT2 against psych/semTools; ω and AVE "
                 "from lavaan's estimates against semTools; CR, AVE vs ave_std, Fornell-Larcker "
                 "on hand cases.",
    },
    # ---- decision modules: verdicts, flags, data checks, output guard, CLI option passing ----
    "report_verdicts": {
        "module": "semcluster.output.report",
        "path": "src/semcluster/output/report.py",
        # the H1-H5 verdict rule and where the report applies it
        "functions": ["hypothesis_verdict", "_structural_section"],
        "lines": {"_structural_section": ("    for h, r in hyp.iterrows():",
                                          "    verdict = pd.DataFrame(rows)")},
        "tests": ["tests/test_decision_rules.py", "tests/test_decision_mutants.py"],
        "args": ["-k", "hypothesis or report_verdict or regression_vs_sem or report_table"],
        "about": "the verdict rule on both sides of p = .05 with sign cases, and the report's "
                 "verdict column read end to end.",
    },
    "invariance_verdicts": {
        "module": "semcluster.analysis.invariance",
        "path": "src/semcluster/analysis/invariance.py",
        # the LRT and ΔCFI/ΔRMSEA verdicts and the comparison rows that feed them
        "functions": ["lrt_verdict", "fit_index_verdict", "measurement_invariance"],
        "lines": {"measurement_invariance": ("    comps = []", "    return InvarianceResult(")},
        "tests": ["tests/test_decision_rules.py", "tests/test_decision_mutants.py"],
        "args": ["-k", "invariance"],
        "about": "LRT verdict on both sides of p = .05, ΔCFI/ΔRMSEA verdicts at and either side "
                 "of Chen's limits, and HS39 by school against lavaan's numbers.",
    },
    "measurement_htmt_inference": {
        "module": "semcluster.analysis.measurement",
        "path": "src/semcluster/analysis/measurement.py",
        # the HTMT bootstrap: correlations per draw, HTMT/HTMT2 of every pair, the draws, the
        # percentile ends and the verdict columns (argument checks before the draws left out)
        "functions": ["_correlations", "_htmt_pairs", "_htmt_draws", "htmt_bootstrap"],
        "lines": {"htmt_bootstrap": ("    th = {k: v[0] for k, v in THRESHOLDS.items()}",
                                     "    return pd.DataFrame(rows)")},
        "tests": ["tests/test_htmt_bootstrap_mutants.py"],
        "about": "HTMT/HTMT2 estimates against semTools, the percentile ends against draws "
                 "rebuilt from the documented resampling rule, each verdict at its own "
                 "threshold.",
    },
    "measurement_flags": {
        "module": "semcluster.analysis.measurement",
        "path": "src/semcluster/analysis/measurement.py",
        "functions": ["threshold_flags", "flags_table"],
        "tests": ["tests/test_verdicts_measurement.py", "tests/test_decision_mutants.py"],
        "args": ["-k", "not invariance"],
        "about": "α/ω/CR/AVE/HTMT/KMO/Fornell-Larcker flags at and either side of each threshold, "
                 "AVE read from ave_std, strict and liberal HTMT side by side.",
    },
    "data_checks": {
        "module": "semcluster.data.survey",
        "path": "src/semcluster/data/survey.py",
        # the answer-scale check (out-of-range answers: error or set missing) and the checks on
        # the rows used: rows per item and per parameter, few distinct values, ordinal
        # categories, repeated ids, repeated answer patterns, straight-lining
        "functions": ["_step_scale", "_step_checks", "_step_careless", "long_string",
                      "careless_answers"],
        "lines": {"_step_scale": ("    if scale is not None:", "    for v in ordered:"),
                  "_step_checks": ("    if n_free is not None and n_used < n_free:",
                                   "    _check_covariance(sub")},
        "tests": ["tests/test_verdicts_data_audit.py", "tests/test_data.py",
                  "tests/test_careless_answers.py"],
        "about": "careless answers (long string, straight-lining before reverse coding) and "
                 "repeated patterns from ten items, four or fewer values, "
                 "fewer than five rows per item on both sides of each limit; answers outside "
                 "the scale refused or set missing.",
    },
    "output_guard": {
        "module": "semcluster.output.files",
        "path": "src/semcluster/output/files.py",
        "functions": ["_is_same", "OutputFiles.__init__", "OutputFiles._input_named_by",
                      "OutputFiles._check_target", "OutputFiles.file", "OutputFiles._write"],
        # test_cli_plumbing_outputs.py (the full command x option x input matrix, 60 s a run)
        # is left out for time; the reproduce test starts a subprocess
        "tests": ["tests/test_output_files.py", "tests/test_output_guard_mutants.py"],
        "args": ["-k", "not test_no_traceback_from_the_real_entry_point"],
        "about": "outputs aimed at an input (same name, hard link), through a symlink, at a "
                 "folder or an unwritable place refused; two outputs with one name refused "
                 "(in-process CLI runs).",
    },
    "cli_options": {
        "module": "semcluster.cli._common",
        "path": "src/semcluster/cli/_common.py",
        # the functions that pass options on; not add_data_options (the argparse declarations
        # and their help texts: 200 mutants, ~40 s a run) for time
        "functions": ["data_options_from_args", "data_options_given", "read_data",
                      "observed_of"],
        "tests": ["tests/test_cli_plumbing.py", "tests/test_cli_plumbing_data_report.py"],
        # the option inventory reads the parser, not this module
        "args": ["-k", "not test_every_option_of_every_command_has_a_plumbing_case"],
        "about": "every option of every command reaches the library (the data options through "
                 "read_survey for every data command), two values per option.",
    },
}


def function_spans(source: str) -> dict[str, tuple[int, int]]:
    """qualname -> (first line, last line) of every top-level function and every method of a
    top-level class (decorators included; nested functions belong to their enclosing one)."""
    spans = {}
    tree = ast.parse(source)

    def span(node):
        first = min([node.lineno] + [d.lineno for d in node.decorator_list])
        return first, node.end_lineno

    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            spans[node.name] = span(node)
        elif isinstance(node, ast.ClassDef):
            for sub in node.body:
                if isinstance(sub, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    spans[f"{node.name}.{sub.name}"] = span(sub)
    return spans


def scopes(name: str, source: str | None = None, root: Path = ROOT) -> dict[str, tuple[int, int]]:
    """qualname -> (first line, last line) of the mutated lines of each function in scope.

    Raises KeyError naming a function of TARGETS that the module no longer has (a renamed
    function must be renamed in TARGETS too)."""
    t = TARGETS[name]
    if source is None:
        source = (root / t["path"]).read_text()
    spans = function_spans(source)
    wanted = t["functions"] if t["functions"] is not None else list(spans)
    lines = source.splitlines()
    out = {}
    for f in wanted:
        if f not in spans:
            raise KeyError(f"{t['path']}: function {f} (in the mutation TARGETS) not found")
        first, last = spans[f]
        marks = t.get("lines", {}).get(f)
        if marks is not None:
            body = range(first, last + 1)
            try:
                first = next(i for i in body if lines[i - 1].startswith(marks[0]))
                last = next(i for i in body if lines[i - 1].startswith(marks[1])) - 1
            except StopIteration:
                raise KeyError(f"{t['path']}: {f} no longer has the line markers {marks}") \
                    from None
        out[f] = (first, last)
    return out


def scope_text(lines: list[str], span: tuple[int, int]) -> str:
    return "\n".join(lines[span[0] - 1:span[1]]) + "\n"


def digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def source_hashes(name: str, root: Path = ROOT) -> dict[str, str]:
    """qualname -> hash of the function's mutated lines, at the source now in ``root``."""
    source = (root / TARGETS[name]["path"]).read_text()
    lines = source.splitlines()
    return {f: digest(scope_text(lines, s)) for f, s in scopes(name, source).items()}


def stale_functions(results: dict, root: Path = ROOT) -> list[str]:
    """One line per function whose source differs from the source results.json was made from
    (or that is new in scope, or gone), and per target of TARGETS missing from the results."""
    problems = []
    for name, t in TARGETS.items():
        r = results.get(name)
        if r is None:
            problems.append(f"{t['path']}: in TARGETS but not in the results (never run)")
            continue
        recorded = r.get("source_hashes", {})
        try:
            now = source_hashes(name, root)
        except KeyError as e:
            problems.append(str(e.args[0]))
            continue
        for f in sorted(set(now) | set(recorded)):
            if f not in recorded:
                problems.append(f"{t['path']}: {f} is in scope but was not mutated in the report")
            elif f not in now:
                problems.append(f"{t['path']}: {f} was mutated in the report but is no longer in "
                                "scope")
            elif now[f] != recorded[f]:
                problems.append(f"{t['path']}: {f} changed since the mutation run (source hash "
                                f"{now[f]}, report made from {recorded[f]})")
    for name in results:
        if name not in TARGETS:
            problems.append(f"{name}: in the results but no longer in TARGETS")
    return problems
