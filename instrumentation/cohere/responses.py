"""Readers of Cohere chat v2 responses and stream events: what they say, on the invocation.

The SDK builds its response models without validation (`UncheckedBaseModel`), so every field
is read with type checks: a surprising body gives missing values, skipped rather than
recorded.

Tokens: `usage.billed_units` (`input_tokens`, `output_tokens`), falling back to `usage.tokens`
when a response has no billed units. The two differ: `tokens` counts everything the model
read, including the prompt template, safety preamble and tool rendering Cohere adds around
the caller's messages, while `billed_units` counts the tokens Cohere charges for, which is
what the caller sent and got. agentwatch's token metrics and cost use one pair, so that the
cost is the price times the recorded tokens: the billed one. The model's own counts go on the
span as `cohere.usage.tokens.input` / `.output` when they differ, so the template overhead
stays visible. `usage.cached_tokens` is the cache read. The SDK types counts as floats; only
whole numbers are taken.

Finish reasons: `COMPLETE` and `STOP_SEQUENCE` are `stop`, `MAX_TOKENS` is `length`,
`TOOL_CALL` is `tool_call`, `ERROR` is `error`; any other (`TIMEOUT`) in lower case.
"""

from __future__ import annotations

from typing import Any

from agentwatch.instrumentation.chat_messages import arguments, tool_call_part
from agentwatch.instrumentation.cohere.request import parts
from agentwatch.instrumentation.invocation import Invocation
from agentwatch.instrumentation.values import as_str

MODEL_INPUT_TOKENS = "cohere.usage.tokens.input"
MODEL_OUTPUT_TOKENS = "cohere.usage.tokens.output"
"""The model's own token counts (`usage.tokens`), where they differ from the billed ones."""

FINISH_REASONS = {
    "COMPLETE": "stop",
    "STOP_SEQUENCE": "stop",
    "MAX_TOKENS": "length",
    "TOOL_CALL": "tool_call",
    "ERROR": "error",
}


def finish_reason(reason: Any) -> str | None:
    """The conventions' finish reason for a Cohere `finish_reason`."""
    name = as_str(reason)
    if not name:
        return None
    return FINISH_REASONS.get(name.upper(), name.lower())


