"""The semantics METRICS.md states for the domain families, each read back through a TestingGuard."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from otelsvc.instruments import (
    ActorMetrics,
    DiscoveryMetrics,
    InvokerMetrics,
    NetworkMetrics,
    classify_retry,
)
from otelsvc.testing import TestingGuard, start_testing


@pytest.fixture
def guard() -> Iterator[TestingGuard]:
    g = start_testing()
    yield g
    g.shutdown()


def test_deployment_unknown_until_pinned_and_active_balanced(guard: TestingGuard) -> None:
    inv_metrics = InvokerMetrics(guard)
    inv = inv_metrics.invocation(7, "greeter")
    inv.queued()
    assert (
        guard.value(
            "invoker.invocations.queued", {"partition_id": "7", "service_name": "greeter", "deployment_id": "unknown"}
        )
        == 1
    )
    assert guard.series("invoker.invocations.active") == []
    inv.pin("dp_1")
    labels = {"partition_id": "7", "service_name": "greeter", "deployment_id": "dp_1"}
    assert guard.value("invoker.invocations.active", labels) == 1
    inv.task_duration(0.5)
    assert guard.histogram_value("invoker.task.duration", labels) is not None
    inv.end()
    inv.end()
    assert guard.value("invoker.invocations.active", labels) == 0
    never_pinned = inv_metrics.invocation(7, "greeter")
    never_pinned.end()
    assert all(value >= 0 for _, value in guard.series("invoker.invocations.active"))


def test_only_non_2xx_responses_are_counted(guard: TestingGuard) -> None:
    inv = InvokerMetrics(guard).invocation(1, "svc")
    inv.pin("d")
    for status in (200, 201, 204, 299, 404, 503, 503):
        inv.http_response(status)
    series = {attrs["status_code"]: value for attrs, value in guard.series("invoker.http.responses")}
    assert series == {"404": 1, "503": 2}


def test_task_transient_only_on_failed(guard: TestingGuard) -> None:
    inv = InvokerMetrics(guard).invocation(1, "svc")
    inv.task("started")
    inv.task("failed", transient=True)
    rows = {(a["status"], a.get("transient")) for a, _ in guard.series("invoker.tasks")}
    assert rows == {("started", None), ("failed", "true")}


def test_concurrency_limit_unreported_while_unlimited(guard: TestingGuard) -> None:
    part = InvokerMetrics(guard).partition(3)
    part.set_limit(None)
    assert guard.series("invoker.concurrency.limit") == []
    part.set_limit(64)
    assert guard.value("invoker.concurrency.limit", partition_id="3") == 64
    part.set_limit(float("inf"))
    assert guard.series("invoker.concurrency.limit") == []


def test_pool_gauge_not_double_counted_on_drain_then_drop(guard: TestingGuard) -> None:
    net = NetworkMetrics(guard)
    conn = net.connection("general", "node-1", "outgoing")
    conn.opened()
    assert guard.value("network.pool.connections.active", swimlane="general") == 1
    conn.drained()
    conn.closed()
    assert guard.value("network.pool.connections.active", swimlane="general") == 0
    labels = {"swimlane": "general", "peer_name": "node-1", "direction": "outgoing"}
    assert guard.value("network.connection.opened", labels) == 1
    assert guard.value("network.connection.closed", labels) == 1
    assert guard.value("network.connection_created", labels) == 1
    assert guard.value("network.connection_dropped", labels) == 1
    assert guard.histogram_value("network.connection.duration", labels).count == 1  # type: ignore[union-attr]


def test_legacy_names_can_be_switched_off(guard: TestingGuard) -> None:
    net = NetworkMetrics(guard, legacy_names=False)
    conn = net.connection("gossip", "p", "incoming")
    conn.opened()
    conn.closed()
    assert guard.series("network.connection_created") == []
    assert guard.series("network.connection.opened") != []


def test_configurable_swimlanes(guard: TestingGuard) -> None:
    net = NetworkMetrics(guard, swimlanes=("fast", "slow"))
    net.swimlane("fast").rpc("success").record(0.001)
    assert guard.histogram_value("network.rpc.duration", swimlane="fast", result="success") is not None
    with pytest.raises(ValueError, match="general"):
        net.swimlane("general")


def test_closed_sets_are_enforced(guard: TestingGuard) -> None:
    actors = ActorMetrics(guard)
    actor = actors.actor("counter")
    with pytest.raises(ValueError, match="reason"):
        actor.stopped("exploded")
    with pytest.raises(ValueError, match="result"):
        NetworkMetrics(guard).swimlane("general").rpc("maybe")


def test_interned_labels_fold_into_other_logged_once(guard: TestingGuard, caplog: pytest.LogCaptureFixture) -> None:
    actors = ActorMetrics(guard, name_cap=3)
    with caplog.at_level(logging.WARNING, logger="otelsvc"):
        for i in range(50):
            actors.actor_started(actors.actor(f"type-{i}"))
    names = {attrs["actor_name"] for attrs, _ in guard.series("actor.started")}
    assert names == {"type-0", "type-1", "type-2", "other"}
    assert guard.value("actor.started", actor_name="other") == 47
    assert sum("actor_name reached its cap" in r.getMessage() for r in caplog.records) == 1


def test_namespace_prefixes_domain_families_only() -> None:
    from otelsvc.instruments import HttpMetrics

    guard = start_testing(namespace="shop")
    try:
        ActorMetrics(guard).actor("a").started.add()
        http = HttpMetrics(guard)
        record = http.start("GET", "http", "other")
        http.finish(record, "", "other", 200, None, 0.01)
        names = set(guard.metrics())
        assert "shop.actor.started" in names and "actor.started" not in names
        assert "http.server.request.duration" in names and "http_requests" in names
    finally:
        guard.shutdown()


@pytest.mark.parametrize(
    ("status", "error", "reason"),
    [
        (500, None, "server_error"),
        (503, None, "server_error"),
        (599, None, "server_error"),
        (408, None, "rate_limited"),
        (429, None, "rate_limited"),
        (404, None, "bad_status"),
        (301, None, "bad_status"),
        (101, None, "bad_status"),
        (400, None, "bad_status"),
        (None, ConnectionRefusedError(), "connection"),
        (None, type("ConnectError", (Exception,), {})(), "connection"),
        (None, type("ReadError", (Exception,), {})(), "body_error"),
        (None, ValueError("x"), "other"),
        (None, None, "other"),
    ],
)
def test_discovery_retry_reason(status: int | None, error: BaseException | None, reason: str) -> None:
    assert classify_retry(status, error) == reason


def test_discovery_records_attempts_retries_and_duration(guard: TestingGuard) -> None:
    disc = DiscoveryMetrics(guard)
    assert disc.retry(status_code=503) == "server_error"
    with disc.timed() as result:
        result["outcome"] = "retryable_exhausted"
    assert guard.value("discovery.retries", reason="server_error") == 1
    assert guard.value("discovery.attempts", outcome="retryable_exhausted") == 1
    assert guard.histogram_value("discovery.duration", outcome="retryable_exhausted").count == 1  # type: ignore[union-attr]


def test_metadata_lists_the_families_served(guard: TestingGuard) -> None:
    ActorMetrics(guard)
    NetworkMetrics(guard)
    assert guard.metadata()["families"] == ["actor", "network"]
