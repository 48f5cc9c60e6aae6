"""A fake OpenAI API behind `httpx2.MockTransport`: real JSON bodies and SSE streams.

Bodies follow the API reference (Chat Completions object and chunk, Responses object and
stream events, embeddings list); streams end with `data: [DONE]` as the API's do. The real
`openai` SDK parses them, so every test exercises the SDK's own code paths.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx2
import openai

MODEL = "gpt-4o-mini"
RESPONSE_MODEL = "gpt-4o-mini-2024-07-18"
HOST = "api.fake-openai.test"
BASE_URL = f"https://{HOST}/v1"
AZURE_ENDPOINT = "https://fake.openai.azure.com"
FINGERPRINT = "fp_44709d6fcb"
MESSAGES = [
    {"role": "system", "content": "You are terse."},
    {"role": "user", "content": "Say hello."},
]

Json = dict[str, Any]
Handler = Callable[[httpx2.Request], httpx2.Response]


def usage(prompt: int = 12, completion: int = 5, cached: int = 0, reasoning: int = 0) -> Json:
    """A Chat Completions `usage` object."""
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": cached, "audio_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": reasoning, "audio_tokens": 0},
    }


def tool_call(name: str, arguments: str = '{"city": "Paris"}', n: int = 0) -> Json:
    """One function tool call of an assistant message."""
    return {
        "id": f"call_{n}",
        "type": "function",
        "function": {"name": name, "arguments": arguments},
    }


def completion(
    content: str | None = "Hello!",
    *,
    choices: list[Json] | None = None,
    finish_reason: str = "stop",
    tool_calls: list[Json] | None = None,
    use: Json | None = None,
    id: str = "chatcmpl-123",
    model: str = RESPONSE_MODEL,
) -> Json:
    """A `chat.completion` object."""
    message: Json = {"role": "assistant", "content": content, "refusal": None}
    if tool_calls:
        message["tool_calls"] = tool_calls
    first = {"index": 0, "message": message, "logprobs": None, "finish_reason": finish_reason}
    return {
        "id": id,
        "object": "chat.completion",
        "created": 1_717_000_000,
        "model": model,
        "system_fingerprint": FINGERPRINT,
        "service_tier": "default",
        "choices": choices if choices is not None else [first],
        "usage": use if use is not None else usage(),
    }


def chunk(
    delta: Json | None = None,
    *,
    index: int = 0,
    finish_reason: str | None = None,
    use: Json | None = None,
    choices: list[Json] | None = None,
    id: str = "chatcmpl-456",
    model: str = RESPONSE_MODEL,
) -> Json:
    """A `chat.completion.chunk` object."""
    if choices is None:
        choice = {"index": index, "delta": delta or {}, "logprobs": None}
        choices = [{**choice, "finish_reason": finish_reason}]
    body: Json = {
        "id": id,
        "object": "chat.completion.chunk",
        "created": 1_717_000_000,
        "model": model,
        "system_fingerprint": FINGERPRINT,
        "choices": choices,
    }
    if use is not None:
        body["usage"] = use
    return body


def text_chunks(pieces: list[str], *, with_usage: Json | None = None) -> list[Json]:
    """A streamed answer: role, one chunk per piece, the finish reason, and maybe usage."""
    out = [chunk({"role": "assistant", "content": ""})]
    out += [chunk({"content": piece}) for piece in pieces]
    out.append(chunk({}, finish_reason="stop"))
    if with_usage is not None:
        out.append(chunk(choices=[], use=with_usage))  # the usage-only final chunk
    return out


def sse(events: list[Json], *, named: bool = False, done: bool = True) -> bytes:
    """Server-sent events: `data: {json}` (with `event: {type}` lines when `named`)."""
    lines = []
    for event in events:
        head = f"event: {event['type']}\n" if named else ""
        lines.append(f"{head}data: {json.dumps(event)}\n\n")
    if done:
        lines.append("data: [DONE]\n\n")
    return "".join(lines).encode()


def json_response(body: Any, status: int = 200) -> httpx2.Response:
    """A JSON response, as the API sends it."""
    return httpx2.Response(status, json=body, headers={"x-request-id": "req_1"})


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

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        body = json.loads(request.content) if request.content else {}
        self.requests.append({**body, "_path": request.url.path})
        return self.answer(body)


def fixed(response: Callable[[], httpx2.Response]) -> Api:
    """An `Api` that answers every request with a fresh `response()`."""
    return Api(lambda body: response())


def client(handler: Handler, *, azure: bool = False, **options: Any) -> openai.OpenAI:
    """A real `OpenAI` (or `AzureOpenAI`) client whose transport is `handler`."""
    http = httpx2.Client(transport=httpx2.MockTransport(handler))
    if azure:
        return openai.AzureOpenAI(
            api_key="test-key",
            api_version="2024-10-21",
            azure_endpoint=AZURE_ENDPOINT,
            http_client=http,
            max_retries=0,
            **options,
        )
    return openai.OpenAI(api_key="test-key", base_url=BASE_URL, http_client=http, max_retries=0)


def async_client(handler: Handler, *, azure: bool = False, **options: Any) -> openai.AsyncOpenAI:
    """`client` for `AsyncOpenAI` (or `AsyncAzureOpenAI`)."""
    http = httpx2.AsyncClient(transport=httpx2.MockTransport(handler))
    if azure:
        return openai.AsyncAzureOpenAI(
            api_key="test-key",
            api_version="2024-10-21",
            azure_endpoint=AZURE_ENDPOINT,
            http_client=http,
            max_retries=0,
            **options,
        )
    return openai.AsyncOpenAI(
        api_key="test-key", base_url=BASE_URL, http_client=http, max_retries=0
    )


# -- Responses API ---------------------------------------------------------------------------


def response(
    *,
    text: str = "Hello!",
    status: str = "completed",
    incomplete: str | None = None,
    function_call: str | None = None,
    tokens: tuple[int, int, int, int] = (20, 8, 4, 2),
    id: str = "resp_123",
    model: str = "gpt-4.1-2025-04-14",
) -> Json:
    """A Responses API `response` object; `tokens` = (input, output, cached, reasoning)."""
    output: list[Json] = []
    if text:
        part = {"type": "output_text", "text": text, "annotations": []}
        output.append(
            {
                "type": "message",
                "id": "msg_1",
                "status": "completed",
                "role": "assistant",
                "content": [part],
            }
        )
    if function_call:
        output.append(
            {
                "type": "function_call",
                "id": "fc_1",
                "call_id": "call_1",
                "name": function_call,
                "arguments": '{"city": "Paris"}',
                "status": "completed",
            }
        )
    inputs, outputs, cached, reasoning = tokens
    return {
        "id": id,
        "object": "response",
        "created_at": 1_741_476_542,
        "status": status,
        "incomplete_details": {"reason": incomplete} if incomplete else None,
        "model": model,
        "output": output,
        "parallel_tool_calls": True,
        "tool_choice": "auto",
        "tools": [],
        "service_tier": "default",
        "usage": {
            "input_tokens": inputs,
            "input_tokens_details": {"cached_tokens": cached, "cache_write_tokens": 0},
            "output_tokens": outputs,
            "output_tokens_details": {"reasoning_tokens": reasoning},
            "total_tokens": inputs + outputs,
        },
    }


def response_events(final: Json, pieces: list[str]) -> list[Json]:
    """The events of a streamed response ending in `final` (the API's order, text first)."""
    created = {**final, "status": "in_progress", "output": [], "usage": None}
    events: list[Json] = [
        {"type": "response.created", "response": created},
        {"type": "response.in_progress", "response": created},
    ]
    where = {"item_id": "msg_1", "output_index": 0, "content_index": 0}
    empty = {"type": "output_text", "annotations": [], "logprobs": [], "text": ""}
    message = {"id": "msg_1", "type": "message", "status": "in_progress", "role": "assistant"}
    events.append(
        {
            "type": "response.output_item.added",
            "output_index": 0,
            "item": {**message, "content": []},
        }
    )
    events.append({"type": "response.content_part.added", **where, "part": empty})
    for piece in pieces:
        events.append(
            {"type": "response.output_text.delta", **where, "delta": piece, "logprobs": []}
        )
    text = "".join(pieces)
    done = {**empty, "text": text}
    events.append({"type": "response.output_text.done", **where, "text": text, "logprobs": []})
    events.append({"type": "response.content_part.done", **where, "part": done})
    item = {**message, "status": "completed", "content": [done]}
    events.append({"type": "response.output_item.done", "output_index": 0, "item": item})
    kind = "response.completed" if final["status"] == "completed" else "response.incomplete"
    events.append({"type": kind, "response": final})
    return [{**event, "sequence_number": n} for n, event in enumerate(events)]


def embeddings(n: int = 2, dimensions: int = 4, prompt_tokens: int = 7) -> Json:
    """An embeddings `list` object with float vectors."""
    data = [{"object": "embedding", "index": i, "embedding": [0.25] * dimensions} for i in range(n)]
    return {
        "object": "list",
        "data": data,
        "model": "text-embedding-3-small",
        "usage": {"prompt_tokens": prompt_tokens, "total_tokens": prompt_tokens},
    }
