"""Readers of OpenAI responses and stream chunks: what they say, set on the invocation.

Response objects are read with `getattr` and type checks, never trusted: the SDK builds them
without validation, so a surprising body gives missing attributes or wrong types, and those are
skipped rather than recorded. The per-chunk parsers are the hot path of a stream (see
`streams.py`): attribute reads and, only when needed, a list append.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from agentwatch.instrumentation import semconv as sc
from agentwatch.instrumentation import tokens
from agentwatch.instrumentation.chat_messages import arguments, tool_call_part
from agentwatch.instrumentation.invocation import Invocation
from agentwatch.instrumentation.values import field

_ENDED = frozenset({"response.completed", "response.incomplete", "response.failed"})
_TOOL_ITEMS = frozenset({"function_call", "custom_tool_call", "mcp_call"})


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _call(inv: Invocation, call: Any) -> None:
    """A Chat Completions tool call (function or custom) of a whole message."""
    function = field(call, "function")
    if function is not None:
        inv.tool_call(field(function, "name"), field(function, "arguments"), field(call, "id"))
        return
    custom = field(call, "custom")
    inv.tool_call(field(custom, "name"), field(custom, "input"), field(call, "id"))


def _identity(inv: Invocation, obj: Any) -> None:
    """Id, model, system fingerprint and service tier of a response or a stream's chunk."""
    inv.response_id = _str(getattr(obj, "id", None)) or inv.response_id
    inv.response_model = _str(getattr(obj, "model", None)) or inv.response_model
    fingerprint = _str(getattr(obj, "system_fingerprint", None))
    if fingerprint:
        inv.span.set_attribute(sc.OPENAI_RESPONSE_SYSTEM_FINGERPRINT, fingerprint)
    tier = _str(getattr(obj, "service_tier", None))
    if tier:
        inv.span.set_attribute(sc.OPENAI_RESPONSE_SERVICE_TIER, tier)


def read_chat_usage(inv: Invocation, usage: Any) -> None:
    """Chat Completions usage; `prompt_tokens` already includes the cached ones."""
    inv.input_tokens = _int(getattr(usage, "prompt_tokens", None))
    inv.output_tokens = _int(getattr(usage, "completion_tokens", None))
    prompt = getattr(usage, "prompt_tokens_details", None)
    inv.cache_read_tokens = _int(getattr(prompt, "cached_tokens", None))
    inv.cache_creation_tokens = _int(getattr(prompt, "cache_write_tokens", None))
    completion = getattr(usage, "completion_tokens_details", None)
    inv.reasoning_tokens = _int(getattr(completion, "reasoning_tokens", None))


def read_completion(inv: Invocation, completion: Any) -> None:
    """A whole `ChatCompletion` (or `ParsedChatCompletion`)."""
    _identity(inv, completion)
    choices = getattr(completion, "choices", None)
    choices = choices if isinstance(choices, list) else []
    for choice in choices:
        reason = _str(getattr(choice, "finish_reason", None))
        if reason:
            inv.finish_reasons.append(reason)
        message = getattr(choice, "message", None)
        inv.saw_text(getattr(message, "content", None))
        if isinstance(getattr(message, "refusal", None), str):
            inv.refused = True
        for call in getattr(message, "tool_calls", None) or ():
            _call(inv, call)
        legacy = getattr(message, "function_call", None)  # the deprecated `functions` API
        if legacy is not None:
            inv.tool_call(field(legacy, "name"), field(legacy, "arguments"))
    inv.answered = True
    usage = getattr(completion, "usage", None)
    if usage is not None:
        read_chat_usage(inv, usage)
    if inv.telemetry.content.enabled:
        inv.output_messages = [_choice_message(c) for c in choices]


def _choice_message(choice: Any) -> dict[str, Any]:
    message = getattr(choice, "message", None)
    parts: list[dict[str, Any]] = []
    content = getattr(message, "content", None)
    if isinstance(content, str):
        parts.append({"type": "text", "content": content})
    refusal = getattr(message, "refusal", None)
    if isinstance(refusal, str):
        parts.append({"type": "refusal", "content": refusal})
    parts.extend(tool_call_part(c) for c in getattr(message, "tool_calls", None) or ())
    return {
        "role": _str(getattr(message, "role", None)) or "assistant",
        "parts": parts,
        "finish_reason": _str(getattr(choice, "finish_reason", None)) or "",
    }


def read_embeddings(inv: Invocation, result: Any) -> None:
    """A `CreateEmbeddingResponse`: model and input tokens (embeddings have no output)."""
    inv.response_model = _str(getattr(result, "model", None))
    inv.input_tokens = _int(getattr(getattr(result, "usage", None), "prompt_tokens", None))


