"""Cheap quality signals every call gets: truncated, refused, filtered, empty, invalid JSON.

They need no evaluator, only what the response already says, so they are recorded on every
call (`agentwatch.response.flags` on the span, `agentwatch.llm.response.flags` counted by
flag): a rising truncation ratio means `max_tokens` is too low for what the prompts now ask, a
rising refusal or empty ratio usually means a prompt or model change went wrong, and invalid
JSON where JSON was asked for breaks the code that parses it.

- `truncated`: a finish reason saying the output hit a token limit: `length` (OpenAI Chat
  Completions), `max_tokens` (Anthropic), `max_output_tokens` (the Responses API's incomplete
  reason) or `model_context_window_exceeded` (Anthropic);
- `content_filter`: the provider's filter stopped the output (`content_filter`);
- `refusal`: the model declined (OpenAI's `refusal` field or output item, Anthropic's `refusal`
  stop reason);
- `empty`: no text, no tool call and no refusal: nothing the caller can use;
- `invalid_json`: JSON output was requested (`response_format` / `text.format` of type
  `json_object` or `json_schema`) and the text does not parse as JSON. A truncated response is
  not also `invalid_json`: the truncation is the cause, and is flagged.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

TRUNCATED = "truncated"
CONTENT_FILTER = "content_filter"
REFUSAL = "refusal"
EMPTY = "empty"
INVALID_JSON = "invalid_json"
FLAGS = (TRUNCATED, CONTENT_FILTER, REFUSAL, EMPTY, INVALID_JSON)
"""Every flag: a bounded metric attribute."""

_TRUNCATING = frozenset(
    {"length", "max_tokens", "max_output_tokens", "model_context_window_exceeded"}
)


def response_flags(
    finish_reasons: Iterable[str],
    text: str | None,
    *,
    tool_calls: int = 0,
    refused: bool = False,
    json_requested: bool = False,
) -> tuple[str, ...]:
    """The flags of one response, in `FLAGS` order; empty when nothing is wrong.

    `text` is the whole output text (all choices joined), or None when the response had none.
    """
    reasons = set(finish_reasons)
    flags: list[str] = []
    truncated = not reasons.isdisjoint(_TRUNCATING)
    if truncated:
        flags.append(TRUNCATED)
    if CONTENT_FILTER in reasons:
        flags.append(CONTENT_FILTER)
    refused = refused or REFUSAL in reasons
    if refused:
        flags.append(REFUSAL)
    blank = text is None or not text.strip()
    if blank and not tool_calls and not refused:
        flags.append(EMPTY)
    if json_requested and not blank and not truncated and not refused and not _parses(text):
        flags.append(INVALID_JSON)
    return tuple(flags)


def _parses(text: str | None) -> bool:
    try:
        json.loads(text or "")
    except ValueError:
        return False
    return True
