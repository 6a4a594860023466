"""OTLP exporters, built lazily (gRPC loads only when used), behind proxies that keep health.

The proxies turn exceptions into failed results, record each outcome for /health, log the first
failure and the recovery on ``otelsvc`` (with rate-limited reminders between), can abandon an
export that hangs at shutdown, and can rebuild their exporter in a forked child, whose inherited
gRPC channel is not usable.
"""

from __future__ import annotations

import contextlib
import inspect
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

from opentelemetry.metrics import NoOpMeterProvider
from opentelemetry.sdk.metrics import Counter, Histogram, ObservableCounter
from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    MetricExporter,
    MetricExportResult,
    MetricsData,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from otelsvc._config import OtlpSignal
from otelsvc._log_bridge import export_thread
from otelsvc._logging import logger
from otelsvc._redact import redact_text
from otelsvc._sdk_env import otlp_variables_hidden
from otelsvc._sdk_internals import instrument_classes
from otelsvc._serving.health import ExporterHealth

__all__ = [
    "BufferedPushProxy",
    "MetricPushProxy",
    "SpanPushProxy",
    "build_log_exporter",
    "build_metric_exporter",
    "build_span_exporter",
    "histogram_aggregation",
    "log_push_proxy",
    "temporalities",
]

_REMIND_EVERY = 300.0
_D = AggregationTemporality.DELTA
_C = AggregationTemporality.CUMULATIVE


def temporalities(preference: str) -> dict[type, AggregationTemporality]:
    """The OTLP temporality preference as the SDK's per-instrument mapping."""
    table: dict[type, AggregationTemporality] = dict.fromkeys(instrument_classes(), _C)
    if preference == "delta":
        table.update({Counter: _D, Histogram: _D, ObservableCounter: _D})
    elif preference == "lowmemory":
        table.update({Counter: _D, Histogram: _D})
    return table


def _no_self_metrics(exporter_class: Any) -> dict[str, Any]:
    """Keep the exporter's own metrics off the global MeterProvider (exporters take ``meter_provider``
    from SDK 1.40 on; 1.39's have no self-metrics)."""
    if "meter_provider" in inspect.signature(exporter_class.__init__).parameters:
        return {"meter_provider": NoOpMeterProvider()}
    return {}


def _grpc_kwargs(sig: OtlpSignal) -> dict[str, Any]:
    import grpc  # type: ignore[import-untyped]

    kwargs: dict[str, Any] = {
        "endpoint": sig.endpoint,
        "headers": dict(sig.headers),
        "timeout": sig.timeout,
        "compression": grpc.Compression.Gzip if sig.compression == "gzip" else grpc.Compression.NoCompression,
    }
    # Settings consumed explicitly (the SDK would otherwise consult the variables itself).
    kwargs["insecure"] = sig.insecure if sig.insecure is not None else sig.endpoint.startswith("http://")
    if sig.certificate or sig.client_key:

        def read(path: str | None) -> bytes | None:
            if path is None:
                return None
            with open(path, "rb") as fh:
                return fh.read()

        kwargs["credentials"] = grpc.ssl_channel_credentials(
            read(sig.certificate), read(sig.client_key), read(sig.client_certificate)
        )
        kwargs["insecure"] = False
    return kwargs


def _http_kwargs(sig: OtlpSignal) -> dict[str, Any]:
    from opentelemetry.exporter.otlp.proto.http import Compression

    compression = {"gzip": Compression.Gzip, "deflate": Compression.Deflate}.get(
        sig.compression or "", Compression.NoCompression
    )
    return {
        "endpoint": sig.endpoint,
        "headers": dict(sig.headers),
        "timeout": sig.timeout,
        "compression": compression,
        "certificate_file": sig.certificate,
        "client_key_file": sig.client_key,
        "client_certificate_file": sig.client_certificate,
    }


def histogram_aggregation(kind: str) -> dict[type, Any]:
    """The OTLP reader's preferred histogram aggregation (the Prometheus reader keeps explicit buckets)."""
    from opentelemetry.sdk.metrics.view import (
        ExplicitBucketHistogramAggregation,
        ExponentialBucketHistogramAggregation,
    )

    aggregation: Any = (
        ExponentialBucketHistogramAggregation() if kind == "exponential" else ExplicitBucketHistogramAggregation()
    )
    return {Histogram: aggregation}


