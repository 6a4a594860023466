"""ASGI middleware recording the http family and a SERVER span for every HTTP request (a plain ASGI
callable)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from otelsvc._route_templates import StarletteRoutes
from otelsvc.types import ASGIApp, Message, Receive, Scope, Send

if TYPE_CHECKING:
    from otelsvc._guard import ProviderGuard
    from otelsvc._server_spans import ServerSpans, SpanScope
    from otelsvc.instruments.http import HttpMetrics

__all__ = ["HttpMetricsMiddleware"]


class HttpMetricsMiddleware:
    """Wraps an ASGI app; give it a guard (or an ``HttpMetrics``), e.g.
    ``app.add_middleware(HttpMetricsMiddleware, guard=guard, prefix_rules=[("/boot/", "boot")])``.

    The route is read from what the router leaves in the scope after the app ran, so no route table
    is walked per request. The in-flight counts are decremented in a ``finally`` with the handles
    they were incremented with, so exceptions and cancelled requests never leave them drifting.
    ``spans=False`` keeps the metrics and makes no spans; the default makes them when the guard exports
    traces (an OTLP or console traces exporter, or the testing guard). Under FastAPI's native telemetry the
    semconv instruments and the span FastAPI records are left to it; the classic ones stay.
    """

    def __init__(
        self,
        app: ASGIApp,
        guard: ProviderGuard | None = None,
        metrics: HttpMetrics | None = None,
        spans: bool | None = None,
        **options: Any,
    ) -> None:
        from otelsvc._server_spans import ServerSpans
        from otelsvc.instruments.http import HttpMetrics

        self.app = app
        self.metrics = HttpMetrics.for_middleware(guard, metrics, options)
        if spans is None:  # spans cost tens of microseconds: made only when they go somewhere
            spans = getattr(self.metrics.guard, "traces_exported", True)
        self.spans: ServerSpans | None = ServerSpans(self.metrics.guard.tracer_provider) if spans else None
        self.routes = StarletteRoutes()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        root = scope.get("root_path", "")
        route_path = path[len(root):] if root and path.startswith(root) else path
        metrics = self.metrics
        app = scope.get("app")
        if metrics.excluded(route_path) or (
            metrics.exclude_telemetry and app is not None and self.routes.telemetry_prefixes(app)
            and self.routes.is_telemetry(scope, route_path)
        ):
            await self.app(scope, receive, send)
            return
        semconv = True
        spans = self.spans
        if "fastapi.telemetry" in scope:
            from otelsvc._fastapi_native import native_telemetry

            native_spans, native_metrics = native_telemetry(scope)
            semconv = not native_metrics
            if native_spans:
                spans = None
        endpoint = metrics.labels_for(None, route_path)[1] if metrics.prefix_rules else "other"
        record = metrics.start(scope["method"], scope.get("scheme", "http"), endpoint, semconv)
        span: SpanScope | None = spans.start_asgi(scope, record.method) if spans is not None else None
        status = 0
        error: str | None = None
        started = time.perf_counter()

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        except BaseException as exc:
            error = type(exc).__name__
            raise
        finally:
            seconds = time.perf_counter() - started
            matched = scope.get("route")
            if matched is not None and not scope.get("fastapi") and scope.get("root_path", "") == root:
                # The common case (a route of the app itself, no Mount crossed): its path is the template.
                template = getattr(matched, "path", None)
            else:
                try:
                    template = self.routes.template(scope, root, app)
                except Exception:
                    template = None
            if template:
                route = endpoint = template
            else:
                route, endpoint = metrics.labels_for(None, route_path)
            if not status:
                status = 500
            if span is not None:
                span.finish(route, status, error)
            metrics.finish(record, route, endpoint, status, error, seconds, scope.get("http_version", ""))
            if span is not None:
                span.end()
