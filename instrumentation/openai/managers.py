"""The `stream()` helpers' managers, seen through: one span per helper stream, ended on time.

`client.chat.completions.stream(...)` and `client.responses.stream(...)` return a manager whose
`__enter__` calls `create(stream=True)` (already wrapped: it opens the span and proxies the
SDK stream, which sees every chunk) and wraps the result in a helper stream. Closing that helper
closes the HTTP response, not the SDK stream, so without help the span would end only when the
garbage collector took the stream. These proxies pick up the invocation the inner `create`
opened and end it when the `with` block ends or the helper is closed.
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import Any

import wrapt

from agentwatch.instrumentation.invocation import Invocation
from agentwatch.instrumentation.streams import AsyncEnding, Ending

_opened: ContextVar[list[Invocation] | None] = ContextVar("openai_stream_opened", default=None)
"""Set by a manager's `__enter__`: collects the invocation its inner `create` opens."""


def opened_stream(inv: Invocation) -> None:
    """Tell the manager being entered, if any, which invocation its stream belongs to."""
    opened = _opened.get()
    if opened is not None:
        opened.append(inv)


class StreamManager(wrapt.ObjectProxy[Any]):
    """An SDK stream manager whose `with` block ends the invocation of the stream it opened."""

    def __init__(self, wrapped: Any) -> None:
        super().__init__(wrapped)
        self._self_inv: Invocation | None = None

    def __enter__(self) -> Any:
        opened: list[Invocation] = []
        token = _opened.set(opened)
        try:
            stream = self.__wrapped__.__enter__()
        finally:
            _opened.reset(token)
        self._self_inv = opened[0] if opened else None
        if self._self_inv is None:  # the SDK opened the stream without `create`: not ours
            return stream
        return HelperStream(stream, self._self_inv)

    def __exit__(self, *exc_info: Any) -> Any:
        try:
            return self.__wrapped__.__exit__(*exc_info)
        finally:
            if self._self_inv is not None:
                self._self_inv.end(exc_info[1])


class AsyncStreamManager(wrapt.ObjectProxy[Any]):
    """`StreamManager` for the async managers."""

    def __init__(self, wrapped: Any) -> None:
        super().__init__(wrapped)
        self._self_inv: Invocation | None = None

    async def __aenter__(self) -> Any:
        opened: list[Invocation] = []
        token = _opened.set(opened)
        try:
            stream = await self.__wrapped__.__aenter__()
        finally:
            _opened.reset(token)
        self._self_inv = opened[0] if opened else None
        if self._self_inv is None:
            return stream
        return AsyncHelperStream(stream, self._self_inv)

    async def __aexit__(self, *exc_info: Any) -> Any:
        try:
            return await self.__wrapped__.__aexit__(*exc_info)
        finally:
            if self._self_inv is not None:
                self._self_inv.end(exc_info[1])


class HelperStream(Ending):
    """A helper stream (`ChatCompletionStream`, `ResponseStream`) whose `close()` ends the call.

    Its events come from the observed SDK stream underneath, which already sees every chunk.
    """

    def __next__(self) -> Any:
        return self.__wrapped__.__next__()

    def __iter__(self) -> Any:
        return iter(self.__wrapped__)


class AsyncHelperStream(AsyncEnding):
    """`HelperStream` for the async helper streams."""

    def __aiter__(self) -> Any:
        return self.__wrapped__.__aiter__()

    async def __anext__(self) -> Any:
        return await self.__wrapped__.__anext__()
