"""``otelsvc.start()``: the typed entry point; every keyword is a row of ``otelsvc._config_table``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Literal

from otelsvc._config import UNSET, load_settings

if TYPE_CHECKING:
    from otelsvc._guard import ProviderGuard

__all__ = ["start"]


def start(
    *,
    service_name: str = UNSET,
    service_version: str | None = UNSET,
    resource_attributes: Mapping[str, str | int | float | bool] | str = UNSET,
    set_global: bool = UNSET,
    shutdown_timeout: float = UNSET,
    prometheus: str | None = UNSET,
    metrics_token: str | None = UNSET,
    builtin_server: bool = UNSET,
    tls_certfile: str | None = UNSET,
    tls_keyfile: str | None = UNSET,
    max_connections: int = UNSET,
    max_header_bytes: int = UNSET,
    prometheus_scope_info: bool = UNSET,
    read_timeout: float = UNSET,
    otlp_endpoint: str | None = UNSET,
    otlp_protocol: Literal["grpc", "http/protobuf"] = UNSET,
    otlp_headers: Mapping[str, str] | str = UNSET,
    export_interval: float = UNSET,
    otlp_histogram_aggregation: Literal["explicit", "exponential"] = UNSET,
    cardinality_limit: int = UNSET,
    namespace: str | None = UNSET,
    runtime_metrics: bool = UNSET,
    span_buffer_size: int = UNSET,
    log_bridge: bool = UNSET,
    log_buffer_size: int = UNSET,
    instrument: Sequence[str] | str = UNSET,
) -> ProviderGuard:
    """Start telemetry for this process and return its guard.

    A keyword left out comes from its ``OTELSVC_*`` variable, then the standard ``OTEL_*`` one, then
    its default; docs/configuration.md lists each (generated from ``otelsvc._config_table``). Times
    are in seconds; ``prometheus`` is ``"HOST:PORT"`` (port 0: any free port) or None for no
    endpoint; ``otlp_endpoint`` None means no push. Raises ``ConfigError`` listing every bad keyword
    and ``OTELSVC_*`` variable before any thread or socket exists; an invalid standard ``OTEL_*``
    variable is logged once as a warning and ignored, as the OpenTelemetry specification asks.
    """
    given = {name: value for name, value in locals().items() if value is not UNSET}
    from otelsvc._guard import ProviderGuard

    return ProviderGuard(load_settings(given))
