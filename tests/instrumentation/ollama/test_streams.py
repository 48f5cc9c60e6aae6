"""Streams: still generators to the caller, one span each, the `done` chunk's counts once."""

from __future__ import annotations

import asyncio
import gc
import inspect
import json
from typing import Any

import httpx
import ollama
import pytest
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from agentwatch import names
from agentwatch.instrumentation import semconv as sc
from agentwatch.instrumentation.invocation import error_type
from agentwatch.instrumentation.telemetry import Telemetry
from tests.instrumentation.conftest import finished, points
from tests.instrumentation.ollama import fakeapi as fake

PIECES = ["Hello", ", ", "world", "!"]


def streaming(chunks: list[dict[str, Any]]) -> fake.Api:
    body = fake.ndjson(chunks)
    return fake.fixed(lambda: fake.stream_response(body))


def token_sums(metric_reader: InMemoryMetricReader) -> dict[str, tuple[float, int]]:
    return {
        p.attributes[sc.TOKEN_TYPE]: (p.sum, p.count)
        for p in points(metric_reader, names.GEN_AI_TOKEN_USAGE.otel)
    }


@pytest.mark.parametrize("kind", ["sync", "async"], ids=str)
@pytest.mark.parametrize("method", ["chat", "generate"], ids=str)
def test_a_stream_reports_the_done_chunks_counts_once_and_stays_a_generator(
    kind: str,
    method: str,
    instrumented: Telemetry,
    span_exporter: InMemorySpanExporter,
    metric_reader: InMemoryMetricReader,
) -> None:
    chunks = fake.chat_chunks(PIECES) if method == "chat" else fake.generate_chunks(PIECES)
    api = streaming(chunks)
    first = fake.MESSAGES if method == "chat" else "Say hello."
    got: list[Any]
    if kind == "sync":
        with fake.client(api) as c:
            stream = getattr(c, method)(fake.MODEL, first, stream=True)
            assert inspect.isgenerator(stream)
            got = list(stream)
            stream.close()  # after the end: records nothing more
    else:

        async def run() -> list[Any]:
            async with fake.async_client(api) as c:
                stream = await getattr(c, method)(fake.MODEL, first, stream=True)
                assert inspect.isasyncgen(stream)
                return [chunk async for chunk in stream]

        got = asyncio.run(run())
    assert len(got) == len(PIECES) + 1 and got[-1].done is True
    if method == "chat":
        assert "".join(c.message.content for c in got) == "Hello, world!"
    else:
        assert "".join(c.response for c in got) == "Hello, world!"
    assert api.requests[0]["stream"] is True
    (span,) = finished(span_exporter)
    attrs = dict(span.attributes or {})
    assert attrs[sc.OPERATION_NAME] == ("chat" if method == "chat" else "text_completion")
    assert attrs[sc.REQUEST_STREAM] is True
    assert attrs[sc.RESPONSE_MODEL] == fake.RESPONSE_MODEL
    assert attrs[sc.RESPONSE_FINISH_REASONS] == ("stop",)
    assert (attrs[sc.USAGE_INPUT_TOKENS], attrs[sc.USAGE_OUTPUT_TOKENS]) == (26, 5)
    assert isinstance(attrs[sc.RESPONSE_TIME_TO_FIRST_CHUNK], float)
    assert sc.RESPONSE_FLAGS not in attrs
    assert token_sums(metric_reader) == {"input": (26, 1), "output": (5, 1)}
    (gaps,) = points(metric_reader, names.GEN_AI_TIME_PER_OUTPUT_CHUNK.otel)
    assert gaps.count == len(got) - 1


@pytest.mark.parametrize("how", ["close", "gc"], ids=str)
def test_a_stream_left_early_ends_once_without_the_counts_it_never_saw(
    how: str,
    instrumented: Telemetry,
    span_exporter: InMemorySpanExporter,
    metric_reader: InMemoryMetricReader,
) -> None:
    with fake.client(streaming(fake.chat_chunks(PIECES))) as c:
        stream = c.chat(fake.MODEL, fake.MESSAGES, stream=True)
        for _ in zip(range(2), stream, strict=False):
            pass
        assert finished(span_exporter) == []
        if how == "close":
            stream.close()
            assert len(finished(span_exporter)) == 1
        del stream
        gc.collect()
    (span,) = finished(span_exporter)
    attrs = dict(span.attributes or {})
    assert span.status.status_code is StatusCode.UNSET
    assert sc.USAGE_OUTPUT_TOKENS not in attrs and sc.RESPONSE_FINISH_REASONS not in attrs
    assert sc.RESPONSE_FLAGS not in attrs  # an unfinished answer is not judged
    (duration,) = points(metric_reader, names.GEN_AI_OPERATION_DURATION.otel)
    assert duration.count == 1
    assert token_sums(metric_reader) == {}


def test_an_async_stream_closed_early_ends_once(
    instrumented: Telemetry, span_exporter: InMemorySpanExporter
) -> None:
    async def run() -> None:
        async with fake.async_client(streaming(fake.chat_chunks(PIECES))) as c:
            stream = await c.chat(fake.MODEL, fake.MESSAGES, stream=True)
            async for _ in stream:
                break
            assert finished(span_exporter) == []
            await stream.aclose()
            assert len(finished(span_exporter)) == 1

    asyncio.run(run())
    assert len(finished(span_exporter)) == 1


