"""``otelsvc check``: the effective settings and their sources, the warnings, and whether the endpoints work.

Reads the environment as ``otelsvc.start()`` would (keywords do not apply here), tries to bind the
Prometheus address, and sends each configured OTLP signal an empty, time-bounded export through the
same exporter the guard builds. Exit status: 0 when all is well or there are only warnings, 1 on
errors, 2 on usage errors (argparse's).
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import socket
import sys
import threading
import time
from collections.abc import Mapping
from typing import Any, TextIO

from otelsvc._config import OTLP_PARTS, OtlpSignal, Resolution, resolve
from otelsvc._config_table import ROWS, SIGNALS, Row
from otelsvc._redact import redact_text

__all__ = ["HELP", "configure", "run", "run_check"]

HELP = "print the effective settings and check the Prometheus and OTLP endpoints"


def configure(check: argparse.ArgumentParser) -> None:
    """The flags of ``otelsvc check`` (the command is registered in ``otelsvc._cli.COMMANDS``)."""
    check.add_argument(
        "--timeout",
        type=_positive_seconds,
        default=3.0,
        metavar="SECONDS",
        help="bound of each OTLP test export (default: 3, or the OTLP timeout if smaller)",
    )


def _positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError("must be a number of seconds") from None
    if not 0 < value < 3600:
        raise argparse.ArgumentTypeError("must be above 0 and below 3600 seconds")
    return value


def _row_of(key: str) -> Row | None:
    name = key if "." not in key else "otlp_" + key.split(".", 1)[1]
    return next((r for r in ROWS if r.name == name), None)


def _shown(key: str, value: Any) -> str:
    setting = _row_of(key)
    if setting is not None and setting.secret and value:
        return "<redacted>"
    if setting is not None and isinstance(value, float) and "seconds" in setting.parse.kind + str(setting.env_parse):
        return f"{value:g} s"
    if isinstance(value, tuple) and len(value) == 2 and key == "prometheus":
        host, port = value
        return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    if isinstance(value, tuple):
        return ",".join(str(v) for v in value)
    if isinstance(value, Mapping):
        return ",".join(f"{k}={v}" for k, v in value.items()) or "{}"
    return "none" if value is None else str(value)


def _settings_lines(resolution: Resolution) -> list[str]:
    order = {r.name: i for i, r in enumerate(ROWS)}

    def position(key: str) -> tuple[int, int, int]:
        if "." in key:  # otlp_<signal>.<part>, after the rest, signal by signal
            signal, part = key.removeprefix("otlp_").split(".", 1)
            return 1, SIGNALS.index(signal), OTLP_PARTS.index(part)
        return 0, order.get(key, len(order)), 0

    keys = sorted(resolution.sources, key=position)
    width = max(len(k) for k in keys)
    lines = []
    for key in keys:
        value = _shown(key, resolution.values.get(key))
        lines.append(f"  {key:<{width}}  {value:<40}  {resolution.sources[key]}")
    return lines


def _can_bind(host: str, port: int) -> str | None:
    """None when the address can be bound now, else why not."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        socket.create_server((host, port), family=family).close()
    except OSError as exc:
        return exc.strerror or str(exc)
    return None


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def _probe(sig: OtlpSignal, temporality: str, timeout: float) -> tuple[bool, str]:
    """Send one empty export; (answered, detail). Bounded by ``timeout`` plus a second."""
    from otelsvc._exporters import build_metric_exporter, build_span_exporter

    sig = dataclasses.replace(sig, timeout=min(sig.timeout, timeout))
    outcome: list[tuple[bool, str]] = []
    sdk_logger = logging.getLogger("opentelemetry")
    collect = _Collect()
    saved = sdk_logger.propagate

    def run() -> None:
        try:
            if sig.signal == "metrics":
                from opentelemetry.sdk.metrics.export import MetricExportResult, MetricsData

                exporter: Any = build_metric_exporter(sig, temporality)
                ok = exporter.export(MetricsData(resource_metrics=[]), timeout_millis=sig.timeout * 1000)
                outcome.append((ok == MetricExportResult.SUCCESS, ""))
            else:
                from opentelemetry.sdk.trace.export import SpanExportResult

                exporter = build_span_exporter(sig)
                outcome.append((exporter.export([]) == SpanExportResult.SUCCESS, ""))
            exporter.shutdown()
        except Exception as exc:  # a broken certificate file, an unreachable host name
            outcome.append((False, f"{type(exc).__name__}: {exc}"))

    sdk_logger.addHandler(collect)
    sdk_logger.propagate = False
    started = time.monotonic()
    try:
        thread = threading.Thread(target=run, name="otelsvc-check-probe", daemon=True)
        thread.start()
        thread.join(sig.timeout + 1.0)
    finally:
        sdk_logger.removeHandler(collect)
        sdk_logger.propagate = saved
    took = time.monotonic() - started
    if not outcome:
        return False, f"no answer within {sig.timeout:g} s"
    ok, detail = outcome[0]
    if ok:
        return True, f"answered an empty export in {took:.2f} s"
    reason = detail or (collect.messages[-1] if collect.messages else "unreachable, or the export was refused")
    return False, f"failed after {took:.2f} s: {reason}"


