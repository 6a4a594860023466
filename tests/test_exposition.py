"""The scrape against the upstream exporter (opentelemetry-exporter-prometheus over prometheus_client),
rendered from the same collection: byte-identical in each configuration users run, except for the
listed deviations (docs/performance.md), each tested here. And prometheus_client's OpenMetrics parser
accepts our OpenMetrics output in each of its own test cases that OpenTelemetry data can express."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from opentelemetry.exporter.prometheus import _CustomCollector
from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.sdk.metrics.export import MetricsData, ResourceMetrics
from prometheus_client import CollectorRegistry
from prometheus_client import generate_latest as upstream_text
from prometheus_client.openmetrics.exposition import generate_latest as upstream_openmetrics
from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_openmetrics
from prometheus_client.parser import text_string_to_metric_families as parse_text
from prometheus_client.utils import floatToGoString

import otelsvc
from otelsvc._bridge import merge_scope
from otelsvc._exposition import render_text
from otelsvc._guard import ProviderGuard
from otelsvc.instruments import BUCKETS
from otelsvc.instruments._interner import Interner

CONFIGURATIONS: dict[str, dict[str, Any]] = {
    "prometheus only": {},
    "no runtime metrics": {"runtime_metrics": False},
    "OTLP traces and metrics on": {
        "otlp_endpoint": "http://127.0.0.1:9",
        "export_interval": 3600,
        "shutdown_timeout": 0.2,
    },
}
NUMBERS = [
    0,
    1,
    -1,
    0.1,
    1e-7,
    123456.7,
    1234567.0,
    1e10,
    12345678901.0,
    1.5e13,
    1e15,
    9.87654321e15,
    1e16,
    1e17,
    2**53 + 1.0,
    -1e12,
    7,
]


def _start(**settings: Any) -> ProviderGuard:
    return otelsvc.start(prometheus="127.0.0.1:0", set_global=False, **settings)


@pytest.fixture(params=list(CONFIGURATIONS))
def guard(request: pytest.FixtureRequest) -> Iterator[ProviderGuard]:
    g = _start(**CONFIGURATIONS[request.param])
    yield g
    g.shutdown()


def _record_everything(g: ProviderGuard) -> None:
    """Every kind through SDK instruments (in two scopes, one of them ``otelsvc``) and through handles."""
    user = g.meter("user", "1.2")
    own = g.meter("otelsvc", otelsvc.__version__)
    for meter, prefix in ((user, "u"), (own, "o")):
        counter = meter.create_counter(f"{prefix}.requests", unit="1", description='with "quotes"\nand \\')
        updown = meter.create_up_down_counter(f"{prefix}.inflight", unit="{request}")
        gauge = meter.create_gauge(f"{prefix}.temperature", unit="Cel")
        hist = meter.create_histogram(f"{prefix}.latency", unit="ms")
        for i, n in enumerate(NUMBERS):
            labels = {"route": f"/r{i % 3}", "q": 'a"b\\c\nd'}
            counter.add(abs(n), labels)
            updown.add(n, labels)
            gauge.set(n, {"i": str(i)})
            hist.record(abs(n), labels)
    user.create_histogram("u.intbounds", explicit_bucket_boundaries_advisory=[1.5, 10]).record(3)
    user.create_histogram("u.negative", explicit_bucket_boundaries_advisory=[-5.0, 0.0, 5.0]).record(2)

    def observe(options: CallbackOptions) -> Iterator[Observation]:
        yield from (Observation(n, {"n": str(i)}) for i, n in enumerate(NUMBERS))

    user.create_observable_gauge("u.observed", [observe], unit="By")
    user.create_observable_counter("u.observed_total", [lambda o: [Observation(3)]])
    bridge = g.bridge
    for kind in ("counter", "updowncounter", "gauge", "histogram"):
        inst = bridge.instrument(
            f"h.{kind}",
            kind,
            "s",
            f"handle {kind}",
            ("route", "code"),
            BUCKETS["general"] if kind == "histogram" else None,
        )
        for i, n in enumerate(NUMBERS):
            handle = inst.bind(f"/r{i % 3}%s", 'x"y%%\\')  # "%" too: label texts are made from %-templates
            if kind == "gauge":
                handle.set(n)
            elif kind == "updowncounter":
                handle.add(n)
            elif kind == "counter":
                handle.add(abs(n))
            else:
                handle.record(abs(n))
    bridge.instrument("h.negative", "histogram", "", "", (), (-1.0, 0.0, 1.0)).bind().record(0.5)
    bridge.instrument("h.nolabels", "counter").bind().add(2)


def _both(g: ProviderGuard, scope_info: bool = True) -> tuple[str, str, str, str]:
    """(ours, upstream) Prometheus text, then (ours, upstream) OpenMetrics, from one collection."""
    reader = g._prometheus
    assert reader is not None
    g.bridge.instruments()  # run the collect hooks once; the renderings below must see the same values
    hooks, g.bridge.collect_hooks = g.bridge.collect_hooks, []
    try:
        reader._data = None
        reader.collect()
        data, reader._data = reader._data, None
        ours = render_text(data, g.bridge, g.bridge.resource, scope_info=scope_info).decode()
        ours_om = reader._render_openmetrics(data).decode()
        scope = g.bridge.scope_metrics(reader)
    finally:
        g.bridge.collect_hooks = hooks
    if data is None:
        assert scope is not None and g.bridge.resource is not None
        data = MetricsData([ResourceMetrics(g.bridge.resource, [], "")])
    merged = data
    if scope is not None:
        first = data.resource_metrics[0]
        merged = MetricsData(
            [
                ResourceMetrics(first.resource, merge_scope(first.scope_metrics, scope), first.schema_url),
                *data.resource_metrics[1:],
            ]
        )

    def upstream(render: Callable[[CollectorRegistry], bytes]) -> str:
        collector = _CustomCollector(scope_info_enabled=scope_info)
        collector.add_metrics_data(merged)
        registry = CollectorRegistry(auto_describe=False)
        registry.register(collector)
        return render(registry).decode()

    return ours, upstream(upstream_text), ours_om, upstream(upstream_openmetrics)


def test_byte_identical_to_the_upstream_exporter(guard: ProviderGuard) -> None:
    _record_everything(guard)
    ours, reference, ours_om, reference_om = _both(guard)
    assert ours == reference
    assert "u_negative_count" not in ours and "h_negative_count" not in ours  # as prometheus_client does
    assert "e+10\n" in ours or "e+010\n" in ours  # the 1e10..1e16 range (format of the installed version)
    # OpenMetrics: the one deviation in this data is the canonical le of integer bounds (upstream "10")
    assert 'le="10"' in reference_om and 'le="10"' not in ours_om
    assert ours_om == reference_om.replace('le="10"', 'le="10.0"')
    list(parse_text(ours))
    list(parse_openmetrics(ours_om))  # type: ignore[no-untyped-call]


def test_byte_identical_without_scope_labels() -> None:
    """``prometheus_scope_info=False`` is the upstream exporter's ``scope_info_enabled=False``."""
    g = _start(prometheus_scope_info=False)
    try:
        _record_everything(g)
        ours, reference, ours_om, reference_om = _both(g, scope_info=False)
    finally:
        g.shutdown()
    assert "otel_scope" not in ours and "otel_scope" not in ours_om
    assert ours == reference
    assert ours_om == reference_om.replace('le="10"', 'le="10.0"')


