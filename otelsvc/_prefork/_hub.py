"""The serving process's end: a unix socket that workers connect to, one bounded slot per live worker.

One thread reads every connection (selectors). A scrape calls ``gather``: it asks every live worker
for a fresh snapshot and waits at most ``timeout``; a worker that does not answer in time (it holds
the GIL, or is stopped) is served from its last snapshot. A worker whose connection ends is retired:
its counters and histograms stay in the sums, its slot is free for the next worker.

A connection whose first message is a render request is not a worker: it is a worker's mounted
metrics app asking for the whole run's scrape, answered from a thread of its own (``render``).
"""

from __future__ import annotations

import contextlib
import heapq
import logging
import os
import pickle
import selectors
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path

from otelsvc._prefork import _wire
from otelsvc._prefork._merge import Aggregate

__all__ = ["RENDER_TIMEOUT", "Hub", "request_render"]

# How long a worker's mounted app waits for the hub's scrape (a gather, at most 1 s, then the render).
RENDER_TIMEOUT = 10.0

_log = logging.getLogger("otelsvc")


class _Peer:
    def __init__(self, sock: socket.socket, slot: int = -1) -> None:
        self.sock = sock
        self.slot = slot
        self.pid = 0
        self.reader = _wire.Reader()
        self.answered = 0
        self.final = False


