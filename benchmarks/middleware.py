"""HTTP middleware overhead, in-process and under a real server, beside the other middlewares.

In-process: each variant is the same app (FastAPI for ASGI, Flask for WSGI, with 5 or 100 routes,
the request going to the last one) called directly many times in one event loop; the overhead is
the median CPU time per request (of the measuring thread, so other processes on a shared machine
do not count) minus that of the bare app, the variants interleaved in every round of the same run.
Variants: otelsvc with spans off (metrics only) and on, prometheus-fastapi-instrumentator,
starlette-exporter, the OTel contrib ASGI middleware and FastAPI's native telemetry (both on SDK
providers with a Prometheus reader and a span processor that drops spans, as otelsvc has).

Under a server: uvicorn, one worker, on a trivial route, loaded with ``wrk`` on loopback
(``apt-get install wrk``; ``hey`` or ``oha`` are used when wrk is missing): requests per second
beside the bare app, and the server process's CPU seconds per request served (its inverse is the
throughput of the one CPU-bound worker, steadier than wall-clock rates on a shared machine).

    python -m benchmarks --only middleware [--quick]
    pip install -e '.[bench]'   # the other middlewares
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

__all__ = ["bench_middleware"]

ROW = Callable[[str, float, float, str, str], None]


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


def _asgi_per_request(app: Any, path: str, n: int) -> float:
    """Seconds per request, ``n`` requests to ``path`` through ``app`` called directly."""
    template = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
                "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "",
                "headers": [(b"host", b"bench"), (b"user-agent", b"bench")], "client": ("127.0.0.1", 1),
                "server": ("127.0.0.1", 80)}
    request = {"type": "http.request", "body": b"", "more_body": False}

    async def receive() -> dict[str, Any]:
        return request

    async def send(message: dict[str, Any]) -> None:
        pass

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

        app.wsgi_app = HttpMetricsMiddleware(app.wsgi_app, guard=guard,  # type: ignore[method-assign]
                                             spans=variant == "otelsvc+spans")
    return app


def _wsgi_per_request(app: Any, path: str, n: int) -> float:
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

    apps = {"none": routed, "otelsvc": HttpMetricsMiddleware(routed, guard=guard, spans=False),
            "otelsvc+spans": HttpMetricsMiddleware(routed, guard=guard, spans=True)}
    n, repeat = (2000, 7) if quick else (3000, 15)
    best = _medians(apps, functools.partial(_asgi_per_request, path="/r/1", n=n), repeat)
    from prometheus_client import CollectorRegistry, Counter

    child = Counter("calibration", "", ["a", "b", "c"], registry=CollectorRegistry()).labels("x", "y", "z")
    start_cpu = time.thread_time()
    for _ in range(100_000):
        child.inc()
    print(f"  machine speed now: prometheus_client bound child inc() {(time.thread_time() - start_cpu) * 1e4:.0f} ns "
          "(CPU time)")
    row("ASGI middleware alone, spans off", (best["otelsvc"] - best["none"]) * 1e6, 5.0, "us", "bar 5 us")
    row("ASGI middleware alone, spans on", (best["otelsvc+spans"] - best["none"]) * 1e6, 5.0, "us", "bar 5 us")


def bench_in_process(quick: bool, row: ROW) -> None:
    import importlib.util

    guard = _guard()
    bench_alone(quick, row, guard)
    n, repeat = (300, 7) if quick else (500, 21)
    asgi_variants = ["none", "otelsvc", "otelsvc+spans", "fastapi-native"]
    for module, variant in (("prometheus_fastapi_instrumentator", "instrumentator"),
                            ("starlette_exporter", "starlette-exporter"),
                            ("opentelemetry.instrumentation.asgi", "otel-asgi")):
        if importlib.util.find_spec(module) is not None:
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
                row(f"ASGI overhead, spans on, {routes} routes", over["otelsvc+spans"], over["otel-asgi"], "us",
                    "otel-asgi")
            row(f"ASGI overhead, spans on, {routes} routes", over["otelsvc+spans"], over["fastapi-native"], "us",
                "fastapi-native")
        for routes in (5, 100):
            path = f"/r{routes - 1}/abc"
            wsgi = {v: flask_app(routes, v, guard) for v in ("none", "otelsvc", "otelsvc+spans")}
            medians = _medians(wsgi, functools.partial(_wsgi_per_request, path=path, n=n), repeat)
            base = medians["none"]
            print(f"  Flask {routes} routes: bare app {base * 1e6:.1f} us/request")
            row(f"WSGI overhead, spans off, {routes} routes", (medians["otelsvc"] - base) * 1e6, 5.0, "us",
                "bar 5 us")
            row(f"WSGI overhead, spans on, {routes} routes", (medians["otelsvc+spans"] - base) * 1e6, 5.0, "us",
                "bar 5 us")
    finally:
        guard.shutdown()


SERVER_APP = '''
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
'''


def _load_generator() -> list[str] | None:
    for tool in ("wrk", "oha", "hey"):
        if shutil.which(tool):
            return [tool]
    return None


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process so far (Linux /proc)."""
    with open(f"/proc/{pid}/stat") as fh:
        stat = fh.read()
    fields = stat[stat.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _requests_per_second(tool: str, url: str, seconds: int) -> float:
    if tool == "wrk":
        out = subprocess.run(["wrk", "-t1", "-c16", f"-d{seconds}s", url], capture_output=True, text=True,
                             check=True).stdout
        return float(next(line for line in out.splitlines() if line.startswith("Requests/sec")).split()[1])
    if tool == "oha":
        out = subprocess.run(["oha", "--no-tui", "-c", "16", "-z", f"{seconds}s", url], capture_output=True,
                             text=True, check=True).stdout
        return float(next(line for line in out.splitlines() if "Requests/sec" in line).split()[-1])
    out = subprocess.run(["hey", "-c", "16", "-z", f"{seconds}s", url], capture_output=True, text=True,
                         check=True).stdout
    return float(next(line for line in out.splitlines() if "Requests/sec" in line).split()[-1])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def bench_server(quick: bool, row: ROW) -> None:
    import importlib.util

    generator = _load_generator()
    if generator is None:
        print("(no load generator: apt-get install wrk, or install hey / oha; server throughput skipped)")
        return
    tool = generator[0]
    seconds, rounds = (3, 2) if quick else (5, 5)
    variants = ["none", "otelsvc", "otelsvc+spans"]
    for module, variant in (("prometheus_fastapi_instrumentator", "instrumentator"),
                            ("starlette_exporter", "starlette-exporter"),
                            ("opentelemetry.instrumentation.asgi", "otel-asgi")):
        if importlib.util.find_spec(module) is not None:
            variants.append(variant)
    rps: dict[str, list[float]] = {v: [] for v in variants}
    cpu: dict[str, list[float]] = {v: [] for v in variants}
    for _ in range(rounds):
        for variant in variants:
            port = _free_port()
            proc = subprocess.Popen([sys.executable, "-c", SERVER_APP, variant, str(port)],
                                    env={**os.environ, "OTEL_TRACES_EXPORTER": "none"})
            try:
                deadline = time.monotonic() + 30
                while time.monotonic() < deadline:
                    try:
                        socket.create_connection(("127.0.0.1", port), timeout=1).close()
                        break
                    except OSError:
                        time.sleep(0.1)
                url = f"http://127.0.0.1:{port}/ping"
                _requests_per_second(tool, url, 1)  # warm-up
                before = _cpu_seconds(proc.pid)
                rate = _requests_per_second(tool, url, seconds)
                rps[variant].append(rate)
                cpu[variant].append((_cpu_seconds(proc.pid) - before) / (rate * seconds))
            finally:
                proc.terminate()
                proc.wait(10)
    # Two views: the best wrk round of each (the one least disturbed by other work on the machine),
    # and the server's CPU seconds per request served (median of rounds), whose inverse is the
    # throughput of the one CPU-bound worker: on a shared machine the steadier of the two.
    best = {variant: max(values) for variant, values in rps.items()}
    per_request = {variant: statistics.median(values) for variant, values in cpu.items()}
    print(f"  uvicorn, 1 worker, {tool} -c16, trivial route, {rounds} rounds of {seconds} s:")
    for variant in variants:
        print(f"    {variant:<20} best {best[variant]:>8,.0f} req/s = {best[variant] / best['none']:.2f}x of bare;"
              f"  {per_request[variant] * 1e6:6.1f} us CPU/request = capacity "
              f"{per_request['none'] / per_request[variant]:.2f}x of bare"
              f"  (rounds: {', '.join(f'{v:,.0f}' for v in rps[variant])} req/s)")
    for variant in ("otelsvc", "otelsvc+spans"):
        row(f"uvicorn req/s (best round), {variant}", best[variant], best["none"], "req/s", "no middleware")
        row(f"uvicorn CPU per request, {variant}", per_request[variant] * 1e6, per_request["none"] * 1e6, "us",
            "no middleware")
        for other in variants[3:]:
            row(f"uvicorn CPU per request, {variant}", per_request[variant] * 1e6, per_request[other] * 1e6, "us",
                other)


def bench_middleware(quick: bool, row: ROW) -> None:
    """All the middleware cases (see the module docstring)."""
    bench_in_process(quick, row)
    bench_server(quick, row)
