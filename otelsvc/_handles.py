"""Handles: one series each, pre-bound to its label values, recording with no allocation per call.

A handle keeps its own running aggregate (a sum, a last value, or histogram buckets) under its
instrument's lock; the readers read that aggregate at collection time through the bridge. This is
what makes recording cost one lock and one addition instead of the SDK's attribute hashing and
per-reader fan-out.

Exemplars (``OTEL_METRICS_EXEMPLAR_FILTER``): a counter series keeps its latest exemplar and a
histogram series the latest per bucket, each as (value, time, trace id, span id). With the default
``trace_based`` filter the recording path looks up the current context's span entry once; only a
sampled span costs more (its ids and the time).
"""

from __future__ import annotations

import itertools
import math
import sys
import threading
import time
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterator, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

from opentelemetry.context import _RUNTIME_CONTEXT, get_current
from opentelemetry.context.contextvars_context import ContextVarsRuntimeContext
from opentelemetry.trace.propagation import _SPAN_KEY

from otelsvc._values import (
    FLOAT_MAX,
    INT64_MAX,
    NEGATIVE,
    NOT_FINITE,
    OVERFLOW,
    UNREPRESENTABLE,
    Unrepresentable,
    coerce,
    drop,
    widen,
)

if TYPE_CHECKING:
    from otelsvc._bridge import BridgedInstrument

__all__ = [
    "EXEMPLAR_MODES",
    "FOLD_AFTER",
    "SPAN_KEY",
    "CounterHandle",
    "GaugeHandle",
    "Handle",
    "HistogramHandle",
    "Timer",
    "UpDownCounterHandle",
    "current_context",
    "end_request",
    "fold_requests",
    "gil_enabled",
    "record_pair",
    "step_pair",
    "step_request",
]

F = TypeVar("F", bound=Callable[..., Any])

_perf = time.perf_counter
_INF = math.inf
_INT_MIN = -INT64_MAX - 1
_ONE = 1
# Below this a sum plus the units pending beside it stays within int64 (2**62 units at a billion per
# second would take 146 years).
_UNIT_MAX = 2**62
_GIL = bool(getattr(sys, "_is_gil_enabled", lambda: True)())
_time_ns = time.time_ns

# Exemplar filter modes, as handles keep them (the recording path tests the literals).
EXEMPLAR_MODES = {"always_off": 0, "trace_based": 1, "always_on": 2}

# The current context (a dict) without the API's call layers when the runtime is the default one.
_current_context = (
    _RUNTIME_CONTEXT._current_context.get if type(_RUNTIME_CONTEXT) is ContextVarsRuntimeContext else get_current
)

# An exemplar: (value, time in ns, trace id, span id); ids are 0 when there was no valid span.
ExemplarTuple = tuple[float, int, int, int]


# The last span seen recording, with its ids and sampled flag: a span's ids never change, and one
# span is usually current for many recordings in a row. One tuple, replaced whole (thread-safe).
_last_span: tuple[Any, int, int, bool] = (None, 0, 0, False)


def _span_ids(span: Any) -> tuple[Any, int, int, bool]:
    """(span, trace id, span id, sampled) of ``span``, remembered as the last span seen."""
    global _last_span
    ctx = span.get_span_context()
    _last_span = (span, ctx.trace_id, ctx.span_id, bool(ctx.trace_flags & 1))
    return _last_span


class Handle:
    """Base of every handle: the series' label values and its owning instrument."""

    __slots__ = ("_exf", "_lock", "_owner", "_seen", "_start", "_values", "label_text")

    def __init__(self, owner: BridgedInstrument, values: tuple[str, ...], lock: threading.Lock) -> None:
        self._owner = owner
        self._values = values
        self._lock = lock
        self._seen = False
        self._start = time.time_ns()
        self._exf: int = getattr(owner, "exemplar_mode", 0)
        self.label_text: str | tuple[str, str, str] | None = None

    @property
    def attributes(self) -> dict[str, str]:
        """The label values this handle is bound to, by label key."""
        return dict(zip(self._owner.label_keys, self._values, strict=False))

    def exemplars(self, since: int) -> Sequence[ExemplarTuple | None]:
        """Exemplars taken after ``since`` (ns); none on this kind."""
        return ()

    def _reset(self, lock: threading.Lock, start: int) -> None:
        self._lock = lock
        self._seen = False
        self._start = start


