"""The policy: which alerts may restart which workloads, how often, and what was done already.

Every alert of a notification gets exactly one decision. In order:

1. `skipped-resolved`: a resolved alert never acts (the problem is over, or was silenced).
2. `skipped-not-remediable`: its alertname is not one remediation is for (a misrouted alert).
3. `duplicate`: this firing (fingerprint + startsAt) was already acted on; Alertmanager
   repeats a firing alert every `repeat_interval` and retries failed deliveries.
4. `skipped-no-target`: the labels name nothing the target can restart.
5. `skipped-not-allowed`: the namespace or workload matches no allow-list pattern (an empty
   allow-list allows nothing).
6. `cooldown`: the same workload was restarted less than the cooldown ago.
7. `rate-limited`: the receiver already restarted the maximum in the sliding window.
8. `dry-run` (logged as "would restart") or `acted`; `failed` when the restart call failed.

State lives in memory: a restart of the receiver forgets cooldowns and past firings.
"""

from __future__ import annotations

import fnmatch
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass

from agentwatch.alerts.remediation.target import Workload
from agentwatch.alerts.remediation.webhook import RESOLVED, Alert

# The alerts that name the leaking workload (a process's pod or container, or the pod of the
# inferences that leak). AgentwatchGpuMemoryFillingUp names a GPU only: whose pod to restart is
# a person's call, so it pages and restarts nothing.
DEFAULT_ALERTNAMES = (
    "AgentwatchGpuProcessMemoryLeak",
    "AgentwatchGpuMemoryExhaustionImminent",
    "AgentwatchGpuMemoryPerInferenceGrowing",
    "AgentwatchGpuMemoryPerInferenceLeakFast",
)
ACTED = "acted"
DRY_RUN = "dry-run"
SKIPPED_RESOLVED = "skipped-resolved"
SKIPPED_NOT_REMEDIABLE = "skipped-not-remediable"
SKIPPED_NO_TARGET = "skipped-no-target"
SKIPPED_NOT_ALLOWED = "skipped-not-allowed"
COOLDOWN = "cooldown"
RATE_LIMITED = "rate-limited"
DUPLICATE = "duplicate"
FAILED = "failed"
# Enough for every firing of a large fleet; the oldest are forgotten first.
MAX_REMEMBERED_FIRINGS = 10_000


@dataclass(frozen=True)
class Verdict:
    """A decision and why."""

    decision: str
    reason: str


@dataclass(frozen=True)
class Policy:
    """What may be restarted and how often."""

    alertnames: frozenset[str] = frozenset(DEFAULT_ALERTNAMES)
    allow_namespaces: tuple[str, ...] = ()
    """Glob patterns (fnmatch) of namespaces; "" is the namespace of a workload without one."""
    allow_workloads: tuple[str, ...] = ()
    """Glob patterns of `kind/name`, kind in lower case: `deployment/vllm-*`, `container/*`."""
    cooldown: float = 1800.0
    max_restarts: int = 3
    window: float = 3600.0

    def __post_init__(self) -> None:
        if self.cooldown < 0 or self.window <= 0 or self.max_restarts < 1:
            raise ValueError("cooldown must be >= 0, window > 0 and max_restarts >= 1")


class Ledger:
    """Applies a `Policy` and remembers restarts; not thread-safe (the receiver holds a lock)."""

    def __init__(self, policy: Policy, clock: Callable[[], float] = time.monotonic) -> None:
        self.policy = policy
        self._clock = clock
        self._firings: OrderedDict[str, None] = OrderedDict()
        self._last_restart: dict[str, float] = {}
        self._attempts: deque[float] = deque()

    def screen(self, alert: Alert) -> Verdict | None:
        """The decision that needs no target (steps 1-3), or None to go on."""
        if alert.status == RESOLVED:
            return Verdict(SKIPPED_RESOLVED, "the alert is resolved; resolved alerts never act")
        if alert.name not in self.policy.alertnames:
            return Verdict(SKIPPED_NOT_REMEDIABLE, f"alertname {alert.name!r} is not remediated")
        if alert.key in self._firings:
            return Verdict(DUPLICATE, f"firing {alert.key} was already handled")
        return None

    def admit(self, workload: Workload) -> Verdict | None:
        """The decision for a resolved workload (steps 5-7), or None when it may restart."""
        policy = self.policy
        if not _matches(workload.namespace, policy.allow_namespaces):
            shown = workload.namespace or "(none)"
            return Verdict(SKIPPED_NOT_ALLOWED, f"namespace {shown} matches no --allow-namespace")
        if not _matches(workload.workload, policy.allow_workloads):
            return Verdict(
                SKIPPED_NOT_ALLOWED, f"workload {workload.workload} matches no --allow-workload"
            )
        now = self._clock()
        last = self._last_restart.get(workload.key)
        if last is not None and now - last < policy.cooldown:
            return Verdict(
                COOLDOWN,
                f"{workload.workload} was restarted {now - last:.0f}s ago "
                f"(cooldown {policy.cooldown:.0f}s)",
            )
        while self._attempts and now - self._attempts[0] >= policy.window:
            self._attempts.popleft()
        if len(self._attempts) >= policy.max_restarts:
            return Verdict(
                RATE_LIMITED,
                f"{len(self._attempts)} restarts in the last {policy.window:.0f}s "
                f"(maximum {policy.max_restarts})",
            )
        return None

    def attempted(self, alert: Alert, workload: Workload, *, succeeded: bool) -> None:
        """Count a restart (or dry run); only a success starts the cooldown and marks the firing.

        A failure still counts against the window, so a target that keeps failing under
        Alertmanager's retries is not hammered; it is not a duplicate, so a retry may succeed.
        """
        now = self._clock()
        self._attempts.append(now)
        if not succeeded:
            return
        self._last_restart[workload.key] = now
        self._firings[alert.key] = None
        while len(self._firings) > MAX_REMEMBERED_FIRINGS:
            self._firings.popitem(last=False)


def _matches(value: str, patterns: tuple[str, ...]) -> bool:
    # fnmatchcase: Kubernetes names are case-sensitive, and so is the allow-list.
    return any(fnmatch.fnmatchcase(value, pattern) for pattern in patterns)
