"""Content as the GenAI conventions shape it (`gen_ai.input.messages`, `gen_ai.output.messages`).

Local libraries take plain strings and OpenAI-style chat messages (dicts with `role` and
`content`, a string or a list of `{"type": "text", "text": ...}` parts); these helpers turn them
into the conventions' ChatMessage shape. They are called only when content capture is on.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any


def text_part(text: Any) -> dict[str, Any]:
    """A text part."""
    return {"type": "text", "content": text if isinstance(text, str) else str(text)}


def _parts(content: Any) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [text_part(content)]
    parts: list[dict[str, Any]] = []
    if isinstance(content, (list, tuple)):
        for part in content:
            if isinstance(part, Mapping) and isinstance(part.get("text"), str):
                parts.append(text_part(part["text"]))
            elif isinstance(part, Mapping):
                parts.append({"type": str(part.get("type") or "unknown")})
    return parts


def message(role: Any, content: Any, finish_reason: str | None = None) -> dict[str, Any]:
    """One message; `finish_reason` for an output message."""
    out: dict[str, Any] = {"role": role if isinstance(role, str) else "user"}
    out["parts"] = _parts(content)
    if finish_reason is not None:
        out["finish_reason"] = finish_reason
    return out


def chat(messages: Iterable[Any]) -> list[dict[str, Any]]:
    """OpenAI-style chat messages (dicts) as ChatMessages."""
    return [message(m.get("role"), m.get("content")) for m in messages if isinstance(m, Mapping)]


def is_chat(value: Any) -> bool:
    """True for a list of chat messages (dicts with `role` and `content`)."""
    return (
        isinstance(value, (list, tuple))
        and bool(value)
        and isinstance(value[0], Mapping)
        and "role" in value[0]
        and "content" in value[0]
    )