def run(args: argparse.Namespace) -> int:
    """``otelsvc check`` as the command line runs it."""
    return run_check(args)


def run_check(args: argparse.Namespace, env: Mapping[str, str] | None = None, out: TextIO | None = None) -> int:
    """Print the report; 0 when all is well or only warnings, 1 on errors."""
    out = sys.stdout if out is None else out
    resolution = resolve({}, env)
    settings = resolution.settings
    errors = 0

    def say(line: str = "") -> None:
        out.write(redact_text(line) + "\n")  # endpoints may carry credentials (userinfo, query)

    say("otelsvc check: effective settings (value, source; keywords passed to start() are not seen here)")
    for line in _settings_lines(resolution):
        say(line)
    say()
    say(f"warnings: {len(resolution.warnings)}")
    for warning in resolution.warnings:
        say(f"  - {warning} (ignored: counts as unset)")
    say(f"errors: {len(resolution.errors)}")
    for error in resolution.errors:
        say(f"  - {error}")
    errors += len(resolution.errors)
    say()
    if settings.sdk_disabled:
        say("OTEL_SDK_DISABLED=true: start() would run no-op telemetry (endpoints checked anyway)")
    if settings.prometheus is None:
        say("prometheus: off")
    elif not settings.builtin_server:
        say("prometheus: served by the application (builtin_server off); not bound here")
    else:
        host, port = settings.prometheus
        problem = _can_bind(host, port)
        shown = _shown("prometheus", settings.prometheus)
        say(f"prometheus: {shown} " + ("can be bound" if problem is None else f"cannot be bound: {problem}"))
        errors += problem is not None
    for signal in SIGNALS:
        sig: OtlpSignal | None = getattr(settings, f"otlp_{signal}")
        exporters: tuple[str, ...] = getattr(settings, f"{signal}_exporters")
        if "console" in exporters:
            say(f"console {signal}: printed to stdout" + (" once the logs provider lands" if signal == "logs" else ""))
        if sig is None:
            why = "no endpoint" if "otlp" in exporters else f"OTEL_{signal.upper()}_EXPORTER={','.join(exporters)}"
            say(f"otlp {signal}: off ({why})")
            continue
        if signal == "logs":
            say(f"otlp logs: {sig.endpoint} ({sig.protocol}) configured; not used until the logs provider lands")
            continue
        ok, detail = _probe(sig, settings.temporality, args.timeout)
        say(f"otlp {signal}: {sig.endpoint} ({sig.protocol}) {detail}")
        errors += not ok
    say()
    if errors:
        say(f"result: {errors} error(s)")
        return 1
    say(f"result: ok ({len(resolution.warnings)} warning(s))" if resolution.warnings else "result: ok")
    return 0
