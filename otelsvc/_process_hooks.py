"""Process-wide hooks shared by all live guards: exit, SIGTERM and fork.

Each hook is installed once and dispatches to the guards alive at that moment, so two guards in one
process never fight over a handler. A program's own SIGTERM handler is never replaced.
"""

from __future__ import annotations

import atexit
import os
import signal
import threading
import weakref
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


def _after_fork_in_child() -> None:
    global _lock
    _lock = threading.Lock()
    for guard in _live():
        try:
            guard._after_fork_in_child()
        except Exception as exc:
            logger.warning("otelsvc: resetting telemetry after fork failed: %s: %s", type(exc).__name__, exc)


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
            os.register_at_fork(after_in_child=_after_fork_in_child)
        _guards.add(guard)
        _install_sigterm()


def unregister(guard: Any) -> None:
    """Stop tracking ``guard``; the last one out gives SIGTERM back to the default."""
    with _lock:
        _guards.discard(guard)
        if not _live():
            _remove_sigterm()
