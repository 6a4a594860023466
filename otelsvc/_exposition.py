"""Prometheus text rendering that matches the OTel Prometheus exporter byte for byte, only faster
(except for the deviations listed and tested in docs/performance.md and tests/test_exposition.py).

The OTel exporter turns every point into prometheus_client sample objects and then into text; at
tens of thousands of series that dominates a scrape. This module writes the same text directly:
names, units, ``target_info``, the ``otel_scope_*`` labels, label order, escaping and number format
all follow ``opentelemetry.exporter.prometheus`` and ``prometheus_client.generate_latest`` (a test
holds the two side by side). Handle-recorded series are rendered straight from their handles with
label text cached per handle. A metric that fails to render is left out of the scrape (logged once,
counted), never the whole scrape.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from itertools import chain
from json import dumps
from typing import Any

from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    Gauge,
    Histogram,
    Metric,
    MetricsData,
    Sum,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.util.instrumentation import InstrumentationScope

from otelsvc._bridge import SCOPE, Bridge, BridgedInstrument
from otelsvc._handles import HistogramHandle
from otelsvc._kinds import PROMETHEUS_TYPE
from otelsvc._sanitize import escape_text
from otelsvc._values import count_skipped

__all__ = ["RENAMED_LE", "Skipped", "floatToGoString", "prometheus_name", "render_text"]

_INF = float("inf")
_log = logging.getLogger("otelsvc")
RENAMED_LE = "_le"


def _go_float(d: float) -> str:
    """``prometheus_client.utils.floatToGoString`` of 0.26 (rendering uses the installed version's)."""
    d = float(d)
    if d == _INF:
        return "+Inf"
    if d == -_INF:
        return "-Inf"
    if d != d:
        return "NaN"
    s = repr(d)
    dot = s.find(".")
    if d > 0 and dot > 6:
        mantissa = f"{s[0]}.{s[1:dot]}{s[dot + 1:]}".rstrip("0.")
        return f"{mantissa}e+{dot - 1:02d}"
    return s


floatToGoString: Callable[[float], str] = _go_float


def _use_installed_float_format() -> None:
    """Format numbers with the installed prometheus_client's own function, as the upstream exporter
    does: its output changed between releases (``1e+010`` before 0.26, ``1e+10`` since)."""
    global floatToGoString
    if floatToGoString is _go_float:
        from prometheus_client.utils import floatToGoString as installed

        floatToGoString = installed


_MAPPING: Any = None


def _mapping() -> Any:
    """The OTel Prometheus exporter's naming rules; its package loads prometheus_client, so lazily."""
    global _MAPPING
    if _MAPPING is None:
        from otelsvc._sdk_internals import prometheus_mapping

        _MAPPING = prometheus_mapping()
    return _MAPPING


def map_unit(unit: str) -> str:
    return str(_mapping().map_unit(unit))


def sanitize_full_name(name: str) -> str:
    return str(_mapping().sanitize_full_name(name))


_ATTRIBUTE_NAMES: dict[str, str] = {}


def sanitize_attribute(key: str) -> str:
    name = _ATTRIBUTE_NAMES.get(key)
    if name is None:
        name = str(_mapping().sanitize_attribute(key))
        if len(_ATTRIBUTE_NAMES) < 10_000:
            _ATTRIBUTE_NAMES[key] = name
    return name


def _label_value(value: Any) -> str:
    text = escape_text(value) if isinstance(value, str) else dumps(value, default=str)
    return text.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")


def _help(text: str) -> str:
    return escape_text(text).replace("\\", r"\\").replace("\n", r"\n")


def _scope_labels(scope: InstrumentationScope) -> dict[str, Any]:
    attrs: dict[str, Any] = {}
    if scope.attributes:
        for key, value in scope.attributes.items():
            attrs["otel_scope_" + key] = value
    attrs["otel_scope_name"] = scope.name or ""
    attrs["otel_scope_version"] = scope.version or ""
    attrs["otel_scope_schema_url"] = scope.schema_url or ""
    return attrs


def _family(metric_name: str, unit: str, kind: str) -> tuple[str, str]:
    """(family name, exposed name) the way prometheus_client's metric families derive them."""
    name = metric_name
    if kind == "counter" and name.endswith("_total"):
        name = name[:-6]
    if unit and not name.endswith("_" + unit):
        name += "_" + unit
    return name, name + "_total" if kind == "counter" else name


def prometheus_name(name: str, unit: str, kind: str) -> str:
    """The Prometheus name a scrape shows for an OTel metric (kind: counter, updowncounter, gauge, histogram)."""
    prom_kind = PROMETHEUS_TYPE[kind]  # type: ignore[index]
    return _family(sanitize_full_name(name), map_unit(unit), prom_kind)[1]


def _kind(metric: Metric) -> str | None:
    data = metric.data
    if isinstance(data, Sum):
        cumulative = data.aggregation_temporality == AggregationTemporality.CUMULATIVE
        return "gauge" if (not data.is_monotonic and cumulative) else "counter"
    if isinstance(data, Gauge):
        return "gauge"
    if isinstance(data, Histogram):
        return "histogram"
    return None


class _Family:
    __slots__ = ("exposed", "help", "kind", "name", "rows")

    def __init__(self, name: str, exposed: str, kind: str, help_text: str) -> None:
        self.name = name
        self.exposed = exposed
        self.kind = kind
        self.help = help_text
        self.rows: list[str] = []


def _pairs(labels: Iterable[tuple[str, str]]) -> str:
    return ",".join(f'{k}="{v}"' for k, v in labels)


def _braced(text: str) -> str:
    return "{" + text + "}" if text else ""


def _sample(name: str, labels: list[tuple[str, str]], value: float) -> str:
    if labels:
        return f"{name}{{{_pairs(sorted(labels))}}} {floatToGoString(value)}\n"
    return f"{name} {floatToGoString(value)}\n"


def _render_metric(metric: Metric, scope_attrs: dict[str, Any], families: dict[str, _Family]) -> None:
    kind = _kind(metric)
    if kind is None:
        return
    unit = map_unit(metric.unit or "")
    description = metric.description or ""
    name, exposed = _family(sanitize_full_name(metric.name), unit, kind)
    fid = f"{name}|{description}|{unit}|{kind}"
    rows: list[dict[str, str]] = []
    keys: set[str] = set()
    points: list[Any] = list(metric.data.data_points)
    for point in points:
        labels: dict[str, str] = {}
        for key, value in chain(scope_attrs.items(), (point.attributes or {}).items()):
            label = sanitize_attribute(key)
            if label == "le" and kind == "histogram":
                label = RENAMED_LE  # a deviation: upstream keeps it on _count/_sum only (docs/performance.md)
            keys.add(label)
            labels[label] = _label_value(value)
        rows.append(labels)
    ordered = sorted(keys)
    out: list[str] = []
    for labels, point in zip(rows, points, strict=True):
        pairs = [(k, labels.get(k, "")) for k in ordered]
        if kind == "histogram":
            total = 0
            for bound, count in zip(chain(point.explicit_bounds, ["+Inf"]), point.bucket_counts, strict=False):
                total += count
                out.append(_sample(name + "_bucket", [*pairs, ("le", f"{bound}")], total))
            if not point.explicit_bounds or point.explicit_bounds[0] >= 0:  # as prometheus_client's histograms
                out.append(_sample(name + "_count", pairs, total))
                out.append(_sample(name + "_sum", pairs, point.sum))
        else:
            out.append(_sample(exposed, pairs, point.value))
    family = families.get(fid)
    if family is None:
        family = families[fid] = _Family(name, exposed, kind, description)
    family.rows.extend(out)


def _target_info(resource: Resource) -> str:
    attrs = {sanitize_attribute(k): _label_value(v) for k, v in resource.attributes.items()}
    head = "# HELP target_info Target metadata\n# TYPE target_info gauge\n"
    return head + _sample("target_info", list(attrs.items()), 1.0)


def _bridge_labels(inst: BridgedInstrument, scope_attrs: dict[str, Any]) -> list[str] | None:
    """Sorted label names of a bridged instrument's series, or None when the keys need the slow path."""
    keys = [sanitize_attribute(k) for k in chain(scope_attrs, inst.label_keys)]
    if len(set(keys)) != len(keys) or (inst.kind == "histogram" and "le" in keys):
        return None
    return keys


def _render_bridged(inst: BridgedInstrument, scope_attrs: dict[str, Any], families: dict[str, _Family]) -> bool:
    """Render a bridged instrument from its handles; False when it must take the generic path."""
    cache = inst.render_cache
    header = cache.get("header")
    if header is None:
        found = _bridge_labels(inst, scope_attrs)
        if found is None:
            return False
        keys = found
        kind = {"counter": "counter", "updowncounter": "gauge", "gauge": "gauge", "histogram": "histogram"}[
            inst.kind
        ]
        unit = map_unit(inst.unit)
        name, exposed = _family(sanitize_full_name(inst.name), unit, kind)
        scope_values = {sanitize_attribute(k): _label_value(v) for k, v in scope_attrs.items()}
        order = sorted(range(len(keys)), key=lambda i: keys[i])
        header = cache["header"] = (name, exposed, kind, unit, keys, scope_values, order)
    name, exposed, kind, unit, keys, scope_values, order = header
    fid = f"{name}|{inst.description}|{unit}|{kind}"
    if fid in families:
        return False
    rows: list[str] = []
    histogram = inst.kind == "histogram"
    les: list[str] = [f"{b}" for b in inst.bounds] + ["+Inf"] if inst.bounds is not None else []
    with_sum = not inst.bounds or inst.bounds[0] >= 0
    for key, handle in inst.handles():
        if not handle._seen:
            continue
        text = handle.label_text
        if text is None:
            if key and key[0] == "\x00overflow":
                return False
            values = [*scope_values.values(), *(_label_value(v) for v in key)]
            pairs = [(keys[i], values[i]) for i in order]
            plain = _pairs(pairs)
            if histogram:
                before = "".join(f'{k}="{v}",' for k, v in pairs if k < "le")
                after = "".join(f',{k}="{v}"' for k, v in pairs if k > "le")
                text = (name + "_bucket{" + before + 'le="', '"' + after + "} ", _braced(plain))
            else:
                text = (exposed + _braced(plain) + " ",)
            handle.label_text = text
        if histogram:
            assert isinstance(handle, HistogramHandle)
            counts, total_sum, _low, _high = handle.snapshot()
            prefix, suffix, plain_labels = text
            total = 0
            for le, count in zip(les, counts, strict=False):
                total += count
                rows.append(f"{prefix}{le}{suffix}{floatToGoString(total)}\n")
            if with_sum:
                rows.append(f"{name}_count{plain_labels} {floatToGoString(total)}\n")
                rows.append(f"{name}_sum{plain_labels} {floatToGoString(total_sum)}\n")
        else:
            rows.append(f"{text[0]}{floatToGoString(handle.snapshot())}\n")
    if rows:
        family = families[fid] = _Family(name, exposed, kind, inst.description)
        family.rows = rows
    return True


def _render_bridge(bridge: Bridge, families: dict[str, _Family], skipped: Skipped) -> None:
    """Every bridged instrument, from its handles (or through its collected points when it must)."""
    scope_attrs = _scope_labels(SCOPE)
    for inst in bridge.instruments():
        try:
            if not _render_bridged(inst, scope_attrs, families):
                metric = inst.collect(AggregationTemporality.CUMULATIVE, 0, {})
                if metric is not None:
                    _render_metric(metric, scope_attrs, families)
        except Exception as exc:
            skipped(inst.name, exc)


def render_text(
    data: MetricsData | None,
    bridge: Bridge | None = None,
    resource: Resource | None = None,
    target_info: bool = True,
) -> bytes:
    """Prometheus text 0.0.4 for an SDK collection plus (optionally) a bridge rendered directly."""
    _use_installed_float_format()
    families: dict[str, _Family] = {}
    skipped = Skipped(bridge)
    head = ""
    resources: Sequence[Any] = data.resource_metrics if data is not None else ()
    if target_info:
        attrs: dict[str, Any] = {}
        for rm in resources:
            attrs.update(rm.resource.attributes)
        if not resources and resource is not None and bridge is not None:
            attrs.update(resource.attributes)
        if attrs:
            head = _target_info(Resource(attrs))
    # The bridged scope goes where Bridge.merge puts it for every other reader (and so where the
    # upstream exporter would render it): into the SDK's own ``otelsvc`` scope of the first resource
    # when there is one, else after the first resource's scopes.
    after = -1
    if resources:
        first = resources[0].scope_metrics
        after = next((i for i, sm in enumerate(first) if sm.scope == SCOPE), len(first) - 1)
    pending = bridge is not None
    for index, rm in enumerate(resources):
        for position, sm in enumerate(rm.scope_metrics):
            scope_attrs = _scope_labels(sm.scope)
            for metric in sm.metrics:
                try:
                    _render_metric(metric, scope_attrs, families)
                except Exception as exc:
                    skipped(metric.name, exc)
            if pending and index == 0 and position == after:
                _render_bridge(bridge, families, skipped)  # type: ignore[arg-type]
                pending = False
        if pending:
            _render_bridge(bridge, families, skipped)  # type: ignore[arg-type]
            pending = False
    if pending:
        _render_bridge(bridge, families, skipped)  # type: ignore[arg-type]
    out = [head.encode("utf-8")]
    for family in families.values():
        try:
            text = f"# HELP {family.exposed} {_help(family.help)}\n# TYPE {family.exposed} {family.kind}\n"
            out.append(text.encode("utf-8") + "".join(family.rows).encode("utf-8"))
        except Exception as exc:
            skipped(family.name, exc)
    skipped.count("prometheus")
    return b"".join(out)


_LOGGED: set[str] = set()


class Skipped:
    """Metrics left out of one rendering: each name logged once per process, all counted on the bridge."""

    def __init__(self, bridge: Bridge | None) -> None:
        self.bridge = bridge
        self.n = 0

    def __call__(self, name: str, exc: BaseException) -> None:
        self.n += 1
        if name not in _LOGGED and len(_LOGGED) < 1000:
            _LOGGED.add(name)
            _log.warning("otelsvc: metric %s left out of the exposition (%s: %.200s); the rest is served",
                         name, type(exc).__name__, exc)

    def count(self, exporter: str) -> None:
        if self.n and self.bridge is not None:
            count_skipped(self.bridge, exporter, self.n)
