"""The check every mounted telemetry app makes at once: its guard must have a Prometheus reader."""

from __future__ import annotations

from typing import TYPE_CHECKING

from otelsvc._errors import ConfigError, SettingProblem

if TYPE_CHECKING:
    from otelsvc._guard import ProviderGuard

__all__ = ["require_prometheus_reader"]


def require_prometheus_reader(guard: ProviderGuard, app: str) -> None:
    """Raise ConfigError when ``guard`` has no Prometheus reader, so ``app`` would fail every scrape.

    Said once when the app is made (mount time) rather than as a 500 on every scrape. A disabled
    guard (OTEL_SDK_DISABLED) is accepted: its routes answer without a reader.
    """
    if guard.disabled or getattr(guard, "_prometheus", None) is not None:
        return
    raise ConfigError([SettingProblem(
        "prometheus", "None",
        f"{app} serves /metrics from the guard's Prometheus reader and this guard was started without one; "
        'start it with prometheus="127.0.0.1:9464" (any address) and builtin_server=False to keep the reader '
        "without a server of its own",
    )])
