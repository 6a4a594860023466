"""``otelsvc.start()`` and the ProviderGuard it returns: providers, readers, server and teardown."""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal

from opentelemetry.metrics import Meter, MeterProvider, NoOpMeterProvider
from opentelemetry.sdk.metrics.export import MetricReader
from opentelemetry.sdk.resources import Resource

from otelsvc import _process_hooks, _sdk_internals
from otelsvc._bridge import Bridge, HandleInstrument
from otelsvc._config import Settings
from otelsvc._errors import ConfigError, SettingProblem
from otelsvc._export.pipeline import Pipeline, Signal, build_pipelines
from otelsvc._handles import CounterHandle, GaugeHandle, HistogramHandle, UpDownCounterHandle
from otelsvc._logging import logger, route_sdk_logs, unroute_sdk_logs
from otelsvc._prefork import Role, declare_gauge
from otelsvc._resource import build_resource, child_instance_id
from otelsvc._serving.health import ExporterHealth, Lifecycle, State
from otelsvc._signals import threads_started_without_signals
from otelsvc._teardown import Step, export_verdict, run_steps
from otelsvc._version import __version__

if TYPE_CHECKING:
    from opentelemetry.trace import Tracer, TracerProvider

    from otelsvc._autoinstrument import Activation
    from otelsvc._prometheus import PrometheusReader
    from otelsvc._serving.server import TelemetryServer

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
        self.bridge = Bridge(max_series=settings.cardinality_limit, exemplar_filter=settings.exemplar_filter)
        self.pipelines: list[Pipeline] = []
        self.families: set[str] = set()
        self._readers: list[MetricReader] = []
        self._child_broken: str | None = None
        self._prometheus: PrometheusReader | None = None
        self.logger_provider: Any = None
        self._log_handler: logging.Handler | None = None
        self._instrumentation: Activation | None = None
        self._server: TelemetryServer | None = None
        self._shutdown_lock = threading.Lock()
        self._result: bool | None = None
        from otelsvc._serving.routes import TelemetryRoutes

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
        self.sdk = _sdk_internals.check()
        _refuse_missing_features(settings, self.sdk)
        from otelsvc import _prefork

        self._prefork = _prefork.plan(settings)  # pre-fork servers: serve here, or publish to the one that does
        if settings.prometheus is not None and settings.builtin_server and self._prefork.serves:
            from otelsvc._serving.server import TelemetryServer

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
            with threads_started_without_signals():  # the SDK's and otelsvc's threads leave signals alone
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

        from otelsvc._api_fast import FastMeterProvider
        from otelsvc._from_settings import console_metric_reader, console_span_processor, exemplar_filter, span_limits
        from otelsvc._prometheus import PrometheusReader

        self.resource = build_resource(settings)
        self.bridge.resource = self.resource
        readers: list[MetricReader] = []
        if settings.prometheus is not None:
            self._prometheus = PrometheusReader(self.bridge, settings.cardinality_limit, settings.prometheus_scope_info)
            readers.append(self._prometheus)
        self.pipelines = build_pipelines(settings, self.bridge)
        for pipeline in self.pipelines:
            readers.extend(pipeline.metric_readers())
        readers.extend(extra_readers)
        console_reader = console_metric_reader(settings)
        if console_reader is not None:
            readers.append(console_reader)
        self._readers = readers
        provider = FastMeterProvider(
            metric_readers=readers,
            resource=self.resource,
            shutdown_on_exit=False,
            exemplar_filter=exemplar_filter(settings),
            bridge=self.bridge,
            fast=settings.api_fast_path,
        )
        self.bridge.fork_hooks.append(provider.otelsvc_fast.reset_after_fork)
        for reader in readers:
            self.bridge.attach(reader)
        self.meter_provider = provider
        tracer_provider = SdkTracerProvider(
            resource=self.resource,
            sampler=_sampler(settings),
            shutdown_on_exit=False,
            span_limits=span_limits(settings),
        )
        console_spans = console_span_processor(settings)
        if console_spans is not None:
            tracer_provider.add_span_processor(console_spans)
        self.tracer_provider = tracer_provider
        self.logger_provider = self._build_logger_provider(settings)
        for pipeline in self.pipelines:
            pipeline.attach(provider, tracer_provider, self.logger_provider)
        from otelsvc._self_metrics import register_self_metrics

        register_self_metrics(provider.get_meter("otelsvc.self", __version__), self)
        if settings.runtime_metrics:
            from otelsvc._runtime import register_runtime_metrics

            register_runtime_metrics(provider.get_meter("otelsvc.runtime", __version__))
        if settings.set_global:
            self._become_global()
        if settings.log_bridge and (
            any(p.signal == "logs" for p in self.pipelines) or "console" in settings.logs_exporters
        ):
            self.bridge_logging()
        if settings.instrument:
            from otelsvc._autoinstrument import activate

            self._instrumentation = activate(
                settings.instrument, self, tracer_provider=tracer_provider, meter_provider=provider
            )

    def _build_logger_provider(self, settings: Settings) -> Any:
        """The LoggerProvider beside the other two (None when the SDK's private logs module failed its check)."""
        if not self.sdk.has("logs_sdk"):
            return None
        from otelsvc._from_settings import console_log_processor

        count = settings.logrecord_attribute_count_limit
        length = settings.logrecord_attribute_value_length_limit
        logger_provider = _sdk_internals.new_logger_provider(
            self.resource,
            settings.attribute_count_limit if count is None else count,
            settings.attribute_value_length_limit if length is None else length,
        )
        console = console_log_processor(settings)
        if console is not None:
            logger_provider.add_log_record_processor(console)
        return logger_provider

    def bridge_logging(self) -> None:
        """Send stdlib ``logging`` records to this guard's logger provider (the root logger gets a handler).

        Done by ``start()`` when a logs exporter is on and ``log_bridge`` is true; removed at shutdown.
        """
        if self._log_handler is not None or self.logger_provider is None:
            return
        from otelsvc._log_bridge import OTelLogHandler

        self._log_handler = OTelLogHandler(self.logger_provider)
        logging.getLogger().addHandler(self._log_handler)

    def _unbridge_logging(self) -> None:
        handler, self._log_handler = self._log_handler, None
        if handler is not None:
            logging.getLogger().removeHandler(handler)

    @property
    def traces_exported(self) -> bool:
        """Whether spans made with this guard's tracer provider go anywhere (an exporter is on)."""
        return any(p.signal == "spans" for p in self.pipelines) or "console" in self.settings.traces_exporters

    def _become_global(self) -> None:
        from opentelemetry import metrics as metrics_api
        from opentelemetry import trace as trace_api

        if self.sdk.has("global_provider_flags"):
            meter_set = _sdk_internals.global_meter_provider_is_set()
            tracer_set = _sdk_internals.global_tracer_provider_is_set()
            if not meter_set:
                metrics_api.set_meter_provider(self.meter_provider)
            if not tracer_set:
                trace_api.set_tracer_provider(self.tracer_provider)
        else:
            # Public path: setting twice is refused by the API (with its own warning); read back what won.
            metrics_api.set_meter_provider(self.meter_provider)
            trace_api.set_tracer_provider(self.tracer_provider)
            meter_set = metrics_api.get_meter_provider() is not self.meter_provider
            tracer_set = trace_api.get_tracer_provider() is not self.tracer_provider
        if self.logger_provider is not None and self.sdk.has("global_provider_flags"):
            _sdk_internals.set_global_logger_provider(self.logger_provider)
        if meter_set or tracer_set:
            logger.info(
                "otelsvc: a global meter or tracer provider is already set; this guard works through "
                "guard.meter_provider and guard.tracer_provider only"
            )

    # -- public surface -------------------------------------------------------------------------

    def counter(
        self, name: str, *, unit: str = "", description: str = "", labels: Sequence[str] = ()
    ) -> HandleInstrument[CounterHandle]:
        """A handle-recorded counter; ``.bind(*label_values)`` gives a pre-bound ``CounterHandle``."""
        return self.bridge.instrument(name, "counter", unit, description, labels)

    def up_down_counter(
        self, name: str, *, unit: str = "", description: str = "", labels: Sequence[str] = ()
    ) -> HandleInstrument[UpDownCounterHandle]:
        """A handle-recorded up-down counter (``.bind(...)`` gives an ``UpDownCounterHandle``)."""
        return self.bridge.instrument(name, "updowncounter", unit, description, labels)

    def gauge(
        self,
        name: str,
        *,
        unit: str = "",
        description: str = "",
        labels: Sequence[str] = (),
        prefork: Literal["per_worker", "sum", "min", "max", "latest"] = "per_worker",
    ) -> HandleInstrument[GaugeHandle]:
        """A handle-recorded gauge (``.bind(...)`` gives a ``GaugeHandle``).

        ``prefork``: how one scrape of a pre-fork server combines the workers' values: a series per live
        worker (label ``worker_slot``), or their sum, min, max or the latest set (docs/prefork.md)."""
        if prefork != "per_worker":
            declare_gauge(name, prefork)
        return self.bridge.instrument(name, "gauge", unit, description, labels)

    def histogram(
        self, name: str, *, buckets: Sequence[float], unit: str = "", description: str = "", labels: Sequence[str] = ()
    ) -> HandleInstrument[HistogramHandle]:
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
    def state(self) -> State:
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
        if self._child_broken is not None:
            raise RuntimeError(f"telemetry is off in this forked child: its reset failed ({self._child_broken})")
        aggregated = self._prefork.render(self, openmetrics)
        if aggregated is not None:
            return aggregated
        return self._prometheus.render(openmetrics)

    @property
    def exporters(self) -> dict[Signal, ExporterHealth]:
        """Each push pipeline's health, by signal."""
        return {p.signal: p.health for p in self.pipelines}

    def _failures(self) -> int:
        return sum(p.health.total_failures for p in self.pipelines)

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
        exporters: dict[str, Any] = {p.signal: p.metadata() for p in self.pipelines}
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
        meter_provider: Any = self.meter_provider
        tracer_provider: Any = self.tracer_provider
        steps = [self._provider_step("meter provider", "metrics", lambda: meter_provider.force_flush(millis))]
        if any(p.signal == "spans" for p in self.pipelines):
            steps.append(self._provider_step("tracer provider", "spans", lambda: tracer_provider.force_flush(millis)))
        logger_provider = self.logger_provider
        if logger_provider is not None and any(p.signal == "logs" for p in self.pipelines):
            steps.append(self._provider_step("logger provider", "logs", lambda: logger_provider.force_flush(millis)))
        return run_steps(steps, time.monotonic() + timeout, action="flush")

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
        if self._instrumentation is not None:
            self._instrumentation.undo()
        self._unbridge_logging()
        millis = timeout * 1000
        provider: Any = self.meter_provider
        tracer_provider: Any = self.tracer_provider
        steps = [
            self._provider_step("meter provider", "metrics", lambda: provider.shutdown(timeout_millis=millis)),
            self._provider_step("tracer provider", "spans", tracer_provider.shutdown),
        ]
        if self.logger_provider is not None:
            steps.append(self._provider_step("logger provider", "logs", self.logger_provider.shutdown))
        # False exactly when a step is logged: one line per component that did not deliver, in time or not.
        finished = ok = run_steps(steps, deadline)
        if self._server is not None:
            self._server.close(timeout=max(0.1, deadline - time.monotonic()))
        if finished:
            # An abandoned exporter thread may still log; its lines stay routed and rate-limited.
            unroute_sdk_logs()
        self.lifecycle.set("shut_down")
        _process_hooks.unregister(self)
        return ok

    def _provider_step(self, name: str, signal: Signal, run: Any) -> Step:
        """Shutting down one provider and its pipelines' exports; past the deadline those are abandoned.

        The SDK's reader shutdown gives up waiting for its export thread at its timeout and returns
        while an export may still be in flight: the step lasts until that export is over, so an
        export still running at the deadline is reported (and aborted) rather than cut off silently.
        """
        pipelines = [p for p in self.pipelines if p.signal == signal]
        label = name + "".join(f" ({p.component})" for p in pipelines)

        def shutdown() -> object:
            outcome = run()
            for pipeline in pipelines:
                pipeline.wait_idle()
            return outcome

        def abort() -> None:
            for pipeline in pipelines:
                pipeline.abort()

        # Built now, before the step runs: they compare the pipelines' health with what it is now.
        items = {"spans": "span(s)", "logs": "log record(s)"}
        verdicts = [
            v
            for v in (export_verdict(p.health, p.pending, items.get(p.signal, "item(s)")) for p in pipelines)
            if v is not None
        ]

        def verdict() -> str | None:
            return next((reason for reason in (v() for v in verdicts) if reason is not None), None)

        return Step(label, shutdown, abort if pipelines else None, verdict if verdicts else None)

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
        """Child process: own counts from zero, own instance id, fresh locks and channels, no server.

        Where an SDK internal needed for this failed its check (or fails now), the child takes the
        public-API fallback (``_sdk_internals.FALLBACKS``) and says so in an error log line; it never
        goes on exporting the parent's counts as its own. Any other failure leaves the child with no
        telemetry export at all (pushes aborted, scrapes refused), logged as an error.
        """
        if self.disabled:
            return
        try:
            self._reset_in_child()
        except Exception as exc:
            self._child_broken = f"{type(exc).__name__}: {exc}"
            self.bridge.sdk_series_dropped = True
            for pipeline in self.pipelines:
                with contextlib.suppress(Exception):
                    pipeline.abort()
            logger.error(
                "otelsvc: resetting telemetry in forked child %d failed (%s); this child exports no "
                "telemetry rather than repeat the parent's",
                os.getpid(),
                self._child_broken,
            )

    def _reset_in_child(self) -> None:
        self._shutdown_lock = threading.Lock()
        if self._server is not None:
            self._server.close_listener()
            self._server = None
        self.bridge.reset_after_fork()
        provider: Any = self.meter_provider
        if not self._sdk_step(
            "fork_reset", lambda: _sdk_internals.reset_meter_provider_after_fork(provider, self._readers)
        ):
            self.bridge.sdk_series_dropped = True
            logger.error(
                "otelsvc: this forked child (pid %d) cannot empty the SDK's aggregations; SDK instruments' "
                "series are left out of its exports (handle series are exact)",
                os.getpid(),
            )
        self.resource = build_resource(self.settings, child_instance_id(self.settings))
        if self._sdk_step(
            "meter_resource",
            lambda: _sdk_internals.set_meter_provider_resource(
                provider, _sdk_internals.meter_provider_resource(provider).merge(self.resource)
            ),
        ):
            self.bridge.resource = _sdk_internals.meter_provider_resource(provider)
        else:
            self.bridge.resource = self.resource
            self.bridge.rewrite_resource = True
        spans_resource = None
        if not self._sdk_step(
            "tracer_resource", lambda: _sdk_internals.set_tracer_provider_resource(self.tracer_provider, self.resource)
        ):
            spans_resource = self.resource
        if self.logger_provider is not None:
            logger_provider = self.logger_provider
            self._sdk_step(
                "logger_resource", lambda: _sdk_internals.set_logger_provider_resource(logger_provider, self.resource)
            )
        for pipeline in self.pipelines:
            pipeline.after_fork(spans_resource)
        self._prefork = self._prefork.after_fork_in_child(self)

    def _sdk_step(self, internal: _sdk_internals.Internal, run: Any) -> bool:
        """Run one SDK-internal step if its check passed; False (logged) when it is unavailable or fails."""
        if not self.sdk.has(internal):
            return False
        try:
            run()
        except Exception as exc:
            logger.error(
                "otelsvc: after fork, %s failed (%s: %s); using the fallback: %s",
                internal,
                type(exc).__name__,
                exc,
                _sdk_internals.FALLBACKS[internal],
            )
            return False
        return True


def _refuse_missing_features(settings: Settings, sdk: _sdk_internals.SdkSupport) -> None:
    """A ConfigError for a setting this SDK release cannot honour."""
    from otelsvc._config_table import row

    default = row("cardinality_limit").default
    if not sdk.cardinality_limits and settings.cardinality_limit != default:
        from importlib.metadata import version

        raise ConfigError(
            [
                SettingProblem(
                    "cardinality_limit",
                    str(settings.cardinality_limit),
                    f"opentelemetry-sdk {version('opentelemetry-sdk')} has no reader cardinality limits "
                    f"(1.45.2 and later have); leave it at {default} (which then bounds handle-recorded series "
                    "only) or upgrade the SDK",
                )
            ]
        )
