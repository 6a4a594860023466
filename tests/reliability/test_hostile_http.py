"""Hostile input against the telemetry routes and the built-in server: fuzzed headers and paths,
oversized heads, slow clients and connection floods; other scrapes keep being served."""

from __future__ import annotations

import socket
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import otelsvc
from otelsvc import ProviderGuard

TOKEN = "fuzz-token"


@pytest.fixture(scope="module")
def guard() -> Iterator[ProviderGuard]:
    g = otelsvc.start(prometheus="127.0.0.1:0", metrics_token=TOKEN, set_global=False, max_connections=8,
                      read_timeout=1.0, max_header_bytes=4096)
    yield g
    g.shutdown()


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=80), st.sampled_from(["/metrics", "/metadata", "/health"]))
def test_fuzzed_authorization_never_authorizes_and_never_leaks(guard: ProviderGuard, header: str, path: str) -> None:
    response = guard.routes.handle("GET", path, {"authorization": header})
    if path == "/health":
        assert response.status == 200
    else:
        parts = header.split(None, 1)
        expected = len(parts) == 2 and parts[0].lower() == "bearer" and parts[1].strip() == TOKEN
        assert response.status == (200 if expected else 401)
    assert TOKEN.encode() not in response.body and b"Traceback" not in response.body


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=60), st.text(alphabet="GETPOSHADLUC", min_size=1, max_size=8))
def test_fuzzed_paths_and_methods_get_a_proper_status(guard: ProviderGuard, path: str, method: str) -> None:
    response = guard.routes.handle(method, path, {"authorization": f"Bearer {TOKEN}"})
    if path not in ("/metrics", "/health", "/metadata"):
        assert response.status == 404
    elif method not in ("GET", "HEAD"):
        assert response.status == 405
    else:
        assert response.status == 200


def _raw(port: int, data: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(data)
        out = b""
        while chunk := s.recv(65536):
            out += chunk
        return out


@settings(max_examples=60, deadline=None)
@given(st.binary(max_size=300))
def test_garbage_on_the_wire_gets_a_status_or_a_close(guard: ProviderGuard, garbage: bytes) -> None:
    port = guard.prometheus_address[1]  # type: ignore[index]
    reply = _raw(port, garbage + b"\r\n\r\n")
    assert reply == b"" or reply.startswith(b"HTTP/1.1 ")


def test_slow_clients_and_floods_do_not_stop_scrapes(guard: ProviderGuard) -> None:
    port = guard.prometheus_address[1]  # type: ignore[index]
    before = threading.active_count()
    slow = []
    for _ in range(6):
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        s.sendall(b"GET /metrics HTTP/1.1\r\n")
        slow.append(s)
    big = _raw(port, b"GET /metrics HTTP/1.1\r\n" + b"X: " + b"y" * 10_000 + b"\r\n\r\n")
    assert big.startswith(b"HTTP/1.1 431") or big.startswith(b"HTTP/1.1 503")
    statuses = []

    def scrape() -> None:
        req = urllib.request.Request(guard.prometheus_url, headers={"Authorization": f"Bearer {TOKEN}"})  # type: ignore[arg-type]
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                statuses.append(r.status)
        except urllib.error.HTTPError as e:
            statuses.append(e.code)
        except OSError:
            statuses.append(0)

    flood = [threading.Thread(target=scrape) for _ in range(30)]
    for t in flood:
        t.start()
    assert threading.active_count() <= before + 8 + 30 + 2
    for t in flood:
        t.join()
    assert set(statuses) <= {200, 503} and 200 in statuses
    for s in slow:
        assert s.recv(100).startswith(b"HTTP/1.1 408")
        s.close()
    statuses.clear()
    scrape()
    assert statuses == [200]


def _scrape(guard: ProviderGuard, timeout: float = 10) -> int:
    req = urllib.request.Request(guard.prometheus_url, headers={"Authorization": f"Bearer {TOKEN}"})  # type: ignore[arg-type]
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            r.read()
            return int(r.status)
    except urllib.error.HTTPError as e:
        return e.code


def test_trickling_client_is_cut_off_by_read_timeout(guard: ProviderGuard) -> None:
    """Slowloris: one byte every 0.3 s, each well inside read_timeout (1 s). read_timeout bounds
    the whole request head, so the server answers 408 and closes instead of holding the slot for
    as long as the client keeps trickling (16 KB of head at this pace would be over an hour)."""
    port = guard.prometheus_address[1]  # type: ignore[index]
    request = b"GET /metrics HTTP/1.1\r\nX-Slow: " + b"a" * 100
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.settimeout(0.3)
        reply = b""
        for byte in request:  # 30 s of trickle at most; the server must cut it off long before
            try:
                s.sendall(bytes([byte]))
                reply = s.recv(200)
            except TimeoutError:
                continue
            except OSError:
                break
            break
    assert reply.startswith(b"HTTP/1.1 408"), reply


def test_raw_connection_flood_keeps_threads_bounded_and_scrapes_served(guard: ProviderGuard) -> None:
    """300 connections opened at once (no client thread each), each starting a request it never
    finishes: the server gives at most max_connections (8) of them a thread (cut off with 408
    after read_timeout), answers the rest 503 (or closes them when even the refusal queue is full)
    from one refusal thread, keeps its own thread count bounded, and serves the next scrape.
    (Connections that send nothing hold no thread at all: tests/reliability/test_idle_sockets.py.)"""
    port = guard.prometheus_address[1]  # type: ignore[index]
    before = threading.active_count()
    peak = before
    socks = []
    for _ in range(300):
        socks.append(socket.create_connection(("127.0.0.1", port), timeout=5))
        socks[-1].sendall(b"GET /metrics HTTP/1.1\r\n")
        peak = max(peak, threading.active_count())
    answers: dict[str, int] = {}
    for s in socks:  # read each answer, then close at once (the refuser lingers until the client closes)
        try:
            data = s.recv(100)
        except TimeoutError:
            data = b"<nothing>"
        except OSError:
            data = b"<reset>"
        finally:
            s.close()
        kind = data[:12].decode("latin-1") if data else "<closed>"
        answers[kind] = answers.get(kind, 0) + 1
        peak = max(peak, threading.active_count())
    print(f"300 connections at max_connections=8: {answers}; threads {before} -> peak {peak}")
    assert "<nothing>" not in answers, answers
    assert answers.get("HTTP/1.1 503", 0) >= 1 and sum(answers.values()) == 300
    assert peak <= before + 8 + 1, (before, peak)
    assert _scrape(guard) == 200


def test_scrapes_served_while_slow_clients_hold_some_slots(guard: ProviderGuard) -> None:
    """Half the slots held by clients that never finish their head: every scrape in the meantime
    is answered (200), none waits for the slow ones."""
    port = guard.prometheus_address[1]  # type: ignore[index]
    slow = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(4)]
    try:
        for s in slow:
            s.sendall(b"GET /metrics HTTP/1.1\r\n")
        statuses = [_scrape(guard) for _ in range(20)]
        assert statuses == [200] * 20
    finally:
        for s in slow:
            s.close()
