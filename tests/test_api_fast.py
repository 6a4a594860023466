"""The OTel API fast path against a plain SDK MeterProvider fed the same measurements: identical
Prometheus text and identical OTLP points, for every synchronous kind (observables stay on the SDK
path and are compared too), attribute handling, cardinality overflow, scopes and exemplars."""

from __future__ import annotations

import importlib.metadata
import inspect
import logging
import math
import os
import re
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import pytest
from conftest import Rotel
from opentelemetry.sdk.metrics import (
    AlwaysOffExemplarFilter,
    AlwaysOnExemplarFilter,
    Counter,
    Histogram,
    MeterProvider,
    ObservableCounter,
    ObservableGauge,
    ObservableUpDownCounter,
    TraceBasedExemplarFilter,
    UpDownCounter,
    _Gauge,
)
from opentelemetry.sdk.metrics.export import AggregationTemporality, InMemoryMetricReader, MetricsData
from opentelemetry.sdk.metrics.view import (
    DropAggregation,
    ExplicitBucketHistogramAggregation,
    ExponentialBucketHistogramAggregation,
    View,
)
from opentelemetry.sdk.trace import TracerProvider

from otelsvc._api_fast import FastMeterProvider
from otelsvc._bridge import Bridge
from otelsvc._config import load_settings
from otelsvc._errors import ConfigError
from otelsvc._guard import ProviderGuard
from otelsvc._prometheus import PrometheusReader
from otelsvc._stable_attributes import StableAttributes

_CLASSES = (Counter, UpDownCounter, Histogram, _Gauge, ObservableCounter, ObservableUpDownCounter, ObservableGauge)
_FILTERS = {
    "always_off": AlwaysOffExemplarFilter,
    "always_on": AlwaysOnExemplarFilter,
    "trace_based": TraceBasedExemplarFilter,
}


class Pair:
    """A guard (fast path) and a plain SDK MeterProvider with the same readers and Resource."""

    def __init__(self, limit: int = 2000, exemplar_filter: str = "always_off", **extra: Any) -> None:
        limits = {cls: limit for cls in _CLASSES}
        self.reader = InMemoryMetricReader(cardinality_limits=limits)
        settings = {
            "prometheus": "127.0.0.1:0",
            "set_global": False,
            "runtime_metrics": False,
            "cardinality_limit": limit,
            **extra,
        }
        env = {"OTEL_METRICS_EXEMPLAR_FILTER": exemplar_filter}
        self.guard = ProviderGuard(load_settings(settings, env=env), extra_readers=[self.reader])
        self.ref_reader = InMemoryMetricReader(cardinality_limits=limits)
        bridge = Bridge(limit)
        bridge.resource = self.guard.resource
        self.ref_prometheus = PrometheusReader(bridge, limit)
        self.ref = MeterProvider(
            metric_readers=[self.ref_prometheus, self.ref_reader],
            resource=self.guard.resource,
            exemplar_filter=_FILTERS[exemplar_filter](),
            shutdown_on_exit=False,
        )

    def both(self, action: Callable[[Any], None]) -> None:
        """Run ``action`` on the guard's meter provider, then on the reference one."""
        action(self.guard.meter_provider)
        action(self.ref)

    def assert_identical(self) -> tuple[str, list[Any]]:
        ours, theirs = _own_out(self.guard.render_metrics().decode()), self.ref_prometheus.render().decode()
        assert ours == theirs
        points, ref_points = _points(self.reader.get_metrics_data()), _points(self.ref_reader.get_metrics_data())
        assert points == ref_points
        return ours, points

    def close(self) -> None:
        self.guard.shutdown()
        self.ref.shutdown()


def _type_name(value: object) -> str:
    return "dict" if type(value) is StableAttributes else type(value).__name__


@pytest.fixture
def pair() -> Any:
    p = Pair()
    yield p
    p.close()


def _own_out(text: str) -> str:
    """The scrape without otelsvc's own families (the span-drop counter of a guard that pushes spans)."""
    return "".join(line for line in text.splitlines(keepends=True) if not re.match(r"(# (HELP|TYPE) )?otelsvc_", line))


