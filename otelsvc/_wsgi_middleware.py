"""WSGI middleware recording the http family for every request (a plain WSGI callable)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

from otelsvc._route_templates import flask_resolver
from otelsvc.types import StartResponse, WSGIApp, WSGIEnviron

if TYPE_CHECKING:
    from otelsvc._guard import ProviderGuard
    from otelsvc.instruments.http import HttpMetrics, RequestRecord

__all__ = ["HttpMetricsMiddleware"]


class _Body:
    """The app's response body; finishing the request record when the server closes it."""

    def __init__(self, body: Iterable[bytes], done: Callable[[str | None], None]) -> None:
        self._body = body
        self._done = done

    def __iter__(self) -> Iterator[bytes]:
        try:
            yield from self._body
        except BaseException as exc:
            self._done(type(exc).__name__)
            raise

    def close(self) -> None:
        try:
            close = getattr(self._body, "close", None)
            if close is not None:
                close()
        finally:
            self._done(None)


class HttpMetricsMiddleware:
    """Wraps a WSGI app, e.g. ``app.wsgi_app = HttpMetricsMiddleware(app.wsgi_app, guard=guard)``.

    Flask apps (or their bound ``wsgi_app``) are recognised and their URL rules used as the route;
    other apps can pass ``route_resolver(environ) -> template | None``.
    """

    def __init__(
        self,
        app: WSGIApp,
        guard: ProviderGuard | None = None,
        metrics: HttpMetrics | None = None,
        route_resolver: Callable[[WSGIEnviron], str | None] | None = None,
        **options: Any,
    ) -> None:
        from otelsvc.instruments.http import HttpMetrics

        self.app = app
        self.metrics = HttpMetrics.for_middleware(guard, metrics, options)
        self.resolve = route_resolver or flask_resolver(app)

    def __call__(self, environ: WSGIEnviron, start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "") or "/"
        metrics = self.metrics
        if metrics.excluded(path):
            return self.app(environ, start_response)
        template = None
        if self.resolve is not None:
            try:
                template = self.resolve(environ)
            except Exception:
                template = None
        route, endpoint = metrics.labels_for(template, path)
        record: RequestRecord = metrics.start(environ.get("REQUEST_METHOD", "GET"),
                                              environ.get("wsgi.url_scheme", "http"), endpoint)
        status = [500]
        started = time.perf_counter()

        def done(error: str | None) -> None:
            metrics.finish(record, route, endpoint, status[0], error, time.perf_counter() - started)

        def recording_start_response(status_line: str, headers: Any, exc_info: Any = None) -> Any:
            try:
                status[0] = int(status_line[:3])
            except ValueError:
                status[0] = 500
            return start_response(status_line, headers, exc_info) if exc_info else start_response(status_line, headers)

        try:
            body = self.app(environ, recording_start_response)
        except BaseException as exc:
            done(type(exc).__name__)
            raise
        return _Body(body, done)
