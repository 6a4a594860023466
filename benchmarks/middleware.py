"""HTTP middleware overhead, in-process and under a real server, beside the other middlewares.

In-process: each variant is the same app (FastAPI for ASGI, Flask for WSGI, with 5 or 100 routes,
the request going to the last one) called directly many times in one event loop; the overhead is
the median CPU time per request (of the measuring thread, so other processes on a shared machine
do not count) minus that of the bare app, the variants interleaved in every round of the same run.
Variants: otelsvc with spans off (metrics only) and on, prometheus-fastapi-instrumentator,
starlette-exporter, the OTel contrib ASGI middleware and FastAPI's native telemetry (both on SDK
providers with a Prometheus reader and a span processor that drops spans, as otelsvc has).

Also plain Starlette (otelsvc against the bare app) and Flask (WSGI).

Under a server: uvicorn, one worker, on a trivial route, loaded with ``wrk`` on loopback (``hey`` or
``oha`` when wrk is missing), the server and the load generator pinned to different CPUs with
``taskset`` when there are two; every variant once per round, the order rotated, a fresh server each
time; each round's rate divided by the bare app's of the same round, the median of those paired
ratios reported with their range, and the server process's CPU seconds per request (its inverse is
the one CPU-bound worker's capacity, steadier than wall-clock rates on a shared machine).

    scripts/bench.sh --only middleware [--quick]   # installs wrk and the other middlewares first
    python -m benchmarks --only middleware [--quick]
"""

from __future__ import annotations

import asyncio
import functools
import os
import shutil
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

__all__ = ["asgi_request", "bench_middleware", "wsgi_request"]

ROW = Callable[[str, float, float, str, str], None]


def _installed(module: str) -> bool:
    """Whether ``module`` can be imported (``find_spec`` raises when a parent package is missing)."""
    import importlib.util

    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        return False


def _sdk_providers() -> tuple[Any, Any]:
    from opentelemetry.exporter.prometheus import PrometheusMetricReader
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult

    class Drop(SpanExporter):
        def export(self, spans: Any) -> SpanExportResult:
            return SpanExportResult.SUCCESS

    tracer = TracerProvider(shutdown_on_exit=False)
    tracer.add_span_processor(SimpleSpanProcessor(Drop()))
    return MeterProvider(metric_readers=[PrometheusMetricReader()], shutdown_on_exit=False), tracer


def _guard() -> Any:
    import otelsvc

    guard = otelsvc.start(prometheus="127.0.0.1:0", builtin_server=False, set_global=False, runtime_metrics=False)
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult

    class Drop(SpanExporter):
        def export(self, spans: Any) -> SpanExportResult:
            return SpanExportResult.SUCCESS

    guard.tracer_provider.add_span_processor(SimpleSpanProcessor(Drop()))  # type: ignore[attr-defined]
    return guard


def fastapi_app(routes: int, variant: str, guard: Any) -> Any:
    """A FastAPI app with ``routes`` routes ``/r{i}/{item}`` and the ``variant`` middleware."""
    from fastapi import FastAPI

    telemetry: dict[str, Any] = {"tracing": False, "metrics": False, "logs": False}
    if variant == "fastapi-native":
        meter, tracer = _sdk_providers()
        telemetry = {"meter_provider": meter, "tracer_provider": tracer, "logs": False, "operation_spans": False}
    app = FastAPI(telemetry=telemetry, openapi_url=None)  # type: ignore[arg-type,unused-ignore]
    for i in range(routes):

        async def endpoint(item: str) -> dict[str, str]:
            return {"item": item}

        app.add_api_route(f"/r{i}/{{item}}", endpoint, methods=["GET"])
    if variant == "otelsvc":
        from otelsvc.asgi import HttpMetricsMiddleware

        app.add_middleware(HttpMetricsMiddleware, guard=guard, spans=False)  # type: ignore[arg-type]
    elif variant == "otelsvc+spans":
        from otelsvc.asgi import HttpMetricsMiddleware

        app.add_middleware(HttpMetricsMiddleware, guard=guard, spans=True)  # type: ignore[arg-type]
    elif variant == "instrumentator":
        from prometheus_client import CollectorRegistry
        from prometheus_fastapi_instrumentator import Instrumentator

        Instrumentator(registry=CollectorRegistry()).instrument(app)
    elif variant == "starlette-exporter":
        from prometheus_client import REGISTRY
        from starlette_exporter import PrometheusMiddleware

        app.add_middleware(PrometheusMiddleware, app_name=f"bench{id(app)}", group_paths=True)
        del REGISTRY
    elif variant == "otel-asgi":
        from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware

        meter, tracer = _sdk_providers()
        app.add_middleware(OpenTelemetryMiddleware, tracer_provider=tracer, meter_provider=meter)
    return app


