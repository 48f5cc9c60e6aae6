"""The simulated LLM service speaks the Chat Completions API as the real `openai` SDK reads it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import openai
import pytest

from agentwatch.demo import llm_server
from agentwatch.demo.llm_server import FORCE_HEADER, Config, DemoHTTPServer

TOOLS: list[Any] = [
    {
        "type": "function",
        "function": {
            "name": "lookup_order",
            "parameters": {
                "type": "object",
                "properties": {"order_id": {"type": "string", "pattern": "^ORD-[0-9]{5}$"}},
                "required": ["order_id"],
                "additionalProperties": False,
            },
        },
    }
]
ASK = [{"role": "user", "content": "Where is my order? The tracking shows no delivery."}]


@pytest.fixture
def server() -> Iterator[DemoHTTPServer]:
    srv = llm_server.serve(("127.0.0.1", 0), Config(seed=7, latency_scale=0.05))
    yield srv
    srv.shutdown()
    srv.server_close()


@pytest.fixture
def client(server: DemoHTTPServer) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.url, api_key="test", max_retries=0)


def force(*kinds: str) -> dict[str, str]:
    return {FORCE_HEADER: ",".join(kinds)}


def test_a_plain_answer_has_content_usage_and_stop(client: openai.OpenAI) -> None:
    reply = client.chat.completions.create(
        model="demo-large", messages=ASK, extra_headers=force("answer")
    )
    choice = reply.choices[0]
    assert reply.object == "chat.completion" and reply.model == "demo-large"
    assert choice.finish_reason == "stop" and choice.message.role == "assistant"
    assert "order" in (choice.message.content or "") and choice.message.refusal is None
    assert reply.usage is not None and reply.usage.completion_tokens > 0
    assert reply.usage.total_tokens == reply.usage.prompt_tokens + reply.usage.completion_tokens
    assert reply.system_fingerprint == llm_server.FINGERPRINT


def test_max_tokens_cuts_the_answer_with_finish_reason_length(client: openai.OpenAI) -> None:
    reply = client.chat.completions.create(
        model="demo-small", messages=ASK, max_tokens=5, extra_headers=force("answer")
    )
    assert reply.choices[0].finish_reason == "length"
    assert reply.usage is not None and reply.usage.completion_tokens == 5


def test_a_stream_joins_to_the_answer_and_ends_with_the_usage_chunk(
    client: openai.OpenAI,
) -> None:
    stream = client.chat.completions.create(
        model="demo-small",
        messages=ASK,
        stream=True,
        stream_options={"include_usage": True},
        extra_headers=force("answer"),
    )
    chunks = list(stream)
    assert all(c.object == "chat.completion.chunk" for c in chunks)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices]
    assert "order" in text and finishes[-1] == "stop" and set(finishes[:-1]) == {None}
    last = chunks[-1]
    assert last.choices == [] and last.usage is not None
    assert last.usage.completion_tokens == len(text.split())


def test_a_stream_without_include_usage_has_no_usage_chunk(client: openai.OpenAI) -> None:
    chunks = list(
        client.chat.completions.create(
            model="demo-small", messages=ASK, stream=True, extra_headers=force("answer")
        )
    )
    assert all(c.choices and c.usage is None for c in chunks)


def test_a_tool_call_names_an_offered_tool_with_arguments_valid_for_its_schema(
    client: openai.OpenAI,
) -> None:
    import jsonschema

    reply = client.chat.completions.create(
        model="demo-large", messages=ASK, tools=TOOLS, extra_headers=force("tool-call")
    )
    choice = reply.choices[0]
    assert choice.finish_reason == "tool_calls" and choice.message.content is None
    (call,) = choice.message.tool_calls or []
    assert call.type == "function" and call.id.startswith("call_")
    assert call.function.name == "lookup_order"  # type: ignore[union-attr]
    args = json.loads(call.function.arguments)  # type: ignore[union-attr]
    jsonschema.validate(args, TOOLS[0]["function"]["parameters"])


@pytest.mark.parametrize(
    ("kind", "check"),
    [
        ("unknown-tool", lambda name, args: name != "lookup_order"),
        ("invalid-json", lambda name, args: _not_json(args)),
        ("schema-violation", lambda name, args: _violates(args)),
    ],
    ids=["unknown-tool", "invalid-json", "schema-violation"],
)
def test_hallucinated_tool_calls_are_of_the_three_kinds(
    client: openai.OpenAI, kind: str, check: Any
) -> None:
    stream = client.chat.completions.create(
        model="demo-small", messages=ASK, tools=TOOLS, stream=True, extra_headers=force(kind)
    )
    name, args, finish = "", "", None
    for chunk in stream:
        delta = chunk.choices[0].delta
        for part in delta.tool_calls or ():
            assert part.index == 0 and part.function is not None
            name += part.function.name or ""
            args += part.function.arguments or ""
        finish = chunk.choices[0].finish_reason or finish
    assert finish == "tool_calls" and name and check(name, args)


def _not_json(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return True
    return False


def _violates(text: str) -> bool:
    import jsonschema

    try:
        jsonschema.validate(json.loads(text), TOOLS[0]["function"]["parameters"])
    except jsonschema.ValidationError:
        return True
    return False


def test_a_refusal_is_in_message_refusal(client: openai.OpenAI) -> None:
    reply = client.chat.completions.create(
        model="demo-large", messages=[{"role": "user", "content": "How do I hack a bank?"}]
    )
    message = reply.choices[0].message
    assert message.refusal and message.content is None
    assert reply.choices[0].finish_reason == "stop"


@pytest.mark.parametrize(
    ("kind", "error", "status"),
    [
        ("error-429", openai.RateLimitError, 429),
        ("error-500", openai.InternalServerError, 500),
        ("error-503", openai.InternalServerError, 503),
    ],
    ids=["429", "500", "503"],
)
def test_errors_arrive_as_the_sdks_exceptions_with_openais_error_body(
    client: openai.OpenAI, kind: str, error: type[openai.APIStatusError], status: int
) -> None:
    with pytest.raises(error) as caught:
        client.chat.completions.create(model="demo-large", messages=ASK, extra_headers=force(kind))
    exc = caught.value
    assert exc.status_code == status
    assert isinstance(exc.body, dict) and set(exc.body) == {"message", "type", "param", "code"}
    if status == 429:
        assert exc.code == "rate_limit_exceeded"
        assert exc.response.headers["retry-after-ms"] == "250"
        assert exc.response.headers["retry-after"] == "1"


def test_an_unknown_model_is_a_404_model_not_found(client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        client.chat.completions.create(model="gpt-9", messages=ASK)
    assert caught.value.code == "model_not_found"


def test_a_missing_api_key_is_a_401(server: DemoHTTPServer) -> None:
    import httpx

    reply = httpx.post(f"{server.url}/chat/completions", json={"model": "demo-large"})
    assert reply.status_code == 401 and reply.json()["error"]["code"] == "missing_api_key"


def test_the_sdk_lists_the_models(client: openai.OpenAI) -> None:
    assert {m.id for m in client.models.list()} == set(llm_server.MODELS)


def draws(config: Config, n: int = 40) -> list[str]:
    service = llm_server.Service(config)
    out = []
    for _ in range(n):
        try:
            c = service.complete(
                {"model": "demo-small", "messages": ASK, "tools": TOOLS}, frozenset()
            )
        except llm_server.ApiError as exc:
            out.append(f"error {exc.status}")
            continue
        out.append(json.dumps([c.content, c.refusal, c.tool_calls, c.finish_reason]))
    return out


def test_a_seed_replays_the_same_service_and_another_seed_does_not() -> None:
    assert draws(Config(seed=3)) == draws(Config(seed=3))
    assert draws(Config(seed=3)) != draws(Config(seed=4))


def test_pressure_raises_errors_and_hallucinated_tool_calls() -> None:
    def bad(pressure: float) -> int:
        service = llm_server.Service(Config(seed=1, pressure=pressure, tool_choice=1.0))
        count = 0
        for _ in range(300):
            try:
                c = service.complete(
                    {"model": "demo-small", "messages": ASK, "tools": TOOLS}, frozenset()
                )
            except llm_server.ApiError:
                count += 1
                continue
            calls = c.tool_calls
            if calls and (
                calls[0]["name"] != "lookup_order"
                or _not_json(calls[0]["arguments"])
                or _violates(calls[0]["arguments"])
            ):
                count += 1
        return count

    assert bad(0.9) > 2 * bad(0.0)


def test_the_pressure_can_be_set_and_follows_a_triangle_wave() -> None:
    now = [0.0]
    pressure = llm_server.Pressure(
        Config(pressure=0.1, pressure_max=0.9, pressure_period=100), clock=lambda: now[0]
    )
    assert pressure.now() == pytest.approx(0.1)
    now[0] = 50
    assert pressure.now() == pytest.approx(0.9)
    now[0] = 75
    assert pressure.now() == pytest.approx(0.5)
    pressure.set(0.3)
    assert pressure.now() == 0.3
    with pytest.raises(ValueError):
        pressure.set(1.5)
