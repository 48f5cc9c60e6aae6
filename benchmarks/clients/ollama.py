"""Benchmark row for ollama: a real `ollama.Client` answering `/api/chat` from memory."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

INSTRUMENTOR = "agentwatch.instrumentation.ollama:OllamaInstrumentor"

_BODY = json.dumps(
    {
        "model": "llama3.2:latest",
        "created_at": "2025-10-07T08:52:19.385406455-07:00",
        "message": {"role": "assistant", "content": "Hello! How can I help you today?"},
        "done": True,
        "done_reason": "stop",
        "total_duration": 4883583458,
        "load_duration": 1334875,
        "prompt_eval_count": 26,
        "prompt_eval_duration": 342546000,
        "eval_count": 10,
        "eval_duration": 4535599000,
    }
).encode()


def plain_call() -> Callable[[], Any]:
    """A zero-argument function making one non-streaming `Client.chat` call."""
    import httpx
    import ollama

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=_BODY, headers={"content-type": "application/json"})

    client = ollama.Client(host="http://127.0.0.1:11434", transport=httpx.MockTransport(handler))
    messages = [{"role": "user", "content": "Say hello."}]

    def call() -> Any:
        return client.chat("llama3.2", messages, options={"temperature": 0.2})

    return call