def count(value: Any) -> int | None:
    """A token count: an int, or a float holding a whole number (as the SDK types them)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer() and value >= 0:
        return int(value)
    return None


def read_usage(inv: Invocation, usage: Any) -> None:
    """`Usage`: the billed units (else the model's tokens), cache reads, the model's counts."""
    if usage is None:
        return
    billed, model = getattr(usage, "billed_units", None), getattr(usage, "tokens", None)
    pairs = [
        (count(getattr(u, "input_tokens", None)), count(getattr(u, "output_tokens", None)))
        for u in (billed, model)
    ]
    (billed_in, billed_out), (model_in, model_out) = pairs
    use_billed = billed_in is not None or billed_out is not None
    inv.input_tokens, inv.output_tokens = pairs[0] if use_billed else pairs[1]
    inv.cache_read_tokens = count(getattr(usage, "cached_tokens", None)) or None
    if use_billed:
        if model_in is not None and model_in != billed_in:
            inv.span.set_attribute(MODEL_INPUT_TOKENS, model_in)
        if model_out is not None and model_out != billed_out:
            inv.span.set_attribute(MODEL_OUTPUT_TOKENS, model_out)


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _text_of(inv: Invocation, content: Any) -> None:
    for item in _list(content):
        if getattr(item, "type", None) == "text":
            inv.saw_text(getattr(item, "text", None))


def read_chat(inv: Invocation, response: Any) -> None:
    """A whole `V2ChatResponse` (it names no model: the request's prices it)."""
    inv.response_id = as_str(getattr(response, "id", None)) or inv.response_id
    reason = finish_reason(getattr(response, "finish_reason", None))
    if reason:
        inv.finish_reasons = [reason]
    message = getattr(response, "message", None)
    content = getattr(message, "content", None)
    _text_of(inv, content)
    calls = _list(getattr(message, "tool_calls", None))
    for call in calls:
        function = getattr(call, "function", None)
        name, raw = getattr(function, "name", None), getattr(function, "arguments", None)
        inv.tool_call(name, raw, getattr(call, "id", None))
    read_usage(inv, getattr(response, "usage", None))
    inv.answered = True
    if inv.telemetry.content.enabled:
        out = parts(content)
        out.extend(tool_call_part(c) for c in calls)
        inv.output_messages = [{"role": "assistant", "parts": out, "finish_reason": reason or ""}]


# -- streams ---------------------------------------------------------------------------------


class ChatStream(Invocation):
    """The invocation of `chat_stream`: identity, text, tool calls and usage from its events."""

    __slots__ = ("reason", "pending", "texts", "seen")

    def setup(self) -> None:
        """Prepare the per-stream state."""
        self.reason: str | None = None
        self.pending: dict[int, list[Any]] = {}  # index -> [id, name, argument pieces]
        # Text is kept (index -> pieces) only for content capture.
        self.texts: dict[int, list[str]] | None = {} if self.telemetry.content.enabled else None
        self.seen = False

    def end(self, error: BaseException | None = None) -> None:
        """Settle what the events said, then record once."""
        if not self.ended:
            try:
                self._settle()
            except Exception as exc:
                self.telemetry.error(f"{self.provider}.{self.operation}.stream_end", exc)
        super().end(error)

    def _settle(self) -> None:
        reason = finish_reason(self.reason)
        self.finish_reasons = [reason] if reason else []
        out: list[dict[str, Any]] = []
        for _, pieces in sorted((self.texts or {}).items()):
            out.append({"type": "text", "content": "".join(pieces)})
        for _, (call_id, name, pieces) in sorted(self.pending.items()):
            raw = "".join(pieces)
            self.tool_call(name, raw, call_id)
            call = {"type": "tool_call", "id": call_id, "name": name}
            out.append({**call, "arguments": arguments(raw)})
        self.answered = self.seen
        if self.telemetry.content.enabled:
            message = {"role": "assistant", "parts": out, "finish_reason": reason or ""}
            self.output_messages = [message]


def _index(event: Any) -> int:
    index = getattr(event, "index", None)
    return index if isinstance(index, int) and not isinstance(index, bool) else 0


def on_event(inv: ChatStream, event: Any) -> None:
    """One stream event (`message-start`, `content-delta`, `tool-call-*`, `message-end`, ...)."""
    kind = getattr(event, "type", None)
    message = getattr(getattr(event, "delta", None), "message", None)
    if kind == "content-delta":  # by far the commonest: first
        text = getattr(getattr(message, "content", None), "text", None)
        inv.saw_text(text)
        if inv.texts is not None and isinstance(text, str):
            inv.texts.setdefault(_index(event), []).append(text)
    elif kind == "tool-call-start":
        call = getattr(message, "tool_calls", None)
        function = getattr(call, "function", None)
        slot = inv.pending.setdefault(_index(event), [None, None, []])
        slot[0] = getattr(call, "id", None)
        slot[1] = getattr(function, "name", None)
        piece = getattr(function, "arguments", None)
        if isinstance(piece, str):
            slot[2].append(piece)
    elif kind == "tool-call-delta":
        function = getattr(getattr(message, "tool_calls", None), "function", None)
        piece = getattr(function, "arguments", None)
        started = inv.pending.get(_index(event))
        if started is not None and isinstance(piece, str):
            started[2].append(piece)
    elif kind == "message-start":
        inv.seen = True
        inv.response_id = as_str(getattr(event, "id", None)) or inv.response_id
    elif kind == "message-end":
        inv.seen = True
        delta = getattr(event, "delta", None)
        reason = as_str(getattr(delta, "finish_reason", None))
        if reason:
            inv.reason = reason
        read_usage(inv, getattr(delta, "usage", None))
