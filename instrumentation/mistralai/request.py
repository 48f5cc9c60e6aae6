"""What a Mistral chat request says, as GenAI span attributes: server, parameters, content.

Everything here reads the keyword arguments the caller passed and never changes them. The
SDK's `UNSET` sentinel and None count as absent. Messages and tools may be dicts or the SDK's
pydantic models. Content is converted to the conventions' JSON shapes only when the content
policy is on.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

from agentwatch.instrumentation import semconv as sc
from agentwatch.instrumentation.chat_messages import chat_message
from agentwatch.instrumentation.chat_messages import function_tool_definition as tool_definition
from agentwatch.instrumentation.quality.toolcalls import Tool, openai_tools
from agentwatch.instrumentation.telemetry import Telemetry
from agentwatch.instrumentation.values import as_float, as_int, field

PROVIDER = "mistral_ai"
_JSON_FORMATS = frozenset({"json_object", "json_schema"})
_DEFAULT_PORTS = {"https": 443, "http": 80}


def given(value: Any) -> bool:
    """False for None and the SDK's `Unset` sentinel."""
    return value is not None and type(value).__name__ != "Unset"


def arg(kwargs: Mapping[str, Any], key: str) -> Any:
    """A keyword argument, None when absent or `UNSET`."""
    value = kwargs.get(key)
    return value if given(value) else None


_MAX_SERVERS = 64
"""Server URLs whose parse is remembered (a process talks to a handful)."""
_servers: dict[str, tuple[str | None, int | None]] = {}


def _parsed(url: str) -> tuple[str | None, int | None]:
    """(host, port) of a server URL, parsed once per URL: a call asks for it every time."""
    known = _servers.get(url)
    if known is None:
        parts = urlsplit(url)
        known = parts.hostname or None, parts.port or _DEFAULT_PORTS.get(parts.scheme)
        if len(_servers) < _MAX_SERVERS:
            _servers[url] = known
    return known


def server(instance: Any) -> tuple[str | None, int | None]:
    """(`server.address`, `server.port`) of the resource's configured server."""
    try:
        url, _ = instance.sdk_configuration.get_server_details()
        return _parsed(url)
    except Exception:  # an SDK release without it, or a URL it cannot parse: left out
        return None, None


def _stop(value: Any) -> tuple[str, ...] | None:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, (list, tuple)) and value and all(isinstance(v, str) for v in value):
        return tuple(value)
    return None


def _plain(value: Any) -> Any:
    """An SDK model as the dict it sends; anything else as it is."""
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        try:
            return dump(mode="json", exclude_none=True)
        except Exception:  # a model that cannot dump itself: read it by attribute instead
            return value
    return value


def output_type(kwargs: Mapping[str, Any]) -> str | None:
    """`json` for a `json_object` / `json_schema` response format, `text` for `text`."""
    kind = field(arg(kwargs, "response_format"), "type")
    kind = getattr(kind, "value", kind)
    if kind in _JSON_FORMATS:
        return sc.OUTPUT_TYPE_JSON
    return sc.OUTPUT_TYPE_TEXT if kind == "text" else None


def offered_tools(tools: Any) -> dict[str, Tool]:
    """The function tools of a request (OpenAI's shape: `{"type", "function": {...}}`)."""
    if not isinstance(tools, (list, tuple)):
        return {}
    return openai_tools([_plain(t) for t in tools])


_PARAMETERS: tuple[tuple[str, str, Callable[[Any], Any]], ...] = (
    ("max_tokens", sc.REQUEST_MAX_TOKENS, as_int),
    ("temperature", sc.REQUEST_TEMPERATURE, as_float),
    ("top_p", sc.REQUEST_TOP_P, as_float),
    ("top_k", sc.REQUEST_TOP_K, as_float),
    ("presence_penalty", sc.REQUEST_PRESENCE_PENALTY, as_float),
    ("frequency_penalty", sc.REQUEST_FREQUENCY_PENALTY, as_float),
    ("stop", sc.REQUEST_STOP_SEQUENCES, _stop),
    ("random_seed", sc.REQUEST_SEED, as_int),
)
"""(keyword argument, span attribute, reader: None when the value is not of the right type)."""


def chat_attributes(
    telemetry: Telemetry, kwargs: Mapping[str, Any], stream: bool
) -> dict[str, Any]:
    """Span attributes of a chat request (`complete`, `stream` and their async twins).

    Only attributes with a value are present (the invocation leaves out None ones anyway).
    """
    # Only the parameters the call passed are read (a call passes a few of the dozen).
    attrs: dict[str, Any] = {}
    for name, key, read in _PARAMETERS:
        value = kwargs.get(name)
        if value is not None and given(value):
            value = read(value)
            if value is not None:
                attrs[key] = value
    n = as_int(arg(kwargs, "n"))
    if n is not None and n != 1:
        attrs[sc.REQUEST_CHOICE_COUNT] = n
    attrs[sc.REQUEST_STREAM] = stream
    kind = output_type(kwargs)
    if kind is not None:
        attrs[sc.OUTPUT_TYPE] = kind
    if telemetry.content.enabled:
        render = telemetry.content.render
        messages = arg(kwargs, "messages")
        if isinstance(messages, (list, tuple)):
            attrs[sc.INPUT_MESSAGES] = render([message(_plain(m)) for m in messages])
        tools = arg(kwargs, "tools")
        if isinstance(tools, (list, tuple)) and tools:
            attrs[sc.TOOL_DEFINITIONS] = render([tool_definition(_plain(t)) for t in tools])
    return attrs


# -- content, in the conventions' JSON shapes (only built when capture is on) ----------------


def _text(content: str) -> dict[str, Any]:
    return {"type": "text", "content": content}


def chunk_part(chunk: Any) -> dict[str, Any]:
    """One content chunk (`text`, `thinking`, `image_url`, ...) as a message part."""
    if isinstance(chunk, str):
        return _text(chunk)
    kind = field(chunk, "type")
    if kind == "text":
        return _text(str(field(chunk, "text")))
    if kind == "thinking":
        inner = field(chunk, "thinking")
        pieces = inner if isinstance(inner, (list, tuple)) else []
        text = "".join(str(field(p, "text") or "") for p in pieces)
        return {"type": "reasoning", "content": text}
    if kind == "image_url":
        url = field(chunk, "image_url")
        url = field(url, "url") if not isinstance(url, str) else url
        return {"type": "uri", "modality": "image", "uri": url}
    return {"type": str(kind)}


def parts(content: Any) -> list[dict[str, Any]]:
    """A message's `content` (a string or a list of chunks) as message parts."""
    if isinstance(content, str):
        return [_text(content)] if content else []
    if isinstance(content, (list, tuple)):
        return [chunk_part(c) for c in content]
    return []


def message(item: Any) -> dict[str, Any]:
    """One chat message (a dict or an SDK model) as a ChatMessage."""
    return chat_message(item, parts)
