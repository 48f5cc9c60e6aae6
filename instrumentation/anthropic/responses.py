"""Readers of Anthropic Messages responses and stream events: what they say, on the invocation.

Response objects are read with `getattr` and type checks, never trusted: the SDK builds them
without validation, so a surprising body gives missing attributes or wrong types, and those are
skipped rather than recorded.

Tokens follow the conventions for Anthropic: the API's `input_tokens` excludes the cache reads
and writes, so `gen_ai.usage.input_tokens` is `input_tokens + cache_read_input_tokens +
cache_creation_input_tokens`, and the two cache counts are recorded as they come (that is
also the total `pricing.PriceTable.cost` expects).

Stop reasons become the conventions' finish reasons where one applies (`end_turn` and
`stop_sequence` -> `stop`, `max_tokens` -> `length`, `tool_use` -> `tool_call`, `refusal` ->
`content_filter`); any other (`pause_turn`, ...) is passed through as the API sent it.
"""

from __future__ import annotations

import json
from typing import Any

from agentwatch.instrumentation import semconv as sc
from agentwatch.instrumentation.anthropic.request import block_part
from agentwatch.instrumentation.invocation import Invocation
from agentwatch.instrumentation.pricing import anthropic_input_tokens
from agentwatch.instrumentation.values import as_int, as_str

FINISH_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "tool_use": "tool_call",
    "refusal": "content_filter",
}
_TOOL_BLOCKS = frozenset({"tool_use", "server_tool_use", "mcp_tool_use"})


def finish_reason(stop_reason: Any) -> str | None:
    """The conventions' finish reason for an Anthropic `stop_reason`, or it as sent."""
    if not isinstance(stop_reason, str) or not stop_reason:
        return None
    return FINISH_REASONS.get(stop_reason, stop_reason)


def _is_tool(block: Any) -> bool:
    kind = getattr(block, "type", None)
    return isinstance(kind, str) and kind in _TOOL_BLOCKS  # a malformed `type` may be a dict


def _tool_call(inv: Invocation, block: Any, arguments: Any) -> None:
    """A tool-use block; only `tool_use` (the request's own tools) is checked against them."""
    name, call_id = getattr(block, "name", None), getattr(block, "id", None)
    inv.tool_call(name, arguments, call_id, check=getattr(block, "type", None) == "tool_use")


def _identity(inv: Invocation, message: Any) -> None:
    inv.response_id = as_str(getattr(message, "id", None)) or inv.response_id
    inv.response_model = as_str(getattr(message, "model", None)) or inv.response_model


class Tokens:
    """The API's token counts as reported so far (message_delta's are running totals)."""

    __slots__ = ("input", "cache_read", "cache_creation", "cache_1h", "output", "thinking")

    def __init__(self) -> None:
        self.input: int | None = None
        self.cache_read: int | None = None
        self.cache_creation: int | None = None
        self.cache_1h: int | None = None
        self.output: int | None = None
        self.thinking: int | None = None

    def update(self, usage: Any) -> None:
        """Take every count `usage` has; absent ones keep their earlier value."""
        if usage is None:
            return
        for key, name in (
            ("input", "input_tokens"),
            ("cache_read", "cache_read_input_tokens"),
            ("cache_creation", "cache_creation_input_tokens"),
            ("output", "output_tokens"),
        ):
            value = as_int(getattr(usage, name, None))
            if value is not None:
                setattr(self, key, value)
        # Of the writes, the 1-hour ones (`cache_creation.ephemeral_1h_input_tokens`).
        one_hour = as_int(
            getattr(getattr(usage, "cache_creation", None), "ephemeral_1h_input_tokens", None)
        )
        if one_hour is not None:
            self.cache_1h = one_hour
        details = getattr(usage, "output_tokens_details", None)
        thinking = as_int(getattr(details, "thinking_tokens", None))
        if thinking is not None:
            self.thinking = thinking

    def settle(self, inv: Invocation) -> None:
        """Put the counts on the invocation, input as the conventions' total."""
        if self.input is not None:
            inv.input_tokens = anthropic_input_tokens(
                self.input, self.cache_read or 0, self.cache_creation or 0
            )
        inv.cache_read_tokens = self.cache_read
        inv.cache_creation_tokens = self.cache_creation
        inv.cache_creation_1h_tokens = self.cache_1h
        inv.output_tokens = self.output
        inv.reasoning_tokens = self.thinking


def read_message(inv: Invocation, message: Any) -> None:
    """A whole `Message` (or `ParsedMessage`, `BetaMessage`)."""
    _identity(inv, message)
    reason = finish_reason(getattr(message, "stop_reason", None))
    if reason:
        inv.finish_reasons = [reason]
    tokens = Tokens()
    tokens.update(getattr(message, "usage", None))
    tokens.settle(inv)
    content = getattr(message, "content", None)
    content = content if isinstance(content, list) else []
    for block in content:
        if _is_tool(block):
            _tool_call(inv, block, getattr(block, "input", None))
        elif getattr(block, "type", None) == "text":
            inv.saw_text(getattr(block, "text", None))
    inv.answered = True
    if inv.telemetry.content.enabled:
        parts = [block_part(b) for b in content]
        inv.output_messages = [{"role": "assistant", "parts": parts, "finish_reason": reason or ""}]


