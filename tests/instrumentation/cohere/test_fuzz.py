"""Property: whatever the server sends, the caller sees exactly what the plain SDK gives.

cohere builds its responses without validation, so mutated bodies (fields dropped, values of
the wrong type, extra fields) reach agentwatch's readers as they came. The same body goes to
an uninstrumented and to an instrumented client; the results must be equal (or the
exceptions of the same type and text), and agentwatch must count no error of its own.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from agentwatch import names
from agentwatch.instrumentation.cohere import CohereInstrumentor
from agentwatch.instrumentation.telemetry import Telemetry
from tests.instrumentation.cohere import fakeapi as fake
from tests.instrumentation.conftest import points

FUZZ = settings(
    max_examples=120,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
_MISSING = object()
scalars = (
    st.none() | st.booleans() | st.integers(-3, 2**40) | st.floats(-1e3, 1e3) | st.text(max_size=5)
)
json_values = st.recursive(
    scalars,
    lambda kids: (
        st.lists(kids, max_size=3) | st.dictionaries(st.text(max_size=4), kids, max_size=3)
    ),
    max_leaves=5,
)


def mutated(value: Any) -> st.SearchStrategy[Any]:
    """`value`, each part kept (mostly), dropped, or retyped."""
    if isinstance(value, dict):
        fields = {
            key: st.one_of(mutated(v), mutated(v), st.just(_MISSING), json_values)
            for key, v in value.items()
        }
        return st.fixed_dictionaries(fields).map(
            lambda d: {k: v for k, v in d.items() if v is not _MISSING}
        )
    if isinstance(value, list):
        return st.lists(
            st.one_of(*(mutated(v) for v in value)) if value else json_values, max_size=3
        )
    return st.one_of(st.just(value), st.just(value), json_values)


BODY = fake.response(
    "Hi", tool_calls=[fake.tool_call("get_weather", '{"city": "Paris"}')], use=fake.usage()
)
EVENTS = fake.events(["Hel", "lo"], tool=("get_time", ["{}"]))


def outcome(run: Any) -> tuple[str, Any]:
    try:
        return "ok", run()
    except Exception as exc:  # the SDK's own failure, which must be the same either way
        return type(exc).__name__, str(exc)


def seen(value: Any) -> Any:
    """What a caller can read of a result, without pydantic's serializer (it warns on these)."""
    if isinstance(value, list):
        return [seen(v) for v in value]
    return repr(value)


@pytest.fixture
def instrumentor(telemetry: Telemetry) -> Any:
    yield CohereInstrumentor()
    CohereInstrumentor().uninstrument()


@FUZZ
@given(body=mutated(BODY))
def test_a_mutated_chat_response_reaches_the_caller_unchanged(
    body: Any, telemetry: Telemetry, metric_reader: InMemoryMetricReader, instrumentor: Any
) -> None:
    def run() -> Any:
        return seen(fake.client(fake.fixed(lambda: fake.json_response(body))).chat(**fake.CALL))

    plain = outcome(run)
    instrumentor.instrument(telemetry=telemetry)
    try:
        assert outcome(run) == plain
    finally:
        instrumentor.uninstrument()
    assert points(metric_reader, names.INSTRUMENTATION_ERRORS.otel) == []


@FUZZ
@given(events=st.lists(st.one_of(*(mutated(e) for e in EVENTS)), max_size=8))
def test_a_mutated_stream_reaches_the_caller_unchanged(
    events: Any, telemetry: Telemetry, metric_reader: InMemoryMetricReader, instrumentor: Any
) -> None:
    items = [e for e in events if isinstance(e, dict) and isinstance(e.get("type"), str)]

    def run() -> Any:
        api = fake.fixed(lambda: fake.sse_response(fake.sse(items)))
        return seen(list(fake.client(api).chat_stream(**fake.CALL)))

    plain = outcome(run)
    instrumentor.instrument(telemetry=telemetry)
    try:
        assert outcome(run) == plain
    finally:
        instrumentor.uninstrument()
    assert points(metric_reader, names.INSTRUMENTATION_ERRORS.otel) == []
