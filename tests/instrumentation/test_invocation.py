"""One call, one span, metrics recorded exactly once: plain calls and stream proxies."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from agentwatch import names
from agentwatch.instrumentation import semconv as sc
from agentwatch.instrumentation.invocation import Invocation, call_async, call_sync
from agentwatch.instrumentation.streams import (
    AsyncStream,
    ObservedAsyncStream,
    ObservedStream,
    SyncStream,
    observe,
)
from agentwatch.instrumentation.telemetry import Telemetry
from tests.instrumentation.conftest import finished, points


class FakePrices:
    def cost(self, provider: str, model: str, **tokens: int) -> float | None:
        return 0.001 * tokens["input_tokens"] + 0.002 * tokens["output_tokens"]


@pytest.fixture
def priced(telemetry: Telemetry) -> Telemetry:
    telemetry.prices = FakePrices()  # type: ignore[assignment]
    return telemetry


def start(telemetry: Telemetry) -> Invocation:
    return Invocation(
        telemetry,
        sc.OP_CHAT,
        sc.PROVIDER_OPENAI,
        "gpt-4o-mini",
        {sc.REQUEST_MAX_TOKENS: 64},
        "api.openai.com",
        443,
    )


def with_usage(inv: Invocation, result: Any) -> Any:
    inv.response_model, inv.response_id = "gpt-4o-mini-2024-07-18", "chatcmpl-1"
    inv.finish_reasons, inv.input_tokens, inv.output_tokens = ["stop"], 10, 5
    inv.end()
    return result


def test_a_plain_call_yields_one_span_and_its_metrics(
    priced: Telemetry, span_exporter: InMemorySpanExporter, metric_reader: InMemoryMetricReader
) -> None:
    result = object()
    got = call_sync(priced, "t", lambda: start(priced), lambda: result, with_usage)
    assert got is result
    (span,) = finished(span_exporter)
    assert span.name == "chat gpt-4o-mini" and span.kind is SpanKind.CLIENT
    attrs = dict(span.attributes or {})
    assert attrs[sc.OPERATION_NAME] == "chat" and attrs[sc.PROVIDER_NAME] == "openai"
    assert attrs[sc.USAGE_INPUT_TOKENS] == 10 and attrs[sc.USAGE_OUTPUT_TOKENS] == 5
    assert attrs[sc.RESPONSE_FINISH_REASONS] == ("stop",)
    assert attrs[sc.COST_USD] == pytest.approx(0.02)
    (duration,) = points(metric_reader, names.GEN_AI_OPERATION_DURATION.otel)
    assert tuple(duration.explicit_bounds) == names.DURATION_BUCKETS
    tokens = points(metric_reader, names.GEN_AI_TOKEN_USAGE.otel)
    assert sorted((p.attributes[sc.TOKEN_TYPE], p.sum) for p in tokens) == [
        ("input", 10),
        ("output", 5),
    ]
    assert tuple(tokens[0].explicit_bounds) == names.TOKEN_BUCKETS
    (cost,) = points(metric_reader, names.LLM_COST.otel)
    assert cost.value == pytest.approx(0.02)


def test_an_error_reaches_the_caller_unchanged_and_marks_the_span(
    telemetry: Telemetry, span_exporter: InMemorySpanExporter, metric_reader: InMemoryMetricReader
) -> None:
    class APIStatusError(Exception):
        status_code = 429

    boom = APIStatusError("slow down")

    def call() -> None:
        raise boom

    with pytest.raises(APIStatusError) as caught:
        call_sync(telemetry, "t", lambda: start(telemetry), call, with_usage)
    assert caught.value is boom
    (span,) = finished(span_exporter)
    assert span.status.status_code is StatusCode.ERROR
    assert dict(span.attributes or {})[sc.ERROR_TYPE] == "429"
    (duration,) = points(metric_reader, names.GEN_AI_OPERATION_DURATION.otel)
    assert duration.attributes[sc.ERROR_TYPE] == "429"


def test_a_bug_in_agentwatch_never_breaks_the_call(
    telemetry: Telemetry, metric_reader: InMemoryMetricReader
) -> None:
    def broken_finish(inv: Invocation, result: Any) -> Any:
        raise KeyError("agentwatch bug")

    assert call_sync(telemetry, "t", lambda: start(telemetry), lambda: 42, broken_finish) == 42
    assert call_sync(telemetry, "t", lambda: 1 / 0, lambda: 43, with_usage) == 43  # type: ignore
    errors = points(metric_reader, names.INSTRUMENTATION_ERRORS.otel)
    assert sorted(p.attributes[sc.ERROR] for p in errors) == ["KeyError", "ZeroDivisionError"]


def test_end_records_once_whoever_calls_it(
    telemetry: Telemetry, span_exporter: InMemorySpanExporter, metric_reader: InMemoryMetricReader
) -> None:
    inv = start(telemetry)
    inv.input_tokens = 3
    for _ in range(3):
        inv.end()
    assert len(finished(span_exporter)) == 1
    (point,) = points(metric_reader, names.GEN_AI_TOKEN_USAGE.otel)
    assert point.count == 1 and point.sum == 3


class SdkStream:
    """The shape of an SDK stream: an iterator with close() and a context manager."""

    def __init__(self, n: int, fail_at: int | None = None) -> None:
        self._chunks = iter(range(n))
        self._fail_at = fail_at
        self.closed = False
        self.response = "http-response"

    def __iter__(self) -> Iterator[int]:
        return self

    def __next__(self) -> int:
        chunk = next(self._chunks)
        if chunk == self._fail_at:
            raise ConnectionError("cut mid-stream")
        return chunk

    def __enter__(self) -> SdkStream:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        self.closed = True


class GeneratorSdkStream(SdkStream):
    """The shape of openai's and anthropic's streams: every chunk comes from one generator."""

    def __init__(self, n: int, fail_at: int | None = None) -> None:
        super().__init__(n, fail_at)
        self._iterator = self._stream()

    def _stream(self) -> Iterator[int]:
        for chunk in self._chunks:
            if chunk == self._fail_at:
                raise ConnectionError("cut mid-stream")
            yield chunk

    def __iter__(self) -> Iterator[int]:
        yield from self._iterator

    def __next__(self) -> int:
        return self._iterator.__next__()


SHAPES = {"per-chunk-proxy": SdkStream, "in-place": GeneratorSdkStream}
EXPECTED_PROXY = {"per-chunk-proxy": SyncStream, "in-place": ObservedStream}


@pytest.fixture(params=list(SHAPES))
def shape(request: pytest.FixtureRequest) -> str:
    """Both ways `observe` works: its generator in place, or a proxy seeing each chunk."""
    return str(request.param)


def count_output(inv: Invocation, chunk: int) -> None:
    inv.output_tokens = (inv.output_tokens or 0) + 1


def stream(telemetry: Telemetry, shape: str, n: int = 5, fail_at: int | None = None) -> Any:
    s = observe(SHAPES[shape](n, fail_at), start(telemetry), count_output)
    assert type(s) is EXPECTED_PROXY[shape]
    return s


def output_points(metric_reader: InMemoryMetricReader) -> list[Any]:
    return [
        p
        for p in points(metric_reader, names.GEN_AI_TOKEN_USAGE.otel)
        if p.attributes[sc.TOKEN_TYPE] == "output"
    ]


def test_a_consumed_stream_ends_once_with_its_chunk_timings(
    shape: str,
    telemetry: Telemetry,
    span_exporter: InMemorySpanExporter,
    metric_reader: InMemoryMetricReader,
) -> None:
    s = stream(telemetry, shape)
    assert isinstance(s, SdkStream) and s.response == "http-response"
    assert list(s) == [0, 1, 2, 3, 4]
    s.close()
    (span,) = finished(span_exporter)
    assert sc.RESPONSE_TIME_TO_FIRST_CHUNK in (span.attributes or {})
    (point,) = output_points(metric_reader)
    assert point.sum == 5 and point.count == 1
    (first,) = points(metric_reader, names.GEN_AI_TIME_TO_FIRST_CHUNK.otel)
    assert first.count == 1
    (per_chunk,) = points(metric_reader, names.GEN_AI_TIME_PER_OUTPUT_CHUNK.otel)
    assert per_chunk.count == 4


@pytest.mark.parametrize("how", ["close", "with", "gc"], ids=str)
def test_a_stream_broken_out_of_ends_once(
    how: str,
    shape: str,
    telemetry: Telemetry,
    span_exporter: InMemorySpanExporter,
    metric_reader: InMemoryMetricReader,
) -> None:
    if how == "with":
        with stream(telemetry, shape) as s:
            for chunk in s:
                if chunk == 1:
                    break
    else:
        s = stream(telemetry, shape)
        for chunk in s:
            if chunk == 1:
                break
        if how == "close":
            s.close()
        del s
        if how == "gc":
            # Dropping the caller's reference is enough: no garbage collection is needed.
            assert len(finished(span_exporter)) == 1
    assert len(finished(span_exporter)) == 1
    (point,) = output_points(metric_reader)
    assert point.sum == 2


def test_a_stream_cut_midway_raises_the_sdks_error_and_ends_with_error_type(
    shape: str, telemetry: Telemetry, span_exporter: InMemorySpanExporter
) -> None:
    s = stream(telemetry, shape, fail_at=2)
    with pytest.raises(ConnectionError, match="cut mid-stream"):
        list(s)
    (span,) = finished(span_exporter)
    assert dict(span.attributes or {})[sc.ERROR_TYPE] == "ConnectionError"
    assert dict(span.attributes or {})[sc.USAGE_OUTPUT_TOKENS] == 2


def test_a_failing_chunk_parser_never_costs_the_caller_a_chunk(
    shape: str, telemetry: Telemetry, metric_reader: InMemoryMetricReader
) -> None:
    def broken(inv: Invocation, chunk: int) -> None:
        raise ValueError("parser bug")

    s = observe(SHAPES[shape](3), start(telemetry), broken)
    assert list(s) == [0, 1, 2]
    errors = points(metric_reader, names.INSTRUMENTATION_ERRORS.otel)
    assert [p.value for p in errors] == [3]


class AsyncSdkStream:
    def __init__(self, n: int) -> None:
        self._n = n
        self.closed = False

    def __aiter__(self) -> AsyncIterator[int]:
        return self

    async def __anext__(self) -> int:
        if self._n == 0:
            raise StopAsyncIteration
        self._n -= 1
        await asyncio.sleep(0)
        return self._n

    async def close(self) -> None:
        self.closed = True


class AsyncGeneratorSdkStream(AsyncSdkStream):
    def __init__(self, n: int) -> None:
        super().__init__(n)
        self._iterator = self._stream()

    async def _stream(self) -> AsyncIterator[int]:
        while True:
            try:
                yield await AsyncSdkStream.__anext__(self)
            except StopAsyncIteration:
                return

    async def __aiter__(self) -> AsyncIterator[int]:  # type: ignore[override]
        async for chunk in self._iterator:
            yield chunk

    async def __anext__(self) -> int:
        return await self._iterator.__anext__()


ASYNC_SHAPES = {"per-chunk-proxy": AsyncSdkStream, "in-place": AsyncGeneratorSdkStream}


def test_concurrent_async_streams_each_end_once_with_their_own_counts(
    shape: str,
    telemetry: Telemetry,
    span_exporter: InMemorySpanExporter,
    metric_reader: InMemoryMetricReader,
) -> None:
    async def one(n: int) -> int:
        async def call() -> AsyncSdkStream:
            await asyncio.sleep(0)
            return ASYNC_SHAPES[shape](n)

        def wrap(inv: Invocation, result: Any) -> Any:
            proxy = observe(result, inv, count_output)
            assert isinstance(proxy, ObservedAsyncStream if shape == "in-place" else AsyncStream)
            return proxy

        s = await call_async(telemetry, "t", lambda: start(telemetry), call, wrap)
        got = [chunk async for chunk in s]
        await s.close()
        return len(got)

    async def main() -> list[int]:
        return await asyncio.gather(*(one(1 + i % 7) for i in range(1000)))

    counts = asyncio.run(main())
    assert sum(counts) == sum(1 + i % 7 for i in range(1000))
    streamed = finished(span_exporter)
    assert len(streamed) == 1000  # every span ended, none twice
    assert len({s.context.trace_id for s in streamed}) == 1000  # no context leak across tasks
    assert sum(dict(s.attributes or {})[sc.USAGE_OUTPUT_TOKENS] for s in streamed) == sum(counts)
    (point,) = output_points(metric_reader)
    assert point.sum == sum(counts) and point.count == 1000


def test_a_loop_left_and_a_new_one_go_on_with_the_same_stream_and_span(
    shape: str, telemetry: Telemetry, span_exporter: InMemorySpanExporter
) -> None:
    s = stream(telemetry, shape)
    first = [chunk for _, chunk in zip(range(2), s, strict=False)]
    assert finished(span_exporter) == []  # leaving a loop is not the end of the stream
    rest = list(s)
    assert first + rest == [0, 1, 2, 3, 4]
    (span,) = finished(span_exporter)
    assert dict(span.attributes or {})[sc.USAGE_OUTPUT_TOKENS] == 5
