"""WSGI middleware recording the http family and a SERVER span for every request (a plain WSGI
callable)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from time import perf_counter
from typing import TYPE_CHECKING, Any

from opentelemetry import context as otel_context
from opentelemetry import trace

from otelsvc._handles import FOLD_AFTER, SPAN_KEY, current_context, fold_requests, step_pair, step_request
from otelsvc._serving.route_templates import flask_context, flask_rule
from otelsvc.types import StartResponse, WSGIApp, WSGIEnviron

if TYPE_CHECKING:
    from otelsvc._guard import ProviderGuard
    from otelsvc._serving.server_spans import ServerSpans, SpanScope
    from otelsvc.instruments.http import Flight, HttpMetrics

__all__ = ["HttpMetricsMiddleware"]


class _Request:
    """One request: the ``start_response`` the app gets (keeping the status) and the body the server
    gets, which records the request when the server has iterated it (or closes it first, or iterating
    it fails). One object holds what the end needs, so a request allocates little."""

    __slots__ = (
        "_start_response",
        "body",
        "environ",
        "finished",
        "flight",
        "middleware",
        "path",
        "route",
        "span",
        "started",
        "status",
    )

    # No __init__: the middleware sets every slot where it makes the request (one Python call fewer).
    middleware: HttpMetricsMiddleware
    environ: WSGIEnviron
    _start_response: StartResponse
    flight: Flight
    span: SpanScope | None
    path: str
    route: str | None
    body: Iterable[bytes]
    status: int
    finished: bool
    started: float

    def start_response(self, status_line: str, headers: Any, exc_info: Any = None) -> Any:
        self.status = _STATUSES.get(status_line) or _status_of(status_line)
        middleware = self.middleware
        if middleware._flask is not None:
            # Flask still has its context pushed when it calls start_response: take the rule it matched.
            try:
                context = middleware._flask_context(None)  # type: ignore[misc]
                if context is not None and context.app is middleware._flask:
                    rule = context.request.url_rule
                    if rule is not None:
                        self.route = rule.rule
            except Exception:  # a Flask whose contexts look different: no route, never a failed request
                pass
        if exc_info:
            return self._start_response(status_line, headers, exc_info)
        return self._start_response(status_line, headers)

    def __iter__(self) -> Iterator[bytes]:
        """The body, recording the request once the server has taken its last chunk (a test client
        that reads the body records it without closing it)."""
        try:
            yield from self.body
        except BaseException as exc:
            self.end(type(exc).__name__)
            raise
        self.end(None)

    def close(self) -> None:
        """The server is done with the body: close it, and record the request if its iteration did not
        (the server stopped early or never iterated)."""
        try:
            close = getattr(self.body, "close", None)
            if close is not None:
                close()
        finally:
            if not self.finished:
                self.end(None)

    def end(self, error: str | None) -> None:
        """Record the request, once (the end of the body's iteration, its ``close`` and a failure may
        each end it). The common case (no span, a cached end series, no exemplar to take) is deferred;
        anything else is recorded now."""
        if self.finished:
            return
        self.finished = True
        seconds = perf_counter() - self.started
        middleware = self.middleware
        environ = self.environ
        template = self.route if middleware.resolve is None else middleware.resolved(environ)
        route, endpoint = (template, template) if template else middleware.metrics.labels_for(None, self.path)
        protocol = environ.get("SERVER_PROTOCOL", "")
        protocol = _PROTOCOLS.get(protocol) or (protocol[5:] if protocol.startswith("HTTP/") else "")
        flight = self.flight
        span = self.span
        ends = flight.ends.get((route, endpoint, self.status, error, protocol))
        if (
            ends is not None
            and ends[4]
            and span is None
            and (ends[4] == 2 or not (context := current_context()) or SPAN_KEY not in context)
        ):
            deferred = ends[5]
            deferred.append(seconds)
            if len(deferred) > FOLD_AFTER:
                fold_requests(flight, (ends,))
            return
        metrics = middleware.metrics
        if span is None:
            metrics.end(flight, route, endpoint, self.status, error, seconds, protocol)
            return
        span.finish(route, self.status, error)
        # The body is closed outside the app call: make the span current again while recording.
        token = otel_context.attach(trace.set_span_in_context(span.span))
        try:
            metrics.end(flight, route, endpoint, self.status, error, seconds, protocol)
        finally:
            otel_context.detach(token)
            span.span.end()


# Status lines and protocols as the end records them, cached (a request then parses nothing).
_STATUSES: dict[str, int] = {}
_PROTOCOLS = {"HTTP/1.1": "1.1", "HTTP/1.0": "1.0", "HTTP/2": "2", "HTTP/2.0": "2.0", "HTTP/3": "3"}


def _status_of(status_line: str) -> int:
    """The status code of a WSGI status line (500 when it has none), remembered for the next request."""
    try:
        status = int(status_line[:3])
    except ValueError:
        status = 500
    if len(_STATUSES) < 1000:
        _STATUSES[status_line] = status
    return status


_new = object.__new__


class HttpMetricsMiddleware:
    """Wraps a WSGI app, e.g. ``app.wsgi_app = HttpMetricsMiddleware(app.wsgi_app, guard=guard)``.

    A Flask app's matched URL rule is read from Flask's context when Flask calls ``start_response``
    (no second matching); other apps can pass
    ``route_resolver(environ) -> template | None``, called after the app ran.
    ``spans=False`` keeps the metrics and makes no spans; the default makes them when the guard exports
    traces (an OTLP or console traces exporter, or the testing guard).
    """

    __slots__ = (
        "_exact",
        "_flask",
        "_flask_context",
        "_flights",
        "_pattern",
        "_plain",
        "app",
        "metrics",
        "resolve",
        "spans",
    )

    def __init__(
        self,
        app: WSGIApp,
        guard: ProviderGuard | None = None,
        metrics: HttpMetrics | None = None,
        route_resolver: Callable[[WSGIEnviron], str | None] | None = None,
        spans: bool | None = None,
        **options: Any,
    ) -> None:
        from otelsvc._serving.server_spans import ServerSpans
        from otelsvc.instruments.http import HttpMetrics

        self.app = app
        self.metrics = HttpMetrics.for_middleware(guard, metrics, options)
        self.spans: ServerSpans | None = ServerSpans.for_middleware(self.metrics.guard, spans)
        self.resolve = route_resolver
        # What a request reads, on the middleware itself (a request touches few objects: docs/performance.md).
        self._exact = self.metrics.exact_exclude
        self._pattern = self.metrics.exclude_pattern
        self._plain = not self.metrics.prefix_rules  # every request starts in the endpoint "other"
        self._flights = self.metrics.flights
        flask = flask_context(app) if route_resolver is None else None
        self._flask: Any = flask[0] if flask is not None else None
        self._flask_context: Callable[[Any], Any] | None = flask[1] if flask is not None else None

    def resolved(self, environ: WSGIEnviron) -> str | None:
        """The template ``route_resolver`` gives after the app ran (None when it fails)."""
        try:
            return self.resolve(environ) if self.resolve is not None else None
        except Exception:
            return None

    def __call__(self, environ: WSGIEnviron, start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "") or "/"
        if path in self._exact or (self._pattern is not None and self._pattern.search(path) is not None):
            return self.app(environ, start_response)
        endpoint = "other" if self._plain else self.metrics.labels_for(None, path)[1]
        method = environ.get("REQUEST_METHOD", "GET")
        scheme = environ.get("wsgi.url_scheme", "http")
        flight = self._flights.get((method, scheme, endpoint)) or self.metrics.flight(method, scheme, endpoint)
        if flight.defer:
            next(flight.started)
        elif flight.fast:
            step_request(flight.active, flight.in_flight, 1)
        else:
            step_pair(flight.active, flight.in_flight, 1)
        span: SpanScope | None = self.spans.start_wsgi(environ, flight.method) if self.spans is not None else None
        request = _new(_Request)
        request.middleware = self
        request.environ = environ
        request._start_response = start_response
        request.flight = flight
        request.span = span
        request.path = path
        request.route = None
        request.body = ()
        request.status = 500
        request.finished = False
        request.started = perf_counter()
        try:
            request.body = self.app(environ, request.start_response)
        except BaseException as exc:
            if span is not None:
                otel_context.detach(span.token)  # type: ignore[arg-type]
            if self._flask is not None and request.route is None:
                request.route = flask_rule(self._flask, environ)  # Flask let it out before start_response
            request.end(type(exc).__name__)
            raise
        if span is not None:
            otel_context.detach(span.token)  # type: ignore[arg-type]
        return request
