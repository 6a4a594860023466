"""Check OTEL_PROPAGATORS names against the propagators installed as entry points."""

from __future__ import annotations

from collections.abc import Iterable
from importlib.metadata import entry_points

__all__ = ["unknown_propagators"]


def unknown_propagators(names: Iterable[str]) -> list[str]:
    """The names that no installed ``opentelemetry_propagator`` entry point provides."""
    available = {ep.name for ep in entry_points(group="opentelemetry_propagator")} | {"none"}
    return [name for name in names if name not in available]
