"""Alertmanager's webhook payload (version 4), parsed strictly into typed alerts.

The format is Alertmanager's `webhook_config` notification: a group of alerts with the group's
labels, each alert with its own `status`, `labels`, `startsAt` and `fingerprint`. Only the
fields remediation needs are kept; a payload missing one of them, or with a field of the wrong
type, is a `PayloadError` whose message names the field, so a sender sees what was wrong.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

VERSION = "4"
FIRING = "firing"
RESOLVED = "resolved"


class PayloadError(ValueError):
    """The request body is not an Alertmanager webhook notification; the message says why."""


@dataclass(frozen=True)
class Alert:
    """One alert of a notification."""

    status: str
    labels: Mapping[str, str]
    annotations: Mapping[str, str]
    starts_at: str
    ends_at: str
    fingerprint: str

    @property
    def name(self) -> str:
        """The `alertname` label ("" when absent)."""
        return self.labels.get("alertname", "")

    @property
    def key(self) -> str:
        """Identity of this firing of the alert: a repeat notification carries the same key.

        Alertmanager keeps `startsAt` while the alert stays active, and a new firing after a
        resolution has a new `startsAt`, so fingerprint + startsAt is one incident.
        """
        return f"{self.fingerprint}@{self.starts_at}"


@dataclass(frozen=True)
class Notification:
    """One webhook request."""

    receiver: str
    status: str
    group_key: str
    alerts: tuple[Alert, ...]


def parse(body: bytes) -> Notification:
    """Parse a request body; raises `PayloadError` with a one-line reason."""
    try:
        raw = json.loads(body.decode("utf-8"))
    except UnicodeDecodeError:
        raise PayloadError("body is not UTF-8 JSON") from None
    except json.JSONDecodeError as exc:
        raise PayloadError(
            f"invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"
        ) from None
    top = _object(raw, "payload")
    version = top.get("version")
    if version != VERSION:
        raise PayloadError(f"version: expected {VERSION!r} (Alertmanager webhook), got {version!r}")
    alerts = top.get("alerts")
    if not isinstance(alerts, list):
        raise PayloadError("alerts: expected a list")
    return Notification(
        receiver=_string(top, "receiver", "payload", required=False),
        status=_status(top, "payload"),
        group_key=_string(top, "groupKey", "payload", required=False),
        alerts=tuple(_alert(item, f"alerts[{i}]") for i, item in enumerate(alerts)),
    )


def _alert(raw: object, where: str) -> Alert:
    item = _object(raw, where)
    labels = _labels(item.get("labels"), f"{where}.labels")
    annotations = _labels(item.get("annotations", {}), f"{where}.annotations")
    fingerprint = _string(item, "fingerprint", where, required=False) or _fingerprint(labels)
    return Alert(
        status=_status(item, where),
        labels=labels,
        annotations=annotations,
        starts_at=_string(item, "startsAt", where),
        ends_at=_string(item, "endsAt", where, required=False),
        fingerprint=fingerprint,
    )


def _fingerprint(labels: Mapping[str, str]) -> str:
    # Alertmanager before 0.19 sent no fingerprint; a stable hash of the label set stands in.
    text = "\xff".join(f"{k}\xfe{v}" for k, v in sorted(labels.items()))
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()[:16]


def _object(raw: object, where: str) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise PayloadError(f"{where}: expected a JSON object, got {_kind(raw)}")
    return raw


def _labels(raw: object, where: str) -> dict[str, str]:
    labels = _object(raw, where)
    for name, value in labels.items():
        if not isinstance(value, str):
            raise PayloadError(f"{where}.{name}: expected a string, got {_kind(value)}")
    return dict(labels)


def _string(item: Mapping[str, Any], key: str, where: str, *, required: bool = True) -> str:
    value = item.get(key)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value):
        raise PayloadError(f"{where}.{key}: expected a non-empty string, got {_kind(value)}")
    return value


def _status(item: Mapping[str, Any], where: str) -> str:
    status = item.get("status")
    if status not in (FIRING, RESOLVED):
        raise PayloadError(f"{where}.status: expected 'firing' or 'resolved', got {status!r}")
    return str(status)


def _kind(value: object) -> str:
    if value is None:
        return "null"
    if value == "":
        return "an empty string"
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean"}.get(
        type(value), "a number"
    )
