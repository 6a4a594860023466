"""The bridge: handle-recorded series handed to every SDK reader at collection time.

The OTel specification's MetricProducer is the model: pre-aggregated points are added to each
reader's collection beside what the SDK's own instruments produced, under the same Resource, in an
``otelsvc`` instrumentation scope, with the reader's preferred temporality. The Python SDK has no
producer hook, so the bridge wraps the collect callback the MeterProvider installs on each reader
(an SDK internal, see ``_sdk_internals``). When that internal fails its check, otelsvc's own
readers (``BridgedReader``) add the handle series themselves as they receive each collection.
"""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, Generic, Literal, Protocol, cast, overload

from opentelemetry.sdk.metrics import Exemplar
from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    Gauge,
    Histogram,
    HistogramDataPoint,
    Metric,
    MetricReader,
    MetricsData,
    NumberDataPoint,
    ResourceMetrics,
    ScopeMetrics,
    Sum,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from typing_extensions import TypeVar

from otelsvc import _sdk_internals
from otelsvc._handles import (
    EXEMPLAR_MODES,
    CounterHandle,
    GaugeHandle,
    Handle,
    HistogramHandle,
    UpDownCounterHandle,
)
from otelsvc._kinds import DELTA_KINDS, KINDS, InstrumentKind
from otelsvc._logging import logger
from otelsvc._sanitize import sanitize_data
from otelsvc._values import count_skipped
from otelsvc._version import __version__

__all__ = ["KINDS", "Bridge", "BridgedInstrument", "BridgedReader", "HandleInstrument", "merge_metrics_data"]

_log = logger

_HANDLE_TYPES: dict[InstrumentKind, type[Handle]] = {
    "counter": CounterHandle,
    "updowncounter": UpDownCounterHandle,
    "gauge": GaugeHandle,
    "histogram": HistogramHandle,
}
OVERFLOW_ATTRIBUTE = "otel.metric.overflow"
SCOPE = InstrumentationScope("otelsvc", __version__)
Temporalities = Mapping[str, AggregationTemporality]

H = TypeVar("H", bound=Handle, default=Any)  # a bare BridgedInstrument (kind known at run time) binds Any
HC = TypeVar("HC", bound=Handle, covariant=True)


