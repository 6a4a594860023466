"""Every reach into the OTel SDK's private state, in one place, each one checked before it is used.

otelsvc supports a range of SDK releases (see pyproject), and a future release may rename or change
any private name used here. ``check()`` runs once per process, at the first ``start()``: it does
what otelsvc needs each internal for on a small throwaway provider and looks at the result (not
merely at whether an attribute exists). An internal that fails its check is logged once, by name,
and otelsvc takes the slower path that needs only the public API (``FALLBACKS`` says which):
numbers stay right, nothing crashes, and where fork safety cannot be kept (the SDK's aggregations
cannot be emptied in a forked child), the child stops exporting what SDK instruments recorded, with
a logged error, rather than count the parent's measurements twice.

Private modules of the SDK (``opentelemetry.sdk.metrics._internal``, the logs SDK
``opentelemetry.sdk._logs`` and the logs API ``opentelemetry._logs``) are imported here and nowhere else.
"""

from __future__ import annotations

import functools
import inspect
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any, Literal

from opentelemetry.sdk.metrics import (
    Counter,
    Histogram,
    MeterProvider,
    ObservableCounter,
    ObservableGauge,
    ObservableUpDownCounter,
    UpDownCounter,
)
from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    InMemoryMetricReader,
    MetricReader,
    MetricsData,
    NumberDataPoint,
    PeriodicExportingMetricReader,
)
from opentelemetry.sdk.resources import Resource

from otelsvc._logging import logger

__all__ = [
    "FALLBACKS",
    "INTERNALS",
    "SYNC_GAUGE",
    "SdkInternalChanged",
    "SdkReleaseLacks",
    "SdkSupport",
    "check",
    "global_meter_provider_is_set",
    "global_tracer_provider_is_set",
    "LogsSdk",
    "global_logger_provider_is_set",
    "logs_sdk",
    "new_logger_provider",
    "set_global_logger_provider",
    "set_logger_provider_resource",
    "instrument_classes",
    "meter_provider_resource",
    "prometheus_mapping",
    "reader_cardinality_limits_supported",
    "reader_limits",
    "reader_temporalities",
    "reset_meter_provider_after_fork",
    "set_meter_provider_resource",
    "set_tracer_provider_resource",
    "wrap_reader_collect",
]

Internal = Literal[
    "reader_collect_hook",
    "reader_temporality",
    "fork_reset",
    "meter_resource",
    "tracer_resource",
    "global_provider_flags",
    "prometheus_mapping",
    "logs_sdk",
    "logger_resource",
]

INTERNALS: dict[Internal, str] = {
    "reader_collect_hook": "MetricReader._collect (the collect callback the MeterProvider installs on each reader)",
    "reader_temporality": "MetricReader._instrument_class_temporality keyed by the SDK's _Counter/_Histogram/...",
    "fork_reset": "MeterProvider locks, _measurement_consumer._reader_storages and each view match's "
    "_attributes_aggregation (emptied in a forked child)",
    "meter_resource": "MeterProvider._sdk_config.resource",
    "tracer_resource": "TracerProvider._update_resource (or _resource and _tracers)",
    "global_provider_flags": "opentelemetry.metrics._internal._METER_PROVIDER_SET_ONCE and "
    "opentelemetry.trace._TRACER_PROVIDER_SET_ONCE",
    "prometheus_mapping": "opentelemetry.exporter.prometheus._mapping (metric, label and unit names)",
    "logs_sdk": "opentelemetry.sdk._logs (LoggerProvider, batch processor, exporters) and opentelemetry._logs "
    "(the logs API: SeverityNumber, set_logger_provider), both private in the SDK",
    "logger_resource": "LoggerProvider._update_resource",
}