# -- Responses API ---------------------------------------------------------------------------


def read_response(inv: Invocation, response: Any) -> None:
    """A Responses API `Response`: identity, status, usage, tool calls, output."""
    _identity(inv, response)
    status = _str(getattr(response, "status", None))
    reason = _str(getattr(getattr(response, "incomplete_details", None), "reason", None))
    # The Responses API has no finish reason: its `incomplete_details.reason` (say
    # `max_output_tokens`) when there is one, else the status (`completed`, `failed`).
    if reason or status:
        inv.finish_reasons = [reason or status or ""]
    usage = getattr(response, "usage", None)
    if usage is not None:
        inv.input_tokens = _int(getattr(usage, "input_tokens", None))
        inv.output_tokens = _int(getattr(usage, "output_tokens", None))
        details = getattr(usage, "input_tokens_details", None)
        inv.cache_read_tokens = _int(getattr(details, "cached_tokens", None))
        inv.cache_creation_tokens = _int(getattr(details, "cache_write_tokens", None))
        output = getattr(usage, "output_tokens_details", None)
        inv.reasoning_tokens = _int(getattr(output, "reasoning_tokens", None))
    items = getattr(response, "output", None)
    items = items if isinstance(items, list) else []
    # A stream may have read an earlier snapshot: this one says it all.
    inv.tool_calls.clear()
    inv.calls.clear()
    inv.text_seen, inv.refused = False, False
    if inv.text_parts is not None:
        inv.text_parts.clear()
    for item in items:
        kind = getattr(item, "type", None)
        if kind in _TOOL_ITEMS:
            raw = getattr(item, "arguments", None)
            raw = raw if raw is not None else getattr(item, "input", None)  # custom tools
            inv.tool_call(getattr(item, "name", None), raw, getattr(item, "call_id", None))
        elif kind == "message":
            for part in getattr(item, "content", None) or ():
                inv.saw_text(getattr(part, "text", None))
                if isinstance(getattr(part, "refusal", None), str):
                    inv.refused = True
    inv.answered = True
    if inv.telemetry.content.enabled:
        inv.output_messages = [_response_message(items, reason or status or "")]


def _response_message(items: Sequence[Any], finish_reason: str) -> dict[str, Any]:
    parts: list[dict[str, Any]] = []
    for item in items:
        kind = getattr(item, "type", None)
        if kind == "message":
            for part in getattr(item, "content", None) or ():
                text = getattr(part, "text", None)
                if isinstance(text, str):
                    parts.append({"type": "text", "content": text})
                elif isinstance(getattr(part, "refusal", None), str):
                    parts.append({"type": "refusal", "content": part.refusal})
        elif kind in _TOOL_ITEMS:
            raw = getattr(item, "arguments", None)
            raw = raw if raw is not None else getattr(item, "input", None)  # custom tools
            call = {"type": "tool_call", "id": getattr(item, "call_id", None)}
            parts.append({**call, "name": getattr(item, "name", None), "arguments": arguments(raw)})
    return {"role": "assistant", "parts": parts, "finish_reason": finish_reason}


def on_response_event(inv: Invocation, event: Any) -> None:
    """One Responses API stream event: the final ones carry the whole response."""
    kind = event.type
    if kind in _ENDED:
        read_response(inv, event.response)
    elif kind == "response.created":
        _identity(inv, event.response)


# -- Chat Completions streams ----------------------------------------------------------------


