"""A real OTLP/HTTP protobuf receiver on loopback, standing in for the OTel collector in tests.

It accepts `POST /v1/metrics`, `/v1/traces` and `/v1/logs` with `application/x-protobuf` bodies
(gzip or deflate encoded or not), parses them with `opentelemetry-proto`, keeps every accepted
request and answers the protocol's `Export*ServiceResponse`. It can be told to refuse the next N
requests with an error status, to exercise retry and failure handling.

    with OtlpReceiver() as receiver:
        pusher = OtlpPusher(..., endpoint=receiver.endpoint, ...)
        receiver.wait_for(lambda r: len(r.metrics_requests()) >= 1)
        values = flatten_metrics(receiver.metrics_requests())
"""

from __future__ import annotations

import gzip
import threading
import time
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from google.protobuf.message import DecodeError, Message
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord
from opentelemetry.proto.metrics.v1.metrics_pb2 import Metric
from opentelemetry.proto.trace.v1.trace_pb2 import Span

PROTOBUF = "application/x-protobuf"

_SIGNALS: dict[str, tuple[type[Message], type[Message]]] = {
    "/v1/metrics": (ExportMetricsServiceRequest, ExportMetricsServiceResponse),
    "/v1/traces": (ExportTraceServiceRequest, ExportTraceServiceResponse),
    "/v1/logs": (ExportLogsServiceRequest, ExportLogsServiceResponse),
}

SeriesKey = tuple[str, frozenset[tuple[str, Any]]]
"""(metric name, its data point's attributes)."""


@dataclass(frozen=True)
class Received:
    """One accepted export request."""

    path: str
    headers: dict[str, str]
    """Header names in lower case."""
    message: Message


@dataclass(frozen=True)
class MetricInfo:
    """What a metric's descriptor says, as received."""

    name: str
    unit: str
    description: str
    type: str
    """The OTLP data kind: `gauge`, `sum`, `histogram`, `exponential_histogram` or `summary`."""
    monotonic: bool | None
    """For sums only."""
    temporality: int | None
    """`AggregationTemporality` enum value, for sums and histograms."""


class OtlpReceiver:
    """An OTLP/HTTP receiver on 127.0.0.1 (on a free port unless `port` is given).

    A context manager; `fail_first` requests are refused with `fail_status`.
    """

    def __init__(self, fail_first: int = 0, fail_status: int = 503, port: int = 0) -> None:
        self._lock = threading.Condition()
        self._received: list[Received] = []
        self._fail_remaining = fail_first
        self._fail_status = fail_status
        self._retry_after: str | None = None
        self.rejected = 0
        """Requests answered with an error status."""
        self._server = ThreadingHTTPServer(("127.0.0.1", port), self._handler_class())
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self) -> OtlpReceiver:
        """Serve in a background thread."""
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="otlp-receiver",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and release the port; safe to call twice."""
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join()
            self._thread = None
        self._server.server_close()

    def __enter__(self) -> OtlpReceiver:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- configuration ---------------------------------------------------------------------------

    @property
    def port(self) -> int:
        """The port it listens on."""
        return int(self._server.server_address[1])

    @property
    def endpoint(self) -> str:
        """The base URL, as `OTEL_EXPORTER_OTLP_ENDPOINT` takes it."""
        return f"http://127.0.0.1:{self.port}"

    def url(self, signal: str) -> str:
        """The full URL of one signal: `metrics`, `traces` or `logs`."""
        return f"{self.endpoint}/v1/{signal}"

    def fail_next(self, count: int, status: int = 503, retry_after: float | None = None) -> None:
        """Refuse the next `count` requests with `status` (and a `Retry-After` header if given)."""
        with self._lock:
            self._fail_remaining = count
            self._fail_status = status
            self._retry_after = None if retry_after is None else f"{retry_after:g}"

    # -- what arrived ----------------------------------------------------------------------------

    @property
    def received(self) -> list[Received]:
        """Every accepted request, oldest first."""
        with self._lock:
            return list(self._received)

    def metrics_requests(self) -> list[ExportMetricsServiceRequest]:
        """Accepted metric export requests, oldest first."""
        return [
            r.message for r in self.received if isinstance(r.message, ExportMetricsServiceRequest)
        ]

    def trace_requests(self) -> list[ExportTraceServiceRequest]:
        """Accepted trace export requests, oldest first."""
        return [
            r.message for r in self.received if isinstance(r.message, ExportTraceServiceRequest)
        ]

    def logs_requests(self) -> list[ExportLogsServiceRequest]:
        """Accepted log export requests, oldest first."""
        return [r.message for r in self.received if isinstance(r.message, ExportLogsServiceRequest)]

    def wait_for(self, condition: Callable[[OtlpReceiver], bool], timeout: float = 10.0) -> bool:
        """Wait until `condition(self)` holds after a request arrives; False on timeout."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while True:
                # The condition reads `received`, which takes the (re-entrant) lock again.
                if condition(self):
                    return True
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._lock.wait(remaining)

    def clear(self) -> None:
        """Forget what was received."""
        with self._lock:
            self._received.clear()

    # -- the HTTP side ---------------------------------------------------------------------------

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                receiver._handle(self)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # keep test output clean

        return Handler

    def _handle(self, request: BaseHTTPRequestHandler) -> None:
        length = int(request.headers.get("Content-Length") or 0)
        body = request.rfile.read(length)
        signal = _SIGNALS.get(request.path)
        if signal is None:
            self._reply(request, 404, b"", "text/plain")
            return
        content_type = (request.headers.get("Content-Type") or "").split(";")[0].strip()
        if content_type != PROTOBUF:
            self._reply(request, 415, b"only application/x-protobuf", "text/plain")
            return
        try:
            body = _decode(body, (request.headers.get("Content-Encoding") or "").lower())
            message = signal[0]()
            message.ParseFromString(body)
        except (OSError, EOFError, zlib.error, DecodeError, ValueError) as error:
            self._reply(request, 400, str(error).encode(), "text/plain")
            return

        status, retry_after = 0, None
        with self._lock:
            if self._fail_remaining > 0:
                self._fail_remaining -= 1
                self.rejected += 1
                status, retry_after = self._fail_status, self._retry_after
                self._lock.notify_all()
            else:
                headers = {key.lower(): value for key, value in request.headers.items()}
                self._received.append(Received(request.path, headers, message))
                self._lock.notify_all()
        if status:
            extra = {} if retry_after is None else {"Retry-After": retry_after}
            self._reply(request, status, b"unavailable", "text/plain", extra)
            return
        self._reply(request, 200, signal[1]().SerializeToString(), PROTOBUF)

    @staticmethod
    def _reply(
        request: BaseHTTPRequestHandler,
        status: int,
        body: bytes,
        content_type: str,
        headers: dict[str, str] | None = None,
    ) -> None:
        request.send_response(status)
        request.send_header("Content-Type", content_type)
        request.send_header("Content-Length", str(len(body)))
        for key, value in (headers or {}).items():
            request.send_header(key, value)
        request.end_headers()
        request.wfile.write(body)


