"""Every reach into the OTel SDK's private state, in one place (the SDK range is pinned for these)."""

from __future__ import annotations

import threading
from typing import Any

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.resources import Resource

__all__ = ["global_meter_provider_is_set", "global_tracer_provider_is_set", "periodic_reader_thread",
           "reset_meter_provider_after_fork",
           "set_meter_provider_resource", "set_tracer_provider_resource"]


_RLOCK_TYPE = type(threading.RLock())


def _renew_lock(owner: Any, attribute: str) -> None:
    """Replace ``owner.attribute`` with a new, released lock of the same kind (Lock or RLock)."""
    lock = getattr(owner, attribute, None)
    if lock is None:
        return
    setattr(owner, attribute, threading.RLock() if isinstance(lock, _RLOCK_TYPE) else threading.Lock())


def reset_meter_provider_after_fork(provider: MeterProvider) -> None:
    """Empty every SDK aggregation and replace every lock, in a forked child.

    Without this the child's first export repeats the parent's counts, and a lock held by another
    parent thread at fork time stays held forever in the child. The locks replaced: the provider's
    and each meter's (instrument creation), the measurement consumer's, each reader storage's and
    each view match's (recording and collection), and each reader's own: the periodic reader's
    ``_export_lock`` is held for the whole of an OTLP export, so a fork during a push (against a
    slow collector, a fork every few seconds is likely to land in one) would leave the child's
    reader unable to export ever again; the SDK's own fork handler restarts that reader's thread
    but does not replace its lock.
    """
    for attribute in ("_lock", "_meter_lock"):
        _renew_lock(provider, attribute)
    for meter in list(getattr(provider, "_meters", {}).values()):
        _renew_lock(meter, "_instrument_registration_lock")
    for reader in getattr(provider, "_metric_readers", ()):
        for attribute in ("_export_lock", "_lock", "_render_lock"):
            _renew_lock(reader, attribute)
    consumer: Any = provider._measurement_consumer
    _renew_lock(consumer, "_lock")
    for storage in consumer._reader_storages.values():
        _renew_lock(storage, "_lock")
        for matches in storage._instrument_view_instrument_matches.values():
            for match in matches:
                _renew_lock(match, "_lock")
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


def periodic_reader_thread(reader: Any) -> threading.Thread | None:
    """The thread of a PeriodicExportingMetricReader: it ends only after the final export at shutdown."""
    thread = getattr(reader, "_daemon_thread", None)
    return thread if isinstance(thread, threading.Thread) else None
