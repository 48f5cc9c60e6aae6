"""Parsing Alertmanager's webhook payload: the real format in, clear errors for anything else."""

from __future__ import annotations

import json

import pytest

from agentwatch.alerts.remediation.webhook import PayloadError, parse
from tests.alerts.remediation.payloads import LEAK, alert, body, notification

# The example payload of an Alertmanager v4 notification, with two alerts of one group.
SAMPLE = {
    "receiver": "sms",
    "status": "firing",
    "alerts": [
        {
            "status": "firing",
            "labels": {"alertname": "ProbeFailure", "instance": "https://server.example.org"},
            "annotations": {"summary": "BlackBox Probe Failure"},
            "startsAt": "2023-02-06T13:08:45.828Z",
            "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "http://prometheus.example.org:9090/graph?g0.expr=probe_success",
            "fingerprint": "1a30ba71cca2921f",
        },
        {
            "status": "resolved",
            "labels": {"alertname": "ProbeFailure", "instance": "https://other.example.org"},
            "annotations": {},
            "startsAt": "2023-02-06T12:00:00Z",
            "endsAt": "2023-02-06T13:00:00Z",
            "generatorURL": "",
            "fingerprint": "2b41cb82ddb3a32a",
        },
    ],
    "groupLabels": {"alertname": "ProbeFailure"},
    "commonLabels": {"alertname": "ProbeFailure"},
    "commonAnnotations": {},
    "externalURL": "http://prometheus.example.org:9093",
    "version": "4",
    "groupKey": '{}/{severity="critical"}:{alertname="ProbeFailure"}',
    "truncatedAlerts": 0,
}


def test_a_v4_notification_parses_into_one_alert_per_entry() -> None:
    parsed = parse(json.dumps(SAMPLE).encode())
    assert (parsed.receiver, parsed.status) == ("sms", "firing")
    assert parsed.group_key == SAMPLE["groupKey"]
    first, second = parsed.alerts
    assert (first.name, first.status, first.fingerprint) == (
        "ProbeFailure",
        "firing",
        "1a30ba71cca2921f",
    )
    assert first.key == "1a30ba71cca2921f@2023-02-06T13:08:45.828Z"
    assert second.status == "resolved"


def test_the_exporter_labels_survive_parsing() -> None:
    (parsed,) = parse(body()).alerts
    assert parsed.name == LEAK
    assert parsed.labels["pod"] == "vllm-7d4b9c8f6d-x2x7q"
    assert parsed.labels["namespace"] == "inference"


def test_without_a_fingerprint_a_stable_one_is_derived_from_the_labels() -> None:
    raw = alert()
    del raw["fingerprint"]
    first = parse(json.dumps(notification([raw])).encode()).alerts[0]
    again = parse(json.dumps(notification([dict(raw)])).encode()).alerts[0]
    other = parse(json.dumps(notification([alert(pid="1")])).encode()).alerts[0]
    assert first.fingerprint == again.fingerprint
    assert first.fingerprint.startswith("sha256:")
    assert other.fingerprint != first.fingerprint


def _with(**changes: object) -> bytes:
    raw = notification([alert()])
    raw.update(changes)
    return json.dumps(raw).encode()


def _alert_with(**changes: object) -> bytes:
    raw = alert()
    raw.update(changes)
    return json.dumps(notification([raw])).encode()


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (b"{not json", "invalid JSON at line 1 column 2"),
        (b"\xff\xfe", "not UTF-8 JSON"),
        (b"[]", "payload: expected a JSON object, got a list"),
        (_with(version="3"), "version: expected '4'"),
        (_with(version=None), "version: expected '4' (Alertmanager webhook), got None"),
        (_with(alerts={"a": 1}), "alerts: expected a list"),
        (_with(status="pending"), "payload.status: expected 'firing' or 'resolved'"),
        (_with(alerts=[1]), "alerts[0]: expected a JSON object, got a number"),
        (_alert_with(labels=None), "alerts[0].labels: expected a JSON object, got null"),
        (_alert_with(labels={"pod": 1}), "alerts[0].labels.pod: expected a string, got a number"),
        (_alert_with(status=None), "alerts[0].status: expected 'firing' or 'resolved'"),
        (_alert_with(startsAt=""), "alerts[0].startsAt: expected a non-empty string, got an empty"),
        (_alert_with(fingerprint=7), "alerts[0].fingerprint: expected a non-empty string"),
    ],
    ids=[
        "broken-json",
        "not-utf8",
        "not-an-object",
        "old-version",
        "no-version",
        "alerts-not-a-list",
        "bad-group-status",
        "alert-not-an-object",
        "labels-null",
        "label-not-a-string",
        "alert-without-status",
        "empty-startsAt",
        "fingerprint-not-a-string",
    ],
)
def test_a_malformed_payload_is_refused_with_the_field_named(payload: bytes, message: str) -> None:
    with pytest.raises(PayloadError) as raised:
        parse(payload)
    assert message in str(raised.value)
