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