class _SumHandle(Handle):
    """The running sum shared by counters and up-down counters.

    The fast path takes plain ints within int64 and finite floats; anything else goes through
    ``_add_checked`` (TypeError for non-reals, drops counted). A sum past int64 becomes a float and a
    float sum that would overflow drops the measurement that caused it.
    """

    __slots__ = ("_exemplar", "_value")

    def __init__(self, owner: BridgedInstrument, values: tuple[str, ...], lock: threading.Lock) -> None:
        super().__init__(owner, values, lock)
        self._value: float = 0
        self._exemplar: ExemplarTuple | None = None

    def snapshot(self) -> float:
        return self._value

    def exemplars(self, since: int) -> list[ExemplarTuple]:
        """The series' exemplar when it was taken after ``since`` (ns): at most one."""
        ex = self._exemplar
        return [ex] if ex is not None and ex[1] > since else []

    def _reset(self, lock: threading.Lock, start: int) -> None:
        super()._reset(lock, start)
        self._value = 0
        self._exemplar = None

    def _add_checked(self, n: object, monotonic: bool) -> None:
        try:
            amount = coerce(n)
        except Unrepresentable:
            drop(self._owner, n, UNREPRESENTABLE)
            return
        if amount != amount or amount in (_INF, -_INF):
            drop(self._owner, n, NOT_FINITE)
            return
        if monotonic and amount < 0:
            drop(self._owner, n, NEGATIVE)
            return
        with self._lock:
            self._settle()
            self._store(self._value + amount, amount)

    def _settle(self) -> None:
        """Bring the sum up to date before a careful write (the counter's pending units)."""

    def _store(self, total: float, n: float) -> None:
        """Store a sum outside the fast path's range (called under the lock), or drop ``n``."""
        wide = widen(total)
        if wide is None:
            if n != n or n in (_INF, -_INF):
                reason = NOT_FINITE
            elif not -FLOAT_MAX <= n <= FLOAT_MAX:
                reason = UNREPRESENTABLE
            else:
                reason = OVERFLOW
            drop(self._owner, n, reason)
            return
        self._value = wide
        self._seen = True


