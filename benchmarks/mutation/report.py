"""Write docs/mutation.md from results.json and equivalent.json (see run_mutation.py).

``python benchmarks/mutation/report.py`` rewrites the report from the recorded results;
``--check`` only says whether docs/mutation.md is what the results give (exit 1 if not).
"""
from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE))

from targets import TARGETS  # noqa: E402

OUTCOMES = ("killed", "timeout", "survived", "equivalent", "not-run")

INTRO = """\
# Mutation testing

A mutant is the code with one small change (an operator, a constant, a comparison, a removed
argument; mutmut's operators).  Each module's test subset is run against every mutant, and the
outcome is counted in exactly one column:

* **killed** — a test failed;
* **timeout** — the subset took longer than 10 × its own unmutated run time + 5 s (the limit is
  in each module's section) and was stopped.  A timeout is *not* counted as a kill: a mutant
  that only makes the code slow (or loop) has not been shown wrong by any test;
* **survived** — every test passed, and nobody has shown the mutant equivalent: a gap;
* **equivalent** — survived, and no input can tell it from the original; the reason is in the
  module's section and in `benchmarks/mutation/equivalent.json`, written to be checked;
* **not run** — generated but not run.

Kill rate = killed / (generated − equivalent): timeouts, survivors and mutants not run all
count against it.

Mutants are identified by a hash of the mutated function text (`module.function.hash`): an
equivalence note stays with its mutant across runs, and when the function is edited its
mutants get new ids and the old notes are dropped (listed at the end of this page).  Every
mutated function's source hash at the time of the run is in
`benchmarks/mutation/results.json`; `tests/test_mutation_report.py` fails, naming the
function, when the source now differs, and when this page is not what the recorded results
give.

Run by hand, not by CI (one process, niced; the machine is shared):

```bash
pip install "mutmut>=3.8"
OPENBLAS_NUM_THREADS=1 nice -n 10 python benchmarks/mutation/run_mutation.py --jobs 1   # all
OPENBLAS_NUM_THREADS=1 nice -n 10 python benchmarks/mutation/run_mutation.py --only _scaled
python benchmarks/mutation/report.py                                  # this page only
```

The script forks one child per mutant from a process that has already imported semcluster,
swaps the mutated function bodies into the live module and runs that module's test subset
with `pytest -x`.  Tests that start fresh Python processes would run the unmutated code, so
the subsets leave them out.  Module-level statements (imports, constant tables) are not
mutated.  What is mutated and which tests judge it: `benchmarks/mutation/targets.py`.
"""


def outcome_of(m: dict, equiv: dict) -> str:
    if m["outcome"] == "survived" and m["id"] in equiv:
        return "equivalent"
    return m["outcome"]


def counts(target: dict, equiv: dict) -> dict:
    c = Counter(outcome_of(m, equiv) for m in target["mutants"])
    out = {k: c.get(k, 0) for k in OUTCOMES}
    out["generated"] = len(target["mutants"])
    return out


def kill_rate(c: dict) -> float | None:
    denom = c["generated"] - c["equivalent"]
    return c["killed"] / denom if denom else None


def _rate(c: dict) -> str:
    r = kill_rate(c)
    return "–" if r is None else f"{100 * r:.1f} %"


def _scope(t: dict) -> str:
    scope = (", ".join(f"`{f}`" for f in t["functions"]) if t.get("functions")
             else "all functions")
    for f, (a, b) in (t.get("lines") or {}).items():
        scope += f" (`{f}`: only the lines from `{a.strip()}` up to `{b.strip()}`)"
    return scope


