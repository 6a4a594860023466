"""SIGTERM: the guard flushes before the default action; a program's own handler is kept."""

from __future__ import annotations

import signal
import subprocess
import sys

from conftest import Rotel

CHILD = """
import signal, sys, time, otelsvc
if sys.argv[2] == "own":
    signal.signal(signal.SIGTERM, lambda s, f: (print("OWN HANDLER", flush=True), sys.exit(3)))
guard = otelsvc.start(prometheus=None, otlp_endpoint=sys.argv[1], export_interval=3600, set_global=False)
guard.meter("m").create_counter("flushed.on.sigterm").add(11)
print("READY", flush=True)
time.sleep(60)
"""


def _start(rotel: Rotel, mode: str) -> subprocess.Popen[str]:
    proc = subprocess.Popen([sys.executable, "-c", CHILD, rotel.grpc_endpoint, mode], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "READY"
    return proc


def test_sigterm_flushes_then_terminates(rotel: Rotel) -> None:
    proc = _start(rotel, "default")
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(20) == -signal.SIGTERM
    metric = rotel.wait_metric("flushed.on.sigterm")
    assert metric.points[0].value == 11


def test_programs_own_sigterm_handler_is_not_replaced(rotel: Rotel) -> None:
    proc = _start(rotel, "own")
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=20)
    assert proc.returncode == 3
    assert "OWN HANDLER" in out
    # sys.exit runs atexit, where the guard still flushes.
    assert rotel.wait_metric("flushed.on.sigterm").points[0].value == 11
