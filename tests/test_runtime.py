"""Process metrics: uptime counts from the process start (a forked child from its fork), the GC
generation is an int attribute."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

from otelsvc._runtime import process_start_time
from otelsvc.testing import start_testing

CHILD = """
import json, os, sys, time
time.sleep(0.6)  # before otelsvc is imported: the uptime must still include it
from otelsvc.testing import start_testing
guard = start_testing(runtime_metrics=True)
parent = guard.value("process.uptime")
r, w = os.pipe()
pid = os.fork()
if pid == 0:
    time.sleep(0.3)
    os.write(w, json.dumps(guard.value("process.uptime")).encode())
    os._exit(0)
os.waitpid(pid, 0)
print(json.dumps({"parent": parent, "child": json.loads(os.read(r, 100))}))
"""


def test_uptime_counts_from_process_start_and_from_the_fork() -> None:
    out = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True, check=True, timeout=60)
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    assert seen["parent"] >= 0.6
    assert 0.3 <= seen["child"] < seen["parent"] + 0.3


def test_process_start_time_is_before_now() -> None:
    start = process_start_time()
    assert start <= time.time()
    assert start == process_start_time()
    assert os.getpid() > 0


def test_gc_generation_is_an_int() -> None:
    guard = start_testing(runtime_metrics=True)
    try:
        generations = [a["cpython.gc.generation"] for a, _ in guard.series("cpython.gc.collections")]
        assert sorted(generations) == list(range(len(generations))) and len(generations) >= 3
        assert all(type(g) is int for g in generations)
    finally:
        guard.shutdown()
