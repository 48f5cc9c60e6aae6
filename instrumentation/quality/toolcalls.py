"""Hallucinated tool calls: a call to a tool the request never offered, or with bad arguments.

A chat request that offers tools says exactly what the model may call: each function tool's
name and the JSON schema of its arguments. A tool call in the response is *hallucinated* when:

- `unknown_tool`: its name is none of the request's tools (the model made one up, or reused a
  tool from earlier in the conversation that this request no longer offers);
- `invalid_json`: its arguments are not a JSON object (OpenAI sends them as a string the model
  wrote; a truncated or malformed string fails here);
- `schema_violation`: its arguments do not validate against the tool's schema (a missing
  required field, an unknown field where `additionalProperties` is false, a wrong type).

Tools without a schema (OpenAI custom tools, free-form) and provider-side tools (web search,
code interpreter) are checked by name only. A schema that is itself invalid is not held against
the model: the call is checked by name only, and the schema's fault logged once.

Validation uses `jsonschema` with the draft the schema declares (2020-12 when it declares
none, which is what both providers document for tool parameters). Validators are compiled once
per distinct schema (up to `MAX_CACHED_SCHEMAS`), since an agent sends the same tools on every
request.
"""

from __future__ import annotations

import json
import logging
import threading
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from jsonschema.protocols import Validator

log = logging.getLogger("agentwatch.instrumentation")

UNKNOWN_TOOL = "unknown_tool"
INVALID_JSON = "invalid_json"
SCHEMA_VIOLATION = "schema_violation"
REASONS = (UNKNOWN_TOOL, INVALID_JSON, SCHEMA_VIOLATION)
"""Every `reason` a hallucinated tool call can have: a bounded metric attribute."""
MAX_CACHED_SCHEMAS = 256
MAX_DETAIL = 256
"""Characters of a validation message kept for the span (no argument values beyond this)."""


@dataclass(frozen=True)
class Tool:
    """One tool a request offers: its name and, for function tools, its arguments' schema."""

    name: str
    schema: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class Hallucination:
    """Why one tool call is hallucinated.

    `detail` is short and free of argument values: the JSON parser's message, or the path
    and the schema keyword that failed (`/city: required ["city"]`).
    """

    name: str
    reason: str
    call_id: str | None = None
    detail: str | None = None


def openai_tools(tools: Any) -> dict[str, Tool]:
    """The tools of an OpenAI request: Chat Completions' or the Responses API's shapes.

    Chat Completions: `{"type": "function", "function": {"name", "parameters"}}` and
    `{"type": "custom", "custom": {"name"}}`; Responses: `{"type": "function", "name",
    "parameters"}`, `{"type": "custom", "name"}`. Other tool types (web search, file search,
    MCP, ...) run on the provider's side and are not function calls: they are not listed.
    """
    out: dict[str, Tool] = {}
    for tool in _sequence(tools):
        if not isinstance(tool, Mapping):
            continue
        kind = tool.get("type")
        inner = tool.get(kind) if isinstance(kind, str) else None
        spec = inner if isinstance(inner, Mapping) else tool
        name = spec.get("name")
        if not isinstance(name, str):
            continue
        schema = spec.get("parameters") if kind == "function" else None
        out[name] = Tool(name, schema if isinstance(schema, Mapping) else None)
    return out


def anthropic_tools(tools: Any) -> dict[str, Tool]:
    """The tools of an Anthropic request: `{"name", "input_schema"}`, and server tools by name."""
    out: dict[str, Tool] = {}
    for tool in _sequence(tools):
        if not isinstance(tool, Mapping):
            continue
        name = tool.get("name")
        if not isinstance(name, str):
            continue
        schema = tool.get("input_schema")
        out[name] = Tool(name, schema if isinstance(schema, Mapping) else None)
    return out


def _sequence(value: Any) -> Iterable[Any]:
    if isinstance(value, (list, tuple)):
        return value
    return ()


class ToolCallChecker:
    """Checks tool calls against the tools of their request; thread-safe, validators cached."""

    def __init__(self, max_cached: int = MAX_CACHED_SCHEMAS) -> None:
        self._validators: OrderedDict[str, Validator | None] = OrderedDict()
        self._max = max_cached
        self._lock = threading.Lock()

    def check(
        self,
        tools: Mapping[str, Tool],
        name: Any,
        arguments: Any,
        call_id: str | None = None,
    ) -> Hallucination | None:
        """None when the call is one the request allows, else why it is not.

        `arguments` is the JSON text the provider sent (OpenAI) or the decoded object
        (Anthropic's `input`); None means the provider sent none, which is an empty object.
        """
        label = name if isinstance(name, str) else repr(name)
        tool = tools.get(name) if isinstance(name, str) else None
        if tool is None:
            return Hallucination(label, UNKNOWN_TOOL, call_id)
        if tool.schema is None:
            return None
        value: Any = {} if arguments is None or arguments == "" else arguments
        if isinstance(value, (str, bytes, bytearray)):
            try:
                value = json.loads(value)
            except ValueError as exc:
                return Hallucination(label, INVALID_JSON, call_id, _short(str(exc)))
        if not isinstance(value, Mapping):
            return Hallucination(label, INVALID_JSON, call_id, "arguments are not a JSON object")
        validator = self._validator(tool.schema)
        if validator is None:
            return None
        from jsonschema.exceptions import best_match

        error = best_match(validator.iter_errors(value))
        if error is None:
            return None
        # Said with the schema's words only: the message would quote argument values, which
        # are content, and content leaves the process only when the user opts in.
        where = "/" + "/".join(str(p) for p in error.absolute_path)
        rule = json.dumps(error.validator_value, default=str)
        return Hallucination(
            label, SCHEMA_VIOLATION, call_id, _short(f"{where}: {error.validator} {rule}")
        )

    def _validator(self, schema: Mapping[str, Any]) -> Validator | None:
        try:
            key = json.dumps(schema, sort_keys=True, default=str)
        except (TypeError, ValueError):
            return None
        with self._lock:
            if key in self._validators:
                self._validators.move_to_end(key)
                return self._validators[key]
        validator = _compile(schema)
        with self._lock:
            self._validators[key] = validator
            if len(self._validators) > self._max:
                self._validators.popitem(last=False)
        return validator


def _compile(mapping: Mapping[str, Any]) -> Validator | None:
    # Imported on the first tool call to check: most processes never need it.
    import jsonschema
    from jsonschema.exceptions import SchemaError

    schema = dict(mapping)
    cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
    try:
        cls.check_schema(schema)
    except SchemaError as exc:
        log.warning("a tool's JSON schema is invalid, its calls are checked by name: %s", exc)
        return None
    validator: Validator = cls(schema)
    return validator


def _short(text: str) -> str:
    return text if len(text) <= MAX_DETAIL else text[:MAX_DETAIL] + "…"
