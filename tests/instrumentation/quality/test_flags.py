"""The cheap per-call quality flags, from what a response says."""

from __future__ import annotations

import pytest

from agentwatch.instrumentation.quality.flags import (
    CONTENT_FILTER,
    EMPTY,
    FLAGS,
    INVALID_JSON,
    REFUSAL,
    TRUNCATED,
    response_flags,
)


@pytest.mark.parametrize(
    ("reasons", "text", "kwargs", "flags"),
    [
        (["stop"], "Hello!", {}, ()),
        (["end_turn"], "Hi", {}, ()),
        (["tool_calls"], None, {"tool_calls": 1}, ()),
        (["tool_use"], "", {"tool_calls": 2}, ()),
        (["length"], "The answer is", {}, (TRUNCATED,)),
        (["max_tokens"], "The answer", {}, (TRUNCATED,)),
        (["max_output_tokens"], None, {}, (TRUNCATED, EMPTY)),
        (["model_context_window_exceeded"], "x", {}, (TRUNCATED,)),
        (["stop", "length"], "a", {}, (TRUNCATED,)),  # one of n choices cut short
        (["content_filter"], "", {}, (CONTENT_FILTER, EMPTY)),
        (["stop"], None, {"refused": True}, (REFUSAL,)),
        (["refusal"], "", {}, (REFUSAL,)),
        (["stop"], "", {}, (EMPTY,)),
        (["stop"], "  \n", {}, (EMPTY,)),
        (["stop"], '{"a": 1}', {"json_requested": True}, ()),
        (["stop"], 'Sure! {"a": 1}', {"json_requested": True}, (INVALID_JSON,)),
        (["stop"], "Sure!", {}, ()),  # not asked for JSON: prose is fine
        (["length"], '{"a": [1, 2', {"json_requested": True}, (TRUNCATED,)),
        (["stop"], "", {"json_requested": True}, (EMPTY,)),
        ([], "partial", {}, ()),  # a stream cut before its finish reason: nothing to say
    ],
)
def test_flags_say_what_the_response_says(
    reasons: list[str], text: str | None, kwargs: dict[str, object], flags: tuple[str, ...]
) -> None:
    assert response_flags(reasons, text, **kwargs) == flags  # type: ignore[arg-type]


def test_flags_are_a_bounded_set_in_a_fixed_order() -> None:
    every = response_flags(["length", "content_filter", "refusal"], None)
    assert every == (TRUNCATED, CONTENT_FILTER, REFUSAL)
    assert set(every) <= set(FLAGS) and len(FLAGS) == len(set(FLAGS)) == 5
