"""HTTP middleware cost as counted by valgrind, not timed: instructions and simulated cache misses per
request, with and without the middleware, inside FastAPI and Flask called in-process and under uvicorn.

Timings of a few microseconds move by a microsecond between runs on a shared virtual machine (its
caches are shared with its neighbours); these counts do not, and they say where a request's time
goes: inside a framework the middleware's cost is mostly cache misses, which is what
docs/performance.md explains. Callgrind simulates caches of this machine's sizes (L1i 32 KiB, L1d
48 KiB, a 1 MiB last level standing for the L2), counts only the measured requests (after a warm-up),
and takes about a minute per variant.

    python -m benchmarks.middleware_counts [--requests N] [--server]   # needs valgrind (apt-get install valgrind)
"""

from __future__ import annotations

import argparse
import collections
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

__all__ = ["main"]

CACHES = ["--I1=32768,8,64", "--D1=49152,12,64", "--LL=1048576,16,64"]
# A fixed hash seed: string hashes (and so dict and set layouts) the same in every run.
_ENV = {**os.environ, "PYTHONHASHSEED": "0"}
EVENTS = ("Ir", "I1mr", "D1mr", "D1mw", "ILmr", "DLmr", "DLmw")


def _in_process(kind: str, variant: str, requests: int) -> None:
    """Run ``requests`` requests inside ``deque.extendleft`` (callgrind counts only inside it)."""
    from benchmarks.middleware import _guard, asgi_request, fastapi_app, flask_app, wsgi_request

    guard = _guard()
    path = "/r4/abc"
    if kind == "fastapi":
        app = fastapi_app(5, variant, guard)
        scope, receive, send = asgi_request(path)

        def one(_: int) -> None:
            # The app never waits here, so one send() runs the whole request (no event loop around it).
            coroutine = app(dict(scope), receive, send)
            try:
                coroutine.send(None)
            except StopIteration:
                return
            raise RuntimeError("the app waited")

    else:
        request = wsgi_request(flask_app(5, variant, guard), path)

        def one(_: int) -> None:
            request()

    for i in range(300):
        one(i)
    sink: collections.deque[None] = collections.deque()
    sink.extendleft(map(one, range(requests)))


def _totals(path: Path) -> dict[str, int]:
    """The event totals callgrind wrote to ``path``."""
    text = path.read_text()
    events = re.search(r"^events: (.*)$", text, re.M)
    totals = re.search(r"^(?:summary|totals): (.*)$", text, re.M)
    if events is None or totals is None:
        raise RuntimeError(f"no totals in {path}")
    return dict(zip(events.group(1).split(), (int(v) for v in totals.group(1).split()), strict=False))


def _count_in_process(kind: str, variant: str, requests: int, out: Path) -> dict[str, int]:
    command = [
        "valgrind",
        "--tool=callgrind",
        f"--callgrind-out-file={out}",
        "--collect-atstart=no",
        "--toggle-collect=deque_extendleft",
        "--cache-sim=yes",
        *CACHES,
        sys.executable,
        "-m",
        "benchmarks.middleware_counts",
        "--run",
        kind,
        variant,
        str(requests),
    ]
    subprocess.run(command, check=True, capture_output=True, cwd=Path(__file__).resolve().parent.parent, env=_ENV)
    return _totals(out)


def _count_server(variant: str, requests: int, out: Path) -> dict[str, int]:
    """The uvicorn server of benchmarks/middleware.py under callgrind: counters zeroed after a warm-up,
    dumped after ``requests`` keep-alive requests from a client outside valgrind."""
    import http.client
    import socket

    from benchmarks.middleware import SERVER_APP, _free_port

    script = out.with_suffix(".py")
    script.write_text(SERVER_APP)
    port = _free_port()
    command = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", "--cache-sim=yes", *CACHES]
    server = subprocess.Popen(
        [*command, sys.executable, str(script), variant, str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=_ENV,
    )
    try:
        deadline = time.monotonic() + 300
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), 1).close()
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise RuntimeError("the server under valgrind did not start") from None
                time.sleep(0.5)
        client = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

        def run(n: int) -> None:
            for _ in range(n):
                client.request("GET", "/ping")
                response = client.getresponse()
                response.read()
                if response.status != 200:
                    raise RuntimeError(f"status {response.status}")

        run(300)
        subprocess.run(["callgrind_control", "-z", str(server.pid)], check=True, capture_output=True)
        run(requests)
        subprocess.run(["callgrind_control", "-d", str(server.pid)], check=True, capture_output=True)
        client.close()
    finally:
        server.terminate()
        server.wait(60)
    dumps = sorted(out.parent.glob(out.name + ".*"), key=lambda p: p.stat().st_mtime)
    return _totals(next(p for p in dumps if p.suffix != ".py"))


def _row(label: str, bare: dict[str, int], mine: dict[str, int], requests: int) -> None:
    per = {e: (mine.get(e, 0) - bare.get(e, 0)) / requests for e in EVENTS}
    base = {e: bare.get(e, 0) / requests for e in EVENTS}
    print(
        f"  {label:<28} instructions {base['Ir']:>9,.0f} + {per['Ir']:>7,.0f} ({per['Ir'] / base['Ir']:.1%});  "
        f"L1i misses {base['I1mr']:>6,.0f} + {per['I1mr']:>5,.0f};  "
        f"L1d misses {base['D1mr'] + base['D1mw']:>6,.0f} + {per['D1mr'] + per['D1mw']:>5,.0f};  "
        f"last-level misses {sum(base[e] for e in ('ILmr', 'DLmr', 'DLmw')):>5,.0f} + "
        f"{sum(per[e] for e in ('ILmr', 'DLmr', 'DLmw')):>4,.0f}"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=500, help="requests counted per variant (default 500)")
    parser.add_argument("--server", action="store_true", help="also count requests under uvicorn (slow)")
    parser.add_argument("--run", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.run:
        kind, variant, requests = args.run
        _in_process(kind, variant, int(requests))
        return
    if shutil.which("valgrind") is None:
        sys.exit("valgrind is not installed: apt-get install valgrind")
    print(
        f"per request, {args.requests} requests counted after 300 of warm-up, bare app + what the middleware "
        "adds (simulated caches: L1i 32 KiB, L1d 48 KiB, last level 1 MiB)"
    )
    with tempfile.TemporaryDirectory() as tmp:
        for kind, label in (("fastapi", "FastAPI, 5 routes"), ("flask", "Flask, 5 routes")):
            bare = _count_in_process(kind, "none", args.requests, Path(tmp, f"{kind}-none.out"))
            mine = _count_in_process(kind, "otelsvc", args.requests, Path(tmp, f"{kind}-otelsvc.out"))
            _row(label, bare, mine, args.requests)
        if args.server:
            bare = _count_server("none", args.requests, Path(tmp, "server-none.out"))
            mine = _count_server("otelsvc", args.requests, Path(tmp, "server-otelsvc.out"))
            _row("uvicorn, trivial route", bare, mine, args.requests)


if __name__ == "__main__":
    main()
