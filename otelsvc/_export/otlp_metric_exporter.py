"""An OTLP metric exporter that sends otelsvc's own encoding over gRPC or HTTP/protobuf.

It encodes with ``_otlp_encoder`` (byte-identical to the SDK's encoder, a fraction of its time) and
cuts an export larger than a collector's message limit into several requests. A request the
collector could not take (unavailable, overloaded) is tried again with the SDK exporters' back-off
while the export's timeout allows; shutdown ends the wait at once, and a push that still failed is
sent again by the next interval (cumulative totals, or deltas from the last delivered reading). Only
public APIs are used (grpc, requests), so it does not depend on the SDK exporters' internals.
"""

from __future__ import annotations

import gzip
import random
import threading
import time
import zlib
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlparse

from opentelemetry.sdk.metrics.export import MetricExporter, MetricExportResult, MetricsData

from otelsvc._export.handle_encoder import PushBatch
from otelsvc._export.otlp_encoder import DEFAULT_MAX_REQUEST_BYTES, encode_metrics_data
from otelsvc._version import __version__

__all__ = ["DirectMetricExporter", "Retryable", "Transport", "build_transport"]

_GRPC_METHOD = "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export"
_RETRY_STATUS = frozenset({408, 429, 502, 503, 504})


class Retryable(OSError):
    """A failure another attempt may get past (collector unavailable or overloaded)."""


class Transport:
    """Sends one encoded ExportMetricsServiceRequest; raises on failure."""

    def send(self, body: bytes, timeout: float) -> None:
        raise NotImplementedError

    def close(self) -> None:
        """Release the channel or session; a send in flight fails soon after."""


class _GrpcTransport(Transport):
    def __init__(
        self,
        endpoint: str,
        headers: Mapping[str, str],
        compression: str | None,
        insecure: bool | None,
        certificate: str | None,
        client_key: str | None,
        client_certificate: str | None,
    ) -> None:
        import grpc  # type: ignore[import-untyped]

        parsed = urlparse(endpoint)
        target = parsed.netloc or endpoint
        # As the SDK's gRPC exporter decides, given what exporters._grpc_kwargs hands it.
        if insecure is None:
            insecure = endpoint.startswith("http://")
        secure = parsed.scheme == "https" or not insecure or bool(certificate or client_key)
        compressed = grpc.Compression.Gzip if compression == "gzip" else grpc.Compression.NoCompression
        options = [("grpc.primary_user_agent", f"otelsvc/{__version__}")]
        credentials = None
        if secure:

            def read(path: str | None) -> bytes | None:
                if path is None:
                    return None
                with open(path, "rb") as fh:
                    return fh.read()

            credentials = grpc.ssl_channel_credentials(read(certificate), read(client_key), read(client_certificate))

        def open_channel() -> Any:
            if credentials is not None:
                return grpc.secure_channel(target, credentials, compression=compressed, options=options)
            return grpc.insecure_channel(target, compression=compressed, options=options)

        self._open_channel = open_channel
        self._lock = threading.Lock()
        self._closed = False
        self._channel = open_channel()
        # No serializer: the request is already protobuf bytes.
        self._call = self._channel.unary_unary(_GRPC_METHOD, request_serializer=None, response_deserializer=None)
        self._metadata = tuple((k.lower(), v) for k, v in headers.items())

    def send(self, body: bytes, timeout: float) -> None:
        import grpc

        call = self._call
        try:
            call(body, metadata=self._metadata, timeout=max(timeout, 0.001))
        except grpc.RpcError as exc:  # its text carries a long debug string: the status is what matters
            code, details = exc.code(), exc.details()
            message = f"gRPC {getattr(code, 'name', code)}: {details}"
            if code == grpc.StatusCode.UNAVAILABLE:
                self._reconnect()
                raise Retryable(message) from None
            raise OSError(message) from None
        except ValueError as exc:  # the channel was closed (shutdown)
            raise OSError(f"gRPC channel closed: {exc}") from None

    def _reconnect(self) -> None:
        """A new channel, as the SDK's exporter makes on UNAVAILABLE: the old one's reconnect back-off
        grows through an outage and would hold the first push after the collector is back."""
        with self._lock:
            if self._closed:
                return
            old, self._channel = self._channel, self._open_channel()
            self._call = self._channel.unary_unary(_GRPC_METHOD, request_serializer=None, response_deserializer=None)
        old.close()

    def close(self) -> None:
        with self._lock:
            self._closed = True
        self._channel.close()


