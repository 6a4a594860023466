"""``otelsvc.testing``: what a test reads back from the testing guard."""

from __future__ import annotations

from opentelemetry.trace import SpanKind

from otelsvc.testing import start_testing


def test_testing_guard_reads_back_metrics() -> None:
    guard = start_testing()
    try:
        guard.meter("m").create_counter("jobs.done").add(2, {"queue": "a"})
        assert guard.value("jobs.done", {"queue": "a"}) == 2
        assert guard.value("jobs.done", {"queue": "b"}) is None
    finally:
        guard.shutdown()


def test_testing_guard_reads_back_spans() -> None:
    guard = start_testing()
    try:
        tracer = guard.tracer("checkout")
        with tracer.start_as_current_span("place-order", kind=SpanKind.SERVER) as parent:
            parent.set_attribute("order.id", 7)
            with tracer.start_as_current_span("charge"):
                pass
        (charge,) = guard.spans("charge")
        (order,) = guard.spans("place-order")
        assert [s.name for s in guard.spans()] == ["charge", "place-order"]
        assert charge.parent is not None and charge.parent.span_id == order.context.span_id
        assert order.kind == SpanKind.SERVER and order.attributes == {"order.id": 7}
        guard.clear_spans()
        assert guard.spans() == []
    finally:
        guard.shutdown()


def test_testing_guard_reads_back_exemplars() -> None:
    guard = start_testing()
    try:
        latency = guard.histogram("work.duration", unit="s", buckets=(0.1, 1.0)).bind()
        requests = guard.meter("m").create_counter("requests")
        with guard.tracer("t").start_as_current_span("work") as span:
            latency.record(0.5)
        (exemplar,) = guard.exemplars("work.duration")
        assert exemplar.value == 0.5 and exemplar.trace_id == span.get_span_context().trace_id
        assert guard.exemplars("work.duration") == []  # each read takes what came since the previous one
        with guard.tracer("t").start_as_current_span("more") as span:
            requests.add(1, {"route": "/a"})
        assert [e.span_id for e in guard.exemplars("requests", route="/a")] == [span.get_span_context().span_id]
        assert guard.exemplars("requests", route="/b") == [] and guard.exemplars("nothing") == []
    finally:
        guard.shutdown()
