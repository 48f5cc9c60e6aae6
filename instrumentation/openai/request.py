"""What an OpenAI request says, as GenAI span attributes: provider, server, parameters, content.

Everything here reads the keyword arguments the caller passed to the SDK method and never
changes them. The SDK's "not given" sentinels (`NOT_GIVEN`, `omit`) count as absent. Content
(messages, instructions, tool definitions) is converted to the conventions' JSON shapes only
when the content policy is on.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import openai

from agentwatch.instrumentation import semconv as sc
from agentwatch.instrumentation.chat_messages import arguments, tool_call_part
from agentwatch.instrumentation.telemetry import Telemetry
from agentwatch.instrumentation.values import as_float as _float
from agentwatch.instrumentation.values import as_int as _int
from agentwatch.instrumentation.values import as_str as _str
from agentwatch.instrumentation.values import field, given

_JSON_FORMATS = frozenset({"json_object", "json_schema"})


def provider(client: Any) -> str:
    """`azure.ai.openai` for the Azure clients, else `openai`."""
    if isinstance(client, (openai.AzureOpenAI, openai.AsyncAzureOpenAI)):
        return sc.PROVIDER_AZURE_OPENAI
    return sc.PROVIDER_OPENAI


def request_model(client: Any, kwargs: Mapping[str, Any]) -> str | None:
    """The model the request names; for an Azure client bound to a deployment, that one."""
    deployment = getattr(client, "_azure_deployment", None)
    if isinstance(deployment, str) and deployment:
        return deployment
    return _str(kwargs.get("model"))


def _stop(value: Any) -> tuple[str, ...] | None:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
        return tuple(value)
    return None


def _chat_output_type(response_format: Any) -> str | None:
    if isinstance(response_format, type):  # a pydantic model class: `parse()`
        return sc.OUTPUT_TYPE_JSON
    kind = field(response_format, "type") if given(response_format) else None
    if kind == "text":
        return sc.OUTPUT_TYPE_TEXT
    return sc.OUTPUT_TYPE_JSON if kind in _JSON_FORMATS else None


def _service_tier(kwargs: Mapping[str, Any]) -> str | None:
    tier = _str(kwargs.get("service_tier"))
    return tier if tier and tier != "auto" else None  # the conventions: not when `auto`


def chat_attributes(telemetry: Telemetry, kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """Span attributes of a Chat Completions request."""
    max_tokens = kwargs.get("max_completion_tokens")
    if not given(max_tokens):
        max_tokens = kwargs.get("max_tokens")
    n = _int(kwargs.get("n"))
    attrs: dict[str, Any] = {
        sc.REQUEST_MAX_TOKENS: _int(max_tokens),
        sc.REQUEST_TEMPERATURE: _float(kwargs.get("temperature")),
        sc.REQUEST_TOP_P: _float(kwargs.get("top_p")),
        sc.REQUEST_FREQUENCY_PENALTY: _float(kwargs.get("frequency_penalty")),
        sc.REQUEST_PRESENCE_PENALTY: _float(kwargs.get("presence_penalty")),
        sc.REQUEST_STOP_SEQUENCES: _stop(kwargs.get("stop")),
        sc.REQUEST_SEED: _int(kwargs.get("seed")),
        sc.REQUEST_CHOICE_COUNT: n if n is not None and n != 1 else None,
        sc.REQUEST_STREAM: kwargs.get("stream") is True,
        sc.OUTPUT_TYPE: _chat_output_type(kwargs.get("response_format")),
        sc.OPENAI_REQUEST_SERVICE_TIER: _service_tier(kwargs),
    }
    if telemetry.content.enabled:
        render = telemetry.content.render
        messages = kwargs.get("messages")
        if isinstance(messages, (list, tuple)):
            attrs[sc.INPUT_MESSAGES] = render([chat_message(m) for m in messages])
        tools = kwargs.get("tools")
        if isinstance(tools, (list, tuple)) and tools:
            attrs[sc.TOOL_DEFINITIONS] = render([tool_definition(t) for t in tools])
    return attrs


def responses_attributes(telemetry: Telemetry, kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """Span attributes of a Responses API request."""
    text = kwargs.get("text")
    output_type = _chat_output_type(field(text, "format")) if given(text) else None
    if isinstance(kwargs.get("text_format"), type):
        output_type = sc.OUTPUT_TYPE_JSON
    conversation = kwargs.get("conversation")
    if given(conversation) and not isinstance(conversation, str):
        conversation = field(conversation, "id")
    attrs: dict[str, Any] = {
        sc.REQUEST_MAX_TOKENS: _int(kwargs.get("max_output_tokens")),
        sc.REQUEST_TEMPERATURE: _float(kwargs.get("temperature")),
        sc.REQUEST_TOP_P: _float(kwargs.get("top_p")),
        sc.REQUEST_STREAM: kwargs.get("stream") is True,
        sc.OUTPUT_TYPE: output_type,
        sc.OPENAI_REQUEST_SERVICE_TIER: _service_tier(kwargs),
        sc.CONVERSATION_ID: _str(conversation),
    }
    if telemetry.content.enabled:
        render = telemetry.content.render
        instructions = _str(kwargs.get("instructions"))
        if instructions:
            attrs[sc.SYSTEM_INSTRUCTIONS] = render([_text(instructions)])
        items = kwargs.get("input")
        if isinstance(items, str):
            attrs[sc.INPUT_MESSAGES] = render([{"role": "user", "parts": [_text(items)]}])
        elif isinstance(items, (list, tuple)):
            attrs[sc.INPUT_MESSAGES] = render([response_item(i) for i in items])
        tools = kwargs.get("tools")
        if isinstance(tools, (list, tuple)) and tools:
            attrs[sc.TOOL_DEFINITIONS] = render([tool_definition(t) for t in tools])
    return attrs


def asks_for_usage(kwargs: Mapping[str, Any]) -> bool:
    """True when a chat stream request asks for its usage (`stream_options.include_usage`)."""
    return field(kwargs.get("stream_options"), "include_usage") is True


def embeddings_attributes(kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """Span attributes of an embeddings request."""
    encoding = _str(kwargs.get("encoding_format"))
    return {
        sc.REQUEST_ENCODING_FORMATS: (encoding,) if encoding else None,
        sc.EMBEDDINGS_DIMENSION_COUNT: _int(kwargs.get("dimensions")),
    }


# -- content, in the conventions' JSON shapes (only built when capture is on) ----------------


def _text(content: str) -> dict[str, Any]:
    return {"type": "text", "content": content}


def _chat_part(part: Any) -> dict[str, Any]:
    kind = field(part, "type")
    if kind == "text":
        return _text(str(field(part, "text")))
    if kind == "image_url":
        url = str(field(field(part, "image_url"), "url") or "")
        if url.startswith("data:"):
            mime, _, data = url[5:].partition(";base64,")
            return {"type": "blob", "modality": "image", "mime_type": mime, "content": data}
        return {"type": "uri", "modality": "image", "uri": url}
    if kind == "input_audio":
        audio = field(part, "input_audio")
        return {"type": "blob", "modality": "audio", "content": field(audio, "data")}
    return {"type": str(kind)}


def _parts(content: Any) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [_text(content)]
    if isinstance(content, (list, tuple)):
        return [_chat_part(p) for p in content]
    return []


def chat_message(message: Any) -> dict[str, Any]:
    """One Chat Completions message (a dict or an SDK message object) as a ChatMessage."""
    role = field(message, "role")
    if role == "tool":
        parts: list[dict[str, Any]] = [
            {
                "type": "tool_call_response",
                "id": field(message, "tool_call_id"),
                "response": field(message, "content"),
            }
        ]
    else:
        parts = _parts(field(message, "content"))
        parts.extend(tool_call_part(c) for c in field(message, "tool_calls") or ())
    return {"role": role, "parts": parts}


def response_item(item: Any) -> dict[str, Any]:
    """One Responses API input item as a ChatMessage."""
    kind = field(item, "type")
    if kind == "function_call_output":
        response = {"type": "tool_call_response", "id": field(item, "call_id")}
        return {"role": "tool", "parts": [{**response, "response": field(item, "output")}]}
    if kind == "function_call":
        call = {"type": "tool_call", "id": field(item, "call_id"), "name": field(item, "name")}
        args = arguments(field(item, "arguments"))
        return {"role": "assistant", "parts": [{**call, "arguments": args}]}
    content = field(item, "content")
    if isinstance(content, (list, tuple)):
        parts = []
        for part in content:
            text = field(part, "text")
            parts.append(_text(text) if isinstance(text, str) else {"type": field(part, "type")})
    else:
        parts = _parts(content)
    return {"role": field(item, "role") or "user", "parts": parts}


def tool_definition(tool: Any) -> dict[str, Any]:
    """A tool definition of either API, flattened to the conventions' shape."""
    kind = field(tool, "type")
    spec = field(tool, str(kind)) if kind in ("function", "custom") else None
    spec = spec if spec is not None else tool  # Responses tools are flat
    definition: dict[str, Any] = {
        "type": kind,
        "name": field(spec, "name") or kind,
        "description": field(spec, "description") or "",
    }
    parameters = field(spec, "parameters")
    if parameters is not None:
        definition["parameters"] = parameters
    return definition
