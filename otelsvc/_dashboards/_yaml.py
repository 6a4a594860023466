"""A YAML writer for the rules file's plain shapes (mappings, lists, strings, numbers); no YAML dependency."""

from __future__ import annotations

import re
from typing import Any

__all__ = ["to_yaml"]

_PLAIN = re.compile(r"[A-Za-z_][A-Za-z0-9_.:/-]*")
_RESERVED = {"true", "false", "yes", "no", "on", "off", "null", "y", "n"}


def _scalar(value: Any) -> str:
    if isinstance(value, (dict, list)):
        return "{}" if isinstance(value, dict) else "[]"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    text = str(value)
    if _PLAIN.fullmatch(text) and text.lower() not in _RESERVED:
        return text
    return "'" + text.replace("'", "''") + "'"


def _lines(value: Any, indent: str) -> list[str]:
    out: list[str] = []
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(item, (dict, list)) and item:
                out.append(f"{indent}{key}:")
                out += _lines(item, indent + "  ")
            else:
                out.append(f"{indent}{key}: {_scalar(item)}")
    elif isinstance(value, list):
        for item in value:
            if isinstance(item, (dict, list)) and item:
                inner = _lines(item, indent + "  ")
                out.append(f"{indent}- {inner[0].lstrip()}")
                out += inner[1:]
            else:
                out.append(f"{indent}- {_scalar(item)}")
    else:
        out.append(indent + _scalar(value))
    return out


def to_yaml(value: Any) -> str:
    """``value`` as block-style YAML; strings are single-quoted unless plainly safe."""
    return "\n".join(_lines(value, "")) + "\n"
