"""The declaration model of the instrument families: metrics as data.

A family module declares its metrics once as ``MetricSpec`` values; the OTel instruments, the
handles, the docs page and ``otelsvc catalog`` are all derived from that declaration.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from otelsvc._kinds import KINDS
from otelsvc.instruments._buckets import BUCKETS

__all__ = ["KINDS", "Family", "Label", "MetricSpec"]


@dataclass(frozen=True)
class Label:
    """A label key and what bounds its values: a closed set, or the family's interner."""

    name: str
    values: tuple[str, ...] | None = None
    interned: bool = False
    description: str = ""

    def __post_init__(self) -> None:
        if (self.values is None) == (not self.interned):
            raise ValueError(f"label {self.name}: give either a closed value set or interned=True")


@dataclass(frozen=True)
class MetricSpec:
    """One metric: OTel name, kind, UCUM unit, description, labels, bucket set name."""

    name: str
    kind: str
    unit: str
    description: str
    labels: tuple[Label, ...] = ()
    buckets: str | None = None
    legacy: bool = False
    # gauges only: how one scrape of a pre-fork server combines the workers (docs/prefork.md)
    prefork: str = "per_worker"

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"{self.name}: kind must be one of {KINDS}")
        if (self.kind == "histogram") != (self.buckets is not None):
            raise ValueError(f"{self.name}: histograms (and only histograms) name a bucket set")
        if self.buckets is not None and self.buckets not in BUCKETS:
            raise ValueError(f"{self.name}: unknown bucket set {self.buckets!r}")
        if self.prefork not in ("per_worker", "sum", "min", "max", "latest") or (
                self.prefork != "per_worker" and self.kind != "gauge"):
            raise ValueError(f"{self.name}: prefork must be per_worker, sum, min, max or latest, and only for gauges")

    @property
    def label_names(self) -> tuple[str, ...]:
        return tuple(label.name for label in self.labels)

    @property
    def bounds(self) -> tuple[float, ...] | None:
        return BUCKETS[self.buckets] if self.buckets is not None else None

    def full_name(self, namespace: str | None) -> str:
        return f"{namespace}.{self.name}" if namespace else self.name


@dataclass(frozen=True)
class Family:
    """A named set of metrics; ``namespaced`` families take the guard's namespace prefix.

    ``description`` says what the family measures in any service; ``origin`` (docs only) names the
    system whose metrics it was modelled on.
    """

    name: str
    description: str
    metrics: tuple[MetricSpec, ...]
    namespaced: bool = True
    notes: tuple[str, ...] = field(default=())
    origin: str = ""

    def metric(self, name: str) -> MetricSpec:
        for spec in self.metrics:
            if spec.name == name:
                return spec
        raise KeyError(name)
