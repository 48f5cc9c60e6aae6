"""The receiver end to end in this process: real HTTP(S) on 127.0.0.1, a fake Kubernetes API.

Each test starts a `WebhookServer` with the Kubernetes target, POSTs Alertmanager-format
notifications, and checks three things: the HTTP answer, the requests the fake API server got,
and the audit log's JSON lines.
"""

from __future__ import annotations

import http.client
import json
import socket
import ssl
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from agentwatch.alerts.remediation import decide
from agentwatch.alerts.remediation.audit import AuditLog
from agentwatch.alerts.remediation.decide import Ledger, Policy
from agentwatch.alerts.remediation.k8s import PATCH_TYPE, KubernetesTarget
from agentwatch.alerts.remediation.receiver import Remediator
from agentwatch.alerts.remediation.server import ServerOptions, WebhookServer
from tests.alerts.remediation.fakes import FakeKube, add_deployment_pod
from tests.alerts.remediation.payloads import alert, body
from tests.helpers import make_cert

TOKEN = "s3cret-webhook-token-0123456789"
DEPLOYMENT = "/apis/apps/v1/namespaces/inference/deployments/vllm"
ALLOW = Policy(allow_namespaces=("inference",), allow_workloads=("deployment/vllm*",))
Reply = tuple[int, dict[str, Any]]


class Receiver:
    """A started server, its audit file, and a client for it."""

    def __init__(self, server: WebhookServer, audit: Path) -> None:
        self.server = server
        self.audit_path = audit

    def post(
        self,
        payload: bytes,
        *,
        token: str | None = TOKEN,
        path: str = "/webhook",
        headers: dict[str, str] | None = None,
        tls: ssl.SSLContext | None = None,
    ) -> Reply:
        host, port = self.server.address
        conn: http.client.HTTPConnection
        if tls is not None:
            conn = http.client.HTTPSConnection(host, port, timeout=10, context=tls)
        else:
            conn = http.client.HTTPConnection(host, port, timeout=10)
        sent = {"Content-Type": "application/json", **(headers or {})}
        if token is not None:
            sent["Authorization"] = f"Bearer {token}"
        try:
            conn.request("POST", path, body=payload, headers=sent)
            response = conn.getresponse()
            return response.status, json.loads(response.read())
        finally:
            conn.close()

    def audit(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.audit_path.read_text().splitlines()]


Start = Callable[..., Receiver]


@pytest.fixture
def start(kube_target: KubernetesTarget, tmp_path: Path) -> Iterator[Start]:
    started: list[tuple[WebhookServer, AuditLog]] = []

    def _start(
        *,
        policy: Policy = ALLOW,
        dry_run: bool = False,
        token: str | None = TOKEN,
        tls: ssl.SSLContext | None = None,
        max_body_bytes: int = 1 << 20,
    ) -> Receiver:
        path = tmp_path / "audit.jsonl"
        audit = AuditLog.open(str(path))
        remediator = Remediator(kube_target, Ledger(policy), audit, dry_run=dry_run)
        options = ServerOptions("127.0.0.1", 0, token, tls, max_body_bytes)
        server = WebhookServer(remediator, options)
        server.start()
        started.append((server, audit))
        return Receiver(server, path)

    yield _start
    for server, audit in started:
        server.shutdown()
        audit.close()


@pytest.fixture
def vllm(kube: FakeKube) -> FakeKube:
    add_deployment_pod(kube, "inference", "vllm", "vllm-7d4b9c8f6d-x2x7q")
    return kube


def test_a_leak_alert_rolls_the_deployment_with_kubectls_exact_patch(
    start: Start, vllm: FakeKube
) -> None:
    receiver = start()
    status, answer = receiver.post(body())
    assert status == 200
    assert answer["decisions"][0]["decision"] == decide.ACTED
    assert answer["decisions"][0]["target"] == {
        "kind": "Deployment",
        "namespace": "inference",
        "name": "vllm",
    }
    (patch,) = vllm.state.of("PATCH")
    assert patch.path == f"{DEPLOYMENT}?fieldManager=agentwatch-remediate"
    assert patch.headers["Content-Type"] == PATCH_TYPE
    assert patch.body == (
        b'{"spec":{"template":{"metadata":{"annotations":'
        b'{"kubectl.kubernetes.io/restartedAt":"2024-05-01T10:30:00Z"}}}}}'
    )
    (line,) = receiver.audit()
    assert line["decision"] == "acted" and line["dry_run"] is False
    assert line["alert"]["name"] == "AgentwatchGpuProcessMemoryLeak"
    assert line["alert"]["fingerprint"] == "a1b2c3d4e5f60718"
    assert line["alert"]["labels"]["pid"] == "4242"
    assert line["target"] == {"kind": "Deployment", "namespace": "inference", "name": "vllm"}
    assert line["peer"] == "127.0.0.1"
    assert line["ts"].endswith("Z")


