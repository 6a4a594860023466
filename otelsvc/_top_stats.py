"""What ``otelsvc top`` shows, computed from two scrapes of a Prometheus endpoint.

Rates are counter increases over the time between the scrapes (a counter that went down was reset,
and counts from zero); quantiles interpolate within the histogram bucket that holds the rank, as
Prometheus's ``histogram_quantile`` does, over the bucket increases between the scrapes.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from otelsvc._dashboards._queries import metric_name
from otelsvc.instruments import FAMILIES
from otelsvc.instruments._spec import Family, MetricSpec

__all__ = [
    "Figure",
    "RouteRow",
    "Scrape",
    "family_figures",
    "histogram_quantile",
    "parse_scrape",
    "route_rows",
]

Labels = tuple[tuple[str, str], ...]
_UNMATCHED = "(unmatched)"


@dataclass(frozen=True)
class Scrape:
    """One scrape: its time (seconds, any monotonic clock) and each sample name's series by sorted labels."""

    at: float
    metrics: dict[str, dict[Labels, float]]

    @property
    def sample_count(self) -> int:
        return sum(len(series) for series in self.metrics.values())

    def series(self, name: str) -> Iterable[tuple[dict[str, str], float]]:
        for labels, value in self.metrics.get(name, {}).items():
            yield dict(labels), value

    def has(self, name: str) -> bool:
        return name in self.metrics


def parse_scrape(text: str, at: float) -> Scrape:
    """Parse a text exposition with prometheus_client's parser."""
    from prometheus_client.parser import text_string_to_metric_families

    metrics: dict[str, dict[Labels, float]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            metrics.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = float(sample.value)
    return Scrape(at, metrics)


def _increases(prev: Scrape, cur: Scrape, name: str) -> Iterable[tuple[dict[str, str], float]]:
    """Per-series increase of a cumulative sample; a series absent before, or reset, counts from zero."""
    before = prev.metrics.get(name, {})
    for labels, value in cur.metrics.get(name, {}).items():
        old = before.get(labels, 0.0)
        yield dict(labels), value - old if value >= old else value


def rates(prev: Scrape, cur: Scrape, name: str, key: Callable[[dict[str, str]], str]) -> dict[str, float]:
    """Per-second increase of ``name`` between the scrapes, summed by ``key(labels)``."""
    elapsed = cur.at - prev.at
    out: dict[str, float] = {}
    if elapsed <= 0:
        return out
    for labels, delta in _increases(prev, cur, name):
        group = key(labels)
        out[group] = out.get(group, 0.0) + delta / elapsed
    return out


def histogram_quantile(q: float, buckets: Iterable[tuple[float, float]]) -> float | None:
    """The q-quantile from cumulative (upper bound, count) buckets, +Inf included; None without observations."""
    ordered = sorted(buckets)
    if not ordered or not math.isinf(ordered[-1][0]):
        return None
    total = ordered[-1][1]
    if total <= 0:
        return None
    rank = q * total
    lower, below = 0.0, 0.0
    for upper, count in ordered:
        if count >= rank:
            if math.isinf(upper):
                return lower
            if upper <= 0:
                return upper
            return lower + (upper - lower) * (rank - below) / (count - below) if count > below else upper
        lower, below = upper, count
    return lower


def _bucket_sets(
    prev: Scrape, cur: Scrape, base: str, key: Callable[[dict[str, str]], str]
) -> dict[str, dict[float, float]]:
    groups: dict[str, dict[float, float]] = {}
    for labels, delta in _increases(prev, cur, base + "_bucket"):
        upper = float(labels["le"])
        bucket = groups.setdefault(key(labels), {})
        bucket[upper] = bucket.get(upper, 0.0) + delta
    return groups


def quantiles(
    prev: Scrape, cur: Scrape, base: str, key: Callable[[dict[str, str]], str], qs: tuple[float, ...]
) -> dict[str, tuple[float | None, ...]]:
    """For each group, the quantiles ``qs`` of the observations made between the scrapes."""
    return {
        group: tuple(histogram_quantile(q, buckets.items()) for q in qs)
        for group, buckets in _bucket_sets(prev, cur, base, key).items()
    }


@dataclass(frozen=True)
class RouteRow:
    """One route: requests per second, 5xx share (None without requests) and p50/p95/p99 seconds."""

    route: str
    rate: float
    error_ratio: float | None
    p50: float | None
    p95: float | None
    p99: float | None


# (duration histogram, route label, count series with the status, status label): semconv first, then classic.
_HTTP_SOURCES = (
    (
        "http_server_request_duration_seconds",
        "http_route",
        "http_server_request_duration_seconds_count",
        "http_response_status_code",
    ),
    ("http_request_duration_seconds", "endpoint", "http_requests_total", "status"),
)


def route_rows(prev: Scrape, cur: Scrape) -> list[RouteRow]:
    """Per-route HTTP figures from the semconv histogram, else from the classic instruments; busiest first."""
    for histogram, route_label, counts, status_label in _HTTP_SOURCES:
        if not cur.has(histogram + "_count"):
            continue

        def route(labels: dict[str, str], route_label: str = route_label) -> str:
            return labels.get(route_label) or _UNMATCHED

        def errors(labels: dict[str, str], status_label: str = status_label) -> str:
            return route(labels) if labels.get(status_label, "").startswith("5") else ""

        requests = rates(prev, cur, counts, route)
        failed = rates(prev, cur, counts, errors)
        qs = quantiles(prev, cur, histogram, route, (0.5, 0.95, 0.99))
        rows = []
        for name, rate in requests.items():
            ratio = failed.get(name, 0.0) / rate if rate > 0 else None
            p50, p95, p99 = qs.get(name, (None, None, None))
            rows.append(RouteRow(name, rate, ratio, p50, p95, p99))
        return sorted(rows, key=lambda row: (-row.rate, row.route))
    return []


@dataclass(frozen=True)
class Figure:
    """A metric's headline: a rate (counters, histogram counts), a current value, and a p95 for histograms."""

    metric: str
    kind: str
    unit: str
    value: float
    p95: float | None = None


def _figure(prev: Scrape, cur: Scrape, family: Family, spec: MetricSpec, namespace: str | None) -> Figure | None:
    name = metric_name(family, spec, namespace)
    if spec.kind == "counter":
        if not cur.has(name):
            return None
        return Figure(spec.name, spec.kind, spec.unit, sum(rates(prev, cur, name, lambda _: "").values()))
    if spec.kind in ("updowncounter", "gauge"):
        if not cur.has(name):
            return None
        return Figure(spec.name, spec.kind, spec.unit, sum(value for _, value in cur.series(name)))
    if not cur.has(name + "_count"):
        return None
    rate = sum(rates(prev, cur, name + "_count", lambda _: "").values())
    p95 = quantiles(prev, cur, name, lambda _: "", (0.95,)).get("", (None,))[0]
    return Figure(spec.name, spec.kind, spec.unit, rate, p95)


def family_figures(
    prev: Scrape, cur: Scrape, namespace: str | None = None, families: Iterable[Family] = FAMILIES
) -> dict[str, list[Figure]]:
    """Each family's current metrics present in the scrape (legacy names left out), in catalog order."""
    out: dict[str, list[Figure]] = {}
    for family in families:
        figures = [
            f
            for spec in family.metrics
            if not spec.legacy
            if (f := _figure(prev, cur, family, spec, namespace)) is not None
        ]
        if figures:
            out[family.name] = figures
    return out
