"""Chat Completions streams: still the SDK's streams, one span each, usage counted once."""

from __future__ import annotations

import asyncio
import gc
from typing import Any

import openai
import pytest
from openai.lib.streaming.chat import AsyncChatCompletionStream, ChatCompletionStream
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from agentwatch import names
from agentwatch.instrumentation import semconv as sc
from agentwatch.instrumentation import tokens
from agentwatch.instrumentation.telemetry import Telemetry
from tests.instrumentation.conftest import finished, points
from tests.instrumentation.openai import fakeapi as fake

PIECES = ["Hello", ", ", "world", "!"]
USAGE = fake.usage(prompt=21, completion=4)


def streaming(events: list[dict[str, Any]]) -> fake.Api:
    return fake.fixed(lambda: fake.sse_response(fake.sse(events)))


def honest() -> fake.Api:
    """A server that sends the usage chunk only when the request asks for it, as OpenAI does."""

    def answer(body: dict[str, Any]) -> Any:
        asked = (body.get("stream_options") or {}).get("include_usage")
        return fake.sse_response(
            fake.sse(fake.text_chunks(PIECES, with_usage=USAGE if asked else None))
        )

    return fake.Api(answer)


def token_sums(metric_reader: InMemoryMetricReader) -> dict[str, tuple[float, int]]:
    return {
        p.attributes[sc.TOKEN_TYPE]: (p.sum, p.count)
        for p in points(metric_reader, names.GEN_AI_TOKEN_USAGE.otel)
    }


def test_a_stream_with_usage_reports_the_apis_counts_and_stays_an_sdk_stream(
    instrumented: Telemetry,
    span_exporter: InMemorySpanExporter,
    metric_reader: InMemoryMetricReader,
) -> None:
    with fake.client(honest()) as c:
        stream = c.chat.completions.create(
            model=fake.MODEL,
            messages=fake.MESSAGES,
            stream=True,
            stream_options={"include_usage": True},
        )
        assert isinstance(stream, openai.Stream)
        assert stream.response.status_code == 200
        chunks = list(stream)
        stream.close()  # after the end: records nothing more, nor does collecting it
        del stream
        gc.collect()
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Hello, world!"
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    (span,) = finished(span_exporter)
    attrs = dict(span.attributes or {})
    assert span.name == "chat gpt-4o-mini"
    assert attrs[sc.REQUEST_STREAM] is True
    assert attrs[sc.RESPONSE_ID] == "chatcmpl-456"
    assert attrs[sc.RESPONSE_MODEL] == fake.RESPONSE_MODEL
    assert attrs[sc.RESPONSE_FINISH_REASONS] == ("stop",)
    assert (attrs[sc.USAGE_INPUT_TOKENS], attrs[sc.USAGE_OUTPUT_TOKENS]) == (21, 4)
    assert sc.USAGE_ESTIMATED not in attrs and sc.USAGE_ESTIMATE_METHOD not in attrs
    assert isinstance(attrs[sc.RESPONSE_TIME_TO_FIRST_CHUNK], float)
    assert token_sums(metric_reader) == {"input": (21, 1), "output": (4, 1)}
    (first,) = points(metric_reader, names.GEN_AI_TIME_TO_FIRST_CHUNK.otel)
    assert first.count == 1 and tuple(first.explicit_bounds) == names.DURATION_BUCKETS
    (gaps,) = points(metric_reader, names.GEN_AI_TIME_PER_OUTPUT_CHUNK.otel)
    assert gaps.count == len(chunks) - 1


def test_a_stream_without_usage_is_estimated_once_at_the_end_and_flagged(
    instrumented: Telemetry,
    span_exporter: InMemorySpanExporter,
    metric_reader: InMemoryMetricReader,
) -> None:
    with fake.client(honest()) as c:
        stream = c.chat.completions.create(model=fake.MODEL, messages=fake.MESSAGES, stream=True)
        for _ in stream:
            pass
    (span,) = finished(span_exporter)
    attrs = dict(span.attributes or {})
    output = tokens.count_text("Hello, world!", fake.RESPONSE_MODEL)
    prompt = tokens.count_messages(fake.MESSAGES, fake.RESPONSE_MODEL)
    assert attrs[sc.USAGE_OUTPUT_TOKENS] == output.tokens
    assert attrs[sc.USAGE_INPUT_TOKENS] == prompt.tokens
    assert attrs[sc.USAGE_ESTIMATED] is True
    assert attrs[sc.USAGE_ESTIMATE_METHOD] == output.method == "tiktoken:o200k_base"
    tokens_points = points(metric_reader, names.GEN_AI_TOKEN_USAGE.otel)
    assert {p.attributes[sc.USAGE_ESTIMATED] for p in tokens_points} == {True}
    assert token_sums(metric_reader) == {"input": (prompt.tokens, 1), "output": (output.tokens, 1)}


