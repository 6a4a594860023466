"""The WSGI app the pre-fork server tests run: otelsvc.start() at import, an SDK counter and the middleware."""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

import otelsvc
from otelsvc.wsgi import HttpMetricsMiddleware

guard = otelsvc.start(service_name=os.environ.get("PREFORK_TEST_SERVICE", "prefork-test"), set_global=False)
requests = guard.meter("prefork-test").create_counter(
    "example.requests", unit="{request}", description="Requests served")
in_flight = guard.up_down_counter("example.open", unit="{request}", description="Requests in progress").bind()
pid_gauge = guard.gauge("example.worker.pid", description="Pid of the worker that served last").bind()


def _app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
    requests.add(1)
    pid_gauge.set(os.getpid())
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [f"{os.getpid()}\n".encode()]


app = HttpMetricsMiddleware(_app, guard=guard)
