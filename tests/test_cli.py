"""``otelsvc demo`` end to end: prints its URL, serves, pushes, stops cleanly on signals."""

from __future__ import annotations

import signal
import subprocess
import sys
import urllib.request

import pytest
from conftest import Rotel, wait_until


def _demo(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "otelsvc", "demo", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_demo_serves_pushes_and_stops_cleanly(rotel: Rotel, sig: signal.Signals) -> None:
    proc = _demo("--prometheus", "127.0.0.1:0", "--otlp-endpoint", rotel.grpc_endpoint, "--export-interval", "0.3")
    assert proc.stdout is not None
    first = proc.stdout.readline().strip()
    assert first.startswith("metrics: http://127.0.0.1:")
    url = first.split(" ", 1)[1]

    def scraped() -> str | None:
        body = urllib.request.urlopen(url, timeout=5).read().decode()
        return body if "demo_ticks_total" in body else None

    body = wait_until(scraped)
    assert "target_info" in body
    rotel.wait_metric("demo.ticks")
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    assert "flushed=True" in out


def test_demo_bad_flag_and_bad_setting_exit_2() -> None:
    proc = _demo("--prometheus", "not-an-address")
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 2
    assert "prometheus='not-an-address'" in err
    proc = subprocess.run([sys.executable, "-m", "otelsvc", "demo", "--no-such-flag"], capture_output=True,
                          text=True, timeout=30)
    assert proc.returncode == 2
    assert "--no-such-flag" in proc.stderr


def test_demo_duration_ends_by_itself() -> None:
    proc = _demo("--prometheus", "off", "--duration", "0.5")
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "stopped after" in out