def _points(data: MetricsData | None) -> list[Any]:
    """Everything of a collection but its timestamps (which only say whether they are set)."""
    assert data is not None
    out: list[Any] = []
    for rm in data.resource_metrics:
        out.append(("resource", dict(rm.resource.attributes), rm.schema_url))
        for sm in rm.scope_metrics:
            if sm.scope.name in ("otelsvc", "otelsvc.self"):  # otelsvc's own (span drops, measurement drops)
                continue
            out.append(("scope", sm.scope, sm.schema_url))
            for metric in sm.metrics:
                if metric.name.startswith("otelsvc."):
                    continue
                data_ = metric.data
                out.append(
                    (
                        "metric",
                        metric.name,
                        metric.unit,
                        metric.description,
                        type(data_).__name__,
                        getattr(data_, "is_monotonic", None),
                        getattr(data_, "aggregation_temporality", None),
                    )
                )
                for p in data_.data_points:
                    entry = {k: v for k, v in vars(p).items() if k not in ("start_time_unix_nano", "time_unix_nano")}
                    entry["start"] = p.start_time_unix_nano is not None
                    # the fast path's attributes are a dict subclass the push caches its encoding on
                    entry["types"] = {k: _type_name(v) for k, v in entry.items()}
                    entry["exemplars"] = [
                        (e.value, dict(e.filtered_attributes or {}), e.trace_id, e.span_id) for e in p.exemplars
                    ]
                    out.append(entry)
    return out


ATTRS = {"service": "checkout", "route": "/orders", "code": "200"}


def _all_kinds(provider: Any) -> None:
    meter = provider.get_meter("lib.a", "1.2.3", "https://opentelemetry.io/schemas/1.21.0", {"team": "x"})
    counter = meter.create_counter("requests", unit="{request}", description="Requests")
    updown = meter.create_up_down_counter("inflight", description="In flight")
    gauge = meter.create_gauge("temperature", unit="Cel")
    hist = meter.create_histogram("latency", unit="s", description="Latency")
    advised = meter.create_histogram("size", unit="By", explicit_bucket_boundaries_advisory=[1, 10, 100.5])
    other = provider.get_meter("lib.b").create_counter("jobs")
    for i in range(50):
        counter.add(1, ATTRS)
        counter.add(0.5, {"route": "/orders", "code": "200", "service": "checkout"})  # another order, same set
        counter.add(i, {"service": "billing", "code": 500})
        updown.add(-1 if i % 3 else 2, {"queue": "a"})
        gauge.set(i * 1.5 - 20, {"room": "1"})
        hist.record(i / 10, ATTRS)
        hist.record(i * 300, {"code": 200})
        advised.record(i, None)
        other.add(2)
    counter.add(1)
    counter.add(1, {})
    gauge.set(7)
    hist.record(0.0, {"ok": True})


def test_every_kind_identical_to_the_sdk(pair: Pair) -> None:
    pair.both(_all_kinds)
    text, _ = pair.assert_identical()
    assert 'service="billing"' in text and 'otel_scope_name="lib.b"' in text
    assert "latency_seconds_bucket" in text and 'le="100.5"' in text
    pair.both(_all_kinds)  # a second interval through the same (cached) instruments
    pair.assert_identical()


def test_scopes_and_instruments_interleaved_in_the_sdk_order(pair: Pair) -> None:
    """Scopes and metrics in the SDK's order (the first measurement of each instrument, an observable's
    at the first collection it observes something), thin and SDK instruments interleaved within a scope
    and across scopes; a name in two scopes takes the HELP of the first, as the SDK's collection gives."""
    from opentelemetry.metrics import Observation

    observing: list[bool] = []
    meters: dict[int, list[Any]] = {}

    def first(provider: Any) -> None:
        a, b, c = (provider.get_meter(n) for n in ("a", "b", "c"))
        meters[id(provider)] = [a, b, c]
        late = a.create_counter("a.late")  # created first, measured last
        b.create_observable_gauge("b.obs", [lambda o: [Observation(1, {"k": "v"})] if observing else []])
        c.create_counter("shared", description="from c").add(1, ATTRS)
        a.create_histogram("a.h").record(1.0)
        b.create_counter("b.c").add(2)
        a.create_observable_counter("a.obs", [lambda o: [Observation(4)]])
        a.create_up_down_counter("a.u").add(-1, {"x": "y"})
        a.create_counter("shared", description="from a").add(3, ATTRS)
        meters[id(provider)].append(late)

    def second(provider: Any) -> None:
        a, b, c, late = meters[id(provider)]
        b.create_gauge("b.g").set(5)
        late.add(1)
        c.create_histogram("c.h").record(2.0, ATTRS)
        a.create_counter("a.c").add(1)

    pair.both(first)
    text, _ = pair.assert_identical()
    order = [line.split()[2] for line in text.splitlines() if line.startswith("# TYPE")]
    assert order == ["target_info", "shared_total", "a_h", "a_u", "a_obs_total", "b_c_total"]  # scopes c, a, b
    assert "# HELP shared_total from c\n" in text
    observing.append(True)  # b.obs observes from the next collection on: it takes its place there
    pair.both(second)
    text, points = pair.assert_identical()
    scopes = [p[1].name for p in points if isinstance(p, tuple) and p[0] == "scope"]
    assert scopes == ["c", "a", "b"]
    metrics = [p[1] for p in points if isinstance(p, tuple) and p[0] == "metric"]
    assert metrics.index("a.obs") < metrics.index("a.late") < metrics.index("a.c")
    assert metrics.index("b.c") < metrics.index("b.g") < metrics.index("b.obs")  # measured before that collection


