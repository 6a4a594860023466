"""Typing fixture: calls of ``otelsvc.start()`` that mypy must reject (one error per marked line).

Never run; tests/test_config.py checks that mypy --strict flags exactly the lines marked ``# error``.
"""

from __future__ import annotations

import otelsvc


def misuse() -> None:
    otelsvc.start(prometheus=9464)  # error
    otelsvc.start(servce_name="typo")  # error
    otelsvc.start(otlp_protocol="http/json")  # error
    otelsvc.start(shutdown_timeout="5s")  # error
    otelsvc.start("positional")  # error
    otelsvc.start(otlp_headers={"k": 1})  # error
