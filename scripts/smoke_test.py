"""Smoke test of an installed otelsvc (run by scripts/check_wheel.sh with a fresh venv's python).

Starts a guard with its scrape endpoint on a free port, records through a handle and an SDK counter,
scrapes /metrics over HTTP and checks both values and the health endpoint; exits non-zero on a problem.
"""

from __future__ import annotations

import json
import sys
import urllib.request

import otelsvc
from otelsvc import _sdk_internals


def main() -> int:
    if "site-packages" not in otelsvc.__file__:
        print(f"otelsvc was imported from {otelsvc.__file__}, not from the installed wheel", file=sys.stderr)
        return 1
    guard = otelsvc.start(service_name="smoke", prometheus="127.0.0.1:0", otlp_endpoint=None, set_global=False)
    try:
        guard.counter("smoke.jobs", labels=("queue",)).bind("fast").add(3)
        guard.meter("smoke").create_counter("smoke.orders").add(2, {"region": "eu"})
        url = guard.prometheus_url
        assert url is not None
        with urllib.request.urlopen(url, timeout=10) as response:
            text = response.read().decode()
        with urllib.request.urlopen(url.replace("/metrics", "/health"), timeout=10) as response:
            health = json.loads(response.read())
        lines = text.splitlines()
        problems = [start for start, end in (('smoke_jobs_total{', 'queue="fast"} 3.0'),
                                             ('smoke_orders_total{', 'region="eu"} 2.0'))
                    if not any(line.startswith(start) and line.endswith(end) for line in lines)]
        if problems or _sdk_internals.check().failed:
            print(f"missing series {problems} or SDK internals failing {_sdk_internals.check().failed}\n{text}",
                  file=sys.stderr)
            return 1
    finally:
        clean = guard.shutdown(timeout=5)
    if not clean:
        print("shutdown did not finish cleanly", file=sys.stderr)
        return 1
    print(f"smoke test passed: otelsvc {otelsvc.__version__} from {otelsvc.__file__}, health {health}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
