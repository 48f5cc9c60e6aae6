"""Benchmark row for LiteLLM: `litellm.completion` on its OpenAI route, answered from memory.

The route's `openai.OpenAI` client (LiteLLM's `client=`) has an `httpx2.MockTransport` with a
real Chat Completions body. `LITELLM_LOCAL_MODEL_COST_MAP=True` keeps LiteLLM's import offline.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from typing import Any

INSTRUMENTOR = "agentwatch.instrumentation.litellm:LiteLLMInstrumentor"

_BODY = json.dumps(
    {
        "id": "chatcmpl-123",
        "object": "chat.completion",
        "created": 1741569952,
        "model": "gpt-4o-mini-2024-07-18",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "Hello! How can I help?"},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 12, "completion_tokens": 7, "total_tokens": 19},
    }
).encode()


def plain_call() -> Callable[[], Any]:
    """A zero-argument function making one non-streaming `litellm.completion` call."""
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    import httpx2
    import litellm
    import openai

    def handler(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, content=_BODY, headers={"content-type": "application/json"})

    http = httpx2.Client(transport=httpx2.MockTransport(handler))
    client = openai.OpenAI(
        api_key="test-key", base_url="https://api.fake-openai.test/v1", http_client=http
    )
    messages = [{"role": "user", "content": "Say hello."}]

    def call() -> Any:
        return litellm.completion("gpt-4o-mini", messages, client=client)

    return call
