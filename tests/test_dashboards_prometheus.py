"""Every panel's query returns data from a real Prometheus (2.42) scraping the running demo, rules loaded."""

from __future__ import annotations

import json
import time
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from _demo_process import running_demo
from _refusing_collector import refusing_collector

from otelsvc._dashboards._generate import RULES_PATH, generate

# Metrics the demo's simulation does not record: their panels must come back empty, so that this list
# cannot go stale silently. Empty: the simulation records every family's metrics (a new family's
# metrics go here until it does).
DEMO_DOES_NOT_RECORD: set[str] = set()


# A scrape of the demo can take over a second on a loaded machine: scrape every 5 s, rate over 30 s.
SCRAPE_INTERVAL = "5s"


def _grafana_to_promql(expr: str) -> str:
    """What Grafana sends for "All jobs", with a rate window that holds several scrapes."""
    return expr.replace('{job=~"$job"}', '{job=~".*"}').replace("$__rate_interval", "30s")


def _query(port: int, expr: str) -> list[dict[str, Any]]:
    url = f"http://127.0.0.1:{port}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    with urllib.request.urlopen(url, timeout=10) as response:
        payload = json.load(response)
    assert payload["status"] == "success", payload
    result: list[dict[str, Any]] = payload["data"]["result"]
    return result


def test_every_panel_query_returns_data_from_the_demo(tmp_path: Path, prometheus_factory: Callable[..., Any]) -> None:
    files = generate()
    rules = tmp_path / "rules.yml"
    rules.write_text(files[RULES_PATH])
    panels: list[tuple[str, str, str]] = []
    for path, text in files.items():
        if path.endswith(".json"):
            for panel in json.loads(text)["panels"]:
                panels += [(path, panel["title"], _grafana_to_promql(t["expr"])) for t in panel["targets"]]
    # Pushes to a collector that refuses them give the otelsvc dashboard's export-failure panel its data.
    with (
        refusing_collector() as collector,
        running_demo(
            "--full",
            "--otlp-endpoint",
            collector,
            "--otlp-protocol",
            "http/protobuf",
            "--export-interval",
            "1",
            clean_exit=False,
        ) as url,
    ):
        target = urllib.parse.urlsplit(url).netloc
        prometheus = prometheus_factory(target, rules=rules, interval=SCRAPE_INTERVAL)
        expected_empty = {(p, title, e) for p, title, e in panels if title.split(" ")[0] in DEMO_DOES_NOT_RECORD}

        def missing() -> list[tuple[str, str, str]]:
            return [p for p in panels if p not in expected_empty and not _query(prometheus.port, p[2])]

        deadline = time.monotonic() + 90
        while (empty := missing()) and time.monotonic() < deadline:
            time.sleep(1.0)
        assert not empty, f"panels without data after 90 s: {empty}"
        with_data = [p for p in expected_empty if _query(prometheus.port, p[2])]
        assert not with_data, f"the demo records these now; remove them from DEMO_DOES_NOT_RECORD: {with_data}"
    assert len(panels) - len(expected_empty) > 60
    # The rules were loaded and evaluated (the recording rules feed the quantile panels).
    groups = json.load(urllib.request.urlopen(f"http://127.0.0.1:{prometheus.port}/api/v1/rules", timeout=10))
    assert all(g["rules"] and all(r["health"] == "ok" for r in g["rules"]) for g in groups["data"]["groups"])
