"""A plain threaded service: workers record through handles; the guard serves /metrics itself.

Needs: nothing beside otelsvc
Run:  python examples/threaded_service.py --prometheus 127.0.0.1:9464 [--otlp-endpoint http://127.0.0.1:4317]
Then: curl localhost:9464/metrics       (Ctrl-C or SIGTERM stops it cleanly)
"""

from __future__ import annotations

import argparse
import random
import signal
import threading

import otelsvc
from otelsvc.instruments import DiscoveryMetrics, NetworkMetrics


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--prometheus", default="127.0.0.1:9464")
    parser.add_argument("--otlp-endpoint", default=None)
    args = parser.parse_args()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    with otelsvc.start(service_name="threaded-example", prometheus=args.prometheus,
                       otlp_endpoint=args.otlp_endpoint) as guard:
        network = NetworkMetrics(guard)
        discovery = DiscoveryMetrics(guard)
        print(f"metrics: {guard.prometheus_url}", flush=True)

        def worker(lane: str) -> None:
            rpc_ok = network.swimlane(lane).rpc("success")
            rng = random.Random(lane)
            while not stop.is_set():
                with rpc_ok.time():
                    stop.wait(rng.uniform(0.001, 0.01))
                if rng.random() < 0.01:
                    discovery.retry(status_code=503)

        threads = [threading.Thread(target=worker, args=(lane,)) for lane in ("general", "gossip")]
        for t in threads:
            t.start()
        stop.wait()
        for t in threads:
            t.join()


if __name__ == "__main__":
    main()