def starlette_app(routes: int, variant: str, guard: Any) -> Any:
    """A plain Starlette app with ``routes`` routes ``/r{i}/{item}`` and, for ``otelsvc``, the middleware."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    async def endpoint(request: Request) -> PlainTextResponse:
        return PlainTextResponse(request.path_params["item"])

    app = Starlette(routes=[Route(f"/r{i}/{{item}}", endpoint) for i in range(routes)])
    if variant == "otelsvc":
        from otelsvc.asgi import HttpMetricsMiddleware

        app.add_middleware(HttpMetricsMiddleware, guard=guard, spans=False)  # type: ignore[arg-type]
    return app


def asgi_request(path: str) -> tuple[dict[str, Any], Any, Any]:
    """(scope, receive, send) of a GET of ``path`` as a server would pass them (copy the scope per request)."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"bench"), (b"user-agent", b"bench")],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
    }
    request = {"type": "http.request", "body": b"", "more_body": False}

    async def receive() -> dict[str, Any]:
        return request

    async def send(message: dict[str, Any]) -> None:
        pass

    return scope, receive, send


def _asgi_per_request(app: Any, path: str, n: int) -> float:
    """Seconds per request, ``n`` requests to ``path`` through ``app`` called directly."""
    template, receive, send = asgi_request(path)

    async def run() -> float:
        for _ in range(50):
            await app(dict(template), receive, send)
        t0 = time.thread_time()
        for _ in range(n):
            await app(dict(template), receive, send)
        return (time.thread_time() - t0) / n

    return asyncio.run(run())


def flask_app(routes: int, variant: str, guard: Any) -> Any:
    from flask import Flask

    app = Flask(f"bench{routes}{variant}")
    for i in range(routes):
        app.add_url_rule(f"/r{i}/<item>", f"r{i}", lambda item: item)
    if variant in ("otelsvc", "otelsvc+spans"):
        from otelsvc.wsgi import HttpMetricsMiddleware

        app.wsgi_app = HttpMetricsMiddleware(  # type: ignore[method-assign]
            app.wsgi_app, guard=guard, spans=variant == "otelsvc+spans"
        )
    return app


def wsgi_request(app: Any, path: str) -> Callable[[], None]:
    """A function making one GET of ``path`` through ``app`` as a WSGI server would (iterate, close)."""
    from werkzeug.test import EnvironBuilder

    environ = EnvironBuilder(path=path, headers=[("User-Agent", "bench")]).get_environ()

    def start_response(status: str, headers: Any, exc_info: Any = None) -> None:
        pass

    def one() -> None:
        body = app(dict(environ), start_response)
        for _ in body:
            pass
        close = getattr(body, "close", None)
        if close is not None:
            close()

    return one


def _wsgi_per_request(app: Any, path: str, n: int) -> float:
    one = wsgi_request(app, path)
    for _ in range(50):
        one()
    t0 = time.thread_time()
    for _ in range(n):
        one()
    return (time.thread_time() - t0) / n


def _medians(apps: dict[str, Any], measure: Callable[[Any], float], repeat: int) -> dict[str, float]:
    """Median CPU seconds per request of each app over ``repeat`` rounds, the variants interleaved in
    every round. CPU time of the measuring thread (``time.thread_time``), not wall time: on a shared
    machine the time other processes hold the CPU is not counted against any variant."""
    runs: dict[str, list[float]] = {name: [] for name in apps}
    for _ in range(repeat):
        for name, app in apps.items():
            runs[name].append(measure(app))
    return {name: statistics.median(values) for name, values in runs.items()}


