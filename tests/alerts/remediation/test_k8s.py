"""The Kubernetes target against a fake API server: owner resolution and kubectl's patch."""

from __future__ import annotations

import json
import ssl
from pathlib import Path

import pytest

from agentwatch.alerts.remediation.k8s import (
    PATCH_TYPE,
    KubeApi,
    KubeConfig,
    KubernetesTarget,
    in_cluster,
    restart_patch,
)
from agentwatch.alerts.remediation.target import NoTarget, TargetError, Workload
from agentwatch.errors import UsageError
from tests.alerts.remediation.conftest import NOW
from tests.alerts.remediation.fakes import KUBE_TOKEN, FakeKube, add_deployment_pod, fake_kube, pod
from tests.helpers import make_cert

POD = {"namespace": "inference", "pod": "vllm-7d4b9c8f6d-x2x7q"}
POD_PATH = "/api/v1/namespaces/inference/pods/vllm-7d4b9c8f6d-x2x7q"


def test_the_patch_is_the_one_kubectl_rollout_restart_sends() -> None:
    assert json.dumps(restart_patch(NOW), separators=(",", ":")) == (
        '{"spec":{"template":{"metadata":{"annotations":'
        '{"kubectl.kubernetes.io/restartedAt":"2024-05-01T10:30:00Z"}}}}}'
    )


def test_a_deployment_pod_resolves_through_its_replicaset(
    kube: FakeKube, kube_target: KubernetesTarget
) -> None:
    add_deployment_pod(kube, "inference", "vllm", "vllm-7d4b9c8f6d-x2x7q")
    assert kube_target.resolve(POD) == Workload("Deployment", "inference", "vllm")
    assert [(r.method, r.path) for r in kube.state.requests] == [
        ("GET", POD_PATH),
        ("GET", "/apis/apps/v1/namespaces/inference/replicasets/vllm-5d8f7c9b6"),
    ]
    assert all(r.headers["Authorization"] == f"Bearer {KUBE_TOKEN}" for r in kube.state.requests)


@pytest.mark.parametrize("kind", ["StatefulSet", "DaemonSet"], ids=str)
def test_a_statefulset_or_daemonset_pod_resolves_directly(
    kind: str, kube: FakeKube, kube_target: KubernetesTarget
) -> None:
    kube.state.objects[POD_PATH] = pod("inference", POD["pod"], kind, "triton")
    assert kube_target.resolve(POD) == Workload(kind, "inference", "triton")
    assert len(kube.state.requests) == 1


@pytest.mark.parametrize(
    ("owner_kind", "reason"),
    [("", "not owned by a controller"), ("Job", "owned by Job 'batch-1'")],
    ids=["bare-pod", "job"],
)
def test_a_pod_rollout_restart_cannot_reach_is_no_target(
    owner_kind: str, reason: str, kube: FakeKube, kube_target: KubernetesTarget
) -> None:
    kube.state.objects[POD_PATH] = pod("inference", POD["pod"], owner_kind, "batch-1")
    with pytest.raises(NoTarget, match=reason):
        kube_target.resolve(POD)


def test_a_gone_pod_is_no_target(kube_target: KubernetesTarget) -> None:
    with pytest.raises(NoTarget, match="no longer exists"):
        kube_target.resolve(POD)


@pytest.mark.parametrize(
    "labels",
    [
        {"pod": "vllm-1"},
        {"namespace": "inference"},
        {"namespace": "inference", "pod": "../../secrets/x"},
        {"namespace": "Inference", "pod": "vllm-1"},
        {"namespace": "inference", "pod": "0d6c3f4a-8a9e-4d3c-b0b1-7c6f5e4d3c2b?x=1"},
    ],
    ids=["no-namespace", "no-pod", "path-traversal", "upper-case", "query-injection"],
)
def test_labels_that_are_not_a_pod_make_no_request(
    labels: dict[str, str], kube: FakeKube, kube_target: KubernetesTarget
) -> None:
    with pytest.raises(NoTarget):
        kube_target.resolve(labels)
    assert kube.state.requests == []


