"""The PromQL behind every panel and rule, derived from the family declarations.

One ``Panel`` per (non-legacy) metric of a family: counters as per-second rates, up-down counters
and gauges as current sums, histograms as p50/p95/p99 read from a recording rule that pre-sums
the bucket rates (the heavy part of a quantile query). Labels whose values are per instance of
something numerous (partitions, deployments, peers) are summed away; the rest break the panel down.
"""

from __future__ import annotations

from dataclasses import dataclass

from otelsvc._exposition import prometheus_name, sanitize_attribute
from otelsvc.instruments._spec import Family, MetricSpec

__all__ = [
    "JOB",
    "QUANTILES",
    "RATE_INTERVAL",
    "Panel",
    "RecordingRule",
    "Target",
    "family_panels",
    "metric_name",
    "recording_rules",
]

JOB = '{job=~"$job"}'
RATE_INTERVAL = "$__rate_interval"
QUANTILES = (0.5, 0.95, 0.99)
# Label values with one series per partition, deployment or peer: summed away on panels.
_TOO_FINE = frozenset({"partition_id", "deployment_id", "peer_name", "actor_id"})
# Histograms break down by at most this many labels (three quantiles per group already).
_HISTOGRAM_GROUPS = 2


@dataclass(frozen=True)
class Target:
    """One query of a panel, with its Grafana legend."""

    expr: str
    legend: str


@dataclass(frozen=True)
class Panel:
    """A time-series panel: title, description, unit (Grafana unit id) and its queries."""

    title: str
    description: str
    unit: str
    targets: tuple[Target, ...]


@dataclass(frozen=True)
class RecordingRule:
    """``record: expr`` in the rules file."""

    record: str
    expr: str


def metric_name(family: Family, spec: MetricSpec, namespace: str | None) -> str:
    """The Prometheus name a scrape shows (``_total`` on counters, the base name of histograms)."""
    return prometheus_name(spec.full_name(namespace if family.namespaced else None), spec.unit, spec.kind)


def _groups(spec: MetricSpec) -> tuple[str, ...]:
    names = tuple(sanitize_attribute(label.name) for label in spec.labels if label.name not in _TOO_FINE)
    return names[:_HISTOGRAM_GROUPS] if spec.kind == "histogram" else names


def _by(groups: tuple[str, ...]) -> str:
    return f" by ({', '.join(groups)})" if groups else ""


def _legend(groups: tuple[str, ...], prefix: str = "") -> str:
    text = " ".join("{{" + g + "}}" for g in groups)
    return (prefix + " " + text).strip() if prefix or text else "total"


def bucket_rule_name(name: str, groups: tuple[str, ...]) -> str:
    """``level:metric:operation``, the Prometheus naming convention for recording rules."""
    return f"{'_'.join(('job', *groups))}:{name}_bucket:rate5m"


def _histogram_rule(name: str, groups: tuple[str, ...]) -> RecordingRule:
    return RecordingRule(
        bucket_rule_name(name, groups), f"sum by ({', '.join(('job', 'le', *groups))}) (rate({name}_bucket[5m]))"
    )


def quantile_expr(q: float, rule: str, groups: tuple[str, ...]) -> str:
    return f"histogram_quantile({q}, sum by ({', '.join(('le', *groups))}) ({rule}{JOB}))"


def _unit(spec: MetricSpec) -> str:
    if spec.unit == "s":
        return "s"
    return "short"


def metric_panel(family: Family, spec: MetricSpec, namespace: str | None) -> Panel:
    name = metric_name(family, spec, namespace)
    groups = _groups(spec)
    if spec.kind == "counter":
        expr = f"sum{_by(groups)} (rate({name}{JOB}[{RATE_INTERVAL}]))"
        return Panel(f"{spec.name} (per second)", spec.description, "ops", (Target(expr, _legend(groups)),))
    if spec.kind in ("updowncounter", "gauge"):
        expr = f"sum{_by(groups)} ({name}{JOB})"
        return Panel(spec.name, spec.description, "short", (Target(expr, _legend(groups)),))
    rule = bucket_rule_name(name, groups)
    targets = tuple(Target(quantile_expr(q, rule, groups), _legend(groups, f"p{round(q * 100)}")) for q in QUANTILES)
    return Panel(f"{spec.name} (p50, p95, p99)", spec.description, _unit(spec), targets)


def family_panels(family: Family, namespace: str | None) -> list[Panel]:
    """A panel per current (non-legacy) metric of the family, in declaration order."""
    return [metric_panel(family, spec, namespace) for spec in family.metrics if not spec.legacy]


def recording_rules(family: Family, namespace: str | None) -> list[RecordingRule]:
    """The bucket-rate rules the family's quantile panels read."""
    return [
        _histogram_rule(metric_name(family, spec, namespace), _groups(spec))
        for spec in family.metrics
        if spec.kind == "histogram" and not spec.legacy
    ]
