"""The ``otelsvc`` command and its subcommands, each registered once in ``COMMANDS``.

A subcommand is a module with ``HELP`` (one line for ``otelsvc --help``), ``configure(parser)``
(its flags, each with help text that states its default) and ``run(args) -> int`` (the exit code).
Such a module imports only the standard library at the top, so that ``otelsvc --help`` stays fast
and needs no optional dependency; heavy imports go inside ``run``. To add a command, add its module
to ``COMMANDS``.
"""

from __future__ import annotations

import argparse
import importlib
import math
import platform
import sys
from collections.abc import Sequence
from importlib import metadata

from otelsvc._version import __version__

__all__ = ["COMMANDS", "main", "positive_int", "positive_seconds"]

# name -> module providing HELP, configure(parser) and run(args); listed in this order in --help.
COMMANDS: dict[str, str] = {
    "demo": "otelsvc._demo",
    "catalog": "otelsvc.instruments._catalog",
    "check": "otelsvc._check",
    "dashboards": "otelsvc._dashboards",
    "top": "otelsvc._top",
}


def positive_seconds(text: str) -> float:
    """An argparse type: a finite number of seconds greater than zero."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r}: must be a number of seconds greater than 0")
    return value


def positive_int(text: str) -> int:
    """An argparse type: a whole number greater than zero."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r}: must be greater than 0")
    return value


def _version_text() -> str:
    try:
        sdk = metadata.version("opentelemetry-sdk")
    except metadata.PackageNotFoundError:  # pragma: no cover - the SDK is a dependency
        sdk = "not installed"
    return f"otelsvc {__version__} (OpenTelemetry SDK {sdk}, Python {platform.python_version()})"


def build_parser() -> argparse.ArgumentParser:
    """The whole command line: the top-level flags and one subparser per registered command."""
    parser = argparse.ArgumentParser(prog="otelsvc", description="OpenTelemetry-native telemetry for Python services.")
    parser.add_argument("--version", action="version", version=_version_text(),
                        help="print the otelsvc, OpenTelemetry SDK and Python versions and exit")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, module_name in COMMANDS.items():
        module = importlib.import_module(module_name)
        command = sub.add_parser(name, help=module.HELP, description=module.HELP)
        module.configure(command)
        command.set_defaults(run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the process exit code (2 for bad flags or settings)."""
    args = build_parser().parse_args(argv)
    code: int = args.run(args)
    sys.stdout.flush()
    return code
