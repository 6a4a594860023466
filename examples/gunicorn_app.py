"""A pre-fork WSGI service: the guard starts once in the gunicorn master (``--preload``), each
worker inherits it, and each worker reports only its own counts under its own service.instance.id.

Needs: pip install gunicorn    (beside otelsvc; or pip install '.[examples]' in the otelsvc checkout)
Run:  OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4317 \\
      gunicorn --preload -w 2 -b 127.0.0.1:8002 --chdir examples gunicorn_app:app
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

import otelsvc
from otelsvc.wsgi import HttpMetricsMiddleware

guard = otelsvc.start(service_name="gunicorn-example", set_global=False)
requests = guard.meter("gunicorn-example").create_counter("example.requests", unit="{request}")


def _app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
    requests.add(1)
    start_response("200 OK", [("Content-Type", "text/plain")])
    instance = str(guard.resource.attributes["service.instance.id"])
    return [f"served by {os.getpid()} as {instance}\n".encode()]


app = HttpMetricsMiddleware(_app, guard=guard)