def bench_alone(quick: bool, row: ROW, guard: Any) -> None:
    """The middleware around an app that only does what a router leaves behind (``scope["route"]``)
    and answers: its own cost, with no framework's noise around it."""
    from starlette.routing import Route

    from otelsvc.asgi import HttpMetricsMiddleware

    route = Route("/r/{x}", lambda request: None)
    start = {"type": "http.response.start", "status": 200, "headers": []}
    body = {"type": "http.response.body", "body": b"ok"}

    async def routed(scope: Any, receive: Any, send: Any) -> None:
        scope["route"] = route
        await send(start)
        await send(body)

    apps = {
        "none": routed,
        "otelsvc": HttpMetricsMiddleware(routed, guard=guard, spans=False),
        "otelsvc+spans": HttpMetricsMiddleware(routed, guard=guard, spans=True),
    }
    n, repeat = (2000, 7) if quick else (3000, 15)
    best = _medians(apps, functools.partial(_asgi_per_request, path="/r/1", n=n), repeat)
    from prometheus_client import CollectorRegistry, Counter

    child = Counter("calibration", "", ["a", "b", "c"], registry=CollectorRegistry()).labels("x", "y", "z")
    start_cpu = time.thread_time()
    for _ in range(100_000):
        child.inc()
    print(
        f"  machine speed now: prometheus_client bound child inc() {(time.thread_time() - start_cpu) * 1e4:.0f} ns "
        "(CPU time)"
    )
    row("ASGI middleware alone, spans off", (best["otelsvc"] - best["none"]) * 1e6, 5.0, "us", "bar 5 us")
    row("ASGI middleware alone, spans on", (best["otelsvc+spans"] - best["none"]) * 1e6, 5.0, "us", "bar 5 us")


def bench_in_process(quick: bool, row: ROW) -> None:

    guard = _guard()
    bench_alone(quick, row, guard)
    n, repeat = (300, 7) if quick else (500, 21)
    asgi_variants = ["none", "otelsvc", "otelsvc+spans", "fastapi-native"]
    for module, variant in (
        ("prometheus_fastapi_instrumentator", "instrumentator"),
        ("starlette_exporter", "starlette-exporter"),
        ("opentelemetry.instrumentation.asgi", "otel-asgi"),
    ):
        if _installed(module):
            asgi_variants.append(variant)
        else:
            print(f"({variant} not installed: pip install -e '.[bench]')")
    try:
        for routes in (5, 100):
            path = f"/r{routes - 1}/abc"
            apps = {v: fastapi_app(routes, v, guard) for v in asgi_variants}
            medians = _medians(apps, functools.partial(_asgi_per_request, path=path, n=n), repeat)
            base = medians["none"]
            print(f"  FastAPI {routes} routes: bare app {base * 1e6:.1f} us/request (CPU, median of {repeat} rounds)")
            over = {v: (medians[v] - base) * 1e6 for v in asgi_variants if v != "none"}
            for v, us in over.items():
                print(f"    {v:<20} overhead {us:7.2f} us/request")
            row(f"ASGI overhead, spans off, {routes} routes", over["otelsvc"], 5.0, "us", "bar 5 us")
            for other in ("instrumentator", "starlette-exporter", "otel-asgi"):
                if other in over:
                    row(f"ASGI overhead, spans off, {routes} routes", over["otelsvc"], over[other], "us", other)
            if "otel-asgi" in over:
                row(
                    f"ASGI overhead, spans on, {routes} routes",
                    over["otelsvc+spans"],
                    over["otel-asgi"],
                    "us",
                    "otel-asgi",
                )
            row(
                f"ASGI overhead, spans on, {routes} routes",
                over["otelsvc+spans"],
                over["fastapi-native"],
                "us",
                "fastapi-native",
            )
        for routes in (5, 100):
            path = f"/r{routes - 1}/abc"
            plain = {v: starlette_app(routes, v, guard) for v in ("none", "otelsvc")}
            medians = _medians(plain, functools.partial(_asgi_per_request, path=path, n=n), repeat)
            print(f"  Starlette {routes} routes: bare app {medians['none'] * 1e6:.1f} us/request")
            row(
                f"ASGI overhead (Starlette), spans off, {routes} routes",
                (medians["otelsvc"] - medians["none"]) * 1e6,
                5.0,
                "us",
                "bar 5 us",
            )
        for routes in (5, 100):
            path = f"/r{routes - 1}/abc"
            wsgi = {v: flask_app(routes, v, guard) for v in ("none", "otelsvc", "otelsvc+spans")}
            medians = _medians(wsgi, functools.partial(_wsgi_per_request, path=path, n=n), repeat)
            base = medians["none"]
            print(f"  Flask {routes} routes: bare app {base * 1e6:.1f} us/request")
            row(f"WSGI overhead, spans off, {routes} routes", (medians["otelsvc"] - base) * 1e6, 5.0, "us", "bar 5 us")
            row(
                f"WSGI overhead, spans on, {routes} routes",
                (medians["otelsvc+spans"] - base) * 1e6,
                5.0,
                "us",
                "bar 5 us",
            )
    finally:
        guard.shutdown()


