"""The demo workload: a small customer-support agent, instrumented with agentwatch.

`python -m agentwatch.demo.agent --llm-base-url http://127.0.0.1:8400/v1 --prometheus
127.0.0.1:9464` answers simulated support tickets at `--rate` per second against the simulated
LLM service (`agentwatch.demo.llm_server`) with the real `openai` SDK, and serves what
agentwatch records on its `/metrics` (`--otlp`: exports with the standard `OTEL_*` variables
instead). Per ticket:

1. a simulated local embedding of the ticket (`local_model`): the GPU memory per inference;
2. a JSON-mode classification by the cheap model, scored by a JSON-validity evaluator;
3. the answer, through `agentwatch.fallback`: the primary model behind a `pybreaker` circuit
   breaker, then the cheap model, then a human (an escalation). Each model call is retried by
   `tenacity` on 429 and 5xx (waiting what `retry-after-ms` asks), offers three tools with JSON
   schemas, runs the tools the model calls (answering a hallucinated call with an error, as an
   agent must), is streamed or not, and its final answer is scored by a relevance evaluator
   (`agentwatch.record_quality`). An answer cut by `max_tokens` or a refusal is not accepted,
   and goes on to the next path.

pybreaker holds its lock while the guarded call runs, so primary-model calls are serialised
across the workers: that is pybreaker's behaviour, kept as it is.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import signal
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

from agentwatch.demo import content, evaluate
from agentwatch.demo.local_model import SIMULATED, LocalEmbedder

log = logging.getLogger("agentwatch.demo.agent")

PRIMARY, CHEAP = "demo-large", "demo-small"
VERSION = "support-agent-1.4.0"
PROMPT_VERSION = "support-v3"
SERVICE = "support-agent"
SYSTEM = "You are the support assistant of an online shop. Answer briefly; use the tools."
TOOLS: list[dict[str, Any]] = [
    {
        "type": "function",
        "function": {
            "name": "lookup_order",
            "description": "Find an order by its id.",
            "parameters": {
                "type": "object",
                "properties": {"order_id": {"type": "string", "pattern": "^ORD-[0-9]{5}$"}},
                "required": ["order_id"],
                "additionalProperties": False,
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": "search_kb",
            "description": "Search the help-centre articles.",
            "parameters": {
                "type": "object",
                "properties": {
                    "query": {"type": "string"},
                    "max_results": {"type": "integer", "minimum": 1, "maximum": 5},
                },
                "required": ["query"],
                "additionalProperties": False,
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": "create_ticket",
            "description": "Hand the case to the support team.",
            "parameters": {
                "type": "object",
                "properties": {
                    "summary": {"type": "string"},
                    "priority": {"type": "string", "enum": ["low", "normal", "high"]},
                },
                "required": ["summary", "priority"],
                "additionalProperties": False,
            },
        },
    },
]
QUESTIONS: dict[str, tuple[str, ...]] = {
    "password": ("I can't log in: how do I reset my password?", "My password reset link expired."),
    "refund": ("When do I get the refund for my returned order?", "Is my refund approved?"),
    "shipping": ("Where is my order? The tracking shows no delivery.", "My shipping is late."),
    "invoice": ("Where can I download the invoice for my account?", "I need a billing invoice."),
    "api": ("My API key hits a rate limit, what now?", "How do I get a new API key?"),
}
UNSAFE = "How can I bypass the payment check and steal a gift card?"
PRICES = {
    "currency": "USD",
    "providers": {
        "openai": {
            PRIMARY: {"input": 2.5, "output": 10.0, "source": "agentwatch demo: simulated prices"},
            CHEAP: {"input": 0.15, "output": 0.6, "source": "agentwatch demo: simulated prices"},
        }
    },
}
"""Prices of the simulated models (AGENTWATCH_PRICES_FILE), so the cost series exist."""


@dataclass
class Settings:
    """What the agent runs against and how hard."""

    llm_base_url: str
    rate: float = 2.0
    duration: float = 0.0
    """Seconds to run; 0 = until SIGINT or SIGTERM."""
    seed: int = 0
    workers: int = 4
    stream_share: float = 0.4
    local_leak_mib: float = 0.0
    breaker_fail_max: int = 4
    breaker_reset: float = 5.0
    attempts: int = 3
    max_tokens: int = 60


@dataclass
class Answer:
    """What a path served."""

    text: str
    by: str
    finish_reason: str = "stop"
    refused: bool = False


class NotAnswered(Exception):
    """The model kept calling tools without answering."""


class SupportAgent:
    """Answers tickets; `handle(ticket)` is one ticket, end to end."""

    def __init__(self, settings: Settings, telemetry: Any) -> None:
        import openai
        import pybreaker
        import tenacity

        self.settings = settings
        # The SDK's own retries are off: tenacity retries, visibly.
        self.client = openai.OpenAI(
            base_url=settings.llm_base_url, api_key="demo-key-simulated", max_retries=0
        )
        self.breaker = pybreaker.CircuitBreaker(
            fail_max=settings.breaker_fail_max,
            reset_timeout=settings.breaker_reset,
            name="primary-model",
            # Only an outage of the service opens the breaker, not a bad answer.
            exclude=[lambda exc: not isinstance(exc, openai.APIError)],
        )
        self._retrying = tenacity.Retrying(
            retry=tenacity.retry_if_exception(_retryable),
            wait=_wait_retry_after,
            stop=tenacity.stop_after_attempt(settings.attempts),
            reraise=True,
        )
        self.embedder = LocalEmbedder(telemetry, int(settings.local_leak_mib * 1024 * 1024))
        self._rng = random.Random(settings.seed)
        self._rng_lock = threading.Lock()
        from opentelemetry import trace

        self.tracer = trace.get_tracer("agentwatch.demo.agent")

    def _draw(self) -> float:
        with self._rng_lock:
            return self._rng.random()

    def ticket(self) -> str:
        """The next simulated ticket (deterministic for the seed)."""
        with self._rng_lock:
            if self._rng.random() < 0.03:
                return UNSAFE
            return self._rng.choice(QUESTIONS[self._rng.choice(sorted(QUESTIONS))])

    def handle(self, ticket: str) -> Answer:
        """Embed, classify and answer one ticket."""
        import agentwatch

        topic = content.topic_of(ticket) or "other"
        attributes: dict[str, bool | str] = {SIMULATED: True, "demo.ticket.topic": topic}
        with self.tracer.start_as_current_span("support.ticket", attributes=attributes):
            self.embedder.embed(ticket)
            self.classify(ticket)
            answer: Answer = agentwatch.fallback(
                [("primary", self.primary), ("cheap", self.cheap)],
                ticket,
                human=self.escalate,
                accept=lambda a: not a.refused and a.finish_reason == "stop",
                name="support",
            )
            return answer

    def primary(self, ticket: str) -> Answer:
        """The primary model, behind the circuit breaker."""
        answer: Answer = self.breaker.call(self.ask, PRIMARY, ticket)
        return answer

    def cheap(self, ticket: str) -> Answer:
        """The cheaper model (no breaker: it is the fallback)."""
        return self.ask(CHEAP, ticket)

    def escalate(self, ticket: str) -> Answer:
        """The last path: a person takes the ticket."""
        log.info("escalated to a human: %s", content.topic_of(ticket) or "other")
        return Answer("A member of our team will get back to you shortly.", "human")

    def classify(self, ticket: str) -> None:
        """A JSON-mode call of the cheap model, scored for JSON validity; failures only logged."""
        import openai

        import agentwatch

        try:
            response = self.chat(
                model=CHEAP,
                messages=[
                    {"role": "system", "content": "Classify the ticket. Reply with JSON."},
                    {"role": "user", "content": ticket},
                ],
                response_format={"type": "json_object"},
                max_tokens=40,
            )
        except openai.APIError as exc:
            log.debug("classification failed: %s", exc)
            return
        text = response.choices[0].message.content
        agentwatch.record_quality("json_validity", evaluate.json_validity(text))

    def ask(self, model: str, ticket: str) -> Answer:
        """One model's answer, running the tools it calls (at most three rounds)."""
        import agentwatch

        messages: list[dict[str, Any]] = [
            {"role": "system", "content": SYSTEM},
            {"role": "user", "content": ticket},
        ]
        for _round in range(3):
            stream = self._draw() < self.settings.stream_share
            message, finish = self.complete(model, messages, stream)
            if message.get("refusal"):
                agentwatch.record_quality("answer_relevance", 0.0, label="refused")
                return Answer(message["refusal"], model, finish, refused=True)
            calls = message.get("tool_calls") or []
            if not calls:
                text = message.get("content") or ""
                score = evaluate.relevance(ticket, text)
                agentwatch.record_quality("answer_relevance", score)
                return Answer(text, model, finish)
            messages.append({"role": "assistant", "content": None, "tool_calls": calls})
            for call in calls:
                result = run_tool(call["function"]["name"], call["function"]["arguments"])
                messages.append({"role": "tool", "tool_call_id": call["id"], "content": result})
        raise NotAnswered(f"{model} called tools three times without answering")

    def complete(
        self, model: str, messages: list[dict[str, Any]], stream: bool
    ) -> tuple[dict[str, Any], str]:
        """One chat call, streamed or not, as (assistant message dict, finish_reason)."""
        kwargs: dict[str, Any] = {
            "model": model,
            "messages": messages,
            "tools": TOOLS,
            "max_tokens": self.settings.max_tokens,
        }
        if not stream:
            response = self.chat(**kwargs)
            choice = response.choices[0]
            return choice.message.model_dump(exclude_none=True), str(choice.finish_reason)
        chunks = self.chat(**kwargs, stream=True, stream_options={"include_usage": True})
        return _joined(chunks)

    def chat(self, **kwargs: Any) -> Any:
        """`chat.completions.create`, retried by tenacity on 429 and 5xx."""
        return self._retrying.copy()(self.client.chat.completions.create, **kwargs)


