"""llama-cpp-python's `Llama` (against the stand-in of 0.3's interface): calls and streams."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from agentwatch.instrumentation import semconv as sc
from agentwatch.instrumentation.local import memory_attribute
from agentwatch.instrumentation.telemetry import Telemetry
from tests.instrumentation.conftest import finished
from tests.instrumentation.llama_cpp.conftest import MODEL, gpu
from tests.instrumentation.local.fakes import MB, leak

CHAT = [{"role": "user", "content": "hello there"}]


def attrs(span: Any) -> dict[str, Any]:
    return dict(span.attributes or {})


def test_a_completion_is_one_span_with_llama_cpps_usage(
    instrumented: Telemetry, span_exporter: InMemorySpanExporter, llm: Any
) -> None:
    out = llm.create_completion("hello world the cat", max_tokens=2, temperature=0.1, stop=["\n"])
    (span,) = finished(span_exporter)
    assert span.name == f"text_completion {MODEL}"
    assert attrs(span) == {
        sc.OPERATION_NAME: sc.OP_TEXT_COMPLETION,
        sc.PROVIDER_NAME: "llama_cpp",
        sc.REQUEST_MODEL: MODEL,
        sc.REQUEST_STREAM: False,
        sc.REQUEST_MAX_TOKENS: 2,
        sc.REQUEST_TEMPERATURE: 0.1,
        sc.REQUEST_STOP_SEQUENCES: ("\n",),
        sc.RESPONSE_ID: out["id"],
        sc.RESPONSE_MODEL: MODEL,
        sc.USAGE_INPUT_TOKENS: out["usage"]["prompt_tokens"],
        sc.USAGE_OUTPUT_TOKENS: 2,
        sc.RESPONSE_FINISH_REASONS: ("length",),
        sc.RESPONSE_FLAGS: ("truncated",),
    }
    assert "secret-team" not in json.dumps(attrs(span))  # the model's directory stays out


def test_calling_the_model_is_one_span_not_two(
    instrumented: Telemetry, span_exporter: InMemorySpanExporter, llm: Any
) -> None:
    llm("hello", max_tokens=8)
    (span,) = finished(span_exporter)
    assert attrs(span)[sc.USAGE_OUTPUT_TOKENS] == 4
    assert attrs(span)[sc.RESPONSE_FINISH_REASONS] == ("stop",)


def test_a_chat_is_one_chat_span_and_its_inner_completion_is_not_traced(
    instrumented: Telemetry, span_exporter: InMemorySpanExporter, llm: Any
) -> None:
    out = llm.create_chat_completion(CHAT, max_tokens=8)
    (span,) = finished(span_exporter)
    assert span.name == f"chat {MODEL}"
    assert attrs(span)[sc.USAGE_INPUT_TOKENS] == out["usage"]["prompt_tokens"]
    assert attrs(span)[sc.USAGE_OUTPUT_TOKENS] == out["usage"]["completion_tokens"] == 4
    assert attrs(span)[sc.RESPONSE_ID] == out["id"]


def test_a_completion_stream_counts_its_tokens_with_the_models_tokenizer(
    instrumented: Telemetry, span_exporter: InMemorySpanExporter, llm: Any
) -> None:
    plain = llm.create_completion("hello world", max_tokens=8)
    chunks = list(llm.create_completion("hello world", max_tokens=8, stream=True))
    assert "".join(c["choices"][0]["text"] for c in chunks) == plain["choices"][0]["text"]
    _, span = finished(span_exporter)
    a = attrs(span)
    assert a[sc.REQUEST_STREAM] is True
    assert (a[sc.USAGE_INPUT_TOKENS], a[sc.USAGE_OUTPUT_TOKENS]) == (2, 4)
    assert a[sc.USAGE_ESTIMATED] is True and a[sc.USAGE_ESTIMATE_METHOD] == "llama_cpp.tokenize"
    assert a[sc.RESPONSE_FINISH_REASONS] == ("stop",)
    assert sc.RESPONSE_TIME_TO_FIRST_CHUNK in a


def test_a_chat_stream_gets_its_prompt_from_the_chat_handler(
    instrumented: Telemetry, span_exporter: InMemorySpanExporter, llm: Any
) -> None:
    plain = llm.create_chat_completion(CHAT, max_tokens=8)
    chunks = list(llm.create_chat_completion(CHAT, max_tokens=8, stream=True))
    assert chunks[0]["object"] == "chat.completion.chunk"
    first, second = finished(span_exporter)
    assert attrs(second)[sc.OPERATION_NAME] == sc.OP_CHAT
    # The handler's prompt tokenized without BOS; llama.cpp's own count includes it.
    assert attrs(second)[sc.USAGE_INPUT_TOKENS] == plain["usage"]["prompt_tokens"] - 1
    assert attrs(second)[sc.USAGE_OUTPUT_TOKENS] == attrs(first)[sc.USAGE_OUTPUT_TOKENS]


def test_a_stream_left_early_and_closed_ends_once_with_what_was_seen(
    instrumented: Telemetry, span_exporter: InMemorySpanExporter, llm: Any
) -> None:
    stream = llm.create_completion("hello", max_tokens=8, stream=True)
    next(stream)
    assert finished(span_exporter) == []
    stream.close()
    stream.close()
    (span,) = finished(span_exporter)
    assert attrs(span)[sc.USAGE_OUTPUT_TOKENS] == 1
    assert sc.RESPONSE_FINISH_REASONS not in attrs(span)


def test_errors_reach_the_caller_unchanged(
    instrumented: Telemetry, span_exporter: InMemorySpanExporter, llm: Any, fake_llama_cpp: Any
) -> None:
    long_prompt = " ".join(["word"] * 600)
    with pytest.raises(ValueError, match="exceed context window"):
        llm.create_completion(long_prompt)
    stream = llm.create_completion(long_prompt, stream=True)  # a generator: raises when read
    with pytest.raises(ValueError, match="exceed context window"):
        next(stream)
    first, second = finished(span_exporter)
    for span in (first, second):
        assert span.status.status_code is StatusCode.ERROR
        assert attrs(span)[sc.ERROR_TYPE] == "ValueError"


def test_no_content_by_default(
    instrumented: Telemetry, span_exporter: InMemorySpanExporter, llm: Any
) -> None:
    llm.create_chat_completion(CHAT)
    list(llm.create_completion("hello world", stream=True))
    for span in finished(span_exporter):
        assert sc.INPUT_MESSAGES not in attrs(span) and sc.OUTPUT_MESSAGES not in attrs(span)
        assert "hello" not in json.dumps(attrs(span))


def test_content_when_opted_in(
    capturing: Telemetry, span_exporter: InMemorySpanExporter, llm: Any
) -> None:
    out = llm.create_chat_completion(CHAT, max_tokens=2)
    (span,) = finished(span_exporter)
    assert json.loads(attrs(span)[sc.INPUT_MESSAGES]) == [
        {"role": "user", "parts": [{"type": "text", "content": "hello there"}]}
    ]
    assert json.loads(attrs(span)[sc.OUTPUT_MESSAGES]) == [
        {
            "role": "assistant",
            "parts": [{"type": "text", "content": out["choices"][0]["message"]["content"]}],
            "finish_reason": "length",
        }
    ]


def test_a_streams_memory_after_is_read_when_it_ends(
    telemetry: Telemetry, span_exporter: InMemorySpanExporter, llm: Any
) -> None:
    from agentwatch.instrumentation.llama_cpp import LlamaCppInstrumentor

    probe = leak(300 * MB)
    instrumentor = LlamaCppInstrumentor()
    instrumentor.instrument(telemetry=telemetry, gpu_memory=gpu(probe))
    try:
        stream = llm.create_completion("hello", stream=True)
        assert len(probe.reads) == 1
        list(stream)
    finally:
        instrumentor.uninstrument()
    assert len(probe.reads) == 2
    (span,) = finished(span_exporter)
    assert attrs(span)[memory_attribute("torch_allocated", "delta")] == 300 * MB


def test_uninstrument_restores_and_out_of_range_wraps_nothing(
    telemetry: Telemetry, span_exporter: InMemorySpanExporter, llm: Any
) -> None:
    from llama_cpp.llama import Llama

    from agentwatch.instrumentation.llama_cpp import LlamaCppInstrumentor

    before = (Llama.__dict__["create_completion"], Llama.__dict__["create_chat_completion"])
    instrumentor = LlamaCppInstrumentor()
    instrumentor.instrument(telemetry=telemetry, gpu_memory=gpu())
    assert Llama.__dict__["create_completion"] is not before[0]
    instrumentor.uninstrument()
    assert (Llama.__dict__["create_completion"], Llama.__dict__["create_chat_completion"]) == before

    class ForAnotherRelease(LlamaCppInstrumentor):
        _instance = None
        _instruments = ("llama-cpp-python >= 1",)

    other = ForAnotherRelease()
    other.instrument(telemetry=telemetry, gpu_memory=gpu())
    try:
        assert Llama.__dict__["create_completion"] is before[0]
        llm.create_completion("hello")
    finally:
        other.uninstrument()
    assert finished(span_exporter) == []


def test_the_range_holds_the_mirrored_release_and_importing_imports_nothing() -> None:
    from importlib.metadata import version

    from packaging.requirements import Requirement

    from agentwatch.instrumentation.llama_cpp import LlamaCppInstrumentor

    (requirement,) = (Requirement(r) for r in LlamaCppInstrumentor()._instruments)
    assert version("llama-cpp-python") in requirement.specifier
    code = (
        "import sys, agentwatch.instrumentation.llama_cpp as l; l.LlamaCppInstrumentor(); "
        "sys.exit('llama_cpp' in sys.modules)"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
