"""4 threads each adding 1,000,000 through shared handles: exact totals in the scrape and the push."""

from __future__ import annotations

import threading

from conftest import Rotel

import otelsvc

THREADS, ADDS = 4, 1_000_000


def test_concurrent_adds_are_exact_in_scrape_and_push(rotel: Rotel) -> None:
    guard = otelsvc.start(
        prometheus="127.0.0.1:0",
        otlp_endpoint=rotel.grpc_endpoint,
        export_interval=3600,
        set_global=False,
        runtime_metrics=False,
    )
    try:
        counter = guard.bridge.instrument("exact.adds", "counter", "", "", ("lane",)).bind("shared")
        updown = guard.bridge.instrument("exact.level", "updowncounter", "", "", ("lane",)).bind("shared")
        hist = guard.bridge.instrument("exact.sizes", "histogram", "", "", ("lane",), (1.0, 2.0)).bind("shared")
        start = threading.Barrier(THREADS)

        def work() -> None:
            add, up, record = counter.add, updown.add, hist.record
            start.wait()
            for _ in range(ADDS):
                add(1)
            for _ in range(ADDS // 10):
                up(1)
                up(-1)
                record(2.0)

        threads = [threading.Thread(target=work) for _ in range(THREADS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        text = guard.render_metrics().decode()
        assert 'exact_adds_total{lane="shared",otel_scope_name="otelsvc"' in text

        def value(prefix: str) -> float:
            return float(next(x for x in text.splitlines() if x.startswith(prefix)).rsplit(" ", 1)[1])

        assert value("exact_adds_total{") == THREADS * ADDS
        assert value("exact_level{") == 0
        assert value("exact_sizes_count{") == THREADS * ADDS // 10
        assert guard.force_flush(timeout=10)
        pushed = rotel.wait_metric("exact.adds")
        assert pushed.points[0].value == THREADS * ADDS
        sizes = rotel.wait_metric("exact.sizes")
        assert sizes.points[0].count == THREADS * ADDS // 10
        assert sizes.points[0].buckets == [0, THREADS * ADDS // 10, 0]
    finally:
        guard.shutdown()
