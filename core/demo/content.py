"""What the simulated LLM says: a support knowledge base, tool-call arguments, its failures.

Shared by `llm_server` (which answers) and `agent` (whose tickets ask about the same topics and
whose evaluator checks the answers against them). No model runs: an answer is a template of the
topic the question is about; under pressure answers drift off topic, ramble, and tool calls go
wrong in the three ways agentwatch detects (a tool not offered, arguments that are no JSON,
arguments that break the schema).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

REFUSAL = "I'm sorry, but I can't help with that request."

TOPICS: dict[str, tuple[tuple[str, ...], str]] = {
    "password": (
        ("password", "reset", "login"),
        "To reset your password, open the login page, choose 'Forgot password' and follow "
        "the reset link we email you; the link stays valid for 30 minutes.",
    ),
    "refund": (
        ("refund", "order", "return"),
        "Your refund for the order is approved once the return reaches our warehouse; the "
        "refund then shows on your statement within 5 business days.",
    ),
    "shipping": (
        ("shipping", "delivery", "order", "tracking"),
        "Your order left our warehouse; the tracking link shows the delivery date, and "
        "shipping delays over 3 days are refunded automatically.",
    ),
    "invoice": (
        ("invoice", "billing", "account"),
        "Every invoice is in your account under Billing; you can download each invoice as a "
        "PDF and change the billing address for future ones.",
    ),
    "api": (
        ("api", "key", "rate", "limit"),
        "Create a new API key in the dashboard; each key has its own rate limit, and a 429 "
        "means the limit was reached: retry after the time the response gives.",
    ),
}
"""topic -> (keywords an on-topic answer contains, the answer)."""

OFF_TOPIC = (
    "Thank you for reaching out! We value every customer and our team is always improving "
    "the experience. Is there anything else you would like to share about your day?"
)
RAMBLE = (
    "Please note that our policies may change from time to time, and that additional terms "
    "can apply depending on your region, your plan and the season of the year."
)
_UNSAFE = re.compile(r"\b(hack|steal|exploit|bypass)\b", re.IGNORECASE)
_WORD = re.compile(r"\S+\s*")


def topic_of(text: str) -> str | None:
    """The knowledge-base topic a question is about, by its first keyword found."""
    lowered = text.lower()
    best: tuple[int, str] | None = None
    for topic, (keywords, _answer) in TOPICS.items():
        hits = sum(1 for k in keywords if k in lowered)
        if hits and (best is None or hits > best[0]):
            best = (hits, topic)
    return None if best is None else best[1]


def unsafe(text: str) -> bool:
    """Whether a question asks for something the model refuses."""
    return bool(_UNSAFE.search(text))


def count_tokens(text: str) -> int:
    """A simulated tokenizer: one token per word (punctuation included)."""
    return len(text.split())


def pieces(text: str) -> list[str]:
    """The text as streamed: one word (with its trailing space) per chunk."""
    return _WORD.findall(text)


def truncate(text: str, tokens: int) -> str:
    """The first `tokens` tokens of `text` (the text itself when it is that short)."""
    words = pieces(text)
    return text if len(words) <= tokens else "".join(words[:tokens]).rstrip()


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # content parts
        return " ".join(p.get("text", "") for p in content if isinstance(p, dict))
    return ""


def first_user_text(messages: Sequence[Mapping[str, Any]]) -> str:
    """The last user message's text (the question being answered)."""
    for message in reversed(messages):
        if message.get("role") == "user":
            return _text(message.get("content"))
    return ""


def prompt_tokens(messages: Sequence[Mapping[str, Any]], tools: Any) -> int:
    """Input tokens as the simulated tokenizer counts them (messages, tool results, tools)."""
    total = 0
    for message in messages:
        total += 4 + count_tokens(_text(message.get("content")))
        for call in message.get("tool_calls") or ():
            total += count_tokens(json.dumps(call))
    if tools:
        total += count_tokens(json.dumps(tools))
    return total


def arguments_for(schema: Mapping[str, Any], question: str, rng: Any) -> dict[str, Any]:
    """Arguments that validate against a simple JSON schema (objects of scalars and enums)."""
    out: dict[str, Any] = {}
    properties = schema.get("properties") or {}
    required = set(schema.get("required") or ())
    for name, spec in properties.items():
        if name not in required and rng.random() < 0.5:
            continue
        out[name] = _value(name, spec, question, rng)
    return out