def test_restart_patches_the_pod_template_with_a_strategic_merge_patch(
    kube: FakeKube, kube_target: KubernetesTarget
) -> None:
    add_deployment_pod(kube, "inference", "vllm", "vllm-7d4b9c8f6d-x2x7q")
    done = kube_target.restart(Workload("Deployment", "inference", "vllm"))
    (patch,) = kube.state.of("PATCH")
    path = "/apis/apps/v1/namespaces/inference/deployments/vllm"
    assert patch.path == f"{path}?fieldManager=agentwatch-remediate"
    assert patch.headers["Content-Type"] == PATCH_TYPE
    assert patch.json() == restart_patch(NOW)
    assert "2024-05-01T10:30:00Z" in done


def test_an_api_error_is_a_target_error_with_the_servers_message(
    kube: FakeKube, kube_target: KubernetesTarget
) -> None:
    path = "/apis/apps/v1/namespaces/inference/statefulsets/db?fieldManager=agentwatch-remediate"
    message = 'statefulsets.apps "db" is forbidden: User cannot patch resource'
    kube.state.failures[("PATCH", path)] = (403, {"kind": "Status", "message": message})
    with pytest.raises(TargetError, match="HTTP 403: statefulsets.apps"):
        kube_target.restart(Workload("StatefulSet", "inference", "db"))


def test_a_wrong_token_is_a_target_error(kube: FakeKube, tmp_path: Path) -> None:
    (tmp_path / "token").write_text("stale")
    target = KubernetesTarget(KubeApi(KubeConfig(kube.url, tmp_path / "token", None)))
    with pytest.raises(TargetError, match="HTTP 401"):
        target.resolve(POD)


def test_the_token_is_read_again_for_every_request(kube: FakeKube, tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("expired-token")
    target = KubernetesTarget(KubeApi(KubeConfig(kube.url, token, None)))
    with pytest.raises(TargetError):
        target.resolve(POD)
    token.write_text(KUBE_TOKEN)  # the kubelet rotated the projected token
    with pytest.raises(NoTarget):  # authenticated now: the pod is simply not there
        target.resolve(POD)


def test_https_with_the_cluster_ca_verifies_the_server(tmp_path: Path) -> None:
    cert, key = make_cert(tmp_path, "apiserver")
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(cert, key)
    (tmp_path / "token").write_text(KUBE_TOKEN)
    (tmp_path / "ca.crt").write_bytes(cert.read_bytes())
    with fake_kube(tls) as kube:
        add_deployment_pod(kube, "inference", "vllm", POD["pod"])
        port = kube.url.rsplit(":", 1)[1]
        env = {"KUBERNETES_SERVICE_HOST": "127.0.0.1", "KUBERNETES_SERVICE_PORT": port}
        config = in_cluster(env, credentials_dir=tmp_path)
        assert config.url == f"https://127.0.0.1:{port}"
        target = KubernetesTarget(KubeApi(config))
        assert target.resolve(POD).name == "vllm"
        untrusted = KubeConfig(config.url, config.token_file, None)  # system CAs only
        with pytest.raises(TargetError, match="CERTIFICATE_VERIFY_FAILED"):
            KubernetesTarget(KubeApi(untrusted)).resolve(POD)


def test_in_cluster_needs_the_service_variables_or_a_url(credentials: Path) -> None:
    with pytest.raises(UsageError, match="KUBERNETES_SERVICE_HOST is not set"):
        in_cluster({}, credentials_dir=credentials)
    ipv6 = in_cluster({"KUBERNETES_SERVICE_HOST": "fd00::1"}, credentials_dir=credentials)
    assert ipv6.url == "https://[fd00::1]:443"
    with pytest.raises(UsageError, match="no service-account token"):
        in_cluster({}, url="https://k8s:6443", credentials_dir=credentials / "missing")
