"""The actor family: one actor runtime's actors (after Rivet's rivetkit), low cardinality by default.

Every metric carries ``actor_name`` (interned: actor types, not instances). Per-instance mode adds
``actor_id``; a stopped actor's series then stay for a retention window and are swept off both the
scrape and the push at the next collection after it (never on the recording path).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import replace
from typing import TYPE_CHECKING, Any, TypeVar

from otelsvc._handles import CounterHandle, GaugeHandle, Handle, HistogramHandle, UpDownCounterHandle
from otelsvc.instruments._binding import Binder, FamilyInstruments
from otelsvc.instruments._interner import Interner
from otelsvc.instruments._spec import Family, Label, MetricSpec

if TYPE_CHECKING:
    from otelsvc._guard import ProviderGuard

__all__ = ["ACTOR_FAMILY", "ActorHandles", "ActorMetrics"]

H = TypeVar("H", bound=Handle)

NAME = Label("actor_name", interned=True, description="actor type (interned)")
STOP_REASONS = ("sleep", "destroy", "crash")
PHASES = ("load_persisted", "create_state", "create_vars", "core_init", "post_ready", "total")
OUTCOMES = ("success", "error")
INBOXES = ("lifecycle", "dispatch", "lifecycle_event")
TASK_KINDS = (
    "action", "http", "websocket_lifetime", "websocket_callback", "queue_wait", "scheduled_action",
    "disconnect_callback", "wait_until", "registered_task", "sleep_finalize", "destroy_request",
)
SHUTDOWN_REASONS = ("sleep", "destroy")
MUTATION_REASONS = ("internal_replace", "scheduled_events_update", "input_set", "has_initialized")
KV_OPS = ("get", "put", "delete", "list")
COMMIT_PHASES = ("request_build", "serialize", "transport", "state_update", "total")
WORKER_OPS = ("execute", "exec")
WORKER_CODES = ("overloaded", "fatal", "closing", "dead", "close_timeout", "sqlite")


def _m(name: str, kind: str, unit: str, description: str, *labels: Label, buckets: str | None = None) -> MetricSpec:
    return MetricSpec(name, kind, unit, description, (NAME, *labels), buckets)


ACTOR_FAMILY = Family(
    name="actor",
    description="Actors hosted in this process (long-lived objects with their own state and message queue): "
    "how many run, how they start and stop, their queues and inboxes, the actions they serve, the state "
    "they change and the storage they use.",
    origin="modelled on the actor metrics of Rivet's rivetkit.",
    metrics=(
        _m("actor.active", "updowncounter", "{actor}", "Actors alive in this process"),
        _m("actor.started", "counter", "{actor}", "Actors started"),
        _m("actor.stopped", "counter", "{actor}", "Actors stopped, by reason", Label("reason", STOP_REASONS)),
        _m("actor.startup.duration", "histogram", "s", "Actor startup time per phase",
           Label("phase", PHASES), Label("outcome", OUTCOMES), buckets="startup"),
        _m("actor.queue.depth", "updowncounter", "{message}", "Messages waiting in the actor queue"),
        _m("actor.queue.messages.sent", "counter", "{message}", "Messages sent to the actor queue"),
        _m("actor.queue.messages.received", "counter", "{message}", "Messages received from the actor queue"),
        _m("actor.connections.active", "updowncounter", "{connection}", "Open client connections"),
        _m("actor.connections", "counter", "{connection}", "Client connections successfully established"),
        # a pre-fork server's scrape shows the messages waiting in every worker's inboxes together
        replace(_m("actor.inbox.depth", "gauge", "{message}", "Messages waiting per inbox", Label("inbox", INBOXES)),
                prefork="sum"),
        _m("actor.user_tasks.active", "updowncounter", "{task}", "User tasks running", Label("kind", TASK_KINDS)),
        _m("actor.user_task.duration", "histogram", "s", "User task duration", Label("kind", TASK_KINDS),
           buckets="general"),
        _m("actor.action.calls", "counter", "{call}", "Action calls", Label("action", interned=True)),
        _m("actor.action.errors", "counter", "{call}", "Action calls that failed", Label("action", interned=True)),
        _m("actor.action.duration", "histogram", "s", "Action duration", Label("action", interned=True),
           buckets="general"),
        _m("actor.shutdown.wait", "histogram", "s", "Time waited for an actor to shut down",
           Label("reason", SHUTDOWN_REASONS), buckets="general"),
        _m("actor.shutdown.timeouts", "counter", "{event}", "Shutdowns that timed out",
           Label("reason", SHUTDOWN_REASONS)),
        _m("actor.state.mutations", "counter", "{mutation}", "State mutations", Label("reason", MUTATION_REASONS)),
        _m("actor.kv.operation.duration", "histogram", "s", "KV operation duration", Label("op", KV_OPS),
           buckets="micro"),
        _m("actor.kv.keys_per_operation", "histogram", "{key}", "Keys touched per KV operation",
           Label("op", KV_OPS), buckets="counts"),
        _m("actor.sqlite.commit.duration", "histogram", "s", "SQLite commit duration per phase",
           Label("phase", COMMIT_PHASES), buckets="micro"),
        _m("actor.sqlite.worker.command.duration", "histogram", "s", "SQLite worker command duration",
           Label("operation", WORKER_OPS), buckets="micro"),
        _m("actor.sqlite.worker.command.errors", "counter", "{error}", "SQLite worker command errors",
           Label("operation", WORKER_OPS), Label("code", WORKER_CODES)),
    ),
    notes=(
        "Per-instance mode (opt-in) adds actor_id to every actor metric; a stopped actor's series stay "
        "for the retention window (default 600 s), then leave the scrape and the push.",
    ),
)

ACTOR_ID = Label("actor_id", interned=True, description="actor instance (per-instance mode only; bounded by retention)")


class ActorHandles:
    """The handles of one actor name (or one actor instance in per-instance mode).

    Metrics without extra labels are attributes (``active``, ``started``, ``queue_depth``...);
    metrics with closed-set or interned labels are callables returning the handle, e.g.
    ``stopped("sleep").add()``, ``startup("total", "success").record(0.2)``, ``action("save")``.
    """

    def __init__(self, metrics: ActorMetrics, prefix: tuple[str, ...]) -> None:
        self._metrics_ref = metrics
        self.prefix = prefix
        self.stopped_at: float | None = None
        self._binders: list[Binder[Any]] = []
        b = self._binder
        self.active = b("actor.active", UpDownCounterHandle)()
        self.started = b("actor.started", CounterHandle)()
        self.queue_depth = b("actor.queue.depth", UpDownCounterHandle)()
        self.messages_sent = b("actor.queue.messages.sent", CounterHandle)()
        self.messages_received = b("actor.queue.messages.received", CounterHandle)()
        self.connections_active = b("actor.connections.active", UpDownCounterHandle)()
        self.connections = b("actor.connections", CounterHandle)()
        self.stopped = b("actor.stopped", CounterHandle)
        self.startup = b("actor.startup.duration", HistogramHandle)
        self.inbox_depth = b("actor.inbox.depth", GaugeHandle)
        self.user_tasks_active = b("actor.user_tasks.active", UpDownCounterHandle)
        self.user_task_duration = b("actor.user_task.duration", HistogramHandle)
        self.action_calls = b("actor.action.calls", CounterHandle)
        self.action_errors = b("actor.action.errors", CounterHandle)
        self.action_duration = b("actor.action.duration", HistogramHandle)
        self.shutdown_wait = b("actor.shutdown.wait", HistogramHandle)
        self.shutdown_timeouts = b("actor.shutdown.timeouts", CounterHandle)
        self.state_mutations = b("actor.state.mutations", CounterHandle)
        self.kv_duration = b("actor.kv.operation.duration", HistogramHandle)
        self.kv_keys = b("actor.kv.keys_per_operation", HistogramHandle)
        self.sqlite_commit = b("actor.sqlite.commit.duration", HistogramHandle)
        self.sqlite_command = b("actor.sqlite.worker.command.duration", HistogramHandle)
        self.sqlite_errors = b("actor.sqlite.worker.command.errors", CounterHandle)

    def _binder(self, name: str, handle_type: type[H]) -> Binder[H]:
        metrics = self._metrics_ref
        binder = Binder(metrics.instruments[name], metrics.instruments.specs[name], self.prefix, metrics.interners,
                        handle_type)
        self._binders.append(binder)
        return binder

    def release(self) -> None:
        """Remove this actor's series from every instrument (per-instance retention)."""
        for binder in self._binders:
            binder.release()


