"""The invoker family: invocations of user services by a runtime (after Restate's invoker metrics).

Labels p, s, d: partition_id (interned; 0-511 pre-built), service_name (interned), deployment_id
(interned; ``unknown`` until the deployment is pinned, so every p, s, d series has the same label
set). ``invoker.invocations.active`` goes +1 when the deployment is pinned and -1 with the same
labels when the invocation ends, never below zero.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from otelsvc._handles import GaugeHandle
from otelsvc.instruments._binding import Binder, FamilyInstruments
from otelsvc.instruments._interner import Interner
from otelsvc.instruments._spec import Family, Label, MetricSpec

if TYPE_CHECKING:
    from otelsvc._guard import ProviderGuard

__all__ = ["INVOKER_FAMILY", "UNKNOWN_DEPLOYMENT", "Invocation", "InvokerMetrics", "PartitionHandles"]

UNKNOWN_DEPLOYMENT = "unknown"
P = Label("partition_id", interned=True, description="partition (interned; 0-511 pre-built)")
S = Label("service_name", interned=True, description="service (interned)")
D = Label("deployment_id", interned=True, description="deployment (interned; unknown until pinned)")
PSD = (P, S, D)

INVOKER_FAMILY = Family(
    name="invoker",
    description="Work this service hands to downstream services over HTTP (invocations), per partition of "
    "work, service and deployment: queueing, concurrency slots, task outcomes and durations, and the HTTP "
    "calls themselves (time to first byte, round trip, non-2xx answers).",
    origin="modelled on the invoker metrics of Restate (a durable-execution runtime calling user services).",
    metrics=(
        MetricSpec("invoker.invocations.queued", "counter", "{invocation}", "Invocations queued", PSD),
        MetricSpec("invoker.tasks", "counter", "{task}", "Invocation tasks by status",
                   (Label("status", ("started", "suspended", "failed", "completed")), P, S,
                    Label("transient", ("true", "false", "")))),
        MetricSpec("invoker.concurrency.limit", "gauge", "{slot}", "Concurrency limit (absent while unlimited)",
                   (P,)),
        MetricSpec("invoker.concurrency.slots.acquired", "counter", "{slot}", "Concurrency slots acquired", (P,)),
        MetricSpec("invoker.concurrency.slots.released", "counter", "{slot}", "Concurrency slots released", (P,)),
        MetricSpec("invoker.task.duration", "histogram", "s", "Invocation task duration", PSD, "general"),
        MetricSpec("invoker.state.truncations", "counter", "{invocation}",
                   "Invocations whose state, sent along with the request, was cut at the size limit", PSD),
        MetricSpec("invoker.throttling.balance", "gauge", "{token}",
                   "Rate-limit tokens left (negative while throttled)", PSD),
        MetricSpec("invoker.queue.duration", "histogram", "s", "Time from enqueue to task start", PSD, "general"),
        MetricSpec("invoker.invocations.active", "updowncounter", "{invocation}",
                   "Invocations running on a pinned deployment", PSD),
        MetricSpec("invoker.http.request.duration", "histogram", "s", "Time to first byte of the deployment's answer",
                   PSD, "general"),
        MetricSpec("invoker.http.roundtrip.duration", "histogram", "s", "Request round trip including the body",
                   PSD, "general"),
        MetricSpec("invoker.http.responses", "counter", "{response}", "Non-2xx responses from the called deployment",
                   (*PSD, Label("status_code", interned=True, description="three-digit code (interned)"))),
    ),
    notes=("invoker.tasks carries transient=true|false on failed only (empty otherwise, which Prometheus "
           "shows as no label).",),
)


class PartitionHandles:
    """Per-partition handles: the concurrency limit gauge and slot counters."""

    def __init__(self, metrics: InvokerMetrics, partition: str) -> None:
        self._limit_inst = metrics.instruments["invoker.concurrency.limit"]
        self._partition = partition
        self.slots_acquired = metrics._binder("invoker.concurrency.slots.acquired", ())(partition)
        self.slots_released = metrics._binder("invoker.concurrency.slots.released", ())(partition)

    def set_limit(self, limit: float | None) -> None:
        """The current limit; None (unlimited) removes the series, so it is not reported."""
        if limit is None or limit == float("inf"):
            self._limit_inst.remove(self._partition)
        else:
            handle = self._limit_inst.bind(self._partition)
            assert isinstance(handle, GaugeHandle)
            handle.set(limit)


class Invocation:
    """One invocation of a (partition, service); the deployment is ``unknown`` until ``pin()``."""

    __slots__ = ("_active", "_lock", "_metrics", "_prefix", "deployment")

    def __init__(self, metrics: InvokerMetrics, partition: str, service: str) -> None:
        self._metrics = metrics
        self._prefix = (partition, service)
        self.deployment = UNKNOWN_DEPLOYMENT
        self._active: Any = None
        self._lock = threading.Lock()

    def _h(self, name: str) -> Any:
        return self._metrics._psd(name, self._prefix, self.deployment)

    def queued(self) -> None:
        self._h("invoker.invocations.queued").add()

    def task(self, status: str, transient: bool | None = None) -> None:
        """Count a task status; ``transient`` is recorded on ``failed`` only."""
        flag = ("true" if transient else "false") if status == "failed" else ""
        self._metrics._binder("invoker.tasks", ())(status, *self._prefix, flag).add()

    def pin(self, deployment: str) -> None:
        """Pin the deployment: later series carry it, and the invocation becomes active (+1)."""
        with self._lock:
            if self._active is not None:
                return
            self.deployment = self._metrics.interners["deployment_id"](deployment)
            self._active = self._h("invoker.invocations.active")
        self._active.add(1)

    def end(self) -> None:
        """The invocation ended: active -1 with the labels of its +1 (only once, only if pinned)."""
        with self._lock:
            active, self._active = self._active, False
        if active:
            active.add(-1)

    def task_duration(self, seconds: float) -> None:
        self._h("invoker.task.duration").record(seconds)

    def queue_duration(self, seconds: float) -> None:
        self._h("invoker.queue.duration").record(seconds)

    def state_truncated(self) -> None:
        self._h("invoker.state.truncations").add()

    def throttling_balance(self, tokens: float) -> None:
        self._h("invoker.throttling.balance").set(tokens)

    def http_request(self, seconds: float) -> None:
        self._h("invoker.http.request.duration").record(seconds)

    def http_roundtrip(self, seconds: float) -> None:
        self._h("invoker.http.roundtrip.duration").record(seconds)

    def http_response(self, status_code: int) -> None:
        """Count a deployment's answer; 2xx answers are not counted."""
        if 200 <= status_code < 300:
            return
        self._metrics._binder("invoker.http.responses", ())(*self._prefix, self.deployment, f"{status_code:03d}").add()


