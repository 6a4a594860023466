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
from typing import TYPE_CHECKING, Any

from otelsvc._http_methods import DEFAULT_KNOWN_METHODS, OTHER_METHOD, known_methods
from otelsvc._routes import ROUTES
from otelsvc.instruments._binding import FamilyInstruments
from otelsvc.instruments._interner import OTHER, Interner
from otelsvc.instruments._spec import Family, Label, MetricSpec

if TYPE_CHECKING:
    from otelsvc._guard import ProviderGuard

__all__ = ["DEFAULT_EXCLUDE", "HTTP_FAMILY", "HttpMetrics", "RequestRecord", "fold_method"]

METHODS = tuple(sorted(DEFAULT_KNOWN_METHODS))
SEMCONV_METHOD = Label("http.request.method", (*METHODS, OTHER_METHOD),
                       description="exact method if known (OTEL_INSTRUMENTATION_HTTP_KNOWN_METHODS overrides the list)")
CLASSIC_METHOD = Label("method", (*METHODS, "other"))
SCHEME = Label("url.scheme", ("http", "https"))
ROUTE = Label("http.route", interned=True, description="route template or prefix rule; absent when unmatched")
ENDPOINT = Label("endpoint", interned=True, description="route template or prefix rule; 'other' when unmatched")
STATUS = Label("http.response.status_code", interned=True, description="numeric status code (an int attribute)")
CLASSIC_STATUS = Label("status", interned=True, description="status code as a string")
ERROR = Label("error.type", interned=True, description="exception class name, or the status code for 5xx")
PROTOCOL = Label("network.protocol.version", interned=True, description="HTTP version: 1.0, 1.1, 2, 3")

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
                   (ROUTE, SEMCONV_METHOD, STATUS, SCHEME, ERROR, PROTOCOL), "http"),
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

DEFAULT_EXCLUDE = tuple(f"^{re.escape(route)}$" for route in ROUTES)
_LITERAL = re.compile(r"\^((?:[A-Za-z0-9/_~-]|\\.)*)\$")
_VERSIONS = {"1.0": "1.0", "1.1": "1.1", "2": "2", "2.0": "2", "3": "3", "3.0": "3"}


def fold_method(method: str, known: frozenset[str] = DEFAULT_KNOWN_METHODS) -> str:
    """The method if it is known (case-sensitive, as RFC 9110 says), else ``_OTHER``."""
    return method if method in known else OTHER_METHOD


class RequestRecord:
    """What one request incremented, so that the decrement uses exactly the same handles."""

    __slots__ = ("active", "finished", "in_flight", "method", "scheme")

    def __init__(self, active: Any, in_flight: Any, method: str, scheme: str) -> None:
        self.active = active
        self.in_flight = in_flight
        self.method = method
        self.scheme = scheme
        self.finished = False