SERVER_APP = """
import sys
from fastapi import FastAPI
from fastapi.responses import PlainTextResponse
variant = sys.argv[1]
app = FastAPI(openapi_url=None, telemetry={"tracing": False, "metrics": False, "logs": False})

@app.get("/ping", response_class=PlainTextResponse)
def ping() -> str:
    return "pong"

if variant.startswith("otelsvc"):
    import otelsvc
    from otelsvc.asgi import HttpMetricsMiddleware
    guard = otelsvc.start(prometheus="127.0.0.1:0", builtin_server=False, set_global=False)
    if variant != "otelsvc-guard-only":
        app.add_middleware(HttpMetricsMiddleware, guard=guard, spans=variant == "otelsvc+spans")
elif variant == "instrumentator":
    from prometheus_fastapi_instrumentator import Instrumentator
    Instrumentator().instrument(app)
elif variant == "starlette-exporter":
    from starlette_exporter import PrometheusMiddleware
    app.add_middleware(PrometheusMiddleware)
elif variant == "otel-asgi":
    from opentelemetry.exporter.prometheus import PrometheusMetricReader
    from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.trace import TracerProvider
    app.add_middleware(OpenTelemetryMiddleware, tracer_provider=TracerProvider(),
                       meter_provider=MeterProvider(metric_readers=[PrometheusMetricReader()]))

import uvicorn
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[2]), log_level="error", access_log=False, workers=1)
"""


def _load_generator() -> str | None:
    for tool in ("wrk", "oha", "hey"):
        if shutil.which(tool):
            return tool
    return None


