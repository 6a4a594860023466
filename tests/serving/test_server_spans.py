"""SERVER spans from the ASGI and WSGI middleware: names, parents from the incoming traceparent and
baggage, ERROR on 5xx and exceptions, no spans for the telemetry routes, ``spans=False``, and the
duration recorded while the span is current."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from flask import Flask
from opentelemetry import baggage, trace
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from werkzeug.serving import make_server

from otelsvc.asgi import HttpMetricsMiddleware, TelemetryApp
from otelsvc.testing import TestingGuard, start_testing
from otelsvc.wsgi import HttpMetricsMiddleware as WsgiMiddleware

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_ID = "00f067aa0ba902b7"
TRACEPARENT = f"00-{TRACE_ID}-{PARENT_ID}-01"


@pytest.fixture
def traced() -> Iterator[tuple[TestingGuard, InMemorySpanExporter]]:
    guard = start_testing(prometheus="127.0.0.1:0", builtin_server=False)  # TelemetryApp needs a reader
    exporter = InMemorySpanExporter()
    guard.tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))  # type: ignore[attr-defined]
    yield guard, exporter
    guard.shutdown()


def fastapi_app(guard: TestingGuard, seen: dict[str, Any], **options: Any) -> FastAPI:
    app = FastAPI(telemetry={"tracing": False, "metrics": False, "logs": False})

    @app.get("/items/{item_id}")
    def item(item_id: int) -> dict[str, int]:
        seen["span"] = trace.get_current_span().get_span_context()
        seen["baggage"] = baggage.get_baggage("tenant")
        return {"item_id": item_id}

    @app.get("/fail")
    def fail() -> None:
        raise RuntimeError("boom")

    @app.get("/unavailable", status_code=503)
    def unavailable() -> dict[str, str]:
        return {}

    @app.get("/metrics")
    def metrics() -> str:
        return "app's own /metrics: excluded by default"

    app.mount("/telemetry", TelemetryApp(guard))
    app.add_middleware(HttpMetricsMiddleware, guard=guard, **options)  # type: ignore[arg-type]
    return app


def get(app: Any, path: str, headers: dict[str, str] | None = None) -> int:
    async def run() -> int:
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            return (await client.get(path, headers=headers or {})).status_code

    return asyncio.run(run())


def by_name(exporter: InMemorySpanExporter) -> dict[str, ReadableSpan]:
    return {s.name: s for s in exporter.get_finished_spans()}


def test_server_span_continues_the_incoming_trace(traced: tuple[TestingGuard, InMemorySpanExporter]) -> None:
    guard, exporter = traced
    seen: dict[str, Any] = {}
    app = fastapi_app(guard, seen)
    assert get(app, "/items/7?q=1", {"traceparent": TRACEPARENT, "baggage": "tenant=acme"}) == 200
    span = by_name(exporter)["GET /items/{item_id}"]
    assert span.kind is SpanKind.SERVER
    assert span.context is not None and span.parent is not None
    assert format(span.context.trace_id, "032x") == TRACE_ID and format(span.parent.span_id, "016x") == PARENT_ID
    assert span.parent.is_remote
    assert seen["span"].span_id == span.context.span_id  # current while the app ran
    assert seen["baggage"] == "acme"
    attrs = dict(span.attributes or {})
    assert attrs["http.route"] == "/items/{item_id}" and attrs["http.response.status_code"] == 200
    assert attrs["url.path"] == "/items/7" and attrs["url.query"] == "q=1"
    assert span.status.status_code is StatusCode.UNSET


def test_errors_unmatched_and_excluded(traced: tuple[TestingGuard, InMemorySpanExporter]) -> None:
    guard, exporter = traced
    app = fastapi_app(guard, {})
    assert get(app, "/fail") == 500
    assert get(app, "/unavailable") == 503
    assert get(app, "/nowhere") == 404
    assert get(app, "/metrics") == 200
    assert get(app, "/telemetry/health") == 200
    spans = by_name(exporter)
    assert set(spans) == {"GET /fail", "GET /unavailable", "GET"}
    fail = spans["GET /fail"]
    assert fail.status.status_code is StatusCode.ERROR and (fail.attributes or {})["error.type"] == "RuntimeError"
    unavailable = spans["GET /unavailable"]
    assert unavailable.status.status_code is StatusCode.ERROR
    assert (unavailable.attributes or {})["error.type"] == "503"
    assert spans["GET"].status.status_code is StatusCode.UNSET  # a 404 is not a server error
    assert {a.get("http.route") for a, _ in guard.series("http.server.request.duration")} == {
        "/fail",
        "/unavailable",
        None,
    }


def test_spans_off_keeps_metrics(traced: tuple[TestingGuard, InMemorySpanExporter]) -> None:
    guard, exporter = traced
    app = fastapi_app(guard, {}, spans=False)
    assert get(app, "/items/1", {"traceparent": TRACEPARENT}) == 200
    assert exporter.get_finished_spans() == ()
    assert [v.count for _, v in guard.series("http.server.request.duration")] == [1]


def test_duration_is_recorded_while_the_span_is_current(traced: tuple[TestingGuard, InMemorySpanExporter]) -> None:
    guard, exporter = traced
    app = fastapi_app(guard, {})
    middleware = app.build_middleware_stack()
    while not isinstance(middleware, HttpMetricsMiddleware):
        middleware = middleware.app
    recorded: list[trace.SpanContext] = []
    end = middleware.metrics.end  # what the ASGI middleware's ``finally`` records through

    def spy(*args: Any, **kwargs: Any) -> None:
        recorded.append(trace.get_current_span().get_span_context())
        end(*args, **kwargs)

    middleware.metrics.end = spy  # type: ignore[method-assign]
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": "/items/3",
        "raw_path": b"/items/3",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"traceparent", TRACEPARENT.encode())],
        "app": app,
    }

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        pass

    asyncio.run(middleware(scope, receive, send))
    span = by_name(exporter)["GET /items/{item_id}"]
    assert span.context is not None
    assert [c.span_id for c in recorded] == [span.context.span_id]
    assert trace.get_current_span() is trace.INVALID_SPAN  # the context was restored


def test_flask_under_a_wsgi_server_continues_the_trace(traced: tuple[TestingGuard, InMemorySpanExporter]) -> None:
    guard, exporter = traced
    app = Flask(__name__)
    seen: dict[str, Any] = {}

    @app.get("/orders/<int:oid>")
    def order(oid: int) -> dict[str, int]:
        seen["span"] = trace.get_current_span().get_span_context()
        return {"oid": oid}

    @app.get("/crash")
    def crash() -> str:
        raise ValueError("x")

    app.wsgi_app = WsgiMiddleware(app.wsgi_app, guard=guard)  # type: ignore[method-assign]
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_port}"
        assert httpx.get(f"{url}/orders/5", headers={"traceparent": TRACEPARENT}).status_code == 200
        assert httpx.get(f"{url}/crash").status_code == 500
    finally:
        server.shutdown()
        thread.join(5)
    spans = by_name(exporter)
    span = spans["GET /orders/<int:oid>"]
    assert span.kind is SpanKind.SERVER and span.context is not None and span.parent is not None
    assert format(span.context.trace_id, "032x") == TRACE_ID and format(span.parent.span_id, "016x") == PARENT_ID
    assert seen["span"].span_id == span.context.span_id
    attrs = dict(span.attributes or {})
    assert attrs["network.protocol.version"] == "1.1" and attrs["server.port"] == server.server_port
    crashed = spans["GET /crash"]
    assert crashed.status.status_code is StatusCode.ERROR and (crashed.attributes or {})["error.type"] == "500"
    routes = {
        (a.get("http.route"), a["http.response.status_code"]) for a, _ in guard.series("http.server.request.duration")
    }
    assert routes == {("/orders/<int:oid>", 200), ("/crash", 500)}
