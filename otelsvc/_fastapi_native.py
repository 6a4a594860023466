"""What FastAPI's native telemetry (0.165 and later) records for a request, so the middleware does
not record it a second time.

FastAPI runs it outside user middleware and leaves its per-request state in
``scope["fastapi.telemetry"]``: a SERVER span when tracing is on, and the semconv
``http.server.request.duration`` / ``http.server.active_requests`` when its metrics are on and a real
meter provider exists (and no contrib OTel ASGI middleware is in its stack).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["native_telemetry"]

_DEFERRED = frozenset({("opentelemetry.metrics._internal", "_ProxyMeterProvider")})


def native_telemetry(scope: Mapping[str, Any]) -> tuple[bool, bool]:
    """(spans, metrics): whether FastAPI records its own server span and semconv HTTP metrics here."""
    state = scope.get("fastapi.telemetry")
    if state is None:
        return False, False
    spans = getattr(state, "span", None) is not None
    config = getattr(scope.get("app"), "_telemetry", None)
    if not isinstance(config, dict) or not config.get("metrics", False):
        return spans, False
    provider = config.get("meter_provider")
    if provider is None:
        from opentelemetry import metrics

        provider = metrics.get_meter_provider()
        cls = type(provider)
        if (cls.__module__, cls.__name__) in _DEFERRED:
            return spans, False
    from opentelemetry.metrics import NoOpMeterProvider

    if isinstance(provider, NoOpMeterProvider):
        return spans, False
    if not spans and config.get("tracing", False) and _contrib_middleware(scope.get("app")):
        return False, False
    return spans, True


def _contrib_middleware(app: Any) -> bool:
    """True when the contrib OTel ASGI middleware is in the app's stack (FastAPI then records nothing)."""
    stack = getattr(app, "middleware_stack", None)
    seen: set[int] = set()
    while stack is not None and id(stack) not in seen:
        seen.add(id(stack))
        cls = type(stack)
        if cls.__module__ == "opentelemetry.instrumentation.asgi" and cls.__name__ == "OpenTelemetryMiddleware":
            return True
        stack = getattr(stack, "app", None)
    return False
