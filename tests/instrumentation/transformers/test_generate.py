"""`generate()` on a tiny random GPT-2: spans, tokens from the tensors, errors, memory, sampling."""

from __future__ import annotations

from typing import Any

import pytest
import torch
import transformers
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from agentwatch.instrumentation import semconv as sc
from agentwatch.instrumentation.local import memory_attribute
from agentwatch.instrumentation.telemetry import Telemetry
from agentwatch.instrumentation.transformers import TransformersInstrumentor
from tests.instrumentation.conftest import finished, points
from tests.instrumentation.local.fakes import MB, cache, leak
from tests.instrumentation.transformers.conftest import MODEL, PAD, gpu

TOKENS = "gen_ai.client.token.usage"
DELTA = "agentwatch.gpu.memory.delta"


def greedy(model: Any, *args: Any, **kwargs: Any) -> Any:
    with torch.no_grad():
        return model.generate(*args, do_sample=False, **kwargs)


def attrs(span: Any) -> dict[str, Any]:
    return dict(span.attributes or {})


def test_one_prompt_is_one_text_completion_span_with_its_tokens(
    instrumented: Telemetry,
    span_exporter: InMemorySpanExporter,
    metric_reader: InMemoryMetricReader,
    model: Any,
    tokenizer: Any,
) -> None:
    enc = tokenizer("hello world the cat", return_tensors="pt")
    out = greedy(model, **enc, max_new_tokens=5)
    (span,) = finished(span_exporter)
    assert span.name == f"text_completion {MODEL}" and span.kind is SpanKind.CLIENT
    assert attrs(span) == {
        sc.OPERATION_NAME: sc.OP_TEXT_COMPLETION,
        sc.PROVIDER_NAME: "transformers",
        sc.REQUEST_MODEL: MODEL,
        sc.REQUEST_MAX_TOKENS: 5,
        sc.USAGE_INPUT_TOKENS: 4,
        sc.USAGE_OUTPUT_TOKENS: 5,
        sc.RESPONSE_FINISH_REASONS: ("length",),
    }
    assert out.shape == (1, 9)
    usage = {p.attributes[sc.TOKEN_TYPE]: p.sum for p in points(metric_reader, TOKENS)}
    assert usage == {"input": 4, "output": 5}


def test_the_result_is_exactly_the_uninstrumented_one(
    telemetry: Telemetry, model: Any, tokenizer: Any
) -> None:
    enc = tokenizer(["hello world the cat", "hello"], return_tensors="pt", padding=True)
    plain = greedy(model, **enc, max_new_tokens=4, return_dict_in_generate=True)
    instrumentor = TransformersInstrumentor()
    instrumentor.instrument(telemetry=telemetry, gpu_memory=gpu(leak()))
    try:
        traced = greedy(model, **enc, max_new_tokens=4, return_dict_in_generate=True)
    finally:
        instrumentor.uninstrument()
    assert type(traced) is type(plain)
    assert torch.equal(traced.sequences, plain.sequences)


def test_a_padded_batch_counts_the_attention_mask_and_every_row(
    instrumented: Telemetry, span_exporter: InMemorySpanExporter, model: Any, tokenizer: Any
) -> None:
    enc = tokenizer(["hello world the cat", "hello"], return_tensors="pt", padding=True)
    assert enc["input_ids"].shape == (2, 4)  # the short prompt has three pads
    greedy(model, enc["input_ids"], attention_mask=enc["attention_mask"], max_new_tokens=3)
    (span,) = finished(span_exporter)
    assert attrs(span)[sc.USAGE_INPUT_TOKENS] == 5
    assert attrs(span)[sc.USAGE_OUTPUT_TOKENS] == 6
    assert attrs(span)[sc.RESPONSE_FINISH_REASONS] == ("length", "length")


