"""The instruments of the declared and resilience signals, and the one the process records into.

Scores, component versions, retries, circuit breakers and fallbacks are recorded from the
application's own code (`record_quality`, `fallback`) or from its libraries' hooks, which have no
handle to pass a telemetry through. So one `Signals` is *active* per process: the one
`agentwatch.instrument()` installed, else one built on first use from the global OpenTelemetry
providers (no-op ones unless the application set SDK providers), so the helpers work, and
record, with or without `instrument()`.
"""

from __future__ import annotations

import threading
from typing import Any

from opentelemetry import _logs, metrics
from opentelemetry.metrics import Histogram

from agentwatch import __version__, names
from agentwatch.instrumentation.cardinality import BoundedValues
from agentwatch.instrumentation.components import Components
from agentwatch.instrumentation.telemetry import SCHEMA_URL, SCOPE, Telemetry, counter, histogram

MAX_EVALUATORS = 100
MAX_LABELS = 100
MAX_FUNCTIONS = 200
MAX_BREAKERS = 100
MAX_PATHS = 50


class Signals:
    """The instruments of `names.AGENT_METRICS`, the events' logger and the bounded values."""

    def __init__(
        self,
        telemetry: Telemetry | None = None,
        meter_provider: Any | None = None,
        logger_provider: Any | None = None,
    ) -> None:
        self.telemetry = telemetry if telemetry is not None else Telemetry(None, meter_provider)
        """Where errors are counted and logged, and the models are bounded."""
        meter = metrics.get_meter(SCOPE, __version__, meter_provider, schema_url=SCHEMA_URL)
        self.quality_score: Histogram = histogram(meter, names.LLM_QUALITY_SCORE)
        self.evaluations = counter(meter, names.LLM_EVALUATIONS)
        self.retries = counter(meter, names.AGENT_RETRIES)
        self.retry_wait = counter(meter, names.AGENT_RETRY_WAIT)
        self.breaker_transitions = counter(meter, names.AGENT_BREAKER_TRANSITIONS)
        self.breaker_calls = counter(meter, names.AGENT_BREAKER_CALLS)
        self.fallbacks = counter(meter, names.AGENT_FALLBACKS)
        self.escalations = counter(meter, names.AGENT_ESCALATIONS)
        self.components = Components(meter)
        # Imported here: breaker.py needs nothing of pybreaker until a breaker is watched.
        from agentwatch.instrumentation.agent.breaker import BreakerStates

        self.breakers = BreakerStates(self, meter)
        self.logger = _logs.get_logger(SCOPE, __version__, logger_provider, schema_url=SCHEMA_URL)
        # Names that become metric attributes, bounded (the first N kept, later ones `_OTHER`).
        self.evaluators = BoundedValues(MAX_EVALUATORS)
        self.labels = BoundedValues(MAX_LABELS)
        self.functions = BoundedValues(MAX_FUNCTIONS)
        self.breaker_names = BoundedValues(MAX_BREAKERS)
        self.paths = BoundedValues(MAX_PATHS)

    def error(self, where: str, exc: BaseException) -> None:
        """Count and log (once per place and type) an error inside agentwatch; never raises."""
        self.telemetry.error(where, exc)


_lock = threading.Lock()
_active: Signals | None = None


def active() -> Signals:
    """The signals the process records into (built from the global providers on first use)."""
    global _active
    signals = _active
    if signals is not None:
        return signals
    with _lock:
        if _active is None:
            _active = Signals()
        return _active


def activate(signals: Signals | None) -> Signals | None:
    """Make `signals` the active ones (None: build from the globals on next use); the old ones."""
    global _active
    with _lock:
        old, _active = _active, signals
    return old
