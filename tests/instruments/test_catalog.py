"""The catalog: a committed snapshot, docs pages in sync, the CLI, and real-collector checks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from conftest import Rotel
from hypothesis import given, settings
from hypothesis import strategies as st

import otelsvc
from otelsvc.instruments import FAMILIES, ActorMetrics, InvokerMetrics, NetworkMetrics
from otelsvc.instruments._catalog import catalog_json, family_markdown
from otelsvc.instruments._simulate import Simulation
from otelsvc.testing import start_testing

ROOT = Path(__file__).resolve().parents[2]
SNAPSHOT = Path(__file__).with_name("catalog_snapshot.json")


def test_catalog_matches_committed_snapshot() -> None:
    """A rename or relabel is a deliberate change: regenerate with OTELSVC_UPDATE_SNAPSHOT=1."""
    current = catalog_json()
    if os.environ.get("OTELSVC_UPDATE_SNAPSHOT"):
        SNAPSHOT.write_text(current)
    assert json.loads(current) == json.loads(SNAPSHOT.read_text())


def test_docs_pages_match_the_declarations() -> None:
    for family in FAMILIES:
        page = ROOT / "docs" / "instruments" / f"{family.name}.md"
        assert page.read_text() == family_markdown(family), f"regenerate {page}"


def test_cli_catalog_markdown_and_json() -> None:
    md = subprocess.run([sys.executable, "-m", "otelsvc", "catalog"], capture_output=True, text=True, timeout=60)
    assert md.returncode == 0 and "| `actor.started` |" in md.stdout
    js = subprocess.run(
        [sys.executable, "-m", "otelsvc", "catalog", "--format", "json"], capture_output=True, text=True, timeout=60
    )
    families = {f["family"] for f in json.loads(js.stdout)}
    assert families == {"actor", "network", "invoker", "discovery", "http"}


def test_import_instruments_loads_no_grpc() -> None:
    code = "import sys, otelsvc.instruments; print('grpc' in sys.modules)"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.stdout.strip() == "False"


def test_every_family_is_on_the_scrape_and_promtool_accepts_it(promtool: Callable[[bytes], Any]) -> None:
    guard = otelsvc.start(prometheus="127.0.0.1:0", set_global=False)
    try:
        sim = Simulation(guard)
        for _ in range(60):
            sim.step()
        text = guard.render_metrics()
    finally:
        guard.shutdown()
    for name in (
        "actor_started_total",
        "network_rpc_duration_seconds_bucket",
        "invoker_tasks_total",
        "discovery_attempts_total",
        "http_server_request_duration_seconds_bucket",
        "http_requests_total",
        "http_request_duration_seconds_bucket",
        "http_requests_in_flight",
    ):
        assert name.encode() in text, name
    result = promtool(text)
    assert result.returncode == 0 and not result.stderr.strip(), result.stderr


def test_rotel_receives_every_family(rotel: Rotel) -> None:
    guard = otelsvc.start(prometheus=None, otlp_endpoint=rotel.grpc_endpoint, export_interval=0.3, set_global=False)
    try:
        sim = Simulation(guard)
        for _ in range(30):
            sim.step()
        for name in (
            "actor.started",
            "network.rpc.duration",
            "invoker.invocations.queued",
            "discovery.attempts",
            "http.server.request.duration",
            "http_requests",
        ):
            metric = rotel.wait_metric(name)
            assert metric.scope == "otelsvc" and metric.points
    finally:
        guard.shutdown()


label_text = st.text(min_size=0, max_size=12)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(label_text, label_text, st.sampled_from(["outgoing", "incoming", "loopback"])), max_size=300))
def test_arbitrary_labels_never_exceed_closed_sets_times_caps(conns: list[tuple[str, str, str]]) -> None:
    guard = start_testing()
    try:
        net = NetworkMetrics(guard, peer_cap=5)
        actors = ActorMetrics(guard, name_cap=4, action_cap=3)
        inv = InvokerMetrics(guard, service_cap=3, deployment_cap=3)
        for peer, name, direction in conns:
            net.connection("general", peer, direction).opened()
            a = actors.actor(name)
            a.action_calls(peer).add()
            i = inv.invocation(name, peer)
            i.pin(name)
            i.queued()
        series = {
            n: len(guard.series(n))
            for n in ("network.connection.opened", "actor.action.calls", "invoker.invocations.queued")
        }
        assert series["network.connection.opened"] <= 1 * (5 + 1) * 3
        assert series["actor.action.calls"] <= (4 + 1) * (3 + 1)
        assert series["invoker.invocations.queued"] <= 1024 * (3 + 1) * (3 + 1)
    finally:
        guard.shutdown()
