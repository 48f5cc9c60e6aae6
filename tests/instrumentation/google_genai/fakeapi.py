"""A fake Gemini API behind `httpx.MockTransport`: real JSON bodies and SSE streams.

Bodies follow the Gemini API reference (camelCase, as the server sends them): a
`GenerateContentResponse` (`candidates` with `content.parts`, `finishReason`, `index`;
`usageMetadata`; `modelVersion`; `responseId`), the error object (`{"error": {"code",
"message", "status"}}`), `embedContent`'s `{"embedding": {"values"}}`, and
`streamGenerateContent?alt=sse`, whose events are `data:` lines each holding one
`GenerateContentResponse`. The real `google-genai` SDK parses them.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx
from google import genai
from google.genai import types

MODEL = "gemini-2.5-flash"
RESPONSE_MODEL = "gemini-2.5-flash"
HOST = "gemini.fake-google.test"
BASE_URL = f"https://{HOST}"
CALL: dict[str, Any] = {"model": MODEL, "contents": "Say hello."}

Json = dict[str, Any]
Handler = Callable[[httpx.Request], httpx.Response]


def usage(prompt: int = 12, output: int = 5, cached: int | None = None, **extra: int) -> Json:
    """A `usageMetadata` object (`thoughtsTokenCount=...` and the like go in `extra`)."""
    body: Json = {"promptTokenCount": prompt, "candidatesTokenCount": output}
    if cached is not None:
        body["cachedContentTokenCount"] = cached
    body.update(extra)
    body["totalTokenCount"] = prompt + output + sum(extra.values())
    return body


def text(content: str, thought: bool = False) -> Json:
    """A text part (a thought summary when `thought`)."""
    return {"text": content, "thought": True} if thought else {"text": content}


def function_call(name: str, args: Json | None = None, id: str | None = None) -> Json:
    """A `functionCall` part."""
    call: Json = {"name": name, "args": args or {}}
    if id is not None:
        call["id"] = id
    return {"functionCall": call}


def candidate(parts: list[Json] | None = None, finish: str | None = "STOP", index: int = 0) -> Json:
    """One candidate of the model's."""
    body: Json = {"content": {"role": "model", "parts": parts or [text("Hello!")]}, "index": index}
    if finish is not None:
        body["finishReason"] = finish
    return body


def response(
    candidates: list[Json] | None = None,
    *,
    use: Json | None = None,
    id: str = "resp-123",
    model: str = RESPONSE_MODEL,
) -> Json:
    """A `GenerateContentResponse`."""
    body: Json = {
        "candidates": candidates if candidates is not None else [candidate()],
        "modelVersion": model,
        "responseId": id,
    }
    if use is not None or candidates is None:
        body["usageMetadata"] = use if use is not None else usage()
    return body


def chunks(pieces: list[str], *, final: Json | None = None, finish: str = "STOP") -> list[Json]:
    """A streamed response: one chunk per text piece, usage (a running total) on each."""
    out: list[Json] = []
    for n, piece in enumerate(pieces):
        last = n == len(pieces) - 1
        body = response(
            [candidate([text(piece)], finish if last else None)],
            use=(final or usage(output=15)) if last else usage(output=n + 1),
            id="resp-456",
        )
        out.append(body)
    return out


def sse(items: list[Json]) -> bytes:
    """Server-sent events as the API sends them for `alt=sse`."""
    return "".join(f"data: {json.dumps(e)}\r\n\r\n" for e in items).encode()


def error(code: int, status: str, message: str) -> Json:
    """The API's error object."""
    return {"error": {"code": code, "message": message, "status": status}}


def json_response(body: Any, status: int = 200) -> httpx.Response:
    """A JSON response, as the API sends it."""
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
    """A handler answering from a function of the request; it keeps every request."""

    def __init__(self, answer: Callable[[Json, str], httpx.Response]) -> None:
        self.answer = answer
        self.requests: list[Json] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content) if request.content else {}
        self.requests.append({**body, "_path": request.url.path})
        return self.answer(body, request.url.path)


def fixed(answer: Callable[[], httpx.Response]) -> Api:
    """An `Api` that answers every request with a fresh `answer()`."""
    return Api(lambda body, path: answer())


def client(handler: Handler, vertexai: bool = False) -> genai.Client:
    """A real `genai.Client` (both `models` and `aio.models`) whose transport is `handler`."""
    options = types.HttpOptions(
        base_url=BASE_URL,
        httpx_client=httpx.Client(transport=httpx.MockTransport(handler)),
        httpx_async_client=httpx.AsyncClient(transport=httpx.MockTransport(handler)),
    )
    if vertexai:
        return genai.Client(vertexai=True, api_key="test-key", http_options=options)
    return genai.Client(api_key="test-key", http_options=options)
