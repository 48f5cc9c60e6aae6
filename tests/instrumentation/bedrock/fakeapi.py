# mypy: disable-error-code="import-untyped"
"""A fake Bedrock Runtime: botocore's Stubber for whole responses, real event-stream bytes for
streams.

Whole responses (Converse, InvokeModel, errors) go through `botocore.stub.Stubber`, which
validates them against the service model. The Stubber cannot express an event stream, so the
streaming operations answer at botocore's `before-send` hook with an HTTP response whose body
is real AWS event-stream framing (prelude, headers, payload, CRC32s), parsed by botocore's own
`EventStream`. Shapes follow the Bedrock Runtime API reference: Converse `output.message`,
`stopReason`, `usage`; ConverseStream events `messageStart`, `contentBlockStart`/`Delta`/`Stop`,
`messageStop`, `metadata`; InvokeModel bodies of Anthropic Messages and Meta Llama, and their
streamed `chunk` events with `amazon-bedrock-invocationMetrics` on the last.
"""

from __future__ import annotations

import json
import struct
from binascii import crc32
from collections.abc import Iterator
from typing import Any

import boto3
from botocore.awsrequest import AWSResponse
from botocore.config import Config
from urllib3.exceptions import ProtocolError

REGION = "us-east-1"
HOST = f"bedrock-runtime.{REGION}.amazonaws.com"
CLAUDE = "anthropic.claude-3-haiku-20240307-v1:0"
LLAMA = "meta.llama3-8b-instruct-v1:0"
MESSAGES = [{"role": "user", "content": [{"text": "Say hello."}]}]
Json = dict[str, Any]


def client() -> Any:
    """A real boto3 `bedrock-runtime` client (fake credentials from the test's environment)."""
    config = Config(retries={"total_max_attempts": 1})  # an error is the test's answer
    return boto3.client("bedrock-runtime", region_name=REGION, config=config)


# -- Converse --------------------------------------------------------------------------------


def usage(
    input: int = 12, output: int = 5, read: int | None = None, write: int | None = None
) -> Json:
    """A Converse `usage` (totalTokens counts the cache reads and writes too)."""
    out: Json = {
        "inputTokens": input,
        "outputTokens": output,
        "totalTokens": input + output + (read or 0) + (write or 0),
    }
    if read is not None:
        out["cacheReadInputTokens"] = read
    if write is not None:
        out["cacheWriteInputTokens"] = write
    return out


def converse(
    content: list[Json] | None = None, stop_reason: str = "end_turn", use: Json | None = None
) -> Json:
    """A whole Converse response."""
    return {
        "output": {"message": {"role": "assistant", "content": content or [{"text": "Hello!"}]}},
        "stopReason": stop_reason,
        "usage": use or usage(),
        "metrics": {"latencyMs": 412},
    }


def tool_use(name: str, arguments: Json | None = None, n: int = 0) -> Json:
    """A Converse `toolUse` content block."""
    return {"toolUse": {"toolUseId": f"tooluse_{n}", "name": name, "input": arguments or {}}}


def converse_events(
    pieces: list[str], *, tool: tuple[str, list[str]] | None = None, stop: str = "end_turn"
) -> list[tuple[str, Json]]:
    """The events of a ConverseStream: (event type, payload)."""
    out: list[tuple[str, Json]] = [("messageStart", {"role": "assistant"})]
    for piece in pieces:
        out.append(("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": piece}}))
    out.append(("contentBlockStop", {"contentBlockIndex": 0}))
    if tool is not None:
        name, fragments = tool
        start = {"toolUse": {"toolUseId": "tooluse_1", "name": name}}
        out.append(("contentBlockStart", {"contentBlockIndex": 1, "start": start}))
        for fragment in fragments:
            delta = {"toolUse": {"input": fragment}}
            out.append(("contentBlockDelta", {"contentBlockIndex": 1, "delta": delta}))
        out.append(("contentBlockStop", {"contentBlockIndex": 1}))
    out.append(("messageStop", {"stopReason": stop}))
    out.append(("metadata", {"usage": usage(), "metrics": {"latencyMs": 350}}))
    return out


# -- InvokeModel bodies ----------------------------------------------------------------------


def claude_body(**extra: Any) -> bytes:
    """An Anthropic Messages request body as Bedrock takes it."""
    body = {
        "anthropic_version": "bedrock-2023-05-31",
        "max_tokens": 256,
        "messages": [{"role": "user", "content": "Say hello."}],
        **extra,
    }
    return json.dumps(body).encode()


def claude_message(
    content: list[Json] | None = None, stop_reason: str = "end_turn", **use: int
) -> Json:
    """An Anthropic Messages response body from Bedrock."""
    return {
        "id": "msg_bdrk_01",
        "type": "message",
        "role": "assistant",
        "model": "claude-3-haiku-20240307",
        "content": content or [{"type": "text", "text": "Hello!"}],
        "stop_reason": stop_reason,
        "stop_sequence": None,
        "usage": {"input_tokens": 12, "output_tokens": 5, **use},
    }


def llama_body() -> bytes:
    """A Meta Llama request body."""
    prompt = "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\nSay hello.<|eot_id|>"
    return json.dumps(
        {"prompt": prompt, "max_gen_len": 128, "temperature": 0.5, "top_p": 0.9}
    ).encode()


