"""Instrumentation benchmark: the CPU an OpenAI call pays for agentwatch's span and metrics.

Four variants of the same `chat.completions.create` call on the real `openai` SDK, whose HTTP
transport answers from memory (`httpx2.MockTransport`, real Chat Completions JSON and SSE):
uninstrumented, a hand-written span with the same attributes and the two conventions' metrics
(the floor the OpenTelemetry SDK sets), agentwatch, and the official OpenTelemetry OpenAI
instrumentation. Sync and async, plain calls and 50-chunk streams, interleaved round by round.
Every number is CPU added over the uninstrumented call of the same round (see README.md).
Exits 0 unless `--check` is given and a target is missed.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import gc
import json
import logging
import statistics
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx2
import openai
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.trace import SpanKind, Tracer, use_span

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_report import Row, exit_code, table, write_json  # noqa: E402

from agentwatch.instrumentation import semconv as sc
from agentwatch.instrumentation.content import ContentPolicy
from agentwatch.instrumentation.openai import OpenAIInstrumentor
from agentwatch.instrumentation.telemetry import Telemetry


def official_instrumentor() -> Any:
    """The official OpenTelemetry OpenAI instrumentor (opentelemetry-instrumentation-openai-v2).

    It needs `httpx` (for one `isinstance` on the client's URL) and an opentelemetry-util-genai
    that still has `opentelemetry.util.genai.instruments` (before 1.2b0): the dev extra pins
    both, so it runs here as a user with its documented dependencies would run it.
    """
    from opentelemetry.instrumentation import openai_v2

    return openai_v2.OpenAIInstrumentor()


CHUNKS = 50
MODEL = "gpt-4o-mini"
RESPONSE_MODEL = "gpt-4o-mini-2024-07-18"
HOST = "api.bench-openai.test"
PORT = 443
FINGERPRINT = "fp_44709d6fcb"
MESSAGES = [
    {"role": "system", "content": "You are terse."},
    {"role": "user", "content": "Say hello."},
]
USAGE = {
    "prompt_tokens": 12,
    "completion_tokens": CHUNKS - 3,
    "total_tokens": 12 + CHUNKS - 3,
    "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
    "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0},
}
# gpt-4o-mini's list price (USD per million tokens): the hand-written span prices the call too.
PRICE_IN, PRICE_OUT = 0.15, 0.60
VARIANTS = ("none", "span", "agentwatch", "official")
CASES = ("sync.call", "async.call", "sync.stream", "async.stream", "sync.short", "async.short")
"""`stream`: `CHUNKS`-chunk streams; `short`: `SHORT`-chunk ones, for the cost per chunk."""
SHORT = 10


@dataclasses.dataclass(frozen=True)
class Counts:
    """How much one run measures: `rounds` of every variant, `calls`/`streams` per batch."""

    rounds: int
    warmup: int
    calls: int
    streams: int


FULL = Counts(rounds=15, warmup=2, calls=150, streams=30)
QUICK = Counts(rounds=2, warmup=1, calls=4, streams=2)


# -- the fake API: real wire formats, answered from memory ------------------------------------


def completion_body() -> bytes:
    """A `chat.completion` object, as the API reference shows it."""
    message = {"role": "assistant", "content": "Hello!", "refusal": None}
    choice = {"index": 0, "message": message, "logprobs": None, "finish_reason": "stop"}
    return json.dumps(
        {
            "id": "chatcmpl-123",
            "object": "chat.completion",
            "created": 1_717_000_000,
            "model": RESPONSE_MODEL,
            "system_fingerprint": FINGERPRINT,
            "service_tier": "default",
            "choices": [choice],
            "usage": USAGE,
        }
    ).encode()


def stream_body(chunks: int = CHUNKS) -> bytes:
    """`chunks` SSE chunks: the role, text pieces, the finish reason, then the usage alone."""

    def chunk(delta: dict[str, Any] | None, reason: str | None = None) -> dict[str, Any]:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": reason}
        return {
            "id": "chatcmpl-456",
            "object": "chat.completion.chunk",
            "created": 1_717_000_000,
            "model": RESPONSE_MODEL,
            "system_fingerprint": FINGERPRINT,
            "choices": [] if delta is None else [choice],
        }

    events = [chunk({"role": "assistant", "content": ""})]
    events += [chunk({"content": f" word{i}"}) for i in range(chunks - 3)]
    events.append(chunk({}, "stop"))
    events.append({**chunk(None), "usage": USAGE})  # what `include_usage` asks for
    assert len(events) == chunks
    lines = [f"data: {json.dumps(event)}\n\n" for event in events] + ["data: [DONE]\n\n"]
    return "".join(lines).encode()


def handler() -> Callable[[httpx2.Request], httpx2.Response]:
    """The transport's handler: the canned body the request asks for."""
    plain, streamed, short = completion_body(), stream_body(), stream_body(SHORT)
    json_headers = {"content-type": "application/json", "x-request-id": "req_1"}
    sse_headers = {"content-type": "text/event-stream", "x-request-id": "req_1"}

    def answer(request: httpx2.Request) -> httpx2.Response:
        if b'"stream":true' in request.content.replace(b" ", b""):
            body = short if request.headers.get("x-bench-chunks") == str(SHORT) else streamed
            return httpx2.Response(200, content=body, headers=sse_headers)
        return httpx2.Response(200, content=plain, headers=json_headers)

    return answer


def request(case: str) -> dict[str, Any]:
    """The keyword arguments of the benchmarked call; the header picks the stream's length."""
    kwargs: dict[str, Any] = {"model": MODEL, "messages": MESSAGES}
    if not case.endswith(".call"):
        chunks = SHORT if case.endswith(".short") else CHUNKS
        kwargs.update(
            stream=True,
            stream_options={"include_usage": True},
            extra_headers={"x-bench-chunks": str(chunks)},
        )
    return kwargs


# -- the hand-written span: the floor -----------------------------------------------------------


class Discard(SpanExporter):
    """An exporter that drops every span: export costs the same, nothing for every variant."""

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return SpanExportResult.SUCCESS


class HandWritten:
    """One span with agentwatch's attributes, plus duration and token-usage histograms.

    What a careful user would write by hand with the OpenTelemetry API, knowing the host and
    the response shape in advance: no parsing defensiveness, no model bounding, no pricing table.
    """

    def __init__(self, tracer: Tracer, telemetry: Telemetry) -> None:
        self.tracer = tracer
        self.duration = telemetry.duration  # the same instruments, names and buckets
        self.tokens = telemetry.tokens

    def _start(self, kwargs: dict[str, Any]) -> Any:
        attrs = {
            sc.OPERATION_NAME: sc.OP_CHAT,
            sc.PROVIDER_NAME: sc.PROVIDER_OPENAI,
            sc.REQUEST_MODEL: kwargs["model"],
            sc.SERVER_ADDRESS: HOST,
            sc.SERVER_PORT: PORT,
            sc.REQUEST_STREAM: kwargs.get("stream") is True,
        }
        return self.tracer.start_span(
            f"chat {kwargs['model']}", kind=SpanKind.CLIENT, attributes=attrs
        )

    def _end(self, span: Any, started: float, facts: Any, usage: Any, reasons: Any) -> None:
        duration = time.perf_counter() - started
        model = facts.model
        base = {
            sc.OPERATION_NAME: sc.OP_CHAT,
            sc.PROVIDER_NAME: sc.PROVIDER_OPENAI,
            sc.REQUEST_MODEL: MODEL,
            sc.RESPONSE_MODEL: model,
            sc.SERVER_ADDRESS: HOST,
            sc.SERVER_PORT: PORT,
        }
        prompt, output = usage.prompt_tokens, usage.completion_tokens
        span.set_attributes(
            {
                sc.RESPONSE_MODEL: model,
                sc.RESPONSE_ID: facts.id,
                sc.RESPONSE_FINISH_REASONS: reasons,
                sc.USAGE_INPUT_TOKENS: prompt,
                sc.USAGE_OUTPUT_TOKENS: output,
                sc.USAGE_CACHE_READ_INPUT_TOKENS: usage.prompt_tokens_details.cached_tokens,
                sc.USAGE_REASONING_OUTPUT_TOKENS: usage.completion_tokens_details.reasoning_tokens,
                sc.OPENAI_RESPONSE_SYSTEM_FINGERPRINT: facts.system_fingerprint,
                sc.COST_USD: (prompt * PRICE_IN + output * PRICE_OUT) / 1e6,
            }
        )
        if facts.service_tier:
            span.set_attribute(sc.OPENAI_RESPONSE_SERVICE_TIER, facts.service_tier)
        self.duration.record(duration, base)
        self.tokens.record(prompt, {**base, sc.TOKEN_TYPE: sc.TOKEN_INPUT})
        self.tokens.record(output, {**base, sc.TOKEN_TYPE: sc.TOKEN_OUTPUT})
        span.end()

    def call(self, client: openai.OpenAI, kwargs: dict[str, Any]) -> Any:
        span, started = self._start(kwargs), time.perf_counter()
        with use_span(span, end_on_exit=False, record_exception=False):
            result = client.chat.completions.create(**kwargs)
        reasons = tuple(c.finish_reason for c in result.choices)
        self._end(span, started, result, result.usage, reasons)
        return result

    async def acall(self, client: openai.AsyncOpenAI, kwargs: dict[str, Any]) -> Any:
        span, started = self._start(kwargs), time.perf_counter()
        with use_span(span, end_on_exit=False, record_exception=False):
            result = await client.chat.completions.create(**kwargs)
        reasons = tuple(c.finish_reason for c in result.choices)
        self._end(span, started, result, result.usage, reasons)
        return result

    def stream(self, client: openai.OpenAI, kwargs: dict[str, Any]) -> Iterator[Any]:
        span, started = self._start(kwargs), time.perf_counter()
        with use_span(span, end_on_exit=False, record_exception=False):
            stream = client.chat.completions.create(**kwargs)
        first, reasons, usage = None, [], None
        for chunk in stream:
            first = first or chunk
            for choice in chunk.choices:
                if choice.finish_reason is not None:
                    reasons.append(choice.finish_reason)
            usage = chunk.usage or usage
            yield chunk
        self._end(span, started, first, usage, tuple(reasons))

    async def astream(
        self, client: openai.AsyncOpenAI, kwargs: dict[str, Any]
    ) -> AsyncIterator[Any]:
        span, started = self._start(kwargs), time.perf_counter()
        with use_span(span, end_on_exit=False, record_exception=False):
            stream = await client.chat.completions.create(**kwargs)
        first, reasons, usage = None, [], None
        async for chunk in stream:
            first = first or chunk
            for choice in chunk.choices:
                if choice.finish_reason is not None:
                    reasons.append(choice.finish_reason)
            usage = chunk.usage or usage
            yield chunk
        self._end(span, started, first, usage, tuple(reasons))


# -- the bench ----------------------------------------------------------------------------------


class Bench:
    """The clients, the shared providers, and a timed batch of each case under each variant."""

    def __init__(self) -> None:
        tracer_provider = TracerProvider()
        tracer_provider.add_span_processor(SimpleSpanProcessor(Discard()))
        self.reader = InMemoryMetricReader()
        meter_provider = MeterProvider(metric_readers=[self.reader])
        self.telemetry = Telemetry(
            tracer_provider, meter_provider, content=ContentPolicy(enabled=False)
        )
        self.tracer_provider, self.meter_provider = tracer_provider, meter_provider
        self.hand = HandWritten(tracer_provider.get_tracer("bench.handwritten"), self.telemetry)
        self.ours, self.official = OpenAIInstrumentor(), official_instrumentor()
        self.loop = asyncio.new_event_loop()
        answer, base_url = handler(), f"https://{HOST}/v1"
        http = httpx2.Client(transport=httpx2.MockTransport(answer))
        self.client = openai.OpenAI(
            api_key="bench", base_url=base_url, http_client=http, max_retries=0
        )
        ahttp = httpx2.AsyncClient(transport=httpx2.MockTransport(answer))
        self.aclient = openai.AsyncOpenAI(
            api_key="bench", base_url=base_url, http_client=ahttp, max_retries=0
        )

    def activate(self, variant: str) -> None:
        if variant == "agentwatch":
            self.ours.instrument(telemetry=self.telemetry)
        elif variant == "official":
            self.official.instrument(
                tracer_provider=self.tracer_provider, meter_provider=self.meter_provider
            )

    def deactivate(self, variant: str) -> None:
        if variant == "agentwatch":
            self.ours.uninstrument()
        elif variant == "official":
            self.official.uninstrument()

    def sync_batch(self, case: str, variant: str, n: int) -> float:
        """Thread CPU seconds of `n` calls (or consumed streams) of `case` under `variant`."""
        client, hand = self.client, variant == "span"
        kwargs = request(case)
        started = time.thread_time()
        if case == "sync.call":
            for _ in range(n):
                if hand:
                    self.hand.call(client, kwargs)
                else:
                    client.chat.completions.create(**kwargs)
        else:
            for _ in range(n):
                if hand:
                    stream = self.hand.stream(client, kwargs)
                else:
                    stream = client.chat.completions.create(**kwargs)
                for _chunk in stream:
                    pass
        return time.thread_time() - started

    async def _async_batch(self, case: str, variant: str, n: int) -> float:
        client, hand = self.aclient, variant == "span"
        kwargs = request(case)
        started = time.thread_time()
        if case == "async.call":
            for _ in range(n):
                if hand:
                    await self.hand.acall(client, kwargs)
                else:
                    await client.chat.completions.create(**kwargs)
        else:
            for _ in range(n):
                stream = (
                    self.hand.astream(client, kwargs)
                    if hand
                    else await client.chat.completions.create(**kwargs)
                )
                async for _chunk in stream:
                    pass
        return time.thread_time() - started

    def batch(self, case: str, variant: str, n: int) -> float:
        """CPU seconds per call of one batch; only `variant` is active meanwhile."""
        self.activate(variant)
        try:
            self.settle()
            if case.startswith("async"):
                spent = self.loop.run_until_complete(self._async_batch(case, variant, n))
            else:
                spent = self.sync_batch(case, variant, n)
        finally:
            self.deactivate(variant)
        return spent / n

    def check(self) -> None:
        """Each instrumented variant records exactly one span per call (else nothing is timed)."""
        for variant in ("agentwatch", "official"):
            spans: list[ReadableSpan] = []
            exporter = _Keep(spans)
            self.tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
            try:
                for case in CASES:
                    self.batch(case, variant, 1)
            finally:
                exporter.off = True
            if len(spans) != len(CASES):
                raise RuntimeError(f"{variant}: {len(spans)} spans for {len(CASES)} calls")

    def settle(self) -> None:
        """Collect garbage and let the loop close the async generators it finalized."""
        gc.collect()
        for _ in range(3):  # a finalizer schedules aclose(), which may await once more
            self.loop.run_until_complete(asyncio.sleep(0))

    def close(self) -> None:
        self.settle()
        self.loop.run_until_complete(self.aclient.close())
        self.loop.run_until_complete(self.loop.shutdown_asyncgens())
        self.loop.close()
        self.client.close()


class _Keep(SpanExporter):
    def __init__(self, spans: list[ReadableSpan]) -> None:
        self.spans, self.off = spans, False

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        if not self.off:
            self.spans.extend(spans)
        return SpanExportResult.SUCCESS


def measure(bench: Bench, counts: Counts) -> dict[str, dict[str, list[float]]]:
    """Per case and variant, the per-call CPU of every round (seconds); rounds interleave."""
    samples: dict[str, dict[str, list[float]]] = {c: {v: [] for v in VARIANTS} for c in CASES}
    for round_ in range(counts.warmup + counts.rounds):
        for case in CASES:
            n = counts.calls if case.endswith(".call") else counts.streams
            # Rotate the order so no variant always runs first (or right after a GC).
            shift = round_ % len(VARIANTS)
            for variant in VARIANTS[shift:] + VARIANTS[:shift]:
                spent = bench.batch(case, variant, n)
                if round_ >= counts.warmup:
                    samples[case][variant].append(spent)
    return samples


def added(samples: dict[str, list[float]], variant: str) -> float:
    """Median over rounds of the variant's CPU minus the uninstrumented one's, same round."""
    pairs = zip(samples[variant], samples["none"], strict=True)
    return statistics.median(v - none for v, none in pairs)


def rows_of(samples: dict[str, dict[str, list[float]]]) -> list[Row]:
    """The report: µs per call and per chunk, and the targets' ratios."""
    us = 1e6
    rows: list[Row] = []
    for mode in ("sync", "async"):
        call, stream = samples[f"{mode}.call"], samples[f"{mode}.stream"]
        floor = statistics.median(call["none"]) * us
        rows.append(Row(f"{mode}.call.cpu.none", floor, "us"))
        extra = {v: added(call, v) * us for v in VARIANTS[1:]}
        for variant, value in extra.items():
            rows.append(Row(f"{mode}.call.added.{variant}", value, "us", floor))
        rows.append(
            Row(
                f"{mode}.call.agentwatch_over_span",
                extra["agentwatch"] / extra["span"],
                "x",
                target=1.25,
            )
        )
        rows.append(
            Row(
                f"{mode}.call.agentwatch_over_official",
                extra["agentwatch"] / extra["official"],
                "x",
                target=1.0,
            )
        )
        stream_floor = statistics.median(stream["none"]) * us
        rows.append(Row(f"{mode}.stream.cpu.none", stream_floor, "us"))
        short = samples[f"{mode}.short"]
        for variant in VARIANTS[1:]:
            # The cost of one more chunk: the slope between the short and the long stream, so a
            # stream's fixed costs (its proxy, its end) are not charged to its chunks.
            slope = (added(stream, variant) - added(short, variant)) * us / (CHUNKS - SHORT)
            target = 2.0 if variant == "agentwatch" else None
            floor_chunk = stream_floor / CHUNKS
            rows.append(Row(f"{mode}.stream.per_chunk.{variant}", slope, "us", floor_chunk, target))
        for variant in VARIANTS[1:]:
            # Everything a stream adds beyond a plain call, charged to its chunks: an upper bound.
            all_in = (added(stream, variant) * us - extra[variant]) / CHUNKS
            rows.append(
                Row(
                    f"{mode}.stream.per_chunk_all_in.{variant}", all_in, "us", stream_floor / CHUNKS
                )
            )
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny counts, for the smoke test")
    parser.add_argument("--json", metavar="PATH", help="also write the rows as JSON")
    parser.add_argument("--check", action="store_true", help="exit 1 if a target is missed")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.ERROR)
    counts = QUICK if args.quick else FULL
    bench = Bench()
    try:
        bench.check()
        rows = rows_of(measure(bench, counts))
    finally:
        bench.close()
    print(
        f"agentwatch instrumentation benchmark: openai {openai.__version__}, {CHUNKS}-chunk "
        f"streams; {counts}"
    )
    print(table(rows))
    if args.json:
        write_json(args.json, rows, counts=dataclasses.asdict(counts))
    return exit_code(rows, args.check)


if __name__ == "__main__":
    sys.exit(main())
