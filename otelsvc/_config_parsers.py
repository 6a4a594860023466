"""The value parsers of the settings table: each turns a keyword or variable value into a setting or raises.

A parser raises ``ValueError`` with a message saying what is expected; the resolver decides whether
that is an error (keywords, ``OTELSVC_*``) or a warning and a fallback (standard ``OTEL_*``).
Each ``Parser`` also carries the text the generated docs show and one value it rejects, which the
table-driven tests feed it.
"""

from __future__ import annotations

import math
import os
import urllib.parse
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "instrumentors",
    "NO_LIMIT_SECONDS",
    "AttrValue",
    "Parser",
    "address",
    "any_text",
    "attributes",
    "choice",
    "choices",
    "count",
    "endpoint",
    "existing_file",
    "headers",
    "millis",
    "namespace",
    "optional_text",
    "otel_bool",
    "port",
    "positive_int",
    "propagators",
    "ratio",
    "seconds",
    "strict_bool",
    "token",
]

AttrValue = str | int | float | bool

# What "0 = no limit" becomes: the largest duration the spec asks integer variables to support
# (2**31 - 1 milliseconds, about 24.8 days). Finite, so every wait stays a bounded wait, and
# shutdown() is bounded by its own timeout whatever the export timeout.
NO_LIMIT_SECONDS = (2**31 - 1) / 1000


@dataclass(frozen=True)
class Parser:
    """A value parser with the text the docs show for it and one value it rejects."""

    func: Callable[[Any], Any]
    kind: str
    bad: str

    def __call__(self, value: Any) -> Any:
        return self.func(value)


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError("must be a string")
    return value.strip()


def _strict_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = _text(value).lower() if isinstance(value, str) else ""
    if text in {"true", "1", "yes", "on"}:
        return True
    if text in {"false", "0", "no", "off"}:
        return False
    raise ValueError("must be true or false")


strict_bool = Parser(_strict_bool, "true/false (also 1/0, yes/no, on/off)", "perhaps")


def _otel_bool(value: Any) -> bool:
    # The spec: only case-insensitive "true" is true; "false" is false; anything else is false + a warning.
    text = _text(value).lower()
    if text == "true":
        return True
    if text == "false":
        return False
    raise ValueError("only true or false (case-insensitive) are booleans; anything else counts as false")


otel_bool = Parser(_otel_bool, "`true` or `false` (only `true` is true)", "1")


def _seconds(value: Any) -> float:
    if isinstance(value, bool):
        raise ValueError("must be a number of seconds above 0")
    try:
        number = float(value.strip()) if isinstance(value, str) else float(value)
    except (TypeError, ValueError):
        raise ValueError("must be a number of seconds above 0") from None
    if not math.isfinite(number) or number <= 0:
        raise ValueError("must be a finite number of seconds above 0")
    return number


seconds = Parser(_seconds, "seconds (> 0)", "nan")


def millis(zero_is_no_limit: bool) -> Parser:
    """A spec duration: whole milliseconds, returned in seconds; 0 is no limit for the spec's timeouts."""

    def parse(value: Any) -> float:
        text = _text(value)
        if not text.isdigit():
            raise ValueError("must be a whole number of milliseconds")
        number = int(text)
        if number == 0:
            if zero_is_no_limit:
                return NO_LIMIT_SECONDS
            raise ValueError("must be above 0 milliseconds")
        return number / 1000

    kind = "milliseconds (0 = no limit)" if zero_is_no_limit else "milliseconds (> 0)"
    return Parser(parse, kind, "-5")


def _positive_int(value: Any) -> int:
    if isinstance(value, bool):
        raise ValueError("must be a whole number above 0")
    if isinstance(value, str):
        value = value.strip()
        if not value.isdigit():
            raise ValueError("must be a whole number above 0")
    if not isinstance(value, (int, str)) or int(value) <= 0:
        raise ValueError("must be a whole number above 0")
    return int(value)