def llama_generation(text: str = "Hello!", stop_reason: str = "stop") -> Json:
    """A Meta Llama response body."""
    return {
        "generation": text,
        "prompt_token_count": 17,
        "generation_token_count": 3,
        "stop_reason": stop_reason,
    }


def claude_chunks(pieces: list[str]) -> list[Json]:
    """The chunks of an Anthropic stream on Bedrock (the last with Bedrock's metrics)."""
    start = claude_message([], stop_reason="")
    start.update(stop_reason=None, usage={"input_tokens": 12, "output_tokens": 1})
    chunks: list[Json] = [
        {"type": "message_start", "message": start},
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
    ]
    for piece in pieces:
        delta = {"type": "text_delta", "text": piece}
        chunks.append({"type": "content_block_delta", "index": 0, "delta": delta})
    chunks.append({"type": "content_block_stop", "index": 0})
    chunks.append(
        {
            "type": "message_delta",
            "delta": {"stop_reason": "end_turn", "stop_sequence": None},
            "usage": {"output_tokens": 6},
        }
    )
    metrics = {
        "inputTokenCount": 12,
        "outputTokenCount": 6,
        "invocationLatency": 640,
        "firstByteLatency": 220,
    }
    chunks.append({"type": "message_stop", "amazon-bedrock-invocationMetrics": metrics})
    return chunks


def llama_chunks(pieces: list[str]) -> list[Json]:
    """The chunks of a Llama stream: running counts, the stop reason and metrics on the last."""
    chunks: list[Json] = []
    for n, piece in enumerate(pieces):
        chunks.append(
            {
                "generation": piece,
                "prompt_token_count": 17 if n == 0 else None,
                "generation_token_count": n + 1,
                "stop_reason": None,
            }
        )
    metrics = {"inputTokenCount": 17, "outputTokenCount": len(pieces)}
    last: Json = {"generation": "", "prompt_token_count": None, "stop_reason": "stop"}
    last.update(generation_token_count=len(pieces), **{"amazon-bedrock-invocationMetrics": metrics})
    chunks.append(last)
    return chunks


def chunk_events(chunks: list[Json]) -> list[tuple[str, Json]]:
    """InvokeModelWithResponseStream events: each chunk's JSON as base64 `bytes`."""
    import base64

    return [("chunk", {"bytes": base64.b64encode(json.dumps(c).encode()).decode()}) for c in chunks]


# -- AWS event-stream framing ----------------------------------------------------------------


def _header(name: str, value: str) -> bytes:
    raw_name, raw_value = name.encode(), value.encode()
    return (
        bytes([len(raw_name)]) + raw_name + b"\x07" + struct.pack(">H", len(raw_value)) + raw_value
    )


def frame(headers: dict[str, str], payload: bytes) -> bytes:
    """One event-stream message: prelude (lengths, CRC), headers, payload, message CRC."""
    head = b"".join(_header(k, v) for k, v in headers.items())
    total = 12 + len(head) + len(payload) + 4
    prelude = struct.pack(">II", total, len(head))
    prelude += struct.pack(">I", crc32(prelude) & 0xFFFFFFFF)
    message = prelude + head + payload
    return message + struct.pack(">I", crc32(message) & 0xFFFFFFFF)


def event(kind: str, payload: Json) -> bytes:
    """An `event` message of type `kind` with a JSON payload."""
    headers = {":event-type": kind, ":content-type": "application/json", ":message-type": "event"}
    return frame(headers, json.dumps(payload).encode())


def exception(kind: str, message: str) -> bytes:
    """An `exception` message (a modeled stream error such as `throttlingException`)."""
    headers = {
        ":exception-type": kind,
        ":content-type": "application/json",
        ":message-type": "exception",
    }
    return frame(headers, json.dumps({"message": message}).encode())


class _Raw:
    """An HTTP body for botocore: `stream()` yields the bytes, optionally cut after them."""

    def __init__(self, data: bytes, cut: bool = False) -> None:
        self.data, self.cut, self.closed = data, cut, False

    def stream(self, **_: Any) -> Iterator[bytes]:
        for start in range(0, len(self.data), 64):  # in pieces, as a socket gives them
            yield self.data[start : start + 64]
        if self.cut:
            raise ProtocolError("Connection broken: IncompleteRead")

    def read(self, *_: Any) -> bytes:
        return self.data

    def close(self) -> None:
        self.closed = True


def answer_stream(client: Any, operation: str, data: bytes, cut: bool = False) -> _Raw:
    """Make `client` answer `operation` with an event-stream body; the body, to inspect."""
    raw = _Raw(data, cut)

    def send(request: Any, **_: Any) -> AWSResponse:
        headers = {"content-type": "application/vnd.amazon.eventstream"}
        return AWSResponse(request.url, 200, headers, raw)

    client.meta.events.register(f"before-send.bedrock-runtime.{operation}", send)
    return raw


def stream_bytes(events: list[tuple[str, Json]]) -> bytes:
    """The bytes of a whole event stream."""
    return b"".join(event(kind, payload) for kind, payload in events)
