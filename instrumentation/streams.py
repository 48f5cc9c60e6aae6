"""Stream observation: the SDK's own stream, its chunks seen, the invocation ended exactly once.

`observe(stream, invocation, on_chunk)` is what a provider module calls with the stream an SDK
call returned. Both SDKs' `Stream`/`AsyncStream` read their chunks from one generator, their
`_iterator`: it is replaced, in place and before anyone reads it, by one that passes each chunk
to `on_chunk(invocation, chunk)` and on, and ends the invocation when the chunks run out or the
SDK's iteration fails (its exception re-raised as is). The caller gets the SDK's stream behind
an `ObservedStream` proxy (`isinstance(s, openai.Stream)` holds; every helper and attribute is
the SDK's) whose iteration goes straight to that generator: a chunk costs generator
resumptions and the parser, no proxy call. The proxy ends the invocation when the stream is
closed (`close()`, the `with` block) or dropped unfinished (a `break` without `close()`).

A stream of another shape (an SDK release without `_iterator`) gets `SyncStream`/`AsyncStream`,
proxies that see each chunk in their `__next__`/`__anext__`. A failure inside `on_chunk` is
counted and the chunk still reaches the caller.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from time import perf_counter
from typing import Any

import wrapt

from agentwatch.instrumentation.invocation import Invocation

OnChunk = Callable[[Invocation, Any], None]


def observe(stream: Any, invocation: Invocation, on_chunk: OnChunk) -> Any:
    """`stream` with its chunks going through `on_chunk`, behind a proxy that ends on time."""
    iterator: Any = getattr(stream, "_iterator", None)
    try:
        if inspect.isgenerator(iterator):
            chunks = _chunks(iterator, invocation, on_chunk)
            stream._iterator = chunks
            return ObservedStream(stream, invocation, chunks)
        if inspect.isasyncgen(iterator):
            async_chunks = _async_chunks(iterator, invocation, on_chunk)
            stream._iterator = async_chunks
            return ObservedAsyncStream(stream, invocation, async_chunks)
    except (AttributeError, TypeError):  # slots, a read-only attribute: proxy every chunk
        pass
    if hasattr(stream, "__anext__") or hasattr(stream, "__aiter__"):
        return AsyncStream(stream, invocation, on_chunk)
    return SyncStream(stream, invocation, on_chunk)


def _failed(invocation: Invocation, exc: Exception) -> None:
    invocation.telemetry.error(f"{invocation.provider}.{invocation.operation}.stream", exc)


def _chunks(iterator: Iterator[Any], invocation: Invocation, on_chunk: OnChunk) -> Iterator[Any]:
    stamp = invocation.chunk_stamper()
    try:
        for chunk in iterator:
            # The hot path of every stream: a timestamp, then the provider's parser.
            stamp(perf_counter())
            try:
                on_chunk(invocation, chunk)
            except Exception as exc:
                _failed(invocation, exc)
            yield chunk
    except GeneratorExit:  # closed before the end: by the SDK's close(), or collected
        invocation.end()
        raise
    except BaseException as exc:
        invocation.end(exc)
        raise
    invocation.end()


async def _async_chunks(
    iterator: AsyncIterator[Any], invocation: Invocation, on_chunk: OnChunk
) -> AsyncIterator[Any]:
    stamp = invocation.chunk_stamper()
    try:
        async for chunk in iterator:
            stamp(perf_counter())
            try:
                on_chunk(invocation, chunk)
            except Exception as exc:
                _failed(invocation, exc)
            yield chunk
    except GeneratorExit:
        invocation.end()
        raise
    except BaseException as exc:
        invocation.end(exc)
        raise
    invocation.end()


class Ending(wrapt.ObjectProxy[Any]):
    """A synchronous SDK stream whose `with` exit and `close()` end the invocation."""

    def __init__(self, wrapped: Any, invocation: Invocation) -> None:
        super().__init__(wrapped)
        self._self_inv = invocation

    def __enter__(self) -> Any:
        self.__wrapped__.__enter__()
        return self

    def __exit__(self, *exc_info: Any) -> Any:
        try:
            return self.__wrapped__.__exit__(*exc_info)
        finally:
            self._self_inv.end(exc_info[1])

    def close(self) -> Any:
        """Close the SDK stream and end the invocation."""
        try:
            return self.__wrapped__.close()
        finally:
            self._self_inv.end()


class AsyncEnding(wrapt.ObjectProxy[Any]):
    """`Ending` for an asynchronous SDK stream (`async with`, `close()`, `aclose()`)."""

    def __init__(self, wrapped: Any, invocation: Invocation) -> None:
        super().__init__(wrapped)
        self._self_inv = invocation

    async def __aenter__(self) -> Any:
        await self.__wrapped__.__aenter__()
        return self

    async def __aexit__(self, *exc_info: Any) -> Any:
        try:
            return await self.__wrapped__.__aexit__(*exc_info)
        finally:
            self._self_inv.end(exc_info[1])

    async def close(self) -> Any:
        """Close the SDK stream and end the invocation."""
        try:
            return await self.__wrapped__.close()
        finally:
            self._self_inv.end()

    async def aclose(self) -> Any:
        """Close the SDK stream (async generator protocol) and end the invocation."""
        try:
            closer = getattr(self.__wrapped__, "aclose", None) or self.__wrapped__.close
            return await closer()
        finally:
            self._self_inv.end()


class _EndsWhenDropped:
    """Dropped unfinished (a `break` and no close): end with what was seen. The SDK stream
    itself sits in a reference cycle (its generator holds it), so only its proxy can tell."""

    def __del__(self) -> None:
        inv = getattr(self, "_self_inv", None)
        if inv is not None:
            inv.end()


class _PerChunk(_EndsWhenDropped):
    """What the per-chunk proxies share: the parser and the chunk timestamps."""

    _self_inv: Invocation

    def _self_track(self, invocation: Invocation, on_chunk: OnChunk) -> None:
        self._self_on_chunk = on_chunk
        self._self_stamp = invocation.chunk_stamper()

    def _self_failed(self, exc: Exception) -> None:
        _failed(self._self_inv, exc)


class SyncStream(_PerChunk, Ending):
    """A proxy for a synchronous SDK stream of another shape: it sees each chunk itself."""

    def __init__(self, wrapped: Any, invocation: Invocation, on_chunk: OnChunk) -> None:
        super().__init__(wrapped, invocation)
        self._self_track(invocation, on_chunk)

    def __iter__(self) -> SyncStream:
        return self

    def __next__(self) -> Any:
        try:
            chunk = next(self.__wrapped__)
        except StopIteration:
            self._self_inv.end()
            raise
        except BaseException as exc:
            self._self_inv.end(exc)
            raise
        # The hot path of every stream (kept inline): a timestamp, then the provider's parser.
        self._self_stamp(perf_counter())
        try:
            self._self_on_chunk(self._self_inv, chunk)
        except Exception as exc:
            self._self_failed(exc)
        return chunk


class AsyncStream(_PerChunk, AsyncEnding):
    """`SyncStream` for an asynchronous SDK stream."""

    def __init__(self, wrapped: Any, invocation: Invocation, on_chunk: OnChunk) -> None:
        super().__init__(wrapped, invocation)
        self._self_track(invocation, on_chunk)

    def __aiter__(self) -> AsyncStream:
        return self

    async def __anext__(self) -> Any:
        try:
            chunk = await self.__wrapped__.__anext__()
        except StopAsyncIteration:
            self._self_inv.end()
            raise
        except BaseException as exc:
            self._self_inv.end(exc)
            raise
        self._self_stamp(perf_counter())
        try:
            self._self_on_chunk(self._self_inv, chunk)
        except Exception as exc:
            self._self_failed(exc)
        return chunk


class ObservedStream(_EndsWhenDropped, Ending):
    """A synchronous SDK stream whose generator `observe` replaced: iteration goes straight to it.

    `for chunk in stream` runs through one plain loop over that generator, which holds this
    proxy while the loop runs, so the proxy lives exactly as long as the iteration or the
    caller's reference.
    """

    def __init__(self, wrapped: Any, invocation: Invocation, chunks: Iterator[Any]) -> None:
        super().__init__(wrapped, invocation)
        self._self_chunks = chunks
        """The generator `observe` put in the SDK stream's `_iterator`."""

    def __iter__(self) -> Iterator[Any]:
        return self._self_iterate()

    def _self_iterate(self) -> Iterator[Any]:
        # The SDKs' own __iter__ is `for item in self._iterator: yield item`: the same loop,
        # one generator fewer per chunk. Not `yield from`: leaving a loop closes this
        # generator, and must not close the stream's, which a later loop may go on reading.
        for chunk in self._self_chunks:  # noqa: UP028 - yield from would close it on a break
            yield chunk

    def __next__(self) -> Any:
        return next(self.__wrapped__)


class ObservedAsyncStream(_EndsWhenDropped, AsyncEnding):
    """`ObservedStream` for an asynchronous SDK stream."""

    def __init__(self, wrapped: Any, invocation: Invocation, chunks: AsyncIterator[Any]) -> None:
        super().__init__(wrapped, invocation)
        self._self_chunks = chunks

    def __aiter__(self) -> ObservedAsyncStream:
        return self

    def __anext__(self) -> Awaitable[Any]:
        # Not a coroutine: the observing generator's own awaitable, so a chunk costs this one
        # call and no coroutine of ours. `async for` holds this proxy while it runs, and
        # leaving the loop closes nothing: a later loop goes on with the same stream.
        return self._self_chunks.__anext__()
