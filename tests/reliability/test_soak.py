"""Soak: 4 recording threads, 20 concurrent scrapers and the OTLP push together end with exact
totals, no errors and flat memory. CI runs it for OTELSVC_SOAK_SECONDS (default 5 s); the full
form is OTELSVC_SOAK_SECONDS=60."""

from __future__ import annotations

import os
import threading
import time
import tracemalloc
import urllib.request

from conftest import Rotel

import otelsvc

SECONDS = float(os.environ.get("OTELSVC_SOAK_SECONDS", "5"))


def test_soak(rotel: Rotel) -> None:
    guard = otelsvc.start(
        prometheus="127.0.0.1:0",
        otlp_endpoint=rotel.grpc_endpoint,
        export_interval=0.5,
        set_global=False,
        max_connections=32,
    )
    counter = guard.bridge.instrument("soak.ops", "counter", "", "", ("worker",))
    hist = guard.bridge.instrument("soak.latency", "histogram", "s", "", ("worker",), (0.001, 0.01, 0.1))
    stop = threading.Event()
    done = {w: 0 for w in range(4)}
    errors: list[BaseException] = []
    scrapes = [0]

    def record(worker: int) -> None:
        add, observe = counter.bind(str(worker)).add, hist.bind(str(worker)).record
        n = 0
        try:
            while not stop.is_set():
                for _ in range(1000):
                    add(1)
                    observe(0.005)
                n += 1000
                # a service does other work between measurements; a loop that never leaves the
                # GIL would starve the 20 scraper threads of the interpreter, not of otelsvc
                time.sleep(0.001)
        except BaseException as exc:
            errors.append(exc)
        done[worker] = n

    def scrape() -> None:
        try:
            while not stop.is_set():
                with urllib.request.urlopen(guard.prometheus_url, timeout=30) as r:  # type: ignore[arg-type]
                    assert r.status == 200
                    r.read()
                scrapes[0] += 1
        except BaseException as exc:
            errors.append(exc)

    tracemalloc.start()
    threads = [threading.Thread(target=record, args=(w,)) for w in range(4)]
    threads += [threading.Thread(target=scrape) for _ in range(20)]
    for t in threads:
        t.start()
    samples = []
    t0 = time.monotonic()
    while time.monotonic() - t0 < SECONDS:
        time.sleep(SECONDS / 5)
        samples.append(tracemalloc.get_traced_memory()[0])
    stop.set()
    for t in threads:
        t.join(30)
    tracemalloc.stop()
    print(f"soak: {SECONDS:.0f}s, adds per worker {done}, scrapes {scrapes[0]}, traced memory samples {samples}")
    try:
        assert not errors, errors[:3]
        assert scrapes[0] > 20
        text = guard.render_metrics().decode()
        for worker, n in done.items():
            line = next(x for x in text.splitlines() if x.startswith("soak_ops_total{") and f'worker="{worker}"' in x)
            assert float(line.rsplit(" ", 1)[1]) == n
        assert guard.force_flush(timeout=10)
        pushed = {
            p.attributes["worker"]: p.value
            for p in rotel.wait_metric(
                "soak.ops", lambda m: sum(p.value or 0 for p in m.points) == sum(done.values())
            ).points
        }
        assert pushed == {str(w): float(n) for w, n in done.items()}
        # flat memory: the second half of the run does not keep growing
        assert samples[-1] - samples[len(samples) // 2] < 2_000_000, samples
    finally:
        guard.shutdown()
