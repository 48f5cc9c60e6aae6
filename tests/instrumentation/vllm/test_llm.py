"""vLLM's offline `LLM.generate` and `LLM.chat` (against the stand-in of vLLM 0.10's interface)."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from agentwatch.instrumentation import semconv as sc
from agentwatch.instrumentation.local import memory_attribute
from agentwatch.instrumentation.telemetry import Telemetry
from tests.instrumentation.conftest import finished, points
from tests.instrumentation.local.fakes import MB, leak
from tests.instrumentation.vllm.conftest import gpu

MODEL = "meta-llama/Llama-3.2-1B-Instruct"
CHAT = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hello there"}]


def attrs(span: Any) -> dict[str, Any]:
    return dict(span.attributes or {})


@pytest.fixture
def llm(fake_vllm: Any) -> Any:
    return fake_vllm.LLM(model=MODEL)


def test_generate_is_one_span_with_vllms_own_token_counts(
    instrumented: Telemetry,
    span_exporter: InMemorySpanExporter,
    metric_reader: InMemoryMetricReader,
    llm: Any,
    fake_vllm: Any,
) -> None:
    params = fake_vllm.SamplingParams(max_tokens=3, temperature=0.2, top_p=0.9, seed=7, stop="\n")
    (out,) = llm.generate("hello world the cat", params)
    (span,) = finished(span_exporter)
    assert span.name == f"text_completion {MODEL}"
    assert attrs(span) == {
        sc.OPERATION_NAME: sc.OP_TEXT_COMPLETION,
        sc.PROVIDER_NAME: "vllm",
        sc.REQUEST_MODEL: MODEL,
        sc.REQUEST_MAX_TOKENS: 3,
        sc.REQUEST_TEMPERATURE: 0.2,
        sc.REQUEST_TOP_P: 0.9,
        sc.REQUEST_SEED: 7,
        sc.REQUEST_PRESENCE_PENALTY: 0.0,
        sc.REQUEST_FREQUENCY_PENALTY: 0.0,
        sc.REQUEST_STOP_SEQUENCES: ("\n",),
        sc.RESPONSE_ID: out.request_id,
        sc.USAGE_INPUT_TOKENS: len(out.prompt_token_ids),
        sc.USAGE_OUTPUT_TOKENS: len(out.outputs[0].token_ids),
        sc.RESPONSE_FINISH_REASONS: ("length",),
        sc.RESPONSE_FLAGS: ("truncated",),
    }
    usage = {
        p.attributes[sc.TOKEN_TYPE]: p.sum
        for p in points(metric_reader, "gen_ai.client.token.usage")
    }
    assert usage == {"input": 4, "output": 3}


def test_a_batch_with_several_outputs_each_sums_every_request_and_output(
    instrumented: Telemetry, span_exporter: InMemorySpanExporter, llm: Any, fake_vllm: Any
) -> None:
    outs = llm.generate(["hello", "the cat sat"], fake_vllm.SamplingParams(n=2, max_tokens=10))
    (span,) = finished(span_exporter)
    a = attrs(span)
    assert a[sc.USAGE_INPUT_TOKENS] == sum(len(o.prompt_token_ids) for o in outs) == 4
    assert a[sc.USAGE_OUTPUT_TOKENS] == sum(len(c.token_ids) for o in outs for c in o.outputs)
    assert a[sc.USAGE_OUTPUT_TOKENS] == 20
    assert a[sc.REQUEST_CHOICE_COUNT] == 2
    assert a[sc.RESPONSE_FINISH_REASONS] == ("stop",) * 4
    assert sc.RESPONSE_ID not in a  # four requests, four ids: none is the call's


def test_one_sampling_params_per_prompt_gives_no_request_attributes(
    instrumented: Telemetry, span_exporter: InMemorySpanExporter, llm: Any, fake_vllm: Any
) -> None:
    per_prompt = [fake_vllm.SamplingParams(max_tokens=2), fake_vllm.SamplingParams(max_tokens=9)]
    llm.generate(["hello", "cat"], sampling_params=per_prompt)
    (span,) = finished(span_exporter)
    assert sc.REQUEST_MAX_TOKENS not in attrs(span)
    assert attrs(span)[sc.USAGE_OUTPUT_TOKENS] == 2 + 5


def test_chat_is_one_chat_span_and_its_inner_generate_is_not_traced(
    instrumented: Telemetry, span_exporter: InMemorySpanExporter, llm: Any
) -> None:
    (out,) = llm.chat(CHAT)
    (span,) = finished(span_exporter)
    assert span.name == f"chat {MODEL}"
    assert attrs(span)[sc.OPERATION_NAME] == sc.OP_CHAT
    assert attrs(span)[sc.USAGE_INPUT_TOKENS] == len(out.prompt_token_ids)
    assert attrs(span)[sc.RESPONSE_FINISH_REASONS] == ("stop",)
    assert sc.RESPONSE_FLAGS not in attrs(span)


def test_errors_reach_the_caller_unchanged(
    instrumented: Telemetry, span_exporter: InMemorySpanExporter, llm: Any, fake_vllm: Any
) -> None:
    too_long = fake_vllm.SamplingParams(max_tokens=61)
    with pytest.raises(ValueError, match="maximum model length"):
        llm.generate("hello world the cat", too_long)
    with pytest.raises(TypeError, match="Invalid prompt type"):
        llm.generate([42])
    first, second = finished(span_exporter)
    assert (
        attrs(first)[sc.ERROR_TYPE] == "ValueError" and attrs(second)[sc.ERROR_TYPE] == "TypeError"
    )
    assert first.status.status_code is StatusCode.ERROR


def test_no_content_is_recorded_by_default(
    instrumented: Telemetry, span_exporter: InMemorySpanExporter, llm: Any
) -> None:
    llm.chat(CHAT)
    llm.generate("hello world")
    for span in finished(span_exporter):
        assert sc.INPUT_MESSAGES not in attrs(span) and sc.OUTPUT_MESSAGES not in attrs(span)
        assert "hello" not in json.dumps(attrs(span))


def test_content_is_recorded_when_opted_in(
    capturing: Telemetry, span_exporter: InMemorySpanExporter, llm: Any
) -> None:
    (out,) = llm.chat(CHAT)
    llm.generate([{"prompt": "hello"}, {"prompt_token_ids": [1, 2]}])
    chat_span, generate_span = finished(span_exporter)
    assert json.loads(attrs(chat_span)[sc.INPUT_MESSAGES]) == [
        {"role": "system", "parts": [{"type": "text", "content": "be brief"}]},
        {"role": "user", "parts": [{"type": "text", "content": "hello there"}]},
    ]
    assert json.loads(attrs(chat_span)[sc.OUTPUT_MESSAGES]) == [
        {
            "role": "assistant",
            "parts": [{"type": "text", "content": out.outputs[0].text}],
            "finish_reason": "stop",
        }
    ]
    assert json.loads(attrs(generate_span)[sc.INPUT_MESSAGES]) == [
        {"role": "user", "parts": [{"type": "text", "content": "hello"}]}
    ]


def test_a_leak_of_300_mb_shows_on_the_first_call(
    telemetry: Telemetry, span_exporter: InMemorySpanExporter, llm: Any
) -> None:
    from agentwatch.instrumentation.vllm import VllmInstrumentor

    instrumentor = VllmInstrumentor()
    instrumentor.instrument(telemetry=telemetry, gpu_memory=gpu(leak(300 * MB)))
    try:
        llm.chat(CHAT)
    finally:
        instrumentor.uninstrument()
    (span,) = finished(span_exporter)
    assert attrs(span)[memory_attribute("nvml", "delta")] == 300 * MB


def test_uninstrument_restores_and_out_of_range_wraps_nothing(
    telemetry: Telemetry, span_exporter: InMemorySpanExporter, fake_vllm: Any, llm: Any
) -> None:
    from vllm.entrypoints.llm import LLM

    from agentwatch.instrumentation.vllm import VllmInstrumentor

    before = (LLM.__dict__["generate"], LLM.__dict__["chat"])
    instrumentor = VllmInstrumentor()
    instrumentor.instrument(telemetry=telemetry, gpu_memory=gpu())
    assert LLM.__dict__["generate"] is not before[0]
    instrumentor.uninstrument()
    assert (LLM.__dict__["generate"], LLM.__dict__["chat"]) == before

    class ForAnotherRelease(VllmInstrumentor):
        _instance = None
        _instruments = ("vllm >= 1",)

    other = ForAnotherRelease()
    other.instrument(telemetry=telemetry, gpu_memory=gpu())
    try:
        assert (LLM.__dict__["generate"], LLM.__dict__["chat"]) == before
        llm.generate("hello")
    finally:
        other.uninstrument()
    assert finished(span_exporter) == []


def test_the_range_holds_the_mirrored_release_and_importing_imports_no_vllm() -> None:
    from importlib.metadata import version

    from packaging.requirements import Requirement

    from agentwatch.instrumentation.vllm import VllmInstrumentor

    (requirement,) = (Requirement(r) for r in VllmInstrumentor()._instruments)
    assert version("vllm") in requirement.specifier
    code = (
        "import sys, agentwatch.instrumentation.vllm as v; v.VllmInstrumentor(); "
        "sys.exit('vllm' in sys.modules)"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