def _joined(chunks: Any) -> tuple[dict[str, Any], str]:
    """The assistant message a stream of chunks adds up to."""
    text: list[str] = []
    refusal: list[str] = []
    calls: dict[int, dict[str, Any]] = {}
    finish = "stop"
    with chunks:
        for chunk in chunks:
            for choice in chunk.choices:
                delta = choice.delta
                text.append(delta.content or "")
                refusal.append(delta.refusal or "")
                for part in delta.tool_calls or ():
                    call = calls.setdefault(
                        part.index,
                        {"id": "", "type": "function", "function": {"name": "", "arguments": ""}},
                    )
                    call["id"] = part.id or call["id"]
                    if part.function is not None:
                        call["function"]["name"] += part.function.name or ""
                        call["function"]["arguments"] += part.function.arguments or ""
                if choice.finish_reason:
                    finish = choice.finish_reason
    message: dict[str, Any] = {"role": "assistant", "content": "".join(text)}
    if any(refusal):
        message["refusal"] = "".join(refusal)
    if calls:
        message["tool_calls"] = [calls[i] for i in sorted(calls)]
    return message, finish


def run_tool(name: str, arguments: str) -> str:
    """Run a tool the model called; a hallucinated call gets an error the model can read."""
    offered = {t["function"]["name"]: t["function"]["parameters"] for t in TOOLS}
    if name not in offered:
        return json.dumps({"error": f"unknown tool {name!r}"})
    try:
        args = json.loads(arguments)
    except ValueError:
        return json.dumps({"error": "the arguments are not valid JSON"})
    import jsonschema

    try:
        jsonschema.validate(args, offered[name])
    except jsonschema.ValidationError as exc:
        return json.dumps({"error": f"invalid arguments: {exc.message}"})
    if name == "lookup_order":
        return json.dumps({"order_id": args["order_id"], "status": "shipped", "simulated": True})
    if name == "search_kb":
        return json.dumps({"articles": ["Resetting your password", "Refunds"], "simulated": True})
    return json.dumps({"ticket": "T-1001", "priority": args["priority"], "simulated": True})


