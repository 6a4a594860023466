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

from otelsvc._logging import logger

if TYPE_CHECKING:
    from otelsvc._guard import ProviderGuard

__all__ = ["register", "unregister"]

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
