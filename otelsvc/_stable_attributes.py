"""Attribute dicts that their owner never changes after making them, so work on them can be kept."""

from __future__ import annotations

from typing import Any

__all__ = ["StableAttributes"]


class StableAttributes(dict[str, Any]):
    """A thin API series' cleaned attributes: made once, never changed. The push keeps their encoded
    bytes (``encoded``) and whether they needed no escaping (``clean``) on them, so each series'
    attributes are checked and encoded once in its life instead of once per push."""

    __slots__ = ("clean", "encoded")
