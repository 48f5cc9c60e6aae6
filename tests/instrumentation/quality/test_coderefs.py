"""check_code: the Python blocks of sampled responses checked off the request path, counted."""

from __future__ import annotations

import threading

import pytest
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from agentwatch import names
from agentwatch.instrumentation import semconv as sc
from agentwatch.instrumentation.openai import OpenAIInstrumentor
from agentwatch.instrumentation.quality.coderefs import CodeRefs, rate_from_env
from agentwatch.instrumentation.telemetry import Telemetry
from tests.instrumentation.conftest import points
from tests.instrumentation.openai import fakeapi as gpt

ANSWER = """Here you go:

```python
import os
import sys

print(os.path.joinn("a", "b"), file=sys.stdout)
os.makedirs("out", exist_okk=True)
```

and a correct one:

```py
import math
print(math.sqrt(2))
```
"""


def ask(telemetry: Telemetry, answer: str) -> str | None:
    instrumentor = OpenAIInstrumentor()
    instrumentor.instrument(telemetry=telemetry)
    try:
        body = gpt.completion(answer)
        with gpt.client(gpt.fixed(lambda: gpt.json_response(body))) as c:
            reply = c.chat.completions.create(model=gpt.MODEL, messages=gpt.MESSAGES)
    finally:
        instrumentor.uninstrument()
    return reply.choices[0].message.content


def test_a_sampled_responses_blocks_are_checked_and_their_findings_counted(
    telemetry: Telemetry, metric_reader: InMemoryMetricReader
) -> None:
    telemetry.coderefs = CodeRefs(telemetry, 1.0)
    try:
        assert ask(telemetry, ANSWER) == ANSWER  # the caller's answer, untouched
        assert telemetry.coderefs.drain()
    finally:
        telemetry.coderefs.close()
    (blocks,) = points(metric_reader, names.LLM_CODE_BLOCKS.otel)
    assert blocks.value == 2
    assert dict(blocks.attributes) == {
        sc.OPERATION_NAME: "chat",
        sc.PROVIDER_NAME: "openai",
        sc.REQUEST_MODEL: gpt.MODEL,
    }
    refs = {
        p.attributes[sc.CODE_REF_KIND]: p.value
        for p in points(metric_reader, names.LLM_HALLUCINATED_API_REFS.otel)
    }
    assert refs == {"attribute": 1, "keyword": 1}


def test_an_unsampled_response_keeps_no_text_and_checks_nothing(
    telemetry: Telemetry, metric_reader: InMemoryMetricReader
) -> None:
    telemetry.coderefs = CodeRefs(telemetry, 0.5, draw=lambda: 0.9)
    ask(telemetry, ANSWER)
    assert telemetry.coderefs.drain()
    telemetry.coderefs.close()
    assert points(metric_reader, names.LLM_CODE_BLOCKS.otel) == []


def test_the_call_never_waits_for_the_check(
    telemetry: Telemetry, metric_reader: InMemoryMetricReader, monkeypatch: pytest.MonkeyPatch
) -> None:
    release = threading.Event()
    coderefs = CodeRefs(telemetry, 1.0, queue_size=1)
    monkeypatch.setattr(coderefs, "_check", lambda text, attributes: release.wait(10))
    telemetry.coderefs = coderefs
    for _ in range(4):  # the worker holds one, the queue one: the rest are dropped and counted
        ask(telemetry, ANSWER)
    release.set()
    assert coderefs.drain()
    coderefs.close()
    dropped = [
        p
        for p in points(metric_reader, names.INSTRUMENTATION_ERRORS.otel)
        if p.attributes[sc.INSTRUMENTATION] == "coderefs.queue"
    ]
    assert dropped and 1 <= dropped[0].value <= 2


@pytest.mark.parametrize(
    ("value", "rate"), [("", 0.0), ("0.25", 0.25), ("1", 1.0), ("2", 0.0), ("often", 0.0)]
)
def test_the_rate_from_the_environment(value: str, rate: float) -> None:
    assert rate_from_env({"AGENTWATCH_CHECK_CODE": value}) == rate


def test_a_rate_outside_zero_to_one_is_refused(telemetry: Telemetry) -> None:
    with pytest.raises(ValueError, match="between 0 and 1"):
        CodeRefs(telemetry, 1.5)
