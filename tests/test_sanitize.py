"""Label values of any Python string render in Prometheus text, OpenMetrics and OTLP with a reversible
escape; a metric that cannot render is left out of its scrape (logged, counted), not the whole scrape."""

from __future__ import annotations

import os
import random
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from conftest import Rotel
from opentelemetry.exporter.otlp.proto.common.metrics_encoder import encode_metrics
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from prometheus_client.openmetrics.parser import text_string_to_metric_families as openmetrics_families
from prometheus_client.parser import text_string_to_metric_families as text_families

import otelsvc
import otelsvc._prometheus
from otelsvc._config import load_settings
from otelsvc._guard import ProviderGuard
from otelsvc._sanitize import escape_text, unescape_text

FSDECODED = os.fsdecode(b"caf\xe9.txt")
TRICKY = [
    "",
    "plain",
    "caf\u00e9",
    FSDECODED,
    "caf\\udce9.txt",
    "caf\\\\udce9.txt",
    "\\",
    "\\\\udce9",
    "\ud800",
    "\udfff\ud800",
    "\ud83d\ude00",
    "a\\ud7ff",
    "\\uDCE9",
    'quote"d\nnew\\line' + FSDECODED,
    "\\u0041",
]


def _random_strings(n: int) -> list[str]:
    rng = random.Random(5)
    alphabet = ["a", "\\", "u", "d", "c", "e", "9", "8", "f", "\udce9", "\ud800", "\u00e9", '"', "\n"]
    return ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 12))) for _ in range(n)]


def test_the_escape_is_valid_utf8_reversible_and_leaves_ordinary_text_alone() -> None:
    for text in TRICKY + _random_strings(3000):
        escaped = escape_text(text)
        escaped.encode("utf-8")
        assert unescape_text(escaped) == text, ascii(text)
        try:
            text.encode("utf-8")
            ordinary = "\\ud" not in text
        except UnicodeEncodeError:
            ordinary = False
        if ordinary:
            assert escaped is text, ascii(text)
    assert escape_text(FSDECODED) == "caf\\udce9.txt"


def test_different_strings_never_escape_to_the_same_text() -> None:
    strings = set(TRICKY + _random_strings(3000))
    assert len({escape_text(s) for s in strings}) == len(strings)


@pytest.fixture
def guard() -> Iterator[tuple[ProviderGuard, InMemoryMetricReader]]:
    reader = InMemoryMetricReader()
    g = ProviderGuard(
        load_settings({"prometheus": "127.0.0.1:0", "set_global": False, "runtime_metrics": False}, env={}),
        extra_readers=[reader],
    )
    yield g, reader
    g.shutdown()


def _record_tricky(g: ProviderGuard) -> None:
    counter = g.meter("user").create_counter("sdk.files", description="files " + FSDECODED)
    hist = g.meter("user").create_histogram("sdk.sizes", unit="By")
    handles = g.bridge.instrument("handle.files", "counter", "", "", ("file",))
    for i, value in enumerate(TRICKY):
        counter.add(i + 1, {"file": value, FSDECODED: "key"})
        hist.record(i, {"file": value})
        handles.bind(value).add(i + 1)


def test_scrapes_render_every_string_and_parse_back_to_the_original(guard: Any) -> None:
    g, _ = guard
    _record_tricky(g)
    families = {f.name: f for f in text_families(g.render_metrics().decode())}
    for name in ("sdk_files", "handle_files"):
        got = {unescape_text(s.labels.get("file", "")): s.value for s in families[name].samples}
        assert got == {value: i + 1.0 for i, value in enumerate(TRICKY)}
    om = {f.name: f for f in openmetrics_families(g.render_metrics(openmetrics=True).decode())}  # type: ignore[no-untyped-call]
    for name in ("sdk_files", "handle_files"):
        got = {unescape_text(s.labels.get("file", "")): s.value for s in om[name].samples if s.name.endswith("_total")}
        assert got == {value: i + 1.0 for i, value in enumerate(TRICKY)}
    assert "skipped" not in g.render_metrics().decode()