class InvokerMetrics:
    """The invoker family on a guard."""

    def __init__(
        self,
        guard: ProviderGuard,
        *,
        namespace: str | None = None,
        partition_cap: int = 1024,
        service_cap: int = 1000,
        deployment_cap: int = 1000,
        status_code_cap: int = 100,
    ) -> None:
        ns = namespace if namespace is not None else guard.settings.namespace
        self.instruments = FamilyInstruments(guard, INVOKER_FAMILY, namespace=ns)
        self.interners = {
            "partition_id": Interner("partition_id", max(partition_cap, 512)),
            "service_name": Interner("service_name", service_cap),
            "deployment_id": Interner("deployment_id", deployment_cap),
            "status_code": Interner("status_code", status_code_cap),
        }
        for p in range(512):
            self.interners["partition_id"](str(p))
        self.interners["deployment_id"](UNKNOWN_DEPLOYMENT)
        self._binders: dict[tuple[str, tuple[str, ...]], Binder] = {}
        self._partitions: dict[str, PartitionHandles] = {}
        self._lock = threading.Lock()

    def _binder(self, name: str, prefix: tuple[str, ...]) -> Binder:
        key = (name, prefix)
        binder = self._binders.get(key)
        if binder is None:
            with self._lock:
                binder = self._binders.get(key)
                if binder is None:
                    binder = Binder(self.instruments[name], self.instruments.specs[name], prefix, self.interners)
                    self._binders[key] = binder
        return binder

    def _psd(self, name: str, prefix: tuple[str, str], deployment: str) -> Any:
        return self._binder(name, prefix)(deployment)

    def invocation(self, partition_id: int | str, service_name: str) -> Invocation:
        """A new invocation of ``service_name`` on ``partition_id`` (deployment not yet pinned)."""
        partition = self.interners["partition_id"](partition_id)
        return Invocation(self, partition, self.interners["service_name"](service_name))

    def partition(self, partition_id: int | str) -> PartitionHandles:
        """The per-partition handles (concurrency limit and slots)."""
        key = self.interners["partition_id"](partition_id)
        handles = self._partitions.get(key)
        if handles is None:
            handles = self._partitions[key] = PartitionHandles(self, key)
        return handles
