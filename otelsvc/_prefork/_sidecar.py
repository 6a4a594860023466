"""The serving process of a server run whose master runs no otelsvc (gunicorn without --preload,
uvicorn --workers): started by the first worker, it binds the Prometheus address, aggregates every
worker and outlives worker recycles; it exits when the master does.

Run as ``python -m otelsvc._prefork._sidecar``; its settings arrive pickled on stdin and it answers
one JSON line on stdout (ok, or the ConfigError's problems).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import pickle
import select
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from otelsvc._errors import ConfigError, SettingProblem
from otelsvc._prefork import _paths, _role
from otelsvc._signals import SIGNALS

if TYPE_CHECKING:
    from otelsvc._config import Settings

__all__ = ["main", "spawn"]

_READY_TIMEOUT = 60.0
_RETRY_STALE = 5.0


def spawn(settings: Settings, path: Path, master: _paths.ProcessId) -> None:
    """Start the sidecar for this run and wait until it serves; ConfigError if it cannot."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "otelsvc._prefork._sidecar"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        start_new_session=True,
        close_fds=True,
    )
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write(pickle.dumps((settings, str(path), master)))
    proc.stdin.close()
    ready, _, _ = select.select([proc.stdout], [], [], _READY_TIMEOUT)
    line = proc.stdout.readline() if ready else b""
    proc.stdout.close()
    try:
        answer = json.loads(line or b"{}")
    except ValueError:
        answer = {}
    if answer.get("ok"):
        return
    problems = answer.get("problems") or [
        ["prometheus", str(settings.prometheus), "the pre-fork serving process did not start"]
    ]
    with contextlib.suppress(OSError):
        proc.kill()
    raise ConfigError([SettingProblem(*p[:3]) for p in problems])


def _stale_holder(settings: Settings) -> bool:
    """True when the address is held by a hub whose server master is gone (a previous run ending)."""
    assert settings.prometheus is not None
    record = _role._hub_serving(_paths.base_dir(), settings.prometheus)
    master = record.get("master") if record else None
    if not master:
        return False
    pid, _, start = str(master).partition(":")
    return not _paths.alive(_paths.ProcessId(int(pid), start))


def main() -> int:
    if hasattr(signal, "pthread_sigmask"):  # started from a worker's thread, it inherited a blocked mask
        signal.pthread_sigmask(signal.SIG_UNBLOCK, SIGNALS)
    settings, path, master = pickle.load(sys.stdin.buffer)
    _role.sidecar_run = _role.SidecarRun(Path(path), master)
    settings = dataclasses.replace(settings, otlp_metrics=None, otlp_traces=None, set_global=False)
    from otelsvc._guard import ProviderGuard

    deadline = time.monotonic() + _RETRY_STALE
    while True:
        try:
            guard = ProviderGuard(settings)
            break
        except ConfigError as exc:
            if time.monotonic() < deadline and _stale_holder(settings):
                time.sleep(0.1)
                continue
            problems = [[p.source, p.value if not p.secret else "<redacted>", p.message] for p in exc.problems]
            sys.stdout.write(json.dumps({"problems": problems or [["prefork", path, str(exc)]]}) + "\n")
            sys.stdout.flush()
            return 2
    sys.stdout.write(json.dumps({"ok": True}) + "\n")
    sys.stdout.flush()
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)
    os.dup2(devnull, 1)
    while _paths.alive(master) and not guard.is_shut_down:
        time.sleep(0.2)
    guard.shutdown()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
