"""Fixtures of the cohere instrumentation tests: the instrumentor on in-memory telemetry."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from agentwatch.instrumentation.cohere import CohereInstrumentor
from agentwatch.instrumentation.content import ContentPolicy
from agentwatch.instrumentation.pricing import ModelPrice, PriceTable, Rates
from agentwatch.instrumentation.telemetry import Telemetry

PRICES = PriceTable(
    {"cohere": {"command-a-03-2025": ModelPrice(Rates(2.50, 10.00, 2.50, 2.50, 2.50))}}
)
"""A test table (USD per million): input, output (no cache discount)."""


def _telemetry(
    span_exporter: InMemorySpanExporter, metric_reader: InMemoryMetricReader, capture: bool
) -> Telemetry:
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(span_exporter))
    meter_provider = MeterProvider(metric_readers=[metric_reader])
    content = ContentPolicy(enabled=capture)
    return Telemetry(tracer_provider, meter_provider, content=content, prices=PRICES)


@pytest.fixture
def instrumented(
    span_exporter: InMemorySpanExporter, metric_reader: InMemoryMetricReader
) -> Iterator[Telemetry]:
    """The SDK instrumented (content capture off); uninstrumented afterwards."""
    telemetry = _telemetry(span_exporter, metric_reader, capture=False)
    instrumentor = CohereInstrumentor()
    instrumentor.instrument(telemetry=telemetry)
    yield telemetry
    instrumentor.uninstrument()


@pytest.fixture
def capturing(
    span_exporter: InMemorySpanExporter, metric_reader: InMemoryMetricReader
) -> Iterator[Telemetry]:
    """The SDK instrumented with content capture on."""
    telemetry = _telemetry(span_exporter, metric_reader, capture=True)
    instrumentor = CohereInstrumentor()
    instrumentor.instrument(telemetry=telemetry)
    yield telemetry
    instrumentor.uninstrument()
