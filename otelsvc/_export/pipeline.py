"""Export pipelines: one object per pushed signal, which the guard loops over for every lifecycle step.

A pipeline owns its exporter, its health and whatever it adds to the providers (a metric reader,
a span processor). Adding an exporter means one module implementing ``Pipeline`` and one entry
in ``PIPELINES``; the guard, /health and /metadata need no change.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Literal, Protocol

if TYPE_CHECKING:
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import MetricReader
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider

    from otelsvc._bridge import Bridge
    from otelsvc._config import Settings
    from otelsvc._serving.health import ExporterHealth

__all__ = ["PIPELINES", "Pipeline", "Signal", "build_pipelines"]

Signal = Literal["metrics", "spans", "logs"]


class Pipeline(Protocol):
    """One pushed signal, from the providers to its exporter."""

    signal: Signal
    """The provider it hangs off, and its name on /health and /metadata."""
    component: str
    """How log lines name it, e.g. ``metrics push (OTLP grpc)``."""

    @property
    def health(self) -> ExporterHealth:
        """Its exporter's health, as /health reports it (a new one in a forked child)."""
        ...

    def metric_readers(self) -> Sequence[MetricReader]:
        """Readers to give the MeterProvider (built before it)."""
        ...

    def attach(self, meter_provider: MeterProvider, tracer_provider: TracerProvider, logger_provider: Any) -> None:
        """Hook into the providers once they exist (span and log processors, self-metrics); ``logger_provider``
        is None when the SDK's logs module failed its check."""
        ...

    def metadata(self) -> dict[str, Any]:
        """What /metadata shows for it (endpoint, protocol; never secrets)."""
        ...

    def pending(self) -> int:
        """Items accepted but not yet delivered (0 when it does not buffer)."""
        ...

    def abort(self) -> None:
        """Give up on an export in flight (shutdown past its deadline)."""
        ...

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Wait until no export is in flight; False when one still is after ``timeout`` seconds."""
        ...

    def after_fork(self, resource: Resource | None) -> None:
        """In a forked child: fresh health and exporter; ``resource`` when spans must be rewritten to it."""
        ...


def _metrics_push(settings: Settings, bridge: Bridge) -> Pipeline | None:
    from otelsvc._export.metrics_push import MetricsPush

    return MetricsPush(settings, bridge) if settings.otlp_metrics is not None else None


def _spans_push(settings: Settings, bridge: Bridge) -> Pipeline | None:
    from otelsvc._export.spans_push import SpansPush

    return SpansPush(settings) if settings.otlp_traces is not None else None


def _logs_push(settings: Settings, bridge: Bridge) -> Pipeline | None:
    from otelsvc._export.logs_push import LogsPush

    return LogsPush(settings) if settings.otlp_logs is not None else None


# Every pipeline otelsvc knows; each returns None when the settings leave it off.
PIPELINES: tuple[Callable[[Settings, Bridge], Pipeline | None], ...] = (_metrics_push, _spans_push, _logs_push)


def build_pipelines(settings: Settings, bridge: Bridge) -> list[Pipeline]:
    """The pipelines these settings turn on, in registration order."""
    return [p for p in (make(settings, bridge) for make in PIPELINES) if p is not None]