class BridgedInstrument(Generic[H]):
    """One metric stream recorded through handles: a name, kind, unit, label keys and its series."""

    def __init__(
        self,
        bridge: Bridge,
        name: str,
        kind: InstrumentKind,
        unit: str = "",
        description: str = "",
        label_keys: Sequence[str] = (),
        bounds: Sequence[float] | None = None,
        max_series: int = 2000,
    ) -> None:
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, not {kind!r}")
        if kind == "histogram" and bounds is None:
            raise ValueError("a histogram needs explicit bucket bounds")
        self.bridge = bridge
        self.name = name
        self.kind: InstrumentKind = kind
        self.unit = unit
        self.description = description
        self.label_keys = tuple(label_keys)
        self.bounds = tuple(float(b) for b in bounds) if bounds is not None else None
        self.max_series = max_series
        self.lock = threading.Lock()
        self._create_lock = threading.Lock()
        self._handles: dict[tuple[str, ...], H] = {}
        self._peak = 0
        self._rejected = False
        self._overflowed = False
        self.render_cache: dict[str, Any] = {}
        # Exemplars on counters and histograms only (as the issue asks; the SDK offers on every sync kind).
        self.exemplar_mode = bridge.exemplar_mode if kind in ("counter", "histogram") else 0

    @property
    def handle_type(self) -> type[Handle]:
        """The class of the handles ``bind`` makes (from the kind)."""
        return _HANDLE_TYPES[self.kind]

    def __repr__(self) -> str:
        return f"<BridgedInstrument {self.name} {self.kind} series={len(self._handles)}>"

    def bind(self, *values: str) -> H:
        """The handle for these label values (in ``label_keys`` order), made once and then reused."""
        handle = self._handles.get(values)
        if handle is not None:
            return handle
        if len(values) != len(self.label_keys):
            raise ValueError(f"{self.name} takes {len(self.label_keys)} label values {self.label_keys}")
        with self._create_lock:
            handle = self._handles.get(values)
            if handle is not None:
                return handle
            if len(self._handles) >= self.max_series:
                return self._overflow_handle()
            handle = self._make(tuple(v if isinstance(v, (int, float, bool)) else str(v) for v in values))
            self._handles[values] = handle  # in place: readers iterate a copy (handles())
            if len(self._handles) > self._peak:
                self._peak = len(self._handles)
            return handle

    def _make(self, values: tuple[str, ...]) -> H:
        cls = _HANDLE_TYPES[self.kind]
        owner = cast("BridgedInstrument[Any]", self)
        if cls is HistogramHandle:
            assert self.bounds is not None
            return cast(H, HistogramHandle(owner, values, self.lock, self.bounds))
        return cast(H, cls(owner, values, self.lock))

    def _overflow_handle(self) -> H:
        key = ("\x00overflow",)
        handle = self._handles.get(key)
        if handle is None:
            if not self._overflowed:
                self._overflowed = True
                _log.warning(
                    "otelsvc: %s reached its limit of %d series; further label sets fold into one series with %s=true",
                    self.name,
                    self.max_series,
                    OVERFLOW_ATTRIBUTE,
                )
            handle = self._make(key)
            self._handles[key] = handle
        return handle

    def remove(self, *values: str) -> bool:
        """Forget one series: it leaves every reader's next collection and its memory is freed."""
        with self._create_lock:
            if self._handles.pop(values, None) is None:
                return False
            # A dict never shrinks on delete: compact once most of the peak is gone (amortised O(1)).
            if len(self._handles) < self._peak // 4:
                self._handles = dict(self._handles)
                self._peak = len(self._handles)
            return True

    def handles(self) -> Iterator[tuple[tuple[str, ...], H]]:
        """The live series (a snapshot; safe while others bind, remove or record).

        ``dict.copy`` runs in C without giving up the GIL, so it never sees a dict changing size."""
        return iter(self._handles.copy().items())

    def series_count(self) -> int:
        return len(self._handles)

    def attributes_of(self, key: tuple[str, ...]) -> dict[str, Any]:
        if key == ("\x00overflow",):
            return {OVERFLOW_ATTRIBUTE: True}
        # An empty value means "no such label" (as in Prometheus): it is left out of the attributes.
        return {k: v for k, v in zip(self.label_keys, key, strict=True) if v != ""}

    def reject(self, value: float, reason: str = "negative") -> None:
        """Drop a measurement: logged once per instrument, counted by reason (see ``_values``)."""
        from otelsvc._values import drop

        drop(self, value, reason)

    def reset_after_fork(self, start: int) -> None:
        """Give the child process fresh locks and empty aggregates."""
        self.lock = threading.Lock()
        self._create_lock = threading.Lock()
        for handle in self._handles.values():
            handle._reset(self.lock, start)

    def collect(
        self, temporality: AggregationTemporality, now: int, state: dict[Handle, Any], since: int | None = None
    ) -> Metric | None:
        """This instrument's points for one reader, or None when no series has a measurement.

        Points carry the exemplars taken after ``since`` (ns; None: none), as the SDK's reservoirs
        report those offered since the reader's previous collection."""
        delta = temporality == AggregationTemporality.DELTA and self.kind in DELTA_KINDS
        points: list[Any] = []
        for key, handle in self.handles():
            if not handle._seen:
                continue
            attributes = self.attributes_of(key)
            point: Any
            if isinstance(handle, HistogramHandle):
                point = self._histogram_point(handle, attributes, now, delta, state)
            else:
                point = self._number_point(handle, attributes, now, delta, state)  # type: ignore[arg-type]
            if point is not None:
                if since is not None and self.exemplar_mode:
                    point.exemplars.extend(_sdk_exemplars(handle, since))
                points.append(point)
        if not points:
            return None
        data: Any
        if self.kind == "gauge":
            data = Gauge(data_points=points)
        elif self.kind == "histogram":
            data = Histogram(data_points=points, aggregation_temporality=temporality)
        else:
            data = Sum(
                data_points=points,
                aggregation_temporality=temporality if self.kind == "counter" else AggregationTemporality.CUMULATIVE,
                is_monotonic=self.kind == "counter",
            )
        return Metric(name=self.name, description=self.description, unit=self.unit, data=data)

    @staticmethod
    def _number_point(
        handle: CounterHandle | UpDownCounterHandle | GaugeHandle,
        attributes: dict[str, Any],
        now: int,
        delta: bool,
        state: dict[Handle, Any],
    ) -> NumberDataPoint | None:
        value = handle.snapshot()
        start = handle._start
        if delta:
            previous = state.get(handle)
            if previous is not None:
                prev_value, start = previous
                if value == prev_value:
                    state[handle] = (value, now)
                    return None
                state[handle] = (value, now)
                value = value - prev_value
            else:
                state[handle] = (value, now)
        return NumberDataPoint(
            attributes=attributes,
            start_time_unix_nano=start if not isinstance(handle, GaugeHandle) else 0,
            time_unix_nano=now,
            value=value,
            exemplars=[],
        )

    def _histogram_point(
        self,
        handle: HistogramHandle,
        attributes: dict[str, Any],
        now: int,
        delta: bool,
        state: dict[Handle, Any],
    ) -> HistogramDataPoint | None:
        counts, total, low, high = handle.harvest() if delta else handle.snapshot()
        start = handle._start
        if delta:
            previous = state.get(handle)
            state[handle] = (counts, total, now)
            if previous is not None:
                prev_counts, prev_total, start = previous
                if counts == prev_counts:
                    return None
                counts = [a - b for a, b in zip(counts, prev_counts, strict=False)]
                total = total - prev_total
        assert self.bounds is not None
        return HistogramDataPoint(
            attributes=attributes,
            start_time_unix_nano=start,
            time_unix_nano=now,
            count=sum(counts),
            sum=total,
            bucket_counts=counts,
            explicit_bounds=self.bounds,
            min=low,
            max=high,
            exemplars=[],
        )


