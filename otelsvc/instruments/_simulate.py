"""Plausible simulated traffic for ``otelsvc demo``: every family recorded, deterministic per seed.

The default shape keeps the label values few, so that a scrape stays small enough to read (every
metric of every family still appears); ``full=True`` spreads traffic over many partitions,
services, peers and swimlanes, the way a busy service would, for load and cardinality tests.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from otelsvc.instruments.actor import ActorHandles, ActorMetrics
from otelsvc.instruments.discovery import DiscoveryMetrics
from otelsvc.instruments.http import HttpMetrics
from otelsvc.instruments.invoker import Invocation, InvokerMetrics
from otelsvc.instruments.network import ConnectionHandles, NetworkMetrics

if TYPE_CHECKING:
    from otelsvc._guard import ProviderGuard

__all__ = ["Simulation"]

_ROUTES = (("GET", "/items/{id}", "/items/17"), ("POST", "/orders", "/orders"), ("GET", "/boot/aa:bb:cc", "/boot/x"))


@dataclass(frozen=True)
class _Shape:
    """The label values the simulated traffic spreads over."""

    actor_types: tuple[str, ...]
    services: tuple[str, ...]
    peers: tuple[str, ...]
    swimlanes: tuple[str, ...] | None  # None: every swimlane of the network family
    directions: tuple[str, ...]
    partitions: int
    deployments: int
    invoker_errors: tuple[int, ...]
    retry_statuses: tuple[int, ...]


_SMALL = _Shape(("chat_room",), ("greeter",), ("node-1",), ("general",), ("outgoing",), 1, 1, (503,), (503,))
_FULL = _Shape(
    ("counter", "chat_room", "session", "scheduler"),
    ("greeter", "checkout", "inventory"),
    ("node-1", "node-2", "node-3"),
    None,
    ("outgoing", "incoming"),
    16,
    3,
    (500, 503, 404, 429),
    (503, 429, 404),
)


class Simulation:
    """One ``step()`` records a tick of traffic across the five families (``full``: over many label values)."""

    def __init__(self, guard: ProviderGuard, rng: random.Random | None = None, full: bool = False) -> None:
        self.rng = rng or random.Random(0)
        self.shape = _FULL if full else _SMALL
        self.actors = ActorMetrics(guard)
        self.network = NetworkMetrics(guard)
        self.invoker = InvokerMetrics(guard)
        self.discovery = DiscoveryMetrics(guard)
        self.http = HttpMetrics(guard, prefix_rules=[("/boot/", "boot")])
        self._live_actors: list[ActorHandles] = []
        self._connections: list[ConnectionHandles] = []
        self._invocations: list[Invocation] = []
        self.steps = 0

    def step(self) -> None:
        rng = self.rng
        self.steps += 1
        self._actors(rng)
        self._network(rng)
        self._invocations_tick(rng)
        if self.steps % 10 == 0:
            self._discover(rng)
        self._http(rng)

    def _actors(self, rng: random.Random) -> None:
        if len(self._live_actors) < 8 or rng.random() < 0.3:
            actor = self.actors.actor(rng.choice(self.shape.actor_types))
            self.actors.actor_started(actor)
            for phase in ("load_persisted", "create_state", "core_init", "total"):
                actor.startup(phase, "success").record(rng.uniform(0.001, 0.05))
            self._live_actors.append(actor)
        actor = rng.choice(self._live_actors)
        actor.action_calls("increment").add()
        actor.action_duration("increment").record(rng.expovariate(200))
        if rng.random() < 0.05:
            actor.action_errors("increment").add()
        actor.kv_duration("get").record(rng.expovariate(5000))
        actor.kv_keys("get").record(rng.randint(1, 20))
        actor.messages_sent.add()
        actor.messages_received.add()
        actor.inbox_depth("dispatch").set(rng.randint(0, 5))
        actor.state_mutations("input_set").add()
        actor.queue_depth.add(1)  # a message waits, then is taken
        actor.queue_depth.add(-1)
        if rng.random() < 0.2:
            actor.connections.add()
            actor.connections_active.add(1)
            actor.connections_active.add(-1)
        kind = rng.choice(("action", "http", "scheduled_action"))
        actor.user_tasks_active(kind).add(1)
        actor.user_task_duration(kind).record(rng.expovariate(100))
        actor.user_tasks_active(kind).add(-1)
        for phase in ("serialize", "transport", "total"):
            actor.sqlite_commit(phase).record(rng.expovariate(5000))
        actor.sqlite_command("execute").record(rng.expovariate(10000))
        if rng.random() < 0.02:
            actor.sqlite_errors("execute", "overloaded").add()
        if len(self._live_actors) > 12:
            gone = self._live_actors.pop(0)
            reason = rng.choice(("sleep", "destroy"))
            gone.shutdown_wait(reason).record(rng.uniform(0.01, 0.2))
            if rng.random() < 0.1:
                gone.shutdown_timeouts(reason).add()
            self.actors.actor_stopped(gone, reason)

    def _network(self, rng: random.Random) -> None:
        lane_name = rng.choice(self.shape.swimlanes or self.network.swimlanes)
        lane = self.network.swimlane(lane_name)
        lane.rpc(rng.choice(("success", "success", "success", "error"))).record(rng.expovariate(1000))
        lane.acquisition("hit" if rng.random() < 0.8 else "miss", "success").record(rng.expovariate(10000))
        if rng.random() < 0.2 or not self._connections:
            conn = self.network.connection(lane_name, rng.choice(self.shape.peers), rng.choice(self.shape.directions))
            lane.pending.add(1)
            lane.handshake("success").record(rng.expovariate(500))
            lane.pending.add(-1)
            conn.opened()
            self._connections.append(conn)
        rng.choice(self._connections).permit.record(rng.expovariate(20000))
        if len(self._connections) > 10:
            conn = self._connections.pop(0)
            if rng.random() < 0.5:
                conn.drained()
            conn.closed()

    def _invocations_tick(self, rng: random.Random) -> None:
        shape = self.shape
        inv = self.invoker.invocation(rng.randrange(shape.partitions), rng.choice(shape.services))
        inv.queued()
        inv.queue_duration(rng.expovariate(100))
        inv.pin(f"dp_{rng.randrange(shape.deployments)}")
        inv.task("started")
        inv.http_request(rng.expovariate(50))
        status = 200 if rng.random() < 0.9 else rng.choice(shape.invoker_errors)
        inv.http_response(status)
        inv.throttling_balance(rng.randint(-5, 100))
        if rng.random() < 0.05:
            inv.state_truncated()
        self._invocations.append(inv)
        if len(self._invocations) > 5:
            done = self._invocations.pop(0)
            done.http_roundtrip(rng.expovariate(20))
            done.task_duration(rng.expovariate(10))
            done.task("completed" if rng.random() < 0.9 else "failed", transient=True)
            done.end()
        partition = self.invoker.partition(rng.randrange(shape.partitions))
        partition.slots_acquired.add()
        partition.slots_released.add()
        partition.set_limit(64)

    def _discover(self, rng: random.Random) -> None:
        retries = rng.randint(0, 2)
        for _ in range(retries):
            self.discovery.retry(status_code=rng.choice(self.shape.retry_statuses))
        self.discovery.finished("success" if rng.random() < 0.9 else "retryable_exhausted", rng.uniform(0.01, 0.5))

    def _http(self, rng: random.Random) -> None:
        method, template, path = rng.choice(_ROUTES)
        route, endpoint = self.http.labels_for(None if path.startswith("/boot/") else template, path)
        record: Any = self.http.start(method, "http", endpoint)
        status = 200 if rng.random() < 0.95 else 500
        self.http.finish(record, route, endpoint, status, None, rng.expovariate(50))
