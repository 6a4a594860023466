"""The telemetry routes as a WSGI app, to mount in a WSGI framework or serve alone."""

from __future__ import annotations

from collections.abc import Iterable
from http import HTTPStatus
from typing import TYPE_CHECKING

from otelsvc._mounting import require_prometheus_reader
from otelsvc.types import StartResponse, WSGIApp, WSGIEnviron

if TYPE_CHECKING:
    from otelsvc._guard import ProviderGuard

__all__ = ["make_wsgi_app"]


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Status"


def make_wsgi_app(guard: ProviderGuard) -> WSGIApp:
    """A WSGI app answering /metrics, /health and /metadata for ``guard`` (relative to SCRIPT_NAME).

    Raises ConfigError at once when ``guard`` has no Prometheus reader (``prometheus=None``).
    """
    require_prometheus_reader(guard, "make_wsgi_app")

    def app(environ: WSGIEnviron, start_response: StartResponse) -> Iterable[bytes]:
        headers = {k[5:].replace("_", "-").lower(): str(v) for k, v in environ.items() if k.startswith("HTTP_")}
        path = environ.get("PATH_INFO", "") or "/"
        response = guard.routes.handle(environ.get("REQUEST_METHOD", "GET"), path, headers)
        start_response(f"{response.status} {_reason(response.status)}", response.headers)
        return [response.body]

    return app
