"""The direct OTLP encoder against the SDK's: the same bytes for the same MetricsData, and splits."""

from __future__ import annotations

import math
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry.exporter.otlp.proto.common._internal.metrics_encoder import encode_metrics
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.sdk.metrics._internal.point import Exemplar
from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    Gauge,
    Histogram,
    HistogramDataPoint,
    Metric,
    MetricsData,
    NumberDataPoint,
    ResourceMetrics,
    ScopeMetrics,
    Sum,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.util.instrumentation import InstrumentationScope

from otelsvc._export.otlp_encoder import encode_metrics_data

_text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=12)
_scalar = st.one_of(
    _text,
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=False),
)
_value = st.one_of(_scalar, st.lists(_scalar, max_size=3))
_attributes = st.dictionaries(_text, _value, max_size=4)
_time = st.integers(min_value=0, max_value=2**64 - 1)
_number = st.one_of(st.integers(min_value=-(2**63), max_value=2**63 - 1), st.floats(allow_nan=False))


@st.composite
def _exemplars(draw: Any) -> list[Exemplar]:
    out = []
    for _ in range(draw(st.integers(0, 2))):
        traced = draw(st.booleans())
        out.append(
            Exemplar(
                filtered_attributes=draw(_attributes),
                value=draw(_number),
                time_unix_nano=draw(_time),
                span_id=draw(st.integers(1, 2**64 - 1)) if traced else None,
                trace_id=draw(st.integers(1, 2**128 - 1)) if traced else None,
            )
        )
    return out


@st.composite
def _metric(draw: Any) -> Metric:
    kind = draw(st.sampled_from(["gauge", "sum", "histogram"]))
    temporality = draw(st.sampled_from(list(AggregationTemporality)[1:]))
    points: list[Any] = []
    for _ in range(draw(st.integers(0, 3))):
        if kind == "histogram":
            bounds = draw(st.lists(st.floats(allow_nan=False, allow_infinity=False), max_size=4))
            counts = draw(st.lists(st.integers(0, 2**64 - 1), min_size=len(bounds) + 1, max_size=len(bounds) + 1))
            points.append(
                HistogramDataPoint(
                    attributes=draw(_attributes),
                    start_time_unix_nano=draw(_time),
                    time_unix_nano=draw(_time),
                    count=draw(st.integers(0, 2**64 - 1)),
                    sum=draw(st.floats(allow_nan=False)),
                    bucket_counts=counts,
                    explicit_bounds=bounds,
                    min=draw(st.floats(allow_nan=False)),
                    max=draw(st.floats(allow_nan=False)),
                    exemplars=draw(_exemplars()),
                )
            )
        else:
            points.append(
                NumberDataPoint(
                    attributes=draw(_attributes),
                    start_time_unix_nano=draw(_time),
                    time_unix_nano=draw(_time),
                    value=draw(_number),
                    exemplars=draw(_exemplars()),
                )
            )
    data: Any
    if kind == "gauge":
        data = Gauge(data_points=points)
    elif kind == "sum":
        data = Sum(data_points=points, aggregation_temporality=temporality, is_monotonic=draw(st.booleans()))
    else:
        data = Histogram(data_points=points, aggregation_temporality=temporality)
    return Metric(name=draw(_text), description=draw(_text), unit=draw(_text), data=data)


@st.composite
def _metrics_data(draw: Any) -> MetricsData:
    resource = Resource(draw(_attributes), schema_url=draw(st.sampled_from(["", "https://s/1"])))
    scopes = []
    for i in range(draw(st.integers(0, 3))):
        scope = InstrumentationScope(
            f"scope{i}",
            draw(st.one_of(st.none(), _text)),
            draw(st.sampled_from(["", "https://s/2"])),
            draw(st.one_of(st.none(), _attributes)),
        )
        scopes.append(ScopeMetrics(scope=scope, metrics=draw(st.lists(_metric(), max_size=3)), schema_url=""))
    return MetricsData(resource_metrics=[ResourceMetrics(resource=resource, scope_metrics=scopes, schema_url="")])


@settings(max_examples=300, deadline=None)
@given(_metrics_data())
def test_bytes_equal_the_sdk_encoder(data: MetricsData) -> None:
    (ours,) = encode_metrics_data(data)
    expected = encode_metrics(data).SerializeToString()
    assert ours == expected


