"""What a Cohere chat v2 request says, as GenAI span attributes: server, parameters, content.

Everything here reads the keyword arguments the caller passed and never changes them. The
SDK's `OMIT` sentinel (an `Ellipsis`) and None count as absent. Messages and tools may be
dicts or the SDK's pydantic models. Content is converted to the conventions' JSON shapes only
when the content policy is on.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from agentwatch.instrumentation import semconv as sc
from agentwatch.instrumentation.chat_messages import chat_message
from agentwatch.instrumentation.chat_messages import function_tool_definition as tool_definition
from agentwatch.instrumentation.quality.toolcalls import Tool, openai_tools
from agentwatch.instrumentation.telemetry import Telemetry
from agentwatch.instrumentation.values import as_float, as_int, field

PROVIDER = "cohere"
_DEFAULT_PORTS = {"https": 443, "http": 80}


def arg(kwargs: Mapping[str, Any], key: str) -> Any:
    """A keyword argument, None when absent or `OMIT` (the SDK's `...`)."""
    value = kwargs.get(key)
    return None if value is None or value is Ellipsis else value


def server(instance: Any) -> tuple[str | None, int | None]:
    """(`server.address`, `server.port`) of the client's base URL."""
    try:
        parts = urlsplit(instance._client_wrapper.get_base_url())
        return parts.hostname or None, parts.port or _DEFAULT_PORTS.get(parts.scheme)
    except Exception:  # a client without the wrapper, or a URL it cannot parse: left out
        return None, None


def _stop(value: Any) -> tuple[str, ...] | None:
    if isinstance(value, (list, tuple)) and value and all(isinstance(v, str) for v in value):
        return tuple(value)
    return None


def plain(value: Any) -> Any:
    """An SDK model as the dict it sends; anything else as it is."""
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        try:
            return dump(mode="json", exclude_none=True)
        except Exception:  # a model that cannot dump itself: read it by attribute instead
            return value
    return value


def output_type(kwargs: Mapping[str, Any]) -> str | None:
    """`json` for a `json_object` response format, `text` for `text`."""
    kind = field(arg(kwargs, "response_format"), "type")
    if kind == "json_object":
        return sc.OUTPUT_TYPE_JSON
    return sc.OUTPUT_TYPE_TEXT if kind == "text" else None


def offered_tools(tools: Any) -> dict[str, Tool]:
    """The function tools of a request (`{"type": "function", "function": {...}}`)."""
    if not isinstance(tools, (list, tuple)):
        return {}
    return openai_tools([plain(t) for t in tools])


def chat_attributes(
    telemetry: Telemetry, kwargs: Mapping[str, Any], stream: bool
) -> dict[str, Any]:
    """Span attributes of a chat v2 request (`chat`, `chat_stream`)."""
    attrs: dict[str, Any] = {
        sc.REQUEST_MAX_TOKENS: as_int(arg(kwargs, "max_tokens")),
        sc.REQUEST_TEMPERATURE: as_float(arg(kwargs, "temperature")),
        sc.REQUEST_TOP_P: as_float(arg(kwargs, "p")),
        sc.REQUEST_TOP_K: as_float(arg(kwargs, "k")),
        sc.REQUEST_PRESENCE_PENALTY: as_float(arg(kwargs, "presence_penalty")),
        sc.REQUEST_FREQUENCY_PENALTY: as_float(arg(kwargs, "frequency_penalty")),
        sc.REQUEST_STOP_SEQUENCES: _stop(arg(kwargs, "stop_sequences")),
        sc.REQUEST_SEED: as_int(arg(kwargs, "seed")),
        sc.REQUEST_STREAM: stream,
        sc.OUTPUT_TYPE: output_type(kwargs),
    }
    if telemetry.content.enabled:
        render = telemetry.content.render
        messages = arg(kwargs, "messages")
        if isinstance(messages, (list, tuple)):
            attrs[sc.INPUT_MESSAGES] = render([message(plain(m)) for m in messages])
        tools = arg(kwargs, "tools")
        if isinstance(tools, (list, tuple)) and tools:
            attrs[sc.TOOL_DEFINITIONS] = render([tool_definition(plain(t)) for t in tools])
    return attrs


# -- content, in the conventions' JSON shapes (only built when capture is on) ----------------


def content_part(item: Any) -> dict[str, Any]:
    """One content item (`text`, `thinking`, `image_url`, `document`) as a message part."""
    if isinstance(item, str):
        return {"type": "text", "content": item}
    kind = field(item, "type")
    if kind == "text":
        return {"type": "text", "content": field(item, "text")}
    if kind == "thinking":
        return {"type": "reasoning", "content": field(item, "thinking")}
    if kind == "image_url":
        return {"type": "uri", "modality": "image", "uri": field(field(item, "image_url"), "url")}
    return {"type": str(kind)}


def parts(content: Any) -> list[dict[str, Any]]:
    """A message's `content` (a string or a list of items) as message parts."""
    if isinstance(content, str):
        return [{"type": "text", "content": content}] if content else []
    if isinstance(content, (list, tuple)):
        return [content_part(c) for c in content]
    return []


def message(item: Any) -> dict[str, Any]:
    """One v2 chat message (a dict or an SDK model) as a ChatMessage."""
    return chat_message(item, parts)
