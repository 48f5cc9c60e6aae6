"""Hallucinated API references in the code a model writes, checked off the request path.

Opt-in (`agentwatch.instrument(check_code=RATE)`, or `AGENTWATCH_CHECK_CODE=RATE`): a share
`RATE` (0 to 1) of chat responses is sampled when the call starts, so only those keep their
output text; when such a call ends, its text goes to a bounded queue, and one daemon thread
runs `check-code` (agentwatch.instrumentation.codecheck) on each fenced Python block of it:
`agentwatch.llm.code_blocks` counts the blocks checked, `agentwatch.llm.hallucinated_api_refs`
the findings by kind (`module`, `attribute`, `keyword`, `name`). The call itself never waits:
a full queue drops the text and counts the drop (`agentwatch.instrumentation.errors`, where
`coderefs.queue`, error `Full`). The check never runs the code; it introspects only modules the
process already imported and the standard library (docs/check-code.md).
"""

from __future__ import annotations

import logging
import os
import queue
import random
import threading
from collections.abc import Callable, Mapping
from typing import Any

from agentwatch.instrumentation import semconv as sc

log = logging.getLogger("agentwatch.instrumentation")

ENV_RATE = "AGENTWATCH_CHECK_CODE"
QUEUE_SIZE = 64
MAX_TEXT = 200_000
"""Characters of a response checked at most: a longer one is cut (whole blocks are rare)."""


def rate_from_env(environ: Mapping[str, str] | None = None) -> float:
    """The sampling rate `AGENTWATCH_CHECK_CODE` asks for; 0 (off) when unset or not a rate."""
    raw = (os.environ if environ is None else environ).get(ENV_RATE, "").strip()
    if not raw:
        return 0.0
    try:
        value = float(raw)
    except ValueError:
        log.warning("%s=%r is not a number between 0 and 1: code is not checked", ENV_RATE, raw)
        return 0.0
    if not 0.0 <= value <= 1.0:
        log.warning("%s=%r is not between 0 and 1: code is not checked", ENV_RATE, raw)
        return 0.0
    return value


class CodeRefs:
    """Samples responses, and checks their Python blocks in one background thread."""

    def __init__(
        self,
        telemetry: Any,
        rate: float,
        *,
        queue_size: int = QUEUE_SIZE,
        draw: Callable[[], float] = random.random,
    ) -> None:
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"check_code must be a rate between 0 and 1, not {rate!r}")
        self.rate = rate
        self._telemetry = telemetry
        self._draw = draw
        self._queue: queue.Queue[tuple[str, dict[str, Any]] | None] = queue.Queue(queue_size)
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def sampled(self) -> bool:
        """Whether the call starting now is one whose code is checked."""
        return self.rate > 0.0 and self._draw() < self.rate

    def submit(self, text: str, attributes: dict[str, Any]) -> None:
        """Queue a response's text (with its metric attributes); never blocks."""
        if "```" not in text:  # no fenced block: nothing to check, nothing to queue
            return
        self._start()
        try:
            self._queue.put_nowait((text[:MAX_TEXT], attributes))
        except queue.Full as exc:
            self._telemetry.error("coderefs.queue", exc)

    def drain(self, timeout: float = 10.0) -> bool:
        """Wait until every queued text is checked (for tests and shutdown); True when done."""
        done = threading.Event()

        def wait() -> None:
            self._queue.join()
            done.set()

        threading.Thread(target=wait, daemon=True).start()
        return done.wait(timeout)

    def close(self) -> None:
        """Stop the worker after what is queued."""
        with self._lock:
            thread, self._thread = self._thread, None
        if thread is not None:
            self._queue.put(None)
            thread.join(timeout=10)

    def _start(self) -> None:
        if self._thread is not None:
            return
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="agentwatch-check-code", daemon=True
                )
                self._thread.start()

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            try:
                if item is None:
                    return
                self._check(*item)
            except Exception as exc:  # a checker bug must not kill the worker
                self._telemetry.error("coderefs.check", exc)
            finally:
                self._queue.task_done()

    def _check(self, text: str, attributes: dict[str, Any]) -> None:
        from agentwatch.instrumentation.codecheck.api import check_source
        from agentwatch.instrumentation.codecheck.blocks import python_blocks

        t = self._telemetry
        for block in python_blocks(text):
            try:
                findings = check_source(block, filename="<response>")
            except SyntaxError:
                continue  # prose in a python fence, or a fragment: nothing to say
            t.code_blocks.add(1, attributes)
            kinds: dict[str, int] = {}
            for finding in findings:
                kinds[finding.kind] = kinds.get(finding.kind, 0) + 1
            for kind, count in kinds.items():
                t.hallucinated_api_refs.add(count, {**attributes, sc.CODE_REF_KIND: kind})
