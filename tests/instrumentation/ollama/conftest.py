"""Fixtures of the ollama instrumentation tests: the instrumentor on the in-memory telemetry."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from agentwatch.instrumentation.content import ContentPolicy
from agentwatch.instrumentation.ollama import OllamaInstrumentor
from agentwatch.instrumentation.telemetry import Telemetry


@pytest.fixture
def instrumented(telemetry: Telemetry) -> Iterator[Telemetry]:
    """The SDK instrumented (content capture off); uninstrumented afterwards."""
    instrumentor = OllamaInstrumentor()
    instrumentor.instrument(telemetry=telemetry)
    yield telemetry
    instrumentor.uninstrument()


@pytest.fixture
def capturing(
    span_exporter: InMemorySpanExporter, metric_reader: InMemoryMetricReader
) -> Iterator[Telemetry]:
    """The SDK instrumented with content capture on."""
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(span_exporter))
    meter_provider = MeterProvider(metric_readers=[metric_reader])
    telemetry = Telemetry(tracer_provider, meter_provider, content=ContentPolicy(enabled=True))
    instrumentor = OllamaInstrumentor()
    instrumentor.instrument(telemetry=telemetry)
    yield telemetry
    instrumentor.uninstrument()
