"""Settings: keyword > OTELSVC_* variable > standard OTEL_* variable > default, validated all at once.

Every value is checked before any thread or socket exists; every bad one is reported together in a
single ConfigError naming where it came from (the keyword or the variable) and its value, with
secrets redacted.
"""

from __future__ import annotations

import math
import os
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from otelsvc._errors import ConfigError, SettingProblem

__all__ = ["UNSET", "OtlpSignal", "Settings", "load_settings"]

T = TypeVar("T")

AttrValue = str | int | float | bool


class _Unset:
    def __repr__(self) -> str:
        return "UNSET"


UNSET: Any = _Unset()

_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}
_SAMPLERS = {
    "always_on",
    "always_off",
    "traceidratio",
    "parentbased_always_on",
    "parentbased_always_off",
    "parentbased_traceidratio",
}
_PROTOCOLS = {"grpc", "http/protobuf"}
_COMPRESSIONS = {"gzip", "deflate", "none"}
_TEMPORALITIES = {"cumulative", "delta", "lowmemory"}
_METRICS_EXPORTERS = {"otlp", "prometheus", "none", "console"}
_TRACES_EXPORTERS = {"otlp", "none", "console"}


@dataclass(frozen=True)
class OtlpSignal:
    """Where and how one signal (metrics or traces) is pushed over OTLP."""

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
    """The resolved configuration of one guard."""

    service_name: str = "unknown_service"
    service_version: str | None = None
    resource_attributes: Mapping[str, AttrValue] = field(default_factory=dict)
    prometheus: tuple[str, int] | None = ("127.0.0.1", 9464)
    otlp_metrics: OtlpSignal | None = None
    otlp_traces: OtlpSignal | None = None
    export_interval: float = 10.0
    export_timeout: float = 30.0
    temporality: str = "cumulative"
    otlp_histogram_aggregation: str = "explicit"
    metrics_token: str | None = field(default=None, repr=False)
    shutdown_timeout: float = 5.0
    cardinality_limit: int = 2000
    namespace: str | None = None
    set_global: bool = True
    sdk_disabled: bool = False
    runtime_metrics: bool = True
    sampler: str = "parentbased_always_on"
    sampler_arg: float | None = None
    propagators: tuple[str, ...] | None = None
    bsp_schedule_delay: float = 5.0
    bsp_export_timeout: float = 30.0
    bsp_max_queue_size: int = 2048
    bsp_max_export_batch_size: int = 512
    span_buffer_size: int = 2048
    builtin_server: bool = True
    tls_certfile: str | None = None
    tls_keyfile: str | None = None
    max_connections: int = 64
    max_header_bytes: int = 16384
    read_timeout: float = 10.0

    @property
    def otlp_endpoint(self) -> str | None:
        """The metrics push endpoint, else the traces one (for display)."""
        sig = self.otlp_metrics or self.otlp_traces
        return sig.endpoint if sig else None


class _Loader:
    """Collects values and problems; never raises until ``finish``."""

    def __init__(self, kwargs: Mapping[str, Any], env: Mapping[str, str]) -> None:
        self.kwargs = kwargs
        self.env = env
        self.problems: list[SettingProblem] = []

    def raw(self, keyword: str | None, *variables: str) -> tuple[str, Any] | None:
        """The first source that gives a value, as (source name, raw value)."""
        if keyword is not None and self.kwargs.get(keyword, UNSET) is not UNSET:
            return keyword, self.kwargs[keyword]
        for var in variables:
            value = self.env.get(var)
            if value is not None and (value.strip() != "" or var == "OTELSVC_METRICS_TOKEN"):
                return var, value
        return None

    def bad(self, source: str, value: Any, message: str, secret: bool = False) -> None:
        self.problems.append(SettingProblem(source, str(value), message, secret))

    def get(
        self,
        keyword: str | None,
        variables: tuple[str, ...],
        default: T,
        parse: Callable[[Any], T],
        secret: bool = False,
    ) -> T:
        found = self.raw(keyword, *variables)
        if found is None:
            return default
        source, value = found
        try:
            return parse(value)
        except (ValueError, TypeError) as exc:
            self.bad(source, value, str(exc), secret)
            return default


def _parse_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise ValueError("must be true or false")


