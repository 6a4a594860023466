"""``otelsvc demo``: a simulated service that records every instrument family through otelsvc."""

from __future__ import annotations

import argparse
import os
import random
import signal
import sys
import threading
import time
from types import FrameType
from typing import Any

from otelsvc._redact import redact_url

__all__ = ["run_demo"]


def _settings(args: argparse.Namespace) -> dict[str, Any]:
    settings: dict[str, Any] = {}
    if args.service_name is not None:
        settings["service_name"] = args.service_name
    elif "OTEL_SERVICE_NAME" not in os.environ and "OTELSVC_SERVICE_NAME" not in os.environ:
        settings["service_name"] = "otelsvc-demo"
    for flag in ("prometheus", "otlp_endpoint", "otlp_protocol", "export_interval", "metrics_token"):
        value = getattr(args, flag)
        if value is not None:
            settings[flag] = value
    return settings


def _say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def run_demo(args: argparse.Namespace) -> int:
    """Run until --duration passes or SIGINT/SIGTERM arrives; exit 0 after a clean shutdown."""
    import otelsvc

    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        guard = otelsvc.start(**_settings(args))
    except otelsvc.ConfigError as exc:
        sys.stderr.write(f"otelsvc demo: {exc}\n")
        return 2
    if guard.prometheus_url:
        _say(f"metrics: {guard.prometheus_url}")
    signal_settings = guard.settings.otlp_metrics or guard.settings.otlp_traces
    if signal_settings is not None:
        _say(f"otlp: {redact_url(signal_settings.endpoint)} ({signal_settings.protocol})")
    rng = random.Random(42)
    simulation: Any = None
    try:
        from otelsvc.instruments._simulate import Simulation

        simulation = Simulation(guard, rng=rng)
    except ImportError:
        simulation = None
    ticks = guard.bridge.instrument("demo.ticks", "counter", "{tick}", "Simulation steps run by the demo").bind()
    tracer = guard.tracer("otelsvc.demo")
    started = time.monotonic()
    next_progress = started + args.progress_every
    steps = 0
    try:
        while not stop.is_set():
            with tracer.start_as_current_span("demo.step"):
                if simulation is not None:
                    simulation.step()
                ticks.add()
            steps += 1
            now = time.monotonic()
            if args.duration is not None and now - started >= args.duration:
                break
            if now >= next_progress:
                next_progress = now + args.progress_every
                push = guard.exporters.get("metrics")
                pushed = (f", push: last ok {push.last_success is not None}, "
                          f"{push.consecutive_failures} failure(s) in a row" if push is not None else "")
                _say(f"demo: {now - started:.0f}s, {steps} steps, state {guard.state}{pushed}")
            stop.wait(0.1)
    finally:
        ok = guard.shutdown()
        _say(f"demo: stopped after {time.monotonic() - started:.1f}s ({steps} steps); flushed={ok}")
    return 0
