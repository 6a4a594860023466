"""Process-wide hooks shared by all live guards: exit, SIGTERM and fork.

The exit and SIGTERM hooks are installed once and dispatch to the guards alive at that moment, so
two guards in one process never fight over a handler. A program's own SIGTERM handler is never
replaced.

The fork hook is registered per guard, when the guard is registered (after its providers exist).
``os.register_at_fork`` runs child hooks in registration order, and the SDK's MeterProvider and
TracerProvider register their own at construction: one of them merges a fresh random
``service.instance.id`` into the provider's Resource. A single process-wide hook registered by the
first guard would run *before* the SDK hooks of any later guard (a second guard, or a new start()
after shutdown), and the SDK would then overwrite the child's instance id derived by otelsvc, with
handles and SDK instruments exporting under different ids. A hook per guard always runs after that
guard's SDK hooks.

A forked child that records nothing of its own sends nothing (``QuietChildExporter``): its pushes
carry only otelsvc's housekeeping (runtime and process metrics, ``otelsvc.*`` counters) until it
records something, so an idle child neither adds a set of runtime series under a new instance id
nor waits at exit for an unreachable collector.
"""

from __future__ import annotations

import atexit
import os
import signal
import threading
import weakref
from collections.abc import Callable
from types import FrameType
from typing import TYPE_CHECKING, Any

from opentelemetry.sdk.metrics.export import MetricExporter, MetricExportResult, MetricsData

from otelsvc._logging import logger

if TYPE_CHECKING:
    from otelsvc._guard import ProviderGuard

__all__ = ["QuietChildExporter", "register", "unregister"]

_guards: weakref.WeakSet[ProviderGuard] = weakref.WeakSet()
_lock = threading.Lock()
_installed = False
_sigterm_ours = False


def _live() -> list[ProviderGuard]:
    return [g for g in list(_guards) if not g.is_shut_down]


def _at_exit() -> None:
    for guard in _live():
        guard.shutdown()


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    global _sigterm_ours
    logger.info("otelsvc: SIGTERM received; flushing telemetry before exit")
    for guard in _live():
        guard.shutdown()
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    _sigterm_ours = False
    os.kill(os.getpid(), signal.SIGTERM)


def _reset_lock_in_child() -> None:
    global _lock
    _lock = threading.Lock()


def _fork_hook(ref: weakref.ref[ProviderGuard]) -> Callable[[], None]:
    """The after-fork-in-child hook of one guard (a weak reference: a dropped guard costs nothing)."""

    def after_fork_in_child() -> None:
        guard = ref()
        if guard is None or guard.is_shut_down:
            return
        try:
            guard._after_fork_in_child()
        except Exception as exc:
            logger.warning("otelsvc: resetting telemetry after fork failed: %s: %s", type(exc).__name__, exc)

    return after_fork_in_child


def _install_sigterm() -> None:
    global _sigterm_ours
    if threading.current_thread() is not threading.main_thread():
        return
    try:
        if signal.getsignal(signal.SIGTERM) == signal.SIG_DFL:
            signal.signal(signal.SIGTERM, _on_sigterm)
            _sigterm_ours = True
    except (ValueError, OSError):
        pass


def _remove_sigterm() -> None:
    global _sigterm_ours
    if not _sigterm_ours or threading.current_thread() is not threading.main_thread():
        return
    try:
        if signal.getsignal(signal.SIGTERM) is _on_sigterm:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
        _sigterm_ours = False
    except (ValueError, OSError):
        pass


def register(guard: ProviderGuard) -> None:
    """Track ``guard`` for exit, SIGTERM and fork handling."""
    global _installed
    with _lock:
        if not _installed:
            _installed = True
            atexit.register(_at_exit)
            if hasattr(os, "register_at_fork"):
                os.register_at_fork(after_in_child=_reset_lock_in_child)
        if guard not in _guards and hasattr(os, "register_at_fork"):
            os.register_at_fork(after_in_child=_fork_hook(weakref.ref(guard)))
        _guards.add(guard)
        _install_sigterm()


def unregister(guard: Any) -> None:
    """Stop tracking ``guard``; the last one out gives SIGTERM back to the default."""
    with _lock:
        _guards.discard(guard)
        if not _live():
            _remove_sigterm()


_HOUSEKEEPING_SCOPES = ("otelsvc.runtime",)


def _housekeeping(scope: str, metric: str) -> bool:
    """Series otelsvc reports in every process by itself: not the child's own measurements."""
    return scope in _HOUSEKEEPING_SCOPES or metric.startswith("otelsvc.")


def _has_own_points(data: MetricsData) -> bool:
    """True when ``data`` holds a point of anything but otelsvc's housekeeping (handle series encoded
    beside the SDK's collection say so themselves: ``PushBatch.own_points``)."""
    own = getattr(data, "own_points", None)
    if own is not None and own():
        return True
    return any(
        metric.data.data_points
        for rm in data.resource_metrics
        for sm in rm.scope_metrics
        for metric in sm.metrics
        if not _housekeeping(sm.scope.name, metric.name)
    )


class QuietChildExporter(MetricExporter):
    """The push exporter, silent in a forked child until the child has recorded something of its own.

    In the process that built it, everything passes. In a forked child, an export holding only
    housekeeping series is answered SUCCESS without sending (so an idle child's exit does not wait
    for the collector), and the child's shutdown does not build or close a channel it never used.
    From the child's first measurement on, everything passes, its runtime series included.
    """

    def __init__(self, inner: MetricExporter) -> None:
        super().__init__(
            preferred_temporality=inner._preferred_temporality, preferred_aggregation=inner._preferred_aggregation
        )
        self.inner = inner
        self._pid = os.getpid()
        self._spoke_in: int | None = None  # the forked process that has recorded (its own children have not)

    def _quiet(self) -> bool:
        pid = os.getpid()
        return pid != self._pid and pid != self._spoke_in

    def export(self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any) -> MetricExportResult:
        if self._quiet():
            if not _has_own_points(metrics_data):
                return MetricExportResult.SUCCESS
            self._spoke_in = os.getpid()
        return self.inner.export(metrics_data, timeout_millis=timeout_millis)

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        return True if self._quiet() else self.inner.force_flush(timeout_millis)

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        if not self._quiet():
            self.inner.shutdown(timeout_millis=timeout_millis)
