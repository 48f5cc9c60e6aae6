"""chat_stream, sync and async: the SDK's generator kept, the span ended on time."""

from __future__ import annotations

import asyncio
import gc
import json
from typing import Any

import cohere
import pytest
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from agentwatch import names
from agentwatch.instrumentation import semconv as sc
from agentwatch.instrumentation.cohere import responses as rs
from agentwatch.instrumentation.telemetry import Telemetry
from tests.instrumentation.cohere import fakeapi as fake
from tests.instrumentation.conftest import finished, points

KINDS = ["sync", "async"]
PIECES = ["Hel", "lo", "!"]


def streaming(items: list[dict[str, Any]]) -> fake.Api:
    return fake.fixed(lambda: fake.sse_response(fake.sse(items)))


def consume(
    kind: str, handler: fake.Handler, stop_after: int | None = None, **kwargs: Any
) -> list[Any]:
    """Read the stream (all of it, or `stop_after` events then close it); the events read."""
    kwargs = {**fake.CALL, **kwargs}
    if kind == "sync":
        stream: Any = fake.client(handler).chat_stream(**kwargs)
        out = []
        for event in stream:
            out.append(event)
            if stop_after is not None and len(out) == stop_after:
                stream.close()
                break
        return out

    async def run() -> list[Any]:
        astream: Any = fake.async_client(handler).chat_stream(**kwargs)
        out = []
        async for event in astream:
            out.append(event)
            if stop_after is not None and len(out) == stop_after:
                await astream.aclose()
                break
        return out

    return asyncio.run(run())


def text(events: list[Any]) -> str:
    return "".join(e.delta.message.content.text for e in events if e.type == "content-delta")


@pytest.mark.parametrize("kind", KINDS, ids=str)
def test_an_exhausted_stream_records_its_billed_usage_once(
    kind: str,
    instrumented: Telemetry,
    span_exporter: InMemorySpanExporter,
    metric_reader: InMemoryMetricReader,
) -> None:
    events = consume(kind, streaming(fake.events(PIECES)))
    assert text(events) == "Hello!"
    (span,) = finished(span_exporter)
    assert span.name == "chat command-a-03-2025"
    attributes = dict(span.attributes or {})
    assert attributes[sc.REQUEST_STREAM] is True
    assert attributes[sc.RESPONSE_ID] == "resp-456"
    assert attributes[sc.RESPONSE_FINISH_REASONS] == ("stop",)
    assert attributes[sc.USAGE_INPUT_TOKENS] == 12 and attributes[sc.USAGE_OUTPUT_TOKENS] == 15
    assert attributes[rs.MODEL_INPUT_TOKENS] == 210
    first_chunk = attributes[sc.RESPONSE_TIME_TO_FIRST_CHUNK]
    assert isinstance(first_chunk, float) and first_chunk > 0
    assert sc.RESPONSE_FLAGS not in attributes
    tokens = points(metric_reader, names.GEN_AI_TOKEN_USAGE.otel)
    assert sorted((p.attributes[sc.TOKEN_TYPE], p.sum, p.count) for p in tokens) == [
        ("input", 12, 1),
        ("output", 15, 1),
    ]


@pytest.mark.parametrize("kind", KINDS, ids=str)
def test_a_stream_closed_early_ends_with_what_it_saw(
    kind: str, instrumented: Telemetry, span_exporter: InMemorySpanExporter
) -> None:
    assert len(consume(kind, streaming(fake.events(PIECES)), stop_after=3)) == 3
    (span,) = finished(span_exporter)
    attributes = dict(span.attributes or {})
    assert span.status.status_code is StatusCode.UNSET
    assert attributes[sc.RESPONSE_ID] == "resp-456"
    assert sc.USAGE_INPUT_TOKENS not in attributes  # usage comes with `message-end` only


def test_a_stream_dropped_unfinished_ends_when_collected(
    instrumented: Telemetry, span_exporter: InMemorySpanExporter
) -> None:
    stream = fake.client(streaming(fake.events(PIECES))).chat_stream(**fake.CALL)
    next(stream)
    assert finished(span_exporter) == []
    del stream
    gc.collect()
    assert len(finished(span_exporter)) == 1


