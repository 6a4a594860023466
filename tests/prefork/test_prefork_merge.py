"""The merge rules, on snapshots directly: what sums over every worker, over live ones, or stays per slot."""

from __future__ import annotations

from typing import Any

import pytest

import otelsvc
from otelsvc._prefork import _role
from otelsvc._prefork._merge import Aggregate
from otelsvc._prefork._snapshot import Snapshot

A: Any = (("route", "/a"),)


def snap(kind: str, value: Any, name: str = "m", scope: str = "s") -> Snapshot:
    bounds = (1.0,) if kind == "histogram" else ()
    return {(scope, "", name): (kind, "", "", bounds, {A: value})}


def points(aggregate: Aggregate, name: str = "m", scope: str = "s") -> dict[Any, Any]:
    merged = aggregate.merged({})
    return merged[(scope, "", name)][4] if (scope, "", name) in merged else {}


def test_counters_and_histograms_keep_retired_workers_updown_only_live() -> None:
    agg = Aggregate()
    agg.update(0, {**snap("counter", 5), **snap("histogram", ((1, 2), 3.0), "h"), **snap("updowncounter", 2, "u")})
    agg.update(1, {**snap("counter", 7), **snap("histogram", ((0, 1), 9.0), "h"), **snap("updowncounter", 1, "u")})
    agg.retire(0)
    agg.update(0, snap("counter", 1))  # a new worker in the freed slot
    assert points(agg) == {A: 13}
    assert points(agg, "h") == {A: ([1, 3], 12.0)}
    assert points(agg, "u") == {A: 1}


@pytest.mark.parametrize(("mode", "expected"), [
    ("per_worker", {(*A, ("worker_slot", "0")): 4, (*A, ("worker_slot", "1")): 9}),
    ("sum", {A: 13}), ("min", {A: 4}), ("max", {A: 9}), ("latest", {A: 9}),
])
def test_gauge_modes(mode: str, expected: dict[Any, Any]) -> None:
    agg = Aggregate()
    agg.update(0, snap("gauge", 4), {"m": mode})
    agg.update(1, snap("gauge", 9))
    assert points(agg) == expected
    agg.retire(1)
    assert sum(points(agg).values()) == 4  # a gauge leaves with its worker


def test_runtime_metrics_stay_per_worker_and_are_not_retired() -> None:
    agg = Aggregate()
    agg.update(0, snap("counter", 2.5, "process.cpu.time", "otelsvc.runtime"))
    assert points(agg, "process.cpu.time", "otelsvc.runtime") == {(*A, ("worker_slot", "0")): 2.5}
    agg.retire(0)
    assert points(agg, "process.cpu.time", "otelsvc.runtime") == {}


def test_a_family_gauge_declares_its_mode_in_the_catalog() -> None:
    from otelsvc.instruments import actor

    spec = next(s for s in actor.ACTOR_FAMILY.metrics if s.name == "actor.inbox.depth")
    assert spec.prefork == "sum"
    guard = otelsvc.start(prometheus=None, set_global=False, runtime_metrics=False)
    try:
        actor.ActorMetrics(guard)
        assert _role._modes()["actor.inbox.depth"] == "sum"
    finally:
        guard.shutdown()


def test_unknown_gauge_mode_is_refused() -> None:
    with pytest.raises(ValueError, match="gauge aggregation"):
        _role.declare_gauge("x", "median")
