"""The telemetry routes over the built-in server, with real HTTP requests."""

from __future__ import annotations

import gzip
import http.client
import json
from collections.abc import Iterator

import pytest

import otelsvc
from otelsvc import ProviderGuard

TOKEN = "tok-123"


@pytest.fixture(scope="module")
def guard() -> Iterator[ProviderGuard]:
    g = otelsvc.start(
        service_name="routes",
        service_version="9.9",
        prometheus="127.0.0.1:0",
        metrics_token=TOKEN,
        set_global=False,
        otlp_endpoint="http://127.0.0.1:9",
        export_interval=3600,
    )
    g.meter("m").create_counter("hits").add(1)
    yield g
    g.shutdown(timeout=1)


def request(
    guard: ProviderGuard, method: str, path: str, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    host, port = guard.prometheus_address  # type: ignore[misc]
    conn = http.client.HTTPConnection(host, port, timeout=10)
    try:
        conn.request(method, path, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.mark.parametrize("path", ["/nope", "/metrics/", "/Metrics", "/", "/health/"])
def test_unknown_path_is_404_whatever_the_method(guard: ProviderGuard, path: str) -> None:
    assert request(guard, "GET", path)[0] == 404
    assert request(guard, "POST", path)[0] == 404


@pytest.mark.parametrize("path", ["/metrics", "/health", "/metadata"])
@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH", "OPTIONS"])
def test_known_path_other_method_is_405_before_auth(guard: ProviderGuard, path: str, method: str) -> None:
    status, headers, _ = request(guard, method, path)
    assert status == 405
    assert headers["allow"] == "GET, HEAD"


@pytest.mark.parametrize("path", ["/metrics", "/metadata"])
@pytest.mark.parametrize("auth", [None, "Bearer wrong", "Basic dG9rLTEyMw==", "Bearer", "Bearer ", TOKEN])
def test_missing_or_wrong_token_is_401_with_challenge(guard: ProviderGuard, path: str, auth: str | None) -> None:
    status, headers, body = request(guard, "GET", path, {"Authorization": auth} if auth is not None else {})
    assert status == 401
    assert headers["www-authenticate"] == 'Bearer realm="metrics"'
    assert TOKEN.encode() not in body and b"Traceback" not in body


@pytest.mark.parametrize("auth", [f"Bearer {TOKEN}", f"bearer {TOKEN}", f"BEARER   {TOKEN}  ", f"  Bearer {TOKEN}"])
def test_right_token_in_any_accepted_form(guard: ProviderGuard, auth: str) -> None:
    status, headers, body = request(guard, "GET", "/metrics", {"Authorization": auth})
    assert status == 200
    assert headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    assert b"hits_total" in body


def test_head_has_get_headers_and_no_body(guard: ProviderGuard) -> None:
    status, headers, body = request(guard, "HEAD", "/health")
    assert status == 200 and body == b""
    _, get_headers, get_body = request(guard, "GET", "/health")
    assert headers["content-length"] == str(len(get_body)) == get_headers["content-length"]


def test_health_shows_status_only_without_token_and_details_with_it(guard: ProviderGuard) -> None:
    status, _, body = request(guard, "GET", "/health")
    payload = json.loads(body)
    assert status == 200 and payload == {"status": "ok", "service": "routes", "version": "9.9"}
    status, _, body = request(guard, "GET", "/health", AUTH)
    detail = json.loads(body)
    assert set(detail["exporters"]["metrics"]) >= {"endpoint", "last_success", "last_error", "consecutive_failures"}


def test_metadata(guard: ProviderGuard) -> None:
    status, headers, body = request(guard, "GET", "/metadata", AUTH)
    assert status == 200 and headers["content-type"] == "application/json"
    meta = json.loads(body)
    assert meta["service"] == "routes" and meta["version"] == "9.9"
    assert meta["instance_id"] and meta["otelsvc_version"] == otelsvc.__version__
    assert meta["sdk_version"].startswith("1.45")
    assert meta["exporters"]["metrics"]["endpoint"] == "http://127.0.0.1:9"
    assert TOKEN not in body.decode()
    assert meta["families"] == []


def test_openmetrics_when_asked(guard: ProviderGuard) -> None:
    status, headers, body = request(
        guard, "GET", "/metrics", {**AUTH, "Accept": "application/openmetrics-text; version=1.0.0"}
    )
    assert status == 200
    assert headers["content-type"].startswith("application/openmetrics-text; version=1.0.0")
    assert body.endswith(b"# EOF\n")
    status, headers, _ = request(guard, "GET", "/metrics", {**AUTH, "Accept": "application/openmetrics-text;q=0"})
    assert headers["content-type"].startswith("text/plain; version=0.0.4")


def test_gzip_when_allowed(guard: ProviderGuard) -> None:
    status, headers, body = request(guard, "GET", "/metrics", {**AUTH, "Accept-Encoding": "gzip, deflate"})
    assert status == 200 and headers["content-encoding"] == "gzip"
    assert b"hits_total" in gzip.decompress(body)
    _, headers, body = request(guard, "GET", "/metrics", {**AUTH, "Accept-Encoding": "gzip;q=0, identity"})
    assert "content-encoding" not in headers and b"hits_total" in body


def test_render_failure_is_500_text_logged_without_traceback(caplog: pytest.LogCaptureFixture) -> None:
    g = otelsvc.start(prometheus="127.0.0.1:0", set_global=False)
    try:

        def boom(openmetrics: bool = False) -> bytes:
            raise RuntimeError("render exploded")

        g.render_metrics = boom  # type: ignore[method-assign]
        status, headers, body = request(g, "GET", "/metrics")
        assert status == 500 and headers["content-type"].startswith("text/plain")
        assert b"Traceback" not in body and b"exploded" not in body
        assert any("render exploded" in r.getMessage() and r.exc_info is None for r in caplog.records)
    finally:
        g.shutdown()