def _observables(provider: Any) -> None:
    from opentelemetry.metrics import Observation

    meter = provider.get_meter("lib.obs")
    meter.create_observable_counter("obs.c", [lambda o: [Observation(5, ATTRS), Observation(1, {"code": "500"})]])
    meter.create_observable_up_down_counter("obs.u", [lambda o: [Observation(-5, {"service": "a"})]])
    meter.create_observable_gauge("obs.g", [lambda o: [Observation(2.5, ATTRS)]])


_sdk_version = importlib.metadata.version("opentelemetry-sdk")
_READER_LIMITS = "cardinality_limits" in inspect.signature(InMemoryMetricReader).parameters

# The fast path reproduces SDK internals that SDKs before 1.45 do not have; there it is off and every
# instrument records through the SDK (``tests/test_api_fast_fallback.py`` runs everywhere). Decided by
# the version, not by whether the fast path came up: on 1.45 a broken fast path fails here, never skips.
OLD_SDK = tuple(int(p) for p in _sdk_version.split(".")[:2]) < (1, 45)
pytestmark = pytest.mark.skipif(OLD_SDK, reason=f"the API fast path is off on SDK {_sdk_version} (before 1.45)")

_VIEW_CASES: dict[str, dict[str, Any]] = {
    "attribute filtering": {"views": [View(instrument_name="*", attribute_keys={"service", "queue"})]},
    "renamed stream": {"views": [View(instrument_name="requests", name="renamed", description="Renamed")]},
    "drop": {"views": [View(instrument_name="latency", aggregation=DropAggregation())]},
    "explicit histogram": {
        "views": [View(instrument_type=Histogram, aggregation=ExplicitBucketHistogramAggregation([0.5, 5, 500]))]
    },
    "exponential histogram (View)": {
        "views": [View(instrument_type=Histogram, aggregation=ExponentialBucketHistogramAggregation(max_size=20))]
    },
    "exponential histogram (reader)": {"aggregation": ExponentialBucketHistogramAggregation()},
    # a View's and a reader's own cardinality limits exist from SDK 1.45.2
    **(
        {
            "cardinality limit (View)": {"views": [View(instrument_name="*", aggregation_cardinality_limit=2)]},
            "cardinality limit (reader)": {"limit": 2},
        }
        if _READER_LIMITS and "aggregation_cardinality_limit" in inspect.signature(View).parameters
        else {}
    ),
    "delta temporality": {"temporality": AggregationTemporality.DELTA},
    "no View": {},
}


