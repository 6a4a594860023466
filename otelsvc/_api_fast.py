"""The standard OTel API at handle speed: synchronous instruments from the guard's MeterProvider that
record into handles instead of the SDK's per-reader storages, with the SDK's output.

``FastMeterProvider`` is the SDK's MeterProvider (``isinstance``, ``shutdown``, ``force_flush`` and
``get_meter`` behave as usual); its meters are SDK meters whose ``create_counter``,
``create_up_down_counter``, ``create_histogram`` and ``create_gauge`` first let the SDK create (and
validate, and de-duplicate) the instrument, then return a thin instrument in front of it when the
SDK's output can be reproduced exactly (see ``FastPath.eligible``), else the SDK instrument itself.

A thin instrument's first measurement registers it in each reader's SDK storage, where the SDK
would have registered it, with a collect that reads the handles: the SDK's collection then lists
it in its own order (scopes and metrics by first measurement, thin and SDK instruments interleaved)
and builds its Metric, and every reader (Prometheus, OTLP, in-memory, pre-fork snapshot) gets it.

A thin instrument maps the measurement's attributes to a handle: first through a cache keyed by the
attribute items and their value types (types, because the SDK keeps ``1``, ``1.0``, ``True`` and a
``str`` subclass apart), then, on a miss, through the SDK's own attribute cleaning and hashing, so
series identity, invalid keys and values (dropped with the SDK's warning), the cardinality limit
and the ``otel.metric.overflow`` series are the SDK's. Values are checked as handles check them
(TypeError for non-reals; non-finite, negative and overflowing values dropped and counted).
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from opentelemetry.context import Context
from opentelemetry.context import get_current as _get_current
from opentelemetry.metrics import Counter as ApiCounter
from opentelemetry.metrics import Histogram as ApiHistogram
from opentelemetry.metrics import UpDownCounter as ApiUpDownCounter
from opentelemetry.metrics import _Gauge as ApiGauge
from opentelemetry.sdk.metrics import (
    AlwaysOffExemplarFilter,
    AlwaysOnExemplarFilter,
    TraceBasedExemplarFilter,
    _Gauge,
)
from opentelemetry.sdk.metrics import Counter as SdkCounter
from opentelemetry.sdk.metrics import Histogram as SdkHistogram
from opentelemetry.sdk.metrics import Meter as SdkMeter
from opentelemetry.sdk.metrics import MeterProvider as SdkMeterProvider
from opentelemetry.sdk.metrics import UpDownCounter as SdkUpDownCounter
from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    HistogramDataPoint,
    MetricReader,
    NumberDataPoint,
)
from opentelemetry.sdk.metrics.view import DefaultAggregation, ExplicitBucketHistogramAggregation
from opentelemetry.sdk.util.instrumentation import InstrumentationScope

from otelsvc._handles import CounterHandle, GaugeHandle, Handle, HistogramHandle, UpDownCounterHandle
from otelsvc._stable_attributes import StableAttributes
from otelsvc._values import Unrepresentable, coerce

if TYPE_CHECKING:
    from otelsvc._bridge import Bridge

# The SDK internals reproduced here (the SDK range is pinned; FastPath checks them at start and keeps
# every instrument on the SDK path when one is missing or behaves otherwise).
try:
    from opentelemetry.attributes import _clean_attribute_value
    from opentelemetry.sdk.metrics._internal._view_instrument_match import _hash_attributes
    from opentelemetry.sdk.metrics._internal.aggregation import (
        _DEFAULT_EXPLICIT_BUCKET_HISTOGRAM_AGGREGATION_BOUNDARIES,
    )
    from opentelemetry.trace.propagation import _SPAN_KEY

    _IMPORTED: str | None = None
except ImportError as exc:  # pragma: no cover - another SDK than the pinned range
    _IMPORTED = f"{type(exc).__name__}: {exc}"

__all__ = ["FastMeterProvider", "FastPath", "self_check"]

_log = logging.getLogger("otelsvc")

_CUMULATIVE = AggregationTemporality.CUMULATIVE
_INF = float("inf")
_OVERFLOW = {"otel.metric.overflow": True}
_OVERFLOW_KEY = _hash_attributes(_OVERFLOW) if _IMPORTED is None else None
_KINDS: tuple[tuple[type, type[Handle]], ...] = (  # the SDK's public instrument classes and their handles
    (SdkCounter, CounterHandle),
    (SdkUpDownCounter, UpDownCounterHandle),
    (_Gauge, GaugeHandle),
    (SdkHistogram, HistogramHandle),
)
_CACHEABLE = frozenset({str, int, float, bool, bytes, type(None)})


class _Series:
    """One attribute set of a thin instrument: its cleaned attributes, handle and exemplar reservoirs."""

    __slots__ = ("attributes", "handle", "reservoirs")

    def __init__(self, attributes: dict[str, Any], handle: Handle) -> None:
        self.attributes = attributes
        self.handle = handle
        self.reservoirs: list[Any] | None = None  # one per reader, made at the first sampled measurement


class _Core:
    """What a thin instrument records into: the series by SDK attribute key, and the lookup cache.

    It is the handles' owner (``name``, ``bridge`` and ``_rejected`` serve the drop counting)."""

    def __init__(self, path: FastPath, sdk: Any, limit: int) -> None:
        self.path = path
        self.bridge = path.bridge
        self.sdk = sdk
        self.name: str = sdk.name
        self.scope: InstrumentationScope = sdk.instrumentation_scope
        self.limit = limit
        self.handle_class = _kind(sdk)[1]
        bounds: Any = None
        if self.handle_class is HistogramHandle:
            advisory = sdk._advisory.explicit_bucket_boundaries
            bounds = tuple(_DEFAULT_EXPLICIT_BUCKET_HISTOGRAM_AGGREGATION_BOUNDARIES if advisory is None else advisory)
        self.bounds: tuple[float, ...] | None = bounds
        self.lock = threading.Lock()
        self._create_lock = threading.Lock()
        self._rejected = False
        self.series: dict[Any, _Series] = {}
        self.cache: dict[Any, Handle] = {}
        self.empty: Handle | None = None

    def handle_for(self, attributes: Any, amount: object) -> Handle:
        """The handle of ``attributes`` the SDK's way (clean, hash, limit), cached for the next call.

        A value the SDK would refuse makes no series (it would not take a place under the limit): it
        goes to a handle kept nowhere, which raises or drops and counts it."""
        if not self._acceptable(amount):
            if self.handle_class is HistogramHandle:
                assert self.bounds is not None
                return HistogramHandle(self, (), self.lock, self.bounds)  # type: ignore[arg-type]
            return self.handle_class(self, (), self.lock)  # type: ignore[arg-type]
        return self.series_for(attributes).handle

    def _acceptable(self, amount: object) -> bool:
        try:
            number = coerce(amount)
        except (TypeError, Unrepresentable):
            return False
        if not -_INF < number < _INF:
            return False
        return number >= 0 or self.handle_class in (UpDownCounterHandle, GaugeHandle)

    def series_for(self, attributes: Any) -> _Series:
        if attributes is None:
            cleaned: Any = {}
        elif isinstance(attributes, Mapping):
            cleaned = _clean_attribute_value(attributes, None)  # the SDK's warnings for invalid keys and values
        else:
            from opentelemetry.sdk.metrics._internal import measurement

            measurement._logger.warning(
                "Invalid type '%s' for attributes. Expected a Mapping or None.", type(attributes)
            )
            cleaned = {}
        key = _hash_attributes(cleaned)
        series = self.series.get(key)
        if series is None:
            with self._create_lock:
                series = self.series.get(key)
                if series is None:
                    series = self._new_series(key, cleaned)
        self._remember(attributes, cleaned, series.handle)
        return series

    def _new_series(self, key: Any, cleaned: dict[str, Any]) -> _Series:
        if not self.series:  # the first measurement: the SDK's storages list the instrument from now on
            self.path.register(self)
        if len(self.series) >= self.limit:
            key, cleaned = _OVERFLOW_KEY, dict(_OVERFLOW)
            series = self.series.get(key)
            if series is not None:
                return series
        handle: Handle
        if self.handle_class is HistogramHandle:
            assert self.bounds is not None
            handle = HistogramHandle(self, (), self.lock, self.bounds)  # type: ignore[arg-type]
        else:
            handle = self.handle_class(self, (), self.lock)  # type: ignore[arg-type]
        series = _Series(StableAttributes(cleaned), handle)  # never changed: the push caches its encoding
        self.series[key] = series  # in place: collection iterates a copy
        return series

    def _remember(self, attributes: Any, cleaned: Any, handle: Handle) -> None:
        """Cache the handle under the call's own items when they are plain scalars the SDK kept as given."""
        if not attributes:
            if attributes is None or type(attributes) is dict:
                self.empty = handle
            return
        if type(attributes) is not dict or len(cleaned) != len(attributes):
            return
        for k, v in attributes.items():
            if type(k) is not str or type(v) not in _CACHEABLE or v != v:
                return
        if len(self.cache) >= 4 * self.limit + 64:  # orderings and overflowed sets: bounded
            self.cache.clear()  # in place: the thin instrument holds this dict
        key = (*attributes.items(), *map(type, attributes.values()))
        self.cache[key] = handle

    def reset_after_fork(self, start: int) -> None:
        self.lock = threading.Lock()
        self._create_lock = threading.Lock()
        for series in self.series.values():
            series.handle._reset(self.lock, start)
            series.reservoirs = None

    def points(self, reader_index: int, now: int) -> list[Any] | None:
        """This instrument's points for one (cumulative) reader, or None when it has none (as the SDK's match)."""
        points: list[Any] = []
        gauge = self.handle_class is GaugeHandle
        for series in self.series.copy().values():
            handle: Any = series.handle
            if not handle._seen:
                continue
            exemplars: Sequence[Any] = ()
            if series.reservoirs is not None:
                exemplars = series.reservoirs[reader_index].collect(series.attributes)
            if self.handle_class is HistogramHandle:
                counts, total, low, high = handle.snapshot()
                points.append(
                    HistogramDataPoint(
                        attributes=series.attributes,
                        start_time_unix_nano=handle._start,
                        time_unix_nano=now,
                        count=sum(counts),
                        sum=total,
                        bucket_counts=tuple(counts),
                        explicit_bounds=self.bounds or (),
                        min=low,
                        max=high,
                        exemplars=list(exemplars),
                    )
                )
            else:
                points.append(
                    NumberDataPoint(
                        attributes=series.attributes,
                        start_time_unix_nano=None if gauge else handle._start,  # type: ignore[arg-type]
                        time_unix_nano=now,
                        value=handle.snapshot(),
                        exemplars=list(exemplars),
                    )
                )
        return points or None

    # -- exemplars -------------------------------------------------------------------------------

    def exemplar(self, value: object, attributes: Any, context: Context | None, method: str) -> bool:
        """Record a measurement the SDK's exemplar filter samples, with its exemplar; False when it does not."""
        cls = value.__class__
        if cls is not int and cls is not float:
            return False  # the handle raises or drops it; the SDK would offer nothing either
        number: float = value  # type: ignore[assignment]
        if not -_INF < number < _INF or (number < 0 and self.handle_class in (CounterHandle, HistogramHandle)):
            return False
        ctx = context or _get_current()
        if not self.path.exemplar_filter.should_sample(value, time.time_ns(), attributes, ctx):
            return False
        series = self.series_for(attributes)
        getattr(series.handle, method)(number)
        with self._create_lock:
            if series.reservoirs is None:
                series.reservoirs = [self.path.reservoir(self) for _ in range(self.path.reader_count)]
        now = time.time_ns()
        cleaned = series.attributes if attributes is None else self._cleaned(attributes)
        for reservoir in series.reservoirs:
            reservoir.offer(number, now, cleaned, ctx)
        return True

    @staticmethod
    def _cleaned(attributes: Any) -> Any:
        return _clean_attribute_value(attributes, None) if isinstance(attributes, Mapping) else None


