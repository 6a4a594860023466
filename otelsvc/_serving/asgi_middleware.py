"""ASGI middleware recording the http family and a SERVER span for every HTTP request (a plain ASGI
callable)."""

from __future__ import annotations

from collections.abc import Awaitable
from time import perf_counter
from typing import TYPE_CHECKING, Any

from otelsvc._handles import FOLD_AFTER, SPAN_KEY, current_context, end_request, fold_requests, step_pair, step_request
from otelsvc._serving.route_templates import StarletteRoutes, routes_of
from otelsvc.types import ASGIApp, Message, Receive, Scope, Send

if TYPE_CHECKING:
    from otelsvc._guard import ProviderGuard
    from otelsvc._serving.server_spans import ServerSpans, SpanScope
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

    __slots__ = (
        "_exact",
        "_exclude_telemetry",
        "_flights",
        "_pattern",
        "_plain",
        "_seen_app",
        "_seen_len",
        "_seen_prefixes",
        "_seen_routes",
        "app",
        "metrics",
        "routes",
        "spans",
    )

    def __init__(
        self,
        app: ASGIApp,
        guard: ProviderGuard | None = None,
        metrics: HttpMetrics | None = None,
        spans: bool | None = None,
        **options: Any,
    ) -> None:
        from otelsvc._serving.server_spans import ServerSpans
        from otelsvc.instruments.http import HttpMetrics

        self.app = app
        self.metrics = HttpMetrics.for_middleware(guard, metrics, options)
        self.spans: ServerSpans | None = ServerSpans.for_middleware(self.metrics.guard, spans)
        self.routes = StarletteRoutes()
        # What a request reads, on the middleware itself (a request touches few objects: docs/performance.md).
        self._exact = self.metrics.exact_exclude
        self._pattern = self.metrics.exclude_pattern
        self._exclude_telemetry = self.metrics.exclude_telemetry
        self._plain = not self.metrics.prefix_rules  # every request starts in the endpoint "other"
        self._flights = self.metrics.flights
        # The app last seen in a request, its route list, that list's length and its TelemetryApp mount paths.
        self._seen_app: Any = None
        self._seen_routes: Any = ()
        self._seen_len = 0
        self._seen_prefixes: tuple[str, ...] = ()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        root = scope.get("root_path")
        route_path = path[len(root) :] if root and path.startswith(root) else path
        app = scope.get("app")
        if app is not None and self._exclude_telemetry:
            if app is self._seen_app and len(self._seen_routes) == self._seen_len:
                prefixes = self._seen_prefixes
            else:
                prefixes = self._telemetry_prefixes(app)
        else:
            prefixes = ()
        if (
            route_path in self._exact
            or (self._pattern is not None and self._pattern.search(route_path) is not None)
            or (prefixes and self.routes.is_telemetry(scope, route_path))
        ):
            await self.app(scope, receive, send)
            return
        spans = self.spans
        endpoint = "other" if self._plain else self.metrics.labels_for(None, route_path)[1]
        method = scope["method"]
        scheme = scope.get("scheme", "http")
        if "fastapi.telemetry" in scope:
            from otelsvc._serving.fastapi_native import native_telemetry

            native_spans, native_metrics = native_telemetry(scope)
            if native_spans:
                spans = None
            flight = self.metrics.flight(method, scheme, endpoint, not native_metrics)
        else:
            flight = self._flights.get((method, scheme, endpoint)) or self.metrics.flight(method, scheme, endpoint)
        if flight.defer:
            next(flight.started)
        elif flight.fast:
            step_request(flight.active, flight.in_flight, 1)
        else:
            step_pair(flight.active, flight.in_flight, 1)
        span: SpanScope | None = spans.start_asgi(scope, flight.method) if spans is not None else None
        status = 0
        error: str | None = None
        started = perf_counter()

        def send_wrapper(message: Message) -> Awaitable[None]:
            # A plain function returning ``send``'s awaitable: no coroutine of its own per message.
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            return send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        except BaseException as exc:
            error = type(exc).__name__
            raise
        finally:
            seconds = perf_counter() - started
            if app is None and self._late_telemetry(scope, route_path):
                # Wrapped around the framework (not added to it): only now does the scope name the app,
                # and the request went to a mounted TelemetryApp. Leave it out, as when added.
                step_pair(flight.active, flight.in_flight, -1)
                if span is not None:
                    span.end()
            else:
                matched = scope.get("route")
                if matched is not None and not scope.get("fastapi") and scope.get("root_path") == root:
                    # The common case (a route of the app itself, no Mount crossed): its path is the template.
                    try:
                        template = matched.path
                    except AttributeError:  # a route type without a path
                        template = None
                else:
                    try:
                        template = self.routes.template(scope, root or "", app)
                    except Exception:
                        template = None
                if template:
                    route = endpoint = template
                else:
                    route, endpoint = self.metrics.labels_for(None, route_path)
                if not status:
                    status = 500
                if span is not None:
                    span.finish(route, status, error)
                # No once-only flag: this ``finally`` ends each request exactly once. The common case
                # (a cached series, no exemplar to take) is deferred; anything else through ``metrics.end``.
                version = scope.get("http_version", "")
                ends = flight.ends.get((route, endpoint, status, error, version))
                if (
                    ends is not None
                    and ends[4]
                    and (ends[4] == 2 or not (context := current_context()) or SPAN_KEY not in context)
                ):
                    deferred = ends[5]
                    deferred.append(seconds)
                    if len(deferred) > FOLD_AFTER:
                        fold_requests(flight, (ends,))
                elif ends is not None and ends[3]:
                    end_request(flight.active, flight.in_flight, ends[0], ends[2], ends[1], seconds)
                else:
                    self.metrics.end(flight, route, endpoint, status, error, seconds, version)
                if span is not None:
                    span.end()

    def _telemetry_prefixes(self, app: Any) -> tuple[str, ...]:
        """The TelemetryApp mount paths of ``app``, remembered with its route list and that list's length
        (routes are added in place), so a request costs two identity checks."""
        prefixes = self.routes.telemetry_prefixes(app)
        routes = routes_of(app) or []
        self._seen_app, self._seen_routes, self._seen_len, self._seen_prefixes = app, routes, len(routes), prefixes
        return prefixes

    def _late_telemetry(self, scope: Scope, route_path: str) -> bool:
        app = scope.get("app")
        return (
            app is not None
            and self._exclude_telemetry
            and bool(self.routes.telemetry_prefixes(app))
            and self.routes.is_telemetry(scope, route_path)
        )