def test_deviation_exemplars_in_openmetrics() -> None:
    """Upstream renders no exemplar; ours are the only difference, on counter and bucket samples."""
    g = _start(runtime_metrics=False)
    try:
        with g.tracer("t").start_as_current_span("work") as span:
            _record_everything(g)
        ours, reference, ours_om, reference_om = _both(g)
    finally:
        g.shutdown()
    assert ours == reference  # no exemplars in text 0.0.4
    ids = f'span_id="{span.get_span_context().span_id:016x}",trace_id="{span.get_span_context().trace_id:032x}"'
    with_exemplar = [line for line in ours_om.splitlines() if " # {" in line]
    assert with_exemplar and all(ids in line for line in with_exemplar)
    assert all(line.split("{")[0].endswith(("_total", "_bucket")) for line in with_exemplar)
    stripped = "\n".join(line.split(" # {")[0] for line in ours_om.splitlines()) + "\n"
    assert stripped == reference_om.replace('le="10"', 'le="10.0"')
    list(parse_openmetrics(ours_om))  # type: ignore[no-untyped-call]


def _joined(reference: str, header: str) -> str:
    """The upstream text with the family that ``header`` opens joined into the first family of its name:
    its samples moved to the end of that family's samples (where ours puts them), its HELP/TYPE dropped."""
    eof = "# EOF\n" if reference.endswith("# EOF\n") else ""
    blocks = re.split(r"(?m)^(?=# HELP )", reference.removesuffix(eof))
    second = next(i for i, b in enumerate(blocks) if b.startswith(header))
    name = header.split()[2]
    first = next(i for i, b in enumerate(blocks) if i < second and b.startswith(f"# HELP {name} "))
    blocks[first] += blocks.pop(second).removeprefix(header)
    return "".join(blocks) + eof