class _FastCounter(ApiCounter):
    """A Counter recording into handles (see the module docstring)."""

    def __init__(self, core: _Core) -> None:
        self.name, self.unit, self.description = core.sdk.name, core.sdk.unit, core.sdk.description
        self._core = core
        self._cache = core.cache
        self._exemplars = core.path.exemplars_on
        self._always = not core.path.trace_based

    def add(self, amount: float, attributes: Any = None, context: Context | None = None) -> None:
        if (
            self._exemplars
            and (self._always or (context or _get_current()).get(_SPAN_KEY) is not None)
            and self._core.exemplar(amount, attributes, context, "add")
        ):
            return
        if attributes:
            try:
                key = (*attributes.items(), *map(type, attributes.values()))
                handle: Any = self._cache[key]
            except Exception:  # a miss, an unhashable value, not a mapping: the SDK's way
                handle = self._core.handle_for(attributes, amount)
        else:
            handle = self._core.empty or self._core.handle_for(attributes, amount)
        handle.add(amount)


class _FastUpDownCounter(ApiUpDownCounter):
    """An UpDownCounter recording into handles (see the module docstring)."""

    def __init__(self, core: _Core) -> None:
        self.name, self.unit, self.description = core.sdk.name, core.sdk.unit, core.sdk.description
        self._core = core
        self._cache = core.cache
        self._exemplars = core.path.exemplars_on
        self._always = not core.path.trace_based

    def add(self, amount: float, attributes: Any = None, context: Context | None = None) -> None:
        if (
            self._exemplars
            and (self._always or (context or _get_current()).get(_SPAN_KEY) is not None)
            and self._core.exemplar(amount, attributes, context, "add")
        ):
            return
        if attributes:
            try:
                key = (*attributes.items(), *map(type, attributes.values()))
                handle: Any = self._cache[key]
            except Exception:  # a miss, an unhashable value, not a mapping: the SDK's way
                handle = self._core.handle_for(attributes, amount)
        else:
            handle = self._core.empty or self._core.handle_for(attributes, amount)
        handle.add(amount)