def _sdk_exemplars(handle: Handle, since: int) -> list[Exemplar]:
    """A handle's exemplars taken after ``since``, as the SDK's Exemplar objects (no filtered attributes:
    a handle's measurements carry only the series' own labels)."""
    return [Exemplar({}, ex[0], ex[1], ex[3] or None, ex[2] or None) for ex in handle.exemplars(since) if ex]


class HandleInstrument(Protocol[HC]):
    """The public face of a handle-recorded instrument: ``bind`` label values once, record on the handle."""

    name: str
    label_keys: tuple[str, ...]

    def bind(self, *values: str) -> HC: ...

    def remove(self, *values: str) -> bool: ...


def merge_scope(existing: Sequence[ScopeMetrics], scope: ScopeMetrics) -> list[ScopeMetrics]:
    """``existing`` plus ``scope``; metrics of an SDK meter with the same scope join it (OTLP
    encoders key scopes by identity, so two equal scopes would overwrite each other)."""
    out = list(existing)
    for index, current in enumerate(out):
        if current.scope == scope.scope:
            out[index] = ScopeMetrics(
                scope=current.scope, metrics=[*current.metrics, *scope.metrics], schema_url=current.schema_url
            )
            return out
    out.append(scope)
    return out


def merge_metrics_data(data: MetricsData | None, scope: ScopeMetrics | None, resource: Resource) -> MetricsData | None:
    """An SDK collection with ``scope`` added to its first resource (or alone under ``resource``)."""
    if scope is None:
        return data
    if data is None or not data.resource_metrics:
        return MetricsData(resource_metrics=[ResourceMetrics(resource=resource, scope_metrics=[scope], schema_url="")])
    first = data.resource_metrics[0]
    merged = ResourceMetrics(
        resource=first.resource, scope_metrics=merge_scope(first.scope_metrics, scope), schema_url=first.schema_url
    )
    return MetricsData(resource_metrics=[merged, *data.resource_metrics[1:]])


