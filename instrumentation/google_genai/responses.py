"""Readers of google-genai responses and stream chunks: what they say, on the invocation.

Responses are read with `getattr` and type checks, never trusted: a surprising body gives
missing attributes or wrong types, and those are skipped rather than recorded.

Tokens (`usage_metadata`): `gen_ai.usage.input_tokens` is `prompt_token_count` (which already
includes `cached_content_token_count`) plus `tool_use_prompt_token_count` (the results of
server-side tools fed back to the model, billed as input); `gen_ai.usage.output_tokens` is
`candidates_token_count` plus `thoughts_token_count`, since the conventions count reasoning
as output and Google bills thinking at the output rate. `cached_content_token_count` is the
cache read and `thoughts_token_count` the reasoning count. In a stream, each chunk's
`usage_metadata` is the running total so far (the SDK documents it so): the last one wins.

Finish reasons: `STOP` is `stop` (`tool_call` when the candidate calls a function, since the
API says `STOP` then too), `MAX_TOKENS` is `length`, the safety and policy stops (`SAFETY`,
`RECITATION`, `BLOCKLIST`, `PROHIBITED_CONTENT`, `SPII`, the `IMAGE_*` ones) are
`content_filter`, any other is passed through in lower case (`malformed_function_call`, ...).
A prompt blocked before any candidate (`prompt_feedback.block_reason`) is `content_filter`.
"""

from __future__ import annotations

from typing import Any

from agentwatch.instrumentation.google_genai.request import part
from agentwatch.instrumentation.invocation import Invocation
from agentwatch.instrumentation.values import as_int, as_str

_FILTERED = frozenset(
    {
        "SAFETY",
        "RECITATION",
        "BLOCKLIST",
        "PROHIBITED_CONTENT",
        "SPII",
        "IMAGE_SAFETY",
        "IMAGE_PROHIBITED_CONTENT",
        "IMAGE_RECITATION",
    }
)
_UNSPECIFIED = frozenset({"FINISH_REASON_UNSPECIFIED", "CONTINUATION"})


def finish_reason(reason: Any, calls_function: bool = False) -> str | None:
    """The conventions' finish reason for a Gemini `FinishReason` (an enum or its name)."""
    name = as_str(getattr(reason, "value", reason))
    if not name or name.upper() in _UNSPECIFIED:
        return None
    name = name.upper()
    if name == "STOP":
        return "tool_call" if calls_function else "stop"
    if name == "MAX_TOKENS":
        return "length"
    if name in _FILTERED:
        return "content_filter"
    return name.lower()


def read_usage(inv: Invocation, usage: Any) -> None:
    """`usage_metadata` as the conventions' counts (see the module docstring)."""
    if usage is None:
        return
    prompt = as_int(getattr(usage, "prompt_token_count", None))
    tool_prompt = as_int(getattr(usage, "tool_use_prompt_token_count", None))
    candidates = as_int(getattr(usage, "candidates_token_count", None))
    thoughts = as_int(getattr(usage, "thoughts_token_count", None))
    if prompt is not None or tool_prompt is not None:
        inv.input_tokens = (prompt or 0) + (tool_prompt or 0)
    if candidates is not None or thoughts is not None:
        inv.output_tokens = (candidates or 0) + (thoughts or 0)
    inv.cache_read_tokens = as_int(getattr(usage, "cached_content_token_count", None))
    inv.reasoning_tokens = thoughts


def _identity(inv: Invocation, response: Any) -> None:
    inv.response_id = as_str(getattr(response, "response_id", None)) or inv.response_id
    inv.response_model = as_str(getattr(response, "model_version", None)) or inv.response_model


def _parts(candidate: Any) -> list[Any]:
    parts = getattr(getattr(candidate, "content", None), "parts", None)
    return parts if isinstance(parts, list) else []


def _candidates(response: Any) -> list[Any]:
    candidates = getattr(response, "candidates", None)
    return candidates if isinstance(candidates, list) else []


def _blocked(response: Any) -> bool:
    feedback = getattr(response, "prompt_feedback", None)
    return getattr(feedback, "block_reason", None) is not None


def _call(inv: Invocation, call: Any) -> None:
    inv.tool_call(
        getattr(call, "name", None), getattr(call, "args", None), getattr(call, "id", None)
    )