class _FastHistogram(ApiHistogram):
    """A Histogram recording into handles (see the module docstring)."""

    def __init__(self, core: _Core) -> None:
        self.name, self.unit, self.description = core.sdk.name, core.sdk.unit, core.sdk.description
        self._core = core
        self._cache = core.cache
        self._exemplars = core.path.exemplars_on
        self._always = not core.path.trace_based

    def record(self, amount: float, attributes: Any = None, context: Context | None = None) -> None:
        if (
            self._exemplars
            and (self._always or (context or _get_current()).get(_SPAN_KEY) is not None)
            and self._core.exemplar(amount, attributes, context, "record")
        ):
            return
        if attributes:
            try:
                key = (*attributes.items(), *map(type, attributes.values()))
                handle: Any = self._cache[key]
            except Exception:  # a miss, an unhashable value, not a mapping: the SDK's way
                handle = self._core.handle_for(attributes, amount)
        else:
            handle = self._core.empty or self._core.handle_for(attributes, amount)
        handle.record(amount)


class _FastGauge(ApiGauge):
    """A synchronous Gauge recording into handles (see the module docstring)."""

    def __init__(self, core: _Core) -> None:
        self.name, self.unit, self.description = core.sdk.name, core.sdk.unit, core.sdk.description
        self._core = core
        self._cache = core.cache
        self._exemplars = core.path.exemplars_on
        self._always = not core.path.trace_based

    def set(self, amount: float, attributes: Any = None, context: Context | None = None) -> None:
        if (
            self._exemplars
            and (self._always or (context or _get_current()).get(_SPAN_KEY) is not None)
            and self._core.exemplar(amount, attributes, context, "set")
        ):
            return
        if attributes:
            try:
                key = (*attributes.items(), *map(type, attributes.values()))
                handle: Any = self._cache[key]
            except Exception:  # a miss, an unhashable value, not a mapping: the SDK's way
                handle = self._core.handle_for(attributes, amount)
        else:
            handle = self._core.empty or self._core.handle_for(attributes, amount)
        handle.set(amount)


