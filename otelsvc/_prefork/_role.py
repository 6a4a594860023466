"""What a guard does about pre-fork servers: serve and aggregate (root), publish (worker), or nothing.

The guard asks ``plan()`` before it binds the Prometheus address, calls ``attach()`` once its
providers exist, ``render()`` for each scrape, ``close()`` first thing at shutdown and
``after_fork_in_child()`` in a forked child.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from otelsvc._prefork import _paths
from otelsvc._prefork._detect import server_master
from otelsvc._prefork._merge import GAUGE_MODES, to_data
from otelsvc._prefork._snapshot import Snapshot, collect

if TYPE_CHECKING:
    from otelsvc._config import Settings
    from otelsvc._guard import ProviderGuard
    from otelsvc._prefork._hub import Hub
    from otelsvc._prefork._worker import WorkerLink

__all__ = ["GATHER_TIMEOUT", "Role", "declare_gauge", "on_address_in_use", "plan"]

_log = logging.getLogger("otelsvc")

# How long a scrape waits for workers' fresh counts before serving a late worker's last ones.
GATHER_TIMEOUT = 1.0
# A worker whose sidecar died retries starting a new one at most this far apart.
RECONNECT_MAX_DELAY = 2.0

_gauge_modes: dict[str, str] = {}


@dataclass(frozen=True)
class SidecarRun:
    """Set in the sidecar process: the socket of its run and the server master it outlives no longer than."""

    socket: Path
    master: _paths.ProcessId


sidecar_run: SidecarRun | None = None


def declare_gauge(name: str, mode: str) -> None:
    """How the scrape combines gauge ``name`` across workers: per_worker (default), sum, min, max or latest."""
    if mode not in GAUGE_MODES:
        raise ValueError(f"gauge aggregation must be one of {GAUGE_MODES}, not {mode!r}")
    _gauge_modes[name] = mode


def _modes() -> dict[str, str]:
    return dict(_gauge_modes)


def _snapshot_of(guard: ProviderGuard) -> Snapshot:
    reader = guard._prometheus
    return collect(reader, guard.bridge) if reader is not None else {}


class Role:
    """A guard with no built-in Prometheus server: nothing to aggregate."""

    serves = True
    hub: Hub | None = None

    def attach(self, guard: ProviderGuard) -> None:
        """Called once the guard's providers exist."""

    def render(self, guard: ProviderGuard, openmetrics: bool) -> bytes | None:
        """The aggregated scrape, or None for the guard's own."""
        return None

    def close(self) -> None:
        """First step of the guard's shutdown."""

    def after_fork_in_child(self, guard: ProviderGuard) -> Role:
        return self


class Root(Role):
    """Serves the address and runs the hub the workers publish to."""

    def __init__(self, sidecar: SidecarRun | None = None) -> None:
        self._sidecar = sidecar
        self._record: Path | None = None
        self.hub = None

    def attach(self, guard: ProviderGuard) -> None:
        from otelsvc._prefork._hub import Hub

        try:
            base = _paths.base_dir()
        except Exception as exc:
            if os.environ.get(_paths.ENV) or self._sidecar is not None:
                raise
            # The default location only: a service on a read-only filesystem must still start. Without
            # a hub, workers it forks push their OTLP and the scrape shows this process alone.
            _log.warning(
                "otelsvc: pre-fork aggregation is off (%s); set %s to a writable directory to have "
                "one scrape cover forked workers",
                exc,
                _paths.ENV,
            )
            return
        _paths.remove_stale(base)
        me = _paths.process_id()
        path = (
            self._sidecar.socket
            if self._sidecar
            else base / (_paths.run_name("r", guard.settings.service_name, me) + ".sock")
        )
        try:
            self.hub = Hub(path)
        except OSError as exc:
            from otelsvc._errors import ConfigError, SettingProblem

            raise ConfigError(
                [
                    SettingProblem(
                        "prefork directory", str(path.parent), f"cannot listen for workers there: {exc.strerror or exc}"
                    )
                ]
            ) from None
        record = {
            "pid": me.pid,
            "start": me.start,
            "socket": str(path),
            "service": guard.settings.service_name,
            "address": list(guard.prometheus_address or ()),
            "master": self._sidecar.master.key() if self._sidecar else None,
        }
        self._record = path.with_suffix(".json")
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(record))
        os.replace(tmp, self._record)
        self.hub.render = lambda openmetrics: self._whole_run(guard, openmetrics)

    def _whole_run(self, guard: ProviderGuard, openmetrics: bool) -> bytes:
        """What a worker's mounted app serves: the aggregated scrape (this process's own before any worker joined)."""
        aggregated = self.render(guard, openmetrics)
        if aggregated is not None:
            return aggregated
        if guard._prometheus is None:
            raise RuntimeError("the pre-fork serving process has no Prometheus reader")
        return guard._prometheus.render(openmetrics)

    def render(self, guard: ProviderGuard, openmetrics: bool) -> bytes | None:
        hub = self.hub
        if hub is None:
            return None
        hub.gather(GATHER_TIMEOUT)  # takes workers still in the listen backlog first
        if not hub.aggregate.ever_joined:
            return None
        merged = hub.aggregate.merged(_snapshot_of(guard))
        resource = guard.bridge.resource or guard.resource
        data = to_data(merged, resource)
        from otelsvc._exposition import render_text

        return render_text(data, openmetrics=openmetrics, scope_info=guard.settings.prometheus_scope_info)

    def close(self) -> None:
        if self.hub is not None:
            self.hub.close()
        if self._record is not None:
            with contextlib.suppress(OSError):
                self._record.unlink()
        if self._sidecar is not None:  # the run is over: its lock file goes too
            with contextlib.suppress(OSError):
                self._sidecar.socket.with_suffix(".lock").unlink()

    def after_fork_in_child(self, guard: ProviderGuard) -> Role:
        if self.hub is None:
            return Role()
        self.hub.forget_in_child()
        child = Worker(self.hub.path)
        child.attach(guard)
        return child


