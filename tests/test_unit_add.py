"""The lock-free unit ``add()`` of a counter handle: exact under threads, and the same sum as adding in
call order whatever else is added between units (floats, large ints, bools)."""

from __future__ import annotations

import re
import threading
from typing import Any

import pytest
from conftest import Rotel

import otelsvc


@pytest.fixture
def guard(monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("OTEL_METRICS_EXEMPLAR_FILTER", "always_off")  # the unit path is for exemplars off
    g = otelsvc.start(prometheus=None, set_global=False, runtime_metrics=False)
    yield g
    g.shutdown()


def test_unit_adds_exact_under_threads(guard: Any) -> None:
    handle = guard.counter("unit.threads", labels=("k",)).bind("v")
    adds = 200_000
    barrier = threading.Barrier(2)

    def work() -> None:
        add = handle.add
        barrier.wait()
        for _ in range(adds):
            add()
        for _ in range(1000):
            add(2)  # locked adds interleaved with the other thread's unit adds

    handle.add()
    assert handle._unit  # the lock-free path is the one under test
    threads = [threading.Thread(target=work) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert handle.snapshot() == 2 * adds + 2 * 2000 + 1


@pytest.mark.parametrize("between", [0.1, 2.5e-7, 3, True, 2**62, 2**63, 10**400])
def test_same_sum_as_in_call_order(guard: Any, between: Any) -> None:
    handle = guard.counter(f"unit.order.{between!r:.20}", labels=("k",)).bind("v")
    expected: Any = 0
    for step in range(3):
        for _ in range(5):
            handle.add()
            expected = expected + 1
        handle.add(between)
        if between != 10**400:
            expected = expected + between
            if isinstance(expected, int) and expected > 2**63 - 1:
                expected = float(expected)
        if step == 1:
            assert handle.snapshot() == expected  # a read in between folds the pending units
    for _ in range(5):
        handle.add(1)
        expected = expected + 1
    value = handle.snapshot()
    assert value == expected and type(value) is type(expected)


def test_unit_path_closed_with_exemplars_always_on(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_METRICS_EXEMPLAR_FILTER", "always_on")
    g = otelsvc.start(prometheus=None, set_global=False, runtime_metrics=False)
    try:
        handle = g.counter("unit.exemplars", labels=("k",)).bind("v")
        for _ in range(3):
            handle.add()
        assert not handle._unit and handle.snapshot() == 3
        assert handle.exemplars(0)  # every add may take the exemplar: none skips the lock
    finally:
        g.shutdown()


def test_trace_based_unit_path_outside_spans_exemplar_inside(monkeypatch: pytest.MonkeyPatch) -> None:
    from otelsvc.testing import start_testing

    g = start_testing()  # the default filter: trace_based
    try:
        handle = g.counter("unit.traced", labels=("k",)).bind("v")
        for _ in range(3):
            handle.add()
        assert handle._unit  # outside any span: lock-free
        with g.tracer("t").start_as_current_span("s") as span:
            handle.add()  # inside a sampled span: the locked path, which takes the exemplar
        (exemplar,) = handle.exemplars(0)
        assert exemplar[0] == 1 and exemplar[2] == span.get_span_context().trace_id
        for _ in range(2):
            handle.add()
        assert handle.snapshot() == 6
    finally:
        g.shutdown()


def test_unit_path_after_fork_reset(guard: Any) -> None:
    handle = guard.counter("unit.reset", labels=("k",)).bind("v")
    for _ in range(10):
        handle.add()
    guard.bridge.reset_after_fork()
    assert handle.snapshot() == 0
    for _ in range(3):
        handle.add()
    assert handle.snapshot() == 3


def test_pending_units_reach_the_push_and_the_scrape(rotel: Rotel, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every reader of a counter's sum folds the units pending beside it: the OTLP push first (nothing read
    the series before it), then the scrape; a handle and a thin OTel API counter (whose handles take the
    unit path whatever the exemplar filter)."""
    monkeypatch.setenv("OTEL_METRICS_EXEMPLAR_FILTER", "always_off")
    g = otelsvc.start(
        prometheus="127.0.0.1:0",
        otlp_endpoint=rotel.grpc_endpoint,
        export_interval=3600,
        set_global=False,
        runtime_metrics=False,
    )
    try:
        handle = g.counter("unit.pushed", labels=("k",)).bind("v")
        api = g.meter("unit").create_counter("unit.api")
        for _ in range(1000):
            handle.add()
            api.add(1)
        assert handle._unit and handle._count is not None  # units are pending, not yet in the sum
        assert g.force_flush(timeout=10)
        assert rotel.wait_metric("unit.pushed").points[0].value == 1000
        assert rotel.wait_metric("unit.api").points[0].value == 1000
        text = g.render_metrics().decode()
        assert re.search(r'^unit_pushed_total\{k="v",.*\} 1000\.0$', text, re.M)
        assert re.search(r"^unit_api_total\{.*\} 1000\.0$", text, re.M)
    finally:
        g.shutdown()
