"""ASGI integration: the telemetry routes as an app, and the HTTP metrics middleware."""

from otelsvc._serving.asgi_app import TelemetryApp, make_asgi_app
from otelsvc._serving.asgi_middleware import HttpMetricsMiddleware
from otelsvc._serving.route_templates import is_telemetry_request

__all__ = ["HttpMetricsMiddleware", "TelemetryApp", "is_telemetry_request", "make_asgi_app"]