def _counters(n: int) -> MetricsData:
    points = [
        NumberDataPoint(
            attributes={"peer": f"node-{i:06d}", "direction": "in"},
            start_time_unix_nano=1,
            time_unix_nano=2,
            value=i,
            exemplars=[],
        )
        for i in range(n)
    ]
    metrics = [
        Metric(
            name=f"m{j}",
            description="d",
            unit="1",
            data=Sum(
                data_points=points[j::4], aggregation_temporality=AggregationTemporality.CUMULATIVE, is_monotonic=True
            ),
        )
        for j in range(4)
    ]
    scope = ScopeMetrics(scope=InstrumentationScope("s", "1"), metrics=metrics, schema_url="")
    return MetricsData(resource_metrics=[ResourceMetrics(Resource({"service.name": "x"}), [scope], "")])


def test_large_export_splits_under_the_budget_and_loses_nothing() -> None:
    data = _counters(20_000)
    (whole,) = encode_metrics_data(data)
    parts = encode_metrics_data(data, max_bytes=len(whole) // 5)
    assert len(parts) >= 5
    assert all(len(p) <= len(whole) // 5 for p in parts)
    seen: dict[tuple[str, str], float] = {}
    for part in parts:
        request = ExportMetricsServiceRequest.FromString(part)
        (rm,) = request.resource_metrics
        assert rm.resource.attributes[0].value.string_value == "x"
        for sm in rm.scope_metrics:
            assert sm.scope.name == "s"
            for metric in sm.metrics:
                assert metric.sum.is_monotonic
                for point in metric.sum.data_points:
                    seen[(metric.name, point.attributes[0].value.string_value)] = point.as_int
    assert len(seen) == 20_000
    assert math.fsum(seen.values()) == sum(range(20_000))


def test_a_bad_attribute_is_left_out_not_the_push() -> None:
    point = NumberDataPoint(
        attributes={"ok": "1", "bad": object()}, start_time_unix_nano=1, time_unix_nano=2, value=3, exemplars=[]
    )
    metric = Metric(
        name="m",
        description="",
        unit="",
        data=Sum(data_points=[point], aggregation_temporality=AggregationTemporality.CUMULATIVE, is_monotonic=True),
    )
    data = MetricsData([ResourceMetrics(Resource({}), [ScopeMetrics(InstrumentationScope("s"), [metric], "")], "")])
    (body,) = encode_metrics_data(data)
    (rm,) = ExportMetricsServiceRequest.FromString(body).resource_metrics
    (attribute,) = rm.scope_metrics[0].metrics[0].sum.data_points[0].attributes
    assert attribute.key == "ok"


def test_lone_surrogates_are_escaped_as_valid_utf8() -> None:
    point = NumberDataPoint(
        attributes={"file": "caf\udce9.txt"}, start_time_unix_nano=1, time_unix_nano=2, value=1, exemplars=[]
    )
    metric = Metric(name="m", description="", unit="", data=Gauge(data_points=[point]))
    data = MetricsData([ResourceMetrics(Resource({}), [ScopeMetrics(InstrumentationScope("s"), [metric], "")], "")])
    (body,) = encode_metrics_data(data)
    (rm,) = ExportMetricsServiceRequest.FromString(body).resource_metrics
    assert rm.scope_metrics[0].metrics[0].gauge.data_points[0].attributes[0].value.string_value == "caf\\udce9.txt"


def test_exponential_histograms_equal_the_sdk_encoder() -> None:
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.metrics.view import ExponentialBucketHistogramAggregation, View

    reader = InMemoryMetricReader()
    view = View(instrument_name="h", aggregation=ExponentialBucketHistogramAggregation())
    provider = MeterProvider([reader], views=[view], shutdown_on_exit=False)
    histogram = provider.get_meter("m").create_histogram("h")
    counter = provider.get_meter("m").create_counter("c")
    for i in range(200):
        histogram.record(i * 0.37 - 20, {"k": str(i % 3)})
        counter.add(i, {"k": str(i % 5)})
    data = reader.get_metrics_data()
    assert data is not None
    (ours,) = encode_metrics_data(data)
    assert ours == encode_metrics(data).SerializeToString()
    provider.shutdown()


def test_stable_attributes_encode_as_a_plain_dict_from_their_cache() -> None:
    from otelsvc._export.otlp_encoder import encode_attributes
    from otelsvc._stable_attributes import StableAttributes

    plain = {"route": "/orders", "code": 200, "ok": True, "ratio": 0.5, "tags": ("a", "b")}
    stable = StableAttributes(plain)
    for tag in (b"\x3a", b"\x3a", b"\x4a", b"\x4a", b"\x3a"):  # hits and misses, both point kinds' tags
        assert encode_attributes(tag, stable) == encode_attributes(tag, plain)
