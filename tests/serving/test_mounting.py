"""A telemetry app mounted on a guard without a Prometheus reader is refused when it is made,
with one clear error, instead of answering every scrape with 500."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

import otelsvc
from otelsvc.asgi import TelemetryApp, make_asgi_app
from otelsvc.testing import start_testing
from otelsvc.wsgi import make_wsgi_app


@pytest.mark.parametrize("make", [TelemetryApp, make_asgi_app, make_wsgi_app], ids=lambda f: f.__name__)
def test_a_guard_without_prometheus_reader_is_refused_at_mount_time(make: Any) -> None:
    guard = start_testing()  # prometheus=None
    try:
        with pytest.raises(otelsvc.ConfigError) as info:
            make(guard)
        message = str(info.value)
        assert "prometheus='None'" in message and "builtin_server=False" in message
    finally:
        guard.shutdown()


@pytest.mark.parametrize("make", [TelemetryApp, make_wsgi_app], ids=lambda f: f.__name__)
def test_a_guard_with_a_reader_and_no_server_is_accepted(make: Any) -> None:
    guard = start_testing(prometheus="127.0.0.1:0", builtin_server=False)
    try:
        assert make(guard) is not None
        assert guard.prometheus_address is None, "the reader without a server of its own"
    finally:
        guard.shutdown()


def test_an_owned_guard_without_prometheus_is_refused() -> None:
    with pytest.raises(otelsvc.ConfigError, match="prometheus='None'"):
        TelemetryApp(prometheus=None)


def test_lifespan_startup_fails_when_the_environment_turns_prometheus_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTELSVC_PROMETHEUS", "off")
    app = TelemetryApp(service_name="no-reader", set_global=False)
    sent: list[dict[str, Any]] = []
    messages = iter([{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}])

    async def receive() -> dict[str, Any]:
        return next(messages)

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(app({"type": "lifespan"}, receive, send))
    assert sent[0]["type"] == "lifespan.startup.failed"
    assert "prometheus='None'" in sent[0]["message"]
    assert app.guard is None
