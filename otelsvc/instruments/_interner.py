"""Bounded interning of label values that come from the program (service names, peers, actors).

The first ``cap`` distinct values pass through; every later new value becomes ``other``, and the
first fold is logged once. Lookups of known values are one dict probe.
"""

from __future__ import annotations

import logging
import threading

__all__ = ["OTHER", "Interner"]

OTHER = "other"
_log = logging.getLogger("otelsvc")


class Interner:
    """Maps values to themselves up to ``cap`` distinct ones, then to ``other``."""

    def __init__(self, name: str, cap: int) -> None:
        if cap < 1:
            raise ValueError("cap must be at least 1")
        self.name = name
        self.cap = cap
        self._known: dict[str, str] = {}
        self._lock = threading.Lock()
        self.folded = 0

    def __call__(self, value: object) -> str:
        text = value if isinstance(value, str) else str(value)
        known = self._known.get(text)
        if known is not None:
            return known
        with self._lock:
            known = self._known.get(text)
            if known is not None:
                return known
            if len(self._known) < self.cap:
                self._known[text] = text
                return text
            self.folded += 1
            if self.folded == 1:
                _log.warning(
                    "otelsvc: label %s reached its cap of %d distinct values; new values fold into %r",
                    self.name, self.cap, OTHER,
                )
            return OTHER

    def __len__(self) -> int:
        return len(self._known)
