"""The llama-cpp-python stand-in on `sys.path` (no llama.cpp build here) and the instrumentor."""

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
MODEL_PATH = "/models/secret-team/qwen2.5-0.5b-instruct-q4_k_m.gguf"
MODEL = "qwen2.5-0.5b-instruct-q4_k_m.gguf"


@pytest.fixture(scope="package", autouse=True)
def fake_llama_cpp() -> Iterator[Any]:
    sys.path.insert(0, FAKE)
    import llama_cpp

    assert llama_cpp.__file__ is not None and llama_cpp.__file__.startswith(FAKE)
    yield llama_cpp
    sys.path.remove(FAKE)
    for name in [n for n in sys.modules if n == "llama_cpp" or n.startswith("llama_cpp.")]:
        del sys.modules[name]


@pytest.fixture
def llm(fake_llama_cpp: Any) -> Any:
    return fake_llama_cpp.Llama(model_path=MODEL_PATH, verbose=False)


def gpu(probe: Any = None) -> GpuMemory:
    probe = probe if probe is not None else ScriptedProbe({}, {})
    return GpuMemory(probe, Sampler(rate=0.0, first=10), TokenBucket(burst=100))


def _instrumented(telemetry: Telemetry, gpu_memory: GpuMemory) -> Iterator[Telemetry]:
    from agentwatch.instrumentation.llama_cpp import LlamaCppInstrumentor

    instrumentor = LlamaCppInstrumentor()
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
