"""Handle series encoded straight to OTLP protobuf bytes for one push reader, with no SDK data objects.

Building a ``NumberDataPoint`` and an attribute dict per series, then a protobuf object per point,
is most of a push's cost at many series (and garbage for the collector). Here each series' encoded
attributes are cached (its labels never change) and a point costs one ``struct`` pack. The points
are the ones ``BridgedInstrument.collect`` makes for the same reader, so a collector receives the
same data (a test holds the two side by side).

Delta temporality stays at-least-once without a carry buffer: a collection's new readings are
written into the reader's delta state only when the export succeeded (``HandleBatch.commit``), so
after a failure the next delta runs from the last delivered reading and covers both intervals. A
histogram's per-interval min and max, which reading clears, are kept for the next push instead.
"""

from __future__ import annotations

import os
import struct
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from opentelemetry.sdk.metrics.export import AggregationTemporality, MetricReader, MetricsData
from opentelemetry.sdk.resources import Resource

from otelsvc._bridge import SCOPE, Bridge, BridgedInstrument
from otelsvc._export.otlp_encoder import EncodedMetric, encode_attributes, encode_bounds, encode_exemplar, varint
from otelsvc._handles import Handle, HistogramHandle
from otelsvc._kinds import DELTA_KINDS
from otelsvc._sanitize import escape_text

__all__ = ["HandleBatch", "HandleSeriesEncoder", "PushBatch"]

_DELTA = AggregationTemporality.DELTA
_CUMULATIVE = AggregationTemporality.CUMULATIVE
_double = struct.Struct("<d").pack
_sfixed64 = struct.Struct("<q").pack
# NumberDataPoint heads: start (2), time (3), then as_int (6) or as_double (4) when no exemplar sits between.
_SUM_INT = struct.Struct("<BQBQBq").pack
_SUM_FLOAT = struct.Struct("<BQBQBd").pack
_START_TIME = struct.Struct("<BQBQ").pack
_GAUGE_INT = struct.Struct("<BQBq").pack
_GAUGE_FLOAT = struct.Struct("<BQBd").pack
_TIME = struct.Struct("<BQ").pack
_HIST_HEAD = struct.Struct("<BQBQBQBd").pack  # start, time, count, sum
_HIST_HEAD_EMPTY = struct.Struct("<BQBQBd").pack  # start, time, sum (a zero count is not written)
_MIN_MAX = struct.Struct("<BdBd").pack


@dataclass
class HandleBatch:
    """One collection's handle metrics, and what to do once the export's outcome is known."""

    metrics: list[EncodedMetric]
    own_points: bool
    """Whether a point belongs to anything but otelsvc's own ``otelsvc.*`` series (see the quiet child)."""
    _updates: dict[Handle, Any] = field(default_factory=dict)
    _state: dict[Handle, Any] = field(default_factory=dict)
    _extremes: dict[Handle, tuple[float, float]] = field(default_factory=dict)
    _keep_extremes: Callable[[dict[Handle, tuple[float, float]]], None] | None = None
    settled: bool = False

    def commit(self) -> None:
        """The export was delivered: its readings become the base of the next deltas."""
        if not self.settled:
            self.settled = True
            self._state.update(self._updates)

    def release(self) -> None:
        """The export failed: the next delta covers this interval too (histogram extremes kept for it)."""
        if not self.settled:
            self.settled = True
            if self._extremes and self._keep_extremes is not None:
                self._keep_extremes(self._extremes)


@dataclass(frozen=True)
class PushBatch(MetricsData):
    """An SDK collection (``resource_metrics``) with the handle series already encoded, as the push's
    exporters pass it on: the direct exporter sends both (handles in the ``otelsvc`` scope of the first
    resource, else under ``resource``) and commits ``handles`` once the collector has them all."""

    handles: HandleBatch | None = None
    resource: Resource | None = None

    def own_points(self) -> bool:
        return self.handles is not None and self.handles.own_points

    def extra(self) -> tuple[Any, list[EncodedMetric], Any] | None:
        """The handle metrics as ``encode_metrics_data``'s ``extra``."""
        if self.handles is None or not self.handles.metrics:
            return None
        return SCOPE, self.handles.metrics, self.resource


