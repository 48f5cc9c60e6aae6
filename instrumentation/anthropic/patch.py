"""Wrapper factories for the Anthropic SDK's Messages methods: one span per call, streams kept.

Each wrapped call opens one invocation and runs the SDK method marked as traced (see
`dedup`), so a wrapped method it calls in turn, and the SDK's own span, add nothing.
`create(stream=True)` returns the SDK stream behind a proxy that reads its events;
`stream()` only builds a manager, whose `__enter__` sends the request (see `managers`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import anthropic

from agentwatch.instrumentation import semconv as sc
from agentwatch.instrumentation import values
from agentwatch.instrumentation.anthropic import dedup
from agentwatch.instrumentation.anthropic import request as rq
from agentwatch.instrumentation.anthropic import responses as rs
from agentwatch.instrumentation.anthropic.managers import AsyncStreamManager, StreamManager
from agentwatch.instrumentation.base import Wrapper
from agentwatch.instrumentation.invocation import Invocation
from agentwatch.instrumentation.quality.toolcalls import anthropic_tools
from agentwatch.instrumentation.streams import observe
from agentwatch.instrumentation.telemetry import Telemetry
from agentwatch.instrumentation.wrappers import traced, traced_async

WHERE_MESSAGES = "anthropic.messages"
WHERE_COUNT_TOKENS = "anthropic.count_tokens"


def _sdk_types(*paths: tuple[str, str]) -> tuple[type, ...]:
    """The SDK classes that exist in this release, by (module, name)."""
    import importlib

    found: list[type] = []
    for module, name in paths:
        try:
            found.append(getattr(importlib.import_module(module), name))
        except (ImportError, AttributeError):
            continue
    return tuple(found)


_MESSAGES = _sdk_types(("anthropic.types", "Message"), ("anthropic.types.beta", "BetaMessage"))
_COUNTS = _sdk_types(
    ("anthropic.types", "MessageTokensCount"), ("anthropic.types.beta", "BetaMessageTokensCount")
)


# -- starting an invocation from a request -------------------------------------------------


def _invocation(
    telemetry: Telemetry,
    instance: Any,
    kwargs: Mapping[str, Any],
    operation: str,
    attributes: dict[str, Any],
    kind: type[Invocation] = Invocation,
) -> Invocation:
    client = values.client_of(instance)
    address, port = values.server(client)
    model = values.as_str(kwargs.get("model"))
    return kind(telemetry, operation, rq.provider(client), model, attributes, address, port)


def start_messages(
    telemetry: Telemetry, instance: Any, kwargs: Mapping[str, Any], stream: bool = False
) -> Invocation:
    """The invocation of a Messages request (a `MessageStream` when it streams)."""
    streaming = stream or kwargs.get("stream") is True
    attributes = rq.messages_attributes(telemetry, kwargs, streaming)
    kind = rs.MessageStream if streaming else Invocation
    inv = _invocation(telemetry, instance, kwargs, sc.OP_CHAT, attributes, kind)
    tools = kwargs.get("tools")
    if values.given(tools) and tools:
        inv.offered_tools = anthropic_tools(tools)
    if attributes.get(sc.OUTPUT_TYPE) == sc.OUTPUT_TYPE_JSON:
        inv.expect_json()
    if isinstance(inv, rs.MessageStream):
        inv.setup()
    return inv


def start_count_tokens(
    telemetry: Telemetry, instance: Any, kwargs: Mapping[str, Any]
) -> Invocation:
    """The invocation of a `count_tokens` request (content is never recorded: nothing is made)."""
    return _invocation(telemetry, instance, kwargs, sc.OP_COUNT_TOKENS, {})


# -- finishing: a whole response is read, a stream is proxied --------------------------------


def finish_messages(inv: Invocation, result: Any) -> Any:
    """Read a whole `Message`, or proxy an SDK stream that ends the invocation later."""
    if isinstance(inv, rs.MessageStream):
        if isinstance(result, (anthropic.Stream, anthropic.AsyncStream)):
            return observe(result, inv, rs.on_event)  # type: ignore[arg-type]
    # Anything else (`with_raw_response` gives an APIResponse) ends with what the request said.
    if isinstance(result, _MESSAGES):
        rs.read_message(inv, result)
    inv.end()
    return result


def finish_count_tokens(inv: Invocation, result: Any) -> Any:
    """Read a `MessageTokensCount`."""
    if isinstance(result, _COUNTS):
        rs.read_token_count(inv, result)
    inv.end()
    return result


# -- the wrappers ------------------------------------------------------------------------------


def messages_create(telemetry: Telemetry) -> Wrapper:
    """`Messages.create` and `Messages.parse` (stable and beta)."""
    return traced(telemetry, WHERE_MESSAGES, dedup.MARKER, start_messages, finish_messages)


def async_messages_create(telemetry: Telemetry) -> Wrapper:
    """`AsyncMessages.create` and `AsyncMessages.parse`."""
    return traced_async(telemetry, WHERE_MESSAGES, dedup.MARKER, start_messages, finish_messages)


def count_tokens(telemetry: Telemetry) -> Wrapper:
    """`Messages.count_tokens`."""
    return traced(
        telemetry, WHERE_COUNT_TOKENS, dedup.MARKER, start_count_tokens, finish_count_tokens
    )


def async_count_tokens(telemetry: Telemetry) -> Wrapper:
    """`AsyncMessages.count_tokens`."""
    return traced_async(
        telemetry, WHERE_COUNT_TOKENS, dedup.MARKER, start_count_tokens, finish_count_tokens
    )


def _manager(kind: type[StreamManager | AsyncStreamManager], telemetry: Telemetry) -> Wrapper:
    def wrapper(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        manager = wrapped(*args, **kwargs)
        if dedup.inside():
            return manager

        def start() -> Invocation:
            return start_messages(telemetry, instance, kwargs, stream=True)

        return kind(manager, telemetry, start)

    return wrapper


def stream_manager(telemetry: Telemetry) -> Wrapper:
    """`Messages.stream`: the `MessageStreamManager` behind a `StreamManager`."""
    return _manager(StreamManager, telemetry)


def async_stream_manager(telemetry: Telemetry) -> Wrapper:
    """`AsyncMessages.stream` (not a coroutine: it returns an async manager)."""
    return _manager(AsyncStreamManager, telemetry)
