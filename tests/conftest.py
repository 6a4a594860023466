"""Shared fixtures: free ports, a real rotel collector, a real Prometheus, promtool.

Tests that need rotel or Prometheus fail (never skip) when CI=true and the tool is missing: the
project's own setup (.ci/run, the test extra) installs both.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

ANSI = re.compile(r"\x1b\[[0-9;]*m")


_handed_out: set[int] = set()


def free_port() -> int:
    """A free TCP port on 127.0.0.1 for a server the test cannot hand a socket to (rotel, Prometheus).

    Ports come from below the kernel's ephemeral range (so no ``bind(0)`` elsewhere can take them
    in between) and from a block of their own per xdist worker (so two workers never pick the same
    one); each is checked free and never handed out twice in a process. ``OTELSVC_TEST_PORT_BASE``
    moves the blocks, so that test runs from several checkouts on one machine do not share ports.
    """
    import random

    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    index = int(worker[2:]) if worker[2:].isdigit() else 0
    low = int(os.environ.get("OTELSVC_TEST_PORT_BASE", "20000")) + (index % 8) * 1500
    rng = random.Random()
    for _ in range(200):
        port = rng.randrange(low, low + 1500)
        if port in _handed_out:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        _handed_out.add(port)
        return port
    raise RuntimeError("no free port found")


def wait_until(predicate: Callable[[], Any], timeout: float = 15.0, interval: float = 0.05) -> Any:
    """Poll ``predicate`` until it returns a truthy value; fail the test after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"condition not met within {timeout}s")
        time.sleep(interval)


