"""Process signals stay with the threads that can run their Python handlers.

CPython runs signal handlers in the main thread, but the kernel may deliver a signal to any thread
that does not block it. Delivered to a background thread, SIGTERM or SIGINT does not interrupt a
main thread waiting in ``time.sleep()`` or ``Event.wait()``, and the program's handler (or the
guard's flush-on-SIGTERM) runs late or never. Every thread otelsvc or the SDK starts for a guard
therefore blocks them: threads inherit the mask of the thread that starts them.
"""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterator

__all__ = ["SIGNALS", "block_in_this_thread", "threads_started_without_signals"]

SIGNALS = {getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2")
           if hasattr(signal, name)}


def block_in_this_thread() -> None:
    """Block the usual process signals in the calling (background) thread."""
    if hasattr(signal, "pthread_sigmask"):
        with contextlib.suppress(OSError, ValueError):
            signal.pthread_sigmask(signal.SIG_BLOCK, SIGNALS)


@contextlib.contextmanager
def threads_started_without_signals() -> Iterator[None]:
    """Threads started inside the block have the usual process signals blocked; the caller's mask is
    restored at the end."""
    if not hasattr(signal, "pthread_sigmask"):
        yield
        return
    try:
        previous = signal.pthread_sigmask(signal.SIG_BLOCK, SIGNALS)
    except (OSError, ValueError):
        yield
        return
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)