def _value(name: str, spec: Mapping[str, Any], question: str, rng: Any) -> Any:
    if "enum" in spec:
        return rng.choice(list(spec["enum"]))
    kind = spec.get("type")
    if kind == "integer":
        low, high = int(spec.get("minimum", 1)), int(spec.get("maximum", 10))
        return rng.randint(low, high)
    if kind == "number":
        return round(rng.uniform(float(spec.get("minimum", 0)), float(spec.get("maximum", 1))), 2)
    if kind == "boolean":
        return rng.random() < 0.5
    if "pattern" in spec and "order" in name:
        return f"ORD-{rng.randint(10000, 99999)}"
    return question[:60] or name


@dataclass
class Draw:
    """One request's random choices: which tool, which failure, which answer."""

    rng: Any
    pressure: float
    hallucination: float
    forced: frozenset[str]

    def tool_call(self, tools: Iterable[Any], question: str, n: int) -> dict[str, str]:
        """A tool call among `tools`, hallucinated at the model's rate (rising with pressure)."""
        functions = [
            t["function"]
            for t in tools
            if isinstance(t, dict) and t.get("type") == "function" and "function" in t
        ]
        call_id = f"call_demo{n:08x}"
        if not functions:
            return {"id": call_id, "name": "search_web", "arguments": "{}"}
        topic = topic_of(question)
        # The tool whose name fits the question best, else any.
        ranked = sorted(functions, key=lambda f: -_fit(f.get("name", ""), topic))
        function = ranked[0] if self.rng.random() < 0.8 else self.rng.choice(functions)
        name = str(function.get("name", "tool"))
        schema = function.get("parameters") or {"type": "object", "properties": {}}
        arguments = arguments_for(schema, question, self.rng)
        kind = self._hallucination()
        if kind == "unknown-tool":
            return {"id": call_id, "name": f"{name}_v2", "arguments": json.dumps(arguments)}
        if kind == "invalid-json":
            text = json.dumps(arguments)
            return {"id": call_id, "name": name, "arguments": text[: max(1, len(text) - 2)]}
        if kind == "schema-violation":
            return {"id": call_id, "name": name, "arguments": json.dumps(_violate(schema))}
        return {"id": call_id, "name": name, "arguments": json.dumps(arguments)}

    def _hallucination(self) -> str | None:
        for kind in ("unknown-tool", "invalid-json", "schema-violation"):
            if kind in self.forced:
                return kind
        if "tool-call" in self.forced:
            return None
        if self.rng.random() < min(0.9, self.hallucination * (1 + 4 * self.pressure)):
            return str(self.rng.choice(("unknown-tool", "invalid-json", "schema-violation")))
        return None

    def answer(self, question: str, json_mode: bool, after_tool: bool) -> str:
        """The answer's text: on topic, or (under pressure) off topic and rambling."""
        topic = topic_of(question)
        off = "off-topic" in self.forced or (
            "answer" not in self.forced and self.rng.random() < 0.85 * self.pressure
        )
        if json_mode:
            category = "other" if off or topic is None else topic
            reply = {"category": category, "urgency": self.rng.choice(["low", "normal", "high"])}
            text = json.dumps(reply)
            # Under pressure the model breaks off its JSON (an unbalanced object).
            if off and self.rng.random() < 0.6:
                text = text[:-1] + ', "note": "'
            return text
        if off or topic is None:
            body = OFF_TOPIC
        else:
            body = TOPICS[topic][1]
            if after_tool:
                body = "I checked our records. " + body
        rambles = int(self.pressure * 6 * self.rng.random()) + (6 if "length" in self.forced else 0)
        return " ".join([body, *[RAMBLE] * rambles])


def _fit(name: str, topic: str | None) -> int:
    if topic is None:
        return 0
    return sum(1 for k in TOPICS[topic][0] if k in name) + (1 if topic in name else 0)


def _violate(schema: Mapping[str, Any]) -> dict[str, Any]:
    """Arguments that break `schema`: a required field missing, or a wrong type."""
    properties = dict(schema.get("properties") or {})
    required = list(schema.get("required") or ())
    if len(required) > 1:
        return {k: "x" for k in required[1:]}
    if required:
        spec = properties.get(required[0], {})
        wrong: Any = 42 if spec.get("type") == "string" else "not-a-number"
        return {required[0]: wrong}
    return {"unexpected_field": True}
