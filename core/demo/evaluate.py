"""The demo agent's evaluators: cheap heuristics, run on every answer, scored 0 to 1.

They stand for the evaluators a real application runs (an LLM judge, a schema check, user
feedback); what matters for the demo is that they measure the answer itself, so their scores
fall when the service under pressure answers off topic or breaks its JSON.
"""

from __future__ import annotations

import json
import re

from agentwatch.demo import content

_WORD = re.compile(r"[a-z]+")
_STOP = frozenset(
    "a an and are as at be by can do for from has have hi how i if in is it me my of on or our "
    "please the this to was we what when where why will with you your".split()
)


def relevance(question: str, answer: str) -> float:
    """Answer relevance: the share of the question topic's keywords the answer covers.

    A question about no known topic is judged by the overlap of its content words instead.
    """
    answer_words = set(_WORD.findall(answer.lower()))
    topic = content.topic_of(question)
    if topic is not None:
        keywords = content.TOPICS[topic][0]
        return sum(1 for k in keywords if k in answer_words) / len(keywords)
    asked = set(_WORD.findall(question.lower())) - _STOP
    if not asked:
        return 0.0
    return len(asked & answer_words) / len(asked)


def json_validity(text: str | None, required: tuple[str, ...] = ("category", "urgency")) -> bool:
    """Whether `text` is a JSON object with every `required` key."""
    if not text:
        return False
    try:
        value = json.loads(text)
    except ValueError:
        return False
    return isinstance(value, dict) and all(key in value for key in required)
