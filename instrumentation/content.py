"""Whether prompts and completions are recorded, and how: off unless the user opts in.

The GenAI conventions' switch is `OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT`: `true`
(the older instrumentations' value) or the capturing modes of `opentelemetry-util-genai`,
`SPAN_ONLY` and `SPAN_AND_EVENT`, turn recording on span attributes on; `EVENT_ONLY` and
`NO_CONTENT` leave it off, since agentwatch records content on spans only, never in events.
When it is on, every recorded value is capped at `max_length` characters and passed through an
optional `redact` hook (say, to mask e-mail addresses) before it leaves the process.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from agentwatch.instrumentation.semconv import CAPTURE_CONTENT_ENV

DEFAULT_MAX_LENGTH = 16_384
_TRUE = frozenset({"1", "true", "yes", "on", "span_only", "span_and_event"})


@dataclass(frozen=True)
class ContentPolicy:
    """What may be recorded of a call's content."""

    enabled: bool = False
    max_length: int = DEFAULT_MAX_LENGTH
    redact: Callable[[str], str] | None = None

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, redact: Callable[[str], str] | None = None
    ) -> ContentPolicy:
        """The policy the environment asks for (off unless the variable says true)."""
        env = os.environ if environ is None else environ
        enabled = env.get(CAPTURE_CONTENT_ENV, "").strip().lower() in _TRUE
        return cls(enabled=enabled, redact=redact)

    def render(self, value: Any) -> str | None:
        """`value` as the JSON string a span attribute carries, or None when capture is off."""
        if not self.enabled:
            return None
        text = value if isinstance(value, str) else json.dumps(value, default=str)
        if self.redact is not None:
            text = self.redact(text)
        if len(text) > self.max_length:
            text = text[: self.max_length] + "…[truncated]"
        return text