_THIN: dict[type[Handle], Callable[[_Core], Any]] = {
    CounterHandle: _FastCounter,
    UpDownCounterHandle: _FastUpDownCounter,
    GaugeHandle: _FastGauge,
    HistogramHandle: _FastHistogram,
}


def _kind(sdk: object) -> tuple[type, type[Handle]]:
    """The (SDK class, handle class) of a synchronous SDK instrument (its public base), or KeyError."""
    for entry in _KINDS:
        if isinstance(sdk, entry[0]):
            return entry
    raise KeyError(type(sdk).__name__)


def self_check(provider: Any) -> str | None:
    """Why the fast path cannot reproduce this SDK's output, or None: the internals it reads are there
    and behave as the pinned SDK's do (a type-tagged attribute hash, the cleaning that makes sequences tuples)."""
    if _IMPORTED is not None:
        return _IMPORTED
    try:
        config = provider._sdk_config
        checks = [
            isinstance(list(config.views), list) and config.exemplar_filter is not None,
            all(
                isinstance(getattr(r, a), dict)
                for r in provider._metric_readers
                for a in (
                    "_instrument_class_temporality",
                    "_instrument_class_aggregation",
                    "_instrument_class_cardinality_limit",
                )
            ),
            _hash_attributes({"a": 1}) != _hash_attributes({"a": True}),
            _hash_attributes({"a": "x", "b": "y"}) == _hash_attributes({"b": "y", "a": "x"}),
            _clean_attribute_value({"k": ["v", 1], "b": b"x"}, None) == {"k": ("v", 1), "b": b"x"},  # logs nothing
            isinstance(_SPAN_KEY, str),
            len(_DEFAULT_EXPLICIT_BUCKET_HISTOGRAM_AGGREGATION_BOUNDARIES) > 0,
            set(provider._measurement_consumer._reader_storages) == set(provider._metric_readers),
            _registration_works(),
        ]
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    return None if all(checks) else "the SDK's attribute handling differs from the pinned range"


