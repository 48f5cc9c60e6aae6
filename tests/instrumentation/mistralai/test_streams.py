"""Chat.stream and stream_async: the SDK's EventStream kept, the span ended on time."""

from __future__ import annotations

import asyncio
import gc
import json
from typing import Any

import pytest
from mistralai.client import errors
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from agentwatch import names
from agentwatch.instrumentation import semconv as sc
from agentwatch.instrumentation.telemetry import Telemetry
from tests.instrumentation.conftest import finished, points
from tests.instrumentation.mistralai import fakeapi as fake

KINDS = ["sync", "async"]
PIECES = ["Hel", "lo", "!"]


def streaming(items: list[dict[str, Any]]) -> fake.Api:
    return fake.fixed(lambda: fake.sse_response(fake.sse(items)))


def consume(
    kind: str, handler: fake.Handler, stop_after: int | None = None, **kwargs: Any
) -> list[Any]:
    """Read the stream (all of it, or `stop_after` events then close it); the events read."""
    kwargs = {**fake.CALL, **kwargs}
    client = fake.client(handler)
    if kind == "sync":
        out = []
        with client.chat.stream(**kwargs) as stream:
            for event in stream:
                out.append(event)
                if stop_after is not None and len(out) == stop_after:
                    break
        return out

    async def run() -> list[Any]:
        out = []
        async with await client.chat.stream_async(**kwargs) as stream:
            async for event in stream:
                out.append(event)
                if stop_after is not None and len(out) == stop_after:
                    break
        return out

    return asyncio.run(run())


@pytest.mark.parametrize("kind", KINDS, ids=str)
def test_an_exhausted_stream_records_its_usage_once(
    kind: str,
    instrumented: Telemetry,
    span_exporter: InMemorySpanExporter,
    metric_reader: InMemoryMetricReader,
) -> None:
    events = consume(kind, streaming(fake.chunks(PIECES, final=fake.usage(12, 15))))
    assert "".join(e.data.choices[0].delta.content for e in events) == "Hello!"
    (span,) = finished(span_exporter)
    attributes = dict(span.attributes or {})
    assert attributes[sc.REQUEST_STREAM] is True
    assert attributes[sc.RESPONSE_ID] == "cmpl-456"
    assert attributes[sc.RESPONSE_FINISH_REASONS] == ("stop",)
    assert attributes[sc.USAGE_INPUT_TOKENS] == 12 and attributes[sc.USAGE_OUTPUT_TOKENS] == 15
    first_chunk = attributes[sc.RESPONSE_TIME_TO_FIRST_CHUNK]
    assert isinstance(first_chunk, float) and first_chunk > 0
    tokens = points(metric_reader, names.GEN_AI_TOKEN_USAGE.otel)
    assert sorted((p.attributes[sc.TOKEN_TYPE], p.sum, p.count) for p in tokens) == [
        ("input", 12, 1),
        ("output", 15, 1),
    ]
    (gaps,) = points(metric_reader, names.GEN_AI_TIME_PER_OUTPUT_CHUNK.otel)
    assert gaps.count == len(PIECES) - 1


@pytest.mark.parametrize("kind", KINDS, ids=str)
def test_a_stream_left_early_ends_with_its_with_block(
    kind: str, instrumented: Telemetry, span_exporter: InMemorySpanExporter
) -> None:
    assert len(consume(kind, streaming(fake.chunks(PIECES)), stop_after=1)) == 1
    (span,) = finished(span_exporter)
    attributes = dict(span.attributes or {})
    assert span.status.status_code is StatusCode.UNSET
    assert sc.USAGE_INPUT_TOKENS not in attributes  # usage comes with the last event only
    assert sc.RESPONSE_FINISH_REASONS not in attributes


def test_close_ends_the_span_and_a_dropped_stream_ends_when_collected(
    instrumented: Telemetry, span_exporter: InMemorySpanExporter
) -> None:
    client = fake.client(streaming(fake.chunks(PIECES)))
    stream = client.chat.stream(**fake.CALL)
    next(stream)
    stream.close()  # type: ignore[no-untyped-call]  # the SDK leaves it unannotated
    assert len(finished(span_exporter)) == 1
    stream = client.chat.stream(**fake.CALL)
    next(stream)
    del stream
    gc.collect()
    assert len(finished(span_exporter)) == 2


@pytest.mark.parametrize("kind", KINDS, ids=str)
def test_a_broken_connection_ends_the_span_with_the_sdks_exception(
    kind: str, instrumented: Telemetry, span_exporter: InMemorySpanExporter
) -> None:
    prefix = fake.sse(fake.chunks(PIECES)[:1]).replace(b"data: [DONE]\n\n", b"")
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
    api = fake.fixed(lambda: fake.json_response(fake.error("slow down"), 429))
    with pytest.raises(errors.SDKError) as raised:
        consume(kind, api)
    assert raised.value.status_code == 429
    (span,) = finished(span_exporter)
    assert dict(span.attributes or {})[sc.ERROR_TYPE] == "429"


@pytest.mark.parametrize("kind", KINDS, ids=str)
def test_streamed_tool_calls_are_checked_whole_at_the_end(
    kind: str, instrumented: Telemetry, span_exporter: InMemorySpanExporter
) -> None:
    tool = fake.tool_call("get_weather", '{"town": "Paris"}', "c1")
    items = fake.chunks(["", ""], finish="tool_calls", tool=tool)
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
    assert attributes[sc.RESPONSE_FINISH_REASONS] == ("tool_calls",)


def test_a_streamed_answer_is_recorded_whole_only_when_capture_is_on(
    capturing: Telemetry, span_exporter: InMemorySpanExporter
) -> None:
    consume("sync", streaming(fake.chunks(PIECES)))
    (span,) = finished(span_exporter)
    assert json.loads(str(dict(span.attributes or {})[sc.OUTPUT_MESSAGES])) == [
        {
            "role": "assistant",
            "parts": [{"type": "text", "content": "Hello!"}],
            "finish_reason": "stop",
        }
    ]


def test_no_content_is_recorded_from_a_stream_by_default(
    instrumented: Telemetry, span_exporter: InMemorySpanExporter
) -> None:
    consume("sync", streaming(fake.chunks(PIECES)))
    (span,) = finished(span_exporter)
    assert sc.OUTPUT_MESSAGES not in dict(span.attributes or {})
