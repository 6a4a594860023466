"""Every setting of the table, given a bad value: strict sources raise, standard OTEL_* variables warn once.

The cases come from ``otelsvc._config_table``: each row's parser carries a value it rejects. The
table is checked against what resolving actually reads (every variable looked up, every keyword
accepted, every field of the settings object, every parameter of ``start()``), so a setting
added anywhere but the table fails here.
"""

from __future__ import annotations

import inspect
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

import otelsvc
from otelsvc import ConfigError
from otelsvc._config import Settings, load_settings, resolve
from otelsvc._config_table import ROWS, SIGNALS, Row, keywords

OTLP = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4317"}

# Read, but any non-blank text is a valid value (blank counts as unset): no bad value exists.
ANY_TEXT = {"OTELSVC_SERVICE_NAME", "OTEL_SERVICE_NAME", "OTELSVC_SERVICE_VERSION", "OTEL_EXPORTER_PROMETHEUS_HOST"}

# (row, variable) for every variable of the table, per-signal names expanded
VARIABLES = [(r, v) for r in ROWS for signal in (SIGNALS if r.per_signal else (None,)) for v in r.variables_for(signal)]
STRICT_VARIABLES = sorted({(r.name, v) for r, v in VARIABLES if not v.startswith("OTEL_") and v not in ANY_TEXT})
OTEL_VARIABLES = sorted({(r.name, v) for r, v in VARIABLES if v.startswith("OTEL_") and v not in ANY_TEXT})
_BY_NAME = {r.name: r for r in ROWS}


def _bad(setting: Row, variable: str | None) -> str:
    return (setting.parse if variable is None else setting.parser_for(variable)).bad


def _check_error(source: str, value: str, secret: bool, kwargs: dict[str, object], env: dict[str, str]) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(kwargs, env=env)
    message = str(info.value)
    assert source in [p.source for p in info.value.problems], message
    if secret:
        assert f"{source}=<redacted>" in message
        assert value == "" or value not in message
    else:
        assert f"{source}={value!r}" in message


@pytest.mark.parametrize("name", keywords())
def test_bad_keyword_is_an_error_naming_it(name: str) -> None:
    setting = _BY_NAME[name]
    _check_error(name, _bad(setting, None), setting.secret, {name: _bad(setting, None)}, {})


@pytest.mark.parametrize(("name", "variable"), STRICT_VARIABLES)
def test_bad_otelsvc_variable_is_an_error_naming_it(name: str, variable: str) -> None:
    setting = _BY_NAME[name]
    _check_error(variable, _bad(setting, variable), setting.secret, {}, {variable: _bad(setting, variable)})


@pytest.mark.parametrize(("name", "variable"), OTEL_VARIABLES)
def test_bad_otel_variable_warns_once_and_falls_back(name: str, variable: str) -> None:
    setting = _BY_NAME[name]
    base = {} if variable == "OTEL_EXPORTER_OTLP_ENDPOINT" else dict(OTLP)
    value = _bad(setting, variable)
    resolution = resolve({}, env={**base, variable: value})
    assert resolution.errors == ()
    assert [w.source for w in resolution.warnings] == [variable]
    shown = str(resolution.warnings[0])
    assert shown.startswith(f"{variable}=<redacted>:" if setting.secret else f"{variable}={value!r}:")
    assert resolution.settings == load_settings({}, env=base), "an ignored value must leave the default"


def test_all_bad_at_once_each_reported_once() -> None:
    env = {variable: _bad(_BY_NAME[name], variable) for name, variable in STRICT_VARIABLES + OTEL_VARIABLES}
    resolution = resolve({}, env=env)
    errors = [p.source for p in resolution.errors]
    warnings = [p.source for p in resolution.warnings]
    assert sorted(errors) == sorted({v for _, v in STRICT_VARIABLES}), errors
    # OTELSVC_PROMETHEUS shadows the host/port pair, per-signal endpoints shadow nothing else
    assert len(warnings) == len(set(warnings)) and set(warnings) <= {v for _, v in OTEL_VARIABLES}
    assert len(warnings) >= len(OTEL_VARIABLES) - 2, sorted({v for _, v in OTEL_VARIABLES} - set(warnings))
    assert "SECRETKEY" not in str(ConfigError(resolution.errors + resolution.warnings))


class _RecordingEnv(Mapping[str, str]):
    """An environment that remembers every variable looked up in it."""

    def __init__(self, values: dict[str, str]) -> None:
        self._values = values
        self.read: set[str] = set()

    def __getitem__(self, key: str) -> str:
        self.read.add(key)
        return self._values[key]

    def __contains__(self, key: object) -> bool:
        self.read.add(str(key))
        return key in self._values

    def get(self, key: str, default: str | None = None) -> str | None:  # type: ignore[override]
        self.read.add(key)
        return self._values.get(key, default)

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)


