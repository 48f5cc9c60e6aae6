"""A real Alertmanager (Debian's prometheus-alertmanager) delivering to the receiver.

Alertmanager gets one leak alert through its v2 API, notifies the receiver's webhook with a
bearer token read from `credentials_file`, and the receiver restarts the container on a fake
Docker socket. The alert is then resolved: Alertmanager sends the resolved notification, and
the receiver audits it without acting.
"""

from __future__ import annotations

import json
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import yaml

from agentwatch.alerts.remediation.audit import AuditLog
from agentwatch.alerts.remediation.decide import Ledger, Policy
from agentwatch.alerts.remediation.docker import DockerApi, DockerTarget
from agentwatch.alerts.remediation.receiver import Remediator
from agentwatch.alerts.remediation.server import ServerOptions, WebhookServer
from tests.alerts.remediation.fakes import DOCKER_API_VERSION, FakeDocker
from tests.alerts.remediation.payloads import CONTAINER_ID, labels
from tests.helpers import require_binary
from tests.prometheus import LOOPBACK, free_port

TOKEN = "alertmanager-to-receiver-0123456789"
TIMEOUT = 20.0


def _wait(what: str, check: Callable[[], bool]) -> None:
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out after {TIMEOUT:g}s waiting for {what}")


def _api(port: int, path: str, payload: object = None) -> Any:
    data = None if payload is None else json.dumps(payload).encode()
    request = urllib.request.Request(
        f"http://{LOOPBACK}:{port}{path}", data, {"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        raw = response.read()
    return json.loads(raw) if raw else None


def _ready(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://{LOOPBACK}:{port}/-/ready", timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False


@pytest.fixture
def receiver(docker: FakeDocker, tmp_path: Path) -> Iterator[tuple[WebhookServer, Path]]:
    path = tmp_path / "audit.jsonl"
    audit = AuditLog.open(str(path))
    policy = Policy(allow_namespaces=("llm",), allow_workloads=("container/vllm-*",))
    target = DockerTarget(DockerApi(docker.socket))
    server = WebhookServer(
        Remediator(target, Ledger(policy), audit, dry_run=False),
        ServerOptions(LOOPBACK, 0, TOKEN),
    )
    server.start()
    yield server, path
    server.shutdown()
    audit.close()


def _alertmanager(tmp_path: Path, webhook_port: int) -> tuple[subprocess.Popen[bytes], int]:
    binary = require_binary("prometheus-alertmanager")
    (tmp_path / "am-token").write_text(TOKEN + "\n")
    config = {
        "route": {
            "receiver": "remediate",
            "group_by": ["alertname", "pod", "container"],
            "group_wait": "0s",
            "group_interval": "1s",
            "repeat_interval": "1h",
        },
        "receivers": [
            {
                "name": "remediate",
                "webhook_configs": [
                    {
                        "url": f"http://{LOOPBACK}:{webhook_port}/webhook",
                        "send_resolved": True,
                        "http_config": {
                            "authorization": {
                                "type": "Bearer",
                                "credentials_file": str(tmp_path / "am-token"),
                            }
                        },
                    }
                ],
            }
        ],
    }
    (tmp_path / "alertmanager.yml").write_text(yaml.safe_dump(config))
    port = free_port()
    process = subprocess.Popen(
        [binary, f"--config.file={tmp_path / 'alertmanager.yml'}"]
        + [f"--storage.path={tmp_path / 'am-data'}", f"--web.listen-address={LOOPBACK}:{port}"]
        + ["--cluster.listen-address=", "--log.level=warn"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    return process, port


@pytest.mark.prometheus
@pytest.mark.timeout(60)
def test_alertmanager_delivers_a_leak_alert_and_its_resolution(
    receiver: tuple[WebhookServer, Path], docker: FakeDocker, tmp_path: Path
) -> None:
    server, audit_path = receiver
    docker.add_container(CONTAINER_ID, "vllm-1", project="llm")
    process, port = _alertmanager(tmp_path, server.address[1])

    def audit() -> list[dict[str, Any]]:
        return [json.loads(line) for line in audit_path.read_text().splitlines()]

    try:
        _wait("Alertmanager to be ready", lambda: process.poll() is None and _ready(port))
        start = datetime.now(timezone.utc).replace(microsecond=0)
        alert: dict[str, Any] = {"labels": labels(), "annotations": {"summary": "leak"}}
        alert["startsAt"] = start.isoformat()
        _api(port, "/api/v2/alerts", [alert])
        _wait("the restart", lambda: len(docker.state.of("POST")) == 1)
        restart = f"/v{DOCKER_API_VERSION}/containers/{CONTAINER_ID}/restart?t=10"
        assert docker.state.of("POST")[0].path == restart
        (active,) = _api(port, "/api/v2/alerts")
        alert["endsAt"] = (start + timedelta(seconds=1)).isoformat()
        _api(port, "/api/v2/alerts", [alert])
        _wait("the resolved notification", lambda: len(audit()) >= 2)
    finally:
        process.terminate()
        _, stderr = process.communicate(timeout=15)
    acted, resolved = audit()[:2]
    assert acted["decision"] == "acted"
    assert acted["alert"]["fingerprint"] == active["fingerprint"]
    assert acted["receiver"] == "remediate"
    assert acted["target"] == {"kind": "container", "namespace": "llm", "name": "vllm-1"}
    assert resolved["decision"] == "skipped-resolved"
    assert len(docker.state.of("POST")) == 1, stderr.decode()
