"""Opt-in auto-instrumentation: installed OTel instrumentors activated against the guard's providers.

Instrumentors are found by their ``opentelemetry_instrumentor`` entry points (what
``opentelemetry-instrument`` loads), so any installed ``opentelemetry-instrumentation-*`` package
works. They patch libraries process-wide: the first guard that asks owns the activation and undoes
it at its shutdown; a later guard's request is logged and ignored. ``all`` leaves out the
server-framework instrumentors, which would count each request a second time beside otelsvc's HTTP
middleware.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib.metadata import EntryPoint, entry_points
from typing import Any

__all__ = ["SERVER_FRAMEWORKS", "Activation", "activate", "check_names", "pip_package"]

_log = logging.getLogger("otelsvc")
_GROUP = "opentelemetry_instrumentor"

# Instrumentors of servers and web frameworks: their spans and metrics duplicate the middleware's.
SERVER_FRAMEWORKS = frozenset(
    {
        "aiohttp-server",
        "aiohttp_server",
        "asgi",
        "django",
        "falcon",
        "fastapi",
        "flask",
        "pyramid",
        "sanic",
        "starlette",
        "tornado",
        "wsgi",
    }
)

_lock = threading.Lock()
_owner: object | None = None


def pip_package(name: str) -> str:
    """The PyPI package that provides instrumentor ``name`` (the contrib naming rule)."""
    return "opentelemetry-instrumentation-" + name.replace("_", "-")


def _installed() -> dict[str, EntryPoint]:
    return {ep.name: ep for ep in entry_points(group=_GROUP)}


def _missing_dependency(instrumentor: Any) -> str | None:
    """What the instrumented library lacks (not installed, or a version the instrumentor refuses)."""
    check = getattr(instrumentor, "_check_dependency_conflicts", None)
    if check is None:
        return None
    conflict = check()
    return None if conflict is None else str(conflict)


def check_names(names: Sequence[str]) -> list[str]:
    """One message per name that cannot be activated: unknown, not installed, or its library missing."""
    if list(names) == ["all"]:
        return []
    installed = _installed()
    problems = []
    for name in names:
        if name == "all":
            problems.append("'all' cannot be combined with other names")
        elif name not in installed:
            problems.append(f"no instrumentor {name!r} is installed: pip install {pip_package(name)}")
        else:
            try:
                missing = _missing_dependency(installed[name].load()())
            except Exception as exc:
                problems.append(f"instrumentor {name!r} cannot be loaded: {type(exc).__name__}: {exc}")
                continue
            if missing is not None:
                problems.append(f"instrumentor {name!r} cannot instrument: {missing}")
    return problems


@dataclass
class Activation:
    """The instrumentors one guard activated, undone by ``undo()``."""

    owner: object
    active: list[tuple[str, Any]] = field(default_factory=list)

    @property
    def names(self) -> list[str]:
        return [name for name, _ in self.active]

    def undo(self) -> None:
        """Uninstrument what was activated, then give up ownership; never raises."""
        global _owner
        for name, instrumentor in reversed(self.active):
            try:
                instrumentor.uninstrument()
            except Exception as exc:
                _log.warning("otelsvc: could not undo instrumentor %s: %s: %s", name, type(exc).__name__, exc)
        self.active.clear()
        with _lock:
            if _owner is self.owner:
                _owner = None


def activate(names: Sequence[str], owner: object, **providers: Any) -> Activation | None:
    """Activate ``names`` (or ``["all"]``) with ``providers`` (tracer_provider=..., meter_provider=...).

    Returns None when another guard already owns activation (logged). A name whose library is
    missing or conflicting is logged and skipped; ``check_names`` reports unknown names at start.
    """
    global _owner
    with _lock:
        if _owner is not None and _owner is not owner:
            _log.warning(
                "otelsvc: instrumentors %s not activated: another guard activated its own first "
                "(instrumentation is process-wide)",
                ", ".join(names),
            )
            return None
        _owner = owner
    installed = _installed()
    wanted = sorted(n for n in installed if n not in SERVER_FRAMEWORKS) if list(names) == ["all"] else list(names)
    activation = Activation(owner)
    for name in wanted:
        try:
            instrumentor = installed[name].load()()
            missing = _missing_dependency(instrumentor)
            if missing is not None:
                if list(names) != ["all"]:
                    _log.error("otelsvc: instrumentor %s not activated: %s", name, missing)
                continue
            if instrumentor.is_instrumented_by_opentelemetry:
                _log.warning("otelsvc: %s was already instrumented by someone else; left as it is", name)
                continue
            instrumentor.instrument(skip_dep_check=True, **providers)
        except Exception as exc:
            _log.error("otelsvc: instrumentor %s failed to activate: %s: %s", name, type(exc).__name__, exc)
            continue
        activation.active.append((name, instrumentor))
    if activation.active:
        _log.info("otelsvc: activated instrumentors: %s", ", ".join(activation.names))
    return activation
