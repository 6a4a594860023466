"""Run blocking steps side by side against one deadline; report what failed or ran over.

The SDK's shutdown and flush calls can block far past any timeout given to them (a retry loop
against a dead collector, an HTTP read from a server that never answers). Each step here runs in a
daemon thread; the caller waits only until the deadline, then calls the step's abort (which closes
channels and stops retry loops) and moves on. Daemon threads never keep the interpreter alive.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from otelsvc._logging import logger

__all__ = ["Step", "run_steps"]


@dataclass
class Step:
    """One named piece of teardown: what to run, and how to cut it short."""

    component: str
    run: Callable[[], object]
    abort: Callable[[], None] | None = None


def run_steps(steps: Sequence[Step], deadline: float, action: str = "shutdown") -> bool:
    """Run ``steps`` concurrently until ``deadline`` (monotonic); True when all finished cleanly.

    Each failure is logged once on ``otelsvc``, naming the component; nothing raises.
    """
    results: dict[int, BaseException | bool | None] = {}
    threads = []
    for index, step in enumerate(steps):

        def target(i: int = index, s: Step = step) -> None:
            try:
                outcome = s.run()
                results[i] = outcome is not False
            except BaseException as exc:
                results[i] = exc

        thread = threading.Thread(target=target, name=f"otelsvc-{action}-{index}", daemon=True)
        thread.start()
        threads.append(thread)
    ok = True
    for index, (step, thread) in enumerate(zip(steps, threads, strict=True)):
        thread.join(max(0.0, deadline - time.monotonic()))
        if thread.is_alive():
            ok = False
            logger.warning(
                "otelsvc: %s of %s did not finish in time; abandoned (the collector may be unreachable)",
                action,
                step.component,
            )
            if step.abort is not None:
                try:
                    step.abort()
                except Exception as exc:
                    logger.warning("otelsvc: aborting %s failed: %s", step.component, type(exc).__name__)
            continue
        outcome = results.get(index)
        if isinstance(outcome, BaseException):
            ok = False
            logger.warning("otelsvc: %s of %s failed: %s: %s", action, step.component,
                           type(outcome).__name__, outcome)
        elif outcome is False:
            ok = False
            logger.warning("otelsvc: %s of %s reported failure", action, step.component)
    return ok
