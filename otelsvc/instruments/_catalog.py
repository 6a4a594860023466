"""``otelsvc catalog``: the instrument families rendered from their declarations.

Markdown (one section per family, the docs pages under docs/instruments are these sections) or
JSON. Run ``python -m otelsvc.instruments._catalog --write-docs docs/instruments`` to regenerate
the docs pages.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from otelsvc._exposition import prometheus_name
from otelsvc.instruments import FAMILIES
from otelsvc.instruments._spec import Family, Label, MetricSpec

__all__ = ["HELP", "catalog_json", "catalog_markdown", "configure", "family_markdown", "main", "run"]

HELP = "print the instrument families: every metric with its kind, unit, labels, buckets and Prometheus name"

_KIND = {"counter": "counter", "updowncounter": "up-down counter", "gauge": "gauge", "histogram": "histogram"}


def _label_text(label: Label) -> str:
    if label.values is not None:
        shown = [v if v else '""' for v in label.values]
        return f"`{label.name}` ∈ {', '.join(shown)}"
    return f"`{label.name}` (interned)"


def _prom(spec: MetricSpec) -> str:
    return prometheus_name(spec.name, spec.unit, spec.kind)


def family_markdown(family: Family) -> str:
    """One family as a markdown section."""
    lines = [f"## {family.name}", "", family.description, ""]
    if family.origin:
        lines += [f"Origin: {family.origin}", ""]
    lines.append(f"Namespace prefix: {'applies' if family.namespaced else 'never applies'}.")
    lines += ["", "| OTel name | kind | unit | labels | buckets | Prometheus name |", "|---|---|---|---|---|---|"]
    for spec in family.metrics:
        labels = "; ".join(_label_text(label) for label in spec.labels) or "—"
        legacy = " (legacy)" if spec.legacy else ""
        lines.append(
            f"| `{spec.name}`{legacy} | {_KIND[spec.kind]} | `{spec.unit or '1'}` | {labels} | "
            f"{spec.buckets or ''} | `{_prom(spec)}` |"
        )
    for note in family.notes:
        lines += ["", note]
    return "\n".join(lines) + "\n"


def catalog_markdown() -> str:
    """Every family, as markdown, with the bucket sets at the end."""
    from otelsvc.instruments._buckets import BUCKETS

    parts = ["# otelsvc instrument catalog", ""]
    parts += [family_markdown(f) for f in FAMILIES]
    parts += ["## Buckets", ""]
    parts += [f"- {name}: {', '.join(str(b) for b in bounds)}" for name, bounds in BUCKETS.items()]
    return "\n".join(parts) + "\n"


def _spec_json(spec: MetricSpec) -> dict[str, Any]:
    return {
        "name": spec.name,
        "kind": spec.kind,
        "unit": spec.unit,
        "description": spec.description,
        "labels": [
            {"name": label.name, "values": list(label.values) if label.values is not None else None,
             "interned": label.interned}
            for label in spec.labels
        ],
        "buckets": spec.buckets,
        "bounds": list(spec.bounds) if spec.bounds is not None else None,
        "legacy": spec.legacy,
        "prometheus_name": _prom(spec),
    }


def catalog_json() -> str:
    """Every family as JSON (stable key order, for snapshots and tooling)."""
    payload = [
        {"family": f.name, "namespaced": f.namespaced, "description": f.description,
         "metrics": [_spec_json(s) for s in f.metrics]}
        for f in FAMILIES
    ]
    return json.dumps(payload, indent=2, sort_keys=True) + "\n"


def configure(parser: argparse.ArgumentParser) -> None:
    """The flags of ``otelsvc catalog``."""
    parser.add_argument("--format", choices=["markdown", "json"], default="markdown",
                        help="markdown (as in docs/instruments) or json, for tooling (default: markdown)")


def run(args: argparse.Namespace) -> int:
    """``otelsvc catalog``: print the catalog."""
    sys.stdout.write(catalog_json() if args.format == "json" else catalog_markdown())
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(description="Write the docs pages of the instrument families.")
    parser.add_argument("--write-docs", type=Path, required=True)
    args = parser.parse_args()
    args.write_docs.mkdir(parents=True, exist_ok=True)
    for family in FAMILIES:
        (args.write_docs / f"{family.name}.md").write_text(family_markdown(family))


if __name__ == "__main__":
    main()