FALLBACKS: dict[Internal, str] = {
    "reader_collect_hook": "handle series are added by otelsvc's own readers when they receive a collection; "
    "readers passed in from outside get no handle series",
    "reader_temporality": "otelsvc's readers declare their temporality themselves; other readers get "
    "cumulative handle series",
    "fork_reset": "a forked child exports only handle-recorded series; SDK instruments' series are left "
    "out of its scrapes and pushes (they would repeat the parent's counts)",
    "meter_resource": "a forked child's service.instance.id is written into each collection as it is exported",
    "tracer_resource": "a forked child's spans are copied with its service.instance.id as they are exported",
    "global_provider_flags": "set_meter_provider/set_tracer_provider are called and read back with the "
    "public getters",
    "prometheus_mapping": "otelsvc's own copy of the OTel Prometheus naming rules",
    "logs_sdk": "no logger provider is built: log records are not exported (metrics and spans are unaffected)",
    "logger_resource": "a forked child's log records keep the parent's service.instance.id",
}


class SdkInternalChanged(RuntimeError):
    """An SDK internal is missing or no longer does what otelsvc relies on."""


class SdkReleaseLacks(SdkInternalChanged):
    """A supported older SDK release predates what otelsvc uses: the fallback is its normal path."""


# -- instrument classes -------------------------------------------------------------------------

def _sync_gauge_class() -> type | None:
    """The SDK's synchronous gauge class (exported as ``_Gauge``), or None when it is gone."""
    import opentelemetry.sdk.metrics as sdk_metrics

    cls = getattr(sdk_metrics, "_Gauge", None)
    return cls if isinstance(cls, type) else None


SYNC_GAUGE: type | None = _sync_gauge_class()


def instrument_classes() -> tuple[type, ...]:
    """Every instrument class a reader's temporality and cardinality tables are keyed by."""
    classes: tuple[type, ...] = (Counter, UpDownCounter, Histogram, ObservableCounter, ObservableUpDownCounter,
                                 ObservableGauge)
    return (*classes, SYNC_GAUGE) if SYNC_GAUGE is not None else classes


def reader_cardinality_limits_supported() -> bool:
    """Whether this SDK's readers take ``cardinality_limits`` (1.45.2 and later)."""
    return "cardinality_limits" in inspect.signature(MetricReader.__init__).parameters


def reader_limits(limit: int) -> dict[str, Any]:
    """The ``cardinality_limits`` keyword for a reader, or none on an SDK whose readers lack it."""
    if not reader_cardinality_limits_supported():
        return {}
    return {"cardinality_limits": dict.fromkeys(instrument_classes(), limit)}


# -- the reader collect hook ----------------------------------------------------------------------

Merge = Callable[[MetricReader, "MetricsData | None"], "MetricsData | None"]


def _collect_callback(reader: MetricReader) -> Any:
    return reader._collect


def wrap_reader_collect(reader: MetricReader, merge: Merge) -> None:
    """Make ``reader``'s collections pass through ``merge(reader, data)`` (the bridge's producer hook).

    The Python SDK has no MetricProducer; the collect callback the MeterProvider installs on each
    reader is wrapped instead. ``reader`` must already be registered with a MeterProvider.
    """
    original = _collect_callback(reader)
    if not callable(original):
        raise SdkInternalChanged("MetricReader._collect is not set on a registered reader")

    def collect(r: MetricReader, timeout_millis: float = 10_000) -> MetricsData | None:
        data: MetricsData | None = original(r, timeout_millis=timeout_millis)
        return merge(r, data)

    reader._collect = collect  # type: ignore[assignment]


def reader_temporalities(reader: MetricReader) -> dict[str, AggregationTemporality]:
    """The temporality ``reader`` wants per synchronous instrument kind (counter, updowncounter, histogram)."""
    from opentelemetry.sdk.metrics._internal.instrument import _Counter, _Histogram, _UpDownCounter

    table: dict[Any, AggregationTemporality] = reader._instrument_class_temporality
    return {kind: table[cls] for kind, cls in (("counter", _Counter), ("updowncounter", _UpDownCounter),
                                               ("histogram", _Histogram))}


# -- fork ----------------------------------------------------------------------------------------

_RLOCK_TYPE = type(threading.RLock())
_LOCK_TYPE = type(threading.Lock())


