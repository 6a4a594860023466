"""Network faults for the reliability tests: a listener that never answers, and a TCP proxy in front
of the collector that can be made to hold every byte (an export stuck in flight) and let go again."""

from __future__ import annotations

import contextlib
import selectors
import socket
import threading


class SilentListener:
    """Accepts TCP connections on ``port`` and never sends a byte (a hung collector)."""

    def __init__(self, port: int = 0) -> None:
        self._sock = socket.create_server(("127.0.0.1", port))
        self.port: int = self._sock.getsockname()[1]
        self._held: list[socket.socket] = []
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        self._sock.settimeout(0.1)
        while not self._closed.is_set():
            try:
                conn, _ = self._sock.accept()
            except (TimeoutError, OSError):
                continue
            self._held.append(conn)

    def close(self) -> None:
        self._closed.set()
        self._thread.join(5)
        for conn in [*self._held, self._sock]:
            with contextlib.suppress(OSError):
                conn.close()


class StallingProxy:
    """Forwards 127.0.0.1:``port`` to 127.0.0.1:``target``; ``stall()`` holds every byte in both
    directions until ``flow()``. ``held`` counts the bytes held since ``stall()``, in either direction
    (proof that an export is in flight: its request, or the response it waits for)."""

    def __init__(self, target: int) -> None:
        self.target = target
        self._sock = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._sock.getsockname()[1]
        self._flowing = threading.Event()
        self._flowing.set()
        self._closed = threading.Event()
        self.held = 0
        self._conns: list[socket.socket] = []
        self._threads = [threading.Thread(target=self._accept, daemon=True)]
        self._threads[0].start()

    def stall(self) -> None:
        self.held = 0
        self._flowing.clear()

    def flow(self) -> None:
        self._flowing.set()

    def _accept(self) -> None:
        self._sock.settimeout(0.1)
        while not self._closed.is_set():
            try:
                client, _ = self._sock.accept()
            except (TimeoutError, OSError):
                continue
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target), timeout=5)
            except OSError:
                client.close()
                continue
            self._conns += [client, upstream]
            for src, dst, from_client in ((client, upstream, True), (upstream, client, False)):
                t = threading.Thread(target=self._pump, args=(src, dst, from_client), daemon=True)
                t.start()
                self._threads.append(t)

    def _pump(self, src: socket.socket, dst: socket.socket, from_client: bool) -> None:
        with selectors.DefaultSelector() as sel:
            sel.register(src, selectors.EVENT_READ)
            while not self._closed.is_set():
                if not sel.select(0.1):
                    continue
                try:
                    data = src.recv(65536)
                except OSError:
                    data = b""
                if not data:
                    with contextlib.suppress(OSError):
                        dst.shutdown(socket.SHUT_WR)
                    return
                counted = not self._flowing.is_set()
                if counted:
                    self.held += len(data)
                while not self._flowing.wait(0.1):
                    if not counted:  # read just before stall(), held since
                        counted = True
                        self.held += len(data)
                    if self._closed.is_set():
                        return
                try:
                    dst.sendall(data)
                except OSError:
                    return

    def close(self) -> None:
        self._closed.set()
        self._flowing.set()
        for conn in [*self._conns, self._sock]:
            with contextlib.suppress(OSError):
                conn.close()
        for t in self._threads:
            t.join(5)
