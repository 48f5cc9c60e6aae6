"""What an Anthropic Messages request says, as GenAI span attributes: provider, server, content.

Everything here reads the keyword arguments the caller passed to the SDK method and never
changes them. The SDK's "not given" sentinels (`NOT_GIVEN`, `omit`) count as absent. Sampling
parameters an SDK release no longer names (`temperature`, `top_p`, `top_k` in 2.x) are read
from `extra_body` too, which is how such a release sends them. Content (messages, system
prompt, tool definitions) is converted to the conventions' JSON shapes only when the content
policy is on.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from agentwatch.instrumentation import semconv as sc
from agentwatch.instrumentation.telemetry import Telemetry
from agentwatch.instrumentation.values import as_float as _float
from agentwatch.instrumentation.values import as_int, field, given

_PROVIDERS = frozenset({sc.PROVIDER_ANTHROPIC, "aws.bedrock", "gcp.vertex_ai", "azure.ai.foundry"})
_MODALITIES = {"image": "image", "document": "document"}


def provider(client: Any) -> str:
    """The conventions' provider name the SDK gives its client class, else `anthropic`."""
    name = getattr(type(client), "_gen_ai_provider_name", None)
    return name if name in _PROVIDERS else sc.PROVIDER_ANTHROPIC


def _param(kwargs: Mapping[str, Any], key: str) -> Any:
    value = kwargs.get(key)
    if given(value):
        return value
    extra = kwargs.get("extra_body")
    return extra.get(key) if isinstance(extra, Mapping) else None


def _stop(value: Any) -> tuple[str, ...] | None:
    if isinstance(value, (list, tuple)) and value and all(isinstance(v, str) for v in value):
        return tuple(value)
    return None


def _output_type(kwargs: Mapping[str, Any]) -> str | None:
    if isinstance(kwargs.get("output_format"), type):  # a pydantic model class: `parse()`
        return sc.OUTPUT_TYPE_JSON
    formats = (field(_param(kwargs, "output_config"), "format"), _param(kwargs, "output_format"))
    if any(field(f, "type") == "json_schema" for f in formats if given(f)):
        return sc.OUTPUT_TYPE_JSON
    return None


def messages_attributes(
    telemetry: Telemetry, kwargs: Mapping[str, Any], stream: bool
) -> dict[str, Any]:
    """Span attributes of a Messages request (`create`, `parse`, `stream`)."""
    attrs: dict[str, Any] = {
        sc.REQUEST_MAX_TOKENS: as_int(_param(kwargs, "max_tokens")),
        sc.REQUEST_TEMPERATURE: _float(_param(kwargs, "temperature")),
        sc.REQUEST_TOP_P: _float(_param(kwargs, "top_p")),
        sc.REQUEST_TOP_K: _float(_param(kwargs, "top_k")),
        sc.REQUEST_STOP_SEQUENCES: _stop(_param(kwargs, "stop_sequences")),
        sc.REQUEST_STREAM: stream,
        sc.OUTPUT_TYPE: _output_type(kwargs),
    }
    if telemetry.content.enabled:
        attrs.update(content_attributes(telemetry, kwargs))
    return attrs


def content_attributes(telemetry: Telemetry, kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """The opt-in content of a request: system instructions, messages, tool definitions."""
    render = telemetry.content.render
    attrs: dict[str, Any] = {}
    system = kwargs.get("system")
    if isinstance(system, str) and system:
        attrs[sc.SYSTEM_INSTRUCTIONS] = render([_text(system)])
    elif isinstance(system, (list, tuple)) and system:
        attrs[sc.SYSTEM_INSTRUCTIONS] = render([block_part(b) for b in system])
    messages = kwargs.get("messages")
    if isinstance(messages, (list, tuple)):
        attrs[sc.INPUT_MESSAGES] = render([input_message(m) for m in messages])
    tools = kwargs.get("tools")
    if isinstance(tools, (list, tuple)) and tools:
        attrs[sc.TOOL_DEFINITIONS] = render([tool_definition(t) for t in tools])
    return attrs


# -- content, in the conventions' JSON shapes (only built when capture is on) ----------------


def _text(content: str) -> dict[str, Any]:
    return {"type": "text", "content": content}


def _source_part(kind: str, source: Any) -> dict[str, Any]:
    modality = _MODALITIES.get(kind, kind)
    source_type = field(source, "type")
    if source_type == "base64":
        data = field(source, "data")
        mime = field(source, "media_type")
        return {"type": "blob", "modality": modality, "mime_type": mime, "content": data}
    if source_type == "url":
        return {"type": "uri", "modality": modality, "uri": field(source, "url")}
    if source_type == "file":
        return {"type": "file", "modality": modality, "file_id": field(source, "file_id")}
    return {"type": kind}


def block_part(block: Any) -> dict[str, Any]:
    """One content block (a request dict or a response model) as a message part."""
    if isinstance(block, str):
        return _text(block)
    kind = field(block, "type")
    if kind == "text":
        return _text(str(field(block, "text")))
    if kind in ("tool_use", "server_tool_use", "mcp_tool_use"):
        return {
            "type": "tool_call",
            "id": field(block, "id"),
            "name": field(block, "name"),
            "arguments": field(block, "input"),
        }
    if kind == "tool_result":
        content = field(block, "content")
        if isinstance(content, (list, tuple)):
            content = [block_part(c) for c in content]
        return {
            "type": "tool_call_response",
            "id": field(block, "tool_use_id"),
            "response": content,
        }
    if kind == "thinking":
        return {"type": "reasoning", "content": field(block, "thinking")}
    if kind in ("image", "document"):
        return _source_part(str(kind), field(block, "source"))
    return {"type": str(kind)}


def input_message(message: Any) -> dict[str, Any]:
    """One Messages API input message (a dict or an SDK model) as a ChatMessage."""
    content = field(message, "content")
    if isinstance(content, (list, tuple)):
        parts = [block_part(b) for b in content]
    elif isinstance(content, str):
        parts = [_text(content)]
    else:
        parts = []
    return {"role": field(message, "role"), "parts": parts}


def tool_definition(tool: Any) -> dict[str, Any]:
    """A tool definition in the conventions' shape (client tools and server tools)."""
    kind = field(tool, "type")
    definition: dict[str, Any] = {
        "type": kind if isinstance(kind, str) and kind != "custom" else "function",
        "name": field(tool, "name"),
        "description": field(tool, "description") or "",
    }
    schema = field(tool, "input_schema")
    if schema is not None:
        definition["parameters"] = schema
    return definition