def test_a_dry_run_resolves_the_workload_but_patches_nothing(start: Start, vllm: FakeKube) -> None:
    receiver = start(dry_run=True)
    status, answer = receiver.post(body())
    assert (status, answer["dry_run"]) == (200, True)
    assert answer["decisions"][0]["decision"] == decide.DRY_RUN
    assert vllm.state.of("PATCH") == []
    assert len(vllm.state.of("GET")) == 2
    (line,) = receiver.audit()
    assert line["reason"] == "would restart deployment/vllm (dry run)"


@pytest.mark.parametrize(
    ("token", "headers"),
    [
        (None, {}),
        ("wrong-token-wrong-token-wrong", {}),
        (None, {"Authorization": f"Basic {TOKEN}"}),
        (TOKEN + "x", {}),
    ],
    ids=["no-token", "wrong-token", "wrong-scheme", "token-with-suffix"],
)
def test_an_unauthenticated_request_is_refused_and_audited(
    token: str | None, headers: dict[str, str], start: Start, vllm: FakeKube
) -> None:
    receiver = start()
    status, answer = receiver.post(body(), token=token, headers=headers)
    assert (status, answer) == (401, {"error": "unauthorized"})
    assert vllm.state.requests == []
    (line,) = receiver.audit()
    assert (line["decision"], line["reason"]) == ("rejected", "missing or wrong bearer token")


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (b"{", "malformed payload: invalid JSON at line 1 column 2"),
        (b'{"version": "4", "alerts": "x"}', "malformed payload: alerts: expected a list"),
        (b'{"version": "4", "status": "firing", "alerts": [{"status": "firing"}]}', "labels"),
    ],
    ids=["truncated", "alerts-not-a-list", "alert-without-labels"],
)
def test_a_malformed_payload_is_a_400_with_a_clear_message(
    payload: bytes, message: str, start: Start, vllm: FakeKube
) -> None:
    receiver = start()
    status, answer = receiver.post(payload)
    assert status == 400
    assert message in answer["error"]
    assert vllm.state.requests == []
    assert receiver.audit()[0]["decision"] == "rejected"


def test_a_replayed_notification_restarts_once(start: Start, vllm: FakeKube) -> None:
    receiver = start()
    for _ in range(3):
        status, _ = receiver.post(body())
        assert status == 200
    assert len(vllm.state.of("PATCH")) == 1
    assert [line["decision"] for line in receiver.audit()] == ["acted", "duplicate", "duplicate"]


def test_a_resolved_alert_makes_no_request_at_all(start: Start, vllm: FakeKube) -> None:
    receiver = start()
    status, answer = receiver.post(body(alert("resolved"), status="resolved"))
    assert status == 200
    assert answer["decisions"][0]["decision"] == decide.SKIPPED_RESOLVED
    assert vllm.state.requests == []


def test_a_workload_off_the_allow_list_is_looked_up_but_never_patched(
    start: Start, vllm: FakeKube
) -> None:
    receiver = start(policy=Policy(allow_namespaces=("inference",), allow_workloads=("x/*",)))
    status, answer = receiver.post(body())
    assert status == 200
    assert answer["decisions"][0]["decision"] == decide.SKIPPED_NOT_ALLOWED
    assert vllm.state.of("PATCH") == []


def test_the_default_empty_allow_list_restarts_nothing(start: Start, vllm: FakeKube) -> None:
    receiver = start(policy=Policy())
    _, answer = receiver.post(body())
    assert answer["decisions"][0]["decision"] == decide.SKIPPED_NOT_ALLOWED
    assert vllm.state.of("PATCH") == []


