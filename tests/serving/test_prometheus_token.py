"""A real Prometheus scraping with a bearer token: right token up=1, wrong token up=0."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import otelsvc


def test_prometheus_with_right_and_wrong_token(prometheus_factory: Callable[..., Any]) -> None:
    guard = otelsvc.start(prometheus="127.0.0.1:0", metrics_token="right-token", set_global=False)
    try:
        host, port = guard.prometheus_address  # type: ignore[misc]
        right = prometheus_factory(f"{host}:{port}", token="right-token")
        wrong = prometheus_factory(f"{host}:{port}", token="wrong-token")
        assert right.wait_value('up{job="otelsvc"}', lambda v: v == 1.0) == 1.0
        wrong.wait_value('up{job="otelsvc"}', lambda v: v == 0.0)
        assert wrong.query("target_info") == []
    finally:
        guard.shutdown()