class CounterHandle(_SumHandle):
    """A monotonic counter series; ``add`` drops negative amounts as the SDK does.

    Unless the exemplar filter is ``always_on``, a unit ``add()`` (``n`` the int 1) made outside any
    span on a series whose sum is an int of at most 2**62 takes no lock: it advances an
    ``itertools.count``, one C call the GIL makes atomic, and the count is folded into the sum under
    the lock whenever the sum is read or another amount is added (a float first folds the pending
    units, so a single thread sums in call order, as the SDK does). Inside a span (``trace_based``,
    the default filter) the add takes the lock and may take the exemplar.
    Builds without a GIL always take the locked path (docs/performance.md).
    """

    __slots__ = ("_count", "_taken", "_unit")

    def __init__(self, owner: BridgedInstrument, values: tuple[str, ...], lock: threading.Lock) -> None:
        super().__init__(owner, values, lock)
        self._count: Iterator[int] | None = None  # made when the unit path first opens (memory)
        self._taken = 0  # values of _count accounted for (folded units and the folds' own calls)
        self._unit = False  # the lock-free unit path is open

    def add(self, n: float = 1) -> None:
        """Add ``n`` (>= 0) to the series."""
        if n is _ONE and self._unit and (not self._exf or _SPAN_KEY not in _current_context()):
            next(self._count)  # type: ignore[arg-type]
            return
        cls = n.__class__
        if (cls is not int and cls is not float) or not n >= 0:  # not-a-number fails n >= 0 too
            return self._add_checked(n, True)
        exf = self._exf
        with self._lock:
            total = self._value + n
            if self._count is None:  # no unit ever pending (always so with exemplars on): the plain path
                if total > INT64_MAX:  # past int64, an infinity, or a float sum that large: the careful path
                    return self._store(total, n)
                self._value = total
                self._seen = True
                if exf != 2 and _GIL and total.__class__ is int and total <= _UNIT_MAX:
                    self._count = itertools.count()  # the unit path opens (made here: memory)
                    self._unit = True
            elif total.__class__ is int and total <= _UNIT_MAX:  # int + int: the pending units may stay pending
                self._value = total
                self._seen = True
                self._unit = _GIL and exf != 2
            else:
                self._fold()
                total = self._value + n
                if total > INT64_MAX:
                    return self._store(total, n)
                self._value = total
                self._seen = True
        if not exf:
            return
        # The exemplar filter (trace_based 1, always_on 2); the span entry is read first, as the default
        # filter needs it and a membership test is the cheapest read when there is no span.
        context = _current_context()
        if _SPAN_KEY in context:
            span = context[_SPAN_KEY]
            ids = _last_span
            if ids[0] is not span:
                ids = _span_ids(span)
            if ids[3] or exf == 2:
                self._exemplar = (n, _time_ns(), ids[1], ids[2])
        elif exf == 2:
            self._exemplar = (n, _time_ns(), 0, 0)

    def _fold(self) -> None:
        """Add the pending lock-free units to the sum and close the unit path (under the lock)."""
        self._unit = False
        if self._count is None:
            return
        mark = next(self._count)
        pending = mark - self._taken
        self._taken = mark + 1
        if pending:
            self._store(self._value + pending, pending)

    def _settle(self) -> None:
        self._fold()

    def snapshot(self) -> float:
        with self._lock:
            self._fold()
            value = self._value
            self._unit = (
                self._count is not None
                and _GIL
                and self._exf != 2
                and value.__class__ is int
                and 0 <= value <= _UNIT_MAX
                and self._seen
            )
            return value

    def _reset(self, lock: threading.Lock, start: int) -> None:
        super()._reset(lock, start)
        self._count = None
        self._taken = 0
        self._unit = False


class UpDownCounterHandle(_SumHandle):
    """An up-down counter series (a count of things currently alive)."""

    __slots__ = ()

    def add(self, n: float = 1) -> None:
        """Add ``n`` (may be negative) to the series."""
        cls = n.__class__
        if cls is not int and cls is not float:
            return self._add_checked(n, False)
        with self._lock:
            total = self._value + n
            if not _INT_MIN <= total <= INT64_MAX:  # also an infinity or not-a-number
                return self._store(total, n)
            self._value = total
            self._seen = True


class GaugeHandle(Handle):
    """A gauge series: the last value set wins; non-finite values are dropped as the SDK does."""

    __slots__ = ("_value",)

    def __init__(self, owner: BridgedInstrument, values: tuple[str, ...], lock: threading.Lock) -> None:
        super().__init__(owner, values, lock)
        self._value: float = 0

    def set(self, v: float) -> None:
        """Set the current value (an int beyond int64 is kept as a float)."""
        cls = v.__class__
        if cls is int:
            if not _INT_MIN <= v <= INT64_MAX:
                return self._set_checked(v)
        elif cls is not float or not -_INF < v < _INF:
            return self._set_checked(v)
        self._value = v
        self._seen = True

    def _set_checked(self, v: object) -> None:
        try:
            value = coerce(v)
        except Unrepresentable:
            drop(self._owner, v, UNREPRESENTABLE)
            return
        wide = widen(value)
        if wide is None:
            drop(self._owner, v, NOT_FINITE)
            return
        self._value = wide
        self._seen = True

    def snapshot(self) -> float:
        return self._value

    def _reset(self, lock: threading.Lock, start: int) -> None:
        super()._reset(lock, start)
        self._value = 0


