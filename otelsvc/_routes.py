"""The telemetry routes (/metrics, /health, /metadata), independent of any server.

The built-in server, the ASGI app and the WSGI app all call ``TelemetryRoutes.handle`` with a method,
a path and the request headers, and send back the ``Response`` it returns. Order of checks: unknown
path 404; known path with another method 405; then auth; then the answer.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from otelsvc._auth import TokenCheck
from otelsvc._content_types import CONTENT_TYPE_OPENMETRICS, CONTENT_TYPE_TEXT
from otelsvc._logging import logger

__all__ = ["ROUTES", "Response", "TelemetryRoutes", "TelemetrySource"]

ROUTES = ("/metrics", "/health", "/metadata")
_JSON = "application/json"
_TEXT = "text/plain; charset=utf-8"
_CHALLENGE = ("WWW-Authenticate", 'Bearer realm="metrics"')


class TelemetrySource(Protocol):
    """What the routes need from a guard."""

    @property
    def state(self) -> str: ...

    def render_metrics(self, openmetrics: bool) -> bytes: ...

    def health_detail(self) -> dict[str, Any]: ...

    def metadata(self) -> dict[str, Any]: ...

    def identity(self) -> tuple[str, str | None]: ...


@dataclass
class Response:
    """Status, headers and body of one answer."""

    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""


def _accepts(header: str | None, token: str) -> bool:
    """True when a comma-separated Accept-style header lists ``token`` with a non-zero q."""
    if not header:
        return False
    for item in header.split(","):
        name, _, params = item.strip().partition(";")
        if name.strip().lower() != token:
            continue
        for param in params.split(";"):
            key, _, value = param.strip().partition("=")
            if key.strip().lower() == "q":
                try:
                    return float(value) > 0
                except ValueError:
                    return False
        return True
    return False


def _json(status: int, payload: dict[str, Any]) -> Response:
    body = json.dumps(payload, sort_keys=True).encode("utf-8")
    return Response(status, [("Content-Type", _JSON), ("Cache-Control", "no-store")], body)


def _text(status: int, message: str, extra: list[tuple[str, str]] | None = None) -> Response:
    return Response(status, [("Content-Type", _TEXT), *(extra or [])], (message + "\n").encode("utf-8"))


class TelemetryRoutes:
    """Answers the three telemetry routes for one source, with the token read once at creation."""

    def __init__(self, source: TelemetrySource, token: str | None) -> None:
        self.source = source
        self.auth = TokenCheck(token)

    def handle(self, method: str, path: str, headers: Mapping[str, str]) -> Response:
        """Answer one request; ``headers`` has lower-case names. HEAD gets GET's headers, no body."""
        if path not in ROUTES:
            return _text(404, "not found")
        if method not in ("GET", "HEAD"):
            return _text(405, "method not allowed", [("Allow", "GET, HEAD")])
        authorized = self.auth.allows(headers.get("authorization"))
        if path == "/health":
            response = self._health(authorized)
        elif not authorized:
            return _text(401, "unauthorized", [_CHALLENGE])
        elif path == "/metrics":
            response = self._metrics(headers)
        else:
            response = _json(200, self.source.metadata())
        response.headers.append(("Content-Length", str(len(response.body))))
        if method == "HEAD":
            response.body = b""
        return response

    def _metrics(self, headers: Mapping[str, str]) -> Response:
        openmetrics = _accepts(headers.get("accept"), "application/openmetrics-text")
        try:
            body = self.source.render_metrics(openmetrics)
        except Exception as exc:
            logger.error("otelsvc: rendering /metrics failed: %s: %s", type(exc).__name__, exc)
            return _text(500, "metrics rendering failed")
        out = [("Content-Type", CONTENT_TYPE_OPENMETRICS if openmetrics else CONTENT_TYPE_TEXT),
               ("Vary", "Accept, Accept-Encoding")]
        if _accepts(headers.get("accept-encoding"), "gzip"):
            import gzip

            body = gzip.compress(body, compresslevel=5)
            out.append(("Content-Encoding", "gzip"))
        return Response(200, out, body)

    def _health(self, detailed: bool) -> Response:
        state = self.source.state
        name, version = self.source.identity()
        payload: dict[str, Any] = {"status": state, "service": name, "version": version}
        if detailed:
            payload.update(self.source.health_detail())
        return _json(200 if state in ("ok", "degraded") else 503, payload)