def test_table_covers_every_variable_read() -> None:
    env = _RecordingEnv(dict(OTLP))
    load_settings({}, env=env)
    assert env.read == {v for _, v in VARIABLES}
    assert len(env.read) >= 83


def test_table_covers_every_keyword_accepted_and_start_signature() -> None:
    accepted = set()
    for name in [*Settings.__dataclass_fields__, *(r.name for r in ROWS)]:
        problems = resolve({name: object()}, env={}).errors
        if not any(p.message == "is not an otelsvc setting" for p in problems):
            accepted.add(name)
    assert accepted == set(keywords())
    parameters = inspect.signature(otelsvc.start).parameters
    assert list(parameters) == list(keywords())
    assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in parameters.values())


def test_settings_fields_come_from_the_table() -> None:
    composite = {f"otlp_{signal}" for signal in SIGNALS}
    assert set(Settings.__dataclass_fields__) == {r.name for r in ROWS if r.field} | composite
    for setting in ROWS:
        if setting.field and setting.name != "service_name":
            assert getattr(load_settings({}, env={}), setting.name) == setting.default, setting.name


@pytest.mark.parametrize("variable", sorted(ANY_TEXT))
def test_blank_text_variables_count_as_unset(variable: str) -> None:
    settings = load_settings({}, env={variable: "  "})
    assert settings == load_settings({}, env={})


@pytest.mark.parametrize(
    ("kwargs", "env", "source"),
    [
        ({"tls_certfile": __file__}, {}, "tls_certfile"),
        ({}, {"OTELSVC_TLS_KEYFILE": __file__}, "OTELSVC_TLS_KEYFILE"),
        ({"export_timeout": 5}, {}, "export_timeout"),  # environment-only settings are not keywords
        ({"sampler": "always_on"}, {}, "sampler"),
        ({"metrics_tokn": "SECRETKEY"}, {}, "metrics_tokn"),  # a misspelt secret is named, never shown
    ],
    ids=["cert-without-key", "key-without-cert", "env-only-keyword", "env-only-sampler", "unknown-keyword"],
)
def test_combination_errors_and_unknown_keywords(kwargs: dict[str, object], env: dict[str, str], source: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(kwargs, env=env)
    assert source in [p.source for p in info.value.problems]
    assert "SECRETKEY" not in str(info.value)


@pytest.mark.parametrize(
    ("env", "source", "check"),
    [
        (
            {**OTLP, "OTEL_EXPORTER_OTLP_COMPRESSION": "deflate"},
            "OTEL_EXPORTER_OTLP_COMPRESSION",
            lambda s: s.otlp_metrics.compression is None,
        ),
        (
            {"OTEL_BSP_MAX_QUEUE_SIZE": "10", "OTEL_BSP_MAX_EXPORT_BATCH_SIZE": "20"},
            "OTEL_BSP_MAX_EXPORT_BATCH_SIZE",
            lambda s: s.bsp_max_export_batch_size == 10,
        ),
        (
            {"OTEL_BLRP_MAX_QUEUE_SIZE": "100"},
            "OTEL_BLRP_MAX_QUEUE_SIZE",
            lambda s: s.blrp_max_export_batch_size == 100,
        ),
    ],
    ids=["deflate-over-grpc", "batch-over-queue", "default-batch-over-small-queue"],
)
def test_combination_warnings(env: dict[str, str], source: str, check: object) -> None:
    resolution = resolve({}, env=env)
    assert resolution.errors == () and [w.source for w in resolution.warnings] == [source]
    assert check(resolution.settings)  # type: ignore[operator]


def test_validated_even_when_sdk_disabled_and_before_any_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_SDK_DISABLED", "true")
    monkeypatch.setenv("OTELSVC_CARDINALITY_LIMIT", "-1")
    threads = threading.active_count()
    with pytest.raises(ConfigError, match="OTELSVC_CARDINALITY_LIMIT"):
        otelsvc.start(metrics_token="", prometheus="127.0.0.1:0")
    assert threading.active_count() == threads


def test_bad_prometheus_host_variable_fails_start_naming_the_address(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """OTEL_EXPORTER_PROMETHEUS_HOST takes any text; a host that cannot be bound fails start()."""
    monkeypatch.setenv("OTEL_EXPORTER_PROMETHEUS_HOST", "256.0.0.1")
    monkeypatch.setenv("OTEL_EXPORTER_PROMETHEUS_PORT", "0")
    with pytest.raises(ConfigError) as info:
        otelsvc.start(set_global=False)
    assert "256.0.0.1" in str(info.value) and "prometheus" in [p.source for p in info.value.problems]