def read_response(inv: Invocation, response: Any) -> None:
    """A whole `GenerateContentResponse`."""
    _identity(inv, response)
    read_usage(inv, getattr(response, "usage_metadata", None))
    messages: list[dict[str, Any]] = []
    for candidate in _candidates(response):
        parts = _parts(candidate)
        calls = False
        for item in parts:
            call = getattr(item, "function_call", None)
            if call is not None:
                calls = True
                _call(inv, call)
            elif not getattr(item, "thought", None):
                inv.saw_text(getattr(item, "text", None))
        reason = finish_reason(getattr(candidate, "finish_reason", None), calls)
        if reason:
            inv.finish_reasons.append(reason)
        if inv.telemetry.content.enabled:
            messages.append(
                {
                    "role": "assistant",
                    "parts": [part(p) for p in parts],
                    "finish_reason": reason or "",
                }
            )
    if not inv.finish_reasons and _blocked(response):
        inv.finish_reasons = ["content_filter"]
    inv.answered = True
    if inv.telemetry.content.enabled:
        inv.output_messages = messages


def read_embeddings(inv: Invocation, response: Any) -> None:
    """An `EmbedContentResponse`: input tokens where the API reports them (no output)."""
    usage = getattr(response, "usage_metadata", None)
    count = as_int(getattr(usage, "prompt_token_count", None))
    if count is None:  # Vertex AI reports a count per embedding instead
        embeddings = getattr(response, "embeddings", None)
        counts = [
            as_float_count(getattr(getattr(e, "statistics", None), "token_count", None))
            for e in (embeddings if isinstance(embeddings, list) else [])
        ]
        if counts and all(c is not None for c in counts):
            count = sum(c for c in counts if c is not None)
    inv.input_tokens = count


def as_float_count(value: Any) -> int | None:
    """A token count the API sends as a float (Vertex's embedding statistics)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return as_int(value)


# -- streams ---------------------------------------------------------------------------------


class _Candidate:
    """What one streamed candidate said: its finish reason, calls, and (captured) parts."""

    __slots__ = ("reason", "calls", "parts")

    def __init__(self) -> None:
        self.reason: Any = None
        self.calls = False
        self.parts: list[dict[str, Any]] = []


class GenerateStream(Invocation):
    """The invocation of `generate_content_stream`: usage and candidates from its chunks."""

    __slots__ = ("candidates", "usage", "seen", "blocked")

    def setup(self) -> None:
        """Prepare the per-stream state."""
        self.candidates: dict[int, _Candidate] = {}
        self.usage: Any = None
        self.seen = False
        self.blocked = False

    def end(self, error: BaseException | None = None) -> None:
        """Settle what the chunks said, then record once."""
        if not self.ended:
            try:
                self._settle()
            except Exception as exc:
                self.telemetry.error(f"{self.provider}.{self.operation}.stream_end", exc)
        super().end(error)

    def _settle(self) -> None:
        read_usage(self, self.usage)
        messages = []
        for _, candidate in sorted(self.candidates.items()):
            reason = finish_reason(candidate.reason, candidate.calls)
            if reason:
                self.finish_reasons.append(reason)
            parts = _merged(candidate.parts)
            messages.append({"role": "assistant", "parts": parts, "finish_reason": reason or ""})
        if not self.finish_reasons and self.blocked:
            self.finish_reasons = ["content_filter"]
        self.answered = self.seen
        if self.telemetry.content.enabled:
            self.output_messages = messages


def _merged(parts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Adjacent text (or reasoning) pieces of a stream joined into one part each."""
    out: list[dict[str, Any]] = []
    for item in parts:
        last = out[-1] if out else None
        kind = item.get("type")
        if last is not None and kind in ("text", "reasoning") and last.get("type") == kind:
            out[-1] = {**last, "content": f"{last['content']}{item['content']}"}
        else:
            out.append(item)
    return out


def on_chunk(inv: GenerateStream, chunk: Any) -> None:
    """One streamed `GenerateContentResponse`: identity, usage so far, candidates' parts."""
    inv.seen = True
    _identity(inv, chunk)
    usage = getattr(chunk, "usage_metadata", None)
    if usage is not None:
        inv.usage = usage
    if _blocked(chunk):
        inv.blocked = True
    capture = inv.telemetry.content.enabled
    for candidate in _candidates(chunk):
        index = as_int(getattr(candidate, "index", None)) or 0
        state = inv.candidates.get(index)
        if state is None:
            state = inv.candidates[index] = _Candidate()
        reason = getattr(candidate, "finish_reason", None)
        if reason is not None:
            state.reason = reason
        for item in _parts(candidate):
            call = getattr(item, "function_call", None)
            if call is not None and getattr(call, "name", None) is not None:
                # Gemini sends each call whole in one chunk (Vertex's partial arguments aside).
                state.calls = True
                _call(inv, call)
            elif not getattr(item, "thought", None):
                inv.saw_text(getattr(item, "text", None))
            if capture:
                state.parts.append(part(item))
