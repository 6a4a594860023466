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

from otelsvc._export.otlp_metric_exporter import DirectMetricExporter, Retryable, build_transport


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


class _Flaky:
    """Raises ``Retryable`` for the first ``failures`` sends."""

    def __init__(self, failures: int) -> None:
        import threading

        self.failures = failures
        self.sent = 0
        self.failed = threading.Event()

    def send(self, body: bytes, timeout: float) -> None:
        if self.failures:
            self.failures -= 1
            self.failed.set()
            raise Retryable("collector unavailable")
        self.sent += 1

    def close(self) -> None:
        pass


def test_a_retryable_failure_is_tried_again_within_the_timeout() -> None:
    transport = _Flaky(failures=1)
    exporter = DirectMetricExporter(transport, timeout=5.0)
    assert exporter.export(_data(1)) == MetricExportResult.SUCCESS
    assert transport.sent == 1 and transport.failures == 0


def test_no_retry_past_the_timeout_and_shutdown_ends_the_wait() -> None:
    import threading
    import time

    with pytest.raises(Retryable):  # the back-off (about 1 s) would pass the 0.5 s timeout
        DirectMetricExporter(_Flaky(failures=1), timeout=0.5).export(_data(1))
    transport = _Flaky(failures=100)
    exporter = DirectMetricExporter(transport, timeout=60.0)
    outcome: list[BaseException] = []

    def run() -> None:
        try:
            exporter.export(_data(1))
        except Retryable as exc:
            outcome.append(exc)

    worker = threading.Thread(target=run)
    began = time.monotonic()
    worker.start()
    assert transport.failed.wait(10)  # the first attempt failed: the export waits out its back-off
    exporter.shutdown()
    worker.join(10)
    assert not worker.is_alive() and outcome and time.monotonic() - began < 5
