"""The direct OTLP metric exporter against a real collector (rotel), over gRPC and HTTP/protobuf."""

from __future__ import annotations

import pytest
from conftest import Rotel
from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    Metric,
    MetricExportResult,
    MetricsData,
    NumberDataPoint,
    ResourceMetrics,
    ScopeMetrics,
    Sum,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.util.instrumentation import InstrumentationScope

from otelsvc._export.otlp_metric_exporter import DirectMetricExporter, build_transport


def _data(n: int) -> MetricsData:
    points = [
        NumberDataPoint(
            attributes={"peer": f"node-{i:06d}"},
            start_time_unix_nano=1_700_000_000_000_000_000,
            time_unix_nano=1_700_000_001_000_000_000,
            value=i + 1,
            exemplars=[],
        )
        for i in range(n)
    ]
    metric = Metric(
        name="direct.sent",
        description="d",
        unit="{item}",
        data=Sum(data_points=points, aggregation_temporality=AggregationTemporality.CUMULATIVE, is_monotonic=True),
    )
    scope = ScopeMetrics(scope=InstrumentationScope("direct-test", "1"), metrics=[metric], schema_url="")
    return MetricsData([ResourceMetrics(Resource({"service.name": "direct"}), [scope], "")])


def _endpoint(rotel: Rotel, protocol: str) -> str:
    return rotel.grpc_endpoint if protocol == "grpc" else rotel.http_endpoint + "/v1/metrics"


@pytest.mark.rotel
@pytest.mark.parametrize("protocol", ["grpc", "http/protobuf"])
@pytest.mark.parametrize("compression", [None, "gzip"])
def test_collector_receives_what_was_exported(rotel: Rotel, protocol: str, compression: str | None) -> None:
    exporter = DirectMetricExporter(
        build_transport(protocol, _endpoint(rotel, protocol), {"x-tenant": "t1"}, compression=compression)
    )
    try:
        assert exporter.export(_data(3)) == MetricExportResult.SUCCESS
    finally:
        exporter.shutdown()
    metric = rotel.wait_metric("direct.sent")
    values = sorted(p.value for p in metric.points)
    assert values == [1, 2, 3]


@pytest.mark.rotel
@pytest.mark.parametrize("protocol", ["grpc", "http/protobuf"])
def test_export_over_the_budget_is_cut_into_requests(rotel: Rotel, protocol: str) -> None:
    exporter = DirectMetricExporter(build_transport(protocol, _endpoint(rotel, protocol), {}), max_request_bytes=20_000)
    try:
        assert exporter.export(_data(2_000)) == MetricExportResult.SUCCESS
        assert exporter.requests_sent >= 4
    finally:
        exporter.shutdown()

    def all_points() -> bool:
        seen = {p.value for m in rotel.metrics() if m.name == "direct.sent" for p in m.points}
        return seen == set(range(1, 2_001))

    from conftest import wait_until

    wait_until(all_points, timeout=30)


def test_unreachable_collector_fails_within_the_timeout() -> None:
    import socket
    import time

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()  # accepts the connection, never answers
        port = s.getsockname()[1]
        exporter = DirectMetricExporter(
            build_transport("http/protobuf", f"http://127.0.0.1:{port}/v1/metrics", {}), timeout=0.5
        )
        began = time.monotonic()
        with pytest.raises(OSError):
            exporter.export(_data(1))
        assert time.monotonic() - began < 5
        exporter.shutdown()
        assert exporter.export(_data(1)) == MetricExportResult.FAILURE


def test_an_unavailable_collector_gets_a_fresh_grpc_channel() -> None:
    """A channel's reconnect back-off grows through an outage; as the SDK's exporter, a new one is made
    on UNAVAILABLE, so the first push after the collector is back is not held by it."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, not listening: connections are refused
        transport = build_transport("grpc", f"http://127.0.0.1:{port}", {})
        first = transport._channel  # type: ignore[attr-defined]
        with pytest.raises(OSError, match="UNAVAILABLE"):
            transport.send(b"", 2.0)
        assert transport._channel is not first  # type: ignore[attr-defined]
        transport.close()
        with pytest.raises(OSError):
            transport.send(b"", 2.0)
