"""The policy's decisions, one rule at a time, with a clock the test moves."""

from __future__ import annotations

import json

import pytest

from agentwatch.alerts.remediation import decide
from agentwatch.alerts.remediation.decide import Ledger, Policy
from agentwatch.alerts.remediation.target import Workload
from agentwatch.alerts.remediation.webhook import Alert, parse
from tests.alerts.remediation.payloads import alert, notification

VLLM = Workload("Deployment", "inference", "vllm")
OPEN = Policy(allow_namespaces=("*",), allow_workloads=("*",))


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make(**raw: object) -> Alert:
    status = str(raw.pop("status", "firing"))
    return parse(json.dumps(notification([alert(status, **raw)])).encode()).alerts[0]  # type: ignore[arg-type]


def test_a_resolved_alert_is_never_acted_on() -> None:
    verdict = Ledger(OPEN).screen(make(status="resolved"))
    assert verdict is not None and verdict.decision == decide.SKIPPED_RESOLVED


def test_an_alert_outside_the_configured_names_is_skipped() -> None:
    verdict = Ledger(OPEN).screen(make(alertname="AgentwatchGpuHot"))
    assert verdict is not None and verdict.decision == decide.SKIPPED_NOT_REMEDIABLE
    custom = Ledger(Policy(alertnames=frozenset({"AgentwatchGpuHot"})))
    assert custom.screen(make(alertname="AgentwatchGpuHot")) is None


@pytest.mark.parametrize("name", decide.DEFAULT_ALERTNAMES, ids=str)
def test_the_leak_and_exhaustion_alerts_are_remediated_by_default(name: str) -> None:
    assert Ledger(OPEN).screen(make(alertname=name)) is None


def test_a_firing_already_handled_is_a_duplicate_and_a_new_firing_is_not() -> None:
    ledger = Ledger(OPEN, Clock())
    first = make()
    assert ledger.screen(first) is None
    ledger.attempted(first, VLLM, succeeded=True)
    verdict = ledger.screen(make())
    assert verdict is not None and verdict.decision == decide.DUPLICATE
    assert ledger.screen(make(starts_at="2024-05-02T10:00:00Z")) is None


def test_a_failed_attempt_is_not_a_duplicate_so_a_retry_may_act() -> None:
    ledger = Ledger(OPEN, Clock())
    ledger.attempted(make(), VLLM, succeeded=False)
    assert ledger.screen(make()) is None
    assert ledger.admit(VLLM) is None  # and no cooldown either


@pytest.mark.parametrize(
    ("namespaces", "workloads", "allowed"),
    [
        ((), (), False),
        (("*",), (), False),
        ((), ("*",), False),
        (("inference",), ("deployment/vllm",), True),
        (("infer*",), ("deployment/vllm*",), True),
        (("inference",), ("statefulset/*",), False),
        (("prod-*",), ("*",), False),
        (("inference",), ("Deployment/vllm",), False),
    ],
    ids=[
        "empty-allows-nothing",
        "no-workloads",
        "no-namespaces",
        "exact",
        "globs",
        "other-kind",
        "other-namespace",
        "kind-is-lower-case",
    ],
)
def test_the_allow_list(
    namespaces: tuple[str, ...], workloads: tuple[str, ...], allowed: bool
) -> None:
    ledger = Ledger(Policy(allow_namespaces=namespaces, allow_workloads=workloads))
    verdict = ledger.admit(VLLM)
    if allowed:
        assert verdict is None
    else:
        assert verdict is not None and verdict.decision == decide.SKIPPED_NOT_ALLOWED


def test_a_workload_restarted_within_the_cooldown_is_left_alone_until_it_ends() -> None:
    clock = Clock()
    ledger = Ledger(Policy(allow_namespaces=("*",), allow_workloads=("*",), cooldown=600), clock)
    ledger.attempted(make(), VLLM, succeeded=True)
    clock.now += 599
    verdict = ledger.admit(VLLM)
    assert verdict is not None and verdict.decision == decide.COOLDOWN
    assert "599s ago" in verdict.reason
    assert ledger.admit(Workload("Deployment", "inference", "other")) is None
    clock.now += 1
    assert ledger.admit(VLLM) is None


def test_restarts_beyond_the_maximum_in_the_window_are_rate_limited() -> None:
    clock = Clock()
    policy = Policy(allow_namespaces=("*",), allow_workloads=("*",), max_restarts=2, window=100)
    ledger = Ledger(policy, clock)
    for name in ("a", "b"):
        ledger.attempted(make(fingerprint=name), Workload("Deployment", "ns", name), succeeded=True)
        clock.now += 10
    verdict = ledger.admit(Workload("Deployment", "ns", "c"))
    assert verdict is not None and verdict.decision == decide.RATE_LIMITED
    clock.now += 80  # the first restart leaves the window
    assert ledger.admit(Workload("Deployment", "ns", "c")) is None


def test_failed_attempts_count_against_the_window() -> None:
    ledger = Ledger(
        Policy(allow_namespaces=("*",), allow_workloads=("*",), max_restarts=1), Clock()
    )
    ledger.attempted(make(), VLLM, succeeded=False)
    verdict = ledger.admit(Workload("Deployment", "ns", "other"))
    assert verdict is not None and verdict.decision == decide.RATE_LIMITED


@pytest.mark.parametrize(
    "bad",
    [{"cooldown": -1}, {"window": 0}, {"max_restarts": 0}],
    ids=["negative-cooldown", "empty-window", "no-restarts"],
)
def test_a_nonsensical_policy_is_refused(bad: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        Policy(**bad)  # type: ignore[arg-type]
