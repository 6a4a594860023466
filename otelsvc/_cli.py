"""The ``otelsvc`` command: ``demo`` (a simulated service) and ``catalog`` (the instrument families)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from otelsvc import _dashboards, _top

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="otelsvc", description="OpenTelemetry-native telemetry for Python services.")
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="run a small simulated service recording through otelsvc")
    demo.add_argument("--duration", type=float, default=None, metavar="SECONDS",
                      help="stop after this many seconds (default: run until interrupted)")
    demo.add_argument("--prometheus", metavar="HOST:PORT", help='scrape endpoint address, or "off"')
    demo.add_argument("--otlp-endpoint", metavar="URL", help="OTLP collector base URL (default: no push)")
    demo.add_argument("--otlp-protocol", choices=["grpc", "http/protobuf"])
    demo.add_argument("--export-interval", type=float, metavar="SECONDS")
    demo.add_argument("--metrics-token", metavar="TOKEN", help="bearer token required on /metrics")
    demo.add_argument("--service-name", default=None)
    demo.add_argument("--progress-every", type=float, default=5.0, metavar="SECONDS", help=argparse.SUPPRESS)
    catalog = sub.add_parser("catalog", help="print the instrument catalog")
    catalog.add_argument("--format", choices=["markdown", "json"], default="markdown")
    from otelsvc._check import add_check_parser

    add_check_parser(sub)
    _dashboards.register(sub)
    _top.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the process exit code (2 for bad flags or settings)."""
    args = _parser().parse_args(argv)
    if getattr(args, "run", None) is not None:
        return int(args.run(args))
    if args.command == "catalog":
        from otelsvc.instruments._catalog import catalog_json, catalog_markdown

        sys.stdout.write(catalog_json() if args.format == "json" else catalog_markdown())
        return 0
    if args.command == "check":
        from otelsvc._check import run_check

        return run_check(args)
    from otelsvc._demo import run_demo

    return run_demo(args)
