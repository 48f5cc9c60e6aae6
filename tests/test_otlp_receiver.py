"""The OTLP/HTTP test receiver itself: what other tests rely on it to accept and refuse."""

from __future__ import annotations

import gzip
import http.client
from collections.abc import Iterator

import pytest
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord, ResourceLogs, ScopeLogs
from opentelemetry.proto.metrics.v1.metrics_pb2 import (
    Gauge,
    Metric,
    NumberDataPoint,
    ResourceMetrics,
    ScopeMetrics,
    Sum,
)
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span

from tests.otlp_receiver import (
    PROTOBUF,
    OtlpReceiver,
    flatten_metrics,
    log_records,
    metric_info,
    resource_attributes,
    spans,
)


def kv(key: str, value: str) -> KeyValue:
    return KeyValue(key=key, value=AnyValue(string_value=value))


METRICS = ExportMetricsServiceRequest(
    resource_metrics=[
        ResourceMetrics(
            resource=Resource(attributes=[kv("service.name", "svc")]),
            scope_metrics=[
                ScopeMetrics(
                    metrics=[
                        Metric(
                            name="g",
                            unit="By",
                            gauge=Gauge(
                                data_points=[NumberDataPoint(as_int=7, attributes=[kv("a", "1")])]
                            ),
                        ),
                        Metric(
                            name="c",
                            sum=Sum(
                                is_monotonic=True,
                                aggregation_temporality=2,
                                data_points=[NumberDataPoint(as_double=2.5)],
                            ),
                        ),
                    ]
                )
            ],
        )
    ]
)


def post(
    receiver: OtlpReceiver, path: str, body: bytes, headers: dict[str, str]
) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", receiver.port, timeout=5)
    try:
        connection.request("POST", path, body=body, headers=headers)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


@pytest.fixture
def receiver() -> Iterator[OtlpReceiver]:
    with OtlpReceiver() as running:
        yield running


@pytest.mark.timeout(30)
@pytest.mark.parametrize("encoding", ["", "gzip"], ids=["plain", "gzip"])
def test_accepts_metrics_and_answers_the_protobuf_response(
    receiver: OtlpReceiver, encoding: str
) -> None:
    body = METRICS.SerializeToString()
    headers = {"Content-Type": PROTOBUF}
    if encoding:
        body, headers["Content-Encoding"] = gzip.compress(body), encoding
    status, answer = post(receiver, "/v1/metrics", body, headers)

    assert status == 200
    ExportMetricsServiceResponse.FromString(answer)  # parses
    assert receiver.metrics_requests() == [METRICS]
    assert flatten_metrics(receiver.metrics_requests()) == {
        ("g", frozenset({("a", "1")})): 7.0,
        ("c", frozenset()): 2.5,
    }
    info = metric_info(receiver.metrics_requests())
    assert (info["g"].type, info["g"].unit, info["g"].monotonic) == ("gauge", "By", None)
    assert (info["c"].type, info["c"].monotonic, info["c"].temporality) == ("sum", True, 2)
    assert resource_attributes(receiver.metrics_requests()[0]) == {"service.name": "svc"}


@pytest.mark.timeout(30)
def test_accepts_traces_and_logs(receiver: OtlpReceiver) -> None:
    traces = ExportTraceServiceRequest(
        resource_spans=[ResourceSpans(scope_spans=[ScopeSpans(spans=[Span(name="chat")])])]
    )
    logs = ExportLogsServiceRequest(
        resource_logs=[
            ResourceLogs(
                scope_logs=[ScopeLogs(log_records=[LogRecord(body=AnyValue(string_value="hi"))])]
            )
        ]
    )
    headers = {"Content-Type": PROTOBUF}
    assert post(receiver, "/v1/traces", traces.SerializeToString(), headers)[0] == 200
    assert post(receiver, "/v1/logs", logs.SerializeToString(), headers)[0] == 200
    assert [span.name for span in spans(receiver.trace_requests())] == ["chat"]
    assert [r.body.string_value for r in log_records(receiver.logs_requests())] == ["hi"]


@pytest.mark.timeout(30)
@pytest.mark.parametrize(
    ("path", "body", "headers", "status"),
    [
        ("/v1/profiles", b"", {"Content-Type": PROTOBUF}, 404),
        ("/v1/metrics", b"{}", {"Content-Type": "application/json"}, 415),
        ("/v1/metrics", b"\xff\xff\xff", {"Content-Type": PROTOBUF}, 400),
        ("/v1/metrics", b"not gzip", {"Content-Type": PROTOBUF, "Content-Encoding": "gzip"}, 400),
    ],
    ids=["unknown-path", "json", "garbage", "bad-gzip"],
)
def test_refuses_what_a_collector_would_refuse(
    receiver: OtlpReceiver, path: str, body: bytes, headers: dict[str, str], status: int
) -> None:
    assert post(receiver, path, body, headers)[0] == status
    assert receiver.received == []


@pytest.mark.timeout(30)
def test_fails_the_first_requests_when_told(receiver: OtlpReceiver) -> None:
    receiver.fail_next(2, status=503, retry_after=0)
    headers = {"Content-Type": PROTOBUF}
    body = METRICS.SerializeToString()
    statuses = [post(receiver, "/v1/metrics", body, headers)[0] for _ in range(3)]
    assert statuses == [503, 503, 200]
    assert receiver.rejected == 2
    assert len(receiver.metrics_requests()) == 1
