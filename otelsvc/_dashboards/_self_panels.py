"""The otelsvc dashboard: otelsvc's own counters behind the alerts (push failures, dropped spans, label folds)."""

from __future__ import annotations

from otelsvc._dashboards._queries import JOB, RATE_INTERVAL, Panel, Target
from otelsvc._exposition import prometheus_name

__all__ = ["EXPORT_FAILURES", "LABELS_FOLDED", "SPANS_DROPPED", "self_panels"]

EXPORT_FAILURES = prometheus_name("otelsvc.export.failures", "{export}", "counter")
SPANS_DROPPED = prometheus_name("otelsvc.spans.dropped", "{span}", "counter")
LABELS_FOLDED = prometheus_name("otelsvc.labels.folded", "{value}", "counter")


def _rate(name: str, by: str) -> str:
    grouping = f" by ({by})" if by else ""
    return f"sum{grouping} (rate({name}{JOB}[{RATE_INTERVAL}]))"


def self_panels() -> list[Panel]:
    return [
        Panel(
            "OTLP export failures per second",
            "Failed pushes per pipeline (OtelsvcExportFailing)",
            "ops",
            (Target(_rate(EXPORT_FAILURES, "pipeline, exporter"), "{{pipeline}} {{exporter}}"),),
        ),
        Panel(
            "Spans dropped per second",
            "Spans lost when the retry buffer was full (OtelsvcSpansDropped)",
            "ops",
            (Target(_rate(SPANS_DROPPED, "job"), "{{job}}"),),
        ),
        Panel(
            "Label values folded into other per second",
            "Lookups of a new value after the label reached its cap (OtelsvcLabelValuesFolded)",
            "ops",
            (Target(_rate(LABELS_FOLDED, "label"), "{{label}}"),),
        ),
        Panel(
            "Targets up",
            "Scrapes answered (OtelsvcInstanceDown)",
            "short",
            (Target(f"sum by (job) (up{JOB})", "{{job}}"),),
        ),
    ]