def _positive_float(scale: float = 1.0, allow_zero: bool = False) -> Callable[[Any], float]:
    def parse(value: Any) -> float:
        if isinstance(value, bool):
            raise ValueError("must be a number")
        try:
            number = float(value.strip()) if isinstance(value, str) else float(value)
        except (TypeError, ValueError):
            raise ValueError("must be a number") from None
        number *= scale
        if not math.isfinite(number) or number < 0 or (number == 0 and not allow_zero):
            raise ValueError("must be a finite number above 0")
        return number

    return parse


def _positive_int(value: Any) -> int:
    if isinstance(value, bool):
        raise ValueError("must be a whole number above 0")
    if isinstance(value, str):
        value = value.strip()
        if not value.isdigit():
            raise ValueError("must be a whole number above 0")
    if not isinstance(value, (int, str)) or int(value) <= 0:
        raise ValueError("must be a whole number above 0")
    return int(value)


def _non_empty_str(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError("must be a non-empty string")
    return value.strip()


def _choice(options: set[str]) -> Callable[[Any], str]:
    def parse(value: Any) -> str:
        if not isinstance(value, str) or value.strip().lower() not in options:
            raise ValueError(f"must be one of {', '.join(sorted(options))}")
        return value.strip().lower()

    return parse


def parse_address(value: Any) -> tuple[str, int] | None:
    """Parse "HOST:PORT" (IPv6 in brackets); None or "off" means no Prometheus endpoint."""
    if value is None or (isinstance(value, str) and value.strip().lower() in {"off", "none"}):
        return None
    if not isinstance(value, str):
        raise ValueError('must be "HOST:PORT" or None')
    text = value.strip()
    host, sep, port_text = text.rpartition(":")
    if not sep or not port_text.isdigit():
        raise ValueError('must be "HOST:PORT" with a port from 0 to 65535')
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    port = int(port_text)
    if not host or port > 65535 or " " in host:
        raise ValueError('must be "HOST:PORT" with a port from 0 to 65535')
    return host, port


def _parse_pairs(value: Any, what: str) -> dict[str, str]:
    """Parse the OTel ``k=v,k=v`` form (percent-encoded values) or take a mapping as is."""
    if isinstance(value, Mapping):
        out: dict[str, str] = {}
        for k, v in value.items():
            if not isinstance(k, str) or not k.strip():
                raise ValueError(f"{what} keys must be non-empty strings")
            out[k] = v
        return out
    if not isinstance(value, str):
        raise ValueError(f"must be a mapping or a 'key=value,key=value' string of {what}")
    pairs: dict[str, str] = {}
    for position, item in enumerate(value.split(","), start=1):
        if not item.strip():
            continue
        key, sep, val = item.partition("=")
        key = urllib.parse.unquote(key.strip())
        if not sep or not key:
            raise ValueError(f"must be 'key=value,key=value' (item {position} has no key=value)")
        pairs[key] = urllib.parse.unquote(val.strip())
    return pairs


def _parse_attributes(value: Any) -> dict[str, AttrValue]:
    attrs: dict[str, AttrValue] = dict(_parse_pairs(value, "resource attributes"))
    for key, val in attrs.items():
        if not isinstance(val, (str, int, float, bool)):
            raise ValueError(f"attribute {key!r} must be a str, int, float or bool")
    return attrs


def _parse_headers(value: Any) -> dict[str, str]:
    headers = _parse_pairs(value, "headers")
    for key, val in headers.items():
        if not isinstance(val, str):
            raise ValueError(f"header {key!r} must be a string")
    return headers


def _parse_token(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise ValueError("must be a non-empty string (None turns auth off)")
    return value.strip()


def _parse_endpoint(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError("must be a URL such as http://127.0.0.1:4317")
    parsed = urllib.parse.urlparse(value.strip())
    if parsed.scheme not in {"http", "https"} or not parsed.hostname:
        raise ValueError("must be an http:// or https:// URL with a host")
    try:
        _ = parsed.port
    except ValueError:
        raise ValueError("has an invalid port") from None
    return value.strip()


def _parse_namespace(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise ValueError("must be a non-empty string or None")
    text = value.strip()
    if not all(c.isalnum() or c in "_." for c in text) or not text[0].isalpha():
        raise ValueError("must start with a letter and hold only letters, digits, '_' and '.'")
    return text


def _parse_names(value: Any) -> tuple[str, ...]:
    if not isinstance(value, str):
        raise ValueError("must be a comma-separated list")
    return tuple(n.strip().lower() for n in value.split(",") if n.strip())


def _existing_file(value: Any) -> str:
    if not isinstance(value, str) or not os.path.isfile(value):
        raise ValueError("must name an existing file")
    return value


def _signal(
    load: _Loader,
    signal: str,
    base_endpoint: str | None,
    base_from_keyword: bool,
    protocol_kw: str,
    headers_kw: dict[str, str] | None,
) -> OtlpSignal | None:
    upper = signal.upper()
    default_exporters: tuple[str, ...] = ("otlp",)
    exporters = load.get(None, (f"OTEL_{upper}_EXPORTER",), default_exporters, _parse_names)
    allowed = _METRICS_EXPORTERS if signal == "metrics" else _TRACES_EXPORTERS
    for name in exporters:
        if name not in allowed:
            load.bad(f"OTEL_{upper}_EXPORTER", ",".join(exporters), f"must name only {', '.join(sorted(allowed))}")
    protocol = load.get(
        "otlp_protocol",
        (f"OTEL_EXPORTER_OTLP_{upper}_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"),
        protocol_kw,
        _choice(_PROTOCOLS),
    )
    endpoint: str | None
    if base_from_keyword:
        endpoint = base_endpoint
        per_signal = False
    else:
        endpoint = load.get(None, (f"OTEL_EXPORTER_OTLP_{upper}_ENDPOINT",), None, _parse_endpoint)
        per_signal = endpoint is not None
        if endpoint is None:
            endpoint = base_endpoint
    headers = headers_kw
    if headers is None:
        no_headers: dict[str, str] = {}
        headers = load.get(
            None,
            (f"OTEL_EXPORTER_OTLP_{upper}_HEADERS", "OTEL_EXPORTER_OTLP_HEADERS"),
            no_headers,
            _parse_headers,
            secret=True,
        )
    timeout = load.get(
        None,
        (f"OTEL_EXPORTER_OTLP_{upper}_TIMEOUT", "OTEL_EXPORTER_OTLP_TIMEOUT"),
        10.0,
        _positive_float(),
    )
    compression = load.get(
        None,
        (f"OTEL_EXPORTER_OTLP_{upper}_COMPRESSION", "OTEL_EXPORTER_OTLP_COMPRESSION"),
        "none",
        _choice(_COMPRESSIONS),
    )
    if compression == "deflate" and protocol == "grpc":
        load.bad("OTEL_EXPORTER_OTLP_COMPRESSION", compression, "deflate is for http/protobuf only")
    insecure = load.get(
        None,
        (f"OTEL_EXPORTER_OTLP_{upper}_INSECURE", "OTEL_EXPORTER_OTLP_INSECURE"),
        None,
        _parse_bool,
    )
    files = {}
    for key in ("CERTIFICATE", "CLIENT_KEY", "CLIENT_CERTIFICATE"):
        files[key] = load.get(
            None, (f"OTEL_EXPORTER_OTLP_{upper}_{key}", f"OTEL_EXPORTER_OTLP_{key}"), None, _existing_file
        )
    if endpoint is None or "none" in exporters or ("otlp" not in exporters):
        return None
    if protocol == "http/protobuf" and not per_signal:
        endpoint = endpoint.rstrip("/") + f"/v1/{signal}"
    return OtlpSignal(
        signal=signal,
        endpoint=endpoint,
        protocol=protocol,
        headers=headers,
        timeout=timeout,
        compression=None if compression == "none" else compression,
        insecure=insecure,
        certificate=files["CERTIFICATE"],
        client_key=files["CLIENT_KEY"],
        client_certificate=files["CLIENT_CERTIFICATE"],
    )


def _prometheus(load: _Loader) -> tuple[str, int] | None:
    found = load.raw("prometheus", "OTELSVC_PROMETHEUS")
    if found is not None:
        source, value = found
        try:
            return parse_address(value)
        except ValueError as exc:
            load.bad(source, value, str(exc))
            return None
    host = load.get(None, ("OTEL_EXPORTER_PROMETHEUS_HOST",), "127.0.0.1", _non_empty_str)

    def port_parse(value: Any) -> int:
        if not isinstance(value, str) or not value.strip().isdigit() or int(value) > 65535:
            raise ValueError("must be a port from 0 to 65535")
        return int(value)

    port = load.get(None, ("OTEL_EXPORTER_PROMETHEUS_PORT",), 9464, port_parse)
    return host, port


def load_settings(kwargs: Mapping[str, Any], env: Mapping[str, str] | None = None) -> Settings:
    """Resolve every setting from keywords and the environment, or raise ConfigError listing all problems."""
    known = set(Settings.__dataclass_fields__) | {"otlp_endpoint", "otlp_protocol", "otlp_headers"}
    # Settings read from the environment only: as keywords they would be accepted and ignored.
    known -= {"otlp_metrics", "otlp_traces", "sdk_disabled", "export_timeout", "temporality", "sampler",
              "sampler_arg", "propagators", "bsp_schedule_delay", "bsp_export_timeout", "bsp_max_queue_size",
              "bsp_max_export_batch_size"}
    unknown = sorted(set(kwargs) - known)
    env = os.environ if env is None else env
    load = _Loader(kwargs, env)
    for name in unknown:
        # redacted: a misspelt secret keyword (metrics_tokn=...) must not print the secret
        load.bad(name, kwargs[name], "is not an otelsvc setting", secret=True)

    sdk_disabled = load.get(None, ("OTEL_SDK_DISABLED",), False, _parse_bool)
    service_name = load.get(
        "service_name", ("OTELSVC_SERVICE_NAME", "OTEL_SERVICE_NAME"), "", _non_empty_str
    )
    no_attrs: dict[str, AttrValue] = {}
    attrs = load.get("resource_attributes", (), no_attrs, _parse_attributes)
    env_attrs = load.get(None, ("OTEL_RESOURCE_ATTRIBUTES",), no_attrs, _parse_attributes)
    resource_attributes = {**env_attrs, **attrs}
    if not service_name:
        service_name = str(resource_attributes.get("service.name", "unknown_service"))
    service_version = load.get("service_version", ("OTELSVC_SERVICE_VERSION",), None, _non_empty_str)

    endpoint_found = load.raw("otlp_endpoint", "OTEL_EXPORTER_OTLP_ENDPOINT")
    base_endpoint: str | None = None
    if endpoint_found is not None:
        try:
            base_endpoint = _parse_endpoint(endpoint_found[1])
        except ValueError as exc:
            load.bad(endpoint_found[0], endpoint_found[1], str(exc))
    from_keyword = endpoint_found is not None and endpoint_found[0] == "otlp_endpoint"
    protocol_kw = "grpc"
    headers_kw: dict[str, str] | None = None
    if kwargs.get("otlp_headers", UNSET) is not UNSET:
        headers_kw = load.get("otlp_headers", (), dict[str, str](), _parse_headers, secret=True)
    otlp_metrics = _signal(load, "metrics", base_endpoint, from_keyword, protocol_kw, headers_kw)
    otlp_traces = _signal(load, "traces", base_endpoint, from_keyword, protocol_kw, headers_kw)

    if load.raw("export_interval") is not None:
        export_interval = load.get("export_interval", (), 10.0, _positive_float())
    else:
        export_interval = load.get(None, ("OTEL_METRIC_EXPORT_INTERVAL",), 10_000.0, _positive_float()) / 1000
    export_timeout = load.get(None, ("OTEL_METRIC_EXPORT_TIMEOUT",), 30_000.0, _positive_float()) / 1000
    temporality = load.get(
        None,
        ("OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE",),
        "cumulative",
        _choice(_TEMPORALITIES),
    )

    def histogram_kind(value: Any) -> str:
        names = {"explicit": "explicit", "explicit_bucket_histogram": "explicit",
                 "exponential": "exponential", "base2_exponential_bucket_histogram": "exponential"}
        if not isinstance(value, str) or value.strip().lower() not in names:
            raise ValueError("must be explicit_bucket_histogram or base2_exponential_bucket_histogram")
        return names[value.strip().lower()]

    otlp_histogram_aggregation = load.get(
        "otlp_histogram_aggregation",
        ("OTEL_EXPORTER_OTLP_METRICS_DEFAULT_HISTOGRAM_AGGREGATION",),
        "explicit",
        histogram_kind,
    )
    sampler = load.get(None, ("OTEL_TRACES_SAMPLER",), "parentbased_always_on", _choice(_SAMPLERS))

    def ratio(value: Any) -> float:
        number = float(value)
        if not 0.0 <= number <= 1.0:
            raise ValueError("must be a number from 0 to 1")
        return number

    sampler_arg = load.get(None, ("OTEL_TRACES_SAMPLER_ARG",), None, ratio)
    propagators = load.get(None, ("OTEL_PROPAGATORS",), None, _parse_names)
    if propagators:
        from otelsvc._propagators import unknown_propagators

        missing = unknown_propagators(propagators)
        if missing:
            load.bad("OTEL_PROPAGATORS", ",".join(propagators), f"unknown propagator(s): {', '.join(missing)}")

    bsp_queue = load.get(None, ("OTEL_BSP_MAX_QUEUE_SIZE",), 2048, _positive_int)
    bsp_batch = load.get(None, ("OTEL_BSP_MAX_EXPORT_BATCH_SIZE",), 512, _positive_int)
    if bsp_batch > bsp_queue:
        load.bad("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", bsp_batch, f"must not exceed OTEL_BSP_MAX_QUEUE_SIZE ({bsp_queue})")
    tls_certfile = load.get("tls_certfile", ("OTELSVC_TLS_CERTFILE",), None, _existing_file)
    tls_keyfile = load.get("tls_keyfile", ("OTELSVC_TLS_KEYFILE",), None, _existing_file)
    if (tls_certfile is None) != (tls_keyfile is None):
        load.bad("tls_certfile", tls_certfile or "", "tls_certfile and tls_keyfile go together")

    settings = Settings(
        service_name=service_name,
        service_version=service_version,
        resource_attributes=resource_attributes,
        prometheus=_prometheus(load),
        otlp_metrics=otlp_metrics,
        otlp_traces=otlp_traces,
        export_interval=export_interval,
        export_timeout=export_timeout,
        temporality=temporality,
        otlp_histogram_aggregation=otlp_histogram_aggregation,
        metrics_token=load.get("metrics_token", ("OTELSVC_METRICS_TOKEN",), None, _parse_token, secret=True),
        shutdown_timeout=load.get(
            "shutdown_timeout", ("OTELSVC_SHUTDOWN_TIMEOUT",), 5.0, _positive_float()
        ),
        cardinality_limit=load.get(
            "cardinality_limit", ("OTELSVC_CARDINALITY_LIMIT",), 2000, _positive_int
        ),
        namespace=load.get("namespace", ("OTELSVC_NAMESPACE",), None, _parse_namespace),
        set_global=load.get("set_global", (), True, _parse_bool),
        sdk_disabled=sdk_disabled,
        runtime_metrics=load.get("runtime_metrics", ("OTELSVC_RUNTIME_METRICS",), True, _parse_bool),
        sampler=sampler,
        sampler_arg=sampler_arg,
        propagators=propagators,
        bsp_schedule_delay=load.get(None, ("OTEL_BSP_SCHEDULE_DELAY",), 5000.0, _positive_float()) / 1000,
        bsp_export_timeout=load.get(None, ("OTEL_BSP_EXPORT_TIMEOUT",), 30_000.0, _positive_float()) / 1000,
        bsp_max_queue_size=bsp_queue,
        bsp_max_export_batch_size=bsp_batch,
        span_buffer_size=load.get("span_buffer_size", ("OTELSVC_SPAN_BUFFER_SIZE",), 2048, _positive_int),
        builtin_server=load.get("builtin_server", ("OTELSVC_BUILTIN_SERVER",), True, _parse_bool),
        tls_certfile=tls_certfile,
        tls_keyfile=tls_keyfile,
        max_connections=load.get("max_connections", ("OTELSVC_MAX_CONNECTIONS",), 64, _positive_int),
        max_header_bytes=load.get("max_header_bytes", ("OTELSVC_MAX_HEADER_BYTES",), 16384, _positive_int),
        read_timeout=load.get("read_timeout", ("OTELSVC_READ_TIMEOUT",), 10.0, _positive_float()),
    )
    if load.problems:
        raise ConfigError(load.problems)
    return settings
