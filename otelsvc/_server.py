"""otelsvc's own small HTTP/1.1 server for the telemetry routes.

Threaded, one thread per connection up to a cap (past it: 503 and close), a bound on the request
head (431 past it), a read timeout that cuts slow clients off, keep-alive, and TLS when given a
certificate and key. It binds in the constructor so that a taken address fails before any thread
starts.
"""

from __future__ import annotations

import contextlib
import queue
import selectors
import socket
import ssl
import threading
import time
from collections.abc import Callable

from otelsvc._logging import logger
from otelsvc._routes import Response

__all__ = ["TelemetryServer"]

Handler = Callable[[str, str, dict[str, str]], Response]
_REASONS = {
    200: "OK", 400: "Bad Request", 401: "Unauthorized", 404: "Not Found", 405: "Method Not Allowed",
    408: "Request Timeout", 413: "Content Too Large", 431: "Request Header Fields Too Large",
    500: "Internal Server Error", 503: "Service Unavailable", 505: "HTTP Version Not Supported",
}


class _Reject(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class TelemetryServer:
    """Serves ``handler`` on (host, port); ``address`` is what was actually bound."""

    def __init__(
        self,
        host: str,
        port: int,
        handler: Handler,
        *,
        max_connections: int = 64,
        max_header_bytes: int = 16384,
        read_timeout: float = 10.0,
        certfile: str | None = None,
        keyfile: str | None = None,
    ) -> None:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self._sock = socket.create_server((host, port), family=family, backlog=128)
        self.address: tuple[str, int] = self._sock.getsockname()[:2]
        self._handler = handler
        self._max_connections = max_connections
        self._max_header_bytes = max_header_bytes
        self._read_timeout = read_timeout
        self._ssl: ssl.SSLContext | None = None
        if certfile and keyfile:
            self._ssl = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            self._ssl.load_cert_chain(certfile, keyfile)
        self._slots = threading.BoundedSemaphore(max_connections)
        self._wake_r, self._wake_w = socket.socketpair()
        self._thread: threading.Thread | None = None
        self._closed = False
        self._conns: set[socket.socket] = set()
        self._conns_lock = threading.Lock()
        self._refusals: queue.Queue[socket.socket | None] = queue.Queue(maxsize=256)
        self._refuser: threading.Thread | None = None

    @property
    def scheme(self) -> str:
        return "https" if self._ssl else "http"

    def start(self) -> None:
        self._thread = threading.Thread(target=self._serve, name="otelsvc-http", daemon=True)
        self._thread.start()
        self._refuser = threading.Thread(target=self._refuse_loop, name="otelsvc-http-refuse", daemon=True)
        self._refuser.start()

    def _serve(self) -> None:
        with selectors.DefaultSelector() as sel:
            sel.register(self._sock, selectors.EVENT_READ)
            sel.register(self._wake_r, selectors.EVENT_READ)
            while not self._closed:
                for key, _ in sel.select():
                    if key.fileobj is self._wake_r:
                        return
                    try:
                        conn, _addr = self._sock.accept()
                    except OSError:
                        continue
                    if not self._slots.acquire(blocking=False):
                        try:
                            self._refusals.put_nowait(conn)
                        except queue.Full:
                            conn.close()
                        continue
                    threading.Thread(target=self._connection, args=(conn,), name="otelsvc-http-conn",
                                     daemon=True).start()

    def _refuse_loop(self) -> None:
        """One thread answers every connection over the cap with 503, so refusals spawn nothing."""
        while True:
            conn = self._refusals.get()
            if conn is None:
                return
            try:
                conn.settimeout(0.2)
                conn.sendall(self._encode(Response(503, [("Content-Type", "text/plain; charset=utf-8"),
                                                         ("Retry-After", "1")], b"too many connections\n"),
                                          keep_alive=False))
                self._linger(conn, 0.2)
            except OSError:
                pass
            finally:
                conn.close()

    @staticmethod
    def _linger(conn: socket.socket, seconds: float) -> None:
        """Half-close and read what the client still sends, so closing does not reset the connection
        (a reset can destroy the answer before the client reads it)."""
        try:
            conn.shutdown(socket.SHUT_WR)
            conn.settimeout(seconds)
            for _ in range(16):
                if not conn.recv(65536):
                    break
        except OSError:
            pass

    def _connection(self, raw: socket.socket) -> None:
        conn = raw
        try:
            conn.settimeout(self._read_timeout)
            if self._ssl is not None:
                conn = self._ssl.wrap_socket(raw, server_side=True)
            with self._conns_lock:
                self._conns.add(conn)
            buffer = b""
            while not self._closed:
                try:
                    head, buffer = self._read_head(conn, buffer)
                except _Reject as reject:
                    conn.sendall(self._encode(Response(reject.status, [("Content-Type", "text/plain; charset=utf-8")],
                                                       f"{reject}\n".encode()), keep_alive=False))
                    self._linger(conn, 0.5)
                    return
                if head is None:
                    return
                response, keep_alive = self._respond(head)
                conn.sendall(self._encode(response, keep_alive))
                if not keep_alive:
                    return
        except (OSError, ssl.SSLError, ValueError):
            return
        finally:
            with self._conns_lock:
                self._conns.discard(conn)
            with contextlib.suppress(OSError):
                conn.close()
            self._slots.release()

    def _read_head(self, conn: socket.socket, buffer: bytes) -> tuple[bytes | None, bytes]:
        # read_timeout bounds the whole head, not each recv: a client trickling a byte at a time
        # (slowloris) would otherwise hold a connection slot for as long as it likes.
        deadline = time.monotonic() + self._read_timeout
        while b"\r\n\r\n" not in buffer:
            if len(buffer) > self._max_header_bytes:
                raise _Reject(431, "request header fields too large")
            remaining = deadline - time.monotonic()
            try:
                if remaining <= 0:
                    raise TimeoutError
                conn.settimeout(remaining)
                chunk = conn.recv(4096)
            except TimeoutError:
                if buffer:
                    raise _Reject(408, "request timeout") from None
                return None, b""
            finally:
                conn.settimeout(self._read_timeout)
            if not chunk:
                return None, b""
            buffer += chunk
        head, _, rest = buffer.partition(b"\r\n\r\n")
        if len(head) > self._max_header_bytes:
            raise _Reject(431, "request header fields too large")
        return head, rest

    def _respond(self, head: bytes) -> tuple[Response, bool]:
        try:
            lines = head.decode("latin-1").split("\r\n")
            method, target, version = lines[0].split(" ")
        except ValueError:
            return Response(400, [("Content-Type", "text/plain; charset=utf-8")], b"bad request\n"), False
        if not version.startswith("HTTP/1."):
            return Response(505, [("Content-Type", "text/plain; charset=utf-8")], b"unsupported\n"), False
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            if not sep or not name or name != name.strip():
                return Response(400, [("Content-Type", "text/plain; charset=utf-8")], b"bad header\n"), False
            key = name.lower()
            headers[key] = f"{headers[key]}, {value.strip()}" if key in headers else value.strip()
        if headers.get("content-length", "0").strip() not in ("", "0") or "transfer-encoding" in headers:
            return Response(413, [("Content-Type", "text/plain; charset=utf-8")], b"no body accepted\n"), False
        path = target.split("?", 1)[0]
        keep_alive = version == "HTTP/1.1" and headers.get("connection", "").lower() != "close"
        try:
            response = self._handler(method, path, headers)
        except Exception as exc:
            logger.error("otelsvc: telemetry request failed: %s", type(exc).__name__)
            response = Response(500, [("Content-Type", "text/plain; charset=utf-8")], b"internal error\n")
        return response, keep_alive and not self._closed

    @staticmethod
    def _encode(response: Response, keep_alive: bool) -> bytes:
        lines = [f"HTTP/1.1 {response.status} {_REASONS.get(response.status, 'Status')}"]
        names = set()
        for name, value in response.headers:
            names.add(name.lower())
            lines.append(f"{name}: {value}")
        if "content-length" not in names:
            lines.append(f"Content-Length: {len(response.body)}")
        lines.append("Connection: keep-alive" if keep_alive else "Connection: close")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + response.body

    def close_listener(self) -> None:
        """Close the listening socket only (a forked child's copy), leaving the parent's serving."""
        self._closed = True
        for sock in (self._sock, self._wake_r, self._wake_w):
            with contextlib.suppress(OSError):
                sock.close()

    def close(self, timeout: float = 1.0) -> None:
        """Stop accepting, close open connections and wait (bounded) for the accept thread."""
        if self._closed and self._thread is None:
            return
        self._closed = True
        with contextlib.suppress(OSError):
            self._wake_w.send(b"x")
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        if self._refuser is not None:
            with contextlib.suppress(queue.Full):
                self._refusals.put_nowait(None)
            self._refuser = None
        with self._conns_lock:
            conns = list(self._conns)
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        for sock in (self._sock, self._wake_r, self._wake_w):
            with contextlib.suppress(OSError):
                sock.close()
