"""A fake ollama server behind `httpx.MockTransport`: its real JSON bodies and NDJSON streams.

Bodies follow ollama's API docs (docs/api.md): `/api/chat` and `/api/generate` answer one JSON
object, or with `"stream": true` one JSON object per line, the last with `"done": true`,
`done_reason` and the counts (`prompt_eval_count`, `eval_count`, the durations in ns);
`/api/embed` answers `{"model", "embeddings", "prompt_eval_count", ...}`; errors are
`{"error": "..."}` with the HTTP status. The real `ollama` SDK parses them.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx
import ollama

MODEL = "llama3.2"
RESPONSE_MODEL = "llama3.2:latest"
HOST = "ollama.fake.test"
PORT = 11434
CREATED = "2025-10-07T08:52:19.385406455-07:00"
MESSAGES = [{"role": "user", "content": "Say hello."}]
Json = dict[str, Any]
Handler = Callable[[httpx.Request], httpx.Response]


class Api:
    """A handler that answers every request with `respond()` and keeps the requests."""

    def __init__(self, respond: Callable[[], httpx.Response]) -> None:
        self.respond = respond
        self.requests: list[Json] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append({**json.loads(request.content or b"{}"), "_path": request.url.path})
        return self.respond()


def counts(prompt: int | None = 26, output: int | None = 5) -> Json:
    """The final counts and durations ollama adds to a `done` response."""
    out: Json = {"total_duration": 4883583458, "load_duration": 1334875}
    if prompt is not None:
        out.update(prompt_eval_count=prompt, prompt_eval_duration=342546000)
    if output is not None:
        out.update(eval_count=output, eval_duration=4535599000)
    return out


def chat(
    content: str = "Hello!",
    *,
    tool_calls: list[Json] | None = None,
    done_reason: str = "stop",
    use: Json | None = None,
) -> Json:
    """A whole `/api/chat` response."""
    message: Json = {"role": "assistant", "content": content}
    if tool_calls is not None:
        message["tool_calls"] = tool_calls
    return {
        "model": RESPONSE_MODEL,
        "created_at": CREATED,
        "message": message,
        "done": True,
        "done_reason": done_reason,
        **(counts() if use is None else use),
    }


def generate(text: str = "Hello!", *, done_reason: str = "stop", use: Json | None = None) -> Json:
    """A whole `/api/generate` response (with the `context` ollama returns)."""
    return {
        "model": RESPONSE_MODEL,
        "created_at": CREATED,
        "response": text,
        "done": True,
        "done_reason": done_reason,
        "context": [1, 2, 3],
        **(counts() if use is None else use),
    }


def tool_call(name: str, arguments: Json | None = None) -> Json:
    """One `message.tool_calls` entry."""
    return {"function": {"name": name, "arguments": arguments or {"city": "Paris"}}}


def chat_chunks(pieces: list[str], *, tool_calls: list[Json] | None = None) -> list[Json]:
    """A chat stream: one chunk per piece, a tool-call chunk if any, then the `done` one."""
    chunks: list[Json] = [
        {
            "model": RESPONSE_MODEL,
            "created_at": CREATED,
            "message": {"role": "assistant", "content": p},
            "done": False,
        }
        for p in pieces
    ]
    if tool_calls:
        chunks.append(
            {
                "model": RESPONSE_MODEL,
                "created_at": CREATED,
                "message": {"role": "assistant", "content": "", "tool_calls": tool_calls},
                "done": False,
            }
        )
    chunks.append({**chat(""), "done_reason": "stop"})
    return chunks


def generate_chunks(pieces: list[str]) -> list[Json]:
    """A generate stream: one chunk per piece, then the `done` one with the counts."""
    chunks: list[Json] = [
        {"model": RESPONSE_MODEL, "created_at": CREATED, "response": p, "done": False}
        for p in pieces
    ]
    chunks.append(generate(""))
    return chunks


def ndjson(chunks: list[Json]) -> bytes:
    """The stream's body: one JSON object per line."""
    return b"".join(json.dumps(c).encode() + b"\n" for c in chunks)


def json_response(body: Json, status: int = 200) -> httpx.Response:
    """A JSON response."""
    return httpx.Response(status, json=body)


def stream_response(body: bytes) -> httpx.Response:
    """An NDJSON stream response (`application/x-ndjson`, as ollama sends)."""
    return httpx.Response(200, content=body, headers={"content-type": "application/x-ndjson"})


def error(message: str, status: int) -> httpx.Response:
    """An ollama error response."""
    return httpx.Response(status, json={"error": message})


class _Cut(httpx.SyncByteStream, httpx.AsyncByteStream):
    """A body that sends `prefix` and then fails as a dropped connection does."""

    def __init__(self, prefix: bytes) -> None:
        self.prefix = prefix

    def __iter__(self) -> Iterator[bytes]:
        yield self.prefix
        raise httpx.ReadError("connection reset")

    async def __aiter__(self) -> AsyncIterator[bytes]:
        yield self.prefix
        raise httpx.ReadError("connection reset")


def cut_response(prefix: bytes) -> httpx.Response:
    """A stream response cut after `prefix`."""
    return httpx.Response(
        200, stream=_Cut(prefix), headers={"content-type": "application/x-ndjson"}
    )


def fixed(respond: Callable[[], httpx.Response]) -> Api:
    """An API answering every request the same way."""
    return Api(respond)


def client(handler: Handler) -> ollama.Client:
    """A real `ollama.Client` whose httpx client uses the mock transport."""
    return ollama.Client(host=f"http://{HOST}:{PORT}", transport=httpx.MockTransport(handler))


def async_client(handler: Handler) -> ollama.AsyncClient:
    """A real `ollama.AsyncClient` whose httpx client uses the mock transport."""
    return ollama.AsyncClient(host=f"http://{HOST}:{PORT}", transport=httpx.MockTransport(handler))