class HistogramHandle(Handle):
    """A histogram series with the instrument's explicit buckets, sum, count, min and max.

    ``_min``/``_max`` hold the extremes since the last delta collection and ``_cmin``/``_cmax``
    those before it, so a delta reader gets per-interval extremes and a cumulative reader the
    extremes since start, with nothing extra on the recording path. (One delta reader per guard:
    the OTLP push is the only one otelsvc makes.)
    """

    __slots__ = ("_bounds", "_cmax", "_cmin", "_counts", "_ex_last", "_exemplars", "_max", "_min", "_sum")

    def __init__(
        self,
        owner: BridgedInstrument,
        values: tuple[str, ...],
        lock: threading.Lock,
        bounds: tuple[float, ...],
    ) -> None:
        super().__init__(owner, values, lock)
        self._bounds = bounds
        self._counts = [0] * (len(bounds) + 1)
        self._sum: float = 0
        self._min = math.inf
        self._max = -math.inf
        self._cmin = math.inf
        self._cmax = -math.inf
        self._exemplars: list[ExemplarTuple | None] | None = None  # per bucket, made at the first exemplar
        self._ex_last = 0  # time of the latest exemplar (a scrape skips series without a new one)

    def record(self, v: float) -> None:
        """Record one observation ``v`` (>= 0; negative values are dropped as the SDK does)."""
        cls = v.__class__
        if cls is float:
            if not 0.0 <= v < _INF:
                return self._record_checked(v)
        elif cls is not int or not 0 <= v <= INT64_MAX:
            return self._record_checked(v)
        i = bisect_left(self._bounds, v)
        with self._lock:
            total = self._sum + v
            if total > FLOAT_MAX:
                drop(self._owner, v, OVERFLOW)
                return
            self._counts[i] += 1
            self._sum = total
            if v < self._min:
                self._min = v
            if v > self._max:
                self._max = v
            self._seen = True
        context = _current_context()  # the exemplar filter, as in CounterHandle.add
        if _SPAN_KEY in context:
            if self._exf:
                span = context[_SPAN_KEY]
                ids = _last_span
                if ids[0] is not span:
                    ids = _span_ids(span)
                if ids[3] or self._exf == 2:
                    self._exemplar_at(i, (v, _time_ns(), ids[1], ids[2]))
        elif self._exf == 2:
            self._exemplar_at(i, (v, _time_ns(), 0, 0))

    def _exemplar_at(self, bucket: int, exemplar: ExemplarTuple) -> None:
        exemplars = self._exemplars
        if exemplars is None:
            exemplars = self._exemplars = [None] * (len(self._bounds) + 1)
        exemplars[bucket] = exemplar
        self._ex_last = exemplar[1]

    def _record_checked(self, v: object) -> None:
        try:
            value = coerce(v)
        except Unrepresentable:
            drop(self._owner, v, UNREPRESENTABLE)
            return
        if value != value or value in (_INF, -_INF):
            drop(self._owner, v, NOT_FINITE)
        elif value < 0:
            drop(self._owner, v, NEGATIVE)
        else:
            self.record(float(value) if value > INT64_MAX else value)

    def time(self) -> Timer:
        """A context manager (and decorator) recording the elapsed seconds of its block."""
        return Timer(self)

    def snapshot(self) -> tuple[list[int], float, float, float]:
        """Cumulative (bucket counts, sum, min, max) since the series started."""
        with self._lock:
            return list(self._counts), self._sum, min(self._cmin, self._min), max(self._cmax, self._max)

    def harvest(self) -> tuple[list[int], float, float, float]:
        """Cumulative counts and sum, with min and max of the interval since the last harvest."""
        with self._lock:
            low, high = self._min, self._max
            self._cmin, self._cmax = min(self._cmin, low), max(self._cmax, high)
            self._min, self._max = math.inf, -math.inf
            return list(self._counts), self._sum, low, high

    def exemplars(self, since: int) -> list[ExemplarTuple | None]:
        """Per bucket, the latest exemplar taken after ``since`` (ns), else None; [] when none is."""
        exemplars = self._exemplars
        if self._ex_last <= since or exemplars is None:
            return []
        return [ex if ex is not None and ex[1] > since else None for ex in exemplars]

    def _reset(self, lock: threading.Lock, start: int) -> None:
        super()._reset(lock, start)
        self._exemplars = None
        self._ex_last = 0
        self._counts = [0] * (len(self._bounds) + 1)
        self._sum = 0
        self._min = self._cmin = math.inf
        self._max = self._cmax = -math.inf


