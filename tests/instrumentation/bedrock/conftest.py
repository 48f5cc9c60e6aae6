"""Fixtures of the Bedrock instrumentation tests: fake credentials, no network, the instrumentor."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from agentwatch.instrumentation.bedrock import BedrockInstrumentor
from agentwatch.instrumentation.content import ContentPolicy
from agentwatch.instrumentation.telemetry import Telemetry


@pytest.fixture(autouse=True)
def aws_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fake credentials and region; no config file or instance metadata is ever consulted."""
    for key in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAFAKEFAKEFAKE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "fake-secret")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


@pytest.fixture
def instrumented(telemetry: Telemetry) -> Iterator[Telemetry]:
    """botocore instrumented (content capture off); uninstrumented afterwards."""
    instrumentor = BedrockInstrumentor()
    instrumentor.instrument(telemetry=telemetry)
    yield telemetry
    instrumentor.uninstrument()


@pytest.fixture
def capturing(
    span_exporter: InMemorySpanExporter, metric_reader: InMemoryMetricReader
) -> Iterator[Telemetry]:
    """botocore instrumented with content capture on."""
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(span_exporter))
    meter_provider = MeterProvider(metric_readers=[metric_reader])
    telemetry = Telemetry(tracer_provider, meter_provider, content=ContentPolicy(enabled=True))
    instrumentor = BedrockInstrumentor()
    instrumentor.instrument(telemetry=telemetry)
    yield telemetry
    instrumentor.uninstrument()
