"""WSGI integration: the telemetry routes as an app, and the HTTP metrics middleware."""

from otelsvc._serving.wsgi_app import make_wsgi_app
from otelsvc._serving.wsgi_middleware import HttpMetricsMiddleware

__all__ = ["HttpMetricsMiddleware", "make_wsgi_app"]
