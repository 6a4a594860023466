"""FastAPI 0.165's native telemetry beside otelsvc: each request is counted once.

With otelsvc's global providers set, FastAPI records its own SERVER span and semconv HTTP metrics;
the middleware then keeps only the classic ``http_requests_*`` instruments, and
``FastAPI(telemetry={"exclude": is_telemetry_request})`` keeps the telemetry mount out of FastAPI's
telemetry. Global providers are process-wide, so the app runs in a child process.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import fastapi
import pytest

APP = """
import asyncio, json, sys
import httpx
from fastapi import APIRouter, FastAPI
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
import otelsvc
from otelsvc.asgi import HttpMetricsMiddleware, TelemetryApp, is_telemetry_request

guard = otelsvc.start(service_name="native", prometheus="127.0.0.1:0", builtin_server=False, runtime_metrics=False)
spans = InMemorySpanExporter()
guard.tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
app = FastAPI(telemetry={"exclude": is_telemetry_request, "operation_spans": False})
router = APIRouter()

@router.get("/users/{uid}")
def user(uid: str) -> dict[str, str]:
    return {"uid": uid}

@app.get("/fail")
def fail() -> None:
    raise RuntimeError("boom")

app.include_router(router, prefix="/v1")
app.mount("/telemetry", TelemetryApp(guard))
app.add_middleware(HttpMetricsMiddleware, guard=guard)

async def main() -> bytes:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        for i in range(25):
            assert (await client.get(f"/v1/users/{i}")).status_code == 200
        assert (await client.get("/fail")).status_code == 500
        assert (await client.get("/nowhere")).status_code == 404
        for _ in range(3):
            metrics = await client.get("/telemetry/metrics")
    return metrics.content

body = asyncio.run(main())
sys.stdout.write(json.dumps({"metrics": body.decode(), "spans": [
    {"name": s.name, "scope": s.instrumentation_scope.name, "path": s.attributes.get("url.path")}
    for s in spans.get_finished_spans()]}))
guard.shutdown()
"""


def samples(text: str, name: str) -> dict[str, float]:
    out = {}
    for line in text.splitlines():
        match = re.match(rf"^{name}(\{{.*\}})? (\S+)$", line)
        if match:
            out[match.group(1) or ""] = float(match.group(2))
    return out


@pytest.mark.skipif(tuple(int(p) for p in fastapi.__version__.split(".")[:2]) < (0, 165),
                    reason="FastAPI's native telemetry arrived in 0.165")
def test_fastapi_native_telemetry_and_otelsvc_count_each_request_once(
    promtool: Callable[[bytes], subprocess.CompletedProcess[bytes]],
) -> None:
    out = subprocess.run([sys.executable, "-c", APP], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    result: dict[str, Any] = json.loads(out.stdout)
    text: str = result["metrics"]
    check = promtool(text.encode())
    assert check.returncode == 0, check.stdout + check.stderr
    helps = [line.split()[2] for line in text.splitlines() if line.startswith("# HELP ")]
    assert len(helps) == len(set(helps))
    counts = samples(text, "http_server_request_duration_seconds_count")
    assert sum(counts.values()) == 27, counts
    assert all('otel_scope_name="fastapi"' in labels for labels in counts)
    assert any('http_route="/v1/users/{uid}"' in labels for labels in counts)
    classic = samples(text, "http_requests_total")
    assert sum(classic.values()) == 27, classic
    assert any('endpoint="/v1/users/{uid}"' in labels for labels in classic)
    assert sum(samples(text, "http_server_active_requests").values()) == 0
    assert "/telemetry" not in text.replace('"/telemetry', "")  # no series for the scrapes themselves
    spans = result["spans"]
    assert len(spans) == 27 and {s["scope"] for s in spans} == {"fastapi"}
    assert not any(str(s["path"]).startswith("/telemetry") for s in spans)
