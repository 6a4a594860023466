"""ASGI integration: the telemetry routes as an app, and the HTTP metrics middleware."""

from otelsvc._asgi_app import TelemetryApp, make_asgi_app
from otelsvc._asgi_middleware import HttpMetricsMiddleware
from otelsvc._route_templates import is_telemetry_request

__all__ = ["HttpMetricsMiddleware", "TelemetryApp", "is_telemetry_request", "make_asgi_app"]
