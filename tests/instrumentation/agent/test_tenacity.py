"""tenacity: retries and waits as span events and counts, and retry behaviour left exactly as it is.

Real tenacity; its `sleep` is a recorder (tenacity's own parameter), so nothing waits.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable
from typing import Any

import pytest
import tenacity
from hypothesis import given, settings
from hypothesis import strategies as st

from agentwatch import names
from agentwatch.instrumentation import agent
from agentwatch.instrumentation import semconv as sc
from agentwatch.instrumentation.agent.tenacity import instrument_tenacity, uninstrument_tenacity
from tests.instrumentation.agent.harness import Harness, build

ORIGINAL_ITER = vars(tenacity.BaseRetrying)["iter"]
ORIGINAL_ASYNC_ITER = vars(tenacity.AsyncRetrying)["iter"]


def flaky(outcomes: list[Any], calls: list[int]) -> Callable[[], Any]:
    """Returns or raises each of `outcomes` in turn (an exception instance is raised)."""

    def call() -> Any:
        calls.append(len(calls))
        outcome = outcomes[min(len(calls) - 1, len(outcomes) - 1)]
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    return call


def retries(rec: Harness) -> dict[tuple[Any, ...], float]:
    return rec.values(names.AGENT_RETRIES, sc.RETRY_FUNCTION, sc.RETRY_OUTCOME)


def events(rec: Harness) -> list[tuple[str, dict[str, Any]]]:
    (span,) = rec.spans.get_finished_spans()
    return [(e.name, dict(e.attributes or {})) for e in span.events]


NAME = f"{__name__}.fetch_weather"


def test_a_call_that_recovers_records_each_wait_and_retry(rec: Harness) -> None:
    sleeps: list[float] = []
    calls: list[int] = []
    body = flaky([ValueError("a"), ValueError("b"), "sunny"], calls)

    def fetch_weather() -> str:
        return str(body())

    fetch_weather.__qualname__ = "fetch_weather"  # as if defined at module level
    retrying = tenacity.retry(wait=tenacity.wait_fixed(0.5), sleep=sleeps.append)(fetch_weather)
    with rec.tracer.start_as_current_span("request"):
        assert retrying() == "sunny"
    assert sleeps == [0.5, 0.5] and len(calls) == 3
    assert events(rec) == [
        (
            sc.EVENT_RETRY_WAIT,
            {sc.RETRY_ATTEMPT: 1, sc.RETRY_WAIT: 0.5, sc.ERROR_TYPE: "ValueError"},
        ),
        (sc.EVENT_RETRY_ATTEMPT, {sc.RETRY_ATTEMPT: 2}),
        (
            sc.EVENT_RETRY_WAIT,
            {sc.RETRY_ATTEMPT: 2, sc.RETRY_WAIT: 0.5, sc.ERROR_TYPE: "ValueError"},
        ),
        (sc.EVENT_RETRY_ATTEMPT, {sc.RETRY_ATTEMPT: 3}),
    ]
    assert retries(rec) == {(NAME, "retried"): 1, (NAME, "success"): 1}
    assert rec.values(names.AGENT_RETRY_WAIT, sc.RETRY_FUNCTION) == {(NAME,): 1.0}


@pytest.mark.parametrize("reraise", [True, False])
def test_a_call_that_gives_up_is_exhausted(rec: Harness, reraise: bool) -> None:
    sleeps: list[float] = []
    error = ValueError("down")
    retrying = tenacity.Retrying(
        stop=tenacity.stop_after_attempt(3), sleep=sleeps.append, reraise=reraise
    )
    expected = ValueError if reraise else tenacity.RetryError
    with rec.tracer.start_as_current_span("request"), pytest.raises(expected) as raised:
        retrying(flaky([error], []))
    if reraise:
        assert raised.value is error
    assert sleeps == [0, 0]
    assert events(rec)[-1] == (
        sc.EVENT_RETRY_GAVE_UP,
        {sc.RETRY_ATTEMPT: 3, sc.ERROR_TYPE: "ValueError"},
    )
    assert {outcome: n for (_, outcome), n in retries(rec).items()} == {
        "retried": 1,
        "exhausted": 1,
    }


def test_an_error_it_does_not_retry_is_a_failure(rec: Harness) -> None:
    retrying = tenacity.Retrying(
        retry=tenacity.retry_if_exception_type(ValueError), sleep=lambda s: None
    )
    with pytest.raises(TypeError):
        retrying(flaky([ValueError(), TypeError()], []))
    assert {outcome: n for (_, outcome), n in retries(rec).items()} == {"failure": 1}


def test_a_first_attempt_that_succeeds_records_nothing(rec: Harness) -> None:
    assert tenacity.Retrying()(lambda: 42) == 42
    assert rec.points(names.AGENT_RETRIES) == [] and rec.points(names.AGENT_RETRY_WAIT) == []


def named(kind: Any, name: str, **kwargs: Any) -> Any:
    """A retrying named `name`: tenacity 9.2 takes `name=`; before, its `_name` is set as 9.2
    sets it (google-genai pins tenacity < 9.2, so the dev extra gets 9.1)."""
    if "name" in inspect.signature(tenacity.BaseRetrying.__init__).parameters:
        return kind(name=name, **kwargs)
    retrying = kind(**kwargs)
    retrying._name = name
    return retrying


def test_the_iterator_form_and_a_retrying_name(rec: Harness) -> None:
    calls: list[int] = []
    body = flaky([ValueError(), "ok"], calls)
    for attempt in tenacity.Retrying(sleep=lambda s: None):
        with attempt:
            body()
    other = flaky([ValueError(), "ok"], [])
    for attempt in named(tenacity.Retrying, "load_index", sleep=lambda s: None):
        with attempt:
            other()
    assert retries(rec) == {("unknown", "success"): 1, ("load_index", "success"): 1}


def test_async_retries_are_recorded(rec: Harness) -> None:
    sleeps: list[float] = []

    async def asleep(seconds: float) -> None:
        sleeps.append(seconds)

    calls: list[int] = []
    body = flaky([ConnectionError(), ConnectionError(), "done"], calls)

    @tenacity.retry(wait=tenacity.wait_exponential(multiplier=1, max=10), sleep=asleep)
    async def embed() -> str:
        await asyncio.sleep(0)
        return str(body())

    async def main() -> str:
        with rec.tracer.start_as_current_span("request"):
            return await embed()

    assert asyncio.run(main()) == "done"
    assert sleeps == [1, 2]
    name = f"{__name__}.test_async_retries_are_recorded.<locals>.embed"
    assert retries(rec) == {(name, "retried"): 1, (name, "success"): 1}
    waits = [e for e in events(rec) if e[0] == sc.EVENT_RETRY_WAIT]
    assert [e[1][sc.ERROR_TYPE] for e in waits] == ["ConnectionError", "ConnectionError"]


def test_a_failure_inside_agentwatch_leaves_the_retry_alone(
    rec: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("bug in agentwatch")

    monkeypatch.setattr(rec.signals.retries, "add", broken)
    sleeps: list[float] = []
    retrying = tenacity.Retrying(sleep=sleeps.append, wait=tenacity.wait_fixed(1))
    assert retrying(flaky([ValueError(), ValueError(), 7], [])) == 7
    assert sleeps == [1, 1]
    assert rec.errors() == {("tenacity.iter", "RuntimeError"): 2}


def test_uninstall_restores_tenacity(rec: Harness) -> None:
    assert vars(tenacity.BaseRetrying)["iter"] is not ORIGINAL_ITER
    agent.uninstall()
    assert vars(tenacity.BaseRetrying)["iter"] is ORIGINAL_ITER
    assert vars(tenacity.AsyncRetrying)["iter"] is ORIGINAL_ASYNC_ITER
    instrument_tenacity()
    instrument_tenacity()  # twice is once
    uninstrument_tenacity()
    assert vars(tenacity.BaseRetrying)["iter"] is ORIGINAL_ITER


# --- behaviour unchanged: the same calls, sleeps and end, with and without agentwatch -----------

OUTCOME = st.one_of(
    st.integers(-3, 3),
    st.sampled_from([ValueError, TypeError, KeyError, tenacity.TryAgain]),
)


def scenario(
    outcomes: list[Any], attempts: int, waits: list[float], reraise: bool, callback: bool
) -> tuple[list[int], list[float], Any]:
    """Run one retried call; what it called, slept and ended with."""
    calls: list[int] = []
    sleeps: list[float] = []

    def call() -> Any:
        calls.append(len(calls))
        outcome = outcomes[min(len(calls) - 1, len(outcomes) - 1)]
        if isinstance(outcome, type):
            raise outcome(len(calls))
        return outcome

    retrying = tenacity.Retrying(
        stop=tenacity.stop_after_attempt(attempts),
        wait=tenacity.wait_chain(*[tenacity.wait_fixed(w) for w in waits]),
        retry=tenacity.retry_if_exception_type((ValueError, KeyError))
        | tenacity.retry_if_result(lambda r: r < 0),
        sleep=sleeps.append,
        reraise=reraise,
        retry_error_callback=(lambda state: ("gave up", state.attempt_number))
        if callback
        else None,
    )
    try:
        end: Any = ("returned", retrying(call))
    except tenacity.RetryError as exc:
        end = ("retry error", exc.last_attempt.attempt_number)
    except Exception as exc:  # noqa: BLE001 - compared, whatever it is
        end = ("raised", type(exc), exc.args)
    return calls, sleeps, end


@settings(max_examples=60, deadline=None)
@given(
    outcomes=st.lists(OUTCOME, min_size=1, max_size=6),
    attempts=st.integers(1, 5),
    waits=st.lists(st.floats(0, 5, allow_nan=False), min_size=1, max_size=3),
    reraise=st.booleans(),
    callback=st.booleans(),
)
def test_retry_behaviour_is_the_same_with_and_without_instrumentation(
    outcomes: list[Any], attempts: int, waits: list[float], reraise: bool, callback: bool
) -> None:
    plain = scenario(outcomes, attempts, waits, reraise, callback)
    rec = build()
    try:
        instrumented = scenario(outcomes, attempts, waits, reraise, callback)
        recorded = sum(p.value for p in rec.points(names.AGENT_RETRIES))
    finally:
        agent.uninstall()
    assert instrumented == plain
    assert recorded == len(plain[0]) - 1  # every attempt after the first, counted once