def read_token_count(inv: Invocation, result: Any) -> None:
    """A `MessageTokensCount`: the count is the answer, not usage, so it is no token metric."""
    count = as_int(getattr(result, "input_tokens", None))
    if count is not None:
        inv.span.set_attribute(sc.ANTHROPIC_COUNT_TOKENS_INPUT_TOKENS, count)


# -- streams ---------------------------------------------------------------------------------


class _Block:
    """What one streamed content block said (kept only when content capture is on)."""

    __slots__ = ("tool", "kind", "id", "name", "text", "json")

    def __init__(self, block: Any) -> None:
        self.tool = _is_tool(block)
        self.kind = getattr(block, "type", None)
        self.id = getattr(block, "id", None)
        self.name = getattr(block, "name", None)
        text = getattr(block, "text", None)
        self.text: list[str] = [text] if isinstance(text, str) and text else []
        self.json: list[str] = []

    def part(self) -> dict[str, Any]:
        if self.tool:
            raw = "".join(self.json)
            try:
                arguments: Any = json.loads(raw) if raw else {}
            except ValueError:
                arguments = raw
            return {"type": "tool_call", "id": self.id, "name": self.name, "arguments": arguments}
        if self.kind == "thinking":
            return {"type": "reasoning", "content": "".join(self.text)}
        if self.kind == "text":
            return {"type": "text", "content": "".join(self.text)}
        return {"type": str(self.kind)}


class MessageStream(Invocation):
    """The invocation of a streamed message: usage, stop reason and blocks from its events."""

    __slots__ = ("tokens", "stop_reason", "blocks")

    def setup(self) -> None:
        """Prepare the per-stream state."""
        self.tokens = Tokens()
        self.stop_reason: str | None = None
        # Blocks are kept whole for content capture, for checking tool calls against the
        # request's tools, and for checking that JSON asked for parses; else never.
        keep = (
            self.telemetry.content.enabled
            or self.offered_tools is not None
            or self.text_parts is not None
        )
        self.blocks: dict[int, _Block] | None = {} if keep else None

    def end(self, error: BaseException | None = None) -> None:
        """Settle what the events said, then record once."""
        if not self.ended:
            try:
                self._settle()
            except Exception as exc:
                self.telemetry.error(f"{self.provider}.{self.operation}.stream_end", exc)
        super().end(error)

    def _settle(self) -> None:
        self.tokens.settle(self)
        reason = finish_reason(self.stop_reason)
        self.finish_reasons = [reason] if reason else []
        blocks = [b for _, b in sorted((self.blocks or {}).items())]
        for block in blocks:
            if block.tool:
                arguments = "".join(block.json) or None
                self.tool_call(block.name, arguments, block.id, check=block.kind == "tool_use")
            elif block.kind == "text":
                self.saw_text("".join(block.text))
        self.answered = self.response_id is not None
        if self.telemetry.content.enabled:
            parts = [b.part() for b in blocks]
            self.output_messages = [
                {"role": "assistant", "parts": parts, "finish_reason": reason or ""}
            ]


def _capture_delta(inv: MessageStream, event: Any) -> None:
    assert inv.blocks is not None
    block = inv.blocks.get(as_int(getattr(event, "index", None)) or 0)
    delta = getattr(event, "delta", None)
    if block is None or delta is None:
        return
    kind = getattr(delta, "type", None)
    if kind == "text_delta":
        piece = getattr(delta, "text", None)
    elif kind == "thinking_delta":
        piece = getattr(delta, "thinking", None)
    elif kind == "input_json_delta":
        piece = getattr(delta, "partial_json", None)
        if isinstance(piece, str):
            block.json.append(piece)
        return
    else:
        return
    if isinstance(piece, str):
        block.text.append(piece)


def on_event(inv: MessageStream, event: Any) -> None:
    """One raw stream event (`message_start`, `content_block_*`, `message_delta`, ...)."""
    kind = getattr(event, "type", None)
    if kind == "content_block_delta":  # by far the commonest: first, and cheap
        if inv.blocks is not None:
            _capture_delta(inv, event)
        elif not inv.text_seen:
            delta = getattr(event, "delta", None)
            if getattr(delta, "type", None) == "text_delta" and getattr(delta, "text", None):
                inv.text_seen = True
    elif kind == "message_start":
        message = getattr(event, "message", None)
        _identity(inv, message)
        inv.tokens.update(getattr(message, "usage", None))
    elif kind == "content_block_start":
        block = getattr(event, "content_block", None)
        if inv.blocks is None and _is_tool(block):
            _tool_call(inv, block, None)  # named now; whole calls are checked at the end
        if inv.blocks is not None:
            inv.blocks[as_int(getattr(event, "index", None)) or 0] = _Block(block)
    elif kind == "message_delta":
        reason = getattr(getattr(event, "delta", None), "stop_reason", None)
        if isinstance(reason, str):
            inv.stop_reason = reason
        inv.tokens.update(getattr(event, "usage", None))
