"""The discovery family: finding and handshaking a deployment endpoint (after Restate's discovery).

``classify_retry`` maps what failed to the retry reason: 5xx server_error; 408 or 429
rate_limited; any other non-2xx bad_status; a connect error connection; an error reading the body
body_error; anything else other.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from otelsvc.instruments._binding import Binder, FamilyInstruments
from otelsvc.instruments._spec import Family, Label, MetricSpec

if TYPE_CHECKING:
    from otelsvc._guard import ProviderGuard

__all__ = ["DISCOVERY_FAMILY", "DiscoveryMetrics", "classify_retry"]

OUTCOMES = ("success", "retryable_exhausted", "permanent_failure")
REASONS = ("server_error", "rate_limited", "bad_status", "connection", "body_error", "other")
OUTCOME = Label("outcome", OUTCOMES)

DISCOVERY_FAMILY = Family(
    name="discovery",
    description="Looking up a remote endpoint and checking it answers before using it: attempts by outcome, "
    "retries by reason, and the whole time taken including retries.",
    origin="modelled on the service discovery metrics of Restate (a durable-execution runtime).",
    metrics=(
        MetricSpec("discovery.attempts", "counter", "{attempt}", "Discoveries by outcome", (OUTCOME,)),
        MetricSpec("discovery.retries", "counter", "{retry}", "Discovery retries by reason",
                   (Label("reason", REASONS),)),
        MetricSpec("discovery.duration", "histogram", "s", "Whole discovery time including retries",
                   (OUTCOME,), "general"),
    ),
)

_CONNECT_ERRORS = ("ConnectError", "ConnectionError", "ConnectTimeout", "NewConnectionError",
                   "ConnectionRefusedError", "ConnectionResetError", "gaierror")
_BODY_ERRORS = ("ReadError", "RemoteProtocolError", "DecodingError", "IncompleteRead", "ChunkedEncodingError",
                "ContentDecodingError", "JSONDecodeError", "ProtocolError")


def classify_retry(status_code: int | None = None, error: BaseException | None = None) -> str:
    """The retry reason for an HTTP status code or an exception (see the module docstring)."""
    if status_code is not None:
        if 500 <= status_code <= 599:
            return "server_error"
        if status_code in (408, 429):
            return "rate_limited"
        if not 200 <= status_code <= 299:
            return "bad_status"
        return "other"
    if error is not None:
        names = {cls.__name__ for cls in type(error).__mro__}
        if names & set(_CONNECT_ERRORS):
            return "connection"
        if names & set(_BODY_ERRORS):
            return "body_error"
    return "other"


class DiscoveryMetrics:
    """The discovery family on a guard; handles are pre-bound per outcome and per reason."""

    def __init__(self, guard: ProviderGuard, *, namespace: str | None = None) -> None:
        ns = namespace if namespace is not None else guard.settings.namespace
        self.instruments = FamilyInstruments(guard, DISCOVERY_FAMILY, namespace=ns)

        def binder(name: str) -> Binder:
            return Binder(self.instruments[name], self.instruments.specs[name], (), {})

        attempts, retries, duration = binder("discovery.attempts"), binder("discovery.retries"), binder(
            "discovery.duration")
        self.attempts = {o: attempts(o) for o in OUTCOMES}
        self.durations = {o: duration(o) for o in OUTCOMES}
        self.retries = {r: retries(r) for r in REASONS}

    def retry(self, status_code: int | None = None, error: BaseException | None = None) -> str:
        """Count one retry, classified from what failed; returns the reason."""
        reason = classify_retry(status_code, error)
        self.retries[reason].add()
        return reason

    def finished(self, outcome: str, seconds: float) -> None:
        """Count one whole discovery and its duration."""
        if outcome not in self.attempts:
            raise ValueError(f"outcome must be one of {', '.join(OUTCOMES)}")
        self.attempts[outcome].add()
        self.durations[outcome].record(seconds)

    @contextmanager
    def timed(self) -> Iterator[dict[str, Any]]:
        """Time one discovery; set ``outcome`` in the yielded dict (default: permanent_failure on error)."""
        result: dict[str, Any] = {"outcome": "success"}
        start = time.perf_counter()
        try:
            yield result
        except BaseException:
            if result["outcome"] == "success":
                result["outcome"] = "permanent_failure"
            raise
        finally:
            self.finished(result["outcome"], time.perf_counter() - start)
