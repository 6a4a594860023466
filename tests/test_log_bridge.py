"""The stdlib logging bridge: what a record carries, and what is never bridged."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.trace import TracerProvider

from otelsvc._log_bridge import OTelLogHandler, export_thread


@pytest.fixture
def bridged() -> Iterator[tuple[logging.Logger, InMemoryLogRecordExporter]]:
    exporter = InMemoryLogRecordExporter()
    provider = LoggerProvider(shutdown_on_exit=False)
    provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    handler = OTelLogHandler(provider)
    log = logging.getLogger("app.orders")
    log.setLevel(logging.DEBUG)
    log.addHandler(handler)
    try:
        yield log, exporter
    finally:
        log.removeHandler(handler)
        provider.shutdown()


def _records(exporter: InMemoryLogRecordExporter) -> list[Any]:
    return [item.log_record for item in exporter.get_finished_logs()]


def test_record_carries_severity_scope_body_and_code_location(bridged: Any) -> None:
    log, exporter = bridged
    log.warning("order %s late", 42, extra={"order_id": 42, "tags": ["a"]})
    (item,) = exporter.get_finished_logs()
    record = item.log_record
    assert record.body == "order 42 late"
    assert record.severity_text == "WARN"
    assert int(record.severity_number.value) == 13
    assert item.instrumentation_scope.name == "app.orders"
    assert record.attributes["order_id"] == 42
    assert record.attributes["tags"] == "['a']"
    assert record.attributes["code.function.name"] == "test_record_carries_severity_scope_body_and_code_location"
    assert record.attributes["code.file.path"].endswith("test_log_bridge.py")


def test_exception_type_message_and_stacktrace(bridged: Any) -> None:
    log, exporter = bridged
    try:
        raise KeyError("sku-9")
    except KeyError:
        log.exception("lookup failed")
    (record,) = _records(exporter)
    assert record.severity_text == "ERROR"
    assert record.attributes["exception.type"] == "KeyError"
    assert record.attributes["exception.message"] == "'sku-9'"
    assert 'raise KeyError("sku-9")' in record.attributes["exception.stacktrace"]


def test_active_span_ids_are_carried(bridged: Any) -> None:
    log, exporter = bridged
    tracer = TracerProvider(shutdown_on_exit=False).get_tracer("t")
    with tracer.start_as_current_span("work") as span:
        log.info("inside")
    log.info("outside")
    inside, outside = _records(exporter)
    assert inside.trace_id == span.get_span_context().trace_id != 0
    assert inside.span_id == span.get_span_context().span_id
    assert not outside.trace_id


@pytest.mark.parametrize("name", ["otelsvc", "otelsvc.sdk", "opentelemetry.sdk.metrics", "opentelemetry"])
def test_own_and_sdk_lines_are_never_bridged(name: str) -> None:
    exporter = InMemoryLogRecordExporter()
    provider = LoggerProvider(shutdown_on_exit=False)
    provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    root = logging.getLogger()
    handler = OTelLogHandler(provider)
    root.addHandler(handler)
    try:
        logging.getLogger(name).error("export failed")
        logging.getLogger("otelsvcx").error("not ours: bridged")
    finally:
        root.removeHandler(handler)
    assert [r.body for r in _records(exporter)] == ["not ours: bridged"]


def test_lines_logged_while_exporting_are_not_bridged(bridged: Any) -> None:
    log, exporter = bridged
    with export_thread():
        log.error("urllib3 says the collector is down")
    seen: list[str] = []

    def sdk_thread() -> None:
        log.error("from an SDK worker thread")
        seen.append("ran")

    thread = threading.Thread(target=sdk_thread, name="OtelBatchLogRecordProcessor")
    thread.start()
    thread.join()
    log.error("ordinary")
    assert seen == ["ran"]
    assert [r.body for r in _records(exporter)] == ["ordinary"]


def test_a_failing_provider_never_raises_into_the_caller(capsys: pytest.CaptureFixture[str]) -> None:
    class Broken:
        def get_logger(self, name: str, *args: Any, **kwargs: Any) -> Any:
            raise RuntimeError("boom")

    log = logging.getLogger("app.broken")
    handler = OTelLogHandler(Broken())
    log.addHandler(handler)
    seen: list[logging.LogRecord] = []
    own = logging.getLogger("otelsvc")
    catcher = logging.Handler()
    catcher.emit = seen.append  # type: ignore[method-assign]
    own.addHandler(catcher)
    try:
        log.error("still fine")
        log.error("and again")
    finally:
        log.removeHandler(handler)
        own.removeHandler(catcher)
    assert [r.getMessage() for r in seen] == [
        "otelsvc: a log record could not be bridged (RuntimeError: boom); later failures are not logged"]
    assert capsys.readouterr().err == ""