def _build(sig: OtlpSignal, module: str, class_name: str, **common: Any) -> Any:
    """A fresh SDK OTLP exporter (``module`` under the gRPC or HTTP package, by the signal's protocol),
    built with otelsvc's parsed settings while the OTLP variables are hidden from it."""
    import importlib

    grpc = sig.protocol == "grpc"
    package = "opentelemetry.exporter.otlp.proto." + ("grpc." if grpc else "http.")
    cls = getattr(importlib.import_module(package + module), class_name)
    kwargs = _grpc_kwargs(sig) if grpc else _http_kwargs(sig)
    with otlp_variables_hidden():
        return cls(**common, **kwargs, **_no_self_metrics(cls))


def build_metric_exporter(
    sig: OtlpSignal, preference: str, histogram: str = "explicit", direct: bool = False
) -> MetricExporter:
    """A fresh OTLP metric exporter for this signal's protocol: otelsvc's own (``direct``, see
    ``otlp_metric_exporter``) when the settings allow it, else the SDK's."""
    if direct and sig.protocol in ("grpc", "http/protobuf"):
        from otelsvc._export.otlp_metric_exporter import DirectMetricExporter, build_transport

        transport = build_transport(
            sig.protocol,
            sig.endpoint,
            dict(sig.headers),
            sig.compression,
            sig.insecure,
            sig.certificate,
            sig.client_key,
            sig.client_certificate,
        )
        return DirectMetricExporter(
            transport,
            timeout=sig.timeout,
            preferred_temporality=temporalities(preference),
            preferred_aggregation=histogram_aggregation(histogram),
        )
    exporter: MetricExporter = _build(
        sig,
        "metric_exporter",
        "OTLPMetricExporter",
        preferred_temporality=temporalities(preference),
        preferred_aggregation=histogram_aggregation(histogram),
    )
    return exporter


def build_span_exporter(sig: OtlpSignal) -> SpanExporter:
    """A fresh OTLP span exporter for this signal's protocol."""
    exporter: SpanExporter = _build(sig, "trace_exporter", "OTLPSpanExporter")
    return exporter


class _Outcomes:
    """Shared bookkeeping: health, and the log lines for first failure, reminders and recovery."""

    def __init__(self, component: str, health: ExporterHealth) -> None:
        self.component = component
        self.health = health
        self._last_log = 0.0

    def ok(self) -> None:
        streak = self.health.success()
        if streak:
            logger.info(
                "otelsvc: %s to %s recovered after %d failed exports", self.component, self.health.endpoint, streak
            )

    def failed(self, error: str) -> None:
        error = redact_text(error)
        streak = self.health.failure(error)
        now = time.monotonic()
        if streak == 1 or now - self._last_log >= _REMIND_EVERY:
            self._last_log = now
            logger.warning(
                "otelsvc: %s to %s failed (%s); %d failure(s) in a row, retrying at each interval",
                self.component,
                self.health.endpoint,
                error,
                streak,
            )


class _Lazy:
    """Builds the real exporter on first use (a forked child must not build gRPC state at fork time)."""

    def __init__(self, factory: Callable[[], Any]) -> None:
        self._factory = factory
        self._real: Any = None

    def real(self) -> Any:
        """The exporter, built now if it was not yet."""
        if self._real is None:
            self._real = self._factory()
        return self._real

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real(), name)


