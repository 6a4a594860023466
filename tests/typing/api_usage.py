"""Typing fixture: exercises the public API as users write it; checked with ``mypy --strict``.

It is never run, only type-checked (see tests/test_typing.py).
"""

from __future__ import annotations

import otelsvc
from otelsvc.testing import HistogramValue, TestingGuard, start_testing


def startup() -> otelsvc.ProviderGuard:
    try:
        guard = otelsvc.start(service_name="svc", prometheus="127.0.0.1:0", shutdown_timeout=2.0)
    except otelsvc.ConfigError as exc:
        raise SystemExit(str(exc)) from None
    address: tuple[str, int] | None = guard.prometheus_address
    del address
    guard.meter("svc").create_counter("orders").add(1, {"region": "eu"})
    with guard.tracer("svc").start_as_current_span("work"):
        pass
    flushed: bool = guard.force_flush(timeout=1.0)
    del flushed
    return guard


def teardown(guard: otelsvc.ProviderGuard) -> bool:
    with guard:
        pass
    return guard.shutdown(timeout=1.0)


def in_tests() -> float | None:
    guard: TestingGuard = start_testing()
    value = guard.value("orders", {"region": "eu"})
    hist: HistogramValue | None = guard.histogram_value("latency")
    del hist
    return value if isinstance(value, float) else None


def handles(counter: otelsvc.CounterHandle, hist: otelsvc.HistogramHandle, gauge: otelsvc.GaugeHandle) -> None:
    counter.add()
    counter.add(2)
    gauge.set(1.5)
    hist.record(0.25)
    with hist.time():
        pass


def families(guard: otelsvc.ProviderGuard) -> None:
    from otelsvc.asgi import HttpMetricsMiddleware, TelemetryApp, is_telemetry_request
    from otelsvc.instruments import ActorMetrics, DiscoveryMetrics, InvokerMetrics, NetworkMetrics
    from otelsvc.wsgi import make_wsgi_app

    actors = ActorMetrics(guard)
    room = actors.actor("chat_room")
    actors.actor_started(room)
    room.action_calls("send").add()
    with room.action_duration("send").time():
        pass
    network = NetworkMetrics(guard)
    conn = network.connection("general", peer="node-2", direction="outgoing")
    conn.opened()
    conn.closed()
    network.swimlane("general").rpc("success").record(0.0004)
    inv = InvokerMetrics(guard).invocation(partition_id=7, service_name="greeter")
    inv.queued()
    inv.pin("dp_1")
    inv.http_response(503)
    inv.end()
    reason: str = DiscoveryMetrics(guard).retry(status_code=429)
    del reason
    app = TelemetryApp(guard)
    middleware = HttpMetricsMiddleware(app, guard=guard)
    metrics_only = HttpMetricsMiddleware(app, guard=guard, spans=False)
    scrape: bool = is_telemetry_request({"type": "http", "path": "/telemetry/metrics", "root_path": ""})
    del middleware, metrics_only, scrape
    wsgi = make_wsgi_app(guard)
    del wsgi


def own_handles(guard: otelsvc.ProviderGuard) -> None:
    orders: otelsvc.HandleInstrument[otelsvc.CounterHandle] = guard.counter(
        "orders.placed", unit="{order}", labels=("region",)
    )
    eu: otelsvc.CounterHandle = orders.bind("eu")
    eu.add()
    latency = guard.histogram("checkout.duration", unit="s", buckets=(0.01, 0.1, 1.0), labels=("region",))
    with latency.bind("eu").time():
        pass
    guard.gauge("queue.depth").bind().set(3)
    guard.gauge("pool.idle", prefork="sum").bind().set(2)
    guard.up_down_counter("sessions").bind().add(-1)


def precise_types(guard: otelsvc.ProviderGuard) -> None:
    """``bind()``, family handles and the lifecycle state have exact types (``assert_type`` fails on Any)."""
    from typing import Literal

    from typing_extensions import assert_type

    from otelsvc.instruments import ActorMetrics, NetworkMetrics

    assert_type(guard.counter("c").bind(), otelsvc.CounterHandle)
    assert_type(guard.up_down_counter("u").bind(), otelsvc.UpDownCounterHandle)
    assert_type(guard.gauge("g").bind(), otelsvc.GaugeHandle)
    assert_type(guard.histogram("h", buckets=(1.0,)).bind(), otelsvc.HistogramHandle)
    assert_type(guard.bridge.instrument("b", "histogram", "s", "", (), (1.0,)).bind(), otelsvc.HistogramHandle)
    assert_type(guard.bridge.instrument("n", "counter").bind(), otelsvc.CounterHandle)
    room = ActorMetrics(guard).actor("chat_room")
    assert_type(room.action_calls("send"), otelsvc.CounterHandle)
    assert_type(room.action_duration("send"), otelsvc.HistogramHandle)
    assert_type(room.active, otelsvc.UpDownCounterHandle)
    assert_type(room.inbox_depth("main"), otelsvc.GaugeHandle)
    lane = NetworkMetrics(guard).swimlane("general")
    assert_type(lane.rpc("success"), otelsvc.HistogramHandle)
    assert_type(lane.pool_active, otelsvc.UpDownCounterHandle)
    assert_type(guard.state, Literal["starting", "ok", "degraded", "shutting_down", "shut_down"])


def configured_start() -> otelsvc.ProviderGuard:
    """Every keyword of start() with its declared type (a wrong type or unknown keyword fails mypy)."""
    return otelsvc.start(
        service_name="svc",
        service_version=None,
        resource_attributes={"deployment.environment": "prod", "replicas": 3, "ratio": 0.5, "canary": False},
        set_global=False,
        shutdown_timeout=5,
        prometheus=None,
        metrics_token=None,
        builtin_server=True,
        tls_certfile=None,
        tls_keyfile=None,
        max_connections=64,
        max_header_bytes=16384,
        read_timeout=10.0,
        otlp_endpoint="http://collector:4317",
        otlp_protocol="http/protobuf",
        otlp_headers={"api-key": "k"},
        export_interval=10.0,
        otlp_histogram_aggregation="exponential",
        cardinality_limit=2000,
        namespace="shop",
        runtime_metrics=True,
        span_buffer_size=2048,
        log_bridge=True,
        log_buffer_size=2048,
        instrument=(),
    )