@pytest.mark.parametrize("kind", ["sync", "async"], ids=str)
def test_a_connection_cut_mid_stream_reaches_the_caller_and_ends_the_span_with_its_error(
    kind: str, instrumented: Telemetry, span_exporter: InMemorySpanExporter
) -> None:
    prefix = fake.ndjson(fake.chat_chunks(PIECES)[:2])
    api = fake.fixed(lambda: fake.cut_response(prefix))
    got: list[Any] = []
    if kind == "sync":
        with fake.client(api) as c, pytest.raises(httpx.ReadError):
            for chunk in c.chat(fake.MODEL, fake.MESSAGES, stream=True):
                got.append(chunk)
    else:

        async def run() -> None:
            async with fake.async_client(api) as c:
                async for chunk in await c.chat(fake.MODEL, fake.MESSAGES, stream=True):
                    got.append(chunk)

        with pytest.raises(httpx.ReadError):
            asyncio.run(run())
    assert len(got) == 2
    (span,) = finished(span_exporter)
    assert span.status.status_code is StatusCode.ERROR
    assert dict(span.attributes or {})[sc.ERROR_TYPE] == "ReadError"


def test_an_error_the_server_sends_inside_the_stream_reaches_the_caller(
    instrumented: Telemetry, span_exporter: InMemorySpanExporter
) -> None:
    chunks = [*fake.chat_chunks(PIECES)[:1], {"error": "model runner has unexpectedly stopped"}]
    with fake.client(streaming(chunks)) as c, pytest.raises(ollama.ResponseError) as raised:
        list(c.chat(fake.MODEL, fake.MESSAGES, stream=True))
    (span,) = finished(span_exporter)
    assert span.status.status_code is StatusCode.ERROR
    assert dict(span.attributes or {})[sc.ERROR_TYPE] == error_type(raised.value)


def test_a_stream_whose_request_fails_ends_with_the_http_status_on_first_read(
    instrumented: Telemetry, span_exporter: InMemorySpanExporter
) -> None:
    api = fake.fixed(lambda: fake.error("model 'llama3.2' not found", 404))
    with fake.client(api) as c:
        stream = c.chat(fake.MODEL, fake.MESSAGES, stream=True)  # nothing sent yet
        assert finished(span_exporter) == []
        with pytest.raises(ollama.ResponseError):
            next(stream)
    (span,) = finished(span_exporter)
    assert dict(span.attributes or {})[sc.ERROR_TYPE] == "404"


@pytest.mark.parametrize("kind", ["sync", "async"], ids=str)
def test_a_streamed_tool_call_is_named_and_captured_when_opted_in(
    kind: str, capturing: Telemetry, span_exporter: InMemorySpanExporter
) -> None:
    chunks = fake.chat_chunks(["Checking."], tool_calls=[fake.tool_call("get_weather")])
    api = streaming(chunks)
    if kind == "sync":
        with fake.client(api) as c:
            list(c.chat(fake.MODEL, fake.MESSAGES, stream=True))
    else:

        async def run() -> None:
            async with fake.async_client(api) as c:
                async for _ in await c.chat(fake.MODEL, fake.MESSAGES, stream=True):
                    pass

        asyncio.run(run())
    attrs = dict(finished(span_exporter)[0].attributes or {})
    assert attrs[sc.TOOL_CALL_NAMES] == ("get_weather",)
    assert json.loads(str(attrs[sc.OUTPUT_MESSAGES])) == [
        {
            "role": "assistant",
            "parts": [
                {"type": "text", "content": "Checking."},
                {"type": "tool_call", "name": "get_weather", "arguments": {"city": "Paris"}},
            ],
            "finish_reason": "stop",
        }
    ]
    assert json.loads(str(attrs[sc.INPUT_MESSAGES])) == [
        {"role": "user", "parts": [{"type": "text", "content": "Say hello."}]}
    ]


def test_streamed_tool_calls_are_checked_against_the_offered_tools(
    capturing: Telemetry, span_exporter: InMemorySpanExporter
) -> None:
    from tests.instrumentation.ollama.test_calls import TOOLS

    calls = [fake.tool_call("get_weather", {"town": "Paris"}), fake.tool_call("get_time", {})]
    with fake.client(streaming(fake.chat_chunks([], tool_calls=calls))) as c:
        list(c.chat(fake.MODEL, fake.MESSAGES, tools=TOOLS, stream=True))
    (span,) = finished(span_exporter)
    attrs = dict(span.attributes or {})
    assert attrs[sc.TOOL_CALL_NAMES] == ("get_weather", "get_time")
    assert attrs[sc.HALLUCINATED_TOOL_CALLS] == 2  # a missing required `city`, an unknown tool
    reasons = sorted(str(dict(e.attributes or {})[sc.TOOL_CALL_REASON]) for e in span.events)
    assert reasons == ["schema_violation", "unknown_tool"]
