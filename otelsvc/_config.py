"""Settings: keyword > OTELSVC_* variable > standard OTEL_* variable > default, resolved from one table.

Every input is declared once in ``otelsvc._config_table``. Keywords and ``OTELSVC_*`` variables are
strict: every bad one is collected into a single ConfigError (secrets redacted) raised before any
thread or socket exists. Standard ``OTEL_*`` variables follow the OTel specification: an invalid or
unsupported value is reported once as a warning and ignored as if unset, so the next source (the
shared OTLP variable after a per-signal one) or the default applies.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from otelsvc._config_parsers import AttrValue
from otelsvc._config_table import ROWS, SIGNALS, Row, keywords, row
from otelsvc._errors import ConfigError, SettingProblem
from otelsvc._logging import logger

__all__ = ["OTLP_PARTS", "UNSET", "OtlpSignal", "Resolution", "Settings", "load_settings", "resolve"]


class _Unset:
    def __repr__(self) -> str:
        return "UNSET"


# Typed Any so that ``start(prometheus: str | None = UNSET)`` shows the real type in its signature.
UNSET: Any = _Unset()

OTLP_PARTS = (
    "endpoint",
    "protocol",
    "headers",
    "timeout",
    "compression",
    "insecure",
    "certificate",
    "client_key",
    "client_certificate",
)


@dataclass(frozen=True)
class OtlpSignal:
    """Where and how one signal (metrics, traces or logs) is pushed over OTLP; ``timeout`` in seconds."""

    signal: str
    endpoint: str
    protocol: str
    headers: Mapping[str, str] = field(default_factory=dict, repr=False)
    timeout: float = 10.0
    compression: str | None = None
    insecure: bool | None = None
    certificate: str | None = None
    client_key: str | None = None
    client_certificate: str | None = None

    def __repr__(self) -> str:
        from otelsvc._redact import redact_url

        return f"OtlpSignal(signal={self.signal!r}, endpoint={redact_url(self.endpoint)!r}, protocol={self.protocol!r})"


@dataclass(frozen=True)
class Settings:
    """The resolved configuration of one guard; defaults, variables and docs live in ``_config_table``."""

    service_name: str
    service_version: str | None
    resource_attributes: Mapping[str, AttrValue]
    sdk_disabled: bool
    set_global: bool
    shutdown_timeout: float
    prometheus: tuple[str, int] | None
    metrics_token: str | None = field(repr=False)
    builtin_server: bool
    tls_certfile: str | None
    tls_keyfile: str | None
    max_connections: int
    max_header_bytes: int
    prometheus_scope_info: bool
    read_timeout: float
    otlp_metrics: OtlpSignal | None
    otlp_traces: OtlpSignal | None
    otlp_logs: OtlpSignal | None
    metrics_exporters: tuple[str, ...]
    export_interval: float
    export_timeout: float
    temporality: str
    otlp_histogram_aggregation: str
    exemplar_filter: str
    cardinality_limit: int
    api_fast_path: bool
    namespace: str | None
    runtime_metrics: bool
    traces_exporters: tuple[str, ...]
    sampler: str
    sampler_arg: float | None
    propagators: tuple[str, ...] | None
    bsp_schedule_delay: float
    bsp_export_timeout: float
    bsp_max_queue_size: int
    bsp_max_export_batch_size: int
    span_buffer_size: int
    attribute_count_limit: int
    attribute_value_length_limit: int | None
    span_attribute_count_limit: int | None
    span_attribute_value_length_limit: int | None
    span_event_count_limit: int
    span_link_count_limit: int
    event_attribute_count_limit: int | None
    link_attribute_count_limit: int | None
    logs_exporters: tuple[str, ...]
    logrecord_attribute_count_limit: int | None
    logrecord_attribute_value_length_limit: int | None
    blrp_schedule_delay: float
    blrp_export_timeout: float
    blrp_max_queue_size: int
    blrp_max_export_batch_size: int
    log_bridge: bool
    log_buffer_size: int
    instrument: tuple[str, ...]

    @property
    def otlp_endpoint(self) -> str | None:
        """The metrics push endpoint, else the traces one (for display)."""
        sig = self.otlp_metrics or self.otlp_traces
        return sig.endpoint if sig else None


@dataclass(frozen=True)
class Resolution:
    """Everything resolving produced: the settings, where each value came from, warnings and errors.

    ``sources`` maps each setting (``otlp_<signal>.<part>`` for the OTLP ones) to ``keyword``, the
    variable it was read from, or ``default``; ``values`` holds the value resolved for each.
    """

    settings: Settings
    sources: Mapping[str, str]
    values: Mapping[str, Any]
    warnings: tuple[SettingProblem, ...]
    errors: tuple[SettingProblem, ...]


class _Resolver:
    """Reads each source once, collecting errors (strict sources) and warnings (OTEL_* variables)."""

    def __init__(self, kwargs: Mapping[str, Any], env: Mapping[str, str]) -> None:
        self.kwargs = kwargs
        self.env = env
        self.errors: list[SettingProblem] = []
        self.warnings: list[SettingProblem] = []
        self.sources: dict[str, str] = {}
        self.values: dict[str, Any] = {}
        self._parsed: dict[str, tuple[bool, Any]] = {}
        self._reported: set[tuple[str, str]] = set()

    def problem(self, source: str, value: Any, message: str, secret: bool = False) -> None:
        """Record a problem once; one from a standard OTEL_* variable is a warning."""
        if (source, message) in self._reported:
            return
        self._reported.add((source, message))
        found = SettingProblem(source, str(value), message, secret)
        (self.warnings if source.startswith("OTEL_") else self.errors).append(found)

    def _parse(self, source: str, raw: Any, parser: Any, secret: bool) -> tuple[bool, Any]:
        # Cached per source: a shared OTLP variable read for three signals is parsed (and reported) once.
        if source not in self._parsed:
            try:
                self._parsed[source] = (True, parser(raw))
            except (ValueError, TypeError) as exc:
                self.problem(source, raw, str(exc), secret)
                self._parsed[source] = (False, None)
        return self._parsed[source]

    def keyword(self, setting: Row) -> tuple[bool, Any] | None:
        if not setting.keyword or self.kwargs.get(setting.name, UNSET) is UNSET:
            return None
        return self._parse(setting.name, self.kwargs[setting.name], setting.parse, setting.secret)

    def variable(self, setting: Row, variable: str) -> tuple[bool, Any] | None:
        raw = self.env.get(variable)
        if raw is None or (not raw.strip() and not setting.blank_is_set):
            return None  # the spec: an empty value is the same as unset
        return self._parse(variable, raw, setting.parser_for(variable), setting.secret)

    def value(self, setting: Row, signal: str | None = None) -> tuple[Any, str]:
        """The value and its source: the keyword, else the first variable with a usable value, else the default."""
        found = self.keyword(setting)
        if found is not None:
            return (found[1] if found[0] else setting.default), "keyword"
        for variable in setting.variables_for(signal):
            found = self.variable(setting, variable)
            if found is None:
                continue
            if found[0]:
                return found[1], variable
            if not variable.startswith("OTEL_"):
                return setting.default, variable  # an error is raised; no fallback to weaker sources
        return setting.default, "default"

    def take(self, name: str, signal: str | None = None) -> Any:
        value, source = self.value(row(name), signal)
        key = name if signal is None else f"otlp_{signal}.{name.removeprefix('otlp_')}"
        self.sources[key], self.values[key] = source, value
        return value

    def origin(self, key: str, name: str) -> str:
        """What a problem about setting ``key`` is reported against: the keyword name or the variable."""
        source = self.sources[key]
        return name if source in ("keyword", "default") else source


def _resource_attributes(res: _Resolver) -> dict[str, AttrValue]:
    setting = row("resource_attributes")
    merged: dict[str, AttrValue] = {}
    sources = []
    for found, source in (
        (res.variable(setting, "OTEL_RESOURCE_ATTRIBUTES"), "OTEL_RESOURCE_ATTRIBUTES"),
        (res.keyword(setting), "keyword"),
    ):
        if found is not None and found[0]:
            merged.update(found[1])
            sources.append(source)
    res.sources["resource_attributes"] = " + ".join(sources) or "default"
    return merged


def _append_path(url: str, path: str) -> str:
    """``url`` with ``path`` added to its path, before any query string (``http://h/?k=v``)."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=parts.path.rstrip("/") + path))


def _otlp_signal(res: _Resolver, signal: str, exporters: tuple[str, ...]) -> OtlpSignal | None:
    parts = {name: res.take(f"otlp_{name}", signal) for name in OTLP_PARTS}
    key = f"otlp_{signal}."
    if parts["compression"] == "deflate" and parts["protocol"] == "grpc":
        res.problem(
            res.origin(key + "compression", "otlp_compression"),
            "deflate",
            "deflate is for http/protobuf only; no compression is used",
        )
        parts["compression"] = "none"
    endpoint = parts["endpoint"]
    if endpoint is None or "otlp" not in exporters:
        return None
    per_signal = res.sources[key + "endpoint"] == f"OTEL_EXPORTER_OTLP_{signal.upper()}_ENDPOINT"
    if parts["protocol"] == "http/protobuf" and not per_signal:
        endpoint = _append_path(endpoint, f"/v1/{signal}")
    return OtlpSignal(
        signal=signal,
        endpoint=endpoint,
        protocol=parts["protocol"],
        headers=parts["headers"],
        timeout=parts["timeout"],
        compression=None if parts["compression"] == "none" else parts["compression"],
        insecure=parts["insecure"],
        certificate=parts["certificate"],
        client_key=parts["client_key"],
        client_certificate=parts["client_certificate"],
    )


def _clamp_batch(res: _Resolver, values: dict[str, Any], prefix: str) -> None:
    queue, batch = values[f"{prefix}_max_queue_size"], values[f"{prefix}_max_export_batch_size"]
    if batch > queue:
        name = f"{prefix}_max_export_batch_size"
        source = res.sources[name] if res.sources[name] != "default" else res.sources[f"{prefix}_max_queue_size"]
        res.problem(
            source,
            res.env.get(source, batch),
            f"the export batch size ({batch}) exceeds the queue size ({queue}); batches of {queue} are used",
        )
        values[name] = queue


def resolve(kwargs: Mapping[str, Any], env: Mapping[str, str] | None = None) -> Resolution:
    """Resolve every setting from keywords and the environment, collecting (never raising) problems."""
    res = _Resolver(kwargs, os.environ if env is None else env)
    for name in sorted(set(kwargs) - set(keywords())):
        # redacted: a misspelt secret keyword (metrics_tokn=...) must not print the secret
        res.errors.append(SettingProblem(name, str(kwargs[name]), "is not an otelsvc setting", secret=True))
    values: dict[str, Any] = {"resource_attributes": _resource_attributes(res)}
    for setting in ROWS:
        if setting.field and setting.name not in values:
            values[setting.name] = res.take(setting.name)
    if res.sources["service_name"] == "default" and "service.name" in values["resource_attributes"]:
        values["service_name"] = str(values["resource_attributes"]["service.name"])
        res.sources["service_name"] = res.sources["resource_attributes"]
    if res.sources["prometheus"] == "default":
        values["prometheus"] = (res.take("prometheus_host"), res.take("prometheus_port"))
        picked = [res.sources[n] for n in ("prometheus_host", "prometheus_port") if res.sources[n] != "default"]
        res.sources["prometheus"] = " + ".join(picked) or "default"
    for signal in SIGNALS:
        values[f"otlp_{signal}"] = _otlp_signal(res, signal, values[f"{signal}_exporters"])
    _clamp_batch(res, values, "bsp")
    _clamp_batch(res, values, "blrp")
    if (values["tls_certfile"] is None) != (values["tls_keyfile"] is None):
        name = "tls_certfile" if values["tls_certfile"] is not None else "tls_keyfile"
        res.problem(res.origin(name, name), values[name] or "", "tls_certfile and tls_keyfile go together")
    settings = Settings(**values)
    shown = {key: getattr(settings, key, value) for key, value in res.values.items()}
    shown["resource_attributes"] = settings.resource_attributes
    return Resolution(settings, dict(res.sources), shown, tuple(res.warnings), tuple(res.errors))


def load_settings(kwargs: Mapping[str, Any], env: Mapping[str, str] | None = None) -> Settings:
    """The settings, after logging each warning once; raises ConfigError listing every error."""
    resolution = resolve(kwargs, env)
    for warning in resolution.warnings:
        logger.warning("otelsvc: ignoring %s (an invalid OTEL_* value counts as unset)", warning)
    if resolution.errors:
        raise ConfigError(resolution.errors)
    return resolution.settings
