"""The HTTP methods the semantic conventions call known: RFC 9110's, PATCH and QUERY, or the list in
``OTEL_INSTRUMENTATION_HTTP_KNOWN_METHODS``. Any other method is recorded as ``_OTHER``.

The semconv package's method enum lacks QUERY, so the list is written here.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping

__all__ = ["DEFAULT_KNOWN_METHODS", "KNOWN_METHODS_VARIABLE", "OTHER_METHOD", "known_methods"]

KNOWN_METHODS_VARIABLE = "OTEL_INSTRUMENTATION_HTTP_KNOWN_METHODS"
DEFAULT_KNOWN_METHODS: frozenset[str] = frozenset(
    ("CONNECT", "DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT", "QUERY", "TRACE")
)
OTHER_METHOD = "_OTHER"

# RFC 9110 section 5.6.2: a method is a token of tchars.
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_log = logging.getLogger("otelsvc")
_warned: set[str] = set()


def known_methods(environ: Mapping[str, str] | None = None) -> frozenset[str]:
    """The known methods: the variable's comma-separated list when it is set and valid, else the default.

    Methods are case-sensitive (RFC 9110), so ``get`` in the list is a method of its own. An invalid
    list (an empty entry or a character outside RFC 9110's token) warns once per value and falls back
    to the default, as the OTel specification asks of ``OTEL_*`` variables.
    """
    raw = (os.environ if environ is None else environ).get(KNOWN_METHODS_VARIABLE)
    if raw is None or not raw.strip():
        return DEFAULT_KNOWN_METHODS
    methods = [m.strip() for m in raw.split(",")]
    if all(_TOKEN.fullmatch(m) for m in methods):
        return frozenset(methods)
    if raw not in _warned:
        _warned.add(raw)
        _log.warning("otelsvc: %s=%r is not a comma-separated list of HTTP methods; using the default %s",
                     KNOWN_METHODS_VARIABLE, raw, ",".join(sorted(DEFAULT_KNOWN_METHODS)))
    return DEFAULT_KNOWN_METHODS
