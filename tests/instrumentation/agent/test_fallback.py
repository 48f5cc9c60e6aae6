"""`fallback`: AI first, rules next, a human last; which path served each request, recorded."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

import agentwatch
from agentwatch import names
from agentwatch.instrumentation import semconv as sc
from agentwatch.instrumentation.agent import FallbackRejected
from tests.instrumentation.agent.harness import Harness

ANSWER = {"answer": 42}


def llm_down(question: str, *, lang: str = "en") -> Any:
    raise TimeoutError(f"no answer to {question}")


def rules(question: str, *, lang: str = "en") -> Any:
    return {"answer": f"rule for {question} ({lang})"}


def human(question: str, *, lang: str = "en") -> str:
    return f"ticket: {question}"


def tried(rec: Harness) -> dict[tuple[Any, ...], float]:
    return rec.values(names.AGENT_FALLBACKS, sc.FALLBACK_PATH, sc.FALLBACK_OUTCOME)


def escalations(rec: Harness) -> float:
    return sum(p.value for p in rec.points(names.AGENT_ESCALATIONS))


def test_the_first_path_that_returns_serves_and_the_caller_gets_its_result(rec: Harness) -> None:
    with rec.tracer.start_as_current_span("request"):
        got = agentwatch.fallback(
            [("llm", llm_down), ("rules", rules)], "refund?", lang="fr", human=human
        )
    assert got == {"answer": "rule for refund? (fr)"}
    assert tried(rec) == {("llm", "failed"): 1, ("rules", "served"): 1}
    assert escalations(rec) == 0
    (span,) = rec.spans.get_finished_spans()
    assert [(e.name, dict(e.attributes or {})) for e in span.events] == [
        (
            sc.EVENT_FALLBACK,
            {
                sc.FALLBACK_NAME: "default",
                sc.FALLBACK_PATH: "llm",
                sc.FALLBACK_OUTCOME: "failed",
                sc.ERROR_TYPE: "TimeoutError",
            },
        ),
        (
            sc.EVENT_FALLBACK,
            {sc.FALLBACK_NAME: "default", sc.FALLBACK_PATH: "rules", sc.FALLBACK_OUTCOME: "served"},
        ),
    ]


def test_the_serving_result_is_returned_as_it_is(rec: Harness) -> None:
    assert agentwatch.fallback([("llm", lambda: ANSWER)]) is ANSWER
    assert tried(rec) == {("llm", "served"): 1}


def test_when_every_path_fails_a_human_is_asked_and_counted(rec: Harness) -> None:
    got = agentwatch.fallback(
        [("llm", llm_down), ("rules", llm_down)], "refund?", human=human, name="support"
    )
    assert got == "ticket: refund?"
    assert tried(rec) == {("llm", "failed"): 1, ("rules", "failed"): 1, ("human", "served"): 1}
    assert rec.values(names.AGENT_ESCALATIONS, sc.FALLBACK_NAME) == {("support",): 1}


def test_without_a_human_the_last_exception_is_raised_as_it_is(rec: Harness) -> None:
    errors = [KeyError("first"), LookupError("last")]

    def raising(i: int) -> Any:
        def call() -> Any:
            raise errors[i]

        return call

    with pytest.raises(LookupError) as raised:
        agentwatch.fallback([("a", raising(0)), ("b", raising(1))])
    assert raised.value is errors[1]
    assert escalations(rec) == 0


def test_a_failing_human_raises_its_own_error(rec: Harness) -> None:
    def no_one(question: str) -> str:
        raise PermissionError("queue closed")

    with pytest.raises(PermissionError):
        agentwatch.fallback([("llm", llm_down)], "q", human=no_one)
    assert tried(rec)[("human", "failed")] == 1 and escalations(rec) == 1


def test_a_rejected_result_moves_on_and_all_rejected_is_an_error(rec: Harness) -> None:
    def confident(answer: Any) -> bool:
        return bool(answer.get("confidence", 0) >= 0.5)

    low = {"answer": "maybe", "confidence": 0.2}
    got = agentwatch.fallback(
        [("llm", lambda: low), ("rules", lambda: {"answer": "no", "confidence": 1.0})],
        accept=confident,
    )
    assert got["answer"] == "no"
    with pytest.raises(FallbackRejected) as raised:
        agentwatch.fallback([("llm", lambda: low)], accept=confident)
    assert raised.value.result is low
    assert tried(rec) == {("llm", "rejected"): 2, ("rules", "served"): 1}


def test_only_the_errors_named_by_on_fall_through(rec: Harness) -> None:
    calls: list[str] = []

    def interrupted() -> Any:
        calls.append("llm")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        agentwatch.fallback([("llm", interrupted), ("rules", lambda: calls.append("rules"))])
    with pytest.raises(TimeoutError):
        agentwatch.fallback([("llm", llm_down), ("rules", rules)], "q", on=ValueError)
    assert calls == ["llm"]


def test_afallback_takes_async_and_sync_paths(rec: Harness) -> None:
    async def llm(question: str) -> str:
        await asyncio.sleep(0)
        raise ConnectionError(question)

    async def ahuman(question: str) -> str:
        await asyncio.sleep(0)
        return "human answer"

    async def main() -> tuple[Any, Any]:
        first = await agentwatch.afallback([("llm", llm), ("rules", rules)], "q")
        second = await agentwatch.afallback([("llm", llm)], "q", human=ahuman)
        return first, second

    assert asyncio.run(main()) == ({"answer": "rule for q (en)"}, "human answer")
    assert tried(rec) == {("llm", "failed"): 2, ("rules", "served"): 1, ("human", "served"): 1}
    assert escalations(rec) == 1


@pytest.mark.parametrize(
    "paths",
    [[], [("llm",)], [("", rules)], [("llm", "not callable")], ["llm"]],
    ids=["none", "no-callable", "no-name", "not-callable", "not-a-pair"],
)
def test_paths_that_cannot_work_are_refused(paths: Any) -> None:
    with pytest.raises(ValueError, match="path"):
        agentwatch.fallback(paths)


def test_fallback_records_without_instrument() -> None:
    # No signals installed: the helpers still run (recording into the global providers).
    assert agentwatch.fallback([("llm", llm_down), ("rules", rules)], "q")["answer"]
