"""Readers of Mistral chat responses and stream events: what they say, on the invocation.

Responses are read with `getattr` and type checks, never trusted. Tokens: `usage.prompt_tokens`
and `usage.completion_tokens` as the API reports them (`prompt_tokens` counts every input
token; the cache reads are recorded from `prompt_tokens_details.cached_tokens` when the API
sends it). Finish reasons pass through as the API sends them (`stop`, `length`,
`tool_calls`, `error`), except `model_length` (the model's context filled up), which is
`length`. A stream's usage comes on its last event.
"""

from __future__ import annotations

from typing import Any

from agentwatch.instrumentation.chat_messages import arguments
from agentwatch.instrumentation.chat_messages import tool_call_part as _call_part
from agentwatch.instrumentation.invocation import Invocation
from agentwatch.instrumentation.mistralai.request import chunk_part, parts
from agentwatch.instrumentation.values import as_int, as_str, field

_REASONS = {"model_length": "length"}


def finish_reason(reason: Any) -> str | None:
    """The recorded finish reason of a choice."""
    name = as_str(getattr(reason, "value", reason))
    return _REASONS.get(name, name) if name else None


def read_usage(inv: Invocation, usage: Any) -> None:
    """`UsageInfo`: prompt and completion tokens, and cache reads when reported."""
    if usage is None:
        return
    inv.input_tokens = as_int(getattr(usage, "prompt_tokens", None))
    inv.output_tokens = as_int(getattr(usage, "completion_tokens", None))
    details = _extra(usage, "prompt_tokens_details")
    inv.cache_read_tokens = as_int(field(details, "cached_tokens"))


def _extra(model: Any, name: str) -> Any:
    """`getattr(model, name, None)` for a field the SDK's pydantic model may not declare.

    `UsageInfo` allows extra fields, and a missing one costs pydantic's `__getattr__` raising
    an AttributeError (about 1.5 us, a third of reading the response): an undeclared name is
    looked up in the model's extras directly.
    """
    own = getattr(model, "__dict__", None)
    if isinstance(own, dict) and name in own:
        return own[name]
    extra = getattr(model, "__pydantic_extra__", None)
    # Not a class attribute either (a property): read from the class dicts, since pydantic's
    # metaclass makes `hasattr(type(model), name)` raise its way to False as slowly.
    if isinstance(extra, dict) and not any(name in vars(k) for k in type(model).__mro__):
        return extra.get(name)
    return getattr(model, name, None)


def _identity(inv: Invocation, obj: Any) -> None:
    inv.response_id = as_str(getattr(obj, "id", None)) or inv.response_id
    inv.response_model = as_str(getattr(obj, "model", None)) or inv.response_model


def _text_of(inv: Invocation, content: Any) -> None:
    if isinstance(content, str):
        inv.saw_text(content)
    elif isinstance(content, list):
        for chunk in content:
            if getattr(chunk, "type", None) == "text":
                inv.saw_text(getattr(chunk, "text", None))


def _calls(message: Any) -> list[Any]:
    calls = getattr(message, "tool_calls", None)
    return calls if isinstance(calls, list) else []


def read_completion(inv: Invocation, response: Any) -> None:
    """A whole `ChatCompletionResponse`."""
    _identity(inv, response)
    choices = getattr(response, "choices", None)
    choices = choices if isinstance(choices, list) else []
    messages: list[dict[str, Any]] = []
    for choice in choices:
        reason = finish_reason(getattr(choice, "finish_reason", None))
        if reason:
            inv.finish_reasons.append(reason)
        message = getattr(choice, "message", None)
        _text_of(inv, getattr(message, "content", None))
        for call in _calls(message):
            function = getattr(call, "function", None)
            name, raw = getattr(function, "name", None), getattr(function, "arguments", None)
            inv.tool_call(name, raw, getattr(call, "id", None))
        if inv.telemetry.content.enabled:
            out = parts(getattr(message, "content", None))
            out.extend(_call_part(c) for c in _calls(message))
            messages.append({"role": "assistant", "parts": out, "finish_reason": reason or ""})
    read_usage(inv, getattr(response, "usage", None))
    inv.answered = True
    if inv.telemetry.content.enabled:
        inv.output_messages = messages


# -- streams ---------------------------------------------------------------------------------


class _Choice:
    """What one streamed choice said: its finish reason, tool calls, captured parts."""

    __slots__ = ("reason", "calls", "parts")

    def __init__(self) -> None:
        self.reason: str | None = None
        self.calls: dict[int, list[Any]] = {}  # call index -> [id, name, argument pieces]
        self.parts: list[dict[str, Any]] = []


class ChatStream(Invocation):
    """The invocation of a chat stream: finish reasons, tool calls and usage from its events."""

    __slots__ = ("choices", "seen")

    def setup(self) -> None:
        """Prepare the per-stream state."""
        self.choices: dict[int, _Choice] = {}
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
        messages: list[dict[str, Any]] = []
        for _, choice in sorted(self.choices.items()):
            if choice.reason:
                self.finish_reasons.append(choice.reason)
            out = _joined(choice.parts)
            for _, (call_id, name, pieces) in sorted(choice.calls.items()):
                raw = _argument_text(pieces)
                self.tool_call(name, raw, call_id)
                call = {"type": "tool_call", "id": call_id, "name": name}
                out.append({**call, "arguments": arguments(raw)})
            reason = choice.reason or ""
            messages.append({"role": "assistant", "parts": out, "finish_reason": reason})
        self.answered = self.seen
        if self.telemetry.content.enabled:
            self.output_messages = messages


def _argument_text(pieces: list[Any]) -> Any:
    """The arguments of a streamed call: its string pieces joined, or the one object sent."""
    if len(pieces) == 1 and not isinstance(pieces[0], str):
        return pieces[0]
    return "".join(p for p in pieces if isinstance(p, str))


def _joined(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for item in items:
        kind = item.get("type")
        last = out[-1] if out else None
        if last is not None and kind in ("text", "reasoning") and last.get("type") == kind:
            out[-1] = {**last, "content": f"{last['content']}{item['content']}"}
        else:
            out.append(item)
    return out


def on_event(inv: ChatStream, event: Any) -> None:
    """One `CompletionEvent`: its `data` is a `CompletionChunk`."""
    chunk = getattr(event, "data", None)
    if chunk is None:
        return
    inv.seen = True
    if not inv.response_id:
        _identity(inv, chunk)
    capture = inv.telemetry.content.enabled
    for choice in getattr(chunk, "choices", None) or ():
        index = as_int(getattr(choice, "index", None)) or 0
        state = inv.choices.get(index)
        if state is None:
            state = inv.choices[index] = _Choice()
        reason = finish_reason(getattr(choice, "finish_reason", None))
        if reason:
            state.reason = reason
        delta = getattr(choice, "delta", None)
        content = getattr(delta, "content", None)
        _text_of(inv, content)
        if capture:
            if isinstance(content, str) and content:
                state.parts.append({"type": "text", "content": content})
            elif isinstance(content, list):
                state.parts.extend(chunk_part(c) for c in content)
        for n, call in enumerate(_calls(delta)):
            slot = state.calls.setdefault(
                as_int(getattr(call, "index", None)) or n, [None, None, []]
            )
            function = getattr(call, "function", None)
            slot[0] = slot[0] or getattr(call, "id", None)
            slot[1] = slot[1] or getattr(function, "name", None)
            piece = getattr(function, "arguments", None)
            if piece is not None:
                slot[2].append(piece)
    read_usage(inv, getattr(chunk, "usage", None))
