"""The OpenAI chat shape in the conventions' message form, for every API that speaks it.

OpenAI's Chat Completions, Mistral's and Cohere's chat v2 share one shape for tool calls
(`{"id", "function": {"name", "arguments"}}` with JSON-string arguments), tool definitions
(`{"type": "function", "function": {...}}`) and messages (`role`, `content`, `tool_calls`, and
`tool_call_id` for a tool's answer). Each provider module keeps only what differs: how a
message's `content` becomes parts.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from agentwatch.instrumentation.values import as_str, field

Parts = Callable[[Any], list[dict[str, Any]]]


def arguments(raw: Any) -> Any:
    """Tool-call arguments as JSON when they parse, else as sent."""
    if isinstance(raw, str):
        try:
            return json.loads(raw)
        except ValueError:
            return raw
    return raw


def tool_call_part(call: Any) -> dict[str, Any]:
    """A `tool_call` part from a chat tool call (function, or OpenAI's custom tools)."""
    function = field(call, "function") or field(call, "custom")
    args = field(function, "arguments")
    if args is None:
        args = field(function, "input")
    return {
        "type": "tool_call",
        "id": field(call, "id"),
        "name": field(function, "name"),
        "arguments": arguments(args),
    }


def chat_message(item: Any, parts: Parts) -> dict[str, Any]:
    """One chat message (a dict or an SDK model) as a ChatMessage; `parts` reads its content."""
    role = as_str(field(item, "role")) or "user"
    if role == "tool":
        response = {"type": "tool_call_response", "id": field(item, "tool_call_id")}
        return {"role": role, "parts": [{**response, "response": field(item, "content")}]}
    out = parts(field(item, "content"))
    calls = field(item, "tool_calls")
    if isinstance(calls, (list, tuple)):
        out.extend(tool_call_part(c) for c in calls)
    return {"role": role, "parts": out}


def function_tool_definition(tool: Any) -> dict[str, Any]:
    """A `{"type": "function", "function": {...}}` tool in the conventions' shape."""
    function = field(tool, "function")
    definition: dict[str, Any] = {
        "type": field(tool, "type") or "function",
        "name": field(function, "name"),
        "description": field(function, "description") or "",
    }
    parameters = field(function, "parameters")
    if parameters is not None:
        definition["parameters"] = parameters
    return definition
