"""Real SDK providers (traces, metrics, logs) in memory, and `Signals` recording into them."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Tracer

from agentwatch import names
from agentwatch.instrumentation import agent
from agentwatch.instrumentation.agent.signals import Signals, activate
from agentwatch.instrumentation.content import ContentPolicy
from agentwatch.instrumentation.quality import scores
from agentwatch.instrumentation.telemetry import Telemetry


@dataclass
class Harness:
    """What a test records into and reads back."""

    signals: Signals
    telemetry: Telemetry
    tracer: Tracer
    spans: InMemorySpanExporter
    reader: InMemoryMetricReader
    logs: InMemoryLogRecordExporter
    tracer_provider: TracerProvider
    meter_provider: MeterProvider

    def points(self, spec: names.MetricSpec) -> list[Any]:
        """The data points of one metric collected now."""
        data = self.reader.get_metrics_data()
        out: list[Any] = []
        for resource in data.resource_metrics if data else ():
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    if metric.name == spec.otel:
                        out.extend(metric.data.data_points)
        return out

    def values(self, spec: names.MetricSpec, *keys: str) -> dict[tuple[Any, ...], float]:
        """`{(attribute values of keys...): value}` of a sum or gauge."""
        return {tuple(p.attributes.get(k) for k in keys): p.value for p in self.points(spec)}

    def errors(self) -> dict[tuple[Any, ...], float]:
        """agentwatch's own errors, by place and type."""
        return self.values(names.INSTRUMENTATION_ERRORS, "instrumentation", "error")


def build(install: bool = True) -> Harness:
    """Providers, telemetry and signals; the signals made active (and the libraries patched)."""
    spans = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[reader])
    logs = InMemoryLogRecordExporter()
    logger_provider = LoggerProvider()
    logger_provider.add_log_record_processor(SimpleLogRecordProcessor(logs))
    telemetry = Telemetry(tracer_provider, meter_provider, content=ContentPolicy())
    signals = Signals(telemetry, meter_provider, logger_provider)
    if install:
        agent.install(signals)
    else:
        activate(signals)
    return Harness(
        signals,
        telemetry,
        tracer_provider.get_tracer("test"),
        spans,
        reader,
        logs,
        tracer_provider,
        meter_provider,
    )


def harness(install: bool = True) -> Iterator[Harness]:
    """`build()`, undone after the test (patches restored, no call remembered)."""
    scores._last_call.set(None)
    try:
        yield build(install)
    finally:
        agent.uninstall()
        scores._last_call.set(None)
