"""``otelsvc top``'s figures from two scrapes: rates, resets, 5xx ratio and histogram quantiles."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from otelsvc._top_stats import family_figures, histogram_quantile, parse_scrape, rates, route_rows

FIRST = """\
# TYPE http_server_request_duration_seconds histogram
http_server_request_duration_seconds_bucket{http_route="/orders",http_response_status_code="200",le="0.1"} 10
http_server_request_duration_seconds_bucket{http_route="/orders",http_response_status_code="200",le="1.0"} 20
http_server_request_duration_seconds_bucket{http_route="/orders",http_response_status_code="200",le="+Inf"} 20
http_server_request_duration_seconds_count{http_route="/orders",http_response_status_code="200"} 20
http_server_request_duration_seconds_sum{http_route="/orders",http_response_status_code="200"} 5
# TYPE actor_started_total counter
actor_started_total{actor_name="counter"} 100
actor_started_total{actor_name="chat"} 50
# TYPE actor_active gauge
actor_active{actor_name="counter"} 3
"""

# 10 s later: /orders served 40 more 200s (20 under 0.1 s, 20 in (0.1, 1]) and 10 503s (all in (1, +Inf));
# a new route appeared; the "chat" counter was reset (process restart) and counts 5 since.
SECOND = """\
# TYPE http_server_request_duration_seconds histogram
http_server_request_duration_seconds_bucket{http_route="/orders",http_response_status_code="200",le="0.1"} 30
http_server_request_duration_seconds_bucket{http_route="/orders",http_response_status_code="200",le="1.0"} 60
http_server_request_duration_seconds_bucket{http_route="/orders",http_response_status_code="200",le="+Inf"} 60
http_server_request_duration_seconds_count{http_route="/orders",http_response_status_code="200"} 60
http_server_request_duration_seconds_sum{http_route="/orders",http_response_status_code="200"} 15
http_server_request_duration_seconds_bucket{http_route="/orders",http_response_status_code="503",le="0.1"} 0
http_server_request_duration_seconds_bucket{http_route="/orders",http_response_status_code="503",le="1.0"} 0
http_server_request_duration_seconds_bucket{http_route="/orders",http_response_status_code="503",le="+Inf"} 10
http_server_request_duration_seconds_count{http_route="/orders",http_response_status_code="503"} 10
http_server_request_duration_seconds_sum{http_route="/orders",http_response_status_code="503"} 30
http_server_request_duration_seconds_bucket{http_route="/items/{id}",http_response_status_code="200",le="0.1"} 5
http_server_request_duration_seconds_bucket{http_route="/items/{id}",http_response_status_code="200",le="1.0"} 5
http_server_request_duration_seconds_bucket{http_route="/items/{id}",http_response_status_code="200",le="+Inf"} 5
http_server_request_duration_seconds_count{http_route="/items/{id}",http_response_status_code="200"} 5
http_server_request_duration_seconds_sum{http_route="/items/{id}",http_response_status_code="200"} 0.1
# TYPE actor_started_total counter
actor_started_total{actor_name="counter"} 130
actor_started_total{actor_name="chat"} 5
# TYPE actor_active gauge
actor_active{actor_name="counter"} 4
actor_active{actor_name="chat"} 2
"""


def test_rates_handle_resets_and_new_series() -> None:
    prev, cur = parse_scrape(FIRST, at=100.0), parse_scrape(SECOND, at=110.0)
    by_actor = rates(prev, cur, "actor_started_total", lambda labels: labels["actor_name"])
    assert by_actor == {"counter": 3.0, "chat": 0.5}
    assert rates(cur, cur, "actor_started_total", lambda _: "") == {}


def test_route_rows_rate_error_ratio_and_quantiles() -> None:
    rows = route_rows(parse_scrape(FIRST, at=100.0), parse_scrape(SECOND, at=110.0))
    assert [r.route for r in rows] == ["/orders", "/items/{id}"]
    orders, items = rows
    assert orders.rate == pytest.approx(5.0)  # 50 requests in 10 s
    assert orders.error_ratio == pytest.approx(0.2)  # 10 of 50 answered 503
    # 50 observations: 20 in [0, 0.1], 20 in (0.1, 1], 10 in (1, +Inf).
    assert orders.p50 == pytest.approx(0.1 + 0.9 * (25 - 20) / 20)  # rank 25 lands in (0.1, 1]
    assert orders.p95 == pytest.approx(1.0)  # rank 47.5 lands in +Inf: the highest finite bound
    assert items.rate == pytest.approx(0.5) and items.error_ratio == 0.0
    assert items.p99 == pytest.approx(0.1 * 4.95 / 5)


def test_classic_instruments_are_the_fallback() -> None:
    text = """\
