"""Exemplars (issue 10 item 3): handle counters and histograms, the families, the middleware's duration
and SDK instruments, under each ``OTEL_METRICS_EXEMPLAR_FILTER``; rendered in OpenMetrics (checked with
prometheus_client's parser), pushed in OTLP, and end to end through rotel and a real Prometheus."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator, MutableMapping
from typing import Any

import pytest
from conftest import Prometheus, Rotel, wait_until
from opentelemetry.sdk.metrics.export import HistogramDataPoint, NumberDataPoint
from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_openmetrics
from prometheus_client.samples import Sample

import otelsvc
from otelsvc._guard import ProviderGuard

BOUNDS = (0.1, 1.0, 10.0)


def _start(monkeypatch: pytest.MonkeyPatch, exemplar_filter: str | None = None, **settings: Any) -> ProviderGuard:
    if exemplar_filter is not None:
        monkeypatch.setenv("OTEL_METRICS_EXEMPLAR_FILTER", exemplar_filter)
    return otelsvc.start(prometheus="127.0.0.1:0", set_global=False, runtime_metrics=False, **settings)


@pytest.fixture
def guard(monkeypatch: pytest.MonkeyPatch) -> Iterator[ProviderGuard]:
    g = _start(monkeypatch)
    yield g
    g.shutdown()


def _samples(g: ProviderGuard) -> list[Sample]:
    text = g.render_metrics(openmetrics=True).decode()
    return [s for f in parse_openmetrics(text) for s in f.samples]  # type: ignore[no-untyped-call]


def _with_exemplars(samples: list[Sample]) -> dict[tuple[str, str | None], Any]:
    """(sample name, le) -> exemplar, for the samples that carry one."""
    return {(s.name, s.labels.get("le")): s.exemplar for s in samples if s.exemplar is not None}


def _ids(span: Any) -> dict[str, str]:
    ctx = span.get_span_context()
    return {"span_id": f"{ctx.span_id:016x}", "trace_id": f"{ctx.trace_id:032x}"}


def _record(g: ProviderGuard, counter_by: float = 2, value: float = 0.5) -> None:
    g.counter("jobs", labels=("queue",)).bind("q").add(counter_by)
    g.histogram("latency", buckets=BOUNDS, unit="s", labels=("queue",)).bind("q").record(value)


def test_trace_based_by_default_handles_in_a_sampled_span(guard: ProviderGuard) -> None:
    _record(guard)  # outside any span: no exemplar
    assert _with_exemplars(_samples(guard)) == {}
    with guard.tracer("t").start_as_current_span("work") as span:
        _record(guard, 3, 0.5)
        _record(guard, 4, 5.0)  # the latest per counter series, and the latest per bucket
    ex = _with_exemplars(_samples(guard))
    assert set(ex) == {("jobs_total", None), ("latency_seconds_bucket", "1.0"),
                       ("latency_seconds_bucket", "10.0")}
    for exemplar in ex.values():
        assert exemplar.labels == _ids(span)
        assert abs(float(exemplar.timestamp) - time.time()) < 60
    assert ex[("jobs_total", None)].value == 4.0
    assert ex[("latency_seconds_bucket", "1.0")].value == 0.5
    assert ex[("latency_seconds_bucket", "10.0")].value == 5.0
    # As the SDK's reservoirs: a collection reports what was offered since the previous one.
    assert _with_exemplars(_samples(guard)) == {}
    # The text format (0.0.4) has no exemplars.
    with guard.tracer("t").start_as_current_span("again"):
        _record(guard)
    assert b" # {" not in guard.render_metrics()


def test_unsampled_span_gives_no_exemplar_under_trace_based(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_TRACES_SAMPLER", "always_off")
    g = _start(monkeypatch)
    try:
        with g.tracer("t").start_as_current_span("unsampled") as span:
            assert not span.get_span_context().trace_flags.sampled
            _record(g)
        assert _with_exemplars(_samples(g)) == {}
    finally:
        g.shutdown()


def test_always_on_takes_exemplars_without_a_span_and_always_off_none(monkeypatch: pytest.MonkeyPatch) -> None:
    g = _start(monkeypatch, "always_on")
    try:
        _record(g)
        ex = _with_exemplars(_samples(g))
        assert set(ex) == {("jobs_total", None), ("latency_seconds_bucket", "1.0")}
        assert all(e.labels == {} for e in ex.values())  # no span: no ids
    finally:
        g.shutdown()
    g = _start(monkeypatch, "always_off")
    try:
        with g.tracer("t").start_as_current_span("work"):
            _record(g)
            g.meter("user").create_counter("sdk.c").add(1)
        assert _with_exemplars(_samples(g)) == {}
    finally:
        g.shutdown()


def test_sdk_instruments_exemplars_are_rendered(guard: ProviderGuard) -> None:
    meter = guard.meter("user")
    counter = meter.create_counter("sdk.requests")
    histogram = meter.create_histogram("sdk.latency", unit="s", explicit_bucket_boundaries_advisory=list(BOUNDS))
    gauge = meter.create_up_down_counter("sdk.inflight")
    with guard.tracer("t").start_as_current_span("work") as span:
        counter.add(1, {"a": "b"})
        histogram.record(0.05, {"a": "b"})
        histogram.record(20.0, {"a": "b"})
        gauge.add(1)
    ex = _with_exemplars(_samples(guard))
    assert set(ex) == {("sdk_requests_total", None), ("sdk_latency_seconds_bucket", "0.1"),
                       ("sdk_latency_seconds_bucket", "+Inf")}
    assert all(e.labels == _ids(span) for e in ex.values())
    assert ex[("sdk_latency_seconds_bucket", "+Inf")].value == 20.0


def test_families_and_the_middleware_duration_carry_exemplars(guard: ProviderGuard) -> None:
    from otelsvc.asgi import HttpMetricsMiddleware

    async def app(scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    middleware = HttpMetricsMiddleware(app, guard=guard)

    async def request(traceparent: bytes) -> None:
        async def receive() -> MutableMapping[str, Any]:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: MutableMapping[str, Any]) -> None:
            pass

        scope = {"type": "http", "method": "GET", "path": "/x", "scheme": "http",
                 "headers": [(b"traceparent", traceparent)],
                 "query_string": b"", "root_path": ""}
        await middleware(scope, receive, send)

    with guard.tracer("client").start_as_current_span("outer") as span:
        ids = _ids(span)
        asyncio.run(request(f"00-{ids['trace_id']}-{ids['span_id']}-01".encode()))
    ex = _with_exemplars(_samples(guard))
    durations = [v for k, v in ex.items() if k[0] == "http_server_request_duration_seconds_bucket"]
    classic = [v for k, v in ex.items() if k[0] == "http_request_duration_seconds_bucket"]
    # In the caller's trace (the middleware's own server span, when it makes one, is its child).
    for exemplar in (*durations, *classic, ex[("http_requests_total", None)]):
        assert exemplar.labels["trace_id"] == _ids(span)["trace_id"] and len(exemplar.labels["span_id"]) == 16
    assert len(durations) == 1 and len(classic) == 1


def test_pushed_points_carry_exemplars_per_reader(guard: ProviderGuard) -> None:
    """The bridge fills the SDK points it builds: each reader gets what arrived since its last collection."""
    reader = guard._prometheus
    assert reader is not None
    with guard.tracer("t").start_as_current_span("work") as span:
        _record(guard, 1, 0.05)
    ctx = span.get_span_context()
    scope = guard.bridge.scope_metrics(reader)
    assert scope is not None
    points = {m.name: m.data.data_points[0] for m in scope.metrics}
    counter, histogram = points["jobs"], points["latency"]
    assert isinstance(counter, NumberDataPoint) and isinstance(histogram, HistogramDataPoint)
    assert [(e.value, e.trace_id, e.span_id) for e in counter.exemplars] == [(1, ctx.trace_id, ctx.span_id)]
    assert [(e.value, e.trace_id, e.span_id) for e in histogram.exemplars] == [(0.05, ctx.trace_id, ctx.span_id)]
    again = guard.bridge.scope_metrics(reader)
    assert again is not None and all(not m.data.data_points[0].exemplars for m in again.metrics)


def test_rotel_receives_exemplars_and_prometheus_stores_them(
    rotel: Rotel, prometheus_factory: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A real Prometheus 2.42 with exemplar storage scrapes OpenMetrics; the trace ids it returns are the
    ids of spans rotel received, and rotel's metric points carry the same exemplars."""
    g = _start(monkeypatch, otlp_endpoint=rotel.grpc_endpoint, export_interval=0.5)
    try:
        host, port = g.prometheus_address  # type: ignore[misc]
        prom: Prometheus = prometheus_factory(f"{host}:{port}", flags=["--enable-feature=exemplar-storage"])
        tracer = g.tracer("t")
        counter = g.counter("jobs", labels=("queue",)).bind("q")
        histogram = g.histogram("latency", buckets=BOUNDS, unit="s").bind()
        sdk_histogram = g.meter("user").create_histogram("sdk.latency", unit="s")
        started = time.time() - 5

        def exemplar_traces() -> set[str]:
            with tracer.start_as_current_span("job"):
                counter.add(1)
                histogram.record(0.5)
                sdk_histogram.record(0.2)
            found = set()
            for query in ("jobs_total", "latency_seconds_bucket", "sdk_latency_seconds_bucket"):
                series = prom.query_exemplars(query, started, time.time() + 5)
                traces = {e["labels"]["trace_id"] for s in series for e in s["exemplars"]}
                if not traces:
                    return set()
                found |= traces
            return found

        traces = wait_until(exemplar_traces, timeout=60, interval=0.5)
        span_traces = wait_until(lambda: {s.get("trace_id") for s in rotel.spans()} >= traces and
                                 {s.get("trace_id") for s in rotel.spans()}, timeout=30)
        assert traces <= span_traces
        pushed = rotel.wait_metric("latency", lambda m: any(p.exemplars for p in m.points))
        pushed_traces = {e["Trace ID"] for p in pushed.points for e in p.exemplars}
        assert pushed_traces and pushed_traces <= span_traces
    finally:
        g.shutdown()
