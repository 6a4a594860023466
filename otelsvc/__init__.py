"""otelsvc: OpenTelemetry-native telemetry for Python services.

``otelsvc.start()`` gives meter and tracer providers, a Prometheus scrape endpoint and an OTLP push
side by side, and a teardown at exit that is bounded in time and logs every failure.
"""

from otelsvc._bridge import HandleInstrument
from otelsvc._errors import ConfigError
from otelsvc._guard import ProviderGuard
from otelsvc._handles import CounterHandle, GaugeHandle, HistogramHandle, Timer, UpDownCounterHandle
from otelsvc._start import start
from otelsvc._version import __version__

__all__ = [
    "ConfigError",
    "CounterHandle",
    "GaugeHandle",
    "HandleInstrument",
    "HistogramHandle",
    "ProviderGuard",
    "Timer",
    "UpDownCounterHandle",
    "__version__",
    "start",
]
