"""The wrapt wrapper every client's traced methods share: one invocation per outermost call.

A client module supplies what differs: `start` (an `Invocation` from the request), `finish`
(read the result, or proxy a stream) and optionally `prepare` (rewrite the request's keyword
arguments, as OpenAI's `include_usage` does). Everything else is here, once: a call made
inside a traced call (an SDK helper that goes through another wrapped method) is not traced
again, the SDK's result or exception reaches the caller unchanged (`call_sync`/`call_async`),
and a failing `prepare` is counted and the call goes on with the caller's arguments.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from contextvars import ContextVar
from typing import Any, TypeVar

from agentwatch.instrumentation.base import Wrapper
from agentwatch.instrumentation.invocation import Invocation, call_async, call_sync
from agentwatch.instrumentation.telemetry import Telemetry

T = TypeVar("T")
Start = Callable[[Telemetry, Any, Mapping[str, Any]], Invocation]
Finish = Callable[[Invocation, Any], Any]
Prepare = Callable[[dict[str, Any]], dict[str, Any]]


class Marker:
    """Whether a traced call of one SDK is running in this context (a `ContextVar`)."""

    def __init__(self, name: str) -> None:
        self._var: ContextVar[bool] = ContextVar(name, default=False)

    def inside(self) -> bool:
        """True while a call agentwatch traces is running in this context."""
        return self._var.get()

    def run(self, call: Callable[[], T]) -> T:
        """Run `call()` as part of a traced call."""
        token = self._var.set(True)
        try:
            return call()
        finally:
            self._var.reset(token)

    async def run_async(self, call: Callable[[], Awaitable[T]]) -> T:
        """`run` for a coroutine function."""
        token = self._var.set(True)
        try:
            return await call()
        finally:
            self._var.reset(token)


def _prepared(
    telemetry: Telemetry, where: str, prepare: Prepare | None, kwargs: dict[str, Any]
) -> dict[str, Any]:
    if prepare is None:
        return kwargs
    try:
        return prepare(kwargs)
    except Exception as exc:  # the caller's own arguments then: the call must go on
        telemetry.error(where, exc)
        return kwargs


def traced(
    telemetry: Telemetry,
    where: str,
    marker: Marker,
    start: Start,
    finish: Finish,
    prepare: Prepare | None = None,
) -> Wrapper:
    """A wrapper for a synchronous SDK method: one invocation per outermost call."""

    def wrapper(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if marker.inside():
            return wrapped(*args, **kwargs)
        kwargs = _prepared(telemetry, where, prepare, kwargs)

        def begin() -> Invocation:
            return start(telemetry, instance, kwargs)

        def call() -> Any:
            return marker.run(lambda: wrapped(*args, **kwargs))

        return call_sync(telemetry, where, begin, call, finish)

    return wrapper


def traced_async(
    telemetry: Telemetry,
    where: str,
    marker: Marker,
    start: Start,
    finish: Finish,
    prepare: Prepare | None = None,
) -> Wrapper:
    """`traced` for the coroutine methods of the async resources."""

    async def wrapper(
        wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        if marker.inside():
            return await wrapped(*args, **kwargs)
        kwargs = _prepared(telemetry, where, prepare, kwargs)

        def begin() -> Invocation:
            return start(telemetry, instance, kwargs)

        def call() -> Any:
            return marker.run_async(lambda: wrapped(*args, **kwargs))

        return await call_async(telemetry, where, begin, call, finish)

    return wrapper
