"""otelsvc's own small HTTP/1.1 server for the telemetry routes.

One accept thread holds every idle connection (new ones that have sent nothing yet, and kept-alive
ones between requests) in a selector, so an idle socket costs a file descriptor, not a thread or a
connection slot. A connection gets a thread of its own only once it has bytes to read, up to
``max_connections`` at a time (past it: 503, or a clean close for TLS, from one refusal thread).
Idle connections are closed after ``first_byte_timeout`` (new) or ``read_timeout`` (kept-alive),
and when ``max_idle`` of them are held the oldest gives way to the newcomer, so idle sockets cannot
shut scrapes out. ``read_timeout`` bounds a whole request head (slowloris), the head is bounded in
size (431), and TLS is served when given a certificate and key.

The accept thread survives what the process may refuse it: EMFILE and other accept failures back
off (the listener leaves the selector for a while, so nothing spins), and when no thread can be
started (``RuntimeError: can't start new thread`` under a pids limit) it answers the request
itself, one at a time. While either lasts, or if the accept thread ever stops, ``problem`` says
so, and /health and ``guard.state`` report ``degraded``. It binds in the constructor so that a
taken address fails before any thread starts.
"""

from __future__ import annotations

import contextlib
import errno
import queue
import re
import selectors
import socket
import ssl
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable

from otelsvc._logging import logger
from otelsvc._routes import Response
from otelsvc._signals import block_in_this_thread

__all__ = ["TelemetryServer"]