def _escaped(attributes: dict[str, Any]) -> dict[str, Any]:
    return {escape_text(k): escape_text(v) if isinstance(v, str) else v for k, v in attributes.items()}


def _head(inst: BridgedInstrument[Any]) -> bytes:
    name, description, unit = (escape_text(t).encode() for t in (inst.name, inst.description or "", inst.unit or ""))
    out = b""
    for tag, text in ((b"\x0a", name), (b"\x12", description), (b"\x1a", unit)):
        if text:
            out += tag + varint(len(text)) + text
    return out


def _exemplar_bytes(tag: bytes, exemplars: Any) -> bytes:
    """Handle exemplar tuples (value, time, trace id, span id) as the SDK's ``Exemplar`` would encode."""
    return b"".join(encode_exemplar(tag, ex[0], ex[1], ex[2] or None, ex[3] or None) for ex in exemplars if ex)


class HandleSeriesEncoder:
    """Encodes the bridge's handle series for one reader (the OTLP push), a collection at a time."""

    def __init__(self, bridge: Bridge, reader: MetricReader) -> None:
        self._bridge = bridge
        self._reader = weakref.ref(reader)
        # Encoded attributes per instrument, by label values (kept while the series lives).
        self._attributes: weakref.WeakKeyDictionary[BridgedInstrument[Any], dict[tuple[Any, ...], bytes]] = (
            weakref.WeakKeyDictionary()
        )
        self._extremes: dict[Handle, tuple[float, float]] = {}  # of failed delta pushes, for the next one
        self._pid = os.getpid()

    def _keep_extremes(self, extremes: dict[Handle, tuple[float, float]]) -> None:
        for handle, (low, high) in extremes.items():
            kept = self._extremes.get(handle)
            self._extremes[handle] = (low, high) if kept is None else (min(kept[0], low), max(kept[1], high))

    def collect(self, now: int) -> HandleBatch:
        """The handle metrics as the reader sees them at ``now`` (ns), encoded."""
        reader = self._reader()
        assert reader is not None
        if self._pid != os.getpid():  # a forked child: the parent's failed intervals are not its own
            self._pid, self._extremes = os.getpid(), {}
        instruments, temporalities, state, since = self._bridge.collection(reader, now)
        batch = HandleBatch([], False, _state=state, _keep_extremes=self._keep_extremes)
        for inst in instruments:
            temporality = temporalities.get(inst.kind, _CUMULATIVE)
            metric = self._metric(inst, temporality, now, state, since, batch)
            if metric is not None:
                batch.metrics.append(metric)
                if not inst.name.startswith("otelsvc."):
                    batch.own_points = True
        return batch

    def _cache(self, inst: BridgedInstrument[Any]) -> dict[tuple[Any, ...], bytes]:
        cache = self._attributes.get(inst)
        if cache is None or len(cache) > 2 * inst.series_count() + 64:  # forget removed series now and then
            cache = self._attributes[inst] = {}
        return cache

    def _metric(
        self,
        inst: BridgedInstrument[Any],
        temporality: AggregationTemporality,
        now: int,
        state: dict[Handle, Any],
        since: int,
        batch: HandleBatch,
    ) -> EncodedMetric | None:
        delta = temporality == _DELTA and inst.kind in DELTA_KINDS
        exemplars = bool(inst.exemplar_mode)
        cache = self._cache(inst)
        if inst.kind == "histogram":
            points = self._histogram_points(inst, now, delta, state, since, batch, cache, exemplars)
            kind, wire_temporality, monotonic = "histogram", int(temporality), False
        else:
            points = self._number_points(inst, now, delta, state, since, batch, cache, exemplars)
            if inst.kind == "gauge":
                kind, wire_temporality, monotonic = "gauge", 0, False
            else:
                kind = "sum"
                monotonic = inst.kind == "counter"
                wire_temporality = int(temporality if monotonic else _CUMULATIVE)
        if not points:
            return None
        return EncodedMetric(_head(inst), kind, points, wire_temporality, monotonic)

    @staticmethod
    def _number_points(
        inst: BridgedInstrument[Any],
        now: int,
        delta: bool,
        state: dict[Handle, Any],
        since: int,
        batch: HandleBatch,
        cache: dict[tuple[Any, ...], bytes],
        exemplars: bool,
    ) -> list[bytes]:
        gauge = inst.kind == "gauge"
        updates = batch._updates
        points: list[bytes] = []
        append = points.append
        for key, handle in inst.handles():
            if not handle._seen:
                continue
            attributes = cache.get(key)
            if attributes is None:
                attributes = cache[key] = encode_attributes(b"\x3a", _escaped(inst.attributes_of(key)))
            value = handle.snapshot()
            start = handle._start
            if delta:
                previous = state.get(handle)
                updates[handle] = (value, now)
                if previous is not None:
                    prev_value, start = previous
                    if value == prev_value:
                        continue
                    value = value - prev_value
            ex = _exemplar_bytes(b"\x2a", handle.exemplars(since)) if exemplars else b""
            if gauge:
                if ex:
                    head = _TIME(0x19, now)
                    append(
                        head + ex + b"\x31" + _sfixed64(value) + attributes
                        if isinstance(value, int)
                        else head + b"\x21" + _double(value) + ex + attributes
                    )
                elif isinstance(value, int):
                    append(_GAUGE_INT(0x19, now, 0x31, value) + attributes)
                else:
                    append(_GAUGE_FLOAT(0x19, now, 0x21, value) + attributes)
            elif ex:
                head = _START_TIME(0x11, start, 0x19, now)
                append(
                    head + ex + b"\x31" + _sfixed64(value) + attributes
                    if isinstance(value, int)
                    else head + b"\x21" + _double(value) + ex + attributes
                )
            elif isinstance(value, int):
                append(_SUM_INT(0x11, start, 0x19, now, 0x31, value) + attributes)
            else:
                append(_SUM_FLOAT(0x11, start, 0x19, now, 0x21, value) + attributes)
        return points

    def _histogram_points(
        self,
        inst: BridgedInstrument[Any],
        now: int,
        delta: bool,
        state: dict[Handle, Any],
        since: int,
        batch: HandleBatch,
        cache: dict[tuple[Any, ...], bytes],
        exemplars: bool,
    ) -> list[bytes]:
        assert inst.bounds is not None
        bounds = encode_bounds(inst.bounds)
        updates = batch._updates
        kept = self._extremes
        points: list[bytes] = []
        for key, handle in inst.handles():
            if not handle._seen:
                continue
            assert isinstance(handle, HistogramHandle)
            attributes = cache.get(key)
            if attributes is None:
                attributes = cache[key] = encode_attributes(b"\x4a", _escaped(inst.attributes_of(key)))
            start = handle._start
            if delta:
                counts, total, low, high = handle.harvest()
                if kept:
                    earlier = kept.pop(handle, None)
                    if earlier is not None:
                        low, high = min(earlier[0], low), max(earlier[1], high)
                if low <= high:
                    batch._extremes[handle] = (low, high)
                previous = state.get(handle)
                updates[handle] = (counts, total, now)
                if previous is not None:
                    prev_counts, prev_total, start = previous
                    if counts == prev_counts:
                        continue
                    counts = [a - b for a, b in zip(counts, prev_counts, strict=False)]
                    total = total - prev_total
            else:
                counts, total, low, high = handle.snapshot()
            count = sum(counts)
            head = _HIST_HEAD(0x11, start, 0x19, now, 0x21, count, 0x29, total) if count else None
            if head is None:
                head = _HIST_HEAD_EMPTY(0x11, start, 0x19, now, 0x29, total)
            packed = struct.pack(f"<{len(counts)}Q", *counts)
            ex = _exemplar_bytes(b"\x42", handle.exemplars(since)) if exemplars else b""
            append_low_high = _MIN_MAX(0x59, low, 0x61, high)
            points.append(head + b"\x32" + varint(len(packed)) + packed + bounds + ex + attributes + append_low_high)
        return points
