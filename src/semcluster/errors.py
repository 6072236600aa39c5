"""Errors a user can cause.

Every error that comes from what the user gave us (a model file, a data file, an option) is a
:class:`SemclusterError`. Its message is one line that names the place (file, line and column, or
the data column) and says what to do. The CLI prints it and exits with code 2, no traceback.
"""
from __future__ import annotations


class SemclusterError(Exception):
    """Base class of all errors the user can cause and fix."""


class ModelSyntaxError(SemclusterError):
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


class ModelSpecError(SemclusterError):
    """A model that parses but cannot be fitted as written (unidentified, unknown variable ...)."""


class DataError(SemclusterError):
    """A data set that cannot be used as given (missing column, non-numeric answer, ...)."""


class EstimationError(SemclusterError):
    """Fitting failed in a way that leaves no usable result."""


class OptionError(SemclusterError, ValueError):
    """An option (command-line argument or keyword of a library function) outside its allowed
    range: ``alpha=2``, ``n_boot=-5``.  Also a :class:`ValueError`, so code that catches the
    built-in error for a bad value keeps working."""


class InputTypeError(SemclusterError, TypeError):
    """An option of the wrong kind: ``n_boot=10.5``, ``alpha="0.05"``.  Also a
    :class:`TypeError`."""


class SemclusterWarning(UserWarning):
    """A problem that does not stop the analysis but that the user must know about."""


class OutputPathError(SemclusterError):
    """An output place that cannot be used: it names an input, is a folder where a file is
    wanted (or the reverse), is a link, cannot be written, or holds files that are not
    semcluster's."""
