"""Streams: still the SDK's streams and helpers, one span each, usage counted exactly once."""

from __future__ import annotations

import asyncio
import gc
import json
from typing import Any

import anthropic
import httpx2
import pytest
from anthropic.lib.streaming import AsyncMessageStream, MessageStream
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from agentwatch import names
from agentwatch.instrumentation import semconv as sc
from agentwatch.instrumentation.telemetry import Telemetry
from tests.instrumentation.anthropic import fakeapi as fake
from tests.instrumentation.conftest import finished, points

PIECES = ["Hello", ", ", "world", "!"]
START = fake.usage(input=21, output=1, cache_read=100, cache_creation=10)
EVENTS = fake.events(PIECES, start=START, final={"output_tokens": 4})
STREAM = {**fake.CALL, "stream": True}


def streaming(items: list[dict[str, Any]] | None = None) -> fake.Api:
    body = fake.sse(items if items is not None else EVENTS)
    return fake.fixed(lambda: fake.sse_response(body))


def token_sums(metric_reader: InMemoryMetricReader) -> dict[str, tuple[float, int]]:
    return {
        p.attributes[sc.TOKEN_TYPE]: (p.sum, p.count)
        for p in points(metric_reader, names.GEN_AI_TOKEN_USAGE.otel)
    }


def test_a_stream_reports_the_apis_usage_once_and_stays_an_sdk_stream(
    instrumented: Telemetry,
    span_exporter: InMemorySpanExporter,
    metric_reader: InMemoryMetricReader,
) -> None:
    with fake.client(streaming()) as c:
        stream = c.messages.create(**STREAM)
        assert isinstance(stream, anthropic.Stream)
        assert stream.response.status_code == 200
        got = list(stream)
        stream.close()  # after the end: records nothing more, nor does collecting it
        del stream
        gc.collect()
    assert [e.type for e in got][:2] == ["message_start", "content_block_start"]  # no ping
    text = "".join(e.delta.text for e in got if e.type == "content_block_delta")
    assert text == "Hello, world!"
    (span,) = finished(span_exporter)
    attrs = dict(span.attributes or {})
    assert span.name == "chat claude-sonnet-4-5"
    assert attrs[sc.REQUEST_STREAM] is True
    assert attrs[sc.RESPONSE_ID] == "msg_456"
    assert attrs[sc.RESPONSE_MODEL] == fake.RESPONSE_MODEL
    assert attrs[sc.RESPONSE_FINISH_REASONS] == ("stop",)
    assert (attrs[sc.USAGE_INPUT_TOKENS], attrs[sc.USAGE_OUTPUT_TOKENS]) == (131, 4)
    assert attrs[sc.USAGE_CACHE_READ_INPUT_TOKENS] == 100
    assert attrs[sc.USAGE_CACHE_CREATION_INPUT_TOKENS] == 10
    assert isinstance(attrs[sc.COST_USD], float)
    assert isinstance(attrs[sc.RESPONSE_TIME_TO_FIRST_CHUNK], float)
    assert token_sums(metric_reader) == {"input": (131, 1), "output": (4, 1)}
    (first,) = points(metric_reader, names.GEN_AI_TIME_TO_FIRST_CHUNK.otel)
    assert first.count == 1 and tuple(first.explicit_bounds) == names.DURATION_BUCKETS
    (gaps,) = points(metric_reader, names.GEN_AI_TIME_PER_OUTPUT_CHUNK.otel)
    assert gaps.count == len(got) - 1


def test_message_delta_usage_is_a_running_total_that_overrides_message_start(
    instrumented: Telemetry, span_exporter: InMemorySpanExporter
) -> None:
    final = {"output_tokens": 9, "input_tokens": 30, "cache_read_input_tokens": 5}
    with fake.client(streaming(fake.events(["x"], start=START, final=final))) as c:
        for _ in c.messages.create(**STREAM):
            pass
    attrs = dict(finished(span_exporter)[0].attributes or {})
    # input 30 + read 5 (from the delta) + creation 10 (kept from message_start)
    assert (attrs[sc.USAGE_INPUT_TOKENS], attrs[sc.USAGE_OUTPUT_TOKENS]) == (45, 9)


