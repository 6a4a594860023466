"""Real pre-fork servers: one scrape covers every worker, exactly, through worker recycles.

gunicorn (sync, gthread and uvicorn worker classes, with and without --preload) and uvicorn --workers.
The short forms recycle workers every few requests (``--max-requests``); the slow form does 50+
recycles with 4 workers (``pytest -m slow tests/prefork``).
"""

from __future__ import annotations

import itertools
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import free_port, wait_until

HERE = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent


def _tool(name: str) -> str:
    found = shutil.which(name, path=str(BIN)) or shutil.which(name)
    assert found, f"{name} comes with the test extra"
    return found


def sample(text: str, name: str) -> float | None:
    """The sum of the samples of ``name`` (any labels) in an exposition, or None when absent."""
    values = [float(m.group(1)) for m in re.finditer(rf"^{re.escape(name)}(?:{{[^}}]*}})? (\S+)$", text, re.M)]
    return sum(values) if values else None


class Server:
    """A pre-fork server process with its app port, its Prometheus address and a private prefork directory."""

    def __init__(
        self,
        argv: list[str],
        app_port: int,
        metrics_port: int,
        tmp: Path,
        directory: Path | None = None,
        service: str = "prefork-test",
    ) -> None:
        self.app_port = app_port
        self.metrics_url = f"http://127.0.0.1:{metrics_port}/metrics"
        # short: unix socket paths are limited
        self.dir = directory if directory is not None else Path(tempfile.mkdtemp(prefix="otelsvc-pf-"))
        self.env = {
            **os.environ,
            "PREFORK_TEST_SERVICE": service,
            "OTELSVC_PROMETHEUS": f"127.0.0.1:{metrics_port}",
            "OTELSVC_PREFORK_DIR": str(self.dir),
            "OTEL_METRICS_EXPORTER": "none",
            "OTEL_TRACES_EXPORTER": "none",
            "PYTHONPATH": str(HERE),
        }
        self.log_path = tmp / f"server-{app_port}.log"
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(argv, env=self.env, cwd=HERE, stdout=log, stderr=subprocess.STDOUT)

    def get(self) -> int | None:
        assert self.proc.poll() is None, self.output()
        for _ in range(3):
            try:
                r = httpx.get(f"http://127.0.0.1:{self.app_port}/", timeout=10)
                break
            except httpx.RemoteProtocolError:
                # A uvicorn worker that reached --max-requests closes connections it accepted but never
                # read (gunicorn's recycle race, "disconnected without sending a response"): the request
                # never ran, so a client retries it, as a load balancer would.
                continue
            except httpx.HTTPError:
                return None
        else:
            return None
        return int(r.text) if r.status_code == 200 else None

    def scrape(self) -> str:
        r = httpx.get(self.metrics_url, timeout=10, headers={"Connection": "close"})  # any worker may answer
        assert r.status_code == 200, r.text
        return r.text

    def output(self) -> str:
        return self.log_path.read_bytes().decode(errors="replace")[-4000:]

    def stop(self) -> int:
        """SIGTERM the master; returns its exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=60)

    def cleanup(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)


def gunicorn(worker_class: str, preload: bool, workers: int = 4, max_requests: int = 5) -> Callable[..., list[str]]:
    def argv(app_port: int) -> list[str]:
        module = "prefork_asgi_app:app" if worker_class == "uvicorn_worker.UvicornWorker" else "prefork_wsgi_app:app"
        out = [
            _tool("gunicorn"),
            "-w",
            str(workers),
            "-k",
            worker_class,
            "-b",
            f"127.0.0.1:{app_port}",
            "--max-requests",
            str(max_requests),
            "--graceful-timeout",
            "10",
            "--no-control-socket",
        ]
        return [*out, *(["--preload"] if preload else []), module]

    return argv


def uvicorn_workers(app_port: int) -> list[str]:
    return [
        _tool("uvicorn"),
        "--workers",
        "2",
        "--port",
        str(app_port),
        "--host",
        "127.0.0.1",
        "--no-access-log",
        "prefork_asgi_app:app",
    ]


def run_exact(
    argv: Callable[[int], list[str]],
    tmp: Path,
    promtool: Callable[[bytes], Any],
    requests: int,
    metric_names: tuple[str, ...] = ("example_requests_total",),
    mounted: bool = False,
) -> dict[str, Any]:
    """Serve ``requests`` requests, then 20 scrapes must each read exactly that many; stop cleanly.

    ``mounted``: the app serves /telemetry/metrics itself (``builtin_server=False``), on the app port."""
    app_port, metrics_port = free_port(), free_port()
    server = Server(argv(app_port), app_port, metrics_port, tmp)
    if mounted:
        server.metrics_url = f"http://127.0.0.1:{app_port}/telemetry/metrics"
    pids: set[int] = set()
    try:
        first = wait_until(server.get, timeout=60, interval=0.2)
        pids.add(first)
        for _ in range(requests - 1):
            pid = server.get()
            assert pid is not None, server.output()
            pids.add(pid)
        for _ in range(20):
            text = server.scrape()
            for name in metric_names:
                assert sample(text, name) == requests, (name, text[-3000:], server.output())
        result = promtool(text.encode())
        assert result.returncode == 0, result.stdout + result.stderr
        slots = {int(s) for s in re.findall(r'worker_slot="(\d+)"', text)}
    finally:
        status = server.stop()
    assert status == 0, server.output()
    # the run's sockets and records are gone with it (the sidecar exits after the master)
    wait_until(lambda: not any(server.dir.iterdir()), timeout=15)
    server.cleanup()
    return {"pids": pids, "slots": slots, "text": text, "output": server.output()}


HTTP_COUNT = "http_server_request_duration_seconds_count"


LONG = [pytest.mark.slow, pytest.mark.skipif(not os.environ.get("OTELSVC_SLOW"), reason="OTELSVC_SLOW=1 -m slow")]


@pytest.mark.parametrize(
    ("worker_class", "preload"),
    [
        ("sync", False),
        ("sync", True),
        ("gthread", False),
        pytest.param("gthread", True, marks=LONG),
        ("uvicorn_worker.UvicornWorker", False),
        ("uvicorn_worker.UvicornWorker", True),
    ],
)
def test_gunicorn_every_scrape_counts_every_worker_through_recycles(
    tmp_path: Path, promtool: Callable[[bytes], Any], worker_class: str, preload: bool
) -> None:
    got = run_exact(gunicorn(worker_class, preload), tmp_path, promtool, 40, ("example_requests_total", HTTP_COUNT))
    assert len(got["pids"]) > 4, "max_requests recycled the workers"
    # gauges are per live worker, on a bounded slot label: recycles reuse slots
    assert got["slots"] and max(got["slots"]) < 8, got["slots"]
    assert "Worker failed to boot" not in got["output"]


def _mounted(argv: list[str]) -> list[str]:
    return [*argv[:-1], argv[-1].replace("prefork_asgi_app", "prefork_mounted_app")]


@pytest.mark.parametrize(
    "server",
    [
        "uvicorn --workers 2",
        "gunicorn uvicorn worker",
        "gunicorn uvicorn worker --preload",
    ],
)
def test_metrics_mounted_in_the_app_serve_every_worker_from_any_worker(
    tmp_path: Path, promtool: Callable[[bytes], Any], server: str
) -> None:
    if server.startswith("uvicorn"):
        argv: Callable[[int], list[str]] = lambda port: _mounted(uvicorn_workers(port))  # noqa: E731
    else:
        # recycles are the builtin-server tests' subject; here every scrape is a request too
        base = gunicorn("uvicorn_worker.UvicornWorker", "--preload" in server, max_requests=10_000)
        argv = lambda port: _mounted(base(port))  # noqa: E731
    got = run_exact(argv, tmp_path, promtool, 30, ("example_requests_total", HTTP_COUNT), mounted=True)
    assert len(got["pids"]) >= 2, "both workers served requests"
    assert "/telemetry" not in got["text"]  # the scrapes themselves are not recorded
    assert "address already in use" not in got["output"].lower()


def test_uvicorn_workers_one_scrape_covers_both(tmp_path: Path, promtool: Callable[[bytes], Any]) -> None:
    got = run_exact(uvicorn_workers, tmp_path, promtool, 40, ("example_requests_total", HTTP_COUNT))
    assert "address already in use" not in got["output"].lower()


@pytest.mark.slow
@pytest.mark.skipif(not os.environ.get("OTELSVC_SLOW"), reason="long form: OTELSVC_SLOW=1 pytest -m slow")
@pytest.mark.parametrize("preload", [False, True])
def test_gunicorn_fifty_recycles_long_form(tmp_path: Path, promtool: Callable[[bytes], Any], preload: bool) -> None:
    got = run_exact(
        gunicorn("sync", preload, workers=4, max_requests=4),
        tmp_path,
        promtool,
        240,
        ("example_requests_total", HTTP_COUNT),
    )
    assert len(got["pids"]) >= 50
    assert max(got["slots"]) < 8


def test_up_down_counts_only_live_workers_and_gauges_one_series_each(
    tmp_path: Path, promtool: Callable[[bytes], Any]
) -> None:
    got = run_exact(gunicorn("sync", False, workers=2, max_requests=1000), tmp_path, promtool, 20)
    text = got["text"]
    # nothing is in flight after the requests completed, whichever workers served them
    assert sample(text, "example_open") in (None, 0.0)
    series = re.findall(r"^example_worker_pid\{([^}]*)\} (\S+)$", text, re.M)
    assert len(series) == len(got["pids"]) and all("worker_slot=" in labels for labels, _ in series), series
    assert {int(float(v)) for _, v in series} == got["pids"]
    assert json.dumps(sorted(got["slots"])) == "[0, 1]"
    # runtime metrics: one series set per worker slot, plus the serving process's own (no slot)
    cpu = re.findall(r'^process_cpu_time_seconds_total\{cpu_mode="user",[^}]*worker_slot="(\d*)"\}', text, re.M)
    assert sorted(cpu) == ["", "0", "1"], cpu


def test_real_prometheus_sees_no_reset_through_recycles(tmp_path: Path, prometheus_factory: Callable[..., Any]) -> None:
    app_port, metrics_port = free_port(), free_port()
    server = Server(gunicorn("sync", False, workers=4, max_requests=3)(app_port), app_port, metrics_port, tmp_path)
    try:
        assert wait_until(server.get, timeout=60, interval=0.2)  # the first request: the series exists from here
        prom = prometheus_factory(f"127.0.0.1:{metrics_port}")
        prom.wait_value("example_requests_total", lambda v: v == 1)
        sent = 0
        pids: set[int] = set()
        for _ in range(6):  # batches across several scrapes, workers recycling every 3 requests
            for _ in range(10):
                pid = server.get()
                assert pid is not None, server.output()
                pids.add(pid)
                sent += 1
            time.sleep(0.5)  # let scrapes land between batches (Prometheus scrapes every second)
        prom.wait_value("example_requests_total", lambda v: v == sent + 1)
        time.sleep(1.5)
        rows = prom.query("example_requests_total[10m]")
        assert len(rows) == 1, rows
        values = [float(v) for _, v in rows[0]["values"]]
        assert values[-1] - values[0] == sent, values
        assert all(b >= a for a, b in itertools.pairwise(values)), values
        assert float(prom.query("resets(example_requests_total[10m])")[0]["value"][1]) == 0
        assert len(pids) > 8, "workers were recycled during the run"
    finally:
        status = server.stop()
    assert status == 0, server.output()
    server.cleanup()


def test_the_gunicorn_example_shows_the_aggregated_scrape(tmp_path: Path, promtool: Callable[[bytes], Any]) -> None:
    examples = HERE.parents[1] / "examples"

    def argv(app_port: int) -> list[str]:
        return [
            _tool("gunicorn"),
            "--preload",
            "-w",
            "4",
            "--max-requests",
            "5",
            "-b",
            f"127.0.0.1:{app_port}",
            "--no-control-socket",
            "--chdir",
            str(examples),
            "gunicorn_app:app",
        ]

    app_port, metrics_port = free_port(), free_port()
    server = Server(argv(app_port), app_port, metrics_port, tmp_path)
    try:

        def get() -> bool:
            assert server.proc.poll() is None, server.output()
            try:
                return httpx.get(f"http://127.0.0.1:{app_port}/", timeout=10).status_code == 200
            except httpx.HTTPError:
                return False

        wait_until(get, timeout=60, interval=0.2)
        for _ in range(29):
            assert get()
        for _ in range(5):
            assert sample(server.scrape(), "example_requests_total") == 30
    finally:
        assert server.stop() == 0, server.output()
    server.cleanup()


def test_two_services_on_one_machine_never_mix(tmp_path: Path) -> None:
    shared = Path(tempfile.mkdtemp(prefix="otelsvc-pf-"))
    servers = []
    try:
        for service in ("alpha", "beta"):
            app_port, metrics_port = free_port(), free_port()
            servers.append(
                Server(
                    gunicorn("sync", False, workers=2, max_requests=1000)(app_port),
                    app_port,
                    metrics_port,
                    tmp_path,
                    shared,
                    service,
                )
            )
        for count, server in zip((7, 12), servers, strict=True):
            wait_until(server.get, timeout=60, interval=0.2)
            for _ in range(count - 1):
                assert server.get() is not None
        for count, server in zip((7, 12), servers, strict=True):
            text = server.scrape()
            assert sample(text, "example_requests_total") == count
            assert f'service_name="{"alpha" if count == 7 else "beta"}"' in text
    finally:
        statuses = [server.stop() for server in servers]
    assert statuses == [0, 0], [s.output() for s in servers]
    wait_until(lambda: not any(shared.iterdir()), timeout=15)
    shared.rmdir()


def test_a_killed_sidecar_is_replaced_and_live_workers_counts_return(
    tmp_path: Path, promtool: Callable[[bytes], Any]
) -> None:
    app_port, metrics_port = free_port(), free_port()
    server = Server(uvicorn_workers(app_port), app_port, metrics_port, tmp_path)
    try:
        wait_until(server.get, timeout=60, interval=0.2)
        for _ in range(19):
            assert server.get() is not None, server.output()
        assert sample(server.scrape(), "example_requests_total") == 20
        (record,) = [json.loads(p.read_text()) for p in server.dir.glob("*.json")]
        os.kill(int(record["pid"]), signal.SIGKILL)  # the sidecar: the run's serving process

        def scraped() -> str | None:
            try:
                text = server.scrape()
            except (httpx.HTTPError, AssertionError):
                return None
            return text if sample(text, "example_requests_total") == 20 else None

        # a worker notices, starts a new sidecar; both workers reconnect and publish their cumulative counts
        wait_until(scraped, timeout=30, interval=0.2)
        (replacement,) = [json.loads(p.read_text()) for p in server.dir.glob("*.json")]
        assert replacement["pid"] != record["pid"]
        for _ in range(10):
            assert server.get() is not None, server.output()
        text = server.scrape()
        assert sample(text, "example_requests_total") == 30
        assert promtool(text.encode()).returncode == 0
        assert "reconnected to the pre-fork hub" in server.output()
    finally:
        status = server.stop()
    assert status == 0, server.output()
    wait_until(lambda: not any(server.dir.iterdir()), timeout=15)
    server.cleanup()
