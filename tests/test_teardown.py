"""run_steps: every step that did not succeed is logged once naming it, and the result agrees with the log."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

import pytest

from otelsvc._health import ExporterHealth
from otelsvc._teardown import Step, export_verdict, run_steps


def _teardown_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    messages = [r.getMessage() for r in caplog.records if r.name == "otelsvc"]
    return [m for m in messages if m.startswith("otelsvc: shutdown of")]


def _returns(value: object) -> Callable[[], object]:
    return lambda: value


def _raises() -> object:
    raise RuntimeError("channel closed")


@pytest.mark.parametrize(
    ("step", "fails"),
    [
        (Step("ok", _returns(None)), False),
        (Step("ok-true", _returns(True)), False),
        (Step("false", _returns(False)), True),
        (Step("raises", _raises), True),
        (Step("verdict-ok", _returns(None), verdict=lambda: None), False),
        (Step("verdict-failed", _returns(None), verdict=lambda: "the export failed (refused)"), True),
    ],
    ids=lambda v: v.component if isinstance(v, Step) else str(v),
)
def test_each_failed_step_is_logged_once_and_the_result_agrees(
    step: Step, fails: bool, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="otelsvc")
    ok = run_steps([Step("other", _returns(None)), step], time.monotonic() + 5)
    lines = _teardown_lines(caplog)
    assert ok is not fails
    assert lines == ([line for line in lines if f"shutdown of {step.component} " in line] if fails else [])
    assert len(lines) == (1 if fails else 0), lines


def test_a_step_past_the_deadline_is_logged_once_and_aborted(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="otelsvc")
    release = threading.Event()
    aborted = threading.Event()
    verdicts: list[str] = []

    def abort() -> None:
        aborted.set()
        release.set()

    stuck = Step("stuck", release.wait, abort, verdict=lambda: verdicts.append("asked") or None)  # type: ignore[func-returns-value]
    assert run_steps([stuck], time.monotonic() + 0.05) is False
    assert aborted.is_set()
    assert verdicts == [], "a step that ran over is judged by the deadline alone"
    lines = _teardown_lines(caplog)
    assert len(lines) == 1 and "stuck did not finish in time" in lines[0]


def test_a_verdict_that_raises_counts_as_failure(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="otelsvc")

    def broken() -> str | None:
        raise KeyError("x")

    assert run_steps([Step("odd", _returns(None), verdict=broken)], time.monotonic() + 5) is False
    assert len(_teardown_lines(caplog)) == 1


def test_export_verdict_reads_what_happened_during_the_step() -> None:
    health = ExporterHealth("metrics", "http://127.0.0.1:1")
    health.failure("earlier outage")
    verdict = export_verdict(health)
    assert verdict is not None
    assert verdict() is None, "failures before the step are not the step's"
    health.failure("UNAVAILABLE")
    assert verdict() == "the export failed (UNAVAILABLE)"
    health.success()
    assert verdict() is None, "a failure followed by a successful retry is a success"
    assert export_verdict(None) is None


def test_export_verdict_for_spans_counts_pending_and_dropped() -> None:
    health = ExporterHealth("spans", "http://127.0.0.1:1")
    pending = [0]
    verdict = export_verdict(health, lambda: pending[0])
    assert verdict is not None and verdict() is None
    pending[0] = 3
    assert verdict() == "3 span(s) not delivered (collector unreachable)"
    pending[0] = 0
    health.dropped += 2
    assert verdict() is not None and "2 span(s) dropped" in verdict()  # type: ignore[operator]