@pytest.mark.parametrize("self_series", [False, True])
def test_deviation_one_family_per_name(self_series: bool) -> None:
    """Upstream writes a second HELP/TYPE for one name when descriptions differ (promtool fails); ours joins them.

    With ``self_series`` a label interner is alive, as one left by an earlier test in the same process can be
    (until collected): ``otelsvc.labels.folded`` then has a series, and its ``otelsvc.self`` scope comes between
    the two scopes of the name, so the upstream's second family is not next to the first."""
    interner = Interner("endpoint", 10) if self_series else None
    g = _start(runtime_metrics=False)
    try:
        g.meter("fastapi").create_counter("reqs", description="FastAPI's").add(1)
        g.bridge.instrument("reqs", "counter", "", "otelsvc's").bind().add(2)
        ours, reference, ours_om, reference_om = _both(g)
    finally:
        g.shutdown()
    assert reference.count("# HELP reqs_total") == 2 and ours.count("# HELP reqs_total") == 1
    if interner is not None:  # the case under test arises
        assert 'otelsvc_labels_folded_total{label="endpoint",otel_scope_name="otelsvc.self"' in ours
    assert ours == _joined(reference, "# HELP reqs_total otelsvc's\n# TYPE reqs_total counter\n")
    assert ours_om == _joined(reference_om, "# HELP reqs otelsvc's\n# TYPE reqs counter\n")


def test_families_follow_the_upstream_order_with_traces_on() -> None:
    g = _start(otlp_endpoint="http://127.0.0.1:9", export_interval=3600, shutdown_timeout=0.2)
    try:
        g.bridge.instrument("h.first", "counter").bind().add(1)
        g.meter("otelsvc", otelsvc.__version__).create_counter("o.sdk").add(1)
        g.meter("zz.last").create_counter("z.sdk").add(1)
        ours, reference, _, _ = _both(g)
    finally:
        g.shutdown()
    order = [line.split()[2] for line in ours.splitlines() if line.startswith("# TYPE")]
    assert order == [line.split()[2] for line in reference.splitlines() if line.startswith("# TYPE")]
    # the bridged metrics join the SDK's own otelsvc scope, before the scopes that follow it
    assert order.index("o_sdk_total") < order.index("h_first_total") < order.index("z_sdk_total")


@pytest.mark.parametrize("source", ["sdk", "handle"])
def test_deviation_a_histogram_attribute_le_is_renamed(source: str) -> None:
    g = _start(runtime_metrics=False)
    try:
        if source == "sdk":
            g.meter("user").create_histogram("x.h", explicit_bucket_boundaries_advisory=[1.0]).record(
                0.5, {"le": "mine", "a": "b"}
            )
        else:
            g.bridge.instrument("x.h", "histogram", "", "", ("le", "a"), (1.0,)).bind("mine", "b").record(0.5)
        ours, reference, ours_om, reference_om = _both(g)
    finally:
        g.shutdown()
    assert 'x_h_bucket{_le="mine",a="b",le="1.0",' in ours
    assert 'x_h_count{_le="mine",a="b",' in ours
    if source == "sdk":  # upstream: the buckets lose the attribute, _count and _sum keep it as le
        assert 'x_h_bucket{a="b",le="1.0",' in reference and 'x_h_count{a="b",le="mine",' in reference
        assert 'x_h_count{a="b",le="mine",' in reference_om
    families = {f.name: f for f in parse_openmetrics(ours_om)}  # type: ignore[no-untyped-call]
    assert {s.labels["_le"] for s in families["x_h"].samples} == {"mine"}
    list(parse_text(ours))


def test_deviation_integer_bounds_are_canonical_in_openmetrics() -> None:
    g = _start(runtime_metrics=False)
    try:
        g.meter("user").create_histogram("x.h", explicit_bucket_boundaries_advisory=[0, 1, 5]).record(2)
        ours, reference, ours_om, reference_om = _both(g)
    finally:
        g.shutdown()
    assert ours == reference  # the text format takes le="1" as upstream writes it
    assert 'le="1"' in reference_om  # OpenMetrics wants the canonical 1.0 (its parser checks only +Inf)
    assert ours_om == reference_om.replace('le="0"', 'le="0.0"').replace('le="1"', 'le="1.0"').replace(
        'le="5"', 'le="5.0"'
    )
    list(parse_openmetrics(ours_om))  # type: ignore[no-untyped-call]


# prometheus_client's OpenMetrics parser test cases (tests/openmetrics/test_parser.py) that OTel data
# can express, each as the OTel recording that yields it: (case, record, expected samples).
# Not applicable: summaries and quantiles, info and stateset, timestamps, native
# histograms, untyped metrics and names without metadata (every OTel metric has a type), NaN and
# infinite sample values (the SDK and the handles drop non-finite measurements). Exemplars: tests/test_exemplars.py.
Recorder = Callable[[ProviderGuard], object]


