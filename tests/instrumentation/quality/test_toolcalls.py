"""Hallucinated tool calls: unknown names, arguments that are no JSON object, schema violations."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from agentwatch.instrumentation.quality.toolcalls import (
    INVALID_JSON,
    SCHEMA_VIOLATION,
    UNKNOWN_TOOL,
    Tool,
    ToolCallChecker,
    anthropic_tools,
    openai_tools,
)

WEATHER_SCHEMA = {
    "type": "object",
    "properties": {
        "city": {"type": "string"},
        "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
        "days": {"type": "integer", "minimum": 1},
    },
    "required": ["city"],
    "additionalProperties": False,
}
CHAT_TOOLS = [
    {
        "type": "function",
        "function": {"name": "get_weather", "parameters": WEATHER_SCHEMA, "strict": True},
    },
    {"type": "function", "function": {"name": "now"}},  # no parameters: any object
    {"type": "custom", "custom": {"name": "run_sql", "description": "free-form SQL"}},
]
RESPONSES_TOOLS = [
    {"type": "function", "name": "get_weather", "parameters": WEATHER_SCHEMA},
    {"type": "web_search"},  # provider-side: never a function call
    {"type": "custom", "name": "run_sql"},
]
ANTHROPIC_TOOLS = [
    {"name": "get_weather", "description": "Weather", "input_schema": WEATHER_SCHEMA},
    {"type": "web_search_20250305", "name": "web_search", "max_uses": 3},
]


def test_openai_chat_and_responses_tools_are_read_in_both_shapes() -> None:
    chat = openai_tools(CHAT_TOOLS)
    assert set(chat) == {"get_weather", "now", "run_sql"}
    assert chat["get_weather"].schema == WEATHER_SCHEMA
    assert chat["now"].schema is None and chat["run_sql"].schema is None
    responses = openai_tools(RESPONSES_TOOLS)
    assert set(responses) == {"get_weather", "run_sql"}
    assert responses["get_weather"].schema == WEATHER_SCHEMA


def test_anthropic_tools_include_server_tools_by_name() -> None:
    tools = anthropic_tools(ANTHROPIC_TOOLS)
    assert tools["get_weather"].schema == WEATHER_SCHEMA
    assert tools["web_search"] == Tool("web_search")


@pytest.mark.parametrize("tools", [None, "get_weather", [None, 3, {"type": "function"}], {}])
def test_surprising_tool_lists_give_no_tools_and_no_error(tools: Any) -> None:
    assert openai_tools(tools) == {} and anthropic_tools(tools) == {}


@pytest.mark.parametrize(
    ("name", "arguments"),
    [
        ("get_weather", '{"city": "Paris"}'),
        ("get_weather", '{"city": "Oslo", "unit": "celsius", "days": 3}'),
        ("get_weather", {"city": "Lima"}),  # Anthropic's decoded `input`
        ("now", None),
        ("now", ""),
        ("now", '{"anything": [1, 2]}'),
        ("run_sql", "SELECT 1"),  # custom tools take free-form text
    ],
)
def test_calls_the_request_allows_are_not_hallucinated(name: str, arguments: Any) -> None:
    assert ToolCallChecker().check(openai_tools(CHAT_TOOLS), name, arguments) is None


@pytest.mark.parametrize(
    ("name", "arguments", "reason", "detail"),
    [
        ("get_wether", '{"city": "Paris"}', UNKNOWN_TOOL, None),
        ("web_search", "{}", UNKNOWN_TOOL, None),
        (None, "{}", UNKNOWN_TOOL, None),
        ("get_weather", '{"city": "Paris"', INVALID_JSON, "Expecting ',' delimiter"),
        ("get_weather", '["Paris"]', INVALID_JSON, "not a JSON object"),
        ("get_weather", "{}", SCHEMA_VIOLATION, '/: required ["city"]'),
        ("get_weather", '{"city": 7}', SCHEMA_VIOLATION, '/city: type "string"'),
        ("get_weather", '{"city": "Rome", "unit": "kelvin"}', SCHEMA_VIOLATION, "/unit: enum"),
        ("get_weather", '{"city": "Rome", "days": 0}', SCHEMA_VIOLATION, "/days: minimum 1"),
        ("get_weather", '{"city": "Rome", "when": "now"}', SCHEMA_VIOLATION, "additionalProp"),
    ],
)
def test_each_kind_of_hallucination_is_named_with_a_value_free_detail(
    name: Any, arguments: str, reason: str, detail: str | None
) -> None:
    found = ToolCallChecker().check(openai_tools(CHAT_TOOLS), name, arguments, call_id="call_1")
    assert found is not None
    assert (found.reason, found.call_id) == (reason, "call_1")
    if detail is None:
        assert found.detail is None
    else:
        assert found.detail is not None and detail in found.detail
    # Argument values are content: never in the detail.
    for value in ("Paris", "Rome", "kelvin", "now"):
        assert value not in (found.detail or "")


def test_anthropic_inputs_are_checked_as_objects() -> None:
    checker, tools = ToolCallChecker(), anthropic_tools(ANTHROPIC_TOOLS)
    found = checker.check(tools, "get_weather", {"town": "Paris"})
    assert found is not None and found.reason == SCHEMA_VIOLATION
    assert checker.check(tools, "web_search", {"query": "x"}) is None


def test_a_broken_schema_is_not_held_against_the_model_and_is_logged_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    tools = {"t": Tool("t", {"type": "object", "properties": {"a": {"type": "strin"}}})}
    checker = ToolCallChecker()
    with caplog.at_level(logging.WARNING, "agentwatch.instrumentation"):
        assert checker.check(tools, "t", '{"a": 1}') is None
        assert checker.check(tools, "t", '{"a": 2}') is None
    assert len([r for r in caplog.records if "schema is invalid" in r.message]) == 1


def test_validators_are_compiled_once_per_schema_and_the_cache_is_bounded() -> None:
    checker = ToolCallChecker(max_cached=2)
    tools = openai_tools(CHAT_TOOLS)
    for _ in range(3):
        assert checker.check(tools, "get_weather", '{"city": "x"}') is None
    assert len(checker._validators) == 1
    for n in range(5):
        schema = {"type": "object", "properties": {f"p{n}": {"type": "string"}}}
        assert checker.check({"t": Tool("t", schema)}, "t", "{}") is None
    assert len(checker._validators) == 2
