"""The ``semcluster`` command: a thin layer over the library.

Each sub-command lives in its own module of this package and exposes
``add_parser(subparsers)``, which registers the sub-command and sets ``func`` to a function
``run(args) -> int``. Heavy imports (semopy, matplotlib) happen inside ``run`` so that
``semcluster --help`` answers at once.

Exit status: 0 when the command did its work, 2 for input the user can correct (a one-line
message, no traceback), 3 when a fit did not converge (``semcluster fit``: the numbers printed
are not estimates), 130 when interrupted.
"""
from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
import warnings

from ..errors import SemclusterError, SemclusterWarning

#: Exit status of a command whose fit did not converge (0: done; 2: bad input; 130: interrupted).
EXIT_NOT_CONVERGED = 3


def _command_modules():
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name):
        if not info.name.startswith("_"):
            yield importlib.import_module(f"{__name__}.{info.name}")


def build_parser() -> argparse.ArgumentParser:
    from .. import __version__

    parser = argparse.ArgumentParser(
        prog="semcluster",
        description="Structural equation models for survey research: fit lavaan-syntax models "
                    "with semopy, check them against lavaan, and reproduce the cluster "
                    "knowledge-innovation-platform study.")
    parser.add_argument("--version", action="version", version=f"semcluster {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in _command_modules():
        module.add_parser(sub)
    return parser


def _format_warning(message, category, filename, lineno, line=None):
    return f"semcluster: warning: {message}\n"


#: the warnings this run has shown (each message once)
_SHOWN: set = set()


def _show_warning(message, category, filename, lineno, file=None, line=None):
    """Show a warning as one line without its Python source line; a SemclusterWarning whose
    text was shown already in this run (or a longer text starting with it) is not shown
    again."""
    text = str(message)
    if issubclass(category, SemclusterWarning):
        # a repeat, or the same warning without the hint another analysis already gave
        if any(shown.startswith(text) for shown in _SHOWN):
            return
        _SHOWN.add(text)
    print(_format_warning(message, category, filename, lineno).rstrip("\n"),
          file=file if file is not None else sys.stderr)
    _hand_to_recorder(message, category, filename, lineno, file, line)


def _hand_to_recorder(message, category, filename, lineno, file, line) -> None:
    """A caller that collects the warnings of the run (``warnings.catch_warnings(record=True)``,
    e.g. ``pytest.warns`` around ``main``) gets the warning too: recording replaces the
    module's message writer with the record's ``append``."""
    impl = getattr(warnings, "_showwarnmsg_impl", None)
    if impl is not None and getattr(impl, "__name__", "") != "_showwarnmsg_impl":
        impl(warnings.WarningMessage(message, category, filename, lineno, file, line))


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    warnings.formatwarning = _format_warning
    _SHOWN.clear()
    with warnings.catch_warnings():       # the one-line display lasts for this run only
        warnings.showwarning = _show_warning
        warnings.simplefilter("always", SemclusterWarning)
        return _run(args)


def _run(args) -> int:
    try:
        from ._common import guard_careless_csv

        guard_careless_csv(args)          # an output of the data options, checked up front
        return int(args.func(args) or 0)
    except SemclusterError as exc:
        print(f"semcluster: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # output piped into a program that stopped reading (e.g. `| head`): not an error
        import os

        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except KeyboardInterrupt:
        print("semcluster: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
