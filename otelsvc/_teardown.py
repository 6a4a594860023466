"""Run blocking steps side by side against one deadline; report what failed or ran over.

The SDK's shutdown and flush calls can block far past any timeout given to them (a retry loop
against a dead collector, an HTTP read from a server that never answers). Each step here runs in a
daemon thread; the caller waits only until the deadline, then calls the step's abort (which closes
channels and stops retry loops) and moves on. Daemon threads never keep the interpreter alive.

A step that returns in time has not necessarily delivered anything: the SDK swallows export
failures. So each step may carry a ``verdict``, asked after it returned, that says why the component
still failed (an export that failed, spans left undelivered). The result is False exactly when some
step is logged, and each failed step is logged exactly once.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from otelsvc._health import ExporterHealth
from otelsvc._logging import logger

__all__ = ["Step", "export_verdict", "run_steps"]


@dataclass
class Step:
    """One named piece of teardown: what to run, how to cut it short, and how to judge its outcome.

    ``verdict`` is called only when ``run`` returned in time without raising or returning False;
    it returns None when the component succeeded, else a short reason for the log line.
    """

    component: str
    run: Callable[[], object]
    abort: Callable[[], None] | None = None
    verdict: Callable[[], str | None] | None = None


def run_steps(steps: Sequence[Step], deadline: float, action: str = "shutdown") -> bool:
    """Run ``steps`` concurrently until ``deadline`` (monotonic); True when all finished cleanly.

    Each step that did not succeed is logged once on ``otelsvc``, naming the component; nothing raises.
    """
    results: dict[int, BaseException | bool] = {}
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
            _abort(step)
            continue
        reason = _failure(step, results.get(index))
        if reason is not None:
            ok = False
            logger.warning("otelsvc: %s of %s failed: %s", action, step.component, reason)
    return ok


def _failure(step: Step, outcome: BaseException | bool | None) -> str | None:
    """Why a step that returned in time still failed, or None."""
    if isinstance(outcome, BaseException):
        return f"{type(outcome).__name__}: {outcome}"
    if outcome is False:
        return "reported failure"
    if step.verdict is None:
        return None
    try:
        return step.verdict()
    except Exception as exc:
        return f"could not tell whether it succeeded ({type(exc).__name__}: {exc})"


def _abort(step: Step) -> None:
    if step.abort is None:
        return
    try:
        step.abort()
    except Exception as exc:
        logger.warning("otelsvc: aborting %s failed: %s", step.component, type(exc).__name__)


def export_verdict(
    health: ExporterHealth | None, pending: Callable[[], int] | None = None, items: str = "span(s)"
) -> Callable[[], str | None] | None:
    """A verdict for a step that pushes through the exporter behind ``health``; build it before the step runs.

    The step failed when the last export it saw failed (a failure followed by a successful retry
    is a success), when spans were dropped during it, or when ``pending()`` spans remain undelivered.
    """
    if health is None:
        return None
    failures_before = health.total_failures
    dropped_before = health.dropped

    def verdict() -> str | None:
        error = health.last_error or "collector unreachable"
        left = pending() if pending is not None else 0
        if left:
            return f"{left} {items} not delivered ({error})"
        if health.dropped > dropped_before:
            return f"{health.dropped - dropped_before} {items} dropped, the retry buffer was full ({error})"
        if health.total_failures > failures_before and health.consecutive_failures:
            return f"the export failed ({error})"
        return None

    return verdict
