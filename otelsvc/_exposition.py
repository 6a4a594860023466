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
from bisect import bisect_left
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
        mantissa = f"{s[0]}.{s[1:dot]}{s[dot + 1 :]}".rstrip("0.")
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
    if value.__class__ is str and value.isascii() and "\\" not in value and '"' not in value and "\n" not in value:
        return value  # nothing to escape: the usual case
    text = escape_text(value) if isinstance(value, str) else dumps(value, default=str)
    return text.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")


def _help(text: str, openmetrics: bool = False) -> str:
    out = escape_text(text).replace("\\", r"\\").replace("\n", r"\n")
    return out.replace('"', r"\"") if openmetrics else out


def _scope_labels(scope: InstrumentationScope) -> dict[str, Any]:
    """The ``otel_scope_*`` labels of a scope, as the upstream exporter writes them."""
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
    """One Prometheus family: its rows (one string per series) and the series' identities."""

    __slots__ = ("exposed", "help", "keys", "kind", "name", "rows", "seen", "unit")

    def __init__(self, name: str, exposed: str, kind: str, unit: str, help_text: str) -> None:
        self.name = name
        self.exposed = exposed
        self.kind = kind
        self.unit = unit
        self.help = help_text
        self.rows: list[str] = []
        # Each series' identity (its label text without empty values), parallel to rows; for a handle,
        # its key and the instrument's render header until another metric joins the family.
        self.keys: list[str | tuple[tuple[str, ...], tuple[Any, ...]]] = []
        self.seen: set[str] | None = None  # made when a second metric joins the family


class _Families:
    """The families of one rendering, one per Prometheus name (also after name mangling).

    Metrics of one name from several scopes (or names that mangle alike, ``a.b`` and ``a_b``) join
    the first family of that name when kind and unit agree; a series whose labels another already
    has is left out. A metric of another kind or unit under a taken name is left out. Each is logged
    once per process.
    """

    def __init__(self) -> None:
        self.by_name: dict[str, _Family] = {}
        self.order: list[_Family] = []

    def claim(self, name: str, exposed: str, kind: str, unit: str, help_text: str, source: str) -> _Family | None:
        """The family for a metric: a new one, the one it joins, or None when it conflicts."""
        family = self.by_name.get(name) or self.by_name.get(exposed)
        if family is None:
            family = _Family(name, exposed, kind, unit, help_text)
            self.by_name[name] = self.by_name[exposed] = family
            self.order.append(family)
            return family
        if (family.name, family.kind, family.unit) != (name, kind, unit):
            _log_once(
                f"conflict|{family.name}|{source}|{kind}|{unit}",
                "otelsvc: metric %s (%s, unit %r) is left out of the Prometheus exposition: the name %s is "
                "already a %s with unit %r",
                source,
                kind,
                unit,
                exposed,
                family.kind,
                family.unit,
            )
            return None
        if family.seen is None:
            family.keys = [k if isinstance(k, str) else _identity(*k) for k in family.keys]
            family.seen = {k for k in family.keys if isinstance(k, str)}
        return family

    def taken(self, name: str, exposed: str) -> bool:
        return name in self.by_name or exposed in self.by_name

    def add(self, family: _Family, rows: list[str], keys: list[str], source: str) -> None:
        """Add one metric's series; when the family already had series, keep the first of equal labels."""
        seen = family.seen
        if seen is None:
            family.rows.extend(rows)
            family.keys.extend(keys)
            return
        dropped = 0
        for row, key in zip(rows, keys, strict=True):
            if key in seen:
                dropped += 1
                continue
            seen.add(key)
            family.rows.append(row)
            family.keys.append(key)
        if dropped:
            _log_once(
                f"collision|{family.name}|{source}",
                "otelsvc: %d series of metric %s are left out of the Prometheus exposition: family %s already "
                "has series with the same labels (the first is kept)",
                dropped,
                source,
                family.name,
            )


_ONCE: set[str] = set()


def _log_once(key: str, message: str, *args: Any) -> None:
    if key not in _ONCE and len(_ONCE) < 1000:
        _ONCE.add(key)
        _log.warning(message, *args)


def _pairs(labels: Iterable[tuple[str, str]]) -> str:
    return ",".join(f'{k}="{v}"' for k, v in labels)


def _braced(text: str) -> str:
    return "{" + text + "}" if text else ""


def _sample(name: str, labels: list[tuple[str, str]], value: float) -> str:
    if labels:
        return f"{name}{{{_pairs(sorted(labels))}}} {floatToGoString(value)}\n"
    return f"{name} {floatToGoString(value)}\n"


