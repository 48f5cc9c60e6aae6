"""Benchmark row for google-genai: a real `genai.Client` answering `generateContent` from memory."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

INSTRUMENTOR = "agentwatch.instrumentation.google_genai:GoogleGenAIInstrumentor"

_BODY = json.dumps(
    {
        "candidates": [
            {
                "content": {"role": "model", "parts": [{"text": "Hello! How can I help?"}]},
                "finishReason": "STOP",
                "index": 0,
            }
        ],
        "usageMetadata": {
            "promptTokenCount": 26,
            "candidatesTokenCount": 10,
            "totalTokenCount": 36,
        },
        "modelVersion": "gemini-2.5-flash",
        "responseId": "bench-1",
    }
).encode()


def plain_call() -> Callable[[], Any]:
    """A zero-argument function making one non-streaming `models.generate_content` call."""
    import httpx
    from google import genai
    from google.genai import types

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=_BODY, headers={"content-type": "application/json"})

    options = types.HttpOptions(
        base_url="https://gemini.bench.test",
        httpx_client=httpx.Client(transport=httpx.MockTransport(handler)),
    )
    client = genai.Client(api_key="bench-key", http_options=options)
    config = types.GenerateContentConfig(temperature=0.2)

    def call() -> Any:
        return client.models.generate_content(
            model="gemini-2.5-flash", contents="Say hello.", config=config
        )

    return call
