"""Cardinality floods: a million distinct values stay bounded in series and memory, folded and logged once."""

from __future__ import annotations

import gc
import logging
import tracemalloc

import pytest

from otelsvc.instruments import NetworkMetrics
from otelsvc.testing import start_testing


def test_million_values_into_an_interned_label(caplog: pytest.LogCaptureFixture) -> None:
    guard = start_testing()
    try:
        net = NetworkMetrics(guard, peer_cap=100)
        lane = "general"
        with caplog.at_level(logging.WARNING, logger="otelsvc"):
            binder = net._binder("network.connection.opened", lane)
            for i in range(1000):
                binder(f"peer-{i}", "outgoing").add()
            for i in range(1000, 900_000):
                binder(f"peer-{i}", "outgoing").add()
            gc.collect()
            tracemalloc.start()
            before = tracemalloc.get_traced_memory()[0]
            for i in range(900_000, 1_000_000):
                binder(f"peer-{i}", "outgoing").add()
            gc.collect()
            grown = tracemalloc.get_traced_memory()[0] - before
            tracemalloc.stop()
        # the binder caches handles per raw value; what must stay bounded is the series and the interner
        peers = {a["peer_name"] for a, _ in guard.series("network.connection.opened")}
        assert len(peers) == 101 and "other" in peers
        assert (
            guard.value("network.connection.opened", {"swimlane": lane, "peer_name": "other", "direction": "outgoing"})
            == 1_000_000 - 100
        )
        assert len(net.interners["peer_name"]) == 100
        assert sum("peer_name reached its cap" in r.getMessage() for r in caplog.records) == 1
        assert len(binder._cache) <= 2 * 100
        assert grown < 100_000, f"the last 100k distinct values grew memory by {grown} bytes"
    finally:
        guard.shutdown()


def test_connection_handles_for_a_million_peers_stay_bounded() -> None:
    guard = start_testing()
    try:
        net = NetworkMetrics(guard, peer_cap=50)
        gc.collect()
        tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0]
        grown = []
        for start in (0, 20_000):
            for i in range(start, start + 20_000):
                conn = net.connection("gossip", f"peer-{i}", "incoming")
                conn.opened()
                conn.closed()
            gc.collect()
            grown.append(tracemalloc.get_traced_memory()[0] - before)
        tracemalloc.stop()
        assert len(guard.series("network.connection.opened")) == 51
        # the 51 peers' series (about 4 KiB each across the family), then nothing per connection
        assert grown[0] < 250_000, f"memory grew by {grown[0]} bytes for 20k short-lived connections"
        assert grown[1] - grown[0] < 10_000, f"20k more connections grew memory by {grown[1] - grown[0]} bytes"
    finally:
        guard.shutdown()


def test_users_own_instrument_is_capped_by_cardinality_limit(caplog: pytest.LogCaptureFixture) -> None:
    guard = start_testing(cardinality_limit=100)
    try:
        counter = guard.meter("app").create_counter("user.requests")
        for i in range(20_000):
            counter.add(1, {"user": f"u{i}"})
        series = guard.series("user.requests")
        assert len(series) <= 101
        overflow = [v for a, v in series if a.get("otel.metric.overflow")]
        assert overflow and overflow[0] >= 20_000 - 100
        handle_inst = guard.bridge.instrument("user.handles", "counter", "", "", ("user",))
        for i in range(20_000):
            handle_inst.bind(f"u{i}").add()
        rows = guard.series("user.handles")
        assert len(rows) == 101
        assert any(a.get("otel.metric.overflow") is True and v == 20_000 - 100 for a, v in rows)
    finally:
        guard.shutdown()


def test_users_sdk_instrument_flood_on_a_real_guard_stays_bounded() -> None:
    """A user's own SDK counter on a real guard (Prometheus reader and OTLP-style reader alike):
    200,000 distinct attribute values at cardinality_limit=100 make at most 101 scraped series (the
    SDK folds the rest into ``otel_metric_overflow="true"``) and the second half adds no memory."""
    import otelsvc

    guard = otelsvc.start(prometheus="127.0.0.1:0", set_global=False, runtime_metrics=False, cardinality_limit=100)
    try:
        counter = guard.meter("app").create_counter("user.flood")
        for i in range(100_000):
            counter.add(1, {"user": f"u{i}"})
        guard.render_metrics()
        gc.collect()
        tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0]
        for i in range(100_000, 200_000):
            counter.add(1, {"user": f"u{i}"})
        text = guard.render_metrics().decode()
        gc.collect()
        grown = tracemalloc.get_traced_memory()[0] - before
        tracemalloc.stop()
        series = [x for x in text.splitlines() if x.startswith("user_flood_total{")]
        overflow = [x for x in series if 'otel_metric_overflow="true"' in x]
        assert len(series) <= 101 and len(overflow) == 1, len(series)
        total = sum(float(x.rsplit(" ", 1)[1]) for x in series)
        assert total == 200_000
        print(
            f"SDK counter, 200k distinct values at limit 100: {len(series)} series, "
            f"second 100k grew traced memory by {grown} bytes"
        )
        assert grown < 200_000, grown
    finally:
        guard.shutdown()
