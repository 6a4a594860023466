"""Credentials kept out of everything otelsvc shows or logs: URL userinfo and query values.

An OTLP endpoint may carry a secret (``https://user:pw@host``, ``?api_key=...``); /health, /metadata,
log lines, ConfigError and reprs show endpoints, so each goes through ``redact_url`` first, and free
text that may quote a URL (an exporter's error message) through ``redact_text``.
"""

from __future__ import annotations

import re
import urllib.parse

__all__ = ["REDACTED", "redact_text", "redact_url"]

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