@pytest.mark.parametrize("kind", ["sync", "async"], ids=str)
def test_tool_use_deltas_give_names_arguments_and_the_finish_reason(
    kind: str, capturing: Telemetry, span_exporter: InMemorySpanExporter
) -> None:
    items = fake.events(
        ["Let me check."], tool=("get_weather", ['{"city":', ' "Paris"}']), stop_reason="tool_use"
    )
    handler = streaming(items)
    if kind == "sync":
        with fake.client(handler) as c:
            assert len(list(c.messages.create(**STREAM))) == len(items) - 1  # the ping is hidden
    else:

        async def run() -> int:
            async with fake.async_client(handler) as c:
                stream = await c.messages.create(**STREAM)
                assert isinstance(stream, anthropic.AsyncStream)
                return len([e async for e in stream])

        assert asyncio.run(run()) == len(items) - 1
    (span,) = finished(span_exporter)
    attrs = dict(span.attributes or {})
    assert attrs[sc.TOOL_CALL_NAMES] == ("get_weather",)
    assert attrs[sc.RESPONSE_FINISH_REASONS] == ("tool_call",)
    assert json.loads(str(attrs[sc.OUTPUT_MESSAGES])) == [
        {
            "role": "assistant",
            "parts": [
                {"type": "text", "content": "Let me check."},
                {
                    "type": "tool_call",
                    "id": "toolu_1",
                    "name": "get_weather",
                    "arguments": {"city": "Paris"},
                },
            ],
            "finish_reason": "tool_call",
        }
    ]


@pytest.mark.parametrize("how", ["close", "with", "gc"], ids=str)
def test_a_stream_left_early_ends_once_with_what_it_saw(
    how: str,
    instrumented: Telemetry,
    span_exporter: InMemorySpanExporter,
    metric_reader: InMemoryMetricReader,
) -> None:
    with fake.client(streaming()) as c:
        if how == "with":
            with c.messages.create(**STREAM) as stream:
                for _ in zip(range(2), stream, strict=False):
                    pass
                assert finished(span_exporter) == []
            assert len(finished(span_exporter)) == 1
        else:
            stream = c.messages.create(**STREAM)
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
    assert attrs[sc.RESPONSE_ID] == "msg_456" and sc.RESPONSE_FINISH_REASONS not in attrs
    # What message_start said: input (with the cache counts) and its running output count.
    assert (attrs[sc.USAGE_INPUT_TOKENS], attrs[sc.USAGE_OUTPUT_TOKENS]) == (131, 1)
    (duration,) = points(metric_reader, names.GEN_AI_OPERATION_DURATION.otel)
    assert duration.count == 1
    assert token_sums(metric_reader) == {"input": (131, 1), "output": (1, 1)}


def test_an_unconsumed_stream_that_is_collected_records_once_without_tokens(
    instrumented: Telemetry,
    span_exporter: InMemorySpanExporter,
    metric_reader: InMemoryMetricReader,
) -> None:
    with fake.client(streaming()) as c:
        stream = c.messages.create(**STREAM)
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
    prefix = fake.sse(EVENTS[:4])  # message_start, ping, block start, "Hello"
    handler = fake.fixed(lambda: fake.cut_response(prefix, asynchronous=kind == "async"))
    got: list[Any] = []
    if kind == "sync":
        with fake.client(handler) as c, pytest.raises(httpx2.ReadError):
            for event in c.messages.create(**STREAM):
                got.append(event)
    else:

        async def run() -> None:
            async with fake.async_client(handler) as c:
                async for event in await c.messages.create(**STREAM):
                    got.append(event)

        with pytest.raises(httpx2.ReadError):
            asyncio.run(run())
    assert len(got) == 3
    (span,) = finished(span_exporter)
    attrs = dict(span.attributes or {})
    assert span.status.status_code is StatusCode.ERROR
    # The SDK lets a transport error mid-stream through unwrapped; so does the proxy.
    assert attrs[sc.ERROR_TYPE] == "ReadError"
    assert attrs[sc.RESPONSE_ID] == "msg_456" and attrs[sc.USAGE_INPUT_TOKENS] == 131


def test_an_error_event_mid_stream_raises_as_the_sdk_does_and_is_the_spans_error(
    instrumented: Telemetry, span_exporter: InMemorySpanExporter
) -> None:
    overloaded = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    with fake.client(streaming([*EVENTS[:4], overloaded])) as c:
        with pytest.raises(anthropic.APIStatusError) as raised:
            for _ in c.messages.create(**STREAM):
                pass
    (span,) = finished(span_exporter)
    assert span.status.status_code is StatusCode.ERROR
    error_type = dict(span.attributes or {})[sc.ERROR_TYPE]
    assert error_type == str(raised.value.status_code)


# -- the stream() helper ------------------------------------------------------------------------


