"""Fork: a child reports only its own counts under its own service.instance.id; nothing deadlocks."""

from __future__ import annotations

import os
import threading
import time

import pytest
from conftest import Rotel

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


def test_parent_five_child_one_never_six(rotel: Rotel) -> None:
    guard = otelsvc.start(service_name="forky", prometheus="127.0.0.1:0", otlp_endpoint=rotel.grpc_endpoint,
                          export_interval=3600, set_global=False, runtime_metrics=False)
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
        seen = {(m.resource["service.instance.id"], p.value) for m in rotel.metrics() if m.name == name
                for p in m.points}
        child_ids = {i for i, _ in seen if i != parent_id}
        assert seen == {(parent_id, 5.0), (next(iter(child_ids)), 1.0)}, seen
    # a tracer made before the fork stamps the child's spans with the child's instance id
    child_spans = [s for s in rotel.spans() if s.get("name") == "in-child"]
    assert child_spans and child_spans[0]["resource"]["service.instance.id"] not in (parent_id, None)


def test_fork_while_threads_record_does_not_deadlock(rotel: Rotel) -> None:
    guard = otelsvc.start(prometheus=None, otlp_endpoint=rotel.grpc_endpoint, export_interval=3600,
                          set_global=False, runtime_metrics=False)
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
    child_points = [p.value for m in rotel.metrics() if m.name == "busy.sdk" for p in m.points
                    if p.attributes.get("t") == "child"]
    assert child_points == [1.0] * 5
    child_handles = [p.value for m in rotel.metrics() if m.name == "busy.handle" for p in m.points
                     if p.value == 1.0]
    assert len(child_handles) == 5
