"""The telemetry routes and how they are served: otelsvc's own HTTP server, the ASGI/WSGI apps and
the HTTP middleware (metrics and server spans)."""

__all__: list[str] = []
