"""The text-generation pipeline: one span per call, its generate() calls inside it."""

from __future__ import annotations

import json
from typing import Any

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from agentwatch.instrumentation import semconv as sc
from agentwatch.instrumentation.telemetry import Telemetry
from agentwatch.instrumentation.transformers import TransformersInstrumentor
from tests.instrumentation.conftest import finished
from tests.instrumentation.local.fakes import MB, leak
from tests.instrumentation.transformers.conftest import MODEL, gpu

CHAT = [{"role": "user", "content": "hello cat"}]


def attrs(span: Any) -> dict[str, Any]:
    return dict(span.attributes or {})


def test_a_prompt_is_one_span_and_its_generate_is_not_traced_again(
    instrumented: Telemetry, span_exporter: InMemorySpanExporter, generator: Any
) -> None:
    result = generator("hello world", max_new_tokens=3, do_sample=False)
    (span,) = finished(span_exporter)
    assert span.name == f"text_completion {MODEL}"
    a = attrs(span)
    assert a[sc.OPERATION_NAME] == sc.OP_TEXT_COMPLETION
    assert a[sc.REQUEST_MAX_TOKENS] == 3
    assert (a[sc.USAGE_INPUT_TOKENS], a[sc.USAGE_OUTPUT_TOKENS]) == (2, 3)
    assert a[sc.RESPONSE_FINISH_REASONS] == ("length",)
    assert a[sc.RESPONSE_FLAGS] == ("truncated",)  # ran to max_new_tokens: judged as truncated
    assert isinstance(result[0]["generated_text"], str)


def test_chat_messages_make_it_a_chat(
    instrumented: Telemetry, span_exporter: InMemorySpanExporter, generator: Any
) -> None:
    result = generator(CHAT, max_new_tokens=2, do_sample=False)
    (span,) = finished(span_exporter)
    assert span.name == f"chat {MODEL}"
    assert attrs(span)[sc.OPERATION_NAME] == sc.OP_CHAT
    assert attrs(span)[sc.USAGE_OUTPUT_TOKENS] == 2
    assert result[0]["generated_text"][-1]["role"] == "assistant"


def test_a_batch_of_prompts_is_one_span_with_every_prompts_tokens(
    instrumented: Telemetry, span_exporter: InMemorySpanExporter, generator: Any
) -> None:
    result = generator(["hello world", "the cat sat"], max_new_tokens=2, do_sample=False)
    assert len(result) == 2
    (span,) = finished(span_exporter)
    assert (attrs(span)[sc.USAGE_INPUT_TOKENS], attrs(span)[sc.USAGE_OUTPUT_TOKENS]) == (5, 4)
    assert attrs(span)[sc.RESPONSE_FINISH_REASONS] == ("length", "length")


def test_a_generator_of_prompts_gets_a_span_per_generate(
    instrumented: Telemetry, span_exporter: InMemorySpanExporter, generator: Any
) -> None:
    prompts = (p for p in ["hello world", "the cat sat"])
    outputs = list(generator(prompts, max_new_tokens=1, do_sample=False))
    assert len(outputs) == 2
    spans = finished(span_exporter)
    assert [attrs(s)[sc.USAGE_INPUT_TOKENS] for s in spans] == [2, 3]


def test_no_content_is_recorded_by_default(
    instrumented: Telemetry, span_exporter: InMemorySpanExporter, generator: Any
) -> None:
    generator(CHAT, max_new_tokens=2, do_sample=False)
    generator("hello world", max_new_tokens=2, do_sample=False)
    for span in finished(span_exporter):
        assert sc.INPUT_MESSAGES not in attrs(span)
        assert sc.OUTPUT_MESSAGES not in attrs(span)
        assert "hello" not in json.dumps(attrs(span))


def test_content_is_recorded_when_opted_in(
    capturing: Telemetry, span_exporter: InMemorySpanExporter, generator: Any
) -> None:
    result = generator("hello world", max_new_tokens=2, do_sample=False, return_full_text=False)
    chat = generator(CHAT, max_new_tokens=2, do_sample=False)
    text_span, chat_span = finished(span_exporter)
    assert json.loads(attrs(text_span)[sc.INPUT_MESSAGES]) == [
        {"role": "user", "parts": [{"type": "text", "content": "hello world"}]}
    ]
    assert json.loads(attrs(text_span)[sc.OUTPUT_MESSAGES]) == [
        {
            "role": "assistant",
            "parts": [{"type": "text", "content": result[0]["generated_text"]}],
            "finish_reason": "length",
        }
    ]
    assert json.loads(attrs(chat_span)[sc.INPUT_MESSAGES]) == [
        {"role": "user", "parts": [{"type": "text", "content": "hello cat"}]}
    ]
    reply = chat[0]["generated_text"][-1]["content"]
    (out,) = json.loads(attrs(chat_span)[sc.OUTPUT_MESSAGES])
    assert out["parts"] == [{"type": "text", "content": reply}]


def test_a_failing_pipeline_call_raises_unchanged(
    instrumented: Telemetry, span_exporter: InMemorySpanExporter, generator: Any
) -> None:
    with pytest.raises(ValueError, match="max_new_tokens") as caught:
        generator("hello", max_new_tokens=-1)
    assert "max_new_tokens" in str(caught.value)
    (span,) = finished(span_exporter)
    assert span.status.status_code is StatusCode.ERROR
    assert attrs(span)[sc.ERROR_TYPE] == "ValueError"


def test_the_pipeline_span_carries_the_memory_of_the_whole_call(
    telemetry: Telemetry, span_exporter: InMemorySpanExporter, generator: Any
) -> None:
    probe = leak(300 * MB)
    instrumentor = TransformersInstrumentor()
    instrumentor.instrument(telemetry=telemetry, gpu_memory=gpu(probe))
    try:
        generator(["hello world", "the cat sat"], max_new_tokens=1, do_sample=False)
    finally:
        instrumentor.uninstrument()
    (span,) = finished(span_exporter)
    assert attrs(span)["agentwatch.gpu.memory.torch_allocated.delta"] == 300 * MB
    assert len(probe.reads) == 2  # the inner generate() calls take no readings of their own
