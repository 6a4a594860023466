"""Bearer-token check for the telemetry routes: parsed leniently, compared in constant time."""

from __future__ import annotations

import hmac

__all__ = ["TokenCheck", "parse_bearer"]


def parse_bearer(header: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, or None.

    The scheme is case-insensitive and surrounding whitespace is ignored; an empty token, another
    scheme, or a token with inner whitespace gives None.
    """
    if not header:
        return None
    parts = header.strip().split(None, 1)
    if len(parts) != 2 or parts[0].lower() != "bearer":
        return None
    token = parts[1].strip()
    if not token or any(c.isspace() for c in token):
        return None
    return token


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
        return hmac.compare_digest(token.encode("utf-8", "surrogateescape"), self._expected)

    def __repr__(self) -> str:
        return f"TokenCheck(enabled={self.enabled})"
