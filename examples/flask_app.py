"""A Flask service with otelsvc: WSGI metrics middleware and the telemetry routes mounted.

Needs: pip install flask    (beside otelsvc; or pip install '.[examples]' in the otelsvc checkout)
Run:  python examples/flask_app.py --port 8001
Then: curl localhost:8001/items/3 ; curl localhost:8001/telemetry/metrics
"""

from __future__ import annotations

import argparse

from flask import Flask
from werkzeug.middleware.dispatcher import DispatcherMiddleware
from werkzeug.serving import run_simple

import otelsvc
from otelsvc.wsgi import HttpMetricsMiddleware, make_wsgi_app

guard = otelsvc.start(service_name="flask-example", builtin_server=False, set_global=False)

app = Flask(__name__)


@app.get("/items/<int:item_id>")
def read_item(item_id: int) -> dict[str, int]:
    return {"item_id": item_id}


@app.get("/boot/<path:rest>")
def boot(rest: str) -> str:
    return "booting\n"


app.wsgi_app = HttpMetricsMiddleware(app.wsgi_app, guard=guard)  # type: ignore[method-assign]
application = DispatcherMiddleware(app, {"/telemetry": make_wsgi_app(guard)})

if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=8001)
    args = parser.parse_args()
    try:
        run_simple("127.0.0.1", args.port, application, threaded=True)
    finally:
        guard.shutdown()
