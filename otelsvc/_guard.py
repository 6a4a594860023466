"""``otelsvc.start()`` and the ProviderGuard it returns: providers, readers, server and teardown."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any

from opentelemetry.metrics import Meter, MeterProvider, NoOpMeterProvider
from opentelemetry.sdk.metrics.export import MetricReader, PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource

from otelsvc import _process_hooks
from otelsvc._bridge import Bridge, HandleInstrument
from otelsvc._config import Settings
from otelsvc._errors import ConfigError, SettingProblem
from otelsvc._handles import CounterHandle, GaugeHandle, HistogramHandle, UpDownCounterHandle
from otelsvc._health import ExporterHealth, Lifecycle
from otelsvc._logging import logger, route_sdk_logs, unroute_sdk_logs
from otelsvc._prefork import Role
from otelsvc._resource import build_resource, child_instance_id
from otelsvc._sdk_internals import (
    global_meter_provider_is_set,
    global_tracer_provider_is_set,
    reset_meter_provider_after_fork,
    set_meter_provider_resource,
    set_tracer_provider_resource,
)
from otelsvc._teardown import Step, run_steps
from otelsvc._version import __version__

if TYPE_CHECKING:
    from opentelemetry.trace import Tracer, TracerProvider

    from otelsvc._exporters import MetricPushProxy, SpanPushProxy
    from otelsvc._prometheus import PrometheusReader
    from otelsvc._server import TelemetryServer

__all__ = ["ProviderGuard"]


def _sampler(settings: Settings) -> Any:
    from opentelemetry.sdk.trace import sampling

    arg = 1.0 if settings.sampler_arg is None else settings.sampler_arg
    root = {
        "always_on": sampling.ALWAYS_ON,
        "always_off": sampling.ALWAYS_OFF,
        "traceidratio": sampling.TraceIdRatioBased(arg),
    }
    name = settings.sampler
    if name.startswith("parentbased_"):
        return sampling.ParentBased(root[name.removeprefix("parentbased_")])
    return root[name]


class ProviderGuard:
    """Owns one set of providers, readers, exporters and the telemetry server, and tears them down.

    Use ``otelsvc.start()`` to make one. It is a context manager; ``shutdown()`` is idempotent,
    thread-safe, never raises and returns within its timeout.
    """

    def __init__(self, settings: Settings, extra_readers: Sequence[MetricReader] = ()) -> None:
        self.settings = settings
        self.lifecycle = Lifecycle()
        self.bridge = Bridge(max_series=settings.cardinality_limit)
        self.exporters: dict[str, ExporterHealth] = {}
        self.families: set[str] = set()
        self._metric_proxy: MetricPushProxy | None = None
        self._span_proxy: SpanPushProxy | None = None
        self._prometheus: PrometheusReader | None = None
        self._server: TelemetryServer | None = None
        self._shutdown_lock = threading.Lock()
        self._result: bool | None = None
        from otelsvc._routes import TelemetryRoutes

        self.routes = TelemetryRoutes(self, settings.metrics_token)
        self.disabled = settings.sdk_disabled
        self.resource: Resource = Resource.get_empty()
        self._prefork = Role()
        if self.disabled:
            from opentelemetry.trace import NoOpTracerProvider

            self.meter_provider: MeterProvider = NoOpMeterProvider()
            self.tracer_provider: TracerProvider = NoOpTracerProvider()
            self.lifecycle.set("ok")
            return
        from otelsvc import _prefork

        self._prefork = _prefork.plan(settings)  # pre-fork servers: serve here, or publish to the one that does
        if settings.prometheus is not None and settings.builtin_server and self._prefork.serves:
            from otelsvc._server import TelemetryServer

            host, port = settings.prometheus
            try:
                self._server = TelemetryServer(
                    host,
                    port,
                    self.routes.handle,
                    max_connections=settings.max_connections,
                    max_header_bytes=settings.max_header_bytes,
                    read_timeout=settings.read_timeout,
                    certfile=settings.tls_certfile,
                    keyfile=settings.tls_keyfile,
                )
            except OSError as exc:
                sibling = _prefork.on_address_in_use(settings)
                if sibling is None:
                    raise ConfigError(
                        [SettingProblem("prometheus", f"{host}:{port}", f"cannot listen there: {exc.strerror or exc}")]
                    ) from None
                self._prefork = sibling
        try:
            self._build(settings, extra_readers)
            self._prefork.attach(self)
        except BaseException:
            self._prefork.close()
            if self._server is not None:
                self._server.close()
            raise
        route_sdk_logs()
        _process_hooks.register(self)
        if self._server is not None:
            self._server.start()
        self.lifecycle.set("ok")

    def _build(self, settings: Settings, extra_readers: Sequence[MetricReader]) -> None:
        from opentelemetry.sdk.trace import TracerProvider as SdkTracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        from otelsvc._api_fast import FastMeterProvider
        from otelsvc._exporters import MetricPushProxy, SpanPushProxy, build_metric_exporter, build_span_exporter
        from otelsvc._from_settings import console_metric_reader, console_span_processor, exemplar_filter, span_limits
        from otelsvc._prometheus import PrometheusReader

        self.resource = build_resource(settings)
        self.bridge.resource = self.resource
        readers: list[MetricReader] = []
        if settings.prometheus is not None:
            self._prometheus = PrometheusReader(self.bridge, settings.cardinality_limit)
            readers.append(self._prometheus)
        if settings.otlp_metrics is not None:
            sig = settings.otlp_metrics
            component = f"metrics push (OTLP {sig.protocol})"
            health = self.exporters["metrics"] = ExporterHealth("metrics", sig.endpoint)
            self._metric_proxy = MetricPushProxy(
                lambda: build_metric_exporter(sig, settings.temporality, settings.otlp_histogram_aggregation),
                component,
                health,
            )
            from otelsvc._delta_carry import carry_failed_deltas
            from otelsvc._prometheus import _CLASSES

            readers.append(
                PeriodicExportingMetricReader(
                    _process_hooks.QuietChildExporter(carry_failed_deltas(self._metric_proxy, settings.temporality)),
                    export_interval_millis=settings.export_interval * 1000,
                    export_timeout_millis=settings.export_timeout * 1000,
                    cardinality_limits={cls: settings.cardinality_limit for cls in _CLASSES},
                )
            )
        readers.extend(extra_readers)
        console_reader = console_metric_reader(settings)
        if console_reader is not None:
            readers.append(console_reader)
        self._readers = readers
        provider = FastMeterProvider(metric_readers=readers, resource=self.resource, shutdown_on_exit=False,
                                     exemplar_filter=exemplar_filter(settings), bridge=self.bridge)
        self.bridge.producers.append(provider.otelsvc_fast)
        for reader in readers:
            self.bridge.attach(reader)
        self.meter_provider = provider
        tracer_provider = SdkTracerProvider(resource=self.resource, sampler=_sampler(settings), shutdown_on_exit=False,
                                            span_limits=span_limits(settings))
        if settings.otlp_traces is not None:
            tsig = settings.otlp_traces
            health = self.exporters["spans"] = ExporterHealth("spans", tsig.endpoint)
            self._span_proxy = SpanPushProxy(
                lambda: build_span_exporter(tsig), f"span export (OTLP {tsig.protocol})", health,
                settings.span_buffer_size,
                retry_delay=settings.bsp_schedule_delay,
            )
            tracer_provider.add_span_processor(
                BatchSpanProcessor(
                    self._span_proxy,
                    max_queue_size=settings.bsp_max_queue_size,
                    schedule_delay_millis=settings.bsp_schedule_delay * 1000,
                    max_export_batch_size=settings.bsp_max_export_batch_size,
                    export_timeout_millis=settings.bsp_export_timeout * 1000,
                )
            )
        console_spans = console_span_processor(settings)
        if console_spans is not None:
            tracer_provider.add_span_processor(console_spans)
        self.tracer_provider = tracer_provider
        if self._span_proxy is not None:
            self._register_span_drop_metric(provider)
        if settings.runtime_metrics:
            from otelsvc._runtime import register_runtime_metrics

            register_runtime_metrics(provider.get_meter("otelsvc.runtime", __version__))
        if settings.set_global:
            self._become_global()

    def _register_span_drop_metric(self, provider: Any) -> None:
        """``otelsvc.spans.dropped``: spans lost when the retry buffer was full (also on /health)."""
        from opentelemetry.metrics import CallbackOptions, Observation

        def observe(options: CallbackOptions) -> list[Observation]:
            health = self.exporters.get("spans")
            return [Observation(health.dropped if health is not None else 0)]

        provider.get_meter("otelsvc", __version__).create_observable_counter(
            "otelsvc.spans.dropped", [observe], unit="{span}",
            description="Spans dropped because the collector was away longer than the retry buffer holds",
        )

    def _become_global(self) -> None:
        from opentelemetry import metrics as metrics_api
        from opentelemetry import trace as trace_api

        if global_meter_provider_is_set() or global_tracer_provider_is_set():
            logger.info(
                "otelsvc: a global meter or tracer provider is already set; this guard works through "
                "guard.meter_provider and guard.tracer_provider only"
            )
        if not global_meter_provider_is_set():
            metrics_api.set_meter_provider(self.meter_provider)
        if not global_tracer_provider_is_set():
            trace_api.set_tracer_provider(self.tracer_provider)

    # -- public surface -------------------------------------------------------------------------

    def counter(self, name: str, *, unit: str = "", description: str = "",
                labels: Sequence[str] = ()) -> HandleInstrument[CounterHandle]:
        """A handle-recorded counter; ``.bind(*label_values)`` gives a pre-bound ``CounterHandle``."""
        return self.bridge.instrument(name, "counter", unit, description, labels)

    def up_down_counter(self, name: str, *, unit: str = "", description: str = "",
                        labels: Sequence[str] = ()) -> HandleInstrument[UpDownCounterHandle]:
        """A handle-recorded up-down counter (``.bind(...)`` gives an ``UpDownCounterHandle``)."""
        return self.bridge.instrument(name, "updowncounter", unit, description, labels)

    def gauge(self, name: str, *, unit: str = "", description: str = "",
              labels: Sequence[str] = ()) -> HandleInstrument[GaugeHandle]:
        """A handle-recorded gauge (``.bind(...)`` gives a ``GaugeHandle``)."""
        return self.bridge.instrument(name, "gauge", unit, description, labels)

    def histogram(self, name: str, *, buckets: Sequence[float], unit: str = "", description: str = "",
                  labels: Sequence[str] = ()) -> HandleInstrument[HistogramHandle]:
        """A handle-recorded histogram with explicit ``buckets`` (``.bind(...)`` gives a ``HistogramHandle``)."""
        return self.bridge.instrument(name, "histogram", unit, description, labels, buckets)

    def meter(self, name: str, version: str | None = None) -> Meter:
        """A meter from this guard's MeterProvider."""
        return self.meter_provider.get_meter(name, version)

    def tracer(self, name: str, version: str | None = None) -> Tracer:
        """A tracer from this guard's TracerProvider."""
        return self.tracer_provider.get_tracer(name, version)

    @property
    def prometheus_address(self) -> tuple[str, int] | None:
        """The (host, port) the telemetry server actually bound, or None."""
        return self._server.address if self._server is not None else None

    @property
    def prometheus_url(self) -> str | None:
        """``http(s)://host:port/metrics`` of the built-in server, or None."""
        if self._server is None:
            return None
        host, port = self._server.address
        host = f"[{host}]" if ":" in host else host
        return f"{self._server.scheme}://{host}:{port}/metrics"

    @property
    def state(self) -> str:
        """starting, ok, degraded, shutting_down or shut_down.

        ``degraded``: running, but the built-in server cannot fully serve (out of file descriptors,
        no thread can be started, its accept thread stopped); ``health_detail()`` says why.
        """
        state = self.lifecycle.state
        if state == "ok" and self._server is not None and self._server.problem is not None:
            return "degraded"
        return state

    @property
    def is_shut_down(self) -> bool:
        return self._result is not None or self.lifecycle.state in ("shutting_down", "shut_down")

    def identity(self) -> tuple[str, str | None]:
        return self.settings.service_name, self.settings.service_version

    def render_metrics(self, openmetrics: bool = False) -> bytes:
        """The Prometheus exposition as a scrape would get it now."""
        if self._prometheus is None:
            raise RuntimeError("this guard has no Prometheus reader (prometheus=None)")
        aggregated = self._prefork.render(self, openmetrics)
        if aggregated is not None:
            return aggregated
        return self._prometheus.render(openmetrics)

    def health_detail(self) -> dict[str, Any]:
        detail: dict[str, Any] = {"exporters": {name: h.as_dict() for name, h in self.exporters.items()}}
        if self._server is not None:
            detail["server"] = {"problem": self._server.problem}
        return detail

    def metadata(self) -> dict[str, Any]:
        from importlib.metadata import PackageNotFoundError, version

        try:
            sdk_version = version("opentelemetry-sdk")
        except PackageNotFoundError:
            sdk_version = None
        exporters: dict[str, Any] = {
            name: {"endpoint": h.endpoint,
                   "protocol": getattr(getattr(self.settings, "otlp_" + ("traces" if name == "spans" else name)),
                                       "protocol", None)}
            for name, h in self.exporters.items()
        }
        if self.prometheus_url is not None:
            exporters["prometheus"] = {"endpoint": self.prometheus_url}
        return {
            "service": self.settings.service_name,
            "version": self.settings.service_version,
            "instance_id": self.resource.attributes.get("service.instance.id"),
            "otelsvc_version": __version__,
            "sdk_version": sdk_version,
            "exporters": exporters,
            "namespace": self.settings.namespace,
            "families": sorted(self.families),
        }

    def force_flush(self, timeout: float | None = None) -> bool:
        """Export what is pending now; True when every export finished within ``timeout``."""
        if self.disabled or self.is_shut_down:
            return self.disabled
        timeout = self.settings.shutdown_timeout if timeout is None else timeout
        millis = timeout * 1000
        steps = [Step("meter provider", lambda: self.meter_provider.force_flush(millis))]  # type: ignore[attr-defined]
        if self._span_proxy is not None:
            steps.append(Step("tracer provider", lambda: self.tracer_provider.force_flush(millis)))  # type: ignore[attr-defined]
        failures_before = sum(h.total_failures for h in self.exporters.values())
        ok = run_steps(steps, time.monotonic() + timeout, action="flush")
        return ok and sum(h.total_failures for h in self.exporters.values()) == failures_before

    def shutdown(self, timeout: float | None = None) -> bool:
        """Flush and stop everything within ``timeout`` seconds; True when everything flushed.

        Idempotent and thread-safe: a later call returns the first call's result at once. Never
        raises; each failure is logged once on the ``otelsvc`` logger naming the component.
        """
        with self._shutdown_lock:
            if self._result is not None:
                return self._result
            try:
                self._result = self._shutdown(self.settings.shutdown_timeout if timeout is None else timeout)
            except BaseException as exc:  # never raise from shutdown
                logger.error("otelsvc: shutdown failed: %s: %s", type(exc).__name__, exc)
                self._result = False
            return self._result

    def _shutdown(self, timeout: float) -> bool:
        if self.disabled:
            self.lifecycle.set("shut_down")
            return True
        self.lifecycle.set("shutting_down")
        deadline = time.monotonic() + timeout
        try:
            self._prefork.close()  # a worker hands its final counts over while its providers still collect
        except Exception as exc:
            logger.warning("otelsvc: pre-fork shutdown step failed: %s: %s", type(exc).__name__, exc)
        failures_before = sum(h.total_failures for h in self.exporters.values())
        millis = timeout * 1000
        provider: Any = self.meter_provider
        steps = [
            Step(
                "meter provider" + (f" ({self._metric_proxy._outcomes.component})" if self._metric_proxy else ""),
                lambda: provider.shutdown(timeout_millis=millis),
                self._metric_proxy.abort if self._metric_proxy else None,
            )
        ]
        tracer_provider: Any = self.tracer_provider
        steps.append(
            Step(
                "tracer provider" + (f" ({self._span_proxy._outcomes.component})" if self._span_proxy else ""),
                tracer_provider.shutdown,
                self._span_proxy.abort if self._span_proxy else None,
            )
        )
        finished = run_steps(steps, deadline)
        ok = finished
        if sum(h.total_failures for h in self.exporters.values()) != failures_before:
            ok = False
        if self._span_proxy is not None and self._span_proxy.pending():
            logger.warning("otelsvc: %d spans could not be delivered before shutdown", self._span_proxy.pending())
            ok = False
        if self._server is not None:
            self._server.close(timeout=max(0.1, deadline - time.monotonic()))
        if finished:
            # An abandoned exporter thread may still log; its lines stay routed and rate-limited.
            unroute_sdk_logs()
        self.lifecycle.set("shut_down")
        _process_hooks.unregister(self)
        return ok

    def __enter__(self) -> ProviderGuard:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.shutdown()

    def __repr__(self) -> str:
        return f"<ProviderGuard service={self.settings.service_name!r} state={self.state}>"

    # -- fork -------------------------------------------------------------------------------------

    def _after_fork_in_child(self) -> None:
        """Child process: own counts from zero, own instance id, fresh locks and channels, no server."""
        if self.disabled:
            return
        self._shutdown_lock = threading.Lock()
        if self._server is not None:
            self._server.close_listener()
            self._server = None
        self.bridge.reset_after_fork()
        provider: Any = self.meter_provider
        reset_meter_provider_after_fork(provider)
        self.resource = build_resource(self.settings, child_instance_id(self.settings))
        set_meter_provider_resource(provider, provider._sdk_config.resource.merge(self.resource))
        self.bridge.resource = provider._sdk_config.resource
        set_tracer_provider_resource(self.tracer_provider, self.resource)
        for name, health in list(self.exporters.items()):
            self.exporters[name] = ExporterHealth(name, health.endpoint)
        if self._metric_proxy is not None:
            self._metric_proxy._outcomes.health = self.exporters["metrics"]
            self._metric_proxy.renew()
        if self._span_proxy is not None:
            self._span_proxy._outcomes.health = self.exporters["spans"]
            self._span_proxy._health = self.exporters["spans"]
            self._span_proxy.renew()
        self._prefork = self._prefork.after_fork_in_child(self)
