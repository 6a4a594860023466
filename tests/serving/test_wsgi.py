"""Flask under a real WSGI server: URL rules as routes, the mounted telemetry app, error paths; and
the /boot/ MAC flood property."""

from __future__ import annotations

import random
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from flask import Flask, Request, request
from hypothesis import given, settings
from hypothesis import strategies as st
from werkzeug.middleware.dispatcher import DispatcherMiddleware
from werkzeug.serving import make_server

from otelsvc.testing import TestingGuard, start_testing
from otelsvc.wsgi import HttpMetricsMiddleware, make_wsgi_app


def build(guard: TestingGuard) -> Any:
    app = Flask(__name__)

    @app.get("/items/<int:item_id>")
    def item(item_id: int) -> dict[str, int]:
        return {"item_id": item_id}

    @app.get("/boom")
    def boom() -> str:
        raise RuntimeError("boom")

    @app.get("/rule/<name>")
    def rule(name: str) -> str:
        # What Flask matched, untouched by the middleware.
        return f"{request.url_rule.rule} {request.view_args}"  # type: ignore[union-attr]

    app.wsgi_app = HttpMetricsMiddleware(
        app.wsgi_app,
        guard=guard,  # type: ignore[method-assign]
        prefix_rules=[("/boot/", "boot")],
    )
    return DispatcherMiddleware(app, {"/telemetry": make_wsgi_app(guard)})


@pytest.fixture
def served() -> Iterator[tuple[TestingGuard, str]]:
    guard = start_testing(prometheus="127.0.0.1:0", builtin_server=False)
    server = make_server("127.0.0.1", 0, build(guard), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield guard, f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(5)
    guard.shutdown()


def test_flask_rules_statuses_and_telemetry(served: tuple[TestingGuard, str]) -> None:
    guard, url = served
    with httpx.Client(base_url=url) as client:
        for i in range(3):
            assert client.get(f"/items/{i}").status_code == 200
        assert client.get("/boot/00:11:22:33:44:55").status_code == 404
        assert client.get("/nowhere").status_code == 404
        assert client.get("/boom").status_code == 500
        assert client.post("/items/1").status_code == 405
        assert client.get("/rule/x").text == "/rule/<name> {'name': 'x'}"
        metrics = client.get("/telemetry/metrics")
        assert metrics.status_code == 200 and b"http_requests_total" in metrics.content
        assert client.get("/telemetry/health").json()["status"] == "ok"
    classic = {(a["endpoint"], a["method"], a["status"]): v for a, v in guard.series("http_requests")}
    assert classic[("/items/<int:item_id>", "GET", "200")] == 3
    assert classic[("boot", "GET", "404")] == 1
    assert classic[("other", "GET", "404")] == 1
    assert classic[("/boom", "GET", "500")] == 1
    assert classic[("/rule/<name>", "GET", "200")] == 1
    assert all(v == 0 for _, v in guard.series("http_requests_in_flight"))
    assert all(v == 0 for _, v in guard.series("http.server.active_requests"))


def test_wsgi_app_errors_keep_counts_exact() -> None:
    guard = start_testing()

    def broken(environ: Any, start_response: Any) -> Any:
        raise ValueError("nope")

    app = HttpMetricsMiddleware(broken, guard=guard)
    with pytest.raises(ValueError):
        app({"REQUEST_METHOD": "GET", "PATH_INFO": "/x", "wsgi.url_scheme": "http"}, lambda *a: None)
    assert sum(v for _, v in guard.series("http.server.active_requests")) == 0
    errors = {a.get("error.type") for a, _ in guard.series("http.server.request.duration")}
    assert errors == {"ValueError"}
    guard.shutdown()


@pytest.mark.parametrize("testing", [True, False])
def test_flask_exception_keeps_its_route(testing: bool) -> None:
    """In testing (and debug) mode Flask lets a view's exception out before calling start_response:
    the rule is matched again then, so the error is still recorded under its route."""
    guard = start_testing()
    app = Flask(__name__)
    app.testing = testing

    @app.get("/fail/<name>")
    def fail(name: str) -> str:
        raise KeyError(name)

    app.wsgi_app = HttpMetricsMiddleware(app.wsgi_app, guard=guard, spans=False)  # type: ignore[method-assign]
    try:
        client = app.test_client()
        if testing:
            with pytest.raises(KeyError):
                client.get("/fail/x")
        else:
            failed = client.get("/fail/x")
            assert failed.status_code == 500 and failed.data  # reading the body ends the request
        missing = client.get("/nowhere")
        assert missing.status_code == 404 and missing.data
        errors = {(a.get("http.route"), a.get("error.type")) for a, _ in guard.series("http.server.request.duration")}
        assert errors == {("/fail/<name>", "KeyError" if testing else "500"), (None, None)}
    finally:
        guard.shutdown()


def test_flask_request_class_set_after_the_middleware_keeps_routes() -> None:
    """The app's classes are the user's: one set after the middleware was added still gets routes."""
    guard = start_testing()
    app = Flask(__name__)
    app.add_url_rule("/items/<item>", "items", lambda item: item)
    app.wsgi_app = HttpMetricsMiddleware(app.wsgi_app, guard=guard, spans=False)  # type: ignore[method-assign]

    class MyRequest(Request):
        pass

    app.request_class = MyRequest
    try:
        with app.test_client().get("/items/1") as response:
            assert response.data == b"1"
        routes = {a.get("http.route") for a, _ in guard.series("http.server.request.duration")}
        assert routes == {"/items/<item>"}
    finally:
        guard.shutdown()


def _macs(seed: int, suffix: str) -> list[str]:
    rng = random.Random(seed)
    macs: set[str] = set()
    while len(macs) < 1000:
        macs.add(":".join(f"{rng.randrange(256):02x}" for _ in range(6)) + suffix)
    return sorted(macs)


@settings(max_examples=5, deadline=None)
@given(st.integers(0, 2**32), st.sampled_from(["", "/pxelinux.cfg", "/grub.cfg?x=1", "/%2e%2e/etc"]))
def test_a_thousand_mac_paths_make_one_endpoint(seed: int, suffix: str) -> None:
    macs = _macs(seed, suffix)
    guard = start_testing()
    try:

        def ok(environ: Any, start_response: Any) -> list[bytes]:
            start_response("404 Not Found", [])
            return [b""]

        app = HttpMetricsMiddleware(ok, guard=guard, prefix_rules=[("/boot/", "boot")])
        for m in macs:
            body = app({"REQUEST_METHOD": "GET", "PATH_INFO": f"/boot/{m}", "wsgi.url_scheme": "http"}, lambda *a: None)
            body.close()  # type: ignore[attr-defined]
        endpoints = {a["endpoint"] for a, _ in guard.series("http_requests")}
        routes = {a.get("http.route") for a, _ in guard.series("http.server.request.duration")}
        assert endpoints == {"boot"} and routes == {"boot"}
        assert guard.value("http_requests", endpoint="boot", method="GET", status="404") == 1000
    finally:
        guard.shutdown()
