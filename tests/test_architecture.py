"""The package's import structure, checked with import-linter (contracts in .importlinter).

Data flow one way: spec/data → model core → estimators → result → analyses → tables/diagrams →
the study (semcluster.study) → report → app → CLI. The contracts hold that the library never
imports the CLI, that drawing and table rendering never import estimation (a diagram never
refits), that estimation never imports rendering, that the general SEM code never imports the
study (the paper's defaults live only in semcluster.study), and a layers contract that lists the
package's layers top to bottom (each imports only from layers below it). A second test checks
that no module-level import cycle exists anywhere, inside sub-packages too.
"""
from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).parent.parent


def test_import_contracts_are_kept():
    from importlinter.cli import lint_imports

    cwd = os.getcwd()
    os.chdir(ROOT)
    try:
        assert lint_imports(config_filename=str(ROOT / ".importlinter"), no_cache=True) == 0
    finally:
        os.chdir(cwd)


def test_no_import_cycles():
    import grimp
    import networkx as nx

    graph = grimp.build_graph("semcluster")
    G = nx.DiGraph()
    for module in graph.modules:
        for imported in graph.find_modules_directly_imported_by(module):
            G.add_edge(module, imported)
    cycles = list(nx.simple_cycles(G))
    assert cycles == [], f"import cycles: {cycles[:5]}"


def test_every_subpackage_is_installed():
    """pyproject lists packages explicitly: a new sub-package missing there works in an
    editable install and is absent from `pip install .` (as semcluster.model and
    semcluster.study were until a clean CI run caught it)."""
    import tomllib

    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
                 ["packages"])
    src = ROOT / "src"
    found = {".".join(p.parent.relative_to(src).parts)
             for p in (src / "semcluster").rglob("__init__.py")}
    assert found - listed == set(), f"sub-packages not in pyproject: {sorted(found - listed)}"


def test_one_result_builder():
    """Every estimator's SEMResult is built by semcluster.result.builder.assemble_result (WLSMV had
    its own copy of the admissibility checks, names and standardized SEs until it was
    folded in): no other module constructs one."""
    import re

    src = ROOT / "src" / "semcluster"
    builders = sorted(str(p.relative_to(src)) for p in src.rglob("*.py")
                      if re.search(r"(?<![\w.])SEMResult\(", p.read_text()))
    assert builders == ["results.py", "solution.py"], builders
