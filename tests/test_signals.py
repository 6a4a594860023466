"""SIGTERM: the guard flushes before the default action; a program's own handler is kept."""

from __future__ import annotations

import signal
import subprocess
import sys

from conftest import Rotel

CHILD = """
import os, signal, sys, time, otelsvc
if sys.argv[2] == "own":
    # os.write, not print: the signal may land while the main thread is still inside print("READY"),
    # and a buffered stdout refuses a reentrant call.
    signal.signal(signal.SIGTERM, lambda s, f: (os.write(1, b"OWN HANDLER\\n"), sys.exit(3)))
guard = otelsvc.start(prometheus=None, otlp_endpoint=sys.argv[1], export_interval=3600, set_global=False)
guard.meter("m").create_counter("flushed.on.sigterm").add(11)
print("READY", flush=True)
time.sleep(60)
"""


def _start(rotel: Rotel, mode: str) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, rotel.grpc_endpoint, mode],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
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
    out, err = proc.communicate(timeout=20)
    assert proc.returncode == 3, err
    assert "OWN HANDLER" in out
    # sys.exit runs atexit, where the guard still flushes.
    assert rotel.wait_metric("flushed.on.sigterm").points[0].value == 11


def test_every_thread_a_guard_starts_leaves_sigterm_to_the_main_thread() -> None:
    """Delivered to a background thread, SIGTERM would not wake a main thread asleep in time.sleep()."""
    code = """
import os, re, signal, threading, otelsvc
guard = otelsvc.start(prometheus="127.0.0.1:0", otlp_endpoint="http://127.0.0.1:9", set_global=False)
main = threading.main_thread().native_id
for tid in os.listdir(f"/proc/{os.getpid()}/task"):
    status = open(f"/proc/{os.getpid()}/task/{tid}/status").read()
    blocked = int(re.search(r"SigBlk:\\s*([0-9a-f]+)", status).group(1), 16) >> (signal.SIGTERM - 1) & 1
    print("MAIN" if int(tid) == main else "OTHER", blocked)
guard.shutdown(timeout=1)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60).stdout.split("\n")
    rows = [line.split() for line in out if line]
    assert ["MAIN", "0"] in rows
    others = [blocked for kind, blocked in rows if kind == "OTHER"]
    assert len(others) >= 3 and set(others) == {"1"}, rows
