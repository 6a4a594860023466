"""A real Prometheus scrapes the built-in endpoint, and promtool lints the exposition."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import otelsvc


def test_promtool_accepts_the_exposition(promtool: Callable[[bytes], Any]) -> None:
    guard = otelsvc.start(prometheus="127.0.0.1:0", set_global=False)
    try:
        meter = guard.meter("app")
        meter.create_counter("orders.placed", unit="{order}", description="Orders").add(1, {"region": "eu"})
        meter.create_histogram("request.duration", unit="s", description="Request time").record(0.3)
        meter.create_up_down_counter("queue.depth", unit="{item}", description="Depth").add(4)
        inst = guard.bridge.instrument("jobs.latency", "histogram", "s", "Job latency", ("queue",), (0.1, 1.0))
        inst.bind("fast").record(0.05)
        exposition = guard.render_metrics()
    finally:
        guard.shutdown()
    result = promtool(exposition)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == b"" and result.stderr.strip() == b"", result.stdout + result.stderr


def test_real_prometheus_scrapes_the_guard(prometheus_factory: Callable[..., Any]) -> None:
    guard = otelsvc.start(service_name="scraped", prometheus="127.0.0.1:0", metrics_token="s3cret", set_global=False)
    try:
        guard.meter("app").create_counter("orders.placed").add(5, {"region": "eu"})
        host, port = guard.prometheus_address  # type: ignore[misc]
        prom = prometheus_factory(f"{host}:{port}", token="s3cret")
        prom.wait_value('up{job="otelsvc"}', lambda v: v == 1.0)
        value = prom.wait_value('orders_placed_total{region="eu"}', lambda v: v == 5.0)
        assert value == 5.0
        rows = prom.query("target_info")
        assert rows and rows[0]["metric"]["service_name"] == "scraped"
    finally:
        guard.shutdown()
