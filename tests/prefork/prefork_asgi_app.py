"""The ASGI app the pre-fork server tests run (uvicorn --workers, gunicorn's uvicorn worker class)."""

from __future__ import annotations

import os
from typing import Any

import otelsvc
from otelsvc.asgi import HttpMetricsMiddleware

guard = otelsvc.start(service_name=os.environ.get("PREFORK_TEST_SERVICE", "prefork-test"), set_global=False)
requests = guard.meter("prefork-test").create_counter(
    "example.requests", unit="{request}", description="Requests served")


async def _app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    requests.add(1)
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": f"{os.getpid()}\n".encode()})


app = HttpMetricsMiddleware(_app, guard=guard)
