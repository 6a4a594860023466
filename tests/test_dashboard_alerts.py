"""``promtool test rules`` for every alert of the generated rules file: each fires on a fault and not without it."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from conftest import _need

from otelsvc._dashboards._generate import RULES_PATH, generate

# One promtool unit test per alert: series with a faulty and a healthy target, then the alerts expected.
_CASES = {
    "OtelsvcHttpErrorRatioHigh": """
      - series: 'HTTP_DURATION_count{job="api",http_route="/orders",http_response_status_code="200"}'
        values: '0+60x40'
      - series: 'HTTP_DURATION_count{job="api",http_route="/orders",http_response_status_code="503"}'
        values: '0+12x40'
      - series: 'HTTP_DURATION_count{job="calm",http_route="/orders",http_response_status_code="200"}'
        values: '0+60x40'
      - series: 'HTTP_DURATION_count{job="calm",http_route="/orders",http_response_status_code="500"}'
        values: '0+1x40'
    alert_rule_test:
      - eval_time: 8m
        alertname: OtelsvcHttpErrorRatioHigh
        exp_alerts: []
      - eval_time: 20m
        alertname: OtelsvcHttpErrorRatioHigh
        exp_alerts:
          - exp_labels: {job: api, severity: warning}
            exp_annotations:
              summary: 'api: more than 5% of HTTP requests answered 5xx for 10 minutes'
""",
    "OtelsvcHttpLatencyHigh": """
      - series: 'HTTP_DURATION_bucket{job="api",http_route="/orders",le="0.5"}'
        values: '0+0x40'
      - series: 'HTTP_DURATION_bucket{job="api",http_route="/orders",le="2.5"}'
        values: '0+10x40'
      - series: 'HTTP_DURATION_bucket{job="api",http_route="/orders",le="+Inf"}'
        values: '0+10x40'
      - series: 'HTTP_DURATION_bucket{job="calm",http_route="/orders",le="0.5"}'
        values: '0+10x40'
      - series: 'HTTP_DURATION_bucket{job="calm",http_route="/orders",le="2.5"}'
        values: '0+10x40'
      - series: 'HTTP_DURATION_bucket{job="calm",http_route="/orders",le="+Inf"}'
        values: '0+10x40'
    alert_rule_test:
      - eval_time: 20m
        alertname: OtelsvcHttpLatencyHigh
        exp_alerts:
          - exp_labels: {job: api, severity: warning}
            exp_annotations:
              summary: 'api: p95 HTTP request duration above 1s for 10 minutes'
""",
    "OtelsvcExportFailing": """
      - series: 'otelsvc_export_failures_total{job="api",instance="a:9464",pipeline="metrics",exporter="otlp_grpc"}'
        values: '0+2x40'
      - series: 'otelsvc_export_failures_total{job="api",instance="a:9464",pipeline="spans",exporter="otlp_grpc"}'
        values: '0+0x40'
    alert_rule_test:
      - eval_time: 5m
        alertname: OtelsvcExportFailing
        exp_alerts: []
      - eval_time: 20m
        alertname: OtelsvcExportFailing
        exp_alerts:
          - exp_labels: {job: api, instance: 'a:9464', pipeline: metrics, exporter: otlp_grpc, severity: warning}
            exp_annotations:
              summary: 'a:9464: OTLP metrics push (otlp_grpc) failing for 10 minutes'
""",
    "OtelsvcSpansDropped": """
      - series: 'otelsvc_spans_dropped_total{job="api",instance="a:9464"}'
        values: '0 0 0 0 0 50 50 50 50 50 50 50 50 50 50 50 50 50 50 50'
      - series: 'otelsvc_spans_dropped_total{job="api",instance="b:9464"}'
        values: '0+0x20'
    alert_rule_test:
      - eval_time: 7m
        alertname: OtelsvcSpansDropped
        exp_alerts:
          - exp_labels: {job: api, instance: 'a:9464', severity: warning}
            exp_annotations:
              summary: 'a:9464: spans dropped, the collector was away longer than the retry buffer holds'
      - eval_time: 15m
        alertname: OtelsvcSpansDropped
        exp_alerts: []
""",
    "OtelsvcLabelValuesFolded": """
      - series: 'otelsvc_labels_folded_total{job="api",instance="a:9464",label="peer_name"}'
        values: '0 0 0 4 9 9 9 9 9 9 9 9 9 9 9 9 9 9 9 9 9 9 9 9 9 9 9 9 9 9'
      - series: 'otelsvc_labels_folded_total{job="api",instance="a:9464",label="actor_name"}'
        values: '0+0x30'
    alert_rule_test:
      - eval_time: 5m
        alertname: OtelsvcLabelValuesFolded
        exp_alerts:
          - exp_labels: {job: api, instance: 'a:9464', label: peer_name, severity: info}
            exp_annotations:
              summary: 'a:9464: label peer_name reached its cap; new values are recorded as other'
      - eval_time: 25m
        alertname: OtelsvcLabelValuesFolded
        exp_alerts: []
""",
    "OtelsvcInstanceDown": """
      - series: 'up{job="api",instance="a:9464"}'
        values: '1 1 1 0 0 0 0 0 0 0 0 0'
      - series: 'up{job="api",instance="b:9464"}'
        values: '1+0x12'
    alert_rule_test:
      - eval_time: 5m
        alertname: OtelsvcInstanceDown
        exp_alerts: []
      - eval_time: 10m
        alertname: OtelsvcInstanceDown
        exp_alerts:
          - exp_labels: {job: api, instance: 'a:9464', severity: critical}
            exp_annotations:
              summary: 'a:9464 of api has not answered a scrape for 5 minutes'
""",
}
CASES = {name: case.replace("HTTP_DURATION_", "http_server_request_duration_seconds_") for name, case in _CASES.items()}


def test_every_alert_has_a_unit_test() -> None:
    alerts = re.findall(r"^\s+- alert: (\w+)$", generate()[RULES_PATH], re.M)
    assert sorted(alerts) == sorted(CASES)


def test_promtool_unit_tests_of_every_alert_pass(tmp_path: Path) -> None:
    promtool = _need("promtool")
    (tmp_path / "rules.yml").write_text(generate()[RULES_PATH])
    tests = ["rule_files: [rules.yml]", "evaluation_interval: 1m", "tests:"]
    for case in CASES.values():
        tests += ["  - interval: 1m", "    input_series:" + case.rstrip()]
    (tmp_path / "alerts_test.yml").write_text("\n".join(tests) + "\n")
    proc = subprocess.run(
        [promtool, "test", "rules", "alerts_test.yml"], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "SUCCESS" in proc.stdout, proc.stdout


def test_a_wrong_expectation_fails(tmp_path: Path) -> None:
    """The harness can fail: the instance-down case expecting the healthy instance is rejected."""
    promtool = _need("promtool")
    (tmp_path / "rules.yml").write_text(generate()[RULES_PATH])
    case = CASES["OtelsvcInstanceDown"].replace(
        "instance: 'a:9464', severity: critical", "instance: 'b:9464', severity: critical"
    )
    (tmp_path / "alerts_test.yml").write_text(
        "rule_files: [rules.yml]\nevaluation_interval: 1m\ntests:\n  - interval: 1m\n    input_series:" + case
    )
    proc = subprocess.run(
        [promtool, "test", "rules", "alerts_test.yml"], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode != 0 and "OtelsvcInstanceDown" in proc.stdout + proc.stderr
