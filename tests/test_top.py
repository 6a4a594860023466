"""``otelsvc top`` in a real terminal (tmux) against the running demo, and against a token- and TLS-protected guard."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import trustme
from _demo_process import running_demo

import otelsvc
from otelsvc._cli import main
from otelsvc._top import metrics_url


@pytest.fixture
def tmux() -> Iterator[list[str]]:
    """A private tmux server (its own socket), killed afterwards."""
    binary = shutil.which("tmux")
    if binary is None:
        if os.environ.get("CI"):
            pytest.fail("tmux is required in CI (scripts/test.sh installs it)")
        pytest.skip("tmux not installed (apt-get install tmux)")
    command = [binary, "-L", f"otelsvc-test-{uuid.uuid4().hex[:12]}", "-f", "/dev/null"]
    try:
        yield command
    finally:
        subprocess.run([*command, "kill-server"], capture_output=True, timeout=10)


def _pane(tmux: list[str]) -> str:
    return subprocess.run([*tmux, "capture-pane", "-p", "-t", "top"], capture_output=True, text=True, timeout=10).stdout


def _wait_pane(tmux: list[str], done: Callable[[str], bool], timeout: float, what: str) -> str:
    """The pane once ``done(text)``; on timeout, fail showing the pane as it was."""
    deadline = time.monotonic() + timeout
    while not done(text := _pane(tmux)):
        assert time.monotonic() < deadline, f"no {what} within {timeout} s; the pane:\n{text}"
        time.sleep(0.1)
    return text


def test_top_shows_routes_and_families_live_and_leaves_cleanly_on_ctrl_c(tmux: list[str]) -> None:
    with running_demo() as url:
        # The pane's size, not the size pytest's own terminal left in COLUMNS/LINES, is what rich must use.
        env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")} | {"TERM": "xterm-256color"}
        subprocess.run(
            [
                *tmux,
                "new-session",
                "-d",
                "-s",
                "top",
                "-x",
                "200",
                "-y",
                "120",
                f"{sys.executable} -m otelsvc top {url} --interval 0.5; echo otelsvc-top-exit=$?",
            ],
            check=True,
            env=env,
            timeout=10,
        )
        subprocess.run([*tmux, "set-option", "-t", "top", "remain-on-exit", "on"], check=True, timeout=10)
        wanted = (
            "HTTP routes",
            "/orders",
            "/items/{id}",
            "req/s",
            "actor.started",
            "network.rpc.duration",
            "invoker.task.duration",
            "discovery.attempts",
            "/s ",
        )

        screen = _wait_pane(tmux, lambda text: all(w in text for w in wanted), 60, "routes and figures")
        first_stamp = screen.splitlines()[0]
        # Refreshing in place: the header's clock moves, and the view is drawn once (not appended).
        refreshed = _wait_pane(tmux, lambda text: text.splitlines()[:1] != [first_stamp], 30, "a redraw")
        assert refreshed.count("HTTP routes") == 1, refreshed
        subprocess.run([*tmux, "send-keys", "-t", "top", "C-c"], check=True, timeout=10)

        # The shell prints top's exit status (130 had Ctrl-C killed it instead of ending it cleanly).
        done = _wait_pane(tmux, lambda text: "otelsvc-top-exit=" in text, 20, "exit after Ctrl-C")
        assert "otelsvc-top-exit=0" in done, done
        assert "Traceback" not in _pane(tmux)


def test_top_once_with_token_and_tls(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    certfile, keyfile, cafile = tmp_path / "cert.pem", tmp_path / "key.pem", tmp_path / "ca.pem"
    cert.private_key_pem.write_to_path(str(keyfile))
    cert.cert_chain_pems[0].write_to_path(str(certfile))
    ca.cert_pem.write_to_path(str(cafile))
    guard = otelsvc.start(
        prometheus="127.0.0.1:0",
        tls_certfile=str(certfile),
        tls_keyfile=str(keyfile),
        metrics_token="s3cret",
        set_global=False,
    )
    try:
        from otelsvc.instruments import DiscoveryMetrics

        discovery = DiscoveryMetrics(guard)
        discovery.finished("success", 0.2)
        url = guard.prometheus_url
        assert url is not None and url.startswith("https://")
        assert main(["top", url, "--once", "--interval", "0.05", "--token", "s3cret", "--cacert", str(cafile)]) == 0
        out = capsys.readouterr().out
        assert "discovery.attempts" in out and "discovery.duration" in out and "scrape failed" not in out
        assert main(["top", url, "--once", "--interval", "0.05", "--token", "s3cret", "--insecure"]) == 0
        assert "discovery.attempts" in capsys.readouterr().out
        assert main(["top", url, "--once", "--interval", "0.05", "--insecure"]) == 1
        assert "HTTP 401" in capsys.readouterr().out
        assert main(["top", url, "--once", "--interval", "0.05", "--token", "s3cret"]) == 1
        assert "CERTIFICATE_VERIFY_FAILED" in capsys.readouterr().out
    finally:
        guard.shutdown()


def test_top_bad_interval_and_missing_rich(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["top", "127.0.0.1:9", "--interval", "0"]) == 2
    assert "--interval=0.0" in capsys.readouterr().err
    assert main(["top", "https://127.0.0.1:9/metrics", "--once", "--cacert", "/nonexistent/ca.pem"]) == 2
    assert "--cacert='/nonexistent/ca.pem'" in capsys.readouterr().err
    monkeypatch.setitem(sys.modules, "rich.console", None)
    assert main(["top", "127.0.0.1:9", "--once"]) == 1
    assert "pip install 'otelsvc[top]'" in capsys.readouterr().err


def test_metrics_url() -> None:
    assert metrics_url("127.0.0.1:9464") == "http://127.0.0.1:9464/metrics"
    assert metrics_url("https://svc:9464/") == "https://svc:9464/metrics"
    assert metrics_url("http://svc/telemetry/metrics") == "http://svc/telemetry/metrics"
