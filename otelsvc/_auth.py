"""Bearer-token check for the telemetry routes: parsed leniently, compared in constant time.

Tokens are compared as bytes: the configured token as UTF-8, the presented one as the bytes the
client sent. Servers hand header values over as latin-1 text (HTTP/1.1, WSGI and ASGI all do), so
a non-ASCII token sent by a UTF-8 client arrives as its UTF-8 bytes spelled in latin-1; a framework
that decoded the header as UTF-8 hands over the token itself. Both spellings are checked, always
both, each with ``hmac.compare_digest`` (which raises TypeError on non-ASCII ``str``).
"""

from __future__ import annotations

import hmac

_HTTP_SPACE = " \t\r\n\v\f"

__all__ = ["TokenCheck", "parse_bearer"]


def parse_bearer(header: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, or None.

    The scheme is case-insensitive and surrounding whitespace is ignored; an empty token, another
    scheme, or a token with inner whitespace gives None.
    """
    if not header:
        return None
    # Only HTTP's own whitespace separates: a latin-1 spelled UTF-8 token may hold \x85 or \xa0,
    # which str.isspace() and str.split() would take for spaces.
    parts = header.strip(_HTTP_SPACE).replace("\t", " ").split(" ", 1)
    if len(parts) != 2 or parts[0].lower() != "bearer":
        return None
    token = parts[1].strip(_HTTP_SPACE)
    if not token or any(c in _HTTP_SPACE for c in token):
        return None
    return token


def _spellings(token: str) -> tuple[bytes, bytes]:
    """The bytes a token may stand for: as sent (latin-1 spelling) and as text (UTF-8)."""
    utf8 = token.encode("utf-8", "surrogateescape")
    try:
        return token.encode("latin-1"), utf8
    except UnicodeEncodeError:
        return utf8, utf8


class TokenCheck:
    """Holds the configured token (read once at start) and checks Authorization headers."""

    __slots__ = ("_expected",)

    def __init__(self, token: str | None) -> None:
        self._expected = token.encode("utf-8") if token else None

    @property
    def enabled(self) -> bool:
        return self._expected is not None

    def allows(self, authorization: str | None) -> bool:
        """True when auth is off, or the header carries the configured token."""
        if self._expected is None:
            return True
        token = parse_bearer(authorization)
        if token is None:
            return False
        as_sent, as_text = _spellings(token)
        sent_ok = hmac.compare_digest(as_sent, self._expected)
        text_ok = hmac.compare_digest(as_text, self._expected)
        return sent_ok or text_ok

    def __repr__(self) -> str:
        return f"TokenCheck(enabled={self.enabled})"
