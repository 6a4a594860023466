"""Text and numbers every exposition can carry: a reversible escape for strings that are not valid
UTF-8 (lone surrogates, as ``os.fsdecode`` makes for undecodable file names), and a pass over a
collection that escapes such strings and converts or drops values an encoder would fail on.

The escape: a string with no lone surrogate and no ``\\udXXX`` text (X in ``[89a-f]``, then two hex
digits) is left as it is, so ordinary values render exactly as upstream does. Any other string
has each backslash doubled and each lone surrogate written ``\\udXXX`` (lowercase hex). An escaped
string always contains ``\\udXXX`` text and an unescaped one never does, so ``unescape_text``
restores the original exactly and two different strings never render the same.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from opentelemetry.sdk.metrics.export import Metric, MetricsData, ResourceMetrics, ScopeMetrics
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.util.instrumentation import InstrumentationScope

from otelsvc._stable_attributes import StableAttributes

__all__ = ["escape_text", "sanitize_data", "unescape_text"]

_log = logging.getLogger("otelsvc")
_MARK = re.compile(r"\\ud[89a-f][0-9a-f]{2}")
_ESCAPED = re.compile(r"\\\\|\\u([0-9a-f]{4})")
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
_warned = False
_FLOAT_MAX = sys.float_info.max


def escape_text(text: str) -> str:
    """``text`` as valid UTF-8, reversibly (see the module docstring); unchanged in the usual case."""
    if text.isascii():
        if "\\ud" not in text or _MARK.search(text) is None:
            return text
    else:
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            pass
        else:
            if "\\ud" not in text or _MARK.search(text) is None:
                return text
    return text.replace("\\", "\\\\").encode("utf-8", "backslashreplace").decode("utf-8")


def unescape_text(text: str) -> str:
    """The original string of an ``escape_text`` result."""
    if _MARK.search(text) is None:
        return text
    return _ESCAPED.sub(lambda m: "\\" if m.group(1) is None else chr(int(m.group(1), 16)), text)


def _value(value: Any) -> Any:
    if isinstance(value, str):
        return escape_text(value)
    if isinstance(value, (tuple, list)):
        return tuple(_value(v) for v in value)
    return value


def _attributes(attributes: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
    """The attributes with every string escaped (the same object when nothing changes)."""
    if not attributes:
        return attributes
    stable = attributes.__class__ is StableAttributes
    if stable and getattr(attributes, "clean", False):
        return attributes
    for key, value in attributes.items():  # the usual case: ASCII keys and scalar or ASCII values
        if not key.isascii() or "\\ud" in key:
            break
        cls = value.__class__
        if cls is str:
            if not value.isascii() or "\\ud" in value:
                break
        elif cls is not int and cls is not float and cls is not bool:
            break
    else:
        if stable:
            attributes.clean = True  # type: ignore[attr-defined]
        return attributes
    changed = False
    out: dict[str, Any] = {}
    for key, value in attributes.items():
        k, v = escape_text(key), _value(value)
        changed = changed or k is not key or (v is not value and v != value)
        out[k] = v
    return out if changed else attributes


def _number(value: Any) -> Any:
    """An int outside int64 as a float; None when it does not fit a float either."""
    if isinstance(value, int) and not _INT64_MIN <= value <= _INT64_MAX:
        try:
            return float(value)
        except OverflowError:
            return None
    return value


def _point(point: Any) -> Any:
    """The point with escaped attributes and encodable numbers, or None to drop it."""
    changes: dict[str, Any] = {}
    attributes = _attributes(point.attributes)
    if attributes is not point.attributes:
        changes["attributes"] = attributes
    value = getattr(point, "value", None)
    if isinstance(value, int) and not _INT64_MIN <= value <= _INT64_MAX:
        number = _number(value)
        if number is None:
            return None
        changes["value"] = number
    total = getattr(point, "sum", None)
    if isinstance(total, int) and not -_FLOAT_MAX <= total <= _FLOAT_MAX:
        return None
    return replace(point, **changes) if changes else point


def _metric(metric: Metric) -> tuple[Metric, int]:
    """The metric made encodable, and how many points it lost."""
    data: Any = metric.data
    points = list(data.data_points)
    fixed = [_point(p) for p in points]
    text = {k: escape_text(getattr(metric, k) or "") for k in ("name", "description", "unit")}
    if all(text[k] == (getattr(metric, k) or "") for k in text) and all(
        a is b for a, b in zip(fixed, points, strict=True)
    ):
        return metric, 0
    kept = [p for p in fixed if p is not None]
    return replace(metric, data=replace(data, data_points=kept), **text), len(points) - len(kept)


def sanitize_data(data: MetricsData | None) -> tuple[MetricsData | None, int]:
    """``data`` with every string escaped and every value encodable, and the number of points dropped.

    The same object comes back when nothing needed a change (the usual case costs one pass).
    """
    if data is None:
        return None, 0
    dropped = 0
    changed = False
    resource_metrics = []
    for rm in data.resource_metrics:
        scopes = []
        for sm in rm.scope_metrics:
            metrics = []
            for metric in sm.metrics:
                fixed, lost = _metric(metric)
                dropped += lost
                changed = changed or fixed is not metric
                if fixed.data.data_points:
                    metrics.append(fixed)
                else:
                    changed = True
            scope = sm.scope
            scope_attrs = _attributes(scope.attributes)
            if scope_attrs is not scope.attributes or escape_text(scope.name) != scope.name:
                changed = True
                scope = InstrumentationScope(
                    escape_text(scope.name), _value(scope.version), scope.schema_url, scope_attrs
                )
            scopes.append(ScopeMetrics(scope=scope, metrics=metrics, schema_url=sm.schema_url))
        resource = rm.resource
        resource_attrs = _attributes(resource.attributes)
        if resource_attrs is not resource.attributes:
            changed = True
            resource = Resource(dict(resource_attrs or {}), resource.schema_url)
        resource_metrics.append(ResourceMetrics(resource=resource, scope_metrics=scopes, schema_url=rm.schema_url))
    global _warned
    if dropped and not _warned:
        _warned = True
        _log.warning(
            "otelsvc: %d point(s) with values no exporter can carry (beyond the float range) were left "
            "out of a collection; further ones are counted in otelsvc.exposition.skipped",
            dropped,
        )
    if not changed:
        return data, 0
    return MetricsData(resource_metrics=resource_metrics), dropped
