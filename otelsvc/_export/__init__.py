"""The push side: export pipelines (metrics, spans, logs) the guard loops over, their OTLP exporters
and proxies, and otelsvc's own OTLP encoder."""

__all__: list[str] = []
