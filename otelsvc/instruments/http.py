"""The http family: serving HTTP, recorded by the ASGI and WSGI middleware.

OTel semantic-convention instruments (``http.server.active_requests``,
``http.server.request.duration``) and, beside them, the classic instruments existing dashboards
use (``http_requests_in_flight``, ``http_requests_total``, ``http_request_duration_seconds``),
switchable off. Never namespaced. The route / endpoint label is bounded: the framework's route
template, else the first matching prefix rule, else unmatched (``other`` for the classic endpoint,
no ``http.route`` for semconv).
"""

from __future__ import annotations

import contextlib
import itertools
import os
import re
import threading
import weakref
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

from otelsvc._handles import (
    CounterHandle,
    HistogramHandle,
    UpDownCounterHandle,
    end_request,
    fold_requests,
    gil_enabled,
    record_pair,
    step_pair,
    step_request,
)
from otelsvc._serving.http_methods import DEFAULT_KNOWN_METHODS, OTHER_METHOD, known_methods
from otelsvc._serving.routes import ROUTES
from otelsvc.instruments._binding import FamilyInstruments
from otelsvc.instruments._interner import OTHER, Interner
from otelsvc.instruments._spec import Family, Label, MetricSpec

if TYPE_CHECKING:
    from otelsvc._bridge import BridgedInstrument
    from otelsvc._guard import ProviderGuard

__all__ = ["DEFAULT_EXCLUDE", "HTTP_FAMILY", "Flight", "HttpMetrics", "RequestRecord", "fold_method"]

METHODS = tuple(sorted(DEFAULT_KNOWN_METHODS))
SEMCONV_METHOD = Label(
    "http.request.method",
    (*METHODS, OTHER_METHOD),
    description="exact method if known (OTEL_INSTRUMENTATION_HTTP_KNOWN_METHODS overrides the list)",
)
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
        MetricSpec(
            "http.server.active_requests", "updowncounter", "{request}", "Requests in flight", (SEMCONV_METHOD, SCHEME)
        ),
        MetricSpec(
            "http.server.request.duration",
            "histogram",
            "s",
            "Duration of HTTP server requests",
            (ROUTE, SEMCONV_METHOD, STATUS, SCHEME, ERROR, PROTOCOL),
            "http",
        ),
        MetricSpec(
            "http_requests_in_flight", "updowncounter", "", "Requests in flight (classic)", (ENDPOINT,), legacy=True
        ),
        MetricSpec(
            "http_requests",
            "counter",
            "",
            "Requests served (classic)",
            (ENDPOINT, CLASSIC_METHOD, CLASSIC_STATUS),
            legacy=True,
        ),
        MetricSpec(
            "http_request_duration", "histogram", "s", "Request duration (classic)", (ENDPOINT,), "http", legacy=True
        ),
    ),
    notes=(
        "Classic instruments are recorded beside the semconv ones unless classic=False; their Prometheus "
        "names are http_requests_in_flight, http_requests_total and http_request_duration_seconds.",
    ),
)

DEFAULT_EXCLUDE = tuple(f"^{re.escape(route)}$" for route in ROUTES)
_LITERAL = re.compile(r"\^((?:[A-Za-z0-9/_~-]|\\.)*)\$")
_VERSIONS = {"1.0": "1.0", "1.1": "1.1", "2": "2", "2.0": "2", "3": "3", "3.0": "3"}


def fold_method(method: str, known: frozenset[str] = DEFAULT_KNOWN_METHODS) -> str:
    """The method if it is known (case-sensitive, as RFC 9110 says), else ``_OTHER``."""
    return method if method in known else OTHER_METHOD


class RequestRecord:
    """What one request incremented, so that the decrement uses exactly the same handles."""

    __slots__ = ("finished", "flight")

    def __init__(self, flight: Flight) -> None:
        self.flight = flight
        self.finished = False

    @property
    def method(self) -> str:
        return self.flight.method

    @property
    def scheme(self) -> str:
        return self.flight.scheme


