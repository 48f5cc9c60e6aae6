"""The whole alert path with real processes: a leak, its alert, the notification, the restart.

The exporter runs the simulated `leak` host (30 times real time: a process leaking 15 MiB every
5 s from its first minute on, 90 MiB per real second from 2 s on); a real Prometheus
scrapes it as the job the rules select (`agentwatch-exporter`) and evaluates the committed
`alerts/gpu.rules.yml`; it sends to a real Alertmanager, whose webhook is the remediation
receiver (bearer token from a credentials file); the receiver resolves the leaking pod to its
Deployment on a fake Kubernetes API and patches it as `kubectl rollout restart` does. The
test reports how long it took from the exporter's start (the leak starts with it) to the
restart, and asserts only that it happened, never how fast.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from agentwatch.alerts.remediation.audit import AuditLog
from agentwatch.alerts.remediation.decide import Ledger, Policy
from agentwatch.alerts.remediation.k8s import KubeApi, KubeConfig, KubernetesTarget
from agentwatch.alerts.remediation.receiver import Remediator
from agentwatch.alerts.remediation.server import ServerOptions, WebhookServer
from tests.alerts.remediation.fakes import KUBE_TOKEN, FakeKube, add_deployment_pod, fake_kube
from tests.helpers import require_binary
from tests.prometheus import LOOPBACK, PrometheusServer, ScrapeJob, free_port

REPO = Path(__file__).resolve().parents[2]
RULES = REPO / "alerts" / "gpu.rules.yml"
TOKEN = "alertmanager-to-receiver-e2e-0123456789"
DEADLINE = 120.0
"""Seconds to wait for the restart: the rule group runs every 15 s, and a loaded CI machine is
slow."""


def ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def wait(what: str, check: Any, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout:g}s")
        time.sleep(0.2)


@pytest.fixture
def kube() -> Iterator[FakeKube]:
    with fake_kube() as fake:
        # The simulated leaking process runs in pod inference/agent-0.
        add_deployment_pod(fake, "inference", "agent", "agent-0")
        yield fake


@pytest.fixture
def receiver(kube: FakeKube, tmp_path: Path) -> Iterator[tuple[WebhookServer, Path]]:
    credentials = tmp_path / "serviceaccount"
    credentials.mkdir()
    (credentials / "token").write_text(KUBE_TOKEN + "\n")
    target = KubernetesTarget(KubeApi(KubeConfig(kube.url, credentials / "token", None, 5.0)))
    audit_path = tmp_path / "audit.jsonl"
    audit = AuditLog.open(str(audit_path))
    policy = Policy(allow_namespaces=("inference",), allow_workloads=("deployment/agent",))
    server = WebhookServer(
        Remediator(target, Ledger(policy), audit, dry_run=False),
        ServerOptions(LOOPBACK, 0, TOKEN),
    )
    server.start()
    yield server, audit_path
    server.shutdown()
    audit.close()


def alertmanager(tmp_path: Path, webhook_port: int) -> tuple[subprocess.Popen[bytes], int]:
    """Alertmanager routing every alert to the receiver, as alerts/alertmanager.yml's
    remediation route does (group_wait 0s), with the bearer token from a file."""
    binary = require_binary("prometheus-alertmanager")
    (tmp_path / "am-token").write_text(TOKEN + "\n")
    webhook = {
        "url": f"http://{LOOPBACK}:{webhook_port}/webhook",
        "send_resolved": True,
        "http_config": {
            "authorization": {"type": "Bearer", "credentials_file": str(tmp_path / "am-token")}
        },
    }
    config = {
        "route": {
            "receiver": "remediation",
            "group_by": ["alertname", "gpu", "pod"],
            "group_wait": "0s",
            "group_interval": "5s",
            "repeat_interval": "1h",
        },
        "receivers": [{"name": "remediation", "webhook_configs": [webhook]}],
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
@pytest.mark.slow
@pytest.mark.timeout(240)
def test_a_simulated_leak_ends_in_one_audited_rollout_restart(
    receiver: tuple[WebhookServer, Path], kube: FakeKube, tmp_path: Path
) -> None:
    server, audit_path = receiver
    am, am_port = alertmanager(tmp_path, server.address[1])
    exporter_port = free_port()
    started = time.monotonic()
    exporter = subprocess.Popen(
        [sys.executable, "-m", "agentwatch", "exporter", "--gpu-backend", "sim"]
        + ["--sim-scenario", "leak", "--sim-speed", "30", "--interval", "250ms"]
        # The leak analysis runs in real time: its grace and window scaled to the x30 clock.
        + ["--leak-grace", "2s", "--leak-window", "30s"]
        + ["--listen", f"{LOOPBACK}:{exporter_port}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )

    def audit() -> list[dict[str, Any]]:
        if not audit_path.exists():
            return []
        return [json.loads(line) for line in audit_path.read_text().splitlines()]

    try:
        wait("Alertmanager ready", lambda: ready(f"http://{LOOPBACK}:{am_port}/-/ready"), 30)
        job = ScrapeJob("agentwatch-exporter", [f"{LOOPBACK}:{exporter_port}"])
        with PrometheusServer(
            [job], rule_files=[RULES], alertmanagers=[f"{LOOPBACK}:{am_port}"]
        ) as prometheus:
            try:
                wait(
                    "the restart", lambda: any(a["decision"] == "acted" for a in audit()), DEADLINE
                )
            except AssertionError as exc:
                growth = prometheus.query("agentwatch_gpu_process_memory_growth_bytes_per_second")
                raise AssertionError(
                    f"{exc}; alerts: {prometheus.alerts()}; audit: {audit()}; growth: {growth}; "
                    f"Alertmanager: {ready(f'http://{LOOPBACK}:{am_port}/-/ready')}"
                ) from None
            elapsed = time.monotonic() - started
            firing = [a for a in prometheus.alerts() if a["state"] == "firing"]
    finally:
        exporter.terminate()
        exporter.communicate(timeout=15)
        am.terminate()
        am.communicate(timeout=15)

    print(f"\nleak start to rollout restart: {elapsed:.1f} s")  # reported, never asserted
    acted = next(a for a in audit() if a["decision"] == "acted")
    assert acted["alert"]["labels"]["alertname"] in {
        "AgentwatchGpuProcessMemoryLeak",
        "AgentwatchGpuMemoryExhaustionImminent",
    }
    assert acted["target"] == {"kind": "Deployment", "namespace": "inference", "name": "agent"}
    (patch,) = kube.state.of("PATCH")
    assert patch.path.split("?")[0] == "/apis/apps/v1/namespaces/inference/deployments/agent"
    annotations = patch.json()["spec"]["template"]["metadata"]["annotations"]
    assert set(annotations) == {"kubectl.kubernetes.io/restartedAt"}
    names = {a["labels"]["alertname"] for a in firing}
    assert "AgentwatchGpuProcessMemoryLeak" in names
    leak = next(a for a in firing if a["labels"]["alertname"] == "AgentwatchGpuProcessMemoryLeak")
    assert (leak["labels"]["namespace"], leak["labels"]["pod"]) == ("inference", "agent-0")
    assert leak["labels"]["severity"] == "warning" and leak["annotations"]["runbook_url"]
