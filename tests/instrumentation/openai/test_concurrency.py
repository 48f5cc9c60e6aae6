"""1,000 concurrent async calls: every span ended, every token counted once, no context leak."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx2
from opentelemetry import trace
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from agentwatch import names
from agentwatch.instrumentation import semconv as sc
from agentwatch.instrumentation.telemetry import Telemetry
from tests.instrumentation.conftest import finished, points
from tests.instrumentation.openai import fakeapi as fake

CALLS = 1000


def answer(request: httpx2.Request) -> httpx2.Response:
    """Echo the span that is current while the SDK sends this request, and a usage from it."""
    import json

    body = json.loads(request.content)
    span_id = trace.get_current_span().get_span_context().span_id
    n = int(body["messages"][0]["content"])
    reply_id = f"chatcmpl-{span_id:016x}"
    if body.get("stream"):
        use = fake.usage(prompt=n, completion=1)
        chunks = [
            fake.chunk({"content": "x"}, id=reply_id),
            fake.chunk(choices=[], use=use, id=reply_id),
        ]
        return fake.sse_response(fake.sse(chunks))
    return fake.json_response(fake.completion(use=fake.usage(prompt=n, completion=1), id=reply_id))


async def one(client: Any, telemetry: Telemetry, n: int) -> tuple[int, int]:
    """One task: its own parent span, a chat call under it (streamed for odd n)."""
    with telemetry.tracer.start_as_current_span(f"task {n}") as parent:
        kwargs: dict[str, Any] = {
            "model": fake.MODEL,
            "messages": [{"role": "user", "content": str(n)}],
        }
        if n % 2:
            stream = await client.chat.completions.create(
                **kwargs, stream=True, stream_options={"include_usage": True}
            )
            async for _ in stream:
                await asyncio.sleep(0)  # let other tasks interleave mid-stream
        else:
            await client.chat.completions.create(**kwargs)
        assert trace.get_current_span() is parent
        return n, parent.get_span_context().span_id


def test_concurrent_calls_each_get_their_own_span_and_tokens_exactly_once(
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
    for span in chats:
        attrs = dict(span.attributes or {})
        n = attrs[sc.USAGE_INPUT_TOKENS]
        # The request went out with this very span current, under this task's parent.
        assert attrs[sc.RESPONSE_ID] == f"chatcmpl-{span.context.span_id:016x}"
        assert span.parent is not None and span.parent.span_id == parents[n]
        assert attrs[sc.REQUEST_STREAM] is bool(n % 2)
    assert sorted(dict(s.attributes or {})[sc.USAGE_INPUT_TOKENS] for s in chats) == list(
        range(CALLS)
    )
    tokens = {
        p.attributes[sc.TOKEN_TYPE]: p for p in points(metric_reader, names.GEN_AI_TOKEN_USAGE.otel)
    }
    assert (tokens["input"].count, tokens["input"].sum) == (CALLS, sum(range(CALLS)))
    assert (tokens["output"].count, tokens["output"].sum) == (CALLS, CALLS)
    (duration,) = points(metric_reader, names.GEN_AI_OPERATION_DURATION.otel)
    assert duration.count == CALLS
