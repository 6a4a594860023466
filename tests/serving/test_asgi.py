"""FastAPI under uvicorn: middleware labels (templates, Mounts, included routers, root_path, prefix
rules), exact in-flight counts on errors and cancellation, and the mounted telemetry app."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import uvicorn
from conftest import wait_until
from fastapi import APIRouter, FastAPI
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Mount, Route

from otelsvc.asgi import HttpMetricsMiddleware, TelemetryApp
from otelsvc.testing import TestingGuard, start_testing

release = threading.Event()
NO_NATIVE_TELEMETRY: Any = {"tracing": False, "metrics": False, "logs": False}


def build_app(guard: TestingGuard, root_path: str = "") -> FastAPI:
    # FastAPI's native telemetry off: another test in this worker may have set global providers.
    app = FastAPI(root_path=root_path, telemetry=NO_NATIVE_TELEMETRY)
    api = APIRouter(prefix="/api")

    @app.get("/items/{item_id}")
    def item(item_id: int) -> dict[str, int]:
        return {"item_id": item_id}

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("boom")

    @app.get("/hold")
    async def hold(request: Request) -> dict[str, str]:
        while not await request.is_disconnected():
            await asyncio.sleep(0.02)
        return {}

    @api.get("/users/{user_id}")
    def user(user_id: str) -> dict[str, str]:
        return {"user_id": user_id}

    async def sub_thing(request: Any) -> PlainTextResponse:
        return PlainTextResponse("ok")

    app.include_router(api)
    app.mount("/sub/{tenant}", Starlette(routes=[Route("/things/{thing_id}", sub_thing)]))
    app.mount("/telemetry", TelemetryApp(guard))
    app.add_middleware(HttpMetricsMiddleware, guard=guard, prefix_rules=[("/boot/", "boot")])
    return app


class Server:
    def __init__(self, app: Any) -> None:
        # Bound here and handed over, so no other test can take the port in between.
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.server = uvicorn.Server(uvicorn.Config(app, log_level="error", lifespan="on"))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)
        self.thread.start()
        wait_until(lambda: self.server.started, timeout=15)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)
        self.sock.close()


@pytest.fixture
def served() -> Iterator[tuple[TestingGuard, Server]]:
    guard = start_testing(prometheus="127.0.0.1:0", builtin_server=False)
    server = Server(build_app(guard))
    yield guard, server
    server.stop()
    guard.shutdown()


def duration_routes(guard: TestingGuard) -> dict[tuple[str | None, int], int]:
    out: dict[tuple[str | None, int], int] = {}
    for attrs, value in guard.series("http.server.request.duration"):
        out[(attrs.get("http.route"), attrs["http.response.status_code"])] = value.count
    return out


def test_route_templates_and_statuses(served: tuple[TestingGuard, Server]) -> None:
    guard, server = served
    with httpx.Client(base_url=server.url) as client:
        for i in range(5):
            assert client.get(f"/items/{i}").status_code == 200
        assert client.get("/api/users/alice").status_code == 200
        assert client.get("/sub/acme/things/9").status_code == 200
        assert client.get("/boot/aa:bb:cc:dd:ee:ff").status_code == 404
        assert client.get("/nowhere/1").status_code == 404
        assert client.request("BREW", "/items/1").status_code == 405
        assert client.get("/telemetry/metrics").status_code == 200
    # Starlette re-raises after sending its 500, and uvicorn then drops the connection: own client.
    assert httpx.get(f"{server.url}/boom").status_code == 500
    wait_until(lambda: sum(duration_routes(guard).values()) >= 10, timeout=15)
    routes = duration_routes(guard)
    assert routes[("/items/{item_id}", 200)] == 5
    assert routes[("/api/users/{user_id}", 200)] == 1
    assert routes[("/sub/{tenant}/things/{thing_id}", 200)] == 1
    assert routes[("boot", 404)] == 1
    assert routes[(None, 404)] == 1
    assert ("/boom", 500) in routes
    classic = {(a["endpoint"], a["method"], a["status"]): v for a, v in guard.series("http_requests")}
    assert classic[("/items/{item_id}", "GET", "200")] == 5
    assert classic[("other", "GET", "404")] == 1
    assert classic[("/items/{item_id}", "other", "405")] == 1
    errors = {
        a.get("error.type") for a, _ in guard.series("http.server.request.duration") if a.get("http.route") == "/boom"
    }
    assert errors == {"RuntimeError"}
    methods = {a["http.request.method"] for a, _ in guard.series("http.server.active_requests")}
    assert "_OTHER" in methods
    assert all(v == 0 for _, v in guard.series("http.server.active_requests"))
    assert all(v == 0 for _, v in guard.series("http_requests_in_flight"))
    assert not any("/telemetry" in str(a.get("http.route")) for a, _ in guard.series("http.server.request.duration"))


def test_in_flight_returns_to_zero_when_the_client_goes_away(served: tuple[TestingGuard, Server]) -> None:
    guard, server = served

    def in_flight() -> float:
        return sum(v for _, v in guard.series("http.server.active_requests"))

    client = socket.create_connection(("127.0.0.1", server.port), timeout=5)
    client.sendall(b"GET /hold HTTP/1.1\r\nHost: t\r\n\r\n")
    wait_until(lambda: in_flight() == 1, timeout=15)
    client.close()
    wait_until(lambda: in_flight() == 0, timeout=15)
    assert all(v == 0 for _, v in guard.series("http_requests_in_flight"))


def test_root_path_is_not_part_of_the_route() -> None:
    guard = start_testing(prometheus="127.0.0.1:0", builtin_server=False)
    server = Server(build_app(guard, root_path="/prefix"))
    try:
        with httpx.Client(base_url=server.url) as client:
            assert client.get("/prefix/items/3").status_code == 200
        # the middleware records after the last byte is sent: wait for it rather than race it
        wait_until(lambda: ("/items/{item_id}", 200) in duration_routes(guard), timeout=15)
    finally:
        server.stop()
        guard.shutdown()


def test_lifespan_owned_guard_starts_and_stops() -> None:
    app = TelemetryApp(service_name="lifespan", prometheus="127.0.0.1:0", set_global=False)
    server = Server(app)
    try:
        r = httpx.get(f"{server.url}/health")
        assert r.status_code == 200 and r.json()["service"] == "lifespan"
        assert b"target_info" in httpx.get(f"{server.url}/metrics").content
        guard = app.guard
        assert guard is not None and guard.prometheus_address is None
    finally:
        server.stop()
    assert guard.state == "shut_down"


def test_starlette_mount_of_the_telemetry_app_with_token() -> None:
    guard = start_testing(prometheus="127.0.0.1:0", builtin_server=False, metrics_token="t0k")
    app = Starlette(routes=[Mount("/telemetry", TelemetryApp(guard))])
    server = Server(app)
    try:
        assert httpx.get(f"{server.url}/telemetry/metrics").status_code == 401
        ok = httpx.get(f"{server.url}/telemetry/metrics", headers={"Authorization": "Bearer t0k"})
        assert ok.status_code == 200 and ok.headers["content-type"].startswith("text/plain; version=0.0.4")
        assert httpx.post(f"{server.url}/telemetry/metrics").status_code == 405
    finally:
        server.stop()
        guard.shutdown()


def test_cancelled_request_task_keeps_counts_exact() -> None:
    guard = start_testing()

    async def never(scope: Any, receive: Any, send: Any) -> None:
        await asyncio.sleep(30)

    middleware = HttpMetricsMiddleware(never, guard=guard)

    async def run() -> None:
        scope = {"type": "http", "method": "GET", "path": "/x", "root_path": "", "scheme": "http", "headers": []}
        task = asyncio.create_task(middleware(scope, lambda: None, lambda m: None))  # type: ignore[arg-type]
        await asyncio.sleep(0.05)
        assert sum(v for _, v in guard.series("http.server.active_requests")) == 1
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(run())
    assert sum(v for _, v in guard.series("http.server.active_requests")) == 0
    errors = {a.get("error.type") for a, _ in guard.series("http.server.request.duration")}
    assert errors == {"CancelledError"}
    guard.shutdown()


@pytest.mark.parametrize("wrapped", [False, True], ids=["added", "wrapped around"])
def test_the_mounted_telemetry_app_is_never_recorded(wrapped: bool) -> None:
    guard = start_testing(prometheus="127.0.0.1:0", builtin_server=False)

    async def home(request: Request) -> PlainTextResponse:
        return PlainTextResponse("ok")

    inner = Starlette(routes=[Route("/", home), Mount("/telemetry", TelemetryApp(guard))])
    if wrapped:  # the middleware outside the framework: the scope names the app only after it ran
        app: Any = HttpMetricsMiddleware(inner, guard=guard)
    else:
        inner.add_middleware(HttpMetricsMiddleware, guard=guard)
        app = inner
    server = Server(app)
    try:
        for _ in range(3):
            assert httpx.get(f"{server.url}/").status_code == 200
            assert httpx.get(f"{server.url}/telemetry/metrics").status_code == 200
    finally:
        server.stop()
        guard.shutdown()
    assert duration_routes(guard) == {("/", 200): 3}
    assert all(v == 0 for _, v in guard.series("http.server.active_requests"))
