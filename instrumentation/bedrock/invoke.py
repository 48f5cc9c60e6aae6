"""InvokeModel and InvokeModelWithResponseStream for Anthropic Messages and Meta Llama bodies.

The request body is the model's own JSON (bytes or str; a file-like body is not read, so its
call gets the model id only). Which model family it is follows from the model id and the body:
Anthropic Messages (`anthropic_version`, `messages`) is operation `chat`, Llama (`prompt`) is
`text_completion`; any other family gets a span with the model id and no body attributes.

The response body is a botocore `StreamingBody`, readable once: agentwatch reads it and puts
an equivalent `StreamingBody` over the same bytes in its place, as the OpenTelemetry botocore
instrumentation does. Tokens: Anthropic's `usage` (input as the conventions' total, with its
cache reads and writes, as for the Anthropic API) and Llama's `prompt_token_count` /
`generation_token_count`. A stream's chunks are the same JSON, one per `chunk` event; its
last carries `amazon-bedrock-invocationMetrics`, whose counts are used when the chunks had none.
"""

from __future__ import annotations

import io
import json
from collections.abc import Mapping
from typing import Any

from agentwatch.instrumentation import semconv as sc
from agentwatch.instrumentation.anthropic import request as anthropic_request
from agentwatch.instrumentation.anthropic.responses import finish_reason as anthropic_reason
from agentwatch.instrumentation.invocation import Invocation
from agentwatch.instrumentation.pricing import anthropic_input_tokens
from agentwatch.instrumentation.quality.toolcalls import anthropic_tools
from agentwatch.instrumentation.telemetry import Telemetry
from agentwatch.instrumentation.values import as_float, as_int, as_str, field

ANTHROPIC = "anthropic"
LLAMA = "llama"
LLAMA_REASONS = {"stop": "stop", "length": "length"}
_METRICS = "amazon-bedrock-invocationMetrics"


def body_json(body: Any) -> Any:
    """The request body parsed, when it is JSON bytes or text (a file is never read)."""
    if isinstance(body, (bytes, bytearray, str)):
        try:
            return json.loads(body)
        except ValueError:
            return None
    return None


def family(model: str | None, body: Any) -> str | None:
    """`anthropic`, `llama`, or None for a body agentwatch does not read."""
    if not isinstance(body, Mapping):
        return None
    name = (model or "").lower()
    if "anthropic_version" in body or ("anthropic" in name and "messages" in body):
        return ANTHROPIC
    if "prompt" in body and ("meta." in name or "llama" in name):
        return LLAMA
    return None


def attributes(telemetry: Telemetry, kind: str | None, body: Any, stream: bool) -> dict[str, Any]:
    """Span attributes of an InvokeModel request of `kind`."""
    if kind == ANTHROPIC:
        return anthropic_request.messages_attributes(telemetry, body, stream)
    attrs: dict[str, Any] = {sc.REQUEST_STREAM: stream}
    if kind == LLAMA:
        attrs[sc.REQUEST_MAX_TOKENS] = as_int(body.get("max_gen_len"))
        attrs[sc.REQUEST_TEMPERATURE] = as_float(body.get("temperature"))
        attrs[sc.REQUEST_TOP_P] = as_float(body.get("top_p"))
        prompt = as_str(body.get("prompt"))
        if telemetry.content.enabled and prompt is not None:
            user = [{"role": "user", "parts": [{"type": "text", "content": prompt}]}]
            attrs[sc.INPUT_MESSAGES] = telemetry.content.render(user)
    return attrs


def offered_tools(kind: str | None, body: Any) -> Any:
    """The tools of an Anthropic body, else None."""
    tools = field(body, "tools") if kind == ANTHROPIC else None
    return anthropic_tools(tools) if isinstance(tools, list) and tools else None


def replace_body(result: Any) -> bytes | None:
    """Read the response's `StreamingBody` and put an equivalent one back; its bytes."""
    body = field(result, "body")
    if not isinstance(result, dict) or not hasattr(body, "read"):
        return None
    from botocore.response import StreamingBody  # type: ignore[import-untyped]

    data = body.read()
    result["body"] = StreamingBody(io.BytesIO(data), len(data))
    return data if isinstance(data, bytes) else None


# -- whole responses -------------------------------------------------------------------------


def _anthropic_usage(inv: Invocation, usage: Any) -> None:
    plain = as_int(field(usage, "input_tokens"))
    read = as_int(field(usage, "cache_read_input_tokens"))
    write = as_int(field(usage, "cache_creation_input_tokens"))
    if plain is not None:
        inv.input_tokens = anthropic_input_tokens(plain, read or 0, write or 0)
        inv.cache_read_tokens = read
        inv.cache_creation_tokens = write
    output = as_int(field(usage, "output_tokens"))
    if output is not None:
        inv.output_tokens = output


def _anthropic_message(inv: Invocation, message: Any) -> None:
    inv.response_id = as_str(field(message, "id")) or inv.response_id
    inv.response_model = as_str(field(message, "model")) or inv.response_model
    reason = anthropic_reason(field(message, "stop_reason"))
    if reason:
        inv.finish_reasons = [reason]
    _anthropic_usage(inv, field(message, "usage"))
    content = field(message, "content")
    content = content if isinstance(content, list) else []
    for block in content:
        kind = field(block, "type")
        if kind == "tool_use":
            inv.tool_call(field(block, "name"), field(block, "input"), field(block, "id"))
        elif kind == "text":
            inv.saw_text(field(block, "text"))
    if inv.telemetry.content.enabled:
        parts = [anthropic_request.block_part(b) for b in content if isinstance(b, Mapping)]
        inv.output_messages = [{"role": "assistant", "parts": parts, "finish_reason": reason or ""}]