def _renew_lock(owner: Any, *attributes: str) -> None:
    """Replace the first of ``attributes`` that ``owner`` has with a new, released lock of the same kind.

    Names are alternatives across SDK releases; when none is there the SDK has changed and the
    child would keep a lock some parent thread may hold forever, so this raises.
    """
    for attribute in attributes:
        lock = getattr(owner, attribute, None)
        if isinstance(lock, _RLOCK_TYPE):
            setattr(owner, attribute, threading.RLock())
            return
        if isinstance(lock, _LOCK_TYPE):
            setattr(owner, attribute, threading.Lock())
            return
    raise SdkInternalChanged(f"{type(owner).__name__} has no lock named {' or '.join(attributes)}")


def _view_matches(provider: MeterProvider) -> Iterator[Any]:
    consumer: Any = provider._measurement_consumer
    for storage in consumer._reader_storages.values():
        for matches in storage._instrument_view_instrument_matches.values():
            yield from matches


def reset_meter_provider_after_fork(provider: MeterProvider, readers: Sequence[MetricReader]) -> None:
    """Empty every SDK aggregation and replace every lock, in a forked child.

    Without this the child's first export repeats the parent's counts, and a lock held by another
    parent thread at fork time stays held forever in the child. The locks replaced: the provider's
    and each meter's (instrument creation), the measurement consumer's, each reader storage's and
    each view match's (recording and collection), and each reader's own (the periodic reader's
    ``_export_lock`` is held for a whole OTLP export, so a fork during a push would otherwise leave
    the child's reader unable to export ever again). Raises ``SdkInternalChanged`` when a name
    is missing; nothing is skipped silently.
    """
    p: Any = provider
    _renew_lock(p, "_lock")
    _renew_lock(p, "_meter_lock")
    _renew_lock(type(p), "_all_metric_readers_lock")
    for meter in list(p._meters.values()):
        _renew_lock(meter, "_instrument_registration_lock", "_instrument_id_instrument_lock")
    for reader in readers:
        if isinstance(reader, PeriodicExportingMetricReader):
            _renew_lock(reader, "_export_lock")
        if isinstance(reader, InMemoryMetricReader):
            _renew_lock(reader, "_lock")
        for attribute in ("_lock", "_render_lock"):  # the locks of other reader classes (otelsvc's own)
            if hasattr(reader, attribute):
                _renew_lock(reader, attribute)
    consumer: Any = p._measurement_consumer
    _renew_lock(consumer, "_lock")
    for storage in consumer._reader_storages.values():
        _renew_lock(storage, "_lock")
    for match in _view_matches(provider):
        _renew_lock(match, "_lock")
        if not isinstance(match._attributes_aggregation, dict):
            raise SdkInternalChanged("_ViewInstrumentMatch._attributes_aggregation is no longer a dict")
        match._attributes_aggregation = {}
        if hasattr(match, "_previous_collection_start_nanos"):
            match._previous_collection_start_nanos = None


def meter_provider_resource(provider: MeterProvider) -> Resource:
    resource: Resource = provider._sdk_config.resource
    return resource


def set_meter_provider_resource(provider: MeterProvider, resource: Resource) -> None:
    """Point a MeterProvider's collections at another Resource (a forked child's instance id)."""
    config: Any = provider._sdk_config
    if not isinstance(config.resource, Resource):
        raise SdkInternalChanged("MeterProvider._sdk_config.resource is not a Resource")
    config.resource = resource


def set_tracer_provider_resource(provider: Any, resource: Resource) -> None:
    """Merge ``resource`` into a TracerProvider's and every Tracer it already made (a forked child's id)."""
    update = getattr(provider, "_update_resource", None)
    if callable(update):
        update(resource)
        return
    # Before 1.45 there is no _update_resource; 1.40-1.44 keep the tracers they made in _tracers.
    if not hasattr(provider, "_tracers") and hasattr(provider, "_resource"):
        raise SdkReleaseLacks("this SDK release (1.39) does not keep the tracers it made")
    if not isinstance(provider._resource, Resource):
        raise SdkInternalChanged("TracerProvider._resource is not a Resource")
    provider._resource = provider._resource.merge(resource)
    for tracer in provider._tracers.values():
        tracer.resource = provider._resource