def test_without_a_mask_the_pad_ids_are_not_input_tokens(
    instrumented: Telemetry, span_exporter: InMemorySpanExporter, model: Any
) -> None:
    ids = torch.tensor([[PAD, PAD, 3, 4]])
    greedy(model, inputs=ids, attention_mask=torch.tensor([[0, 0, 1, 1]]), max_new_tokens=1)
    greedy(model, input_ids=ids, max_new_tokens=1)
    assert [attrs(s)[sc.USAGE_INPUT_TOKENS] for s in finished(span_exporter)] == [2, 2]


def test_tokens_after_eos_are_padding_and_not_counted(
    instrumented: Telemetry, span_exporter: InMemorySpanExporter, model: Any, tokenizer: Any
) -> None:
    enc = tokenizer(["hello world the cat", "hello"], return_tensors="pt", padding=True)
    free = greedy(model, **enc, max_new_tokens=6)[:, 4:].tolist()
    eos = free[0][1]  # what row 0 generates second: it stops there, row 1 maybe not
    expected = [row.index(eos) + 1 if eos in row else 6 for row in free]
    out = greedy(model, **enc, max_new_tokens=6, eos_token_id=eos)
    assert (out[0, 4 + expected[0] :] == PAD).all()  # the padding the count must skip
    span = finished(span_exporter)[-1]
    assert attrs(span)[sc.USAGE_OUTPUT_TOKENS] == sum(expected)
    reasons = tuple(
        "stop" if n < 6 or row[5] == eos else "length"
        for n, row in zip(expected, free, strict=True)
    )
    assert attrs(span)[sc.RESPONSE_FINISH_REASONS] == reasons


def test_beams_returning_several_sequences_count_each_row(
    instrumented: Telemetry, span_exporter: InMemorySpanExporter, model: Any, tokenizer: Any
) -> None:
    enc = tokenizer("hello world", return_tensors="pt")
    out = greedy(model, **enc, max_new_tokens=2, num_beams=2, num_return_sequences=2)
    assert out.shape[0] == 2
    (span,) = finished(span_exporter)
    assert attrs(span)[sc.REQUEST_CHOICE_COUNT] == 2
    assert attrs(span)[sc.USAGE_INPUT_TOKENS] == 2
    assert attrs(span)[sc.USAGE_OUTPUT_TOKENS] == 4


def test_parameters_of_a_generation_config_are_the_request_attributes(
    instrumented: Telemetry, span_exporter: InMemorySpanExporter, model: Any, tokenizer: Any
) -> None:
    config = transformers.GenerationConfig(
        max_new_tokens=2, do_sample=True, temperature=0.7, top_p=0.9, top_k=5, pad_token_id=PAD
    )
    torch.manual_seed(1)
    with torch.no_grad():
        model.generate(**tokenizer("hello", return_tensors="pt"), generation_config=config)
    (span,) = finished(span_exporter)
    a = attrs(span)
    assert (a[sc.REQUEST_MAX_TOKENS], a[sc.REQUEST_TEMPERATURE]) == (2, 0.7)
    assert (a[sc.REQUEST_TOP_P], a[sc.REQUEST_TOP_K]) == (0.9, 5.0)
    assert a[sc.USAGE_OUTPUT_TOKENS] == 2


def error_of(call: Any) -> BaseException:
    with pytest.raises(Exception) as caught:  # noqa: PT011 - whatever transformers raises
        call()
    return caught.value


@pytest.mark.parametrize(
    "kwargs",
    [{"max_new_tokens": -1}, {"num_beams": 1, "num_return_sequences": 3}, {"bogus_arg": 1}],
    ids=["negative-length", "more-sequences-than-beams", "unknown-argument"],
)
def test_bad_arguments_raise_unchanged_and_end_the_span_as_an_error(
    telemetry: Telemetry,
    span_exporter: InMemorySpanExporter,
    model: Any,
    tokenizer: Any,
    kwargs: dict[str, Any],
) -> None:
    enc = tokenizer("hello", return_tensors="pt")
    plain = error_of(lambda: greedy(model, **enc, **kwargs))
    instrumentor = TransformersInstrumentor()
    instrumentor.instrument(telemetry=telemetry, gpu_memory=gpu())
    try:
        traced = error_of(lambda: greedy(model, **enc, **kwargs))
    finally:
        instrumentor.uninstrument()
    assert type(traced) is type(plain) and str(traced) == str(plain)
    (span,) = finished(span_exporter)
    assert span.status.status_code is StatusCode.ERROR
    assert attrs(span)[sc.ERROR_TYPE] == type(plain).__qualname__
    assert sc.USAGE_OUTPUT_TOKENS not in attrs(span)


