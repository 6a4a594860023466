"""otelsvc's own counters for the alerts: OTLP export failures per pipeline, label values folded into ``other``."""

from __future__ import annotations

import urllib.request
from collections.abc import Iterator

import pytest
from _refusing_collector import refusing_collector
from conftest import wait_until

import otelsvc
from otelsvc.instruments import Interner
from otelsvc.instruments._interner import OTHER, fold_counts


def _scrape(guard: otelsvc.ProviderGuard) -> str:
    with urllib.request.urlopen(guard.prometheus_url, timeout=5) as response:  # type: ignore[arg-type]
        return str(response.read().decode())


@pytest.fixture
def collector() -> Iterator[str]:
    with refusing_collector() as url:
        yield url


def test_failed_pushes_are_counted_per_pipeline_and_exporter(collector: str) -> None:
    guard = otelsvc.start(
        prometheus="127.0.0.1:0", otlp_endpoint=collector, otlp_protocol="http/protobuf", set_global=False
    )
    try:
        assert guard.exporters["metrics"].total_failures == 0
        zero = 'otelsvc_export_failures_total{exporter="otlp_http",otel_scope_name="otelsvc"'
        body = _scrape(guard)
        assert any(
            line.startswith(zero) and 'pipeline="metrics"' in line and line.endswith(" 0.0")
            for line in body.splitlines()
        ), body
        guard.meter_provider.force_flush(5_000)
        wait_until(lambda: guard.exporters["metrics"].total_failures >= 1)
        failures = guard.exporters["metrics"].total_failures
        rows = [
            line
            for line in _scrape(guard).splitlines()
            if line.startswith("otelsvc_export_failures_total{") and 'pipeline="metrics"' in line
        ]
        assert len(rows) == 1 and float(rows[0].rsplit(" ", 1)[1]) >= failures, rows
    finally:
        guard.shutdown()


def test_no_push_configured_means_no_export_failure_series() -> None:
    guard = otelsvc.start(prometheus="127.0.0.1:0", set_global=False)
    try:
        assert "otelsvc_export_failures_total{" not in _scrape(guard)
    finally:
        guard.shutdown()


def test_folds_are_counted_per_label_and_scraped() -> None:
    interner = Interner("test_fold_label", 2)
    before = fold_counts().get("test_fold_label", 0)
    assert [interner(v) for v in ("a", "b", "a", "c", "d", "b")] == ["a", "b", "a", OTHER, OTHER, "b"]
    assert fold_counts()["test_fold_label"] - before == 2
    guard = otelsvc.start(prometheus="127.0.0.1:0", set_global=False)
    try:
        rows = [
            line
            for line in _scrape(guard).splitlines()
            if line.startswith("otelsvc_labels_folded_total{") and 'label="test_fold_label"' in line
        ]
        assert len(rows) == 1 and float(rows[0].rsplit(" ", 1)[1]) == fold_counts()["test_fold_label"], rows
    finally:
        guard.shutdown()
    del interner
