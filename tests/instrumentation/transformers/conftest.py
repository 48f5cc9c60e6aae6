"""A tiny random GPT-2 and a word-level tokenizer, built here (nothing is downloaded)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import torch
import transformers
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from tokenizers import Tokenizer
from tokenizers.models import WordLevel
from tokenizers.pre_tokenizers import Whitespace

from agentwatch.instrumentation.content import ContentPolicy
from agentwatch.instrumentation.local import GpuMemory, Sampler, TokenBucket
from agentwatch.instrumentation.telemetry import Telemetry
from agentwatch.instrumentation.transformers import TransformersInstrumentor
from tests.instrumentation.local.fakes import ScriptedProbe

MODEL = "tiny-gpt2"
WORDS = ["<pad>", "<unk>", "<eos>", "hello", "world", "the", "cat", "sat", "on", "a", "mat"]
WORDS += ["user", "assistant", "system", "dog", "ran"] + [f"w{i}" for i in range(16)]
PAD = 0
CHAT_TEMPLATE = (
    "{% for m in messages %}{{ m['role'] }} {{ m['content'] }} {% endfor %}"
    "{% if add_generation_prompt %}assistant{% endif %}"
)


def tiny_model() -> Any:
    """One layer, two heads, 16 dimensions, 32 words; no EOS of its own (tests pass one)."""
    torch.manual_seed(0)
    config = transformers.GPT2Config(
        n_layer=1,
        n_head=2,
        n_embd=16,
        vocab_size=len(WORDS),
        n_positions=64,
        bos_token_id=None,
        eos_token_id=None,
        pad_token_id=PAD,
    )
    model = transformers.GPT2LMHeadModel(config).eval()
    model.config.name_or_path = MODEL
    return model


def tiny_tokenizer() -> Any:
    vocab = {word: i for i, word in enumerate(WORDS)}
    backend = Tokenizer(WordLevel(vocab, unk_token="<unk>"))
    backend.pre_tokenizer = Whitespace()
    tokenizer = transformers.PreTrainedTokenizerFast(
        tokenizer_object=backend, pad_token="<pad>", unk_token="<unk>", padding_side="left"
    )
    tokenizer.chat_template = CHAT_TEMPLATE
    return tokenizer


@pytest.fixture(scope="session")
def model() -> Any:
    return tiny_model()


@pytest.fixture(scope="session")
def tokenizer() -> Any:
    return tiny_tokenizer()


@pytest.fixture
def generator(model: Any, tokenizer: Any) -> Any:
    return transformers.TextGenerationPipeline(model=model, tokenizer=tokenizer)


def gpu(probe: Any = None, first: int = 10, rate: float = 0.0) -> GpuMemory:
    """A monitor over a scripted probe (nothing measured when `probe` is None)."""
    probe = probe if probe is not None else ScriptedProbe({}, {})
    return GpuMemory(probe, Sampler(rate=rate, first=first), TokenBucket(burst=100))


@pytest.fixture
def instrumented(telemetry: Telemetry) -> Iterator[Telemetry]:
    """transformers instrumented (content capture off, no GPU figures); undone afterwards."""
    instrumentor = TransformersInstrumentor()
    instrumentor.instrument(telemetry=telemetry, gpu_memory=gpu())
    yield telemetry
    instrumentor.uninstrument()


@pytest.fixture
def capturing(
    span_exporter: InMemorySpanExporter, metric_reader: InMemoryMetricReader
) -> Iterator[Telemetry]:
    """transformers instrumented with content capture on."""
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(span_exporter))
    meter_provider = MeterProvider(metric_readers=[metric_reader])
    telemetry = Telemetry(tracer_provider, meter_provider, content=ContentPolicy(enabled=True))
    instrumentor = TransformersInstrumentor()
    instrumentor.instrument(telemetry=telemetry, gpu_memory=gpu())
    yield telemetry
    instrumentor.uninstrument()
