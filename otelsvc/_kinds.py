"""Instrument kinds: the four kinds a handle-recorded instrument can have, and what each maps to."""

from __future__ import annotations

from typing import Literal, get_args

__all__ = ["DELTA_KINDS", "KINDS", "PROMETHEUS_TYPE", "InstrumentKind"]

InstrumentKind = Literal["counter", "updowncounter", "gauge", "histogram"]
KINDS: tuple[InstrumentKind, ...] = get_args(InstrumentKind)

# The Prometheus metric type each kind is exposed as.
PROMETHEUS_TYPE: dict[InstrumentKind, Literal["counter", "gauge", "histogram"]] = {
    "counter": "counter",
    "updowncounter": "gauge",
    "gauge": "gauge",
    "histogram": "histogram",
}

# The kinds a reader preferring delta temporality gets as deltas (up-down counters stay cumulative).
DELTA_KINDS: frozenset[InstrumentKind] = frozenset({"counter", "histogram"})
