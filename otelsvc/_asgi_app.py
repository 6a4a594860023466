"""The telemetry routes as an ASGI app, with lifespan: it can own a guard (start at startup, shut
down at shutdown) or serve an existing one."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from otelsvc._errors import ConfigError, SettingProblem
from otelsvc._mounting import require_prometheus_reader
from otelsvc.types import Receive, Scope, Send

if TYPE_CHECKING:
    from otelsvc._guard import ProviderGuard

__all__ = ["TelemetryApp", "make_asgi_app"]


class TelemetryApp:
    """ASGI app serving /metrics, /health and /metadata of ``guard`` (or of its own guard).

    Mount it in a framework (``app.mount("/telemetry", TelemetryApp(guard))``) or run it alone.
    Given settings instead of a guard, it starts the guard at lifespan startup and shuts it down at
    lifespan shutdown; until then /health answers 503 ``starting``. A guard without a Prometheus
    reader (``prometheus=None``) is refused with ConfigError here, or at lifespan startup.
    """

    otelsvc_telemetry = True

    def __init__(self, guard: ProviderGuard | None = None, **settings: Any) -> None:
        if guard is not None and settings:
            raise TypeError("give a guard or settings, not both")
        if guard is not None:
            require_prometheus_reader(guard, "TelemetryApp")
        elif "prometheus" in settings and settings["prometheus"] is None:
            raise ConfigError([SettingProblem("prometheus", "None", "TelemetryApp serves /metrics from a Prometheus "
                                              "reader; give it an address (its own server stays off)")])
        self.guard = guard
        self._settings = {"builtin_server": False, **settings}
        self._owns = guard is None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        path = scope.get("path", "") or "/"
        root = scope.get("root_path", "")
        if root and path.startswith(root):
            path = path[len(root):] or "/"
        guard = self.guard
        if guard is None:
            body = b'{"status": "starting"}'
            await _send(send, 503, [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))],
                        body if scope.get("method") != "HEAD" else b"")
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        response = await asyncio.to_thread(guard.routes.handle, scope.get("method", "GET"), path, headers)
        raw = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in response.headers]
        await _send(send, response.status, raw, response.body)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        import otelsvc

        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    if self._owns and self.guard is None:
                        guard = await asyncio.to_thread(otelsvc.start, **self._settings)
                        try:
                            require_prometheus_reader(guard, "TelemetryApp")
                        except Exception:
                            await asyncio.to_thread(guard.shutdown)
                            raise
                        self.guard = guard
                except Exception as exc:
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self._owns and self.guard is not None:
                    await asyncio.to_thread(self.guard.shutdown)
                await send({"type": "lifespan.shutdown.complete"})
                return


async def _send(send: Send, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def make_asgi_app(guard: ProviderGuard | None = None, **settings: Any) -> TelemetryApp:
    """The telemetry routes as an ASGI app (see ``TelemetryApp``)."""
    return TelemetryApp(guard, **settings)
