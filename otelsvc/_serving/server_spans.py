"""SERVER spans for the HTTP middleware, per the HTTP semantic conventions.

The incoming context is extracted with the global propagator (W3C tracecontext and baggage unless
configured otherwise), the span is made current while the app runs, and the caller records the
duration metric before the span ends, so exemplars can link the two.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.propagators.textmap import Getter
from opentelemetry.trace import SpanKind, Status, StatusCode, TracerProvider

from otelsvc._serving.http_methods import OTHER_METHOD
from otelsvc._version import __version__

__all__ = ["ServerSpans", "SpanScope", "span_name"]

SCHEMA_URL = "https://opentelemetry.io/schemas/1.37.0"


class _AsgiHeaders(Getter[Iterable[tuple[bytes, bytes]]]):
    """Reads ASGI headers (lower-case byte names) for the propagators."""

    def get(self, carrier: Iterable[tuple[bytes, bytes]], key: str) -> list[str] | None:
        name = key.lower().encode("latin-1")
        values = [v.decode("latin-1") for k, v in carrier if k == name]
        if not values:
            return None
        return [",".join(values)] if name == b"baggage" else values

    def keys(self, carrier: Iterable[tuple[bytes, bytes]]) -> list[str]:
        return [k.decode("latin-1") for k, _ in carrier]


class _WsgiEnviron(Getter[Mapping[str, Any]]):
    """Reads CGI-style ``HTTP_*`` variables of a WSGI environ for the propagators."""

    def get(self, carrier: Mapping[str, Any], key: str) -> list[str] | None:
        value = carrier.get("HTTP_" + key.upper().replace("-", "_"))
        return [str(value)] if value is not None else None

    def keys(self, carrier: Mapping[str, Any]) -> list[str]:
        return [k[5:].lower().replace("_", "-") for k in carrier if k.startswith("HTTP_")]


_ASGI = _AsgiHeaders()
_WSGI = _WsgiEnviron()


def span_name(method: str, route: str) -> str:
    """``{method} {route}``, ``{method}`` when unmatched, and ``HTTP`` for an unknown method."""
    base = "HTTP" if method == OTHER_METHOD else method
    return f"{base} {route}" if route else base


def _server(authority: str | None, scheme: str) -> dict[str, Any]:
    if not authority:
        return {}
    host, sep, port = authority.rpartition(":")
    if not sep or "]" in port:
        host, port = authority, ""
    attrs: dict[str, Any] = {"server.address": host.strip("[]")}
    if port.isdigit():
        attrs["server.port"] = int(port)
    elif scheme in ("http", "https"):
        attrs["server.port"] = 443 if scheme == "https" else 80
    return attrs


class SpanScope:
    """One request's span and the context token that made it current."""

    __slots__ = ("method", "span", "token")

    def __init__(self, span: Any, token: object, method: str) -> None:
        self.span = span
        self.token = token
        self.method = method

    def finish(self, route: str, status: int, error: str | None) -> None:
        """Set the attributes known after the app ran (before the duration is recorded)."""
        span = self.span
        if not span.is_recording():
            return
        attrs: dict[str, Any] = {"http.response.status_code": status} if status else {}
        if route:
            attrs["http.route"] = route
            span.update_name(span_name(self.method, route))
        if error or status >= 500:
            attrs["error.type"] = error or str(status)
            span.set_status(Status(StatusCode.ERROR))
        span.set_attributes(attrs)

    def end(self) -> None:
        """Leave the span's context and end it (after the duration was recorded inside it)."""
        otel_context.detach(self.token)  # type: ignore[arg-type]
        self.span.end()


class ServerSpans:
    """Starts SERVER spans on the guard's tracer provider."""

    def __init__(self, tracer_provider: TracerProvider) -> None:
        self.tracer = tracer_provider.get_tracer("otelsvc.http", __version__, schema_url=SCHEMA_URL)

    @classmethod
    def for_middleware(cls, guard: Any, spans: bool | None) -> ServerSpans | None:
        """A middleware's spans: ``spans`` as given, or by default made only when the guard exports
        traces (a span costs tens of microseconds; one that goes nowhere is not worth it)."""
        if spans is None:
            spans = getattr(guard, "traces_exported", True)
        return cls(guard.tracer_provider) if spans else None

    def _start(self, parent: Any, method: str, original: str, attrs: dict[str, Any]) -> SpanScope:
        if method == OTHER_METHOD:
            attrs["http.request.method_original"] = original
        span = self.tracer.start_span(span_name(method, ""), context=parent, kind=SpanKind.SERVER, attributes=attrs)
        token = otel_context.attach(trace.set_span_in_context(span, parent))
        return SpanScope(span, token, method)

    def start_asgi(self, scope: Mapping[str, Any], method: str) -> SpanScope:
        """A span for an ASGI request, its parent extracted from the request headers."""
        headers = scope.get("headers") or ()
        parent = propagate.extract(headers, getter=_ASGI)
        scheme = scope.get("scheme", "http")
        attrs: dict[str, Any] = {"http.request.method": method, "url.scheme": scheme, "url.path": scope.get("path", "")}
        query = scope.get("query_string")
        if query:
            attrs["url.query"] = query.decode("latin-1")
        version = scope.get("http_version")
        if version:
            attrs["network.protocol.version"] = "2" if version == "2.0" else version
        host = agent = None
        for name, value in headers:
            if name == b"host":
                host = value.decode("latin-1")
            elif name == b"user-agent":
                agent = value.decode("latin-1")
        attrs.update(_server(host, scheme) if host else _server_tuple(scope.get("server")))
        if agent is not None:
            attrs["user_agent.original"] = agent
        client = scope.get("client")
        if client:
            attrs["client.address"] = client[0]
        return self._start(parent, method, scope.get("method", ""), attrs)

    def start_wsgi(self, environ: Mapping[str, Any], method: str) -> SpanScope:
        """A span for a WSGI request, its parent extracted from the ``HTTP_*`` variables."""
        parent = propagate.extract(environ, getter=_WSGI)
        scheme = environ.get("wsgi.url_scheme", "http")
        attrs: dict[str, Any] = {
            "http.request.method": method,
            "url.scheme": scheme,
            "url.path": environ.get("PATH_INFO", "") or "/",
        }
        query = environ.get("QUERY_STRING")
        if query:
            attrs["url.query"] = query
        protocol = environ.get("SERVER_PROTOCOL", "")
        if protocol.startswith("HTTP/"):
            version = protocol[5:]
            attrs["network.protocol.version"] = "2" if version == "2.0" else version
        host = environ.get("HTTP_HOST")
        if host:
            attrs.update(_server(host, scheme))
        elif environ.get("SERVER_NAME"):
            attrs.update(_server_tuple((environ["SERVER_NAME"], environ.get("SERVER_PORT"))))
        agent = environ.get("HTTP_USER_AGENT")
        if agent:
            attrs["user_agent.original"] = agent
        if environ.get("REMOTE_ADDR"):
            attrs["client.address"] = environ["REMOTE_ADDR"]
        return self._start(parent, method, environ.get("REQUEST_METHOD", ""), attrs)


def _server_tuple(server: Any) -> dict[str, Any]:
    if not server or not server[0]:
        return {}
    attrs: dict[str, Any] = {"server.address": str(server[0])}
    if len(server) > 1 and server[1] is not None and str(server[1]).isdigit():
        attrs["server.port"] = int(server[1])
    return attrs
