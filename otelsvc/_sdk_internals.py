"""Every reach into the OTel SDK's private state, in one place (the SDK range is pinned for these)."""

from __future__ import annotations

import threading
from typing import Any

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.resources import Resource

__all__ = ["global_meter_provider_is_set", "global_tracer_provider_is_set", "reset_meter_provider_after_fork",
           "set_meter_provider_resource", "set_tracer_provider_resource"]


def reset_meter_provider_after_fork(provider: MeterProvider) -> None:
    """Empty every SDK aggregation and replace every lock, in a forked child.

    Without this the child's first export repeats the parent's counts, and a lock held by another
    parent thread at fork time stays held forever in the child.
    """
    consumer: Any = provider._measurement_consumer
    consumer._lock = threading.Lock()
    for storage in consumer._reader_storages.values():
        storage._lock = threading.Lock()
        for matches in storage._instrument_view_instrument_matches.values():
            for match in matches:
                match._lock = threading.Lock()
                match._attributes_aggregation = {}
                if hasattr(match, "_previous_collection_start_nanos"):
                    match._previous_collection_start_nanos = None


def set_meter_provider_resource(provider: MeterProvider, resource: Resource) -> None:
    """Point a MeterProvider's collections at another Resource (a forked child's instance id)."""
    provider._sdk_config.resource = resource


def set_tracer_provider_resource(provider: Any, resource: Resource) -> None:
    """Give a TracerProvider and every Tracer it already made a new Resource (a forked child's id)."""
    provider._update_resource(resource)


def global_meter_provider_is_set() -> bool:
    from opentelemetry.metrics._internal import _METER_PROVIDER_SET_ONCE

    return bool(_METER_PROVIDER_SET_ONCE._done)


def global_tracer_provider_is_set() -> bool:
    from opentelemetry.trace import _TRACER_PROVIDER_SET_ONCE

    return bool(_TRACER_PROVIDER_SET_ONCE._done)
