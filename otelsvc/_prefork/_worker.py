"""A worker's end: publishes its snapshot when the hub asks (each scrape), every second, and when it leaves."""

from __future__ import annotations

import contextlib
import logging
import os
import pickle
import select
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path

from otelsvc._prefork import _wire
from otelsvc._prefork._snapshot import Snapshot

__all__ = ["PUBLISH_INTERVAL", "WorkerLink"]

_log = logging.getLogger("otelsvc")

# A worker killed with SIGKILL loses at most what it recorded in its last interval (see docs/prefork.md).
PUBLISH_INTERVAL = 1.0


class WorkerLink:
    """The connection of one worker process to its hub, with the thread that answers the hub."""

    def __init__(
        self,
        path: Path,
        snapshot: Callable[[], Snapshot],
        modes: Callable[[], dict[str, str]],
        interval: float = PUBLISH_INTERVAL,
        on_lost: Callable[[], None] | None = None,
    ) -> None:
        self.path = path
        self._on_lost = on_lost
        self._snapshot = snapshot
        self._modes = modes
        self._interval = interval
        self._send_lock = threading.Lock()
        self._closing = False
        self._pid = os.getpid()
        self._last_sent = b""
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            self._sock.settimeout(5)
            self._sock.connect(str(path))
            self._sock.settimeout(None)
            _wire.send(self._sock, _wire.HELLO, self._pid)
        except OSError:
            self._sock.close()
            raise
        self._thread = threading.Thread(target=self._run, name="otelsvc-prefork-worker", daemon=True)
        self._thread.start()

    def _publish(self, seq: int) -> None:
        snap = self._snapshot()
        body = pickle.dumps(snap, protocol=pickle.HIGHEST_PROTOCOL)
        if seq == 0 and body == self._last_sent:
            return
        with self._send_lock:
            if self._closing:
                return
            _wire.send(self._sock, _wire.SNAPSHOT, seq, body, self._modes())
            self._last_sent = body

    def _run(self) -> None:
        reader = _wire.Reader()
        next_publish = time.monotonic() + self._interval
        try:
            while not self._closing:
                ready, _, _ = select.select([self._sock], [], [], max(0.0, next_publish - time.monotonic()))
                if self._closing:
                    return
                if ready:
                    data = self._sock.recv(65536)
                    if not data:
                        if not self._closing:
                            self._lost()
                        return
                    pulls = [m[1] for m in reader.feed(data) if m[0] == _wire.PULL]
                    if pulls:
                        self._publish(max(pulls))
                if time.monotonic() >= next_publish:
                    start = time.monotonic()
                    self._publish(0)
                    # a worker with many series publishes less often rather than spending >10% of a core
                    next_publish = time.monotonic() + max(self._interval, 10 * (time.monotonic() - start))
        except Exception as exc:
            if not self._closing:
                _log.warning("otelsvc: pre-fork publishing stopped: %s: %s", type(exc).__name__, exc)
                self._lost()

    def _lost(self) -> None:
        if self._on_lost is None:
            _log.warning(
                "otelsvc: the pre-fork hub at %s went away; this worker's counts are no longer scraped", self.path
            )
            return
        _log.warning("otelsvc: the pre-fork hub at %s went away; reconnecting", self.path)
        with contextlib.suppress(OSError):
            self._sock.close()
        self._on_lost()

    def close(self, timeout: float = 2.0) -> None:
        """Send the final counts (they stay in the hub's sums) and disconnect."""
        if os.getpid() != self._pid:
            self.forget_in_child()
            return
        with self._send_lock:
            if self._closing:
                return
            try:
                body = pickle.dumps(self._snapshot(), protocol=pickle.HIGHEST_PROTOCOL)
                self._sock.settimeout(timeout)
                _wire.send(self._sock, _wire.FINAL, body)
            except Exception as exc:
                _log.warning(
                    "otelsvc: could not hand this worker's final counts to the hub: %s: %s", type(exc).__name__, exc
                )
            finally:
                self._closing = True
                with contextlib.suppress(OSError):
                    self._sock.shutdown(socket.SHUT_RDWR)
                self._sock.close()
        self._thread.join(timeout=timeout)

    def forget_in_child(self) -> None:
        """After fork, in the child: drop the inherited connection without touching the parent's."""
        self._closing = True
        with contextlib.suppress(OSError):
            self._sock.close()
