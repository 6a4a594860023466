"""Authorization header parsing and the constant-time check."""

from __future__ import annotations

import pytest

from otelsvc._auth import TokenCheck, parse_bearer


@pytest.mark.parametrize(
    ("header", "token"),
    [
        ("Bearer abc", "abc"), ("bearer abc", "abc"), ("BeArEr abc", "abc"), ("  Bearer   abc  ", "abc"),
        ("Bearer\tabc", "abc"), ("Bearer abc def", None), ("Bearer", None), ("Bearer ", None), ("", None),
        (None, None), ("Basic abc", None), ("abc", None), ("Bearerabc", None), ("Token abc", None),
    ],
)
def test_parse_bearer(header: str | None, token: str | None) -> None:
    assert parse_bearer(header) == token


def test_token_check() -> None:
    check = TokenCheck("s3cret")
    assert check.enabled
    assert check.allows("Bearer s3cret")
    assert not check.allows("Bearer s3cre")
    assert not check.allows("Bearer s3cret2")
    assert not check.allows(None)
    assert not check.allows("Bearer \udcff")
    assert "s3cret" not in repr(check)
    off = TokenCheck(None)
    assert not off.enabled and off.allows(None) and off.allows("Bearer anything")


def test_non_ascii_token_from_a_utf8_client() -> None:
    """A UTF-8 client's bytes reach the routes spelled in latin-1 (\\xa0 and \\x85 inside are not spaces)."""
    token = "gé…à-ключ"
    check = TokenCheck(token)
    as_sent = token.encode("utf-8").decode("latin-1")
    assert check.allows(f"Bearer {as_sent}")
    assert check.allows(f"Bearer {token}")  # a framework that decoded the header as UTF-8
    assert not check.allows(f"Bearer {as_sent[:-1]}")
    assert not check.allows("Bearer \udcff")


def test_non_ascii_token_over_the_builtin_server() -> None:
    import socket

    import otelsvc

    token = "пароль-é"
    guard = otelsvc.start(prometheus="127.0.0.1:0", metrics_token=token, set_global=False)
    try:
        port = guard.prometheus_address[1]  # type: ignore[index]

        def get(value: bytes) -> bytes:
            with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
                s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\nAuthorization: Bearer "
                          + value + b"\r\n\r\n")
                return s.recv(64)

        assert get(token.encode("utf-8")).startswith(b"HTTP/1.1 200 ")
        assert get(token.encode("utf-8")[:-1]).startswith(b"HTTP/1.1 401 ")
    finally:
        guard.shutdown()