Handler = Callable[[str, str, dict[str, str]], Response]
_REASONS = {
    200: "OK", 400: "Bad Request", 401: "Unauthorized", 404: "Not Found", 405: "Method Not Allowed",
    408: "Request Timeout", 413: "Content Too Large", 431: "Request Header Fields Too Large",
    500: "Internal Server Error", 503: "Service Unavailable", 505: "HTTP Version Not Supported",
}
_VERSION = re.compile(r"HTTP/[0-9]\.[0-9]")
_OUT_OF_FDS = {errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM}
_BACKOFF_FIRST, _BACKOFF_MAX = 0.05, 1.0
_ACCEPTS_PER_WAKE = 64
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
        first_byte_timeout: float | None = None,
        max_idle: int | None = None,
    ) -> None:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self._sock = socket.create_server((host, port), family=family, backlog=128)
        self._sock.setblocking(False)
        self.address: tuple[str, int] = self._sock.getsockname()[:2]
        self._handler = handler
        self._max_connections = max_connections
        self._max_header_bytes = max_header_bytes
        self._read_timeout = read_timeout
        # A client that connects to scrape sends its request at once; one that sends nothing for
        # this long is not a scraper.
        self._first_byte_timeout = min(read_timeout, 2.0) if first_byte_timeout is None else first_byte_timeout
        self._max_idle = max(4 * max_connections, 256) if max_idle is None else max_idle
        self._ssl: ssl.SSLContext | None = None
        if certfile and keyfile:
            self._ssl = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            self._ssl.load_cert_chain(certfile, keyfile)
        self._slots = threading.BoundedSemaphore(max_connections)
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._thread: threading.Thread | None = None
        self._closed = False
        self._conns: set[socket.socket] = set()
        self._conns_lock = threading.Lock()
        self._returned: deque[socket.socket] = deque()
        self._refusals: queue.Queue[socket.socket | None] = queue.Queue(maxsize=256)
        self._refuser: threading.Thread | None = None
        self._troubles: dict[str, str] = {}
        self.evicted = 0

    @property
    def scheme(self) -> str:
        return "https" if self._ssl else "http"

    @property
    def problem(self) -> str | None:
        """Why the server cannot fully do its job now, or None while it can."""
        if self._closed:
            return None
        if self._thread is not None and not self._thread.is_alive():
            return "the accept thread has stopped; scrapes are not answered"
        troubles = dict(self._troubles)
        return "; ".join(troubles.values()) if troubles else None

    def _trouble(self, kind: str, message: str | None) -> None:
        """Set (or clear, with None) one kind of trouble, logging each change once."""
        if message is None:
            if self._troubles.pop(kind, None) is not None:
                logger.info("otelsvc: telemetry server recovered (%s)", kind)
        elif kind not in self._troubles:
            self._troubles[kind] = message
            logger.warning("otelsvc: telemetry server degraded: %s", message)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._serve, name="otelsvc-http", daemon=True)
        self._thread.start()
        self._refuser = threading.Thread(target=self._refuse_loop, name="otelsvc-http-refuse", daemon=True)
        self._refuser.start()

    # -- the accept thread ------------------------------------------------------------------------

    def _serve(self) -> None:
        block_in_this_thread()
        with selectors.DefaultSelector() as sel:
            loop = _AcceptLoop(self, sel)
            while not self._closed:
                try:
                    if loop.run_once():
                        break
                    if self._troubles:
                        self._trouble("loop", None)
                except Exception as exc:  # never let the accept thread die
                    self._trouble("loop", f"accept loop failed ({type(exc).__name__}: {exc}); retrying")
                    time.sleep(_BACKOFF_MAX)
            loop.close_all()

    def _dispatch(self, conn: socket.socket) -> None:
        """A connection with bytes to read: a thread of its own, or the refusal thread past the cap."""
        if not self._slots.acquire(blocking=False):
            self._refuse(conn)
            return
        try:
            threading.Thread(target=self._connection, args=(conn,), name="otelsvc-http-conn", daemon=True).start()
        except RuntimeError as exc:  # can't start new thread (a pids limit, memory)
            self._trouble("thread", f"cannot start a connection thread ({exc}); answering one request at a time")
            self._connection(conn, inline=True)

    def _refuse(self, conn: socket.socket) -> None:
        try:
            self._refusals.put_nowait(conn)
        except queue.Full:
            with contextlib.suppress(OSError):
                conn.close()

    def _refuse_loop(self) -> None:
        """One thread answers every connection over the cap with 503 (TLS: a clean close), so refusals
        spawn nothing."""
        block_in_this_thread()
        while True:
            conn = self._refusals.get()
            if conn is None:
                return
            try:
                conn.settimeout(0.2)
                if self._ssl is None:
                    conn.sendall(self._encode(Response(503, [("Content-Type", "text/plain; charset=utf-8"),
                                                             ("Retry-After", "1")], b"too many connections\n"),
                                              keep_alive=False))
                # A TLS client gets no plaintext: it sees the connection closed (FIN, not a reset).
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
        except (OSError, ValueError):
            pass

    def _hand_back(self, conn: socket.socket) -> None:
        """A kept-alive connection with nothing buffered goes back to the accept thread to wait."""
        self._returned.append(conn)
        with contextlib.suppress(OSError):
            self._wake_w.send(b"r")

    # -- one connection ---------------------------------------------------------------------------

    def _connection(self, raw: socket.socket, inline: bool = False) -> None:
        """Serve requests on ``raw`` until it closes or falls idle (then it goes back to the accept
        thread). ``inline``: on the accept thread itself, one request, then close."""
        conn = raw
        kept = False
        if not inline:
            block_in_this_thread()
            if "thread" in self._troubles:  # a thread started: before this request is answered, say so
                self._trouble("thread", None)
        try:
            conn.settimeout(min(self._read_timeout, 1.0) if inline else self._read_timeout)
            if self._ssl is not None and not isinstance(raw, ssl.SSLSocket):
                conn = self._handshake(raw, 1.0 if inline else self._read_timeout)
            with self._conns_lock:
                self._conns.add(conn)
            buffer = b""
            while not self._closed:
                try:
                    head, buffer = self._read_head(conn, buffer, 1.0 if inline else self._read_timeout)
                except _Reject as reject:
                    conn.sendall(self._encode(Response(reject.status, [("Content-Type", "text/plain; charset=utf-8")],
                                                       f"{reject}\n".encode()), keep_alive=False))
                    self._linger(conn, 0.5)
                    return
                if head is None:
                    return
                response, keep_alive = self._respond(head)
                keep_alive = keep_alive and not inline
                conn.sendall(self._encode(response, keep_alive))
                if not keep_alive:
                    return
                pending = conn.pending() if isinstance(conn, ssl.SSLSocket) else 0
                if not buffer and not pending:
                    kept = True
                    return
        except (OSError, ssl.SSLError, ValueError):
            return
        finally:
            with self._conns_lock:
                self._conns.discard(conn)
            if kept and not self._closed:
                self._hand_back(conn)
            else:
                with contextlib.suppress(OSError):
                    conn.close()
            self._slots.release()

    def _handshake(self, raw: socket.socket, limit: float) -> ssl.SSLSocket:
        """The TLS handshake, bounded as a whole by ``limit`` (a client trickling its hello cannot
        hold the slot longer, as with a request head)."""
        assert self._ssl is not None
        conn = self._ssl.wrap_socket(raw, server_side=True, do_handshake_on_connect=False)
        deadline = time.monotonic() + limit
        conn.setblocking(False)
        while True:
            try:
                conn.do_handshake()
                break
            except ssl.SSLWantReadError:
                wanted = selectors.EVENT_READ
            except ssl.SSLWantWriteError:
                wanted = selectors.EVENT_WRITE
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                conn.close()
                raise TimeoutError("TLS handshake timed out")
            with selectors.DefaultSelector() as sel:
                sel.register(conn, wanted)
                sel.select(remaining)
        conn.settimeout(self._read_timeout)
        return conn

    def _read_head(self, conn: socket.socket, buffer: bytes, limit: float) -> tuple[bytes | None, bytes]:
        # The limit bounds the whole head, not each recv: a client trickling a byte at a time
        # (slowloris) would otherwise hold a connection slot for as long as it likes.
        deadline = time.monotonic() + limit
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
        if not _VERSION.fullmatch(version):
            return Response(400, [("Content-Type", "text/plain; charset=utf-8")], b"bad request\n"), False
        if version not in ("HTTP/1.0", "HTTP/1.1"):
            return Response(505, [("Content-Type", "text/plain; charset=utf-8")],
                            b"HTTP/1.0 and HTTP/1.1 only\n"), False
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            if not sep or not name or name != name.strip():
                return Response(400, [("Content-Type", "text/plain; charset=utf-8")], b"bad header\n"), False
            key = name.lower()
            headers[key] = f"{headers[key]}, {value.strip()}" if key in headers else value.strip()
        if version == "HTTP/1.1" and "host" not in headers:  # RFC 9112 section 3.2
            return Response(400, [("Content-Type", "text/plain; charset=utf-8")], b"missing Host header\n"), False
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

    # -- closing ----------------------------------------------------------------------------------

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
        while self._returned:
            with contextlib.suppress(OSError):
                self._returned.popleft().close()
        for sock in (self._sock, self._wake_r, self._wake_w):
            with contextlib.suppress(OSError):
                sock.close()


