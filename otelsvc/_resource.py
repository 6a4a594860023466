"""The Resource of a guard: service name, version and instance id over the user's attributes."""

from __future__ import annotations

import os
import uuid
from functools import cache

from opentelemetry.sdk.resources import (
    TELEMETRY_SDK_LANGUAGE,
    TELEMETRY_SDK_NAME,
    TELEMETRY_SDK_VERSION,
    Resource,
)

from otelsvc._config import Settings

__all__ = ["build_resource", "child_instance_id"]

INSTANCE_ID = "service.instance.id"


def build_resource(settings: Settings, instance_id: str | None = None) -> Resource:
    """Resource for ``settings``; a random instance id unless the user or ``instance_id`` gives one."""
    attrs = dict(settings.resource_attributes)
    attrs["service.name"] = settings.service_name
    if settings.service_version:
        attrs["service.version"] = settings.service_version
    if instance_id is not None:
        attrs[INSTANCE_ID] = instance_id
    attrs.setdefault(INSTANCE_ID, str(uuid.uuid4()))
    # Not Resource.create(): it reads OTEL_RESOURCE_ATTRIBUTES and OTEL_SERVICE_NAME again, itself
    # (undecoded keys came out as a second attribute, a malformed value was reported twice).
    return Resource({**_sdk_attributes(), **attrs})


@cache
def _sdk_attributes() -> dict[str, str]:
    try:
        from importlib.metadata import version  # at start, not at import: importlib.metadata costs ~8 ms

        sdk_version = version("opentelemetry-sdk")
    except ImportError:
        sdk_version = "unknown"
    return {TELEMETRY_SDK_LANGUAGE: "python", TELEMETRY_SDK_NAME: "opentelemetry", TELEMETRY_SDK_VERSION: sdk_version}


def child_instance_id(settings: Settings) -> str:
    """A forked child's own instance id: derived from the user's when one was set, else random."""
    user = settings.resource_attributes.get(INSTANCE_ID)
    if user is not None:
        return f"{user}-{os.getpid()}"
    return str(uuid.uuid4())
