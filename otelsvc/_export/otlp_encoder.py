"""OTLP metrics encoded straight to protobuf bytes, byte-identical to the SDK's encoder.

The SDK's encoder builds a protobuf object per data point, attribute and value, which is most of an
export's cost at many series. Here the wire format is written directly: attribute sets are encoded
once and cached by the caller (a series' labels do not change), and each point costs a few
``struct`` packs. Fields are written in field-number order with proto3's presence rules, so the
bytes equal ``encode_metrics(data).SerializeToString()`` (a test holds the two side by side).
Large requests are split below a byte budget (gRPC receivers refuse messages over 4 MiB by default).
"""

from __future__ import annotations

import io
import struct
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from opentelemetry.sdk.metrics.export import (
    ExponentialHistogram,
    Gauge,
    Histogram,
    Metric,
    MetricsData,
    ResourceMetrics,
    ScopeMetrics,
    Sum,
)

from otelsvc._stable_attributes import StableAttributes

__all__ = [
    "DEFAULT_MAX_REQUEST_BYTES",
    "EncodedMetric",
    "encode_attributes",
    "encode_bounds",
    "encode_exemplar",
    "encode_histogram_point",
    "encode_metric",
    "encode_metrics_data",
    "encode_number_point",
    "encode_requests",
    "encode_resource",
    "encode_scope",
    "varint",
]

DEFAULT_MAX_REQUEST_BYTES = 4 * 1024 * 1024 - 64 * 1024

_double = struct.Struct("<d").pack
_fixed64 = struct.Struct("<Q").pack
_sfixed64 = struct.Struct("<q").pack
_MASK64 = (1 << 64) - 1


def varint(value: int) -> bytes:
    """A protobuf base-128 varint (negative values as their 64-bit two's complement)."""
    value &= _MASK64
    if value < 0x80:
        return bytes((value,))
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _field(tag: bytes, payload: bytes) -> bytes:
    """A length-delimited field (tag is the precomputed key byte)."""
    return tag + varint(len(payload)) + payload


def _utf8(value: str) -> bytes:
    # A lone surrogate (an undecodable file name, say) cannot be UTF-8: it is written as its escape.
    return value.encode("utf-8", "backslashreplace")


def _text(tag: bytes, value: str) -> bytes:
    return _field(tag, _utf8(value)) if value else b""


def _any_value(value: Any) -> bytes:
    """An AnyValue message body (oneof members are written even when they hold a default)."""
    if value is None:
        return b""
    if isinstance(value, bool):
        return b"\x10\x01" if value else b"\x10\x00"
    if isinstance(value, str):
        return _field(b"\x0a", _utf8(value))
    if isinstance(value, int):
        return b"\x18" + varint(value)
    if isinstance(value, float):
        return b"\x21" + _double(value)
    if isinstance(value, bytes):
        return _field(b"\x3a", value)
    if isinstance(value, Sequence):
        return _field(b"\x2a", b"".join(_field(b"\x0a", _any_value(v)) for v in value))
    if isinstance(value, Mapping):
        return _field(b"\x32", b"".join(_field(b"\x0a", _key_value(str(k), v)) for k, v in value.items()))
    raise TypeError(f"invalid attribute value type {type(value).__name__}")


def _key_value(key: str, value: Any) -> bytes:
    return _text(b"\x0a", key) + _field(b"\x12", _any_value(value))


def encode_attributes(tag: bytes, attributes: Mapping[str, Any] | None) -> bytes:
    """A repeated KeyValue field under ``tag`` (cache the result per series)."""
    if not attributes:
        return b""
    if attributes.__class__ is StableAttributes:
        cached: tuple[bytes, bytes] | None = getattr(attributes, "encoded", None)
        if cached is not None and cached[0] == tag:
            return cached[1]
        encoded = _encode_attributes(tag, attributes)
        attributes.encoded = (tag, encoded)  # type: ignore[attr-defined]
        return encoded
    return _encode_attributes(tag, attributes)


def _encode_attributes(tag: bytes, attributes: Mapping[str, Any]) -> bytes:
    out = []
    for key, value in attributes.items():
        try:
            out.append(_field(tag, _key_value(key, value)))
        except TypeError:
            continue  # as the SDK's encoder: an attribute it cannot encode is left out, the point kept
    return b"".join(out)