class Timer:
    """Times a block with ``time.perf_counter`` and records the seconds on exit, also on error."""

    __slots__ = ("_handle", "_t0")

    def __init__(self, handle: HistogramHandle) -> None:
        self._handle = handle
        self._t0 = 0.0

    def __enter__(self) -> Timer:
        self._t0 = _perf()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._handle.record(_perf() - self._t0)

    def __call__(self, func: F) -> F:
        handle = self._handle

        def wrapper(*args: Any, **kwargs: Any) -> Any:
            t0 = _perf()
            try:
                return func(*args, **kwargs)
            finally:
                handle.record(_perf() - t0)

        wrapper.__name__ = getattr(func, "__name__", "wrapper")
        wrapper.__doc__ = func.__doc__
        return wrapper  # type: ignore[return-value]


# Fused paths for the HTTP middleware, which records the same few series on every request: one
# Python call for a request's start and one for its end instead of a call, a ``with`` block and a
# context read per series. Each series still changes under its own instrument's lock and keeps its
# checks, so readers see what the handle methods would have left; anything unusual (a value or a sum
# out of the plain range, another handle type) takes the handle methods.


def step_pair(first: UpDownCounterHandle | None, second: UpDownCounterHandle | None, n: int) -> None:
    """``first.add(n)`` then ``second.add(n)`` for an int ``n`` (a request entering or leaving the
    in-flight counts), either possibly None."""
    for handle in (first, second):
        if handle is None:
            continue
        if handle.__class__ is not UpDownCounterHandle:
            handle.add(n)
            continue
        lock = handle._lock
        lock.acquire()
        try:
            total = handle._value + n
            careful = not _INT_MIN <= total <= INT64_MAX
            if not careful:
                handle._value = total
                handle._seen = True
        finally:
            lock.release()
        if careful:
            handle.add(n)


def record_pair(first: HistogramHandle | None, second: HistogramHandle | None, v: float) -> None:
    """``first.record(v)`` then ``second.record(v)`` (a request's semconv and classic durations), either
    possibly None, with one bisect when their bounds are the same and one read of the current context."""
    if v.__class__ is not float or not 0.0 <= v < _INF:
        for handle in (first, second):
            if handle is not None:
                handle.record(v)
        return
    context: Any = None
    bounds: Any = None
    i = 0
    for handle in (first, second):
        if handle is None:
            continue
        if handle.__class__ is not HistogramHandle:
            handle.record(v)
            continue
        if handle._bounds is not bounds:
            bounds = handle._bounds
            i = bisect_left(bounds, v)
        lock = handle._lock
        lock.acquire()
        try:
            total = handle._sum + v
            if total > FLOAT_MAX:
                drop(handle._owner, v, OVERFLOW)
                continue
            handle._counts[i] += 1
            handle._sum = total
            if v < handle._min:
                handle._min = v
            if v > handle._max:
                handle._max = v
            handle._seen = True
        finally:
            lock.release()
        exf = handle._exf
        if exf:  # the exemplar filter, as in ``record``
            if context is None:
                context = _current_context()
            if _SPAN_KEY in context:
                span = context[_SPAN_KEY]
                ids = _last_span
                if ids[0] is not span:
                    ids = _span_ids(span)
                if ids[3] or exf == 2:
                    handle._exemplar_at(i, (v, _time_ns(), ids[1], ids[2]))
            elif exf == 2:
                handle._exemplar_at(i, (v, _time_ns(), 0, 0))


