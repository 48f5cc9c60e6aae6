"""Stream proxies: the SDK's own stream object, seen through, ending the invocation exactly once.

`SyncStream` and `AsyncStream` are `wrapt.ObjectProxy` subclasses, so `isinstance(s, openai.Stream)`
still holds and every attribute and helper method of the SDK's object works. Each chunk goes to
the provider's `on_chunk(invocation, chunk)`; the invocation ends when the stream is exhausted,
fails, is closed, leaves its `with` block, or is garbage-collected unfinished (a `break` without
`close()`), whichever comes first. A failure inside `on_chunk` is counted and the chunk still
reaches the caller.
"""

from __future__ import annotations

from collections.abc import Callable
from time import perf_counter
from typing import Any

import wrapt

from agentwatch.instrumentation.invocation import Invocation

OnChunk = Callable[[Invocation, Any], None]


class _Tracking(wrapt.ObjectProxy[Any]):
    def __init__(self, wrapped: Any, invocation: Invocation, on_chunk: OnChunk) -> None:
        super().__init__(wrapped)
        self._self_inv = invocation
        self._self_on_chunk = on_chunk
        self._self_stamp = invocation.chunk_stamper()

    def _self_failed(self, exc: Exception) -> None:
        inv = self._self_inv
        inv.telemetry.error(f"{inv.provider}.{inv.operation}.stream", exc)

    def __del__(self) -> None:
        # An unfinished stream that is dropped (a `break` and no close): end with what we saw.
        inv = getattr(self, "_self_inv", None)
        if inv is not None:
            inv.end()


class SyncStream(_Tracking):
    """A proxy for a synchronous SDK stream."""

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

    def __enter__(self) -> SyncStream:
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


class AsyncStream(_Tracking):
    """A proxy for an asynchronous SDK stream."""

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

    async def __aenter__(self) -> AsyncStream:
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