class HttpMetrics:
    """Records the http family for the middleware.

    Every label combination is a handle cached under the raw values the middleware passes (the status
    as an int), so a request costs a few dict probes; new values are checked and bounded once.
    ``OTEL_INSTRUMENTATION_HTTP_KNOWN_METHODS`` is read here, once.
    """

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
        self.guard = guard
        self.instruments = FamilyInstruments(guard, HTTP_FAMILY, legacy=classic)
        self.classic = classic
        self.exclude_telemetry = exclude_telemetry
        self.semconv = semconv
        self.prefix_rules = tuple(prefix_rules)
        self.known_methods = known_methods()
        self._exact, self._patterns = _split_exclude(exclude)
        self.interners = {
            "http.route": Interner("http.route", route_cap),
            "endpoint": Interner("endpoint", route_cap),
            "status": Interner("status", 100),
            "error.type": Interner("error.type", 100),
        }
        self._route = self.interners["http.route"]
        self._endpoint = self.interners["endpoint"]
        self._error = self.interners["error.type"]
        self._active_cache: dict[tuple[str, str], Any] = {}
        self._in_flight_cache: dict[str, Any] = {}
        self._duration_cache: dict[tuple[str, str, int, str, str, str], Any] = {}
        self._total_cache: dict[tuple[str, str, int], Any] = {}
        self._classic_duration_cache: dict[str, Any] = {}

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
        if path in self._exact:
            return True
        return self._patterns is not None and self._patterns.search(path) is not None

    def labels_for(self, template: str | None, path: str) -> tuple[str, str]:
        """(http.route, endpoint): the template, else the first prefix rule, else ("", "other")."""
        if template:
            return template, template
        for prefix, name in self.prefix_rules:
            if path.startswith(prefix):
                return name, name
        return "", OTHER

    def start(self, method: str, scheme: str, endpoint: str, semconv: bool = True) -> RequestRecord:
        """Count a request in flight, with the handles its decrement will use (``semconv=False``
        when a framework records the semconv instruments itself)."""
        method = method if method in self.known_methods else OTHER_METHOD
        if scheme != "http" and scheme != "https":
            scheme = "http"
        active = None
        if self.semconv and semconv:
            key = (method, scheme)
            active = self._active_cache.get(key)
            if active is None:
                active = self._active_cache[key] = self.instruments["http.server.active_requests"].bind(*key)
            active.add(1)
        in_flight = None
        if self.classic:
            in_flight = self._in_flight_cache.get(endpoint)
            if in_flight is None:
                in_flight = self._in_flight_cache[endpoint] = self.instruments["http_requests_in_flight"].bind(
                    self._endpoint(endpoint))
            in_flight.add(1)
        return RequestRecord(active, in_flight, method, scheme)

    def finish(self, record: RequestRecord, route: str, endpoint: str, status: int, error: str | None,
               seconds: float, protocol: str = "") -> None:
        """Decrement with the same handles, then record duration and count (once per request)."""
        if record.finished:
            return
        record.finished = True
        if record.active is not None:
            record.active.add(-1)
            error_type = error or (str(status) if status >= 500 else "")
            key = (route, record.method, status, record.scheme, error_type, protocol)
            handle = self._duration_cache.get(key)
            if handle is None:
                handle = self._bind_duration(key)
            handle.record(seconds)
        if record.in_flight is not None:
            record.in_flight.add(-1)
            total_key = (endpoint, record.method, status)
            total = self._total_cache.get(total_key)
            if total is None:
                total = self._bind_total(total_key)
            total.add(1)
            classic = self._classic_duration_cache.get(endpoint)
            if classic is None:
                classic = self._classic_duration_cache[endpoint] = self.instruments["http_request_duration"].bind(
                    self._endpoint(endpoint))
            classic.record(seconds)

    def _bind_duration(self, key: tuple[str, str, int, str, str, str]) -> Any:
        route, method, status, scheme, error_type, protocol = key
        handle = self.instruments["http.server.request.duration"].bind(
            self._route(route) if route else "", method, _status(status), scheme,  # type: ignore[arg-type]
            self._error(error_type) if error_type else "", _VERSIONS.get(protocol, ""))
        if len(self._duration_cache) < 10_000:
            self._duration_cache[key] = handle
        return handle

    def _bind_total(self, key: tuple[str, str, int]) -> Any:
        endpoint, method, status = key
        classic_method = method if method in METHODS else "other"
        handle = self.instruments["http_requests"].bind(self._endpoint(endpoint), classic_method,
                                                        self.interners["status"](str(_status(status))))
        if len(self._total_cache) < 10_000:
            self._total_cache[key] = handle
        return handle


def _status(status: int) -> int:
    """The status as recorded: an int attribute; anything outside 100-599 counts as 500."""
    return status if isinstance(status, int) and 100 <= status <= 599 else 500


def _split_exclude(patterns: Sequence[str]) -> tuple[frozenset[str], re.Pattern[str] | None]:
    """Exact-path patterns (``^/metrics$``) as a set, the rest as one alternation."""
    exact: set[str] = set()
    rest: list[str] = []
    for pattern in patterns:
        literal = _LITERAL.fullmatch(pattern)
        if literal is not None:
            exact.add(re.sub(r"\\(.)", r"\1", literal.group(1)))
        else:
            rest.append(pattern)
    return frozenset(exact), (re.compile("|".join(f"(?:{p})" for p in rest)) if rest else None)
