"""docs/configuration.md, generated from the settings table (a test keeps the committed file equal to it)."""

from __future__ import annotations

from otelsvc._config_table import ROWS, SECTIONS, Row

__all__ = ["render_configuration"]

_POLICY = """\
# Configuration

<!-- Generated from otelsvc/_config_table.py by otelsvc/_config_docs.py: do not edit by hand.
     Regenerate: OTELSVC_REGENERATE_DOCS=1 pytest tests/test_config_docs.py -->

Every setting is a keyword of `otelsvc.start()`, an environment variable, or both. Precedence:
keyword > `OTELSVC_*` variable > standard `OTEL_*` variable > default. `otelsvc check` prints the
effective value of each setting and where it came from.

## Policy

This amends the settings policy of the design brief (§1) and the config-table tests.

- **Keywords and `OTELSVC_*` variables are strict.** A bad value raises `otelsvc.ConfigError` (a
  `ValueError`) listing every bad setting at once, each named with its value (secret values shown
  as `<redacted>`), before any thread or socket exists, even under `OTEL_SDK_DISABLED=true`.
- **Standard `OTEL_*` variables follow the OpenTelemetry specification.** Configuration set by a
  platform (the OTel Operator, a Helm chart) must never stop a service from starting: an invalid or
  unsupported value is logged once on the `otelsvc` logger as a warning naming the variable and its
  value (secrets redacted), and is then ignored as if unset, so the setting falls back to its
  default (for a per-signal OTLP variable: to the shared `OTEL_EXPORTER_OTLP_*` one, then the default).
- **Each problem is reported once**: a shared OTLP variable is parsed once for all signals, and the
  SDK is never left to read a variable otelsvc has already read.
- **Empty is unset**: a variable set to an empty value counts as unset (except `OTELSVC_METRICS_TOKEN`,
  where set-but-empty is an error rather than silently turning auth off).
- **Booleans** in `OTEL_*` variables are true only for case-insensitive `true`; `false` is false;
  anything else (`1`, `yes`, `on`) is false with a warning. `OTELSVC_*` booleans and keywords also
  accept `1/0`, `yes/no`, `on/off`.
- **Durations** in `OTEL_*` variables are whole milliseconds, as the spec says (keywords take seconds).
  Every exporter otelsvc builds is given its timeout explicitly: the SDK's OTLP exporters would
  otherwise read `OTEL_EXPORTER_OTLP_*TIMEOUT` themselves, in seconds.
- **0 means no limit** for the spec's timeouts (`OTEL_EXPORTER_OTLP_*TIMEOUT`,
  `OTEL_METRIC_EXPORT_TIMEOUT`, `OTEL_BSP_EXPORT_TIMEOUT`, `OTEL_BLRP_EXPORT_TIMEOUT`): it becomes
  2³¹-1 ms (about 24.8 days, the largest value the spec asks integers to support). Any large finite
  value is accepted. `shutdown()` and `force_flush()` stay bounded by their own timeout whatever these are.
  The intervals and delays (`OTEL_METRIC_EXPORT_INTERVAL`, `OTEL_BSP_SCHEDULE_DELAY`,
  `OTEL_BLRP_SCHEDULE_DELAY`) must be above 0.
- **Lists** (`OTEL_*_EXPORTER`, `OTEL_PROPAGATORS`): one unknown name makes the whole value invalid
  (warning, default). `none` cannot be combined with other names.
- **Combinations**: an export batch size above its queue size is clamped to the queue size (warning);
  `deflate` over gRPC falls back to no compression (warning); `tls_certfile` without `tls_keyfile` is
  an error.
- **Exporters**: `console` prints metrics (at the export interval) and spans to stdout, beside the
  OTLP push and the scrape endpoint. `prometheus` in `OTEL_METRICS_EXPORTER` is accepted; the scrape
  endpoint itself follows the `prometheus` setting.
- **Logs and exemplars**: `OTEL_LOGS_EXPORTER`, `OTEL_EXPORTER_OTLP_LOGS_*` and `OTEL_BLRP_*` are
  parsed, validated and exposed on the settings object now; they are consumed once the logs provider
  lands. `OTEL_METRICS_EXEMPLAR_FILTER` applies to the SDK's instruments and to handle counters and
  histograms (an unknown value warns and falls back to `trace_based`); exemplars show in OpenMetrics
  scrapes (what Prometheus asks for first) and in the OTLP push, not in text 0.0.4.
- `OTEL_RESOURCE_ATTRIBUTES` is `key=value,key=value` with keys and values percent-decoded
  (`k%3Dx=1` is the one key `k=x`); a malformed value is discarded whole, as the resource spec says.
"""


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _default(setting: Row) -> str:
    if setting.default_text is not None:
        return setting.default_text
    value = setting.default
    if isinstance(value, bool):
        return f"`{value}`"
    if isinstance(value, float) and setting.parse.kind.startswith("seconds"):
        return f"{value:g} s"
    if isinstance(value, float) and "milliseconds" in setting.parse.kind:
        return f"{value * 1000:g} ms"
    return f"`{value}`"


def _variables(setting: Row) -> str:
    names = [v.replace("{SIGNAL}", "{METRICS,TRACES,LOGS}") for v in setting.variables]
    return ", ".join(f"`{name}`" for name in names) or "—"


def _kind(setting: Row) -> str:
    if setting.env_parse is not None and setting.keyword:
        return f"keyword: {setting.parse.kind}; variable: {setting.env_parse.kind}"
    return setting.parse.kind


def render_configuration() -> str:
    """The text of docs/configuration.md."""
    out = [_POLICY]
    for section, title in SECTIONS.items():
        out.append(f"\n## {title}\n")
        if section == "otlp":
            out.append(
                "Resolved per signal: the per-signal variable, then the shared one, then the default.\n"
                "The keywords apply to every signal and win over both variables.\n"
            )
        out.append("\n| keyword | variables | default | value | meaning |\n|---|---|---|---|---|\n")
        for setting in ROWS:
            if setting.section != section:
                continue
            keyword = f"`{setting.name}`" if setting.keyword else "—"
            meaning = setting.doc + (" (secret: never printed)" if setting.secret else "")
            cells = [keyword, _variables(setting), _default(setting), _kind(setting), meaning]
            out.append("| " + " | ".join(_cell(c) for c in cells) + " |\n")
    return "".join(out)