# TYPE http_requests_total counter
http_requests_total{endpoint="boot",method="GET",status="200"} %d
http_requests_total{endpoint="boot",method="GET",status="500"} %d
# TYPE http_request_duration_seconds histogram
http_request_duration_seconds_bucket{endpoint="boot",le="0.5"} %d
http_request_duration_seconds_bucket{endpoint="boot",le="+Inf"} %d
http_request_duration_seconds_count{endpoint="boot"} %d
http_request_duration_seconds_sum{endpoint="boot"} 1
"""
    prev = parse_scrape(text % (0, 0, 0, 0, 0), at=0.0)
    cur = parse_scrape(text % (30, 10, 40, 40, 40), at=2.0)
    (row,) = route_rows(prev, cur)
    assert (row.route, row.rate, row.error_ratio) == ("boot", 20.0, 0.25)
    assert row.p50 == pytest.approx(0.25)


def test_family_figures_rate_current_value_and_namespace() -> None:
    prev, cur = parse_scrape(FIRST, at=100.0), parse_scrape(SECOND, at=110.0)
    figures = {f.metric: f for f in family_figures(prev, cur)["actor"]}
    assert set(figures) == {"actor.started", "actor.active"}
    assert figures["actor.started"].value == pytest.approx(3.5)
    assert figures["actor.active"].value == 6
    assert family_figures(prev, cur, namespace="shop") == {
        "http": family_figures(prev, cur)["http"]
    }  # http is never namespaced
    shop = parse_scrape(SECOND.replace("actor_", "shop_actor_"), at=110.0)
    assert {f.metric for f in family_figures(shop, shop, namespace="shop")["actor"]} == figures.keys()


@pytest.mark.parametrize(("q", "expected"), [(0.0, 0.0), (0.25, 0.05), (0.5, 0.1), (0.75, 0.55), (1.0, 1.0)])
def test_histogram_quantile_interpolates_within_the_bucket(q: float, expected: float) -> None:
    buckets = [(0.1, 2.0), (1.0, 4.0), (math.inf, 4.0)]
    assert histogram_quantile(q, buckets) == pytest.approx(expected)


def test_histogram_quantile_without_observations_or_inf_bucket() -> None:
    assert histogram_quantile(0.5, [(0.1, 0.0), (math.inf, 0.0)]) is None
    assert histogram_quantile(0.5, [(0.1, 3.0)]) is None


@given(st.lists(st.integers(0, 50), min_size=1, max_size=8), st.floats(0, 1), st.floats(0, 1))
def test_histogram_quantile_is_monotone_and_within_bounds(counts: list[int], q1: float, q2: float) -> None:
    bounds = [0.001 * 2**i for i in range(len(counts))] + [math.inf]
    cumulative = [sum(counts[: i + 1]) for i in range(len(counts))]
    buckets = list(zip(bounds, [*cumulative, cumulative[-1]], strict=True))
    low, high = histogram_quantile(min(q1, q2), buckets), histogram_quantile(max(q1, q2), buckets)
    if cumulative[-1] == 0:
        assert low is None and high is None
        return
    assert low is not None and high is not None
    assert 0 <= low <= high <= bounds[-2]


def test_an_endpoint_served_by_prometheus_client_alone() -> None:
    """Any exposition of the families works: here a plain prometheus_client registry, no otelsvc involved."""
    from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

    registry = CollectorRegistry()
    started = Counter("actor_started", "actors started", ["actor_name"], registry=registry)
    duration = Histogram(
        "http_request_duration_seconds", "duration", ["endpoint"], registry=registry, buckets=(0.1, 1.0)
    )
    requests = Counter("http_requests", "requests", ["endpoint", "method", "status"], registry=registry)
    prev = parse_scrape(generate_latest(registry).decode(), at=0.0)
    started.labels("counter").inc(8)
    for seconds, status in ((0.05, "200"), (0.5, "200"), (0.5, "200"), (3.0, "502")):
        duration.labels("/boot").observe(seconds)
        requests.labels("/boot", "GET", status).inc()
    cur = parse_scrape(generate_latest(registry).decode(), at=4.0)
    (row,) = route_rows(prev, cur)
    assert (row.route, row.rate, row.error_ratio) == ("/boot", 1.0, 0.25)
    assert row.p50 == pytest.approx(0.1 + 0.9 * (2 - 1) / 2)
    (figure,) = family_figures(prev, cur)["actor"]
    assert (figure.metric, figure.value) == ("actor.started", 2.0)