def _need(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        if os.environ.get("CI"):
            pytest.fail(f"{tool} is required in CI (installed by .ci/run) but was not found")
        pytest.skip(f"{tool} not installed (run .ci/run or apt-get install prometheus)")
    return path


def rotel_binary() -> str:
    try:
        import rotel
    except ImportError:
        if os.environ.get("CI"):
            pytest.fail("rotel is required in CI (pip install -e '.[test]')")
        pytest.skip("rotel not installed (pip install -e '.[test]')")
    path = Path(rotel.__file__).parent / "rotel-agent"
    assert path.exists(), f"rotel-agent missing at {path}"
    return str(path)


# ---------------------------------------------------------------------------------------------
# rotel: a real OTLP collector printing what it receives


@dataclass
class Point:
    attributes: dict[str, str]
    value: float | None = None
    count: int | None = None
    sum: float | None = None
    buckets: list[int] = field(default_factory=list)
    bounds: list[float] = field(default_factory=list)
    exemplars: list[dict[str, str]] = field(default_factory=list)


@dataclass
class ReceivedMetric:
    name: str
    resource: dict[str, str]
    scope: str
    unit: str = ""
    kind: str = ""
    temporality: str = ""
    points: list[Point] = field(default_factory=list)


def _attr(line: str) -> tuple[str, str] | None:
    m = re.match(r"\s*-> ([^:]+): \w+\((.*)\)\s*$", line)
    return (m.group(1), m.group(2)) if m else None


def parse_rotel(text: str) -> tuple[list[ReceivedMetric], list[dict[str, Any]]]:
    """Metrics and spans from rotel's detailed debug log."""
    metrics: list[ReceivedMetric] = []
    spans: list[dict[str, Any]] = []
    resource: dict[str, str] = {}
    scope = ""
    section = ""
    current: ReceivedMetric | None = None
    point: Point | None = None
    for raw in ANSI.sub("", text).splitlines():
        line = raw.rstrip()
        if line.startswith("ResourceMetrics #") or line.startswith("ResourceSpans #"):
            resource, section, current, point = {}, "resource", None, None
        elif line.startswith("Resource attributes:"):
            section = "resource"
        elif line.startswith("InstrumentationScope "):
            scope = line.split(" ", 2)[1]
            section = "scope"
        elif line.startswith("Metric #"):
            current = ReceivedMetric(name="", resource=dict(resource), scope=scope)
            metrics.append(current)
            point, section = None, "descriptor"
        elif line.startswith("Span #"):
            spans.append({"resource": dict(resource), "scope": scope})
            section = "span"
        elif section == "span" and line.strip().startswith("Name"):
            spans[-1]["name"] = line.split(":", 1)[1].strip()
        elif section == "span" and (m := re.match(r"\s*(Trace ID|ID)\s*: (\w*)$", line)):
            spans[-1]["trace_id" if m.group(1) == "Trace ID" else "span_id"] = m.group(2)
        elif re.match(r"(Number|Histogram)DataPoints #", line) and current is not None:
            point = Point(attributes={})
            current.points.append(point)
            section = "point"
        elif section == "resource" and (kv := _attr(line)):
            resource[kv[0]] = kv[1]
        elif section == "descriptor" and current is not None and (m := re.match(r"\s*-> (\w+): (.*)$", line)):
            key, value = m.group(1), m.group(2).strip()
            if key == "Name":
                current.name = value
            elif key == "Unit":
                current.unit = value
            elif key == "DataType":
                current.kind = value
            elif key == "AggregationTemporality":
                current.temporality = value
        elif section == "point" and point is not None:
            if line.startswith("Exemplar #"):
                point.exemplars.append({})
            elif point.exemplars and (m := re.match(r"\s*-> (Trace ID|Span ID|Value): (\S+)$", line)):
                point.exemplars[-1][m.group(1)] = m.group(2)
            elif kv := _attr(line):
                point.attributes[kv[0]] = kv[1]
            elif line.startswith("Value: "):
                point.value = float(line.split(": ", 1)[1])
            elif line.startswith("Count: "):
                point.count = int(line.split(": ", 1)[1])
            elif line.startswith("Sum: "):
                point.sum = float(line.split(": ", 1)[1])
            elif m := re.match(r"ExplicitBounds #\d+: (.*)", line):
                point.bounds.append(float(m.group(1)))
            elif m := re.match(r"Buckets #\d+, Count: (\d+)", line):
                point.buckets.append(int(m.group(1)))
    return metrics, spans


class Rotel:
    """A running rotel-agent on free loopback ports, printing every metric and span it receives."""

    def __init__(self, tmp: Path) -> None:
        self.grpc_port = free_port()
        self.http_port = free_port()
        self.out_path = tmp / f"rotel-{self.grpc_port}.out"
        self.pid_file = tmp / f"rotel-{self.grpc_port}.pid"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def grpc_endpoint(self) -> str:
        return f"http://127.0.0.1:{self.grpc_port}"

    @property
    def http_endpoint(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def endpoint(self, protocol: str) -> str:
        return self.grpc_endpoint if protocol == "grpc" else self.http_endpoint

    def start(self) -> None:
        out = open(self.out_path, "ab")  # noqa: SIM115 - kept open for the child's lifetime
        self.proc = subprocess.Popen(
            [
                rotel_binary(),
                "start",
                "--exporter",
                "blackhole",
                "--debug-log",
                "metrics",
                "--debug-log",
                "traces",
                "--debug-log",
                "logs",
                "--debug-log-verbosity",
                "detailed",
                "--otlp-grpc-endpoint",
                f"127.0.0.1:{self.grpc_port}",
                "--otlp-http-endpoint",
                f"127.0.0.1:{self.http_port}",
                "--pid-file",
                str(self.pid_file),
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        out.close()

        def listening() -> bool:
            for port in (self.grpc_port, self.http_port):
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                except OSError:
                    return False
            return True

        wait_until(listening, timeout=15)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None

    def text(self) -> str:
        return self.out_path.read_text(errors="replace") if self.out_path.exists() else ""

    def metrics(self) -> list[ReceivedMetric]:
        return parse_rotel(self.text())[0]

    def spans(self) -> list[dict[str, Any]]:
        return parse_rotel(self.text())[1]

    def wait_metric(
        self, name: str, where: Callable[[ReceivedMetric], bool] = lambda m: True, timeout: float = 20.0
    ) -> ReceivedMetric:
        def found() -> ReceivedMetric | None:
            for metric in reversed(self.metrics()):
                if metric.name == name and where(metric):
                    return metric
            return None

        result: ReceivedMetric = wait_until(found, timeout=timeout)
        return result


@pytest.fixture
def rotel(tmp_path: Path) -> Iterator[Rotel]:
    collector = Rotel(tmp_path)
    collector.start()
    try:
        yield collector
    finally:
        collector.stop()


# ---------------------------------------------------------------------------------------------
# Prometheus: a real server scraping a target, queried over its HTTP API


class Prometheus:
    """A Prometheus server scraping one target every second (or every ``interval``), with optional rules."""

    def __init__(
        self,
        tmp: Path,
        target: str,
        token: str | None = None,
        scheme: str = "http",
        rules: Path | None = None,
        interval: str = "1s",
        flags: Sequence[str] = (),
    ) -> None:
        self.binary = _need("prometheus")
        self.port = free_port()
        self.dir = tmp / f"prom-{self.port}"
        self.dir.mkdir()
        auth = f"    authorization:\n      credentials: {json.dumps(token)}\n" if token else ""
        tls = "    tls_config:\n      insecure_skip_verify: true\n" if scheme == "https" else ""
        (self.dir / "prometheus.yml").write_text(
            f"global:\n  scrape_interval: {interval}\n  scrape_timeout: {interval}\n  evaluation_interval: 1s\n"
            + (f"rule_files: [{json.dumps(str(rules))}]\n" if rules is not None else "")
            + "scrape_configs:\n  - job_name: otelsvc\n"
            f"    scheme: {scheme}\n{auth}{tls}"
            f"    static_configs:\n      - targets: ['{target}']\n"
        )
        self.proc = subprocess.Popen(
            [
                self.binary,
                f"--config.file={self.dir / 'prometheus.yml'}",
                f"--storage.tsdb.path={self.dir / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                *flags,
            ],
            stdout=open(self.dir / "log", "wb"),  # noqa: SIM115
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )

        def ready() -> bool:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/-/ready", timeout=1) as r:
                    return bool(r.status == 200)
            except OSError:
                return False

        wait_until(ready, timeout=30, interval=0.2)

    def query(self, expr: str) -> list[dict[str, Any]]:
        url = f"http://127.0.0.1:{self.port}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
        with urllib.request.urlopen(url, timeout=5) as r:
            payload = json.load(r)
        assert payload["status"] == "success", payload
        result: list[dict[str, Any]] = payload["data"]["result"]
        return result

    def query_exemplars(self, expr: str, start: float, end: float) -> list[dict[str, Any]]:
        """``/api/v1/query_exemplars`` (needs ``--enable-feature=exemplar-storage``)."""
        query = urllib.parse.urlencode({"query": expr, "start": f"{start:.3f}", "end": f"{end:.3f}"})
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/api/v1/query_exemplars?{query}", timeout=5) as r:
            payload = json.load(r)
        assert payload["status"] == "success", payload
        result: list[dict[str, Any]] = payload["data"]
        return result

    def wait_value(self, expr: str, predicate: Callable[[float], bool], timeout: float = 30.0) -> float:
        def check() -> float | None:
            for row in self.query(expr):
                value = float(row["value"][1])
                if predicate(value):
                    return value if value else 1e-300
            return None

        return float(wait_until(check, timeout=timeout, interval=0.25))

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


@pytest.fixture
def prometheus_factory(tmp_path: Path) -> Iterator[Callable[..., Prometheus]]:
    servers: list[Prometheus] = []

    def make(
        target: str,
        token: str | None = None,
        scheme: str = "http",
        rules: Path | None = None,
        interval: str = "1s",
        flags: Sequence[str] = (),
    ) -> Prometheus:
        server = Prometheus(tmp_path, target, token, scheme, rules, interval, flags)
        servers.append(server)
        return server

    try:
        yield make
    finally:
        for server in servers:
            server.stop()


@pytest.fixture
def promtool() -> Callable[[bytes], subprocess.CompletedProcess[bytes]]:
    """Run ``promtool check metrics`` on an exposition; returns the completed process."""
    binary = _need("promtool")

    def check(exposition: bytes) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run([binary, "check", "metrics"], input=exposition, capture_output=True, timeout=30)

    return check


@pytest.fixture
def python() -> str:
    return sys.executable


# The core tests: every place otelsvc meets the OTel SDK (providers, readers, the bridge, the push,
# the scrape, fork and shutdown). The SDK/Python matrix (noxfile.py) runs them in each cell, and the
# whole suite in one; `pytest -m core` runs them alone.
CORE_MODULES = frozenset(
    {
        "test_sdk_internals.py",
        "test_guard.py",
        "test_scrape.py",
        "test_push.py",
        "test_equivalence.py",
        "test_exactness.py",
        "test_shutdown.py",
        "test_public_api.py",
        "test_fork.py",
        "test_api_fast.py",
        "test_api_fast_fallback.py",
    }
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if item.path.name in CORE_MODULES:
            item.add_marker(pytest.mark.core)
