"""A pre-fork WSGI service. One scrape of :9464/metrics covers every worker (docs/prefork.md):
counters and histograms summed over every worker since the server started (recycled ones too),
gauges per worker slot. The OTLP push stays per worker, each under its own service.instance.id.

Needs: pip install gunicorn    (beside otelsvc; or pip install '.[examples]' in the otelsvc checkout)
Run (with or without --preload; -k gthread or -k uvicorn_worker.UvicornWorker for an ASGI app):
      gunicorn --preload -w 4 --max-requests 50 -b 127.0.0.1:8002 --chdir examples gunicorn_app:app
      curl -s 127.0.0.1:8002/ ; curl -s 127.0.0.1:9464/metrics | grep example_requests_total
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