def test_a_second_pod_of_the_same_deployment_is_in_cooldown(start: Start, vllm: FakeKube) -> None:
    add_deployment_pod(vllm, "inference", "vllm", "vllm-7d4b9c8f6d-a1b2c")
    receiver = start()
    first = alert(fingerprint="1111111111111111")
    second = alert(fingerprint="2222222222222222", pod="vllm-7d4b9c8f6d-a1b2c")
    status, answer = receiver.post(body(first, second))
    assert status == 200
    assert [d["decision"] for d in answer["decisions"]] == ["acted", "cooldown"]
    assert len(vllm.state.of("PATCH")) == 1


def test_restarts_beyond_the_maximum_are_rate_limited(start: Start, vllm: FakeKube) -> None:
    for name in ("vllm-b", "vllm-c"):
        add_deployment_pod(vllm, "inference", name, f"{name}-7d4b9c8f6d-q1w2e")
    policy = Policy(allow_namespaces=("*",), allow_workloads=("*",), max_restarts=2)
    receiver = start(policy=policy)
    alerts = [
        alert(fingerprint="1" * 16),
        alert(fingerprint="2" * 16, pod="vllm-b-7d4b9c8f6d-q1w2e"),
        alert(fingerprint="3" * 16, pod="vllm-c-7d4b9c8f6d-q1w2e"),
    ]
    _, answer = receiver.post(body(*alerts))
    assert [d["decision"] for d in answer["decisions"]] == ["acted", "acted", "rate-limited"]
    assert len(vllm.state.of("PATCH")) == 2


def test_a_failed_restart_answers_500_and_alertmanagers_retry_succeeds(
    start: Start, vllm: FakeKube
) -> None:
    path = f"{DEPLOYMENT}?fieldManager=agentwatch-remediate"
    vllm.state.failures[("PATCH", path)] = (503, {"kind": "Status", "message": "etcd timeout"})
    receiver = start()
    status, answer = receiver.post(body())
    assert status == 500
    assert answer["decisions"][0]["decision"] == decide.FAILED
    assert "HTTP 503: etcd timeout" in answer["decisions"][0]["reason"]
    del vllm.state.failures[("PATCH", path)]
    status, answer = receiver.post(body())
    assert (status, answer["decisions"][0]["decision"]) == (200, decide.ACTED)
    assert [line["decision"] for line in receiver.audit()] == ["failed", "acted"]


def test_a_body_over_the_limit_is_refused_unread(start: Start, vllm: FakeKube) -> None:
    receiver = start(max_body_bytes=1000)
    status, answer = receiver.post(body(*[alert(fingerprint=f"{i:016x}") for i in range(20)]))
    assert status == 413 and "1000-byte limit" in answer["error"]
    assert vllm.state.requests == []


def test_a_request_without_content_length_is_refused(start: Start) -> None:
    receiver = start()
    with socket.create_connection(receiver.server.address, timeout=10) as sock:
        sock.sendall(
            b"POST /webhook HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
            + TOKEN.encode()
            + b"\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
        )
        assert sock.recv(4096).startswith(b"HTTP/1.1 411 ")


def test_other_paths_and_methods_are_refused(start: Start) -> None:
    receiver = start()
    assert receiver.post(body(), path="/")[0] == 404
    conn = http.client.HTTPConnection(*receiver.server.address, timeout=10)
    try:
        conn.request("GET", "/-/healthy")
        response = conn.getresponse()
        assert (response.status, json.loads(response.read())) == (200, {"status": "ok"})
        conn.request("PUT", "/webhook", body=b"{}")
        assert conn.getresponse().status == 405
    finally:
        conn.close()


def test_mutual_tls_refuses_a_client_without_a_certificate(
    start: Start, vllm: FakeKube, tmp_path: Path
) -> None:
    server_cert, server_key = make_cert(tmp_path, "server")
    client_cert, client_key = make_cert(tmp_path, "client", common_name="alertmanager")
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(server_cert, server_key)
    tls.load_verify_locations(cafile=client_cert)  # self-signed: the client cert is its own CA
    tls.verify_mode = ssl.CERT_REQUIRED
    receiver = start(token=None, tls=tls)
    anonymous = ssl.create_default_context(cafile=server_cert)
    with pytest.raises((ssl.SSLError, ConnectionError)):
        receiver.post(body(), token=None, tls=anonymous)
    assert vllm.state.requests == []
    client = ssl.create_default_context(cafile=server_cert)
    client.load_cert_chain(client_cert, client_key)
    status, answer = receiver.post(body(), token=None, tls=client)
    assert (status, answer["decisions"][0]["decision"]) == (200, decide.ACTED)
