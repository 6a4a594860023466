"""``otelsvc dashboards``: Grafana dashboards and Prometheus rules generated from the instrument catalog.

``_generate.generate()`` returns the files (path relative to the output directory -> text): one
dashboard per family under ``grafana/``, the HTTP overview, and ``prometheus/otelsvc-rules.yml``.
The files for the shipped families, without a namespace, are committed under ``dashboards/`` at
the repo root. This module is the command (``HELP``, ``configure``, ``run``) and imports only the
standard library, so ``otelsvc --help`` stays fast; the generator loads in ``run``.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from otelsvc._dashboards._thresholds import Thresholds

__all__ = ["HELP", "configure", "run"]

HELP = "write a Grafana dashboard per instrument family, an HTTP overview and Prometheus rules (recording, alerts)"


def configure(parser: argparse.ArgumentParser) -> None:
    """The flags of ``otelsvc dashboards``."""
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("otelsvc-dashboards"),
        metavar="DIR",
        help="directory to write grafana/*.json and prometheus/otelsvc-rules.yml into (default: %(default)s)",
    )
    parser.add_argument(
        "--namespace",
        default=os.environ.get("OTELSVC_NAMESPACE") or None,
        help="the namespace the service was started with (default: OTELSVC_NAMESPACE, else none)",
    )
    parser.add_argument(
        "--error-ratio",
        type=float,
        default=Thresholds.error_ratio,
        metavar="RATIO",
        help="5xx share of a job's requests that fires OtelsvcHttpErrorRatioHigh (default: %(default)s)",
    )
    parser.add_argument(
        "--latency",
        type=float,
        default=Thresholds.latency_p95,
        metavar="SECONDS",
        help="p95 request duration that fires OtelsvcHttpLatencyHigh (default: %(default)s)",
    )
    parser.add_argument(
        "--job",
        default=Thresholds.job,
        metavar="REGEX",
        help="Prometheus jobs OtelsvcInstanceDown watches (default: %(default)s, every job)",
    )


def _bad(flag: str, value: object, why: str) -> int:
    sys.stderr.write(f"otelsvc dashboards: {flag}={value!r} {why}\n")
    return 2


def run(args: argparse.Namespace) -> int:
    """Write the files; exit 2 on a bad namespace or threshold."""
    import math

    from otelsvc._dashboards._generate import NAMESPACE, generate

    namespace = args.namespace
    if namespace is not None and not NAMESPACE.fullmatch(namespace):
        return _bad("--namespace", namespace, "must start with a letter and hold only letters, digits, '_' and '.'")
    if not 0 < args.error_ratio < 1:
        return _bad("--error-ratio", args.error_ratio, "must be between 0 and 1")
    if not (math.isfinite(args.latency) and args.latency > 0):
        return _bad("--latency", args.latency, "must be a number of seconds greater than 0")
    files = generate(namespace, Thresholds(args.error_ratio, args.latency, args.job))
    for relative, text in files.items():
        path = args.out / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    sys.stdout.write(f"wrote {len(files)} files under {args.out}\n")
    return 0
