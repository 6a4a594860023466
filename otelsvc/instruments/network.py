"""The network family: a connection pool and its RPCs (after Restate's networking metrics).

Handles: one ``SwimlaneHandles`` per swimlane, built once; one ``ConnectionHandles`` per
connection (swimlane, peer, direction), kept on the connection object. The pool gauge counts a
connection once: draining and then dropping it decrements it once.
"""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, Any, TypeVar, cast

from otelsvc._handles import CounterHandle, Handle, HistogramHandle, UpDownCounterHandle
from otelsvc.instruments._binding import Binder, FamilyInstruments
from otelsvc.instruments._interner import Interner
from otelsvc.instruments._spec import Family, Label, MetricSpec

if TYPE_CHECKING:
    from otelsvc._guard import ProviderGuard

__all__ = ["DEFAULT_SWIMLANES", "NETWORK_FAMILY", "ConnectionHandles", "NetworkMetrics", "SwimlaneHandles"]

H = TypeVar("H", bound=Handle)

DEFAULT_SWIMLANES = ("general", "gossip", "bifrost_data", "ingress_data", "bifrost_reads", "datafusion")
SWIMLANE = Label("swimlane", DEFAULT_SWIMLANES)
PEER = Label("peer_name", interned=True, description="peer (interned)")
DIRECTION = Label("direction", ("outgoing", "incoming", "loopback"))
RESULT = Label("result", ("success", "error"))
CACHE = Label("cache", ("hit", "miss"))

NETWORK_FAMILY = Family(
    name="network",
    description="The connections this service keeps open to its peers, pooled per traffic class (swimlane), "
    "and the RPCs sent over them: pool size, handshakes, time to get a connection or a send permit, RPC "
    "round-trip time, connections opened and closed per peer.",
    origin="modelled on the networking metrics of Restate (a durable-execution runtime).",
    metrics=(
        MetricSpec("network.pool.connections.active", "updowncounter", "{connection}",
                   "Connections in the pool", (SWIMLANE,)),
        MetricSpec("network.connection.pending", "updowncounter", "{connection}",
                   "Handshakes in flight", (SWIMLANE,)),
        MetricSpec("network.connection.acquisition.duration", "histogram", "s",
                   "Time to acquire a connection from the pool", (SWIMLANE, CACHE, RESULT), "micro"),
        MetricSpec("network.connection.handshake.duration", "histogram", "s",
                   "Connection handshake time", (SWIMLANE, RESULT), "micro"),
        MetricSpec("network.rpc.duration", "histogram", "s", "RPC round-trip time", (SWIMLANE, RESULT), "micro"),
        MetricSpec("network.connection.opened", "counter", "{connection}", "Connections opened",
                   (SWIMLANE, PEER, DIRECTION)),
        MetricSpec("network.connection.closed", "counter", "{connection}", "Connections closed",
                   (SWIMLANE, PEER, DIRECTION)),
        MetricSpec("network.permit_acquisition.duration", "histogram", "s",
                   "Time to acquire a send permit on a connection", (SWIMLANE, PEER, DIRECTION), "micro"),
        MetricSpec("network.connection.duration", "histogram", "s", "Lifetime of a closed connection",
                   (SWIMLANE, PEER, DIRECTION), "general"),
        MetricSpec("network.connection_created", "counter", "{connection}",
                   "Connections opened (legacy name of network.connection.opened)",
                   (SWIMLANE, PEER, DIRECTION), legacy=True),
        MetricSpec("network.connection_dropped", "counter", "{connection}",
                   "Connections closed (legacy name of network.connection.closed)",
                   (SWIMLANE, PEER, DIRECTION), legacy=True),
    ),
    notes=("swimlane is a closed set, configurable per NetworkMetrics; legacy names are counted with "
           "opened/closed unless legacy_names=False.",),
)


class SwimlaneHandles:
    """The per-swimlane handles: pool and pending gauges, acquisition, handshake and RPC timings."""

    def __init__(self, metrics: NetworkMetrics, swimlane: str) -> None:
        self.swimlane = swimlane
        b = metrics._binder
        self.pool_active = b("network.pool.connections.active", swimlane, UpDownCounterHandle)()
        self.pending = b("network.connection.pending", swimlane, UpDownCounterHandle)()
        self.acquisition = b("network.connection.acquisition.duration", swimlane, HistogramHandle)
        self.handshake = b("network.connection.handshake.duration", swimlane, HistogramHandle)
        self.rpc = b("network.rpc.duration", swimlane, HistogramHandle)


