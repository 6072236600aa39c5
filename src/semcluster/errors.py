"""Errors a user can cause.

Every error that comes from what the user gave us (a model file, a data file, an option) is a
:class:`SemclusterError`. Its message is one line that names the place (file, line and column, or
the data column) and says what to do. The CLI prints it and exits with code 2, no traceback.

The errors also derive from the built-in exception a Python user would expect: a bad model, data
set or option value is a :class:`ValueError`, an argument of the wrong type (a numpy array where a
DataFrame or a file is needed) a :class:`TypeError`, so ``except ValueError`` catches them.
"""
from __future__ import annotations


class SemclusterError(Exception):
    """Base class of all errors the user can cause and fix."""


class ModelSyntaxError(SemclusterError, ValueError):
    """A model file that cannot be read as lavaan syntax (or that semopy cannot fit).

    Parameters
    ----------
    message : str
        What is wrong and what to do.
    source : str
        The file name (or ``"<string>"`` for model text given directly).
    line, column : int
        1-based position of the offending text.
    """

    def __init__(self, message: str, source: str = "<string>", line: int | None = None,
                 column: int | None = None):
        self.source = source
        self.line = line
        self.column = column
        self.reason = message
        where = source
        if line is not None:
            where += f":{line}"
            if column is not None:
                where += f":{column}"
        super().__init__(f"{where}: {message}")


class ModelSpecError(SemclusterError, ValueError):
    """A model that parses but cannot be fitted as written (unidentified, unknown variable ...)."""


class DataError(SemclusterError, ValueError):
    """A data set that cannot be used as given (missing column, non-numeric answer, ...)."""


class OptionError(SemclusterError, ValueError):
    """An option value semcluster does not know (estimator, missing-data rule, bootstrap kind,
    a count below its minimum ...); the message lists the values that are available."""


class InputTypeError(SemclusterError, TypeError):
    """An argument of the wrong type (a numpy array or dict as data, ``None`` as a model or an
    estimator, a fractional number of replicates ...)."""


class EstimationError(SemclusterError):
    """Fitting failed in a way that leaves no usable result."""


class SemclusterWarning(UserWarning):
    """A problem that does not stop the analysis but that the user must know about."""


class OutputPathError(SemclusterError):
    """An output place that cannot be used: it names an input, is a folder where a file is
    wanted (or the reverse), is a link, cannot be written, or holds files that are not
    semcluster's."""


def whole_number(value, name: str, minimum: int | None = None) -> int:
    """``value`` as an int, or a semcluster error naming the argument.

    Accepts Python and numpy integers (and floats with no fractional part, such as ``20.0``);
    ``True``/``False``, fractions and non-numbers raise :class:`InputTypeError`, a number below
    ``minimum`` :class:`OptionError`.
    """
    import numbers

    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise InputTypeError(f"{name} must be a whole number, not {type(value).__name__} "
                             f"{value!r}")
    if isinstance(value, numbers.Integral):
        n = int(value)
    elif float(value).is_integer():
        n = int(value)
    else:
        raise InputTypeError(f"{name} must be a whole number, not {value!r}")
    if minimum is not None and n < minimum:
        raise OptionError(f"{name} must be at least {minimum}, not {n}")
    return n
