"""The package's import structure, checked with import-linter (contracts in .importlinter).

Data flow one way, one package per layer (bottom to top): errors/arguments/resources/numerics →
spec and data → model → measures → result → estimation → fitting → analysis → output → study →
app → cli.  The layers contract holds that each imports only from the layers below it (so the
library never imports the CLI, general code never imports the study, estimation never imports
rendering); two forbidden contracts add that drawing and table rendering never import
estimation or analyses (a diagram never refits) and that a result never imports the output
layer.  A second test checks that no module-level import cycle exists anywhere, inside
sub-packages too.
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
    assert builders == ["result/builder.py", "result/result.py"], builders


def test_one_layer_per_package_and_at_most_twelve():
    """The layers contract lists the package top to bottom, one package (or root module) per
    layer, at most 12 layers (issue 23), and every module of semcluster is in one of them, so
    that no module escapes the one-way rule by not being named."""
    import configparser

    cfg = configparser.ConfigParser()
    cfg.read(ROOT / ".importlinter")
    layers = [ln.strip() for ln in cfg["importlinter:contract:layers"]["layers"].splitlines()
              if ln.strip()]
    assert len(layers) <= 12, layers
    named = {m.strip() for layer in layers for m in layer.replace("|", ":").split(":")}
    src = ROOT / "src" / "semcluster"
    top = {f"semcluster.{p.stem}" for p in src.glob("*.py")
           if p.stem not in ("__init__", "__main__", "_lazy")}
    top |= {f"semcluster.{p.parent.name}" for p in src.glob("*/__init__.py")}
    assert top - named == set(), f"not in any layer: {sorted(top - named)}"
    # a layer that holds several names holds root modules only (one package per layer)
    for layer in layers:
        parts = [m.strip() for m in layer.replace("|", ":").split(":")]
        packages = [m for m in parts if (src / m.split(".", 1)[1]).is_dir()]
        assert len(packages) <= 1 or parts == ["semcluster.spec", "semcluster.data"], layer
