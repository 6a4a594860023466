"""The OTLP push reaches a real collector (rotel) over gRPC and HTTP, metrics and spans."""

from __future__ import annotations

import re

import pytest
from conftest import Rotel

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
    assert any(span.get("name") == "checkout" for span in rotel.spans())
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
