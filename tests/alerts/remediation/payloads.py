"""Alertmanager webhook notifications (version 4), as Alertmanager 0.25 sends them."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

LEAK = "AgentwatchGpuProcessMemoryLeak"
CONTAINER_ID = "3f4e8b2a9c1d" + "0" * 52
UNSET = "0001-01-01T00:00:00Z"


def labels(**extra: str) -> dict[str, str]:
    """The labels of a leak alert on the exporter's per-process series."""
    base = {
        "alertname": LEAK,
        "gpu": "0",
        "uuid": "GPU-6f1c9a52-0d0e-4c5b-9d4e-1a2b3c4d5e6f",
        "pid": "4242",
        "process": "python3",
        "container": CONTAINER_ID,
        "pod": "vllm-7d4b9c8f6d-x2x7q",
        "namespace": "inference",
        "severity": "critical",
    }
    base.update(extra)
    return {k: v for k, v in base.items() if v != ""}


def alert(
    status: str = "firing",
    *,
    fingerprint: str = "a1b2c3d4e5f60718",
    starts_at: str = "2024-05-01T10:00:00.000Z",
    **label_values: str,
) -> dict[str, Any]:
    """One alert of a notification."""
    return {
        "status": status,
        "labels": labels(**label_values),
        "annotations": {"summary": "A GPU process is leaking memory."},
        "startsAt": starts_at,
        "endsAt": UNSET if status == "firing" else "2024-05-01T11:00:00.000Z",
        "generatorURL": "http://prometheus:9090/graph?g0.expr=...",
        "fingerprint": fingerprint,
    }


def notification(alerts: Sequence[Mapping[str, Any]], status: str = "firing") -> dict[str, Any]:
    """A whole notification, group fields included."""
    return {
        "version": "4",
        "groupKey": '{}/{severity="critical"}:{alertname="AgentwatchGpuProcessMemoryLeak"}',
        "truncatedAlerts": 0,
        "status": status,
        "receiver": "agentwatch-remediate",
        "groupLabels": {"alertname": LEAK},
        "commonLabels": {"alertname": LEAK},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager:9093",
        "alerts": list(alerts),
    }


def body(*alerts: Mapping[str, Any], status: str = "firing") -> bytes:
    """The JSON body of a notification of `alerts` (one firing leak alert by default)."""
    return json.dumps(notification(alerts or [alert()], status)).encode()
