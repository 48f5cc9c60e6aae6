"""Fixtures of the OpenAI instrumentation tests: the instrumentor on the in-memory telemetry."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from agentwatch.instrumentation.content import ContentPolicy
from agentwatch.instrumentation.openai import OpenAIInstrumentor
from agentwatch.instrumentation.telemetry import Telemetry


@pytest.fixture
def instrumented(telemetry: Telemetry) -> Iterator[Telemetry]:
    """The SDK instrumented (content capture off); uninstrumented afterwards."""
    instrumentor = OpenAIInstrumentor()
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
    instrumentor = OpenAIInstrumentor()
    instrumentor.instrument(telemetry=telemetry)
    yield telemetry
    instrumentor.uninstrument()


@pytest.fixture
def with_usage(telemetry: Telemetry) -> Iterator[Telemetry]:
    """The SDK instrumented with `include_usage=True`."""
    instrumentor = OpenAIInstrumentor()
    instrumentor.instrument(telemetry=telemetry, include_usage=True)
    yield telemetry
    instrumentor.uninstrument()


def metric(metric_reader: InMemoryMetricReader, name: str) -> Any:
    """The one collected metric named `name` (for its unit and description)."""
    data = metric_reader.get_metrics_data()
    found = [
        m
        for resource in (data.resource_metrics if data else [])
        for scope in resource.scope_metrics
        for m in scope.metrics
        if m.name == name
    ]
    assert len(found) == 1, f"{name}: {len(found)} metrics"
    return found[0]
