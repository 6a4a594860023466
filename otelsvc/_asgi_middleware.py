"""ASGI middleware recording the http family for every HTTP request (a plain ASGI callable)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from otelsvc._route_templates import is_telemetry_mount, starlette_final_template, starlette_template
from otelsvc.types import ASGIApp, Message, Receive, Scope, Send

if TYPE_CHECKING:
    from otelsvc._guard import ProviderGuard
    from otelsvc.instruments.http import HttpMetrics

__all__ = ["HttpMetricsMiddleware"]


class HttpMetricsMiddleware:
    """Wraps an ASGI app; give it a guard (or an ``HttpMetrics``), e.g.
    ``app.add_middleware(HttpMetricsMiddleware, guard=guard, prefix_rules=[("/boot/", "boot")])``.

    The in-flight counts are decremented in a ``finally`` with the handles they were incremented
    with, so exceptions and cancelled requests (client gone) never leave them drifting.
    """

    def __init__(
        self,
        app: ASGIApp,
        guard: ProviderGuard | None = None,
        metrics: HttpMetrics | None = None,
        **options: Any,
    ) -> None:
        from otelsvc.instruments.http import HttpMetrics

        self.app = app
        self.metrics = HttpMetrics.for_middleware(guard, metrics, options)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        root = scope.get("root_path", "")
        route_path = path[len(root):] if root and path.startswith(root) else path
        metrics = self.metrics
        if metrics.excluded(route_path) or (metrics.exclude_telemetry and is_telemetry_mount(scope)):
            await self.app(scope, receive, send)
            return
        try:
            template = starlette_template(scope)
        except Exception:
            template = None
        route, endpoint = metrics.labels_for(template, route_path)
        record = metrics.start(scope.get("method", "GET"), scope.get("scheme", "http"), endpoint)
        entry = {"type": "http", "method": scope.get("method"), "path": path, "root_path": root,
                 "app": scope.get("app"), "headers": scope.get("headers", [])}
        status = 500
        error: str | None = None
        started = time.perf_counter()

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        except BaseException as exc:
            error = type(exc).__name__
            raise
        finally:
            matched = scope.get("route")
            if matched is not None:
                try:
                    final = starlette_final_template(entry, matched)
                except Exception:
                    final = None
                if final:
                    route = endpoint = final
            metrics.finish(record, route, endpoint, status, error, time.perf_counter() - started)