def _exemplar_text(value: float, time_ns: int, trace_id: int | None, span_id: int | None) -> str:
    """An OpenMetrics exemplar suffix: `` # {span_id="..",trace_id=".."} value timestamp``."""
    labels = f'span_id="{span_id:016x}",trace_id="{trace_id:032x}"' if trace_id and span_id else ""
    seconds, nanos = divmod(time_ns, 1_000_000_000)
    return f" # {{{labels}}} {floatToGoString(value)} {seconds}.{nanos // 1_000_000:03d}"


def _latest(exemplars: Iterable[Any]) -> Any:
    return max(exemplars, key=lambda e: e.time_unix_nano, default=None)


def _render_metric(metric: Metric, scope_attrs: dict[str, Any], families: _Families, openmetrics: bool = False) -> None:
    kind = _kind(metric)
    if kind is None:
        return
    unit = map_unit(metric.unit or "")
    description = metric.description or ""
    name, exposed = _family(sanitize_full_name(metric.name), unit, kind)
    family = families.claim(name, exposed, kind, unit, description, metric.name)
    if family is None:
        return
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
    identities: list[str] = []
    with_exemplars = openmetrics and kind in ("counter", "histogram")
    last_bounds: Any = None
    les: list[str] = []
    for labels, point in zip(rows, points, strict=True):
        pairs = [(k, labels.get(k, "")) for k in ordered]
        identities.append(_pairs(p for p in pairs if p[1]))
        exemplars = point.exemplars if with_exemplars else None
        if kind == "histogram":
            bounds = point.explicit_bounds
            by_bucket: dict[int, Any] = {}
            for ex in exemplars or ():
                index = bisect_left(bounds, ex.value)
                if index not in by_bucket or ex.time_unix_nano >= by_bucket[index].time_unix_nano:
                    by_bucket[index] = ex
            if bounds is not last_bounds and bounds != last_bounds:  # the points of a metric share theirs
                last_bounds = bounds
                les = [floatToGoString(b) if openmetrics else f"{b}" for b in bounds] + ["+Inf"]
            lines: list[str] = []
            total = 0
            for index, (le, count) in enumerate(zip(les, point.bucket_counts, strict=False)):
                total += count
                line = _sample(name + "_bucket", [*pairs, ("le", le)], total)
                ex = by_bucket.get(index)
                if ex is not None:
                    line = line[:-1] + _exemplar_text(ex.value, ex.time_unix_nano, ex.trace_id, ex.span_id) + "\n"
                lines.append(line)
            if not bounds or bounds[0] >= 0:  # as prometheus_client's histograms
                lines.append(_sample(name + "_count", pairs, total))
                lines.append(_sample(name + "_sum", pairs, point.sum))
            out.append("".join(lines))
        else:
            line = _sample(exposed, pairs, point.value)
            ex = _latest(exemplars) if exemplars else None
            if ex is not None:
                line = line[:-1] + _exemplar_text(ex.value, ex.time_unix_nano, ex.trace_id, ex.span_id) + "\n"
            out.append(line)
    families.add(family, out, identities, metric.name)


def _target_info(resource: Resource, openmetrics: bool) -> str:
    attrs = {sanitize_attribute(k): _label_value(v) for k, v in resource.attributes.items()}
    if openmetrics:
        head = "# HELP target Target metadata\n# TYPE target info\n"
    else:
        head = "# HELP target_info Target metadata\n# TYPE target_info gauge\n"
    return head + _sample("target_info", list(attrs.items()), 1.0)


def _bridge_labels(inst: BridgedInstrument, scope_attrs: dict[str, Any]) -> list[str] | None:
    """Sorted label names of a bridged instrument's series, or None when the keys need the slow path."""
    keys = [sanitize_attribute(k) for k in chain(scope_attrs, inst.label_keys)]
    if len(set(keys)) != len(keys) or (inst.kind == "histogram" and "le" in keys):
        return None
    return keys


def _sorted_pairs(key: tuple[str, ...], header: tuple[Any, ...]) -> list[tuple[str, str]]:
    keys, scope_values, order = header[4:7]
    values = [*scope_values.values(), *(_label_value(v) for v in key)]
    return [(keys[i], values[i]) for i in order]