# -- logs -------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class LogsSdk:
    """The logs SDK's classes otelsvc builds with (their module is private and has been renamed before)."""

    LoggerProvider: type
    BatchLogRecordProcessor: type
    SimpleLogRecordProcessor: type
    LogRecordExporter: type
    LogRecordExportResult: Any
    ConsoleLogRecordExporter: type
    InMemoryLogRecordExporter: type
    SeverityNumber: Any


@functools.lru_cache(maxsize=1)
def logs_sdk() -> LogsSdk:
    """The logs SDK classes; raises SdkInternalChanged when they moved."""
    try:
        from opentelemetry._logs import SeverityNumber
        from opentelemetry.sdk._logs import LoggerProvider
        from opentelemetry.sdk._logs.export import (
            BatchLogRecordProcessor,
            ConsoleLogRecordExporter,
            InMemoryLogRecordExporter,
            LogRecordExporter,
            LogRecordExportResult,
            SimpleLogRecordProcessor,
        )
    except ImportError as exc:
        raise SdkInternalChanged(str(exc)) from None
    return LogsSdk(LoggerProvider, BatchLogRecordProcessor, SimpleLogRecordProcessor, LogRecordExporter,
                   LogRecordExportResult, ConsoleLogRecordExporter, InMemoryLogRecordExporter, SeverityNumber)


def new_logger_provider(resource: Resource, max_attributes: int = 128, max_attribute_length: int | None = None) -> Any:
    """A LoggerProvider with no atexit hook of its own (the guard bounds its shutdown), no self-metrics
    on the global meter provider, and attribute limits given explicitly where the release takes them
    (left to itself, it reads OTEL_ATTRIBUTE_* and raises on a value it cannot parse)."""
    cls = logs_sdk().LoggerProvider
    parameters = inspect.signature(cls).parameters
    kwargs: dict[str, Any] = {"resource": resource, "shutdown_on_exit": False}
    if "meter_provider" in parameters:
        from opentelemetry.metrics import NoOpMeterProvider

        kwargs["meter_provider"] = NoOpMeterProvider()
    if "log_record_limits" in parameters:
        from opentelemetry.sdk._logs import LogRecordLimits

        length = LogRecordLimits.UNSET if max_attribute_length is None else max_attribute_length
        wanted = {"max_attributes": max_attributes, "max_attribute_length": length,
                  "max_log_record_attributes": max_attributes, "max_log_record_attribute_length": length}
        accepted = inspect.signature(LogRecordLimits).parameters
        kwargs["log_record_limits"] = LogRecordLimits(**{k: v for k, v in wanted.items() if k in accepted})
    return cls(**kwargs)


def set_logger_provider_resource(provider: Any, resource: Resource) -> None:
    """Give an existing LoggerProvider (and the loggers it made) a new resource, as after a fork."""
    update = getattr(provider, "_update_resource", None)
    if update is None:
        raise SdkReleaseLacks("LoggerProvider has no _update_resource")
    update(resource)


def global_logger_provider_is_set() -> bool:
    from opentelemetry._logs._internal import _LOGGER_PROVIDER_SET_ONCE

    done = _LOGGER_PROVIDER_SET_ONCE._done
    if not isinstance(done, bool):
        raise SdkInternalChanged("_LOGGER_PROVIDER_SET_ONCE._done is not a bool")
    return done


def set_global_logger_provider(provider: Any) -> bool:
    """Make ``provider`` the global logger provider; False when another one already is."""
    from opentelemetry._logs import get_logger_provider, set_logger_provider

    if global_logger_provider_is_set():
        return get_logger_provider() is provider
    set_logger_provider(provider)
    return get_logger_provider() is provider


# -- globals ----------------------------------------------------------------------------------------

def global_meter_provider_is_set() -> bool:
    from opentelemetry.metrics._internal import _METER_PROVIDER_SET_ONCE

    done = _METER_PROVIDER_SET_ONCE._done
    if not isinstance(done, bool):
        raise SdkInternalChanged("_METER_PROVIDER_SET_ONCE._done is not a bool")
    return done


def global_tracer_provider_is_set() -> bool:
    from opentelemetry.trace import _TRACER_PROVIDER_SET_ONCE

    done = _TRACER_PROVIDER_SET_ONCE._done
    if not isinstance(done, bool):
        raise SdkInternalChanged("_TRACER_PROVIDER_SET_ONCE._done is not a bool")
    return done