class ActorMetrics:
    """The actor family on a guard; ``actor(name)`` gives the handles of one actor type."""

    def __init__(
        self,
        guard: ProviderGuard,
        *,
        namespace: str | None = None,
        name_cap: int = 1000,
        action_cap: int = 1000,
        per_instance: bool = False,
        retention: float = 600.0,
        clock: Any = time.monotonic,
    ) -> None:
        self.per_instance = per_instance
        self.retention = retention
        self._clock = clock
        self.interners = {
            "actor_name": Interner("actor_name", name_cap),
            "action": Interner("action", action_cap),
        }

        def with_id(spec: MetricSpec) -> MetricSpec:
            if not per_instance:
                return spec
            return MetricSpec(spec.name, spec.kind, spec.unit, spec.description,
                              (spec.labels[0], ACTOR_ID, *spec.labels[1:]), spec.buckets, spec.legacy)

        ns = namespace if namespace is not None else guard.settings.namespace
        self.instruments = FamilyInstruments(guard, ACTOR_FAMILY, namespace=ns, specs=with_id)
        self._actors: dict[tuple[str, ...], ActorHandles] = {}
        # stopped actors in the order they stopped, so a sweep touches only what it removes
        self._retained: OrderedDict[tuple[str, ...], ActorHandles] = OrderedDict()
        self._lock = threading.Lock()
        if per_instance:
            guard.bridge.collect_hooks.append(self._sweep_hook)

    def actor(self, name: str, actor_id: str | None = None) -> ActorHandles:
        """The handles of actor type ``name`` (and instance ``actor_id`` in per-instance mode)."""
        if self.per_instance:
            if actor_id is None:
                raise ValueError("per-instance mode needs an actor_id")
            # actor_id is not interned: retention frees it, and the instrument's series cap bounds it.
            key: tuple[str, ...] = (self.interners["actor_name"](name), str(actor_id))
        else:
            key = (self.interners["actor_name"](name),)
        handles = self._actors.get(key)
        if handles is None:
            with self._lock:
                handles = self._actors.get(key)
                if handles is None:
                    handles = self._actors[key] = ActorHandles(self, key)
                    self._retained.pop(key, None)
        return handles

    def actor_started(self, handles: ActorHandles) -> None:
        """Count a start: ``started`` +1 and ``active`` +1."""
        handles.stopped_at = None
        handles.started.add()
        handles.active.add(1)
        if self.per_instance and handles.prefix in self._retained:
            with self._lock:
                self._retained.pop(handles.prefix, None)

    def actor_stopped(self, handles: ActorHandles, reason: str) -> None:
        """Count a stop: ``stopped{reason}`` +1, ``active`` -1; in per-instance mode start retention."""
        handles.stopped(reason).add()
        handles.active.add(-1)
        if self.per_instance:
            handles.stopped_at = self._clock()
            with self._lock:
                self._retained[handles.prefix] = handles
                self._retained.move_to_end(handles.prefix)

    def _sweep_hook(self) -> None:
        self.sweep()

    def sweep(self) -> int:
        """Drop the series of actors stopped longer than the retention window; returns how many."""
        now = self._clock()
        gone: list[ActorHandles] = []
        with self._lock:
            while self._retained:
                key = next(iter(self._retained))
                stopped_at = self._retained[key].stopped_at
                if stopped_at is not None and now - stopped_at < self.retention:
                    break  # stopped later than every expired one
                handles = self._retained.pop(key)
                if stopped_at is not None:
                    gone.append(handles)
                    self._actors.pop(key, None)
        for handles in gone:
            handles.release()
        return len(gone)

    def state(self) -> dict[str, int]:
        """How many actors are tracked and how many of them are stopped and retained."""
        with self._lock:
            return {"tracked": len(self._actors), "retained": len(self._retained),
                    "active": len(self._actors) - len(self._retained)}
