"""Handle-recorded series against the same measurements through a plain SDK instrument with the
declared View: identical Prometheus text (the OTel exporter's) and identical OTLP data."""

from __future__ import annotations

import random
import re
from typing import Any

import pytest
from conftest import Rotel
from opentelemetry.exporter.prometheus import _CustomCollector
from opentelemetry.sdk.metrics import Counter, Histogram, MeterProvider, UpDownCounter
from opentelemetry.sdk.metrics.export import AggregationTemporality, InMemoryMetricReader, MetricsData
from opentelemetry.sdk.metrics.view import ExplicitBucketHistogramAggregation, View
from prometheus_client import CollectorRegistry, generate_latest

import otelsvc
from otelsvc._config import load_settings
from otelsvc._guard import ProviderGuard
from otelsvc._version import __version__
from otelsvc.instruments import BUCKETS

BOUNDS = BUCKETS["general"]
LABELS = ("route", "code")
VALUES = [("/a", "200"), ("/b", "500"), ('quote"d\nnew\\line', "200")]


def _measurements(kind: str, seed: int) -> list[tuple[tuple[str, str], float]]:
    rng = random.Random(seed)
    out = []
    for _ in range(200):
        labels = rng.choice(VALUES)
        if kind == "counter":
            out.append((labels, rng.choice([1, 2, 0.5, 1e-3, 12345678.0])))
        elif kind == "updowncounter":
            out.append((labels, rng.choice([1, -1, 3, -2.5])))
        elif kind == "gauge":
            out.append((labels, rng.uniform(-1e6, 1e6)))
        else:
            out.append((labels, rng.choice([0.0, 0.001, 0.0025, 0.3, 1.0, 7.0, 499.9, 500.0, 1e4, rng.expovariate(3)])))
    return out


def _sdk_side(kind: str, measurements: list[Any], temporality: AggregationTemporality) -> tuple[Any, Any, Any]:
    reader = InMemoryMetricReader(
        preferred_temporality={
            Counter: temporality,
            Histogram: temporality,
            UpDownCounter: AggregationTemporality.CUMULATIVE,
        }
    )
    collector = _CustomCollector()
    views = (
        [View(instrument_name="eq.metric", aggregation=ExplicitBucketHistogramAggregation(BOUNDS))]
        if kind == "histogram"
        else []
    )
    provider = MeterProvider(metric_readers=[reader], views=views)
    meter = provider.get_meter("otelsvc", __version__)
    make = {
        "counter": meter.create_counter,
        "updowncounter": meter.create_up_down_counter,
        "gauge": meter.create_gauge,
        "histogram": meter.create_histogram,
    }[kind]
    inst = make("eq.metric", unit="s", description="Equivalence check")
    record = {"counter": "add", "updowncounter": "add", "gauge": "set", "histogram": "record"}[kind]
    for labels, value in measurements:
        getattr(inst, record)(value, dict(zip(LABELS, labels, strict=True)))
    return provider, reader, collector


def _guard_side(kind: str, measurements: list[Any], temporality: AggregationTemporality) -> tuple[Any, Any]:
    reader = InMemoryMetricReader(
        preferred_temporality={
            Counter: temporality,
            Histogram: temporality,
            UpDownCounter: AggregationTemporality.CUMULATIVE,
        }
    )
    guard = ProviderGuard(
        load_settings({"prometheus": "127.0.0.1:0", "set_global": False, "runtime_metrics": False}, env={}),
        extra_readers=[reader],
    )
    inst = guard.bridge.instrument(
        "eq.metric", kind, "s", "Equivalence check", LABELS, BOUNDS if kind == "histogram" else None
    )
    record = {"counter": "add", "updowncounter": "add", "gauge": "set", "histogram": "record"}[kind]
    for labels, value in measurements:
        getattr(inst.bind(*labels), record)(value)
    return guard, reader


def _points(data: MetricsData | None) -> list[dict[str, Any]]:
    assert data is not None
    out = []
    for rm in data.resource_metrics:
        for sm in rm.scope_metrics:
            for metric in sm.metrics:
                if metric.name != "eq.metric":
                    continue
                for p in metric.data.data_points:
                    entry = {
                        k: v
                        for k, v in vars(p).items()
                        if k not in ("start_time_unix_nano", "time_unix_nano", "exemplars")
                    }
                    entry["attributes"] = dict(p.attributes)
                    for k in ("bucket_counts", "explicit_bounds"):
                        if k in entry:
                            entry[k] = list(entry[k])
                    entry["_meta"] = (
                        metric.unit,
                        metric.description,
                        type(metric.data).__name__,
                        getattr(metric.data, "is_monotonic", None),
                        getattr(metric.data, "aggregation_temporality", None),
                    )
                    out.append(entry)
    return sorted(out, key=lambda e: sorted(e["attributes"].items()))