class MetricPushProxy(MetricExporter):
    """The OTLP metric exporter as the periodic reader sees it, with health and bounded shutdown."""

    def __init__(
        self,
        factory: Callable[[], MetricExporter],
        component: str,
        health: ExporterHealth,
        preferred_temporality: dict[type, AggregationTemporality],
        preferred_aggregation: dict[type, Any],
    ) -> None:
        self._factory = factory
        self._inner = factory()
        super().__init__(preferred_temporality=preferred_temporality, preferred_aggregation=preferred_aggregation)
        self._outcomes = _Outcomes(component, health)
        self._aborted = False
        self._idle = threading.Condition()
        self._in_flight = 0

    def export(self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any) -> MetricExportResult:
        if self._aborted:
            return MetricExportResult.FAILURE
        with self._idle:
            self._in_flight += 1
        try:
            with export_thread():
                return self._export(metrics_data, timeout_millis)
        finally:
            with self._idle:
                self._in_flight -= 1
                self._idle.notify_all()

    def _export(self, metrics_data: MetricsData, timeout_millis: float) -> MetricExportResult:
        try:
            result = self._inner.export(metrics_data, timeout_millis=timeout_millis)
        except Exception as exc:
            self._outcomes.failed(f"{type(exc).__name__}: {exc}")
            return MetricExportResult.FAILURE
        if result == MetricExportResult.SUCCESS:
            self._outcomes.ok()
        else:
            self._outcomes.failed("export failed (collector unreachable or refused the data)")
        return result

    @property
    def inner(self) -> MetricExporter:
        """The exporter doing the work (built now if a forked child had not yet)."""
        inner: Any = self._inner
        real: MetricExporter = inner.real() if isinstance(inner, _Lazy) else inner
        return real

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Wait until no export is in flight (the reader's shutdown may return while one still is)."""
        with self._idle:
            return self._idle.wait_for(lambda: self._in_flight == 0, timeout)

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        return True

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        self.abort()

    def abort(self) -> None:
        """Stop any retry loop and close the channel; an export in flight fails soon after."""
        if self._aborted:
            return
        self._aborted = True
        with contextlib.suppress(Exception):
            self._inner.shutdown(timeout_millis=0)

    def renew(self, health: ExporterHealth) -> None:
        """A new exporter (a new channel) and health for a forked child, the exporter built at its first export."""
        self._outcomes.health = health
        self._idle = threading.Condition()
        self._in_flight = 0
        self._inner = _Lazy(self._factory)  # type: ignore[assignment]
        self._aborted = False


class BufferedPushProxy:
    """An OTLP exporter behind a bounded buffer: items of a failed export are retried later.

    The SDK's batch processors drop a batch whose export failed. Here a failed batch waits in a
    buffer of ``buffer_size`` items and goes out ahead of the next batch, or on its own after a
    back-off (a batch processor calls export only when it has new items); past the bound the
    oldest are dropped and counted (``ExporterHealth.dropped``). Spans and log records share it.
    """

    SUCCESS: Any
    FAILURE: Any

    def __init__(
        self,
        factory: Callable[[], Any],
        component: str,
        health: ExporterHealth,
        buffer_size: int,
        retry_delay: float = 1.0,
    ) -> None:
        self._factory = factory
        self._inner = factory()
        self._outcomes = _Outcomes(component, health)
        self._health = health
        self._buffer: deque[Any] = deque()
        self._buffer_size = buffer_size
        self._lock = threading.Lock()
        self._export_lock = threading.Lock()
        self._aborted = False
        self._retry_delay = max(0.05, retry_delay)
        self._timer: threading.Timer | None = None

    def _send(self, batch: list[Any]) -> Any:
        return self._inner.export(batch)

    def export(self, batch: Sequence[Any]) -> Any:
        with self._export_lock, export_thread():
            with self._lock:
                items = [*self._buffer, *batch]
                self._buffer.clear()
            if not items:
                return self.SUCCESS
            if self._aborted:
                self._keep(items)
                return self.FAILURE
            try:
                result = self._send(items)
            except Exception as exc:
                result = self.FAILURE
                self._outcomes.failed(f"{type(exc).__name__}: {exc}")
            else:
                if result == self.SUCCESS:
                    self._outcomes.ok()
                else:
                    self._outcomes.failed("export failed (collector unreachable or refused the data)")
            if result != self.SUCCESS:
                self._keep(items)
        if result != self.SUCCESS:
            self._schedule_retry()
        return result

    def _schedule_retry(self) -> None:
        with self._lock:
            if self._timer is not None or self._aborted or not self._buffer:
                return
            streak = min(self._health.consecutive_failures, 6)
            timer = self._timer = threading.Timer(min(self._retry_delay * 2**streak, 30.0), self._retry)
            timer.daemon = True
        timer.start()

    def _retry(self) -> None:
        with self._lock:
            self._timer = None
        if self._buffer and not self._aborted:
            self.export([])

    def _keep(self, batch: list[Any]) -> None:
        with self._lock:
            self._buffer.extendleft(reversed(batch))
            overflow = len(self._buffer) - self._buffer_size
            for _ in range(max(0, overflow)):
                self._buffer.popleft()
            if overflow > 0:
                self._health.dropped += overflow

    @property
    def health(self) -> ExporterHealth:
        """The health this exporter reports to (a new one after ``renew``)."""
        return self._health

    def pending(self) -> int:
        """Items waiting in the retry buffer."""
        return len(self._buffer)

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Wait until no export is in flight."""
        if not self._export_lock.acquire(timeout=-1 if timeout is None else timeout):
            return False
        self._export_lock.release()
        return True

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        if not self._buffer or self._aborted:
            return not self._buffer
        return bool(self.export([]) == self.SUCCESS)

    def shutdown(self) -> None:
        self.abort()

    def abort(self) -> None:
        if self._aborted:
            return
        self._aborted = True
        with self._lock:
            timer, self._timer = self._timer, None
        if timer is not None:
            timer.cancel()
        with contextlib.suppress(Exception):
            self._inner.shutdown()

    def renew(self, health: ExporterHealth) -> None:
        """A new exporter and health for a forked child, the exporter built at its first export."""
        self._outcomes.health = self._health = health
        self._timer = None
        self._lock = threading.Lock()
        self._export_lock = threading.Lock()
        self._inner = _Lazy(self._factory)
        self._aborted = False
        with self._lock:
            self._buffer.clear()


class SpanPushProxy(BufferedPushProxy, SpanExporter):
    """The OTLP span exporter behind the retry buffer."""

    SUCCESS = SpanExportResult.SUCCESS
    FAILURE = SpanExportResult.FAILURE

    def __init__(
        self,
        factory: Callable[[], SpanExporter],
        component: str,
        health: ExporterHealth,
        buffer_size: int,
        retry_delay: float = 1.0,
    ) -> None:
        super().__init__(factory, component, health, buffer_size, retry_delay)
        self.resource: Resource | None = None  # set in a forked child whose TracerProvider kept the old one

    def _send(self, batch: list[Any]) -> Any:
        return self._inner.export(batch if self.resource is None else _with_resource(batch, self.resource))


def log_push_proxy(
    factory: Callable[[], Any], component: str, health: ExporterHealth, buffer_size: int, retry_delay: float = 1.0
) -> BufferedPushProxy:
    """The OTLP log record exporter behind the retry buffer (a LogRecordExporter of the installed SDK)."""
    from otelsvc._sdk_internals import logs_sdk

    sdk = logs_sdk()

    class LogPushProxy(BufferedPushProxy, sdk.LogRecordExporter):  # type: ignore[misc,name-defined]
        SUCCESS = sdk.LogRecordExportResult.SUCCESS
        FAILURE = sdk.LogRecordExportResult.FAILURE

    return LogPushProxy(factory, component, health, buffer_size, retry_delay)


def build_log_exporter(sig: OtlpSignal) -> Any:
    """A fresh OTLP log record exporter for this signal's protocol."""
    return _build(sig, "_log_exporter", "OTLPLogExporter")


def _with_resource(spans: Sequence[ReadableSpan], resource: Resource) -> list[ReadableSpan]:
    """Copies of ``spans`` under ``resource`` (the public-API path when the SDK's resource cannot be replaced)."""
    return [
        ReadableSpan(
            name=span.name,
            context=span.context,
            parent=span.parent,
            resource=span.resource.merge(resource),
            attributes=span.attributes,
            events=span.events,
            links=span.links,
            kind=span.kind,
            status=span.status,
            start_time=span.start_time,
            end_time=span.end_time,
            instrumentation_scope=span.instrumentation_scope,
        )
        for span in spans
    ]
