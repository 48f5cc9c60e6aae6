"""One GenAI span per call: mark the calls agentwatch traces, and quiet the SDK's span inside them.

anthropic 2.x starts its own CLIENT span for each API call (`anthropic._tracing`,
`start_api_call_span`) whenever the client has a tracer: a `tracer_provider` in its
`open_telemetry` option, or the global one, unless `ANTHROPIC_OPEN_TELEMETRY=false`. That span
is also what the SDK writes into the request's `traceparent`. Inside a call agentwatch traces,
the wrapper here answers the SDK with a non-recording stand-in that carries agentwatch's span
context instead of a span of its own: the SDK records nothing, and the request still goes out
with a `traceparent` (now naming agentwatch's span), exactly as the SDK's propagation settings
say. Calls agentwatch does not trace (`models.list`, batches, ...) keep the SDK's span.
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar
from typing import Any, TypeVar

from opentelemetry import trace

from agentwatch.instrumentation.base import Wrapper
from agentwatch.instrumentation.telemetry import Telemetry

T = TypeVar("T")

_traced: ContextVar[bool] = ContextVar("anthropic_traced_call", default=False)
"""True inside a traced call: nested wrapped methods and the SDK's own span stay quiet."""


def inside() -> bool:
    """True while a call agentwatch traces is running in this context."""
    return _traced.get()


def marked(call: Callable[[], T]) -> T:
    """Run `call()` as part of a traced call."""
    token = _traced.set(True)
    try:
        return call()
    finally:
        _traced.reset(token)


async def marked_async(call: Callable[[], Any]) -> Any:
    """`marked` for a coroutine function."""
    token = _traced.set(True)
    try:
        return await call()
    finally:
        _traced.reset(token)


def quiet_sdk_span(telemetry: Telemetry) -> Wrapper:
    """A wrapper for `anthropic._base_client.start_api_call_span`."""

    def wrapper(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if not _traced.get():
            return wrapped(*args, **kwargs)
        # agentwatch's span is current here (call_sync attached it): hand the SDK its context.
        context = trace.get_current_span().get_span_context()
        return trace.NonRecordingSpan(context) if context.is_valid else None

    return wrapper