# -- the OTel Prometheus exporter's private helpers -------------------------------------------------

def prometheus_mapping() -> ModuleType:
    """The OTel Prometheus exporter's naming rules (its package loads prometheus_client, so lazily)."""
    if not check().has("prometheus_mapping"):
        from otelsvc import _prometheus_names

        return _prometheus_names
    from opentelemetry.exporter.prometheus import _mapping

    return _mapping


# -- the self-check -----------------------------------------------------------------------------------

class _ProbeReader(MetricReader):
    """A pull reader that keeps the last collection (for the checks)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.data: MetricsData | None = None

    def _receive_metrics(self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any) -> None:
        self.data = metrics_data

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        pass

    def read(self) -> MetricsData | None:
        self.data = None
        self.collect()
        return self.data


def _points(data: MetricsData | None) -> list[NumberDataPoint]:
    if data is None:
        return []
    return [p for rm in data.resource_metrics for sm in rm.scope_metrics for m in sm.metrics
            for p in m.data.data_points if isinstance(p, NumberDataPoint)]


def _probe(**reader_kwargs: Any) -> tuple[MeterProvider, _ProbeReader]:
    reader = _ProbeReader(**reader_kwargs)
    return MeterProvider(metric_readers=[reader], resource=Resource({"probe": "a"}), shutdown_on_exit=False), reader


def _expect(condition: bool, what: str) -> None:
    if not condition:
        raise SdkInternalChanged(what)


def _check_collect_hook() -> None:
    provider, reader = _probe()
    provider.get_meter("probe").create_counter("c").add(1)
    seen: list[int] = []
    marker = MetricsData(resource_metrics=[])

    def merge(r: MetricReader, data: MetricsData | None) -> MetricsData | None:
        seen.append(sum(int(p.value) for p in _points(data)))
        return marker

    wrap_reader_collect(reader, merge)
    _expect(reader.read() is marker and seen == [1], "the wrapped collect callback is not used by collect()")
    provider.shutdown()


def _check_reader_temporality() -> None:
    reader = _ProbeReader(preferred_temporality={Counter: AggregationTemporality.DELTA})
    _expect(reader_temporalities(reader) == {"counter": AggregationTemporality.DELTA,
                                             "updowncounter": AggregationTemporality.CUMULATIVE,
                                             "histogram": AggregationTemporality.CUMULATIVE},
            "the temporality table does not follow preferred_temporality")


def _check_fork_reset() -> None:
    provider, reader = _probe()
    meter = provider.get_meter("probe")
    counter = meter.create_counter("c")
    counter.add(5, {"k": "v"})
    reader.read()
    counter.add(3, {"k": "v"})
    p: Any = provider
    before = [p._meter_lock, p._measurement_consumer._lock, *(m._lock for m in _view_matches(provider))]
    reset_meter_provider_after_fork(provider, [reader])
    after = [p._meter_lock, p._measurement_consumer._lock, *(m._lock for m in _view_matches(provider))]
    _expect(all(a is not b for a, b in zip(before, after, strict=True)), "the reset did not replace the locks")
    counter.add(2, {"k": "v"})
    meter.create_counter("d").add(1)  # instrument creation works with the new locks
    values = sorted(p.value for p in _points(reader.read()))
    _expect(values == [1, 2], f"after the reset the SDK still reports the earlier counts ({values})")
    provider.shutdown()


def _check_meter_resource() -> None:
    provider, reader = _probe()
    provider.get_meter("probe").create_counter("c").add(1)
    new = Resource({"probe": "b"})
    _expect(meter_provider_resource(provider).attributes.get("probe") == "a", "the provider's resource is unknown")
    set_meter_provider_resource(provider, new)
    data = reader.read()
    _expect(data is not None and data.resource_metrics[0].resource is new, "collections keep the old resource")
    provider.shutdown()


def _check_tracer_resource() -> None:
    from opentelemetry.sdk.trace import TracerProvider

    provider = TracerProvider(resource=Resource({"probe": "a"}), shutdown_on_exit=False)
    before = provider.get_tracer("before")
    set_tracer_provider_resource(provider, Resource({"probe": "b"}))
    for tracer in (before, provider.get_tracer("after")):
        span: Any = tracer.start_span("probe")
        span.end()
        _expect(span.resource.attributes.get("probe") == "b", "spans keep the old resource")
    provider.shutdown()


def _check_global_flags() -> None:
    global_meter_provider_is_set()
    global_tracer_provider_is_set()


def _check_prometheus_mapping() -> None:
    from opentelemetry.exporter.prometheus import _mapping

    _expect((_mapping.sanitize_full_name("1a.b"), _mapping.sanitize_attribute("a.b"), _mapping.map_unit("ms"),
             _mapping.map_unit("{req}/s")) == ("_a_b", "a_b", "milliseconds", "per_second"),
            "the naming rules changed")


def _check_logs_sdk() -> None:
    sdk = logs_sdk()
    exporter = sdk.InMemoryLogRecordExporter()
    provider = new_logger_provider(Resource({"probe": "a"}))
    provider.add_log_record_processor(sdk.SimpleLogRecordProcessor(exporter))
    provider.get_logger("probe").emit(body="hello", severity_number=sdk.SeverityNumber.WARN)
    (item,) = exporter.get_finished_logs()
    record = getattr(item, "log_record", item)
    _expect(record.body == "hello" and item.resource.attributes.get("probe") == "a", "a record does not arrive")
    global_logger_provider_is_set()
    provider.shutdown()


def _check_logger_resource() -> None:
    sdk = logs_sdk()
    exporter = sdk.InMemoryLogRecordExporter()
    provider = new_logger_provider(Resource({"probe": "a"}))
    provider.add_log_record_processor(sdk.SimpleLogRecordProcessor(exporter))
    logger_ = provider.get_logger("probe")
    set_logger_provider_resource(provider, Resource({"probe": "b"}))
    logger_.emit(body="x")
    (item,) = exporter.get_finished_logs()
    _expect(item.resource.attributes.get("probe") == "b", "loggers keep the old resource")
    provider.shutdown()


_CHECKS: dict[Internal, Callable[[], None]] = {
    "reader_collect_hook": _check_collect_hook,
    "reader_temporality": _check_reader_temporality,
    "fork_reset": _check_fork_reset,
    "meter_resource": _check_meter_resource,
    "tracer_resource": _check_tracer_resource,
    "global_provider_flags": _check_global_flags,
    "prometheus_mapping": _check_prometheus_mapping,
    "logs_sdk": _check_logs_sdk,
    "logger_resource": _check_logger_resource,
}


@dataclass(frozen=True)
class SdkSupport:
    """What the installed SDK offers otelsvc: which internals passed their check, and why others failed."""

    failed: dict[Internal, str] = field(default_factory=dict)
    """Internals missing or changed: each was logged as a warning."""
    absent: dict[Internal, str] = field(default_factory=dict)
    """Internals a supported older SDK release does not have yet (logged at info level)."""
    cardinality_limits: bool = True

    def has(self, internal: Internal) -> bool:
        return internal not in self.failed and internal not in self.absent


@functools.lru_cache(maxsize=1)
def check() -> SdkSupport:
    """Check every internal once per process; log one warning per internal that failed, naming it."""
    failed: dict[Internal, str] = {}
    absent: dict[Internal, str] = {}
    for name, run in _CHECKS.items():
        try:
            run()
        except SdkReleaseLacks as exc:
            absent[name] = str(exc)
            logger.info("otelsvc: %s: %s; otelsvc uses the public-API path: %s", name, exc, FALLBACKS[name])
        except Exception as exc:  # any failure means: do not rely on it
            failed[name] = f"{type(exc).__name__}: {exc}"
            logger.warning("otelsvc: SDK internal %s (%s) is missing or changed in this OpenTelemetry SDK (%s); "
                           "using the slower public-API path instead: %s", name, INTERNALS[name], failed[name],
                           FALLBACKS[name])
    return SdkSupport(failed=failed, absent=absent, cardinality_limits=reader_cardinality_limits_supported())