positive_int = Parser(_positive_int, "whole number (> 0)", "0")


def _count(value: Any) -> int:
    text = _text(value)
    if not text.isdigit():
        raise ValueError("must be a whole number (0 or more)")
    return int(text)


count = Parser(_count, "whole number (>= 0)", "-1")


def _any_text(value: Any) -> str:
    text = _text(value)
    if not text:
        raise ValueError("must be a non-empty string")
    return text


any_text = Parser(_any_text, "text", " ")


def _optional_text(value: Any) -> str | None:
    return None if value is None else _any_text(value)


optional_text = Parser(_optional_text, "text or None", " ")


def choice(options: Iterable[str], aliases: Mapping[str, str] | None = None) -> Parser:
    """One name out of ``options`` (case-insensitive); ``aliases`` map other accepted names onto them."""
    names = tuple(options)
    table = {name: name for name in names} | dict(aliases or {})

    def parse(value: Any) -> str:
        text = _text(value).lower()
        if text not in table:
            raise ValueError(f"must be one of {', '.join(names)}")
        return table[text]

    kind = " / ".join(f"`{name}`" for name in names)
    if aliases:
        kind += " (also " + ", ".join(f"`{alias}`" for alias in aliases) + ")"
    return Parser(parse, kind, "sideways")


def choices(options: Iterable[str], alone: Iterable[str] = ("none",)) -> Parser:
    """A comma-separated list of names out of ``options``; a name in ``alone`` may not be combined."""
    names = tuple(options)
    solo = set(alone)

    def parse(value: Any) -> tuple[str, ...]:
        picked = tuple(dict.fromkeys(n.strip().lower() for n in _text(value).split(",") if n.strip()))
        unknown = [n for n in picked if n not in names]
        if unknown:
            raise ValueError(f"unknown name(s) {', '.join(unknown)}; supported: {', '.join(names)}")
        if not picked:
            raise ValueError("must name at least one")
        if len(picked) > 1 and solo & set(picked):
            raise ValueError(f"{', '.join(sorted(solo & set(picked)))} cannot be combined with other names")
        return picked

    return Parser(parse, "comma-separated: " + ", ".join(f"`{n}`" for n in names), "zipkin")


def _instrumentors(value: Any) -> tuple[str, ...]:
    from otelsvc._autoinstrument import check_names

    if isinstance(value, (list, tuple)):
        names = tuple(_text(v).strip() for v in value)
    else:
        names = tuple(n.strip() for n in _text(value).split(","))
    names = tuple(dict.fromkeys(n for n in names if n))
    problems = check_names(names)
    if problems:
        raise ValueError("; ".join(problems))
    return names


instrumentors = Parser(
    _instrumentors, "installed instrumentor names (`requests,httpx`) or `all`", "nosuchinstrumentor"
)


def _ratio(value: Any) -> float:
    try:
        number = float(_text(value))
    except ValueError:
        raise ValueError("must be a number from 0 to 1") from None
    if not 0.0 <= number <= 1.0:
        raise ValueError("must be a number from 0 to 1")
    return number


ratio = Parser(_ratio, "number from 0 to 1", "2")


def _propagators(value: Any) -> tuple[str, ...]:
    from otelsvc._propagators import unknown_propagators

    names = tuple(dict.fromkeys(n.strip().lower() for n in _text(value).split(",") if n.strip()))
    missing = unknown_propagators(names)
    if missing:
        raise ValueError(f"unknown propagator(s): {', '.join(missing)}")
    return names


propagators = Parser(_propagators, "comma-separated names of installed propagators", "tracecontext,nosuchthing")


def _address(value: Any) -> tuple[str, int] | None:
    """Parse "HOST:PORT" (IPv6 in brackets); None or "off" means no Prometheus endpoint."""
    if value is None or (isinstance(value, str) and value.strip().lower() in {"off", "none"}):
        return None
    if not isinstance(value, str):
        raise ValueError('must be "HOST:PORT" or None')
    host, sep, port_text = value.strip().rpartition(":")
    if not sep or not port_text.isdigit():
        raise ValueError('must be "HOST:PORT" with a port from 0 to 65535')
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    number = int(port_text)
    if not host or number > 65535 or " " in host:
        raise ValueError('must be "HOST:PORT" with a port from 0 to 65535')
    return host, number