def test_include_usage_asks_for_usage_and_the_usage_chunk_reaches_the_caller(
    with_usage: Telemetry, span_exporter: InMemorySpanExporter
) -> None:
    api = honest()
    with fake.client(api) as c:
        chunks = list(
            c.chat.completions.create(model=fake.MODEL, messages=fake.MESSAGES, stream=True)
        )
        c.chat.completions.create(
            model=fake.MODEL,
            messages=fake.MESSAGES,
            stream=True,
            stream_options={"include_usage": False},
        ).close()
        c.chat.completions.create(model=fake.MODEL, messages=fake.MESSAGES)
    assert api.requests[0]["stream_options"] == {"include_usage": True}
    assert api.requests[1]["stream_options"] == {"include_usage": False}  # the caller's choice
    assert "stream_options" not in api.requests[2]  # not a stream
    assert chunks[-1].choices == [] and chunks[-1].usage.prompt_tokens == 21  # type: ignore[union-attr]
    first = finished(span_exporter)[0]
    attrs = dict(first.attributes or {})
    assert attrs[sc.USAGE_INPUT_TOKENS] == 21 and sc.USAGE_ESTIMATED not in attrs


def tool_stream() -> list[dict[str, Any]]:
    """Two choices (n=2) interleaved; choice 1 calls two tools, choice 0 runs out of tokens."""
    call = {"index": 0, "id": "call_a", "type": "function", "function": {"name": "get_weather"}}
    second = {"index": 1, "id": "call_b", "type": "function", "function": {"name": "get_time"}}
    args = {"index": 0, "function": {"arguments": '{"city": "Paris"}'}}
    return [
        fake.chunk({"role": "assistant", "content": "Let"}, index=0),
        fake.chunk({"role": "assistant", "tool_calls": [call]}, index=1),
        fake.chunk({"tool_calls": [args]}, index=1),
        fake.chunk(
            {"tool_calls": [{**second, "function": {"name": "get_time", "arguments": "{}"}}]},
            index=1,
        ),
        fake.chunk({"content": " me"}, index=0),
        fake.chunk({}, index=1, finish_reason="tool_calls"),
        fake.chunk({}, index=0, finish_reason="length"),
    ]


@pytest.mark.parametrize("kind", ["sync", "async"], ids=str)
def test_tool_call_deltas_give_names_and_each_choice_its_finish_reason(
    kind: str, capturing: Telemetry, span_exporter: InMemorySpanExporter
) -> None:
    handler = streaming(tool_stream())
    kwargs: dict[str, Any] = {
        "model": fake.MODEL,
        "messages": fake.MESSAGES,
        "stream": True,
        "n": 2,
    }
    if kind == "sync":
        with fake.client(handler) as c:
            assert len(list(c.chat.completions.create(**kwargs))) == 7
    else:

        async def run() -> int:
            async with fake.async_client(handler) as c:
                stream = await c.chat.completions.create(**kwargs)
                assert isinstance(stream, openai.AsyncStream)
                return len([chunk async for chunk in stream])

        assert asyncio.run(run()) == 7
    (span,) = finished(span_exporter)
    attrs = dict(span.attributes or {})
    assert attrs[sc.TOOL_CALL_NAMES] == ("get_weather", "get_time")
    assert attrs[sc.RESPONSE_FINISH_REASONS] == ("length", "tool_calls")
    assert attrs[sc.REQUEST_CHOICE_COUNT] == 2
    import json

    assert json.loads(str(attrs[sc.OUTPUT_MESSAGES])) == [
        {
            "role": "assistant",
            "parts": [{"type": "text", "content": "Let me"}],
            "finish_reason": "length",
        },
        {
            "role": "assistant",
            "parts": [
                {
                    "type": "tool_call",
                    "id": "call_a",
                    "name": "get_weather",
                    "arguments": {"city": "Paris"},
                },
                {"type": "tool_call", "id": "call_b", "name": "get_time", "arguments": {}},
            ],
            "finish_reason": "tool_calls",
        },
    ]


