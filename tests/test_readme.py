"""The README's snippets do what it says when pasted: the Quick start runs with no collector and
exits promptly, printing its samples and ``flushed: True``; the FastAPI snippet serves each metric
family once, under /telemetry only."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _python_block(containing: str) -> str:
    blocks = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
    return next(block for block in blocks if containing in block)


def test_quick_start_runs_with_no_collector() -> None:
    code = _python_block('create_counter("orders.placed"')
    assert "otel-collector" not in code
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "OTELSVC_"))}
    env["OTELSVC_PROMETHEUS"] = "127.0.0.1:0"  # the snippet's default 9464 may be taken on a test machine
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == "", "no error lines without a collector"
    lines = proc.stdout.splitlines()
    assert lines[-1] == "flushed: True"
    assert any(line.startswith("orders_placed_total{") and line.endswith(" 1.0") for line in lines), lines
    assert any(line.startswith("payments_accepted_total{") for line in lines), lines


_DRIVE_FASTAPI = """
from collections import Counter
from starlette.testclient import TestClient
with TestClient(app) as client:
    assert client.get("/items/3").json() == {"item_id": 3}
    body = client.get("/telemetry/metrics").text
types = Counter(line.split()[2] for line in body.splitlines() if line.startswith("# TYPE "))
print("DUPLICATES", sorted(name for name, n in types.items() if n > 1))
print("BUILTIN", guard.prometheus_address)
print("CLASSIC", "http_requests_total{" in body)
print("FLUSHED", guard.shutdown())
"""


def test_fastapi_snippet_serves_each_family_once() -> None:
    code = _python_block("app = FastAPI(") + _DRIVE_FASTAPI
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "OTELSVC_"))}
    proc = subprocess.run([sys.executable, "-W", "ignore", "-c", code], capture_output=True, text=True, timeout=60,
                          env=env)
    assert proc.returncode == 0, proc.stderr
    out = dict(line.split(" ", 1) for line in proc.stdout.splitlines())
    assert out == {"DUPLICATES": "[]", "BUILTIN": "None", "CLASSIC": "True", "FLUSHED": "True"}, proc.stdout


def test_testing_snippet_runs() -> None:
    code = _python_block("start_testing()")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
