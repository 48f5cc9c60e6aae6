"""The Responses API: `create`, `parse` and `stream`, each one `chat` span with its usage."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import openai
import pytest
from openai.lib.streaming.responses import ResponseStream
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from pydantic import BaseModel

from agentwatch import names
from agentwatch.instrumentation import semconv as sc
from agentwatch.instrumentation.telemetry import Telemetry
from tests.instrumentation.conftest import finished, points
from tests.instrumentation.openai import fakeapi as fake

MODEL = "gpt-4.1"
PIECES = ["Hel", "lo!"]


def answering(body: dict[str, Any]) -> fake.Api:
    def answer(request: dict[str, Any]) -> Any:
        if request.get("stream"):
            return fake.sse_response(fake.sse(fake.response_events(body, PIECES), named=True))
        return fake.json_response(body)

    return fake.Api(answer)


def create(kind: str, handler: fake.Handler, **kwargs: Any) -> Any:
    kwargs = {"model": MODEL, "input": "Say hello.", **kwargs}
    if kind == "sync":
        with fake.client(handler) as c:
            result = c.responses.create(**kwargs)
            return list(result) if kwargs.get("stream") else result

    async def run() -> Any:
        async with fake.async_client(handler) as c:
            result = await c.responses.create(**kwargs)
            if kwargs.get("stream"):
                assert isinstance(result, openai.AsyncStream)
                return [event async for event in result]
            return result

    return asyncio.run(run())


def usage_attributes(attrs: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(
        attrs.get(key)
        for key in (
            sc.USAGE_INPUT_TOKENS,
            sc.USAGE_OUTPUT_TOKENS,
            sc.USAGE_CACHE_READ_INPUT_TOKENS,
            sc.USAGE_REASONING_OUTPUT_TOKENS,
        )
    )


@pytest.mark.parametrize("kind", ["sync", "async"], ids=str)
@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
def test_a_response_is_one_chat_span_with_its_usage_details(
    kind: str,
    stream: bool,
    instrumented: Telemetry,
    span_exporter: InMemorySpanExporter,
    metric_reader: InMemoryMetricReader,
) -> None:
    body = fake.response(function_call="get_weather")
    result = create(kind, answering(body), stream=stream, max_output_tokens=256, temperature=0.5)
    if stream:
        assert [e.type for e in result][-1] == "response.completed"
    else:
        assert result.output_text == "Hello!"
    (span,) = finished(span_exporter)
    attrs = dict(span.attributes or {})
    assert span.name == "chat gpt-4.1" and span.kind is SpanKind.CLIENT
    assert attrs[sc.OPERATION_NAME] == "chat" and attrs[sc.PROVIDER_NAME] == "openai"
    assert attrs[sc.REQUEST_MAX_TOKENS] == 256 and attrs[sc.REQUEST_TEMPERATURE] == 0.5
    assert attrs[sc.REQUEST_STREAM] is stream
    assert attrs[sc.RESPONSE_ID] == "resp_123"
    assert attrs[sc.RESPONSE_MODEL] == "gpt-4.1-2025-04-14"
    assert attrs[sc.RESPONSE_FINISH_REASONS] == ("completed",)
    assert attrs[sc.OPENAI_RESPONSE_SERVICE_TIER] == "default"
    assert attrs[sc.TOOL_CALL_NAMES] == ("get_weather",)
    assert usage_attributes(attrs) == (20, 8, 4, 2)
    tokens = points(metric_reader, names.GEN_AI_TOKEN_USAGE.otel)
    assert sorted((p.attributes[sc.TOKEN_TYPE], p.sum, p.count) for p in tokens) == [
        ("input", 20, 1),
        ("output", 8, 1),
    ]


def test_an_incomplete_response_gives_its_reason(
    instrumented: Telemetry, span_exporter: InMemorySpanExporter
) -> None:
    body = fake.response(status="incomplete", incomplete="max_output_tokens")
    create("sync", answering(body), stream=True)
    (span,) = finished(span_exporter)
    assert dict(span.attributes or {})[sc.RESPONSE_FINISH_REASONS] == ("max_output_tokens",)


def test_the_stream_helper_is_one_span_and_its_final_response_works(
    instrumented: Telemetry, span_exporter: InMemorySpanExporter
) -> None:
    with fake.client(answering(fake.response())) as c:
        with c.responses.stream(model=MODEL, input="Say hello.") as stream:
            assert isinstance(stream, ResponseStream)
            deltas = [e.delta for e in stream if e.type == "response.output_text.delta"]
            final = stream.get_final_response()
    assert deltas == PIECES and final.output_text == "Hello!"
    (span,) = finished(span_exporter)
    assert usage_attributes(dict(span.attributes or {})) == (20, 8, 4, 2)


def test_the_async_stream_helper_is_one_span(
    instrumented: Telemetry, span_exporter: InMemorySpanExporter
) -> None:
    async def run() -> str:
        async with fake.async_client(answering(fake.response())) as c:
            async with c.responses.stream(model=MODEL, input="Say hello.") as stream:
                async for _ in stream:
                    pass
                return (await stream.get_final_response()).output_text

    assert asyncio.run(run()) == "Hello!"
    (span,) = finished(span_exporter)
    assert dict(span.attributes or {})[sc.USAGE_OUTPUT_TOKENS] == 8


class Greeting(BaseModel):
    text: str


def test_parse_is_one_span_with_output_type_json(
    instrumented: Telemetry, span_exporter: InMemorySpanExporter
) -> None:
    body = fake.response(text='{"text": "Hello!"}')
    with fake.client(answering(body)) as c:
        parsed = c.responses.parse(model=MODEL, input="Say hello.", text_format=Greeting)
    assert parsed.output_parsed == Greeting(text="Hello!")
    (span,) = finished(span_exporter)
    attrs = dict(span.attributes or {})
    assert attrs[sc.OUTPUT_TYPE] == "json" and attrs[sc.USAGE_INPUT_TOKENS] == 20


def test_content_shows_instructions_input_and_output_when_opted_in(
    capturing: Telemetry, span_exporter: InMemorySpanExporter
) -> None:
    items = [
        {"role": "user", "content": "Weather in Paris?"},
        {"type": "function_call", "call_id": "call_1", "name": "get_weather", "arguments": "{}"},
        {"type": "function_call_output", "call_id": "call_1", "output": "rainy"},
    ]
    tools = [
        {"type": "function", "name": "get_weather", "description": "Weather", "parameters": {}}
    ]
    create(
        "sync",
        answering(fake.response(text="Rainy.")),
        input=items,
        instructions="You are terse.",
        tools=tools,
        conversation="conv_1",
    )
    (span,) = finished(span_exporter)
    attrs = dict(span.attributes or {})
    assert attrs[sc.CONVERSATION_ID] == "conv_1"
    assert json.loads(str(attrs[sc.SYSTEM_INSTRUCTIONS])) == [
        {"type": "text", "content": "You are terse."}
    ]
    assert json.loads(str(attrs[sc.INPUT_MESSAGES])) == [
        {"role": "user", "parts": [{"type": "text", "content": "Weather in Paris?"}]},
        {
            "role": "assistant",
            "parts": [
                {"type": "tool_call", "id": "call_1", "name": "get_weather", "arguments": {}}
            ],
        },
        {
            "role": "tool",
            "parts": [{"type": "tool_call_response", "id": "call_1", "response": "rainy"}],
        },
    ]
    assert json.loads(str(attrs[sc.TOOL_DEFINITIONS])) == [
        {"type": "function", "name": "get_weather", "description": "Weather", "parameters": {}}
    ]
    assert json.loads(str(attrs[sc.OUTPUT_MESSAGES])) == [
        {
            "role": "assistant",
            "parts": [{"type": "text", "content": "Rainy."}],
            "finish_reason": "completed",
        }
    ]


def test_resuming_a_stored_stream_by_id_is_no_new_call_and_still_works(
    instrumented: Telemetry, span_exporter: InMemorySpanExporter
) -> None:
    events = fake.sse(fake.response_events(fake.response(), PIECES), named=True)
    api = fake.fixed(lambda: fake.sse_response(events))  # a GET: the stream is asked in the query
    with fake.client(api) as c:
        with c.responses.stream(response_id="resp_123") as stream:
            final = stream.get_final_response()
    assert final.output_text == "Hello!" and api.requests[0]["_path"] == "/v1/responses/resp_123"
    assert finished(span_exporter) == []  # `retrieve` is not wrapped: no inference happened
