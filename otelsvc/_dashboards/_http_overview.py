"""The HTTP overview: request rate, 5xx ratio and duration quantiles per route, from the semconv histogram.

Its recording rules are also what the HTTP alerts read, so a panel and its alert agree.
"""

from __future__ import annotations

from otelsvc._dashboards._queries import (
    JOB,
    QUANTILES,
    RATE_INTERVAL,
    Panel,
    RecordingRule,
    Target,
    metric_name,
    quantile_expr,
)
from otelsvc.instruments.http import HTTP_FAMILY

__all__ = ["ERRORS", "REQUESTS", "ROUTE_BUCKETS", "http_overview_panels", "http_recording_rules"]

DURATION = metric_name(HTTP_FAMILY, HTTP_FAMILY.metric("http.server.request.duration"), None)
ACTIVE = metric_name(HTTP_FAMILY, HTTP_FAMILY.metric("http.server.active_requests"), None)
REQUESTS = "job_http_route:http_server_requests:rate5m"
ERRORS = "job_http_route:http_server_errors:rate5m"
ROUTE_BUCKETS = f"job_http_route:{DURATION}_bucket:rate5m"


def http_recording_rules() -> list[RecordingRule]:
    """Requests and 5xx per second per route (0, not absent, for a route without errors), bucket rates per route."""
    return [
        RecordingRule(REQUESTS, f"sum by (job, http_route) (rate({DURATION}_count[5m]))"),
        RecordingRule(
            ERRORS,
            f'sum by (job, http_route) (rate({DURATION}_count{{http_response_status_code=~"5.."}}[5m]))'
            f" or 0 * {REQUESTS}",
        ),
        RecordingRule(ROUTE_BUCKETS, f"sum by (job, le, http_route) (rate({DURATION}_bucket[5m]))"),
    ]


def http_overview_panels() -> list[Panel]:
    route = ("http_route",)
    return [
        Panel(
            "Requests per second by route",
            "Requests served, from the http.server.request.duration count",
            "reqps",
            (Target(f"sum by (http_route) ({REQUESTS}{JOB})", "{{http_route}}"),),
        ),
        Panel(
            "5xx error ratio by route",
            "Share of requests answered with a 5xx status",
            "percentunit",
            (Target(f"sum by (http_route) ({ERRORS}{JOB}) / sum by (http_route) ({REQUESTS}{JOB})", "{{http_route}}"),),
        ),
        Panel(
            "Request duration, all routes (p50, p95, p99)",
            "Quantiles estimated from the duration histogram",
            "s",
            tuple(Target(quantile_expr(q, ROUTE_BUCKETS, ()), f"p{round(q * 100)}") for q in QUANTILES),
        ),
        Panel(
            "p95 request duration by route",
            "95th percentile per route, from the duration histogram",
            "s",
            (Target(quantile_expr(0.95, ROUTE_BUCKETS, route), "{{http_route}}"),),
        ),
        Panel(
            "Responses per second by status code",
            "Every response, by its status code",
            "reqps",
            (
                Target(
                    f"sum by (http_response_status_code) (rate({DURATION}_count{JOB}[{RATE_INTERVAL}]))",
                    "{{http_response_status_code}}",
                ),
            ),
        ),
        Panel(
            "Active requests",
            "Requests in flight",
            "short",
            (Target(f"sum by (http_request_method) ({ACTIVE}{JOB})", "{{http_request_method}}"),),
        ),
    ]
