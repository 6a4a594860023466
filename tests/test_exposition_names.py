"""One family per Prometheus name (issue 10 item 4, exposition half) and the scope-label setting (issue 15
item 6): same-name metrics from several scopes share one HELP and TYPE; a true conflict (another kind or
unit, also after name mangling) keeps the first and logs the other once; every scrape passes promtool
(text) and prometheus_client's OpenMetrics parser."""

from __future__ import annotations

import logging
import subprocess
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_openmetrics
from prometheus_client.parser import text_string_to_metric_families as parse_text

import otelsvc
from otelsvc._errors import ConfigError
from otelsvc._guard import ProviderGuard

Promtool = Callable[[bytes], subprocess.CompletedProcess[bytes]]


def _start(**settings: Any) -> ProviderGuard:
    return otelsvc.start(prometheus="127.0.0.1:0", set_global=False, runtime_metrics=False, **settings)


@pytest.fixture
def guard() -> Iterator[ProviderGuard]:
    g = _start()
    yield g
    g.shutdown()


def _check(g: ProviderGuard, promtool: Promtool) -> tuple[str, dict[str, Any]]:
    """The text scrape (promtool-clean, each name with one HELP and TYPE) and the parsed OpenMetrics families."""
    text = g.render_metrics()
    proc = promtool(text)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    body = text.decode()
    helps = [line.split()[2] for line in body.splitlines() if line.startswith("# HELP")]
    types = [line.split()[2] for line in body.splitlines() if line.startswith("# TYPE")]
    assert len(helps) == len(set(helps)) and len(types) == len(set(types)), body
    list(parse_text(body))
    om = g.render_metrics(openmetrics=True).decode()
    families = {f.name: f for f in parse_openmetrics(om)}  # type: ignore[no-untyped-call]
    return body, families


def _scopes(family: Any, sample_name: str) -> list[str]:
    return sorted(s.labels.get("otel_scope_name", "") for s in family.samples if s.name == sample_name)


def test_one_name_from_two_scopes_is_one_family(guard: ProviderGuard, promtool: Promtool) -> None:
    """FastAPI's own semconv histogram beside otelsvc's handle one (other description): one family."""
    guard.meter("fastapi", "0.165").create_histogram(
        "http.server.request.duration", unit="s", description="FastAPI's duration").record(0.2, {"route": "/a"})
    guard.bridge.instrument("http.server.request.duration", "histogram", "s", "otelsvc's duration", ("route",),
                            (0.1, 1.0)).bind("/a").record(0.2)
    guard.meter("fastapi").create_up_down_counter(
        "http.server.active_requests", unit="{request}", description="d").add(1)
    guard.up_down_counter("http.server.active_requests", unit="{request}", description="in flight").bind().add(2)
    text, families = _check(guard, promtool)
    assert text.count("# HELP http_server_request_duration_seconds FastAPI's duration\n") == 1  # the first HELP
    assert _scopes(families["http_server_request_duration_seconds"],
                   "http_server_request_duration_seconds_count") == ["fastapi", "otelsvc"]
    assert _scopes(families["http_server_active_requests"], "http_server_active_requests") == ["fastapi", "otelsvc"]


@pytest.mark.parametrize(("first", "second"), [
    (("x.requests", "counter", ""), ("x.requests", "gauge", "")),  # same name, another kind
    (("x.latency", "histogram", "s"), ("x.latency.seconds", "histogram", "")),  # same name, another unit
    (("job.runs", "counter", ""), ("job_runs", "histogram", "")),  # alike after mangling, another kind
    (("q", "counter", ""), ("q_total", "gauge", "")),  # q_total is the counter's sample name
])
def test_a_true_conflict_keeps_the_first_and_logs_once(
    guard: ProviderGuard, promtool: Promtool, caplog: pytest.LogCaptureFixture,
    first: tuple[str, str, str], second: tuple[str, str, str],
) -> None:
    def record(meter_name: str, name: str, kind: str, unit: str) -> None:
        meter = guard.meter(meter_name)
        if kind == "counter":
            meter.create_counter(name, unit=unit, description="d").add(1)
        elif kind == "gauge":
            meter.create_gauge(name, unit=unit, description="d").set(5)
        else:
            meter.create_histogram(name, unit=unit, description="d").record(1)

    record("one", *first)
    record("two", *second)
    with caplog.at_level(logging.WARNING, logger="otelsvc"):
        text, families = _check(guard, promtool)
        _check(guard, promtool)
    conflicts = [r for r in caplog.records if "left out of the Prometheus exposition" in r.getMessage()]
    assert len(conflicts) == 1 and second[0] in conflicts[0].getMessage()
    assert 'otel_scope_name="one"' in text and 'otel_scope_name="two"' not in text
    kinds = {f.type for f in families.values()}
    assert first[1] in kinds and (second[1] in kinds) == (second[1] == first[1])


def test_names_alike_after_mangling_share_one_family(guard: ProviderGuard, promtool: Promtool) -> None:
    guard.meter("one").create_counter("job.runs", description="d").add(1)
    guard.meter("two").create_counter("job_runs", description="d").add(2)
    guard.counter("job-runs", description="d").bind().add(3)
    _, families = _check(guard, promtool)
    assert _scopes(families["job_runs"], "job_runs_total") == ["one", "otelsvc", "two"]


def test_the_scope_labels_can_be_left_out(promtool: Promtool, caplog: pytest.LogCaptureFixture) -> None:
    g = _start(prometheus_scope_info=False)
    try:
        g.meter("one").create_counter("jobs", description="d").add(1, {"queue": "a"})
        g.meter("two").create_counter("jobs", description="d").add(2, {"queue": "b"})  # other labels: merged
        g.meter("two").create_counter("other", description="d").add(1, {"queue": "a"})
        g.meter("three").create_counter("other", description="d").add(5, {"queue": "a"})  # same labels: the first kept
        g.counter("jobs", labels=("queue",), description="d").bind("c").add(3)
        with caplog.at_level(logging.WARNING, logger="otelsvc"):
            text, families = _check(g, promtool)
    finally:
        g.shutdown()
    assert "otel_scope" not in text and "otel_scope" not in g.render_metrics(openmetrics=True).decode()
    assert sorted((s.labels["queue"], s.value) for s in families["jobs"].samples) == [("a", 1), ("b", 2), ("c", 3)]
    assert [(s.labels, s.value) for s in families["other"].samples] == [({"queue": "a"}, 1)]
    collisions = [r for r in caplog.records if "same labels" in r.getMessage()]
    assert len(collisions) == 1 and "other" in collisions[0].getMessage()


def test_the_scope_label_setting_reads_its_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTELSVC_PROMETHEUS_SCOPE_INFO", "false")
    g = _start()
    try:
        g.counter("c").bind().add(1)
        assert "otel_scope" not in g.render_metrics().decode()
    finally:
        g.shutdown()
    monkeypatch.setenv("OTELSVC_PROMETHEUS_SCOPE_INFO", "sometimes")
    with pytest.raises(ConfigError, match="OTELSVC_PROMETHEUS_SCOPE_INFO"):
        _start()
