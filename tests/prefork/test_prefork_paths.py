"""Where the hubs live: a usable private directory or a ConfigError naming it; runs and services never mix."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

import otelsvc
from otelsvc import ConfigError
from otelsvc._prefork import _paths


def test_an_unwritable_directory_is_a_config_error_naming_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocked = tmp_path / "file"
    blocked.write_text("not a directory")
    monkeypatch.setenv("OTELSVC_PREFORK_DIR", str(blocked / "sub"))
    with pytest.raises(ConfigError, match=r"OTELSVC_PREFORK_DIR=.*sub"):
        otelsvc.start(prometheus="127.0.0.1:0", set_global=False)


def test_an_unusable_default_directory_only_turns_aggregation_off(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A read-only filesystem (a common container setting) must not stop a single process from starting."""
    import logging
    import tempfile
    import urllib.request

    blocked = tmp_path / "file"
    blocked.write_text("not a directory")
    monkeypatch.delenv("OTELSVC_PREFORK_DIR", raising=False)
    monkeypatch.setattr(tempfile, "tempdir", str(blocked))
    with caplog.at_level(logging.WARNING, logger="otelsvc"):
        guard = otelsvc.start(prometheus="127.0.0.1:0", set_global=False, runtime_metrics=False)
    try:
        assert "pre-fork aggregation is off" in caplog.text and "OTELSVC_PREFORK_DIR" in caplog.text
        guard.counter("jobs").bind().add(3)
        assert guard.prometheus_address is not None
        host, port = guard.prometheus_address
        with urllib.request.urlopen(f"http://{host}:{port}/metrics", timeout=10) as response:
            assert re.search(r"^jobs_total\{.*\} 3\.0$", response.read().decode(), re.M)
    finally:
        guard.shutdown()


def test_a_shared_directory_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o777)
    shared.chmod(0o777)
    monkeypatch.setenv("OTELSVC_PREFORK_DIR", str(shared))
    with pytest.raises(ConfigError, match="private"):
        _paths.base_dir()


def test_runs_and_services_get_their_own_names() -> None:
    master = _paths.ProcessId(1, "boot-a/100")
    assert _paths.run_name("s", "svc", master) == _paths.run_name("s", "svc", master)
    # the same PID 1 in a restarted container: another start time, another run
    assert _paths.run_name("s", "svc", master) != _paths.run_name("s", "svc", _paths.ProcessId(1, "boot-a/200"))
    assert _paths.run_name("s", "svc", master) != _paths.run_name("s", "other", master)


def test_stale_records_of_dead_processes_are_removed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    base = Path("/tmp") / f"otelsvc-pf-paths-{os.getpid()}"
    base.mkdir(mode=0o700, exist_ok=True)
    try:
        me = _paths.process_id()
        dead = _paths.ProcessId(me.pid, me.start + "-before-a-restart")
        for name, proc in (("live", me), ("stale", dead)):
            (base / f"{name}.sock").write_bytes(b"")
            (base / f"{name}.json").write_text(json.dumps(
                {"pid": proc.pid, "start": proc.start, "socket": str(base / f"{name}.sock")}))
        assert _paths.remove_stale(base) == 1
        assert sorted(p.name for p in base.iterdir()) == ["live.json", "live.sock"]
    finally:
        for p in base.iterdir():
            p.unlink()
        base.rmdir()
