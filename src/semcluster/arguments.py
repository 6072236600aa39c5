"""Checks of the options every analysis takes, shared by the library and the command line.

Each check takes the option's name and value and returns the value in its canonical type
(``int`` or ``float``), or raises :class:`~semcluster.errors.OptionError` (a ``ValueError``)
for a value outside its range or :class:`~semcluster.errors.InputTypeError` (a ``TypeError``)
for a value of the wrong kind.  Messages are one line and give the allowed range.  The library
functions call them at their entry; ``semcluster.cli._arguments`` wraps the same checks as
argparse types, so ``semcluster power --alpha 2`` and ``power_analysis(alpha=2)`` are refused
with the same words.

Caps (large enough for any real study, small enough that a typo is not a day of computing or
an allocation of tens of gigabytes):

==========================  ==================  =============================================
option                      allowed             why the cap
==========================  ==================  =============================================
sample size (simulate,      2 … 1,000,000       one replicate of 10⁶ respondents × 23 items
power ``--n``)                                   is ~180 MB of doubles
bootstrap resamples         10 … 100,000        10⁵ refits ≈ an hour on two cores
Monte Carlo replications    10 … 100,000        per N of the grid
parallel-analysis data sets 10 … 100,000
seed                        0 … 2³² − 1         as R's ``set.seed`` and most tools
alpha, target power, CI     strictly in (0, 1)
effect scale                finite, > 0
rows to show (``--top``)    1 … 1,000,000
worker processes            −1 (all cores) or 1 … 1024
``nobs`` of a covariance    2 … 10⁹, whole          more than any survey; 10³⁰ broke log(N)
matrix
==========================  ==================  =============================================
"""
from __future__ import annotations

import math
import numbers

from .errors import InputTypeError, OptionError  # noqa: F401 - re-exported for callers

MAX_N = 1_000_000
MAX_N_BOOT = 100_000
MAX_REPS = 100_000
MAX_ITER = 100_000
MAX_SEED = 2 ** 32 - 1
MAX_ROWS = 1_000_000
MAX_JOBS = 1024
MAX_NOBS = 10 ** 9          # observations behind a covariance matrix (fit(cov=..., nobs=...))


def _range_text(lo, hi) -> str:
    if hi is None:
        return f"at least {lo:,}"
    return f"from {lo:,} to {hi:,}"


def integer(name: str, value, lo: int, hi: int | None = None) -> int:
    """A whole number in ``[lo, hi]``; integral floats (``1e5``, ``160.0``) are accepted."""
    if isinstance(value, bool) or not isinstance(value, (numbers.Integral, numbers.Real)):
        raise InputTypeError(f"{name} must be a whole number {_range_text(lo, hi)}, "
                             f"not {value!r}")
    if not isinstance(value, numbers.Integral):
        v = float(value)
        if not math.isfinite(v) or v != int(v):
            raise InputTypeError(f"{name} must be a whole number {_range_text(lo, hi)}, "
                                 f"not {value!r}")
        value = int(v)
    value = int(value)
    if value < lo or (hi is not None and value > hi):
        raise OptionError(f"{name} must be {_range_text(lo, hi)}, not {value:,}")
    return value


def real(name: str, value, lo: float | None = None, hi: float | None = None, *,
         open_lo: bool = True, open_hi: bool = True, what: str = "") -> float:
    """A finite number in the interval given by ``lo``/``hi`` (open ends by default)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise InputTypeError(f"{name} must be a number{what}, not {value!r}")
    v = float(value)
    bad = not math.isfinite(v)
    if lo is not None:
        bad = bad or (v <= lo if open_lo else v < lo)
    if hi is not None:
        bad = bad or (v >= hi if open_hi else v > hi)
    if bad:
        raise OptionError(f"{name} must be {_interval_text(lo, hi, open_lo, open_hi)}"
                          f"{what}, not {value!r}")
    return v


def _interval_text(lo, hi, open_lo, open_hi) -> str:
    if lo is not None and hi is not None:
        return (f"{'strictly ' if open_lo and open_hi else ''}between {lo:g} and {hi:g}"
                + ("" if open_lo and open_hi else
                   f" ({'excluding' if open_lo else 'including'} {lo:g}, "
                   f"{'excluding' if open_hi else 'including'} {hi:g})"))
    if lo is not None:
        return f"a finite number {'greater than' if open_lo else 'at least'} {lo:g}"
    if hi is not None:
        return f"a finite number {'less than' if open_hi else 'at most'} {hi:g}"
    return "a finite number"


# the options, by what they are -------------------------------------------------------------
def probability(name: str, value) -> float:
    """A significance level, target power or confidence level: strictly between 0 and 1."""
    return real(name, value, 0.0, 1.0)


def seed(name: str, value) -> int:
    """A random seed, 0 … 2³² − 1 (``None`` is left as is: fresh entropy)."""
    if value is None:
        return None
    return integer(name, value, 0, MAX_SEED)


def sample_size(name: str, value, lo: int = 2) -> int:
    return integer(name, value, lo, MAX_N)


def n_boot(name: str, value) -> int:
    return integer(name, value, 10, MAX_N_BOOT)


def reps(name: str, value) -> int:
    return integer(name, value, 10, MAX_REPS)


def iterations(name: str, value) -> int:
    return integer(name, value, 10, MAX_ITER)


def rows(name: str, value) -> int:
    return integer(name, value, 1, MAX_ROWS)


def positive(name: str, value) -> float:
    """A finite number greater than 0 (e.g. an effect scale)."""
    return real(name, value, 0.0)


def jobs(name: str, value) -> int:
    """Worker processes: -1 for all cores, or 1 … 1024."""
    v = integer(name, value, -1, MAX_JOBS)
    if v == 0:
        raise OptionError(f"{name} must be -1 (all cores) or from 1 to {MAX_JOBS:,}, not 0")
    return v
