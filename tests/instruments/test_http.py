"""The http family's recorder: one lock for a request's five series (also in a forked child), and the
per-request caches keyed so that the status (an int) hits them."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import otelsvc
from otelsvc._guard import ProviderGuard
from otelsvc.instruments.http import HttpMetrics, _share_again_in_child


@pytest.fixture
def guard() -> Iterator[ProviderGuard]:
    g = otelsvc.start(prometheus="127.0.0.1:0", builtin_server=False, set_global=False, runtime_metrics=False)
    yield g
    g.shutdown()


def _locks(metrics: HttpMetrics) -> set[int]:
    locks = {id(inst.lock) for inst in metrics.instruments.instruments.values()}
    for inst in metrics.instruments.instruments.values():
        locks.update(id(handle._lock) for _, handle in inst.handles())
    return locks


def test_a_request_takes_one_lock_and_hits_the_caches(guard: ProviderGuard) -> None:
    metrics = HttpMetrics(guard)
    for _ in range(3):
        record = metrics.start("GET", "http", "other")
        metrics.finish(record, "/items/{id}", "/items/{id}", 200, None, 0.01, "1.1")
    assert len(_locks(metrics)) == 1
    flight = metrics.flights[("GET", "http", "other")]
    assert flight.fast and list(flight.ends) == [("/items/{id}", "/items/{id}", 200, None, "1.1")]
    assert flight.ends[("/items/{id}", "/items/{id}", 200, None, "1.1")][3]  # the fused end path
    lines = guard.render_metrics().decode().splitlines()
    assert any(
        line.startswith('http_requests_total{endpoint="/items/{id}",method="GET"') and line.endswith(" 3.0")
        for line in lines
    )
    assert any(line.startswith('http_requests_in_flight{endpoint="other"') and line.endswith(" 0.0") for line in lines)


def test_the_lock_is_shared_again_in_a_forked_child(guard: ProviderGuard) -> None:
    metrics = HttpMetrics(guard)
    record = metrics.start("GET", "http", "other")
    metrics.finish(record, "/a", "/a", 200, None, 0.01, "1.1")
    guard.bridge.reset_after_fork()  # what the guard's fork hook does in the child: a lock per instrument
    assert len(_locks(metrics)) > 1
    _share_again_in_child()  # the http family's fork hook, registered after the guard's
    assert len(_locks(metrics)) == 1
