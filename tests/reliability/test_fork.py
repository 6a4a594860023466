"""Fork: a child reports only its own counts under its own service.instance.id; nothing deadlocks."""

from __future__ import annotations

import os
import threading
import time

import pytest
from _faults import StallingProxy
from conftest import Rotel, wait_until

import otelsvc

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")


def _wait_child(pid: int, timeout: float = 30.0) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.02)
    os.kill(pid, 9)
    pytest.fail("child did not finish (deadlock?)")


def _ids(rotel: Rotel, name: str) -> set[tuple[str, float]]:
    return {
        (m.resource["service.instance.id"], p.value or 0.0) for m in rotel.metrics() if m.name == name for p in m.points
    }


@pytest.mark.parametrize("protocol", ["grpc", "http/protobuf"])
def test_parent_five_child_one_never_six(rotel: Rotel, protocol: str) -> None:
    guard = otelsvc.start(
        service_name="forky",
        prometheus="127.0.0.1:0",
        otlp_endpoint=rotel.endpoint(protocol),
        otlp_protocol=protocol,
        export_interval=3600,
        set_global=False,
        runtime_metrics=False,
    )
    counter = guard.meter_provider.get_meter("app").create_counter("fork.sdk")
    handle = guard.bridge.instrument("fork.handle", "counter", "", "", ("k",)).bind("v")
    counter.add(5)
    handle.add(5)
    tracer = guard.tracer("app")
    parent_id = guard.resource.attributes["service.instance.id"]
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            counter.add(1)
            handle.add(1)
            with tracer.start_as_current_span("in-child"):
                pass
            code = 0 if guard.shutdown(timeout=10) else 2
        finally:
            os._exit(code)
    assert _wait_child(pid) == 0
    assert guard.shutdown(timeout=10)
    for name in ("fork.sdk", "fork.handle"):
        rotel.wait_metric(name, lambda m: m.resource.get("service.instance.id") == parent_id)
        seen = _ids(rotel, name)
        child_ids = {i for i, _ in seen if i != parent_id}
        assert seen == {(parent_id, 5.0), (next(iter(child_ids)), 1.0)}, seen
    # a tracer made before the fork stamps the child's spans with the child's instance id
    child_spans = [s for s in rotel.spans() if s.get("name") == "in-child"]
    assert child_spans and child_spans[0]["resource"]["service.instance.id"] not in (parent_id, None)


def test_fork_while_threads_record_does_not_deadlock(rotel: Rotel) -> None:
    guard = otelsvc.start(
        prometheus=None,
        otlp_endpoint=rotel.grpc_endpoint,
        export_interval=3600,
        set_global=False,
        runtime_metrics=False,
    )
    counter = guard.meter("app").create_counter("busy.sdk")
    handle = guard.bridge.instrument("busy.handle", "counter").bind()
    stop = threading.Event()

    def hammer() -> None:
        while not stop.is_set():
            counter.add(1, {"t": "x"})
            handle.add(1)

    threads = [threading.Thread(target=hammer) for _ in range(3)]
    for t in threads:
        t.start()
    try:
        for _ in range(5):
            time.sleep(0.01)
            pid = os.fork()
            if pid == 0:
                code = 1
                try:
                    counter.add(1, {"t": "child"})
                    handle.add(1)
                    code = 0 if guard.shutdown(timeout=10) else 2
                finally:
                    os._exit(code)
            assert _wait_child(pid) == 0
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert guard.shutdown(timeout=10)
    child_points = [
        p.value for m in rotel.metrics() if m.name == "busy.sdk" for p in m.points if p.attributes.get("t") == "child"
    ]
    assert child_points == [1.0] * 5
    child_handles = [p.value for m in rotel.metrics() if m.name == "busy.handle" for p in m.points if p.value == 1.0]
    assert len(child_handles) == 5


def test_second_guard_child_ids_derive_from_the_users_and_agree(rotel: Rotel) -> None:
    """The SDK's providers re-detect a random service.instance.id in a forked child; for a guard made
    after another one (or after a shutdown) that used to win over otelsvc's own, so SDK instruments
    and handles exported under different ids and the user's id was lost."""
    otelsvc.start(prometheus=None, set_global=False, runtime_metrics=False).shutdown()
    guard = otelsvc.start(
        prometheus=None,
        otlp_endpoint=rotel.grpc_endpoint,
        export_interval=3600,
        set_global=False,
        runtime_metrics=False,
        resource_attributes={"service.instance.id": "svc-1"},
    )
    counter = guard.meter("app").create_counter("second.sdk")
    handle = guard.counter("second.handle").bind()
    tracer = guard.tracer("app")
    counter.add(5)
    handle.add(5)
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            counter.add(1)
            handle.add(1)
            with tracer.start_as_current_span("second-child"):
                pass
            code = 0 if guard.shutdown(timeout=10) else 2
        finally:
            os._exit(code)
    assert _wait_child(pid) == 0
    assert guard.shutdown(timeout=10)
    child = f"svc-1-{pid}"
    for name in ("second.sdk", "second.handle"):
        rotel.wait_metric(name, lambda m: m.resource.get("service.instance.id") == "svc-1")
        assert _ids(rotel, name) == {("svc-1", 5.0), (child, 1.0)}
    spans = [s for s in rotel.spans() if s.get("name") == "second-child"]
    assert spans and spans[0]["resource"]["service.instance.id"] == child


def test_fork_during_an_export_in_flight(rotel: Rotel, monkeypatch: pytest.MonkeyPatch) -> None:
    """A fork while the periodic reader is inside an OTLP export (its export lock held): the child
    still pushes its own counts, and the parent, unaffected, goes on with its own."""
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TIMEOUT", "20000")  # milliseconds
    proxy = StallingProxy(rotel.grpc_port)
    guard = otelsvc.start(
        prometheus=None,
        otlp_endpoint=f"http://127.0.0.1:{proxy.port}",
        export_interval=0.2,
        set_global=False,
        runtime_metrics=False,
    )
    try:
        counter = guard.meter_provider.get_meter("app").create_counter("inflight.sdk")
        handle = guard.counter("inflight.handle").bind()
        counter.add(5)
        handle.add(5)
        parent_id = str(guard.resource.attributes["service.instance.id"])
        rotel.wait_metric("inflight.sdk", lambda m: m.resource.get("service.instance.id") == parent_id)
        proxy.stall()
        wait_until(lambda: proxy.held > 0, timeout=10)  # the next push is stuck in flight
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                counter.add(1)
                handle.add(1)
                code = 0 if guard.shutdown(timeout=15) else 2
            finally:
                os._exit(code)
        proxy.flow()
        counter.add(2)
        handle.add(2)
        assert _wait_child(pid) == 0, "the child could not push (a lock held at fork time?)"
        assert guard.shutdown(timeout=10)
        for name in ("inflight.sdk", "inflight.handle"):
            rotel.wait_metric(name, lambda m: any(p.value == 1.0 for p in m.points))
            # The parent's last push (at its shutdown) may reach rotel's log after the child's.
            rotel.wait_metric(
                name,
                lambda m: m.resource.get("service.instance.id") == parent_id and any(p.value == 7.0 for p in m.points),
            )
            latest: dict[str, float] = {}
            for instance, value in sorted(_ids(rotel, name), key=lambda iv: iv[1]):
                latest[instance] = value
            assert latest[parent_id] == 7.0
            assert {v for k, v in latest.items() if k != parent_id} == {1.0}, latest
            assert 6.0 not in {v for _, v in _ids(rotel, name)}
    finally:
        guard.shutdown(timeout=2)
        proxy.close()