@pytest.mark.parametrize("case", list(_VIEW_CASES))
def test_view_features_and_temporality_identical_to_the_sdk(case: str) -> None:
    """The guard's MeterProvider class against a plain SDK one with the same Views and readers, over two
    intervals, synchronous and observable: where the fast path cannot be identical it keeps the SDK
    instrument (``FastPath.eligible``), so every feature still comes out as the SDK's."""
    spec = _VIEW_CASES[case]

    def reader() -> InMemoryMetricReader:
        limit = spec.get("limit", 2000)
        temporality, aggregation = spec.get("temporality"), spec.get("aggregation")
        limits = {"cardinality_limits": {c: limit for c in _CLASSES}} if _READER_LIMITS else {}
        return InMemoryMetricReader(
            preferred_temporality={c: temporality for c in _CLASSES} if temporality else None,
            preferred_aggregation={Histogram: aggregation} if aggregation else None,
            **limits,
        )

    bridge = Bridge(2000)
    ours_reader, theirs_reader = reader(), reader()
    common: dict[str, Any] = {
        "views": spec.get("views", ()),
        "exemplar_filter": AlwaysOffExemplarFilter(),
        "shutdown_on_exit": False,
    }
    ours = FastMeterProvider(metric_readers=[ours_reader], bridge=bridge, **common)
    theirs = MeterProvider(metric_readers=[theirs_reader], **common)
    try:
        probe = ours.get_meter("probe")
        kinds = {type(probe.create_counter("c")).__name__, type(probe.create_histogram("h")).__name__}
        fast = case in ("no View", "cardinality limit (reader)")  # the rest keeps the SDK path (histograms at least)
        assert kinds == ({"_FastCounter", "_FastHistogram"} if fast else kinds - {"_FastHistogram"})
        for provider in (ours, theirs):
            _observables(provider)
        for _ in range(2):
            for provider in (ours, theirs):
                _all_kinds(provider)
            points = _points(ours_reader.get_metrics_data())
            assert points == _points(theirs_reader.get_metrics_data())
            assert len(points) > 10
    finally:
        ours.shutdown()
        theirs.shutdown()


def test_instruments_are_thin_and_repeatable(pair: Pair) -> None:
    meter = pair.guard.meter("m")
    counter = meter.create_counter("c")
    assert type(counter).__name__ == "_FastCounter"
    assert meter.create_counter("c") is counter
    assert isinstance(pair.guard.meter_provider, MeterProvider)
    assert isinstance(pair.guard.meter_provider, FastMeterProvider)


def test_attribute_types_stay_apart_as_in_the_sdk(pair: Pair) -> None:
    class Text(str):
        pass

    def record(provider: Any) -> None:
        counter = provider.get_meter("types").create_counter("typed")
        for value in (1, True, 1.0, "1", Text("1"), b"1", None, (1, 2), [1, 2], (True, 2), math.nan):
            for _ in range(3):
                counter.add(1, {"v": value})
                counter.add(2, {"v": value, "w": "x"})

    pair.both(record)
    _, points = pair.assert_identical()
    assert len([p for p in points if isinstance(p, dict)]) >= 20


def test_invalid_attributes_dropped_with_the_sdk_warning(pair: Pair, caplog: pytest.LogCaptureFixture) -> None:
    def record(provider: Any) -> None:
        counter = provider.get_meter("invalid").create_counter("c")
        counter.add(1, {"": "empty key", "ok": "1"})
        counter.add(1, {5: "int key", "ok": "1"})  # type: ignore[dict-item]
        counter.add(1, {"obj": object(), "ok": "2"})
        counter.add(1, ["not", "a", "mapping"])  # type: ignore[arg-type]
        counter.add(1, {"nested": {"a": [1, "b"]}})

    caplog.set_level(logging.WARNING)
    pair.guard.meter_provider.get_meter("invalid").create_counter("c")
    record(pair.guard.meter_provider)
    ours = sorted(r.getMessage() for r in caplog.records if r.name.startswith("opentelemetry"))
    caplog.clear()
    record(pair.ref)
    theirs = sorted(r.getMessage() for r in caplog.records if r.name.startswith("opentelemetry"))
    assert ours == theirs and len(ours) >= 4
    pair.assert_identical()


def test_cardinality_limit_and_overflow_as_the_sdk() -> None:
    pair = Pair(limit=5)
    try:

        def record(provider: Any) -> None:
            counter = provider.get_meter("card").create_counter("c")
            hist = provider.get_meter("card").create_histogram("h")
            counter.add(-1, {"id": "refused"})  # refused values make no series (none under the limit)
            hist.record(math.nan, {"id": "refused"})
            for i in range(12):
                for _ in range(2):
                    counter.add(i, {"id": str(i)})
                    hist.record(i, {"id": str(i)})

        pair.both(record)
        text, _ = pair.assert_identical()
        assert 'otel_metric_overflow="true"' in text
        assert text.count("c_total{") == 6  # five series and the overflow one, as the SDK exports
        pair.both(record)
        pair.assert_identical()
    finally:
        pair.close()