def render(results: dict, equiv: dict) -> str:
    lines = [INTRO, "## Summary", "",
             "| module | scope | test subset | generated | killed | timeout | survived "
             "| equivalent | not run | kill rate |",
             "|---|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    total = dict.fromkeys(("generated",) + OUTCOMES, 0)
    sections = []
    for name, r in results["targets"].items():
        c = counts(r, equiv)
        for k in total:
            total[k] += c[k]
        tests = "<br>".join(f"`{x}`" for x in r["tests"])
        if r.get("args"):
            tests += "<br>" + " ".join(f"`{x}`" for x in r["args"])
        lines.append(f"| `{r['path']}` | {_scope(r)} | {tests} | {c['generated']} | "
                     f"{c['killed']} | {c['timeout']} | {c['survived']} | {c['equivalent']} | "
                     f"{c['not-run']} | {_rate(c)} |")
        about = TARGETS.get(name, {}).get("about")
        sec = [f"## `{r['path']}`" + (f" ({name})" if name != Path(r["path"]).stem else ""),
               ""]
        if about:
            sec += [f"Test subset {tests.replace('<br>', ', ')}: {about}", ""]
        sec += [(f"{c['generated']} mutants: {c['killed']} killed, {c['timeout']} timed out, "
                f"{c['survived']} surviving, {c['equivalent']} equivalent, {c['not-run']} not "
                f"run; kill rate {_rate(c)}.  Run {r['date']} at commit {r['commit']} with "
                f"mutmut {r['mutmut_version']}; the unmutated subset took "
                f"{r['baseline_seconds']:.1f} s, the timeout was {r['timeout_seconds']:.1f} s, "
                f"the mutants took {r['seconds'] / 60:.1f} min in one process."), ""]
        groups = {k: [m for m in r["mutants"] if outcome_of(m, equiv) == k]
                  for k in ("timeout", "survived", "equivalent", "not-run")}
        heads = {"timeout": "Timed out (stopped, not counted as killed):",
                 "survived": "Surviving (not killed, not shown equivalent):",
                 "not-run": "Not run:"}
        for k in ("timeout", "survived", "not-run"):
            if groups[k]:
                sec += [heads[k], "", "| id | function | line | original | mutant |",
                        "|---|---|---:|---|---|"]
                sec += [f"| `{m['id']}` | `{m['function']}` | {m['line']} | "
                        f"`{_md(m['original'])}` | `{_md(m['mutated'])}` |" for m in groups[k]]
                sec.append("")
        if groups["equivalent"]:
            sec += ["Equivalent:", "", "| id | function | line | original | mutant | why |",
                    "|---|---|---:|---|---|---|"]
            sec += [f"| `{m['id']}` | `{m['function']}` | {m['line']} | `{_md(m['original'])}` "
                    f"| `{_md(m['mutated'])}` | {_md_text(equiv[m['id']])} |"
                    for m in groups["equivalent"]]
            sec.append("")
        sections += sec
    lines.append(f"| **all** | | | {total['generated']} | {total['killed']} | "
                 f"{total['timeout']} | {total['survived']} | {total['equivalent']} | "
                 f"{total['not-run']} | **{_rate(total)}** |")
    lines.append("")
    notes = HERE / "notes.md"          # the run's narrative: what was found and changed
    if notes.exists():
        lines += [notes.read_text().rstrip("\n"), ""]
    dropped = results.get("dropped_equivalents", [])
    if dropped:
        sections += ["## Dropped equivalence notes", "",
                     "Notes whose mutant is no longer generated (its function was edited) or "
                     "no longer survives; kept here for the record, not counted.", "",
                     "| id | dropped on | because | the note said |", "|---|---|---|---|"]
        sections += [f"| `{d['id']}` | {d['date']} | {d['dropped']} | {_md_text(d['note'])} |"
                     for d in dropped]
        sections.append("")
    return "\n".join(lines + sections) + "\n"


def write_report(results: dict, equivalent_file: Path, out: Path) -> str:
    equiv = json.loads(equivalent_file.read_text()) if equivalent_file.exists() else {}
    text = render(results, equiv)
    out.write_text(text)
    return text


def _md(s: str) -> str:
    return s.replace("|", "\\|").replace("`", "'")


def _md_text(s: str) -> str:
    return s.replace("|", "\\|")


if __name__ == "__main__":
    res = json.loads((HERE / "results.json").read_text())
    out = ROOT / "docs" / "mutation.md"
    if "--check" in sys.argv[1:]:
        equiv = json.loads((HERE / "equivalent.json").read_text())
        ok = out.read_text() == render(res, equiv)
        print("docs/mutation.md is up to date" if ok else "docs/mutation.md differs: rerun")
        sys.exit(0 if ok else 1)
    write_report(res, HERE / "equivalent.json", out)
    print(f"wrote {out}")