class Bridge:
    """All handle-recorded instruments of one guard, and the hook that adds them to its readers."""

    def __init__(self, max_series: int = 2000, exemplar_filter: str = "trace_based") -> None:
        self.max_series = max_series
        self.exemplar_mode = EXEMPLAR_MODES[exemplar_filter]
        self._exemplar_since: weakref.WeakKeyDictionary[MetricReader, int] = weakref.WeakKeyDictionary()
        self._instruments: dict[str, BridgedInstrument[Any]] = {}
        self._lock = threading.Lock()
        self._delta_state: weakref.WeakKeyDictionary[MetricReader, dict[Handle, Any]] = weakref.WeakKeyDictionary()
        self._temporalities: weakref.WeakKeyDictionary[MetricReader, Temporalities] = weakref.WeakKeyDictionary()
        self.resource: Resource | None = None
        self.collect_hooks: list[Callable[[], None]] = []
        self.direct_readers: weakref.WeakSet[MetricReader] = weakref.WeakSet()
        # Called with the child's start time after a fork (the OTel API fast path's series).
        self.fork_hooks: list[Callable[[int], None]] = []
        # A forked child whose SDK aggregations could not be emptied: SDK series are left out.
        self.sdk_series_dropped = False
        # A forked child whose MeterProvider resource could not be replaced: collections get ``resource``.
        self.rewrite_resource = False

    @overload
    def instrument(
        self,
        name: str,
        kind: Literal["counter"],
        unit: str = "",
        description: str = "",
        label_keys: Sequence[str] = (),
        bounds: None = None,
    ) -> BridgedInstrument[CounterHandle]: ...
    @overload
    def instrument(
        self,
        name: str,
        kind: Literal["updowncounter"],
        unit: str = "",
        description: str = "",
        label_keys: Sequence[str] = (),
        bounds: None = None,
    ) -> BridgedInstrument[UpDownCounterHandle]: ...
    @overload
    def instrument(
        self,
        name: str,
        kind: Literal["gauge"],
        unit: str = "",
        description: str = "",
        label_keys: Sequence[str] = (),
        bounds: None = None,
    ) -> BridgedInstrument[GaugeHandle]: ...
    @overload
    def instrument(
        self,
        name: str,
        kind: Literal["histogram"],
        unit: str = "",
        description: str = "",
        label_keys: Sequence[str] = (),
        *,
        bounds: Sequence[float],
    ) -> BridgedInstrument[HistogramHandle]: ...
    @overload
    def instrument(
        self,
        name: str,
        kind: Literal["histogram"],
        unit: str,
        description: str,
        label_keys: Sequence[str],
        bounds: Sequence[float],
    ) -> BridgedInstrument[HistogramHandle]: ...
    @overload
    def instrument(
        self,
        name: str,
        kind: str,
        unit: str = "",
        description: str = "",
        label_keys: Sequence[str] = (),
        bounds: Sequence[float] | None = None,
    ) -> BridgedInstrument: ...

    def instrument(
        self,
        name: str,
        kind: str,
        unit: str = "",
        description: str = "",
        label_keys: Sequence[str] = (),
        bounds: Sequence[float] | None = None,
    ) -> BridgedInstrument[Any]:
        """The instrument of that name, made once; a second call with another shape is an error."""
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, not {kind!r}")
        with self._lock:
            existing = self._instruments.get(name)
            if existing is not None:
                if (existing.kind, existing.unit, existing.label_keys) != (kind, unit, tuple(label_keys)):
                    raise ValueError(f"metric {name!r} is already declared with another kind, unit or labels")
                return existing
            inst: BridgedInstrument[Any] = BridgedInstrument(
                self, name, kind, unit, description, label_keys, bounds, self.max_series
            )
            self._instruments = {**self._instruments, name: inst}
            return inst

    def instruments(self) -> list[BridgedInstrument[Any]]:
        """Every instrument, after running the collect hooks (retention sweeps and the like).

        Readers call this once per collection, so hooks run off the recording path.
        """
        for hook in list(self.collect_hooks):
            try:
                hook()
            except Exception as exc:
                _log.warning("otelsvc: a collect hook failed: %s: %s", type(exc).__name__, exc)
        return list(self._instruments.values())

    def reset_after_fork(self) -> None:
        start = time.time_ns()
        self._lock = threading.Lock()
        self._delta_state = weakref.WeakKeyDictionary()
        self._exemplar_since = weakref.WeakKeyDictionary()
        for inst in self._instruments.values():
            inst.reset_after_fork(start)
        for hook in self.fork_hooks:
            hook(start)

    def declare_temporality(self, reader: MetricReader, temporalities: Temporalities) -> None:
        """The temporality ``reader`` wants per kind, for readers otelsvc builds (no SDK internal needed)."""
        self._temporalities[reader] = temporalities

    def _temporalities_of(self, reader: MetricReader) -> Temporalities:
        declared = self._temporalities.get(reader)
        if declared is not None:
            return declared
        if _sdk_internals.check().has("reader_temporality"):
            table = _sdk_internals.reader_temporalities(reader)
        else:
            _log.error(
                "otelsvc: the temporality %s wants is unknown on this SDK; handle series reach it cumulative",
                type(reader).__name__,
            )
            table = {}
        self._temporalities[reader] = table
        return table

    def collection(
        self, reader: MetricReader, now: int
    ) -> tuple[list[BridgedInstrument[Any]], Temporalities, dict[Handle, Any], int]:
        """What one collection for ``reader`` at ``now`` works from: the instruments, the reader's
        temporality per kind, its delta state (handle -> previous reading) and the exemplar cut-off
        (the previous collection's time). Also the hook for readers that encode handle series themselves."""
        temporalities = self._temporalities_of(reader)
        state = self._delta_state.setdefault(reader, {})
        since = self._exemplar_since.get(reader, 0)
        self._exemplar_since[reader] = now
        return self.instruments(), temporalities, state, since

    def scope_metrics(self, reader: MetricReader, now: int | None = None) -> ScopeMetrics | None:
        """The bridged metrics as one reader sees them now, in the ``otelsvc`` scope."""
        now = time.time_ns() if now is None else now
        instruments, temporalities, state, since = self.collection(reader, now)
        metrics = []
        for inst in instruments:
            temporality = temporalities.get(inst.kind, AggregationTemporality.CUMULATIVE)
            metric = inst.collect(temporality, now, state, since)
            if metric is not None:
                metrics.append(metric)
        if not metrics:
            return None
        return ScopeMetrics(scope=SCOPE, metrics=metrics, schema_url="")

    def sdk_data(self, data: MetricsData | None) -> MetricsData | None:
        """The SDK's own collection as this process may export it (see the fork fallbacks)."""
        if data is None or self.sdk_series_dropped:
            return None
        if self.rewrite_resource and self.resource is not None:
            resource = self.resource
            return MetricsData(
                resource_metrics=[
                    ResourceMetrics(resource=resource, scope_metrics=rm.scope_metrics, schema_url=rm.schema_url)
                    for rm in data.resource_metrics
                ]
            )
        return data

    def merge(self, reader: MetricReader, data: MetricsData | None) -> MetricsData | None:
        """The SDK's collection for ``reader`` with the bridged metrics added."""
        data = self.sdk_data(data)
        if reader in self.direct_readers:
            return data
        assert self.resource is not None
        merged = merge_metrics_data(data, self.scope_metrics(reader), self.resource)
        # Escape undecodable strings, widen or drop values an encoder would fail on (see _sanitize).
        clean, dropped = sanitize_data(merged)
        if dropped:
            count_skipped(self, "otlp", dropped)
        return clean

    def attach(self, reader: MetricReader) -> None:
        """Add the bridged metrics to ``reader``'s collections (it must be registered with a MeterProvider)."""
        if _sdk_internals.check().has("reader_collect_hook"):
            bridge = weakref.ref(self)

            def merge(r: MetricReader, data: MetricsData | None) -> MetricsData | None:
                live = bridge()
                return live.merge(r, data) if live is not None else data

            _sdk_internals.wrap_reader_collect(reader, merge)
        elif isinstance(reader, BridgedReader):
            reader.bridge = self
        elif reader not in self.direct_readers:
            _log.error(
                "otelsvc: handle-recorded series cannot reach %s on this SDK (its collect hook changed); "
                "use otelsvc's readers",
                type(reader).__name__,
            )


