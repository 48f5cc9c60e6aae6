"""An instrumented agent for the dashboards' data test: `python -m tests.dashboards.workload PORT`.

It runs `agentwatch.instrument(prometheus=...)` and then, until killed, drives the real `openai`
SDK against the fake API of tests/instrumentation/openai (httpx2 MockTransport), so that every
signal an LLM or agent panel shows is emitted for real by agentwatch's code: requests with
varying latency, errors (retried with tenacity), streams (time to first token), tool calls
(some naming a tool that was not offered), truncated and refused responses, code with a
hallucinated import (check_code), evaluation scores with labels, a pybreaker circuit breaker that
opens and recovers, a fallback chain that falls back and escalates to a human, and local
inferences that leave GPU memory behind (a `LocalInvocation` with a fake probe: there is no GPU
here). It will give way to `agentwatch.demo` once that exists.
"""

from __future__ import annotations

import json
import math
import sys
import time
from typing import Any

import httpx2
import openai
import pybreaker
import tenacity

import agentwatch
from agentwatch.instrumentation import setup
from agentwatch.instrumentation.agent import fallback
from agentwatch.instrumentation.local.invocation import LocalInvocation
from agentwatch.instrumentation.local.memory import GpuMemory
from agentwatch.instrumentation.local.sampling import Sampler
from agentwatch.instrumentation.quality.scores import record_quality
from agentwatch.instrumentation.telemetry import Telemetry
from tests.instrumentation.openai import fakeapi

MODEL = fakeapi.MODEL
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"],
            },
        },
    }
]
HALLUCINATED_CODE = "```python\nimport numpyx\nprint(numpyx.zeros(3))\n```"
MIB = 1024 * 1024


class Fake:
    """The fake API's answers: which one depends on the prompt, latency on the time."""

    def __init__(self) -> None:
        self.t0 = time.monotonic()

    def delay(self) -> float:
        # Latency that moves over a minute, so a correlation coefficient has a signal.
        return 0.02 + 0.03 * (1 + math.sin((time.monotonic() - self.t0) / 10))

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        body = json.loads(request.content)
        prompt = body["messages"][-1]["content"]
        time.sleep(self.delay())
        if prompt == "fail":
            return fakeapi.json_response({"error": {"message": "overloaded"}}, status=500)
        if body.get("stream"):
            pieces = ["The ", "weather ", "is ", "fine."]
            usage = fakeapi.usage(20, 4)
            return fakeapi.sse_response(fakeapi.sse(fakeapi.text_chunks(pieces, with_usage=usage)))
        if prompt.startswith("tool"):
            name = "get_wether" if prompt == "tool-bad" else "get_weather"
            call = fakeapi.tool_call(name)
            return fakeapi.json_response(
                fakeapi.completion(None, tool_calls=[call], finish_reason="tool_calls")
            )
        if prompt == "long":
            return fakeapi.json_response(fakeapi.completion("It was a", finish_reason="length"))
        if prompt == "refuse":
            answer = fakeapi.completion(None)
            answer["choices"][0]["message"]["refusal"] = "I can't help with that."
            return fakeapi.json_response(answer)
        if prompt == "code":
            return fakeapi.json_response(fakeapi.completion(HALLUCINATED_CODE))
        return fakeapi.json_response(fakeapi.completion("Hello!"))


class GrowingProbe:
    """GPU memory readings that grow by 80 MiB (live tensors) per inference: a leak."""

    def __init__(self) -> None:
        self.allocated = 2048 * MIB

    def read(self, nvml: bool) -> dict[str, int]:
        self.allocated += 40 * MIB  # before and after each add half
        return {"torch_allocated": self.allocated, "nvml": self.allocated + 512 * MIB}


def chat(client: openai.OpenAI, prompt: str, **options: Any) -> Any:
    return client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": prompt}], **options
    )


def flaky(client: openai.OpenAI, step: int) -> Any:
    """A call retried with tenacity: its first attempt fails (a 500) every other step, and
    every seventh step every attempt does, until tenacity gives up."""
    attempts = 0

    @tenacity.retry(
        stop=tenacity.stop_after_attempt(3),
        wait=tenacity.wait_fixed(0.01),
        retry=tenacity.retry_if_exception_type(openai.InternalServerError),
        reraise=True,
    )
    def ask() -> Any:
        nonlocal attempts
        attempts += 1
        failing = step % 7 == 0 or (step % 2 == 0 and attempts == 1)
        return chat(client, "fail" if failing else "hi")

    return ask()


def main(port: int) -> None:
    agentwatch.instrument(
        prometheus=f"127.0.0.1:{port}",
        components={"agent": "2.3.1", "prompt": "7"},
        check_code=1.0,
        clients=("openai",),
    )
    client = fakeapi.client(Fake())
    state = setup._state
    assert state is not None
    # A local inference runtime would get these from instrument(); the fake probe stands in
    # for a GPU.
    telemetry = Telemetry(state.providers.tracer_provider, state.providers.meter_provider)
    memory = GpuMemory(probe=GrowingProbe(), sampler=Sampler(rate=1.0))
    breaker = pybreaker.CircuitBreaker(fail_max=2, reset_timeout=1.5, name="search")

    def search(ok: bool) -> str:
        if not ok:
            raise ConnectionError("search backend down")
        return "results"

    def primary(step: int) -> str:
        if step % 3:
            raise TimeoutError("primary model timed out")
        return "primary"

    def secondary(step: int) -> str:
        if step % 4 == 1:
            raise TimeoutError("secondary model timed out")
        return "secondary"

    step = 0
    while True:
        step += 1
        phase = (step // 20) % 2  # quality and breaker health alternate every 20 steps
        chat(client, "hi")
        record_quality("helpfulness", 0.9 - 0.5 * phase + 0.01 * (step % 5))
        record_quality("relevance", phase == 0, label="relevant" if phase == 0 else "off_topic")
        chat(client, "tool-bad" if step % 3 == 0 else "tool-ok", tools=TOOLS)
        chat(client, "long" if step % 4 == 0 else "refuse" if step % 4 == 1 else "code")
        for _ in chat(client, "stream", stream=True, stream_options={"include_usage": True}):
            pass
        try:
            flaky(client, step)
        except openai.APIError:
            pass
        try:
            breaker.call(search, phase == 0 or step % 5 == 0)
        except (ConnectionError, pybreaker.CircuitBreakerError):
            pass
        fallback(
            [("primary", primary), ("secondary", secondary)],
            step,
            human=lambda step: "human",
            on=TimeoutError,
            name="answer",
        )
        local = LocalInvocation(telemetry, "text_completion", "transformers", "tiny-gpt2", memory)
        local.end()
        if step % 10 == 0:
            record_quality("helpfulness", "not a score")  # type: ignore[arg-type]
        time.sleep(0.05)


if __name__ == "__main__":
    main(int(sys.argv[1]))
