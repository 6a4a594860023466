"""``otelsvc dashboards``: Grafana dashboards and Prometheus rules generated from the instrument catalog.

``generate()`` returns the files (path relative to the output directory -> text): one dashboard
per family under ``grafana/``, the HTTP overview, and ``prometheus/otelsvc-rules.yml``. The files
for the shipped families, without a namespace, are committed under ``dashboards/`` at the repo root.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from pathlib import Path

from otelsvc._dashboards._grafana import dashboard
from otelsvc._dashboards._http_overview import http_overview_panels
from otelsvc._dashboards._queries import family_panels
from otelsvc._dashboards._rules import Thresholds, rules_file
from otelsvc.instruments import FAMILIES

__all__ = ["RULES_PATH", "Thresholds", "generate", "register", "run_dashboards"]

RULES_PATH = "prometheus/otelsvc-rules.yml"
_NAMESPACE = re.compile(r"[A-Za-z][A-Za-z0-9_.]*")


def _json(payload: object) -> str:
    return json.dumps(payload, indent=2, sort_keys=True) + "\n"


def generate(namespace: str | None = None, thresholds: Thresholds | None = None) -> dict[str, str]:
    """Every generated file, keyed by its path under the output directory."""
    files = {
        "grafana/http-overview.json": _json(
            dashboard(
                "http-overview",
                "otelsvc / HTTP overview",
                "Request rate, 5xx ratio and duration quantiles per route (OTel semantic-convention HTTP metrics)",
                http_overview_panels(),
                namespace,
            )
        ),
    }
    for family in FAMILIES:
        title = f"otelsvc / {family.name}" + (f" ({namespace})" if namespace and family.namespaced else "")
        files[f"grafana/{family.name}.json"] = _json(
            dashboard(family.name, title, family.description, family_panels(family, namespace), namespace)
        )
    files[RULES_PATH] = rules_file(namespace, thresholds or Thresholds())
    return files


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``otelsvc dashboards`` to the command's subparsers (``args.run`` runs it)."""
    parser = sub.add_parser(
        "dashboards",
        help="write Grafana dashboards and Prometheus rules for the families",
        description="Write a Grafana dashboard per instrument family, an HTTP overview and a "
        "Prometheus rules file (recording rules and alerts).",
    )
    parser.set_defaults(run=run_dashboards)
    parser.add_argument(
        "--out",
        type=Path,
        required=True,
        metavar="DIR",
        help="directory to write grafana/*.json and prometheus/otelsvc-rules.yml into",
    )
    parser.add_argument(
        "--namespace",
        default=os.environ.get("OTELSVC_NAMESPACE") or None,
        help="the namespace the service was started with (default: $OTELSVC_NAMESPACE, else none)",
    )
    parser.add_argument(
        "--error-ratio",
        type=float,
        default=Thresholds.error_ratio,
        metavar="RATIO",
        help="5xx share of requests that fires the error alert (default: %(default)s)",
    )
    parser.add_argument(
        "--latency",
        type=float,
        default=Thresholds.latency_p95,
        metavar="SECONDS",
        help="p95 request duration that fires the latency alert (default: %(default)s)",
    )
    parser.add_argument(
        "--job",
        default=Thresholds.job,
        metavar="REGEX",
        help="Prometheus jobs the instance-down alert watches (default: %(default)s)",
    )


def run_dashboards(args: argparse.Namespace) -> int:
    """Write the files; exit 2 on a bad namespace or threshold."""
    namespace = args.namespace
    if namespace is not None and not _NAMESPACE.fullmatch(namespace):
        sys.stderr.write(
            f"otelsvc dashboards: --namespace={namespace!r} must start with a letter and hold only "
            "letters, digits, '_' and '.'\n"
        )
        return 2
    if not 0 < args.error_ratio < 1:
        sys.stderr.write(f"otelsvc dashboards: --error-ratio={args.error_ratio!r} must be between 0 and 1\n")
        return 2
    if not args.latency > 0:
        sys.stderr.write(f"otelsvc dashboards: --latency={args.latency!r} must be positive\n")
        return 2
    files = generate(namespace, Thresholds(args.error_ratio, args.latency, args.job))
    for relative, text in files.items():
        path = args.out / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    sys.stdout.write(f"wrote {len(files)} files under {args.out}\n")
    return 0
