"""Credentials kept out of everything otelsvc shows or logs: URL userinfo and query values.

An OTLP endpoint may carry a secret (``https://user:pw@host``, ``?api_key=...``); /health, /metadata,
log lines, ConfigError and reprs show endpoints, so each goes through ``redact_url`` first, and free
text that may quote a URL (an exporter's error message) through ``redact_text``.
"""

from __future__ import annotations

import logging
import re
import urllib.parse

__all__ = ["REDACTED", "RedactingFilter", "redact_exporter_logs", "redact_text", "redact_url"]

REDACTED = "<redacted>"
# scheme://userinfo@ in free text; userinfo ends at the last "@" before the host part.
_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]*://)(?P<userinfo>[^/?#\s@'\"<>]*)@")
# name=value pairs after "?" or "&" (a query string quoted anywhere, with or without its URL).
_QUERY_VALUE = re.compile(r"(?P<lead>[?&;][^=&#\s'\"<>?]*=)(?P<value><redacted>|[^&#\s'\"<>]*)")
# a query item without "=" right after a URL-ish word ("...?s3cr3t")
_QUERY_BARE = re.compile(r"(?<=\S)(?P<lead>[?&])(?P<value>[^=&#\s'\"<>?]+)(?=[&#\s'\"<>)]|$)")


def redact_url(url: str) -> str:
    """``url`` with its userinfo and every query value replaced by ``<redacted>`` (keys kept)."""
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:
        return redact_text(url)
    netloc = parts.netloc
    if "@" in netloc:
        netloc = f"{REDACTED}@{netloc.rpartition('@')[2]}"
    query = parts.query
    if query:
        query = "&".join(
            f"{pair.partition('=')[0]}={REDACTED}" if "=" in pair else REDACTED for pair in query.split("&")
        )
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def redact_text(text: str) -> str:
    """``text`` with the userinfo and query values of any URL or query string in it redacted."""
    text = _USERINFO.sub(lambda m: f"{m.group('scheme')}{REDACTED}@", text)
    text = _QUERY_VALUE.sub(lambda m: f"{m.group('lead')}{REDACTED}", text)
    return _QUERY_BARE.sub(lambda m: f"{m.group('lead')}{REDACTED}", text)


class RedactingFilter(logging.Filter):
    """Rewrites a record's message with ``redact_text`` (the record still goes wherever it went)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:
            return True
        redacted = redact_text(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


# The OTLP exporters' own loggers: their error lines quote the endpoint URL (urllib3's "Max retries
# exceeded with url: /v1/metrics?api_key=..."). A filter on each one redacts the record where it is
# made, so the line is clean whether otelsvc routes the SDK's logging at that moment or not (an
# export abandoned at shutdown may still log after the routing is undone).
_EXPORTER_LOGGERS = tuple(
    "opentelemetry.exporter.otlp." + name
    for name in (
        "proto.grpc.exporter", "proto.grpc.metric_exporter", "proto.grpc.trace_exporter",
        "proto.http._log_exporter", "proto.http._common", "proto.http.metric_exporter", "proto.http.trace_exporter",
        "proto.common._internal", "proto.common._internal.metrics_encoder", "proto.common._internal.trace_encoder",
        "common.http",
    )
)
_FILTER = RedactingFilter()


def redact_exporter_logs() -> None:
    """Put the redacting filter on every OTLP exporter logger (idempotent, process-wide, permanent)."""
    for name in _EXPORTER_LOGGERS:
        target = logging.getLogger(name)
        if _FILTER not in target.filters:
            target.addFilter(_FILTER)
