"""The one bucket module: every explicit histogram boundary set otelsvc uses, as floats.

Floats so that the Prometheus ``le`` label reads ``1.0``, not ``1``, the same on every path.
"""

from __future__ import annotations

__all__ = ["BUCKETS", "COUNTS", "GENERAL", "HTTP", "MICRO", "STARTUP"]

GENERAL: tuple[float, ...] = (
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    25.0,
    50.0,
    100.0,
    250.0,
    500.0,
)
MICRO: tuple[float, ...] = (
    0.0001,
    0.00025,
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    25.0,
    50.0,
)
STARTUP: tuple[float, ...] = (
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
    60.0,
)
HTTP: tuple[float, ...] = (
    0.005,
    0.01,
    0.025,
    0.05,
    0.075,
    0.1,
    0.25,
    0.5,
    0.75,
    1.0,
    2.5,
    5.0,
    7.5,
    10.0,
)
COUNTS: tuple[float, ...] = (1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0)

BUCKETS: dict[str, tuple[float, ...]] = {
    "general": GENERAL,
    "micro": MICRO,
    "startup": STARTUP,
    "http": HTTP,
    "counts": COUNTS,
}
