"""One notification in, one decision per alert out: policy, target, audit, in that order."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass

from agentwatch.alerts.remediation import decide
from agentwatch.alerts.remediation.audit import AuditLog
from agentwatch.alerts.remediation.decide import Ledger, Verdict
from agentwatch.alerts.remediation.target import NoTarget, Target, TargetError, Workload
from agentwatch.alerts.remediation.webhook import Alert, Notification

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Outcome:
    """What happened to one alert."""

    alert: Alert
    decision: str
    reason: str
    workload: Workload | None = None


class Remediator:
    """Decide on and carry out the restarts a notification asks for."""

    def __init__(self, target: Target, ledger: Ledger, audit: AuditLog, *, dry_run: bool) -> None:
        self.target = target
        self.ledger = ledger
        self.audit = audit
        self.dry_run = dry_run
        # One alert at a time: two notifications about the same workload must not both pass
        # the cooldown check before either has restarted it.
        self._lock = threading.Lock()

    def handle(self, notification: Notification, peer: str = "") -> list[Outcome]:
        """Decide on every alert, act where allowed, audit each decision."""
        outcomes = []
        for alert in notification.alerts:
            with self._lock:
                outcome = self._one(alert)
            self._audit(notification, outcome, peer)
            outcomes.append(outcome)
        return outcomes

    def _one(self, alert: Alert) -> Outcome:
        verdict = self.ledger.screen(alert)
        if verdict is not None:
            return Outcome(alert, verdict.decision, verdict.reason)
        try:
            workload = self.target.resolve(alert.labels)
        except NoTarget as exc:
            return Outcome(alert, decide.SKIPPED_NO_TARGET, str(exc))
        except TargetError as exc:
            return Outcome(alert, decide.FAILED, f"cannot resolve the target: {exc}")
        verdict = self.ledger.admit(workload)
        if verdict is None:
            verdict = self._restart(workload)
            succeeded = verdict.decision != decide.FAILED
            self.ledger.attempted(alert, workload, succeeded=succeeded)
        return Outcome(alert, verdict.decision, verdict.reason, workload)

    def _restart(self, workload: Workload) -> Verdict:
        if self.dry_run:
            return Verdict(decide.DRY_RUN, f"would restart {workload.workload} (dry run)")
        try:
            done = self.target.restart(workload)
        except TargetError as exc:
            logger.warning("restart of %s failed: %s", workload.workload, exc)
            return Verdict(decide.FAILED, str(exc))
        logger.info("restarted %s: %s", workload.workload, done)
        return Verdict(decide.ACTED, done)

    def _audit(self, notification: Notification, outcome: Outcome, peer: str) -> None:
        alert = outcome.alert
        self.audit.write(
            {
                "decision": outcome.decision,
                "reason": outcome.reason,
                "dry_run": self.dry_run,
                "target_type": self.target.name,
                "receiver": notification.receiver,
                "group_key": notification.group_key,
                "peer": peer,
                "alert": {
                    "name": alert.name,
                    "status": alert.status,
                    "fingerprint": alert.fingerprint,
                    "starts_at": alert.starts_at,
                    "labels": dict(alert.labels),
                },
                "target": outcome.workload.as_dict() if outcome.workload else None,
            }
        )
