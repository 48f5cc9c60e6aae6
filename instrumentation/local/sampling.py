"""Which local inferences get their GPU memory measured, and how often NVML is asked.

`Sampler`: the first `first` calls of each model are always measured (a leak of a few hundred
MB per inference shows on the first requests, before any sampling could miss it), then a share
`rate` of the calls, spread evenly (every 1/rate-th call, deterministic: a rate of 0.1 is exactly
one call in ten, never a lucky run of none). The rate comes from
`AGENTWATCH_GPU_MEMORY_SAMPLE_RATE` (0 to 1, default `DEFAULT_RATE`) unless given.

`TokenBucket`: NVML's process listing is a driver call per GPU, whose cost grows with the host's
GPUs and processes; a measured call takes NVML readings only while the bucket has a token
(`burst` at first, refilled at `per_second`), and takes its torch readings regardless (the
allocator's statistics, read without a driver call).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Mapping

log = logging.getLogger("agentwatch.instrumentation")

RATE_ENV = "AGENTWATCH_GPU_MEMORY_SAMPLE_RATE"
DEFAULT_RATE = 0.1
"""One call in ten after the first ones: two probes per measured call cost microseconds to a
millisecond, against inferences of tens of milliseconds and more."""
DEFAULT_FIRST = 10
"""Calls of each model always measured."""
MAX_MODELS = 256
"""Models counted apart; past this, the others share one count (a model name is open-ended)."""
_OTHER = "\x00other"


def rate_from_env(environ: Mapping[str, str] | None = None) -> float:
    """The sample rate `AGENTWATCH_GPU_MEMORY_SAMPLE_RATE` asks for; the default when unset."""
    env = os.environ if environ is None else environ
    raw = env.get(RATE_ENV, "").strip()
    if not raw:
        return DEFAULT_RATE
    try:
        rate = float(raw)
    except ValueError:
        rate = -1.0
    if not 0.0 <= rate <= 1.0:  # NaN fails this too
        log.warning("%s=%r is not a number from 0 to 1: using %s", RATE_ENV, raw, DEFAULT_RATE)
        return DEFAULT_RATE
    return rate


class Sampler:
    """The first calls of each model, then an even share of them; thread-safe."""

    def __init__(
        self, rate: float | None = None, first: int = DEFAULT_FIRST, max_models: int = MAX_MODELS
    ) -> None:
        rate = rate_from_env() if rate is None else rate
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"sample rate must be from 0 to 1, not {rate}")
        if first < 0:
            raise ValueError("first must be 0 or more")
        self.rate = rate
        self.first = first
        self._max_models = max_models
        self._seen: dict[str, int] = {}
        self._credit: dict[str, float] = {}
        self._lock = threading.Lock()

    def sampled(self, model: str | None) -> bool:
        """Whether this call of `model` is measured."""
        key = model or ""
        with self._lock:
            seen = self._seen.get(key)
            if seen is None:
                if len(self._seen) >= self._max_models:
                    key = _OTHER
                seen = self._seen.get(key, 0)
            self._seen[key] = seen + 1
            if seen < self.first:
                return True
            # An accumulator, not a coin: exactly `rate` of the calls, evenly spaced.
            credit = self._credit.get(key, 0.0) + self.rate
            if credit >= 1.0 - 1e-9:
                self._credit[key] = credit - 1.0
                return True
            self._credit[key] = credit
            return False


class TokenBucket:
    """At most `burst` at once and `per_second` on average; thread-safe."""

    def __init__(
        self,
        per_second: float = 2.0,
        burst: float = DEFAULT_FIRST,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if per_second < 0 or burst < 1:
            raise ValueError("per_second must be 0 or more and burst at least 1")
        self.per_second = per_second
        self.burst = burst
        self._clock = clock
        self._tokens = float(burst)
        self._last = clock()
        self._lock = threading.Lock()

    def take(self) -> bool:
        """Spend a token if there is one."""
        with self._lock:
            now = self._clock()
            self._tokens = min(self.burst, self._tokens + (now - self._last) * self.per_second)
            self._last = now
            if self._tokens >= 1.0:
                self._tokens -= 1.0
                return True
            return False