class Hub:
    """Accepts workers on ``path`` and keeps their snapshots in ``aggregate``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.aggregate = Aggregate()
        self._listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        try:
            self._listener.bind(str(path))
            self._listener.listen(128)
        except OSError:
            self._listener.close()
            raise
        self._listener.setblocking(False)
        # The run's whole scrape, set by the serving process: answers the workers' mounted apps.
        self.render: Callable[[bool], bytes] | None = None
        self._peers: dict[socket.socket, _Peer] = {}
        self._free: list[int] = []
        self._next_slot = 0
        self._seq = 0
        self._cond = threading.Condition()
        self._accept_lock = threading.Lock()
        self._wake_r, self._wake_w = os.pipe()
        self._closed = False
        self._selector = selectors.DefaultSelector()
        self._selector.register(self._listener, selectors.EVENT_READ)
        self._selector.register(self._wake_r, selectors.EVENT_READ)
        self._thread = threading.Thread(target=self._run, name="otelsvc-prefork-hub", daemon=True)
        self._thread.start()

    @property
    def live_workers(self) -> int:
        return len(self._peers)

    def _slot(self) -> int:
        if self._free:
            return heapq.heappop(self._free)
        self._next_slot += 1
        return self._next_slot - 1

    def _run(self) -> None:
        while not self._closed:
            try:
                events = self._selector.select()
            except (OSError, ValueError):
                if self._closed:  # closed (or forgotten after a fork) under this thread's feet
                    return
                raise
            for key, _ in events:
                if key.fileobj is self._listener:
                    self._accept()
                elif key.fileobj == self._wake_r:
                    os.read(self._wake_r, 64)
                else:
                    assert isinstance(key.fileobj, socket.socket)
                    self._read(key.fileobj)

    def _accept(self) -> None:
        with self._accept_lock:
            self._accept_pending()

    def _accept_pending(self) -> None:
        while True:
            try:
                sock, _ = self._listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                _log.warning("otelsvc: pre-fork hub could not accept a worker: %s", exc)
                return
            sock.setblocking(False)
            with self._cond:
                self._peers[sock] = _Peer(sock)  # a worker takes a slot when it says hello
            self._selector.register(sock, selectors.EVENT_READ)

    def _read(self, sock: socket.socket) -> None:
        peer = self._peers[sock]
        try:
            data = sock.recv(1 << 20)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            self._drop(peer)
            return
        try:
            messages = peer.reader.feed(data)
        except Exception as exc:
            _log.error("otelsvc: a pre-fork worker sent an unreadable message (%s); dropping it", exc)
            self._drop(peer)
            return
        for message in messages:
            kind = message[0]
            if kind == _wire.RENDER:
                self._hand_over(peer, bool(message[1]))
                return
            if peer.slot < 0:
                peer.slot = self._slot()
                self.aggregate.ever_joined = True
            if kind == _wire.HELLO:
                peer.pid = int(message[1])
            elif kind == _wire.SNAPSHOT:
                self.aggregate.update(peer.slot, pickle.loads(message[2]), message[3])
                with self._cond:
                    peer.answered = max(peer.answered, int(message[1]))
                    self._cond.notify_all()
            elif kind == _wire.FINAL:
                self.aggregate.retire(peer.slot, pickle.loads(message[1]))
                with self._cond:
                    peer.final = True
                    self._cond.notify_all()

    def _drop(self, peer: _Peer) -> None:
        """The worker left (exit, crash or SIGKILL): retire what it published, free its slot."""
        self._selector.unregister(peer.sock)
        peer.sock.close()
        if peer.slot >= 0 and not peer.final:
            self.aggregate.retire(peer.slot)
        with self._cond:
            del self._peers[peer.sock]
            if peer.slot >= 0:
                heapq.heappush(self._free, peer.slot)
            self._cond.notify_all()

    def _hand_over(self, peer: _Peer, openmetrics: bool) -> None:
        """A render request: the connection leaves the workers and is answered from a thread (a render
        gathers from the workers, which this thread must go on reading)."""
        self._selector.unregister(peer.sock)
        with self._cond:
            del self._peers[peer.sock]
            self._cond.notify_all()
        threading.Thread(
            target=self._answer_render, args=(peer.sock, openmetrics), name="otelsvc-prefork-render", daemon=True
        ).start()

    def _answer_render(self, sock: socket.socket, openmetrics: bool) -> None:
        try:
            render = self.render
            if render is None:
                raise RuntimeError("this hub's process serves no Prometheus reader")
            reply = _wire.encode(_wire.RENDERED, render(openmetrics), "")
        except Exception as exc:
            _log.error(
                "otelsvc: the pre-fork hub could not render a scrape for a worker: %s: %s", type(exc).__name__, exc
            )
            reply = _wire.encode(_wire.RENDERED, None, f"{type(exc).__name__}: {exc}")
        try:
            sock.settimeout(RENDER_TIMEOUT)
            sock.sendall(reply)
        except OSError:
            pass  # the asking scrape gave up; nothing to tell it
        finally:
            sock.close()

    def gather(self, timeout: float) -> int:
        """Ask every live worker for its counts now; wait at most ``timeout``. Returns how many did not answer.

        Workers whose connection is still in the listen backlog are taken first, so a worker that
        connected before the scrape began is in it even when the hub thread has not run since."""
        if not self._closed:
            self._accept()
        with self._cond:
            self._seq += 1
            seq = self._seq
            peers = list(self._peers.values())
        message = _wire.encode(_wire.PULL, seq)
        asked = []
        for peer in peers:
            try:
                peer.sock.send(message)
                asked.append(peer)
            except OSError:
                continue
        deadline = time.monotonic() + timeout

        def waiting() -> list[_Peer]:
            return [p for p in asked if p.answered < seq and not p.final and p.sock in self._peers]

        with self._cond:
            while (late := waiting()) and (left := deadline - time.monotonic()) > 0:
                self._cond.wait(left)
            return len(late)

    def close(self) -> None:
        """Stop serving workers (the serving process is shutting down); the socket file is removed."""
        if self._closed:
            return
        self._closed = True
        os.write(self._wake_w, b"x")
        self._thread.join(timeout=2)
        for peer in list(self._peers.values()):
            peer.sock.close()
        self._listener.close()
        self._selector.close()
        os.close(self._wake_r)
        os.close(self._wake_w)
        with contextlib.suppress(OSError):
            self.path.unlink()

    def forget_in_child(self) -> None:
        """After fork, in the child: close the inherited descriptors, leaving the parent's hub untouched."""
        self._closed = True
        for peer in list(self._peers.values()):
            with contextlib.suppress(OSError):
                peer.sock.close()
        for fd in (self._wake_r, self._wake_w):
            with contextlib.suppress(OSError):
                os.close(fd)
        with contextlib.suppress(OSError):
            self._listener.close()
        with contextlib.suppress(OSError):
            self._selector.close()


def request_render(path: Path, openmetrics: bool, timeout: float = RENDER_TIMEOUT) -> bytes:
    """The whole run's scrape from the hub at ``path`` (a worker's mounted metrics app asks this)."""
    reader = _wire.Reader()
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        sock.connect(str(path))
        _wire.send(sock, _wire.RENDER, openmetrics)
        deadline = time.monotonic() + timeout
        while True:
            sock.settimeout(max(0.001, deadline - time.monotonic()))
            data = sock.recv(1 << 20)
            if not data:
                raise ConnectionError("the pre-fork hub closed the connection without a scrape")
            for message in reader.feed(data):
                if message[0] == _wire.RENDERED:
                    if message[1] is None:
                        raise RuntimeError(f"the pre-fork hub could not render: {message[2]}")
                    body: bytes = message[1]
                    return body
