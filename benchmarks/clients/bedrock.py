"""Benchmark row for Bedrock: a real boto3 `bedrock-runtime` client answering Converse from memory.

The HTTP send is replaced at botocore's `before-send` hook with a real Converse JSON body, so
the call goes through botocore's serializer, signer and parser as in production.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

INSTRUMENTOR = "agentwatch.instrumentation.bedrock:BedrockInstrumentor"

_BODY = json.dumps(
    {
        "output": {
            "message": {"role": "assistant", "content": [{"text": "Hello! How can I help?"}]}
        },
        "stopReason": "end_turn",
        "usage": {"inputTokens": 12, "outputTokens": 7, "totalTokens": 19},
        "metrics": {"latencyMs": 412},
    }
).encode()


class _Raw:
    def stream(self, **_: Any) -> Any:
        yield _BODY

    def read(self, *_: Any) -> bytes:
        return _BODY


def plain_call() -> Callable[[], Any]:
    """A zero-argument function making one `converse` call (fake credentials, no network)."""
    import boto3
    from botocore.awsrequest import AWSResponse
    from botocore.config import Config

    client = boto3.client(
        "bedrock-runtime",
        region_name="us-east-1",
        aws_access_key_id="AKIAFAKEFAKEFAKE",
        aws_secret_access_key="fake-secret",
        config=Config(retries={"total_max_attempts": 1}),
    )

    def send(request: Any, **_: Any) -> AWSResponse:
        return AWSResponse(request.url, 200, {"content-type": "application/json"}, _Raw())

    client.meta.events.register("before-send.bedrock-runtime.Converse", send)
    messages = [{"role": "user", "content": [{"text": "Say hello."}]}]

    def call() -> Any:
        return client.converse(
            modelId="anthropic.claude-3-haiku-20240307-v1:0",
            messages=messages,
            inferenceConfig={"maxTokens": 64},
        )

    return call
