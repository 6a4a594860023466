"""Where the generated alerts fire (a stdlib-only module, so ``otelsvc --help`` can show the defaults)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Thresholds"]


@dataclass(frozen=True)
class Thresholds:
    """Where the alerts fire: 5xx share, p95 seconds, and which jobs ``up`` is watched for."""

    error_ratio: float = 0.05
    latency_p95: float = 1.0
    job: str = ".+"
