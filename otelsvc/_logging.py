"""otelsvc's logger, and a rate-limited route for the SDK's own log lines.

The OTel SDK logs a line per failed export and per retry; against a dead collector that is a line
every few seconds forever, straight to stderr. While a guard runs, records of the ``opentelemetry``
logger tree go through a filter that lets each distinct message through once per interval (with a
count of what it held back) and re-emits it on ``otelsvc.sdk``.
"""

from __future__ import annotations

import logging
import os
import threading
import time

from otelsvc._redact import redact_exporter_logs, redact_text

__all__ = ["SdkLogRouter", "logger", "route_sdk_logs", "unroute_sdk_logs"]

logger = logging.getLogger("otelsvc")
_sdk_logger = logging.getLogger("otelsvc.sdk")


class SdkLogRouter(logging.Handler):
    """Re-emits SDK records on ``otelsvc.sdk``, each distinct message at most once per interval.

    ``logging.Handler.handle`` calls ``emit`` with the handler's own lock held, and the logging
    module re-creates that lock in a forked child; the bookkeeping here relies on it rather than
    on a lock of its own, which a fork during an SDK log line (exporter threads log from the
    background) would leave held in the child, silencing or hanging its next SDK log line.
    """

    def __init__(self, interval: float = 60.0) -> None:
        super().__init__(logging.DEBUG)
        self.interval = interval
        self._seen: dict[tuple[str, str], tuple[float, int]] = {}

    def emit(self, record: logging.LogRecord) -> None:
        key = (record.name, str(record.msg))
        now = time.monotonic()
        last, held = self._seen.get(key, (-1e18, 0))
        if now - last < self.interval:
            self._seen[key] = (last, held + 1)
            return
        self._seen[key] = (now, 0)
        if len(self._seen) > 1000:
            self._seen.clear()
        try:
            message = record.getMessage()
        except Exception:
            message = str(record.msg)
        message = redact_text(message)
        if held:
            message += f" ({held} similar lines held back in the last {self.interval:.0f}s)"
        # A traceback is kept off: the message already says what failed, and tracebacks of
        # export errors only repeat the SDK's internals.
        _sdk_logger.log(record.levelno, "%s: %s", record.name, message)


_lock = threading.Lock()


def _renew_lock_in_child() -> None:
    global _lock
    _lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_renew_lock_in_child)

_router: SdkLogRouter | None = None
_users = 0
_saved_propagate = True


def route_sdk_logs() -> None:
    """Start routing the ``opentelemetry`` logger tree through the router (counted per guard)."""
    global _router, _users, _saved_propagate
    redact_exporter_logs()
    with _lock:
        _users += 1
        if _users == 1:
            target = logging.getLogger("opentelemetry")
            _router = SdkLogRouter()
            _saved_propagate = target.propagate
            target.addHandler(_router)
            target.propagate = False


def unroute_sdk_logs() -> None:
    """Undo one ``route_sdk_logs``; the last guard out restores the SDK's logging."""
    global _router, _users
    with _lock:
        if _users == 0:
            return
        _users -= 1
        if _users == 0 and _router is not None:
            target = logging.getLogger("opentelemetry")
            target.removeHandler(_router)
            target.propagate = _saved_propagate
            _router = None