@pytest.mark.parametrize("how", ["close", "with", "gc"], ids=str)
def test_a_stream_left_early_ends_once_with_what_it_saw(
    how: str,
    instrumented: Telemetry,
    span_exporter: InMemorySpanExporter,
    metric_reader: InMemoryMetricReader,
) -> None:
    kwargs: dict[str, Any] = {"model": fake.MODEL, "messages": fake.MESSAGES, "stream": True}
    with fake.client(honest()) as c:
        if how == "with":
            with c.chat.completions.create(**kwargs) as stream:
                for _ in zip(range(2), stream, strict=False):
                    pass
                assert finished(span_exporter) == []
            assert len(finished(span_exporter)) == 1
        else:
            stream = c.chat.completions.create(**kwargs)
            for _ in zip(range(2), stream, strict=False):
                pass
            assert finished(span_exporter) == []
            if how == "close":
                stream.close()
                assert len(finished(span_exporter)) == 1
            del stream
            gc.collect()
    (span,) = finished(span_exporter)  # closing and collecting again adds nothing
    attrs = dict(span.attributes or {})
    assert span.status.status_code is StatusCode.UNSET
    assert attrs[sc.RESPONSE_ID] == "chatcmpl-456" and sc.RESPONSE_FINISH_REASONS not in attrs
    assert attrs[sc.USAGE_OUTPUT_TOKENS] == tokens.count_text("Hello", fake.RESPONSE_MODEL).tokens
    (duration,) = points(metric_reader, names.GEN_AI_OPERATION_DURATION.otel)
    assert duration.count == 1
    assert {k: c for k, (_, c) in token_sums(metric_reader).items()} == {"input": 1, "output": 1}


def test_an_unconsumed_stream_that_is_collected_records_once(
    instrumented: Telemetry,
    span_exporter: InMemorySpanExporter,
    metric_reader: InMemoryMetricReader,
) -> None:
    with fake.client(honest()) as c:
        stream = c.chat.completions.create(
            model=fake.MODEL,
            messages=fake.MESSAGES,
            stream=True,
            stream_options={"include_usage": True},
        )
        del stream
        gc.collect()
    (span,) = finished(span_exporter)
    attrs = dict(span.attributes or {})
    assert sc.USAGE_OUTPUT_TOKENS not in attrs and sc.RESPONSE_TIME_TO_FIRST_CHUNK not in attrs
    (duration,) = points(metric_reader, names.GEN_AI_OPERATION_DURATION.otel)
    assert duration.count == 1
    assert points(metric_reader, names.GEN_AI_TOKEN_USAGE.otel) == []


@pytest.mark.parametrize("kind", ["sync", "async"], ids=str)
def test_a_connection_cut_mid_stream_reaches_the_caller_and_ends_the_span_with_its_error(
    kind: str, instrumented: Telemetry, span_exporter: InMemorySpanExporter
) -> None:
    prefix = fake.sse(fake.text_chunks(PIECES)[:3], done=False)  # role, "Hello", ", "
    handler = fake.fixed(lambda: fake.cut_response(prefix, asynchronous=kind == "async"))
    kwargs: dict[str, Any] = {"model": fake.MODEL, "messages": fake.MESSAGES, "stream": True}
    got: list[Any] = []
    if kind == "sync":
        with fake.client(handler) as c, pytest.raises(openai.APIConnectionError):
            for chunk in c.chat.completions.create(**kwargs):
                got.append(chunk)
    else:

        async def run() -> None:
            async with fake.async_client(handler) as c:
                async for chunk in await c.chat.completions.create(**kwargs):
                    got.append(chunk)

        with pytest.raises(openai.APIConnectionError):
            asyncio.run(run())
    assert len(got) == 3
    (span,) = finished(span_exporter)
    attrs = dict(span.attributes or {})
    assert span.status.status_code is StatusCode.ERROR
    assert attrs[sc.ERROR_TYPE] == "APIConnectionError"
    assert attrs[sc.USAGE_OUTPUT_TOKENS] == tokens.count_text("Hello, ", fake.RESPONSE_MODEL).tokens
    assert attrs[sc.RESPONSE_ID] == "chatcmpl-456"