def test_the_push_side_carries_every_string_escaped(guard: Any) -> None:
    g, reader = guard
    _record_tricky(g)
    data = reader.get_metrics_data()
    assert data is not None
    encoded = encode_metrics(data)
    values: dict[str, set[str]] = {}
    for rm in encoded.resource_metrics:
        for sm in rm.scope_metrics:
            for metric in sm.metrics:
                points = metric.sum.data_points if metric.HasField("sum") else metric.histogram.data_points
                for point in points:
                    attrs = {a.key: a.value.string_value for a in point.attributes}
                    values.setdefault(metric.name, set()).add(unescape_text(attrs.get("file", "")))
    for name in ("sdk.files", "sdk.sizes", "handle.files"):
        assert values[name] == set(TRICKY), name


def _sdk_counter(meter: Any, name: str) -> Any:
    """The SDK's own counter (a guard's meter gives thin ones, which drop such sums at the call)."""
    from opentelemetry.sdk.metrics import Meter as SdkMeter

    return SdkMeter.create_counter(meter, name)


def test_one_metric_that_cannot_render_is_left_out_of_the_scrape(
    guard: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    g, _ = guard
    meter = g.meter("user")
    for _ in range(3):
        _sdk_counter(meter, "sdk.huge_render").add(10**308)  # an int sum beyond the float range (a name
        # no other test uses: each name is logged once per process)
    meter.create_counter("sdk.fine").add(1)
    g.bridge.instrument("handle.fine", "gauge").bind().set(2)
    text = g.render_metrics().decode()
    assert "sdk_fine_total" in text and "handle_fine" in text and "sdk_huge" not in text
    # OpenMetrics comes from the same renderer: the metric is left out, the rest served
    om = g.render_metrics(openmetrics=True).decode()
    names = {f.name for f in openmetrics_families(om)}  # type: ignore[no-untyped-call]
    assert {"target", "sdk_fine", "handle_fine", "otelsvc_exposition_skipped"} <= names
    assert "sdk_huge" not in names
    assert om.count("# EOF") == 1 and om.count("target_info") == 1
    assert sum("sdk.huge_render left out" in r.getMessage() for r in caplog.records) == 1


def test_rotel_receives_undecodable_labels_escaped(rotel: Rotel) -> None:
    guard = otelsvc.start(
        prometheus=None, otlp_endpoint=rotel.grpc_endpoint, export_interval=0.2, set_global=False, runtime_metrics=False
    )
    try:
        guard.bridge.instrument("esc.handle", "counter", "", "", ("file",)).bind(FSDECODED).add(1)
        guard.meter("user").create_counter("esc.sdk").add(1, {"file": FSDECODED})
        guard.bridge.instrument("esc.fine", "counter").bind().add(1)
        guard.force_flush()
        for name in ("esc.handle", "esc.sdk", "esc.fine"):
            metric = rotel.wait_metric(name)
            if name != "esc.fine":
                assert [p.attributes.get("file") for p in metric.points] == ["caf\\udce9.txt"]
    finally:
        guard.shutdown()


def test_the_server_answers_200_with_undecodable_labels_and_an_unrenderable_metric() -> None:
    guard = otelsvc.start(prometheus="127.0.0.1:0", set_global=False, runtime_metrics=False)
    try:
        guard.bridge.instrument("srv.files", "counter", "", "", ("file",)).bind(FSDECODED).add(1)
        guard.meter("user").create_counter("srv.sdk").add(1, {"file": FSDECODED})
        for _ in range(3):
            _sdk_counter(guard.meter("user"), "srv.huge").add(10**308)
        url = guard.prometheus_url
        assert url is not None
        for accept in ("text/plain", "application/openmetrics-text; version=1.0.0"):
            with urllib.request.urlopen(urllib.request.Request(url, headers={"Accept": accept}), timeout=10) as r:
                assert r.status == 200
                body = r.read().decode("utf-8")
            assert 'file="caf\\\\udce9.txt"' in body and "srv_sdk_total" in body and "srv_huge" not in body
    finally:
        guard.shutdown()