class BridgedReader(MetricReader):
    """Base of otelsvc's readers: adds the bridge's series as a collection is received.

    Used only when the SDK's collect hook fails its check (``Bridge.attach`` sets ``bridge``); the
    SDK skips ``_receive_metrics`` when its own instruments have nothing, so ``collect`` then hands
    the bridged series over alone. Mix in before the SDK reader class.
    """

    bridge: Bridge | None = None
    _received = threading.local()

    # MetricReader.collect is marked final; overriding it is the one way to learn that the SDK had nothing.
    def collect(self, timeout_millis: float = 10_000) -> None:  # type: ignore[misc]
        bridge = self.bridge
        if bridge is None:
            super().collect(timeout_millis=timeout_millis)
            return
        self._received.flag = False
        super().collect(timeout_millis=timeout_millis)
        if not self._received.flag:
            data = bridge.merge(self, None)
            if data is not None:
                super()._receive_metrics(data, timeout_millis=timeout_millis)  # type: ignore[safe-super]

    def _receive_metrics(self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any) -> None:
        bridge = self.bridge
        if bridge is not None:
            self._received.flag = True
            merged = bridge.merge(self, metrics_data)
            if merged is None:
                return
            metrics_data = merged
        super()._receive_metrics(metrics_data, timeout_millis=timeout_millis, **kwargs)  # type: ignore[safe-super]
