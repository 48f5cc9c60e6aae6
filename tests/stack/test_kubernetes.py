"""deploy/kubernetes: generated (no drift), valid against the Kubernetes schemas of a current
release (offline, kubernetes-validate's strict schemas), the Prometheus Operator objects
checked against the fields the operator requires and the real tools (promtool on the embedded
rules), and the security defaults: never privileged, least-privilege RBAC, dry run."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from agentwatch.alerts.rules import Config
from agentwatch.deploy.manifests import EXPORTER_JOB, Settings, files
from tests.helpers import require_binary

REPO = Path(__file__).resolve().parents[2]
OUT = REPO / "deploy" / "kubernetes"
K8S_VERSION = "1.37.0"
"""The newest release whose schemas kubernetes-validate 1.37 ships."""
OPERATOR_KINDS = {"ServiceMonitor", "PrometheusRule"}
Obj = dict[str, Any]


def objects(*names: str) -> list[Obj]:
    found: list[Obj] = []
    for name in names:
        found += [d for d in yaml.safe_load_all((OUT / name).read_text("utf-8")) if d]
    return found


BASE = [
    "base/namespace.yaml",
    "base/exporter.yaml",
    "base/prometheusrule.yaml",
    "base/dashboards.yaml",
    "base/remediate.yaml",
]
EXAMPLE = ["example/example.yaml", "example/remediate-allow-list.yaml"]


@pytest.fixture(scope="module")
def all_objects() -> list[Obj]:
    return objects(*BASE, *EXAMPLE)


def one(items: list[Obj], kind: str, name: str) -> Obj:
    (found,) = [o for o in items if o["kind"] == kind and o["metadata"]["name"] == name]
    return found


def test_the_committed_manifests_are_the_generators_output() -> None:
    """Regenerated from the current alerts/*.rules.yml and dashboards/json/*.json."""
    wanted = files()
    on_disk = {p.relative_to(OUT).as_posix() for p in OUT.rglob("*.yaml")}
    assert on_disk == set(wanted), "run python -m agentwatch.deploy"
    for name, text in wanted.items():
        assert (OUT / name).read_text("utf-8") == text, f"{name}: run python -m agentwatch.deploy"


def test_check_mode_reports_drift(tmp_path: Path) -> None:
    from agentwatch.deploy.__main__ import main

    assert main(["--output", str(tmp_path)]) == 0
    assert main(["--output", str(tmp_path), "--check"]) == 0
    (tmp_path / "base" / "exporter.yaml").write_text("# edited\n")
    (tmp_path / "base" / "stray.yaml").write_text("{}\n")
    assert main(["--output", str(tmp_path), "--check"]) == 1


def test_every_object_is_valid_for_a_current_kubernetes(all_objects: list[Obj]) -> None:
    checked = 0
    for obj in all_objects:
        if obj["kind"] in OPERATOR_KINDS:
            continue
        kubernetes_validate.validate(obj, K8S_VERSION, strict=True)
        checked += 1
    assert checked >= 15


def test_the_schemas_reject_a_misplaced_field() -> None:
    daemonset = json.loads(
        json.dumps(one(objects("base/exporter.yaml"), "DaemonSet", EXPORTER_JOB))
    )
    daemonset["spec"]["template"]["spec"]["containers"][0]["privilegd"] = True
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(daemonset, K8S_VERSION, strict=True)


def test_kustomize_builds_both_kustomizations() -> None:
    kubectl = require_binary("kubectl")
    for folder in ("base", "example"):
        done = subprocess.run(
            [kubectl, "kustomize", str(OUT / folder)], capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 0, done.stderr
        built = [d for d in yaml.safe_load_all(done.stdout) if d]
        assert built
        for obj in built:
            if obj["kind"] not in OPERATOR_KINDS:
                kubernetes_validate.validate(obj, K8S_VERSION, strict=True)
    example = [d for d in yaml.safe_load_all(done.stdout) if d]
    allow = one(example, "ConfigMap", "agentwatch-remediate")["data"]
    assert allow["AGENTWATCH_ALLOW_WORKLOAD"] == f"deployment/{Settings().example_agent}"


def test_kustomizations_list_every_file() -> None:
    base = yaml.safe_load((OUT / "base" / "kustomization.yaml").read_text())
    assert sorted(base["resources"]) == sorted(Path(n).name for n in BASE)
    example = yaml.safe_load((OUT / "example" / "kustomization.yaml").read_text())
    assert example["resources"] == ["../base", "example.yaml"]
    assert example["patches"] == [{"path": "remediate-allow-list.yaml"}]


# --- Prometheus Operator objects -----------------------------------------------------------------


def test_service_monitor_scrapes_the_exporter_service_as_the_rules_job() -> None:
    """Required fields of monitoring.coreos.com/v1 ServiceMonitor (spec.selector, endpoints
    with a port the Service names), checked by hand: no package here ships the operator's CRD
    schemas."""
    items = objects("base/exporter.yaml")
    monitor = one(items, "ServiceMonitor", EXPORTER_JOB)
    service = one(items, "Service", EXPORTER_JOB)
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    # The operator names the job after the Service: what the alert rules select.
    assert Config().exporter_selector == f'job="{service["metadata"]["name"]}"'
    assert "jobLabel" not in monitor["spec"]
    labels = service["metadata"]["labels"]
    assert monitor["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert monitor["spec"]["namespaceSelector"]["matchNames"] == [service["metadata"]["namespace"]]
    ports = {p["name"] for p in service["spec"]["ports"]}
    for endpoint in monitor["spec"]["endpoints"]:
        assert endpoint["port"] in ports
        actions = [r.get("action") for r in endpoint["relabelings"]]
        assert {"replace", "labeldrop"} <= set(actions)


def test_prometheus_rule_embeds_every_rule_group_and_passes_promtool(tmp_path: Path) -> None:
    promtool = require_binary("promtool")
    rule = one(objects("base/prometheusrule.yaml"), "PrometheusRule", "agentwatch")
    assert rule["apiVersion"] == "monitoring.coreos.com/v1"
    expected = []
    for path in sorted((REPO / "alerts").glob("*.rules.yml")):
        expected += yaml.safe_load(path.read_text("utf-8"))["groups"]
    assert rule["spec"]["groups"] == expected
    for group in rule["spec"]["groups"]:
        assert set(group) <= {"name", "interval", "rules", "limit", "partial_response_strategy"}
    path = tmp_path / "rules.yml"
    path.write_text(yaml.safe_dump({"groups": rule["spec"]["groups"]}))
    done = subprocess.run(
        [promtool, "check", "rules", str(path)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_dashboards_are_configmaps_for_the_grafana_sidecar() -> None:
    maps = objects("base/dashboards.yaml")
    sources = sorted((REPO / "dashboards" / "json").glob("*.json"))
    assert len(maps) == len(sources) > 0
    for cm, source in zip(maps, sources, strict=True):
        assert cm["metadata"]["labels"]["grafana_dashboard"] == "1"
        assert cm["data"] == {source.name: source.read_text("utf-8")}
        # kubectl's client-side apply keeps a copy in an annotation limited to 256 KiB.
        assert len(json.dumps(cm)) < 256 * 1024, source.name


# --- security defaults ---------------------------------------------------------------------------


def pod_specs(items: list[Obj]) -> list[tuple[str, Obj]]:
    return [
        (o["metadata"]["name"], o["spec"]["template"]["spec"])
        for o in items
        if o["kind"] in ("Deployment", "DaemonSet", "StatefulSet")
    ]


def test_no_container_is_privileged_and_images_are_pinned(all_objects: list[Obj]) -> None:
    specs = pod_specs(all_objects)
    assert len(specs) == 4
    for name, spec in specs:
        assert not spec.get("hostNetwork", False), name
        assert not spec.get("hostIPC", False), name
        assert spec["securityContext"]["runAsNonRoot"] is True, name
        for container in spec["containers"]:
            sc = container["securityContext"]
            assert sc["privileged"] is False and sc["allowPrivilegeEscalation"] is False, name
            assert sc["capabilities"] == {"drop": ["ALL"]}, name
            assert sc["readOnlyRootFilesystem"] is True, name
            image = container["image"]
            assert ":" in image and not image.endswith(":latest"), image
            assert container["resources"]["limits"]["memory"], name


def test_the_exporter_daemonset_has_host_pid_and_read_only_host_paths_only() -> None:
    daemonset = one(objects("base/exporter.yaml"), "DaemonSet", EXPORTER_JOB)
    spec = daemonset["spec"]["template"]["spec"]
    assert spec["hostPID"] is True
    assert spec["automountServiceAccountToken"] is False
    assert spec["nodeSelector"] == {"nvidia.com/gpu.present": "true"}
    (container,) = spec["containers"]
    mounts = {m["name"]: m for m in container["volumeMounts"]}
    for volume in spec["volumes"]:
        assert set(volume) == {"name", "hostPath"}
        assert mounts[volume["name"]]["readOnly"] is True
        assert volume["hostPath"]["path"] in ("/var/log/pods", "/var/log/containers")
    # The GPU stays the workloads': the runtime exposes the devices without allocating one.
    assert "nvidia.com/gpu" not in json.dumps(container["resources"])
    args = container["args"]
    assert args[args.index("--gpu-backend") + 1] == "nvml"


def test_rbac_lets_the_receiver_patch_only_the_allow_listed_deployment(
    all_objects: list[Obj],
) -> None:
    s = Settings()
    assert not [o for o in all_objects if o["kind"] in ("ClusterRole", "ClusterRoleBinding")]
    roles = [o for o in all_objects if o["kind"] == "Role"]
    (role,) = roles
    assert role["metadata"]["namespace"] == s.example_namespace
    writes = [r for r in role["rules"] if set(r["verbs"]) - {"get"}]
    assert writes == [
        {
            "apiGroups": ["apps"],
            "resources": ["deployments"],
            "resourceNames": [s.example_agent],
            "verbs": ["patch"],
        }
    ]
    for rule in role["rules"]:
        assert "*" not in rule["verbs"] + rule["resources"] + rule["apiGroups"]
        assert not set(rule["resources"]) & {"secrets", "configmaps", "pods/exec"}
    (binding,) = [o for o in all_objects if o["kind"] == "RoleBinding"]
    assert binding["roleRef"]["name"] == role["metadata"]["name"]
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "agentwatch-remediate", "namespace": s.namespace}
    ]
    # The receiver's own allow-list names exactly what RBAC allows.
    allow = one(objects("example/remediate-allow-list.yaml"), "ConfigMap", "agentwatch-remediate")[
        "data"
    ]
    assert allow == {
        "AGENTWATCH_ALLOW_NAMESPACE": s.example_namespace,
        "AGENTWATCH_ALLOW_WORKLOAD": f"deployment/{s.example_agent}",
    }
    base_allow = one(objects("base/remediate.yaml"), "ConfigMap", "agentwatch-remediate")
    assert set(base_allow["data"].values()) == {""}


def test_the_receiver_is_a_dry_run_with_its_token_from_a_secret() -> None:
    items = objects("base/remediate.yaml")
    deployment = one(items, "Deployment", "agentwatch-remediate")
    spec = deployment["spec"]["template"]["spec"]
    (container,) = spec["containers"]
    assert "--enable" not in container["args"]
    assert all(e.get("name") != "AGENTWATCH_ENABLE" for e in container.get("env", []))
    assert deployment["spec"]["replicas"] == 1
    (volume,) = spec["volumes"]
    assert volume["secret"]["secretName"] == Settings().token_secret
    assert not [o for o in items if o["kind"] == "Secret"]  # never a default token
    token = container["args"][container["args"].index("--token-file") + 1]
    assert token.startswith(container["volumeMounts"][0]["mountPath"] + "/")


def test_the_example_agent_has_a_gpu_memory_limits_and_otel_env() -> None:
    s = Settings()
    agent = one(objects("example/example.yaml"), "Deployment", s.example_agent)
    (container,) = agent["spec"]["template"]["spec"]["containers"]
    assert container["resources"]["limits"] == {"memory": "4Gi", "nvidia.com/gpu": 1}
    env = {e["name"]: e for e in container["env"]}
    assert env["OTEL_SERVICE_NAME"]["value"] == s.example_agent
    assert env["OTEL_EXPORTER_OTLP_ENDPOINT"]["value"].startswith("http")
    attributes = env["OTEL_RESOURCE_ATTRIBUTES"]["value"]
    assert "k8s.namespace.name=$(K8S_NAMESPACE)" in attributes
    assert "k8s.pod.name=$(K8S_POD_NAME)" in attributes
    # Dependent variables must come after the ones they reference.
    names = [e["name"] for e in container["env"]]
    assert names.index("K8S_POD_NAME") < names.index("OTEL_RESOURCE_ATTRIBUTES")
