"""``otelsvc top [URL]``: a live terminal view of a service, read from its Prometheus /metrics.

Every ``--interval`` seconds it scrapes the endpoint and shows, from the last two scrapes, the
request rate, 5xx ratio and duration quantiles per route, and each family's headline figures
(rates, current values, p95). Works against any endpoint serving the families, otelsvc or not.
Needs ``rich`` (``pip install 'otelsvc[top]'``); Ctrl-C leaves it cleanly.
"""

from __future__ import annotations

import argparse
import math
import os
import ssl
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from otelsvc._top_stats import Figure, RouteRow, Scrape

__all__ = ["HELP", "configure", "fetch", "metrics_url", "run"]

HELP = "live terminal view of a running service's /metrics: per-route rate, errors, latency; family figures"
_DEFAULT_URL = "http://127.0.0.1:9464/metrics"
_INSTALL_HINT = "otelsvc top needs the rich package: pip install 'otelsvc[top]'\n"


def metrics_url(url: str) -> str:
    """The URL to scrape: ``/metrics`` when the URL names only a host (scheme http when none given)."""
    if "://" not in url:
        url = "http://" + url
    parts = urllib.parse.urlsplit(url)
    if parts.path in ("", "/"):
        parts = parts._replace(path="/metrics")
    return urllib.parse.urlunsplit(parts)


def _ssl_context(insecure: bool, cafile: str | None) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=cafile)
    if insecure:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def fetch(url: str, token: str | None, context: ssl.SSLContext | None, timeout: float = 5.0) -> Scrape:
    """One scrape, parsed; raises OSError (URLError, HTTPError) or ValueError (not an exposition)."""
    from otelsvc._top_stats import parse_scrape

    request = urllib.request.Request(url, headers={"Accept": "text/plain"})
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=timeout, context=context) as response:
        body = response.read().decode("utf-8", "replace")
    return parse_scrape(body, time.monotonic())


def _seconds(value: float | None) -> str:
    if value is None:
        return "—"
    if value < 1:
        return f"{value * 1000:.1f} ms"
    return f"{value:.2f} s"


def _number(value: float) -> str:
    if value == int(value) and abs(value) < 1e15:
        return f"{int(value)}"
    return f"{value:.3g}"


def _figure_text(figure: Figure) -> tuple[str, str]:
    value = f"{figure.value:.2f}/s" if figure.kind in ("counter", "histogram") else _number(figure.value)
    if figure.kind != "histogram":
        return value, ""
    p95 = _seconds(figure.p95) if figure.unit == "s" else ("—" if figure.p95 is None else f"{figure.p95:.3g}")
    return value, p95


def _routes_table(rows: list[RouteRow]) -> Any:
    from rich.table import Table

    table = Table(title="HTTP routes", title_justify="left", expand=False)
    for header in ("route", "req/s", "5xx", "p50", "p95", "p99"):
        table.add_column(header, justify="left" if header == "route" else "right")
    for row in rows:
        ratio = "—" if row.error_ratio is None else f"{row.error_ratio:.1%}"
        table.add_row(row.route, f"{row.rate:.2f}", ratio, _seconds(row.p50), _seconds(row.p95), _seconds(row.p99))
    if not rows:
        table.add_row("(no HTTP metrics in this scrape)", "", "", "", "", "")
    return table


def _family_table(name: str, figures: list[Figure]) -> Any:
    from rich.table import Table

    table = Table(title=name, title_justify="left")
    table.add_column("metric")
    table.add_column("rate/value", justify="right")
    table.add_column("p95", justify="right")
    for figure in figures:
        table.add_row(figure.metric, *_figure_text(figure))
    return table


