"""Every generated file, path -> text: a dashboard per family, the HTTP overview and the rules file."""

from __future__ import annotations

import json
import re

from otelsvc._dashboards._grafana import dashboard
from otelsvc._dashboards._http_overview import http_overview_panels
from otelsvc._dashboards._queries import family_panels
from otelsvc._dashboards._rules import rules_file
from otelsvc._dashboards._self_panels import self_panels
from otelsvc._dashboards._thresholds import Thresholds
from otelsvc.instruments import FAMILIES

__all__ = ["NAMESPACE", "RULES_PATH", "generate"]

RULES_PATH = "prometheus/otelsvc-rules.yml"
NAMESPACE = re.compile(r"[A-Za-z][A-Za-z0-9_.]*")


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
    files["grafana/otelsvc.json"] = _json(
        dashboard(
            "otelsvc",
            "otelsvc / self",
            "otelsvc's own counters behind the shipped alerts: push failures, dropped spans, label folds, targets up",
            self_panels(),
            namespace,
        )
    )
    files[RULES_PATH] = rules_file(namespace, thresholds or Thresholds())
    return files
