"""Recording is total: non-reals raise TypeError at the call; values no exporter can carry are dropped,
logged once per instrument and counted by reason; nothing recorded breaks a scrape or a push."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from decimal import Decimal
from fractions import Fraction
from typing import Any

import pytest
from opentelemetry.exporter.otlp.proto.common.metrics_encoder import encode_metrics
from opentelemetry.sdk.metrics.export import InMemoryMetricReader, MetricsData
from prometheus_client.openmetrics.parser import text_string_to_metric_families
from prometheus_client.parser import text_string_to_metric_families as text_families

from otelsvc._config import load_settings
from otelsvc._guard import ProviderGuard

KINDS = {"counter": "add", "updowncounter": "add", "gauge": "set", "histogram": "record"}
NOT_REAL = [None, 1j, "3", b"3", Decimal("1.5"), [1], object()]


@pytest.fixture
def guard() -> Iterator[tuple[ProviderGuard, InMemoryMetricReader]]:
    reader = InMemoryMetricReader()
    g = ProviderGuard(
        load_settings({"prometheus": "127.0.0.1:0", "set_global": False, "runtime_metrics": False}, env={}),
        extra_readers=[reader],
    )
    yield g, reader
    g.shutdown()


def _handle(g: ProviderGuard, kind: str) -> Any:
    inst = g.bridge.instrument(f"t.{kind}", kind, "s", "", ("k",), (0.5, 1.0) if kind == "histogram" else None)
    return getattr(inst.bind("v"), KINDS[kind])


def _dropped(g: ProviderGuard) -> dict[str, float]:
    text = g.render_metrics().decode()
    out: dict[str, float] = {}
    for family in text_families(text):
        if family.name == "otelsvc_measurements_dropped":
            for sample in family.samples:
                out[sample.labels["reason"]] = sample.value
    return out


def _point(data: MetricsData, name: str) -> Any:
    """The one point of metric ``name`` in a collection."""
    points: list[Any] = [
        p
        for rm in data.resource_metrics
        for sm in rm.scope_metrics
        for m in sm.metrics
        if m.name == name
        for p in m.data.data_points
    ]
    assert len(points) == 1
    return points[0]


def _exports_everywhere(g: ProviderGuard, reader: InMemoryMetricReader) -> tuple[str, MetricsData]:
    """Scrape (text and OpenMetrics, both parsed) and a push-side collection encoded to OTLP."""
    text = g.render_metrics().decode()
    list(text_families(text))
    list(text_string_to_metric_families(g.render_metrics(openmetrics=True).decode()))  # type: ignore[no-untyped-call]
    data = reader.get_metrics_data()
    assert data is not None
    encode_metrics(data).SerializeToString()
    return text, data


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("value", NOT_REAL, ids=lambda v: type(v).__name__)
def test_a_value_that_is_not_real_raises_type_error_at_the_call(guard: Any, kind: str, value: object) -> None:
    g, reader = guard
    record = _handle(g, kind)
    with pytest.raises(TypeError, match="real number"):
        record(value)
    record(1)
    text, _ = _exports_everywhere(g, reader)
    assert f"t_{kind}" in text


@pytest.mark.parametrize("kind", KINDS)
def test_values_no_exporter_can_carry_are_dropped_and_counted(
    guard: Any, kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    g, reader = guard
    record = _handle(g, kind)
    with caplog.at_level(logging.WARNING, logger="otelsvc"):
        for value in (10**400, -(10**400), float("nan"), float("inf"), float("-inf"), Fraction(10**400, 3)):
            record(value)
        record(2)
    expected = {"unrepresentable": 3.0, "not_finite": 3.0}
    assert _dropped(g) == expected
    assert [r.getMessage() for r in caplog.records if f"t.{kind} dropped" in r.getMessage()] != []
    assert len([r for r in caplog.records if f"t.{kind} dropped" in r.getMessage()]) == 1
    _text, data = _exports_everywhere(g, reader)
    point = _point(data, f"t.{kind}")
    assert (point.sum if kind == "histogram" else point.value) == 2
    names = {m.name for rm in data.resource_metrics for sm in rm.scope_metrics for m in sm.metrics}
    assert "otelsvc.measurements.dropped" in names  # the push side carries the counter too


@pytest.mark.parametrize("kind", ["counter", "histogram"])
def test_negative_amounts_on_monotonic_instruments_are_dropped(guard: Any, kind: str) -> None:
    g, _ = guard
    record = _handle(g, kind)
    record(-1)
    record(-0.5)
    record(Fraction(-1, 2))
    assert _dropped(g) == {"negative": 3.0}


@pytest.mark.parametrize("kind", ["counter", "updowncounter", "histogram"])
def test_a_sum_that_would_overflow_drops_the_measurement(guard: Any, kind: str) -> None:
    g, reader = guard
    record = _handle(g, kind)
    for _ in range(3):
        record(1e308)
    assert _dropped(g) == {"overflow": 2.0}
    text, _ = _exports_everywhere(g, reader)
    assert "e+308" in text


@pytest.mark.parametrize("kind", ["counter", "updowncounter", "gauge"])
def test_an_int_beyond_int64_is_kept_as_a_float(guard: Any, kind: str) -> None:
    g, reader = guard
    record = _handle(g, kind)
    if kind == "gauge":
        record(2**64)
    else:
        record(2**62)
        record(2**62)
        record(2**70)
    _text, data = _exports_everywhere(g, reader)
    value = _point(data, f"t.{kind}").value
    assert isinstance(value, float)
    assert value == (2**64 if kind == "gauge" else 2**63 + 2**70)
    assert _dropped(g) == {}


@pytest.mark.parametrize("kind", KINDS)
def test_other_reals_are_accepted_as_plain_numbers(guard: Any, kind: str) -> None:
    g, reader = guard
    record = _handle(g, kind)
    for value in (True, Fraction(1, 2), 1, 0.5):
        record(value)
    _, data = _exports_everywhere(g, reader)
    point = _point(data, f"t.{kind}")
    expected = {"gauge": 0.5}.get(kind, 3.0)
    assert (point.sum if kind == "histogram" else point.value) == expected
    assert _dropped(g) == {}


def test_sdk_instruments_cannot_break_a_scrape_or_a_push(guard: Any) -> None:
    g, reader = guard
    from opentelemetry.sdk.metrics import Meter as SdkMeter

    user_meter = g.meter("user")

    class _SdkPath:  # the SDK's own instruments (the guard's meters give thin ones; tests/test_api_fast.py)
        def create_counter(self, name: str) -> Any:
            return SdkMeter.create_counter(user_meter, name)  # type: ignore[arg-type]

    meter = _SdkPath()
    counter = meter.create_counter("sdk.c")
    for value in (float("nan"), float("inf")):
        counter.add(value, {"k": "v"})
    for bad in (None, 10**400):
        with pytest.raises((TypeError, OverflowError)):
            counter.add(bad, {"k": "v"})
    counter.add(2**70, {"k": "big"})  # beyond int64: the OTLP encoder would fail on it
    huge = meter.create_counter("sdk.huge")
    for _ in range(3):
        huge.add(10**308, {"k": "v"})  # an int sum beyond the float range: left out, counted
    meter.create_counter("sdk.fine").add(1)
    text, data = _exports_everywhere(g, reader)
    assert "sdk_fine_total" in text
    assert "sdk_c_total" in text
    assert "sdk_huge" not in text
    names = {m.name for rm in data.resource_metrics for sm in rm.scope_metrics for m in sm.metrics}
    assert {"sdk.c", "sdk.fine"} <= names
    again = g.render_metrics().decode()
    assert 'otelsvc_exposition_skipped_total{exporter="prometheus",otel_scope_name="otelsvc"' in again
    assert 'exporter="otlp"' in again


# The HTTP middleware's fused paths (``step_request``, ``end_request``) leave what the handle methods
# would: same sums, buckets, extremes, drops and exemplars, under every exemplar filter.


def _request_series(g: ProviderGuard, prefix: str, shared: bool) -> tuple[Any, ...]:
    bounds = (0.005, 0.5, 1.0)
    specs = [
        ("active", "updowncounter", None),
        ("in_flight", "updowncounter", None),
        ("duration", "histogram", bounds),
        ("classic", "histogram", bounds),
        ("total", "counter", None),
    ]
    instruments = [g.bridge.instrument(f"{prefix}.{name}", kind, "", "", ("k",), b) for name, kind, b in specs]
    if shared:
        lock = instruments[0].lock
        for inst in instruments:
            inst.lock = lock
    return tuple(inst.bind("v") for inst in instruments)


def _state(handle: Any) -> tuple[Any, ...]:
    def strip(exemplar: Any) -> Any:  # the time differs between two recordings
        return None if exemplar is None else (exemplar[0], exemplar[2], exemplar[3])

    if hasattr(handle, "_counts"):
        exemplars = [strip(e) for e in handle._exemplars] if handle._exemplars is not None else None
        return (list(handle._counts), handle._sum, handle._min, handle._max, handle._seen, exemplars)
    return (handle.snapshot(), handle._seen, strip(getattr(handle, "_exemplar", None)))


@pytest.mark.parametrize("exemplar_filter", ["always_off", "trace_based", "always_on"])
@pytest.mark.parametrize("shared", [True, False])
def test_fused_request_paths_match_the_methods(
    monkeypatch: pytest.MonkeyPatch, exemplar_filter: str, shared: bool
) -> None:
    from otelsvc._handles import end_request, step_request

    monkeypatch.setenv("OTEL_METRICS_EXEMPLAR_FILTER", exemplar_filter)
    g = ProviderGuard(load_settings({"prometheus": "127.0.0.1:0", "set_global": False, "runtime_metrics": False}))
    try:
        fused = _request_series(g, "fused", shared)
        plain = _request_series(g, "plain", shared)
        tracer = g.tracer("t")
        values: list[Any] = [0.001, 0.7, 2.0, 0.0, 3, -1.0, float("nan"), float("inf"), 1e308, 1e308]
        for index, value in enumerate(values):
            with tracer.start_as_current_span("s") if index % 2 else contextlib.nullcontext():
                step_request(fused[0], fused[1], 1)
                plain[0].add(1)
                plain[1].add(1)
                end_request(fused[0], fused[1], fused[2], fused[3], fused[4], value)
                plain[0].add(-1)
                plain[1].add(-1)
                plain[2].record(value)
                plain[3].record(value)
                plain[4].add(1)
        for mine, theirs in zip(fused, plain, strict=True):
            assert _state(mine) == _state(theirs)
        # Drops counted alike: the negative, not-finite and overflowing values, on each histogram of both.
        assert _dropped(g) == {"negative": 4, "not_finite": 8, "overflow": 4}
    finally:
        g.shutdown()


# The middlewares' deferred path (``fold_requests``): starts counted and ends' seconds kept beside their
# series, folded later, leave what the handle methods would have left.


def _deferred_flight(fused: tuple[Any, ...]) -> tuple[Any, tuple[Any, ...]]:
    from otelsvc.instruments.http import Flight

    flight = Flight(fused[0], fused[1], "GET", "http")
    flight.defer = True
    series = (fused[2], fused[4], fused[3], True, 2, [])
    return flight, series


@pytest.mark.parametrize("shared", [True, False])
def test_folding_deferred_requests_matches_the_methods(shared: bool) -> None:
    from otelsvc._handles import fold_requests

    g = ProviderGuard(load_settings({"prometheus": "127.0.0.1:0", "set_global": False, "runtime_metrics": False}))
    try:
        fused = _request_series(g, "deferred", shared)
        plain = _request_series(g, "plain", shared)
        flight, series = _deferred_flight(fused)
        other = _deferred_flight(_request_series(g, "other", shared))[1]  # a second end series of the flight
        other = (other[0], other[1], other[2], True, 2, [])
        # Bucket bounds are (0.005, 0.5, 1.0): values on and around them, in no order; sums exact in binary.
        values = [0.5, 0.25, 1.0, 0.0, 4.0, 0.5, 0.001953125, 2.0, 0.75, 1.0]
        for round_, value in enumerate(values * 3):
            next(flight.started)
            plain[0].add(1)
            plain[1].add(1)
            if round_ % 4 == 3:
                continue  # still in flight at the fold
            series[5].append(value)
            plain[0].add(-1)
            plain[1].add(-1)
            plain[2].record(value)
            plain[3].record(value)
            plain[4].add(1)
            if round_ == 11:
                fold_requests(flight, (series, other))  # a fold in the middle, as a long list makes one
        fold_requests(flight, (series, other))
        assert series[5] == []
        for mine, theirs in zip(fused, plain, strict=True):
            assert _state(mine) == _state(theirs)
        fold_requests(flight, (series,))  # nothing pending: nothing changes
        for mine, theirs in zip(fused, plain, strict=True):
            assert _state(mine) == _state(theirs)
    finally:
        g.shutdown()


def test_deferred_values_out_of_the_plain_range_take_the_methods() -> None:
    """A batch holding a value no duration can have, or a sum near the float limit, goes through the
    handle methods with their checks (drops counted), never into the buckets unchecked."""
    from otelsvc._handles import fold_requests

    g = ProviderGuard(load_settings({"prometheus": "127.0.0.1:0", "set_global": False, "runtime_metrics": False}))
    try:
        fused = _request_series(g, "odd", True)
        plain = _request_series(g, "plain", True)
        flight, series = _deferred_flight(fused)
        for value in (0.5, -1.0, 1e13):
            next(flight.started)
            series[5].append(value)
            for handle in plain[2:4]:
                handle.record(value)
            plain[4].add(1)
        fold_requests(flight, (series,))
        for mine, theirs in zip(fused[2:], plain[2:], strict=True):
            assert _state(mine) == _state(theirs)
        assert fused[0].snapshot() == 0 and fused[1].snapshot() == 0
        assert _dropped(g) == {"negative": 4}
        fused[2]._sum = plain[2]._sum = 1e301  # a sum this near the limit: checked value by value
        series[5].append(1e12)
        next(flight.started)
        fold_requests(flight, (series,))
        plain[2].record(1e12)
        assert _state(fused[2]) == _state(plain[2])
    finally:
        g.shutdown()


def test_deferred_starts_and_ends_are_exact_under_threads() -> None:
    """Eight threads start and end requests on one flight while another folds: every request counted
    once, nothing left in flight (the deferral relies on ``next`` and ``list.append`` being atomic)."""
    import threading

    from otelsvc._handles import fold_requests

    g = ProviderGuard(load_settings({"prometheus": "127.0.0.1:0", "set_global": False, "runtime_metrics": False}))
    try:
        fused = _request_series(g, "threads", True)
        flight, series = _deferred_flight(fused)
        stop = threading.Event()

        def requests() -> None:
            for _ in range(20_000):
                next(flight.started)
                deferred = series[5]
                deferred.append(0.25)
                if len(deferred) > 64:
                    fold_requests(flight, (series,))

        def folder() -> None:
            while not stop.is_set():
                fold_requests(flight, (series,))

        threads = [threading.Thread(target=requests) for _ in range(8)]
        background = threading.Thread(target=folder)
        background.start()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        stop.set()
        background.join()
        fold_requests(flight, (series,))
        assert fused[4].snapshot() == 160_000
        assert fused[2]._counts == [0, 160_000, 0, 0] and fused[3]._counts == [0, 160_000, 0, 0]
        assert fused[2]._sum == 40_000.0
        assert fused[0].snapshot() == 0 and fused[1].snapshot() == 0
    finally:
        g.shutdown()
