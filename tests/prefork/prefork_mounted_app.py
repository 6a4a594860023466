"""The pre-fork tests' app with the metrics mounted in the app itself (``builtin_server=False``): every
worker's ``/telemetry/metrics`` must serve the whole run, as a load balancer sends a scrape to any worker."""

from __future__ import annotations

import os

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Mount, Route

import otelsvc
from otelsvc.asgi import HttpMetricsMiddleware, TelemetryApp

guard = otelsvc.start(
    service_name=os.environ.get("PREFORK_TEST_SERVICE", "prefork-test"), set_global=False, builtin_server=False
)
requests = guard.meter("prefork-test").create_counter(
    "example.requests", unit="{request}", description="Requests served"
)


async def home(request: Request) -> PlainTextResponse:
    requests.add(1)
    return PlainTextResponse(f"{os.getpid()}\n")


app = Starlette(routes=[Route("/", home), Mount("/telemetry", TelemetryApp(guard))])
app.add_middleware(HttpMetricsMiddleware, guard=guard)