def _pinning() -> tuple[list[str], list[str], str]:
    """(server command prefix, load generator prefix, description): with two CPUs or more and
    ``taskset``, the server on the last CPU and the load generator on the others, so the two never
    take turns on one CPU (other processes on the machine still may)."""
    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    if len(cpus) < 2 or not shutil.which("taskset"):
        return [], [], "not pinned (needs taskset and 2 CPUs)"
    server, others = str(cpus[-1]), ",".join(str(c) for c in cpus[:-1])
    return (
        ["taskset", "-c", server],
        ["taskset", "-c", others],
        f"server pinned to CPU {server}, load generator to CPU {others}",
    )


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process so far (Linux /proc)."""
    with open(f"/proc/{pid}/stat") as fh:
        stat = fh.read()
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _requests_per_second(tool: str, pin: list[str], url: str, seconds: int) -> float:
    if tool == "wrk":
        command = ["wrk", "-t1", "-c16", f"-d{seconds}s", url]
    elif tool == "oha":
        command = ["oha", "--no-tui", "-c", "16", "-z", f"{seconds}s", url]
    else:
        command = ["hey", "-c", "16", "-z", f"{seconds}s", url]
    out = subprocess.run([*pin, *command], capture_output=True, text=True, check=True).stdout
    line = next(line for line in out.splitlines() if "Requests/sec" in line)
    return float(line.split()[1] if tool == "wrk" else line.split()[-1])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _serve_one(variant: str, tool: str, pins: tuple[list[str], list[str]], seconds: int) -> tuple[float, float]:
    """(requests per second, server CPU seconds per request) of one fresh server under one load run."""
    port = _free_port()
    proc = subprocess.Popen(
        [*pins[0], sys.executable, "-c", SERVER_APP, variant, str(port)],
        env={**os.environ, "OTEL_TRACES_EXPORTER": "none"},
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        url = f"http://127.0.0.1:{port}/ping"
        _requests_per_second(tool, pins[1], url, 1)  # warm-up
        before = _cpu_seconds(proc.pid)
        rate = _requests_per_second(tool, pins[1], url, seconds)
        return rate, (_cpu_seconds(proc.pid) - before) / (rate * seconds)
    finally:
        proc.terminate()
        proc.wait(10)


def bench_server(quick: bool, row: ROW) -> None:
    """uvicorn, one worker, trivial route: every variant once per round, the order rotated each round,
    a fresh server each time; each round's rate is divided by the bare app's of the same round (run
    beside it, so slow drift on a shared machine weighs on both), and the median of those paired ratios
    is reported with their range."""

    tool = _load_generator()
    if tool is None:
        print("(no load generator: scripts/bench.sh installs wrk; server throughput skipped)")
        return
    server_pin, client_pin, pinned = _pinning()
    seconds, rounds = (3, 3) if quick else (5, 7)
    variants = ["none", "otelsvc", "otelsvc+spans", "otelsvc-guard-only"]
    others = []
    for module, variant in (
        ("prometheus_fastapi_instrumentator", "instrumentator"),
        ("starlette_exporter", "starlette-exporter"),
        ("opentelemetry.instrumentation.asgi", "otel-asgi"),
    ):
        if _installed(module):
            others.append(variant)
    variants += others
    rps: dict[str, list[float]] = {v: [] for v in variants}
    cpu: dict[str, list[float]] = {v: [] for v in variants}
    load_before = os.getloadavg()[0]
    for index in range(rounds):
        order = variants[index % len(variants) :] + variants[: index % len(variants)]
        for variant in order:
            rate, cpu_each = _serve_one(variant, tool, (server_pin, client_pin), seconds)
            rps[variant].append(rate)
            cpu[variant].append(cpu_each)
    load_after = os.getloadavg()[0]
    ratios = {v: [r / b for r, b in zip(rps[v], rps["none"], strict=True)] for v in variants}
    cpu_ratios = {v: [c / b for c, b in zip(cpu[v], cpu["none"], strict=True)] for v in variants}
    per_request = {v: statistics.median(values) for v, values in cpu.items()}
    print(
        f"  uvicorn, 1 worker, {tool} -c16 on loopback, trivial route, {rounds} rounds of {seconds} s, {pinned}; "
        f"load average {load_before:.1f} before, {load_after:.1f} after:"
    )
    for variant in variants:
        print(
            f"    {variant:<20} median {statistics.median(rps[variant]):>8,.0f} req/s;"
            f" paired ratio to bare median {statistics.median(ratios[variant]):.2f}x"
            f" (range {min(ratios[variant]):.2f} to {max(ratios[variant]):.2f});"
            f" server CPU/request {per_request[variant] * 1e6:6.1f} us, paired ratio median"
            f" {statistics.median(cpu_ratios[variant]):.2f}x (range {min(cpu_ratios[variant]):.2f} to"
            f" {max(cpu_ratios[variant]):.2f})"
            f"  (rounds: {', '.join(f'{v:,.0f}' for v in rps[variant])} req/s)"
        )
    for variant in ("otelsvc", "otelsvc+spans"):
        row(
            f"uvicorn req/s in % of bare, {variant}",  # median of the rounds' paired ratios
            statistics.median(ratios[variant]) * 100,
            95.0 if variant == "otelsvc" else 100.0,
            "%",
            "bar 95%" if variant == "otelsvc" else "bare app",
        )
        row(
            f"uvicorn CPU per request, {variant}",
            per_request[variant] * 1e6,
            per_request["none"] * 1e6,
            "us",
            "no middleware",
        )
        row(
            f"uvicorn CPU per request, {variant}",
            per_request[variant] * 1e6,
            per_request["otelsvc-guard-only"] * 1e6,
            "us",
            "guard, no middlew.",  # otelsvc started, no middleware
        )
        for other in others:
            row(
                f"uvicorn CPU per request, {variant}", per_request[variant] * 1e6, per_request[other] * 1e6, "us", other
            )


def bench_middleware(quick: bool, row: ROW) -> None:
    """All the middleware cases (see the module docstring)."""
    bench_in_process(quick, row)
    bench_server(quick, row)
