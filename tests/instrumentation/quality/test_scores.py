"""`record_quality`: a score attached to an LLM call, as the conventions' event and as a series."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry.sdk._logs import ReadableLogRecord

import agentwatch
from agentwatch import names
from agentwatch.instrumentation import semconv as sc
from agentwatch.instrumentation.invocation import Invocation
from agentwatch.instrumentation.openai import OpenAIInstrumentor
from agentwatch.instrumentation.quality.scores import MAX_EXPLANATION
from tests.instrumentation.agent.harness import Harness, harness
from tests.instrumentation.openai import fakeapi as gpt


@pytest.fixture
def rec() -> Iterator[Harness]:
    yield from harness(install=False)


@pytest.fixture
def openai(rec: Harness) -> Iterator[Harness]:
    instrumentor = OpenAIInstrumentor()
    instrumentor.instrument(telemetry=rec.telemetry)
    yield rec
    instrumentor.uninstrument()


def results(rec: Harness) -> list[ReadableLogRecord]:
    return list(rec.logs.get_finished_logs())


def chat() -> Any:
    body = gpt.completion("Paris.")
    with gpt.client(gpt.fixed(lambda: gpt.json_response(body))) as c:
        return c.chat.completions.create(model=gpt.MODEL, messages=gpt.MESSAGES)


def test_a_score_after_a_call_is_that_calls_event_and_series(openai: Harness) -> None:
    rec = openai
    response = chat()
    agentwatch.record_quality("helpfulness", 0.8, label="good", explanation="answers the question")
    (span,) = rec.spans.get_finished_spans()
    (log,) = results(rec)
    record = log.log_record
    assert record.event_name == "gen_ai.evaluation.result"
    assert (record.trace_id, record.span_id) == (span.context.trace_id, span.context.span_id)
    assert dict(record.attributes or {}) == {
        "gen_ai.evaluation.name": "helpfulness",
        "gen_ai.evaluation.score.value": 0.8,
        "gen_ai.evaluation.score.label": "good",
        "gen_ai.evaluation.explanation": "answers the question",
        "gen_ai.response.id": response.id,
    }
    call = {
        sc.EVALUATION_NAME: "helpfulness",
        sc.OPERATION_NAME: "chat",
        sc.PROVIDER_NAME: "openai",
        sc.REQUEST_MODEL: gpt.MODEL,
    }
    (point,) = rec.points(names.LLM_QUALITY_SCORE)
    assert dict(point.attributes) == call
    assert (point.sum, point.count) == (0.8, 1)
    assert point.explicit_bounds == names.SCORE_BUCKETS
    (count,) = rec.points(names.LLM_EVALUATIONS)
    assert dict(count.attributes) == {**call, sc.EVALUATION_SCORE_LABEL: "good"}


def test_booleans_are_one_and_zero_and_a_label_alone_is_counted(openai: Harness) -> None:
    rec = openai
    chat()
    agentwatch.record_quality("thumbs_up", True)
    agentwatch.record_quality("thumbs_up", False)
    agentwatch.record_quality("category", label="billing")
    (point,) = rec.points(names.LLM_QUALITY_SCORE)
    assert (point.sum, point.count) == (1.0, 2)
    values = rec.values(names.LLM_EVALUATIONS, sc.EVALUATION_NAME, sc.EVALUATION_SCORE_LABEL)
    assert values == {("thumbs_up", None): 2, ("category", "billing"): 1}
    scored = [dict(log.log_record.attributes or {}) for log in results(rec)]
    assert [a.get(sc.EVALUATION_SCORE_VALUE) for a in scored] == [1.0, 0.0, None]


def test_without_a_call_the_current_span_is_scored_and_gets_the_event(rec: Harness) -> None:
    with rec.tracer.start_as_current_span("agent step") as step:
        agentwatch.record_quality("groundedness", 0.3, response_id="resp_1")
    (span,) = rec.spans.get_finished_spans()
    (event,) = span.events
    assert event.name == "gen_ai.evaluation.result"
    assert dict(event.attributes or {}) == {
        sc.EVALUATION_NAME: "groundedness",
        sc.EVALUATION_SCORE_VALUE: 0.3,
        sc.RESPONSE_ID: "resp_1",
    }
    (log,) = results(rec)
    assert log.log_record.span_id == step.get_span_context().span_id
    (point,) = rec.points(names.LLM_QUALITY_SCORE)
    assert dict(point.attributes) == {sc.EVALUATION_NAME: "groundedness"}


def test_a_given_span_context_wins_over_the_last_call(openai: Harness) -> None:
    rec = openai
    with rec.tracer.start_as_current_span("earlier") as earlier:
        pass
    chat()
    agentwatch.record_quality("late_feedback", 1, span_context=earlier.get_span_context())
    (log,) = results(rec)
    assert log.log_record.span_id == earlier.get_span_context().span_id
    assert sc.RESPONSE_ID not in dict(log.log_record.attributes or {})


def test_each_asyncio_task_scores_its_own_call(rec: Harness) -> None:
    async def call_and_score(model: str, score: float) -> int:
        inv = Invocation(rec.telemetry, "chat", "openai", model)
        inv.response_id = f"resp_{model}"
        await asyncio.sleep(0)
        inv.end()
        await asyncio.sleep(0)  # the other task ends its call meanwhile
        agentwatch.record_quality("relevance", score)
        return int(inv.span.get_span_context().span_id)

    async def main() -> list[int]:
        return list(await asyncio.gather(call_and_score("a", 0.1), call_and_score("b", 0.9)))

    span_ids = asyncio.run(main())
    by_span = {
        log.log_record.span_id: dict(log.log_record.attributes or {}) for log in results(rec)
    }
    assert by_span[span_ids[0]][sc.RESPONSE_ID] == "resp_a"
    assert by_span[span_ids[1]][sc.RESPONSE_ID] == "resp_b"
    models = {p.attributes[sc.REQUEST_MODEL]: p.sum for p in rec.points(names.LLM_QUALITY_SCORE)}
    assert models == {"a": 0.1, "b": 0.9}


@pytest.mark.parametrize(
    ("args", "kwargs"),
    [
        (("helpfulness",), {}),
        (("helpfulness", float("nan")), {}),
        (("helpfulness", "0.5"), {}),
        (("", 0.5), {}),
        ((None, 0.5), {}),
        (("helpfulness", 0.5), {"label": 3}),
        (("helpfulness", 0.5), {"span_context": "span"}),
    ],
    ids=["nothing", "nan", "string-score", "empty-name", "no-name", "bad-label", "bad-span"],
)
def test_a_bad_score_is_counted_never_raised(
    rec: Harness, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> None:
    agentwatch.record_quality(*args, **kwargs)
    assert rec.errors() == {("quality.record", "BadScore"): 1}
    assert results(rec) == [] and rec.points(names.LLM_EVALUATIONS) == []


def test_a_long_explanation_is_cut_and_a_negative_score_has_no_bucket(rec: Harness) -> None:
    agentwatch.record_quality("toxicity_margin", -0.5, explanation="x" * 5000)
    (log,) = results(rec)
    attributes = dict(log.log_record.attributes or {})
    assert len(attributes[sc.EVALUATION_EXPLANATION]) == MAX_EXPLANATION
    assert attributes[sc.EVALUATION_SCORE_VALUE] == -0.5
    assert rec.points(names.LLM_QUALITY_SCORE) == []
    assert len(rec.points(names.LLM_EVALUATIONS)) == 1


def test_evaluator_names_and_labels_are_bounded(rec: Harness) -> None:
    for i in range(105):
        agentwatch.record_quality(f"evaluator_{i}", label=f"label_{i}")
    values = rec.values(names.LLM_EVALUATIONS, sc.EVALUATION_NAME)
    assert len(values) == 101 and values[("_OTHER",)] == 5