@pytest.mark.parametrize("kind", KINDS, ids=str)
def test_a_broken_connection_ends_the_span_with_the_sdks_exception(
    kind: str, instrumented: Telemetry, span_exporter: InMemorySpanExporter
) -> None:
    prefix = fake.sse(fake.events(PIECES)[:3])
    api = fake.fixed(lambda: fake.cut_response(prefix, asynchronous=kind == "async"))
    with pytest.raises(Exception) as raised:
        consume(kind, api)
    assert "connection reset" in str(raised.value)
    (span,) = finished(span_exporter)
    assert span.status.status_code is StatusCode.ERROR
    assert dict(span.attributes or {})[sc.ERROR_TYPE] == type(raised.value).__qualname__


@pytest.mark.parametrize("kind", KINDS, ids=str)
def test_an_error_status_raises_the_sdk_error_and_is_recorded(
    kind: str, instrumented: Telemetry, span_exporter: InMemorySpanExporter
) -> None:
    api = fake.fixed(lambda: fake.json_response({"message": "slow down"}, 429))
    with pytest.raises(cohere.TooManyRequestsError):
        consume(kind, api)
    (span,) = finished(span_exporter)
    assert span.status.status_code is StatusCode.ERROR
    assert dict(span.attributes or {})[sc.ERROR_TYPE] == "429"


@pytest.mark.parametrize("kind", KINDS, ids=str)
def test_streamed_tool_calls_are_checked_whole_at_the_end(
    kind: str, instrumented: Telemetry, span_exporter: InMemorySpanExporter
) -> None:
    items = fake.events([], finish="TOOL_CALL", tool=("get_weather", ['{"town"', ': "Paris"}']))
    offered = {
        "type": "function",
        "function": {
            "name": "get_weather",
            "parameters": {"type": "object", "required": ["city"]},
        },
    }
    consume(kind, streaming(items), tools=[offered])
    (span,) = finished(span_exporter)
    attributes = dict(span.attributes or {})
    assert attributes[sc.TOOL_CALL_NAMES] == ("get_weather",)
    assert attributes[sc.HALLUCINATED_TOOL_CALLS] == 1
    assert attributes[sc.RESPONSE_FINISH_REASONS] == ("tool_call",)
    (event,) = span.events
    assert dict(event.attributes or {})[sc.TOOL_CALL_REASON] == "schema_violation"


def test_the_raw_stream_context_is_one_span_too(
    instrumented: Telemetry, span_exporter: InMemorySpanExporter
) -> None:
    client = fake.client(streaming(fake.events(PIECES)))
    with client.with_raw_response.chat_stream(**fake.CALL) as response:
        assert text(list(response.data)) == "Hello!"
    (span,) = finished(span_exporter)
    assert dict(span.attributes or {})[sc.USAGE_OUTPUT_TOKENS] == 15


def test_a_streamed_answer_is_recorded_whole_only_when_capture_is_on(
    capturing: Telemetry, span_exporter: InMemorySpanExporter
) -> None:
    consume("sync", streaming(fake.events(PIECES, tool=("get_time", ["{}"]))))
    (span,) = finished(span_exporter)
    assert json.loads(str(dict(span.attributes or {})[sc.OUTPUT_MESSAGES])) == [
        {
            "role": "assistant",
            "parts": [
                {"type": "text", "content": "Hello!"},
                {"type": "tool_call", "id": "call_9", "name": "get_time", "arguments": {}},
            ],
            "finish_reason": "stop",
        }
    ]


def test_no_content_is_recorded_from_a_stream_by_default(
    instrumented: Telemetry, span_exporter: InMemorySpanExporter
) -> None:
    consume("sync", streaming(fake.events(PIECES)))
    (span,) = finished(span_exporter)
    assert sc.OUTPUT_MESSAGES not in dict(span.attributes or {})