def step_request(first: UpDownCounterHandle, second: UpDownCounterHandle, n: int) -> None:
    """``step_pair(first, second, n)`` for two plain up-down counter series that share one lock (the
    in-flight counts of a request when both conventions are on): one lock taken once."""
    lock = first._lock
    if second._lock is lock:
        lock.acquire()
        try:
            a = first._value + n
            b = second._value + n
            plain = _INT_MIN <= a <= INT64_MAX and _INT_MIN <= b <= INT64_MAX
            if plain:
                first._value = a
                first._seen = True
                second._value = b
                second._seen = True
        finally:
            lock.release()
        if plain:
            return
    step_pair(first, second, n)


def end_request(
    active: UpDownCounterHandle,
    in_flight: UpDownCounterHandle,
    duration: HistogramHandle,
    classic: HistogramHandle,
    total: CounterHandle,
    v: float,
) -> None:
    """A request's end when both conventions are on: the two in-flight counts down by one, ``v``
    recorded in both duration histograms and the request counted, under one lock when the five plain
    series share it (else, or for anything out of the plain range, through the general path)."""
    lock = active._lock
    if (
        in_flight._lock is lock
        and duration._lock is lock
        and classic._lock is lock
        and total._lock is lock
        and v.__class__ is float
        and 0.0 <= v < _INF
    ):
        bounds = duration._bounds
        i = bisect_left(bounds, v)
        j = i if classic._bounds is bounds else bisect_left(classic._bounds, v)
        lock.acquire()
        try:
            a = active._value - 1
            b = in_flight._value - 1
            s = duration._sum + v
            c = classic._sum + v
            n = total._value + 1
            plain = a >= _INT_MIN and b >= _INT_MIN and s <= FLOAT_MAX and c <= FLOAT_MAX and n <= _PLAIN_MAX
            if plain:
                active._value = a
                active._seen = True
                in_flight._value = b
                in_flight._seen = True
                duration._counts[i] += 1
                duration._sum = s
                if v < duration._min:
                    duration._min = v
                if v > duration._max:
                    duration._max = v
                duration._seen = True
                classic._counts[j] += 1
                classic._sum = c
                if v < classic._min:
                    classic._min = v
                if v > classic._max:
                    classic._max = v
                classic._seen = True
                total._value = n
                total._seen = True
        finally:
            lock.release()
        if plain:
            # The exemplar filters, as ``record`` and ``add`` apply them: nothing more without a span
            # in the context, unless a filter is always_on.
            if (duration._exf or classic._exf or total._exf) and (
                _SPAN_KEY in _current_context() or 2 in (duration._exf, classic._exf, total._exf)
            ):
                _request_exemplars(duration, i, classic, j, total, v)
            return
    step_pair(active, in_flight, -1)
    record_pair(duration, classic, v)
    total.add(1)


# A counter sum past this takes ``add`` (which knows the counter's own fast-path limits).
_PLAIN_MAX = 2**62

# A middleware folds an end series' deferred seconds once more than this many wait (the folds are cheap
# per value in a batch; the list stays small between collections).
FOLD_AFTER = 64

# The current context, for the middlewares' exemplar test before they defer a request's end.
current_context = _current_context
gil_enabled = _GIL
SPAN_KEY = _SPAN_KEY


