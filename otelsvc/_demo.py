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
from typing import TYPE_CHECKING, Any

from otelsvc._cli import positive_seconds
from otelsvc._redact import redact_url

if TYPE_CHECKING:
    from otelsvc._health import ExporterHealth

__all__ = ["HELP", "configure", "push_status", "run"]

HELP = "run a small simulated service that records every instrument family through otelsvc"


def configure(parser: argparse.ArgumentParser) -> None:
    """The flags of ``otelsvc demo``; each names the setting (keyword or variable) it stands for."""
    parser.add_argument("--duration", type=positive_seconds, default=None, metavar="SECONDS",
                        help="stop after this many seconds (default: run until Ctrl-C or SIGTERM)")
    parser.add_argument("--prometheus", metavar="HOST:PORT",
                        help='scrape endpoint address; port 0 picks a free port; "off" for none '
                             "(default: OTELSVC_PROMETHEUS, else 127.0.0.1:9464)")
    parser.add_argument("--otlp-endpoint", metavar="URL",
                        help="OTLP collector base URL to push metrics and spans to, e.g. http://127.0.0.1:4317 "
                             "(default: OTEL_EXPORTER_OTLP_ENDPOINT, else no push)")
    parser.add_argument("--otlp-protocol", choices=["grpc", "http/protobuf"],
                        help="OTLP transport (default: OTEL_EXPORTER_OTLP_PROTOCOL, else grpc)")
    parser.add_argument("--export-interval", type=positive_seconds, metavar="SECONDS",
                        help="seconds between two metric pushes (default: OTEL_METRIC_EXPORT_INTERVAL, else 10)")
    parser.add_argument("--metrics-token", metavar="TOKEN",
                        help="bearer token required on /metrics (default: OTELSVC_METRICS_TOKEN, else no auth)")
    parser.add_argument("--service-name", metavar="NAME",
                        help="service.name of the telemetry (default: OTEL_SERVICE_NAME or OTELSVC_SERVICE_NAME, "
                             "else otelsvc-demo)")
    parser.add_argument("--full", action="store_true",
                        help="simulate a busy service: traffic over many partitions, services, peers and swimlanes, "
                             "about 12k series after 90 s (default: off, a small scrape of under 100 series "
                             "that still has every metric of every family)")
    parser.add_argument("--progress-every", type=positive_seconds, default=5.0, metavar="SECONDS",
                        help="seconds between two progress lines (default: 5)")


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


def push_status(health: ExporterHealth, now: float | None = None) -> str:
    """One consistent phrase for the metrics push: failing (with the streak), ok (with the age), or not yet."""
    now = time.time() if now is None else now
    if health.consecutive_failures:
        error = f" ({health.last_error})" if health.last_error else ""
        return f"push: failing, {health.consecutive_failures} failure(s) in a row{error}"
    if health.last_success is not None:
        return f"push: ok, last {max(0.0, now - health.last_success):.0f}s ago"
    return "push: no export yet"


def _say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def run(args: argparse.Namespace) -> int:
    """Run until --duration passes or SIGINT/SIGTERM arrives.

    Exit 0 after a clean shutdown, 1 when the final flush failed, 2 for bad settings.
    """
    import otelsvc
    from otelsvc.instruments._simulate import Simulation

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
    simulation = Simulation(guard, rng=random.Random(42), full=args.full)
    ticks = guard.bridge.instrument("demo.ticks", "counter", "{tick}", "Simulation steps run by the demo").bind()
    tracer = guard.tracer("otelsvc.demo")
    started = time.monotonic()
    next_progress = started + args.progress_every
    steps = 0
    try:
        while not stop.is_set():
            with tracer.start_as_current_span("demo.step"):
                simulation.step()
                ticks.add()
            steps += 1
            now = time.monotonic()
            if args.duration is not None and now - started >= args.duration:
                break
            if now >= next_progress:
                next_progress = now + args.progress_every
                push = guard.exporters.get("metrics")
                pushed = f", {push_status(push)}" if push is not None else ""
                _say(f"demo: {now - started:.0f}s, {steps} steps, state {guard.state}{pushed}")
            stop.wait(0.1)
    finally:
        ok = guard.shutdown()
        _say(f"demo: stopped after {time.monotonic() - started:.1f}s ({steps} steps); flushed={ok}")
    if not ok:
        sys.stderr.write("otelsvc demo: the final flush failed (see the lines logged above); exit status 1\n")
        return 1
    return 0
