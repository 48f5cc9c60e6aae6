"""The vLLM stand-in on `sys.path` (vLLM itself cannot be installed here) and the instrumentor."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from agentwatch.instrumentation.content import ContentPolicy
from agentwatch.instrumentation.local import GpuMemory, Sampler, TokenBucket
from agentwatch.instrumentation.telemetry import Telemetry
from tests.instrumentation.local.fakes import ScriptedProbe

FAKE = str(Path(__file__).parent / "fake")


@pytest.fixture(scope="package", autouse=True)
def fake_vllm() -> Iterator[Any]:
    """`import vllm` finds the stand-in (and `importlib.metadata` its version) for this package."""
    sys.path.insert(0, FAKE)
    import vllm

    assert vllm.__file__ is not None and vllm.__file__.startswith(FAKE)
    yield vllm
    sys.path.remove(FAKE)
    for name in [n for n in sys.modules if n == "vllm" or n.startswith("vllm.")]:
        del sys.modules[name]


def gpu(probe: Any = None, first: int = 10, rate: float = 0.0) -> GpuMemory:
    probe = probe if probe is not None else ScriptedProbe({}, {})
    return GpuMemory(probe, Sampler(rate=rate, first=first), TokenBucket(burst=100))


def _instrumented(telemetry: Telemetry, gpu_memory: GpuMemory) -> Iterator[Telemetry]:
    from agentwatch.instrumentation.vllm import VllmInstrumentor

    instrumentor = VllmInstrumentor()
    instrumentor.instrument(telemetry=telemetry, gpu_memory=gpu_memory)
    yield telemetry
    instrumentor.uninstrument()


@pytest.fixture
def instrumented(telemetry: Telemetry) -> Iterator[Telemetry]:
    yield from _instrumented(telemetry, gpu())


@pytest.fixture
def capturing(
    span_exporter: InMemorySpanExporter, metric_reader: InMemoryMetricReader
) -> Iterator[Telemetry]:
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(span_exporter))
    meter_provider = MeterProvider(metric_readers=[metric_reader])
    telemetry = Telemetry(tracer_provider, meter_provider, content=ContentPolicy(enabled=True))
    yield from _instrumented(telemetry, gpu())
