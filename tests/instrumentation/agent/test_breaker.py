"""pybreaker: a breaker's state as a gauge, its transitions and calls counted, behaviour kept."""

from __future__ import annotations

import gc
from typing import Any

import pybreaker
import pytest

from agentwatch import names, watch_breaker
from agentwatch.instrumentation import agent
from agentwatch.instrumentation import semconv as sc
from agentwatch.instrumentation.agent.breaker import Listener, uninstrument_pybreaker
from tests.instrumentation.agent.harness import Harness

ORIGINAL_INIT = vars(pybreaker.CircuitBreaker)["__init__"]


def boom() -> None:
    raise ConnectionError("vector db down")


def state(rec: Harness) -> dict[tuple[Any, ...], float]:
    return rec.values(names.AGENT_BREAKER_STATE, sc.BREAKER_NAME)


def fail(breaker: pybreaker.CircuitBreaker, times: int) -> None:
    for _ in range(times):
        with pytest.raises((ConnectionError, pybreaker.CircuitBreakerError)):
            breaker.call(boom)


def test_a_breaker_made_after_instrumenting_is_watched_through_its_states(rec: Harness) -> None:
    breaker = pybreaker.CircuitBreaker(fail_max=2, reset_timeout=3600, name="vector_db")
    assert state(rec) == {("vector_db",): 0}
    assert breaker.call(lambda: "hit") == "hit"
    with rec.tracer.start_as_current_span("request"):
        fail(breaker, 2)  # the second failure opens it
    assert breaker.current_state == "open"
    assert state(rec) == {("vector_db",): 2}
    with pytest.raises(pybreaker.CircuitBreakerError):
        breaker.call(lambda: "never called")
    breaker.half_open()
    assert state(rec) == {("vector_db",): 1}
    assert breaker.call(lambda: "back") == "back"
    assert state(rec) == {("vector_db",): 0}
    transitions = rec.values(names.AGENT_BREAKER_TRANSITIONS, sc.BREAKER_NAME, sc.BREAKER_STATE)
    assert transitions == {
        ("vector_db", "open"): 1,
        ("vector_db", "half-open"): 1,
        ("vector_db", "closed"): 1,
    }
    calls = rec.values(names.AGENT_BREAKER_CALLS, sc.BREAKER_OUTCOME)
    assert calls == {("success",): 2, ("failure",): 2}
    (span,) = rec.spans.get_finished_spans()
    (event,) = span.events
    assert event.name == sc.EVENT_BREAKER_STATE_CHANGE
    assert dict(event.attributes or {}) == {
        sc.BREAKER_NAME: "vector_db",
        sc.BREAKER_STATE: "open",
        sc.BREAKER_PREVIOUS_STATE: "closed",
    }


def test_an_existing_breaker_is_watched_by_watch_breaker_once(rec: Harness) -> None:
    uninstrument_pybreaker()
    breaker = pybreaker.CircuitBreaker(fail_max=1, name="llm")
    assert breaker.listeners == () and state(rec) == {}
    assert watch_breaker(breaker) is breaker
    watch_breaker(breaker)
    assert len([x for x in breaker.listeners if isinstance(x, Listener)]) == 1
    fail(breaker, 1)
    assert state(rec) == {("llm",): 2}


def test_a_breaker_that_is_gone_leaves_the_gauge(rec: Harness) -> None:
    breaker = pybreaker.CircuitBreaker(name="temporary")
    assert state(rec) == {("temporary",): 0}
    del breaker
    gc.collect()
    assert state(rec) == {}


def test_an_unnamed_breaker_and_a_failing_listener(
    rec: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    breaker = pybreaker.CircuitBreaker(fail_max=1)

    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("bug in agentwatch")

    monkeypatch.setattr(rec.signals.breaker_transitions, "add", broken)
    fail(breaker, 1)
    assert breaker.current_state == "open"  # pybreaker went on
    assert state(rec) == {("unnamed",): 2}
    assert rec.errors() == {("circuit_breaker.state_change", "RuntimeError"): 1}


def test_uninstall_unwatches_and_restores_pybreaker(rec: Harness) -> None:
    breaker = pybreaker.CircuitBreaker(name="x")
    assert vars(pybreaker.CircuitBreaker)["__init__"] is not ORIGINAL_INIT
    agent.uninstall()
    assert vars(pybreaker.CircuitBreaker)["__init__"] is ORIGINAL_INIT
    assert breaker.listeners == ()
    assert pybreaker.CircuitBreaker(name="y").listeners == ()
