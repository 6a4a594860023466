"""Sums the snapshots of every worker into one view: the rules of what adds up and what stays per worker.

- counters and histograms: every worker that ever ran (a worker that left is folded into ``retired``);
- up-down counters: live workers only;
- gauges: one series per live worker (``worker_slot`` label) unless the metric declares sum, min, max
  or latest; the serving process's own gauges carry no slot;
- runtime/process metrics (scope ``otelsvc.runtime``): per worker slot, never retired.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from typing import Any

from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    Gauge,
    Histogram,
    HistogramDataPoint,
    Metric,
    MetricsData,
    NumberDataPoint,
    ResourceMetrics,
    ScopeMetrics,
    Sum,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.util.instrumentation import InstrumentationScope

from otelsvc._prefork._snapshot import MetricKey, Series, Snapshot

__all__ = ["GAUGE_MODES", "SLOT_LABEL", "Aggregate", "to_data"]

_log = logging.getLogger("otelsvc")

SLOT_LABEL = "worker_slot"
PER_WORKER_SCOPES = frozenset({"otelsvc.runtime"})
GAUGE_MODES = ("per_worker", "sum", "min", "max", "latest")
_RETAINED = ("counter", "histogram")


def _add_points(into: dict[Any, Any], points: dict[Any, Any], histogram: bool) -> None:
    for attrs, value in points.items():
        had = into.get(attrs)
        if had is None:
            into[attrs] = value
        elif histogram:
            into[attrs] = ([a + b for a, b in zip(had[0], value[0], strict=True)], had[1] + value[1])
        else:
            into[attrs] = had + value


class Aggregate:
    """The serving process's record of every worker's last snapshot and of the workers gone."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.retired: dict[MetricKey, list[Any]] = {}
        self.live: dict[int, tuple[float, Snapshot]] = {}
        self.gauge_modes: dict[str, str] = {}
        self._conflicts: set[tuple[MetricKey, str]] = set()
        self.ever_joined = False

    def update(self, slot: int, snapshot: Snapshot, modes: dict[str, str] | None = None) -> None:
        with self.lock:
            self.ever_joined = True
            self.live[slot] = (time.monotonic(), snapshot)
            if modes:
                self.gauge_modes.update(modes)

    def retire(self, slot: int, final: Snapshot | None = None) -> None:
        """The worker in ``slot`` left: its counters and histograms stay in the sum, the rest leaves."""
        with self.lock:
            entry = self.live.pop(slot, None)
            snapshot = final if final is not None else (entry[1] if entry is not None else None)
            if snapshot is None:
                return
            for key, series in snapshot.items():
                kind = series[0]
                if kind not in _RETAINED or key[0] in PER_WORKER_SCOPES:
                    continue
                existing = self.retired.get(key)
                if existing is None:
                    self.retired[key] = [*series[:4], {}]
                    existing = self.retired[key]
                elif not self._compatible(key, existing, series):
                    continue
                _add_points(existing[4], series[4], kind == "histogram")

    def _compatible(self, key: MetricKey, have: Any, new: Series) -> bool:
        if have[0] == new[0] and have[1] == new[1] and (have[0] != "histogram" or tuple(have[3]) == tuple(new[3])):
            return True
        what = f"{new[0]} unit={new[1]!r} bounds={list(new[3])}"
        if (key, what) not in self._conflicts:
            self._conflicts.add((key, what))
            _log.error(
                "otelsvc: workers declare metric %r differently (%s unit=%r vs %s); the scrape keeps the first",
                key[2], have[0], have[1], what,
            )
        return False

    def merged(self, own: Snapshot) -> dict[MetricKey, list[Any]]:
        """Every series as one scrape shows it; ``own`` is the serving process's own snapshot."""
        with self.lock:
            out: dict[MetricKey, list[Any]] = {}
            for key, series in self.retired.items():
                out[key] = [*series[:4], dict(series[4])]
            live = sorted(self.live.items())
            newest: dict[tuple[MetricKey, Any], float] = {}
            for slot, (stamp, snapshot) in live:
                self._merge_one(out, snapshot, slot, stamp, newest)
            self._merge_one(out, own, None, time.monotonic(), newest)
            return out

    def _merge_one(self, out: dict[MetricKey, list[Any]], snapshot: Snapshot, slot: int | None, stamp: float,
                   newest: dict[tuple[MetricKey, Any], float]) -> None:
        label = None if slot is None else (SLOT_LABEL, str(slot))
        for key, series in snapshot.items():
            kind = series[0]
            have = out.get(key)
            if have is None:
                have = out[key] = [*series[:4], {}]
            elif not self._compatible(key, have, series):
                continue
            points = have[4]
            mode = "per_worker" if key[0] in PER_WORKER_SCOPES else (
                self.gauge_modes.get(key[2], "per_worker") if kind == "gauge" else "sum")
            if mode == "per_worker":
                if label is None:
                    _add_points(points, series[4], kind == "histogram")
                else:
                    for attrs, value in series[4].items():
                        slotted = (*attrs, label)
                        points[slotted] = value
                continue
            if mode == "sum":
                _add_points(points, series[4], kind == "histogram")
                continue
            for attrs, value in series[4].items():
                had = points.get(attrs)
                if had is None:
                    points[attrs] = value
                    newest[(key, attrs)] = stamp
                elif mode == "min":
                    points[attrs] = min(had, value)
                elif mode == "max":
                    points[attrs] = max(had, value)
                elif stamp >= newest.get((key, attrs), -math.inf):
                    points[attrs] = value
                    newest[(key, attrs)] = stamp


def to_data(merged: dict[MetricKey, list[Any]], resource: Resource) -> MetricsData:
    """The merged series as an SDK collection, for the exposition renderers."""
    scopes: dict[tuple[str, str], list[Metric]] = {}
    cumulative = AggregationTemporality.CUMULATIVE
    for (scope_name, scope_version, name), (kind, unit, description, bounds, points) in merged.items():
        if not points:
            continue
        data: Any
        if kind == "histogram":
            data = Histogram(
                [HistogramDataPoint(dict(attrs), 0, 0, sum(counts), total, list(counts), list(bounds), 0.0, 0.0)
                 for attrs, (counts, total) in points.items()],
                cumulative,
            )
        else:
            numbers = [NumberDataPoint(dict(attrs), 0, 0, value) for attrs, value in points.items()]
            data = Gauge(numbers) if kind == "gauge" else Sum(numbers, cumulative, kind == "counter")
        scopes.setdefault((scope_name, scope_version), []).append(Metric(name, description, unit, data))
    scope_metrics = [
        ScopeMetrics(InstrumentationScope(n, v or None), metrics, "") for (n, v), metrics in scopes.items()
    ]
    return MetricsData([ResourceMetrics(resource, scope_metrics, "")])