def _family(text: str, name: str) -> list[str]:
    return sorted(line for line in text.splitlines() if re.match(rf"(# (HELP|TYPE) )?{name}(_|\b)", line))


@pytest.mark.parametrize("kind", ["counter", "updowncounter", "gauge", "histogram"])
def test_prometheus_text_identical_to_the_otel_exporter(kind: str) -> None:
    measurements = _measurements(kind, seed=7)
    provider, reader, collector = _sdk_side(kind, measurements, AggregationTemporality.CUMULATIVE)
    collector.add_metrics_data(reader.get_metrics_data())
    registry = CollectorRegistry()
    registry.register(collector)
    reference = generate_latest(registry).decode()
    guard, _ = _guard_side(kind, measurements, AggregationTemporality.CUMULATIVE)
    try:
        ours = guard.render_metrics().decode()
    finally:
        guard.shutdown()
        provider.shutdown()
    name = "eq_metric_seconds"
    if "otel_scope_name=" not in reference:
        # Exporters before 0.64b0 (SDK 1.43) wrote no otel_scope_* labels; otelsvc writes them on every SDK.
        ours = re.sub(r'otel_scope_[a-z_]+="[^"]*",?', "", ours).replace(",}", "}").replace("{}", "")
    assert _family(ours, name) == _family(reference, name)
    assert len(_family(ours, name)) > 3


@pytest.mark.parametrize("kind", ["counter", "updowncounter", "gauge", "histogram"])
@pytest.mark.parametrize("temporality", [AggregationTemporality.CUMULATIVE, AggregationTemporality.DELTA])
def test_otlp_data_identical_to_the_sdk(kind: str, temporality: AggregationTemporality) -> None:
    first, second = _measurements(kind, seed=1), _measurements(kind, seed=2)
    provider, sdk_reader, _ = _sdk_side(kind, first, temporality)
    guard, our_reader = _guard_side(kind, first, temporality)
    try:
        sdk_points, our_points = _points(sdk_reader.get_metrics_data()), _points(our_reader.get_metrics_data())
        _compare(sdk_points, our_points)
        # a second interval: more measurements through the same instruments, then collect again
        meter = provider.get_meter("otelsvc", __version__)
        sdk_instrument = {
            "counter": meter.create_counter,
            "updowncounter": meter.create_up_down_counter,
            "gauge": meter.create_gauge,
            "histogram": meter.create_histogram,
        }[kind]("eq.metric", unit="s", description="Equivalence check")
        method = {"counter": "add", "updowncounter": "add", "gauge": "set", "histogram": "record"}[kind]
        inst = guard.bridge.instrument(
            "eq.metric", kind, "s", "Equivalence check", LABELS, BOUNDS if kind == "histogram" else None
        )
        for labels, value in second:
            getattr(sdk_instrument, method)(value, dict(zip(LABELS, labels, strict=True)))
            getattr(inst.bind(*labels), method)(value)
        _compare(_points(sdk_reader.get_metrics_data()), _points(our_reader.get_metrics_data()))
    finally:
        guard.shutdown()
        provider.shutdown()


def _compare(sdk: list[dict[str, Any]], ours: list[dict[str, Any]]) -> None:
    assert len(sdk) == len(ours) > 0
    for a, b in zip(sdk, ours, strict=True):
        if "value" in a:
            assert a.pop("value") == pytest.approx(b.pop("value"), rel=1e-12, abs=1e-9)
        if "sum" in a:
            assert a.pop("sum") == pytest.approx(b.pop("sum"), rel=1e-12, abs=1e-9)
        assert a == b


