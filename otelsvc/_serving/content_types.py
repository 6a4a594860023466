"""Content types of the Prometheus exposition formats (kept apart so routes load no renderer)."""

__all__ = ["CONTENT_TYPE_OPENMETRICS", "CONTENT_TYPE_TEXT"]

CONTENT_TYPE_TEXT = "text/plain; version=0.0.4; charset=utf-8"
CONTENT_TYPE_OPENMETRICS = "application/openmetrics-text; version=1.0.0; charset=utf-8"
