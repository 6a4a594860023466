"""Actor per-instance mode: stopped actors' series leave scrape and push after the retention window."""

from __future__ import annotations

import gc
import tracemalloc

import otelsvc
from otelsvc.instruments import ActorMetrics


def test_retention_drops_series_from_scrape_and_push_and_frees_memory() -> None:
    now = [0.0]
    guard = otelsvc.start(prometheus="127.0.0.1:0", otlp_endpoint=None, set_global=False, runtime_metrics=False)
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader  # noqa: F401  (push path checked below)

    try:
        actors = ActorMetrics(guard, per_instance=True, retention=60.0, clock=lambda: now[0])
        guard.render_metrics()  # the first scrape's lazy imports (prometheus_client) are not series memory
        tracemalloc.start()
        gc.collect()
        before = tracemalloc.get_traced_memory()[0]
        for i in range(1000):
            handles = actors.actor("room", f"id-{i}")
            actors.actor_started(handles)
            handles.action_calls("send").add()
            actors.actor_stopped(handles, "destroy")
        text = guard.render_metrics().decode()
        assert text.count("actor_started_total{") == 1000
        assert actors.state() == {"tracked": 1000, "retained": 1000, "active": 0}
        now[0] = 59.0
        assert guard.render_metrics().decode().count("actor_started_total{") == 1000
        now[0] = 61.0
        text = guard.render_metrics().decode()
        assert "actor_started_total{" not in text
        assert actors.state() == {"tracked": 0, "retained": 0, "active": 0}
        assert all(inst.series_count() == 0 for inst in guard.bridge.instruments() if inst.name.startswith("actor."))
        gc.collect()
        after = tracemalloc.get_traced_memory()[0]
        tracemalloc.stop()
        assert after - before < 200_000, f"{after - before} bytes still held after retention"
    finally:
        guard.shutdown()


def test_retention_applies_to_the_push_path() -> None:
    from otelsvc.testing import start_testing

    now = [0.0]
    guard = start_testing()
    try:
        actors = ActorMetrics(guard, per_instance=True, retention=5.0, clock=lambda: now[0])
        a = actors.actor("room", "one")
        actors.actor_started(a)
        actors.actor_stopped(a, "sleep")
        b = actors.actor("room", "two")
        actors.actor_started(b)
        assert len(guard.series("actor.started")) == 2
        now[0] = 10.0
        rows = guard.series("actor.started")
        assert [attrs["actor_id"] for attrs, _ in rows] == ["two"]
    finally:
        guard.shutdown()


def test_the_sweep_follows_stop_order_through_restarts() -> None:
    """The retained actors are kept in stop order, so a sweep stops at the first one still retained;
    an actor that restarts leaves the retained set and, stopped again, goes to its end."""
    now = [0.0]
    guard = otelsvc.start(prometheus="127.0.0.1:0", otlp_endpoint=None, set_global=False, runtime_metrics=False)
    try:
        actors = ActorMetrics(guard, per_instance=True, retention=60.0, clock=lambda: now[0])
        a, b, c = (actors.actor("room", name) for name in "abc")
        for handles in (a, b, c):
            actors.actor_started(handles)
        actors.actor_stopped(a, "destroy")  # t=0
        now[0] = 30.0
        actors.actor_stopped(b, "destroy")  # t=30
        now[0] = 40.0
        actors.actor_started(a)  # a is back: no longer retained
        assert actors.state() == {"tracked": 3, "retained": 1, "active": 2}
        now[0] = 50.0
        actors.actor_stopped(a, "destroy")  # t=50, after b
        actors.actor_stopped(c, "destroy")  # t=50
        now[0] = 89.0
        assert actors.sweep() == 0
        now[0] = 90.0
        assert actors.sweep() == 1  # b only
        text = guard.render_metrics().decode()
        assert 'actor_id="b"' not in text and 'actor_id="a"' in text and 'actor_id="c"' in text
        now[0] = 110.0
        assert actors.sweep() == 2
        assert actors.state() == {"tracked": 0, "retained": 0, "active": 0}
    finally:
        guard.shutdown()
