"""Grafana dashboard JSON (schema version pinned) from panels: a Prometheus datasource variable and a job variable."""

from __future__ import annotations

import re
from typing import Any

from otelsvc._dashboards._queries import Panel

__all__ = ["SCHEMA_VERSION", "dashboard"]

# Pinned: 42 is the last schema version of Grafana's v1 dashboard JSON (a later Grafana migrates on load; its
# v43 step, formatTime transformations, changes nothing here).
SCHEMA_VERSION = 42
_DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
_WIDTH, _HEIGHT = 12, 8


def _templating() -> dict[str, Any]:
    return {
        "list": [
            {
                "name": "datasource",
                "label": "Data source",
                "type": "datasource",
                "query": "prometheus",
                "current": {},
                "hide": 0,
                "refresh": 1,
                "regex": "",
                "options": [],
            },
            {
                "name": "job",
                "label": "Job",
                "type": "query",
                "datasource": dict(_DATASOURCE),
                "definition": "label_values(up, job)",
                "query": {"query": "label_values(up, job)", "refId": "PrometheusVariableQueryEditor-VariableQuery"},
                "includeAll": True,
                "allValue": ".*",
                "multi": True,
                "current": {},
                "hide": 0,
                "refresh": 2,
                "regex": "",
                "sort": 1,
                "options": [],
            },
        ]
    }


def _panel(index: int, panel: Panel) -> dict[str, Any]:
    return {
        "id": index + 1,
        "type": "timeseries",
        "title": panel.title,
        "description": panel.description,
        "datasource": dict(_DATASOURCE),
        "gridPos": {"h": _HEIGHT, "w": _WIDTH, "x": (index % 2) * _WIDTH, "y": (index // 2) * _HEIGHT},
        "fieldConfig": {"defaults": {"unit": panel.unit}, "overrides": []},
        "options": {
            "legend": {"displayMode": "list", "placement": "bottom", "showLegend": True},
            "tooltip": {"mode": "multi", "sort": "desc"},
        },
        "targets": [
            {
                "datasource": dict(_DATASOURCE),
                "expr": target.expr,
                "legendFormat": target.legend,
                "refId": chr(ord("A") + n),
                "range": True,
            }
            for n, target in enumerate(panel.targets)
        ],
    }


def uid(name: str, namespace: str | None) -> str:
    """A stable dashboard uid (Grafana allows 40 characters)."""
    raw = f"otelsvc-{namespace}-{name}" if namespace else f"otelsvc-{name}"
    return re.sub(r"[^A-Za-z0-9_-]", "-", raw)[:40]


def dashboard(name: str, title: str, description: str, panels: list[Panel], namespace: str | None) -> dict[str, Any]:
    """One dashboard, importable into Grafana as is."""
    return {
        "annotations": {"list": []},
        "description": description,
        "editable": True,
        "graphTooltip": 1,
        "links": [],
        "panels": [_panel(i, p) for i, p in enumerate(panels)],
        "refresh": "30s",
        "schemaVersion": SCHEMA_VERSION,
        "tags": ["otelsvc", name],
        "templating": _templating(),
        "time": {"from": "now-1h", "to": "now"},
        "timepicker": {},
        "timezone": "browser",
        "title": title,
        "uid": uid(name, namespace),
        "version": 1,
    }
