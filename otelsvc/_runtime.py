"""Process and runtime metrics (CPU, memory, open fds, threads, GC, Python version) as observable
instruments, so that both readers see them at each collection."""

from __future__ import annotations

import gc
import os
import platform
import sys
import threading
import time
from collections.abc import Iterable

from opentelemetry.metrics import CallbackOptions, Meter, Observation

__all__ = ["process_start_time", "register_runtime_metrics"]

_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
_IMPORTED = time.time()
_started: tuple[int, float] | None = None  # (pid, start in time.time() seconds), re-read after a fork


def _boot_clock() -> float:
    """Seconds since boot, on the clock /proc/<pid>/stat start times count from."""
    try:
        return time.clock_gettime(time.CLOCK_BOOTTIME)  # type: ignore[attr-defined,unused-ignore]
    except (AttributeError, OSError):
        with open("/proc/uptime") as fh:
            return float(fh.read().split()[0])


def process_start_time() -> float:
    """When this process started, as a ``time.time()`` value: from /proc/self/stat (field 22, clock
    ticks after boot), so a forked child counts from its fork; the import time where /proc is absent."""
    global _started
    pid = os.getpid()
    if _started is not None and _started[0] == pid:
        return _started[1]
    try:
        with open("/proc/self/stat") as fh:
            stat = fh.read()
        # The command name (field 2) may hold spaces and parentheses: fields restart after the last ")".
        ticks = int(stat[stat.rindex(")") + 2:].split()[19])
        start = time.time() - (_boot_clock() - ticks / os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError, IndexError):
        start = _IMPORTED
    _started = (pid, start)
    return start


def _cpu(options: CallbackOptions) -> Iterable[Observation]:
    times = os.times()
    yield Observation(times.user, {"cpu.mode": "user"})
    yield Observation(times.system, {"cpu.mode": "system"})


def _statm() -> tuple[int, int] | None:
    try:
        with open("/proc/self/statm") as fh:
            fields = fh.read().split()
        return int(fields[1]) * _PAGE, int(fields[0]) * _PAGE
    except (OSError, ValueError, IndexError):
        return None


def _rss(options: CallbackOptions) -> Iterable[Observation]:
    mem = _statm()
    if mem is not None:
        yield Observation(mem[0])


def _virtual(options: CallbackOptions) -> Iterable[Observation]:
    mem = _statm()
    if mem is not None:
        yield Observation(mem[1])


def _fds(options: CallbackOptions) -> Iterable[Observation]:
    try:
        yield Observation(len(os.listdir("/proc/self/fd")))
    except OSError:
        return


def _threads(options: CallbackOptions) -> Iterable[Observation]:
    yield Observation(threading.active_count())


def _gc_field(name: str) -> object:
    def callback(options: CallbackOptions) -> Iterable[Observation]:
        for generation, stats in enumerate(gc.get_stats()):
            yield Observation(stats[name], {"cpython.gc.generation": generation})

    return callback


def _uptime(options: CallbackOptions) -> Iterable[Observation]:
    yield Observation(max(0.0, time.time() - process_start_time()))


def _info(options: CallbackOptions) -> Iterable[Observation]:
    v = sys.version_info
    yield Observation(
        1,
        {
            "implementation": platform.python_implementation(),
            "version": platform.python_version(),
            "major": str(v.major),
            "minor": str(v.minor),
            "patchlevel": str(v.micro),
        },
    )


def register_runtime_metrics(meter: Meter) -> None:
    """Create the observable process and runtime instruments on ``meter``."""
    meter.create_observable_counter("process.cpu.time", [_cpu], unit="s", description="CPU seconds used by the process")
    meter.create_observable_up_down_counter(
        "process.memory.usage", [_rss], unit="By", description="Resident memory of the process"
    )
    meter.create_observable_up_down_counter(
        "process.memory.virtual", [_virtual], unit="By", description="Virtual memory of the process"
    )
    meter.create_observable_up_down_counter(
        "process.open_fds", [_fds], unit="{file_descriptor}",
        description="Open file descriptors (named as prometheus_client does: promtool rejects a _count suffix)"
    )
    meter.create_observable_up_down_counter(
        "process.threads", [_threads], unit="{thread}", description="Live Python threads"
    )
    meter.create_observable_gauge(
        "process.uptime", [_uptime], unit="s", description="Seconds since the process started"
    )
    meter.create_observable_counter(
        "cpython.gc.collections", [_gc_field("collections")], unit="{collection}",  # type: ignore[list-item]
        description="Garbage collections, per generation",
    )
    meter.create_observable_counter(
        "cpython.gc.collected_objects", [_gc_field("collected")], unit="{object}",  # type: ignore[list-item]
        description="Objects collected by the garbage collector, per generation",
    )
    meter.create_observable_counter(
        "cpython.gc.uncollectable_objects", [_gc_field("uncollectable")], unit="{object}",  # type: ignore[list-item]
        description="Uncollectable objects found by the garbage collector, per generation",
    )
    meter.create_observable_gauge("python.info", [_info], description="Python runtime information (value is 1)")