def test_a_leak_of_300_mb_per_call_shows_on_the_first_call(
    telemetry: Telemetry,
    span_exporter: InMemorySpanExporter,
    metric_reader: InMemoryMetricReader,
    model: Any,
    tokenizer: Any,
) -> None:
    instrumentor = TransformersInstrumentor()
    instrumentor.instrument(telemetry=telemetry, gpu_memory=gpu(leak(300 * MB)))
    try:
        greedy(model, **tokenizer("hello", return_tensors="pt"), max_new_tokens=1)
    finally:
        instrumentor.uninstrument()
    (span,) = finished(span_exporter)
    for source in ("nvml", "torch_allocated", "torch_reserved"):
        assert attrs(span)[memory_attribute(source, "delta")] == 300 * MB
    by_source = {p.attributes[sc.GPU_MEMORY_SOURCE]: p for p in points(metric_reader, DELTA)}
    assert by_source["torch_allocated"].sum == 300 * MB
    assert by_source["torch_allocated"].attributes[sc.REQUEST_MODEL] == MODEL
    assert by_source["torch_allocated"].attributes[sc.OPERATION_NAME] == sc.OP_TEXT_COMPLETION


def test_a_cache_grows_reserved_while_allocated_stays_flat(
    telemetry: Telemetry, span_exporter: InMemorySpanExporter, model: Any, tokenizer: Any
) -> None:
    instrumentor = TransformersInstrumentor()
    instrumentor.instrument(telemetry=telemetry, gpu_memory=gpu(cache(64 * MB)))
    try:
        for _ in range(2):
            greedy(model, **tokenizer("hello", return_tensors="pt"), max_new_tokens=1)
    finally:
        instrumentor.uninstrument()
    for span in finished(span_exporter):
        assert attrs(span)[memory_attribute("torch_reserved", "delta")] == 64 * MB
        assert attrs(span)[memory_attribute("torch_allocated", "delta")] == 0


def test_after_the_first_calls_memory_is_sampled(
    telemetry: Telemetry, span_exporter: InMemorySpanExporter, model: Any, tokenizer: Any
) -> None:
    instrumentor = TransformersInstrumentor()
    instrumentor.instrument(telemetry=telemetry, gpu_memory=gpu(leak(), first=1, rate=0.5))
    try:
        for _ in range(5):
            greedy(model, **tokenizer("hello", return_tensors="pt"), max_new_tokens=1)
    finally:
        instrumentor.uninstrument()
    key = memory_attribute("nvml", "delta")
    assert [key in attrs(s) for s in finished(span_exporter)] == [True, False, True, False, True]


def test_on_this_cpu_machine_the_real_probe_records_no_figure_and_leaves_cuda_alone(
    telemetry: Telemetry, span_exporter: InMemorySpanExporter, model: Any, tokenizer: Any
) -> None:
    from agentwatch.instrumentation.local import GpuMemory, MemoryProbe, Sampler

    if torch.cuda.is_available():
        pytest.skip("a CUDA machine: this test is about a machine without one")
    instrumentor = TransformersInstrumentor()
    instrumentor.instrument(telemetry=telemetry, gpu_memory=GpuMemory(MemoryProbe(), Sampler()))
    try:
        greedy(model, **tokenizer("hello", return_tensors="pt"), max_new_tokens=1)
    finally:
        instrumentor.uninstrument()
    (span,) = finished(span_exporter)
    assert not any(k.startswith("agentwatch.gpu.memory") for k in attrs(span))
    assert attrs(span)[sc.USAGE_OUTPUT_TOKENS] == 1
    assert not torch.cuda.is_initialized()
