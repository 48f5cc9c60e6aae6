"""On the wire: an instrumented call exported over real OTLP/HTTP protobuf to a receiver."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.trace.v1.trace_pb2 import Span
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from agentwatch import names
from agentwatch.instrumentation import semconv as sc
from agentwatch.instrumentation.content import ContentPolicy
from agentwatch.instrumentation.openai import OpenAIInstrumentor
from agentwatch.instrumentation.telemetry import Telemetry
from tests.instrumentation.openai import fakeapi as fake
from tests.otlp_receiver import OtlpReceiver, attributes, metric_info, metrics, spans


@pytest.fixture
def receiver() -> Iterator[OtlpReceiver]:
    with OtlpReceiver() as r:
        yield r


def test_spans_and_metrics_arrive_with_the_conventions_names_units_and_buckets(
    receiver: OtlpReceiver,
) -> None:
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(
        SimpleSpanProcessor(OTLPSpanExporter(endpoint=receiver.url("traces"), timeout=5))
    )
    reader = PeriodicExportingMetricReader(
        OTLPMetricExporter(endpoint=receiver.url("metrics"), timeout=5),
        export_interval_millis=3_600_000,  # exported by the explicit flush below only
    )
    meter_provider = MeterProvider(metric_readers=[reader])
    telemetry = Telemetry(tracer_provider, meter_provider, content=ContentPolicy())
    instrumentor = OpenAIInstrumentor()
    instrumentor.instrument(telemetry=telemetry)
    try:
        chunks = fake.text_chunks(["Hi"], with_usage=fake.usage(prompt=12, completion=5))
        with fake.client(fake.fixed(lambda: fake.sse_response(fake.sse(chunks)))) as c:
            for _ in c.chat.completions.create(
                model=fake.MODEL,
                messages=fake.MESSAGES,
                stream=True,
                stream_options={"include_usage": True},
                temperature=0.5,
            ):
                pass
        assert meter_provider.force_flush(timeout_millis=5000)
    finally:
        instrumentor.uninstrument()
        tracer_provider.shutdown()
        meter_provider.shutdown()

    (span,) = spans(receiver.trace_requests())
    assert span.name == "chat gpt-4o-mini" and span.kind == Span.SPAN_KIND_CLIENT
    attrs = attributes(span.attributes)
    assert attrs[sc.OPERATION_NAME] == "chat" and attrs[sc.PROVIDER_NAME] == "openai"
    assert attrs[sc.REQUEST_TEMPERATURE] == 0.5 and attrs[sc.REQUEST_STREAM] is True
    assert attrs[sc.RESPONSE_FINISH_REASONS] == ("stop",)
    assert (attrs[sc.USAGE_INPUT_TOKENS], attrs[sc.USAGE_OUTPUT_TOKENS]) == (12, 5)
    assert attrs[sc.SERVER_ADDRESS] == fake.HOST and attrs[sc.SERVER_PORT] == 443

    requests = receiver.metrics_requests()
    info = metric_info(requests)
    for spec in (
        names.GEN_AI_TOKEN_USAGE,
        names.GEN_AI_OPERATION_DURATION,
        names.GEN_AI_TIME_TO_FIRST_CHUNK,
        names.GEN_AI_TIME_PER_OUTPUT_CHUNK,
    ):
        assert info[spec.otel].unit == spec.unit and info[spec.otel].type == "histogram"
    by_name = {m.name: m for m in metrics(requests)}
    for spec in (names.GEN_AI_TOKEN_USAGE, names.GEN_AI_OPERATION_DURATION):
        for point in by_name[spec.otel].histogram.data_points:
            assert tuple(point.explicit_bounds) == spec.buckets
    tokens = {
        attributes(p.attributes)[sc.TOKEN_TYPE]: (attributes(p.attributes), p.sum, p.count)
        for p in by_name[names.GEN_AI_TOKEN_USAGE.otel].histogram.data_points
    }
    base = {
        sc.OPERATION_NAME: "chat",
        sc.PROVIDER_NAME: "openai",
        sc.REQUEST_MODEL: fake.MODEL,
        sc.RESPONSE_MODEL: fake.RESPONSE_MODEL,
        sc.SERVER_ADDRESS: fake.HOST,
        sc.SERVER_PORT: 443,
    }
    assert tokens == {
        "input": ({**base, sc.TOKEN_TYPE: "input"}, 12.0, 1),
        "output": ({**base, sc.TOKEN_TYPE: "output"}, 5.0, 1),
    }
    cost = info[names.LLM_COST.otel]
    assert (cost.unit, cost.type, cost.monotonic) == (names.LLM_COST.unit, "sum", True)
    (duration,) = by_name[names.GEN_AI_OPERATION_DURATION.otel].histogram.data_points
    assert attributes(duration.attributes) == base and duration.count == 1
