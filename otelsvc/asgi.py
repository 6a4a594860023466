"""ASGI integration: the telemetry routes as an app, and the HTTP metrics middleware."""

from otelsvc._asgi_app import TelemetryApp, make_asgi_app
from otelsvc._asgi_middleware import HttpMetricsMiddleware

__all__ = ["HttpMetricsMiddleware", "TelemetryApp", "make_asgi_app"]
