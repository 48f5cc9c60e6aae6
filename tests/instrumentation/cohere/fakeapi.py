"""A fake Cohere API (chat v2) behind `httpx.MockTransport`: real JSON bodies and SSE streams.

Bodies follow the v2 Chat reference: the response (`id`, `finish_reason`, `message` with
`content` items and `tool_calls`, `usage` with `billed_units`, `tokens`, `cached_tokens`),
error bodies (`{"message": ...}`), and the stream: named events `message-start`,
`content-start`, `content-delta`, `content-end`, `tool-call-start`, `tool-call-delta`,
`tool-call-end`, `message-end` (finish reason and usage). The real `cohere` SDK parses them.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import cohere
import httpx

MODEL = "command-a-03-2025"
HOST = "api.fake-cohere.test"
BASE_URL = f"https://{HOST}"
MESSAGES = [{"role": "user", "content": "Say hello."}]
CALL: dict[str, Any] = {"model": MODEL, "messages": MESSAGES}

Json = dict[str, Any]
Handler = Callable[[httpx.Request], httpx.Response]


def usage(billed: tuple[int, int] | None = (12, 5), model: tuple[int, int] = (210, 5)) -> Json:
    """A `usage` object: billed units and the model's own token counts (template included)."""
    body: Json = {"tokens": {"input_tokens": model[0], "output_tokens": model[1]}}
    if billed is not None:
        body["billed_units"] = {"input_tokens": billed[0], "output_tokens": billed[1]}
    body["cached_tokens"] = 0
    return body


def tool_call(name: str, arguments: str, id: str = "call_1") -> Json:
    """A v2 tool call."""
    return {"id": id, "type": "function", "function": {"name": name, "arguments": arguments}}


def response(
    text: str | None = "Hello!",
    *,
    finish_reason: str = "COMPLETE",
    tool_calls: list[Json] | None = None,
    use: Json | None = None,
    id: str = "resp-123",
) -> Json:
    """A v2 chat response."""
    message: Json = {"role": "assistant"}
    if text is not None:
        message["content"] = [{"type": "text", "text": text}]
    if tool_calls is not None:
        message["tool_calls"] = tool_calls
        message["tool_plan"] = "I will call the tool."
    return {
        "id": id,
        "finish_reason": finish_reason,
        "message": message,
        "usage": use if use is not None else usage(),
    }


def events(
    pieces: list[str],
    *,
    finish: str = "COMPLETE",
    use: Json | None = None,
    tool: tuple[str, list[str]] | None = None,
) -> list[Json]:
    """A streamed response: start, one text block in pieces, maybe a tool call, the end."""
    start = {"role": "assistant", "content": [], "tool_plan": "", "tool_calls": [], "citations": []}
    out: list[Json] = [{"type": "message-start", "id": "resp-456", "delta": {"message": start}}]
    block = {"message": {"content": {"type": "text", "text": ""}}}
    out.append({"type": "content-start", "index": 0, "delta": block})
    for piece in pieces:
        delta = {"message": {"content": {"text": piece}}}
        out.append({"type": "content-delta", "index": 0, "delta": delta})
    out.append({"type": "content-end", "index": 0})
    if tool is not None:
        name, fragments = tool
        call = {"id": "call_9", "type": "function", "function": {"name": name, "arguments": ""}}
        out.append(
            {"type": "tool-call-start", "index": 0, "delta": {"message": {"tool_calls": call}}}
        )
        for fragment in fragments:
            delta = {"message": {"tool_calls": {"function": {"arguments": fragment}}}}
            out.append({"type": "tool-call-delta", "index": 0, "delta": delta})
        out.append({"type": "tool-call-end", "index": 0})
    end = {"finish_reason": finish, "usage": use or usage(billed=(12, 15), model=(210, 15))}
    out.append({"type": "message-end", "id": "resp-456", "delta": end})
    return out


def sse(items: list[Json]) -> bytes:
    """Server-sent events as the API sends them: each named after its `type`."""
    return "".join(f"event: {e['type']}\ndata: {json.dumps(e)}\n\n" for e in items).encode()


def json_response(body: Any, status: int = 200) -> httpx.Response:
    """A JSON response."""
    return httpx.Response(status, json=body)


def sse_response(body: bytes) -> httpx.Response:
    """A `text/event-stream` response."""
    return httpx.Response(200, content=body, headers={"content-type": "text/event-stream"})


def cut_response(prefix: bytes, *, asynchronous: bool) -> httpx.Response:
    """A stream that sends `prefix` and then loses its connection."""

    def parts() -> Iterator[bytes]:
        yield prefix
        raise httpx.ReadError("connection reset by peer")

    async def aparts() -> AsyncIterator[bytes]:
        yield prefix
        raise httpx.ReadError("connection reset by peer")

    content: Any = aparts() if asynchronous else parts()
    return httpx.Response(200, content=content, headers={"content-type": "text/event-stream"})


class Api:
    """A handler answering from a function of the request body; it keeps every request."""

    def __init__(self, answer: Callable[[Json], httpx.Response]) -> None:
        self.answer = answer
        self.requests: list[Json] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content) if request.content else {}
        self.requests.append(body)
        return self.answer(body)


def fixed(answer: Callable[[], httpx.Response]) -> Api:
    """An `Api` that answers every request with a fresh `answer()`."""
    return Api(lambda body: answer())


def client(handler: Handler) -> cohere.ClientV2:
    """A real `cohere.ClientV2` whose transport is `handler`, without retries."""
    http = httpx.Client(transport=httpx.MockTransport(handler))
    return cohere.ClientV2(api_key="test-key", base_url=BASE_URL, httpx_client=http, max_retries=0)


def async_client(handler: Handler) -> cohere.AsyncClientV2:
    """`client` for `cohere.AsyncClientV2`."""
    http = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    return cohere.AsyncClientV2(
        api_key="test-key", base_url=BASE_URL, httpx_client=http, max_retries=0
    )
