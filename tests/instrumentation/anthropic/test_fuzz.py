"""Property: whatever the server sends, the caller sees exactly what the plain SDK gives.

Bodies are real ones mutated at random (fields dropped, values of the wrong type, extra fields,
odd content blocks and usage) plus garbage: invalid JSON, stray SSE lines, unnamed or unknown
events, `error` events. The same body goes to the instrumented method and to the SDK's original
function (the wrapper's `__wrapped__`); the return values must dump equal, or the exceptions
have the same type and text. The stream helper is compared against an uninstrumented run.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import httpx2
import pytest
from anthropic.resources.messages import AsyncMessages, Messages
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from agentwatch import names
from agentwatch.instrumentation.anthropic import AnthropicInstrumentor
from agentwatch.instrumentation.telemetry import Telemetry
from tests.instrumentation.anthropic import fakeapi as fake
from tests.instrumentation.conftest import points

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
        "event: message_start\ndata: {\n\n",
        "data: [1, 2]\n\n",
        ": keep-alive\n\n",
        "event: ping\ndata: {}\n\n",
        "event: error\ndata: null\n\n",
        'event: error\ndata: {"type": "error", "error": {"type": "overloaded_error"}}\n\n',
        'event: error\ndata: "text"\n\n',
        'event: whatever\ndata: {"type": "whatever"}\n\n',
        "retry: 10\n\n",
        "\n",
    ]
) | st.text(alphabet='abc:{}\n "data', max_size=24)


def named(event: Any) -> str:
    kind = event.get("type") if isinstance(event, dict) else None
    return f"event: {kind if isinstance(kind, str) else 'x'}\ndata: {json.dumps(event)}\n\n"


def sse_bodies(events: st.SearchStrategy[Any]) -> st.SearchStrategy[bytes]:
    lines = st.one_of(events.map(named), GARBAGE)
    return st.lists(lines, max_size=7).map(lambda parts: "".join(parts).encode())


def json_bodies(base: dict[str, Any]) -> st.SearchStrategy[tuple[int, bytes]]:
    good = mutated(base).map(lambda b: (200, json.dumps(b).encode()))
    odd = st.tuples(
        st.sampled_from([200, 400, 429, 500, 529]),
        st.one_of(json_values.map(lambda v: json.dumps(v).encode()), st.binary(max_size=12)),
    )
    return st.one_of(good, good, odd)


def dump(value: Any) -> Any:
    try:
        return (value.__class__.__name__, value.model_dump(warnings=False))
    except Exception as exc:  # the SDK built something model_dump cannot: compare that too
        return ("undumpable", type(exc).__name__)


def outcome(call: Callable[[], Any], stream: bool) -> Any:
    """What the caller sees: a dump of the result (or of every event), or the exception."""
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


BLOCKS = [fake.text("Hi"), fake.tool_use("f", {"a": 1})]
STREAM_EVENTS = fake.events(["a"], tool=("f", ['{"a": 1}']), start=fake.usage(cache_read=3))


@pytest.mark.usefixtures("instrumented")
@FUZZ
@given(body=json_bodies(fake.message(BLOCKS, use=fake.usage(cache_read=4, cache_creation=2))))
def test_messages_return_what_the_sdk_returns(
    body: tuple[int, bytes], metric_reader: InMemoryMetricReader
) -> None:
    with fake.client(answer_with(*body, "application/json")) as c:
        mine = outcome(lambda: c.messages.create(**fake.CALL), stream=False)
        plain = outcome(lambda: original(Messages, "create")(c.messages, **fake.CALL), False)
    assert mine == plain
    assert points(metric_reader, names.INSTRUMENTATION_ERRORS.otel) == []  # read it all


@pytest.mark.usefixtures("capturing")
@settings(FUZZ, max_examples=120)
@given(body=sse_bodies(st.one_of(*(mutated(e) for e in STREAM_EVENTS))))
def test_streams_yield_what_the_sdk_yields(
    body: bytes, metric_reader: InMemoryMetricReader
) -> None:
    kwargs = {**fake.CALL, "stream": True}
    with fake.client(answer_with(200, body, "text/event-stream")) as c:
        mine = outcome(lambda: c.messages.create(**kwargs), stream=True)
        plain = outcome(lambda: original(Messages, "create")(c.messages, **kwargs), True)
    assert mine == plain
    assert points(metric_reader, names.INSTRUMENTATION_ERRORS.otel) == []


def helper_outcome(body: bytes) -> Any:
    """What a caller of the stream helper sees: events, the final message, or the exception."""
    seen: list[Any] = []
    with fake.client(answer_with(200, body, "text/event-stream")) as c:
        try:
            with c.messages.stream(**fake.CALL) as stream:
                for event in stream:
                    seen.append(dump(event))
                final = dump(stream.get_final_message())
        except Exception as exc:
            return (seen, type(exc), str(exc))
    return (seen, final)


@settings(FUZZ, max_examples=60)
@given(body=sse_bodies(st.one_of(*(mutated(e) for e in STREAM_EVENTS))))
def test_the_stream_helper_gives_what_the_sdk_gives(telemetry: Telemetry, body: bytes) -> None:
    plain = helper_outcome(body)
    instrumentor = AnthropicInstrumentor()
    instrumentor.instrument(telemetry=telemetry)
    try:
        mine = helper_outcome(body)
    finally:
        instrumentor.uninstrument()
    assert mine == plain


@pytest.mark.usefixtures("instrumented")
@settings(FUZZ, max_examples=60)
@given(body=json_bodies(fake.message()))
def test_async_messages_return_what_the_sdk_returns(body: tuple[int, bytes]) -> None:
    async def both() -> tuple[Any, Any]:
        async with fake.async_client(answer_with(*body, "application/json")) as c:
            plain_create = original(AsyncMessages, "create")
            results = []
            for call in (
                lambda: c.messages.create(**fake.CALL),
                lambda: plain_create(c.messages, **fake.CALL),
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
@given(body=json_bodies({"input_tokens": 12}))
def test_count_tokens_returns_what_the_sdk_returns(body: tuple[int, bytes]) -> None:
    kwargs = {"model": fake.MODEL, "messages": fake.MESSAGES}
    with fake.client(answer_with(*body, "application/json")) as c:
        mine = outcome(lambda: c.messages.count_tokens(**kwargs), stream=False)
        plain = outcome(lambda: original(Messages, "count_tokens")(c.messages, **kwargs), False)
    assert mine == plain