def encode_exemplar(
    tag: bytes,
    value: float,
    time: int,
    trace_id: int | None,
    span_id: int | None,
    filtered_attributes: Mapping[str, Any] | None = None,
) -> bytes:
    """One Exemplar field under ``tag`` (the ids written only when both are there, as the SDK does)."""
    body = b"\x11" + _fixed64(time) if time else b""
    if isinstance(value, float):
        body += b"\x19" + _double(value)
    if span_id is not None and trace_id is not None:
        body += _field(b"\x22", span_id.to_bytes(8, "big")) + _field(b"\x2a", trace_id.to_bytes(16, "big"))
    if isinstance(value, int) and not isinstance(value, bool):
        body += b"\x31" + _sfixed64(value)
    body += encode_attributes(b"\x3a", filtered_attributes)
    return _field(tag, body)


def _exemplars(tag: bytes, exemplars: Iterable[Any]) -> bytes:
    return b"".join(
        encode_exemplar(tag, ex.value, ex.time_unix_nano, ex.trace_id, ex.span_id, ex.filtered_attributes)
        for ex in exemplars
    )


def encode_number_point(attributes: bytes, start: int, time: int, value: float, exemplars: bytes = b"") -> bytes:
    """A NumberDataPoint body; ``attributes`` from ``encode_attributes(b"\\x3a", ...)``."""
    out = b"\x11" + _fixed64(start) if start else b""
    if time:
        out += b"\x19" + _fixed64(time)
    if isinstance(value, int):
        return out + exemplars + b"\x31" + _sfixed64(value) + attributes
    return out + b"\x21" + _double(value) + exemplars + attributes


def encode_histogram_point(
    attributes: bytes,
    start: int,
    time: int,
    count: int,
    total: float,
    bucket_counts: Sequence[int],
    bounds: bytes,
    low: float | None,
    high: float | None,
    exemplars: bytes = b"",
) -> bytes:
    """A HistogramDataPoint body; ``attributes`` tagged ``b"\\x4a"``, ``bounds`` from ``encode_bounds``."""
    out = b"\x11" + _fixed64(start) if start else b""
    if time:
        out += b"\x19" + _fixed64(time)
    if count:
        out += b"\x21" + _fixed64(count)
    out += b"\x29" + _double(total)
    if bucket_counts:
        out += _field(b"\x32", struct.pack(f"<{len(bucket_counts)}Q", *bucket_counts))
    out += bounds + exemplars + attributes
    if low is not None:
        out += b"\x59" + _double(low)
    if high is not None:
        out += b"\x61" + _double(high)
    return out


def encode_bounds(bounds: Sequence[float]) -> bytes:
    """The packed explicit_bounds field of a histogram point (the same for every series)."""
    return _field(b"\x3a", struct.pack(f"<{len(bounds)}d", *bounds)) if bounds else b""


def _metric_head(metric: Metric) -> bytes:
    return _text(b"\x0a", metric.name) + _text(b"\x12", metric.description or "") + _text(b"\x1a", metric.unit or "")


# The key and length of a repeated point field, shared for the usual point sizes (no allocation per point).
_POINT_PREFIX = [b"\x0a" + varint(n) for n in range(4096)]


@dataclass
class EncodedMetric:
    """A Metric as a head (name, description, unit) and its encoded points, so a request can be cut
    between two points of one metric. ``kind`` "raw" is a finished body that cannot be cut."""

    head: bytes
    kind: str
    points: list[bytes]
    temporality: int = 0
    monotonic: bool = False

    def pieces(self, points: list[bytes] | None = None) -> tuple[list[bytes], int]:
        """The Metric body with ``points`` (default: all of them) as pieces to join, and its length."""
        if self.kind == "raw":
            return [self.head], len(self.head)
        points = self.points if points is None else points
        if not points:
            return [self.head], len(self.head)
        data: list[bytes] = []
        append = data.append
        size = 0
        prefixes = _POINT_PREFIX
        for point in points:
            n = len(point)
            prefix = prefixes[n] if n < 4096 else b"\x0a" + varint(n)
            append(prefix)
            append(point)
            size += len(prefix) + n
        tail = b""
        if self.kind == "gauge":
            tag = b"\x2a"
        else:
            if self.temporality:
                tail = b"\x10" + varint(self.temporality)
            if self.kind == "sum":
                tag = b"\x3a"
                if self.monotonic:
                    tail += b"\x18\x01"
            else:
                tag = b"\x4a"
        size += len(tail)
        head = self.head + tag + varint(size)
        data.insert(0, head)
        data.append(tail)
        return data, len(head) + size

    def body(self, points: list[bytes] | None = None) -> bytes:
        """The Metric body with ``points`` (default: all of them)."""
        return b"".join(self.pieces(points)[0])


