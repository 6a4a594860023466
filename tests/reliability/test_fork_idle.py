"""A forked child that records nothing sends nothing, and its exit does not wait for the collector;
its runtime series appear once it records."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from _faults import SilentListener
from conftest import Rotel

import otelsvc

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")

_IDLE_CHILDREN = textwrap.dedent(
    """
    import os, sys, time
    import otelsvc

    guard = otelsvc.start(prometheus=None, otlp_endpoint=sys.argv[1], otlp_protocol=sys.argv[2],
                          set_global=False, shutdown_timeout=20, export_interval=60)
    guard.counter("parent.count").bind().add(1)
    guard.meter("app").create_counter("parent.sdk").add(1)
    times = []
    for _ in range(5):  # one after another, as the issue measured them (5 x 5.1 s at shutdown_timeout=5)
        start = time.monotonic()
        pid = os.fork()
        if pid == 0:
            sys.exit(0)  # idle: the interpreter's normal exit, where otelsvc shuts the guard down
        os.waitpid(pid, 0)
        times.append(time.monotonic() - start)
    print(" ".join(f"{t:.2f}" for t in times), flush=True)
    os._exit(0)
    """
)


@pytest.mark.parametrize("protocol", ["grpc", "http/protobuf"])
def test_idle_children_exit_promptly_against_a_silent_collector(tmp_path: Path, protocol: str) -> None:
    script = tmp_path / "idle_children.py"
    script.write_text(_IDLE_CHILDREN)
    silent = SilentListener()
    try:
        # A child held for its shutdown timeout would take 20 s each: 100 s, past this timeout.
        out = subprocess.run([sys.executable, str(script), f"http://127.0.0.1:{silent.port}", protocol],
                             capture_output=True, text=True, timeout=60)
    finally:
        silent.close()
    assert out.returncode == 0, out.stderr
    times = [float(t) for t in out.stdout.split()]
    print(f"5 idle children ({protocol}, silent collector, shutdown_timeout=20): {sum(times):.2f} s in all, "
          f"each {out.stdout.strip()} s")
    assert len(times) == 5 and max(times) < 20, times  # no child waits for its shutdown timeout
    assert "did not finish in time" not in out.stderr, out.stderr


def _wait_child(pid: int, timeout: float = 30.0) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.02)
    os.kill(pid, 9)
    pytest.fail("child did not finish")


def test_idle_child_sends_nothing_and_a_recording_child_sends_its_runtime(rotel: Rotel) -> None:
    # HTTP: what is tested is protocol-independent, and a gRPC channel used in a forked child can
    # hang when the test process has other gRPC channels busy (earlier tests' abandoned exports).
    guard = otelsvc.start(service_name="forky", prometheus=None, otlp_endpoint=rotel.http_endpoint,
                          otlp_protocol="http/protobuf", export_interval=3600, set_global=False,
                          runtime_metrics=True)
    handle = guard.counter("fork.idle.handle").bind()
    handle.add(5)
    parent_id = guard.resource.attributes["service.instance.id"]
    for records in (False, True):
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                if records:
                    handle.add(1)
                code = 0 if guard.shutdown(timeout=10) else 2
            finally:
                os._exit(code)
        assert _wait_child(pid) == 0
    assert guard.shutdown(timeout=10)
    rotel.wait_metric("fork.idle.handle", lambda m: m.resource.get("service.instance.id") == parent_id)
    metrics = rotel.metrics()
    ids = {m.resource.get("service.instance.id") for m in metrics}
    child_ids = ids - {parent_id}
    assert len(child_ids) == 1, ids  # the recording child only: the idle one sent nothing at all
    (child_id,) = child_ids
    child = [m for m in metrics if m.resource.get("service.instance.id") == child_id]
    assert [p.value for m in child if m.name == "fork.idle.handle" for p in m.points] == [1.0]
    assert any(m.scope == "otelsvc.runtime" for m in child), {m.name for m in child}