@functools.cache
def _registration_works() -> bool:
    """Whether a collect put on a storage's view match (``FastPath.register``) is what the SDK's collection
    reads, in the storage's order (probed once on a MeterProvider of its own)."""
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader

    reader = InMemoryMetricReader()
    provider = SdkMeterProvider(metric_readers=[reader], shutdown_on_exit=False)
    try:
        meter = provider.get_meter("probe")
        first, second = meter.create_counter("first"), meter.create_counter("second")
        storage: Any = provider._measurement_consumer._reader_storages[reader]
        with storage._lock:
            for match in storage._get_or_init_view_instrument_match(first):
                match.collect = lambda temporality, now: [
                    NumberDataPoint(attributes={}, start_time_unix_nano=1, time_unix_nano=now, value=7)
                ]
        second.add(1)
        data = reader.get_metrics_data()
        assert data is not None
        metrics = data.resource_metrics[0].scope_metrics[0].metrics
        return [(m.name, m.data.data_points[0].value) for m in metrics] == [("first", 7), ("second", 1)]  # type: ignore[union-attr]
    finally:
        provider.shutdown()


def _default_aggregation(aggregation: object) -> bool:
    """The default aggregation, or explicit buckets without bounds of their own (the OTLP reader's
    ``otlp_histogram_aggregation=explicit``), which the SDK resolves the same way (advisory, else defaults)."""
    if isinstance(aggregation, DefaultAggregation):
        return True
    return (
        type(aggregation) is ExplicitBucketHistogramAggregation
        and aggregation._boundaries is None
        and aggregation._record_min_max is True
    )


