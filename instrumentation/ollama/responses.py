"""Readers of ollama responses and stream chunks: what they say, on the invocation.

Tokens: `prompt_eval_count` is `gen_ai.usage.input_tokens` and `eval_count` is
`gen_ai.usage.output_tokens`. A stream carries them (with `done_reason`) on its last chunk,
the one with `done: true`; a stream left before it reports no tokens. ollama may omit
`prompt_eval_count` when the whole prompt came from its cache: the input count is then absent,
never a guessed 0. `done_reason` (`stop`, `length`, ...) is the finish reason as sent.
Responses are read with type checks: a surprising value is skipped, never recorded wrongly.
"""

from __future__ import annotations

from typing import Any

from agentwatch.instrumentation.invocation import Invocation
from agentwatch.instrumentation.ollama.request import tool_call_part
from agentwatch.instrumentation.values import as_int, as_str, field


def _final(inv: Invocation, response: Any) -> None:
    """What the last (or only) response says: model, usage, finish reason."""
    inv.response_model = as_str(getattr(response, "model", None)) or inv.response_model
    inv.input_tokens = as_int(getattr(response, "prompt_eval_count", None))
    inv.output_tokens = as_int(getattr(response, "eval_count", None))
    reason = as_str(getattr(response, "done_reason", None))
    if reason:
        inv.finish_reasons = [reason]


def _calls(inv: Invocation, message: Any) -> list[Any]:
    calls = getattr(message, "tool_calls", None)
    calls = list(calls) if isinstance(calls, (list, tuple)) else []
    for call in calls:
        function = field(call, "function")
        inv.tool_call(field(function, "name"), field(function, "arguments"))
    return calls


def _output(text: str, thinking: str, calls: list[Any], reason: str) -> list[dict[str, Any]]:
    parts: list[dict[str, Any]] = []
    if thinking:
        parts.append({"type": "reasoning", "content": thinking})
    if text:
        parts.append({"type": "text", "content": text})
    parts.extend(tool_call_part(c) for c in calls)
    return [{"role": "assistant", "parts": parts, "finish_reason": reason}]


def read_chat(inv: Invocation, response: Any) -> None:
    """A whole `ChatResponse`."""
    _final(inv, response)
    message = getattr(response, "message", None)
    text = as_str(getattr(message, "content", None)) or ""
    inv.saw_text(text)
    calls = _calls(inv, message)
    inv.answered = True
    if inv.telemetry.content.enabled:
        thinking = as_str(getattr(message, "thinking", None)) or ""
        reason = inv.finish_reasons[0] if inv.finish_reasons else ""
        inv.output_messages = _output(text, thinking, calls, reason)


def read_generate(inv: Invocation, response: Any) -> None:
    """A whole `GenerateResponse`."""
    _final(inv, response)
    text = as_str(getattr(response, "response", None)) or ""
    inv.saw_text(text)
    inv.answered = True
    if inv.telemetry.content.enabled:
        thinking = as_str(getattr(response, "thinking", None)) or ""
        reason = inv.finish_reasons[0] if inv.finish_reasons else ""
        inv.output_messages = _output(text, thinking, [], reason)


def read_embed(inv: Invocation, response: Any) -> None:
    """An `EmbedResponse`: model and input tokens (embeddings have no output)."""
    inv.response_model = as_str(getattr(response, "model", None))
    inv.input_tokens = as_int(getattr(response, "prompt_eval_count", None))


class GenerationStream(Invocation):
    """The invocation of a chat or generate stream; output kept only when capture is on."""

    __slots__ = ("chat", "text", "thinking", "tool_parts")

    def setup(self, chat: bool) -> None:
        """Prepare the per-stream state."""
        self.chat = chat
        keep = self.telemetry.content.enabled
        self.text: list[str] | None = [] if keep else None
        self.thinking: list[str] | None = [] if keep else None
        self.tool_parts: list[Any] | None = [] if keep else None

    def end(self, error: BaseException | None = None) -> None:
        """Settle the captured output, then record once."""
        if not self.ended and self.text is not None:
            try:
                reason = self.finish_reasons[0] if self.finish_reasons else ""
                self.output_messages = _output(
                    "".join(self.text), "".join(self.thinking or ()), self.tool_parts or [], reason
                )
            except Exception as exc:
                self.telemetry.error(f"{self.provider}.{self.operation}.stream_end", exc)
        super().end(error)


def on_chunk(inv: GenerationStream, chunk: Any) -> None:
    """One streamed `ChatResponse`/`GenerateResponse`; the `done` one carries the usage."""
    if inv.chat:
        message = getattr(chunk, "message", None)
        piece = getattr(message, "content", None)
        thought = getattr(message, "thinking", None)
        if getattr(message, "tool_calls", None):  # whole calls: ollama sends each in one chunk
            calls = _calls(inv, message)
            if inv.tool_parts is not None:
                inv.tool_parts.extend(calls)
    else:
        piece = getattr(chunk, "response", None)
        thought = getattr(chunk, "thinking", None)
    if isinstance(piece, str) and piece:
        inv.saw_text(piece)
        if inv.text is not None:
            inv.text.append(piece)
    if inv.thinking is not None and isinstance(thought, str):
        inv.thinking.append(thought)
    if getattr(chunk, "done", None) is True:
        _final(inv, chunk)
        inv.answered = True