def encode_metric(metric: Metric) -> EncodedMetric:
    """A Metric from the SDK's data model (exponential histograms through the SDK's own encoder)."""
    data = metric.data
    if isinstance(data, Gauge):
        points = [
            encode_number_point(
                encode_attributes(b"\x3a", p.attributes), 0, p.time_unix_nano, p.value, _exemplars(b"\x2a", p.exemplars)
            )
            for p in data.data_points
        ]
        return EncodedMetric(_metric_head(metric), "gauge", points)
    if isinstance(data, Sum):
        points = [
            encode_number_point(
                encode_attributes(b"\x3a", p.attributes),
                p.start_time_unix_nano,
                p.time_unix_nano,
                p.value,
                _exemplars(b"\x2a", p.exemplars),
            )
            for p in data.data_points
        ]
        return EncodedMetric(_metric_head(metric), "sum", points, int(data.aggregation_temporality), data.is_monotonic)
    if isinstance(data, Histogram):
        points = [
            encode_histogram_point(
                encode_attributes(b"\x4a", p.attributes),
                p.start_time_unix_nano,
                p.time_unix_nano,
                p.count,
                p.sum,
                p.bucket_counts,
                encode_bounds(p.explicit_bounds),
                p.min,
                p.max,
                _exemplars(b"\x42", p.exemplars),
            )
            for p in data.data_points
        ]
        return EncodedMetric(_metric_head(metric), "histogram", points, int(data.aggregation_temporality))
    if isinstance(data, ExponentialHistogram):
        from opentelemetry.exporter.otlp.proto.common.metrics_encoder import encode_metrics
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.util.instrumentation import InstrumentationScope

        scope = InstrumentationScope("")
        alone = MetricsData([ResourceMetrics(Resource.get_empty(), [ScopeMetrics(scope, [metric], "")], "")])
        (encoded,) = encode_metrics(alone).resource_metrics[0].scope_metrics[0].metrics
        return EncodedMetric(bytes(encoded.SerializeToString()), "raw", [])
    return EncodedMetric(_metric_head(metric), "raw", [])


def encode_scope(scope: Any) -> bytes:
    """The ``scope`` field of a ScopeMetrics (always present, as the SDK writes it)."""
    if scope is None:
        return b"\x0a\x00"
    body = _text(b"\x0a", scope.name) + _text(b"\x12", scope.version or "")
    body += encode_attributes(b"\x1a", getattr(scope, "attributes", None))
    return _field(b"\x0a", body)


def encode_resource(resource: Any) -> bytes:
    """The ``resource`` field of a ResourceMetrics."""
    return _field(b"\x0a", encode_attributes(b"\x0a", resource.attributes))


def _frame(tag: bytes, pieces: list[bytes], size: int) -> tuple[list[bytes], int]:
    """``pieces`` (``size`` bytes) as one length-delimited field under ``tag``."""
    prefix = tag + varint(size)
    pieces.insert(0, prefix)
    return pieces, len(prefix) + size