def test_value_checks_are_the_handles(pair: Pair) -> None:
    counter = pair.guard.meter("checks").create_counter("c")
    hist = pair.guard.meter("checks").create_histogram("h")
    with pytest.raises(TypeError):
        counter.add("1", ATTRS)  # type: ignore[arg-type]
    counter.add(-1, ATTRS)
    counter.add(math.inf, ATTRS)
    hist.record(math.nan, ATTRS)
    hist.record(-2.0)
    counter.add(10**400, ATTRS)  # the SDK raises OverflowError here; a handle drops and counts it
    counter.add(3, ATTRS)
    text = pair.guard.render_metrics().decode()
    assert re.search(r"^c_total\{.*\} 3\.0$", text, re.M)
    dropped = re.findall(r'^otelsvc_measurements_dropped_total\{.*reason="(\w+)".*\} (\S+)$', text, re.M)
    assert sorted(dropped) == [("negative", "2.0"), ("not_finite", "2.0"), ("unrepresentable", "1.0")]


@pytest.mark.parametrize("exemplar_filter", ["always_on", "trace_based"])
def test_exemplars_as_the_sdk(exemplar_filter: str) -> None:
    pair = Pair(exemplar_filter=exemplar_filter)
    tracer = TracerProvider().get_tracer("t")
    try:

        def record(provider: Any) -> None:
            meter = provider.get_meter("ex")
            hist = meter.create_histogram("h", explicit_bucket_boundaries_advisory=[1, 10])
            counter = meter.create_counter("c")
            gauge = meter.create_gauge("g")
            hist.record(0.5, ATTRS)  # outside any span: an exemplar only with always_on
            with tracer.start_as_current_span("s"):
                hist.record(5, ATTRS)
                hist.record(50, {"service": "checkout", "route": "/orders"})
                counter.add(2, ATTRS)  # one measurement per series: the reservoir's choice is not random
                gauge.set(3, ATTRS)

        pair.guard.meter_provider.get_meter("ex")
        with tracer.start_as_current_span("outer"):
            pass
        # the same trace ids on both sides: record under one span each, compare with ids masked
        pair.both(record)
        ours, theirs = pair.reader.get_metrics_data(), pair.ref_reader.get_metrics_data()
        masked = [_mask(p) for p in _points(ours)]
        assert masked == [_mask(p) for p in _points(theirs)]
        assert sum(len(p["exemplars"]) for p in masked if isinstance(p, dict)) >= 4
    finally:
        pair.close()


def _mask(entry: Any) -> Any:
    if isinstance(entry, dict):
        entry = dict(entry, exemplars=[(v, a, bool(t), bool(s)) for v, a, t, s in entry["exemplars"]])
    return entry


def test_identical_with_the_otlp_push_configured(rotel: Rotel) -> None:
    """The OTLP reader prefers explicit buckets without bounds of its own: still the fast path. (A live
    collector, so that no abandoned export thread outlives the test into a later fork.)"""
    pair = Pair(otlp_endpoint=rotel.endpoint("http/protobuf"), otlp_protocol="http/protobuf", export_interval=3600)
    try:
        assert type(pair.guard.meter("m").create_histogram("h")).__name__ == "_FastHistogram"
        pair.both(_all_kinds)
        pair.assert_identical()
    finally:
        pair.close()


def test_exponential_histograms_on_the_otlp_reader_keep_the_sdk_histogram(rotel: Rotel) -> None:
    guard = ProviderGuard(
        load_settings(
            {
                "prometheus": "127.0.0.1:0",
                "set_global": False,
                "runtime_metrics": False,
                "otlp_endpoint": rotel.endpoint("http/protobuf"),
                "export_interval": 3600,
                "otlp_protocol": "http/protobuf",
                "otlp_histogram_aggregation": "exponential",
            },
            env={},
        )
    )
    try:
        meter = guard.meter("expo")
        assert type(meter.create_histogram("h")).__name__ == "_Histogram"
        assert type(meter.create_counter("c")).__name__ == "_FastCounter"
    finally:
        guard.shutdown()


