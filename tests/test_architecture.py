"""The package's import structure, checked with import-linter (contracts in .importlinter).

Data flow one way: spec/data → estimation → results → tables/diagrams/report → CLI. The
contracts hold that the library never imports the CLI, that drawing and table rendering never
import estimation (a diagram never refits), and that estimation never imports rendering.
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
