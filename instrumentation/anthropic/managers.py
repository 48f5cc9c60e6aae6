"""`messages.stream()`: the SDK's manager, seen through, with one span per helper stream.

The manager's `__enter__` sends the request itself (not through `create`) and wraps the SDK
stream in a `MessageStream` helper, whose iteration, `text_stream`, `until_done()`,
`get_final_message()` and `close()` all read or close that SDK stream, its `_raw_stream`.
The proxy here opens the invocation at `__enter__`, and puts a stream proxy in the helper's
`_raw_stream` before anything has read it: every event is seen, and the invocation ends when
the stream is exhausted, fails, is closed, its `with` block ends, or it is collected. The
caller gets the SDK's very own `MessageStream`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import anthropic
import wrapt

from agentwatch.instrumentation.anthropic import dedup
from agentwatch.instrumentation.anthropic import responses as rs
from agentwatch.instrumentation.invocation import Invocation, call_async, call_sync
from agentwatch.instrumentation.streams import observe
from agentwatch.instrumentation.telemetry import Telemetry

WHERE = "anthropic.messages.stream"


def _observe(inv: Invocation, helper: Any) -> Any:
    """Observe `helper._raw_stream` (still unread) in place; end now when there is none."""
    raw = getattr(helper, "_raw_stream", None)
    if isinstance(raw, (anthropic.Stream, anthropic.AsyncStream)) and isinstance(
        inv, rs.MessageStream
    ):
        helper._raw_stream = observe(raw, inv, rs.on_event)  # type: ignore[arg-type]
    # An older helper that is itself the SDK stream ends with the `with` block.
    return helper


class _Manager(wrapt.ObjectProxy[Any]):
    def __init__(self, wrapped: Any, telemetry: Telemetry, start: Callable[[], Invocation]) -> None:
        super().__init__(wrapped)
        self._self_telemetry = telemetry
        self._self_start = start
        self._self_inv: Invocation | None = None

    def _self_begin(self) -> Invocation:
        self._self_inv = self._self_start()
        return self._self_inv

    def _self_failed(self, exc_info: tuple[Any, ...]) -> Invocation | None:
        inv = self._self_inv
        # An exception leaving the `with` block ends the call with it (first end wins).
        if inv is not None and exc_info[1] is not None:
            inv.end(exc_info[1])
        return inv


class StreamManager(_Manager):
    """A `MessageStreamManager` whose `with` block is one invocation."""

    def __enter__(self) -> Any:
        def finish(inv: Invocation, helper: Any) -> Any:
            return _observe(inv, helper)

        enter = self.__wrapped__.__enter__
        return call_sync(
            self._self_telemetry, WHERE, self._self_begin, lambda: dedup.marked(enter), finish
        )

    def __exit__(self, *exc_info: Any) -> Any:
        inv = self._self_failed(exc_info)
        try:
            return self.__wrapped__.__exit__(*exc_info)
        finally:
            if inv is not None:
                inv.end()


class AsyncStreamManager(_Manager):
    """An `AsyncMessageStreamManager` whose `async with` block is one invocation."""

    async def __aenter__(self) -> Any:
        def finish(inv: Invocation, helper: Any) -> Any:
            return _observe(inv, helper)

        enter = self.__wrapped__.__aenter__
        return await call_async(
            self._self_telemetry,
            WHERE,
            self._self_begin,
            lambda: dedup.marked_async(enter),
            finish,
        )

    async def __aexit__(self, *exc_info: Any) -> Any:
        inv = self._self_failed(exc_info)
        try:
            return await self.__wrapped__.__aexit__(*exc_info)
        finally:
            if inv is not None:
                inv.end()