class Flight:
    """The series a request starts in (in-flight counts for one raw method, scheme and start endpoint),
    with the series it may end in, cached by (route, endpoint, status, error, protocol): a request costs
    two dict probes, a count advanced at its start and its seconds appended at its end, folded into the
    series later (``fold_requests``)."""

    __slots__ = ("active", "defer", "ends", "fast", "in_flight", "method", "scheme", "started", "taken")

    def __init__(self, active: Any, in_flight: Any, method: str, scheme: str) -> None:
        self.active = active
        self.in_flight = in_flight
        self.method = method
        self.scheme = scheme
        # Both conventions on, plain handles: the fused one-lock paths (``step_request``, ``end_request``).
        self.fast = type(active) is UpDownCounterHandle and type(in_flight) is UpDownCounterHandle
        # Starts and ends may be deferred (``fold_requests``): set once the flight is cached (so a
        # collection finds it), on builds with a GIL (``next`` and a list append are then atomic).
        self.defer = False
        self.started = itertools.count()
        self.taken = 0
        self.ends: dict[tuple[str, str, int, str | None, str], tuple[Any, Any, Any, bool, int, list[float]]] = {}

    def fold(self) -> None:
        """Apply the deferred starts and ends to the series (``fold_requests``)."""
        fold_requests(self, list(self.ends.values()))

    def reset(self) -> None:
        """Forget deferred starts and ends (a forked child's copies of the parent's requests)."""
        self.started = itertools.count()
        self.taken = 0
        for series in self.ends.values():
            series[5].clear()


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
        self.exact_exclude, self.exclude_pattern = _split_exclude(exclude)
        self.interners = {
            "http.route": Interner("http.route", route_cap),
            "endpoint": Interner("endpoint", route_cap),
            "status": Interner("status", 100),
            "error.type": Interner("error.type", 100),
        }
        self._route = self.interners["http.route"]
        self._endpoint = self.interners["endpoint"]
        self._error = self.interners["error.type"]
        self.flights: dict[tuple[str, str, str], Flight] = {}  # read by the middleware: one probe a request
        self._native_flights: dict[tuple[str, str, str], Flight] = {}  # semconv left to FastAPI
        self._active_cache: dict[tuple[str, str], Any] = {}
        self._in_flight_cache: dict[str, Any] = {}
        self._total_cache: dict[tuple[str, str, int], Any] = {}
        self._lock = threading.Lock()
        _share_lock(self.instruments.instruments.values())
        _SHARING.add(self)
        hook = _fold_hook(self)
        guard.bridge.collect_hooks.append(hook)
        # No dead hooks pile up; not at exit, where the guard's last collection still needs the fold.
        weakref.finalize(self, _drop_hook, guard.bridge.collect_hooks, hook).atexit = False

    @classmethod
    def for_middleware(
        cls, guard: ProviderGuard | None, metrics: HttpMetrics | None, options: dict[str, Any]
    ) -> HttpMetrics:
        """The recorder a middleware uses: the one given, or a new one on ``guard`` with ``options``."""
        if metrics is not None:
            return metrics
        if guard is None:
            raise TypeError("HttpMetricsMiddleware needs guard= or metrics=")
        return cls(guard, **options)

    def excluded(self, path: str) -> bool:
        """True for paths not to record (by default the telemetry routes)."""
        if path in self.exact_exclude:
            return True
        return self.exclude_pattern is not None and self.exclude_pattern.search(path) is not None

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
        key = (method, scheme, endpoint)
        flight = (self.flights if semconv else self._native_flights).get(key)
        if flight is None:
            flight = self.flight(method, scheme, endpoint, semconv)
        if flight.fast:
            step_request(flight.active, flight.in_flight, 1)
        else:
            step_pair(flight.active, flight.in_flight, 1)
        return RequestRecord(flight)

    def finish(
        self,
        record: RequestRecord,
        route: str,
        endpoint: str,
        status: int,
        error: str | None,
        seconds: float,
        protocol: str = "",
    ) -> None:
        """Decrement with the same handles, then record duration and count (once per request)."""
        if record.finished:
            return
        record.finished = True
        self.end(record.flight, route, endpoint, status, error, seconds, protocol)

    def end(
        self,
        flight: Flight,
        route: str,
        endpoint: str,
        status: int,
        error: str | None,
        seconds: float,
        protocol: str,
    ) -> None:
        """``finish`` without the once-only flag, for a caller that ends each request once by
        construction (the ASGI middleware's ``finally``)."""
        series = flight.ends.get((route, endpoint, status, error, protocol))
        if series is None:
            series = self.bind_ends(flight, route, endpoint, status, error, protocol)
        duration, total, classic, fast = series[:4]
        if fast:
            end_request(flight.active, flight.in_flight, duration, classic, total, seconds)
            return
        step_pair(flight.active, flight.in_flight, -1)
        record_pair(duration, classic, seconds)
        if total is not None:
            total.add(1)

    def flight(self, method: str, scheme: str, endpoint: str, semconv: bool = True) -> Flight:
        """The cached ``Flight`` for these raw values (made and bounded on first sight)."""
        flights = self.flights if semconv else self._native_flights
        key = (method, scheme, endpoint)
        flight = flights.get(key)
        if flight is not None:
            return flight
        folded = method if method in self.known_methods else OTHER_METHOD
        scheme_value = scheme if scheme == "http" or scheme == "https" else "http"
        active = in_flight = None
        with self._lock:
            if self.semconv and semconv:
                pair = (folded, scheme_value)
                active = self._active_cache.get(pair)
                if active is None:
                    active = self._active_cache[pair] = self.instruments["http.server.active_requests"].bind(*pair)
            if self.classic:
                in_flight = self._in_flight_cache.get(endpoint)
                if in_flight is None:
                    in_flight = self._in_flight_cache[endpoint] = self.instruments["http_requests_in_flight"].bind(
                        self._endpoint(endpoint)
                    )
            flight = Flight(active, in_flight, folded, scheme_value)
            if len(flights) < 10_000:  # raw methods are unbounded: past this, each request binds (bounded)
                flights[key] = flight
                flight.defer = flight.fast and gil_enabled and semconv
        return flight

    def fold(self) -> None:
        """Apply every flight's deferred starts and ends (before each collection, as a bridge hook)."""
        for flight in list(self.flights.values()):
            if flight.defer:
                flight.fold()

    def bind_ends(
        self, flight: Flight, route: str, endpoint: str, status: int, error: str | None, protocol: str
    ) -> tuple[Any, Any, Any, bool, int, list[float]]:
        """The (duration, total, classic, fused, deferrable, deferred seconds) series a request of
        ``flight`` ends in, bound, checked and cached in ``flight.ends`` (the middlewares probe that
        dict themselves first)."""
        duration = total = classic = None
        if flight.active is not None:
            error_type = error or (str(status) if status >= 500 else "")
            duration = self.instruments["http.server.request.duration"].bind(
                self._route(route) if route else "",
                flight.method,
                _status(status),  # type: ignore[arg-type]
                flight.scheme,
                self._error(error_type) if error_type else "",
                _VERSIONS.get(protocol, ""),
            )
        if flight.in_flight is not None:
            total_key = (endpoint, flight.method, status)
            total = self._total_cache.get(total_key)
            if total is None:
                total = self._bind_total(total_key)
            classic = self.instruments["http_request_duration"].bind(self._endpoint(endpoint))
        fast = (
            flight.fast
            and type(duration) is HistogramHandle
            and type(classic) is HistogramHandle
            and type(total) is CounterHandle
        )
        # May the end be deferred: 2 always, 1 when no span is current (the exemplar filters, none of
        # them always_on, take nothing then), 0 never (nor when the series is not cached: a
        # collection folds the cached ones).
        defer = 0
        cached = len(flight.ends) < 10_000
        if fast and flight.defer and cached:
            filters = {duration._exf, classic._exf, total._exf}  # type: ignore[union-attr]
            defer = 0 if 2 in filters else 1 if 1 in filters else 2
        series: tuple[Any, Any, Any, bool, int, list[float]] = (duration, total, classic, fast, defer, [])
        if cached:
            flight.ends[(route, endpoint, status, error, protocol)] = series
        return series

    def _bind_total(self, key: tuple[str, str, int]) -> Any:
        endpoint, method, status = key
        classic_method = method if method in METHODS else "other"
        handle = self.instruments["http_requests"].bind(
            self._endpoint(endpoint), classic_method, self.interners["status"](str(_status(status)))
        )
        if len(self._total_cache) < 10_000:
            self._total_cache[key] = handle
        return handle


