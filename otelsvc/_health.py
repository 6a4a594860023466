"""Lifecycle state of a guard and the health of each exporter, as /health reports them."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timezone
from typing import Any, Literal, get_args

from otelsvc._redact import redact_text, redact_url

__all__ = ["ExporterHealth", "Lifecycle", "LifecycleState", "State"]

LifecycleState = Literal["starting", "ok", "shutting_down", "shut_down"]
# What a guard reports: its lifecycle state, or ``degraded`` in place of ``ok`` (see ``ProviderGuard.state``).
State = Literal[LifecycleState, "degraded"]


def _iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, tz=timezone.utc).isoformat().replace("+00:00", "Z")


class Lifecycle:
    """starting -> ok -> shutting_down -> shut_down; readable from any thread.

    ``degraded`` is not a lifecycle step: the guard reports it in place of ``ok`` while its
    built-in server cannot fully serve (``ProviderGuard.state``).
    """

    STATES: tuple[LifecycleState, ...] = get_args(LifecycleState)

    def __init__(self) -> None:
        self.state: LifecycleState = "starting"

    def set(self, state: LifecycleState) -> None:
        assert state in self.STATES
        self.state = state


class ExporterHealth:
    """Outcome of one exporter's pushes: last success, last error and the current failure streak."""

    def __init__(self, name: str, endpoint: str) -> None:
        self.name = name
        self.endpoint = redact_url(endpoint)
        self.last_success: float | None = None
        self.last_error: str | None = None
        self.last_error_time: float | None = None
        self.consecutive_failures = 0
        self.total_failures = 0
        self.dropped = 0
        self._lock = threading.Lock()

    def success(self) -> int:
        """Record a success; returns the failure streak it ended."""
        with self._lock:
            streak = self.consecutive_failures
            self.last_success = time.time()
            self.consecutive_failures = 0
            return streak

    def failure(self, error: str) -> int:
        """Record a failure; returns the new streak length."""
        with self._lock:
            self.last_error = redact_text(error)
            self.last_error_time = time.time()
            self.consecutive_failures += 1
            self.total_failures += 1
            return self.consecutive_failures

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "endpoint": self.endpoint,
            "last_success": _iso(self.last_success),
            "last_error": self.last_error,
            "last_error_time": _iso(self.last_error_time),
            "consecutive_failures": self.consecutive_failures,
        }
        if self.name.startswith("spans"):
            out["dropped_spans"] = self.dropped
        return out
