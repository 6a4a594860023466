"""The OTel API fast path on any supported SDK: on by default where the SDK has the internals it
reproduces (1.45), and off with one info line (every instrument the SDK's own) where it does not."""

from __future__ import annotations

import importlib.metadata
import logging

import pytest

import otelsvc
from otelsvc import _api_fast


def test_the_guards_meter_records_on_every_supported_sdk(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="otelsvc"):
        guard = otelsvc.start(prometheus="127.0.0.1:0", builtin_server=False, set_global=False, runtime_metrics=False)
    try:
        counter = guard.meter("app").create_counter("orders")
        counter.add(2, {"route": "/a"})
        counter.add(3, {"route": "/a"})
        text = guard.render_metrics().decode()
        assert (
            'orders_total{otel_scope_name="app",otel_scope_schema_url="",otel_scope_version="",route="/a"} 5.0' in text
        )
        off = [r for r in caplog.records if "API fast path is off" in r.getMessage()]
        sdk = tuple(int(p) for p in importlib.metadata.version("opentelemetry-sdk").split(".")[:2])
        assert (_api_fast._IMPORTED is None) == (sdk >= (1, 45)), _api_fast._IMPORTED  # on 1.45 it must come up
        if _api_fast._IMPORTED is None:  # an SDK with the internals: thin instruments, nothing said
            assert type(counter).__name__ == "_FastCounter" and not off
        else:  # an older SDK: the SDK's own instrument, said once, at info level (expected there)
            assert type(counter).__name__ == "_Counter"
            assert [r.levelno for r in off] == [logging.INFO]
    finally:
        guard.shutdown()
