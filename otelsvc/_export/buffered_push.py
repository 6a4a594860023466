"""What the spans and logs push pipelines share: a batch processor's exporter behind a retry buffer."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import MetricReader
from opentelemetry.sdk.resources import Resource

from otelsvc._config import OtlpSignal, Settings
from otelsvc._export.exporters import BufferedPushProxy
from otelsvc._serving.health import ExporterHealth
from otelsvc._version import __version__

__all__ = ["BufferedPush"]


class BufferedPush:
    """One pushed signal whose exporter keeps failed batches (``BufferedPushProxy``); subclasses add their
    batch processor to their provider in ``attach`` and call ``count_drops``."""

    signal: Any

    def __init__(self, settings: Settings, sig: OtlpSignal, component: str, proxy: BufferedPushProxy) -> None:
        self._settings = settings
        self._sig = sig
        self.component = component
        self.proxy = proxy

    @property
    def health(self) -> ExporterHealth:
        return self.proxy.health

    def metric_readers(self) -> Sequence[MetricReader]:
        return ()

    def count_drops(self, meter_provider: MeterProvider, name: str, unit: str, description: str) -> None:
        """An observable counter of the items dropped because the retry buffer was full (also on /health)."""

        def observe(options: CallbackOptions) -> list[Observation]:
            return [Observation(self.health.dropped)]

        meter_provider.get_meter("otelsvc", __version__).create_observable_counter(
            name, [observe], unit=unit, description=description
        )

    def metadata(self) -> dict[str, Any]:
        return {"endpoint": self.health.endpoint, "protocol": self._sig.protocol}  # the endpoint redacted

    def pending(self) -> int:
        return self.proxy.pending()

    def abort(self) -> None:
        self.proxy.abort()

    def wait_idle(self, timeout: float | None = None) -> bool:
        return self.proxy.wait_idle(timeout)

    def after_fork(self, resource: Resource | None) -> None:
        self.proxy.renew(ExporterHealth(self.signal, self._sig.endpoint))