def _templates(keys: list[str], scope_values: dict[str, str], order: list[int], header: tuple[str, str]) -> Any:
    """Per instrument, %-templates of its handles' label texts with the scope labels filled in, and
    which label value goes in each slot: a series' first render then costs one ``%`` per part."""
    scope = list(scope_values.values())
    count = len(scope)

    def part(indices: list[int]) -> tuple[list[str], tuple[int, ...]]:
        parts: list[str] = []
        slots: list[int] = []
        for i in indices:
            if i < count:
                parts.append(f'{keys[i]}="{scope[i]}"'.replace("%", "%%"))
            else:
                parts.append(keys[i].replace("%", "%%") + '="%s"')
                slots.append(i - count)
        return parts, tuple(slots)

    name, exposed = (text.replace("%", "%%") for text in header)
    everything, slots = part(order)
    plain = "{" + ",".join(everything) + "}" if everything else ""
    before, before_slots = part([i for i in order if keys[i] < "le"])
    after, after_slots = part([i for i in order if keys[i] > "le"])
    return (
        (exposed + plain + " ", slots),
        (name + "_bucket{" + "".join(p + "," for p in before) + 'le="', before_slots),
        ('"' + "".join("," + p for p in after) + "} ", after_slots),
        (plain, slots),
    )


def _label_text(key: tuple[str, ...], header: tuple[Any, ...], histogram: bool) -> str | tuple[str, str, str]:
    """A handle's cached label text: the sample prefix (for a histogram, the bucket prefix and suffix
    around ``le``, and its plain labels)."""
    values = [_label_value(v) for v in key]
    sample, bucket, suffix, plain = header[9]
    if histogram:
        return (
            bucket[0] % tuple(values[i] for i in bucket[1]),
            suffix[0] % tuple(values[i] for i in suffix[1]),
            plain[0] % tuple(values[i] for i in plain[1]),
        )
    text: str = sample[0] % tuple(values[i] for i in sample[1])
    return text


def _identity(key: tuple[str, ...], header: tuple[Any, ...]) -> str:
    """A handle series' identity (its labels with a value), made only when another metric joins its
    family: caching it on every handle would cost about as much memory as the series itself."""
    return _pairs(p for p in _sorted_pairs(key, header) if p[1])


def _render_bridged(
    inst: BridgedInstrument,
    scope_attrs: dict[str, Any],
    families: _Families,
    openmetrics: bool = False,
    since: int | None = None,
) -> bool:
    """Render a bridged instrument from its handles; False when it must take the generic path."""
    cache = inst.render_cache
    header = cache.get("header")
    scope_info = bool(scope_attrs)
    if header is not None and cache.get("scope_info") != scope_info:
        header = None  # rendered before with the other scope-label setting: label texts change
        for _key, handle in inst.handles():
            handle.label_text = None
    if header is None:
        found = _bridge_labels(inst, scope_attrs)
        if found is None:
            return False
        keys = found
        kind = PROMETHEUS_TYPE[inst.kind]
        unit = map_unit(inst.unit)
        name, exposed = _family(sanitize_full_name(inst.name), unit, kind)
        scope_values = {sanitize_attribute(k): _label_value(v) for k, v in scope_attrs.items()}
        order = sorted(range(len(keys)), key=lambda i: keys[i])
        bounds = inst.bounds or ()
        les = [f"{b}" for b in bounds] + ["+Inf"]
        les_om = [floatToGoString(b) for b in bounds] + ["+Inf"]
        templates = _templates(keys, scope_values, order, (name, exposed))
        header = (name, exposed, kind, unit, keys, scope_values, order, les, les_om, templates)
        cache["header"] = header
        cache["scope_info"] = scope_info
    name, exposed, kind, unit, keys, scope_values, order, les, les_om = header[:9]
    if families.taken(name, exposed):
        return False
    rows: list[str] = []
    identities: list[str | tuple[tuple[str, ...], tuple[Any, ...]]] = []
    histogram = inst.kind == "histogram"
    if openmetrics:
        les = les_om
    with_sum = not inst.bounds or inst.bounds[0] >= 0
    exemplars = openmetrics and since is not None and bool(inst.exemplar_mode)
    floor = since or 0
    fmt = floatToGoString
    add_row, add_identity = rows.append, identities.append
    for key, handle in inst.handles():
        if not handle._seen:
            continue
        text = handle.label_text
        if text is None:
            if key and key[0] == "\x00overflow":
                return False
            text = handle.label_text = _label_text(key, header, histogram)
        add_identity((key, header))  # resolved only if another metric joins the family
        if not histogram:
            ex = handle._exemplar if exemplars else None  # counters only (exemplar_mode)
            if ex is not None and ex[1] > floor:
                add_row(f"{text}{fmt(handle.snapshot())}{_exemplar_text(ex[0], ex[1], ex[2], ex[3])}\n")
            else:
                add_row(f"{text}{fmt(handle.snapshot())}\n")
            continue
        assert isinstance(handle, HistogramHandle)
        counts, total_sum, _low, _high = handle.snapshot()
        prefix, suffix, plain_labels = text
        found_ex = handle.exemplars(floor) if exemplars and handle._ex_last > floor else None
        lines = []
        total = 0
        if found_ex:
            for le, count, ex in zip(les, counts, found_ex, strict=False):
                total += count
                tail = _exemplar_text(ex[0], ex[1], ex[2], ex[3]) if ex is not None else ""
                lines.append(f"{prefix}{le}{suffix}{fmt(total)}{tail}\n")
        else:
            for le, count in zip(les, counts, strict=False):
                total += count
                lines.append(f"{prefix}{le}{suffix}{fmt(total)}\n")
        if with_sum:
            lines.append(f"{name}_count{plain_labels} {fmt(total)}\n")
            lines.append(f"{name}_sum{plain_labels} {fmt(total_sum)}\n")
        add_row("".join(lines))
    if rows:
        family = families.claim(name, exposed, kind, unit, inst.description, inst.name)
        assert family is not None  # the name was free
        family.rows = rows
        family.keys = identities
    return True


