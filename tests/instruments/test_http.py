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


def _asgi_requests(app: object, path: str, n: int) -> None:
    import asyncio

    async def receive() -> dict[str, object]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: object) -> None:
        pass

    async def run() -> None:
        for _ in range(n):
            scope = {"type": "http", "http_version": "1.1", "method": "GET", "scheme": "http", "path": path}
            await app(scope, receive, send)  # type: ignore[operator]

    asyncio.run(run())


def _routed_app() -> object:
    from starlette.routing import Route

    route = Route("/items/{id}", lambda request: None)

    async def app(scope: dict[str, object], receive: object, send: object) -> None:
        scope["route"] = route
        await send({"type": "http.response.start", "status": 200, "headers": []})  # type: ignore[operator]
        await send({"type": "http.response.body", "body": b"ok"})  # type: ignore[operator]

    return app


def test_deferred_requests_are_all_in_the_next_scrape(guard: ProviderGuard) -> None:
    from otelsvc.asgi import HttpMetricsMiddleware

    middleware = HttpMetricsMiddleware(_routed_app(), guard=guard, spans=False)  # type: ignore[arg-type]
    _asgi_requests(middleware, "/items/1", 150)  # past the fold at 65 pending ends, and some after it
    flight = middleware.metrics.flights[("GET", "http", "other")]
    ends = flight.ends[("/items/{id}", "/items/{id}", 200, None, "1.1")]
    assert flight.defer and ends[4] == 1 and 0 < len(ends[5]) < 65  # deferred, not yet folded
    samples = _samples(guard)
    assert ends[5] == []
    assert samples["http_requests_total"] == 150
    assert samples["http_server_request_duration_seconds_count"] == 150
    assert samples["http_request_duration_seconds_count"] == 150
    assert samples["http_requests_in_flight"] == 0 and samples["http_server_active_requests"] == 0


def _samples(guard: ProviderGuard) -> dict[str, float]:
    """Sample values of the scrape by sample name (the http family has one series of each here)."""
    from prometheus_client.parser import text_string_to_metric_families

    text = guard.render_metrics().decode()
    return {s.name: s.value for family in text_string_to_metric_families(text) for s in family.samples}


def test_a_sampled_span_takes_its_exemplar_instead_of_deferring(guard: ProviderGuard) -> None:
    from otelsvc.asgi import HttpMetricsMiddleware

    middleware = HttpMetricsMiddleware(_routed_app(), guard=guard, spans=False)  # type: ignore[arg-type]
    _asgi_requests(middleware, "/items/1", 1)  # binds the series
    tracer = guard.tracer("t")
    with tracer.start_as_current_span("outer") as span:
        _asgi_requests_in_context(middleware)
    flight = middleware.metrics.flights[("GET", "http", "other")]
    ends = flight.ends[("/items/{id}", "/items/{id}", 200, None, "1.1")]
    assert ends[5] == []  # recorded at once, with the exemplar
    exemplars = [e for e in ends[0].exemplars(0) if e is not None]
    assert exemplars and exemplars[0][2] == span.get_span_context().trace_id


def _asgi_requests_in_context(app: object) -> None:
    """One request run in the caller's context (``asyncio.run`` copies the current context)."""
    _asgi_requests(app, "/items/2", 1)


def test_a_forked_child_forgets_the_parents_deferred_requests(guard: ProviderGuard) -> None:
    from otelsvc.asgi import HttpMetricsMiddleware

    middleware = HttpMetricsMiddleware(_routed_app(), guard=guard, spans=False)  # type: ignore[arg-type]
    _asgi_requests(middleware, "/items/1", 10)
    flight = middleware.metrics.flights[("GET", "http", "other")]
    next(flight.started)  # one request of the parent's still in flight
    guard.bridge.reset_after_fork()  # what the fork hooks do in the child
    _share_again_in_child()
    assert all(series[5] == [] for series in flight.ends.values())
    samples = _samples(guard)
    assert "http_requests_total" not in samples
    assert samples.get("http_requests_in_flight", 0) == 0


def test_a_collected_recorder_leaves_no_collect_hook_behind(guard: ProviderGuard) -> None:
    import gc

    before = len(guard.bridge.collect_hooks)
    metrics = HttpMetrics(guard)
    assert len(guard.bridge.collect_hooks) == before + 1
    del metrics
    gc.collect()
    assert len(guard.bridge.collect_hooks) == before
