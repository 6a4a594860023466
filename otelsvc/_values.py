"""What a handle accepts as a measurement, and what happens to the values it drops.

Recording is total: a value that is not a ``numbers.Real`` raises TypeError at the call (as the SDK
does for None and complex); a real value that cannot be exported (NaN, an infinity, a negative
amount on a monotonic instrument, an integer too large for a float, a sum that would overflow) is
dropped, logged once per instrument and counted in ``otelsvc.measurements.dropped`` by reason, so
nothing recorded can make a scrape or a push fail.
"""

from __future__ import annotations

import logging
import math
import numbers
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from otelsvc._bridge import Bridge, BridgedInstrument

__all__ = [
    "DROPPED_METRIC",
    "FLOAT_MAX",
    "INT64_MAX",
    "NEGATIVE",
    "NOT_FINITE",
    "OVERFLOW",
    "SKIPPED_METRIC",
    "UNREPRESENTABLE",
    "coerce",
    "count_skipped",
    "drop",
    "widen",
]

_log = logging.getLogger("otelsvc")

DROPPED_METRIC = "otelsvc.measurements.dropped"
NOT_FINITE = "not_finite"
NEGATIVE = "negative"
UNREPRESENTABLE = "unrepresentable"
OVERFLOW = "overflow"

INT64_MAX = 2**63 - 1
FLOAT_MAX = sys.float_info.max


class Unrepresentable(Exception):
    """A real value no exposition format can carry (an integer beyond the float range)."""


def coerce(value: object) -> int | float:
    """``value`` as a plain int or float (bool, int and float subclasses, numpy scalars, Fraction ...).

    TypeError for anything that is not a ``numbers.Real``; Unrepresentable when it does not fit a float.
    """
    if isinstance(value, int):
        number: int | float = int(value)
        if not -FLOAT_MAX <= number <= FLOAT_MAX:
            raise Unrepresentable(value)
        return number
    if isinstance(value, float):
        return float(value)
    if not isinstance(value, numbers.Real):
        raise TypeError(f"a measurement must be a real number, not {type(value).__name__}")
    if isinstance(value, numbers.Integral):
        return coerce(int(value))
    try:
        return float(value)
    except (OverflowError, ValueError) as exc:
        raise Unrepresentable(value) from exc


def widen(total: int | float) -> int | float | None:
    """A running sum as something every exporter can carry: an int beyond int64 becomes a float;
    None when it left the float range (the measurement that caused it is dropped)."""
    if isinstance(total, int):
        if -INT64_MAX - 1 <= total <= INT64_MAX:
            return total
        if not -FLOAT_MAX <= total <= FLOAT_MAX:
            return None
        return float(total)
    return total if math.isfinite(total) else None


def drop(instrument: BridgedInstrument, value: object, reason: str) -> None:
    """Count one dropped measurement; the first drop of each instrument is logged."""
    if not instrument._rejected:
        instrument._rejected = True
        _log.warning(
            "otelsvc: %s dropped a measurement (%s: %.60r); further drops on it are counted in %s",
            instrument.name,
            reason,
            value,
            DROPPED_METRIC,
        )
    counter = instrument.bridge.instrument(
        DROPPED_METRIC,
        "counter",
        "{measurement}",
        "Measurements dropped at the call because no exposition format can carry them, by reason",
        ("reason",),
    )
    if counter is not instrument:
        counter.bind(reason).add(1)


SKIPPED_METRIC = "otelsvc.exposition.skipped"


def count_skipped(bridge: Bridge, exporter: str, n: int = 1) -> None:
    """Count metrics (or points) left out of one scrape or push because they could not be rendered."""
    counter = bridge.instrument(
        SKIPPED_METRIC,
        "counter",
        "{metric}",
        "Metrics or points left out of a scrape or push because they could not be rendered, by exporter",
        ("exporter",),
    )
    counter.bind(exporter).add(n)
