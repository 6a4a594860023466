"""The OTLP push reaches a real collector (rotel) over gRPC and HTTP, metrics and spans."""

from __future__ import annotations

import re

import pytest
from conftest import Rotel, wait_until

import otelsvc


@pytest.mark.parametrize("protocol", ["grpc", "http/protobuf"])
def test_push_reaches_rotel(rotel: Rotel, protocol: str) -> None:
    guard = otelsvc.start(
        service_name="pushed",
        service_version="1.2.3",
        prometheus=None,
        otlp_endpoint=rotel.endpoint(protocol),
        otlp_protocol=protocol,
        export_interval=0.2,
        set_global=False,
    )
    try:
        guard.meter("app").create_counter("orders.placed", unit="{order}").add(7, {"region": "eu"})
        handle = guard.bridge.instrument("jobs.latency", "histogram", "s", "Job latency", ("queue",), (0.1, 1.0)).bind(
            "fast"
        )
        handle.record(0.05)
        handle.record(0.5)
        with guard.tracer("app").start_as_current_span("checkout"):
            pass
        orders = rotel.wait_metric("orders.placed", lambda m: bool(m.points) and m.points[0].value == 7)
        assert orders.points[0].attributes == {"region": "eu"}
        assert orders.resource["service.name"] == "pushed"
        assert orders.resource["service.version"] == "1.2.3"
        assert "service.instance.id" in orders.resource
        latency = rotel.wait_metric("jobs.latency")
        point = latency.points[0]
        assert (point.count, point.sum, point.buckets, point.bounds) == (2, 0.55, [1, 1, 0], [0.1, 1.0])
        assert latency.scope == "otelsvc"
        cpu = rotel.wait_metric("process.cpu.time")
        assert {p.attributes["cpu.mode"] for p in cpu.points} == {"user", "system"}
    finally:
        assert guard.shutdown() is True
    # delivered by the shutdown's flush (it returned True); rotel prints what it received a moment later
    wait_until(lambda: any(span.get("name") == "checkout" for span in rotel.spans()), timeout=20)
    assert guard.exporters["metrics"].consecutive_failures == 0
    assert guard.exporters["metrics"].last_success is not None


def test_exponential_histograms_only_on_the_otlp_reader(rotel: Rotel) -> None:
    guard = otelsvc.start(
        prometheus="127.0.0.1:0",
        otlp_endpoint=rotel.grpc_endpoint,
        export_interval=0.2,
        otlp_histogram_aggregation="base2_exponential_bucket_histogram",
        set_global=False,
    )
    try:
        guard.meter("app").create_histogram("upload.size", unit="By").record(1234.0)
        handle = guard.bridge.instrument("jobs.latency", "histogram", "s", "", ("queue",), (0.1, 1.0)).bind("q")
        handle.record(0.5)
        pushed = rotel.wait_metric("upload.size")
        assert pushed.kind == "ExponentialHistogram"
        assert rotel.wait_metric("jobs.latency").kind == "Histogram"
        text = guard.render_metrics().decode()
        assert re.search(r'upload_size_bytes_bucket\{[^}]*le="\+Inf"[^}]*\} 1.0', text), text
        assert "upload_size_bytes_count" in text
    finally:
        guard.shutdown()


def test_a_push_over_the_collectors_message_limit_arrives_in_several_requests(rotel: Rotel) -> None:
    """rotel refuses gRPC messages over 4 MiB (the receivers' default); a 5 MiB collection is cut."""
    from otelsvc._export.metrics_push import MetricsPush
    from otelsvc._export.otlp_metric_exporter import DirectMetricExporter

    guard = otelsvc.start(
        service_name="big",
        prometheus=None,
        otlp_endpoint=rotel.grpc_endpoint,
        export_interval=3600,
        set_global=False,
        runtime_metrics=False,
    )
    try:
        (push,) = [p for p in guard.pipelines if isinstance(p, MetricsPush)]
        exporter = push.proxy.inner
        assert isinstance(exporter, DirectMetricExporter)
        # two instruments under the default limit of 2000 series each (older SDKs take no other limit)
        counters = [guard.counter(name, labels=("id", "pad")) for name in ("big.items", "big.more")]
        pad = "p" * 2000
        for i in range(2500):
            counters[i % 2].bind(f"{i:05d}", pad).add(i + 1)
        budget = exporter._max_request_bytes
        exporter._max_request_bytes = 1 << 40  # as one request, the way the SDK's exporter sends it
        assert guard.force_flush(timeout=20) is not None
        health = guard.exporters["metrics"]
        assert health.consecutive_failures == 1 and "too large" in (health.last_error or ""), health.last_error
        exporter._max_request_bytes = budget
        sent = exporter.requests_sent
        assert guard.force_flush(timeout=20)
        assert health.consecutive_failures == 0
        assert exporter.requests_sent - sent >= 2

        def all_arrived() -> bool:
            values = {
                p.attributes["id"]: p.value for m in rotel.metrics() if m.name.startswith("big.") for p in m.points
            }
            return values == {f"{i:05d}": i + 1 for i in range(2500)}

        wait_until(all_arrived, timeout=60, interval=0.5)
    finally:
        guard.shutdown()
