"""Write docs/mutation.md from results.json and equivalent.json (see run_mutation.py)."""
from __future__ import annotations

import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]

INTRO = """\
# Mutation testing of the numeric modules

A mutant is the code with one small change (an operator, a constant, a comparison, a removed
argument; mutmut 3.8's operators).  A test subset *kills* it when a test fails.  A mutant that
survives is either a gap in the tests or *equivalent*: no input can tell it from the original
(for example a tolerance nobody's data comes near, or a branch that cannot be reached).  Every
survivor below is one or the other, with the reason.

Run by hand, not by CI (it takes a while):

```bash
pip install "mutmut>=3.8"
OPENBLAS_NUM_THREADS=1 python benchmarks/mutation/run_mutation.py          # all modules
OPENBLAS_NUM_THREADS=1 python benchmarks/mutation/run_mutation.py --only _scaled
python benchmarks/mutation/report.py                                       # report only
```

The script forks one child per mutant from a process that has already imported semcluster,
swaps the mutated function bodies into the live module and runs that module's test subset
with `pytest -x` (tests that start fresh Python processes are left out of the subsets, since
they would run the unmutated code).  Raw outcomes: `benchmarks/mutation/results.json`;
equivalent mutants and why: `benchmarks/mutation/equivalent.json`.

Kill rate = killed / (generated − equivalent).  Module-level statements (imports, constant
tables) are not mutated.

The test subsets are the tests written for this (each fast, calling the functions directly;
their reference numbers come from the lavaan/psych/semTools fixtures or from hand-derived
cases whose derivation is in the test's docstring, never from semcluster's own output):

* `tests/test_fit_measures_mutants.py` — every fit measure at *lavaan's own estimates*
  (Σ̂ = ΛΨΛ' + Θ built by hand from the fixture) equal to lavaan's to 1e-7 (HS39 CFA and the
  fixed-x path model), and hand cases: RMSEA with N (not N − 1), the 90 % RMSEA interval
  by its defining equations, one-df models, small non-centralities, AGFI's moment count;
* `tests/test_scaled_mutants.py` — scaled and robust measures from lavaan's inputs equal to
  lavaan's outputs (MLR, FIML-MLR, WLSMV with N − 1), and hand cases for the robust
  (Brosseau-Liard & Savalei) corrections;
* `tests/test_standardized_mutants.py` — std.lv, std.all, R² and standardized defined
  parameters at lavaan's estimates for eight models, equal to lavaan's to 1e-7;
* `tests/test_measurement_mutants.py` — α, Feldt interval, item statistics, HTMT/HTMT2 against
  psych/semTools to 1e-9; ω and AVE from lavaan's estimates against semTools; CR, AVE
  (observed) vs `ave_std` (standardized loadings), Fornell–Larcker on hand cases;
* `tests/test_bootstrap_intervals.py` — percentile interval, SE, p-value, BCa (bias
  correction, acceleration sign, 90 % level), Bollen–Stine p on draws whose answers are
  worked out by hand (refits replaced by stand-ins).

How they were found: the first run of these files (written against the known weak spots:
N vs N − 1, the 90 % interval, the BCa acceleration sign, `ave_std` from standardized
loadings) left 36 survivors in `fitmeasures.py` (552/588 killed), 34 in `_scaled.py`
(330/364), 12 in `bootstrap.py` (190/202) and 18 in `standardized.py` (261/279).  Each
survivor was read: the equivalent ones are recorded below with the reason, the others got a
test (one-df models, non-centralities below 1, an RMSEA root below λ = 1, two fixed-x
covariates, a small jackknife spread, a labelled marker loading in a `:=` expression, …) and
the survivors were run again (`--survivors`).
"""


def write_report(results: dict, equivalent_file: Path, out: Path) -> str:
    equiv = json.loads(equivalent_file.read_text()) if equivalent_file.exists() else {}
    lines = [INTRO, "## Summary", "",
             ("| module | scope | test subset | generated | killed | survived | equivalent "
             "| kill rate |"), "|---|---|---|---:|---:|---:|---:|---:|"]
    tot = {"gen": 0, "killed": 0, "surv": 0, "eq": 0}
    sections = []
    from run_mutation import TARGETS

    for name, r in results.items():
        muts = r["mutants"]
        t = TARGETS.get(name, {})
        scope = ", ".join(f"`{f}`" for f in t["functions"]) if t.get("functions") else "all functions"
        for f, (a, b) in t.get("lines", {}).items():
            scope += f" (`{f}`: only the lines from `{a.strip()}` to `{b.strip()}`)"
        killed = [m for m in muts if m["outcome"] != "survived"]
        surv = [m for m in muts if m["outcome"] == "survived" and m["id"] not in equiv]
        eq = [m for m in muts if m["outcome"] == "survived" and m["id"] in equiv]
        nonq = len(muts) - len(eq)
        rate = f"{100 * len(killed) / nonq:.1f} %" if nonq else "–"
        tests = "<br>".join(f"`{x}`" for x in r["tests"])
        lines.append(f"| `{t.get('path', name)}` | {scope} | {tests} | {len(muts)} | "
                     f"{len(killed)} | {len(surv)} | {len(eq)} | {rate} |")
        tot["gen"] += len(muts)
        tot["killed"] += len(killed)
        tot["surv"] += len(surv)
        tot["eq"] += len(eq)
        sec = [f"## `{t.get('path', name)}`", "",
               (f"{len(muts)} mutants, {len(killed)} killed, {len(surv)} surviving, "
               f"{len(eq)} equivalent; the subset runs in {r['baseline_seconds']:.1f} s, all "
               f"mutants in {r['seconds'] / 60:.1f} min."), ""]
        if surv:
            sec += ["Surviving (not killed, not shown equivalent):", "",
                    "| id | function | line | original | mutant |", "|---|---|---:|---|---|"]
            sec += [f"| `{m['id']}` | `{m['function']}` | {m['line']} | `{_md(m['original'])}` "
                    f"| `{_md(m['mutated'])}` |" for m in surv]
            sec.append("")
        if eq:
            sec += ["Equivalent:", "", "| id | function | line | original | mutant | why |",
                    "|---|---|---:|---|---|---|"]
            sec += [f"| `{m['id']}` | `{m['function']}` | {m['line']} | `{_md(m['original'])}` "
                    f"| `{_md(m['mutated'])}` | {equiv[m['id']]} |" for m in eq]
            sec.append("")
        sections += sec
    nonq = tot["gen"] - tot["eq"]
    rate = f"{100 * tot['killed'] / nonq:.1f} %" if nonq else "–"
    lines.append(f"| **all** | | | {tot['gen']} | {tot['killed']} | {tot['surv']} | "
                 f"{tot['eq']} | **{rate}** |")
    lines.append("")
    text = "\n".join(lines + sections) + "\n"
    out.write_text(text)
    return text


def _md(s: str) -> str:
    return s.replace("|", "\\|").replace("`", "'")


if __name__ == "__main__":
    sys.path.insert(0, str(HERE))
    res = json.loads((HERE / "results.json").read_text())
    print(write_report(res, HERE / "equivalent.json", ROOT / "docs" / "mutation.md")[:2000])