def test_rotel_receives_the_same_points_for_handle_and_sdk_instrument(rotel: Rotel) -> None:
    guard = otelsvc.start(
        prometheus=None, otlp_endpoint=rotel.grpc_endpoint, export_interval=0.2, set_global=False, runtime_metrics=False
    )
    try:
        sdk_hist = guard.meter("otelsvc", __version__).create_histogram("eq.sdk", unit="s")
        handle_hist = guard.bridge.instrument("eq.handle", "histogram", "s", "", LABELS, BOUNDS)
        for labels, value in _measurements("histogram", seed=3):
            sdk_hist.record(value, dict(zip(LABELS, labels, strict=True)))
            handle_hist.bind(*labels).record(value)
        guard.force_flush()
        got_sdk = rotel.wait_metric("eq.sdk")
        got_handle = rotel.wait_metric("eq.handle")
    finally:
        guard.shutdown()

    def key(metric: Any) -> list[Any]:
        return sorted((sorted(p.attributes.items()), p.count, round(p.sum or 0, 6), p.buckets) for p in metric.points)

    # the SDK instrument used its default buckets: compare counts and sums, and the handle's buckets
    assert [(a, c, s) for a, c, s, _ in key(got_sdk)] == [(a, c, s) for a, c, s, _ in key(got_handle)]
    assert all(p.bounds == list(BOUNDS) for p in got_handle.points)


def _received(rotel: Rotel, service: str) -> list[tuple[Any, ...]]:
    """What rotel received from one service, as comparable rows (exemplar values for handle series;
    SDK instruments' reservoirs sample at random, so only their exemplar counts)."""
    rows = []
    for m in rotel.metrics():
        if m.resource.get("service.name") != service or not m.name.startswith("eq."):
            continue
        points = sorted(
            (
                sorted(p.attributes.items()),
                p.value,
                p.count,
                None if p.sum is None else round(p.sum, 9),
                p.buckets,
                p.bounds,
                sorted(e.get("Value", "") for e in p.exemplars) if m.name.startswith("eq.h.") else len(p.exemplars),
            )
            for p in m.points
        )
        rows.append((m.name, m.scope, m.unit, m.kind, m.temporality, points))
    return rows


@pytest.mark.parametrize("temporality", ["cumulative", "delta"])
def test_rotel_receives_the_same_from_the_direct_push_as_from_the_sdk_path(
    rotel: Rotel, monkeypatch: pytest.MonkeyPatch, temporality: str
) -> None:
    from otelsvc._export import metrics_push as _metrics_push
    from otelsvc._export.exporters import build_metric_exporter
    from otelsvc._export.metrics_push import MetricsPush

    monkeypatch.setenv("OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE", temporality)
    monkeypatch.setenv("OTEL_METRICS_EXEMPLAR_FILTER", "always_on")

    def start(service: str) -> ProviderGuard:
        return otelsvc.start(
            service_name=service,
            prometheus=None,
            otlp_endpoint=rotel.grpc_endpoint,
            export_interval=3600,
            set_global=False,
            runtime_metrics=False,
        )

    def sdk_exporter(sig: Any, preference: str, histogram: str = "explicit", direct: bool = False) -> Any:
        return build_metric_exporter(sig, preference, histogram)

    direct = start("direct")
    with monkeypatch.context() as patch:
        patch.setattr(_metrics_push, "build_metric_exporter", sdk_exporter)
        sdk = start("sdk")
    pushes = {g: next(p for p in g.pipelines if isinstance(p, MetricsPush)) for g in (direct, sdk)}
    assert pushes[direct].direct and not pushes[sdk].direct
    try:
        for seed in (1, 2):
            for guard in (direct, sdk):
                meter = guard.meter("eq.app", "1")
                for kind in ("counter", "updowncounter", "gauge", "histogram"):
                    bounds = BOUNDS if kind == "histogram" else None
                    handles = guard.bridge.instrument(f"eq.h.{kind}", kind, "s", "by handle", LABELS, bounds)
                    make = {
                        "counter": meter.create_counter,
                        "updowncounter": meter.create_up_down_counter,
                        "gauge": meter.create_gauge,
                        "histogram": meter.create_histogram,
                    }[kind]
                    sdk_instrument = make(f"eq.sdk.{kind}", unit="s")
                    method = {"counter": "add", "updowncounter": "add", "gauge": "set", "histogram": "record"}[kind]
                    for labels, value in _measurements(kind, seed):
                        getattr(handles.bind(*labels), method)(value)
                        getattr(sdk_instrument, method)(value, dict(zip(LABELS, labels, strict=True)))
                assert guard.force_flush(timeout=10)

        def both_arrived() -> bool:
            return len(_received(rotel, "direct")) == len(_received(rotel, "sdk")) == 16

        from conftest import wait_until

        wait_until(both_arrived, timeout=30)
        ours, theirs = _received(rotel, "direct"), _received(rotel, "sdk")
        assert ours == theirs
        assert {row[0] for row in ours} == {f"eq.{s}.{k}" for s in ("h", "sdk") for k in KINDS_}
    finally:
        direct.shutdown()
        sdk.shutdown()


KINDS_ = ("counter", "updowncounter", "gauge", "histogram")
