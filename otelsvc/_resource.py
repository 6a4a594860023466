"""The Resource of a guard: service name, version and instance id over the user's attributes."""

from __future__ import annotations

import os
import uuid

from opentelemetry.sdk.resources import Resource

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
    return Resource.create(attrs)


def child_instance_id(settings: Settings) -> str:
    """A forked child's own instance id: derived from the user's when one was set, else random."""
    user = settings.resource_attributes.get(INSTANCE_ID)
    if user is not None:
        return f"{user}-{os.getpid()}"
    return str(uuid.uuid4())
