"""The ``otelsvc`` command: the demo end to end (URL, serving, push, signals, exit status), --version,
help and defaults on every flag, bad values refused with exit status 2, consistent progress lines."""

from __future__ import annotations

import argparse
import os
import re
import signal
import subprocess
import sys
import urllib.request

import pytest
from conftest import Rotel, free_port, wait_until
from hypothesis import given
from hypothesis import strategies as st

import otelsvc
from otelsvc._cli import COMMANDS, build_parser, main, positive_int
from otelsvc._demo import push_status
from otelsvc._health import ExporterHealth


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


def test_demo_exits_1_when_its_final_flush_fails() -> None:
    """Nothing listens on the collector port: the demo says so and its exit status says so too."""
    env = {**os.environ, "OTELSVC_SHUTDOWN_TIMEOUT": "1"}
    proc = subprocess.run([sys.executable, "-m", "otelsvc", "demo", "--prometheus", "off", "--duration", "0.3",
                           "--otlp-endpoint", f"http://127.0.0.1:{free_port()}"],
                          capture_output=True, text=True, timeout=60, env=env)
    assert proc.returncode == 1, proc.stderr
    assert "flushed=False" in proc.stdout
    assert "the final flush failed" in proc.stderr
    assert "shutdown of meter provider" in proc.stderr, "the failed component is named"


def test_version() -> None:
    proc = subprocess.run([sys.executable, "-m", "otelsvc", "--version"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0
    assert proc.stdout.startswith(f"otelsvc {otelsvc.__version__} (OpenTelemetry SDK 1.45.")


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def test_every_command_is_registered_once_and_every_flag_has_help_with_its_default() -> None:
    parser = build_parser()
    commands = _subparsers(parser)
    assert list(commands) == list(COMMANDS)
    for name, command in commands.items():
        flags = [a for a in command._actions if a.option_strings and not isinstance(a, argparse._HelpAction)]
        assert flags or name == "catalog", name
        for action in flags:
            assert action.help and action.help != argparse.SUPPRESS, f"{name} {action.option_strings}: no help"
            assert "(default: " in action.help, f"{name} {action.option_strings}: default not shown"
        assert "(default: " in command.format_help()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["demo", "--duration", "-5"], "--duration: '-5': must be a number of seconds greater than 0"),
        (["demo", "--duration", "0"], "--duration: '0': must be"),
        (["demo", "--duration", "nan"], "--duration: 'nan': must be"),
        (["demo", "--duration", "inf"], "--duration: 'inf': must be"),
        (["demo", "--duration", "soon"], "--duration: 'soon' is not a number of seconds"),
        (["demo", "--export-interval", "0"], "--export-interval: '0': must be"),
        (["demo", "--export-interval", "-1"], "--export-interval: '-1': must be"),
        (["demo", "--progress-every", "0"], "--progress-every: '0': must be"),
        (["demo", "--otlp-protocol", "udp"], "--otlp-protocol: invalid choice: 'udp'"),
        (["catalog", "--format", "yaml"], "--format: invalid choice: 'yaml'"),
        ([], "the following arguments are required: COMMAND"),
        (["nope"], "invalid choice: 'nope'"),
    ],
)
def test_bad_values_exit_2_with_a_message(args: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(args)
    assert info.value.code == 2
    assert message in capsys.readouterr().err


def test_positive_int() -> None:
    assert positive_int("3") == 3
    for bad in ("0", "-1", "1.5", "x"):
        with pytest.raises(argparse.ArgumentTypeError):
            positive_int(bad)


@given(
    failures=st.integers(min_value=0, max_value=1000),
    last_success=st.one_of(st.none(), st.floats(min_value=0, max_value=2e9)),
    last_error=st.one_of(st.none(), st.text(alphabet="abcxyz :", min_size=1, max_size=20)),
)
def test_push_status_never_contradicts_itself(
    failures: int, last_success: float | None, last_error: str | None
) -> None:
    health = ExporterHealth("metrics", "http://127.0.0.1:4317")
    health.consecutive_failures = failures
    health.last_success = last_success
    health.last_error = last_error
    line = push_status(health, now=2e9)
    if failures:
        assert line.startswith(f"push: failing, {failures} failure(s) in a row")
    elif last_success is not None:
        assert line.startswith("push: ok, last ") and line.endswith("s ago")
    else:
        assert line == "push: no export yet"
    assert not re.search(r"\b0 failure", line) and "False" not in line and "None" not in line


def test_push_status_follows_a_real_health_record() -> None:
    health = ExporterHealth("metrics", "http://127.0.0.1:4317")
    assert push_status(health) == "push: no export yet"
    health.failure("UNAVAILABLE")
    health.failure("UNAVAILABLE")
    assert push_status(health) == "push: failing, 2 failure(s) in a row (UNAVAILABLE)"
    health.success()
    assert push_status(health, now=health.last_success + 3.2) == "push: ok, last 3s ago"  # type: ignore[operator]