def _decode(body: bytes, encoding: str) -> bytes:
    if encoding in ("", "identity"):
        return body
    if encoding == "gzip":
        return gzip.decompress(body)
    if encoding == "deflate":
        return zlib.decompress(body)
    raise ValueError(f"unsupported Content-Encoding {encoding!r}")


# -- flattening helpers ------------------------------------------------------------------------


def any_value(value: AnyValue) -> Any:
    """The Python value of an OTLP `AnyValue`."""
    kind = value.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        return tuple(any_value(v) for v in value.array_value.values)
    if kind == "kvlist_value":
        return attributes(value.kvlist_value.values)
    return getattr(value, kind)


def attributes(pairs: Iterable[KeyValue]) -> dict[str, Any]:
    """OTLP key-value pairs as a dict."""
    return {pair.key: any_value(pair.value) for pair in pairs}


def metrics(requests: Iterable[ExportMetricsServiceRequest]) -> list[Metric]:
    """Every metric of the requests, in order."""
    return [
        metric
        for request in requests
        for resource_metrics in request.resource_metrics
        for scope_metrics in resource_metrics.scope_metrics
        for metric in scope_metrics.metrics
    ]


def metric_info(requests: Iterable[ExportMetricsServiceRequest]) -> dict[str, MetricInfo]:
    """The descriptor of every metric name received (the latest one wins)."""
    info: dict[str, MetricInfo] = {}
    for metric in metrics(requests):
        kind = metric.WhichOneof("data") or ""
        data: Any = getattr(metric, kind) if kind else None
        info[metric.name] = MetricInfo(
            name=metric.name,
            unit=metric.unit,
            description=metric.description,
            type=kind,
            monotonic=data.is_monotonic if kind == "sum" else None,
            temporality=data.aggregation_temporality
            if kind in ("sum", "histogram", "exponential_histogram")
            else None,
        )
    return info


def flatten_metrics(requests: Iterable[ExportMetricsServiceRequest]) -> dict[SeriesKey, float]:
    """`{(name, frozenset(attributes.items())): value}` of gauges and sums; later points win.

    Histogram points flatten to their `sum` under the name `NAME.sum` and their count under
    `NAME.count`, enough for most assertions.
    """
    values: dict[SeriesKey, float] = {}
    for metric in metrics(requests):
        kind = metric.WhichOneof("data")
        if kind in ("gauge", "sum"):
            for point in getattr(metric, kind).data_points:
                key = (metric.name, frozenset(attributes(point.attributes).items()))
                number = point.WhichOneof("value")
                values[key] = float(point.as_int if number == "as_int" else point.as_double)
        elif kind in ("histogram", "exponential_histogram"):
            for hpoint in getattr(metric, kind).data_points:
                attrs = frozenset(attributes(hpoint.attributes).items())
                values[(metric.name + ".sum", attrs)] = hpoint.sum
                values[(metric.name + ".count", attrs)] = float(hpoint.count)
    return values


def resource_attributes(
    request: ExportMetricsServiceRequest | ExportTraceServiceRequest | ExportLogsServiceRequest,
) -> dict[str, Any]:
    """The resource attributes of the first resource of any export request."""
    if isinstance(request, ExportMetricsServiceRequest):
        return attributes(request.resource_metrics[0].resource.attributes)
    if isinstance(request, ExportTraceServiceRequest):
        return attributes(request.resource_spans[0].resource.attributes)
    return attributes(request.resource_logs[0].resource.attributes)


def spans(requests: Iterable[ExportTraceServiceRequest]) -> list[Span]:
    """Every span of the requests, in order."""
    return [
        span
        for request in requests
        for resource_spans in request.resource_spans
        for scope_spans in resource_spans.scope_spans
        for span in scope_spans.spans
    ]


def log_records(requests: Iterable[ExportLogsServiceRequest]) -> list[LogRecord]:
    """Every log record of the requests, in order."""
    return [
        record
        for request in requests
        for resource_logs in request.resource_logs
        for scope_logs in resource_logs.scope_logs
        for record in scope_logs.log_records
    ]
