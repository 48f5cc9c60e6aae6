"""A fake Mistral API behind `httpx2.MockTransport`: real JSON bodies and SSE streams.

mistralai sends through `httpx2` (a drop-in fork of httpx), so the transport is one of its own.

Bodies follow the Mistral chat completions reference: `chat.completion` objects (`choices`
with `message`, `finish_reason`; `usage`), error bodies (`{"object": "error", "message",
"type", "code"}`), and the stream: `data:` lines each holding a `chat.completion.chunk`, the
last one with `usage`, then `data: [DONE]`. The real `mistralai` SDK parses them.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx2 as httpx
from mistralai.client import Mistral

MODEL = "mistral-small-latest"
RESPONSE_MODEL = "mistral-small-latest"
HOST = "api.fake-mistral.test"
BASE_URL = f"https://{HOST}"
MESSAGES = [{"role": "user", "content": "Say hello."}]
CALL: dict[str, Any] = {"model": MODEL, "messages": MESSAGES}

Json = dict[str, Any]
Handler = Callable[[httpx.Request], httpx.Response]


def usage(prompt: int = 12, completion: int = 5, cached: int | None = None) -> Json:
    """A `usage` object."""
    body: Json = {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }
    if cached is not None:
        body["prompt_tokens_details"] = {"cached_tokens": cached}
    return body


def tool_call(name: str, arguments: str, id: str = "call_1") -> Json:
    """A tool call of an assistant message."""
    return {"id": id, "type": "function", "function": {"name": name, "arguments": arguments}}


def completion(
    content: Any = "Hello!",
    *,
    finish_reason: str = "stop",
    tool_calls: list[Json] | None = None,
    use: Json | None = None,
    id: str = "cmpl-123",
) -> Json:
    """A `chat.completion` object."""
    message: Json = {"role": "assistant", "content": content}
    if tool_calls is not None:
        message["tool_calls"] = tool_calls
    return {
        "id": id,
        "object": "chat.completion",
        "model": RESPONSE_MODEL,
        "created": 1700000000,
        "choices": [{"index": 0, "message": message, "finish_reason": finish_reason}],
        "usage": use if use is not None else usage(),
    }


def chunks(
    pieces: list[str], *, final: Json | None = None, finish: str = "stop", tool: Json | None = None
) -> list[Json]:
    """A streamed completion: one chunk per piece, the last with the finish reason and usage."""
    out: list[Json] = []
    for n, piece in enumerate(pieces):
        last = n == len(pieces) - 1
        delta: Json = {"content": piece} if n else {"role": "assistant", "content": piece}
        if last and tool is not None:
            delta["tool_calls"] = [{**tool, "index": 0}]
        choice = {"index": 0, "delta": delta, "finish_reason": finish if last else None}
        body: Json = {"id": "cmpl-456", "object": "chat.completion.chunk", "model": RESPONSE_MODEL}
        body.update(created=1700000000, choices=[choice])
        if last:
            body["usage"] = final or usage(completion=15)
        out.append(body)
    return out


def sse(items: list[Json]) -> bytes:
    """Server-sent events as the API sends them, ending with `[DONE]`."""
    return ("".join(f"data: {json.dumps(e)}\n\n" for e in items) + "data: [DONE]\n\n").encode()


def error(message: str, kind: str = "invalid_request_error") -> Json:
    """The API's error body."""
    return {"object": "error", "message": message, "type": kind, "param": None, "code": None}


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
        self.headers: list[httpx.Headers] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content) if request.content else {}
        self.requests.append(body)
        self.headers.append(request.headers)
        return self.answer(body)


def fixed(answer: Callable[[], httpx.Response]) -> Api:
    """An `Api` that answers every request with a fresh `answer()`."""
    return Api(lambda body: answer())


def client(handler: Handler) -> Mistral:
    """A real `Mistral` client (sync and async) whose transport is `handler`."""
    return Mistral(
        api_key="test-key",
        server_url=BASE_URL,
        client=httpx.Client(transport=httpx.MockTransport(handler)),
        async_client=httpx.AsyncClient(transport=httpx.MockTransport(handler)),
    )
