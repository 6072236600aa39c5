"""docs/mutation.md belongs to the code it was made from (fast: no mutation run).

benchmarks/mutation/results.json records, for every mutated function (the scope in
benchmarks/mutation/targets.py: function names and line restrictions), a hash of its source at
the time of the run.  These tests hash the same source now and fail, naming the function, when
it differs -- the report then describes other code and must be regenerated
(``python benchmarks/mutation/run_mutation.py --only <module>``).  They also check that the
report is what the recorded results give and that its counts add up.
"""
from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
HERE = ROOT / "benchmarks" / "mutation"
sys.path.insert(0, str(HERE))

import report  # noqa: E402
import targets  # noqa: E402

RESULTS = json.loads((HERE / "results.json").read_text())
EQUIV = json.loads((HERE / "equivalent.json").read_text())


def test_every_mutated_function_is_unchanged_since_the_report_was_made():
    problems = targets.stale_functions(RESULTS["targets"])
    assert not problems, ("docs/mutation.md was made from other source; rerun "
                          "benchmarks/mutation/run_mutation.py for:\n" + "\n".join(problems))


def test_the_report_is_what_the_recorded_results_give():
    assert (ROOT / "docs" / "mutation.md").read_text() == report.render(RESULTS, EQUIV), (
        "docs/mutation.md differs from results.json + equivalent.json: run "
        "python benchmarks/mutation/report.py")


def test_the_counts_add_up_and_every_mutant_is_counted_once():
    for name, r in RESULTS["targets"].items():
        ids = [m["id"] for m in r["mutants"]]
        assert len(ids) == len(set(ids)), name
        assert all(i.startswith(f"{name}.") for i in ids), name
        assert {m["outcome"] for m in r["mutants"]} <= {"killed", "timeout", "survived",
                                                         "not-run"}, name
        c = report.counts(r, EQUIV)
        assert sum(c[k] for k in report.OUTCOMES) == c["generated"] == len(ids), name
        # the summary row of this module in the page shows these numbers
        row = (f"| `{r['path']}` |", f"| {c['generated']} | {c['killed']} | {c['timeout']} | "
               f"{c['survived']} | {c['equivalent']} | {c['not-run']} |")
        page = (ROOT / "docs" / "mutation.md").read_text()
        assert any(line.startswith(row[0]) and row[1] in line for line in page.splitlines()), name


def test_every_equivalence_note_belongs_to_a_surviving_mutant():
    outcome = {m["id"]: m["outcome"] for r in RESULTS["targets"].values() for m in r["mutants"]}
    for mid, why in EQUIV.items():
        assert outcome.get(mid) in ("survived", "not-run"), (mid, outcome.get(mid))
        assert len(why.split()) >= 5, f"{mid}: a reason a reader can check, not a word"


def test_kill_rate_leaves_out_equivalents_and_does_not_count_timeouts_as_kills():
    """Kill rate = killed / (generated - equivalent); a timeout is in the denominator only."""
    muts = ([{"id": f"m.f.{i}", "outcome": "killed"} for i in range(6)]
            + [{"id": "m.f.t", "outcome": "timeout"}, {"id": "m.f.s", "outcome": "survived"},
               {"id": "m.f.e", "outcome": "survived"}, {"id": "m.f.n", "outcome": "not-run"}])
    c = report.counts({"mutants": muts}, {"m.f.e": "a reason of five words or more"})
    assert c == {"generated": 10, "killed": 6, "timeout": 1, "survived": 1, "equivalent": 1,
                 "not-run": 1}
    assert report.kill_rate(c) == pytest.approx(6 / 9)


def _copy_sources(tmp_path: Path) -> Path:
    for t in targets.TARGETS.values():
        dst = tmp_path / t["path"]
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / t["path"], dst)
    return tmp_path


def test_an_edit_inside_a_mutated_function_is_reported_by_name(tmp_path):
    """Both sides of the check: the copied sources are not stale; changing one operator in
    one function of the scope makes exactly that function stale."""
    root = _copy_sources(tmp_path)
    assert targets.stale_functions(RESULTS["targets"], root) == \
        targets.stale_functions(RESULTS["targets"], ROOT)
    name = "_scaled"
    path = root / targets.TARGETS[name]["path"]
    src = path.read_text()
    a, b = targets.scopes(name, src)["rmsea_ci"]
    lines = src.splitlines(keepends=True)
    body = "".join(lines[a - 1:b])
    assert "df <= 0" in body
    lines[a - 1:b] = [body.replace("df <= 0", "df < 0", 1)]
    path.write_text("".join(lines))
    problems = targets.stale_functions(RESULTS["targets"], root)
    new = [p for p in problems if p not in targets.stale_functions(RESULTS["targets"], ROOT)]
    assert len(new) == 1 and "rmsea_ci changed since the mutation run" in new[0]


def test_an_edit_outside_the_scoped_lines_is_not_reported(tmp_path):
    """Only the mutated lines count: a comment added before bootstrap's interval code (outside
    the scope of _bootstrap) leaves the report current; one inside it does not."""
    root = _copy_sources(tmp_path)
    before = targets.stale_functions(RESULTS["targets"], root)
    path = root / targets.TARGETS["bootstrap"]["path"]
    src = path.read_text()
    a, b = targets.scopes("bootstrap", src)["_bootstrap"]
    lines = src.splitlines(keepends=True)
    lines.insert(a - 1, "    # a comment before the scoped lines\n")
    path.write_text("".join(lines))
    assert targets.stale_functions(RESULTS["targets"], root) == before
    lines.insert(a + 1, "    # a comment inside the scoped lines\n")
    path.write_text("".join(lines))
    after = targets.stale_functions(RESULTS["targets"], root)
    assert [p for p in after if p not in before] == [
        p for p in after if "_bootstrap changed since the mutation run" in p]
    assert any("_bootstrap changed" in p for p in after)


def test_a_renamed_function_in_scope_is_reported(tmp_path):
    root = _copy_sources(tmp_path)
    path = root / targets.TARGETS["measurement"]["path"]
    path.write_text(path.read_text().replace("def htmt(", "def htmt_renamed(", 1))
    problems = targets.stale_functions(RESULTS["targets"], root)
    assert any("function htmt (in the mutation TARGETS) not found" in p for p in problems)