def _render_bridge(
    bridge: Bridge, families: _Families, skipped: Skipped, scope_info: bool, openmetrics: bool, since: int | None
) -> None:
    """Every bridged instrument, from its handles (or through its collected points when it must)."""
    scope_attrs = _scope_labels(SCOPE) if scope_info else {}
    for inst in bridge.instruments():
        try:
            if not _render_bridged(inst, scope_attrs, families, openmetrics, since):
                metric = inst.collect(AggregationTemporality.CUMULATIVE, 0, {}, since if openmetrics else None)
                if metric is not None:
                    _render_metric(metric, scope_attrs, families, openmetrics)
        except Exception as exc:
            skipped(inst.name, exc)


def render_text(
    data: MetricsData | None,
    bridge: Bridge | None = None,
    resource: Resource | None = None,
    target_info: bool = True,
    *,
    openmetrics: bool = False,
    scope_info: bool = True,
    since: int | None = None,
) -> bytes:
    """Prometheus text 0.0.4 (or OpenMetrics 1.0) for an SDK collection plus (optionally) a bridge
    rendered directly. ``scope_info`` False leaves the ``otel_scope_*`` labels out (as the upstream
    exporter's ``scope_info_enabled``); ``since`` (ns) is the previous collection of this reader: handle
    exemplars taken after it are rendered in OpenMetrics (the SDK's own points carry theirs)."""
    _use_installed_float_format()
    families = _Families()
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
            head = _target_info(Resource(attrs), openmetrics)
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
            scope_attrs = _scope_labels(sm.scope) if scope_info else {}
            for metric in sm.metrics:
                try:
                    _render_metric(metric, scope_attrs, families, openmetrics)
                except Exception as exc:
                    skipped(metric.name, exc)
            if pending and index == 0 and position == after:
                _render_bridge(bridge, families, skipped, scope_info, openmetrics, since)  # type: ignore[arg-type]
                pending = False
        if pending:
            _render_bridge(bridge, families, skipped, scope_info, openmetrics, since)  # type: ignore[arg-type]
            pending = False
    if pending:
        _render_bridge(bridge, families, skipped, scope_info, openmetrics, since)  # type: ignore[arg-type]
    out = [head.encode("utf-8")]
    for family in families.order:
        if not family.rows:
            continue
        try:
            if openmetrics:
                text = f"# HELP {family.name} {_help(family.help, True)}\n# TYPE {family.name} {family.kind}\n"
                if family.unit:
                    text += f"# UNIT {family.name} {family.unit}\n"
            else:
                text = f"# HELP {family.exposed} {_help(family.help)}\n# TYPE {family.exposed} {family.kind}\n"
            out.append(text.encode("utf-8") + "".join(family.rows).encode("utf-8"))
        except Exception as exc:
            skipped(family.name, exc)
    if openmetrics:
        out.append(b"# EOF\n")
    skipped.count("openmetrics" if openmetrics else "prometheus")
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
            _log.warning(
                "otelsvc: metric %s left out of the exposition (%s: %.200s); the rest is served",
                name,
                type(exc).__name__,
                exc,
            )

    def count(self, exporter: str) -> None:
        if self.n and self.bridge is not None:
            count_skipped(self.bridge, exporter, self.n)
