"""generate_content_stream, sync and async: the SDK's generator kept, the span ended on time."""

from __future__ import annotations

import asyncio
import gc
import json
from typing import Any

import pytest
from google.genai import errors, types
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from agentwatch import names
from agentwatch.instrumentation import semconv as sc
from agentwatch.instrumentation.telemetry import Telemetry
from tests.instrumentation.conftest import finished, points
from tests.instrumentation.google_genai import fakeapi as fake

KINDS = ["sync", "async"]
PIECES = ["Hel", "lo", "!"]


def streaming(items: list[dict[str, Any]]) -> fake.Api:
    return fake.fixed(lambda: fake.sse_response(fake.sse(items)))


def consume(
    kind: str, handler: fake.Handler, stop_after: int | None = None, **kwargs: Any
) -> list[Any]:
    """Read the stream (all of it, or `stop_after` chunks then close it); the chunks read."""
    kwargs = {**fake.CALL, **kwargs}
    client = fake.client(handler)
    if kind == "sync":
        stream: Any = client.models.generate_content_stream(**kwargs)
        out = []
        for chunk in stream:
            out.append(chunk)
            if stop_after is not None and len(out) == stop_after:
                stream.close()
                break
        return out

    async def run() -> list[Any]:
        stream: Any = await client.aio.models.generate_content_stream(**kwargs)
        out = []
        async for chunk in stream:
            out.append(chunk)
            if stop_after is not None and len(out) == stop_after:
                await stream.aclose()
                break
        return out

    return asyncio.run(run())


@pytest.mark.parametrize("kind", KINDS, ids=str)
def test_an_exhausted_stream_records_the_last_running_usage_once(
    kind: str,
    instrumented: Telemetry,
    span_exporter: InMemorySpanExporter,
    metric_reader: InMemoryMetricReader,
) -> None:
    final = fake.usage(prompt=12, output=15, thoughtsTokenCount=4)
    chunks = consume(kind, streaming(fake.chunks(PIECES, final=final)))
    assert "".join(c.text for c in chunks) == "Hello!"
    assert all(isinstance(c, types.GenerateContentResponse) for c in chunks)
    (span,) = finished(span_exporter)
    assert span.name == "generate_content gemini-2.5-flash"
    attributes = dict(span.attributes or {})
    assert attributes[sc.REQUEST_STREAM] is True
    assert attributes[sc.RESPONSE_ID] == "resp-456"
    assert attributes[sc.RESPONSE_FINISH_REASONS] == ("stop",)
    # Usage is a running total per chunk: the last one, not their sum.
    assert attributes[sc.USAGE_INPUT_TOKENS] == 12 and attributes[sc.USAGE_OUTPUT_TOKENS] == 19
    assert attributes[sc.USAGE_REASONING_OUTPUT_TOKENS] == 4
    first_chunk = attributes[sc.RESPONSE_TIME_TO_FIRST_CHUNK]
    assert isinstance(first_chunk, float) and first_chunk > 0
    assert sc.RESPONSE_FLAGS not in attributes
    tokens = points(metric_reader, names.GEN_AI_TOKEN_USAGE.otel)
    assert sorted((p.attributes[sc.TOKEN_TYPE], p.sum, p.count) for p in tokens) == [
        ("input", 12, 1),
        ("output", 19, 1),
    ]
    (first,) = points(metric_reader, names.GEN_AI_TIME_TO_FIRST_CHUNK.otel)
    assert first.count == 1
    (gaps,) = points(metric_reader, names.GEN_AI_TIME_PER_OUTPUT_CHUNK.otel)
    assert gaps.count == len(PIECES) - 1


@pytest.mark.parametrize("kind", KINDS, ids=str)
def test_a_stream_closed_early_ends_with_what_it_saw(
    kind: str, instrumented: Telemetry, span_exporter: InMemorySpanExporter
) -> None:
    chunks = consume(kind, streaming(fake.chunks(PIECES)), stop_after=1)
    assert len(chunks) == 1
    (span,) = finished(span_exporter)
    attributes = dict(span.attributes or {})
    assert span.status.status_code is StatusCode.UNSET
    assert attributes[sc.USAGE_OUTPUT_TOKENS] == 1  # the running count of the first chunk
    assert sc.RESPONSE_FINISH_REASONS not in attributes


def test_a_stream_dropped_unfinished_ends_when_collected(
    instrumented: Telemetry, span_exporter: InMemorySpanExporter
) -> None:
    stream = fake.client(streaming(fake.chunks(PIECES))).models.generate_content_stream(**fake.CALL)
    next(iter(stream))
    assert finished(span_exporter) == []
    del stream
    gc.collect()
    (span,) = finished(span_exporter)
    assert dict(span.attributes or {})[sc.USAGE_OUTPUT_TOKENS] == 1


@pytest.mark.parametrize("kind", KINDS, ids=str)
def test_a_broken_connection_ends_the_span_with_the_sdks_exception(
    kind: str, instrumented: Telemetry, span_exporter: InMemorySpanExporter
) -> None:
    prefix = fake.sse(fake.chunks(PIECES)[:1])
    api = fake.fixed(lambda: fake.cut_response(prefix, asynchronous=kind == "async"))
    with pytest.raises(Exception) as raised:
        consume(kind, api)
    assert "connection reset" in str(raised.value)
    (span,) = finished(span_exporter)
    assert span.status.status_code is StatusCode.ERROR
    attributes = dict(span.attributes or {})
    assert attributes[sc.ERROR_TYPE] == type(raised.value).__qualname__
    assert attributes[sc.USAGE_OUTPUT_TOKENS] == 1


@pytest.mark.parametrize("kind", KINDS, ids=str)
def test_an_error_status_is_raised_on_first_read_and_recorded(
    kind: str, instrumented: Telemetry, span_exporter: InMemorySpanExporter
) -> None:
    api = fake.fixed(
        lambda: fake.json_response(fake.error(429, "RESOURCE_EXHAUSTED", "quota"), 429)
    )
    with pytest.raises(errors.ClientError) as raised:
        consume(kind, api)
    assert raised.value.code == 429
    (span,) = finished(span_exporter)
    assert span.status.status_code is StatusCode.ERROR
    assert dict(span.attributes or {})[sc.ERROR_TYPE] == "429"


@pytest.mark.parametrize("kind", KINDS, ids=str)
def test_streamed_function_calls_are_tool_calls_checked_against_the_tools(
    kind: str, instrumented: Telemetry, span_exporter: InMemorySpanExporter
) -> None:
    items = [
        fake.response([fake.candidate([fake.text("Let me check.")], None)], use=fake.usage()),
        fake.response(
            [fake.candidate([fake.function_call("get_time", {}, id="c1")], "STOP")],
            use=fake.usage(output=9),
        ),
    ]
    schema = {"type": "object", "properties": {"city": {"type": "string"}}}
    tool = {"function_declarations": [{"name": "get_weather", "parameters_json_schema": schema}]}
    consume(kind, streaming(items), config={"tools": [tool]})
    (span,) = finished(span_exporter)
    attributes = dict(span.attributes or {})
    assert attributes[sc.TOOL_CALL_NAMES] == ("get_time",)
    assert attributes[sc.HALLUCINATED_TOOL_CALLS] == 1
    assert attributes[sc.RESPONSE_FINISH_REASONS] == ("tool_call",)


def test_a_streamed_response_is_recorded_whole_when_capture_is_on(
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
    attributes = dict(span.attributes or {})
    assert sc.OUTPUT_MESSAGES not in attributes and sc.INPUT_MESSAGES not in attributes
