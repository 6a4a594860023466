"""A plain os.fork() worker pool under one guard: exact sums through recycles, live-only up-down counts,
per-slot gauges, a stopped worker that does not hold the scrape, SIGKILL losing at most one interval."""

from __future__ import annotations

import os
import re
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import wait_until

import otelsvc
from otelsvc import ProviderGuard


def sample(text: str, name: str, **labels: str) -> float | None:
    found = None
    for m in re.finditer(rf"^{re.escape(name)}(?:{{([^}}]*)}})? (\S+)$", text, re.M):
        have = dict(re.findall(r'(\w+)="([^"]*)"', m.group(1) or ""))
        if all(have.get(k) == v for k, v in labels.items()):
            found = (found or 0.0) + float(m.group(2))
    return found


@pytest.fixture
def guard(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[ProviderGuard]:
    short = Path("/tmp") / f"otelsvc-pf-{os.getpid()}-{tmp_path.name[-8:]}"
    short.mkdir(mode=0o700)
    monkeypatch.setenv("OTELSVC_PREFORK_DIR", str(short))
    g = otelsvc.start(service_name="pool", prometheus="127.0.0.1:0", set_global=False, runtime_metrics=False)
    try:
        yield g
    finally:
        g.shutdown()
        assert not any(short.iterdir()), list(short.iterdir())
        short.rmdir()


class Child:
    """A forked worker that records ``count`` requests, then waits for a byte before leaving."""

    def __init__(self, guard: ProviderGuard, count: int, gauge: float = 0.0) -> None:
        self.go_r, self.go_w = os.pipe()
        self.done_r, self.done_w = os.pipe()
        pid = os.fork()
        if pid == 0:
            code = 0
            try:
                os.close(self.go_w)
                os.close(self.done_r)
                handle = guard.counter("jobs", labels=("kind",), description="Jobs").bind("a")
                hist = guard.histogram("job.seconds", buckets=[0.1, 1.0], unit="s", description="Job time").bind()
                busy = guard.up_down_counter("jobs.busy", description="Busy").bind()
                depth = guard.gauge("queue.depth", description="Depth").bind()
                sdk = guard.meter("pool").create_counter("sdk.jobs", description="Jobs")
                for _ in range(count):
                    handle.add(1)
                    hist.record(0.5)
                    sdk.add(1)
                busy.add(1)
                depth.set(gauge)
                os.write(self.done_w, b"r")
                os.read(self.go_r, 1)
                guard.shutdown()
            except BaseException:
                code = 1
            os._exit(code)
        self.pid = pid
        os.close(self.go_r)
        os.close(self.done_w)
        assert os.read(self.done_r, 1) == b"r"

    def finish(self) -> int:
        os.write(self.go_w, b"x")
        _, status = os.waitpid(self.pid, 0)
        os.close(self.go_w)
        os.close(self.done_r)
        return status

    def kill(self) -> None:
        os.kill(self.pid, signal.SIGKILL)
        os.waitpid(self.pid, 0)
        os.close(self.go_w)
        os.close(self.done_r)


@pytest.mark.parametrize(
    "recycles",
    [
        50,
        pytest.param(
            1000,
            marks=[
                pytest.mark.slow,
                pytest.mark.skipif(
                    not os.environ.get("OTELSVC_SLOW"), reason="long form: OTELSVC_SLOW=1 pytest -m slow"
                ),
            ],
        ),
    ],
)
def test_recycles_then_twenty_exact_scrapes(guard: ProviderGuard, recycles: int) -> None:
    total = 0
    fds_before = len(os.listdir("/proc/self/fd"))
    files_before = sorted(Path(os.environ["OTELSVC_PREFORK_DIR"]).iterdir())
    for i in range(recycles):
        child = Child(guard, count=i % 50 + 1)
        total += i % 50 + 1
        assert child.finish() == 0
    for _ in range(20):
        text = guard.render_metrics().decode()
        assert sample(text, "jobs_total", kind="a") == total
        assert sample(text, "sdk_jobs_total") == total
        assert sample(text, "job_seconds_count") == total
        assert sample(text, "job_seconds_bucket", le="1.0") == total
        assert sample(text, "jobs_busy") in (None, 0.0)  # every worker left: nothing busy
        assert sample(text, "queue_depth") is None  # gauges are per live worker
    assert len(os.listdir("/proc/self/fd")) <= fds_before + 1  # no socket left per dead worker
    assert sorted(Path(os.environ["OTELSVC_PREFORK_DIR"]).iterdir()) == files_before  # no file per worker


def test_a_worker_still_in_the_listen_backlog_is_in_the_next_scrape(guard: ProviderGuard) -> None:
    hub = guard._prefork.hub
    assert hub is not None
    hub._selector.unregister(hub._listener)  # the hub thread no longer accepts: only a scrape does
    child = Child(guard, count=7)  # connected (the kernel queued it) before the scrape began
    assert sample(guard.render_metrics().decode(), "jobs_total") == 7
    assert child.finish() == 0


def test_live_workers_are_fresh_per_slot_and_updown_follows_them(guard: ProviderGuard) -> None:
    children = [Child(guard, count=10, gauge=float(i)) for i in range(4)]
    text = guard.render_metrics().decode()  # recorded before the scrape started: in it (pulled, not periodic)
    assert sample(text, "jobs_total") == 40
    assert sample(text, "jobs_busy") == 4
    slots = sorted(re.findall(r'^queue_depth\{[^}]*worker_slot="(\d+)"', text, re.M))
    assert slots == ["0", "1", "2", "3"]
    assert children[0].finish() == 0
    text = guard.render_metrics().decode()
    assert sample(text, "jobs_total") == 40 and sample(text, "jobs_busy") == 3
    assert len(re.findall(r"^queue_depth\{", text, re.M)) == 3
    replacement = Child(guard, count=1)  # takes the freed slot: recycles do not grow the series
    text = guard.render_metrics().decode()
    assert sorted(re.findall(r'^queue_depth\{[^}]*worker_slot="(\d+)"', text, re.M)) == ["0", "1", "2", "3"]
    for child in [*children[1:], replacement]:
        assert child.finish() == 0
    assert sample(guard.render_metrics().decode(), "jobs_total") == 41


def test_a_stopped_worker_does_not_hold_the_scrape(guard: ProviderGuard) -> None:
    stuck, fine = Child(guard, count=7), Child(guard, count=3)
    assert sample(guard.render_metrics().decode(), "jobs_total") == 10
    os.kill(stuck.pid, signal.SIGSTOP)
    try:
        started = time.monotonic()
        text = guard.render_metrics().decode()
        elapsed = time.monotonic() - started
        assert sample(text, "jobs_total") == 10  # the stopped worker's last published counts are served
        assert elapsed < 5, elapsed  # it waited about GATHER_TIMEOUT (1 s), not for the worker
    finally:
        os.kill(stuck.pid, signal.SIGCONT)
    assert stuck.finish() == 0 and fine.finish() == 0
    assert sample(guard.render_metrics().decode(), "jobs_total") == 10


def test_sigkill_loses_at_most_the_unpublished_interval(guard: ProviderGuard) -> None:
    victim = Child(guard, count=25)
    assert sample(guard.render_metrics().decode(), "jobs_total") == 25  # published by the pull
    victim.kill()
    # once the hub sees the connection end, the worker's up-down count leaves and its totals stay
    text = wait_until(lambda: (t := guard.render_metrics().decode()) and sample(t, "jobs_busy") in (None, 0.0) and t)
    assert sample(text, "jobs_total") == 25  # what it published stays: no reset


def test_conflicting_declarations_log_one_error_and_stay_promtool_clean(
    guard: ProviderGuard, caplog: pytest.LogCaptureFixture, promtool: Any
) -> None:
    good = Child(guard, count=5)
    ready_r, ready_w = os.pipe()
    go_r, go_w = os.pipe()
    pid = os.fork()
    if pid == 0:  # this worker declares "jobs" as a gauge with a unit, and stays alive
        code = 0
        try:
            guard.gauge("jobs", unit="s", labels=("kind",), description="Jobs").bind("a").set(3)
            os.write(ready_w, b"r")
            os.read(go_r, 1)
            guard.shutdown()
        except BaseException as exc:
            os.write(2, f"conflicting worker failed: {exc!r}\n".encode())
            code = 1
        os._exit(code)
    os.close(ready_w)
    os.close(go_r)
    assert os.read(ready_r, 1) == b"r"
    with caplog.at_level("ERROR", logger="otelsvc"):
        texts = [guard.render_metrics() for _ in range(3)]
    assert sample(texts[-1].decode(), "jobs_total") == 5
    errors = [r for r in caplog.records if "declare metric 'jobs' differently" in r.getMessage()]
    assert len(errors) == 1, [r.getMessage() for r in caplog.records]
    result = promtool(texts[-1])
    assert result.returncode == 0, result.stdout + result.stderr
    os.write(go_w, b"x")
    assert os.waitpid(pid, 0)[1] == 0
    assert good.finish() == 0
    for fd in (ready_r, go_w):
        os.close(fd)


def _child_scrape(guard: ProviderGuard, count: int) -> tuple[int, bytes]:
    """Fork a worker that records ``count`` jobs, then answers one /metrics request as its mounted app would."""
    out_r, out_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        code = 0
        try:
            os.close(out_r)
            guard.counter("jobs", labels=("kind",), description="Jobs").bind("a").add(count)
            response = guard.routes.handle("GET", "/metrics", {})
            os.write(out_w, b"%d\n" % response.status + response.body)
            guard.shutdown()
        except BaseException as exc:
            os.write(2, f"mounted worker failed: {exc!r}\n".encode())
            code = 1
        os._exit(code)
    os.close(out_w)
    chunks = []
    while chunk := os.read(out_r, 1 << 16):
        chunks.append(chunk)
    os.close(out_r)
    assert os.waitpid(pid, 0)[1] == 0
    status, _, body = b"".join(chunks).partition(b"\n")
    return int(status), body


def test_a_mounted_worker_serves_the_whole_run_or_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    short = Path("/tmp") / f"otelsvc-pf-{os.getpid()}-m{tmp_path.name[-8:]}"
    short.mkdir(mode=0o700)
    monkeypatch.setenv("OTELSVC_PREFORK_DIR", str(short))
    guard = otelsvc.start(
        service_name="mounted", prometheus="127.0.0.1:0", builtin_server=False, set_global=False, runtime_metrics=False
    )
    try:
        assert guard.prometheus_address is None  # nothing binds: the app serves the metrics
        first = Child(guard, count=7)  # another live worker
        status, body = _child_scrape(guard, 5)
        assert status == 200
        assert sample(body.decode(), "jobs_total") == 12  # both workers, through the asking worker's own app
        hub = guard._prefork.hub
        assert hub is not None

        def broken(openmetrics: bool) -> bytes:
            raise OSError("disk on fire")

        hub.render = broken
        status, body = _child_scrape(guard, 1)
        assert status == 500  # never one worker's counts, which a scraper would read as a reset
        assert first.finish() == 0
    finally:
        guard.shutdown()
    assert not any(short.iterdir())
    short.rmdir()


def test_a_gauge_declared_summed_over_workers_is_one_series(guard: ProviderGuard) -> None:
    done_r, done_w = os.pipe()
    go_r, go_w = os.pipe()
    pids = []
    for value in (3.0, 4.0):
        pid = os.fork()
        if pid == 0:
            code = 0
            try:
                guard.gauge("pool.idle", prefork="sum", description="Idle connections").bind().set(value)
                os.write(done_w, b"r")
                os.read(go_r, 1)
                guard.shutdown()
            except BaseException:
                code = 1
            os._exit(code)
        pids.append(pid)
    assert os.read(done_r, 1) + os.read(done_r, 1) == b"rr"
    text = guard.render_metrics().decode()
    assert sample(text, "pool_idle") == 7.0
    assert len(re.findall(r"^pool_idle\{", text, re.M)) == 1 and "worker_slot" not in text.split("pool_idle")[-1]
    os.write(go_w, b"xx")
    assert all(os.waitpid(pid, 0)[1] == 0 for pid in pids)
    for fd in (done_r, done_w, go_r, go_w):
        os.close(fd)
    with pytest.raises(ValueError, match="gauge aggregation"):
        guard.gauge("pool.busy", prefork="average")  # type: ignore[arg-type]
