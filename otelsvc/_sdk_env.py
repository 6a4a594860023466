"""Build SDK exporters without letting them read the OTLP variables otelsvc has already parsed.

The SDK's OTLP exporters read ``OTEL_EXPORTER_OTLP_*`` themselves even when every value is passed
in: the gRPC ones call ``float()`` on a per-signal timeout (a bad value crashes the constructor;
the spec's milliseconds become seconds), the HTTP ones merge the header variables in (logging a
malformed one, secret and all), and both fall back to the certificate variables. otelsvc parses those
variables once, by the specification, and passes the results; while an exporter is built, the
exporter modules see the environment without them.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

__all__ = ["otlp_variables_hidden"]

_PREFIX = "OTEL_EXPORTER_OTLP_"
_MODULES = (
    "opentelemetry.exporter.otlp.proto.grpc.exporter",
    "opentelemetry.exporter.otlp.proto.grpc.metric_exporter",
    "opentelemetry.exporter.otlp.proto.grpc.trace_exporter",
    "opentelemetry.exporter.otlp.proto.grpc._log_exporter",
    "opentelemetry.exporter.otlp.proto.http._common",
    "opentelemetry.exporter.otlp.proto.http.metric_exporter",
    "opentelemetry.exporter.otlp.proto.http.trace_exporter",
    "opentelemetry.exporter.otlp.proto.http._log_exporter",
)
_lock = threading.Lock()
_replaced: list[tuple[Any, str, Any]] = []  # (module, attribute, original) while a build is under way


class _OsView:
    """The ``os`` module as an exporter module sees it: the same, but with a filtered ``environ``."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self.environ = environ

    def __getattr__(self, name: str) -> Any:
        return getattr(os, name)


@contextmanager
def otlp_variables_hidden() -> Iterator[None]:
    """While active, the (already imported) SDK exporter modules see no ``OTEL_EXPORTER_OTLP_*`` variable."""
    view = {key: value for key, value in os.environ.items() if not key.startswith(_PREFIX)}
    with _lock:
        try:
            for name in _MODULES:
                module = sys.modules.get(name)
                if module is None:
                    continue
                for attr, stand_in in (("environ", view), ("os", _OsView(view))):
                    if getattr(module, attr, None) is (os.environ if attr == "environ" else os):
                        _replaced.append((module, attr, getattr(module, attr)))
                        setattr(module, attr, stand_in)
            yield
        finally:
            _restore()


def _restore() -> None:
    while _replaced:
        module, attr, original = _replaced.pop()
        setattr(module, attr, original)


def _after_fork_in_child() -> None:
    # A fork during a build (another thread) must not leave the child a held lock or patched modules.
    global _lock
    _lock = threading.Lock()
    _restore()


os.register_at_fork(after_in_child=_after_fork_in_child)
