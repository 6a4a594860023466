"""Handles: one series each, pre-bound to its label values, recording with no allocation per call.

A handle keeps its own running aggregate (a sum, a last value, or histogram buckets) under its
instrument's lock; the readers read that aggregate at collection time through the bridge. This is
what makes recording cost one lock and one addition instead of the SDK's attribute hashing and
per-reader fan-out.
"""

from __future__ import annotations

import math
import threading
import time
from bisect import bisect_left
from collections.abc import Callable
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from otelsvc._bridge import BridgedInstrument

__all__ = [
    "CounterHandle",
    "GaugeHandle",
    "Handle",
    "HistogramHandle",
    "Timer",
    "UpDownCounterHandle",
]

F = TypeVar("F", bound=Callable[..., Any])

_perf = time.perf_counter


class Handle:
    """Base of every handle: the series' label values and its owning instrument."""

    __slots__ = ("_lock", "_owner", "_seen", "_start", "_values", "label_text")

    def __init__(self, owner: BridgedInstrument, values: tuple[str, ...], lock: threading.Lock) -> None:
        self._owner = owner
        self._values = values
        self._lock = lock
        self._seen = False
        self._start = time.time_ns()
        self.label_text: tuple[str, ...] | None = None

    @property
    def attributes(self) -> dict[str, str]:
        """The label values this handle is bound to, by label key."""
        return dict(zip(self._owner.label_keys, self._values, strict=False))

    def _reset(self, lock: threading.Lock, start: int) -> None:
        self._lock = lock
        self._seen = False
        self._start = start


class _SumHandle(Handle):
    """The running sum shared by counters and up-down counters."""

    __slots__ = ("_value",)

    def __init__(self, owner: BridgedInstrument, values: tuple[str, ...], lock: threading.Lock) -> None:
        super().__init__(owner, values, lock)
        self._value: float = 0

    def snapshot(self) -> float:
        return self._value

    def _reset(self, lock: threading.Lock, start: int) -> None:
        super()._reset(lock, start)
        self._value = 0


class CounterHandle(_SumHandle):
    """A monotonic counter series; ``add`` drops negative amounts as the SDK does."""

    __slots__ = ()

    def add(self, n: float = 1) -> None:
        """Add ``n`` (>= 0) to the series."""
        if n < 0:
            self._owner.reject(n)
            return
        with self._lock:
            self._value += n
            self._seen = True


class UpDownCounterHandle(_SumHandle):
    """An up-down counter series (a count of things currently alive)."""

    __slots__ = ()

    def add(self, n: float = 1) -> None:
        """Add ``n`` (may be negative) to the series."""
        with self._lock:
            self._value += n
            self._seen = True


class GaugeHandle(Handle):
    """A gauge series: the last value set wins; non-finite values are dropped as the SDK does."""

    __slots__ = ("_value",)

    def __init__(self, owner: BridgedInstrument, values: tuple[str, ...], lock: threading.Lock) -> None:
        super().__init__(owner, values, lock)
        self._value: float = 0

    def set(self, v: float) -> None:
        """Set the current value."""
        if v != v or v in (math.inf, -math.inf):
            return
        self._value = v
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

    __slots__ = ("_bounds", "_cmax", "_cmin", "_counts", "_max", "_min", "_sum")

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

    def record(self, v: float) -> None:
        """Record one observation ``v`` (>= 0; negative values are dropped as the SDK does)."""
        if v < 0:
            self._owner.reject(v)
            return
        i = bisect_left(self._bounds, v)
        with self._lock:
            self._counts[i] += 1
            self._sum += v
            if v < self._min:
                self._min = v
            if v > self._max:
                self._max = v
            self._seen = True

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

    def _reset(self, lock: threading.Lock, start: int) -> None:
        super()._reset(lock, start)
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
