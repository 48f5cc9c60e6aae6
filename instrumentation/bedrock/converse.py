"""Converse and ConverseStream: the request's parameters, the response's usage and stop reason.

Tokens: Converse's `usage.inputTokens` excludes the prompt-cache reads and writes
(`cacheReadInputTokens`, `cacheWriteInputTokens`, which `totalTokens` adds), so
`gen_ai.usage.input_tokens` is their sum, as the conventions ask (input counts every input
token), and the cache counts are recorded as they come. A stream carries them on its final
`metadata` event. Stop reasons become the conventions' finish reasons where one applies
(`end_turn`/`stop_sequence` -> `stop`, `max_tokens` -> `length`, `tool_use` -> `tool_call`,
`guardrail_intervened`/`content_filtered` -> `content_filter`), else pass through as sent.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from agentwatch.instrumentation import semconv as sc
from agentwatch.instrumentation.invocation import Invocation
from agentwatch.instrumentation.quality.toolcalls import Tool
from agentwatch.instrumentation.telemetry import Telemetry
from agentwatch.instrumentation.values import as_float, as_int, as_str, field

FINISH_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "tool_use": "tool_call",
    "guardrail_intervened": "content_filter",
    "content_filtered": "content_filter",
}


def finish_reason(reason: Any) -> str | None:
    """The conventions' finish reason for a Converse `stopReason`, or it as sent."""
    if not isinstance(reason, str) or not reason:
        return None
    return FINISH_REASONS.get(reason, reason)


def _stop(value: Any) -> tuple[str, ...] | None:
    if isinstance(value, (list, tuple)) and value and all(isinstance(v, str) for v in value):
        return tuple(value)
    return None


def attributes(telemetry: Telemetry, params: Mapping[str, Any], stream: bool) -> dict[str, Any]:
    """Span attributes of a Converse request."""
    config = params.get("inferenceConfig")
    extra = params.get("additionalModelRequestFields")
    attrs: dict[str, Any] = {
        sc.REQUEST_MAX_TOKENS: as_int(field(config, "maxTokens")),
        sc.REQUEST_TEMPERATURE: as_float(field(config, "temperature")),
        sc.REQUEST_TOP_P: as_float(field(config, "topP")),
        sc.REQUEST_TOP_K: as_float(field(extra, "top_k")),  # Anthropic's, passed through
        sc.REQUEST_STOP_SEQUENCES: _stop(field(config, "stopSequences")),
        sc.REQUEST_STREAM: stream,
    }
    if telemetry.content.enabled:
        render = telemetry.content.render
        system = params.get("system")
        if isinstance(system, (list, tuple)) and system:
            attrs[sc.SYSTEM_INSTRUCTIONS] = render([block_part(b) for b in system])
        messages = params.get("messages")
        if isinstance(messages, (list, tuple)):
            attrs[sc.INPUT_MESSAGES] = render([message(m) for m in messages])
        specs = _tool_specs(params)
        if specs:
            attrs[sc.TOOL_DEFINITIONS] = render([_definition(s) for s in specs])
    return attrs


def _tool_specs(params: Mapping[str, Any]) -> list[Any]:
    tools = field(params.get("toolConfig"), "tools")
    if not isinstance(tools, (list, tuple)):
        return []
    return [spec for t in tools if isinstance(spec := field(t, "toolSpec"), Mapping)]


def tools(params: Mapping[str, Any]) -> dict[str, Tool] | None:
    """The tools the request offers (`toolConfig.tools[].toolSpec`), with their schemas."""
    out: dict[str, Tool] = {}
    for spec in _tool_specs(params):
        name = spec.get("name")
        schema = field(spec.get("inputSchema"), "json")
        if isinstance(name, str):
            out[name] = Tool(name, schema if isinstance(schema, Mapping) else None)
    return out or None


# -- content, in the conventions' JSON shapes (only built when capture is on) ----------------


def _definition(spec: Mapping[str, Any]) -> dict[str, Any]:
    definition: dict[str, Any] = {
        "type": "function",
        "name": spec.get("name"),
        "description": spec.get("description") or "",
    }
    schema = field(spec.get("inputSchema"), "json")
    if schema is not None:
        definition["parameters"] = schema
    return definition


def block_part(block: Any) -> dict[str, Any]:
    """One Converse content block (`{"text"}`, `{"toolUse"}`, ...) as a message part."""
    if not isinstance(block, Mapping):
        return {"type": "unknown"}
    if "text" in block:
        return {"type": "text", "content": block["text"]}
    if "toolUse" in block:
        use = block["toolUse"]
        return {
            "type": "tool_call",
            "id": field(use, "toolUseId"),
            "name": field(use, "name"),
            "arguments": field(use, "input"),
        }
    if "toolResult" in block:
        result = block["toolResult"]
        content = field(result, "content")
        if isinstance(content, (list, tuple)):
            content = [field(c, "text") or field(c, "json") for c in content]
        return {"type": "tool_call_response", "id": field(result, "toolUseId"), "response": content}
    if "reasoningContent" in block:
        text = field(field(block["reasoningContent"], "reasoningText"), "text")
        return {"type": "reasoning", "content": text}
    for kind in ("image", "document", "video"):
        if kind in block:
            fmt = field(block[kind], "format")
            return {"type": "blob", "modality": kind, "mime_type": fmt}
    return {"type": next(iter(block), "unknown")}


