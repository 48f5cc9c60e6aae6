"""Benchmark row for cohere: a real `cohere.ClientV2` answering `/v2/chat` from memory."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

INSTRUMENTOR = "agentwatch.instrumentation.cohere:CohereInstrumentor"

_BODY = json.dumps(
    {
        "id": "bench-1",
        "finish_reason": "COMPLETE",
        "message": {"role": "assistant", "content": [{"type": "text", "text": "Hello!"}]},
        "usage": {
            "billed_units": {"input_tokens": 26, "output_tokens": 10},
            "tokens": {"input_tokens": 224, "output_tokens": 10},
            "cached_tokens": 0,
        },
    }
).encode()


def plain_call() -> Callable[[], Any]:
    """A zero-argument function making one non-streaming `ClientV2.chat` call."""
    import cohere
    import httpx

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=_BODY, headers={"content-type": "application/json"})

    http = httpx.Client(transport=httpx.MockTransport(handler))
    client = cohere.ClientV2(
        api_key="bench-key", base_url="https://cohere.bench.test", httpx_client=http, max_retries=0
    )
    messages: Any = [{"role": "user", "content": "Say hello."}]

    def call() -> Any:
        return client.chat(model="command-a-03-2025", messages=messages, temperature=0.2)

    return call