address = Parser(_address, '`"HOST:PORT"` (port 0 = any free port), or `None`/`off` for no endpoint', "localhost:99999")


def _port(value: Any) -> int:
    text = _text(value)
    if not text.isdigit() or int(text) > 65535:
        raise ValueError("must be a port from 0 to 65535")
    return int(text)


port = Parser(_port, "port 0-65535", "http")


def _pairs(value: Any, what: str) -> dict[str, str]:
    """The OTel ``k=v,k=v`` form, keys and values percent-decoded, or a mapping taken as is."""
    if isinstance(value, Mapping):
        out: dict[str, str] = {}
        for key, val in value.items():
            if not isinstance(key, str) or not key.strip():
                raise ValueError(f"{what} keys must be non-empty strings")
            out[key] = val
        return out
    if not isinstance(value, str):
        raise ValueError(f"must be a mapping or a 'key=value,key=value' string of {what}")
    pairs: dict[str, str] = {}
    for position, item in enumerate(value.split(","), start=1):
        if not item.strip():
            continue
        key, sep, val = item.partition("=")
        key = urllib.parse.unquote(key.strip(), errors="strict")
        if not sep or not key:
            raise ValueError(f"must be 'key=value,key=value' (item {position} has no key=value)")
        pairs[key] = urllib.parse.unquote(val.strip(), errors="strict")
    return pairs


def _attributes(value: Any) -> dict[str, AttrValue]:
    try:
        attrs: dict[str, AttrValue] = dict(_pairs(value, "resource attributes"))
    except UnicodeDecodeError:
        raise ValueError("has a percent-encoding that is not UTF-8") from None
    for key, val in attrs.items():
        if not isinstance(val, (str, int, float, bool)):
            raise ValueError(f"attribute {key!r} must be a str, int, float or bool")
    return attrs


attributes = Parser(_attributes, "`key=value,key=value` (percent-encoded) or a dict", "novalue")


def _headers(value: Any) -> dict[str, str]:
    try:
        pairs = _pairs(value, "headers")
    except UnicodeDecodeError:
        raise ValueError("has a percent-encoding that is not UTF-8") from None
    for key, val in pairs.items():
        if not isinstance(val, str):
            raise ValueError(f"header {key!r} must be a string")
    return pairs


headers = Parser(_headers, "`key=value,key=value` (percent-encoded) or a dict", "SECRETKEY")


def _token(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise ValueError("must be a non-empty string (None turns auth off)")
    return value.strip()


token = Parser(_token, "text (None = no auth; empty is an error)", "")


def _endpoint(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError("must be a URL such as http://127.0.0.1:4317")
    parsed = urllib.parse.urlparse(value.strip())
    if parsed.scheme not in {"http", "https"} or not parsed.hostname:
        raise ValueError("must be an http:// or https:// URL with a host")
    try:
        _ = parsed.port
    except ValueError:
        raise ValueError("has an invalid port") from None
    return value.strip()


endpoint = Parser(_endpoint, "http(s) URL", "collector:4317")


def _namespace(value: Any) -> str | None:
    if value is None:
        return None
    text = _text(value)
    if not text or not all(c.isalnum() or c in "_." for c in text) or not text[0].isalpha():
        raise ValueError("must start with a letter and hold only letters, digits, '_' and '.'")
    return text


namespace = Parser(_namespace, "prefix: a letter, then letters, digits, `_`, `.`", "9lives")


def _existing_file(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not os.path.isfile(value):
        raise ValueError("must name an existing file")
    return value


existing_file = Parser(_existing_file, "path of an existing file", "/no/such/file.pem")