def message(msg: Any) -> dict[str, Any]:
    """One Converse message as a ChatMessage."""
    content = field(msg, "content")
    parts = [block_part(b) for b in content] if isinstance(content, (list, tuple)) else []
    return {"role": field(msg, "role"), "parts": parts}


# -- responses -------------------------------------------------------------------------------


def read_usage(inv: Invocation, usage: Any) -> None:
    """Converse `usage`: input as the conventions' total (with the cache reads and writes)."""
    plain = as_int(field(usage, "inputTokens"))
    read = as_int(field(usage, "cacheReadInputTokens"))
    write = as_int(field(usage, "cacheWriteInputTokens"))
    if plain is not None:
        inv.input_tokens = plain + (read or 0) + (write or 0)
    inv.cache_read_tokens = read
    inv.cache_creation_tokens = write
    inv.output_tokens = as_int(field(usage, "outputTokens"))


def read_response(inv: Invocation, response: Any) -> None:
    """A whole Converse response."""
    reason = finish_reason(field(response, "stopReason"))
    if reason:
        inv.finish_reasons = [reason]
    read_usage(inv, field(response, "usage"))
    msg = field(field(response, "output"), "message")
    content = field(msg, "content")
    content = content if isinstance(content, list) else []
    for block in content:
        if not isinstance(block, Mapping):
            continue
        if "toolUse" in block:
            use = block["toolUse"]
            inv.tool_call(field(use, "name"), field(use, "input"), field(use, "toolUseId"))
        else:
            inv.saw_text(block.get("text"))
    inv.answered = True
    if inv.telemetry.content.enabled:
        parts = [block_part(b) for b in content]
        inv.output_messages = [{"role": "assistant", "parts": parts, "finish_reason": reason or ""}]


class _Block:
    """One streamed content block: a tool use (name, id, input fragments) or text."""

    __slots__ = ("tool_id", "name", "fragments", "text")

    def __init__(self) -> None:
        self.tool_id: Any = None
        self.name: Any = None
        self.fragments: list[str] = []
        self.text: list[str] = []

    def part(self) -> dict[str, Any]:
        if self.name is None:
            return {"type": "text", "content": "".join(self.text)}
        raw = "".join(self.fragments)
        try:
            arguments: Any = json.loads(raw) if raw else {}
        except ValueError:
            arguments = raw
        return {"type": "tool_call", "id": self.tool_id, "name": self.name, "arguments": arguments}


class ConverseStream(Invocation):
    """The invocation of a ConverseStream: blocks, stop reason and usage from its events."""

    __slots__ = ("stop_reason", "blocks", "keep_text")

    def setup(self) -> None:
        """Prepare the per-stream state."""
        self.stop_reason: str | None = None
        self.blocks: dict[int, _Block] = {}
        self.keep_text = self.telemetry.content.enabled

    def end(self, error: BaseException | None = None) -> None:
        """Settle what the events said, then record once."""
        if not self.ended:
            try:
                self._settle()
            except Exception as exc:
                self.telemetry.error(f"{self.provider}.{self.operation}.stream_end", exc)
        super().end(error)

    def _settle(self) -> None:
        reason = finish_reason(self.stop_reason)
        self.finish_reasons = [reason] if reason else []
        blocks = [b for _, b in sorted(self.blocks.items())]
        for block in blocks:
            if block.name is not None:
                self.tool_call(block.name, "".join(block.fragments) or None, block.tool_id)
        self.answered = self.stop_reason is not None
        if self.keep_text:
            parts = [b.part() for b in blocks]
            self.output_messages = [
                {"role": "assistant", "parts": parts, "finish_reason": reason or ""}
            ]


def _block(inv: ConverseStream, body: Any) -> _Block:
    index = as_int(field(body, "contentBlockIndex")) or 0
    block = inv.blocks.get(index)
    if block is None:
        block = inv.blocks[index] = _Block()
    return block


def on_event(inv: ConverseStream, event: Any) -> None:
    """One ConverseStream event (`{"contentBlockDelta": {...}}`, `{"metadata": {...}}`, ...)."""
    if not isinstance(event, Mapping):
        return
    delta_event = event.get("contentBlockDelta")
    if delta_event is not None:  # by far the commonest
        delta = field(delta_event, "delta")
        text = field(delta, "text")
        if isinstance(text, str):
            inv.saw_text(text)
            if inv.keep_text:
                _block(inv, delta_event).text.append(text)
            return
        fragment = field(field(delta, "toolUse"), "input")
        if isinstance(fragment, str):
            _block(inv, delta_event).fragments.append(fragment)
        return
    start = event.get("contentBlockStart")
    if start is not None:
        use = field(field(start, "start"), "toolUse")
        if use is not None:
            block = _block(inv, start)
            block.tool_id = field(use, "toolUseId")
            block.name = as_str(field(use, "name")) or ""
        return
    stop = event.get("messageStop")
    if stop is not None:
        inv.stop_reason = as_str(field(stop, "stopReason"))
        return
    metadata = event.get("metadata")
    if metadata is not None:
        read_usage(inv, field(metadata, "usage"))
