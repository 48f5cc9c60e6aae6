"""Wrapper factories for the OpenAI SDK's resource methods: one span per call, streams kept.

Each wrapped call opens one span and marks everything it calls as already traced, so a helper
that goes through `create` itself (`parse` in some SDK versions) still gives exactly one span.
`stream()` is the exception: it only builds a manager, whose `__enter__` later calls
`create(stream=True)`; it returns the SDK's manager behind a proxy that picks up the invocation
that inner `create` opened and ends it when the `with` block (or the helper's `close()`) ends.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import openai
from openai.types import CreateEmbeddingResponse
from openai.types.chat import ChatCompletion

from agentwatch.instrumentation import semconv as sc
from agentwatch.instrumentation import values
from agentwatch.instrumentation.base import Wrapper
from agentwatch.instrumentation.invocation import Invocation
from agentwatch.instrumentation.openai import request as rq
from agentwatch.instrumentation.openai import responses as rs
from agentwatch.instrumentation.openai.managers import (
    AsyncStreamManager,
    StreamManager,
    opened_stream,
)
from agentwatch.instrumentation.quality.toolcalls import openai_tools
from agentwatch.instrumentation.streams import OnChunk, observe
from agentwatch.instrumentation.telemetry import Telemetry
from agentwatch.instrumentation.wrappers import Marker, traced, traced_async

WHERE_CHAT = "openai.chat"
WHERE_RESPONSES = "openai.responses"
WHERE_EMBEDDINGS = "openai.embeddings"

MARKER = Marker("openai_traced_call")
"""Set inside a traced call: a wrapped method it calls in turn is not traced again."""

try:
    from openai.types.responses import Response
except ImportError:  # an SDK from before the Responses API (< 1.66): nothing to read

    class Response:  # type: ignore[no-redef]
        """Never an SDK result."""


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
    return kind(
        telemetry,
        operation,
        rq.provider(client),
        rq.request_model(client, kwargs),
        attributes,
        address,
        port,
    )


def _expect(inv: Invocation, kwargs: Mapping[str, Any], attributes: Mapping[str, Any]) -> None:
    """What the request lets the quality signals check: its tools, and whether JSON is due."""
    tools = kwargs.get("tools")
    if values.given(tools) and tools:
        inv.offered_tools = openai_tools(tools)
    if attributes.get(sc.OUTPUT_TYPE) == sc.OUTPUT_TYPE_JSON:
        inv.expect_json()


def start_chat(telemetry: Telemetry, instance: Any, kwargs: Mapping[str, Any]) -> Invocation:
    """The invocation of a Chat Completions request (a `ChatStream` for `stream=True`)."""
    attributes = rq.chat_attributes(telemetry, kwargs)
    if kwargs.get("stream") is not True:
        inv = _invocation(telemetry, instance, kwargs, sc.OP_CHAT, attributes)
        _expect(inv, kwargs, attributes)
        return inv
    inv = _invocation(telemetry, instance, kwargs, sc.OP_CHAT, attributes, rs.ChatStream)
    assert isinstance(inv, rs.ChatStream)
    _expect(inv, kwargs, attributes)
    inv.setup(not rq.asks_for_usage(kwargs), kwargs.get("messages"))
    return inv


def start_responses(telemetry: Telemetry, instance: Any, kwargs: Mapping[str, Any]) -> Invocation:
    """The invocation of a Responses API request."""
    attributes = rq.responses_attributes(telemetry, kwargs)
    inv = _invocation(telemetry, instance, kwargs, sc.OP_CHAT, attributes)
    _expect(inv, kwargs, attributes)
    return inv


def start_embeddings(telemetry: Telemetry, instance: Any, kwargs: Mapping[str, Any]) -> Invocation:
    """The invocation of an embeddings request."""
    attributes = rq.embeddings_attributes(kwargs)
    return _invocation(telemetry, instance, kwargs, sc.OP_EMBEDDINGS, attributes)


# -- finishing: a whole response is read, a stream is proxied --------------------------------


def _finisher(
    read: Callable[[Invocation, Any], None], whole: type, on_chunk: OnChunk | None
) -> Callable[[Invocation, Any], Any]:
    """`finish` for call_sync/call_async: read a `whole` response, or proxy an SDK stream."""

    def finish(inv: Invocation, result: Any) -> Any:
        if on_chunk is not None:
            if isinstance(result, (openai.Stream, openai.AsyncStream)):
                opened_stream(inv)
                return observe(result, inv, on_chunk)
        # Anything else (`with_raw_response` gives an APIResponse) ends with what the request said.
        if isinstance(result, whole):
            read(inv, result)
        inv.end()
        return result

    return finish


_finish_chat = _finisher(rs.read_completion, ChatCompletion, rs.on_chat_chunk)  # type: ignore[arg-type]
_finish_responses = _finisher(rs.read_response, Response, rs.on_response_event)
_finish_embeddings = _finisher(rs.read_embeddings, CreateEmbeddingResponse, None)


def _with_usage(kwargs: dict[str, Any]) -> dict[str, Any]:
    """`kwargs` asking a chat stream for its usage, unless the caller already said either way."""
    if kwargs.get("stream") is not True:
        return kwargs
    options = kwargs.get("stream_options")
    if not values.given(options):
        return {**kwargs, "stream_options": {"include_usage": True}}
    if isinstance(options, Mapping) and "include_usage" not in options:
        return {**kwargs, "stream_options": {**options, "include_usage": True}}
    return kwargs


# -- the wrappers ------------------------------------------------------------------------------


def chat_create(telemetry: Telemetry, include_usage: bool = False) -> Wrapper:
    """`Completions.create`."""
    prepare = _with_usage if include_usage else None
    return traced(telemetry, WHERE_CHAT, MARKER, start_chat, _finish_chat, prepare)


def async_chat_create(telemetry: Telemetry, include_usage: bool = False) -> Wrapper:
    """`AsyncCompletions.create`."""
    prepare = _with_usage if include_usage else None
    return traced_async(telemetry, WHERE_CHAT, MARKER, start_chat, _finish_chat, prepare)


def chat_parse(telemetry: Telemetry) -> Wrapper:
    """`Completions.parse` (and the older `beta.chat.completions.parse`)."""
    return traced(telemetry, WHERE_CHAT, MARKER, start_chat, _finish_chat)


def async_chat_parse(telemetry: Telemetry) -> Wrapper:
    """`AsyncCompletions.parse`."""
    return traced_async(telemetry, WHERE_CHAT, MARKER, start_chat, _finish_chat)


def responses_create(telemetry: Telemetry) -> Wrapper:
    """`Responses.create`."""
    return traced(telemetry, WHERE_RESPONSES, MARKER, start_responses, _finish_responses)


def async_responses_create(telemetry: Telemetry) -> Wrapper:
    """`AsyncResponses.create`."""
    return traced_async(telemetry, WHERE_RESPONSES, MARKER, start_responses, _finish_responses)


def responses_parse(telemetry: Telemetry) -> Wrapper:
    """`Responses.parse`."""
    return traced(telemetry, WHERE_RESPONSES, MARKER, start_responses, _finish_responses)


def async_responses_parse(telemetry: Telemetry) -> Wrapper:
    """`AsyncResponses.parse`."""
    return traced_async(telemetry, WHERE_RESPONSES, MARKER, start_responses, _finish_responses)


def embeddings_create(telemetry: Telemetry) -> Wrapper:
    """`Embeddings.create`."""
    return traced(telemetry, WHERE_EMBEDDINGS, MARKER, start_embeddings, _finish_embeddings)


def async_embeddings_create(telemetry: Telemetry) -> Wrapper:
    """`AsyncEmbeddings.create`."""
    return traced_async(telemetry, WHERE_EMBEDDINGS, MARKER, start_embeddings, _finish_embeddings)


# -- stream() helpers: the SDK's managers, ending the inner create's invocation ---------------


def stream_manager(telemetry: Telemetry) -> Wrapper:
    """`Completions.stream` / `Responses.stream`: the manager behind a `StreamManager`."""

    def wrapper(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        return StreamManager(wrapped(*args, **kwargs))

    return wrapper


def async_stream_manager(telemetry: Telemetry) -> Wrapper:
    """`AsyncCompletions.stream` / `AsyncResponses.stream` (they are not coroutines)."""

    def wrapper(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        return AsyncStreamManager(wrapped(*args, **kwargs))

    return wrapper