def _fold_hook(metrics: HttpMetrics) -> Callable[[], None]:
    """A collect hook folding ``metrics``' deferred requests; it holds the recorder weakly."""
    ref = weakref.ref(metrics)

    def fold() -> None:
        live = ref()
        if live is not None:
            live.fold()

    return fold


def _drop_hook(hooks: list[Callable[[], None]], hook: Callable[[], None]) -> None:
    """Take a collected recorder's fold hook off the bridge's list."""
    with contextlib.suppress(ValueError):
        hooks.remove(hook)


def _share_lock(instruments: Iterable[BridgedInstrument]) -> None:
    """One lock for the family's instruments that have no series yet (so a request's end takes one lock
    for its five series): set before any handle is made, as handles keep their instrument's lock."""
    fresh = [inst for inst in instruments if next(inst.handles(), None) is None]
    if fresh:
        lock = threading.Lock()
        for inst in fresh:
            inst.lock = lock


_SHARING: weakref.WeakSet[HttpMetrics] = weakref.WeakSet()


def _share_again_in_child() -> None:
    """After a fork the bridge gives each instrument (and its handles) a fresh lock of its own; the child
    is single-threaded here, so the family's instruments and handles can share one again."""
    for metrics in list(_SHARING):
        for flight in metrics.flights.values():
            flight.reset()  # the parent's deferred requests, not this process's
        lock = threading.Lock()
        for inst in metrics.instruments.instruments.values():
            inst.lock = lock
            for _, handle in inst.handles():
                handle._lock = lock


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_share_again_in_child)


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
