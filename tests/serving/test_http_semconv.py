"""The HTTP middleware against the semantic conventions: attribute names and types from the spec's
tables, known methods (and their override), route templates on the installed FastAPI and Starlette
(included routers with prefixes, nested routers, Mounts, mounted sub-apps), Flask rules."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi import APIRouter, FastAPI
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.semconv.attributes import (
    client_attributes,
    error_attributes,
    http_attributes,
    network_attributes,
    server_attributes,
    url_attributes,
    user_agent_attributes,
)
from opentelemetry.trace import SpanKind
from starlette.applications import Starlette
from starlette.middleware.gzip import GZipMiddleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Mount, Route, Router

from otelsvc._http_methods import DEFAULT_KNOWN_METHODS, known_methods
from otelsvc.asgi import HttpMetricsMiddleware
from otelsvc.testing import TestingGuard, start_testing

# The spec's attribute tables (semantic conventions 1.37, http-metrics.md and http-spans.md), with the
# attribute types. Names come from the semconv package so a typo here fails too.
STR, INT = str, int
# FastAPI's native telemetry off: another test in this worker may have set global providers.
NO_NATIVE_TELEMETRY: Any = {"tracing": False, "metrics": False, "logs": False}
DURATION_ATTRIBUTES: dict[str, type] = {
    http_attributes.HTTP_REQUEST_METHOD: STR, url_attributes.URL_SCHEME: STR, error_attributes.ERROR_TYPE: STR,
    http_attributes.HTTP_RESPONSE_STATUS_CODE: INT, http_attributes.HTTP_ROUTE: STR,
    network_attributes.NETWORK_PROTOCOL_NAME: STR, network_attributes.NETWORK_PROTOCOL_VERSION: STR,
    server_attributes.SERVER_ADDRESS: STR, server_attributes.SERVER_PORT: INT,
}
DURATION_REQUIRED = {http_attributes.HTTP_REQUEST_METHOD, url_attributes.URL_SCHEME}
ACTIVE_ATTRIBUTES: dict[str, type] = {
    http_attributes.HTTP_REQUEST_METHOD: STR, url_attributes.URL_SCHEME: STR,
    server_attributes.SERVER_ADDRESS: STR, server_attributes.SERVER_PORT: INT,
}
SPAN_ATTRIBUTES: dict[str, type] = {
    **DURATION_ATTRIBUTES, http_attributes.HTTP_REQUEST_METHOD_ORIGINAL: STR, url_attributes.URL_PATH: STR,
    url_attributes.URL_QUERY: STR, client_attributes.CLIENT_ADDRESS: STR, client_attributes.CLIENT_PORT: INT,
    user_agent_attributes.USER_AGENT_ORIGINAL: STR, network_attributes.NETWORK_PEER_ADDRESS: STR,
    network_attributes.NETWORK_PEER_PORT: INT,
}
SPAN_REQUIRED = {http_attributes.HTTP_REQUEST_METHOD, url_attributes.URL_PATH, url_attributes.URL_SCHEME}


def check_table(attrs: dict[str, Any], table: dict[str, type], required: set[str]) -> None:
    assert required <= set(attrs), f"missing {required - set(attrs)}"
    for key, value in attrs.items():
        assert key in table, f"{key} is not in the semconv table"
        assert type(value) is table[key], f"{key}={value!r} should be {table[key].__name__}"


@pytest.fixture
def guard() -> Iterator[TestingGuard]:
    g = start_testing()
    yield g
    g.shutdown()


def spans_of(guard: TestingGuard) -> InMemorySpanExporter:
    exporter = InMemorySpanExporter()
    guard.tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))  # type: ignore[attr-defined]
    return exporter


def call(app: Any, requests: list[tuple[str, str]], **client: Any) -> list[int]:
    async def run() -> list[int]:
        transport = httpx.ASGITransport(app=app, **client)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            return [(await c.request(method, path)).status_code for method, path in requests]

    return asyncio.run(run())


def raw_call(app: Any, method: str, path: str) -> int:
    """One request with the method exactly as given (HTTP clients upper-case it)."""
    sent: list[dict[str, Any]] = []
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method, "scheme": "http",
             "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "",
             "headers": [(b"host", b"testserver")], "client": ("127.0.0.1", 5000), "server": ("testserver", 80)}

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    return int(sent[0]["status"])


def routes(guard: TestingGuard) -> dict[tuple[str | None, int], int]:
    return {(a.get("http.route"), a["http.response.status_code"]): v.count
            for a, v in guard.series("http.server.request.duration")}


def test_known_methods_default_and_override(caplog: pytest.LogCaptureFixture) -> None:
    assert {"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE",
                                     "PATCH", "QUERY"} == DEFAULT_KNOWN_METHODS
    assert known_methods({}) == DEFAULT_KNOWN_METHODS
    assert known_methods({"OTEL_INSTRUMENTATION_HTTP_KNOWN_METHODS": " GET, PURGE ,get"}) == {"GET", "PURGE", "get"}
    with caplog.at_level(logging.WARNING, logger="otelsvc"):
        for _ in range(3):
            assert known_methods({"OTEL_INSTRUMENTATION_HTTP_KNOWN_METHODS": "GET,,B@D"}) == DEFAULT_KNOWN_METHODS
    warnings = [r.getMessage() for r in caplog.records if "OTEL_INSTRUMENTATION_HTTP_KNOWN_METHODS" in r.getMessage()]
    assert len(warnings) == 1 and "GET,,B@D" in warnings[0]


def _echo_app() -> Starlette:
    async def echo(request: Request) -> PlainTextResponse:
        return PlainTextResponse("ok", status_code=int(request.query_params.get("status", "200")))

    return Starlette(routes=[Route("/e", echo, methods=["GET", "POST", "QUERY", "PURGE", "get", "FOO"])])


def test_methods_match_exactly_and_query_is_known(guard: TestingGuard) -> None:
    app = HttpMetricsMiddleware(_echo_app(), guard=guard)
    statuses = [raw_call(app, m, "/e") for m in ("GET", "get", "QUERY", "FOO", "PATCH")]
    assert statuses == [200, 405, 200, 200, 405]  # Starlette upper-cases its route methods: ``get`` is not allowed
    methods: dict[str, int] = {}
    for a, v in guard.series("http.server.request.duration"):
        methods[a["http.request.method"]] = methods.get(a["http.request.method"], 0) + v.count
    assert methods == {"GET": 1, "QUERY": 1, "_OTHER": 2, "PATCH": 1}
    classic: dict[str, int] = {}
    for a, v in guard.series("http_requests"):
        classic[a["method"]] = classic.get(a["method"], 0) + v
    assert classic == {"GET": 1, "QUERY": 1, "other": 2, "PATCH": 1}


def test_known_methods_variable_is_read_at_construction(guard: TestingGuard, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_INSTRUMENTATION_HTTP_KNOWN_METHODS", "GET,PURGE")
    app = HttpMetricsMiddleware(_echo_app(), guard=guard)
    monkeypatch.setenv("OTEL_INSTRUMENTATION_HTTP_KNOWN_METHODS", "POST")
    call(app, [("PURGE", "/e"), ("POST", "/e"), ("GET", "/e")])
    methods = {a["http.request.method"]: v.count for a, v in guard.series("http.server.request.duration")}
    assert methods == {"PURGE": 1, "_OTHER": 1, "GET": 1}


def test_attributes_match_the_semconv_tables(guard: TestingGuard) -> None:
    exporter = spans_of(guard)
    app = HttpMetricsMiddleware(_echo_app(), guard=guard)
    call(app, [("GET", "/e?status=503"), ("FOO", "/e"), ("GET", "/nowhere")])
    duration = guard.series("http.server.request.duration")
    assert len(duration) == 3
    for attrs, _ in duration:
        check_table(attrs, DURATION_ATTRIBUTES, DURATION_REQUIRED)
        assert attrs["network.protocol.version"] == "1.1"
    by_status = {a["http.response.status_code"]: a for a, _ in duration}
    assert by_status[503]["error.type"] == "503" and "error.type" not in by_status[200]
    assert "http.route" not in by_status[404] and by_status[200]["http.route"] == "/e"
    for attrs, _ in guard.series("http.server.active_requests"):
        check_table(attrs, ACTIVE_ATTRIBUTES, DURATION_REQUIRED)
    spans = exporter.get_finished_spans()
    assert len(spans) == 3
    for span in spans:
        assert span.kind is SpanKind.SERVER
        check_table(dict(span.attributes or {}), SPAN_ATTRIBUTES, SPAN_REQUIRED)
    names = sorted(s.name for s in spans)
    assert names == ["GET", "GET /e", "HTTP /e"]  # semconv: ``HTTP`` stands for an _OTHER method
    other = next(s for s in spans if s.name == "HTTP /e")
    assert other.attributes is not None and other.attributes["http.request.method_original"] == "FOO"


def _fastapi_tree() -> FastAPI:
    users = APIRouter()

    @users.get("/users/{uid}")
    def user(uid: str) -> dict[str, str]:
        return {"uid": uid}

    nested = APIRouter(prefix="/teams")

    @nested.get("/{team}/members/{mid}")
    def member(team: str, mid: str) -> dict[str, str]:
        return {"team": team}

    users.include_router(nested, prefix="/orgs/{org}")
    prefixed = APIRouter(prefix="/api")

    @prefixed.get("/things/{tid}")
    def thing(tid: str) -> dict[str, str]:
        return {"tid": tid}

    app = FastAPI(telemetry=NO_NATIVE_TELEMETRY)

    @app.get("/items/{item_id}")
    def item(item_id: int) -> dict[str, int]:
        return {"item_id": item_id}

    app.include_router(users, prefix="/v1")
    app.include_router(users, prefix="/v2")
    app.include_router(prefixed)
    sub = FastAPI(telemetry=NO_NATIVE_TELEMETRY)
    sub.include_router(users, prefix="/s")

    async def plain(request: Request) -> PlainTextResponse:
        return PlainTextResponse("ok")

    async def raw(scope: Any, receive: Any, send: Any) -> None:
        await PlainTextResponse("raw")(scope, receive, send)

    app.mount("/sub", sub)
    app.mount("/tenants/{tenant}", Starlette(routes=[
        Route("/things/{thing}", plain),
        Mount("/deep/{d}", routes=[Route("/leaf", plain)]),
    ]))
    app.mount("/router/{r}", Router(routes=[Route("/x/{y}", plain)]))
    app.mount("/static", raw)
    app.mount("/wrapped/{w}", GZipMiddleware(Starlette(routes=[Route("/p/{q}", plain)])))
    return app


def test_fastapi_included_routers_prefixes_mounts_nested(guard: TestingGuard) -> None:
    app = _fastapi_tree()
    app.add_middleware(HttpMetricsMiddleware, guard=guard, spans=False)
    statuses = call(app, [("GET", p) for p in (
        "/items/1", "/v1/users/a", "/v2/users/b", "/v2/users/c", "/v1/orgs/o/teams/t/members/m",
        "/api/things/1", "/sub/s/users/d", "/sub/s/orgs/o/teams/t/members/m", "/tenants/acme/things/1",
        "/tenants/acme/deep/q/leaf", "/router/r1/x/2", "/static/a/b.css", "/wrapped/w1/p/2",
        "/nowhere", "/tenants/acme/nothing",
    )])
    assert statuses == [200] * 13 + [404, 404]
    assert routes(guard) == {
        ("/items/{item_id}", 200): 1,
        ("/v1/users/{uid}", 200): 1,
        ("/v2/users/{uid}", 200): 2,
        ("/v1/orgs/{org}/teams/{team}/members/{mid}", 200): 1,
        ("/api/things/{tid}", 200): 1,
        ("/sub/s/users/{uid}", 200): 1,
        ("/sub/s/orgs/{org}/teams/{team}/members/{mid}", 200): 1,
        ("/tenants/{tenant}/things/{thing}", 200): 1,
        ("/tenants/{tenant}/deep/{d}/leaf", 200): 1,
        ("/router/{r}/x/{y}", 200): 1,
        ("/static", 200): 1,
        ("/wrapped/{w}/p/{q}", 200): 1,
        (None, 404): 1,
        ("/tenants/{tenant}", 404): 1,
    }


def test_root_path_and_starlette_app(guard: TestingGuard) -> None:
    app = _fastapi_tree()
    app.add_middleware(HttpMetricsMiddleware, guard=guard, spans=False)
    assert call(app, [("GET", "/prefix/v1/users/a"), ("GET", "/prefix/tenants/t/things/1")],
                root_path="/prefix") == [200, 200]
    assert set(routes(guard)) == {("/v1/users/{uid}", 200), ("/tenants/{tenant}/things/{thing}", 200)}


def test_route_table_is_not_walked_per_request(guard: TestingGuard) -> None:
    """Routing happens once, in the framework: a route whose ``matches`` counts calls is asked once."""
    calls = []

    class Counting(Route):
        def matches(self, scope: Any) -> Any:
            calls.append(scope["path"])
            return super().matches(scope)

    async def plain(request: Request) -> PlainTextResponse:
        return PlainTextResponse("ok")

    app = Starlette(routes=[Counting(f"/r{i}", plain) for i in range(20)])
    wrapped = HttpMetricsMiddleware(app, guard=guard, spans=False)
    assert call(wrapped, [("GET", "/r19")] * 3) == [200] * 3
    assert len(calls) == 20 * 3
    assert routes(guard) == {("/r19", 200): 3}
