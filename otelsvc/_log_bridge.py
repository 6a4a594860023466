"""A stdlib ``logging`` handler that emits each record as an OTel log record.

otelsvc's own handler rather than the SDK's ``LoggingHandler`` (deprecated in 1.45). It carries the
severity, the logger name (as the instrumentation scope), the message, the exception's type, message
and stack trace, the caller's code location and the active span's trace and span ids. Records of
otelsvc's and the SDK's own loggers, and any record logged on an export thread, are never bridged:
exporting them would feed the pipeline its own failures (a flood while the collector is down).
"""

from __future__ import annotations

import contextlib
import logging
import threading
import traceback
from collections.abc import Iterator
from typing import Any, Protocol

__all__ = ["OTelLogHandler", "export_thread", "is_bridged"]

# Logger trees that are never bridged: ours and the SDK's (their lines are about the pipeline).
_EXCLUDED_PREFIXES = ("otelsvc", "opentelemetry")
# Record attributes of the stdlib that are not user extras (``logger.info(..., extra={...})``).
_RESERVED = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}
_SEVERITY_TEXT = {"WARNING": "WARN", "CRITICAL": "FATAL"}

_local = threading.local()


class _Logger(Protocol):
    def emit(self, record: Any = None, **kwargs: Any) -> None: ...


class _LoggerProvider(Protocol):
    def get_logger(self, name: str, *args: Any, **kwargs: Any) -> Any: ...


@contextlib.contextmanager
def export_thread() -> Iterator[None]:
    """Marks the current thread as exporting: records logged inside are not bridged."""
    _local.depth = getattr(_local, "depth", 0) + 1
    try:
        yield
    finally:
        _local.depth -= 1


def is_bridged(record: logging.LogRecord) -> bool:
    """Whether ``record`` may be exported: not otelsvc's or the SDK's own, not from an export thread."""
    name = record.name
    for prefix in _EXCLUDED_PREFIXES:
        if name == prefix or name.startswith(prefix + "."):
            return False
    if getattr(_local, "depth", 0):
        return False
    # The SDK's batch processors and periodic reader run on threads named Otel...; anything they log
    # (urllib3 or grpc lines about a failing export) is about the pipeline itself.
    return not threading.current_thread().name.startswith("Otel")


def _severity_number(levelno: int) -> int:
    """The OTel severity number of a stdlib level: DEBUG 5, INFO 9, WARNING 13, ERROR 17, CRITICAL 21.

    Levels in between take the next steps of their band (the SDK's mapping); below DEBUG is unspecified.
    """
    if levelno < logging.DEBUG:
        return 0
    band, step = divmod(levelno - logging.DEBUG, 10)
    return min(24, 5 + band * 4 + min(step, 3))


def _attributes(record: logging.LogRecord) -> dict[str, Any]:
    attributes: dict[str, Any] = {
        "code.file.path": record.pathname,
        "code.function.name": record.funcName,
        "code.line.number": record.lineno,
    }
    for key, value in vars(record).items():
        if key not in _RESERVED and not key.startswith("_"):
            attributes[key] = value if isinstance(value, (str, bool, int, float)) else repr(value)
    if record.exc_info and record.exc_info[0] is not None:
        exc_type, exc, tb = record.exc_info
        attributes["exception.type"] = exc_type.__qualname__
        attributes["exception.message"] = str(exc)
        attributes["exception.stacktrace"] = "".join(traceback.format_exception(exc_type, exc, tb))
    return attributes


class OTelLogHandler(logging.Handler):
    """Bridges stdlib records to an OTel logger provider; never raises into the caller."""

    def __init__(self, logger_provider: _LoggerProvider, level: int = logging.NOTSET) -> None:
        super().__init__(level)
        self._provider = logger_provider
        self._loggers: dict[str, _Logger] = {}
        self._failed = False

    def _logger(self, name: str) -> _Logger:
        logger = self._loggers.get(name)
        if logger is None:
            logger = self._loggers[name] = self._provider.get_logger(name or "root")
        return logger

    def filter(self, record: logging.LogRecord) -> bool:  # type: ignore[override,unused-ignore]
        return is_bridged(record) and bool(super().filter(record))

    def emit(self, record: logging.LogRecord) -> None:
        if getattr(_local, "emitting", False):
            return
        _local.emitting = True
        try:
            from opentelemetry import context as otel_context
            from opentelemetry._logs import SeverityNumber

            body: Any = self.format(record) if self.formatter else record.getMessage()
            self._logger(record.name).emit(
                timestamp=int(record.created * 1e9),
                context=otel_context.get_current(),
                severity_number=SeverityNumber(_severity_number(record.levelno)),
                severity_text=_SEVERITY_TEXT.get(record.levelname, record.levelname),
                body=body,
                attributes=_attributes(record),
            )
        except Exception as exc:
            # Once, on otelsvc's own logger (never bridged): a traceback per record would flood stderr.
            if not self._failed:
                self._failed = True
                logging.getLogger("otelsvc").warning("otelsvc: a log record could not be bridged (%s: %s); "
                                                     "later failures are not logged", type(exc).__name__, exc)
        finally:
            _local.emitting = False
