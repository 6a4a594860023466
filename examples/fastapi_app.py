"""A FastAPI service with otelsvc: HTTP metrics middleware and the telemetry routes mounted.

Needs: pip install fastapi uvicorn    (beside otelsvc; or pip install '.[examples]' in the otelsvc checkout)
Run:  python examples/fastapi_app.py --port 8000
Then: curl localhost:8000/items/3 ; curl localhost:8000/telemetry/metrics
(The guard's own server is off here: the app serves /telemetry/metrics itself; the guard shuts
down at exit.)
"""

from __future__ import annotations

import argparse

import uvicorn
from fastapi import APIRouter, FastAPI, HTTPException

import otelsvc
from otelsvc.asgi import HttpMetricsMiddleware, TelemetryApp

guard = otelsvc.start(service_name="fastapi-example", builtin_server=False, set_global=False)

app = FastAPI()
api = APIRouter(prefix="/api")


@app.get("/items/{item_id}")
def read_item(item_id: int) -> dict[str, int]:
    return {"item_id": item_id}


@app.get("/fail")
def fail() -> None:
    raise HTTPException(status_code=503, detail="unavailable")


@api.get("/users/{user_id}")
def read_user(user_id: str) -> dict[str, str]:
    return {"user_id": user_id}


app.include_router(api)
app.mount("/telemetry", TelemetryApp(guard))
app.add_middleware(HttpMetricsMiddleware, guard=guard, prefix_rules=[("/boot/", "boot")])


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args()
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning")