class _HttpTransport(Transport):
    def __init__(
        self,
        endpoint: str,
        headers: Mapping[str, str],
        compression: str | None,
        certificate: str | None,
        client_key: str | None,
        client_certificate: str | None,
    ) -> None:
        import requests

        self._url = endpoint
        self._session = requests.Session()
        self._session.headers.update({"Content-Type": "application/x-protobuf", **headers})
        self._compression = compression
        if compression in ("gzip", "deflate"):
            self._session.headers["Content-Encoding"] = compression
        self._verify: Any = certificate if certificate else True
        self._cert: Any = (client_certificate, client_key) if client_certificate and client_key else client_certificate

    def send(self, body: bytes, timeout: float) -> None:
        if self._compression == "gzip":
            body = gzip.compress(body, compresslevel=6)
        elif self._compression == "deflate":
            body = zlib.compress(body)
        import requests

        try:
            response = self._session.post(
                self._url, data=body, timeout=max(timeout, 0.001), verify=self._verify, cert=self._cert
            )
        except requests.exceptions.ConnectionError as exc:
            raise Retryable(f"connection failed: {type(exc).__name__}") from exc
        status = response.status_code
        if not 200 <= status < 300:
            kind = Retryable if status in _RETRY_STATUS else OSError
            raise kind(f"HTTP {status} from the collector")

    def close(self) -> None:
        self._session.close()


def build_transport(
    protocol: str,
    endpoint: str,
    headers: Mapping[str, str],
    compression: str | None = None,
    insecure: bool | None = None,
    certificate: str | None = None,
    client_key: str | None = None,
    client_certificate: str | None = None,
) -> Transport:
    """A transport for ``protocol`` ("grpc" or "http/protobuf"); ``endpoint`` is the full URL for HTTP."""
    if protocol == "grpc":
        return _GrpcTransport(endpoint, headers, compression, insecure, certificate, client_key, client_certificate)
    return _HttpTransport(endpoint, headers, compression, certificate, client_key, client_certificate)


class DirectMetricExporter(MetricExporter):
    """Encodes with otelsvc's encoder and sends through a ``Transport``, request by request."""

    def __init__(
        self,
        transport: Transport,
        timeout: float = 10.0,
        max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES,
        preferred_temporality: dict[type, Any] | None = None,
        preferred_aggregation: dict[type, Any] | None = None,
    ) -> None:
        super().__init__(preferred_temporality=preferred_temporality, preferred_aggregation=preferred_aggregation)
        self._transport = transport
        self._timeout = timeout
        self._max_request_bytes = max_request_bytes
        self._closed = threading.Event()
        self.requests_sent = 0

    def export(self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any) -> MetricExportResult:
        if self._closed.is_set():
            return MetricExportResult.FAILURE
        deadline = time.monotonic() + min(self._timeout, timeout_millis / 1000)
        batch = metrics_data if isinstance(metrics_data, PushBatch) else None
        extra = batch.extra() if batch is not None else None
        for body in encode_metrics_data(metrics_data, self._max_request_bytes, extra):
            self._send(body, deadline)
            self.requests_sent += 1
        if batch is not None and batch.handles is not None:
            batch.handles.commit()  # every request delivered: the handle readings are the next deltas' base
        return MetricExportResult.SUCCESS

    def _send(self, body: bytes, deadline: float) -> None:
        """One request, tried again after 1, 2, 4 ... s (+-20%) while retryable and the deadline allows,
        as the SDK's exporters do; shutdown ends the wait at once."""
        attempt = 0
        while True:
            try:
                self._transport.send(body, deadline - time.monotonic())
                return
            except Retryable:
                backoff = 2**attempt * random.uniform(0.8, 1.2)
                attempt += 1
                if backoff > deadline - time.monotonic() or self._closed.wait(backoff):
                    raise

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        return True

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        if not self._closed.is_set():
            self._closed.set()
            self._transport.close()
