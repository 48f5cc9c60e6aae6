"""A fake Anthropic API behind `httpx2.MockTransport`: real JSON bodies and SSE streams.

Bodies follow the Messages API reference: the `message` object (content blocks, `stop_reason`,
`usage` with the cache counts), the token-count object, the error object
(`{"type": "error", "error": {"type", "message"}}`), and the stream, whose every event is named
(`event: message_start` ... `event: message_stop`, `ping`s, `error`). The real `anthropic` SDK
parses them, so every test exercises the SDK's own code paths.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import anthropic
import httpx2

MODEL = "claude-sonnet-4-5"
RESPONSE_MODEL = "claude-sonnet-4-5-20250929"
HOST = "api.fake-anthropic.test"
BASE_URL = f"https://{HOST}"
SYSTEM = "You are terse."
MESSAGES = [{"role": "user", "content": "Say hello."}]
CALL: dict[str, Any] = {"model": MODEL, "max_tokens": 256, "messages": MESSAGES}

Json = dict[str, Any]
Handler = Callable[[httpx2.Request], httpx2.Response]


def usage(
    input: int = 12,
    output: int = 5,
    cache_read: int | None = 0,
    cache_creation: int | None = 0,
    cache_1h: int = 0,
) -> Json:
    """A `usage` object; Anthropic's `input_tokens` excludes the cache reads and writes.

    `cache_1h` of the `cache_creation` writes are 1-hour ones, the rest 5-minute ones.
    """
    body: Json = {"input_tokens": input, "output_tokens": output}
    if cache_read is not None:
        body["cache_read_input_tokens"] = cache_read
    if cache_creation is not None:
        body["cache_creation_input_tokens"] = cache_creation
        body["cache_creation"] = {
            "ephemeral_5m_input_tokens": cache_creation - cache_1h,
            "ephemeral_1h_input_tokens": cache_1h,
        }
    body["service_tier"] = "standard"
    return body


def text(content: str) -> Json:
    """A `text` content block."""
    return {"type": "text", "text": content, "citations": None}


def tool_use(name: str, input: Json | None = None, n: int = 0) -> Json:
    """A `tool_use` content block."""
    return {"type": "tool_use", "id": f"toolu_{n}", "name": name, "input": input or {}}


def message(
    content: list[Json] | None = None,
    *,
    stop_reason: str | None = "end_turn",
    use: Json | None = None,
    id: str = "msg_123",
    model: str = RESPONSE_MODEL,
) -> Json:
    """A `message` object."""
    return {
        "id": id,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content if content is not None else [text("Hello!")],
        "stop_reason": stop_reason,
        "stop_sequence": None,
        "usage": use if use is not None else usage(),
    }


def events(
    pieces: list[str],
    *,
    start: Json | None = None,
    final: Json | None = None,
    stop_reason: str = "end_turn",
    tool: tuple[str, list[str]] | None = None,
    id: str = "msg_456",
) -> list[Json]:
    """A streamed message: start (input usage), a text block, maybe a tool block, the delta."""
    first = message([], stop_reason=None, use=start or usage(output=1), id=id)
    out: list[Json] = [{"type": "message_start", "message": first}, {"type": "ping"}]
    out.append({"type": "content_block_start", "index": 0, "content_block": text("")})
    for piece in pieces:
        delta = {"type": "text_delta", "text": piece}
        out.append({"type": "content_block_delta", "index": 0, "delta": delta})
    out.append({"type": "content_block_stop", "index": 0})
    if tool is not None:
        name, fragments = tool
        block = {"type": "tool_use", "id": "toolu_1", "name": name, "input": {}}
        out.append({"type": "content_block_start", "index": 1, "content_block": block})
        for fragment in fragments:
            delta = {"type": "input_json_delta", "partial_json": fragment}
            out.append({"type": "content_block_delta", "index": 1, "delta": delta})
        out.append({"type": "content_block_stop", "index": 1})
    end = {"stop_reason": stop_reason, "stop_sequence": None}
    out.append({"type": "message_delta", "delta": end, "usage": final or {"output_tokens": 15}})
    out.append({"type": "message_stop"})
    return out


def sse(items: list[Json]) -> bytes:
    """Server-sent events as the API sends them: each named after its `type`."""
    return "".join(f"event: {e['type']}\ndata: {json.dumps(e)}\n\n" for e in items).encode()


def error(kind: str, text: str) -> Json:
    """The API's error object."""
    return {"type": "error", "error": {"type": kind, "message": text}, "request_id": "req_1"}


def json_response(body: Any, status: int = 200) -> httpx2.Response:
    """A JSON response, as the API sends it."""
    return httpx2.Response(status, json=body, headers={"request-id": "req_1"})


def sse_response(body: bytes) -> httpx2.Response:
    """A `text/event-stream` response."""
    return httpx2.Response(200, content=body, headers={"content-type": "text/event-stream"})


def cut_response(prefix: bytes, *, asynchronous: bool) -> httpx2.Response:
    """A stream that sends `prefix` and then loses its connection."""

    def chunks() -> Iterator[bytes]:
        yield prefix
        raise httpx2.ReadError("connection reset by peer")

    async def achunks() -> AsyncIterator[bytes]:
        yield prefix
        raise httpx2.ReadError("connection reset by peer")

    content: Any = achunks() if asynchronous else chunks()
    return httpx2.Response(200, content=content, headers={"content-type": "text/event-stream"})


class Api:
    """A handler answering from a function of the request body; it keeps every request."""

    def __init__(self, answer: Callable[[Json], httpx2.Response]) -> None:
        self.answer = answer
        self.requests: list[Json] = []
        self.headers: list[httpx2.Headers] = []

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        body = json.loads(request.content) if request.content else {}
        self.requests.append({**body, "_path": request.url.path})
        self.headers.append(request.headers)
        return self.answer(body)


def fixed(response: Callable[[], httpx2.Response]) -> Api:
    """An `Api` that answers every request with a fresh `response()`."""
    return Api(lambda body: response())


def client(handler: Handler, **options: Any) -> anthropic.Anthropic:
    """A real `Anthropic` client whose transport is `handler`, without retries."""
    http = httpx2.Client(transport=httpx2.MockTransport(handler))
    return anthropic.Anthropic(
        api_key="test-key", base_url=BASE_URL, http_client=http, max_retries=0, **options
    )


def async_client(handler: Handler, **options: Any) -> anthropic.AsyncAnthropic:
    """`client` for `AsyncAnthropic`."""
    http = httpx2.AsyncClient(transport=httpx2.MockTransport(handler))
    return anthropic.AsyncAnthropic(
        api_key="test-key", base_url=BASE_URL, http_client=http, max_retries=0, **options
    )