class FastPath:
    """The thin instruments of one MeterProvider, each registered in every reader's SDK storage."""

    def __init__(self, provider: SdkMeterProvider, bridge: Bridge, enabled: bool = True) -> None:
        self.provider = provider
        self.bridge = bridge
        self._lock = threading.Lock()
        self._cores: dict[int, tuple[Any, _Core, Any]] = {}  # id(SDK instrument) -> (it, core, thin)
        self.broken = self_check(provider) if enabled else "OTELSVC_API_FAST_PATH=false"
        if enabled and self.broken is not None:
            # An SDK before 1.45 lacks the internals it reproduces: expected, said once at info level.
            # Within the range the check was written for, a failure is a surprise worth a warning.
            level = logging.INFO if _IMPORTED is not None else logging.WARNING
            _log.log(
                level, "otelsvc: the OTel API fast path is off (%s); instruments record through the SDK", self.broken
            )
        config: Any = getattr(provider, "_sdk_config", None)
        self.exemplar_filter: Any = getattr(config, "exemplar_filter", None)
        self.exemplars_on = not isinstance(self.exemplar_filter, AlwaysOffExemplarFilter)
        self.trace_based = isinstance(self.exemplar_filter, TraceBasedExemplarFilter)
        self.known_filter = isinstance(
            self.exemplar_filter, (AlwaysOffExemplarFilter, AlwaysOnExemplarFilter, TraceBasedExemplarFilter)
        )
        self.views = list(getattr(config, "views", ()))
        self.readers: list[MetricReader] = list(getattr(provider, "_metric_readers", ()))
        self.reader_count = len(self.readers)
        consumer: Any = getattr(provider, "_measurement_consumer", None)
        # Replaced, never changed in place, when a reader is added or removed (then nothing new is thin).
        storage_map: Any = getattr(consumer, "_reader_storages", {})
        self._storage_map = storage_map
        self._storages: list[Any] = [] if self.broken else [storage_map[r] for r in self.readers]

    def register(self, core: _Core) -> None:
        """List ``core``'s instrument in every reader's SDK storage (as its first measurement would), with a
        collect reading ``core``'s handles in place of the SDK's aggregations."""
        for index, storage in enumerate(self._storages):
            with storage._lock:  # the SDK's collection holds it: it sees the instrument with its collect or not at all
                for match in storage._get_or_init_view_instrument_match(core.sdk):
                    match.collect = _Collect(core, index)

    def eligible(self, sdk: Any) -> int | None:
        """The cardinality limit when the SDK's output for ``sdk`` can be reproduced exactly, else None.

        Exactly: no View, and for every reader cumulative temporality, the default aggregation and one
        shared cardinality limit; a known exemplar filter; an enabled instrument. Anything else (a delta
        reader, ``otlp_histogram_aggregation=exponential``, a View) keeps the SDK instrument."""
        cls = type(sdk)
        if self.broken is not None or self.views or not self.known_filter or not self.readers:
            return None
        if self.provider._measurement_consumer._reader_storages is not self._storage_map:
            return None  # a reader was added or removed since start
        try:
            _kind(sdk)
        except KeyError:
            return None
        if not sdk._is_enabled():
            return None
        limits = set()
        for reader in self.readers:
            if reader._instrument_class_temporality.get(cls) is not _CUMULATIVE:
                return None
            if not _default_aggregation(reader._instrument_class_aggregation.get(cls)):
                return None
            limits.add(reader._instrument_class_cardinality_limit.get(cls))
        if len(limits) != 1:
            return None
        limit = limits.pop()
        return limit if isinstance(limit, int) and limit > 0 else None

    def wrap(self, sdk: Any) -> Any:
        """The thin instrument in front of ``sdk`` (the same one for the same SDK instrument), or ``sdk``."""
        entry = self._cores.get(id(sdk))
        if entry is not None and entry[0] is sdk:
            return entry[2]
        limit = self.eligible(sdk)
        if limit is None:
            return sdk
        with self._lock:
            entry = self._cores.get(id(sdk))
            if entry is not None and entry[0] is sdk:
                return entry[2]
            core = _Core(self, sdk, limit)
            thin = _THIN[core.handle_class](core)
            self._cores = {**self._cores, id(sdk): (sdk, core, thin)}
            return thin

    def reservoir(self, core: _Core) -> Any:
        """A new exemplar reservoir as the SDK's default aggregation for ``core``'s kind makes it."""
        from opentelemetry.sdk.metrics._internal.view import _default_reservoir_factory

        if core.handle_class is HistogramHandle:
            from opentelemetry.sdk.metrics._internal.aggregation import _ExplicitBucketHistogramAggregation

            return _default_reservoir_factory(_ExplicitBucketHistogramAggregation)(boundaries=core.bounds)  # type: ignore[call-arg]
        from opentelemetry.sdk.metrics._internal.aggregation import _LastValueAggregation, _SumAggregation

        kind = _LastValueAggregation if core.handle_class is GaugeHandle else _SumAggregation
        return _default_reservoir_factory(kind)()  # type: ignore[call-arg]

    def reset_after_fork(self, start: int) -> None:
        self._lock = threading.Lock()
        for _, core, _ in self._cores.values():
            core.reset_after_fork(start)


