"""Wrapper factories for `ollama.Client` and `ollama.AsyncClient`: one span per call.

The SDK takes the model and the messages (or prompt) positionally, so the wrappers here bind
the positional arguments to their names for reading them (the SDK still gets the caller's own
arguments, untouched). With `stream=True` the SDK returns a plain generator (an async one for
`AsyncClient`) that sends the request when first read: it comes back behind a `SyncStream`/
`AsyncStream` proxy, still a generator to the caller, that sees each chunk and ends the
invocation when the stream ends, breaks, is closed or is dropped.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from agentwatch.instrumentation import semconv as sc
from agentwatch.instrumentation import values
from agentwatch.instrumentation.base import Wrapper
from agentwatch.instrumentation.invocation import Invocation, call_async, call_sync
from agentwatch.instrumentation.ollama import request as rq
from agentwatch.instrumentation.ollama import responses as rs
from agentwatch.instrumentation.streams import AsyncStream, SyncStream
from agentwatch.instrumentation.telemetry import Telemetry
from agentwatch.instrumentation.wrappers import Marker

PROVIDER = "ollama"
"""Not among the conventions' well-known `gen_ai.provider.name` values: the SDK's name."""
WHERE_CHAT = "ollama.chat"
WHERE_GENERATE = "ollama.generate"
WHERE_EMBED = "ollama.embed"

MARKER = Marker("ollama_traced_call")
"""Set inside a traced call: a wrapped method it calls in turn is not traced again."""

Start = Callable[[Telemetry, Any, Mapping[str, Any]], Invocation]
Finish = Callable[[Invocation, Any], Any]


def _invocation(
    telemetry: Telemetry,
    instance: Any,
    request: Mapping[str, Any],
    operation: str,
    attributes: dict[str, Any],
    kind: type[Invocation] = Invocation,
) -> Invocation:
    address, port = values.server(values.client_of(instance))  # the SDK's httpx client
    model = values.as_str(request.get("model"))
    return kind(telemetry, operation, PROVIDER, model, attributes, address, port)


def _start_generation(
    telemetry: Telemetry, instance: Any, request: Mapping[str, Any], chat: bool
) -> Invocation:
    attributes = rq.generation_attributes(telemetry, request, chat)
    operation = sc.OP_CHAT if chat else sc.OP_TEXT_COMPLETION
    streaming = request.get("stream") is True
    kind = rs.GenerationStream if streaming else Invocation
    inv = _invocation(telemetry, instance, request, operation, attributes, kind)
    if chat:
        inv.offered_tools = rq.tools(request)
    if attributes.get(sc.OUTPUT_TYPE) == sc.OUTPUT_TYPE_JSON:
        inv.expect_json()
    if isinstance(inv, rs.GenerationStream):
        inv.setup(chat)
    return inv


def start_chat(telemetry: Telemetry, instance: Any, request: Mapping[str, Any]) -> Invocation:
    """The invocation of a chat request."""
    return _start_generation(telemetry, instance, request, chat=True)


def start_generate(telemetry: Telemetry, instance: Any, request: Mapping[str, Any]) -> Invocation:
    """The invocation of a generate request (operation `text_completion`)."""
    return _start_generation(telemetry, instance, request, chat=False)


def start_embed(telemetry: Telemetry, instance: Any, request: Mapping[str, Any]) -> Invocation:
    """The invocation of an embed request."""
    attributes = rq.embed_attributes(request)
    return _invocation(telemetry, instance, request, sc.OP_EMBEDDINGS, attributes)


def _finisher(whole: Callable[[Invocation, Any], None]) -> Finish:
    def finish(inv: Invocation, result: Any) -> Any:
        if isinstance(inv, rs.GenerationStream):
            if inspect.isgenerator(result):
                return SyncStream(result, inv, rs.on_chunk)  # type: ignore[arg-type]
            if inspect.isasyncgen(result):
                return AsyncStream(result, inv, rs.on_chunk)  # type: ignore[arg-type]
        else:
            whole(inv, result)
        inv.end()
        return result

    return finish


finish_chat = _finisher(rs.read_chat)
finish_generate = _finisher(rs.read_generate)
finish_embed = _finisher(rs.read_embed)


def traced_method(
    telemetry: Telemetry, where: str, names: Sequence[str], start: Start, finish: Finish
) -> Wrapper:
    """`wrappers.traced`, reading positional arguments too (as `names`)."""

    def wrapper(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if MARKER.inside():
            return wrapped(*args, **kwargs)
        request = rq.bind(names, args, kwargs)
        return call_sync(
            telemetry,
            where,
            lambda: start(telemetry, instance, request),
            lambda: MARKER.run(lambda: wrapped(*args, **kwargs)),
            finish,
        )

    return wrapper


def traced_async_method(
    telemetry: Telemetry, where: str, names: Sequence[str], start: Start, finish: Finish
) -> Wrapper:
    """`traced_method` for the coroutine methods of `AsyncClient`."""

    async def wrapper(
        wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        if MARKER.inside():
            return await wrapped(*args, **kwargs)
        request = rq.bind(names, args, kwargs)
        return await call_async(
            telemetry,
            where,
            lambda: start(telemetry, instance, request),
            lambda: MARKER.run_async(lambda: wrapped(*args, **kwargs)),
            finish,
        )

    return wrapper


def chat(telemetry: Telemetry) -> Wrapper:
    """`Client.chat`."""
    return traced_method(telemetry, WHERE_CHAT, rq.CHAT_PARAMS, start_chat, finish_chat)


def async_chat(telemetry: Telemetry) -> Wrapper:
    """`AsyncClient.chat`."""
    return traced_async_method(telemetry, WHERE_CHAT, rq.CHAT_PARAMS, start_chat, finish_chat)


def generate(telemetry: Telemetry) -> Wrapper:
    """`Client.generate`."""
    return traced_method(
        telemetry, WHERE_GENERATE, rq.GENERATE_PARAMS, start_generate, finish_generate
    )


def async_generate(telemetry: Telemetry) -> Wrapper:
    """`AsyncClient.generate`."""
    return traced_async_method(
        telemetry, WHERE_GENERATE, rq.GENERATE_PARAMS, start_generate, finish_generate
    )


def embed(telemetry: Telemetry) -> Wrapper:
    """`Client.embed`."""
    return traced_method(telemetry, WHERE_EMBED, rq.EMBED_PARAMS, start_embed, finish_embed)


def async_embed(telemetry: Telemetry) -> Wrapper:
    """`AsyncClient.embed`."""
    return traced_async_method(telemetry, WHERE_EMBED, rq.EMBED_PARAMS, start_embed, finish_embed)