PARSER_CASES: dict[str, tuple[Recorder, list[tuple[str, dict[str, str], float]]]] = {
    "simple_counter": (
        lambda g: g.meter("user").create_counter("a", description="help").add(1),
        [("a_total", {}, 1.0)],
    ),
    "uint64_counter": (
        lambda g: g.meter("user").create_counter("a").add(2**63 - 1),
        [("a_total", {}, float(2**63 - 1))],
    ),
    "simple_gauge": (lambda g: g.meter("user").create_gauge("a", description="help").set(1), [("a", {}, 1.0)]),
    "float_gauge": (lambda g: g.meter("user").create_gauge("a").set(1.2), [("a", {}, 1.2)]),
    "unit_gauge": (lambda g: g.meter("user").create_gauge("a", unit="s").set(1), [("a_seconds", {}, 1.0)]),
    "simple_histogram": (
        lambda g: g.meter("user").create_histogram("a", explicit_bucket_boundaries_advisory=[1.0]).record(2),
        [("a_bucket", {"le": "1.0"}, 0.0), ("a_bucket", {"le": "+Inf"}, 1.0), ("a_count", {}, 1.0), ("a_sum", {}, 2.0)],
    ),
    "histogram_integer_bound": (
        lambda g: g.meter("user").create_histogram("a", explicit_bucket_boundaries_advisory=[1]).record(2),
        [("a_bucket", {"le": "1.0"}, 0.0), ("a_bucket", {"le": "+Inf"}, 1.0)],
    ),
    "histogram_negative_buckets": (
        lambda g: g.bridge.instrument("a", "histogram", "", "", (), (-1.0, 1.0)).bind().record(0.5),
        [("a_bucket", {"le": "-1.0"}, 0.0), ("a_bucket", {"le": "+Inf"}, 1.0)],
    ),
    "handle_histogram_large_bounds": (
        lambda g: g.bridge.instrument("a", "histogram", "", "", (), (1e10, 1e16)).bind().record(2e10),
        [("a_bucket", {"le": "1e+10"}, 0.0), ("a_bucket", {"le": "1e+16"}, 1.0)],
    ),
    "labels_with_curly_braces": (
        lambda g: g.meter("user").create_counter("a").add(1, {"foo": "bar", "bar": "b{a}z"}),
        [("a_total", {"foo": "bar", "bar": "b{a}z"}, 1.0)],
    ),
    "empty_help": (lambda g: g.meter("user").create_counter("a").add(1), [("a_total", {}, 1.0)]),
    "empty_label": (lambda g: g.meter("user").create_counter("a").add(2, {"foo": ""}), [("a_total", {"foo": ""}, 2.0)]),
    "label_escaping": (
        lambda g: [
            g.meter("user").create_counter("a").add(1, {"foo": v, "bar": "baz"})
            for v in ("foo", "\\foo", "foo\\", "\\", "\n", "\\n", "\\\n", '"', '\\"')
        ],
        [
            ("a_total", {"foo": v, "bar": "baz"}, 1.0)
            for v in ("foo", "\\foo", "foo\\", "\\", "\n", "\\n", "\\\n", '"', '\\"')
        ],
    ),
    "help_escaping": (
        lambda g: g.meter("user").create_counter("a", description='he\n\\l\\tp "q"').add(1),
        [("a_total", {}, 1.0)],
    ),
    "handle_label_escaping": (
        lambda g: g.bridge.instrument("a", "counter", "", "", ("foo",)).bind('b"a\nr\\').add(1),
        [("a_total", {"foo": 'b"a\nr\\'}, 1.0)],
    ),
}


def _labels(labels: dict[str, str]) -> dict[str, Any]:
    """Labels without the scope ones, ``le`` as a number (the text format keeps upstream's ``le="1"``)."""
    return {k: float(v) if k == "le" else v for k, v in labels.items() if not k.startswith("otel_scope")}


@pytest.mark.parametrize("case", list(PARSER_CASES))
def test_the_openmetrics_parser_accepts_our_output(case: str) -> None:
    record, expected = PARSER_CASES[case]
    g = _start(runtime_metrics=False)
    try:
        record(g)
        om = g.render_metrics(openmetrics=True).decode()
        text = g.render_metrics().decode()
    finally:
        g.shutdown()
    families = list(parse_openmetrics(om))  # type: ignore[no-untyped-call]
    samples = [(s.name, _labels(s.labels), s.value) for f in families for s in f.samples]
    text_samples = [(s.name, _labels(s.labels), s.value) for f in parse_text(text) for s in f.samples]
    for name, labels, value in expected:
        for got in (samples, text_samples):
            match = [v for n, lab, v in got if n == name and lab == _labels(labels)]
            assert match == [value], (name, labels, got)
    for family in families:
        for sample in family.samples:
            if "le" in sample.labels:  # OpenMetrics: canonical numbers
                assert sample.labels["le"] == floatToGoString(float(sample.labels["le"]))  # type: ignore[no-untyped-call]
    if case == "help_escaping":
        assert [f.documentation for f in families if f.name == "a"] == ['he\n\\l\\tp "q"']