class _Collect:
    """A thin instrument's collect, in place of its SDK view match's: the points of its handles."""

    __slots__ = ("core", "index")

    def __init__(self, core: _Core, index: int) -> None:
        self.core = core
        self.index = index

    def __call__(self, temporality: AggregationTemporality, collection_start_nanos: int) -> list[Any] | None:
        return self.core.points(self.index, collection_start_nanos)


class _FastMeter(SdkMeter):
    """An SDK meter whose synchronous instruments are thin when ``FastPath.eligible`` allows."""

    _otelsvc_fast: FastPath

    def create_counter(self, name: str, unit: str = "", description: str = "") -> Any:
        return self._otelsvc_fast.wrap(super().create_counter(name, unit, description))

    def create_up_down_counter(self, name: str, unit: str = "", description: str = "") -> Any:
        return self._otelsvc_fast.wrap(super().create_up_down_counter(name, unit, description))

    def create_histogram(
        self,
        name: str,
        unit: str = "",
        description: str = "",
        *,
        explicit_bucket_boundaries_advisory: Sequence[float] | None = None,
    ) -> Any:
        return self._otelsvc_fast.wrap(
            super().create_histogram(
                name, unit, description, explicit_bucket_boundaries_advisory=explicit_bucket_boundaries_advisory
            )
        )

    def create_gauge(self, name: str, unit: str = "", description: str = "") -> Any:
        return self._otelsvc_fast.wrap(super().create_gauge(name, unit, description))


class FastMeterProvider(SdkMeterProvider):
    """The SDK's MeterProvider, whose meters give thin instruments (see the module docstring)."""

    def __init__(self, *args: Any, bridge: Bridge, fast: bool = True, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.otelsvc_fast = FastPath(self, bridge, fast)
        self._fast_meter_lock = threading.Lock()

    def get_meter(
        self, name: str, version: str | None = None, schema_url: str | None = None, attributes: Any = None
    ) -> Any:
        meter = super().get_meter(name, version, schema_url, attributes)
        if type(meter) is SdkMeter and self.otelsvc_fast.broken is None:
            with self._fast_meter_lock:
                if type(meter) is SdkMeter:
                    meter._otelsvc_fast = self.otelsvc_fast  # type: ignore[attr-defined]
                    meter.__class__ = _FastMeter
        return meter