def render(
    url: str, prev: Scrape | None, cur: Scrape | None, error: str | None, interval: float, namespace: str | None
) -> Any:
    """The whole screen for the last two scrapes."""
    from rich.columns import Columns
    from rich.console import Group
    from rich.text import Text

    from otelsvc._top_stats import family_figures, route_rows

    status = f"otelsvc top  {url}  every {interval:g}s  {time.strftime('%H:%M:%S')}"
    parts: list[Any] = [Text(status, style="bold")]
    if error is not None:
        parts.append(Text(f"scrape failed: {error}", style="red"))
    if prev is None or cur is None:
        parts.append(Text("waiting for a second scrape…"))
        return Group(*parts)
    parts.append(Text(f"{cur.sample_count} samples; rates over the last {cur.at - prev.at:.1f}s"))
    parts.append(_routes_table(route_rows(prev, cur)))
    figures = family_figures(prev, cur, namespace)
    parts.append(Columns([_family_table(name, rows) for name, rows in figures.items() if name != "http"]))
    return Group(*parts)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, urllib.error.HTTPError):
        hint = " (pass --token or set OTELSVC_METRICS_TOKEN)" if exc.code in (401, 403) else ""
        return f"HTTP {exc.code} {exc.reason}{hint}"
    if isinstance(exc, urllib.error.URLError):
        return str(exc.reason)
    return f"{type(exc).__name__}: {exc}"


def run(args: argparse.Namespace) -> int:
    """Refresh in place until Ctrl-C (exit 0); ``--once`` prints one view after two scrapes."""
    try:
        from rich.console import Console
        from rich.live import Live
    except ImportError:
        sys.stderr.write(_INSTALL_HINT)
        return 1
    if not (math.isfinite(args.interval) and args.interval > 0):
        sys.stderr.write(f"otelsvc top: --interval={args.interval!r} must be a number of seconds greater than 0\n")
        return 2
    url = metrics_url(args.url)
    try:
        context = _ssl_context(args.insecure, args.cacert) if url.startswith("https:") else None
    except (OSError, ssl.SSLError) as exc:
        sys.stderr.write(f"otelsvc top: --cacert={args.cacert!r} cannot be used: {exc}\n")
        return 2
    stop = threading.Event()
    prev: Scrape | None = None
    cur: Scrape | None = None
    error: str | None = None

    def scrape() -> None:
        nonlocal prev, cur, error
        try:
            scraped = fetch(url, args.token, context)
        except (OSError, ValueError) as exc:
            error = _describe(exc)
            return
        prev, cur, error = cur, scraped, None

    console = Console()
    try:
        if args.once:
            scrape()
            stop.wait(args.interval)
            scrape()
            console.print(render(url, prev, cur, error, args.interval, args.namespace))
            return 0 if cur is not None and prev is not None else 1
        with Live(
            render(url, prev, cur, error, args.interval, args.namespace),
            console=console,
            auto_refresh=False,
            screen=False,
            vertical_overflow="crop",
        ) as live:
            while True:
                scrape()
                live.update(render(url, prev, cur, error, args.interval, args.namespace), refresh=True)
                stop.wait(args.interval)
    except KeyboardInterrupt:
        return 0


def configure(parser: argparse.ArgumentParser) -> None:
    """The flags of ``otelsvc top``."""
    parser.add_argument(
        "url", nargs="?", default=_DEFAULT_URL, help="the /metrics URL, or HOST:PORT (default: %(default)s)"
    )
    parser.add_argument(
        "--interval", type=float, default=2.0, metavar="SECONDS", help="seconds between scrapes (default: %(default)s)"
    )
    parser.add_argument(
        "--token",
        default=os.environ.get("OTELSVC_METRICS_TOKEN") or None,
        help="bearer token for the endpoint (default: OTELSVC_METRICS_TOKEN, else none)",
    )
    parser.add_argument(
        "--cacert",
        default=None,
        metavar="FILE",
        help="CA bundle to verify an https endpoint with (default: the system's)",
    )
    parser.add_argument(
        "--insecure", action="store_true", help="do not verify an https endpoint's certificate (default: off)"
    )
    parser.add_argument(
        "--namespace",
        default=os.environ.get("OTELSVC_NAMESPACE") or None,
        help="the namespace the service was started with (default: OTELSVC_NAMESPACE, else none)",
    )
    parser.add_argument(
        "--once",
        action="store_true",
        help="print one view (after two scrapes, --interval apart) and exit (default: off, refresh until Ctrl-C)",
    )