@pytest.mark.parametrize("read", ["iterate", "text_stream", "final_message", "until_done"], ids=str)
@pytest.mark.parametrize("beta", [False, True], ids=["stable", "beta"])
def test_the_stream_helper_is_one_span_whichever_way_it_is_read(
    read: str,
    beta: bool,
    instrumented: Telemetry,
    span_exporter: InMemorySpanExporter,
    metric_reader: InMemoryMetricReader,
) -> None:
    with fake.client(streaming()) as c:
        manager = (c.beta.messages if beta else c.messages).stream(**fake.CALL)
        assert finished(span_exporter) == []  # no request before `with`
        with manager as stream:
            if not beta:
                assert type(stream) is MessageStream  # the SDK's very own helper
            if read == "iterate":
                kinds = [event.type for event in stream]
                assert "text" in kinds and "message_stop" in kinds
            elif read == "text_stream":
                assert "".join(stream.text_stream) == "Hello, world!"
            elif read == "until_done":
                stream.until_done()
            final = stream.get_final_message()
            assert len(finished(span_exporter)) == 1  # read to the end: ended already
    assert final.content[0].text == "Hello, world!"  # type: ignore[union-attr]
    assert final.usage.output_tokens == 4
    (span,) = finished(span_exporter)
    attrs = dict(span.attributes or {})
    assert attrs[sc.REQUEST_STREAM] is True
    assert (attrs[sc.USAGE_INPUT_TOKENS], attrs[sc.USAGE_OUTPUT_TOKENS]) == (131, 4)
    assert token_sums(metric_reader) == {"input": (131, 1), "output": (4, 1)}


@pytest.mark.parametrize("how", ["with", "close"], ids=str)
def test_the_stream_helper_left_early_ends_its_span_at_once(
    how: str, instrumented: Telemetry, span_exporter: InMemorySpanExporter
) -> None:
    with fake.client(streaming()) as c:
        with c.messages.stream(**fake.CALL) as stream:
            next(iter(stream))
            assert finished(span_exporter) == []
            if how == "close":
                stream.close()
                assert len(finished(span_exporter)) == 1
        assert len(finished(span_exporter)) == 1  # `stream` is still referenced: not by GC
    (span,) = finished(span_exporter)
    assert dict(span.attributes or {})[sc.RESPONSE_ID] == "msg_456"


def test_an_exception_in_the_helpers_with_block_is_the_spans_error(
    instrumented: Telemetry, span_exporter: InMemorySpanExporter
) -> None:
    with fake.client(streaming()) as c, pytest.raises(KeyError):
        with c.messages.stream(**fake.CALL) as stream:
            next(iter(stream))
            raise KeyError("caller")
    (span,) = finished(span_exporter)
    assert span.status.status_code is StatusCode.ERROR
    assert dict(span.attributes or {})[sc.ERROR_TYPE] == "KeyError"


def test_a_helper_whose_request_fails_raises_and_ends_its_span(
    instrumented: Telemetry, span_exporter: InMemorySpanExporter
) -> None:
    handler = fake.fixed(lambda: fake.json_response(fake.error("overloaded_error", "busy"), 529))
    with fake.client(handler) as c, pytest.raises(anthropic.APIStatusError):
        with c.messages.stream(**fake.CALL):
            pass
    (span,) = finished(span_exporter)
    assert dict(span.attributes or {})[sc.ERROR_TYPE] == "529"


def test_the_async_stream_helper_is_one_span(
    instrumented: Telemetry, span_exporter: InMemorySpanExporter
) -> None:
    async def run() -> str:
        async with fake.async_client(streaming()) as c:
            async with c.messages.stream(**fake.CALL) as stream:
                assert type(stream) is AsyncMessageStream
                pieces = [text async for text in stream.text_stream]
                final = await stream.get_final_message()
                assert final.usage.output_tokens == 4
                return "".join(pieces)

    assert asyncio.run(run()) == "Hello, world!"
    (span,) = finished(span_exporter)
    assert dict(span.attributes or {})[sc.USAGE_OUTPUT_TOKENS] == 4


@pytest.mark.parametrize("how", ["break", "close"], ids=str)
def test_the_async_stream_helper_left_early_ends_at_once(
    how: str, instrumented: Telemetry, span_exporter: InMemorySpanExporter
) -> None:
    async def run() -> tuple[int, int]:
        async with fake.async_client(streaming()) as c:
            async with c.messages.stream(**fake.CALL) as stream:
                async for _ in stream:
                    break
                before = len(finished(span_exporter))
                if how == "close":
                    await stream.close()
                    before += 10 * len(finished(span_exporter))
            return before, len(finished(span_exporter))

    inside, after = asyncio.run(run())
    assert (inside, after) == ((0, 1) if how == "break" else (10, 1))


@pytest.mark.parametrize("how", ["close", "async-with"], ids=str)
def test_an_async_stream_left_early_ends_once(
    how: str,
    instrumented: Telemetry,
    span_exporter: InMemorySpanExporter,
    metric_reader: InMemoryMetricReader,
) -> None:
    async def run() -> int:
        async with fake.async_client(streaming()) as c:
            stream = await c.messages.create(**STREAM)
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
    assert dict(span.attributes or {})[sc.RESPONSE_ID] == "msg_456"
    (duration,) = points(metric_reader, names.GEN_AI_OPERATION_DURATION.otel)
    assert duration.count == 1