class ChatStream(Invocation):
    """The invocation of a chat stream: per-choice state, and an estimate when usage is absent.

    Text deltas are kept (in `text`) only when the stream will not report usage, so that
    `end()` can count them; the count happens once, at the end, never per chunk.
    """

    __slots__ = ("reasons", "text", "choices", "messages", "seen", "estimate", "pending")

    def setup(self, estimate: bool, messages: Any) -> None:
        """Prepare the per-stream state; `estimate` when the stream will report no usage."""
        self.reasons: dict[int, str] = {}
        self.seen = False
        capture = self.telemetry.content.enabled
        self.choices: dict[int, _Choice] | None = {} if capture else None
        self.text: list[str] | None = [] if estimate and not capture else None
        self.messages = messages if estimate and isinstance(messages, (list, tuple)) else None
        self.estimate = estimate
        # (choice, call index) -> [id, name, argument fragments]: kept only when the request
        # offered tools, so each call can be checked whole at the end.
        self.pending: dict[tuple[int, int], list[Any]] | None = (
            {} if self.offered_tools is not None else None
        )

    def end(self, error: BaseException | None = None) -> None:
        """Settle what the chunks said (and the estimate), then record once."""
        if not self.ended:
            try:
                self._settle()
            except Exception as exc:
                self.telemetry.error(f"{self.provider}.{self.operation}.stream_end", exc)
        super().end(error)

    def _settle(self) -> None:
        self.finish_reasons = [r for _, r in sorted(self.reasons.items()) if isinstance(r, str)]
        for _, (call_id, name, fragments) in sorted((self.pending or {}).items()):
            self.tool_call(name, "".join(fragments), call_id)
        self.answered = self.seen
        if self.choices:
            reasons = self.reasons
            self.output_messages = [
                c.message(reasons.get(i, "")) for i, c in sorted(self.choices.items())
            ]
        if not (self.estimate and self.seen and self.output_tokens is None):
            return
        model = self.response_model or self.request_model or ""
        if self.choices is not None:
            text = "".join("".join(c.text) for c in self.choices.values())
        else:
            text = "".join(self.text or ())
        count = tokens.count_text(text, model)
        self.output_tokens = count.tokens
        self.estimate_method = count.method
        if self.input_tokens is None and self.messages is not None:
            self.input_tokens = tokens.count_messages(self.messages, model).tokens


class _Choice:
    """What one streamed choice said (kept only when content capture is on)."""

    __slots__ = ("text", "calls")

    def __init__(self) -> None:
        self.text: list[str] = []
        self.calls: dict[int, list[Any]] = {}  # index -> [id, name, argument fragments]

    def message(self, finish_reason: Any) -> dict[str, Any]:
        parts: list[dict[str, Any]] = []
        if self.text:
            parts.append({"type": "text", "content": "".join(self.text)})
        for _, (call_id, name, fragments) in sorted(self.calls.items()):
            args = arguments("".join(fragments))
            parts.append({"type": "tool_call", "id": call_id, "name": name, "arguments": args})
        reason = finish_reason if isinstance(finish_reason, str) else ""
        return {"role": "assistant", "parts": parts, "finish_reason": reason}


def _index(choice: Any) -> int:
    index = getattr(choice, "index", 0)
    return index if isinstance(index, int) else 0


def _capture(inv: ChatStream, index: int, delta: Any) -> None:
    choices = inv.choices
    assert choices is not None
    choice = choices.get(index)
    if choice is None:
        choice = choices[index] = _Choice()
    text = delta.content
    if isinstance(text, str):
        choice.text.append(text)
    for call in delta.tool_calls or ():
        slot = choice.calls.setdefault(_int(getattr(call, "index", 0)) or 0, [None, None, []])
        slot[0] = slot[0] or getattr(call, "id", None)
        function = getattr(call, "function", None)
        slot[1] = slot[1] or getattr(function, "name", None)
        fragment = getattr(function, "arguments", None)
        if isinstance(fragment, str):
            slot[2].append(fragment)


def _stream_calls(inv: ChatStream, choice: int, calls: Any) -> None:
    """Tool-call deltas: names as they come; whole calls kept when tools are to be checked."""
    pending = inv.pending
    for call in calls:
        function = getattr(call, "function", None)
        name = getattr(function, "name", None)
        if pending is None:
            inv.tool_call(name)
            continue
        slot = pending.setdefault((choice, _int(getattr(call, "index", 0)) or 0), [None, None, []])
        slot[0] = slot[0] or getattr(call, "id", None)
        slot[1] = slot[1] or name
        fragment = getattr(function, "arguments", None)
        if isinstance(fragment, str):
            slot[2].append(fragment)


def on_chat_chunk(inv: ChatStream, chunk: Any) -> None:
    """One `ChatCompletionChunk`: identity once, finish reasons, tool names, usage, text."""
    inv.seen = True
    if not inv.response_id:  # Azure's first chunk has only filter results and an empty id
        _identity(inv, chunk)
    for choice in chunk.choices or ():
        reason = choice.finish_reason
        if reason is not None:
            inv.reasons[_index(choice)] = reason
        delta = choice.delta
        calls = delta.tool_calls
        if calls:
            _stream_calls(inv, _index(choice), calls)
        text = delta.content
        if text:
            inv.text_seen = True
            if inv.text_parts is not None:
                inv.text_parts.append(text)
            if inv.text is not None:
                inv.text.append(text)
        if inv.choices is not None:
            _capture(inv, _index(choice), delta)
        if delta.refusal:
            inv.refused = True
    usage = chunk.usage
    if usage is not None:
        read_chat_usage(inv, usage)
