"""The http family: serving HTTP, recorded by the ASGI and WSGI middleware.

OTel semantic-convention instruments (``http.server.active_requests``,
``http.server.request.duration``) and, beside them, the classic instruments existing dashboards
use (``http_requests_in_flight``, ``http_requests_total``, ``http_request_duration_seconds``),
switchable off. Never namespaced. The route / endpoint label is bounded: the framework's route
template, else the first matching prefix rule, else unmatched (``other`` for the classic endpoint,
no ``http.route`` for semconv).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from otelsvc.instruments._binding import Binder, FamilyInstruments
from otelsvc.instruments._interner import Interner
from otelsvc.instruments._spec import Family, Label, MetricSpec

if TYPE_CHECKING:
    from otelsvc._guard import ProviderGuard

__all__ = ["DEFAULT_EXCLUDE", "HTTP_FAMILY", "HttpMetrics", "RequestRecord", "fold_method"]

METHODS = ("GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "CONNECT", "TRACE")
SEMCONV_METHOD = Label("http.request.method", (*METHODS, "_OTHER"))
CLASSIC_METHOD = Label("method", (*METHODS, "other"))
SCHEME = Label("url.scheme", ("http", "https"))
ROUTE = Label("http.route", interned=True, description="route template or prefix rule; absent when unmatched")
ENDPOINT = Label("endpoint", interned=True, description="route template or prefix rule; 'other' when unmatched")
STATUS = Label("http.response.status_code", interned=True, description="numeric status code")
CLASSIC_STATUS = Label("status", interned=True, description="status code as a string")
ERROR = Label("error.type", interned=True, description="exception class name, or the status code for 5xx")

HTTP_FAMILY = Family(
    name="http",
    description="HTTP requests this service serves (recorded by the ASGI and WSGI middleware): requests in "
    "flight, request duration by route, method and status, in the OpenTelemetry semantic conventions and "
    "in the classic Prometheus names beside them.",
    origin="the OpenTelemetry HTTP server semantic conventions; the classic names are those prometheus_client "
    "users know (http_requests_total, http_request_duration_seconds).",
    namespaced=False,
    metrics=(
        MetricSpec("http.server.active_requests", "updowncounter", "{request}", "Requests in flight",
                   (SEMCONV_METHOD, SCHEME)),
        MetricSpec("http.server.request.duration", "histogram", "s", "Duration of HTTP server requests",
                   (ROUTE, SEMCONV_METHOD, STATUS, SCHEME, ERROR), "http"),
        MetricSpec("http_requests_in_flight", "updowncounter", "", "Requests in flight (classic)", (ENDPOINT,),
                   legacy=True),
        MetricSpec("http_requests", "counter", "", "Requests served (classic)", (ENDPOINT, CLASSIC_METHOD,
                                                                                  CLASSIC_STATUS), legacy=True),
        MetricSpec("http_request_duration", "histogram", "s", "Request duration (classic)", (ENDPOINT,), "http",
                   legacy=True),
    ),
    notes=("Classic instruments are recorded beside the semconv ones unless classic=False; their Prometheus "
           "names are http_requests_in_flight, http_requests_total and http_request_duration_seconds.",),
)

DEFAULT_EXCLUDE = (r"^/metrics$", r"^/health$", r"^/metadata$")


def fold_method(method: str) -> str:
    """Upper-case the method; anything outside the nine standard ones folds to ``_OTHER``."""
    upper = method.upper()
    return upper if upper in METHODS else "_OTHER"


@dataclass
class RequestRecord:
    """What one request incremented, so that the decrement uses exactly the same handles."""

    active: Any
    in_flight: Any
    method: str
    scheme: str
    finished: bool = False


class HttpMetrics:
    """Records the http family for the middleware; all handles are cached per label combination."""

    def __init__(
        self,
        guard: ProviderGuard,
        *,
        prefix_rules: Sequence[tuple[str, str]] = (),
        exclude: Sequence[str] = DEFAULT_EXCLUDE,
        classic: bool = True,
        semconv: bool = True,
        route_cap: int = 500,
        exclude_telemetry: bool = True,
    ) -> None:
        self.instruments = FamilyInstruments(guard, HTTP_FAMILY, legacy=classic)
        self.classic = classic
        self.exclude_telemetry = exclude_telemetry
        self.semconv = semconv
        self.prefix_rules = tuple(prefix_rules)
        self._exclude = [re.compile(p) for p in exclude]
        self.interners = {
            "http.route": Interner("http.route", route_cap),
            "endpoint": Interner("endpoint", route_cap),
            "http.response.status_code": Interner("http.response.status_code", 100),
            "status": Interner("status", 100),
            "error.type": Interner("error.type", 100),
        }

        def binder(name: str) -> Binder:
            if name not in self.instruments:
                return Binder(None, None, (), {})
            return Binder(self.instruments[name], self.instruments.specs[name], (), self.interners)

        self._active = binder("http.server.active_requests")
        self._duration = binder("http.server.request.duration")
        self._in_flight = binder("http_requests_in_flight")
        self._total = binder("http_requests")
        self._classic_duration = binder("http_request_duration")
        self._resolved: dict[str, tuple[str, str]] = {}

    @classmethod
    def for_middleware(cls, guard: ProviderGuard | None, metrics: HttpMetrics | None,
                       options: dict[str, Any]) -> HttpMetrics:
        """The recorder a middleware uses: the one given, or a new one on ``guard`` with ``options``."""
        if metrics is not None:
            return metrics
        if guard is None:
            raise TypeError("HttpMetricsMiddleware needs guard= or metrics=")
        return cls(guard, **options)

    def excluded(self, path: str) -> bool:
        """True for paths not to record (by default the telemetry routes)."""
        return any(p.search(path) for p in self._exclude)

    def labels_for(self, template: str | None, path: str) -> tuple[str, str]:
        """(http.route, endpoint): the template, else the first prefix rule, else ("", "other")."""
        if template:
            return template, template
        for prefix, name in self.prefix_rules:
            if path.startswith(prefix):
                return name, name
        return "", "other"

    def start(self, method: str, scheme: str, endpoint: str) -> RequestRecord:
        """Count a request in flight, with the handles its decrement will use."""
        semconv_method = fold_method(method)
        scheme = scheme if scheme in ("http", "https") else "http"
        active = self._active(semconv_method, scheme) if self.semconv else None
        in_flight = self._in_flight(endpoint) if self.classic else None
        if active is not None:
            active.add(1)
        if in_flight is not None:
            in_flight.add(1)
        return RequestRecord(active, in_flight, semconv_method, scheme)

    def finish(self, record: RequestRecord, route: str, endpoint: str, status: int, error: str | None,
               seconds: float) -> None:
        """Decrement with the same handles, then record duration and count (once per request)."""
        if record.finished:
            return
        record.finished = True
        if record.active is not None:
            record.active.add(-1)
        if record.in_flight is not None:
            record.in_flight.add(-1)
        error_type = error or (str(status) if status >= 500 else "")
        if self.semconv:
            self._duration(route, record.method, status, record.scheme, error_type).record(seconds)
        if self.classic:
            method = record.method if record.method != "_OTHER" else "other"
            self._total(endpoint, method, str(status)).add()
            self._classic_duration(endpoint).record(seconds)
