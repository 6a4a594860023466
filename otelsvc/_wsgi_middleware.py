"""WSGI middleware recording the http family and a SERVER span for every request (a plain WSGI
callable)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

from opentelemetry import context as otel_context
from opentelemetry import trace

from otelsvc._route_templates import FLASK_ROUTE_KEY, hook_flask
from otelsvc.types import StartResponse, WSGIApp, WSGIEnviron

if TYPE_CHECKING:
    from otelsvc._guard import ProviderGuard
    from otelsvc._server_spans import ServerSpans, SpanScope
    from otelsvc.instruments.http import HttpMetrics

__all__ = ["HttpMetricsMiddleware"]


class _Request:
    """One request: the ``start_response`` the app gets (keeping the status) and the body the server
    gets (finishing the record when the server closes it). One object, so a request allocates little."""

    __slots__ = ("_start_response", "body", "done", "status")

    def __init__(self, start_response: StartResponse, done: Callable[[_Request, str | None], None]) -> None:
        self._start_response = start_response
        self.body: Iterable[bytes] = ()
        self.done = done
        self.status = 500

    def start_response(self, status_line: str, headers: Any, exc_info: Any = None) -> Any:
        try:
            self.status = int(status_line[:3])
        except ValueError:
            self.status = 500
        if exc_info:
            return self._start_response(status_line, headers, exc_info)
        return self._start_response(status_line, headers)

    def __iter__(self) -> Iterator[bytes]:
        try:
            yield from self.body
        except BaseException as exc:
            self.done(self, type(exc).__name__)
            raise

    def close(self) -> None:
        try:
            close = getattr(self.body, "close", None)
            if close is not None:
                close()
        finally:
            self.done(self, None)


class HttpMetricsMiddleware:
    """Wraps a WSGI app, e.g. ``app.wsgi_app = HttpMetricsMiddleware(app.wsgi_app, guard=guard)``.

    A Flask app gets a first ``before_request`` function that leaves its matched URL rule in the
    environ, read after the app ran (no second matching); other apps can pass
    ``route_resolver(environ) -> template | None``, called after the app ran.
    ``spans=False`` keeps the metrics and makes no spans; the default makes them when the guard exports
    traces (an OTLP or console traces exporter, or the testing guard).
    """

    def __init__(
        self,
        app: WSGIApp,
        guard: ProviderGuard | None = None,
        metrics: HttpMetrics | None = None,
        route_resolver: Callable[[WSGIEnviron], str | None] | None = None,
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
        self.resolve = route_resolver
        if route_resolver is None:
            hook_flask(app)

    def _template(self, environ: WSGIEnviron) -> str | None:
        if self.resolve is None:
            return environ.get(FLASK_ROUTE_KEY)
        try:
            return self.resolve(environ)
        except Exception:
            return None

    def __call__(self, environ: WSGIEnviron, start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "") or "/"
        metrics = self.metrics
        if metrics.excluded(path):
            return self.app(environ, start_response)
        endpoint = metrics.labels_for(None, path)[1] if metrics.prefix_rules else "other"
        record = metrics.start(environ.get("REQUEST_METHOD", "GET"), environ.get("wsgi.url_scheme", "http"), endpoint)
        span: SpanScope | None = self.spans.start_wsgi(environ, record.method) if self.spans is not None else None
        protocol = environ.get("SERVER_PROTOCOL", "")
        protocol = protocol[5:] if protocol.startswith("HTTP/") else ""
        started = time.perf_counter()

        def done(request: _Request, error: str | None) -> None:
            seconds = time.perf_counter() - started
            route, endpoint = metrics.labels_for(self._template(environ), path)
            if span is None:
                metrics.finish(record, route, endpoint, request.status, error, seconds, protocol)
                return
            if record.finished:
                return
            span.finish(route, request.status, error)
            # The body is closed outside the app call: make the span current again while recording.
            token = otel_context.attach(trace.set_span_in_context(span.span))
            try:
                metrics.finish(record, route, endpoint, request.status, error, seconds, protocol)
            finally:
                otel_context.detach(token)
                span.span.end()

        request = _Request(start_response, done)
        try:
            request.body = self.app(environ, request.start_response)
        except BaseException as exc:
            if span is not None:
                otel_context.detach(span.token)  # type: ignore[arg-type]
            done(request, type(exc).__name__)
            raise
        if span is not None:
            otel_context.detach(span.token)  # type: ignore[arg-type]
        return request