def fold_requests(flight: Any, ends: Sequence[Any]) -> None:
    """Apply a flight's deferred request starts, and the deferred ends of each series in ``ends``.

    A middleware on the deferred path counts a request's start with ``next(flight.started)`` and
    appends its end's seconds to the list its end series carries (``series[5]``), each one C call the
    GIL makes atomic, instead of updating five series: what a request touches stays small, which is
    what counts inside a framework whose own work leaves little in the caches. The deferred work is
    folded here, under the family's one lock, when a list grows long and before every collection (a
    bridge collect hook), so readers see the counts, sums, buckets and extremes the handle methods
    would have left (the sum of a batch added at once). ``flight`` is an ``http.Flight``: its
    ``active`` and ``in_flight`` series, its ``started`` count and the part of it already ``taken``.
    An end is deferred only when it takes no exemplar (docs/performance.md).
    """
    active: UpDownCounterHandle = flight.active
    in_flight: UpDownCounterHandle = flight.in_flight
    lock = active._lock
    careful: list[tuple[Any, list[float]]] = []
    lock.acquire()
    try:
        mark = next(flight.started)
        change = mark - flight.taken
        flight.taken = mark + 1
        shared = in_flight._lock is lock
        for series in ends:
            values = series[5]
            n = len(values)
            if not n:
                continue
            batch = values[:n]
            del values[:n]
            change -= n
            if not (shared and _fold_run(series, batch, lock)):
                careful.append((series, batch))
        if shared:
            a = active._value + change
            b = in_flight._value + change
            if _INT_MIN <= a <= INT64_MAX and _INT_MIN <= b <= INT64_MAX:
                active._value = a
                active._seen = True
                in_flight._value = b
                in_flight._seen = True
                change = 0
    finally:
        lock.release()
    if change:
        step_pair(active, in_flight, change)
    for series, batch in careful:  # out of the plain range, or between a fork and the lock's re-sharing
        for v in batch:
            record_pair(series[0], series[2], v)
            series[1].add(1)


# Deferred durations are perf_counter differences; a batch outside [0, _SECONDS_MAX] or a sum at or
# past _SUM_ROOM takes the handle methods (and their checks) instead.
_SUM_ROOM = 1e300
_SECONDS_MAX = 1e12


def _fold_run(series: Sequence[Any], batch: list[float], lock: Any) -> bool:
    """Add ``batch`` (seconds) to a request end's two duration histograms and its request count, under
    ``lock``; False (nothing changed) when a value or a sum is out of the plain range."""
    duration: HistogramHandle = series[0]
    total: CounterHandle = series[1]
    classic: HistogramHandle = series[2]
    n = len(batch)
    s = duration._sum
    c = classic._sum
    t = total._value
    if not (
        duration._lock is lock
        and classic._lock is lock
        and total._lock is lock
        and s < _SUM_ROOM
        and c < _SUM_ROOM
        and t < _PLAIN_MAX - n
    ):
        return False
    added = sum(batch, 0.0)  # before sorting: the order the requests ended in
    batch.sort()
    low = batch[0]
    high = batch[-1]
    if low.__class__ is not float or not (low >= 0.0 and high <= _SECONDS_MAX):
        return False
    for handle in (duration, classic):
        counts = handle._counts
        below = 0
        for i, bound in enumerate(handle._bounds):  # bucket i holds bounds[i - 1] < v <= bounds[i]
            upto = bisect_right(batch, bound, below)
            if upto != below:
                counts[i] += upto - below
                below = upto
            if below == n:
                break
        else:
            counts[-1] += n - below
        handle._sum += added
        if low < handle._min:
            handle._min = low
        if high > handle._max:
            handle._max = high
        handle._seen = True
    total._value = t + n
    total._seen = True
    return True


def _request_exemplars(
    duration: HistogramHandle, i: int, classic: HistogramHandle, j: int, total: CounterHandle, v: float
) -> None:
    """``end_request``'s exemplars, as ``record`` and ``add`` take them."""
    context = _current_context()
    if _SPAN_KEY in context:
        span = context[_SPAN_KEY]
        ids = _last_span
        if ids[0] is not span:
            ids = _span_ids(span)
        trace_id, span_id, sampled = ids[1], ids[2], ids[3]
    elif duration._exf == 2 or classic._exf == 2 or total._exf == 2:
        trace_id = span_id = 0
        sampled = False
    else:
        return
    now = _time_ns()
    if duration._exf == 2 or (duration._exf and sampled):
        duration._exemplar_at(i, (v, now, trace_id, span_id))
    if classic._exf == 2 or (classic._exf and sampled):
        classic._exemplar_at(j, (v, now, trace_id, span_id))
    if total._exf == 2 or (total._exf and sampled):
        total._exemplar = (1, now, trace_id, span_id)