def _llama_reason(value: Any) -> str | None:
    return LLAMA_REASONS.get(value, value) if isinstance(value, str) and value else None


def _llama(inv: Invocation, body: Any) -> None:
    text = as_str(field(body, "generation"))
    inv.saw_text(text)
    inv.input_tokens = as_int(field(body, "prompt_token_count"))
    inv.output_tokens = as_int(field(body, "generation_token_count"))
    reason = _llama_reason(field(body, "stop_reason"))
    if reason:
        inv.finish_reasons = [reason]
    if inv.telemetry.content.enabled and text is not None:
        part = {"type": "text", "content": text}
        inv.output_messages = [
            {"role": "assistant", "parts": [part], "finish_reason": reason or ""}
        ]


def read_body(inv: Invocation, kind: str | None, data: bytes | None) -> None:
    """A whole InvokeModel response body of `kind`."""
    if kind is None or data is None:
        return
    body = json.loads(data)
    if kind == ANTHROPIC:
        _anthropic_message(inv, body)
    else:
        _llama(inv, body)
    inv.answered = True


# -- streams ---------------------------------------------------------------------------------


class InvokeStream(Invocation):
    """The invocation of an InvokeModelWithResponseStream call of a known family."""

    __slots__ = ("kind", "text", "stop_reason", "metrics", "tool")

    def setup(self, kind: str) -> None:
        """Prepare the per-stream state."""
        self.kind = kind
        self.text: list[str] | None = [] if self.telemetry.content.enabled else None
        self.stop_reason: str | None = None
        self.metrics: Any = None
        self.tool: list[Any] | None = None  # [id, name, fragments] of the current tool use

    def end(self, error: BaseException | None = None) -> None:
        """Settle what the chunks said, then record once."""
        if not self.ended:
            try:
                self._settle()
            except Exception as exc:
                self.telemetry.error(f"{self.provider}.{self.operation}.stream_end", exc)
        super().end(error)

    def _settle(self) -> None:
        self._close_tool()
        if self.metrics is not None:  # Bedrock's own totals, for what the chunks lacked
            if self.input_tokens is None:
                self.input_tokens = as_int(field(self.metrics, "inputTokenCount"))
            if self.output_tokens is None:
                self.output_tokens = as_int(field(self.metrics, "outputTokenCount"))
        convert = anthropic_reason if self.kind == ANTHROPIC else _llama_reason
        reason = convert(self.stop_reason)
        self.finish_reasons = [reason] if reason else []
        self.answered = self.stop_reason is not None
        if self.text is not None:
            part = {"type": "text", "content": "".join(self.text)}
            self.output_messages = [
                {"role": "assistant", "parts": [part], "finish_reason": reason or ""}
            ]

    def _close_tool(self) -> None:
        if self.tool is not None:
            call_id, name, fragments = self.tool
            self.tool_call(name, "".join(fragments) or None, call_id)
            self.tool = None

    def piece(self, text: Any) -> None:
        """Output text of a chunk."""
        if isinstance(text, str) and text:
            self.saw_text(text)
            if self.text is not None:
                self.text.append(text)


def _anthropic_event(inv: InvokeStream, event: Mapping[str, Any]) -> None:
    kind = event.get("type")
    if kind == "content_block_delta":
        delta = field(event, "delta")
        if field(delta, "type") == "input_json_delta" and inv.tool is not None:
            fragment = field(delta, "partial_json")
            if isinstance(fragment, str):
                inv.tool[2].append(fragment)
        else:
            inv.piece(field(delta, "text"))
    elif kind == "message_start":
        message = field(event, "message")
        inv.response_id = as_str(field(message, "id")) or inv.response_id
        inv.response_model = as_str(field(message, "model")) or inv.response_model
        _anthropic_usage(inv, field(message, "usage"))
    elif kind == "content_block_start":
        block = field(event, "content_block")
        if field(block, "type") == "tool_use":
            inv.tool = [field(block, "id"), field(block, "name"), []]
    elif kind == "content_block_stop":
        inv._close_tool()
    elif kind == "message_delta":
        reason = field(field(event, "delta"), "stop_reason")
        if isinstance(reason, str):
            inv.stop_reason = reason
        _anthropic_usage(inv, field(event, "usage"))


def _llama_chunk(inv: InvokeStream, chunk: Mapping[str, Any]) -> None:
    inv.piece(chunk.get("generation"))
    prompt = as_int(chunk.get("prompt_token_count"))
    if prompt is not None:
        inv.input_tokens = prompt
    generated = as_int(chunk.get("generation_token_count"))
    if generated is not None:
        inv.output_tokens = generated  # a running total
    reason = chunk.get("stop_reason")
    if isinstance(reason, str):
        inv.stop_reason = reason


def on_event(inv: InvokeStream, event: Any) -> None:
    """One `{"chunk": {"bytes": ...}}` event: the model's JSON for that chunk."""
    data = field(field(event, "chunk"), "bytes")
    if not isinstance(data, (bytes, bytearray)):
        return
    chunk = json.loads(data)
    if not isinstance(chunk, Mapping):
        return
    metrics = chunk.get(_METRICS)
    if metrics is not None:
        inv.metrics = metrics
    if inv.kind == ANTHROPIC:
        _anthropic_event(inv, chunk)
    else:
        _llama_chunk(inv, chunk)