class Worker(Role):
    """Publishes this process's counts to the hub at ``path``; serves nothing itself.

    ``respawn`` (sidecar runs only) makes sure a hub serves ``path`` again: when the sidecar dies, the
    workers' links notice, the first to take the run's lock starts a new sidecar and all reconnect."""

    serves = False

    def __init__(self, path: Path, respawn: Callable[[], None] | None = None) -> None:
        self.path = path
        self.link: WorkerLink | None = None
        self._respawn = respawn
        self._guard: ProviderGuard | None = None
        self._closed = False

    def render(self, guard: ProviderGuard, openmetrics: bool) -> bytes | None:
        """With the built-in server on, this worker's own counts (the hub's process serves the run's);
        with it off, the run's whole scrape from the hub, so every worker's mounted app serves it (its
        own counts when it never reached the hub, as it warned at start)."""
        if guard.settings.builtin_server or self.link is None:
            return None
        from otelsvc._prefork._hub import request_render

        return request_render(self.path, openmetrics)

    def attach(self, guard: ProviderGuard) -> None:
        self._guard = guard
        try:
            self._connect(guard)
        except OSError as exc:
            _log.warning(
                "otelsvc: cannot reach the pre-fork hub at %s (%s); this worker's counts are not scraped",
                self.path,
                exc.strerror or exc,
            )

    def _connect(self, guard: ProviderGuard) -> None:
        from otelsvc._prefork._worker import WorkerLink

        lost = self._reconnect_soon if self._respawn is not None else None
        self.link = WorkerLink(self.path, lambda: _snapshot_of(guard), _modes, on_lost=lost)

    def _reconnect_soon(self) -> None:
        threading.Thread(target=self._reconnect, name="otelsvc-prefork-reconnect", daemon=True).start()

    def _reconnect(self) -> None:
        """Until this worker closes: have a hub serve the run again (respawn), then connect to it."""
        delay = 0.1
        while not self._closed and self._guard is not None and self._respawn is not None:
            try:
                self._respawn()
                self._connect(self._guard)
            except Exception as exc:
                _log.debug("otelsvc: pre-fork reconnect failed: %s", exc)
                time.sleep(delay)
                delay = min(delay * 2, RECONNECT_MAX_DELAY)
                continue
            _log.warning("otelsvc: reconnected to the pre-fork hub at %s", self.path)
            if self._closed and self.link is not None:
                self.link.close()
            return

    def close(self) -> None:
        self._closed = True
        if self.link is not None:
            self.link.close()

    def after_fork_in_child(self, guard: ProviderGuard) -> Role:
        if self.link is not None:
            self.link.forget_in_child()
        child = Worker(self.path, self._respawn)
        child.attach(guard)
        return child


def _connectable(path: Path) -> bool:
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.settimeout(2)
        probe.connect(str(path))
        return True
    except OSError:
        return False
    finally:
        probe.close()


def _hub_serving(base: Path, address: tuple[str, int]) -> dict[str, Any] | None:
    """The live hub record of the process serving ``address``, if otelsvc serves it."""
    for record in _paths.hubs(base):
        if tuple(record.get("address") or ()) != tuple(address):
            continue
        if _paths.alive(_paths.ProcessId(int(record.get("pid", 0)), str(record.get("start", "")))):
            return record
    return None


def plan(settings: Settings) -> Role:
    """The role of a new guard; in a worker of a server that did not run otelsvc, start the run's sidecar.

    With ``builtin_server=False`` the roles are the same, but nothing binds the address: each worker's
    mounted metrics app asks the hub for the run's whole scrape."""
    if settings.prometheus is None:
        return Role()
    if sidecar_run is not None:
        return Root(sidecar_run)
    master = server_master()
    if master is None:
        return Root()
    base = _paths.base_dir()
    name = _paths.run_name("s", settings.service_name, master)
    path = base / f"{name}.sock"

    lock = base / f"{name}.lock"

    def respawn() -> None:
        """A hub serves ``path`` when this returns: it was there, or this worker started the sidecar
        (at start, and again when a worker finds the sidecar gone)."""
        from otelsvc._prefork._sidecar import spawn

        with _paths.locked(lock):
            if _connectable(path):
                return
            if not _paths.alive(master):
                raise RuntimeError("the server's master process is gone")
            spawn(settings, path, master)

    if settings.builtin_server:  # the master itself may serve the address (gunicorn --preload)
        with _paths.locked(lock):
            holder = None if _connectable(path) else _hub_serving(base, settings.prometheus)
        if holder is not None and int(holder["pid"]) == master.pid:
            return Worker(Path(holder["socket"]))
    respawn()
    return Worker(path, respawn)


def on_address_in_use(settings: Settings) -> Role | None:
    """A worker role when a sibling of this server run (our parent's hub) holds the address, else None."""
    assert settings.prometheus is not None
    try:
        holder = _hub_serving(_paths.base_dir(), settings.prometheus)
    except Exception:
        return None
    if holder is None:
        return None
    master = server_master()
    ours = {os.getppid()} | ({master.pid} if master is not None else set())
    if int(holder["pid"]) in ours or (master is not None and holder.get("master") == master.key()):
        return Worker(Path(holder["socket"]))
    return None