class _AcceptLoop:
    """The accept thread's state: the selector, the idle connections in age order, the back-off."""

    def __init__(self, server: TelemetryServer, sel: selectors.BaseSelector) -> None:
        self.server = server
        self.sel = sel
        # Two queues, each in arrival order (so also in deadline order): new connections that have
        # sent nothing, and kept-alive ones between requests. Values: (since, deadline).
        self.fresh: OrderedDict[socket.socket, tuple[float, float]] = OrderedDict()
        self.kept: OrderedDict[socket.socket, tuple[float, float]] = OrderedDict()
        self.paused_until = 0.0
        self.backoff = _BACKOFF_FIRST
        sel.register(server._sock, selectors.EVENT_READ, "listen")
        sel.register(server._wake_r, selectors.EVENT_READ, "wake")

    def run_once(self) -> bool:
        """One turn of the loop; True when the server is closing."""
        server = self.server
        now = time.monotonic()
        if self.paused_until and now >= self.paused_until:
            self.paused_until = 0.0
            self.sel.register(server._sock, selectors.EVENT_READ, "listen")
        events = self.sel.select(self._timeout(now))
        for key, _ in events:
            if key.data == "wake":
                with contextlib.suppress(OSError):
                    server._wake_r.recv(4096)
                if server._closed:
                    return True
                self._take_returned()
            elif key.data == "listen":
                self._accept()
            else:
                conn: socket.socket = key.fileobj  # type: ignore[assignment]
                self._forget(conn)
                server._dispatch(conn)
        self._expire(time.monotonic())
        return server._closed

    def _timeout(self, now: float) -> float | None:
        deadlines = [next(iter(q.values()))[1] for q in (self.fresh, self.kept) if q]
        if self.paused_until:
            deadlines.append(self.paused_until)
        return max(0.0, min(deadlines) - now) if deadlines else None

    def _accept(self) -> None:
        server = self.server
        for _ in range(_ACCEPTS_PER_WAKE):
            try:
                conn, _addr = server._sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                if exc.errno in (errno.ECONNABORTED, errno.EPROTO, errno.EPERM):
                    continue
                self._accept_failed(exc)
                return
            server._trouble("accept", None)
            self.backoff = _BACKOFF_FIRST
            if len(self.fresh) + len(self.kept) >= server._max_idle:
                self._evict_oldest()
            now = time.monotonic()
            self._hold(conn, self.fresh, now, now + server._first_byte_timeout)

    def _accept_failed(self, exc: OSError) -> None:
        """Out of file descriptors (or another accept error): give the oldest idle connection's
        descriptor back, and take the listener out of the selector for a while (no spin)."""
        reason = "too many open files" if exc.errno in _OUT_OF_FDS else (exc.strerror or str(exc))
        self.server._trouble("accept", f"cannot accept connections ({reason}); backing off")
        self._evict_oldest()
        self.sel.unregister(self.server._sock)
        self.paused_until = time.monotonic() + self.backoff
        self.backoff = min(self.backoff * 2, _BACKOFF_MAX)

    def _hold(self, conn: socket.socket, queue_: OrderedDict[socket.socket, tuple[float, float]], now: float,
              deadline: float) -> None:
        try:
            self.sel.register(conn, selectors.EVENT_READ, "conn")
        except (OSError, ValueError):
            with contextlib.suppress(OSError):
                conn.close()
            return
        queue_[conn] = (now, deadline)

    def _take_returned(self) -> None:
        server = self.server
        while server._returned:
            conn = server._returned.popleft()
            if len(self.fresh) + len(self.kept) >= server._max_idle:
                self._evict_oldest()
            now = time.monotonic()
            self._hold(conn, self.kept, now, now + server._read_timeout)

    def _forget(self, conn: socket.socket) -> None:
        with contextlib.suppress(KeyError, ValueError, OSError):
            self.sel.unregister(conn)
        self.fresh.pop(conn, None)
        self.kept.pop(conn, None)

    def _close(self, conn: socket.socket) -> None:
        self._forget(conn)
        with contextlib.suppress(OSError):
            conn.close()

    def _evict_oldest(self) -> None:
        heads = [(next(iter(q.values()))[0], next(iter(q))) for q in (self.fresh, self.kept) if q]
        if heads:
            self.server.evicted += 1
            self._close(min(heads, key=lambda item: item[0])[1])

    def _expire(self, now: float) -> None:
        for queue_ in (self.fresh, self.kept):
            while queue_:
                conn, (_since, deadline) = next(iter(queue_.items()))
                if deadline > now:
                    break
                self._close(conn)

    def close_all(self) -> None:
        for conn in [*self.fresh, *self.kept]:
            self._close(conn)
