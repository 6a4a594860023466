"""gunicorn pre-fork workers: each pushes only its own counts under its own instance id."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import httpx
from conftest import Rotel, free_port, wait_until

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_gunicorn_workers_report_their_own_counts(rotel: Rotel) -> None:
    gunicorn = shutil.which("gunicorn", path=os.path.dirname(sys.executable)) or shutil.which("gunicorn")
    assert gunicorn, "gunicorn comes with the test extra"
    port = free_port()
    env = {**os.environ, "OTEL_EXPORTER_OTLP_ENDPOINT": rotel.grpc_endpoint, "OTEL_METRIC_EXPORT_INTERVAL": "300",
           "OTELSVC_PROMETHEUS": "off"}
    proc = subprocess.Popen([gunicorn, "--preload", "-w", "2", "-b", f"127.0.0.1:{port}", "--chdir", str(EXAMPLES),
                             "gunicorn_app:app"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        def up() -> bool:
            try:
                return httpx.get(f"http://127.0.0.1:{port}/", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        wait_until(up, timeout=30)
        pids = set()
        total = 60
        for _ in range(total - 1):
            pids.add(httpx.get(f"http://127.0.0.1:{port}/", timeout=5).text.split()[-1])
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)

    def per_instance() -> dict[str, float]:
        latest: dict[str, float] = {}
        for metric in rotel.metrics():
            if metric.name == "example.requests":
                latest[metric.resource["service.instance.id"]] = sum(p.value or 0 for p in metric.points)
        return latest

    counts = wait_until(lambda: (c := per_instance()) and sum(c.values()) == total and c, timeout=30)
    assert len(counts) == len(pids) >= 1, (counts, pids, out[-2000:])
    assert all(v > 0 for v in counts.values())
