"""Benchmark row for mistralai: a real `Mistral` client answering chat completions from memory."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

INSTRUMENTOR = "agentwatch.instrumentation.mistralai:MistralInstrumentor"

_BODY = json.dumps(
    {
        "id": "cmpl-bench",
        "object": "chat.completion",
        "model": "mistral-small-latest",
        "created": 1700000000,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "Hello! How can I help?"},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 26, "completion_tokens": 10, "total_tokens": 36},
    }
).encode()


def plain_call() -> Callable[[], Any]:
    """A zero-argument function making one non-streaming `chat.complete` call."""
    import httpx2
    from mistralai.client import Mistral, models

    def handler(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, content=_BODY, headers={"content-type": "application/json"})

    http = httpx2.Client(transport=httpx2.MockTransport(handler))
    client = Mistral(api_key="bench-key", server_url="https://mistral.bench.test", client=http)
    messages = [models.UserMessage(content="Say hello.")]

    def call() -> Any:
        return client.chat.complete(
            model="mistral-small-latest", messages=messages, temperature=0.2
        )

    return call