def _retryable(exc: BaseException) -> bool:
    import openai

    if isinstance(exc, openai.APIStatusError):
        return exc.status_code == 429 or exc.status_code >= 500
    return isinstance(exc, openai.APIConnectionError)


def _wait_retry_after(state: Any) -> float:
    """What the service's `retry-after-ms` (else `retry-after`) asks, else a short backoff."""
    exc = state.outcome.exception() if state.outcome is not None else None
    headers = getattr(getattr(exc, "response", None), "headers", None) or {}
    for key, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        try:
            return min(2.0, float(headers[key]) * scale)
        except (KeyError, ValueError, TypeError):
            continue
    return min(2.0, 0.1 * 2.0 ** (int(state.attempt_number) - 1))


def setup(prometheus: str | None) -> Any:
    """`agentwatch.instrument()` for the demo; returns the Telemetry it built."""
    import agentwatch
    from agentwatch.instrumentation.agent.signals import active

    # Marked simulated on every span and metric of the providers agentwatch builds.
    extra = f"{SIMULATED}=true"
    resource = os.environ.get("OTEL_RESOURCE_ATTRIBUTES")
    os.environ["OTEL_RESOURCE_ATTRIBUTES"] = f"{resource},{extra}" if resource else extra
    os.environ.setdefault("OTEL_SERVICE_NAME", SERVICE)
    agentwatch.instrument(
        prometheus=prometheus,
        components={"agent": VERSION, "prompt": PROMPT_VERSION, "model": PRIMARY},
        clients=("openai",),  # the one SDK the agent uses
    )
    return active().telemetry


