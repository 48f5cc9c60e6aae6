"""Wrapper factories for Cohere's chat v2 raw clients: one span per call, streams kept.

`V2Client.chat` and `chat_stream` (and `ClientV2`'s, and the async twins) do their work in
`RawV2Client.chat` / `chat_stream` (`AsyncRawV2Client`'s), looked up on the class at every
call; the public methods are not, because `cohere.Client.__init__` binds `chat` and
`chat_stream` into per-instance wrappers (argument checks, experimental-feature warnings), so
a class-level wrapper there would miss every client built before `instrument()`. The raw
methods are also public themselves, as `client.with_raw_response`.

`chat` returns an `HttpResponse` whose `data` is the `V2ChatResponse`. `chat_stream` is a
context manager that sends the request on entry and gives an `HttpResponse` whose `data` is
the event generator: the proxy here opens the invocation at entry, puts a stream proxy in
place of that generator before anything reads it, and ends the invocation when the events run
out, fail, the stream is closed, or the `with` block ends.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import wrapt

from agentwatch.instrumentation import semconv as sc
from agentwatch.instrumentation.base import Wrapper
from agentwatch.instrumentation.cohere import request as rq
from agentwatch.instrumentation.cohere import responses as rs
from agentwatch.instrumentation.invocation import Invocation, call_async, call_sync
from agentwatch.instrumentation.streams import observe
from agentwatch.instrumentation.telemetry import Telemetry
from agentwatch.instrumentation.values import as_str
from agentwatch.instrumentation.wrappers import Marker, traced, traced_async

WHERE_CHAT = "cohere.chat"

MARKER = Marker("cohere_traced_call")
"""Set inside a traced call: a wrapped method it calls in turn is not traced again."""


def _start(
    telemetry: Telemetry, instance: Any, kwargs: Mapping[str, Any], stream: bool
) -> Invocation:
    attributes = rq.chat_attributes(telemetry, kwargs, stream)
    address, port = rq.server(instance)
    model = as_str(kwargs.get("model"))
    kind = rs.ChatStream if stream else Invocation
    inv = kind(telemetry, sc.OP_CHAT, rq.PROVIDER, model, attributes, address, port)
    tools = rq.arg(kwargs, "tools")
    if tools:
        inv.offered_tools = rq.offered_tools(tools) or None
    if attributes.get(sc.OUTPUT_TYPE) == sc.OUTPUT_TYPE_JSON:
        inv.expect_json()
    if isinstance(inv, rs.ChatStream):
        inv.setup()
    return inv


def start_chat(telemetry: Telemetry, instance: Any, kwargs: Mapping[str, Any]) -> Invocation:
    """The invocation of `chat`."""
    return _start(telemetry, instance, kwargs, stream=False)


def start_stream(telemetry: Telemetry, instance: Any, kwargs: Mapping[str, Any]) -> Invocation:
    """The invocation of `chat_stream`."""
    return _start(telemetry, instance, kwargs, stream=True)


def finish_chat(inv: Invocation, result: Any) -> Any:
    """Read the `V2ChatResponse`, or the one in a raw `HttpResponse` (`AsyncHttpResponse`)."""
    data = result if type(result).__name__ == "V2ChatResponse" else getattr(result, "data", None)
    if type(data).__name__ == "V2ChatResponse":
        rs.read_chat(inv, data)
    inv.end()
    return result


def _observe(inv: Invocation, response: Any) -> Any:
    """Put a stream proxy in place of the (unread) event generator of `response`."""
    data = getattr(response, "_data", None)
    if isinstance(inv, rs.ChatStream) and data is not None:
        response._data = observe(data, inv, rs.on_event)  # type: ignore[arg-type]
    else:  # an SDK release of another shape: the call ends with what the request said
        inv.end()
    return response


class _Stream(wrapt.ObjectProxy[Any]):
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
        error = exc_info[1]
        # First end wins: the block's error. A `GeneratorExit` is the caller closing the
        # stream early (`V2Client.chat_stream`'s generator closed inside the block): no error.
        if inv is not None and error is not None and not isinstance(error, GeneratorExit):
            inv.end(error)
        return inv


class StreamContext(_Stream):
    """`RawV2Client.chat_stream(...)`'s context manager: its `with` block is one invocation."""

    def __enter__(self) -> Any:
        enter = self.__wrapped__.__enter__
        return call_sync(
            self._self_telemetry, WHERE_CHAT, self._self_begin, lambda: MARKER.run(enter), _observe
        )

    def __exit__(self, *exc_info: Any) -> Any:
        inv = self._self_failed(exc_info)
        try:
            return self.__wrapped__.__exit__(*exc_info)
        finally:
            if inv is not None:
                inv.end()


class AsyncStreamContext(_Stream):
    """`AsyncRawV2Client.chat_stream(...)`'s async context manager."""

    async def __aenter__(self) -> Any:
        enter = self.__wrapped__.__aenter__
        return await call_async(
            self._self_telemetry,
            WHERE_CHAT,
            self._self_begin,
            lambda: MARKER.run_async(enter),
            _observe,
        )

    async def __aexit__(self, *exc_info: Any) -> Any:
        inv = self._self_failed(exc_info)
        try:
            return await self.__wrapped__.__aexit__(*exc_info)
        finally:
            if inv is not None:
                inv.end()


def finish_generator(inv: Invocation, result: Any) -> Any:
    """Proxy the event generator `V2Client.chat_stream` returned (releases without raw clients)."""
    if isinstance(inv, rs.ChatStream) and result is not None:
        return observe(result, inv, rs.on_event)  # type: ignore[arg-type]
    inv.end()
    return result


def chat(telemetry: Telemetry) -> Wrapper:
    """`RawV2Client.chat` (and `V2Client.chat` where there is no raw client)."""
    return traced(telemetry, WHERE_CHAT, MARKER, start_chat, finish_chat)


def async_chat(telemetry: Telemetry) -> Wrapper:
    """`AsyncRawV2Client.chat` (and `AsyncV2Client.chat` where there is no raw client)."""
    return traced_async(telemetry, WHERE_CHAT, MARKER, start_chat, finish_chat)


def _stream(kind: type[_Stream], telemetry: Telemetry) -> Wrapper:
    def wrapper(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        context = wrapped(*args, **kwargs)  # sends nothing yet: the request goes at entry
        if MARKER.inside():
            return context

        def start() -> Invocation:
            return start_stream(telemetry, instance, kwargs)

        return kind(context, telemetry, start)

    return wrapper


def chat_stream(telemetry: Telemetry) -> Wrapper:
    """`RawV2Client.chat_stream` (a context manager)."""
    return _stream(StreamContext, telemetry)


def async_chat_stream(telemetry: Telemetry) -> Wrapper:
    """`AsyncRawV2Client.chat_stream` (an async context manager; not a coroutine)."""
    return _stream(AsyncStreamContext, telemetry)


def generator_stream(telemetry: Telemetry) -> Wrapper:
    """`V2Client.chat_stream` / `AsyncV2Client.chat_stream`, where there is no raw client.

    Both are generator functions (async in `AsyncV2Client`), so a plain wrapper gets the
    generator before any request is sent; the request then goes on the first iteration.
    """
    return traced(telemetry, WHERE_CHAT, MARKER, start_stream, finish_generator)
