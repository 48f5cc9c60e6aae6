"""1,000 concurrent async streams: every span ended, every token counted once, no context leak."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx2
from opentelemetry import trace
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from agentwatch import names
from agentwatch.instrumentation import semconv as sc
from agentwatch.instrumentation.telemetry import Telemetry
from tests.instrumentation.anthropic import fakeapi as fake
from tests.instrumentation.conftest import finished, points

CALLS = 1000


def answer(request: httpx2.Request) -> httpx2.Response:
    """Echo the span that is current while the SDK sends this request, and a usage from it."""
    body = json.loads(request.content)
    span_id = trace.get_current_span().get_span_context().span_id
    n = int(body["messages"][0]["content"])
    reply_id = f"msg_{span_id:016x}"
    use = fake.usage(input=n, output=1)
    if body.get("stream"):
        items = fake.events(["x", "y"], start=use, final={"output_tokens": 2}, id=reply_id)
        return fake.sse_response(fake.sse(items))
    return fake.json_response(fake.message(use=use, id=reply_id))


async def one(client: Any, telemetry: Telemetry, n: int) -> tuple[int, int]:
    """One task: its own parent span, a call under it (a stream, or the helper for n % 3 == 0)."""
    with telemetry.tracer.start_as_current_span(f"task {n}") as parent:
        kwargs: dict[str, Any] = {**fake.CALL, "messages": [{"role": "user", "content": str(n)}]}
        if n % 3 == 0:
            async with client.messages.stream(**kwargs) as stream:
                async for _ in stream.text_stream:
                    await asyncio.sleep(0)
        elif n % 3 == 1:
            async for _ in await client.messages.create(**kwargs, stream=True):
                await asyncio.sleep(0)  # let other tasks interleave mid-stream
        else:
            await client.messages.create(**kwargs)
        assert trace.get_current_span() is parent
        return n, parent.get_span_context().span_id


def test_concurrent_streams_each_get_their_own_span_and_tokens_exactly_once(
    instrumented: Telemetry,
    span_exporter: InMemorySpanExporter,
    metric_reader: InMemoryMetricReader,
) -> None:
    async def run() -> list[tuple[int, int]]:
        async with fake.async_client(answer) as client:
            return await asyncio.gather(*(one(client, instrumented, n) for n in range(CALLS)))

    parents = dict(asyncio.run(run()))
    assert trace.get_current_span() is trace.INVALID_SPAN
    chats = [s for s in finished(span_exporter) if s.name.startswith("chat ")]
    assert len(chats) == CALLS and all(s.end_time is not None for s in chats)
    outputs = 0
    for span in chats:
        attrs = dict(span.attributes or {})
        n = attrs[sc.USAGE_INPUT_TOKENS]
        assert isinstance(n, int)
        # The request went out with this very span current, under this task's parent.
        assert attrs[sc.RESPONSE_ID] == f"msg_{span.context.span_id:016x}"
        assert span.parent is not None and span.parent.span_id == parents[n]
        assert attrs[sc.REQUEST_STREAM] is (n % 3 != 2)
        assert attrs[sc.USAGE_OUTPUT_TOKENS] == (2 if n % 3 != 2 else 1)
        outputs += 2 if n % 3 != 2 else 1
    assert sorted(dict(s.attributes or {})[sc.USAGE_INPUT_TOKENS] for s in chats) == list(
        range(CALLS)
    )
    tokens = {
        p.attributes[sc.TOKEN_TYPE]: p for p in points(metric_reader, names.GEN_AI_TOKEN_USAGE.otel)
    }
    assert (tokens["input"].count, tokens["input"].sum) == (CALLS, sum(range(CALLS)))
    assert (tokens["output"].count, tokens["output"].sum) == (CALLS, outputs)
    (duration,) = points(metric_reader, names.GEN_AI_OPERATION_DURATION.otel)
    assert duration.count == CALLS
