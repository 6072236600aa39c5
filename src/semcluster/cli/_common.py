"""Helpers shared by the sub-commands (argument conventions, safe output)."""
from __future__ import annotations


def add_data_argument(p, required=False):
    p.add_argument("--data", metavar="FILE", required=required,
                   help="data file (CSV, XLSX or SAV); default: the bundled synthetic study data")
