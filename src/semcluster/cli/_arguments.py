"""argparse ``type=`` functions for every option of every command.

Each wraps a check of :mod:`semcluster.arguments` (the library's own), so a bad value gets
argparse's one-line error with the allowed range and exit code 2, before anything is read or
computed::

    semcluster power: error: argument --alpha: must be strictly between 0 and 1, not 2.0
"""
from __future__ import annotations

import argparse
import math

from .. import arguments as checks
from ..errors import SemclusterError


def _number(text: str, kind: str):
    """Parse a command-line number; integers may be written 1e5 or 100_000."""
    t = text.strip().replace("_", "")
    try:
        return int(t)
    except ValueError:
        pass
    try:
        v = float(t)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a {kind}") from None
    if kind == "whole number":
        if not math.isfinite(v) or v != int(v):
            raise argparse.ArgumentTypeError(f"'{text}' is not a whole number")
        return int(v)
    return v


def _type(check, kind: str, label: str):
    def parse(text: str):
        value = _number(text, kind)
        try:
            return check("value", value)
        except SemclusterError as exc:
            # "value must be from 10 to 100,000, not 5" -> "must be from 10 to 100,000, not 5"
            raise argparse.ArgumentTypeError(str(exc).removeprefix("value ")) from None
    parse.__name__ = label          # argparse names the type in "invalid <name> value"
    return parse


probability = _type(checks.probability, "number", "probability")
positive_float = _type(checks.positive, "number", "positive number")
seed = _type(checks.seed, "whole number", "seed")
sample_size = _type(checks.sample_size, "whole number", "sample size")
n_boot = _type(checks.n_boot, "whole number", "number of resamples")
reps = _type(checks.reps, "whole number", "number of replications")
iterations = _type(checks.iterations, "whole number", "number of iterations")
rows = _type(checks.rows, "whole number", "number of rows")
jobs = _type(checks.jobs, "whole number", "number of jobs")


def group_equal(text: str) -> tuple:
    """``--group-equal loadings,intercepts``: lavaan's group.equal classes."""
    from ..estimation.groups import group_equal_classes

    try:
        return group_equal_classes(text)
    except SemclusterError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def group_partial(text: str) -> tuple:
    """``--group-partial "visual=~x2,x3~1"``: lavaan's group.partial parameters."""
    from ..estimation.groups import group_partial_entries

    try:
        return group_partial_entries(text)
    except SemclusterError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