class ConnectionHandles:
    """One connection's handles and lifecycle; keep it on the connection object.

    ``opened()`` counts it and adds it to the pool; ``drained()`` takes it out of the pool;
    ``closed()`` counts the close, records its lifetime and takes it out of the pool if ``drained``
    had not already. Calls past the first of each are ignored.
    """

    __slots__ = ("_closed", "_created", "_dropped", "_duration", "_in_pool", "_lane", "_lock", "_opened",
                 "_opened_at", "permit")

    def __init__(self, metrics: NetworkMetrics, swimlane: str, peer: str, direction: str) -> None:
        lane = metrics.swimlane(swimlane)
        key = (peer, direction)
        self._lane = lane
        self._opened = metrics._binder("network.connection.opened", swimlane, CounterHandle)(*key)
        self._closed = metrics._binder("network.connection.closed", swimlane, CounterHandle)(*key)
        self._created = metrics._binder("network.connection_created", swimlane, CounterHandle)(*key)
        self._dropped = metrics._binder("network.connection_dropped", swimlane, CounterHandle)(*key)
        self._duration = metrics._binder("network.connection.duration", swimlane, HistogramHandle)(*key)
        self.permit = metrics._binder("network.permit_acquisition.duration", swimlane, HistogramHandle)(*key)
        self._in_pool = False
        self._opened_at: float | None = None
        self._lock = threading.Lock()

    def opened(self) -> None:
        with self._lock:
            if self._opened_at is not None:
                return
            self._opened_at = time.monotonic()
            self._in_pool = True
        self._opened.add()
        self._created.add()
        self._lane.pool_active.add(1)

    def drained(self) -> None:
        with self._lock:
            leave, self._in_pool = self._in_pool, False
        if leave:
            self._lane.pool_active.add(-1)

    def closed(self) -> None:
        with self._lock:
            if self._opened_at is None:
                return
            lifetime = time.monotonic() - self._opened_at
            self._opened_at = None
            leave, self._in_pool = self._in_pool, False
        if leave:
            self._lane.pool_active.add(-1)
        self._closed.add()
        self._dropped.add()
        self._duration.record(lifetime)


class NetworkMetrics:
    """The network family on a guard, for a configurable set of swimlanes."""

    def __init__(
        self,
        guard: ProviderGuard,
        *,
        swimlanes: tuple[str, ...] = DEFAULT_SWIMLANES,
        legacy_names: bool = True,
        namespace: str | None = None,
        peer_cap: int = 1000,
    ) -> None:
        lanes = Label("swimlane", tuple(swimlanes))

        def with_lanes(spec: MetricSpec) -> MetricSpec:
            labels = tuple(lanes if label.name == "swimlane" else label for label in spec.labels)
            return MetricSpec(spec.name, spec.kind, spec.unit, spec.description, labels, spec.buckets, spec.legacy)

        ns = namespace if namespace is not None else guard.settings.namespace
        self.swimlanes = tuple(swimlanes)
        self.instruments = FamilyInstruments(guard, NETWORK_FAMILY, namespace=ns, legacy=legacy_names,
                                             specs=with_lanes)
        self.interners = {"peer_name": Interner("peer_name", peer_cap)}
        self._lanes: dict[str, SwimlaneHandles] = {}
        self._binders: dict[tuple[str, str], Binder[Any]] = {}
        self._lock = threading.Lock()

    def _binder(self, name: str, swimlane: str, handle_type: type[H] | None = None) -> Binder[H]:
        key = (name, swimlane)
        binder = self._binders.get(key)
        if binder is None:
            if swimlane not in self.swimlanes:
                raise ValueError(f"swimlane {swimlane!r} is not one of {', '.join(self.swimlanes)}")
            inst = self.instruments.instruments.get(name)
            spec = self.instruments.specs.get(name)
            binder = self._binders[key] = Binder(inst, spec, (swimlane,), self.interners, handle_type)
        return cast("Binder[H]", binder)

    def swimlane(self, name: str) -> SwimlaneHandles:
        """The handles of one swimlane, built once."""
        lane = self._lanes.get(name)
        if lane is None:
            with self._lock:
                lane = self._lanes.get(name)
                if lane is None:
                    lane = self._lanes[name] = SwimlaneHandles(self, name)
        return lane

    def connection(self, swimlane: str, peer: str, direction: str) -> ConnectionHandles:
        """Handles for one new connection; keep the result on the connection."""
        return ConnectionHandles(self, swimlane, peer, direction)
