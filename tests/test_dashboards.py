"""``otelsvc dashboards``: dashboard JSON structure, namespace, the committed files, and promtool on the rules."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import _need

from otelsvc._dashboards._generate import RULES_PATH, generate
from otelsvc._dashboards._grafana import SCHEMA_VERSION
from otelsvc._dashboards._queries import metric_name
from otelsvc.instruments import FAMILIES

COMMITTED = Path(__file__).resolve().parent.parent / "dashboards"


def _dashboards(files: dict[str, str]) -> dict[str, dict[str, Any]]:
    return {path: json.loads(text) for path, text in files.items() if path.endswith(".json")}


def _exprs(board: dict[str, Any]) -> list[str]:
    return [target["expr"] for panel in board["panels"] for target in panel["targets"]]


def test_every_dashboard_has_the_pinned_schema_variables_and_well_formed_panels() -> None:
    boards = _dashboards(generate())
    assert set(boards) == {
        "grafana/http-overview.json",
        "grafana/otelsvc.json",
        *(f"grafana/{f.name}.json" for f in FAMILIES),
    }
    assert len({b["uid"] for b in boards.values()}) == len(boards)
    for path, board in boards.items():
        assert board["schemaVersion"] == SCHEMA_VERSION == 42, path  # pinned: a change is deliberate
        assert len(board["uid"]) <= 40 and board["title"] and board["panels"], path
        variables = {v["name"]: v for v in board["templating"]["list"]}
        assert variables["datasource"]["type"] == "datasource"
        assert variables["datasource"]["query"] == "prometheus"
        assert variables["job"]["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
        ids = [p["id"] for p in board["panels"]]
        assert len(set(ids)) == len(ids), path
        cells = set()
        for panel in board["panels"]:
            assert panel["type"] == "timeseries" and panel["title"]
            assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
            grid = panel["gridPos"]
            cell = (grid["x"], grid["y"])
            assert cell not in cells and grid["x"] + grid["w"] <= 24, (path, panel["title"])
            cells.add(cell)
            assert panel["targets"], panel["title"]
            refs = [t["refId"] for t in panel["targets"]]
            assert len(set(refs)) == len(refs)
            for target in panel["targets"]:
                assert target["datasource"]["uid"] == "${datasource}"
                assert '{job=~"$job"}' in target["expr"], target["expr"]
                # Only Grafana's own variables are left for Grafana to fill in.
                assert set(re.findall(r"\$\w+", target["expr"])) <= {"$job", "$__rate_interval"}


def test_a_family_dashboard_has_a_panel_per_current_metric() -> None:
    boards = _dashboards(generate())
    for family in FAMILIES:
        board = boards[f"grafana/{family.name}.json"]
        current = [s for s in family.metrics if not s.legacy]
        assert len(board["panels"]) == len(current)
        for panel, spec in zip(board["panels"], current, strict=True):
            assert panel["title"].startswith(spec.name)
            name = metric_name(family, spec, None)
            assert all(name in expr for expr in (t["expr"] for t in panel["targets"])), (name, panel["targets"])
            if spec.kind == "histogram":
                assert [t["legendFormat"].split()[0] for t in panel["targets"]] == ["p50", "p95", "p99"]
                assert all(t["expr"].startswith("histogram_quantile(") for t in panel["targets"])


def test_http_overview_has_rate_errors_and_quantiles_per_route() -> None:
    board = _dashboards(generate())["grafana/http-overview.json"]
    titles = [p["title"] for p in board["panels"]]
    assert "Requests per second by route" in titles and "5xx error ratio by route" in titles
    exprs = " ".join(_exprs(board))
    for q in ("0.5", "0.95", "0.99"):
        assert (
            f"histogram_quantile({q}, sum by (le) (job_http_route:http_server_request_duration_seconds_bucket"
            f':rate5m{{job=~"$job"}}))' in exprs
        )


def test_namespace_prefixes_the_domain_families_but_not_http() -> None:
    files = generate(namespace="shop")
    boards = _dashboards(files)
    for family in FAMILIES:
        exprs = _exprs(boards[f"grafana/{family.name}.json"])
        names = [metric_name(family, s, "shop") for s in family.metrics if not s.legacy]
        for name in names:
            assert any(name in e for e in exprs)
            assert name.startswith("shop_") == family.namespaced
    assert "shop" in boards["grafana/actor.json"]["uid"]
    rules = files[RULES_PATH]
    assert "rate(shop_actor_startup_duration_seconds_bucket[5m])" in rules
    assert "rate(actor_startup_duration_seconds_bucket" not in rules
    assert "rate(http_server_request_duration_seconds_count[5m])" in rules


def test_committed_dashboards_equal_the_generator_output() -> None:
    """The files under dashboards/ are generated; regenerate with OTELSVC_UPDATE_DASHBOARDS=1."""
    files = generate()
    if os.environ.get("OTELSVC_UPDATE_DASHBOARDS"):
        for relative, text in files.items():
            (COMMITTED / relative).parent.mkdir(parents=True, exist_ok=True)
            (COMMITTED / relative).write_text(text)
    on_disk = {str(p.relative_to(COMMITTED)) for p in COMMITTED.rglob("*") if p.suffix in (".json", ".yml")}
    assert on_disk == set(files), "stale or missing files under dashboards/ (OTELSVC_UPDATE_DASHBOARDS=1)"
    for relative, text in files.items():
        assert (COMMITTED / relative).read_text() == text, f"{relative} differs (OTELSVC_UPDATE_DASHBOARDS=1)"


@pytest.mark.parametrize("namespace", [None, "shop.eu"])
def test_promtool_accepts_the_rules(tmp_path: Path, namespace: str | None) -> None:
    promtool = _need("promtool")
    rules = tmp_path / "rules.yml"
    rules.write_text(generate(namespace=namespace)[RULES_PATH])
    proc = subprocess.run([promtool, "check", "rules", str(rules)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert re.search(r"SUCCESS: \d+ rules found", proc.stdout), proc.stdout


def test_cli_writes_the_files_and_refuses_bad_values(tmp_path: Path) -> None:
    out = tmp_path / "out"
    proc = subprocess.run(
        [sys.executable, "-m", "otelsvc", "dashboards", "--out", str(out), "--namespace", "shop", "--latency", "0.25"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    expected = generate(namespace="shop", thresholds=_thresholds(latency_p95=0.25))
    assert {str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()} == set(expected)
    assert (out / RULES_PATH).read_text() == expected[RULES_PATH]
    assert ") > 0.25" in expected[RULES_PATH]
    for bad in (["--namespace", "9lives"], ["--error-ratio", "0"], ["--latency", "-1"]):
        proc = subprocess.run(
            [sys.executable, "-m", "otelsvc", "dashboards", "--out", str(out), *bad],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert proc.returncode == 2, (bad, proc.stderr)
        assert bad[0] in proc.stderr and bad[1] in proc.stderr


def _thresholds(**kw: Any) -> Any:
    from otelsvc._dashboards._thresholds import Thresholds

    return Thresholds(**kw)
