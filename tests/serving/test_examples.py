"""Each example runs as documented: started in a subprocess, requested, scraped, stopped."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import httpx
from conftest import free_port, wait_until

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _get(url: str) -> httpx.Response | None:
    try:
        return httpx.get(url, timeout=2)
    except httpx.HTTPError:
        return None


def _run(args: list[str]) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _stop(proc: subprocess.Popen[str]) -> None:
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


def test_fastapi_example() -> None:
    port = free_port()
    proc = _run([str(EXAMPLES / "fastapi_app.py"), "--port", str(port)])
    try:
        first = wait_until(lambda: _get(f"http://127.0.0.1:{port}/items/3"), timeout=30)
        assert first.status_code == 200
        body = httpx.get(f"http://127.0.0.1:{port}/telemetry/metrics").text
        assert 'http_route="/items/{item_id}"' in body
    finally:
        _stop(proc)


def test_flask_example() -> None:
    port = free_port()
    proc = _run([str(EXAMPLES / "flask_app.py"), "--port", str(port)])
    try:
        wait_until(lambda: _get(f"http://127.0.0.1:{port}/items/3"), timeout=30)
        body = httpx.get(f"http://127.0.0.1:{port}/telemetry/metrics").text
        assert 'endpoint="/items/<int:item_id>"' in body
    finally:
        _stop(proc)


def test_threaded_example() -> None:
    port = free_port()
    proc = _run([str(EXAMPLES / "threaded_service.py"), "--prometheus", f"127.0.0.1:{port}"])
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().startswith("metrics: http://127.0.0.1:")
        body = wait_until(lambda: (r := _get(f"http://127.0.0.1:{port}/metrics")) and
                          "network_rpc_duration_seconds_count" in r.text and r.text, timeout=30)
        assert 'swimlane="gossip"' in body
    finally:
        _stop(proc)
    assert proc.returncode == 0
