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
    env = {
        **os.environ,
        "OTEL_EXPORTER_OTLP_ENDPOINT": rotel.grpc_endpoint,
        "OTEL_METRIC_EXPORT_INTERVAL": "300",
        "OTELSVC_PROMETHEUS": "off",
    }
    proc = subprocess.Popen(
        [gunicorn, "--preload", "-w", "2", "-b", f"127.0.0.1:{port}", "--chdir", str(EXAMPLES), "gunicorn_app:app"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:

        def get() -> str | None:
            try:
                r = httpx.get(f"http://127.0.0.1:{port}/", timeout=5)
            except httpx.HTTPError:
                return None
            return r.text.split()[-1] if r.status_code == 200 else None

        served: dict[str, int] = {}  # instance id -> requests that worker answered
        total = 60
        for i in range(total):
            instance = wait_until(get, timeout=30) if i == 0 else get()
            assert instance is not None
            served[instance] = served.get(instance, 0) + 1
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)

    def per_instance(name: str) -> dict[str, float]:
        latest: dict[str, float] = {}
        for metric in rotel.metrics():
            if metric.name == name:
                latest[metric.resource["service.instance.id"]] = sum(
                    (p.value if p.count is None else p.count) or 0 for p in metric.points
                )
        return latest

    # an SDK counter made from the guard's meter provider in the master, before the fork
    counts = wait_until(lambda: (c := per_instance("example.requests")) and sum(c.values()) == total and c, timeout=30)
    # the http family, recorded through pre-bound handles by the middleware
    durations = wait_until(
        lambda: (c := per_instance("http.server.request.duration")) and sum(c.values()) == total and c, timeout=30
    )
    assert counts == durations, (counts, durations)
    assert len(counts) >= 1 and all(v > 0 for v in counts.values()), out[-2000:]
    # each worker pushed exactly what it served, under the id it reported: never a sibling's or the master's
    assert counts == {k: float(v) for k, v in served.items()}, (counts, served)
