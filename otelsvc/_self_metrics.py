"""otelsvc's metrics about itself that the shipped alert rules need: push failures and label folds.

``otelsvc.export.failures{pipeline, exporter}`` counts failed OTLP pushes per pipeline (``metrics``,
``spans``), read from the same per-exporter health that /health reports; ``otelsvc.labels.folded``
counts label values folded into ``other`` (see ``instruments._interner``). Both are observable
counters, so nothing is added to the recording or export paths.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from otelsvc.instruments._interner import register_fold_counter

if TYPE_CHECKING:
    from opentelemetry.metrics import Meter

    from otelsvc._guard import ProviderGuard

__all__ = ["register_self_metrics"]

_EXPORTER = {"grpc": "otlp_grpc", "http/protobuf": "otlp_http"}


def _exporter_name(guard: ProviderGuard, pipeline: str) -> str:
    signal = guard.settings.otlp_metrics if pipeline == "metrics" else guard.settings.otlp_traces
    if signal is None:
        return "otlp"
    return _EXPORTER.get(signal.protocol, "otlp")


def register_self_metrics(meter: Meter, guard: ProviderGuard) -> None:
    """Register the export-failure and label-fold counters on ``meter`` (once per guard)."""
    from opentelemetry.metrics import CallbackOptions, Observation

    def observe(options: CallbackOptions) -> list[Observation]:
        return [
            Observation(health.total_failures, {"pipeline": pipeline, "exporter": _exporter_name(guard, pipeline)})
            for pipeline, health in sorted(guard.exporters.items())
        ]

    meter.create_observable_counter(
        "otelsvc.export.failures",
        [observe],
        unit="{export}",
        description="OTLP exports that failed (collector unreachable, refused or timed out), per pipeline",
    )
    register_fold_counter(meter)
