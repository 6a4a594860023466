"""Bounded interning of label values that come from the program (service names, peers, actors).

The first ``cap`` distinct values pass through; every later new value becomes ``other``, and the
first fold is logged once. Lookups of known values are one dict probe. Folds are counted per label
name across the process's live interners: ``otelsvc.labels.folded`` (registered by the guard)
reports them, so an alert can say when a label hit its cap.
"""

from __future__ import annotations

import logging
import threading
import weakref
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from opentelemetry.metrics import Meter

__all__ = ["OTHER", "Interner", "fold_counts", "register_fold_counter"]

OTHER = "other"
_log = logging.getLogger("otelsvc")
_live: weakref.WeakSet[Interner] = weakref.WeakSet()


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
        _live.add(self)

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


def fold_counts() -> dict[str, int]:
    """Lookups folded into ``other`` so far, summed per label name over the live interners."""
    counts: dict[str, int] = {}
    for interner in list(_live):
        counts[interner.name] = counts.get(interner.name, 0) + interner.folded
    return counts


def register_fold_counter(meter: Meter) -> None:
    """``otelsvc.labels.folded{label}``: an observable counter of the folds, 0 for labels that never folded."""
    from opentelemetry.metrics import CallbackOptions, Observation

    def observe(options: CallbackOptions) -> list[Observation]:
        return [Observation(count, {"label": name}) for name, count in sorted(fold_counts().items())]

    meter.create_observable_counter(
        "otelsvc.labels.folded", [observe], unit="{value}",
        description="Label value lookups folded into 'other' because the label reached its cap of distinct values",
    )