class _Requests:
    """Cuts one resource's scopes and metrics into requests under a byte budget.

    Fields are kept as lists of pieces with their lengths and each request is joined once, so an
    export holds its points and the finished request, not a copy per nesting level."""

    def __init__(self, resource: bytes, resource_schema_url: str, max_bytes: int) -> None:
        self.resource = resource
        self.tail = _text(b"\x1a", resource_schema_url)
        self.max_bytes = max_bytes
        self.done: list[bytes] = []
        self.scopes: list[bytes] = []  # pieces of the finished ScopeMetrics fields of the open request
        self.scopes_size = 0
        self.size = len(resource) + len(self.tail) + 8

    def close(self) -> None:
        if self.scopes:
            size = len(self.resource) + self.scopes_size + len(self.tail)
            out = io.BytesIO()  # bytes.join would hold an 80-byte buffer record per piece meanwhile
            out.write(b"\x0a" + varint(size) + self.resource)
            out.writelines(self.scopes)
            out.write(self.tail)
            self.done.append(out.getvalue())
        self.scopes, self.scopes_size = [], 0
        self.size = len(self.resource) + len(self.tail) + 8

    def add_scope(self, scope_field: bytes, schema_url: str, metrics: Iterable[EncodedMetric]) -> None:
        tail = _text(b"\x1a", schema_url)
        fixed = len(scope_field) + len(tail) + 8
        bodies: list[bytes] = []  # pieces of the finished Metric fields of the open scope
        bodies_size = 0
        used = fixed

        def add(metric: EncodedMetric, points: list[bytes] | None) -> None:
            nonlocal bodies_size, used
            pieces, size = _frame(b"\x12", *metric.pieces(points))
            bodies.extend(pieces)
            bodies_size += size
            used += size

        def flush_scope() -> None:
            nonlocal bodies, bodies_size, used
            size = len(scope_field) + bodies_size + len(tail)
            prefix = b"\x12" + varint(size) + scope_field
            self.scopes.append(prefix)
            self.scopes.extend(bodies)
            self.scopes.append(tail)
            self.scopes_size += len(prefix) + bodies_size + len(tail)
            self.size += len(prefix) + bodies_size + len(tail)
            bodies, bodies_size, used = [], 0, fixed

        def full(extra: int) -> bool:
            return self.size + used + extra > self.max_bytes and bool(bodies or self.scopes)

        for metric in metrics:
            head = len(metric.head) + 16
            if metric.kind == "raw" or not metric.points:
                if full(head):
                    if bodies:
                        flush_scope()
                    self.close()
                add(metric, None)
                continue
            if self.size + used + head + sum(len(p) + 6 for p in metric.points) <= self.max_bytes:
                add(metric, None)  # the whole metric fits: no cut to look for
                continue
            chunk: list[bytes] = []
            chunk_size = head
            for point in metric.points:
                item = len(point) + 6
                if chunk and self.size + used + chunk_size + item > self.max_bytes:
                    add(metric, chunk)
                    flush_scope()
                    self.close()
                    chunk, chunk_size = [], head
                elif not chunk and full(chunk_size + item):
                    if bodies:
                        flush_scope()
                    self.close()
                chunk.append(point)
                chunk_size += item
            add(metric, chunk)
        flush_scope()


def encode_requests(
    resource: bytes,
    resource_schema_url: str,
    scopes: Iterable[tuple[bytes, str, Iterable[EncodedMetric]]],
    max_bytes: int = DEFAULT_MAX_REQUEST_BYTES,
) -> list[bytes]:
    """ExportMetricsServiceRequest bodies for one resource, each within ``max_bytes`` where it can be.

    ``scopes`` gives (scope field, schema url, metrics). A request closes when the next point would
    take it over the budget (the metric goes on in the next request under the same scope); only a
    single point or an uncuttable metric larger than the budget makes a request over it.
    """
    cutter = _Requests(resource, resource_schema_url, max_bytes)
    for scope_field, schema_url, metrics in scopes:
        cutter.add_scope(scope_field, schema_url, metrics)
    cutter.close()
    if not cutter.done:
        cutter.done.append(_field(b"\x0a", resource + cutter.tail))
    return cutter.done


def _scopes(rm: ResourceMetrics) -> list[tuple[Any, bytes, str, list[EncodedMetric]]]:
    return [
        (
            sm.scope,
            encode_scope(sm.scope),
            (sm.scope.schema_url if sm.scope is not None else "") or "",
            [encode_metric(m) for m in sm.metrics],
        )
        for sm in rm.scope_metrics
    ]


def encode_metrics_data(
    data: MetricsData,
    max_bytes: int | None = None,
    extra: tuple[Any, Sequence[EncodedMetric], Any] | None = None,
) -> list[bytes]:
    """Request bodies for ``data`` in the SDK's layout: one, or as many as ``max_bytes`` needs.

    ``extra`` (scope, encoded metrics, resource) adds metrics encoded elsewhere (handle series) to
    the first resource, joining a scope equal to theirs (as ``_bridge.merge_metrics_data`` does), or
    alone under ``resource`` when ``data`` has none.
    """
    out: list[bytes] = []
    budget = max_bytes if max_bytes is not None else 1 << 62
    resources = [(rm.resource, _scopes(rm)) for rm in data.resource_metrics]
    if extra is not None and extra[1]:
        scope, metrics, resource = extra
        if not resources:
            resources.append((resource, []))
        scopes = resources[0][1]
        for _scope, _field_bytes, _url, encoded in scopes:
            if _scope == scope:
                encoded.extend(metrics)
                break
        else:
            scopes.append((scope, encode_scope(scope), scope.schema_url or "", list(metrics)))
    for resource, scopes in resources:
        parts = [(field, url, metrics) for _, field, url, metrics in scopes]
        out.extend(encode_requests(encode_resource(resource), resource.schema_url or "", parts, budget))
    # The SDK puts every resource into one request; so does this unless a budget asks to cut.
    return [b"".join(out)] if max_bytes is None and len(out) > 1 else out
