"""Where hubs put their sockets, how a server run is named, and how a stale run is recognised.

A run is named by the process that owns it (pid, start time and boot id), so a new run never meets
an old one's socket, also when that process is PID 1 on every run (a container restart changes the
start time or the boot id).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from otelsvc._errors import ConfigError, SettingProblem

__all__ = ["ProcessId", "alive", "base_dir", "hubs", "locked", "process_id", "remove_stale", "run_name"]

ENV = "OTELSVC_PREFORK_DIR"
_SOCKET_PATH_MAX = 107  # sun_path is 108 bytes on Linux


@dataclass(frozen=True)
class ProcessId:
    """A process as a run sees it: its pid and start time (clock ticks since boot) on this boot."""

    pid: int
    start: str

    def key(self) -> str:
        return f"{self.pid}:{self.start}"


def _boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


def _start_time(pid: int) -> str | None:
    """The start time of ``pid`` ("" where /proc is missing), or None when no such process exists."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return None
    except OSError:
        text = ""
    if text:
        return _boot_id() + "/" + text.rsplit(")", 1)[1].split()[19]
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass
    return ""


def process_id(pid: int | None = None) -> ProcessId:
    """The identity of ``pid`` (this process by default)."""
    pid = os.getpid() if pid is None else pid
    return ProcessId(pid, _start_time(pid) or "")


def alive(proc: ProcessId) -> bool:
    """True while that very process (not a later one with a reused pid) runs."""
    return _start_time(proc.pid) == proc.start


def run_name(kind: str, service: str, owner: ProcessId) -> str:
    """A short file stem for one run of one service (unix socket paths are limited to ~100 bytes)."""
    import hashlib  # here, not at import: hashlib and tempfile cost ~7 ms to import

    digest = hashlib.sha256(f"{service}\0{owner.key()}".encode()).hexdigest()[:16]
    return f"{kind}{digest}"


def base_dir() -> Path:
    """The private directory holding hub sockets, made on first use; ConfigError naming it when unusable."""
    configured = os.environ.get(ENV)
    if configured:
        path, source = Path(configured), ENV
    else:
        import tempfile

        path, source = Path(tempfile.gettempdir()) / f"otelsvc-{os.getuid()}", "prefork directory"
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        info = path.stat()
        if info.st_uid != os.getuid() or stat.S_IMODE(info.st_mode) & 0o077:
            raise OSError(errno.EPERM, "it must be owned by this user and private (mode 0700)")
        probe = path / f".probe-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise ConfigError(
            [SettingProblem(source, str(path), f"cannot use it for pre-fork sockets: {exc.strerror or exc}")]
        ) from None
    if len(str(path)) > _SOCKET_PATH_MAX - 24:
        raise ConfigError([SettingProblem(source, str(path), "too long for a unix socket path")])
    return path


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (made if missing) for the block."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def hubs(base: Path) -> Iterator[dict[str, Any]]:
    """The hub records in ``base`` (each a JSON file next to its socket)."""
    for entry in base.glob("*.json"):
        try:
            record = json.loads(entry.read_text())
        except (OSError, ValueError):
            continue
        if isinstance(record, dict):
            record["_file"] = str(entry)
            yield record


def remove_stale(base: Path) -> int:
    """Delete the sockets and records of hubs whose process is gone; how many were removed."""
    removed = 0
    for record in hubs(base):
        owner = ProcessId(int(record.get("pid", 0)), str(record.get("start", "")))
        if alive(owner):
            continue
        for name in (record.get("socket"), record["_file"], record.get("lock")):
            if name:
                with contextlib.suppress(OSError):
                    os.unlink(name)
        removed += 1
    return removed
