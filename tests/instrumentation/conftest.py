"""Fixtures of the instrumentation tests: real SDK providers with in-memory exporters."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from agentwatch.instrumentation.content import ContentPolicy
from agentwatch.instrumentation.telemetry import Telemetry


@pytest.fixture
def span_exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def metric_reader() -> InMemoryMetricReader:
    return InMemoryMetricReader()


@pytest.fixture
def telemetry(
    span_exporter: InMemorySpanExporter, metric_reader: InMemoryMetricReader
) -> Telemetry:
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(span_exporter))
    meter_provider = MeterProvider(metric_readers=[metric_reader])
    return Telemetry(tracer_provider, meter_provider, content=ContentPolicy())


def finished(span_exporter: InMemorySpanExporter) -> list[ReadableSpan]:
    """The spans ended so far."""
    return list(span_exporter.get_finished_spans())


def points(metric_reader: InMemoryMetricReader, name: str) -> list[Any]:
    """Every data point of metric `name` collected now (histogram or sum points)."""
    data = metric_reader.get_metrics_data()
    out: list[Any] = []
    if data is None:
        return out
    for resource in data.resource_metrics:
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                if metric.name == name:
                    out.extend(metric.data.data_points)
    return out


@pytest.fixture
def no_global_providers() -> Iterator[None]:
    """Tests that touch global providers restore them."""
    from opentelemetry import metrics, trace

    before = (trace._TRACER_PROVIDER, metrics._internal._METER_PROVIDER)  # type: ignore[attr-defined]
    yield
    trace._TRACER_PROVIDER = before[0]  # type: ignore[attr-defined]
    metrics._internal._METER_PROVIDER = before[1]  # type: ignore[attr-defined]
