"""Property: whatever the server sends, the caller sees exactly what the plain SDK gives.

Bodies are real ones mutated at random (fields dropped, values of the wrong type, extra fields,
empty or odd `choices`) plus garbage: invalid JSON, stray SSE lines, error events. The same body
goes to the instrumented method and to the SDK's original function (the wrapper's
`__wrapped__`); the return values must dump equal, or the exceptions have the same type and text.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import httpx2
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openai.resources.chat.completions import AsyncCompletions, Completions
from openai.resources.embeddings import Embeddings
from openai.resources.responses import Responses

from tests.instrumentation.openai import fakeapi as fake

FUZZ = settings(
    max_examples=150,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
_MISSING = object()

scalars = (
    st.none()
    | st.booleans()
    | st.integers(-3, 2**40)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=6)
)
json_values = st.recursive(
    scalars,
    lambda kids: (
        st.lists(kids, max_size=3) | st.dictionaries(st.text(max_size=5), kids, max_size=3)
    ),
    max_leaves=5,
)


def _drop_missing(pair: tuple[dict[str, Any], dict[str, Any]]) -> dict[str, Any]:
    kept, extra = pair
    return {**{k: v for k, v in kept.items() if v is not _MISSING}, **extra}


def mutated(value: Any) -> st.SearchStrategy[Any]:
    """`value`, each part kept (mostly), dropped, retyped, or given extra keys."""
    if isinstance(value, dict):
        fields = {
            key: st.one_of(mutated(v), mutated(v), mutated(v), st.just(_MISSING), json_values)
            for key, v in value.items()
        }
        extra = st.dictionaries(st.text(max_size=5), json_values, max_size=2)
        return st.tuples(st.fixed_dictionaries(fields), extra).map(_drop_missing)
    if isinstance(value, list):
        items = st.one_of(*(mutated(v) for v in value)) if value else json_values
        return st.lists(items, max_size=3)
    return st.one_of(st.just(value), st.just(value), json_values)


GARBAGE = st.sampled_from(
    [
        "data: {\n\n",
        "data: [1, 2]\n\n",
        ": keep-alive\n\n",
        "event: error\n",
        "data: null\n\n",
        'data: "text"\n\n',
        'data: {"error": {"message": "boom", "type": "server_error"}}\n\n',
        "retry: 10\n\n",
        "\n",
    ]
) | st.text(alphabet='abc:{}\n "data', max_size=24)


def sse_bodies(events: st.SearchStrategy[Any]) -> st.SearchStrategy[bytes]:
    lines = st.one_of(events.map(lambda e: f"data: {json.dumps(e)}\n\n"), GARBAGE)
    done = st.sampled_from(["data: [DONE]\n\n", ""])
    return st.tuples(st.lists(lines, max_size=6), done).map(
        lambda parts: ("".join(parts[0]) + parts[1]).encode()
    )


def json_bodies(base: dict[str, Any]) -> st.SearchStrategy[tuple[int, bytes]]:
    good = mutated(base).map(lambda b: (200, json.dumps(b).encode()))
    odd = st.tuples(
        st.sampled_from([200, 400, 429, 500, 503]),
        st.one_of(json_values.map(lambda v: json.dumps(v).encode()), st.binary(max_size=12)),
    )
    return st.one_of(good, good, odd)


def dump(value: Any) -> Any:
    try:
        return (value.__class__.__name__, value.model_dump(warnings=False))
    except Exception as exc:  # the SDK built something model_dump cannot: compare that too
        return ("undumpable", type(exc).__name__)


def outcome(call: Callable[[], Any], stream: bool) -> Any:
    """What the caller sees: a dump of the result (or of every chunk), or the exception."""
    try:
        result = call()
    except Exception as exc:
        return ("raised", type(exc), str(exc))
    if not stream:
        return ("returned", dump(result))
    seen = []
    try:
        for item in result:
            seen.append(dump(item))
    except Exception as exc:
        return ("stream", result.__class__.__name__, seen, type(exc), str(exc))
    return ("stream", result.__class__.__name__, seen, None, None)


def answer_with(status: int, body: bytes, content_type: str) -> fake.Handler:
    def handler(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(status, content=body, headers={"content-type": content_type})

    return handler


def original(owner: type, method: str) -> Callable[..., Any]:
    wrapper = owner.__dict__[method]
    assert hasattr(wrapper, "__wrapped__"), "the test needs the SDK instrumented"
    return wrapper.__wrapped__  # type: ignore[no-any-return]


CHAT = {"model": fake.MODEL, "messages": fake.MESSAGES}
TOOL_DELTA = {"index": 0, "id": "call_0", "type": "function", "function": {"name": "f"}}


@pytest.mark.usefixtures("with_usage")
@FUZZ
@given(body=json_bodies(fake.completion(tool_calls=[fake.tool_call("f")])))
def test_chat_completions_return_what_the_sdk_returns(body: tuple[int, bytes]) -> None:
    with fake.client(answer_with(*body, "application/json")) as c:
        mine = outcome(lambda: c.chat.completions.create(**CHAT), stream=False)
        plain = outcome(lambda: original(Completions, "create")(c.chat.completions, **CHAT), False)
    assert mine == plain


@pytest.mark.usefixtures("with_usage")
@settings(FUZZ, max_examples=100)
@given(
    body=sse_bodies(
        st.one_of(
            mutated(
                fake.chunk(
                    {"content": "hi", "tool_calls": [{"index": 0, "function": {"name": "f"}}]}
                )
            ),
            mutated(fake.chunk(choices=[], use=fake.usage())),
        )
    )
)
def test_chat_streams_yield_what_the_sdk_yields(body: bytes) -> None:
    kwargs = {**CHAT, "stream": True}
    with fake.client(answer_with(200, body, "text/event-stream")) as c:
        mine = outcome(lambda: c.chat.completions.create(**kwargs), stream=True)
        plain = outcome(lambda: original(Completions, "create")(c.chat.completions, **kwargs), True)
    assert mine == plain


@pytest.mark.usefixtures("instrumented")
@settings(FUZZ, max_examples=60)
@given(body=json_bodies(fake.completion()))
def test_async_chat_completions_return_what_the_sdk_returns(body: tuple[int, bytes]) -> None:
    async def both() -> tuple[Any, Any]:
        async with fake.async_client(answer_with(*body, "application/json")) as c:
            plain_create = original(AsyncCompletions, "create")
            results = []
            for call in (
                lambda: c.chat.completions.create(**CHAT),
                lambda: plain_create(c.chat.completions, **CHAT),
            ):
                try:
                    results.append(("returned", dump(await call())))
                except Exception as exc:
                    results.append(("raised", type(exc), str(exc)))
            return results[0], results[1]

    mine, plain = asyncio.run(both())
    assert mine == plain


@pytest.mark.usefixtures("instrumented")
@settings(FUZZ, max_examples=60)
@given(
    body=sse_bodies(st.one_of(*(mutated(e) for e in fake.response_events(fake.response(), ["a"]))))
)
def test_response_streams_yield_what_the_sdk_yields(body: bytes) -> None:
    kwargs = {"model": "gpt-4.1", "input": "x", "stream": True}
    with fake.client(answer_with(200, body, "text/event-stream")) as c:
        mine = outcome(lambda: c.responses.create(**kwargs), stream=True)
        plain = outcome(lambda: original(Responses, "create")(c.responses, **kwargs), True)
    assert mine == plain


@pytest.mark.usefixtures("instrumented")
@settings(FUZZ, max_examples=80)
@given(body=json_bodies(fake.embeddings(n=1, dimensions=2)))
def test_embeddings_return_what_the_sdk_returns(body: tuple[int, bytes]) -> None:
    kwargs = {"model": "text-embedding-3-small", "input": "x", "encoding_format": "float"}
    with fake.client(answer_with(*body, "application/json")) as c:
        mine = outcome(lambda: c.embeddings.create(**kwargs), stream=False)
        plain = outcome(lambda: original(Embeddings, "create")(c.embeddings, **kwargs), False)
    assert mine == plain
