"""The built-in server's bounds: header size (431), read timeout, connection cap (503), TLS."""

from __future__ import annotations

import socket
import ssl
import threading
import urllib.request
from pathlib import Path

import trustme
from conftest import wait_until

import otelsvc


def _raw(port: int, data: bytes, timeout: float = 5) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(data)
        chunks = []
        while True:
            try:
                chunk = s.recv(65536)
            except TimeoutError:
                break
            if not chunk:
                break
            chunks.append(chunk)
        return b"".join(chunks)


def test_oversized_headers_get_431_and_others_still_served() -> None:
    guard = otelsvc.start(prometheus="127.0.0.1:0", max_header_bytes=2048, set_global=False)
    try:
        port = guard.prometheus_address[1]  # type: ignore[index]
        reply = _raw(port, b"GET /metrics HTTP/1.1\r\nX-Big: " + b"a" * 5000 + b"\r\n\r\n")
        assert reply.startswith(b"HTTP/1.1 431 ")
        assert urllib.request.urlopen(guard.prometheus_url, timeout=5).status == 200  # type: ignore[arg-type]
    finally:
        guard.shutdown()


def test_slow_client_is_cut_off_by_read_timeout() -> None:
    guard = otelsvc.start(prometheus="127.0.0.1:0", read_timeout=0.5, set_global=False)
    try:
        port = guard.prometheus_address[1]  # type: ignore[index]
        with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
            s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")
            reply = s.recv(65536)
            assert reply.startswith(b"HTTP/1.1 408 ")
            assert s.recv(65536) == b""
        with socket.create_connection(("127.0.0.1", port), timeout=10) as idle:
            assert idle.recv(10) == b""
    finally:
        guard.shutdown()


def test_connection_cap_answers_503_and_threads_stay_bounded() -> None:
    """Slots are held by connections in the middle of a request (idle ones hold none, see
    test_idle_connections.py); past the cap a request is answered 503."""
    guard = otelsvc.start(prometheus="127.0.0.1:0", max_connections=4, read_timeout=5, set_global=False)
    held: list[socket.socket] = []
    try:
        port = guard.prometheus_address[1]  # type: ignore[index]
        before = threading.active_count()
        for _ in range(4):
            held.append(socket.create_connection(("127.0.0.1", port), timeout=5))
            held[-1].sendall(b"GET /health HTTP/1.1\r\n")
        wait_until(lambda: threading.active_count() >= before + 4)
        reply = _raw(port, b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        assert reply.startswith(b"HTTP/1.1 503 ")
        for _ in range(20):
            assert _raw(port, b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n").startswith(b"HTTP/1.1 503 ")
        assert threading.active_count() <= before + 4 + 1
    finally:
        for s in held:
            s.close()
        guard.shutdown()


def test_bad_request_line_is_400() -> None:
    guard = otelsvc.start(prometheus="127.0.0.1:0", set_global=False)
    try:
        port = guard.prometheus_address[1]  # type: ignore[index]
        assert _raw(port, b"NONSENSE\r\n\r\n").startswith(b"HTTP/1.1 400 ")
    finally:
        guard.shutdown()


def test_tls(tmp_path: Path) -> None:
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    certfile, keyfile, cafile = tmp_path / "cert.pem", tmp_path / "key.pem", tmp_path / "ca.pem"
    cert.private_key_pem.write_to_path(str(keyfile))
    cert.cert_chain_pems[0].write_to_path(str(certfile))
    ca.cert_pem.write_to_path(str(cafile))
    guard = otelsvc.start(prometheus="127.0.0.1:0", tls_certfile=str(certfile), tls_keyfile=str(keyfile),
                          set_global=False)
    try:
        assert guard.prometheus_url.startswith("https://")  # type: ignore[union-attr]
        context = ssl.create_default_context(cafile=str(cafile))
        with urllib.request.urlopen(guard.prometheus_url, context=context, timeout=5) as r:  # type: ignore[arg-type]
            assert r.status == 200 and b"target_info" in r.read()
    finally:
        guard.shutdown()