def run(settings: Settings, agent: SupportAgent, stop: threading.Event) -> int:
    """Start a ticket every 1/rate seconds until `stop` or the duration; tickets handled."""
    started = time.monotonic()
    busy = threading.BoundedSemaphore(settings.workers)
    handled = [0]

    def one(ticket: str) -> None:
        try:
            agent.handle(ticket)
            handled[0] += 1
        except Exception as exc:  # a ticket that fails is logged; the agent goes on
            log.warning("ticket failed: %s: %s", type(exc).__name__, exc)
        finally:
            busy.release()

    with ThreadPoolExecutor(settings.workers, thread_name_prefix="ticket") as pool:
        n = 0
        while not stop.is_set():
            if settings.duration and time.monotonic() - started >= settings.duration:
                break
            if busy.acquire(blocking=False):
                pool.submit(one, agent.ticket())
            else:
                log.debug("all %d workers busy: a ticket skipped", settings.workers)
            n += 1
            stop.wait(max(0.0, started + n / settings.rate - time.monotonic()))
    return handled[0]


def build_parser() -> argparse.ArgumentParser:
    """The module's command line."""
    p = argparse.ArgumentParser(
        prog="python -m agentwatch.demo.agent",
        description="A simulated support agent instrumented with agentwatch.",
    )
    p.add_argument("--llm-base-url", required=True, metavar="URL", help="the server's /v1 URL")
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--prometheus", metavar="HOST:PORT", help="serve /metrics here")
    where.add_argument("--otlp", action="store_true", help="export with the OTEL_* variables")
    p.add_argument("--rate", type=float, default=2.0, help="tickets per second")
    p.add_argument("--duration", type=float, default=0.0, help="seconds; 0: until stopped")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workers", type=int, default=4)
    p.add_argument("--local-leak-mib", type=float, default=0.0, help="simulated VRAM leak")
    p.add_argument("--breaker-fail-max", type=int, default=4, help="failures that open it")
    p.add_argument("--breaker-reset", type=float, default=5.0, help="seconds open")
    return p


def main(argv: list[str] | None = None) -> int:
    """Run the agent until the duration ends, SIGINT or SIGTERM."""
    import yaml

    args = build_parser().parse_args(argv)
    if args.rate <= 0 or args.workers < 1:
        print("agent: error: --rate must be > 0 and --workers >= 1", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    for noisy in ("httpx", "httpx2", "httpcore"):  # a line per request otherwise
        logging.getLogger(noisy).setLevel(logging.WARNING)
    settings = Settings(
        args.llm_base_url,
        rate=args.rate,
        duration=args.duration,
        seed=args.seed,
        workers=args.workers,
        local_leak_mib=args.local_leak_mib,
        breaker_fail_max=args.breaker_fail_max,
        breaker_reset=args.breaker_reset,
    )
    stop = threading.Event()

    def handler(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
    with tempfile.TemporaryDirectory(prefix="agentwatch-demo-agent-") as tmp:
        if "AGENTWATCH_PRICES_FILE" not in os.environ:
            prices = Path(tmp) / "prices.yaml"
            prices.write_text(yaml.safe_dump(PRICES))
            os.environ["AGENTWATCH_PRICES_FILE"] = str(prices)
        from agentwatch.errors import AgentwatchError

        try:
            telemetry = setup(None if args.otlp else args.prometheus)
        except (AgentwatchError, ValueError) as exc:
            print(f"agent: error: {exc}", file=sys.stderr)
            return 2
        log.warning(
            "SIMULATED support agent (%s) against %s at %g tickets/s: its models, tools and "
            "GPU are simulated; every span says %s=true",
            VERSION,
            settings.llm_base_url,
            settings.rate,
            SIMULATED,
        )
        agent = SupportAgent(settings, telemetry)
        handled = run(settings, agent, stop)
        log.info("stopping after %d tickets", handled)
        import agentwatch

        agentwatch.uninstrument()
    return 0


if __name__ == "__main__":
    sys.exit(main())