def test_the_stream_helper_is_one_span_with_its_events_and_final_completion(
    instrumented: Telemetry,
    span_exporter: InMemorySpanExporter,
    metric_reader: InMemoryMetricReader,
) -> None:
    with fake.client(honest()) as c:
        manager = c.chat.completions.stream(
            model=fake.MODEL, messages=fake.MESSAGES, stream_options={"include_usage": True}
        )
        assert finished(span_exporter) == []
        with manager as stream:
            assert isinstance(stream, ChatCompletionStream)
            kinds = [event.type for event in stream]
            final = stream.get_final_completion()
    assert "content.delta" in kinds and kinds.count("chunk") == 7
    assert final.choices[0].message.content == "Hello, world!"
    (span,) = finished(span_exporter)
    attrs = dict(span.attributes or {})
    assert (attrs[sc.USAGE_INPUT_TOKENS], attrs[sc.USAGE_OUTPUT_TOKENS]) == (21, 4)
    assert token_sums(metric_reader) == {"input": (21, 1), "output": (4, 1)}


@pytest.mark.parametrize("how", ["with", "close"], ids=str)
def test_the_stream_helper_left_early_ends_its_span_at_once(
    how: str, instrumented: Telemetry, span_exporter: InMemorySpanExporter
) -> None:
    with fake.client(honest()) as c:
        with c.chat.completions.stream(model=fake.MODEL, messages=fake.MESSAGES) as stream:
            next(iter(stream))
            if how == "close":
                stream.close()
                assert len(finished(span_exporter)) == 1
        assert len(finished(span_exporter)) == 1  # `stream` is still referenced: not by GC
    (span,) = finished(span_exporter)
    assert dict(span.attributes or {})[sc.RESPONSE_ID] == "chatcmpl-456"


def test_the_async_stream_helper_is_one_span(
    instrumented: Telemetry, span_exporter: InMemorySpanExporter
) -> None:
    async def run() -> str | None:
        async with fake.async_client(honest()) as c:
            async with c.chat.completions.stream(
                model=fake.MODEL, messages=fake.MESSAGES, stream_options={"include_usage": True}
            ) as stream:
                assert isinstance(stream, AsyncChatCompletionStream)
                async for _ in stream:
                    pass
                final = await stream.get_final_completion()
                return final.choices[0].message.content

    assert asyncio.run(run()) == "Hello, world!"
    (span,) = finished(span_exporter)
    assert dict(span.attributes or {})[sc.USAGE_OUTPUT_TOKENS] == 4


def test_the_async_stream_helper_broken_out_of_ends_at_the_with(
    instrumented: Telemetry, span_exporter: InMemorySpanExporter
) -> None:
    async def run() -> int:
        async with fake.async_client(honest()) as c:
            async with c.chat.completions.stream(
                model=fake.MODEL, messages=fake.MESSAGES
            ) as stream:
                async for _ in stream:
                    break
            return len(finished(span_exporter))

    assert asyncio.run(run()) == 1


@pytest.mark.parametrize("how", ["close", "async-with"], ids=str)
def test_an_async_stream_left_early_ends_once(
    how: str,
    instrumented: Telemetry,
    span_exporter: InMemorySpanExporter,
    metric_reader: InMemoryMetricReader,
) -> None:
    kwargs: dict[str, Any] = {"model": fake.MODEL, "messages": fake.MESSAGES, "stream": True}

    async def run() -> int:
        async with fake.async_client(honest()) as c:
            stream = await c.chat.completions.create(**kwargs)
            if how == "close":
                await stream.__anext__()
                await stream.close()
            else:
                async with stream:
                    async for _ in stream:
                        break
            ended = len(finished(span_exporter))
            del stream
            gc.collect()
            return ended

    assert asyncio.run(run()) == 1
    (span,) = finished(span_exporter)
    assert dict(span.attributes or {})[sc.RESPONSE_ID] == "chatcmpl-456"
    (duration,) = points(metric_reader, names.GEN_AI_OPERATION_DURATION.otel)
    assert duration.count == 1