def test_self_check_keeps_the_sdk_when_its_internals_differ(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import otelsvc._api_fast as api_fast

    monkeypatch.setattr(api_fast, "_hash_attributes", lambda attributes: frozenset(attributes.items()))
    guard = ProviderGuard(
        load_settings({"prometheus": "127.0.0.1:0", "set_global": False, "runtime_metrics": False}, env={})
    )
    try:
        assert type(guard.meter("m").create_counter("c")).__name__ == "_Counter"
        assert "OTel API fast path is off" in caplog.text
    finally:
        guard.shutdown()


def test_the_setting_turns_it_off(caplog: pytest.LogCaptureFixture) -> None:
    settings = {"prometheus": "127.0.0.1:0", "set_global": False, "runtime_metrics": False}
    guard = ProviderGuard(load_settings(settings, env={"OTELSVC_API_FAST_PATH": "false"}))
    try:
        counter = guard.meter("m").create_counter("c")
        assert type(counter).__name__ == "_Counter" and type(guard.meter("m")).__name__ == "Meter"
        counter.add(2)
        assert re.search(r"^c_total\{.*\} 2\.0$", guard.render_metrics().decode(), re.M)
        assert "fast path" not in caplog.text
    finally:
        guard.shutdown()
    with pytest.raises(ConfigError, match="OTELSVC_API_FAST_PATH"):
        load_settings(settings, env={"OTELSVC_API_FAST_PATH": "maybe"})


def test_falls_back_to_the_sdk_where_it_cannot_be_identical() -> None:
    delta = InMemoryMetricReader(preferred_temporality={Counter: AggregationTemporality.DELTA})
    guard = ProviderGuard(
        load_settings({"prometheus": "127.0.0.1:0", "set_global": False, "runtime_metrics": False}, env={}),
        extra_readers=[delta],
    )
    try:
        meter = guard.meter("fallback")
        assert type(meter.create_counter("c")).__name__ == "_Counter"  # a delta reader: the SDK's own
        assert type(meter.create_histogram("h")).__name__ == "_FastHistogram"
        assert type(meter.create_observable_gauge("o", [lambda o: []])).__name__ == "_ObservableGauge"
    finally:
        guard.shutdown()


def test_observables_stay_on_the_sdk_path(pair: Pair) -> None:
    from opentelemetry.metrics import Observation

    def record(provider: Any) -> None:
        meter = provider.get_meter("obs")
        meter.create_observable_counter("oc", [lambda o: [Observation(5, ATTRS)]])
        meter.create_observable_up_down_counter("ou", [lambda o: [Observation(-5, {"a": 1})]])
        meter.create_observable_gauge("og", [lambda o: [Observation(2.5)]])

    pair.both(record)
    pair.assert_identical()


_FORK_SCRIPT = """
import os, re, sys, time
import otelsvc
from otelsvc._stable_attributes import StableAttributes
guard = otelsvc.start(prometheus="127.0.0.1:0", set_global=False, runtime_metrics=False)
counter = guard.meter("fork").create_counter("c")
attrs = {"service": "checkout"}
counter.add(5, attrs)
pid = os.fork()
if pid == 0:
    code = 1
    try:
        counter.add(1, attrs)
        code = 0 if re.search(r"^c_total\\{.*\\} 1\\.0$", guard.render_metrics().decode(), re.M) else 2
    finally:
        os._exit(code)
deadline = time.monotonic() + 60
while time.monotonic() < deadline:
    done, status = os.waitpid(pid, os.WNOHANG)
    if done:
        break
    time.sleep(0.02)
else:
    os.kill(pid, 9)
    sys.exit("child did not finish (deadlock?)")
assert os.waitstatus_to_exitcode(status) == 0, status
assert re.search(r"^c_total\\{.*\\} 5\\.0$", guard.render_metrics().decode(), re.M)
guard.shutdown()
print("ok")
"""


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_fork_child_starts_from_zero() -> None:
    """In a fresh process (forking a test worker would run every at-fork hook earlier tests left behind)."""
    out = subprocess.run([sys.executable, "-c", _FORK_SCRIPT], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr


_GLOBAL_SCRIPT = """
from opentelemetry import metrics
early = metrics.get_meter("early")  # a proxy meter, made before any provider is set
early_counter = early.create_counter("early.c")
import otelsvc
guard = otelsvc.start(prometheus="127.0.0.1:0", runtime_metrics=False)
counter = metrics.get_meter("global").create_counter("global.c")
assert type(counter).__name__ == "_FastCounter", type(counter)
counter.add(2, {"a": "b"})
early_counter.add(3, {"a": "b"})
text = guard.render_metrics().decode()
assert 'global_c_total{a="b",otel_scope_name="global"' in text, text
assert 'early_c_total{a="b",otel_scope_name="early"' in text, text
guard.shutdown()
print("ok")
"""


def test_global_provider_gives_thin_instruments() -> None:
    out = subprocess.run([sys.executable, "-c", _GLOBAL_SCRIPT], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr
